"""Estimators: weekly panels in, response curves out (per channel and marketing-mix)."""
