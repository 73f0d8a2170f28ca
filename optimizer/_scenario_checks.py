"""Checks of a scenario against its data: names, budget, bounded-step reach, share constraints.

These checks need the channels of the panel and their current spend, so they run after
:func:`optimizer.scenario.load_scenario`.  They only reject scenarios that no plan can meet;
conflicts that need the response curves (ROAS and cost-per-new-customer targets) are left to
the plan, which explains infeasibility itself.
"""

from __future__ import annotations

import difflib
import math
from typing import TYPE_CHECKING, Any

from models.errors import ScenarioError

if TYPE_CHECKING:
    from optimizer.scenario import Scenario, ShareConstraint


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
        raise ScenarioError(f"{self.label}: {message} (at {where}){hint}")

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
    _check_budget_reach(chk, lo, hi, budget, current is not None)
    shares = [(i, c) for i, c in enumerate(scenario.constraints) if c.kind == "share"]
    for i, con in shares:
        _check_share(chk, i, con, known, lo, hi, budget)  # type: ignore[arg-type]
    _check_share_pairs(chk, shares)  # type: ignore[arg-type]


def _reach_words(scenario: Scenario, direction: str) -> str:
    k = scenario.steps
    return f"moving at most {_pct(scenario.step)} {direction} in {k} step{'s' if k > 1 else ''}"


def _bounds(
    chk: _Checker, known: list[str], current: dict[str, float] | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Least and most period spend of each channel, from locks, min/max and step reach."""
    sc = chk.scenario
    up, down = (1 + sc.step) ** sc.steps, max(0.0, 1 - sc.step) ** sc.steps
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    for c in known:
        spec = sc.channel(c)
        low, high = spec.min or 0.0, spec.max if spec.max is not None else math.inf
        x0 = None if current is None else float(current.get(c, 0.0))
        if x0 is not None and spec.locked:
            for key, bad in (("min", low > x0), ("max", high < x0)):
                if bad and not _close(low if key == "min" else high, x0):
                    value = low if key == "min" else high
                    chk.fail(
                        f"channel {c!r} is locked at its current spend {_money(x0)} but its "
                        f"{key} is {_money(value)}",
                        ("channels", c, key),
                    )
            low = high = x0
        elif x0 is not None:
            if low > up * x0 and not _close(low, up * x0):
                chk.fail(
                    f"min {_money(low)} of channel {c!r} is above the {_money(up * x0)} it can "
                    f"reach from its current {_money(x0)} {_reach_words(sc, 'up')}",
                    ("channels", c, "min"),
                )
            if high < down * x0 and not _close(high, down * x0):
                chk.fail(
                    f"max {_money(high)} of channel {c!r} is below the {_money(down * x0)} it "
                    f"must keep from its current {_money(x0)} {_reach_words(sc, 'down')}",
                    ("channels", c, "max"),
                )
            low, high = max(low, down * x0), min(high, up * x0)
        lo[c], hi[c] = low, high
    return lo, hi


def _check_budget_reach(
    chk: _Checker, lo: dict[str, float], hi: dict[str, float], budget: float, with_steps: bool
) -> None:
    sc = chk.scenario
    least, most = sum(lo.values()), sum(hi.values())
    how = "within their min, max and locks"
    if with_steps:
        how = f"{_reach_words(sc, 'up or down')}, within their min, max and locks"
    if least > budget and not _close(least, budget):
        chk.fail(
            f"the budget {_money(budget)} is below the {_money(least)} the channels must "
            f"spend ({how})",
            ("budget",),
        )
    if not sc.allow_underspend and most < budget and not _close(most, budget):
        chk.fail(
            f"the budget {_money(budget)} is above the {_money(most)} the channels can spend "
            f"({how}); raise step or steps, lower the budget, or set allow_underspend: true",
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
) -> None:
    sc = chk.scenario
    group = set(con.channels)
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
                f"max_share {con.max_share:g} allows {_money(cap)} of the budget "
                f"{_money(budget)}, but {' + '.join(con.channels)} must spend at least "
                f"{_money(least)}",
                ("constraints", i, "max_share"),
            )
    if con.min_share is not None and not sc.allow_underspend:
        need = con.min_share * budget
        if most < need and not _close(most, need):
            chk.fail(
                f"min_share {con.min_share:g} needs {_money(need)} of the budget "
                f"{_money(budget)}, but {' + '.join(con.channels)} can spend at most "
                f"{_money(most)}",
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
