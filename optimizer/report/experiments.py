"""The plan's experiments: the tests each curve rests on and what to test next.

One section of ``report.html`` (:func:`section_experiments`) and two sheets of ``plan.xlsx``
(:func:`experiment_sheets`), from the curves' diagnostics and
:func:`roiste.optimizer.voi.information_values` over the plan's curve draws.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from openpyxl import Workbook

from roiste.optimizer.report import text as T
from roiste.optimizer.report.cells import sheet_value
from roiste.optimizer.report.columns import EXPERIMENTS, TEST_NEXT, Column
from roiste.optimizer.report.pages import table
from roiste.optimizer.voi import (
    PRECISION,
    SPAN,
    TEST_WEEKS,
    economics_of,
    experiment_rows,
    information_values,
)

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan

def tests_rows(plan: Plan) -> list[dict[str, Any]]:
    """Per channel and test: the rows of :data:`~roiste.optimizer.report.columns.EXPERIMENTS`
    (the marginal ROAS change in percent)."""
    rows = experiment_rows(plan.curves)
    return [{**r, **{k: 100.0 * float(str(r[k]))
                     for k in ("marginal_roas_change", "marginal_roas_change_alone")}}
            for r in rows]


def test_next_rows(plan: Plan) -> list[dict[str, Any]]:
    """The channels ranked by the value of knowing their curve (empty without draws): rows of
    :data:`~roiste.optimizer.report.columns.TEST_NEXT` (the spend change in percent)."""
    if not any(plan.curves[c].draws for c in plan.curves.channels):
        return []
    econ = {c: economics_of(plan.economics[c]) for c in plan.channels}
    current = dict(zip(plan.channels,
                       plan.allocation["current_spend"].to_numpy(dtype=float) / plan.period_weeks,
                       strict=True))
    values = information_values(plan.curves, econ, current, plan.period_weeks,
                                objective=plan.objective)
    return [{"rank": v.rank, "channel": v.channel, "value_of_knowing": v.evpi,
             "test_spend_change": 100.0 * v.spend_change, "test_value": v.evsi,
             "test_effect": v.effect, "weeks_needed": v.weeks} for v in values if v.draws]


def section_experiments(plan: Plan) -> dict[str, Any] | None:
    """The section's context (None when the plan has neither experiments nor curve draws)."""
    tested, ranked = tests_rows(plan), test_next_rows(plan)
    if not tested and not ranked:
        return None
    draws = max(len(plan.curves[c].draws) for c in plan.curves.channels)
    return {
        "title": T.SECTION_EXPERIMENTS,
        "intro": T.EXPERIMENTS_INTRO if tested else T.EXPERIMENTS_NONE,
        "tests": table(list(EXPERIMENTS.values()), tested) if tested else None,
        "next_intro": T.TEST_NEXT_INTRO.format(
            objective=T.OBJECTIVE_WORDS.get(plan.objective, plan.objective), draws=draws,
            span=SPAN, test_weeks=TEST_WEEKS, precision=PRECISION) if ranked else None,
        "next": table(list(TEST_NEXT.values()), ranked) if ranked else None,
    }


def _value(c: Column, v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return v / 100.0 if c.fmt == "pct" else sheet_value(v)


def experiment_sheets(wb: Workbook, plan: Plan) -> None:
    """Add the *Experiments* and *Test next* sheets (each only when it has rows)."""
    for name, cols, rows in ((T.SHEET_EXPERIMENTS, list(EXPERIMENTS.values()), tests_rows(plan)),
                             (T.SHEET_TEST_NEXT, list(TEST_NEXT.values()), test_next_rows(plan))):
        if not rows:
            continue
        ws = wb.create_sheet(name)
        for j, c in enumerate(cols, start=1):
            ws.cell(row=1, column=j, value=c.label)
        for i, r in enumerate(rows, start=2):
            for j, c in enumerate(cols, start=1):
                cell = ws.cell(row=i, column=j, value=_value(c, r.get(c.name)))
                if c.fmt != "text":
                    cell.number_format = c.excel_format


__all__ = ["experiment_sheets", "section_experiments", "test_next_rows", "tests_rows"]
