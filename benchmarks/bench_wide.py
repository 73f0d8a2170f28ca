"""Exam of the aggregate (wide, marketing-mix) fit on worlds with a known truth (run by hand).

    .venv/bin/python benchmarks/bench_wide.py [--per-process 1] [--channels 4] [--jobs 1]
    .venv/bin/python benchmarks/bench_wide.py --compare   # add the peer's rows (after the peer ran)

``--first-seed``/``--out`` draw other worlds into another folder (tune on those, never on the
exam's seeds); ``--families`` and ``--ridge`` are passed to :func:`models.fit.mmm.fit_wide`.

A wide world is a world of :func:`models.worlds.draw_world` whose channels all feed one revenue
column: the target of week ``t`` is the sum over channels of the long panel's revenue, that is
every channel's baseline plus its media effect (scaled with demand where the process says so),
each with the multiplicative noise the long panel draws.  The truth is the world's own
``truth`` (steady-state weekly incremental revenue of each channel); the wide target adds them,
as the media effects add in the generating process.  Every process family of
:data:`models.worlds.PROCESS_FAMILIES` gets ``--per-process`` worlds, seeds fixed up front:
``first_seed + 100 * family index + i``.

The worlds are written to ``benchmarks/out/wide/worlds.csv`` (one row per world and week:
``world, process, seed, date, revenue`` and one spend column per channel) and
``benchmarks/out/wide/truth.csv`` (per world and channel: current weekly spend, the plan's
bounds, the true response at 0.5-1.5 x the current spend); the roiste fit reads its panel back
from ``worlds.csv``, and so does the peer (``benchmarks/peers/``).

Measures per world: each channel's worst relative error of the fitted steady-state response over
[0.5, 1.5] x the mean spend of the last 8 weeks, and the plan capture: one planning step
(budget held, each channel within +-15 %, net margin at a gross margin of 0.4) made with
:func:`optimizer.plan.build_plan` on the fitted curves and on the true curves, both allocations
valued on the truth; capture = true uplift of the fitted plan / true uplift of the true plan.
With ``--compare`` the peer's allocations (``benchmarks/out/wide/peer_plans.csv``) are valued
on the same truth and its curves (``peer_curves.csv``) measured the same way.
"""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.curves import CurveSet
from roiste.models.fit.mmm import fit_wide
from roiste.models.panel import panel_from_frame
from roiste.models.worlds import PROCESS_FAMILIES, ProcessWorld, draw_world
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.plan import build_plan
from roiste.optimizer.scenario import Scenario

GRID = np.round(np.linspace(0.5, 1.5, 11), 2)
OUT = Path(__file__).resolve().parent / "out" / "wide"  # --out changes it
GROSS_MARGIN = 0.4
STEP = 0.15
RECENT_WEEKS = 8
FIRST_SEED = 4100


def world_seeds(per_process: int, first_seed: int = FIRST_SEED) -> list[tuple[str, int]]:
    """``(process, seed)`` of every world of the exam, fixed before any fit."""
    return [(f, first_seed + 100 * k + i) for k, f in enumerate(PROCESS_FAMILIES)
            for i in range(per_process)]


def wide_world(process: str, seed: int, n_channels: int) -> tuple[ProcessWorld, pd.DataFrame]:
    """The world and its wide frame: ``date``, ``revenue`` (channels' revenue summed), spend."""
    w = draw_world(seed, process, n_channels=n_channels)
    rev = w.panel.pivot(index="date", columns="channel", values="revenue")[w.channels]
    frame = pd.DataFrame({"date": w.weeks.strftime("%Y-%m-%d"),
                          "revenue": np.round(rev.sum(axis=1).to_numpy(), 2)})
    for c in w.channels:
        frame[c] = w.spend[c].to_numpy()
    return w, frame


def _scenario() -> Scenario:
    return Scenario.model_validate({"name": "exam", "data": "unused.csv", "step": STEP,
                                    "economics": {"gross_margin": GROSS_MARGIN}})


def current_weekly(world: ProcessWorld) -> pd.Series:
    """Mean weekly spend of the last weeks: the plan's starting point."""
    return world.spend.iloc[-RECENT_WEEKS:].mean()


def true_value(world: ProcessWorld, weekly: np.ndarray) -> float:
    """Net margin of one period at constant weekly spends ``weekly``, valued on the truth."""
    current = current_weekly(world)
    p = int(_scenario().period_weeks)
    value = PeriodFunctions(world.truth, ChannelEconomics(gross_margin=GROSS_MARGIN), p,
                            channels=list(current.index))
    return float(value.value(np.asarray(weekly, dtype=float) * p).sum())


def plan_weekly(world: ProcessWorld, curves: CurveSet) -> np.ndarray:
    """Weekly spend of one planning step made on ``curves`` (budget held, step 0.15)."""
    sc = _scenario()
    plan = build_plan(curves, sc, current_weekly(world))
    return np.asarray(plan.steps[-1].spend, dtype=float) / int(sc.period_weeks)


def capture(world: ProcessWorld, weekly: np.ndarray) -> dict[str, float]:
    """True uplift of an allocation and its share of the true plan's uplift."""
    x0 = current_weekly(world).to_numpy(dtype=float)
    nm0 = true_value(world, x0)
    up_true = true_value(world, plan_weekly(world, world.truth)) - nm0
    up = true_value(world, weekly) - nm0
    cap = up / up_true if up_true > 1e-9 * abs(nm0) else float("nan")
    return {"nm_current": nm0, "uplift_true": up_true, "uplift": up, "capture": cap}


def curve_errors(world: ProcessWorld, response: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Per channel: worst and signed (at 1.0 x) relative error of ``response`` on the grid."""
    rows = []
    total = sum(float(world.truth[c].response(world.truth[c].recent_spend)) for c in world.channels)
    for c in world.channels:
        tr = world.truth[c]
        r = np.asarray(tr.response(tr.recent_spend * GRID), dtype=float)
        ratio = response[c] / r - 1.0
        rows.append({"channel": c, "truth_family": tr.family,
                     "effect_share": float(tr.response(tr.recent_spend)) / total,
                     "error": float(np.max(np.abs(ratio))),
                     "signed_1x": float(ratio[list(GRID).index(1.0)])})
    return rows


def write_worlds(jobs: list[tuple[str, int]], n_channels: int) -> None:
    """Write the wide panels and truths the roiste fit and the peer both read."""
    frames, truths = [], []
    for i, (process, seed) in enumerate(jobs):
        w, frame = wide_world(process, seed, n_channels)
        frames.append(frame.assign(world=i, process=process, seed=seed))
        cur = current_weekly(w)
        for c in w.channels:
            tr = w.truth[c]
            row = {"world": i, "process": process, "seed": seed, "channel": c,
                   "n_weeks": len(w.weeks), "current_weekly": float(cur[c]),
                   "lower": float(cur[c]) * (1 - STEP), "upper": float(cur[c]) * (1 + STEP)}
            row.update({f"true_{m:.1f}": float(tr.response(tr.recent_spend * m)) for m in GRID})
            truths.append(row)
    OUT.mkdir(parents=True, exist_ok=True)
    worlds = pd.concat(frames, ignore_index=True)
    head = ["world", "process", "seed", "date", "revenue"]
    worlds[head + [c for c in worlds.columns if c not in head]].to_csv(OUT / "worlds.csv", index=False)
    pd.DataFrame(truths).to_csv(OUT / "truth.csv", index=False)


def read_frame(world: int, out: Path) -> pd.DataFrame:
    """One world's wide frame, as written to ``out / "worlds.csv"``."""
    df = pd.read_csv(out / "worlds.csv")
    return df[df["world"] == world].drop(columns=["world", "process", "seed"]).reset_index(drop=True)


def run_world(job: tuple[int, str, int, int, dict[str, Any], Path]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Fit one world's wide panel (read back from the CSV), measure its curves and its plan."""
    i, process, seed, n_channels, fit_kw, out = job
    w, _ = wide_world(process, seed, n_channels)
    frame = read_frame(i, out)
    panel = panel_from_frame(frame, source=f"worlds.csv[world={i}]", layout="wide",
                             target="revenue", spend=list(w.channels))
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # weakly identified channels are measured, not warned about
        warnings.simplefilter("ignore")
        fitted = fit_wide(panel, progress=False, **fit_kw)
    wall = time.perf_counter() - t0
    resp = {c: np.asarray(fitted[c].response(w.truth[c].recent_spend * GRID)) for c in w.channels}
    rows = [{"world": i, "process": process, "seed": seed, **r} for r in curve_errors(w, resp)]
    plan = {"world": i, "process": process, "seed": seed, "n_weeks": len(w.weeks),
            "noise": w.noise, "media_demand": w.process.media_demand, "fit_seconds": wall,
            "media_form": fitted.diagnostics.get("media_form", "additive"),
            **capture(w, plan_weekly(w, fitted))}
    return rows, plan


def peer_rows(jobs: list[tuple[str, int]], n_channels: int) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The peer's curve errors and plan captures on the same worlds, if the peer has run."""
    pp, pc = OUT / "peer_plans.csv", OUT / "peer_curves.csv"
    if not pp.exists():
        return None
    plans = pd.read_csv(pp)
    curves = pd.read_csv(pc) if pc.exists() else None
    crow, prow = [], []
    for i, (process, seed) in enumerate(jobs):
        sub = plans[plans["world"] == i]
        if sub.empty:
            continue
        w, _ = wide_world(process, seed, n_channels)
        weekly = sub.set_index("channel").loc[w.channels, "weekly_spend"].to_numpy(dtype=float)
        prow.append({"world": i, "process": process, "seed": seed,
                     "fit_seconds": float(sub["fit_seconds"].iloc[0]), **capture(w, weekly)})
        if curves is not None:
            cw = curves[curves["world"] == i]
            resp = {c: cw[cw["channel"] == c].sort_values("mult")["response"].to_numpy(dtype=float)
                    for c in w.channels}
            crow += [{"world": i, "process": process, "seed": seed, **r} for r in curve_errors(w, resp)]
    return pd.DataFrame(crow), pd.DataFrame(prow)


def _errors(rows: pd.DataFrame) -> str:
    """Median worst error, share within 20 %, and the median over the channels that carry at
    least 10 % of the world's true media effect at current spend."""
    big = rows.loc[rows["effect_share"] >= 0.1, "error"]
    return (f"median {rows['error'].median():.0%}, within 20 % {np.mean(rows['error'] <= 0.2):.2f}, "
            f"median of channels with >= 10 % of the effect {big.median():.0%}")


def table(rows: pd.DataFrame, plans: pd.DataFrame, peer: tuple[pd.DataFrame, pd.DataFrame] | None) -> str:
    """Markdown: one line per world, then mean and worst capture."""
    head = "| world | process | seed | weeks | roiste capture | roiste worst curve error (median / max) |"
    sep = "|---|---|---|---|---|---|"
    if peer is not None:
        head += " PyMC-Marketing capture | PyMC-Marketing worst curve error (median / max) |"
        sep += "---|---|"
    lines = [head, sep]
    pc = peer[1].set_index("world") if peer is not None and len(peer[1]) else None
    for _, p in plans.iterrows():
        r = rows[rows["world"] == p["world"]]["error"]
        line = (f"| {p['world']} | {p['process']} | {p['seed']} | {p['n_weeks']} | {p['capture']:.2f} "
                f"| {r.median():.0%} / {r.max():.0%} |")
        if peer is not None:
            if pc is not None and p["world"] in pc.index:
                pr = peer[0][peer[0]["world"] == p["world"]]["error"] if len(peer[0]) else pd.Series([], dtype=float)
                err = f"{pr.median():.0%} / {pr.max():.0%}" if len(pr) else "-"
                line += f" {pc.loc[p['world'], 'capture']:.2f} | {err} |"
            else:
                line += " - | - |"
        lines.append(line)
    cap = plans["capture"].dropna()
    line = f"| **all** | | | | mean {cap.mean():.3f}, worst {cap.min():.3f} | {_errors(rows)} |"
    if peer is not None and pc is not None:
        both = plans.set_index("world").index.intersection(pc.index)
        pcap = pc.loc[both, "capture"].dropna()
        line += f" mean {pcap.mean():.3f}, worst {pcap.min():.3f} | {_errors(peer[0]) if len(peer[0]) else '-'} |"
        rc = plans.set_index("world").loc[both, "capture"].dropna()
        mine = rows[rows["world"].isin(both)]
        line += (f"\n\nOn the {len(both)} worlds both ran: roiste capture mean {rc.mean():.3f}, worst "
                 f"{rc.min():.3f}, curves {_errors(mine)}.")
    lines.append(line)
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-process", type=int, default=1, help="worlds per process family")
    ap.add_argument("--first-seed", type=int, default=FIRST_SEED)
    ap.add_argument("--channels", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--compare", action="store_true", help="only add the peer's rows to the last run")
    ap.add_argument("--families", default=None,
                    help="comma-separated saturation families of the fit (default: the fit's own)")
    ap.add_argument("--ridge", type=float, default=None,
                    help="fixed ridge penalty of the fit (default: chosen by cross-validation)")
    ap.add_argument("--out", default=None, help="output folder (default benchmarks/out/wide)")
    a = ap.parse_args()
    global OUT
    if a.out:
        OUT = Path(a.out)
    fit_kw: dict[str, Any] = {"families": a.families.split(",")} if a.families else {}
    if a.ridge is not None:
        fit_kw["ridge"] = a.ridge
    jobs = world_seeds(a.per_process, a.first_seed)
    t0 = time.perf_counter()
    if a.compare:
        rows, plans = pd.read_csv(OUT / "wide_curves.csv"), pd.read_csv(OUT / "wide_plans.csv")
    else:
        write_worlds(jobs, a.channels)
        work = [(i, f, s, a.channels, fit_kw, OUT) for i, (f, s) in enumerate(jobs)]
        with ProcessPoolExecutor(a.jobs) as ex:
            results = list(ex.map(run_world, work))
        rows = pd.DataFrame([r for world_rows, _ in results for r in world_rows])
        plans = pd.DataFrame([p for _, p in results])
        rows.to_csv(OUT / "wide_curves.csv", index=False)
        plans.to_csv(OUT / "wide_plans.csv", index=False)
    peer = peer_rows(jobs, a.channels) if a.compare else None
    if peer is not None:
        peer[0].to_csv(OUT / "peer_curves_scored.csv", index=False)
        peer[1].to_csv(OUT / "peer_plans_scored.csv", index=False)
    print(table(rows, plans, peer))
    if "media_form" in plans:
        forms = plans.set_index("world")["media_form"]
        print("\nmedia form chosen: " + ", ".join(f"world {i} {f}" for i, f in forms.items()
                                                  if f != "additive") or "\nmedia form: additive in every world")
    print(f"\n{len(jobs)} worlds, {len(rows)} channels, {time.perf_counter() - t0:.0f} s wall")


if __name__ == "__main__":
    main()
