"""Plan time of a weekly plan (scenario key ``period``): N channels x T weeks.

Run by hand::

    .venv/bin/python benchmarks/bench_flighting.py --channels 50 --weeks 13 [--carryover] [--solver CBC] [--plan]

The channels are a simulated world's true curves (media scaling with a strong season); a
channel whose true saturation is S-shaped gets a Michaelis-Menten curve of the same scale
unless ``--s-shaped`` keeps it (its weeks below the inflection point make the plan a MILP).  The step box is +-15 % of each channel's period
total, weekly spend within [0, box top], week-to-week change at most 30 %.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.panel import read_panel
from roiste.models.transforms import SATURATIONS
from roiste.models.worlds import Process, draw_world
from roiste.optimizer.flighting import WeeklyWorld, plan_weeks, tail_weeks
from roiste.optimizer.lp import solve_weekly
from roiste.optimizer.scenario import load_scenario


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=50)
    ap.add_argument("--weeks", type=int, default=13)
    ap.add_argument("--carryover", action="store_true")
    ap.add_argument("--solver", default="CBC")
    ap.add_argument("--s-shaped", action="store_true",
                    help="keep the S-shaped true curves (a MILP where weeks fall below the point)")
    ap.add_argument("--plan", action="store_true",
                    help="time the whole weekly plan (plan_weeks: curves, panel, scenario)")
    args = ap.parse_args()
    n, T = args.channels, args.weeks
    w = draw_world(11, Process(family="demand", media_demand=1.0, season_strength=3.0),
                   n_channels=n)
    comps = []
    for c in w.channels:
        r = w.channel_truth[c].revenue
        if not r.saturation.is_concave and not args.s_shaped:
            r = Component(r.beta, SATURATIONS["michaelis_menten"](k=float(r.saturation.scale)),
                          r.adstock)
        comps.append(r)
    tails = np.array([tail_weeks(c) if args.carryover else 0 for c in comps])
    h = T + int(tails.max())
    m = len(w.weeks)
    index = w.media_scale(np.arange(m, m + h)).T
    hist = w.spend.to_numpy(dtype=float).T
    cur = hist[:, -8:].mean(axis=1)
    ww = WeeklyWorld(list(w.channels), comps, index, hist, cur, T, tails)
    x0 = cur * T
    p = ww.problem(np.full(n, 0.4), np.ones(n), total_lower=0.85 * x0, total_upper=1.15 * x0,
                   week_lower=np.zeros((n, T)), week_upper=np.repeat((1.15 * x0)[:, None], T, 1),
                   budget=float(x0.sum()), max_change=0.3)
    if args.plan:
        _whole_plan(w, comps, T, args)
        return
    t0 = time.perf_counter()
    sol = solve_weekly(replace(p), solver=args.solver, x_ref=np.repeat(cur[:, None], T, 1))
    took = time.perf_counter() - t0
    print(f"{n} channels x {T} weeks (+{h - T} weeks after), {args.solver}: {took:.2f} s, "
          f"{sol.iterations} rounds, gap {sol.gap:.2e} ({sol.status}), build "
          f"{sol.build_seconds:.2f} s, solve {sol.solve_seconds:.2f} s, "
          f"{sum(not c.saturation.is_concave for c in comps)} S-shaped channels, "
          f"{sol.n_binaries} binaries")


def _whole_plan(w: Any, comps: list[Component], weeks: int, args: argparse.Namespace) -> None:
    """``plan_weeks`` on the world's panel with its (concave) true curves as the curve file."""
    curves = CurveSet([ResponseCurve(c, comp, recent_spend=float(w.spend[c].iloc[-8:].mean()),
                                     ratios=dict(w.channel_truth[c].ratios))
                       for c, comp in zip(w.channels, comps, strict=True)])
    with tempfile.TemporaryDirectory() as d:
        w.panel.to_csv(Path(d) / "panel.csv", index=False)
        curves.save(Path(d) / "curves.json")
        start = (w.weeks[-1] + pd.Timedelta(weeks=1)).date()
        (Path(d) / "plan.yaml").write_text(
            f"name: bench\ndata: panel.csv\ncurves: curves.json\nrisk: point\n"
            f"solver: {args.solver}\nperiod: {{start: {start}, weeks: {weeks}, "
            f"value_carryover: {str(args.carryover).lower()}, max_weekly_change: 0.3}}\n"
            "economics: {gross_margin: 0.4}\n", encoding="utf-8")
        scenario = load_scenario(Path(d) / "plan.yaml")
        panel = read_panel(scenario.data)
        current = panel.recent_spend(int(scenario.baseline_weeks))
        t0 = time.perf_counter()
        plan = plan_weeks(curves, scenario, current, panel.spend)
        took = time.perf_counter() - t0
    f = plan.flighting
    print(f"whole plan, {len(comps)} channels x {weeks} weeks, {args.solver}: {took:.2f} s "
          f"(weekly LP {plan.timings['weekly_build_seconds'] + plan.timings['weekly_solve_seconds']:.2f} s), "
          f"{f['iterations']} rounds, gap {f['optimality_gap']:.2e} ({f['status']})")


if __name__ == "__main__":
    main()
