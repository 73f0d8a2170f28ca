"""Plans week by week (scenario key ``period``): flighting, seasonal effectiveness, carry-over.

A plan with ``period: {start: DATE, weeks: N}`` chooses spend per channel and week.  Channel
``c``'s revenue in week ``t`` is ``beta_c * index_c(t) * S_c(a_c(t))``: its fitted saturation
``S_c`` of its adstock ``a_c(t) = sum_l w_c(l) x_c(t - l)`` (the fitted carry-over weights, the
spend before the period read from the panel), times the seasonal index of the week.  The
index is the media multiplier a demand-scaled fit keeps (``diagnostics.seasonal_effect``:
``1 - m + m d_t`` over its mean of the coming year, ``d_t`` the demand index); a curve fitted
with its media added to the baseline carries none, and its weeks are equal.  A week's net
margin is ``k_c * revenue - (1 + fee) * spend`` with the channel's margin coefficient.

With ``value_carryover`` (the default) the weeks after the period count too, as long as the
period's spend still carries over (until a thousandth of the adstock's weight is left, at
most 52 weeks), the spend then continuing at its current weekly level; without it the period
ends the account.  Weeks between the panel's last week and the period's start are spent at
the current weekly level.

The period totals keep the step box of a one-step plan, the budget, each channel's min/max
and the scenario's share constraints; ``weekly_min``/``weekly_max`` bound each week and
``max_weekly_change`` the change from one week to the next.  The LP (:func:`roiste.optimizer.lp.solve_weekly`) is certified
like every plan; an S-shaped curve whose weeks can fall below its inflection point makes it a
MILP, certified the same way.  ``allocation.csv`` then holds the weekly plan's period totals, evaluated as
every plan's (a constant weekly spend over a year's average week), and
``allocation_weeks.csv`` the weeks themselves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import ScenarioError
from roiste.models.fit.baseline import DemandIndex, media_scale, week_index
from roiste.models.transforms import FloatArray, Saturation
from roiste.optimizer.context import PlanContext
from roiste.optimizer.lp import WeeklyProblem, solve_weekly
from roiste.optimizer.plan import Plan, build_plan
from roiste.optimizer.scenario import Period, Scenario, ShareConstraint
from roiste.optimizer.steps import step_box

TAIL_SHARE = 1e-3  # the carry-over is followed until this share of the adstock's weight is left
MAX_TAIL_WEEKS = 52


# ------------------------------------------------------------------ what the curves know


def seasonal_index(curve: ResponseCurve, dates: pd.DatetimeIndex) -> FloatArray | None:
    """The media multiplier of a demand-scaled curve in the weeks ``dates`` (None: no index).

    The fit's demand index ``d`` (``diagnostics.seasonal_effect.demand_harmonics``) and the
    share ``m`` of the media effect that scales with it give ``1 - m + m d_t``; divided by its
    mean over the year after the data (``year_scale``), since the curve's response is that
    year's average week.

    Parameters
    ----------
    curve : ResponseCurve
    dates : DatetimeIndex
        Week starts.

    Returns
    -------
    ndarray or None
        One multiplier per week (mean about 1 over a year), or None for a curve whose media
        effect does not follow the season.
    """
    effect = curve.diagnostics.get("seasonal_effect")
    share = float(curve.diagnostics.get("demand_share") or 0.0)
    if not isinstance(effect, dict) or share <= 0.0 or not effect.get("demand_harmonics"):
        return None
    demand = DemandIndex.from_coef(np.asarray(effect["demand_harmonics"], dtype=float))
    scale = float(effect.get("year_scale") or 1.0)
    return np.asarray(media_scale(demand.at(week_index(dates)), share) / scale, dtype=float)


class ComponentSaturations:
    """The saturations of the channels' revenue components, rows in channel order."""

    def __init__(self, saturations: Sequence[Saturation]) -> None:
        self.saturations = list(saturations)

    def value(self, a: FloatArray) -> FloatArray:
        """``S_c(a)`` row by row."""
        return np.vstack([s.value(row) for s, row in zip(self.saturations, a, strict=True)])

    def slope(self, a: FloatArray) -> FloatArray:
        """``S_c'(a)`` row by row."""
        return np.vstack([s.derivative(row) for s, row in zip(self.saturations, a, strict=True)])

    @property
    def concave_from(self) -> FloatArray:
        """The adstock from which each ``S_c`` is concave (an S-shape's inflection point)."""
        return np.array([s.concave_from for s in self.saturations], dtype=float)


def tail_weeks(component: Component) -> int:
    """Weeks after the period that its spend still reaches (until :data:`TAIL_SHARE` of the
    adstock's weight is left, at most :data:`MAX_TAIL_WEEKS`)."""
    w = component.adstock.weights(MAX_TAIL_WEEKS + 2)
    total = float(component.adstock.total_weight)
    left = total - np.cumsum(w)  # left[j]: the weight of lags beyond j
    beyond = np.flatnonzero(left <= TAIL_SHARE * total)
    return int(min(beyond[0], MAX_TAIL_WEEKS)) if len(beyond) else MAX_TAIL_WEEKS


# ------------------------------------------------------------------ the weekly problem


@dataclass(frozen=True)
class WeeklyWorld:
    """What the weekly LP needs of the channels, as arrays (fitted curves or a known truth).

    Parameters
    ----------
    names : list of str
    components : list of Component
        Each channel's revenue component (``beta``, saturation, adstock).
    index : ndarray (N, H)
        Seasonal index of each channel in the period's weeks and the weeks after it.
    history : ndarray (N, m)
        Weekly spend of the weeks before the period (last column: the week just before).
    continuing : ndarray (N,)
        Weekly spend after the period (the current weekly spend).
    weeks : int
        Weeks of the period.
    tails : ndarray of int (N,)
        Weeks after the period whose carry-over counts (0: none).
    """

    names: list[str]
    components: list[Component]
    index: FloatArray
    history: FloatArray
    continuing: FloatArray
    weeks: int
    tails: np.ndarray

    @property
    def horizon(self) -> int:
        return int(self.index.shape[1])

    def lags_and_carry(self) -> tuple[FloatArray, FloatArray]:
        """``(lags, carry)`` of :class:`~roiste.optimizer.lp.WeeklyProblem`, shape (N, H)."""
        n, h = len(self.names), self.horizon
        m = self.history.shape[1]
        lags = np.zeros((n, h))
        carry = np.zeros((n, h))
        for c, comp in enumerate(self.components):
            w = np.asarray(comp.adstock.weights(h + m + 1), dtype=float)
            full = np.zeros(h + m + 1)
            full[: len(w)] = w[: h + m + 1]
            lags[c] = full[:h]
            past = self.history[c][::-1]  # past[j - 1]: spend j weeks before the period
            for t in range(h):
                carry[c, t] = float(np.dot(full[t + 1 : t + 1 + m], past))
            for t in range(self.weeks, h):  # the spend continuing after the period
                carry[c, t] += float(self.continuing[c] * full[: t - self.weeks + 1].sum())
        return lags, carry

    def scale(self) -> FloatArray:
        """Revenue per unit of saturation in each cell, ``beta * index``, zero beyond a
        channel's valued weeks."""
        beta = np.array([c.beta for c in self.components], dtype=float)
        out = beta[:, None] * self.index
        cols = np.arange(self.horizon)[None, :]
        return np.where(cols < self.weeks + self.tails[:, None], out, 0.0)

    def problem(self, coefficient: FloatArray, spend_cost: FloatArray, *, total_lower: FloatArray,
                total_upper: FloatArray, week_lower: FloatArray, week_upper: FloatArray,
                budget: float, budget_mode: str = "equal", max_change: float | None = None,
                shares: Sequence[tuple[Any, float | None, float | None]] = ()) -> WeeklyProblem:
        """The weekly LP of objective ``coefficient * revenue - spend_cost * spend``."""
        lags, carry = self.lags_and_carry()
        mode: Literal["equal", "at_most"] = "at_most" if budget_mode == "at_most" else "equal"
        return WeeklyProblem(
            names=list(self.names),
            saturations=ComponentSaturations([c.saturation for c in self.components]),
            effect=np.asarray(coefficient, dtype=float)[:, None] * self.scale(),
            lags=lags, carry=carry, spend_cost=np.asarray(spend_cost, dtype=float),
            weeks=self.weeks, total_lower=np.asarray(total_lower, dtype=float),
            total_upper=np.asarray(total_upper, dtype=float),
            week_lower=np.asarray(week_lower, dtype=float),
            week_upper=np.asarray(week_upper, dtype=float),
            budget=float(budget), budget_mode=mode, max_change=max_change, shares=tuple(shares),
        )

    def revenue(self, x: FloatArray) -> FloatArray:
        """Expected incremental revenue per channel and cell (N, H) of weekly spends ``x``."""
        p = self.problem(np.ones(len(self.names)), np.zeros(len(self.names)),
                         total_lower=np.zeros(len(self.names)),
                         total_upper=np.full(len(self.names), np.inf),
                         week_lower=np.zeros_like(x), week_upper=np.full_like(x, np.inf),
                         budget=float(np.sum(x)))
        return p.cell_values(x)


def weekly_world(curves: CurveSet, channels: Sequence[str], start: pd.Timestamp, weeks: int,
                 spend_history: pd.DataFrame, current_weekly: pd.Series,
                 value_carryover: bool) -> tuple[WeeklyWorld, list[str]]:
    """The weekly world of fitted curves, and the channels whose weeks follow a season.

    Parameters
    ----------
    curves : CurveSet
    channels : sequence of str
        In the plan's order.
    start : Timestamp
        First day of the period.
    weeks : int
    spend_history : DataFrame
        The panel's weekly spend, weeks (DatetimeIndex) x channels.
    current_weekly : Series
        Current weekly spend per channel: spent in weeks between the panel and the period and
        after the period.
    value_carryover : bool
        Count the weeks after the period.
    """
    last = pd.Timestamp(spend_history.index[-1])
    gap = round((pd.Timestamp(start) - last).days / 7.0) - 1
    comps = [curves[c].revenue for c in channels]
    tails = np.array([tail_weeks(c) if value_carryover else 0 for c in comps], dtype=int)
    h = weeks + int(tails.max(initial=0))
    dates = pd.DatetimeIndex([pd.Timestamp(start) + pd.Timedelta(weeks=i) for i in range(h)])
    cur = current_weekly.reindex(list(channels)).to_numpy(dtype=float)
    hist = spend_history[list(channels)].to_numpy(dtype=float).T
    if gap > 0:
        hist = np.hstack([hist, np.repeat(cur[:, None], gap, axis=1)])
    index = np.ones((len(channels), h))
    seasonal: list[str] = []
    for i, c in enumerate(channels):
        idx = seasonal_index(curves[c], dates)
        if idx is not None:
            index[i] = idx
            seasonal.append(str(c))
    world = WeeklyWorld(list(channels), comps, index, hist, cur, weeks, tails)
    return world, seasonal


# ------------------------------------------------------------------ the plan


def _check(scenario: Scenario, period: Period, channels: Sequence[str],
           spend_history: pd.DataFrame, curves: CurveSet) -> None:
    label = str(scenario.source) if scenario.source is not None else "scenario"
    last = pd.Timestamp(spend_history.index[-1])
    start = pd.Timestamp(period.start)
    if start <= last:
        raise ScenarioError(
            f"{label}: period.start {start.date()} is not after the panel's last week "
            f"{last.date()} (at period -> start)")
    if (start - last).days % 7:
        raise ScenarioError(
            f"{label}: period.start {start.date()} is not a whole number of weeks after the "
            f"panel's last week {last.date()} (at period -> start)")
    if int(scenario.steps) != 1:
        raise ScenarioError(f"{label}: a plan with period is one step; steps must be 1 (at steps)")
    for i, con in enumerate(scenario.constraints):
        if not isinstance(con, ShareConstraint):
            raise ScenarioError(
                f"{label}: a plan with period takes share constraints only, not {con.kind} "
                f"yet; plan the weeks without it or drop period (at constraints -> {i})")
    for key in ("weekly_min", "weekly_max"):
        for name in getattr(period, key):
            if name not in channels:
                raise ScenarioError(
                    f"{label}: no channel {name!r} in the panel; channels: {list(channels)} "
                    f"(at period -> {key} -> {name})")


def _limits(period: Period, channels: Sequence[str], weeks: int, lo: FloatArray, hi: FloatArray,
            locked: np.ndarray, x0: FloatArray) -> tuple[FloatArray, FloatArray]:
    n = len(channels)
    wl = np.zeros((n, weeks))
    wu = np.repeat(hi[:, None], weeks, axis=1)
    for i, c in enumerate(channels):
        if c in period.weekly_min:
            wl[i] = float(period.weekly_min[c])
        if c in period.weekly_max:
            wu[i] = np.minimum(wu[i], float(period.weekly_max[c]))
        if locked[i]:
            wl[i] = wu[i] = x0[i] / weeks
    return wl, wu


def weekly_table(world: WeeklyWorld, dates: pd.DatetimeIndex, x: FloatArray,
                 coefficient: FloatArray | None, spend_cost: FloatArray | None) -> pd.DataFrame:
    """``allocation_weeks.csv``'s rows: week, channel, spend, expected revenue, net margin."""
    rev = world.revenue(x)[:, : world.weeks]
    rows = []
    for t in range(world.weeks):
        for c, name in enumerate(world.names):
            margin = (None if coefficient is None or spend_cost is None
                      else float(coefficient[c] * rev[c, t] - spend_cost[c] * x[c, t]))
            rows.append({"week": dates[t].strftime("%Y-%m-%d"), "channel": name,
                         "spend": float(x[c, t]), "expected_revenue": float(rev[c, t]),
                         "expected_net_margin": margin})
    return pd.DataFrame(rows, columns=["week", "channel", "spend", "expected_revenue",
                                       "expected_net_margin"])


def plan_weeks(
    curves: CurveSet,
    scenario: Scenario,
    current_weekly: pd.Series,
    spend_history: pd.DataFrame,
    **hashes: Any,
) -> Plan:
    """Plan the period week by week (the scenario's ``period``) and certify it.

    Parameters
    ----------
    curves : CurveSet
    scenario : Scenario
        With ``period`` set.
    current_weekly : Series
        Current weekly spend per channel (the plan's channel order).
    spend_history : DataFrame
        The panel's weekly spend (weeks x channels): the adstock carried into the period.
    **hashes
        ``data_hash``, ``scenario_hash``, ``curves_hash``, ``attribution_hash`` for
        :func:`~roiste.optimizer.plan.build_plan`.

    Returns
    -------
    Plan
        Its ``allocation`` holds the weekly plan's period totals, its ``weeks`` the weeks,
        its ``flighting`` the weekly plan's certificate and net margins.
    """
    t0 = time.perf_counter()
    period = scenario.period
    if period is None:
        raise ScenarioError("plan_weeks needs a scenario with period")
    channels = [str(c) for c in current_weekly.index]
    _check(scenario, period, channels, spend_history, curves)
    ctx = PlanContext.create(curves, scenario, current_weekly)
    weeks = int(period.weeks)
    lo, hi, _ = step_box(ctx.x0, float(scenario.step), ctx.mins, ctx.maxs, ctx.locked)
    fn = ctx.objective_functions
    label = str(scenario.source) if scenario.source is not None else "scenario"
    bad = [c for c, k in zip(channels, fn.coefficient, strict=True) if k < 0]
    if bad:
        raise ScenarioError(f"{label}: {bad[0]} loses money on every sale (its margin "
                            "coefficient is below 0); a plan with period needs it >= 0 "
                            f"(at channels -> {bad[0]})")
    world, seasonal = weekly_world(ctx.curves, channels, pd.Timestamp(period.start), weeks,
                                   spend_history, current_weekly, bool(period.value_carryover))
    for i, c in enumerate(channels):
        low, high = period.weekly_min.get(c), period.weekly_max.get(c)
        if low is not None and low * weeks > hi[i] * (1 + 1e-12):
            raise ScenarioError(
                f"{label}: weekly_min {low:,.2f} of {c} over {weeks} weeks is above the most it "
                f"may spend in the period, {hi[i]:,.2f} (at period -> weekly_min -> {c})")
        if high is not None and high * weeks < lo[i] * (1 - 1e-12):
            raise ScenarioError(
                f"{label}: weekly_max {high:,.2f} of {c} over {weeks} weeks is below the least "
                f"it must spend in the period, {lo[i]:,.2f} (at period -> weekly_max -> {c})")
    wl, wu = _limits(period, channels, weeks, lo, hi, ctx.locked, ctx.x0)
    shares = [(np.isin(channels, list(c.channels)), c.min_share, c.max_share)
              for c in scenario.constraints if isinstance(c, ShareConstraint)]
    problem = world.problem(fn.coefficient, fn.spend_cost, total_lower=lo, total_upper=hi,
                            week_lower=wl, week_upper=wu, budget=ctx.budget,
                            budget_mode=ctx.budget_mode, max_change=period.max_weekly_change,
                            shares=shares)
    flat_now = np.repeat((ctx.x0 / weeks)[:, None], weeks, axis=1)
    sol = solve_weekly(problem, tol=float(scenario.tolerance), solver=str(scenario.solver),
                       x_ref=flat_now)
    x = sol.x
    s_shaped = [c for c in channels if not ctx.curves[c].is_concave]
    totals = np.clip(x.sum(axis=1), lo, hi)
    flat = np.repeat((totals / weeks)[:, None], weeks, axis=1)
    dates = pd.DatetimeIndex([pd.Timestamp(period.start) + pd.Timedelta(weeks=i)
                              for i in range(world.horizon)])
    mf = ctx.margin_functions
    k_m = None if mf is None else mf.coefficient
    f_m = None if mf is None else mf.spend_cost
    table = weekly_table(world, dates, x, k_m, f_m)
    problem_margin = world.problem(
        k_m if k_m is not None else fn.coefficient, f_m if f_m is not None else fn.spend_cost,
        total_lower=lo, total_upper=hi, week_lower=wl, week_upper=wu, budget=ctx.budget)

    def margin(xs: FloatArray) -> float | None:
        """The weekly net margin of spends ``xs`` (None without a gross margin)."""
        return None if mf is None else problem_margin.value(xs)

    rev_cells = world.revenue(x)
    zero_rev = world.revenue(np.zeros_like(x))
    carry_out = float((rev_cells - zero_rev)[:, weeks:].sum())
    # the period totals as every plan shows them: pinned in a one-step plan on the same curves
    pinned = {c: {**scenario.channel(c).model_dump(exclude_none=True, exclude={"locked"}),
                  "min": float(v), "max": float(v)} for c, v in zip(channels, totals, strict=True)}
    pinned_scenario = scenario.model_copy(update={
        "channels": {c: type(scenario.channel(c)).model_validate(v) for c, v in pinned.items()},
        "budget": float(totals.sum()), "allow_underspend": False, "constraints": [],
        "risk": type(scenario.risk)(kind="point")})
    base = build_plan(curves, pinned_scenario, current_weekly, **hashes)
    reached: list[dict[str, Any]] = []
    for i, con in enumerate(scenario.constraints, start=1):
        if isinstance(con, ShareConstraint):
            share = float(totals[np.isin(channels, list(con.channels))].sum() / totals.sum())
            bounds = [b for b in (con.min_share, con.max_share) if b is not None]
            reached.append({"name": con.name or f"share_{i}", "rule": con.describe(),
                            "share": share,
                            "binds": any(abs(share - b) <= 1e-6 for b in bounds)})
    alloc = base.allocation.copy()
    alloc["lower_bound"] = lo
    alloc["upper_bound"] = hi
    notes = [
        f"The plan runs week by week over {weeks} weeks from {pd.Timestamp(period.start).date()}"
        f" (allocation_weeks.csv); allocation.csv holds its period totals, valued as a "
        "constant weekly spend in an average week.",
        ("Weeks follow the season of " + ", ".join(seasonal) + "; the other channels' curves "
         "carry no seasonal index and their weeks are equal." if seasonal else
         "No curve carries a seasonal index (none was fitted with its media scaling with "
         "demand): every week is equally effective, and the weeks differ only by carry-over."),
        ("The carry-over the period's spend leaves for the weeks after it is valued (the spend "
         "then continuing at its current weekly level)." if period.value_carryover else
         "The carry-over the period's spend leaves for the weeks after it is not valued."),
        ("The weekly plan is made on the fitted curves: it ignores their uncertainty."
         if scenario.risk.kind == "point" else
         f"risk: {scenario.risk.kind} is not applied week by week: the weekly plan is made on "
         "the fitted curves (their point values) and ignores their draws."),
        *([f"S-shaped curves ({', '.join(s_shaped)}): "
           + (f"the weeks whose adstock can lie below the inflection point are planned by a MILP "
              f"({sol.n_binaries} binaries filling chords in order), still certified."
              if sol.n_binaries else
              "every week's adstock lies above the inflection point (carried in plus the "
              "week's least spend), where the curve is concave: planned by the LP.")]
          if s_shaped else []),
        *[f"{c['name']}: {c['rule']}; the weekly plan's totals reach {100 * c['share']:.2f} %"
          f"{' (binds)' if c['binds'] else ''}; its cost is not priced week by week."
          for c in reached],
    ]
    flighting = {
        "start": pd.Timestamp(period.start).strftime("%Y-%m-%d"),
        "weeks": weeks,
        "value_carryover": bool(period.value_carryover),
        "max_weekly_change": period.max_weekly_change,
        "seasonal_channels": seasonal,
        "objective_weekly": sol.value,
        "objective_flat_totals": problem.value(flat),
        "objective_flat_current": problem.value(flat_now),
        "net_margin_weekly": margin(x),
        "net_margin_flat_totals": margin(flat),
        "net_margin_flat_current": margin(flat_now),
        "carryover_revenue_after": carry_out,
        "upper_bound": sol.upper_bound,
        "optimality_gap": sol.gap,
        "status": sol.status,
        "iterations": sol.iterations,
        "s_shaped_channels": s_shaped,
        "binaries": sol.n_binaries,
        "constraints": reached,
    }
    timings = {**base.timings, "weekly_build_seconds": sol.build_seconds,
               "weekly_solve_seconds": sol.solve_seconds,
               "plan_seconds": time.perf_counter() - t0}
    return replace(
        base, allocation=alloc, budget=ctx.budget, budget_mode=ctx.budget_mode,
        objective_current=float(problem.value(flat_now)), objective_recommended=float(sol.value),
        upper_bound=float(sol.upper_bound), optimality_gap=float(sol.gap), status=sol.status,
        net_margin_current=margin(flat_now), net_margin_recommended=margin(x),
        notes=[*notes, *base.notes], weeks=table, flighting=flighting, timings=timings,
    )


def weekly_spend(curves: CurveSet, scenario: Scenario, current_weekly: pd.Series,
                 spend_history: pd.DataFrame, start: pd.Timestamp) -> FloatArray:
    """The weekly plan's spend, weeks x channels, for a period starting at ``start`` (the
    scenario's ``period`` moved there): what a replay spends week by week.

    Parameters
    ----------
    curves, scenario, current_weekly, spend_history
        As for :func:`plan_weeks` (``scenario.period`` set).
    start : Timestamp
        The period's first week.

    Returns
    -------
    ndarray (weeks, channels)
        In the order of ``current_weekly``.
    """
    if scenario.period is None:
        raise ScenarioError("weekly_spend needs a scenario with period")
    period = scenario.period.model_copy(update={"start": pd.Timestamp(start).date()})
    plan = plan_weeks(curves, scenario.model_copy(update={"period": period}), current_weekly,
                      spend_history)
    assert plan.weeks is not None
    table = plan.weeks.pivot(index="week", columns="channel", values="spend")
    return np.asarray(table[[str(c) for c in current_weekly.index]].to_numpy(dtype=float))
