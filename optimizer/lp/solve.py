"""The allocation LP/MILP: piecewise-linear pieces in, a certified allocation out.

This module knows arrays and constraints, never a channel's curve family: the period
functions arrive through the small :class:`~roiste.optimizer.lp.problem.PeriodModel` protocol.
Each channel's value is bounded from below by inner pieces (chords where it is concave) and
from above by outer pieces (tangents where it is concave), see
:mod:`roiste.optimizer.lp.pieces`.  The optimum on the inner pieces is a plan whose true value
is a lower bound; the optimum on the outer pieces is an upper bound no plan can beat.  Breakpoints are refined until the two meet within ``tol``.
Channels that are not concave (S-shaped) make both problems mixed-integer (ordered filling of
the pieces with binaries), solved globally by the MILP solver.

The certified relative gap is ``(UB - LB) / max(|UB|, |LB|, 0.01 * budget)``: relative to
the objective, with a floor of one per cent of the budget so that a plan whose net margin is
close to zero is not held to an impossible relative precision.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

import roiste.optimizer.lp.pieces as pc
from roiste.models.errors import InfeasibleError
from roiste.optimizer.lp.infeasible import explain, explain_locked, prepare
from roiste.optimizer.lp.model import solve_pieces, solver_key
from roiste.optimizer.lp.problem import (
    AllocationProblem,
    FloatArray,
    Prepared,
    ShareConstraint,
    Solution,
    TargetConstraint,
    concave_on_box,
)

_DEBUG = bool(os.environ.get("ROISTE_LP_DEBUG"))


def outcomes(
    f: Any, targets: Sequence[tuple[TargetConstraint, NDArray[np.bool_]]],
    net_weights: Callable[[TargetConstraint], tuple[FloatArray, FloatArray]],
    revenue_concave: NDArray[np.bool_] | None = None,
) -> dict[str, tuple[Any, Any, Any]]:
    """The outcomes whose pieces the model needs: name -> ``(value, slope, flip)``.

    Parameters
    ----------
    f
        The period functions (a ``PeriodModel``, or the stacked steps of a path), one row per
        variable.
    targets
        The problem's target constraints with their member masks.
    net_weights
        The ``(r, s)`` per row of a ``max_cac_net`` target (the target's
        :meth:`~TargetConstraint.net_weights`, laid out as ``f``'s rows).
    revenue_concave
        Where revenue is concave on the boxes (default ``f.revenue_concave``).

    Returns
    -------
    dict
        ``value`` always; ``revenue`` when a target or a non-concave revenue needs it;
        ``new_customers`` for a cost-per-new-customer target; ``target_<i>`` (``r R - s x``)
        for each net-CAC target.  ``flip`` marks the rows where the outcome enters with a
        negative sign.
    """
    k = np.asarray(f.coefficient, dtype=float)
    out: dict[str, tuple[Any, Any, Any]] = {"value": (f.value, f.slope, k < 0)}
    no_flip = np.zeros(len(k), dtype=bool)
    # revenue's tangents set the split point of every outcome's pieces (they cross where the
    # tangents of any k R(x) - f x do), so it is evaluated whenever an outcome besides the
    # value is: with k = 0 the value alone does not tell where to split
    rc = f.revenue_concave if revenue_concave is None else revenue_concave
    need_r = bool(targets) or not np.all(rc)
    if need_r:
        out["revenue"] = (f.revenue, f.revenue_slope, no_flip)
    if any(t.kind == "max_cost_per_new_customer" for t, _ in targets):
        out["new_customers"] = (f.new_customers, f.new_customers_slope, no_flip)
    for i, (t, _) in enumerate(targets):
        if t.kind == "max_cac_net":
            r, s = net_weights(t)
            out[f"target_{i}"] = (*net_outcome(f, r, s), r < 0)
    return out


def net_outcome(f: Any, r: FloatArray, s: FloatArray) -> tuple[Any, Any]:
    """Value and slope of ``r R(x) - s x`` per row, for spends of shape (N,) or (N, m).

    Parameters
    ----------
    f
        Period functions with ``revenue`` and ``revenue_slope``.
    r, s
        Per-row coefficients of revenue and of spend (a net-CAC target's own outcome).

    Returns
    -------
    value, slope : callable
        Functions of the spends.
    """

    def col(v: FloatArray, x: Any) -> Any:
        return v if np.ndim(x) == 1 else v[:, None]

    def value(x: Any) -> FloatArray:
        return col(r, x) * np.asarray(f.revenue(x), dtype=float) - col(s, x) * np.asarray(x, dtype=float)

    def slope(x: Any) -> FloatArray:
        return col(r, x) * np.asarray(f.revenue_slope(x), dtype=float) - col(s, x)

    return value, slope


def _evaluate(outs: dict[str, tuple[Any, Any, Any]], bp: FloatArray) -> dict[str, Any]:
    return {
        name: (pc.Outcome(np.asarray(v(bp), dtype=float), np.asarray(s(bp), dtype=float)), flip)
        for name, (v, s, flip) in outs.items()
    }


def feasible(problem: AllocationProblem, prep: Prepared, x: FloatArray, *,
             exact_targets: bool = False) -> bool:
    """Does ``x`` meet every constraint on the true curves (to a relative 1e-9)?

    Parameters
    ----------
    problem, prep
        The problem and its checked arrays.
    x
        Period spends per channel.
    exact_targets
        Hold the target rows to no tolerance at all (met on the curves, not within a
        solver's rounding); by default a target row gets the relative tolerance scaled by
        its target, as the solvers' own tolerance is.

    Returns
    -------
    bool
        Whether the budget, boxes, shares and targets are all met.
    """
    f = problem.functions
    eps = 1e-9 * max(float(problem.budget), 1.0)
    total = float(x.sum())
    if total > problem.budget + eps or (problem.budget_mode == "equal" and total < problem.budget - eps):
        return False
    if np.any(x < prep.lo - eps) or np.any(x > prep.hi + eps):
        return False
    return rows_met(f, x, prep.shares, prep.targets, eps, exact_targets=exact_targets)


def rows_met(f: Any, x: FloatArray,
             shares: Sequence[tuple[ShareConstraint, NDArray[np.bool_]]],
             targets: Sequence[tuple[TargetConstraint, NDArray[np.bool_]]], eps: float, *,
             exact_targets: bool = False) -> bool:
    """Do the share and target rows hold at period spends ``x`` on the true curves?

    Parameters
    ----------
    f
        The period functions (a ``PeriodModel``).
    x
        Period spends per channel (one period, one step of a path).
    shares, targets
        The constraints with their member masks.
    eps
        The tolerance in money (a relative 1e-9 of the budget).
    exact_targets
        Hold the target rows to no tolerance; by default ``eps`` times the target.

    Returns
    -------
    bool
        Whether every share and target row holds.
    """
    total = float(x.sum())
    for s, m in shares:
        if s.max_share is not None and x[m].sum() > s.max_share * total + eps:
            return False
        if s.min_share is not None and x[m].sum() < s.min_share * total - eps:
            return False
    for t, m in targets:
        # a target row is in money times the target: the solvers' tolerance scales with it
        tol = 0.0 if exact_targets else eps * max(t.target, 1.0)
        if t.kind == "min_roas":
            w = t.revenue_weights(len(x))
            if float((f.revenue(x) * w)[m].sum()) < t.target * float(x[m].sum()) - tol:
                return False
        elif t.kind == "max_cac_net":
            r_net, s_net = t.net_weights(len(x))
            if float((r_net * f.revenue(x) - s_net * x)[m].sum()) < -tol:
                return False
        elif float(x[m].sum()) > t.target * float(f.new_customers(x)[m].sum()) + tol:
            return False
    return True


def relative_gap(lb: float, ub: float, budget: float) -> float:
    """The certified relative gap ``(ub - lb) / max(|ub|, |lb|, 0.01 * budget)``.

    Parameters
    ----------
    lb, ub
        The best plan's true value and the bound no plan can beat.
    budget
        The money scale of the floor (the budget, or a path's largest budget).

    Returns
    -------
    float
        The gap, ``inf`` while either bound is not finite.
    """
    if not (math.isfinite(lb) and math.isfinite(ub)):
        return math.inf
    return max(ub - lb, 0.0) / max(abs(ub), abs(lb), 0.01 * max(budget, 1e-9), 1e-12)


def _initial_breakpoints(problem: AllocationProblem, prep: Prepared,
                         inflection: FloatArray, odd: NDArray[np.bool_]) -> FloatArray:
    f = problem.functions
    lo, hi = prep.lo, prep.hi
    cols = [lo, hi]
    free = hi > lo
    if free.any():
        floor = 0.0 if problem.budget_mode == "at_most" else None
        _, pts = pc.price_points(f.slope, lo, hi, float(problem.budget), floor=floor)
        cols += pts
    odd = odd & free
    if odd.any():
        cols.append(np.where(odd, inflection, np.nan))
        for u in np.linspace(0.0, 1.0, 17)[1:-1]:
            cols.append(np.where(odd, lo + u * (hi - lo), np.nan))
    bp = np.stack([lo, hi], axis=1)
    return pc.merge_points(bp, np.stack(cols[2:], axis=1)) if len(cols) > 2 else bp


def solve(
    problem: AllocationProblem,
    *,
    tol: float = 1e-4,
    solver: str = "CBC",
    time_limit: float | None = None,
    msg: bool = False,
    max_rounds: int = 15,
) -> Solution:
    """Optimise an allocation and certify it: ``value <= optimum <= upper_bound``.

    Parameters
    ----------
    problem : AllocationProblem
    tol : float, default=1e-4
        Target certified relative gap ``(UB - LB) / max(|UB|, |LB|, 0.01 budget)``.
    solver : str, default="CBC"
        ``"CBC"`` (bundled with PuLP) or ``"HiGHS"`` (highspy), or any PuLP solver name.
    time_limit : float, optional
        Seconds per LP/MILP solve.
    msg : bool, default=False
        Show the solver's log.
    max_rounds : int, default=15
        Rounds of breakpoint refinement before returning with the gap reached.

    Raises
    ------
    InfeasibleError
        When no allocation meets the constraints; the message names the conflict.
    """
    prep = prepare(problem)
    f = problem.functions
    lo, hi = prep.lo, prep.hi
    budget = float(problem.budget)
    if not np.any(hi > lo):  # every channel locked: nothing to choose
        value = float(np.asarray(f.value(lo)).sum())
        if not feasible(problem, prep, lo):
            explain_locked(problem, prep)
        return Solution(x=lo.copy(), value=value, upper_bound=value, gap=0.0, status="optimal",
                        solver=solver_key(solver), shadow_price=math.nan, n_breakpoints=len(lo),
                        milp=False, build_seconds=0.0, solve_seconds=0.0, iterations=0,
                        names={f"x_{i}": str(nm) for i, nm in enumerate(problem.names)})
    # concave on the box: an S-shape whose box starts above its inflection point
    conc, rev_conc = concave_on_box(f, lo)
    outs = outcomes(f, prep.targets, lambda t: t.net_weights(len(prep.lo)), rev_conc)
    split = "revenue" if "revenue" in outs else "value"
    inflection = pc.inflection_points(f.revenue_slope, lo, hi, ~rev_conc & (hi > lo))
    ordered = ~(conc & rev_conc)
    for t, m in prep.targets:
        if t.kind == "max_cac_net":  # r R - s x is convex where r < 0: filled in order
            ordered |= m & (t.net_weights(len(lo))[0] < 0) & (hi > lo)
    bp = _initial_breakpoints(problem, prep, inflection, ~(conc & rev_conc))
    mip_gap = min(tol / 20.0, 1e-6)
    build_s = solve_s = 0.0
    best_x: FloatArray | None = None
    best_lb, best_ub = -math.inf, math.inf
    dual: float | None = None
    milp = False
    rounds = 0
    upper_fix: dict[str, float] | None = None
    upper_p: pc.Pieces | None = None
    last_status = "not solved"
    unproven_rounds = 0
    filled = True
    for rounds in range(1, max_rounds + 1):
        tb = time.perf_counter()
        lower_p, upper_p = pc.build(bp, _evaluate(outs, bp), split, inflection, ordered)
        build_s += time.perf_counter() - tb
        up, up_extra = solve_pieces(upper_p, prep, problem, solver=solver,
                                     time_limit=time_limit, msg=msg, mip_gap=mip_gap)
        build_s += up.build_s
        solve_s += up.solve_s
        milp = milp or up.milp
        if up.status == "Infeasible":
            explain(problem, prep, upper_p, solver, solve)
        lw, _ = solve_pieces(lower_p, prep, problem, solver=solver, time_limit=time_limit,
                              msg=msg, mip_gap=mip_gap)
        build_s += lw.build_s
        solve_s += lw.solve_s
        filled = filled and up.filled and lw.filled
        candidates = [up.x] + ([lw.x] if lw.status in ("Optimal", "Not Solved") else [])
        for x in (repair(problem, prep, v) for v in candidates):
            if feasible(problem, prep, x):
                v = float(f.value(x).sum())
                if v > best_lb:
                    best_lb, best_x = v, x
        if up.proven and up.milp and best_lb > up.bound + 1e-7 * max(abs(up.bound), budget):
            up.proven = False  # a MILP "optimum" below a plan's value bounds nothing
        if not up.proven:  # e.g. a time limit: the relaxation still bounds the optimum
            rel, _ = solve_pieces(upper_p, prep, problem, solver=solver, time_limit=time_limit,
                                   msg=msg, mip_gap=mip_gap, relax=True)
            build_s += rel.build_s
            solve_s += rel.solve_s
            filled = filled and rel.filled
            up.bound = rel.bound
            unproven_rounds += 1
        else:
            dual = up.dual
            upper_fix = up_extra["binaries"] if up.milp else None
        # the solvers meet rows to a relative 1e-9: so much is added to the bound
        best_ub = min(best_ub, up.bound + 1e-9 * max(abs(up.bound), budget))
        gap = relative_gap(best_lb, best_ub, budget)
        if _DEBUG:
            print(f"round {rounds}: lb {best_lb!r} ub {best_ub!r} up.obj {up.objective!r} gap {gap:.3g}"
                  f" pieces {lower_p.n_pieces}/{upper_p.n_pieces}")
        if gap <= tol:
            last_status = "optimal"
            break
        bp = _refine(problem, prep, bp, upper_p, up.x, lw.x, best_lb, best_ub)
    else:
        last_status = "gap_above_tolerance" if not unproven_rounds else "milp_not_proven"
    if best_x is None:
        raise InfeasibleError(
            "the constraints leave no room: every allocation found misses a target on the "
            "curves; loosen the targets or the bounds")
    if upper_p is not None and milp and upper_fix:
        # the shadow price of a MILP: the LP with its binaries held
        fx, _ = solve_pieces(upper_p, prep, problem, solver=solver, time_limit=time_limit,
                              msg=msg, mip_gap=mip_gap, fix=upper_fix)
        dual = fx.dual
    shadow = _shadow(problem, prep, best_x, dual)
    n_bp = int(np.sum(np.r_[np.ones((len(bp), 1), bool).T, (np.diff(bp, axis=1) > 0).T]))
    return Solution(
        x=best_x, value=best_lb, upper_bound=max(best_ub, best_lb),
        gap=relative_gap(best_lb, best_ub, budget), status=last_status,
        solver=solver_key(solver), shadow_price=shadow,
        n_breakpoints=n_bp, milp=milp, build_seconds=build_s,
        solve_seconds=solve_s, iterations=rounds,
        names={f"x_{i}": str(nm) for i, nm in enumerate(problem.names)},
        filled=filled and not milp,
    )


def repair(problem: AllocationProblem, prep: Prepared, x: FloatArray) -> FloatArray:
    """Spread the solver's rounding of the budget row over the channels with room.

    Parameters
    ----------
    problem, prep
        The problem and its checked arrays.
    x
        Period spends per channel, as a solver returned them.

    Returns
    -------
    FloatArray
        ``x`` with the budget's shortfall or excess spread over the channels in proportion
        to their room in the boxes (``x`` itself when nothing needs spreading).
    """
    total = float(x.sum())
    r = float(problem.budget) - total
    if problem.budget_mode == "at_most" and r >= 0:
        return x
    room = prep.hi - x if r > 0 else x - prep.lo
    room = np.maximum(room, 0.0)
    if r == 0 or room.sum() <= 0:
        return x
    return np.clip(x + r * room / room.sum(), prep.lo, prep.hi)


def _shadow(problem: AllocationProblem, prep: Prepared, x: FloatArray,
            dual: float | None) -> float:
    """Net value of one more unit of budget: the budget row's dual, sign-checked."""
    eps = 1e-9 * max(float(problem.budget), 1.0)
    if problem.budget_mode == "at_most" and float(x.sum()) < problem.budget - eps:
        return 0.0
    if dual is None:
        return math.nan
    return float(dual)


def _refine(problem: AllocationProblem, prep: Prepared, bp: FloatArray, upper: pc.Pieces,
            x_up: FloatArray, x_lo: FloatArray, lb: float, ub: float) -> FloatArray:
    """Add breakpoints where the outer pieces overstate the value at the outer solution.

    Channels whose overstatement there is a noticeable share of the gap get the outer and
    inner solutions as breakpoints and the midpoints around the outer one (a cutting-plane
    step); the others keep their pieces, so the problems grow only where the gap comes from.
    """
    over = upper.evaluate("value", x_up, prep.lo) - np.asarray(
        problem.functions.value(x_up), dtype=float)
    n_free = max(int(np.sum(prep.hi > prep.lo)), 1)
    pick = over > 1e-3 * max(ub - lb, 0.0) / n_free
    if not pick.any():
        pick = prep.hi > prep.lo
    j = np.clip(np.sum(bp < x_up[:, None], axis=1), 1, bp.shape[1] - 1)
    left = np.take_along_axis(bp, (j - 1)[:, None], 1)[:, 0]
    right = np.take_along_axis(bp, j[:, None], 1)[:, 0]
    new = np.stack([x_up, x_lo, 0.5 * (left + x_up), 0.5 * (x_up + right)], axis=1)
    return pc.merge_points(bp, np.where(pick[:, None], new, np.nan))
