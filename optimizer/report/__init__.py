"""Plan outputs: CSV and JSON tables, the HTML report, the Excel workbook, plan comparison.

Modules: ``tables`` (allocation.csv, summary.json), ``charts`` (reusable plots), ``html``
(report.html from small section builders), ``xlsx`` (plan.xlsx with live formulas),
``compare`` (two plans side by side), ``text`` (every string the reports show).
"""
