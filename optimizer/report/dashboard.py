"""``dashboard.html`` of ``roiste monitor``: one self-contained page, alerts first.

Sections: the alerts active in the latest week (each with its draft scenario), the
notification outcomes, the weak signals (funnel KPIs, revenue after returns with how complete
the week's returns are, cohorts at equal age; each with its sparkline and the draft scenario
of its alert), the KPIs of the latest week in tables of at most five (value, change against
the recent weeks and against the plan, and an inline SVG sparkline of the last weeks per
KPI), earlier episodes, and notes.  The page has no external resources and no clock time, so the same
inputs give the same bytes.  The page is ``templates/dashboard.html.j2``; the builders here
give each section its context.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from roiste.optimizer.monitor.kpis import NET_KPIS
from roiste.optimizer.monitor.watch import MonitorResult, latest_rows
from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import KPIS
from roiste.optimizer.report.pages import fmt, render, stylesheet

SPARK_WEEKS = 26
SPARK_W, SPARK_H = 80, 22
MAX_HISTORY = 30

# whether a rise is good news (green) or bad news (red); spend is neither
GOOD_WHEN_UP = {"spend": None, "revenue": True, "roas": True, "net_cac": False,
                "cost_per_new_customer": False, "rpv": True, "aov": True, "return_rate": False,
                "cpc": False, "cpm": False, "ctr": True, "conversion_rate": True,
                "net_revenue": True, "net_roas": True, "net_orders": True,
                "net_conversion_rate": True}
# costs per unit of something spend buys: meaningless in a week without spend
COST_KPIS = ("net_cac", "cost_per_new_customer", "cpc", "cpm")
# weak signals: KPIs that move before the margin does
SIGNAL_KPIS = ("cpc", "cpm", "ctr", "conversion_rate", "net_revenue", "net_roas", "net_orders",
               "net_conversion_rate")
Context = dict[str, Any]


def _version() -> str:
    try:
        return version("roiste")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def sparkline(values: Sequence[float] | np.ndarray, alert: bool = False) -> Context | None:
    """The context of an inline SVG line of the finite values (None when fewer than two)."""
    y = np.asarray(values, dtype=float)[-SPARK_WEEKS:]
    x = np.arange(len(y), dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return None
    lo, hi = float(y[ok].min()), float(y[ok].max())
    span = hi - lo if hi > lo else 1.0
    px = 1 + x[ok] / max(len(y) - 1, 1) * (SPARK_W - 2)
    py = SPARK_H - 2 - (y[ok] - lo) / span * (SPARK_H - 4)
    return {
        "width": SPARK_W,
        "height": SPARK_H,
        "label": T.DASHBOARD_SPARK_LABEL.format(n=len(y)),
        "colour": "#b91c1c" if alert else "#1d4ed8",
        "points": " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True)),
        "cx": f"{px[-1]:.1f}",
        "cy": f"{py[-1]:.1f}",
    }


def _delta(v: float, label: str, good_up: bool | None) -> list[Context]:
    """A change in percent, coloured good or bad (nothing when it is not finite).

    A change to nothing (-100 %) or from nothing is not coloured: a KPI that fell to zero
    because a column did (no spend, no revenue) is no news either way.
    """
    if not math.isfinite(v):
        return []
    neutral = good_up is None or abs(v) < 0.0005 or v <= -1.0 + 1e-12  # 0.0 % or to nothing
    cls = "" if neutral else "good" if (v > 0) == good_up else "bad"
    return [{"cls": cls, "text": f"{label} {fmt(100 * v, 'pct')}"}]


def _stated(per_year: float | None) -> str | None:
    """The sentence of a rule's stated false-alarm rate (None when the rule states none)."""
    if per_year is None:
        return None
    if per_year == 0:
        return T.DASHBOARD_STATED_RATE_NIL
    return T.DASHBOARD_STATED_RATE.format(rate=f"{per_year:.2g}")


def section_alerts(result: MonitorResult) -> Context:
    """The alerts active in the latest week, each with its draft scenario."""
    rows = []
    for a in result.alerts:
        moved = a.get("draft", {})
        moves = None
        if moved and "moved" in moved:
            moves = T.DASHBOARD_DRAFT_MOVES.format(
                amount=fmt(moved["moved"]),
                recipients=", ".join(moved["recipients"]) or T.DASHBOARD_NO_RECIPIENT)
        elif moved and a.get("implied_new_customer_value") is not None:
            moves = T.DASHBOARD_IMPLIED_VALUE.format(
                old=fmt(a["new_customer_value"], "cents"),
                new=fmt(a["implied_new_customer_value"], "cents"))
        rows.append({
            "channel": a["channel"], "kpi": a["kpi"], "kpi_label": a["kpi_label"],
            "since": a["since"], "weeks": a["weeks"], "change": a["summary_change"],
            "message": a["message"], "draft": a.get("draft_scenario"), "moves": moves,
            "refused": T.DASHBOARD_DRAFT_REFUSED.format(reason=a["draft_refused"])
            if a.get("draft_refused") else None,
            "rate": _stated(a.get("false_alarms_per_year")),
        })
    return {
        "title": f"{T.DASHBOARD_ALERTS} ({len(result.alerts)})",
        "none": T.DASHBOARD_NO_ALERT.format(last=result.panel.weeks[-1].date()),
        "intro": T.DASHBOARD_ALERTS_INTRO,
        "columns": T.DASHBOARD_ALERT_COLUMNS,
        "rows": rows,
    }


def section_notify(result: MonitorResult) -> Context | None:
    """What each notification target answered (None when nothing was sent)."""
    if not result.deliveries:
        return None
    items = []
    for d in result.deliveries:
        text = T.DASHBOARD_DELIVERY.format(target=d.target, status=d.status,
                                           alerts=len(d.alerts), attempts=d.attempts)
        items.append({"cls": "failed" if d.status == "failed" else "ok",
                      "text": text + (f": {d.error}" if d.error else "")})
    return {"title": T.DASHBOARD_NOTIFY, "lines": items}


def _shown_kpis(result: MonitorResult) -> list[str]:
    """The KPIs with at least one finite week in some series (the panel holds their columns)."""
    return [k for k in KPIS if any(np.isfinite(s.kpis[k].to_numpy()).any() for s in result.series)]


def section_kpis(result: MonitorResult) -> Context:
    """Per series, each KPI of the latest week with its changes and sparkline, in tables of
    at most five KPIs (so that each fits the page)."""
    last = result.panel.weeks[-1].date()
    alerted = {(a["channel"], a["kpi"]) for a in result.alerts}
    has_plan = result.plan is not None
    shown = set(_shown_kpis(result))
    complete = None if result.complete is None else float(result.complete[-1])
    rows = latest_rows(result)
    tables: list[Context] = []
    for title, names in T.DASHBOARD_KPI_GROUPS:
        group = [k for k in names if k in shown]
        if not group:
            continue
        body = []
        for row in rows:
            cells: list[Context] = []
            for k in group:
                v = row[k]
                if k in COST_KPIS and not row["spend"] > 0:
                    cells.append({"value": T.DASHBOARD_NO_SPEND, "deltas": [], "spark": None})
                    continue
                deltas = _delta(row[f"{k}_vs_recent"], T.DASHBOARD_VS_RECENT, GOOD_WHEN_UP[k])
                if has_plan:
                    deltas += _delta(row[f"{k}_vs_plan"], T.DASHBOARD_VS_PLAN, GOOD_WHEN_UP[k])
                if k in NET_KPIS and complete is not None and complete < 1:
                    deltas.append({"cls": "", "text": T.DASHBOARD_RETURNS_COMPLETE.format(
                        pct=fmt(complete, "share"))})
                cells.append({
                    "value": fmt(v, KPIS[k].fmt) if math.isfinite(v) else "–",
                    "deltas": deltas,
                    "spark": sparkline(row[f"{k}_history"], (row["key"], k) in alerted),
                })
            body.append({"level": row["level"], "key": row["key"], "cells": cells})
        tables.append({"id": "kpi-table" if not tables else f"kpi-table-{len(tables) + 1}",
                       "title": title, "head": [T.DASHBOARD_SERIES, *(KPIS[k].label for k in group)],
                       "rows": body})
    intro = T.DASHBOARD_KPIS_INTRO.format(
        recent=result.recent_weeks, spark=SPARK_WEEKS,
        plan=T.DASHBOARD_KPIS_PLAN if has_plan else "")
    return {"title": T.DASHBOARD_KPIS.format(last=last), "intro": intro, "tables": tables}


def section_signals(result: MonitorResult) -> Context | None:
    """Weak signals: the funnel KPIs of each channel and the cohorts at equal age, each with
    its sparkline and, when an alert holds it, the draft scenario it suggests (None when the
    panel has none of them and no orders were given)."""
    shown = [k for k in _shown_kpis(result) if k in SIGNAL_KPIS]
    by_alert = {(a["channel"], a["kpi"]): a for a in result.alerts}
    by_cohort = {(a["channel"], age): a for a in result.alerts for age in a.get("ages_days", ())}
    complete = None if result.complete is None else float(result.complete[-1])
    rows = []
    for row in latest_rows(result):
        if row["level"] == "campaign":
            continue
        for k in shown:
            a = by_alert.get((row["key"], k))
            v = row[k]
            deltas = _delta(row[f"{k}_vs_recent"], T.DASHBOARD_VS_RECENT, GOOD_WHEN_UP[k])
            if k in NET_KPIS and complete is not None and complete < 1:
                deltas.append({"cls": "", "text": T.DASHBOARD_RETURNS_COMPLETE.format(
                    pct=fmt(complete, "share"))})
            rows.append({
                "signal": KPIS[k].label, "key": row["key"],
                "value": fmt(v, KPIS[k].fmt) if math.isfinite(v) else "–",
                "deltas": deltas,
                "spark": sparkline(row[f"{k}_history"], a is not None),
                "alert": a is not None, "draft": a.get("draft_scenario") if a else None,
                "note": a["summary_change"] if a else "", "no_draft": False,
            })
    for cs in result.cohorts:
        for age in sorted(cs.values):
            v = cs.values[age]
            ok = np.flatnonzero(np.isfinite(v))
            if len(ok) == 0:
                continue
            a = by_cohort.get((cs.channel, age))  # the channel's episode seen at this age
            seen = [m for m in a["by_age"] if m["age_days"] == age] if a is not None else []
            note = ""
            if a is not None and a.get("implied_new_customer_value") is not None:
                note = T.DASHBOARD_IMPLIED_VALUE.format(old=fmt(a["new_customer_value"], "cents"),
                                                        new=fmt(a["implied_new_customer_value"], "cents"))
            last_v = float(v[ok[-1]])
            deltas = []
            if seen:
                change = seen[-1]["change"]
                deltas = _delta(float(change) if change is not None else float("nan"),
                                T.DASHBOARD_VS_RECENT, True)
            rows.append({
                "signal": T.DASHBOARD_COHORT_SIGNAL.format(age=age), "key": cs.channel,
                "value": fmt(last_v, "cents"), "deltas": deltas,
                "spark": sparkline(v[:ok[-1] + 1], a is not None),
                "alert": a is not None,
                "draft": a.get("draft_scenario") if a else None,
                "note": note or T.DASHBOARD_COHORT_NOTE.format(
                    week=cs.weeks[ok[-1]].date(),
                    ref=fmt(seen[-1]["reference"], "cents")
                    if seen and seen[-1]["reference"] is not None else "–"),
                "no_draft": a is not None and not a.get("draft_scenario"),
            })
    if not rows:
        return None
    return {"title": T.DASHBOARD_SIGNALS, "intro": T.DASHBOARD_SIGNALS_INTRO,
            "columns": T.DASHBOARD_SIGNAL_COLUMNS, "rows": rows, "no_draft": T.DASHBOARD_NO_DRAFT}


def section_history(result: MonitorResult) -> Context | None:
    """Ended episodes, latest first (None when there are none)."""
    if not result.history:
        return None
    shown = sorted(result.history, key=lambda a: (a["fired"], a["channel"]), reverse=True)
    rows = [{"channel": a["channel"], "kpi": a["kpi"], "since": a["since"], "until": a["until"],
             "change": a["summary_change"], "rule": a["rule"]} for a in shown[:MAX_HISTORY]]
    return {"title": T.DASHBOARD_HISTORY, "intro": T.DASHBOARD_HISTORY_INTRO,
            "columns": T.DASHBOARD_HISTORY_COLUMNS, "rows": rows}


def section_notes(result: MonitorResult) -> Context | None:
    """The run's notes (None when it has none)."""
    if not result.notes:
        return None
    return {"title": T.DASHBOARD_NOTES, "lines": list(result.notes)}


def render_dashboard(result: MonitorResult) -> str:
    """The whole dashboard page as one string."""
    p = result.panel
    lead = T.DASHBOARD_LEAD.format(last=p.weeks[-1].date(), n_weeks=p.n_weeks,
                                   first=p.weeks[0].date(), source=p.source)
    if result.plan is not None:
        start = result.plan.start
        when = (T.DASHBOARD_PLAN_START.format(date=p.weeks[start].date())
                if start is not None and start < p.n_weeks else "")
        lead += T.DASHBOARD_LEAD_PLAN.format(plan=result.plan.name, start=when)
        if start is not None and not result.plan.overlaps:
            begins = (p.weeks[-1] + (start - p.n_weeks + 1) * (p.weeks[1] - p.weeks[0])
                      if p.n_weeks > 1 else p.weeks[-1])
            lead += T.DASHBOARD_NO_OVERLAP.format(
                date=begins.date(), n=p.n_weeks - (result.plan.compared_from or 0))
    return render(
        "dashboard.html.j2",
        title=T.DASHBOARD_TITLE.format(name=result.name),
        css=stylesheet("style.css", "dashboard.css"),
        lead=lead,
        alerts=section_alerts(result),
        notify=section_notify(result),
        kpis=section_kpis(result),
        signals=section_signals(result),
        history=section_history(result),
        notes_section=section_notes(result),
        footer=T.DASHBOARD_FOOTER.format(version=_version()),
    )
