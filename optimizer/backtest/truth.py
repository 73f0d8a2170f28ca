"""Backtests against a simulated world's truth: its true curves and how it reacts to spend.

:func:`world_from_truth` rebuilds a :class:`~models.simulate.World` from a panel and the truth
file the simulator writes next to it (``<panel>.truth.json``), so the command line can score
plans against the truth.  :func:`replan_world` replays the last months of a world under
roiste's own plans: each month it fits the weeks seen so far (the world's answer to the
spend roiste chose, drawn with the world's noise), plans one bounded step from the spend of
the last weeks, spends it, and records the true net margin of the month's allocation.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
from tqdm import tqdm

from roiste.models.curves import CurveSet
from roiste.models.errors import RoisteError, ScenarioError
from roiste.models.fit.channel import fit_channel
from roiste.models.panel import Panel
from roiste.models.simulate import ChannelTruth, World
from roiste.optimizer.backtest.forecast import (
    MIN_TRAIN_WEEKS,
    channel_seed,
    economics_of,
    forecast_channel,
    panel_ratios,
    plan_from,
    value_objective,
)
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.flighting import MAX_TAIL_WEEKS, weekly_spend
from roiste.optimizer.plan import build_plan
from roiste.optimizer.scenario import Scenario

RATIO_COLUMNS = ("orders", "new_customers", "new_customer_revenue", "returns")


def truth_path(panel_path: str | os.PathLike[str]) -> Path:
    """Where the simulator puts a panel's truth: ``<panel>.truth.json``."""
    return Path(f"{os.fspath(panel_path)}.truth.json")


def world_from_truth(panel: Panel, truth: CurveSet) -> World:
    """The simulated world behind ``panel``, rebuilt from its truth file's curves and meta."""
    sim = truth.meta.get("simulation")
    if not isinstance(sim, dict) or "channels" not in sim or "season" not in sim:
        raise RoisteError("truth file: no meta.simulation with channels and season")
    missing = [c for c in panel.channels if c not in truth or c not in sim["channels"]]
    if missing:
        raise RoisteError(f"truth file: no truth for channel(s) {missing}")
    truths = {}
    for c in panel.channels:
        meta, base, curve = sim["channels"][c], sim["channels"][c]["baseline"], truth[c]
        truths[c] = ChannelTruth(
            name=c, revenue=curve.revenue, visitors=curve.visitors or curve.revenue,
            pattern=str(meta.get("pattern", "")), paced_to_season=bool(meta.get("paced_to_season")),
            mean_spend=float(meta.get("mean_spend", 0.0)), level=float(base["level"]),
            trend=float(base["trend"]), season_amp=float(base["season_amp"]),
            shift_week=None if base["shift_week"] is None else int(base["shift_week"]),
            shift_size=float(base["shift_size"]),
            visitors_per_revenue_base=float(base.get("visitors_per_revenue", 0.0)),
            ratios=dict(curve.ratios),
        )  # fmt: skip
    world = World(
        seed=int(sim.get("seed", 0)), weeks=panel.weeks, channels=list(panel.channels),
        spend=panel.spend.copy(), baseline=pd.DataFrame(index=panel.weeks),
        noise=float(sim["noise"]), seasonal_spend=bool(sim.get("seasonal_spend")),
        season=np.zeros(panel.n_weeks), channel_truth=truths, panel=_long_revenue(panel),
        truth=truth, params={"season": dict(sim["season"])},
    )  # fmt: skip
    t = np.arange(panel.n_weeks)
    world.baseline = pd.DataFrame(world.baseline_at(t), index=panel.weeks, columns=world.channels)
    return world


def _long_revenue(panel: Panel) -> pd.DataFrame:
    """``date, channel, spend, revenue`` rows of a panel (the columns the replay reads)."""
    assert panel.revenue is not None  # the backtest reads long panels only
    frames = {"spend": panel.spend, "revenue": panel.revenue, **panel.extras}
    cols = [cast(pd.Series, f.rename_axis(index="date", columns="channel").stack()).rename(k)
            for k, f in frames.items()]
    out = pd.concat(cols, axis=1).reset_index()
    out["date"] = pd.DatetimeIndex(out["date"]).strftime("%Y-%m-%d")
    return out


def true_margins(world: World, scenario: Scenario, period_spend: np.ndarray, weeks: int) -> np.ndarray:
    """True period net margin (or revenue) of each channel at period spends ``period_spend``."""
    fn = PeriodFunctions(world.truth, economics_of(scenario, world.channels), weeks,
                         value_objective(scenario), channels=world.channels)
    return np.asarray(fn.value(np.asarray(period_spend, dtype=float)), dtype=float)


def true_step_uplift(world: World, curves: CurveSet, scenario: Scenario,
                     economics: ChannelEconomics) -> tuple[float, float]:
    """The true uplift of one plan made on ``curves``, valued on the world's truth.

    The plan starts from the mean weekly spend of the world's last 8 weeks; its last step's
    period spends and that start are both valued with the true curves.

    Parameters
    ----------
    world : World
        A simulated world (its ``spend`` and ``truth``).
    curves : CurveSet
        The curves the plan is made on (fitted ones, or the truth for the achievable uplift).
    scenario : Scenario
        The plan's scenario.
    economics : ChannelEconomics
        The economics the true value is computed with.

    Returns
    -------
    tuple of float
        The true period value of the plan's last step minus that of the start, and the true
        period value of the start.
    """
    current = world.spend.iloc[-8:].mean()
    p = int(scenario.period_weeks)
    value = PeriodFunctions(world.truth, economics, p, channels=list(current.index))
    now = float(value.value(current.to_numpy(dtype=float) * p).sum())
    x = np.asarray(build_plan(curves, scenario, current).steps[-1].spend, dtype=float)
    return float(value.value(x).sum()) - now, now


def _true_weeks(world: World, scenario: Scenario, path: np.ndarray, s: int, p: int,
                after: np.ndarray | None) -> float:
    """True net margin (or revenue) of weeks ``s .. s + p`` of the spend ``path`` (weeks x
    channels from the panel's first week): the world's expected media revenue with its
    seasonal media scale and the carry-over of every earlier week; with ``after`` (a weekly
    spend per channel) also the weeks after them, spent so, while the carry-over lasts."""
    fn = PeriodFunctions(world.truth, economics_of(scenario, world.channels), p,
                         value_objective(scenario), channels=world.channels)
    tail = 0 if after is None else MAX_TAIL_WEEKS
    full = path[:s + p] if after is None else np.vstack([path[:s + p],
                                                         np.repeat(after[None, :], tail, axis=0)])
    end = s + p + tail
    media = world.outcome(full, start=0)[s:end] - world.baseline_at(np.arange(s, end, dtype=float))
    if after is not None:  # less what the spend after the period earns on its own
        alone = np.vstack([path[:s], np.zeros((p, path.shape[1])), full[s + p:]])
        media[p:] -= (world.outcome(alone, start=0)[s + p:end]
                      - world.baseline_at(np.arange(s + p, end, dtype=float)))
    return float(np.sum(fn.coefficient * media.sum(axis=0) - fn.spend_cost * path[s:s + p].sum(axis=0)))


def replan_world(
    world: World, scenario: Scenario, *, months: int = 12, seed: int = 0,
    min_train_weeks: int = MIN_TRAIN_WEEKS, progress: bool = False,
) -> pd.DataFrame:
    """Replay the world's last ``months`` periods under roiste's plans (a closed loop).

    Each month (``scenario.period_weeks`` weeks) the channels are fitted on every week seen so
    far, the plan takes one bounded step from the mean spend of the last ``baseline_weeks``
    weeks, at the budget the replay started with, and the world answers that spend with its
    own noise.

    Returns
    -------
    pandas.DataFrame
        One row per month: ``month, start, spend`` (period total), ``true_margin_actual``
        (the world's actual spend those weeks), ``true_margin_start`` (the spend the replay
        started from), ``true_margin_replanned``, ``true_uplift`` (replanned - start) and
        the period spend of each channel, ``spend[<channel>]``.  With the scenario's
        ``period`` each month is planned and spent week by week
        (:func:`roiste.optimizer.flighting.weekly_spend`; ``weekly_plan`` false for a month
        whose curves it refused, then spent flat), and ``true_margin_weeks`` and
        ``true_margin_flat_weeks`` value the month's weeks on the truth (season and carry-over)
        against the same totals spent evenly.
    """
    p, n = int(scenario.period_weeks), len(world.weeks)
    s0 = n - months * p
    if s0 < min_train_weeks:
        raise RoisteError(f"replanning {months} months of {p} weeks needs {min_train_weeks} weeks "
                          f"of history before them; the panel has {n} weeks in all")
    spend = world.spend.to_numpy(dtype=float).copy()
    revenue = (world.panel.pivot(index="date", columns="channel", values="revenue")
               [world.channels].to_numpy(dtype=float))  # fmt: skip
    extras = {k: world.panel.pivot(index="date", columns="channel", values=k)[world.channels]
              .to_numpy(dtype=float)[:s0] for k in RATIO_COLUMNS if k in world.panel.columns}
    ratios = [panel_ratios(revenue[:s0, j], {k: v[:, j] for k, v in extras.items()})
              for j in range(len(world.channels))]
    rng = np.random.default_rng(seed)
    x_start = spend[s0 - int(scenario.baseline_weeks):s0].mean(axis=0) * p
    m_start = float(true_margins(world, scenario, x_start, p).sum())
    scenario = scenario.model_copy(update={"budget": float(x_start.sum())})
    rows = []
    for m in tqdm(range(months), desc="replanning", unit="month", disable=not progress):
        s = s0 + m * p
        curves = []
        for j, c in enumerate(world.channels):
            if scenario.period is not None:  # the plan's own fit: its seasonal index too
                curve = fit_channel(spend[:s, j], revenue[:s, j], world.weeks[:s], channel=c,
                                    seed=channel_seed(seed, s, c))
            else:
                curve = forecast_channel(spend[:s, j], revenue[:s, j], world.weeks[:s],
                                         spend[s:s + 1, j], world.weeks[s:s + 1], channel=c,
                                         bootstrap=0, seed=channel_seed(seed, s, c)).curve
            curves.append(replace(curve, ratios=ratios[j]))
        current = pd.Series(spend[s - int(scenario.baseline_weeks):s].mean(axis=0),
                            index=world.channels)
        weekly = None
        if scenario.period is not None:  # the plan week by week, spent as planned
            try:
                weekly = weekly_spend(CurveSet(curves), scenario, current,
                                      pd.DataFrame(spend[:s], index=world.weeks[:s],
                                                   columns=world.channels), world.weeks[s])
            except ScenarioError:  # a scenario the weekly plan refuses: the period plan, flat
                weekly = None
        x = plan_from(CurveSet(curves), scenario, current) if weekly is None else weekly.sum(axis=0)
        spend[s:s + p] = x / p if weekly is None else weekly
        out = world.outcome(spend[s0:s + p], rng=rng, start=s0)
        revenue[s:s + p] = out[-p:]
        actual = world.spend.to_numpy(dtype=float)[s:s + p].sum(axis=0)
        m_act = float(true_margins(world, scenario, actual, p).sum())
        m_rep = float(true_margins(world, scenario, x, p).sum())
        by_week = {}
        if scenario.period is not None:  # the weeks valued on the truth, against flat weeks
            after = current.to_numpy(dtype=float) if scenario.period.value_carryover else None
            flat = np.vstack([spend[:s], np.repeat((x / p)[None, :], p, axis=0)])
            by_week = {"weekly_plan": weekly is not None,
                       "true_margin_weeks": _true_weeks(world, scenario, spend, s, p, after),
                       "true_margin_flat_weeks": _true_weeks(world, scenario, flat, s, p, after)}
        rows.append({"month": m + 1, "start": world.weeks[s].strftime("%Y-%m-%d"),
                     "spend": float(x.sum()), "true_margin_actual": m_act,
                     "true_margin_start": m_start, "true_margin_replanned": m_rep,
                     "true_uplift": m_rep - m_start, **by_week,
                     **{f"spend[{c}]": float(v) for c, v in zip(world.channels, x, strict=True)}})
    return pd.DataFrame(rows)


__all__ = ["replan_world", "true_margins", "true_step_uplift", "truth_path", "world_from_truth"]
