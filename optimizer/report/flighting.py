"""The weekly plan of a scenario with ``period``: its report section and workbook sheet.

``plan.weeks`` holds the rows of ``allocation_weeks.csv`` (:mod:`roiste.optimizer.flighting`);
the section draws the spend of each week stacked by channel and lists the weeks, the sheet
holds the rows with the columns of :data:`~roiste.optimizer.report.columns.ALLOCATION_WEEKS`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from openpyxl import Workbook

from roiste.optimizer.report import charts
from roiste.optimizer.report import text as T
from roiste.optimizer.report.cells import sheet_value
from roiste.optimizer.report.columns import ALLOCATION_WEEKS, money_columns
from roiste.optimizer.report.pages import fmt, image, table

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan


def _chart(plan: Plan) -> dict[str, str]:
    w = plan.weeks
    assert w is not None
    weeks = list(dict.fromkeys(w["week"]))
    with charts.style():
        fig = charts.new_figure(7.0, 3.6)
        ax = fig.add_subplot(1, 1, 1)
        bottom = np.zeros(len(weeks))
        for c in plan.channels:
            spend = w.loc[w["channel"] == c, "spend"].to_numpy(dtype=float)
            ax.bar(range(len(weeks)), spend, bottom=bottom, label=c, width=0.75)
            bottom += spend
        ax.set_xticks(range(len(weeks)), weeks, rotation=30, ha="right")
        ax.set_xlabel(T.FLIGHTING_WEEK_AXIS)
        ax.set_ylabel(T.FLIGHTING_SPEND_AXIS)
        ax.yaxis.set_major_formatter(charts.money_formatter())
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
        fig.subplots_adjust(left=0.12, right=0.75, bottom=0.27)
        return image(charts.png_data_uri(fig), T.CHART_ALT_FLIGHTING)


def section_flighting(plan: Plan) -> dict[str, Any] | None:
    """The section's context (None for a plan without ``period``)."""
    if plan.weeks is None or not plan.flighting:
        return None
    f = plan.flighting
    w = plan.weeks
    pivot = w.pivot(index="week", columns="channel", values="spend")[plan.channels]
    rows: list[dict[str, Any]] = [{"week": str(wk), **{str(c): float(v) for c, v in r.items()}}
                                  for wk, r in pivot.iterrows()]
    # net margin where the scenario gives a gross margin, else the objective (revenue)
    key = "net_margin" if f.get("net_margin_weekly") is not None else "objective"
    word = "net_margin" if key == "net_margin" else plan.objective
    intro = T.FLIGHTING_INTRO.format(
        weeks=f["weeks"], start=f["start"], carryover=T.FLIGHTING_CARRY[bool(f["value_carryover"])],
        what=T.OBJECTIVE_WORDS.get(word, word), weekly=fmt(f[f"{key}_weekly"]),
        flat=fmt(f[f"{key}_flat_totals"]), current=fmt(f[f"{key}_flat_current"]),
        gap=fmt(f["optimality_gap"], "gap"))
    return {
        "title": T.SECTION_FLIGHTING,
        "intro": intro,
        "image": _chart(plan),
        "weeks": table([ALLOCATION_WEEKS["week"], *money_columns(plan.channels)], rows),
    }


def weeks_sheet(wb: Workbook, plan: Plan) -> None:
    """Add the *Weeks* sheet: one row per week and channel (only for a plan with ``period``)."""
    if plan.weeks is None:
        return
    ws = wb.create_sheet(T.SHEET_WEEKS)
    cols = list(ALLOCATION_WEEKS.values())
    for j, c in enumerate(cols, start=1):
        ws.cell(row=1, column=j, value=c.label)
    for i, rec in enumerate(plan.weeks[[c.name for c in cols]].to_dict("records"), start=2):
        for j, c in enumerate(cols, start=1):
            cell = ws.cell(row=i, column=j, value=sheet_value(rec[c.name]))
            if c.fmt != "text":
                cell.number_format = c.excel_format


__all__ = ["section_flighting", "weeks_sheet"]
