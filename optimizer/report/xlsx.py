"""``plan.xlsx``: the plan for finance, with totals and changes as live formulas.

Sheets: *Allocation* (spend, change, revenue, margin per channel; change, change %, ROAS,
margin change and every total are formulas), *Summary* (figures linked to the allocation's
totals), *Marginals*, *Customers* (when the panel has them), *Glide path* (when there are
several steps) and *Assumptions* (economics, settings, constraints).

The file is byte-stable: document properties and zip entry times are fixed.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from roiste.models.io import atomic_write_bytes
from roiste.optimizer.report import text as T
from roiste.optimizer.report.cells import sheet_value
from roiste.optimizer.report.columns import (
    ALLOCATION,
    CONSTRAINTS,
    GAP_FMT,
    MONEY_FMT,
    PCT_FMT,
    RATIO_FMT,
    SUMMARY,
    SUMMARY_SHEET,
    Column,
    allocation_column,
    pick,
)
from roiste.optimizer.report.experiments import experiment_sheets
from roiste.optimizer.report.tables import summary_dict

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan

FIXED_TIME = dt.datetime(2000, 1, 1, 0, 0, 0)
BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="F3F4F6")

ALLOCATION_SHEET = (
    "channel",
    "current_spend",
    "recommended_spend",
    "change",
    "change_pct",
    "lower_bound",
    "upper_bound",
    "expected_revenue",
    "expected_net_margin",
    "net_margin_current",
    "margin_change",
    "roas",
    "marginal_roas",
    "move_support",
    "supported",
)
"""The columns of the allocation sheet, in order (labels, formats and formulas: the registry)."""
MARGINALS_SHEET = (
    "channel",
    "marginal_roas_current",
    "marginal_roas",
    "marginal_net_margin_current",
    "marginal_net_margin_recommended",
    "rpv_current",
    "rpv",
    "marginal_rpv_current",
    "marginal_rpv",
    "saturation_spend",
)
"""The columns of the marginals sheet; every number on it shows three decimals."""
CUSTOMERS_SHEET = (
    "channel",
    "new_customers_current",
    "new_customers",
    "cac_net_current",
    "cac_net",
    "cost_per_new_customer_current",
    "cost_per_new_customer",
)

DECISION_SHEET = (
    "channel",
    "cac_net_current",
    "cac_net",
    "marginal_cpa_current",
    "marginal_cpa",
    "break_even_cpa",
    "marginal_cost_per_new_customer_current",
    "marginal_cost_per_new_customer",
    "mrpv_over_mcpa_current",
    "mrpv_over_mcpa",
    "break_even_mrpv_over_mcpa_current",
    "break_even_mrpv_over_mcpa",
    "marginal_roas",
    "break_even_marginal_roas",
)
"""The columns of the decision-rules sheet: net CAC, marginal CPA and their break-even points."""


def letters(names: Sequence[str]) -> dict[str, str]:
    """The column letter of each name in a sheet laid out in the order of ``names``."""
    return {n: get_column_letter(j) for j, n in enumerate(names, start=1)}


def cell_refs(names: Sequence[str], row: int) -> dict[str, str]:
    """The cell of each column in ``row`` (``{"current_spend": "B5", ...}``)."""
    return {n: f"{col}{row}" for n, col in letters(names).items()}


def _cell_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool | str):
        return sheet_value(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return sheet_value(str(v))
    return f if math.isfinite(f) else None


def _header(ws: Worksheet, headers: Sequence[str], row: int = 1) -> None:
    for j, h in enumerate(headers, start=1):
        c = ws.cell(row=row, column=j, value=sheet_value(h))  # glide headers are channel names
        c.font = BOLD
        c.fill = HEAD_FILL
        ws.column_dimensions[get_column_letter(j)].width = max(12, min(34, len(h) + 4))
    ws.freeze_panes = ws.cell(row=row + 1, column=2)


def _allocation_sheet(ws: Worksheet, plan: Plan) -> int:
    """Fill the allocation sheet; returns the row of the totals.

    A column with a formula is computed in the workbook on every row and in the total row;
    a summable column is added up in the total row.
    """
    cols = pick(ALLOCATION, ALLOCATION_SHEET)
    _header(ws, [c.label for c in cols])
    recs = plan.allocation.to_dict("records")
    for r, rec in enumerate(recs, start=2):
        refs = cell_refs(ALLOCATION_SHEET, r)
        for j, c in enumerate(cols, start=1):
            value = c.formula.format(**refs) if c.formula else _cell_value(rec.get(c.name))
            ws.cell(row=r, column=j, value=value).number_format = c.excel_format
    t = len(recs) + 2
    refs = cell_refs(ALLOCATION_SHEET, t)
    ws.cell(row=t, column=1, value=T.COMPARE_TOTAL).font = BOLD
    for j, c in enumerate(cols, start=1):
        col = get_column_letter(j)
        if c.formula is not None:
            total: Any = c.formula.format(**refs)
        elif c.summable:
            total = f"=SUM({col}2:{col}{t - 1})"
        else:
            continue
        cell = ws.cell(row=t, column=j, value=total)
        cell.number_format = c.excel_format
        cell.font = BOLD
    return t


def _table_sheet(ws: Worksheet, plan: Plan, names: Sequence[str], number_format: str | None = None) -> None:
    """One column per allocation column the plan has, in the registry's format (or one
    ``number_format`` for every number)."""
    cols: list[Column] = [allocation_column(n) for n in names if n in plan.allocation.columns]
    _header(ws, [c.label for c in cols])
    for i, rec in enumerate(plan.allocation.to_dict("records"), start=2):
        for j, c in enumerate(cols, start=1):
            numfmt = c.excel_format if number_format is None or c.fmt == "text" else number_format
            ws.cell(row=i, column=j, value=_cell_value(rec.get(c.name))).number_format = numfmt


def _summary_value(v: Any) -> Any:
    """A summary figure for a cell: floats as floats, non-finite ones empty, others as they are."""
    if isinstance(v, float):
        return float(v) if math.isfinite(v) else None
    return sheet_value(v)


def _summary_sheet(ws: Worksheet, plan: Plan, total_row: int) -> None:
    """The plan's figures; spend and margin totals link to the allocation sheet's total row."""
    values = summary_dict(plan)
    rows = {name: r for r, name in enumerate(SUMMARY_SHEET, start=2)}
    refs = {name: f"B{r}" for name, r in rows.items()}
    totals = {n: f"{col}{total_row}" for n, col in letters(ALLOCATION_SHEET).items()}
    _header(ws, list(T.SUMMARY_SHEET_HEAD))
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 68
    for name, r in rows.items():
        c = SUMMARY[name]
        value = c.formula.format(total=totals, **refs) if c.formula else _summary_value(values[name])
        ws.cell(row=r, column=1, value=c.label)
        ws.cell(row=r, column=2, value=value).number_format = c.excel_format
    extra = [(T.SUMMARY_HASH.format(name=k), v) for k, v in sorted(plan.hashes.items())]
    if plan.attribution_hash:
        extra.append((T.SUMMARY_ATTRIBUTION_HASH, plan.attribution_hash))
    for r, (k, v) in enumerate(extra, start=len(rows) + 2):
        ws.cell(row=r, column=1, value=k)
        ws.cell(row=r, column=2, value=sheet_value(v)).number_format = "@"


def _glide_sheet(ws: Worksheet, plan: Plan) -> None:
    chans = plan.channels
    _header(ws, [*T.GLIDE_SHEET_HEAD, *chans])
    last = get_column_letter(5 + len(chans))
    table = plan.step_table()
    margins = [plan.net_margin_current, *(s.net_margin for s in plan.steps)]
    budgets = [plan.current_total, *(s.budget for s in plan.steps)]
    gaps: list[float | None] = [None, *(s.optimality_gap for s in plan.steps)]
    for i in range(len(table)):
        r = i + 2
        ws.cell(row=r, column=1, value=i)
        ws.cell(row=r, column=2, value=budgets[i]).number_format = MONEY_FMT
        ws.cell(row=r, column=3, value=f"=SUM(F{r}:{last}{r})").number_format = MONEY_FMT
        ws.cell(row=r, column=4, value=_cell_value(margins[i])).number_format = MONEY_FMT
        ws.cell(row=r, column=5, value=gaps[i]).number_format = GAP_FMT
        for j, c in enumerate(chans, start=6):
            ws.cell(row=r, column=j, value=float(table.iloc[i][c])).number_format = MONEY_FMT


def _constraints_sheet(ws: Worksheet, plan: Plan) -> None:
    """Each constraint's figure, limit, whether it binds and its certified cost."""
    cols = list(CONSTRAINTS.values())
    _header(ws, [c.label for c in cols])
    for i, con in enumerate(plan.constraints, start=2):
        for j, c in enumerate(cols, start=1):
            v = con.get(c.name)
            if c.name == "binding":
                v = T.BINDING[bool(v)]
            cell = ws.cell(row=i, column=j, value=_cell_value(v))
            if c.name in ("achieved", "limit") and con.get("kind") == "share":
                cell.number_format = PCT_FMT
            elif c.fmt != "text":
                cell.number_format = c.excel_format


def _assumptions_sheet(ws: Worksheet, plan: Plan) -> None:
    keys = list(T.ECONOMICS_LABELS)
    _header(ws, ["Channel", *(T.ECONOMICS_LABELS[k] for k in keys)])
    ws.cell(row=2, column=1, value=T.ECONOMICS_DEFAULT).font = BOLD
    for j, k in enumerate(keys, start=2):
        ws.cell(row=2, column=j, value=_cell_value(plan.base_economics.get(k)))
    for i, c in enumerate(plan.channels, start=3):
        ws.cell(row=i, column=1, value=sheet_value(c))
        for j, k in enumerate(keys, start=2):
            ws.cell(row=i, column=j, value=_cell_value(plan.economics[c].get(k)))
    r = len(plan.channels) + 4
    ws.cell(row=r, column=1, value=T.SETTINGS_TITLE).font = BOLD
    settings = [
        ("objective", plan.objective),
        ("period_weeks", plan.period_weeks),
        ("baseline_weeks", plan.baseline_weeks),
        ("budget", plan.budget),
        ("current_total", plan.current_total),
        ("budget_mode", T.BUDGET_MODES.get(plan.budget_mode, plan.budget_mode)),
        ("step", plan.step),
        ("steps", len(plan.steps)),
        ("tolerance", plan.tolerance),
        ("solver", plan.solver),
    ]
    for i, (k, v) in enumerate(settings, start=r + 1):
        ws.cell(row=i, column=1, value=T.SETTING_LABELS[k])
        ws.cell(row=i, column=2, value=sheet_value(v))
    r += len(settings) + 2
    ws.cell(row=r, column=1, value=T.CONSTRAINTS_TITLE).font = BOLD
    if not plan.constraints:
        ws.cell(row=r + 1, column=1, value=T.NO_CONSTRAINTS)
    for i, con in enumerate(plan.constraints, start=r + 1):
        ws.cell(row=i, column=1, value=sheet_value(str(con.get("name", ""))))
        ws.cell(row=i, column=2, value=sheet_value(str(con.get("rule", ""))))


def build_workbook(plan: Plan) -> Workbook:
    """The workbook (not yet saved)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Allocation"
    total_row = _allocation_sheet(ws, plan)
    _summary_sheet(wb.create_sheet("Summary"), plan, total_row)
    _table_sheet(wb.create_sheet("Marginals"), plan, MARGINALS_SHEET, RATIO_FMT)
    if "new_customers" in plan.allocation.columns:
        _table_sheet(wb.create_sheet("Customers"), plan, CUSTOMERS_SHEET)
    if any(c in plan.allocation.columns for c in DECISION_SHEET[1:-2]):
        _table_sheet(wb.create_sheet("Decision rules"), plan, DECISION_SHEET)
    if len(plan.steps) > 1:
        _glide_sheet(wb.create_sheet("Glide path"), plan)
    if plan.constraints and "achieved" in plan.constraints[0]:
        _constraints_sheet(wb.create_sheet("Constraints"), plan)
    _assumptions_sheet(wb.create_sheet("Assumptions"), plan)
    experiment_sheets(wb, plan)
    wb.properties.creator = "roiste"
    wb.properties.created = FIXED_TIME
    return wb


def _normalise_zip(data: bytes) -> bytes:
    """Fix the zip entries' times and the ``modified`` property that openpyxl stamps on save."""
    fixed = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + fixed.encode() + rb"\g<2>",
                    content,
                )
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, content)
    return out.getvalue()


def xlsx_bytes(plan: Plan) -> bytes:
    """The workbook's bytes, stable for the same plan."""
    buf = io.BytesIO()
    build_workbook(plan).save(buf)
    return _normalise_zip(buf.getvalue())


def write_xlsx(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write ``plan.xlsx`` atomically."""
    atomic_write_bytes(path, xlsx_bytes(plan))
