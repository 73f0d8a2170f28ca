"""``plan.xlsx``: the plan for finance, a model that recalculates.

Sheets: *Allocation* (spend, change, revenue, margin per channel: revenue and net margin at
each spend are formulas of the spend cells, the curves and the assumptions; change, change %,
ROAS, margin change and every total are formulas too), *Summary* (figures linked to the
allocation's totals and the settings), *Marginals*, *Customers* (when the panel has them),
*Glide path* (when there are several steps), *Assumptions* (economics per channel, period,
budget, constraints: the inputs), *Curves* (each channel's fitted response) and, for a family
with no spreadsheet formula, *Curve tables* (:mod:`~roiste.optimizer.report.sheetmodel`).

Every formula cell holds the value roiste computed as its stored result, so readers that do
not recalculate show the plan's numbers.  The file is byte-stable: document properties and zip
entry times are fixed.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
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
from roiste.optimizer.report.flighting import weeks_sheet
from roiste.optimizer.report.sheetmodel import (
    ASSUMPTIONS_SHEET,
    CURVES_SHEET,
    FormulaCells,
    WorkbookModel,
    cached,
    with_results,
)
from roiste.optimizer.report.tables import summary_dict

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan

FIXED_TIME = dt.datetime(2000, 1, 1, 0, 0, 0)
ALLOCATION_TITLE = "Allocation"
PER_CHANNEL = re.compile(r"\{(revenue|marginal|assumption)\[")
"""Formula fields of one channel's curve or assumptions: no total row computes them."""
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
    "revenue_current",
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


def _row_results(v: Mapping[Any, Any], has_margin: bool) -> dict[str, Any]:
    """What the allocation sheet's formulas compute from a row's figures (or the totals')."""
    cur, rec = float(v["current_spend"]), float(v["recommended_spend"])
    out = dict(v)
    out["change"] = rec - cur
    out["change_pct"] = out["change"] / cur if cur != 0 else ""
    out["margin_change"] = (float(v["expected_net_margin"]) - float(v["net_margin_current"])
                            if has_margin else 0.0)
    out["roas"] = float(v["expected_revenue"]) / rec if rec != 0 else ""
    return out


def _allocation_sheet(ws: Worksheet, plan: Plan, model: WorkbookModel,
                      cells: FormulaCells) -> dict[str, Any]:
    """Fill the allocation sheet; returns the total row's cells (column -> cell).

    A column with a formula is computed in the workbook on every row; in the total row a
    summable column is added up, and another column with a formula of the row's own cells is
    computed from the totals (one of a channel's curve or assumptions is left empty there).
    Net margin needs a gross margin: without one its cells are left empty.
    """
    cols = pick(ALLOCATION, ALLOCATION_SHEET)
    _header(ws, [c.label for c in cols])
    recs = plan.allocation.to_dict("records")
    sums = {c.name: 0.0 for c in cols if c.summable}
    for i, rec in enumerate(recs):
        r = i + 2
        refs = cell_refs(ALLOCATION_SHEET, r)
        results = _row_results(rec, model.has_margin)
        for j, c in enumerate(cols, start=1):
            if c.formula and (model.has_margin or "{assumption[" not in c.formula):
                formula = c.formula.format(**refs, **model.at(i, refs),
                                           assumption=model.assumption(i))
                cell = cells.put(ws, r, j, formula, results[c.name])
            else:
                cell = ws.cell(row=r, column=j, value=_cell_value(rec.get(c.name)))
            cell.number_format = c.excel_format
        for name in sums:
            v = cached(results.get(name))
            sums[name] += v if isinstance(v, float) else 0.0
    t = len(recs) + 2
    refs = cell_refs(ALLOCATION_SHEET, t)
    totals = _row_results(sums, model.has_margin)
    ws.cell(row=t, column=1, value=T.COMPARE_TOTAL).font = BOLD
    for j, c in enumerate(cols, start=1):
        col = get_column_letter(j)
        if c.summable:
            cell = cells.put(ws, t, j, f"=SUM({col}2:{col}{t - 1})", sums[c.name])
        elif c.formula is not None and not PER_CHANNEL.search(c.formula):
            cell = cells.put(ws, t, j, c.formula.format(**refs), totals[c.name])
        else:
            continue
        cell.number_format = c.excel_format
        cell.font = BOLD
    return refs


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


def _summary_sheet(ws: Worksheet, plan: Plan, totals: dict[str, str], model: WorkbookModel,
                   cells: FormulaCells) -> None:
    """The plan's figures; spend and margin totals link to the allocation sheet's total row,
    the period and the budget to the assumptions sheet."""
    values = summary_dict(plan)
    rows = {name: r for r, name in enumerate(SUMMARY_SHEET, start=2)}
    refs = {name: f"B{r}" for name, r in rows.items()}
    settings = {"period_weeks": model.period, "budget": model.budget}
    written = cells.values[ALLOCATION_TITLE]
    total = {n: written[ref] for n, ref in totals.items() if ref in written}
    results = _summary_results(plan, total)
    _header(ws, list(T.SUMMARY_SHEET_HEAD))
    ws.column_dimensions["A"].width = 30
    ws.column_dimensions["B"].width = 68
    for name, r in rows.items():
        c = SUMMARY[name]
        ws.cell(row=r, column=1, value=c.label)
        if c.formula:
            formula = c.formula.format(total=totals, setting=settings, **refs)
            cell = cells.put(ws, r, 2, formula, results[name])
        else:
            cell = ws.cell(row=r, column=2, value=_summary_value(values[name]))
        cell.number_format = c.excel_format
    extra = [(T.SUMMARY_HASH.format(name=k), v) for k, v in sorted(plan.hashes.items())]
    if plan.attribution_hash:
        extra.append((T.SUMMARY_ATTRIBUTION_HASH, plan.attribution_hash))
    for r, (k, v) in enumerate(extra, start=len(rows) + 2):
        ws.cell(row=r, column=1, value=k)
        ws.cell(row=r, column=2, value=sheet_value(v)).number_format = "@"


def _summary_results(plan: Plan, total: dict[str, Any]) -> dict[str, Any]:
    """What the summary sheet's formulas compute, from the allocation's totals."""
    cur, rec = total["net_margin_current"], total["expected_net_margin"]
    cur = cur if isinstance(cur, float) else 0.0
    rec = rec if isinstance(rec, float) else 0.0
    return {
        "period_weeks": plan.period_weeks,
        "budget": plan.budget,
        "current_total": total["current_spend"],
        "recommended_total": total["recommended_spend"],
        "net_margin_current": cur,
        "net_margin_recommended": rec,
        "net_margin_change": rec - cur,
        "net_margin_change_pct": (rec - cur) / cur if cur > 0 else "",
    }


def _glide_sheet(ws: Worksheet, plan: Plan, cells: FormulaCells) -> None:
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
        cells.put(ws, r, 3, f"=SUM(F{r}:{last}{r})",
                  sum(float(table.iloc[i][c]) for c in chans)).number_format = MONEY_FMT
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


def _build(plan: Plan) -> tuple[Workbook, FormulaCells]:
    """The workbook and the stored results of its formula cells."""
    model = WorkbookModel(plan)
    cells = FormulaCells()
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = ALLOCATION_TITLE
    totals = _allocation_sheet(ws, plan, model, cells)
    _summary_sheet(wb.create_sheet("Summary"), plan, totals, model, cells)
    _table_sheet(wb.create_sheet("Marginals"), plan, MARGINALS_SHEET, RATIO_FMT)
    if "new_customers" in plan.allocation.columns:
        _table_sheet(wb.create_sheet("Customers"), plan, CUSTOMERS_SHEET)
    if any(c in plan.allocation.columns for c in DECISION_SHEET[1:-2]):
        _table_sheet(wb.create_sheet("Decision rules"), plan, DECISION_SHEET)
    if len(plan.steps) > 1:
        _glide_sheet(wb.create_sheet("Glide path"), plan, cells)
    if plan.constraints and "achieved" in plan.constraints[0]:
        _constraints_sheet(wb.create_sheet("Constraints"), plan)
    model.write_assumptions(wb.create_sheet(ASSUMPTIONS_SHEET), cells)
    model.write_curves(wb.create_sheet(CURVES_SHEET))
    model.write_tables(wb)
    experiment_sheets(wb, plan)
    weeks_sheet(wb, plan)
    wb.properties.creator = "roiste"
    wb.properties.created = FIXED_TIME
    return wb, cells


def build_workbook(plan: Plan) -> Workbook:
    """The workbook (not yet saved; its formula cells carry no stored results until
    :func:`xlsx_bytes` writes them)."""
    return _build(plan)[0]


def _normalise_zip(data: bytes, results: dict[str, tuple[str, dict[str, Any]]]) -> bytes:
    """Fix the zip entries' times and the ``modified`` property that openpyxl stamps on save,
    and write each formula cell's stored result (``results``: zip entry -> sheet, results)."""
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
            if info.filename in results:
                sheet, values = results[info.filename]
                content = with_results(content, values, sheet)
            zi = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, content)
    return out.getvalue()


def xlsx_bytes(plan: Plan) -> bytes:
    """The workbook's bytes, stable for the same plan."""
    wb, cells = _build(plan)
    buf = io.BytesIO()
    wb.save(buf)
    # openpyxl writes the n-th sheet as xl/worksheets/sheet<n>.xml
    results = {f"xl/worksheets/sheet{n}.xml": (ws.title, cells.values.get(ws.title, {}))
               for n, ws in enumerate(wb.worksheets, start=1)}
    return _normalise_zip(buf.getvalue(), results)


def workbook_bytes(wb: Workbook) -> bytes:
    """Any report's workbook as bytes, stable: fixed document times and zip entry times."""
    wb.properties.creator = "roiste"
    wb.properties.created = FIXED_TIME
    buf = io.BytesIO()
    wb.save(buf)
    return _normalise_zip(buf.getvalue(), {})


def write_xlsx(plan: Plan, path: str | os.PathLike[str]) -> None:
    """Write ``plan.xlsx`` atomically."""
    atomic_write_bytes(path, xlsx_bytes(plan))
