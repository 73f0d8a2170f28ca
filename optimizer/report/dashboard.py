"""``dashboard.html`` of ``roiste monitor``: one self-contained page, alerts first.

Sections: the alerts active in the latest week (each with its draft scenario), the
notification outcomes, the KPI table of the latest week (value, change against the recent
weeks and against the plan, and an inline SVG sparkline of the last weeks per KPI), earlier
episodes, and notes.  The page has no external resources and no clock time, so the same
inputs give the same bytes.  The page is ``templates/dashboard.html.j2``; the builders here
give each section its context.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from roiste.optimizer.monitor.watch import MonitorResult, latest_rows
from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import KPIS
from roiste.optimizer.report.pages import fmt, render, stylesheet

SPARK_WEEKS = 26
SPARK_W, SPARK_H = 80, 22
MAX_HISTORY = 30

# whether a rise is good news (green) or bad news (red); spend is neither
GOOD_WHEN_UP = {"spend": None, "revenue": True, "roas": True, "net_cac": False,
                "cost_per_new_customer": False, "rpv": True, "aov": True, "return_rate": False}
Context = dict[str, Any]


def _version() -> str:
    try:
        return version("roiste")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def sparkline(values: Sequence[float], alert: bool = False) -> Context | None:
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
    """A change in percent, coloured good or bad (nothing when it is not finite)."""
    if not math.isfinite(v):
        return []
    cls = "" if good_up is None or v == 0 else "good" if (v > 0) == good_up else "bad"
    return [{"cls": cls, "text": f"{label} {fmt(100 * v, 'pct')}"}]


def section_alerts(result: MonitorResult) -> Context:
    """The alerts active in the latest week, each with its draft scenario."""
    rows = []
    for a in result.alerts:
        moved = a.get("draft", {})
        moves = None
        if moved:
            moves = T.DASHBOARD_DRAFT_MOVES.format(
                amount=fmt(moved["moved"]),
                recipients=", ".join(moved["recipients"]) or T.DASHBOARD_NO_RECIPIENT)
        rows.append({
            "channel": a["channel"], "kpi": a["kpi"], "kpi_label": a["kpi_label"],
            "since": a["since"], "weeks": a["weeks"], "change": a["summary_change"],
            "message": a["message"], "draft": a.get("draft_scenario"), "moves": moves,
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


def section_kpis(result: MonitorResult) -> Context:
    """Per series, each KPI of the latest week with its changes and sparkline."""
    last = result.panel.weeks[-1].date()
    alerted = {(a["channel"], a["kpi"]) for a in result.alerts}
    has_plan = result.plan is not None
    rows = []
    for row in latest_rows(result):
        cells = []
        for k, col in KPIS.items():
            v = row[k]
            deltas = _delta(row[f"{k}_vs_recent"], T.DASHBOARD_VS_RECENT, GOOD_WHEN_UP[k])
            if has_plan:
                deltas += _delta(row[f"{k}_vs_plan"], T.DASHBOARD_VS_PLAN, GOOD_WHEN_UP[k])
            cells.append({
                "value": fmt(v, col.fmt) if math.isfinite(v) else "–",
                "deltas": deltas,
                "spark": sparkline(row[f"{k}_history"], (row["key"], k) in alerted),
            })
        rows.append({"level": row["level"], "key": row["key"], "cells": cells})
    intro = T.DASHBOARD_KPIS_INTRO.format(
        recent=result.recent_weeks, spark=SPARK_WEEKS,
        plan=T.DASHBOARD_KPIS_PLAN if has_plan else "")
    return {
        "title": T.DASHBOARD_KPIS.format(last=last),
        "intro": intro,
        "head": [T.DASHBOARD_SERIES, *(c.label for c in KPIS.values())],
        "rows": rows,
    }


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
    return render(
        "dashboard.html.j2",
        title=T.DASHBOARD_TITLE.format(name=result.name),
        css=stylesheet("style.css", "dashboard.css"),
        lead=lead,
        alerts=section_alerts(result),
        notify=section_notify(result),
        kpis=section_kpis(result),
        history=section_history(result),
        notes_section=section_notes(result),
        footer=T.DASHBOARD_FOOTER.format(version=_version()),
    )
