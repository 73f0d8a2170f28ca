"""Checks of a scenario against its data: names, budget, bounded-step reach, share constraints.

These checks need the channels of the panel and their current spend, so they run after
:func:`optimizer.scenario.load_scenario`.  They only reject scenarios that no plan can meet;
conflicts that need the response curves (ROAS and cost-per-new-customer targets) are left to
the plan, which explains infeasibility itself.  The box a channel may reach in a step and the
budgets of a glide path are the planner's own (:mod:`optimizer.steps`).

:func:`check_plan_inputs` is every check of a scenario against its data that needs neither a
fit nor a solver: weeks, names, budget, the curves file, experiments, cohorts and the panel
columns each economics key and constraint needs.  ``roiste plan`` runs it before fitting and
``roiste validate`` (:func:`validate_scenario_file`) runs it instead of planning, so that both
reject a bad scenario with the same line.
"""

from __future__ import annotations

import difflib
import math
import os
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.curves import CurveSet
from roiste.models.errors import ScenarioError
from roiste.models.experiments import check_channels, lift_data, read_experiments
from roiste.models.fit.limits import RATIO_WEEKS, min_train_weeks, panel_ratios
from roiste.models.panel import Panel, read_panel
from roiste.optimizer.scenario.cohorts import cohort_customer_values
from roiste.optimizer.scenario.schema import (
    ExistingRoasConstraint,
    NetCacConstraint,
    NewRoasConstraint,
    Scenario,
    ShareConstraint,
    load_scenario,
)
from roiste.optimizer.steps import channel_limits, step_box, step_budgets


def _money(x: float) -> str:
    if math.isinf(x):
        return "unlimited"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.4g}"


def _pct(x: float) -> str:
    return f"{100 * x:g} %"


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


class _Checker:
    """Raises one-line ``ScenarioError``s prefixed with the scenario file."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.label = str(scenario.source) if scenario.source is not None else "scenario"

    def fail(self, message: str, loc: tuple[Any, ...], hint: str = "") -> None:
        where = " -> ".join(str(p) for p in loc) if loc else "top level"
        raise ScenarioError(f"{self.label}: {message} (at {where}){'.' if hint else ''}{hint}")

    def unknown_channel(self, name: str, known: list[str], loc: tuple[Any, ...]) -> None:
        folded = {k.casefold(): k for k in known}
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        if name.casefold() in folded:
            hint = f" Did you mean {folded[name.casefold()]!r}?"
        elif close:
            hint = f" Did you mean {close[0]!r}?"
        else:
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            hint = f" The data has: {shown}."
        self.fail(f"Unknown channel {name!r}, not in the data", loc, hint)


def check_against_data(
    scenario: Scenario,
    channels: list[str],
    current_total: float,
    current: dict[str, float] | None = None,
    *,
    n_weeks: int | None = None,
) -> None:
    """Check a scenario against the channels and current spend of its panel.

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    channels : list of str
        The channels of the panel (spend columns in the wide layout).
    current_total : float
        Current spend of all channels for one period (used when the budget is kept).
    current : dict of str to float, optional
        Current period spend per channel; enables the checks of locks and of what bounded
        steps can reach.
    n_weeks : int, optional
        Number of weeks in the panel; enables the checks of ``baseline_weeks`` and
        ``holdout_weeks``.

    Raises
    ------
    ScenarioError
        The first problem found, in one line naming the key at fault.
    """
    chk = _Checker(scenario)
    known = [str(c) for c in channels]
    for name in scenario.channels:
        if name not in known:
            chk.unknown_channel(name, known, ("channels", name))
    for i, con in enumerate(scenario.constraints):
        for name in con.channels or []:
            if name not in known:
                chk.unknown_channel(name, known, ("constraints", i, "channels"))
    if n_weeks is not None:
        check_weeks(scenario, n_weeks)
    if scenario.budget is None and not current_total > 0:
        chk.fail(
            f"the last {scenario.baseline_weeks} weeks of the data have no spend, so there is "
            "no current total to keep; set budget",
            ("budget",),
        )
    budget = scenario.period_budget(current_total)
    mins = {c: s.min for c, s in scenario.channels.items() if s.min is not None}
    if sum(mins.values()) > budget and not _close(sum(mins.values()), budget):
        chk.fail(
            f"channel minimums sum to {_money(sum(mins.values()))}, above the budget "
            f"{_money(budget)}",
            ("channels",),
        )
    lo, hi = _bounds(chk, known, current)
    stepped = current is not None
    first = _first_budget(scenario, budget, current_total, stepped)
    _check_budget_reach(chk, lo, hi, budget, first, stepped)
    shares = [(i, c) for i, c in enumerate(scenario.constraints) if isinstance(c, ShareConstraint)]
    for i, con in shares:
        what = _budget_words(scenario, first, budget)
        _check_share(chk, i, con, known, lo, hi, first, what)
    _check_share_pairs(chk, shares)


def check_weeks(scenario: Scenario, n_weeks: int) -> None:
    """Check ``period_weeks``, ``baseline_weeks`` and ``holdout_weeks`` against the weeks of
    the panel: a period longer than the history would extrapolate the curves beyond anything
    the data show."""
    chk = _Checker(scenario)
    if scenario.period_weeks > n_weeks:
        chk.fail(
            f"period_weeks {scenario.period_weeks} plans further ahead than the {n_weeks} weeks "
            "of history the curves come from",
            ("period_weeks",),
        )
    if scenario.baseline_weeks > n_weeks:
        chk.fail(
            f"baseline_weeks {scenario.baseline_weeks} is more than the {n_weeks} weeks "
            "in the data",
            ("baseline_weeks",),
        )
    if scenario.holdout_weeks >= n_weeks:
        chk.fail(
            f"holdout_weeks {scenario.holdout_weeks} leaves none of the {n_weeks} weeks "
            "of the data to fit on",
            ("holdout_weeks",),
        )


def _bounds(
    chk: _Checker, known: list[str], current: dict[str, float] | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Least and most period spend of each channel in the first step.

    The box is the plan's (:func:`optimizer.steps.step_box`); a locked channel whose min or
    max excludes its current spend is an error.  Without current spend, only min and max
    bound a channel.
    """
    sc = chk.scenario
    mins, maxs, locked = channel_limits(sc, known)
    if current is None:
        return dict(zip(known, mins.tolist(), strict=True)), dict(
            zip(known, maxs.tolist(), strict=True))
    x0 = np.array([float(current.get(c, 0.0)) for c in known], dtype=float)
    for i, c in enumerate(known):
        if locked[i]:
            for key, value in (("min", float(mins[i])), ("max", float(maxs[i]))):
                x = float(x0[i])
                if (value > x if key == "min" else value < x) and not _close(value, x):
                    chk.fail(
                        f"channel {c!r} is locked at its current spend {_money(x)} but its "
                        f"{key} is {_money(value)}",
                        ("channels", c, key),
                    )
    lo, hi, _ = step_box(x0, sc.step, mins, maxs, locked)
    return dict(zip(known, lo.tolist(), strict=True)), dict(zip(known, hi.tolist(), strict=True))


def _first_budget(sc: Scenario, budget: float, current_total: float, stepped: bool) -> float:
    """Budget of the first step of the glide path (the budget itself in one step)."""
    if not stepped or sc.steps == 1:
        return budget
    return step_budgets(current_total, budget, sc.steps)[0]


def _budget_words(sc: Scenario, first: float, budget: float) -> str:
    if sc.steps == 1 or _close(first, budget):
        return f"the budget {_money(budget)}"
    return f"the first step's budget {_money(first)} (1 of {sc.steps} towards {_money(budget)})"


def _check_budget_reach(
    chk: _Checker,
    lo: dict[str, float],
    hi: dict[str, float],
    budget: float,
    first: float,
    stepped: bool,
) -> None:
    sc = chk.scenario
    least, most = sum(lo.values()), sum(hi.values())
    how = "within their min, max and locks"
    if stepped:
        how = f"each moving at most {_pct(sc.step)} from its current spend, {how}"
    what = _budget_words(sc, first, budget)
    if least > first and not _close(least, first):
        chk.fail(
            f"{what} is below the {_money(least)} the channels must spend ({how})",
            ("budget",),
        )
    if not sc.allow_underspend and most < first and not _close(most, first):
        fix = "raise step or steps, lower the budget" if stepped else "lower the budget"
        chk.fail(
            f"{what} is above the {_money(most)} the channels can spend ({how}); {fix}, "
            "or set allow_underspend: true",
            ("budget",),
        )


def _check_share(
    chk: _Checker,
    i: int,
    con: ShareConstraint,
    known: list[str],
    lo: dict[str, float],
    hi: dict[str, float],
    budget: float,
    what: str,
) -> None:
    sc = chk.scenario
    group = set(con.channels)
    group_words = " + ".join(con.channels)
    least = sum(lo[c] for c in group)
    most = sum(hi[c] for c in group)
    if con.max_share is not None:
        if con.max_share < 1 and group >= set(known):
            chk.fail(
                f"max_share {con.max_share:g} over every channel of the data is impossible: "
                "together they are 100 % of spend",
                ("constraints", i, "max_share"),
            )
        cap = con.max_share * budget
        if least > cap and not _close(least, cap):
            chk.fail(
                f"max_share {con.max_share:g} allows {_money(cap)} of {what}, but {group_words} "
                f"must spend at least {_money(least)}",
                ("constraints", i, "max_share"),
            )
    if con.min_share is not None and not sc.allow_underspend:
        need = con.min_share * budget
        if most < need and not _close(most, need):
            chk.fail(
                f"min_share {con.min_share:g} needs {_money(need)} of {what}, but {group_words} "
                f"can spend at most {_money(most)}",
                ("constraints", i, "min_share"),
            )


def _check_share_pairs(chk: _Checker, shares: list[tuple[int, ShareConstraint]]) -> None:
    for a, (i, ca) in enumerate(shares):
        for j, cb in shares[a + 1 :]:
            ga, gb = set(ca.channels), set(cb.channels)
            if ga.isdisjoint(gb) and ca.min_share is not None and cb.min_share is not None:
                if ca.min_share + cb.min_share > 1 + 1e-12:
                    chk.fail(
                        f"min_share {ca.min_share:g} and {cb.min_share:g} of constraint "
                        f"{j} on other channels sum above 100 % of spend",
                        ("constraints", i, "min_share"),
                    )
            for (k, small), (m, big) in (((i, ca), (j, cb)), ((j, cb), (i, ca))):
                if (
                    set(small.channels) <= set(big.channels)
                    and small.min_share is not None
                    and big.max_share is not None
                    and small.min_share > big.max_share + 1e-12
                ):
                    chk.fail(
                        f"min_share {small.min_share:g} is above max_share {big.max_share:g} "
                        f"of constraint {m}, which covers these channels and more",
                        ("constraints", k, "min_share"),
                    )


def load_for_data(
    path: str | os.PathLike[str], *, date_column: str | None = None,
    controls: list[str] | None = None,
) -> tuple[Scenario, Panel]:
    """Load a scenario and read its panel as the plan reads it.

    Parameters
    ----------
    path : str or path-like
        The YAML scenario file.
    date_column : str, optional
        The panel's week column (the command line's ``--date-column``); it replaces the
        scenario's ``date_column``.
    controls : list of str, optional
        The panel's control columns (the command line's ``--controls``); they replace the
        scenario's ``controls``.

    Returns
    -------
    scenario : Scenario
        With ``date_column`` and ``controls`` set when they were given.
    panel : models.panel.Panel
        Read in the scenario's layout; when the plan fits its own curves, a channel whose
        spend never changes is an error here, as in the fit.
    """
    scenario = load_scenario(path)
    if date_column is not None:
        scenario = scenario.model_copy(update={"date_column": date_column})
    if controls is not None:
        scenario = scenario.model_copy(update={"controls": controls})
    panel = read_panel(
        scenario.data,
        layout=scenario.layout,
        target=scenario.target,
        spend=scenario.spend,
        controls=scenario.controls,
        date_column=scenario.date_column,
        require_variation=scenario.curves is None,
    )
    return scenario, panel


def check_plan_inputs(scenario: Scenario, panel: Panel) -> pd.Series:
    """Every check of a scenario against its panel that needs neither a fit nor a solver.

    ``roiste plan`` calls it before fitting, ``roiste validate`` instead of planning; the first
    problem found is the same line in both.  In order: the weeks (``period_weeks``,
    ``baseline_weeks``, ``holdout_weeks`` and the weeks the fit trains on), the names, budget
    and reach (:func:`check_against_data`), a ``period`` against the panel's weeks, the
    curves file covering the channels, the experiments (a long panel, channels of the data,
    the new-customer share a test of one customer type needs), the cohorts of
    ``from_cohorts``, and the panel ratios that
    ``cost_per_order`` and the customer targets need (taken from the curves file when the
    scenario names one, else from the panel as the fit computes them).

    Parameters
    ----------
    scenario : Scenario
        A loaded scenario.
    panel : models.panel.Panel
        Its panel (:func:`load_for_data`).

    Returns
    -------
    pandas.Series
        Current weekly spend per channel: the mean of the last ``baseline_weeks`` weeks.

    Raises
    ------
    RoisteError
        The first problem found, in one line naming the file and the key at fault.
    """
    chk = _Checker(scenario)
    channels = [str(c) for c in panel.channels]
    check_weeks(scenario, panel.n_weeks)
    fits = scenario.curves is None
    if fits:
        _check_training_weeks(chk, panel)
    weekly = panel.recent_spend(int(scenario.baseline_weeks)).astype(float)
    current = weekly * int(scenario.period_weeks)
    check_against_data(scenario, channels, float(current.sum()),
                       {str(c): float(v) for c, v in current.items()}, n_weeks=panel.n_weeks)
    _check_period(chk, panel)
    if scenario.curves is not None:
        curves = CurveSet.load(scenario.curves)
        missing = [c for c in channels if c not in curves]
        if missing:
            chk.fail(f"the curves file {scenario.written('curves')} has no curve for "
                     f"channel(s) {', '.join(missing)} of the data", ("curves",))
        ratios = {c: dict(curves[c].ratios) for c in channels}
    else:
        ratios = panel_ratios(panel)
    if scenario.experiments is not None:
        if scenario.layout == "wide":
            chk.fail("experiments pin the per-channel fit of a long panel; the wide "
                     "(marketing-mix) fit does not read them", ("experiments",))
        experiments = read_experiments(scenario.experiments)
        check_channels(experiments, channels)
        for c in channels:  # a test of one customer type needs the channel's new-customer share
            own = [e for e in experiments if e.channel == c]
            if own:
                lift_data(own, ratios[c])
    if scenario.uses_cohorts():  # every channel set to from_cohorts needs its cohorts
        cohort_customer_values(scenario, channels)
    _check_orders(chk, panel, ratios)
    _check_customer_targets(chk, channels, ratios)
    return weekly


def _check_period(chk: _Checker, panel: Panel) -> None:
    """A plan week by week (``period``): its start follows the panel by whole weeks, it is one
    step with share constraints only, and its weekly limits name channels of the panel."""
    sc = chk.scenario
    period = sc.period
    if period is None:
        return
    last, start = pd.Timestamp(panel.weeks[-1]), pd.Timestamp(period.start)
    if start <= last:
        chk.fail(f"period.start {start.date()} is not after the panel's last week "
                 f"{last.date()}", ("period", "start"))
    if (start - last).days % 7:
        chk.fail(f"period.start {start.date()} is not a whole number of weeks after the "
                 f"panel's last week {last.date()}", ("period", "start"))
    if int(sc.steps) != 1:
        chk.fail("a plan with period is one step; steps must be 1", ("steps",))
    for i, con in enumerate(sc.constraints):
        if not isinstance(con, ShareConstraint):
            chk.fail(f"a plan with period takes share constraints only, not {con.kind} yet; "
                     "plan the weeks without it or drop period", ("constraints", str(i)))
    channels = [str(c) for c in panel.channels]
    for key in ("weekly_min", "weekly_max"):
        for name in getattr(period, key):
            if name not in channels:
                chk.fail(f"no channel {name!r} in the panel; channels: {channels}",
                         ("period", key, name))


def _check_training_weeks(chk: _Checker, panel: Panel) -> None:
    sc = chk.scenario
    least = min_train_weeks(sc.layout, len(panel.channels))
    left = panel.n_weeks - int(sc.holdout_weeks)
    if (sc.holdout_weeks or sc.layout == "wide") and left < least:
        what = ("the marketing-mix fit of " + str(len(panel.channels)) + " channels"
                if sc.layout == "wide" else "the fit")
        chk.fail(f"holdout_weeks {sc.holdout_weeks} leaves {left} of the {panel.n_weeks} weeks "
                 f"of the data to fit on; {what} needs at least {least}", ("holdout_weeks",))


def _ratio_source(chk: _Checker, channel: str) -> str:
    """Where a channel's ratios come from, for messages."""
    curves = chk.scenario.curves
    if curves is not None:
        return f"its curve in {chk.scenario.written('curves')}"
    return f"channel {channel!r} of the panel"


def _check_orders(chk: _Checker, panel: Panel, ratios: dict[str, dict[str, float]]) -> None:
    """``cost_per_order`` turns revenue into orders through the panel's revenue per order."""
    sc = chk.scenario
    econ = {c: sc.economics_for(c) for c in ratios}
    if sc.objective != "net_margin" and any(e.gross_margin is None for e in econ.values()):
        return  # no net margin is computed, so no logistics either
    for c, e in econ.items():
        rpo = ratios[c].get("revenue_per_order")
        if not e.cost_per_order > 0 or (rpo is not None and rpo > 0):
            continue
        if sc.curves is not None:
            why = f"{_ratio_source(chk, c)} has no revenue_per_order"
        elif "orders" not in panel.extras:
            why = "the panel has no orders column (no revenue_per_order ratio)"
        else:
            why = (f"the panel has no orders for it in its last {RATIO_WEEKS} weeks "
                   "(no revenue_per_order ratio)")
        where = (("channels", c, "cost_per_order") if "cost_per_order" in sc.channel(c).overrides()
                 else ("economics", "cost_per_order"))
        chk.fail(f"channel {c!r}: economics.cost_per_order {e.cost_per_order:g} needs orders, "
                 f"but {why}", where)


def _check_customer_targets(chk: _Checker, channels: list[str],
                            ratios: dict[str, dict[str, float]]) -> None:
    """ROAS targets on new or existing customers need each member's new-customer share of
    revenue; a net-CAC target needs its new customers (and, as the plan computes it, a gross
    margin)."""
    sc = chk.scenario
    columns = {"new_customer_revenue_share": "new_customer_revenue",
               "new_customers_per_revenue": "new_customers"}
    for i, con in enumerate(sc.constraints):
        if isinstance(con, ExistingRoasConstraint | NewRoasConstraint):
            key = "target_roas_new" if isinstance(con, NewRoasConstraint) else "target_roas_existing"
            ratio, what = "new_customer_revenue_share", f"{key} needs the revenue of new customers"
        elif isinstance(con, NetCacConstraint):
            ratio, what = "new_customers_per_revenue", "max_cac_net needs new customers"
        else:
            continue
        for c in con.channels or channels:
            if ratio in ratios.get(c, {}):
                continue
            why = (f"{_ratio_source(chk, c)} has no {ratio}" if sc.curves is not None
                   else f"the panel has no {columns[ratio]} column for channel {c!r}")
            chk.fail(f"{what}, but {why}", ("constraints", i))
        if isinstance(con, NetCacConstraint):
            for c in con.channels or channels:
                if sc.economics_for(c).gross_margin is None:
                    chk.fail(f"max_cac_net needs economics.gross_margin for channel {c!r} "
                             "(the margin lost to returns is part of the net CAC)",
                             ("constraints", i))


def validate_scenario_file(
    path: str | os.PathLike[str], *, date_column: str | None = None
) -> str:
    """Load a scenario, read its panel and run every check that needs neither a fit nor a
    solver (:func:`check_plan_inputs`, the checks ``roiste plan`` makes before fitting).

    Parameters
    ----------
    path : str or path-like
        The YAML scenario file.
    date_column : str, optional
        The panel's week column, replacing the scenario's ``date_column``.

    Returns
    -------
    str
        ``"<file>: ok (<name>: N channels, budget X, step S)"``.

    Raises
    ------
    RoisteError
        One line naming the file and the problem.
    """
    scenario, panel = load_for_data(path, date_column=date_column)
    weekly = check_plan_inputs(scenario, panel)
    total = float((weekly * int(scenario.period_weeks)).sum())
    budget = scenario.period_budget(total)
    kept = "" if scenario.budget is not None else " (current total)"
    steps = f" x {scenario.steps}" if scenario.steps > 1 else ""
    return (
        f"{path}: ok ({scenario.name}: {len(panel.channels)} channels, "
        f"budget {budget:,.0f}{kept}, step {scenario.step:g}{steps})"
    )


__all__ = [
    "check_against_data",
    "check_plan_inputs",
    "check_weeks",
    "load_for_data",
    "validate_scenario_file",
]
