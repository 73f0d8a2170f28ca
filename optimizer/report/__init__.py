"""Outputs of the runs: CSV and JSON tables, HTML pages from templates, the Excel workbook.

Modules: ``columns`` (the one registry of columns: label, unit, format, total, Excel formula),
``text`` (every string the reports show), ``tables`` (allocation.csv, summary.json),
``charts`` (reusable plots), ``pages`` (the Jinja2 environment and table contexts),
``html`` (report.html from small section builders), ``xlsx`` (plan.xlsx with live formulas),
``dashboard`` (the monitor's page), ``backtest`` (the backtest's directory and page),
``attribution`` (attribution rules side by side), ``compare`` (two plans side by side),
``output`` (writing a plan's directory all or nothing).  Templates live in ``templates/``.
"""
