"""Lift tests against the truth of simulated worlds (run by hand).

    .venv/bin/python benchmarks/bench_experiments.py [--worlds 6] [--processes paced,paced_demand]
        [--weeks 8] [--change -1] [--draws 0] [--jobs 1]

Each world of each process (:func:`roiste.models.worlds.draw_world`, seeds 1 .. ``--worlds``)
gets one lift test per channel, measured from the truth with the error of a ``--weeks``-week
test (:func:`roiste.models.experiments.lift_test_from_truth`: a holdout by default).  Every
channel is fitted without and with its test.  Per process: the median worst relative error of
the steady-state response over [0.5, 1.5] x recent spend (and the share of channels within
10 %), and the share of the achievable true uplift that one planning step captures (budget
held, step 0.15, net margin at a gross margin of 0.4; both allocations valued on the truth),
without and with the tests.  With ``--draws``, the relative width of the 90 % band at recent
spend, without and with.  Rows go to ``benchmarks/out/experiments.csv``; the table is printed
as markdown.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.experiments import lift_test_from_truth
from roiste.models.fit.channel import FitSettings, fit_channel
from roiste.models.worlds import draw_world
from roiste.optimizer.analysis.experiments import worst_error
from roiste.optimizer.backtest.truth import true_step_uplift
from roiste.optimizer.economics import ChannelEconomics
from roiste.optimizer.scenario import Scenario

OUT = Path(__file__).resolve().parent / "out"
GROSS_MARGIN = 0.4


def capture(world: Any, fitted: CurveSet) -> float:
    """Share of the achievable true uplift of one step that a plan on ``fitted`` captures."""
    sc = Scenario.model_validate({"name": "exam", "data": "unused.csv", "step": 0.15,
                                  "risk": "point", "economics": {"gross_margin": GROSS_MARGIN}})
    economics = ChannelEconomics(gross_margin=GROSS_MARGIN)
    uplift = {}
    for label, curves in (("fit", fitted), ("true", world.truth)):
        uplift[label], now = true_step_uplift(world, curves, sc, economics)
    return uplift["fit"] / uplift["true"] if uplift["true"] > 1e-9 * abs(now) else float("nan")


def run_world(job: tuple[str, int, int, float, int]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    process, seed, weeks, change, draws = job
    world = draw_world(seed, process)
    rows, without, with_ = [], [], []
    for j, name in enumerate(world.channels):
        sub = world.panel[world.panel["channel"] == name]
        truth = world.truth[name]
        test = lift_test_from_truth(world, name, change, weeks, seed)
        t0 = time.process_time()
        fitted = fit_channel(sub["spend"].to_numpy(), sub["revenue"].to_numpy(), world.weeks,
                             channel=name, settings=FitSettings(bootstrap=draws),
                             seed=100 * seed + j, experiments=[test])
        cpu = time.process_time() - t0
        alone = ResponseCurve(name, Component.from_dict(
            fitted.diagnostics["experiments"]["curve_without"]), fitted.recent_spend,
            ratios=fitted.ratios)
        without.append(alone)
        with_.append(fitted)
        row = {"process": process, "seed": seed, "channel": name,
               "paced": world.channel_truth[name].paced_to_season,
               "error_without": worst_error(alone, truth), "error_with": worst_error(fitted, truth),
               "sigma_share": test.sigma / abs(test.delta_y),
               "level": fitted.diagnostics["experiments"]["level"], "cpu": cpu}
        if draws:
            plain = fit_channel(sub["spend"].to_numpy(), sub["revenue"].to_numpy(), world.weeks,
                                channel=name, settings=FitSettings(bootstrap=draws),
                                seed=100 * seed + j)
            w = np.array([truth.recent_spend])
            for label, c in (("without", plain), ("with", fitted)):
                lo, hi = c.response_band(w)
                row[f"band_{label}"] = float((hi[0] - lo[0]) / c.response(w)[0])
                row[f"cover_{label}"] = float(lo[0] <= truth.response(w)[0] <= hi[0])
        rows.append(row)
    plan = {"process": process, "seed": seed,
            "capture_without": capture(world, CurveSet(without)),
            "capture_with": capture(world, CurveSet(with_))}
    return rows, plan


def table(rows: pd.DataFrame, plans: pd.DataFrame) -> str:
    bands = "band_with" in rows
    head = ("| process | worlds | channels | median worst-error without | with | within 10 % "
            "without | with | plan capture without (mean, worst) | with (mean, worst) |")
    if bands:
        head += " 90 % band at recent spend without | with | coverage without | with |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for process, r in rows.groupby("process", sort=False):
        p = plans[plans["process"] == process]
        line = (f"| {process} | {r['seed'].nunique()} | {len(r)} | "
                f"{r['error_without'].median():.1%} | {r['error_with'].median():.1%} | "
                f"{(r['error_without'] <= 0.1).mean():.2f} | {(r['error_with'] <= 0.1).mean():.2f} | "
                f"{p['capture_without'].mean():.3f}, {p['capture_without'].min():.3f} | "
                f"{p['capture_with'].mean():.3f}, {p['capture_with'].min():.3f} |")
        if bands:
            line += (f" {r['band_without'].median():.1%} | {r['band_with'].median():.1%} | "
                     f"{r['cover_without'].mean():.2f} | {r['cover_with'].mean():.2f} |")
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=6)
    ap.add_argument("--processes", default="paced,paced_demand")
    ap.add_argument("--weeks", type=int, default=8)
    ap.add_argument("--change", type=float, default=-1.0)
    ap.add_argument("--draws", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args()
    jobs = [(p, s, args.weeks, args.change, args.draws) for p in args.processes.split(",")
            for s in range(1, args.worlds + 1)]
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run_world, jobs))
    else:
        results = [run_world(j) for j in jobs]
    rows = pd.DataFrame([r for rs, _ in results for r in rs])
    plans = pd.DataFrame([p for _, p in results])
    OUT.mkdir(exist_ok=True)
    rows.to_csv(OUT / "experiments.csv", index=False)
    plans.to_csv(OUT / "experiments_plans.csv", index=False)
    print(table(rows, plans))
    print(f"\n{len(jobs)} worlds in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
