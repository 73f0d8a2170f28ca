"""Forecasting and planning one fold: what the walk-forward and the truth replay share.

:func:`forecast_channel` fits one channel on past weeks and forecasts its revenue, with
intervals, at the spend of the following weeks; :func:`plan_from` makes the plan a scenario
would have made from a fold's current spend; :func:`economics_of` and :func:`value_objective`
say how a scenario values a channel's spend.

Forecast intervals combine three sources, drawn by Monte Carlo: the bootstrap draws of the
response (baseline re-solved for each), the sampling error of the baseline's coefficients,
and the weekly noise estimated from the training residuals (log scale).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import InfeasibleError
from roiste.models.fit.channel import ChannelResponseRegressor, week_index
from roiste.models.transforms import FloatArray
from roiste.optimizer.economics import ChannelEconomics, channel_economics
from roiste.optimizer.plan import build_plan
from roiste.optimizer.scenario import Scenario

MIN_TRAIN_WEEKS = 52
BOOTSTRAP = 50
LEVEL = 0.8
NOISE_DRAWS = 20
RATIO_WEEKS = 13
RECENT_WEEKS = 8


# ---------------------------------------------------------------------------- forecasts


def panel_ratios(revenue: FloatArray, extras: Mapping[str, FloatArray]) -> dict[str, float]:
    """Ratios of the last :data:`RATIO_WEEKS` weeks that turn revenue into orders and customers."""
    rev = float(np.nansum(revenue[-RATIO_WEEKS:]))
    out: dict[str, float] = {}
    tot = {k: float(np.nansum(np.asarray(v, dtype=float)[-RATIO_WEEKS:])) for k, v in extras.items()}
    if tot.get("orders"):
        out["revenue_per_order"] = rev / tot["orders"]
    if rev > 0:
        for key, name in (("new_customers_per_revenue", "new_customers"),
                          ("new_customer_revenue_share", "new_customer_revenue"),
                          ("return_share", "returns")):
            if name in tot:
                out[key] = tot[name] / rev
    return out


def _effect(comp: Component, x: FloatArray) -> FloatArray:
    """Weekly response of a component along a spend path (carry-over from its start)."""
    return np.asarray(comp.beta * comp.saturation.value(comp.adstock.apply(x)), dtype=float)


@dataclass
class ChannelForecast:
    """A channel's forecast over a fold: weekly mean and interval, plus the fitted curve."""

    mean: FloatArray
    lower: FloatArray
    upper: FloatArray
    total_lower: float
    total_upper: float
    curve: ResponseCurve


def forecast_channel(
    spend: FloatArray, revenue: FloatArray, weeks: pd.DatetimeIndex, future_spend: FloatArray,
    future_weeks: pd.DatetimeIndex, *, channel: str = "channel",
    extras: Mapping[str, FloatArray] | None = None, bootstrap: int = BOOTSTRAP,
    level: float = LEVEL, seed: int = 0, controls: pd.DataFrame | None = None,
    future_controls: pd.DataFrame | None = None,
) -> ChannelForecast:
    """Fit one channel on past weeks and forecast its revenue at the spend of future weeks.

    Parameters
    ----------
    spend, revenue : ndarray
        The training weeks' spend and revenue.
    weeks, future_weeks : DatetimeIndex
        Week starts of the training and the forecast weeks (consecutive).
    future_spend : ndarray
        The spend of the forecast weeks.
    bootstrap : int, default 50
        Bootstrap draws of the response (0: parameter uncertainty of the baseline only).
    level : float, default 0.8
        Level of the prediction intervals (central, weekly and for the fold's total).
    seed : int
        Seed of the fit's bootstrap and of the Monte Carlo draws.
    controls, future_controls : DataFrame, optional
        The channel's controls (known events, weeks x names) in the training and the forecast
        weeks: columns of the baseline (those that are 0 in every training week are left out).
    """
    x, y = np.asarray(spend, dtype=float), np.asarray(revenue, dtype=float)
    xf = np.asarray(future_spend, dtype=float)
    t, tf = week_index(weeks), week_index(future_weeks)
    cols, colsf, names = [x, t], [xf, tf], []
    if controls is not None and future_controls is not None:
        c = controls.to_numpy(dtype=float)
        used = np.flatnonzero(np.any(c != 0.0, axis=0))
        cols += list(c[:, used].T)
        colsf += list(future_controls.to_numpy(dtype=float)[:, used].T)
        names = [str(n) for n in np.asarray(controls.columns, dtype=object)[used]]
    X, Xf = np.column_stack(cols), np.column_stack(colsf)
    est = ChannelResponseRegressor(bootstrap=bootstrap, random_state=seed, controls=tuple(names))
    est.fit(X, y)
    mean = np.asarray(est.predict(Xf), dtype=float)
    mu = np.asarray(est.predict(X), dtype=float)
    # the baseline's columns (the harmonics and level shift the fit chose, the controls)
    b, bf = est.baseline_matrix(X), est.baseline_matrix(Xf)
    floor = 0.1 * max(float(np.mean(y)), 1e-9)
    sw = 1.0 / np.maximum(mu, floor)
    r = np.log(np.maximum(y, 1e-9 * floor) / np.maximum(mu, floor))
    dof = max(len(y) - b.shape[1] - 4, 1)
    s2 = float(np.sum((r - r.mean()) ** 2) / dof)
    bw = b * sw[:, None]
    cov = s2 * np.linalg.pinv(bw.T @ bw)
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2.0)
    root = vecs * np.sqrt(np.clip(vals, 0.0, None))
    rng = np.random.default_rng(seed)
    full = np.concatenate([x, xf])
    sims = []
    for comp in est.draws_ or [est.component_]:
        eff = _effect(comp, full)
        theta = np.linalg.lstsq(bw, (y - eff[: len(y)]) * sw, rcond=None)[0]
        thetas = theta[None, :] + (root @ rng.standard_normal((len(theta), NOISE_DRAWS))).T
        f = np.maximum(thetas @ bf.T + eff[len(y):][None, :], 0.0)
        sims.append(f * np.exp(rng.normal(0.0, np.sqrt(s2), f.shape) - s2 / 2.0))
    sim = np.vstack(sims)
    q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    lo, hi = np.quantile(sim, q, axis=0)
    tlo, thi = np.quantile(sim.sum(axis=1), q)
    curve = ResponseCurve(
        channel=channel, revenue=est.component_,
        recent_spend=float(np.mean(x[-RECENT_WEEKS:])),
        ratios=panel_ratios(y, extras or {}), draws=tuple(est.draws_),
        diagnostics={"family": est.family_, "n_weeks": len(y), "noise_log_sd": float(np.sqrt(s2))},
    )  # fmt: skip
    return ChannelForecast(mean, lo, hi, float(tlo), float(thi), curve)


def channel_seed(seed: int, *keys: Any) -> int:
    """A seed of its own for each ``(seed, *keys)``, e.g. per fold and channel."""
    words = [seed] + [zlib.crc32(str(k).encode()) for k in keys]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


# --------------------------------------------------------------------------------- plans


def economics_of(scenario: Scenario, channels: Sequence[str]) -> list[ChannelEconomics]:
    """The scenario's economics of each channel (overrides applied, cohort values resolved)."""
    return channel_economics(scenario, channels)[0]


def value_objective(scenario: Scenario) -> str:
    """``net_margin`` when the scenario gives a gross margin, else ``revenue``."""
    return "net_margin" if scenario.economics.gross_margin is not None else "revenue"


def plan_from(curves: CurveSet, scenario: Scenario, current_weekly: pd.Series) -> FloatArray:
    """Period spend per channel of the plan the scenario makes from ``current_weekly``."""
    try:
        plan = build_plan(curves, scenario, current_weekly)
    except InfeasibleError:
        # the LP's feasibility check (1e-9 of the budget) can reject the solver's own answer
        # for missing an exact budget by rounding; ask the other solver
        other = "HiGHS" if str(scenario.solver) == "CBC" else "CBC"
        plan = build_plan(curves, scenario.model_copy(update={"solver": other}), current_weekly)
    return np.asarray(plan.allocation["recommended_spend"], dtype=float)


def backtest_scenario(scenario: Scenario) -> Scenario:
    """The scenario as each fold plans it: the budget is what the fold actually spent."""
    if scenario.budget is None:
        return scenario
    return scenario.model_copy(update={"budget": None})


__all__ = [
    "BOOTSTRAP",
    "LEVEL",
    "MIN_TRAIN_WEEKS",
    "ChannelForecast",
    "backtest_scenario",
    "channel_seed",
    "economics_of",
    "forecast_channel",
    "panel_ratios",
    "plan_from",
    "value_objective",
]
