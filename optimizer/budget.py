"""The best budget within a plan's bounds, and the spend-less / spend-more signal.

A plan spends the scenario's budget (or at most it); whether that budget is the right one is a
second question with its own answer.  :func:`budget_signal` solves the same certified LP twice
more over the range the plan may use (each channel's box after its own minimum, maximum, lock
and the bounded steps, and the scenario's share and target constraints):

* with the budget free (``at_most`` the sum of the upper bounds): the total spend that earns
  the most net margin, ``best_budget``, and that margin, ``net_margin_at_best_budget``;
* with a budget 10 % larger (capped by the upper bounds): whether more budget would pay.

Both solves are on the point estimate of the curves, as the plan's reported net margins are;
channels the plan held at their current spend for want of support in the draws stay held.

When the last unit of a fixed budget loses money (negative shadow price) and the best budget
earns more, or when the larger budget earns more, the signal is a plain sentence with the
amounts; the plan puts it in its notes and the headline.  Values are net margin for the period
(the scenario's economics), whatever the plan's objective; without a gross margin there is no
net margin and no signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roiste.models.errors import InfeasibleError
from roiste.optimizer.context import PlanContext
from roiste.optimizer.lp import AllocationProblem, solve

LARGER_BUDGET = 0.10
"""How much larger the budget of the spend-more check is (a share of the budget)."""


@dataclass(frozen=True)
class BudgetSignal:
    """The best budget within the bounds and what a smaller or larger budget would earn.

    Attributes
    ----------
    best_budget : float or None
        Total period spend that earns the most net margin within the bounds (None without a
        net margin).
    net_margin_at_best_budget : float or None
        Its net margin (certified like any plan: ``best_gap``).
    best_gap : float or None
        The certified relative gap of the best-budget solve.
    larger_budget : float or None
        The budget of the spend-more check (10 % larger, capped by the upper bounds; None
        when the bounds leave no room above the budget).
    net_margin_at_larger_budget : float or None
        The net margin of the best plan at ``larger_budget``.
    notes : list of str
        The signal: at most one sentence (spend less, or spend more), with the amounts.
    """

    best_budget: float | None = None
    net_margin_at_best_budget: float | None = None
    best_gap: float | None = None
    larger_budget: float | None = None
    net_margin_at_larger_budget: float | None = None
    notes: list[str] = field(default_factory=list)


def _money(v: float) -> str:
    """Money in a sentence: whole units with separators (cents below 100)."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def _solve_margin(ctx: PlanContext, lower: np.ndarray, upper: np.ndarray, budget: float,
                  mode: str, shares: Sequence[Any], targets: Sequence[Any]) -> tuple[float, float, float]:
    """``(total spend, net margin, gap)`` of the best net-margin plan at ``budget``."""
    assert ctx.margin_functions is not None
    sc = ctx.scenario
    problem = AllocationProblem(
        names=ctx.channels, lower=lower, upper=upper, functions=ctx.margin_functions,
        budget=budget, budget_mode="at_most" if mode == "at_most" else "equal",
        shares=shares, targets=targets,
    )
    sol = solve(problem, tol=float(sc.tolerance), solver=str(sc.solver))
    x = np.clip(np.asarray(sol.x, dtype=float), lower, upper)
    return float(x.sum()), float(sol.value), float(sol.gap)


def budget_signal(
    ctx: PlanContext,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    shares: Sequence[Any] = (),
    targets: Sequence[Any] = (),
    budget: float,
    spent: float,
    net_margin: float | None,
    shadow_price: float | None,
    held: np.ndarray | None = None,
) -> BudgetSignal:
    """The best budget within ``[lower, upper]`` and the spend-less / spend-more sentence.

    Parameters
    ----------
    ctx : PlanContext
        The plan's context (channels, value functions, scenario settings).
    lower, upper : ndarray
        The period-spend range each channel may reach (the step box, or what the glide path's
        steps can reach).
    shares, targets : sequence
        The scenario's share and target constraints, as the plan's LP has them.
    budget : float
        The plan's budget for the period.
    spent : float
        What the recommended plan spends in total.
    net_margin : float or None
        The recommended plan's net margin.
    shadow_price : float or None
        The budget's shadow price in the plan's last step (objective per unit of budget).
    held : ndarray of bool, optional
        Channels the plan held at their current spend (for want of support in the curves'
        draws); they stay there in the extra solves too.

    Returns
    -------
    BudgetSignal
        Empty (no best budget, no note) without a net margin or when the extra solves find
        no plan.
    """
    if ctx.margin_functions is None or net_margin is None:
        return BudgetSignal()
    lower = np.asarray(lower, dtype=float)
    upper = np.maximum(np.asarray(upper, dtype=float), lower)
    if held is not None and np.any(held):
        keep = np.asarray(held, dtype=bool)
        at = np.clip(ctx.x0, lower, upper)
        lower, upper = np.where(keep, at, lower), np.where(keep, at, upper)
    cap = float(upper.sum())
    tol = float(ctx.scenario.tolerance)
    try:
        best, m_best, gap = _solve_margin(ctx, lower, upper, cap, "at_most", shares, targets)
    except InfeasibleError:
        return BudgetSignal()
    larger = min(budget * (1.0 + LARGER_BUDGET), cap)
    m_larger: float | None = None
    if larger > budget * (1.0 + 1e-6):
        try:
            m_larger = _solve_margin(ctx, lower, upper, larger, ctx.budget_mode, shares,
                                     targets)[1]
        except InfeasibleError:
            m_larger = None
    # what the certificates leave uncertain: a gain below it is no signal
    noise = 2.0 * tol * max(abs(net_margin), abs(m_best), 0.01 * max(budget, 1.0))
    notes: list[str] = []
    gain_best = m_best - net_margin
    sp = shadow_price if shadow_price is not None and math.isfinite(shadow_price) else None
    if ctx.budget_mode == "equal" and best < spent - 1e-6 * max(budget, 1.0) and gain_best > noise:
        why = (
            f"the last unit of budget loses money, {-sp:.3f} of net margin per unit "
            f"(budget shadow price {sp:.3f})"
            if sp is not None and sp < 0 else "a smaller budget earns more"
        )
        notes.append(
            f"Spend less: {why}. The best budget within the channels' bounds is "
            f"{_money(best)} instead of {_money(budget)}; it earns {_money(m_best)} of net "
            f"margin instead of {_money(net_margin)}, {_money(gain_best)} more."
        )
    elif m_larger is not None and m_larger - net_margin > noise:
        notes.append(
            f"Spend more: a budget {LARGER_BUDGET:.0%} larger ({_money(larger)} instead of "
            f"{_money(budget)}) would earn {_money(m_larger)} of net margin instead of "
            f"{_money(net_margin)}, {_money(m_larger - net_margin)} more. The best budget "
            f"within the channels' bounds is {_money(best)}, earning {_money(m_best)}."
        )
    return BudgetSignal(best, m_best, gap, larger if m_larger is not None else None, m_larger,
                        notes)


__all__ = ["LARGER_BUDGET", "BudgetSignal", "budget_signal"]
