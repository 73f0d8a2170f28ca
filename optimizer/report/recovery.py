"""The cart recovery plan's files: ``recovery.csv``, ``options.csv``, ``summary.json``,
``report.html`` and ``recovery.xlsx``, written into one directory all or nothing.

Columns come from the registry (:data:`~roiste.optimizer.report.columns.RECOVERY_PLAN`,
:data:`~roiste.optimizer.report.columns.RECOVERY_OPTIONS`), words from
:mod:`~roiste.optimizer.report.text`.  Every file is the same, byte for byte, for the same
inputs (no time stamp; the workbook's times are fixed).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from roiste.optimizer.recovery import RecoveryPlan
from roiste.optimizer.report import text as T
from roiste.optimizer.report.cells import sheet_value
from roiste.optimizer.report.columns import RECOVERY_OPTIONS, RECOVERY_PLAN, Column
from roiste.optimizer.report.output import check_output_dir, publish_dir, sibling_dir
from roiste.optimizer.report.pages import fmt, kv, render, stylesheet, table
from roiste.optimizer.report.tables import format_cell, round_value
from roiste.optimizer.report.xlsx import workbook_bytes
from roiste.version import __version__

FILES = ("recovery.csv", "options.csv", "summary.json", "report.html", "recovery.xlsx")
SUMMARY_MONEY = ("budget", "incentive_spend", "net_margin", "dual_bound", "lp_bound", "carts",
                 "orders_caused")


def _records(frame: Any) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


def table_csv(columns: Mapping[str, Column], rows: Sequence[Mapping[str, Any]]) -> str:
    """A table as CSV text, each column rounded by its registered unit."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(list(columns))
    for r in rows:
        w.writerow([format_cell(r.get(n), c.rounding) for n, c in columns.items()])
    return buf.getvalue()


def summary_json(plan: RecoveryPlan) -> str:
    """``summary.json``: totals, the certificate, the inputs' hashes (no wall-clock time)."""
    out = {k: round_value(v, "money" if k in SUMMARY_MONEY else "ratio")
           if isinstance(v, float) else v for k, v in plan.summary.items()}
    return json.dumps(out, indent=2, sort_keys=False) + "\n"


def headline(plan: RecoveryPlan) -> str:
    """One line for the command line."""
    s = plan.summary
    return T.RECOVERY_HEADLINE.format(
        name=plan.name, value=fmt(s["net_margin"]), spend=fmt(s["incentive_spend"]),
        budget=fmt(s["budget"]), gap=fmt(s["optimality_gap"], "gap"),
        bound=fmt(s["dual_bound"]), status=s["status"], solver=s["solver"])


def _totals(columns: Mapping[str, Column], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    first = next(iter(columns))
    total: dict[str, Any] = {first: T.RECOVERY_TOTAL}
    for n, c in columns.items():
        if c.summable:
            total[n] = sum(float(r.get(n) or 0.0) for r in rows)
    return total


def render_recovery_html(plan: RecoveryPlan) -> str:
    """The whole page as one string (self-contained, no time stamp)."""
    s = plan.summary
    rows, opts = _records(plan.plan), _records(plan.options)
    figures = [
        kv(T.RECOVERY_NET_MARGIN, fmt(s["net_margin"])),
        kv(T.RECOVERY_ORDERS, fmt(s["orders_caused"], "count")),
        kv(T.RECOVERY_SPEND, f"{fmt(s['incentive_spend'])} / {fmt(s['budget'])}"),
        kv(T.RECOVERY_CAP, fmt(s["max_messages_per_customer"], "count")),
        kv(T.RECOVERY_BOUND, fmt(s["dual_bound"])),
        kv(T.RECOVERY_GAP, fmt(s["optimality_gap"], "gap")),
        kv(T.RECOVERY_LP_BOUND, fmt(s["lp_bound"])),
        kv(T.RECOVERY_BUDGET_DUAL, fmt(s["budget_dual"], "cents")),
        kv(T.RECOVERY_ASSIGNMENT, T.RECOVERY_WHOLE if s["whole_segments"] else T.RECOVERY_SPLIT),
        kv(T.RECOVERY_RATES_FROM, ", ".join(s["rates_from"])),
        kv(T.RECOVERY_SOLVER, f"{s['solver']}, {s['status']}"),
        *[kv(f"{T.RECOVERY_INPUTS}: {name}", digest, code=True)
          for name, digest in s["inputs"].items()],
    ]
    sections = [
        {"title": T.RECOVERY_PLAN, "note": T.RECOVERY_PLAN_NOTE,
         "table": table(list(RECOVERY_PLAN.values()), rows, _totals(RECOVERY_PLAN, rows))},
        {"title": T.RECOVERY_OPTIONS, "note": T.RECOVERY_OPTIONS_NOTE,
         "table": table(list(RECOVERY_OPTIONS.values()), opts)},
    ]
    lead = T.RECOVERY_LEAD.format(segments=s["segments"], carts=fmt(s["carts"]))
    return render("recovery.html.j2", title=T.RECOVERY_TITLE.format(name=plan.name),
                  css=stylesheet("style.css"), lead=lead, figures=figures, sections=sections,
                  footer=T.RECOVERY_FOOTER.format(version=__version__))


def _sheet(wb: Workbook, title: str, columns: Mapping[str, Column],
           rows: Sequence[Mapping[str, Any]], total: bool) -> None:
    ws = wb.create_sheet(title)
    names = list(columns)
    letter = {n: get_column_letter(j) for j, n in enumerate(names, start=1)}
    for j, c in enumerate(columns.values(), start=1):
        cell = ws.cell(row=1, column=j, value=c.label)
        cell.font = Font(bold=True)
        ws.column_dimensions[get_column_letter(j)].width = max(12, min(34, len(c.label) + 4))
    for i, r in enumerate(rows, start=2):
        refs = {n: f"{letter[n]}{i}" for n in names}
        for j, (n, c) in enumerate(columns.items(), start=1):
            v = r.get(n)
            value = c.formula.format(**refs) if c.formula else (
                sheet_value(v) if isinstance(v, str) else round_value(v, c.rounding))
            ws.cell(row=i, column=j, value=value).number_format = c.excel_format
    if total and rows:
        t = len(rows) + 2
        ws.cell(row=t, column=1, value=T.RECOVERY_TOTAL).font = Font(bold=True)
        for j, (n, c) in enumerate(columns.items(), start=1):
            if c.summable:
                cell = ws.cell(row=t, column=j, value=f"=SUM({letter[n]}2:{letter[n]}{t - 1})")
                cell.number_format = c.excel_format
                cell.font = Font(bold=True)
    ws.freeze_panes = ws.cell(row=2, column=2)


def recovery_xlsx(plan: RecoveryPlan) -> bytes:
    """``recovery.xlsx``: the plan (carts and orders caused as formulas, totals as sums), the
    options and the summary; byte-stable."""
    wb = Workbook()
    first = wb.active
    if first is not None:
        wb.remove(first)
    _sheet(wb, T.RECOVERY_SHEET_PLAN, RECOVERY_PLAN, _records(plan.plan), total=True)
    _sheet(wb, T.RECOVERY_SHEET_OPTIONS, RECOVERY_OPTIONS, _records(plan.options), total=False)
    ws = wb.create_sheet(T.RECOVERY_SHEET_SUMMARY)
    for i, (k, v) in enumerate(plan.summary.items(), start=1):
        ws.cell(row=i, column=1, value=k).font = Font(bold=True)
        if isinstance(v, list | dict):
            v = json.dumps(v, sort_keys=True)
        ws.cell(row=i, column=2, value=sheet_value(v) if isinstance(v, str) else v)
    ws.column_dimensions["A"].width = 28
    return workbook_bytes(wb)


def write_recovery(plan: RecoveryPlan, out_dir: str | os.PathLike[str], *,
                   force: bool = False) -> Path:
    """Write the plan's files (:data:`FILES`) into ``out_dir``, all or nothing.

    An existing directory is refused unless ``force`` (and then only one holding nothing but
    these files), and replaced in one rename.
    """
    out = Path(out_dir)
    check_output_dir(out, force, FILES)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_dir(out, "tmp")
    try:
        files = {
            "recovery.csv": table_csv(RECOVERY_PLAN, _records(plan.plan)),
            "options.csv": table_csv(RECOVERY_OPTIONS, _records(plan.options)),
            "summary.json": summary_json(plan),
            "report.html": render_recovery_html(plan),
        }
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8", newline="\n")
        (tmp / "recovery.xlsx").write_bytes(recovery_xlsx(plan))
        publish_dir(tmp, out, lambda: check_output_dir(out, force, FILES))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


__all__ = ["FILES", "headline", "recovery_xlsx", "render_recovery_html", "summary_json",
           "table_csv", "write_recovery"]
