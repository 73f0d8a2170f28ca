"""A glide path of several steps: solved together, every channel moving one way.

``steps: n`` moves the budget in ``n`` bounded steps.  The steps are one problem
(:func:`roiste.optimizer.lp.solve_path`): each step stays in its box around the previous one,
spends its budget and meets the scenario's constraints, every channel moves in one direction
from the current spend to the last step, and the path maximises the objective summed over
the steps, i.e. what the plan earns along the way.  Each step is then certified with its
neighbours held (:func:`roiste.optimizer.lp.certify_steps`).

Under ``risk: expected`` the path maximises the mean over the curve draws of the net margin
summed over the steps.  Under ``risk: cvar`` it maximises the CVaR at the scenario's level of
the path's uplift over the draws (:func:`roiste.optimizer.lp.solve_path_cvar`): in each draw
the uplift is the net margin the steps earn over keeping the current spend for as many
steps, and the path is certified on it (the exact CVaR of the path chosen, a bound no
one-way path beats, and each step with its neighbours held).  A path with ROAS or cost
targets, or with a channel whose draws are not concave, is planned on the expected value,
and a note says so.  With draws, a channel whose move from the current to the final spend
the draws do not support is held at its current spend, as for one step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from roiste.models.errors import InfeasibleError, RoisteError
from roiste.optimizer.context import PlanContext
from roiste.optimizer.lp import (
    AllocationProblem,
    PathCvarSolution,
    PathProblem,
    PathSolution,
    ShareConstraint,
    TargetConstraint,
    certify_steps,
    certify_steps_cvar,
    solve,
    solve_path,
    solve_path_cvar,
)
from roiste.optimizer.risk import SUPPORT_THRESHOLD, move_support, unchanged
from roiste.optimizer.steps import step_box

FloatArray = NDArray[np.float64]
DIRECTIONS = {1: "up", -1: "down", 0: "unchanged"}


@dataclass(frozen=True)
class GlidePath:
    """A solved glide path: spends, each step's box and certificate, and what to report.

    ``x`` has one row per step; ``lower``/``upper`` are each step's box around the previous
    step (the step rule); ``path`` carries the certificates; ``summary`` the figures of
    ``summary.json`` (``glide_path``); ``held`` the channels held for want of support.
    """

    x: FloatArray
    lower: FloatArray
    upper: FloatArray
    path: PathSolution
    summary: dict[str, Any]
    risk_kind: str
    held: NDArray[np.bool_]
    notes: list[str] = field(default_factory=list)
    risk_notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def static_bounds(ctx: PlanContext, n: int) -> tuple[FloatArray, FloatArray, list[str]]:
    """What each step can reach at all, and the notes on limits beyond one step.

    Step ``k``'s bounds are the first step's box widened ``k - 1`` times by the step rule
    (:func:`roiste.optimizer.steps.step_box` applied to the lower and the upper end, as
    :func:`roiste.optimizer.steps.reachable` does); a channel whose own minimum or maximum lies
    beyond one step is moved towards it as far as each step allows.

    Returns
    -------
    lower, upper : ndarray (n, C)
    notes : list of str
    """
    step = ctx.step
    lows, highs, notes = [], [], []
    lo_prev = hi_prev = ctx.x0
    for k in range(n):
        lo, _, clipped = step_box(lo_prev, step, ctx.mins, ctx.maxs, ctx.locked)
        hi = step_box(hi_prev, step, ctx.mins, ctx.maxs, ctx.locked)[1]
        for i in clipped:
            if lo[i] == hi[i]:
                notes.append(
                    f"step {k + 1}: {ctx.channels[i]}'s own minimum/maximum lies beyond one step "
                    f"from {lo_prev[i]:,.2f}; the step moves it to {lo[i]:,.2f}")
        lows.append(lo)
        highs.append(hi)
        lo_prev, hi_prev = lo, hi
    return np.array(lows), np.array(highs), notes


def _explain(ctx: PlanContext, lows: FloatArray, highs: FloatArray, budgets: Sequence[float],
             shares: Sequence[ShareConstraint], targets: Sequence[TargetConstraint],
             exc: InfeasibleError) -> InfeasibleError:
    """The reason a path is impossible: a step that no allocation within its reach can meet
    (the one-step explanation, with the step), or else the one-way rule with the boxes."""
    sc = ctx.scenario
    n = len(budgets)
    for k in range(n):
        problem = AllocationProblem(ctx.channels, lows[k], highs[k], ctx.objective_functions,
                                    float(budgets[k]), ctx.budget_mode, list(shares),
                                    list(targets))
        try:
            solve(problem, tol=max(float(sc.tolerance), 1e-3), solver=str(sc.solver))
        except RoisteError as step_exc:
            return InfeasibleError(f"step {k + 1} of {n}: {step_exc}")
    return InfeasibleError(f"{exc}; more steps or looser constraints leave more room")


def glide_path(ctx: PlanContext, shares: Sequence[ShareConstraint],
               targets: Sequence[TargetConstraint], budgets: Sequence[float], *,
               certify: bool = True, kind: str | None = None,
               candidates: Sequence[Any] = ()) -> GlidePath:
    """Solve and certify a glide path of ``len(budgets)`` steps (see the module's text).

    Parameters
    ----------
    ctx : PlanContext
    shares, targets
        The scenario's constraints, held at every step.
    budgets : sequence of float
        Each step's budget (:func:`roiste.optimizer.steps.step_budgets`).
    certify : bool, default True
        Certify each step with its neighbours held (the path's own certificate is always
        there; without draws to weigh, the steps' certificates are then left out; under
        CVaR too).
    kind : {"point", "expected", "cvar"}, optional
        The risk objective to plan on (default: the scenario's); a re-solve that prices a
        constraint passes the kind its plan was made on, so the two compare.
    candidates : sequence of arrays (n, C)
        Paths a CVaR path may start from besides the expected path (a re-solve that prices a
        constraint passes its plan's path, which meets the fewer constraints too): the best
        of them gives the search its first lower bound and tangents.

    Returns
    -------
    GlidePath

    Raises
    ------
    InfeasibleError
        When no one-way path meets the constraints (the message names a step's conflict when
        one step alone cannot meet them).
    """
    sc = ctx.scenario
    n = len(budgets)
    tol, solver = float(sc.tolerance), str(sc.solver)
    lows, highs, notes = static_bounds(ctx, n)
    draws = ctx.draws
    kind = str(sc.risk.kind) if kind is None else kind
    use_mean = kind != "point" and draws is not None and draws.n_draws > 0
    fn = draws.mean() if use_mean and draws is not None else ctx.objective_functions
    level = float(sc.risk.cvar_level)
    risk_notes: list[str] = []
    if use_mean and draws is not None and draws.point_note:
        risk_notes.append(draws.point_note)
    use_cvar = False
    if use_mean and draws is not None and kind == "cvar":
        free = np.any(highs > lows, axis=0)
        odd = free & ~(draws.concave & draws.revenue_concave)
        if targets:
            risk_notes.append(
                "risk cvar: a glide path with ROAS or cost targets is planned on the expected "
                "net margin over the curve draws (the targets hold on the curves at every step).")
        elif odd.any():
            names = [ctx.channels[int(i)] for i in np.flatnonzero(odd)]
            risk_notes.append(
                f"risk cvar needs concave net-margin curves, and {', '.join(names)} "
                f"{'is' if len(names) == 1 else 'are'} not (S-shaped, or losing money on every "
                "sale): the glide path maximises the expected net margin instead.")
        else:
            use_cvar = True
    rows = draws.optimisable() if use_cvar and draws is not None else None
    x0 = ctx.x0
    holdable = np.all((lows <= x0) & (x0 <= highs), axis=0)
    held = np.zeros(len(x0), dtype=bool)

    def run(hold: NDArray[np.bool_]) -> tuple[PathProblem, PathSolution, PathCvarSolution | None]:
        problem = PathProblem(ctx.channels, x0, np.where(hold, x0, lows),
                              np.where(hold, x0, highs), ctx.step, fn, list(budgets),
                              ctx.budget_mode, list(shares), list(targets))
        try:
            path = solve_path(problem, tol=tol, solver=solver)
            if rows is None:
                return problem, path, None
            # the expected path is a candidate: the CVaR path starts from its value
            res = solve_path_cvar(problem, rows, level, candidates=(path.x, *candidates),
                                  tol=tol, solver=solver)
        except InfeasibleError as exc:
            raise _explain(ctx, lows, highs, budgets, shares, targets, exc) from None
        return problem, res.path, res

    problem, path, res = run(held)
    while use_mean and draws is not None:
        support = move_support(draws, x0, path.x[-1], float(budgets[-1]))
        bad = ~held & holdable & (support < SUPPORT_THRESHOLD) & ~unchanged(
            x0, path.x[-1], float(budgets[-1]))
        if not bad.any():
            break
        try:
            problem2, path2, res2 = run(held | bad)
        except InfeasibleError:
            risk_notes.append(
                "Holding the moves the draws do not support "
                f"({', '.join(c for c, b in zip(ctx.channels, bad, strict=True) if b)}) leaves "
                "no glide path within the constraints, so they are made and marked as not "
                "supported.")
            break
        held, problem, path, res = held | bad, problem2, path2, res2
    if res is not None and rows is not None:
        if certify:
            res = certify_steps_cvar(problem, res, rows, level, tol=tol, solver=solver)
        path = res.path
    elif certify or use_mean:
        path = certify_steps(problem, path, tol=tol, solver=solver)
    used = "cvar" if use_cvar else "expected" if use_mean else "point"
    boxes_lo, boxes_hi = [], []
    prev = x0
    for k in range(n):
        lo, hi, _ = step_box(prev, ctx.step, ctx.mins, ctx.maxs, ctx.locked)
        boxes_lo.append(lo)
        boxes_hi.append(hi)
        prev = path.x[k]
    summary = {
        "objective": ("cvar of the uplift summed over the steps" if use_cvar
                      else "sum over the steps"),
        "one_way": True,
        "value": path.value,
        "upper_bound": path.upper_bound,
        "optimality_gap": path.gap,
        "status": path.status,
        "milp": path.milp,
        "risk": used,
        **({"risk_level": level} if use_cvar else {}),
        "directions": {c: DIRECTIONS[int(d)]
                       for c, d in zip(ctx.channels, path.directions, strict=True)},
    }
    return GlidePath(
        x=path.x, lower=np.array(boxes_lo), upper=np.array(boxes_hi), path=path,
        summary=summary, risk_kind=used, held=held,
        notes=notes, risk_notes=risk_notes,
        seconds={"glide_build_seconds": path.build_seconds,
                 "glide_solve_seconds": path.solve_seconds})


__all__ = ["DIRECTIONS", "GlidePath", "glide_path", "static_bounds"]
