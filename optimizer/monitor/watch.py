"""The weekly monitor: KPIs per channel and campaign, alerts on durable drifts, draft scenarios.

:func:`evaluate` reads a panel under the rules (:mod:`optimizer.monitor.rules`), optionally
against a plan, into a :class:`MonitorResult`: the KPI series of every campaign, channel and
all channels (:mod:`optimizer.monitor.kpis`), the alerts active in the latest week and every
earlier episode.  :func:`write_draft` writes the draft scenario of an alert (valid for
``roiste validate`` and ``roiste plan``): it moves 10-20 % of the channel's budget toward the
channels with the best marginal net margin (the plan's, or the panel's recent ROAS without a
plan).  :func:`alerts_doc` is the content of ``alerts.json`` and :func:`latest_rows` the
latest week of each series, as the dashboard shows them.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from tqdm.auto import tqdm

from roiste.models.panel import Panel
from roiste.optimizer.monitor.charts import (
    YEAR,
    Episode,
    episodes,
    reference_lag,
    stated_rate,
    weekly_noise,
)
from roiste.optimizer.monitor.cohorts import (
    CohortEconomics,
    CohortSeries,
    cohort_alerts,
    cohort_rates,
    cohort_values,
)
from roiste.optimizer.monitor.kpis import (
    NET_KPIS,
    KpiSeries,
    PlanView,
    attach_plan,
    kpi_table,
    net_cac_basis,
    returns_complete,
    series_of,
)
from roiste.optimizer.monitor.notify import Delivery
from roiste.optimizer.monitor.rules import KPIS, NEEDS, MonitorError, Rule, Rules
from roiste.optimizer.scenario import Scenario, load_scenario

__all__ = ["MonitorResult", "alerts_doc", "cohort_economics", "draft_scenario", "evaluate",
           "latest_rows", "write_cohort_draft", "write_draft"]


@dataclass
class MonitorResult:
    """What a monitor run found and wrote."""

    name: str
    panel: Panel
    series: list[KpiSeries]
    alerts: list[dict[str, Any]]
    history: list[dict[str, Any]]
    table: pd.DataFrame
    plan: PlanView | None = None
    notes: list[str] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    out: Path | None = None
    recent_weeks: int = 4
    cohorts: list[CohortSeries] = field(default_factory=list)
    cohort_econ: CohortEconomics | None = None
    complete: np.ndarray | None = None  # share of each week's returns arrived
    rates: list[dict[str, Any]] = field(default_factory=list)  # stated false alarms per series

    def headline(self) -> str:
        """One line: weeks, series watched, alerts active."""
        last = self.panel.weeks[-1].date()
        n = len(self.alerts)
        what = "no alert" if n == 0 else f"{n} alert{'s' if n > 1 else ''}: " + "; ".join(
            f"{a['channel']} {a['kpi']} {a['summary_change']} since {a['since']}"
            for a in self.alerts[:3]) + (" ..." if n > 3 else "")
        return f"{self.name}: week of {last}, {len(self.series)} series, {what}"

    @property
    def failed_deliveries(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == "failed"]


def _select(rule: Rule, idx: int, series: list[KpiSeries], notes: list[str],
            label: str) -> list[KpiSeries]:
    levels = {"channel": ("channel",), "campaign": ("campaign",), "both": ("channel", "campaign")}
    pool = [s for s in series if s.level in levels[rule.level]]
    if rule.level != "channel" and not any(s.level == "campaign" for s in series):
        notes.append(f"rule '{rule.name}': the panel has no campaign key column; "
                     "channel totals are watched")
        pool = [s for s in series if s.level == "channel"]
    chosen: list[KpiSeries] = []
    for j, pattern in enumerate(rule.channels):
        hits = [s for s in pool
                if fnmatch.fnmatchcase(s.key, pattern) or fnmatch.fnmatchcase(s.channel, pattern)]
        if not hits and not any(ch in pattern for ch in "*?["):
            known = sorted({s.key for s in pool})
            close = difflib.get_close_matches(pattern, known, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else " The panel has: " + ", ".join(known[:12])
            raise MonitorError(f"{label}: channel {pattern!r} is not in the panel "
                               f"(at rules -> {idx} -> channels -> {j}).{hint}")
        if not hits:
            notes.append(f"rule '{rule.name}': no channel matches {pattern!r}")
        chosen += [s for s in hits if s not in chosen]
    return chosen


def _alert_id(rule: str, key: str, kpi: str, since: str) -> str:
    return hashlib.sha256(f"{rule}\x1f{key}\x1f{kpi}\x1f{since}".encode()).hexdigest()[:16]


def _reference(rule: Rule, s: KpiSeries, ep: Episode) -> float:
    th = rule.threshold
    if th.relative_to == "absolute":
        return th.value
    if th.relative_to == "plan":
        assert s.expected is not None
        return float(s.expected[rule.kpi].iloc[ep.since])
    end = ep.since - reference_lag(rule.durability)
    lo = max(0, end - th.baseline_weeks)
    window = s.kpis[rule.kpi].iloc[lo:max(end, 0)]
    window = window[np.isfinite(window)]
    return float(window.mean()) if len(window) else float("nan")


def _pct(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{100 * x:+.1f} %"


def _seasonal_change(values: np.ndarray, ep: Episode, baseline_weeks: int) -> float:
    """Change of the log KPI against the same weeks a year before, over the spell, net of that
    change over the baseline weeks before it (what a year-over-year rule measures)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.log(np.where(values > 0, values, np.nan))
    d = np.full(len(y), np.nan)
    d[YEAR:] = y[YEAR:] - y[:-YEAR]
    spell, base = d[ep.since:ep.until + 1], d[max(0, ep.since - baseline_weeks):ep.since]
    if not (np.isfinite(spell).any() and np.isfinite(base).any()):
        return float("nan")
    return float(np.expm1(np.nanmean(spell) - np.nanmean(base)))


def _record(rule: Rule, s: KpiSeries, ep: Episode, weeks: pd.DatetimeIndex) -> dict[str, Any]:
    values = s.kpis[rule.kpi].to_numpy()
    spell = values[ep.since:ep.until + 1]
    spell = spell[np.isfinite(spell)]
    level = float(spell.mean()) if len(spell) else float("nan")
    seasonal = rule.threshold.level_for(len(values)) == "year_over_year"
    if seasonal:
        change = _seasonal_change(values, ep, rule.threshold.baseline_weeks)
        ref = level / (1.0 + change) if np.isfinite(change) and change != -1 else float("nan")
    else:
        ref = _reference(rule, s, ep)
        change = level / ref - 1.0 if np.isfinite(ref) and ref != 0 else float("nan")
    since, fired = weeks[ep.since].strftime("%Y-%m-%d"), weeks[ep.fired].strftime("%Y-%m-%d")
    what = {"recent": "its level before", "plan": "the plan's expectation",
            "absolute": "the threshold"}[rule.threshold.relative_to]
    if seasonal:
        what = "its level before, adjusted for the season (same weeks a year earlier)"
    n = ep.until - ep.since + 1
    message = (f"{s.key}: {rule.kpi} {_num(level)} over {n} week(s) since {since}, "
               f"{_pct(change)} against {what} ({_num(ref)}); rule '{rule.name}' "
               f"({rule.durability.describe()}) fired in the week of {fired}")
    return {
        "id": _alert_id(rule.name, s.key, rule.kpi, since),
        "rule": rule.name,
        "kpi": rule.kpi,
        "kpi_label": KPIS[rule.kpi],
        "channel": s.key,
        "level": s.level,
        "direction": rule.threshold.direction,
        "relative_to": rule.threshold.relative_to,
        "seasonal": seasonal,
        "durability": rule.durability.describe(),
        "since": since,
        "fired": fired,
        "until": weeks[ep.until].strftime("%Y-%m-%d"),
        "ongoing": ep.ongoing,
        "weeks": n,
        "value": _round(level),
        "latest": _round(float(values[ep.until])),
        "reference": _round(ref),
        "change": _round(change),
        "summary_change": _pct(change),
        "message": message,
    }


def _num(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:,.4g}"


def _round(x: float) -> float | None:
    return float(f"{x:.6g}") if np.isfinite(x) else None


def cohort_economics(rules: Rules) -> tuple[CohortEconomics, list[str]]:
    """Gross margin, return rate, cost per order and ``new_customer_value`` of the cohort
    watch: the rules' ``cohorts`` keys, else the draft scenario's economics, else neutral."""
    c = rules.cohorts
    econ: dict[str, Any] = {}
    notes: list[str] = []
    if rules.draft.scenario is not None:
        sc = load_scenario(rules.resolve(rules.draft.scenario)).economics
        for k in ("gross_margin", "return_rate", "cost_per_order", "new_customer_value"):
            v = getattr(sc, k, None)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                econ[k] = float(v)
    for k in ("gross_margin", "return_rate", "cost_per_order", "new_customer_value"):
        v = getattr(c, k)
        if v is not None:
            econ[k] = float(v)
    if "gross_margin" not in econ:
        notes.append("cohorts: no gross_margin (in cohorts or the draft scenario); cohort "
                     "values are order value, not margin")
    return CohortEconomics(**econ, given=frozenset(econ)), notes


def _net_cut(values: np.ndarray, complete: np.ndarray | None) -> np.ndarray:
    """A net KPI's weeks up to its last week whose returns are complete."""
    if complete is None:
        return values
    done = np.flatnonzero(complete >= 1.0)
    return values[:done[-1] + 1] if len(done) else values[:0]


def evaluate(panel: Panel, rules: Rules, plan: PlanView | None = None, *,
             orders: pd.DataFrame | None = None, progress: bool = False) -> MonitorResult:
    """KPIs, episodes and active alerts of a panel under the rules (no files written).

    Parameters
    ----------
    panel : Panel
        A long weekly panel.
    rules : Rules
        The rules file; its ``economics`` and its draft scenario give net CAC's economics
        (:func:`optimizer.monitor.kpis.net_cac_basis`).
    plan : PlanView, optional
        A plan to compare with.
    orders : DataFrame, optional
        Tagged orders (:func:`optimizer.monitor.cohorts.read_tagged_orders`): recent cohorts
        at equal age are watched under ``rules.cohorts``.
    progress : bool, default False
        Progress bar over the rules.
    """
    label = str(rules.source) if rules.source is not None else "rules"
    notes: list[str] = []
    scenario = draft_scenario(rules)
    basis = net_cac_basis(panel, rules.economics, scenario)
    notes += basis.notes
    series = series_of(panel, basis)
    present = {"spend", "revenue", *panel.extras}
    for i, rule in enumerate(rules.rules):
        lack = [c for c in NEEDS.get(rule.kpi, ()) if c not in present]
        if lack:
            raise MonitorError(f"{label}: rule '{rule.name}' watches {rule.kpi}, which needs the "
                               f"panel column(s) {', '.join(lack)}; {panel.source} has none "
                               f"(at rules -> {i} -> kpi)")
    complete = (returns_complete(panel.n_weeks, rules.return_weeks)
                if present & {"returns", "returned_orders"} else None)
    if plan is not None:
        attach_plan(series, plan, panel, basis, rules.plan_start, rules.recent_weeks)
        notes += plan.notes
    alerts: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    rates: list[dict[str, Any]] = []
    for i, rule in enumerate(tqdm(rules.rules, desc="rules", disable=not progress)):
        if rule.threshold.relative_to == "plan" and plan is None:
            raise MonitorError(f"{label}: rule '{rule.name}' is relative to the plan; pass "
                               f"--plan PLAN_DIR (at rules -> {i} -> threshold -> relative_to)")
        for s in _select(rule, i, series, notes, label):
            values = s.kpis[rule.kpi].to_numpy()
            line = None if s.expected is None else s.expected[rule.kpi].to_numpy()
            if rule.kpi in NET_KPIS:
                values = _net_cut(values, complete)
                line = None if line is None else line[:len(values)]
            rate = stated_rate(values, rule.threshold, rule.durability)
            per_year = None if rate is None else _round(52.0 * rate)
            rates.append({"rule": rule.name, "channel": s.key, "kpi": rule.kpi,
                          "weekly_noise": _round(weekly_noise(values))
                          if rule.durability.weeks_in_a_row is not None else None,
                          "false_alarms_per_year": per_year})
            for ep in episodes(values, rule.threshold, rule.durability, line):
                rec = _record(rule, s, ep, panel.weeks)
                rec["false_alarms_per_year"] = per_year  # what the rule states when nothing changes
                (alerts if ep.ongoing else history).append(rec)
    cohorts: list[CohortSeries] = []
    c_econ = None
    if orders is not None:
        c_econ, more = cohort_economics(rules)
        notes += more
        end = panel.weeks[-1] + pd.Timedelta(days=7)
        cohorts = cohort_values(orders, list(rules.cohorts.ages_days), c_econ,
                                observed_until=min(end, orders["timestamp"].max()),
                                min_customers=rules.cohorts.min_customers)
        got, old = cohort_alerts(cohorts, rules.cohorts, c_econ)
        c_rates = cohort_rates(cohorts, rules.cohorts)
        per_channel: dict[str, list[float | None]] = {}
        for r in c_rates:
            per_channel.setdefault(r["channel"], []).append(r["false_alarms_per_year"])
        for a in got + old:  # an episode seen at several ages counts once: at most the sum
            seen = per_channel.get(a["channel"], [])
            a["false_alarms_per_year"] = (_round(sum(v for v in seen if v is not None))
                                          if seen and None not in seen else None)
        alerts += got
        history += old
        rates += c_rates
    return MonitorResult(rules.name, panel, series, alerts, history,
                         kpi_table(series, rules.recent_weeks, complete), plan,
                         notes, recent_weeks=rules.recent_weeks, cohorts=cohorts,
                         cohort_econ=c_econ, complete=complete, rates=rates)


# --------------------------------------------------------------------------- drafts


def draft_scenario(rules: Rules) -> Scenario | None:
    """The rules' draft scenario (None without one): its ``date_column`` and ``controls`` name
    the panel's week and event columns when ``--date-column`` and ``--controls`` do not, and
    its economics give net CAC's."""
    if rules.draft.scenario is None:
        return None
    return load_scenario(rules.resolve(rules.draft.scenario))


def _scores(panel: Panel, plan: PlanView | None, weeks: int) -> tuple[dict[str, float], str]:
    if plan is not None:
        a = plan.allocation
        for col, what in (("marginal_net_margin_current", "the plan's marginal net margin"),
                          ("marginal_roas_current", "the plan's marginal ROAS"),
                          ("marginal_roas", "the plan's marginal ROAS")):
            if col in a.columns:
                v = pd.to_numeric(a[col], errors="coerce")
                return {c: float(v[c]) for c in panel.channels if c in a.index}, what
    assert panel.revenue is not None
    tail = panel.tail(min(weeks, panel.n_weeks))
    assert tail.revenue is not None
    sp, rv = tail.spend.sum(axis=0), tail.revenue.sum(axis=0)
    roas = {c: float(rv[c] / sp[c]) if sp[c] > 0 else float("-inf") for c in panel.channels}
    return roas, (f"the panel's ROAS over the last {weeks} weeks (no plan given, so no "
                  "marginal net margin)")


def _draft_base(rules: Rules) -> dict[str, Any]:
    """What a draft keeps of the rules' draft scenario (settings and economics), or ``{}``."""
    d = rules.draft
    if d.scenario is None:
        return {}
    sc = load_scenario(rules.resolve(d.scenario))
    keep = ("period_weeks", "baseline_weeks", "objective", "tolerance", "solver", "seed")
    base: dict[str, Any] = {k: getattr(sc, k) for k in keep}
    base["economics"] = sc.economics.model_dump(exclude_none=True)
    base["channel_economics"] = {c: spec.overrides() for c, spec in sc.channels.items()
                                 if spec.overrides()}
    return base


def _draft_head(path: Path, alert: dict[str, Any], plan: PlanView | None, panel_path: Path,
                period: int, bweeks: int, step: float, date_column: str | None,
                controls: Sequence[str] | None = None) -> dict[str, Any]:
    """The first keys of a draft scenario: its name, data, weeks, step, date column, controls,
    curves."""
    doc: dict[str, Any] = {
        "name": f"Draft after alert '{alert['rule']}' on {alert['channel']} since {alert['since']}",
        "data": os.path.relpath(panel_path.resolve(), path.parent.resolve()),
        "period_weeks": period,
        "baseline_weeks": bweeks,
        "step": step,
    }
    if date_column is not None:
        doc["date_column"] = date_column
    if controls:
        doc["controls"] = list(controls)
    if plan is not None and (plan.path / "curves.json").is_file():
        doc["curves"] = os.path.relpath((plan.path / "curves.json").resolve(), path.parent.resolve())
    return doc


def write_draft(path: Path, alert: dict[str, Any], panel: Panel, rules: Rules,
                plan: PlanView | None, panel_path: Path,
                avoid: frozenset[str] = frozenset(), *,
                date_column: str | None = None,
                controls: Sequence[str] | None = None) -> dict[str, Any]:
    """Write the draft scenario of one alert; returns what it moves (for the alert record).

    Channels in ``avoid`` (those with alerts of their own) receive budget only when no other
    channel can.  ``date_column`` (the panel's week column when it is not ``date``) and
    ``controls`` (its event columns) are written into the draft.
    """
    d = rules.draft
    base = _draft_base(rules)
    period = base.get("period_weeks") or (plan.period_weeks if plan else d.period_weeks)
    bweeks = base.get("baseline_weeks") or (plan.baseline_weeks if plan else d.baseline_weeks)
    bweeks = min(bweeks, panel.n_weeks)
    current = {str(c): float(v) * period for c, v in panel.recent_spend(bweeks).items()}
    group = [c for c in panel.channels
             if c == alert["channel"] or c.split("|", 1)[0] == alert["channel"]
             or alert["channel"] == "(all channels)"]
    moved = sum(current[c] for c in group) * d.move
    scores, basis = _scores(panel, plan, bweeks)
    ranked = sorted((c for c in panel.channels if c not in group and current[c] > 0),
                    key=lambda c: (c in avoid or c.split("|", 1)[0] in avoid,
                                   -scores.get(c, float("-inf")), c))
    recipients: list[str] = []
    for c in ranked:
        if len(recipients) >= d.recipients and d.move * sum(current[r] for r in recipients) >= moved:
            break
        recipients.append(c)
    capacity = d.move * sum(current[r] for r in recipients)
    channels: dict[str, dict[str, Any]] = {}
    for c in panel.channels:
        spec: dict[str, Any] = dict(base.get("channel_economics", {}).get(c, {}))
        if c in group:
            if current[c] > 0:
                spec["max"] = current[c] * (1.0 - d.move) * (1.0 + 1e-9)
            else:
                spec["locked"] = True
        elif c in recipients:
            spec["min"] = current[c] * (1.0 - 1e-9)
        else:
            spec["locked"] = True
        channels[c] = spec
    doc = _draft_head(path, alert, plan, panel_path, int(period), int(bweeks), d.move, date_column,
                      controls)
    if capacity < moved * (1 - 1e-9):
        doc["allow_underspend"] = True
    for k in ("objective", "tolerance", "solver", "seed"):
        if k in base:
            doc[k] = base[k]
    if base.get("economics", {}).get("gross_margin") is not None:
        doc["economics"] = base["economics"]
    else:
        doc["objective"] = "revenue"
    doc["channels"] = channels
    head = [
        f"# Draft scenario written by 'roiste monitor' for alert {alert['id']}:",
        f"# {alert['message']}",
        f"# Moves {100 * d.move:g} % of {alert['channel']}'s budget ({moved:,.2f} per "
        f"{period}-week period) toward {', '.join(recipients) or 'no channel'},",
        f"# ranked by {basis}.",
        "# Other channels are locked; review, then run: roiste plan THIS_FILE --out DIR",
    ]
    if "economics" not in doc:
        head.append("# No gross margin known (set draft: scenario in the rules): objective "
                    "revenue; add economics for net margin.")
    if doc.get("allow_underspend"):
        head.append("# The recipients cannot absorb all of it in one bounded step: the rest "
                    "stays unspent (allow_underspend).")
    text = "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return {"moved": round(moved, 2), "recipients": recipients, "basis": basis}


def write_cohort_draft(path: Path, alert: dict[str, Any], panel: Panel, rules: Rules,
                       plan: PlanView | None, panel_path: Path,
                       econ: CohortEconomics | None = None, *,
                       date_column: str | None = None,
                       controls: Sequence[str] | None = None) -> dict[str, Any] | None:
    """Write the draft scenario of a cohort alert: the next plan with the ``new_customer_value``
    the recent cohorts imply (for the alerted channel, or every channel); None (nothing
    written) when no plan value or no gross margin is known.

    The economics come from the rules' draft scenario, else from the cohort watch's own
    (``econ``: gross margin, return rate, cost per order); ``date_column`` and ``controls`` as
    in :func:`write_draft`.
    """
    implied = alert.get("implied_new_customer_value")
    d = rules.draft
    base = _draft_base(rules)
    econ_doc = dict(base.get("economics", {}))
    if not econ_doc and econ is not None and "gross_margin" in econ.given:
        econ_doc = {k: getattr(econ, k) for k in ("gross_margin", "return_rate", "cost_per_order")
                    if k in econ.given}
    if implied is None or econ_doc.get("gross_margin") is None:
        return None
    period = base.get("period_weeks") or (plan.period_weeks if plan else d.period_weeks)
    bweeks = min(base.get("baseline_weeks") or (plan.baseline_weeks if plan else d.baseline_weeks),
                 panel.n_weeks)
    channels: dict[str, dict[str, Any]] = {}
    hit = [c for c in panel.channels
           if alert["channel"] in (c, c.split("|", 1)[0], "(all channels)")]
    if alert["channel"] == "(all channels)":
        econ_doc["new_customer_value"] = implied
    for c in panel.channels:
        spec: dict[str, Any] = dict(base.get("channel_economics", {}).get(c, {}))
        if c in hit and alert["channel"] != "(all channels)":
            spec["new_customer_value"] = implied
        if spec:
            channels[c] = spec
    doc = _draft_head(path, alert, plan, panel_path, int(period), int(bweeks), d.move, date_column,
                      controls)
    for k in ("objective", "tolerance", "solver", "seed"):
        if k in base:
            doc[k] = base[k]
    doc["economics"] = econ_doc
    if channels:
        doc["channels"] = channels
    head = [
        f"# Draft scenario written by 'roiste monitor' for alert {alert['id']}:",
        f"# {alert['message']}",
        f"# new_customer_value {alert['new_customer_value']:,.2f} -> {implied:,.2f} for "
        f"{alert['channel']}: the recent cohorts' value at {alert['age_days']} days against the "
        "earlier cohorts' at the same age.",
        "# Review, then run: roiste plan THIS_FILE --out DIR",
    ]
    text = "\n".join(head) + "\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return {"new_customer_value": implied, "channels": hit}


def alerts_doc(result: MonitorResult) -> dict[str, Any]:
    """The content of ``alerts.json``: the panel, the plan, the alerts and the notifications."""
    p = result.panel
    return {
        "name": result.name,
        "panel": {"source": p.source, "sha256": p.sha256, "first_week": str(p.weeks[0].date()),
                  "last_week": str(p.weeks[-1].date()), "channels": len(p.channels)},
        "plan": None if result.plan is None else {
            "name": result.plan.name,
            "start": None if result.plan.start is None or result.plan.start >= p.n_weeks
            else str(p.weeks[result.plan.start].date()),
            "overlaps_panel": result.plan.overlaps,
            "compared_from": None if result.plan.compared_from is None
            else str(p.weeks[min(result.plan.compared_from, p.n_weeks - 1)].date())},
        "alerts": result.alerts,
        "history": result.history,
        "rates": result.rates,
        "notes": result.notes,
        "notifications": [d.to_dict() for d in result.deliveries],
    }


def latest_rows(result: MonitorResult) -> list[dict[str, Any]]:
    """Per series: the latest week's KPIs and changes (from ``kpis.csv``) and their history."""
    last = result.panel.weeks[-1].strftime("%Y-%m-%d")
    table = result.table[result.table["week"] == last].set_index("key")
    rows = []
    for s in result.series:
        rec: dict[str, Any] = {str(c): v for c, v in table.loc[s.key].items()}
        row: dict[str, Any] = {"key": s.key, "level": s.level}
        for k in KPIS:
            row[k] = float(rec[k])
            row[f"{k}_vs_recent"] = float(rec[f"{k}_vs_recent"])
            row[f"{k}_vs_plan"] = float(rec.get(f"{k}_vs_plan", np.nan))
            row[f"{k}_history"] = s.kpis[k].to_numpy()
        rows.append(row)
    return rows
