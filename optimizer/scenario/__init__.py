"""Scenario files: the pydantic schema, loading, checks against the data, messages."""
