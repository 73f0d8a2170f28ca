"""Exam of the per-channel fit on worlds of every generating process (run by hand).

    .venv/bin/python benchmarks/bench_recovery.py [--worlds 6] [--draws 20] [--plans] [--jobs 2]

Each process family of :data:`models.worlds.PROCESS_FAMILIES` gets ``--worlds`` worlds with
seeds fixed up front (``first_seed + 100 * family index + i``); the reference row ``own`` is
the simulator's own default world (:func:`models.simulate.simulate_world`); ``own_dark`` and
``own_default`` are the simulator's worlds of earlier measurements (every channel with dark
weeks; the default mix), season-paced in the even seeds, e.g. ``--families own_dark --seeds
1-24 --draws 100``.  Every channel is
fitted by :func:`models.fit.channel.fit_channel` and by an oracle: the same fit told the true
family, the true number of harmonics and the week of the largest level shift; where the truth
is a shape no family has, the oracle is the best of all families by its error to the truth
(``oracle_kind`` says which).

Measures per process: the worst relative error of the steady-state response over [0.5, 1.5] x
the mean spend of the last 8 weeks (median, and the share of channels within 20 %), the
median signed error at 1.0 x (the bias: negative is an under-estimate), the ratio of the fit's
median error to the oracle's, and the coverage of the bootstrap's 90 % band.  With
``--plans`` each world is planned one step (budget held, step 0.15, net margin at a gross
margin of 0.4) on the fitted curves and on the true curves; both allocations are valued on
the truth, and the share of the achievable true uplift the fitted plan captures is reported
(mean and worst world); ``risk_fit`` and ``risk_true`` in ``recovery_plans.csv`` name the risk
objective each plan was made on.  With ``--floors`` two bounds of what the data can pin are added per
channel, both fitted by least squares on the log revenue, the channel's true saturation shape
given up to its scale and level, the geometric carry-over searched: ``floor_known`` knows the
true baseline; ``floor_trend`` knows the baseline's shape up to its level, a linear trend and
one yearly harmonic (a fit that knew everything about the world but those four numbers and the
curve's three).  The column ``slope_error`` is the fit's relative error of the response's
change between 0.85 x and 1.15 x (what one planning step of 15 % rests on).  A world whose
panel has a ``promotion`` column (its promotion calendar, known in advance) is fitted, by the
fit and the oracle, with it as a control (``name=level`` indicators); ``--no-controls`` fits
without it.  Rows go to ``benchmarks/out/recovery*.csv``; the table is printed
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
from scipy.optimize import least_squares

from roiste.models.curves import CurveSet, ResponseCurve
from roiste.models.fit.channel import FitSettings, fit_channel, week_index
from roiste.models.panel import panel_from_frame
from roiste.models.simulate import World, simulate_world
from roiste.models.transforms import SATURATIONS, Geometric
from roiste.models.worlds import PROCESS_FAMILIES, ProcessWorld, draw_world
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.plan import build_plan
from roiste.optimizer.scenario import Scenario

GRID = np.linspace(0.5, 1.5, 11)
OUT = Path(__file__).resolve().parent / "out"
GROSS_MARGIN = 0.4
FAMILIES = ("own", *PROCESS_FAMILIES)
OWN_KINDS = ("own_dark", "own_default")  # the simulator's worlds of earlier measurements
DARK_PATTERNS = ("random_walk", "flighting", "promotions", "steps")


def _ratio(curve: ResponseCurve, truth: ResponseCurve) -> np.ndarray:
    w = truth.recent_spend * GRID
    return np.asarray(curve.response(w) / truth.response(w) - 1.0)


def _error(curve: ResponseCurve, truth: ResponseCurve) -> float:
    return float(np.max(np.abs(_ratio(curve, truth))))


def _world(family: str, seed: int, n_channels: int) -> World:
    if family == "own":
        return simulate_world(seed, n_channels=n_channels)
    if family == "own_dark":  # every channel has dark weeks, season-paced in even seeds
        return simulate_world(seed, n_channels=n_channels, seasonal_spend=seed % 2 == 0,
                              dark_share=1.0, patterns=DARK_PATTERNS)
    if family == "own_default":
        return simulate_world(seed, n_channels=n_channels, seasonal_spend=seed % 2 == 0)
    return draw_world(seed, family, n_channels=n_channels)


def _largest_shift(world: World, channel: str) -> int | None:
    ch = world.channel_truth[channel]
    shifts = [] if ch.shift_week is None else [(ch.shift_week, ch.shift_size)]
    if isinstance(world, ProcessWorld):
        shifts += world.extra_shifts.get(channel, [])
    return max(shifts, key=lambda s: abs(s[1]))[0] if shifts else None


def _oracle(world: World, c: int, spend: np.ndarray, revenue: np.ndarray,
            controls: pd.DataFrame | None = None) -> tuple[ResponseCurve, str]:
    """The fit told the truth it can be told: family, harmonics, level shift (and the
    controls the fit has)."""
    name = world.channels[c]
    truth = world.truth[name]
    t = week_index(world.weeks)
    shift = _largest_shift(world, name)
    base = {"n_harmonics": len(world.params["season"]["amps"]), "choose_harmonics": False,
            "level_shift": None if shift is None else float(t[shift])}
    if truth.family in SATURATIONS:
        told = fit_channel(spend, revenue, world.weeks, channel=name,
                           settings=FitSettings(family=truth.family, **base), controls=controls)
        return told, "true family"
    fits = {f: fit_channel(spend, revenue, world.weeks, channel=name,
                           settings=FitSettings(family=f, **base), controls=controls)
            for f in sorted(SATURATIONS)}
    best = min(fits, key=lambda f: _error(fits[f], truth))
    return fits[best], f"best family ({best})"


def _floors(world: World, c: int, spend: np.ndarray, revenue: np.ndarray) -> dict[str, float]:
    """Worst errors of two near-oracle fits: the true shape, baseline known or nearly."""
    name = world.channels[c]
    ch, truth = world.channel_truth[name], world.truth[name]
    sat, beta = ch.revenue.saturation, ch.revenue.beta
    n = len(spend)
    t = np.arange(n, dtype=float)
    scale = world.media_scale(t)
    sc = np.ones(n) if scale is None else scale[:, c]
    base = world.baseline[name].to_numpy()
    free = np.column_stack([np.ones(n), t / n - 0.5, np.sin(2 * np.pi * t / 52.18),
                            np.cos(2 * np.pi * t / 52.18)])
    logy = np.log(np.maximum(revenue, 1e-9))
    w = truth.recent_spend * GRID
    out = {}
    for label, k in (("floor_known", 0), ("floor_trend", free.shape[1])):
        def resid(p: np.ndarray, k: int = k) -> np.ndarray:
            alpha = 0.95 / (1.0 + np.exp(-p[2]))
            a = Geometric(alpha=alpha).apply(spend)
            mu = base * (1.0 + free[:, :k] @ p[3:]) + np.exp(p[0]) * beta * sat.value(np.exp(p[1]) * a) * sc
            return np.asarray(logy - np.log(np.maximum(mu, 1e-9)))
        fits = [least_squares(resid, np.r_[0.0, 0.0, g, np.zeros(k)]) for g in np.linspace(-3, 3, 7)]
        best = min(fits, key=lambda r: r.cost)
        alpha = 0.95 / (1.0 + np.exp(-best.x[2]))
        a_fit = w / (1.0 - alpha)
        a_true = w * ch.revenue.adstock.total_weight
        ratio = np.exp(best.x[0]) * sat.value(np.exp(best.x[1]) * a_fit) / sat.value(a_true) - 1.0
        out[label] = float(np.max(np.abs(ratio)))
    return out


def _slope_error(curve: ResponseCurve, truth: ResponseCurve) -> float:
    lo, hi = truth.recent_spend * 0.85, truth.recent_spend * 1.15
    d_fit = float(curve.response(hi) - curve.response(lo))
    d_true = float(truth.response(hi) - truth.response(lo))
    return abs(d_fit / d_true - 1.0)


def _plans(world: World, fitted: CurveSet) -> dict[str, float]:
    """True uplift of one planning step on the fitted curves and on the true curves."""
    sc = Scenario.model_validate({"name": "exam", "data": "unused.csv", "step": 0.15,
                                  "economics": {"gross_margin": GROSS_MARGIN}})
    current = world.spend.iloc[-8:].mean()
    p = int(sc.period_weeks)
    value = PeriodFunctions(world.truth, ChannelEconomics(gross_margin=GROSS_MARGIN), p,
                            channels=list(current.index))
    x0 = current.to_numpy(dtype=float) * p
    out = {"nm_current": float(value.value(x0).sum())}
    for label, curves in (("fit", fitted), ("true", world.truth)):
        plan = build_plan(curves, sc, current)
        x = np.asarray(plan.steps[-1].spend, dtype=float)
        out[f"uplift_{label}"] = float(value.value(x).sum()) - out["nm_current"]
        out[f"risk_{label}"] = plan.risk
    out["capture"] = (out["uplift_fit"] / out["uplift_true"] if out["uplift_true"] > 1e-9 * abs(
        out["nm_current"]) else float("nan"))
    return out


def run_world(job: tuple[str, int, int, int, bool, bool, bool]
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fit every channel of one world (and plan it); one row per channel, one for the plan."""
    family, seed, n_channels, draws, plans, floors, use_controls = job
    world = _world(family, seed, n_channels)
    process = world.params.get("process", {})
    panel = (panel_from_frame(world.panel, controls=["promotion"])
             if use_controls and "promotion" in world.panel else None)
    rows, curves = [], []
    for j, name in enumerate(world.channels):
        sub = world.panel[world.panel["channel"] == name]
        spend, revenue = sub["spend"].to_numpy(), sub["revenue"].to_numpy()
        controls = None if panel is None else panel.channel_controls(name)
        truth = world.truth[name]
        t0 = time.process_time()
        fitted = fit_channel(spend, revenue, world.weeks, channel=name,
                             settings=FitSettings(bootstrap=draws), seed=100 * seed + j,
                             controls=controls)
        cpu = time.process_time() - t0
        curves.append(fitted)
        told, kind = _oracle(world, j, spend, revenue, controls)
        w = truth.recent_spend * GRID
        row = {"process": family, "seed": seed, "channel": name, "truth_family": truth.family,
               "fit_family": fitted.family, "error": _error(fitted, truth),
               "signed_1x": float(_ratio(fitted, truth)[GRID.tolist().index(1.0)]),
               "oracle": _error(told, truth), "oracle_kind": kind,
               "flag": "warning" in fitted.diagnostics, "n_weeks": len(world.weeks),
               "noise": world.noise, "media_demand": process.get("media_demand", 0.0),
               "paced": world.channel_truth[name].paced_to_season,
               "pattern": world.channel_truth[name].pattern, "cpu": cpu,
               "slope_error": _slope_error(fitted, truth), "controls": controls is not None}
        if floors:
            row.update(_floors(world, j, spend, revenue))
        if draws:
            lo, hi = fitted.response_band(w, level=0.9)
            r = truth.response(w)
            row["cover"] = float(np.mean((r >= lo) & (r <= hi)))
        rows.append(row)
    plan_row: dict[str, Any] = {"process": family, "seed": seed}
    if plans:
        plan_row.update(_plans(world, CurveSet(curves)))
    return rows, plan_row


def table(rows: pd.DataFrame, plans: pd.DataFrame | None) -> str:
    """The markdown table of the exam, one line per process."""
    head = ("| process | worlds | channels | median worst-error | within 20 % | median signed "
            "error at 1.0x | oracle median | fit / oracle | 90 % band coverage |")
    sep = "|---|---|---|---|---|---|---|---|---|"
    floors = "floor_trend" in rows
    if floors:
        head += " median slope error | floor: baseline known | floor: trend and season free |"
        sep += "---|---|---|"
    if plans is not None:
        head += " plan capture mean | worst |"
        sep += "---|---|"
    lines = [head, sep]
    for fam in [f for f in (*FAMILIES, *OWN_KINDS) if f in set(rows["process"])]:
        r = rows[rows["process"] == fam]
        cov = f"{r['cover'].mean():.2f}" if "cover" in r else "-"
        med, orc = r["error"].median(), r["oracle"].median()
        line = (f"| {fam} | {r['seed'].nunique()} | {len(r)} | {med:.1%} | {np.mean(r['error'] <= 0.2):.2f} "
                f"| {r['signed_1x'].median():+.1%} | {orc:.1%} | {med / orc:.2f} | {cov} |")
        if floors:
            line += (f" {r['slope_error'].median():.1%} | {r['floor_known'].median():.1%} "
                     f"| {r['floor_trend'].median():.1%} |")
        if plans is not None:
            cap = plans.loc[plans["process"] == fam, "capture"].dropna()
            line += f" {cap.mean():.2f} | {cap.min():.2f} |" if len(cap) else " - | - |"
        lines.append(line)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", type=int, default=6, help="worlds per process family")
    ap.add_argument("--first-seed", type=int, default=2300)
    ap.add_argument("--channels", type=int, default=6)
    ap.add_argument("--draws", type=int, default=20, help="bootstrap draws per channel")
    ap.add_argument("--plans", action="store_true", help="also plan on fitted and true curves")
    ap.add_argument("--families", default=",".join(FAMILIES),
                    help=f"comma-separated, among {', '.join(FAMILIES + OWN_KINDS)}")
    ap.add_argument("--seeds", default=None,
                    help="lo-hi: these seeds for every family instead of the fixed ranges")
    ap.add_argument("--floors", action="store_true",
                    help="also the near-oracle bounds floor_known and floor_trend")
    ap.add_argument("--no-controls", action="store_true",
                    help="fit worlds with a promotion calendar without it")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    families = [f for f in a.families.split(",") if f]
    known = FAMILIES + OWN_KINDS
    unknown = [f for f in families if f not in known]
    if unknown:
        raise SystemExit(f"unknown process families {unknown}; known: {list(known)}")
    if a.seeds:
        lo, hi = (int(v) for v in a.seeds.split("-"))
        seeds = {f: list(range(lo, hi + 1)) for f in families}
    else:
        seeds = {f: [a.first_seed + 100 * known.index(f) + i for i in range(a.worlds)]
                 for f in families}
    jobs = [(f, s, a.channels, a.draws, a.plans, a.floors, not a.no_controls)
            for f in families for s in seeds[f]]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        results = list(ex.map(run_world, jobs))
    rows = pd.DataFrame([r for world_rows, _ in results for r in world_rows])
    plans = pd.DataFrame([p for _, p in results]) if a.plans else None
    OUT.mkdir(exist_ok=True)
    rows.to_csv(OUT / "recovery.csv", index=False)
    if plans is not None:
        plans.to_csv(OUT / "recovery_plans.csv", index=False)
    print(table(rows, plans))
    print(f"\n{len(jobs)} worlds, {len(rows)} channels, {time.perf_counter() - t0:.0f} s wall")


if __name__ == "__main__":
    main()
