"""``dashboard.html`` of ``roiste monitor``: one self-contained page, alerts first.

Sections: the alerts active in the latest week (each with its draft scenario), the
notification outcomes, the KPI table of the latest week (value, change against the recent
weeks and against the plan, and an inline SVG sparkline of the last weeks per KPI), earlier
episodes, and notes.  The page has no external resources and no clock time, so the same
inputs give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import numpy as np

from roiste.optimizer.report.html import esc, fmt

if TYPE_CHECKING:
    from roiste.optimizer.monitor.watch import MonitorResult

SPARK_WEEKS = 26
SPARK_W, SPARK_H = 80, 22

TITLE = "Weekly monitor: {name}"
LEAD = "Week of {last} ({n_weeks} weeks from {first}), panel {source}."
LEAD_PLAN = " Compared with the plan '{plan}'{start}."
SECTION_ALERTS = "Alerts"
NO_ALERT = "No alert is active in the week of {last}."
ALERTS_INTRO = ("Each alert is a rule that still holds in the latest week. The draft scenario "
                "beside it moves part of the channel's budget toward the channels that earn "
                "more at the margin; review it, then run roiste plan on it.")
SECTION_NOTIFY = "Notifications"
SECTION_KPIS = "KPIs in the week of {last}"
KPIS_INTRO = ("Each cell: the week's value; its change against the {recent} weeks before"
              "{plan} (green: good news, red: bad news); the last {spark} weeks as a line "
              "(red: the series has an alert on that KPI).")
SECTION_HISTORY = "Earlier episodes"
HISTORY_INTRO = "Spells during which a rule held and that have ended (latest first, at most 30)."
SECTION_NOTES = "Notes"
FOOTER = "roiste {version} monitor."

# whether a rise is good news (green) or bad news (red); spend is neither
GOOD_WHEN_UP = {"spend": None, "revenue": True, "roas": True, "net_cac": False,
                "cost_per_new_customer": False, "rpv": True, "aov": True, "return_rate": False}
KPI_HEADERS = {
    "spend": ("Spend", "money"),
    "revenue": ("Revenue", "money"),
    "roas": ("ROAS", "ratio"),
    "net_cac": ("Net CAC", "cents"),
    "cost_per_new_customer": ("Cost / new customer", "cents"),
    "rpv": ("Revenue / visitor", "cents"),
    "aov": ("Avg order value", "cents"),
    "return_rate": ("Return rate", "share"),
}
EXTRA_CSS = """
table.alerts td, table.alerts th { vertical-align: top; }
table.alerts tr.alert td { background: #fef2f2; }
td.kpi { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
td.kpi .v { font-weight: bold; }
td.kpi .d { font-size: 0.75rem; display: block; }
td.kpi .d.good { color: #15803d; } td.kpi .d.bad { color: #b91c1c; }
div.scroll { overflow-x: auto; }
#kpi-table { font-size: 0.8rem; }
svg.spark { display: block; margin-left: auto; }
tr.level-total td { font-weight: bold; background: #f9fafb; }
tr.level-campaign td:first-child { padding-left: 1.2rem; }
.ok { color: #15803d; } .failed { color: #b91c1c; font-weight: bold; }
"""


def _version() -> str:
    try:
        return version("roiste")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def sparkline(values: Sequence[float], alert: bool = False) -> str:
    """An inline SVG line of the finite values (empty string when fewer than two)."""
    y = np.asarray(values, dtype=float)[-SPARK_WEEKS:]
    x = np.arange(len(y), dtype=float)
    ok = np.isfinite(y)
    if ok.sum() < 2:
        return ""
    lo, hi = float(y[ok].min()), float(y[ok].max())
    span = hi - lo if hi > lo else 1.0
    px = 1 + x[ok] / max(len(y) - 1, 1) * (SPARK_W - 2)
    py = SPARK_H - 2 - (y[ok] - lo) / span * (SPARK_H - 4)
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py, strict=True))
    colour = "#b91c1c" if alert else "#1d4ed8"
    return (f'<svg class="spark" width="{SPARK_W}" height="{SPARK_H}" viewBox="0 0 {SPARK_W} '
            f'{SPARK_H}" role="img" aria-label="last {len(y)} weeks">'
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{pts}"/>'
            f'<circle cx="{px[-1]:.1f}" cy="{py[-1]:.1f}" r="2" fill="{colour}"/></svg>')


def _delta(v: float, label: str, good_up: bool | None) -> str:
    if not math.isfinite(v):
        return ""
    cls = "" if good_up is None or v == 0 else " good" if (v > 0) == good_up else " bad"
    return f'<span class="d{cls}">{esc(label)} {fmt(100 * v, "pct")}</span>'


def section_alerts(result: MonitorResult) -> str:
    last = result.panel.weeks[-1].date()
    head = f'<h2 id="alerts-title">{esc(SECTION_ALERTS)} ({len(result.alerts)})</h2>'
    if not result.alerts:
        return head + f'<p id="no-alert" class="ok">{esc(NO_ALERT.format(last=last))}</p>'
    rows = []
    for a in result.alerts:
        draft = a.get("draft_scenario")
        link = f'<a href="{esc(draft)}">{esc(draft)}</a>' if draft else ""
        moved = a.get("draft", {})
        if moved:
            link += (f'<br><span class="note">moves {fmt(moved["moved"])} to '
                     f'{esc(", ".join(moved["recipients"]) or "none")}</span>')
        rows.append(
            '<tr class="alert">'
            f"<td>{esc(a['channel'])}</td><td>{esc(a['kpi'])}<br>"
            f'<span class="note">{esc(a["kpi_label"])}</span></td>'
            f"<td>{esc(a['since'])}</td><td class=\"num\">{a['weeks']}</td>"
            f"<td class=\"num\">{esc(a['summary_change'])}</td>"
            f"<td>{esc(a['message'])}</td><td>{link}</td></tr>"
        )
    cols = ("Channel", "KPI", "Since", "Weeks", "Change", "What happened", "Draft scenario")
    return (head + f"<p>{esc(ALERTS_INTRO)}</p>"
            + '<table id="alerts" class="alerts"><thead><tr>'
            + "".join(f"<th>{esc(c)}</th>" for c in cols) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def section_notify(result: MonitorResult) -> str:
    if not result.deliveries:
        return ""
    items = []
    for d in result.deliveries:
        cls = "failed" if d.status == "failed" else "ok"
        err = f": {esc(d.error)}" if d.error else ""
        items.append(f'<li class="{cls}">{esc(d.target)}: {esc(d.status)} '
                     f"({len(d.alerts)} alert(s), {d.attempts} attempt(s)){err}</li>")
    return f"<h2>{esc(SECTION_NOTIFY)}</h2><ul id=\"notifications\">{''.join(items)}</ul>"


def section_kpis(result: MonitorResult) -> str:
    from roiste.optimizer.monitor.watch import latest_rows

    last = result.panel.weeks[-1].date()
    alerted = {(a["channel"], a["kpi"]) for a in result.alerts}
    has_plan = result.plan is not None
    head = "<th>Series</th>" + "".join(f"<th>{esc(h)}</th>" for h, _ in KPI_HEADERS.values())
    body = []
    for row in latest_rows(result):
        cells = [f"<td>{esc(row['key'])}</td>"]
        for k, (_, kind) in KPI_HEADERS.items():
            v = row[k]
            value = fmt(v, kind) if math.isfinite(v) else "–"
            spark = sparkline(row[f"{k}_history"], (row["key"], k) in alerted)
            deltas = _delta(row[f"{k}_vs_recent"], "recent", GOOD_WHEN_UP[k])
            if has_plan:
                deltas += _delta(row[f"{k}_vs_plan"], "plan", GOOD_WHEN_UP[k])
            cells.append(f'<td class="kpi"><span class="v">{value}</span>{deltas}{spark}</td>')
        body.append(f'<tr class="level-{esc(row["level"])}">' + "".join(cells) + "</tr>")
    intro = KPIS_INTRO.format(recent=result.recent_weeks, spark=SPARK_WEEKS,
                              plan=" and against the plan's expectation" if has_plan else "")
    return (f"<h2>{esc(SECTION_KPIS.format(last=last))}</h2><p>{esc(intro)}</p>"
            f'<div class="scroll"><table id="kpi-table"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table></div>")


def section_history(result: MonitorResult) -> str:
    if not result.history:
        return ""
    shown = sorted(result.history, key=lambda a: (a["fired"], a["channel"]), reverse=True)[:30]
    rows = "".join(
        f"<tr><td>{esc(a['channel'])}</td><td>{esc(a['kpi'])}</td><td>{esc(a['since'])}</td>"
        f"<td>{esc(a['until'])}</td><td class=\"num\">{esc(a['summary_change'])}</td>"
        f"<td>{esc(a['rule'])}</td></tr>" for a in shown)
    cols = ("Channel", "KPI", "Since", "Until", "Change", "Rule")
    return (f"<h2>{esc(SECTION_HISTORY)}</h2><p>{esc(HISTORY_INTRO)}</p><table id=\"history\">"
            "<thead><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr></thead><tbody>"
            + rows + "</tbody></table>")


def section_notes(result: MonitorResult) -> str:
    if not result.notes:
        return ""
    return (f"<h2>{esc(SECTION_NOTES)}</h2><ul>"
            + "".join(f'<li class="note">{esc(n)}</li>' for n in result.notes) + "</ul>")


def render_dashboard(result: MonitorResult) -> str:
    """The whole dashboard page as one string."""
    p = result.panel
    lead = LEAD.format(last=p.weeks[-1].date(), n_weeks=p.n_weeks, first=p.weeks[0].date(),
                       source=p.source)
    if result.plan is not None:
        start = result.plan.start
        when = (f", which applies from {p.weeks[start].date()}"
                if start is not None and start < p.n_weeks else "")
        lead += LEAD_PLAN.format(plan=result.plan.name, start=when)
    css = resources.files("roiste.optimizer.report").joinpath("style.css").read_text(encoding="utf-8")
    parts: list[Any] = [
        f"<h1>{esc(TITLE.format(name=result.name))}</h1><p class=\"lead\">{esc(lead)}</p>",
        section_alerts(result),
        section_notify(result),
        section_kpis(result),
        section_history(result),
        section_notes(result),
        f"<footer>{esc(FOOTER.format(version=_version()))}</footer>",
    ]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{esc(TITLE.format(name=result.name))}</title>"
            f"<style>{css}{EXTRA_CSS}</style></head><body>"
            + "\n".join(x for x in parts if x) + "</body></html>\n")
