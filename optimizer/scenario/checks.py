"""Checks of a scenario against its data: names, budget, bounded-step reach, share constraints.

These checks need the channels of the panel and their current spend, so they run after
:func:`optimizer.scenario.load_scenario`.  They only reject scenarios that no plan can meet;
conflicts that need the response curves (ROAS and cost-per-new-customer targets) are left to
the plan, which explains infeasibility itself.  The box a channel may reach in a step and the
budgets of a glide path are the planner's own (:mod:`optimizer.steps`).

:func:`validate_scenario_file` does everything ``roiste validate`` does: load the file, read
its panel (and curves, and tagged orders) and run every check that needs no solver.
"""

from __future__ import annotations

import difflib
import math
import os
from typing import Any

import numpy as np

from roiste.models.curves import CurveSet
from roiste.models.errors import ScenarioError
from roiste.models.experiments import check_channels, read_experiments
from roiste.models.panel import read_panel
from roiste.optimizer.scenario.cohorts import cohort_customer_values
from roiste.optimizer.scenario.schema import Scenario, ShareConstraint, load_scenario
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


def validate_scenario_file(path: str | os.PathLike[str]) -> str:
    """Load a scenario, read its panel and run every check that does not need a solver.

    Parameters
    ----------
    path : str or path-like
        The YAML scenario file.

    Returns
    -------
    str
        ``"<file>: ok (<name>: N channels, budget X, step S)"``.

    Raises
    ------
    ScenarioError, PanelError
        One line naming the file and the problem.
    """
    scenario = load_scenario(path)
    panel = read_panel(
        scenario.data,
        layout=scenario.layout,
        target=scenario.target,
        spend=scenario.spend,
        controls=scenario.controls,
    )
    check_weeks(scenario, len(panel.weeks))
    recent = panel.recent_spend(scenario.baseline_weeks)
    current = {str(c): float(v) * scenario.period_weeks for c, v in recent.items()}
    total = sum(current.values())
    check_against_data(
        scenario, list(panel.channels), total, current, n_weeks=len(panel.weeks)
    )
    if scenario.curves is not None:
        missing = [c for c in panel.channels if c not in CurveSet.load(scenario.curves)]
        if missing:
            raise ScenarioError(
                f"{path}: the curves file {scenario.written('curves')} has no curve for "
                f"channel(s) {', '.join(map(str, missing))} of the data (at curves)"
            )
    if scenario.experiments is not None:  # its rows, and a channel of the data for each
        check_channels(read_experiments(scenario.experiments), [str(c) for c in panel.channels])
    if scenario.uses_cohorts():  # every channel set to from_cohorts needs its cohorts
        cohort_customer_values(scenario, [str(c) for c in panel.channels])
    budget = scenario.period_budget(total)
    kept = "" if scenario.budget is not None else " (current total)"
    steps = f" x {scenario.steps}" if scenario.steps > 1 else ""
    return (
        f"{path}: ok ({scenario.name}: {len(panel.channels)} channels, "
        f"budget {budget:,.0f}{kept}, step {scenario.step:g}{steps})"
    )


__all__ = ["check_against_data", "check_weeks", "validate_scenario_file"]
