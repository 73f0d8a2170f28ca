"""The monitor: weekly KPIs, alert rules, control charts, notifications."""
