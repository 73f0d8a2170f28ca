"""The workbook as a model: the cells that drive revenue and net margin in ``plan.xlsx``.

*Assumptions* holds what a reviewer edits: each channel's economics (a channel that has no
value of its own is linked to the scenario-wide row), the planning period and the budget.
*Curves* holds each channel's fitted response: its saturation family and parameters, its
maximum weekly revenue ``beta``, its carry-over weight (a constant weekly spend ``w`` settles
at the adstocked spend ``weight x w``) and the panel's ratios.  The allocation sheet computes,
from those cells and its spend cells,

::

    revenue    = beta * sat((spend / P) * weight) * P
    net margin = k * revenue - f * spend
    k = gm (1 - rr)(1 - cx) incr - cr - cpo / revenue_per_order
        + ncv (1 - cx) new_customers_per_revenue,   incr = s + (1 - s) ei,   f = 1 + fee

(:func:`roiste.optimizer.economics.margin_terms`).  ``sat`` is the family's own spreadsheet
formula (:meth:`roiste.models.transforms.Saturation.excel_value`); a family without one is
read from a table of its weekly response (sheet *Curve tables*) by linear interpolation,
whose points include the plan's own spends, so that the plan's figures come out exactly.

Every formula cell is written with the value roiste computed for it (:class:`FormulaCells`),
so that a reader that does not recalculate shows the plan's numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from roiste.models.transforms import Saturation
from roiste.optimizer.economics import ChannelEconomics, margin_terms
from roiste.optimizer.report import text as T
from roiste.optimizer.report.cells import sheet_value
from roiste.optimizer.report.columns import ECONOMICS, MONEY_FMT, RATIO_FMT

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan

BOLD = Font(bold=True)
HEAD_FILL = PatternFill("solid", fgColor="F3F4F6")
FORMULA_FILL = PatternFill("solid", fgColor="EEF2FF")

ASSUMPTIONS_SHEET = "Assumptions"
CURVES_SHEET = "Curves"
TABLES_SHEET = "Curve tables"
RATIOS = ("revenue_per_order", "new_customers_per_revenue", "new_customer_revenue_share")
"""The panel's ratios on the curves sheet, in order."""
CHANNEL_CELLS = ("margin_per_revenue", "spend_cost")
"""The per-channel cells a registry formula may name as ``{assumption[name]}``."""
TABLE_COLUMNS = (T.TABLE_SPEND, T.TABLE_REVENUE, T.TABLE_MARGINAL)
"""A curve table's columns per channel: weekly spend, weekly revenue, marginal ROAS."""
TABLE_POINTS = 201
"""Evenly spaced points of a curve table (the plan's own spends are added)."""

Cached = float | str


def cached(value: Any) -> Cached:
    """A formula cell's stored result: a finite number, or the empty text."""
    if isinstance(value, bool) or value is None:
        return ""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return ""
    return f if math.isfinite(f) else ""


class FormulaCells:
    """Formula cells, and the value roiste computed for each, per sheet."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Cached]] = {}

    def put(self, ws: Worksheet, row: int, column: int, formula: str, value: Any) -> Cell:
        """Write ``formula`` at (``row``, ``column``) and remember ``value`` as its result."""
        cell = ws.cell(row=row, column=column, value=formula)
        self.values.setdefault(ws.title, {})[cell.coordinate] = cached(value)
        return cell

    def get(self, sheet: str, coordinate: str) -> Cached:
        """The stored result of a formula cell written before."""
        return self.values[sheet][coordinate]


_FORMULA_CELL = re.compile(rb'<c r="([A-Z]+[0-9]+)"([^>]*)><f>(.*?)</f>(?:<v\s*/>|<v></v>)</c>', re.S)


def with_results(sheet_xml: bytes, results: Mapping[str, Cached], sheet: str) -> bytes:
    """A worksheet's XML with each formula cell's stored result filled in.

    Every formula cell must have a result in ``results`` and every result a formula cell
    (``sheet`` names the sheet in the error otherwise).
    """
    filled: set[str] = set()

    def fill(m: re.Match[bytes]) -> bytes:
        ref = m.group(1).decode()
        if ref not in results:
            raise ValueError(f"sheet {sheet!r}: formula cell {ref} has no stored result")
        filled.add(ref)
        value, attrs = results[ref], m.group(2)
        if isinstance(value, str):
            esc = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            return (b'<c r="' + m.group(1) + b'"' + attrs + b' t="str"><f>' + m.group(3)
                    + b"</f><v>" + esc.encode() + b"</v></c>")
        return (b'<c r="' + m.group(1) + b'"' + attrs + b"><f>" + m.group(3) + b"</f><v>"
                + repr(float(value)).encode() + b"</v></c>")

    out = _FORMULA_CELL.sub(fill, sheet_xml)
    missing = sorted(set(results) - filled)
    if missing:
        raise ValueError(f"sheet {sheet!r}: no formula cell {missing[0]} to store a result in")
    return out


def _head(ws: Worksheet, row: int, headers: list[str], fills: list[PatternFill] | None = None) -> None:
    for j, h in enumerate(headers, start=1):
        c = ws.cell(row=row, column=j, value=sheet_value(h))
        c.font = BOLD
        c.fill = HEAD_FILL if fills is None else fills[j - 1]
        ws.column_dimensions[get_column_letter(j)].width = max(12, min(34, len(h) + 4))


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


class WorkbookModel:
    """Where each input of the plan's revenue and net margin sits in the workbook.

    Built before any sheet is written (the allocation sheet, written first, refers to the
    assumptions and curves written after it), then asked to write its own sheets.

    Parameters
    ----------
    plan : Plan
        The plan; its channels are row ``i + 2`` of the allocation and curves sheets and row
        ``i + 3`` of the assumptions sheet.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.n = len(plan.channels)
        self.keys = list(T.ECONOMICS_LABELS)
        self.econ_col = {k: get_column_letter(j) for j, k in enumerate(self.keys, start=2)}
        self.margin_col = get_column_letter(len(self.keys) + 2)
        self.cost_col = get_column_letter(len(self.keys) + 3)
        self.settings_row = self.n + 4
        self.settings = [
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
        rows = {k: self.settings_row + 1 + i for i, (k, _) in enumerate(self.settings)}
        sheet = _sheet(ASSUMPTIONS_SHEET)
        self.period = f"{sheet}!$B${rows['period_weeks']}"
        self.budget = f"{sheet}!$B${rows['budget']}"
        self.has_margin = plan.net_margin_current is not None
        curves = [plan.curves[c] for c in plan.channels]
        self.params: list[str] = []
        for c in curves:
            for p in c.revenue.saturation.param_names:
                if p not in self.params:
                    self.params.append(p)
        self.curve_cols = ["channel", "family", "formula", "beta", "weight",
                           *(f"p:{p}" for p in self.params), *RATIOS]
        self.curve_col = {n: get_column_letter(j) for j, n in enumerate(self.curve_cols, start=1)}
        self.tabled = [i for i, c in enumerate(curves) if not _has_formula(c.revenue.saturation)]
        self.grid: dict[int, np.ndarray] = {i: self._grid(i) for i in self.tabled}

    # -- references ---------------------------------------------------------------------
    def _curve_ref(self, i: int, name: str) -> str:
        return f"{_sheet(CURVES_SHEET)}!${self.curve_col[name]}${i + 2}"

    def _econ_ref(self, i: int, key: str) -> str:
        """Channel ``i``'s cell of an economics key, as the assumptions sheet names it."""
        return f"${self.econ_col[key]}${i + 3}"

    def assumption(self, i: int) -> dict[str, str]:
        """The cells of channel ``i`` a registry formula names as ``{assumption[name]}``."""
        s = _sheet(ASSUMPTIONS_SHEET)
        return {"margin_per_revenue": f"{s}!${self.margin_col}${i + 3}",
                "spend_cost": f"{s}!${self.cost_col}${i + 3}"}

    def revenue(self, i: int, spend: str) -> str:
        """Channel ``i``'s period revenue at the period spend in cell ``spend``."""
        p = self.period
        weekly = f"({spend}/{p})"
        if i in self.tabled:
            return f"{self._interpolate(i, weekly)}*{p}"
        sat = self.plan.curves[self.plan.channels[i]].revenue.saturation
        params = {q: self._curve_ref(i, f"p:{q}") for q in sat.param_names}
        expr = sat.excel_value(params, f"{weekly}*{self._curve_ref(i, 'weight')}")
        return f"{self._curve_ref(i, 'beta')}*{expr}*{p}"

    def marginal(self, i: int, spend: str) -> str:
        """Channel ``i``'s marginal ROAS at the period spend in cell ``spend`` (empty where
        it is unbounded)."""
        weekly = f"({spend}/{self.period})"
        if i in self.tabled:
            return f'IFERROR({self._interpolate(i, weekly, 3)},"")'
        sat = self.plan.curves[self.plan.channels[i]].revenue.saturation
        params = {q: self._curve_ref(i, f"p:{q}") for q in sat.param_names}
        weight = self._curve_ref(i, "weight")
        expr = sat.excel_derivative(params, f"{weekly}*{weight}")
        if expr is None:
            raise ValueError(f"saturation family {sat.lookup_name!r} writes its value as a "
                             "formula but not its derivative")
        return f'IFERROR({self._curve_ref(i, "beta")}*{weight}*{expr},"")'

    def at(self, i: int, refs: Mapping[str, str]) -> dict[str, _At]:
        """``{revenue[column]}`` and ``{marginal[column]}`` of a registry formula in channel
        ``i``'s row, whose cells are ``refs`` (column -> cell)."""
        return {"revenue": _At(self.revenue, i, refs), "marginal": _At(self.marginal, i, refs)}

    # -- curve tables -------------------------------------------------------------------
    def _grid(self, i: int) -> np.ndarray:
        a = self.plan.allocation
        p = float(self.plan.period_weeks)
        spends = [a["current_spend"].iloc[i], a["recommended_spend"].iloc[i],
                  a["upper_bound"].iloc[i], *(s.spend[i] for s in self.plan.steps)]
        weekly = np.array([float(x) / p for x in spends if math.isfinite(float(x))])
        top = max(2.0 * float(weekly.max(initial=0.0)), 1.0)
        return np.unique(np.concatenate([np.linspace(0.0, top, TABLE_POINTS), weekly]))

    def _table_range(self, i: int, column: int) -> str:
        col = get_column_letter(len(TABLE_COLUMNS) * self.tabled.index(i) + column)
        return f"{_sheet(TABLES_SHEET)}!${col}$2:${col}${len(self.grid[i]) + 1}"

    def _interpolate(self, i: int, weekly: str, column: int = 2) -> str:
        """Linear interpolation in column ``column`` of channel ``i``'s table (2: weekly
        revenue, 3: marginal ROAS) at the weekly spend ``weekly``."""
        xs, ys = self._table_range(i, 1), self._table_range(i, column)
        w = f"MAX({weekly},0)"
        m = f"MIN(MATCH({w},{xs},1),{len(self.grid[i]) - 1})"
        y0, y1 = f"INDEX({ys},{m})", f"INDEX({ys},{m}+1)"
        x0, x1 = f"INDEX({xs},{m})", f"INDEX({xs},{m}+1)"
        return f"({y0}+({w}-{x0})*({y1}-{y0})/({x1}-{x0}))"

    # -- the sheets -----------------------------------------------------------------------
    def write_assumptions(self, ws: Worksheet, cells: FormulaCells) -> None:
        """Economics per channel (with each channel's margin per unit of revenue and cost per
        unit of spend as formulas), the planning settings and the constraints."""
        plan = self.plan
        heads = [T.ECONOMICS_CHANNEL, *(T.ECONOMICS_LABELS[k] for k in self.keys)]
        fills = [HEAD_FILL] * len(heads)
        if self.has_margin:
            heads += [T.MODEL_MARGIN_PER_REVENUE, T.MODEL_SPEND_COST]
            fills += [FORMULA_FILL, FORMULA_FILL]
        _head(ws, 1, heads, fills)
        ws.freeze_panes = "B2"
        ws.cell(row=2, column=1, value=T.ECONOMICS_DEFAULT).font = BOLD
        for k in self.keys:
            cell = ws[f"{self.econ_col[k]}2"]
            cell.value = _number(plan.base_economics.get(k))
            cell.number_format = ECONOMICS[k].excel_format
        for i, c in enumerate(plan.channels):
            r = i + 3
            ws.cell(row=r, column=1, value=sheet_value(c))
            own = plan.economics[c]
            for k in self.keys:
                col = self.econ_col[k]
                v, base = _number(own.get(k)), _number(plan.base_economics.get(k))
                if v is not None and base is not None and v == base:
                    cell = cells.put(ws, r, _index(col), f"={col}$2", v)
                else:
                    cell = ws[f"{col}{r}"]
                    cell.value = v
                cell.number_format = ECONOMICS[k].excel_format
            if self.has_margin:
                k_value, f_value, _ = margin_terms(ChannelEconomics.merged(own),
                                                   plan.curves[c].ratios, "net_margin")
                cells.put(ws, r, _index(self.margin_col), self._margin_formula(i),
                          k_value).number_format = RATIO_FMT
                cells.put(ws, r, _index(self.cost_col), f"=1+{self._econ_ref(i, 'platform_fee_rate')}",
                          f_value).number_format = RATIO_FMT
        r = self.settings_row
        ws.cell(row=r, column=1, value=T.SETTINGS_TITLE).font = BOLD
        for j, (k, setting) in enumerate(self.settings, start=r + 1):
            ws.cell(row=j, column=1, value=T.SETTING_LABELS[k])
            cell = ws.cell(row=j, column=2, value=sheet_value(setting))
            if k in ("budget", "current_total"):
                cell.number_format = MONEY_FMT
        r += len(self.settings) + 2
        ws.cell(row=r, column=1, value=T.CONSTRAINTS_TITLE).font = BOLD
        if not plan.constraints:
            ws.cell(row=r + 1, column=1, value=T.NO_CONSTRAINTS)
        for j, con in enumerate(plan.constraints, start=r + 1):
            ws.cell(row=j, column=1, value=sheet_value(str(con.get("name", ""))))
            ws.cell(row=j, column=2, value=sheet_value(str(con.get("rule", ""))))
        r += max(len(plan.constraints), 1) + 2
        ws.cell(row=r, column=1, value=T.MODEL_NOTES_TITLE).font = BOLD
        for j, line in enumerate(T.MODEL_NOTES, start=r + 1):
            ws.cell(row=j, column=1, value=line)

    def _margin_formula(self, i: int) -> str:
        e = {k: self._econ_ref(i, k) for k in self.keys}
        rpo, ncr, s = (self._curve_ref(i, n) for n in RATIOS)
        incr = f"IF({e['existing_incrementality']}=1,1,{s}+(1-{s})*{e['existing_incrementality']})"
        return (f"={e['gross_margin']}*(1-{e['return_rate']})*(1-{e['cancellation_rate']})*{incr}"
                f"-{e['commission_rate']}"
                f"-IF({e['cost_per_order']}=0,0,{e['cost_per_order']}/{rpo})"
                f"+{e['new_customer_value']}*(1-{e['cancellation_rate']})*{ncr}")

    def write_curves(self, ws: Worksheet) -> None:
        """Each channel's fitted response and the panel's ratios (values)."""
        heads = [T.CURVES_HEAD[n] if n in T.CURVES_HEAD else T.CURVES_PARAM.format(name=n[2:])
                 for n in self.curve_cols]
        _head(ws, 1, heads)
        ws.freeze_panes = "B2"
        for i, c in enumerate(self.plan.channels):
            curve = self.plan.curves[c]
            sat = curve.revenue.saturation
            row: dict[str, Any] = {
                "channel": sheet_value(c),
                "family": sheet_value(sat.lookup_name),
                "formula": sheet_value(_formula_text(sat)),
                "beta": float(curve.revenue.beta),
                "weight": float(curve.revenue.adstock.total_weight),
                **{f"p:{p}": float(v) for p, v in sat.params.items()},
                **{n: _number(curve.ratios.get(n)) for n in RATIOS},
            }
            for j, name in enumerate(self.curve_cols, start=1):
                cell = ws.cell(row=i + 2, column=j, value=row.get(name))
                if name == "beta":
                    cell.number_format = MONEY_FMT
        r = self.n + 3
        for j, line in enumerate(T.CURVES_NOTES, start=r):
            ws.cell(row=j, column=1, value=line)
        if self.tabled:
            names = ", ".join(self.plan.channels[i] for i in self.tabled)
            ws.cell(row=r + len(T.CURVES_NOTES), column=1,
                    value=sheet_value(T.CURVES_TABLED.format(channels=names)))

    def write_tables(self, wb: Workbook) -> None:
        """The sheet of curve tables, for channels whose family has no spreadsheet formula."""
        if not self.tabled:
            return
        ws = wb.create_sheet(TABLES_SHEET)
        heads = [h.format(channel=self.plan.channels[i]) for i in self.tabled for h in TABLE_COLUMNS]
        _head(ws, 1, heads)
        for j, i in enumerate(self.tabled):
            curve = self.plan.curves[self.plan.channels[i]]
            xs = self.grid[i]
            columns = (xs, np.asarray(curve.response(xs), dtype=float),
                       np.asarray(curve.marginal(xs), dtype=float))
            for m, values in enumerate(columns, start=1):
                for r, v in enumerate(values, start=2):
                    cell = ws.cell(row=r, column=len(TABLE_COLUMNS) * j + m, value=_number(v))
                    cell.number_format = MONEY_FMT if m < 3 else RATIO_FMT


class _At:
    """``{revenue[column]}``, ``{marginal[column]}``: a channel's figure at the spend in
    another column of the same row."""

    def __init__(self, figure: Callable[[int, str], str], i: int, refs: Mapping[str, str]) -> None:
        self.figure, self.i, self.refs = figure, i, refs

    def __getitem__(self, column: str) -> str:
        return self.figure(self.i, self.refs[column])


def _index(col: str) -> int:
    return int(column_index_from_string(col))


def _sheet(name: str) -> str:
    """A sheet's name as a formula names it: quoted where it holds more than letters."""
    return name if name.isalpha() else "'" + name.replace("'", "''") + "'"


def _formula_text(sat: Saturation) -> str:
    """The family's formula in its parameters' names, or where its table is."""
    text = sat.excel_value({p: p for p in sat.param_names}, "a")
    return T.CURVES_TABLE_FORMULA if text is None else text


def _has_formula(sat: Saturation) -> bool:
    """Does the family write its value as a spreadsheet formula?"""
    return sat.excel_value({p: "1" for p in sat.param_names}, "1") is not None
