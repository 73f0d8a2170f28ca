"""Backtests: walk-forward folds, truth replay, cohort checks."""
