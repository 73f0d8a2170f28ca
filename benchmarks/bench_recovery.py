"""Recovery of simulated truths by the per-channel fit, against an oracle told the true shape.

Run by hand::

    .venv/bin/python benchmarks/bench_recovery.py --seeds 1-24 [--kind dark|default] [--draws 100]

Worlds of 156 weeks with 6 % noise, season-paced spend in the even seeds.  ``dark`` worlds
give every channel weeks of almost no spend (and no steady channels), as the acceptance test
does; ``default`` worlds are the simulator's default mix, where channels flagged by the fit
(``diagnostics["warning"]``) are reported apart.  The error of a channel is the worst relative
error of its steady-state response over [0.5, 1.5] x the mean spend of its last 8 weeks; the
oracle is the same fit told the true family, number of harmonics and level-shift week.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from roiste.models.curves import ResponseCurve
from roiste.models.fit.channel import FitSettings, fit_channel, week_index
from roiste.models.simulate import simulate_world

GRID = np.linspace(0.5, 1.5, 11)
PATTERNS = ("random_walk", "flighting", "promotions", "steps")


def _error(curve: ResponseCurve, truth: ResponseCurve) -> float:
    w = truth.recent_spend * GRID
    return float(np.max(np.abs(curve.response(w) / truth.response(w) - 1.0)))


def run_world(args: tuple[int, str, int]) -> list[dict[str, Any]]:
    """Fit every channel of one world; one row per channel."""
    seed, kind, draws = args
    if kind == "dark":
        world = simulate_world(seed, seasonal_spend=seed % 2 == 0, dark_share=1.0, patterns=PATTERNS)
    else:
        world = simulate_world(seed, seasonal_spend=seed % 2 == 0)
    t = week_index(world.weeks)
    n_harm = len(world.params["season"]["amps"])
    rows = []
    for j, c in enumerate(world.channels):
        sub = world.panel[world.panel["channel"] == c]
        spend, revenue = sub["spend"].to_numpy(), sub["revenue"].to_numpy()
        truth = world.truth[c]
        shift = world.channel_truth[c].shift_week
        oracle = FitSettings(family=truth.family, n_harmonics=n_harm, choose_harmonics=False,
                             level_shift=None if shift is None else float(t[shift]))
        t0 = time.process_time()
        fitted = fit_channel(spend, revenue, world.weeks, settings=FitSettings(bootstrap=draws),
                             seed=100 * seed + j)
        cpu = time.process_time() - t0
        told = fit_channel(spend, revenue, world.weeks, settings=oracle)
        w = truth.recent_spend * GRID
        row = {"seed": seed, "channel": c, "error": _error(fitted, truth),
               "oracle": _error(told, truth), "flag": "warning" in fitted.diagnostics,
               "paced": world.channel_truth[c].paced_to_season,
               "pattern": world.channel_truth[c].pattern,
               "family_ok": fitted.family == truth.family, "cpu": cpu}
        if draws:
            lo, hi = fitted.response_band(w, level=0.9)
            r = truth.response(w)
            row["cover"] = float(np.mean((r >= lo) & (r <= hi)))
        rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]], label: str) -> str:
    """One line of the measures of the acceptance bar."""
    e = np.array([r["error"] for r in rows])
    o = np.array([r["oracle"] for r in rows])
    fam = np.mean([r["family_ok"] for r in rows])
    cov = np.mean([r["cover"] for r in rows]) if rows and "cover" in rows[0] else float("nan")
    return (f"{label}: n={len(e)} median={np.median(e):.3f} within20={np.mean(e <= 0.2):.2f} "
            f"oracle median={np.median(o):.3f} within20={np.mean(o <= 0.2):.2f} "
            f"ratio={np.median(e) / np.median(o):.2f} mean={np.mean(e):.3f}/{np.mean(o):.3f} "
            f"family={fam:.2f} coverage={cov:.3f} cpu/channel={np.mean([r['cpu'] for r in rows]):.3f}s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1-24")
    ap.add_argument("--kind", default="dark", choices=("dark", "default"))
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    lo, hi = (int(v) for v in a.seeds.split("-"))
    jobs = [(s, a.kind, a.draws) for s in range(lo, hi + 1)]
    with ProcessPoolExecutor(a.jobs) as ex:
        rows = [r for world in ex.map(run_world, jobs) for r in world]
    print(summary(rows, f"{a.kind} seeds {a.seeds}"))
    print(summary([r for r in rows if r["paced"]], "  season-paced"))
    print(summary([r for r in rows if not r["flag"]], "  not flagged"))
    flagged = [r for r in rows if r["flag"]]
    if flagged:
        print(summary(flagged, "  flagged"))


if __name__ == "__main__":
    main()
