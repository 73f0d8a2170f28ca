"""The monitor's rules on simulated funnels and cohorts whose change is known (run by hand).

    .venv/bin/python benchmarks/bench_monitor.py [--seeds 100] [--quiet-seeds 60]

* **Detection**: the README's rules "Net CAC up three weeks" and "CPC up three weeks" (10 %
  above the frozen mean level, three weeks in a row) on :func:`simulate_funnel` histories of
  60 weeks with a sustained +20 %, +55 % and +100 % jump in week 52, at three noise levels
  (``auction_noise`` 0.02, 0.05, 0.08: weekly net CAC noise about 3 %, 5.5 %, 8.5 %): share
  of seeds that fire in the jump's third or fourth week, median delay, false alarms before.
* **False alarms**: on funnels that never change (520 weeks each), episodes of the two
  three-week rules against the rate the monitor states for each series, and of the README's
  CUSUM "ROAS drift" against its ``arl0`` (Poisson 95 % interval of the count).
* **Cohorts**: tagged orders whose customers acquired from week 20 on are worth 30 % less at
  60 days (first order unchanged): share of seeds flagged before the first affected cohort is
  90 days old, and the median days from that cohort's start to the alert.
* **Cohort alerts per fall**: two channels of 250 new customers a week, the first one's
  cohorts 30 % below at 60 days from week 20 (or neither's, for the quiet worlds): alerts
  raised (one per channel and episode, all channels only when no single channel explains the
  fall) against the spells of every series and age (what an alert per age and series gives).

The table is printed as markdown; copy it to ``benchmarks/RESULTS.md`` with the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from roiste.models.panel import panel_from_frame
from roiste.optimizer.monitor.charts import episodes, stated_rate
from roiste.optimizer.monitor.cohorts import CohortEconomics, cohort_alerts, cohort_values
from roiste.optimizer.monitor.kpis import series_of
from roiste.optimizer.monitor.rules import CohortWatch, Durability, Rule, Rules, Threshold
from roiste.optimizer.monitor.worlds import simulate_cohort_orders, simulate_funnel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_monitor_signals import CHANNELS, readme_rules  # the README's own rules

NOISES = (0.02, 0.05, 0.08)
FACTORS = (1.2, 1.55, 2.0)
JUMP = 52


def _rule(rules: Rules, name: str) -> Rule:
    return next(r for r in rules.rules if r.name == name)


def detection(rules: Rules, seeds: int) -> list[str]:
    names = {"net_cac": "Net CAC up three weeks", "cpc": "CPC up three weeks"}
    lines = ["| KPI | weekly noise | jump | fired by week 4 | in week 3 or 4 | median week fired | "
             "dated at the jump | alarms before the jump |", "|---|---|---|---|---|---|---|---|"]
    for kpi, name in names.items():
        r = _rule(rules, name)
        for noise in NOISES:
            for factor in FACTORS:
                by4, in_time, delays, dated, before, sig = 0, 0, [], 0, 0, []
                for seed in range(seeds):
                    w = simulate_funnel(seed, n_weeks=60, kpi=kpi, factor=factor, jump_week=JUMP,
                                        auction_noise=noise, channels=CHANNELS)
                    panel = panel_from_frame(w.panel, source="bench")
                    s = next(x for x in series_of(panel, rules.economics) if x.key == CHANNELS[0])
                    values = s.kpis[kpi].to_numpy()
                    sig.append(float(np.std(np.diff(np.log(values[:JUMP]))) / np.sqrt(2)))
                    eps = episodes(values, r.threshold, r.durability)
                    before += sum(e.fired < JUMP for e in eps)
                    after = [e for e in eps if e.fired >= JUMP]
                    if after:
                        d = after[0].fired - JUMP + 1  # 1: the jump's first week
                        delays.append(d)
                        in_time += d in (3, 4)
                        by4 += d <= 4
                        dated += after[0].since == JUMP
                    else:
                        delays.append(99)
                lines.append(f"| {kpi} | {100 * np.median(sig):.1f} % | +{100 * (factor - 1):.0f} % | "
                             f"{by4}/{seeds} | {in_time}/{seeds} | {np.median(delays):.0f} | "
                             f"{dated}/{seeds} | "
                             f"{before} |")
    return lines


def false_alarms(rules: Rules, seeds: int) -> list[str]:
    lines = ["| rule | weekly noise | series-weeks | alarms | stated | 95 % interval of the count |",
             "|---|---|---|---|---|---|"]
    for noise in (0.05, 0.08, 0.12):
        frames = [simulate_funnel(1000 + s, n_weeks=520, kpi="none", auction_noise=noise,
                                  channels=CHANNELS).panel for s in range(seeds)]
        series = [s for f in frames for s in series_of(panel_from_frame(f, source="q"),
                                                          rules.economics)
                  if s.level == "channel"]
        for name in ("Net CAC up three weeks", "CPC up three weeks", "ROAS drift"):
            r = _rule(rules, name)
            count, expected, watched, sig = 0, 0.0, 0, []
            for s in series:
                values = s.kpis[r.kpi].to_numpy()
                skip = (52 if r.durability.cusum else 3) + r.threshold.baseline_weeks
                rate = stated_rate(values, r.threshold, r.durability)
                n = len(values) - skip
                count += len(episodes(values, r.threshold, r.durability))
                expected += (rate or 0.0) * n
                watched += n
                sig.append(float(np.std(np.diff(np.log(values))) / np.sqrt(2)))
            lo, hi = stats.poisson.ppf(0.025, expected), stats.poisson.ppf(0.975, expected)
            lines.append(f"| {name} | {100 * np.median(sig):.1f} % | {watched:,} | {count} | "
                         f"{expected:.1f} | {lo:.0f} - {hi:.0f} |")
    return lines


def cohorts(seeds: int) -> list[str]:
    flagged, leads, false_before = 0, [], 0
    watch = CohortWatch()
    for seed in range(seeds):
        w = simulate_cohort_orders(seed, n_weeks=34, drop_week=20, drop=0.3)
        o = w.orders.assign(timestamp=pd.to_datetime(w.orders["timestamp"]).dt.tz_localize(None))
        series = cohort_values(o, list(watch.ages_days), CohortEconomics(),
                               min_customers=watch.min_customers)
        active, history = cohort_alerts(series[:1], watch, CohortEconomics())
        start = pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=20)
        alerts = active + history
        false_before += sum(pd.Timestamp(a["since"]) < start for a in alerts)
        after = [a for a in alerts if pd.Timestamp(a["since"]) >= start]
        if after:
            first = min(pd.Timestamp(a["fired"]) for a in after)
            lead = (first - start).days
            leads.append(lead)
            flagged += lead < 7 + 90
    return ["| cohorts 30 % below at 60 days | flagged before 90 days | median days from the "
            "cohort's start to the alert | alerts dated before the change |",
            "|---|---|---|---|",
            f"| {seeds} seeds, 250 new customers a week | {flagged}/{seeds} | "
            f"{np.median(leads) if leads else float('nan'):.0f} | {false_before} |"]


def _two_channels(seed: int, drop: float) -> pd.DataFrame:
    parts = []
    for j, (c, d) in enumerate(((CHANNELS[0], drop), (CHANNELS[1], 0.0))):
        o = simulate_cohort_orders(1000 * seed + j, n_weeks=34, drop_week=20, drop=d,
                                   channels=(c,)).orders
        parts.append(o.assign(customer_key=c + o["customer_key"], order_id=c + o["order_id"]))
    o = pd.concat(parts, ignore_index=True)
    o["timestamp"] = pd.to_datetime(o["timestamp"]).dt.tz_localize(None)
    return o.sort_values(["timestamp", "order_id"], kind="stable").reset_index(drop=True)


def cohort_alert_counts(seeds: int) -> list[str]:
    watch = CohortWatch()
    th = Threshold(relative_to="recent", below=watch.below, level="mean",
                   baseline_weeks=watch.baseline_weeks)
    dur = Durability(weeks_in_a_row=watch.weeks_in_a_row)
    start = pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=20)
    lines = ["| worlds | seeds | alerts (grouped) | spells per series and age | first channel "
             "flagged before 90 days | all channels alerted |", "|---|---|---|---|---|---|"]
    for name, drop in (("first channel 30 % below at 60 days", 0.3), ("no change", 0.0)):
        grouped, spells, early, total = 0, 0, 0, 0
        for seed in range(seeds):
            series = cohort_values(_two_channels(seed, drop), list(watch.ages_days),
                                   CohortEconomics(), min_customers=watch.min_customers)
            active, history = cohort_alerts(series, watch, CohortEconomics())
            alerts = active + history
            grouped += len(alerts)
            total += sum(a["channel"] == "(all channels)" for a in alerts)
            for s in series:
                for age in watch.ages_days:
                    ok = np.flatnonzero(np.isfinite(s.values[age]))
                    if len(ok):
                        spells += len(episodes(s.values[age][:ok[-1] + 1], th, dur))
            first = [a for a in alerts if a["channel"] == CHANNELS[0]]
            early += bool(first) and (pd.Timestamp(first[0]["fired"]) - start).days < 7 + 90
        lines.append(f"| {name} | {seeds} | {grouped} | {spells} | {early}/{seeds} | {total} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--quiet-seeds", type=int, default=60)
    ap.add_argument("--cohort-seeds", type=int, default=20)
    ap.add_argument("--parts", default="detection,false_alarms,cohorts,cohort_alerts",
                    help="comma-separated parts to run")
    args = ap.parse_args()
    rules = readme_rules()
    parts = {"detection": ("Detection", lambda: detection(rules, args.seeds)),
             "false_alarms": ("False alarms", lambda: false_alarms(rules, args.quiet_seeds)),
             "cohorts": ("Cohorts", lambda: cohorts(args.cohort_seeds)),
             "cohort_alerts": ("Cohort alerts per fall",
                               lambda: cohort_alert_counts(args.cohort_seeds))}
    for title, part in (parts[p] for p in args.parts.split(",")):
        t0 = time.process_time()
        lines = part()
        print(f"\n### {title} ({time.process_time() - t0:.0f} CPU s)\n")
        print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
