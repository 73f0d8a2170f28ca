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

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan

FIXED_TIME = dt.datetime(2000, 1, 1, 0, 0, 0)
MONEY_FMT = "#,##0.00"
RATIO_FMT = "0.000"
PCT_FMT = "0.0%"
COUNT_FMT = "#,##0.0"
BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="F3F4F6")

# Allocation sheet layout: (key, header, number format, formula template or None).
# Templates use {r} for the row and column letters of this layout.
ALLOCATION_LAYOUT: tuple[tuple[str, str, str, str | None], ...] = (
    ("channel", "Channel", "@", None),
    ("current_spend", "Current spend", MONEY_FMT, None),
    ("recommended_spend", "Recommended spend", MONEY_FMT, None),
    ("change", "Change", MONEY_FMT, "=C{r}-B{r}"),
    ("change_pct", "Change %", PCT_FMT, '=IF(B{r}=0,"",D{r}/B{r})'),
    ("lower_bound", "Lower bound", MONEY_FMT, None),
    ("upper_bound", "Upper bound", MONEY_FMT, None),
    ("expected_revenue", "Expected revenue", MONEY_FMT, None),
    ("expected_net_margin", "Expected net margin", MONEY_FMT, None),
    ("net_margin_current", "Net margin at current", MONEY_FMT, None),
    ("margin_change", "Net margin change", MONEY_FMT, "=I{r}-J{r}"),
    ("roas", "ROAS", RATIO_FMT, '=IF(C{r}=0,"",H{r}/C{r})'),
    ("marginal_roas", "Marginal ROAS", RATIO_FMT, None),
)
SUM_KEYS = frozenset(
    {
        "current_spend",
        "recommended_spend",
        "lower_bound",
        "upper_bound",
        "expected_revenue",
        "expected_net_margin",
        "net_margin_current",
    }
)


def _cell_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool | str):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f if math.isfinite(f) else None


def _header(ws: Worksheet, headers: Sequence[str], row: int = 1) -> None:
    for j, h in enumerate(headers, start=1):
        c = ws.cell(row=row, column=j, value=h)
        c.font = BOLD
        c.fill = HEAD_FILL
        ws.column_dimensions[get_column_letter(j)].width = max(12, min(34, len(h) + 4))
    ws.freeze_panes = ws.cell(row=row + 1, column=2)


def _allocation_sheet(ws: Worksheet, plan: Plan) -> int:
    """Fill the allocation sheet; returns the row of the totals."""
    _header(ws, [h for _, h, _, _ in ALLOCATION_LAYOUT])
    recs = plan.allocation.to_dict("records")
    n = len(recs)
    for i, rec in enumerate(recs):
        r = i + 2
        for j, (key, _, numfmt, formula) in enumerate(ALLOCATION_LAYOUT, start=1):
            value = formula.format(r=r) if formula else _cell_value(rec.get(key))
            cell = ws.cell(row=r, column=j, value=value)
            cell.number_format = numfmt
    t = n + 2
    ws.cell(row=t, column=1, value=T.COMPARE_TOTAL).font = BOLD
    for j, (key, _, numfmt, formula) in enumerate(ALLOCATION_LAYOUT, start=1):
        col = get_column_letter(j)
        if key in SUM_KEYS:
            total: Any = f"=SUM({col}2:{col}{t - 1})"
        elif formula is not None:
            total = formula.format(r=t)
        else:
            continue
        cell = ws.cell(row=t, column=j, value=total)
        cell.number_format = numfmt
        cell.font = BOLD
    return t


def _table_sheet(ws: Worksheet, plan: Plan, columns: Sequence[tuple[str, str]]) -> None:
    cols = [(k, f) for k, f in columns if k in plan.allocation.columns]
    _header(ws, [T.COLUMN_LABELS.get(k, k) for k, _ in cols])
    for i, rec in enumerate(plan.allocation.to_dict("records"), start=2):
        for j, (k, numfmt) in enumerate(cols, start=1):
            ws.cell(row=i, column=j, value=_cell_value(rec.get(k))).number_format = numfmt


def _summary_sheet(ws: Worksheet, plan: Plan, total_row: int) -> None:
    a = "Allocation!"
    rows: list[tuple[str, Any, str]] = [
        ("Scenario", plan.name, "@"),
        ("Objective", plan.objective, "@"),
        ("Planning period (weeks)", plan.period_weeks, "0"),
        ("Budget for the period", plan.budget, MONEY_FMT),
        ("Current total spend", f"={a}B{total_row}", MONEY_FMT),
        ("Recommended total spend", f"={a}C{total_row}", MONEY_FMT),
        ("Net margin at current", f"={a}J{total_row}", MONEY_FMT),
        ("Net margin recommended", f"={a}I{total_row}", MONEY_FMT),
        ("Net margin change", "=B9-B8", MONEY_FMT),
        ("Net margin change %", '=IF(B8=0,"",B10/ABS(B8))', PCT_FMT),
        ("Certified optimality gap", plan.optimality_gap, "0.00E+00"),
        ("Solver", plan.solver, "@"),
        ("Status", plan.status, "@"),
        ("Budget shadow price", _cell_value(plan.shadow_price), RATIO_FMT),
        ("roiste version", plan.version, "@"),
    ]
    for k, v in sorted(plan.hashes.items()):
        rows.append((f"{k} SHA-256", v, "@"))
    if plan.attribution_hash:
        rows.append(("attribution hash", plan.attribution_hash, "@"))
    _header(ws, ["Item", "Value"])
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 68
    for i, (k, v, numfmt) in enumerate(rows, start=2):
        ws.cell(row=i, column=1, value=k)
        ws.cell(row=i, column=2, value=v).number_format = numfmt


def _glide_sheet(ws: Worksheet, plan: Plan) -> None:
    chans = plan.channels
    _header(ws, ["Step", "Budget", "Total spend", "Net margin", "Gap", *chans])
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
        ws.cell(row=r, column=5, value=gaps[i]).number_format = "0.00E+00"
        for j, c in enumerate(chans, start=6):
            ws.cell(row=r, column=j, value=float(table.iloc[i][c])).number_format = MONEY_FMT


def _assumptions_sheet(ws: Worksheet, plan: Plan) -> None:
    keys = list(T.ECONOMICS_LABELS)
    _header(ws, ["Channel", *(T.ECONOMICS_LABELS[k] for k in keys)])
    ws.cell(row=2, column=1, value="(scenario default)").font = BOLD
    for j, k in enumerate(keys, start=2):
        ws.cell(row=2, column=j, value=_cell_value(plan.base_economics.get(k)))
    for i, c in enumerate(plan.channels, start=3):
        ws.cell(row=i, column=1, value=c)
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
        ws.cell(row=i, column=2, value=v)
    r += len(settings) + 2
    ws.cell(row=r, column=1, value=T.CONSTRAINTS_TITLE).font = BOLD
    if not plan.constraints:
        ws.cell(row=r + 1, column=1, value=T.NO_CONSTRAINTS)
    for i, con in enumerate(plan.constraints, start=r + 1):
        ws.cell(row=i, column=1, value=str(con.get("name", "")))
        ws.cell(row=i, column=2, value=str(con.get("rule", "")))


def build_workbook(plan: Plan) -> Workbook:
    """The workbook (not yet saved)."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Allocation"
    total_row = _allocation_sheet(ws, plan)
    _summary_sheet(wb.create_sheet("Summary"), plan, total_row)
    _table_sheet(
        wb.create_sheet("Marginals"),
        plan,
        [("channel", "@")]
        + [
            (k, RATIO_FMT)
            for k in (
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
        ],
    )
    if "new_customers" in plan.allocation.columns:
        _table_sheet(
            wb.create_sheet("Customers"),
            plan,
            [
                ("channel", "@"),
                ("new_customers_current", COUNT_FMT),
                ("new_customers", COUNT_FMT),
                ("cac_net_current", MONEY_FMT),
                ("cac_net", MONEY_FMT),
                ("cost_per_new_customer_current", MONEY_FMT),
                ("cost_per_new_customer", MONEY_FMT),
            ],
        )
    if len(plan.steps) > 1:
        _glide_sheet(wb.create_sheet("Glide path"), plan)
    _assumptions_sheet(wb.create_sheet("Assumptions"), plan)
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
