"""A glide path solved at once: every step's spend in one certified problem, each channel one way.

A path of ``n`` steps moves each channel from its current spend ``x0`` through ``x^1 .. x^n``;
step ``k`` keeps ``(1 - step) x^{k-1} <= x^k <= (1 + step) x^{k-1}`` (and the channel's own
limits), spends the step's budget and meets the share and target constraints.  Solved step
by step, a channel can go up in one step and down in the next; here every channel moves in
one direction only (``x^0 <= x^1 <= .. <= x^n`` or the reverse), and the path maximises the
objective summed over the steps (the margin earned along the way).

The problem stacks the steps: row ``k C + c`` of the stacked channels is channel ``c`` at step
``k``, so the pieces of :mod:`~roiste.optimizer.lp.pieces` bound every (step, channel) value
as they bound one step's.  The rows are each step's budget, shares and targets, the step boxes
as rows between consecutive steps, and the one-way rows ``x^k - x^{k-1} >= (lo_k - hi_{k-1})
(1 - d_c)`` and ``x^k - x^{k-1} <= (hi_k - lo_{k-1}) d_c`` with one binary ``d_c`` per channel
that can move both ways (up when 1); the big-M constants are the reach of the static bounds,
so they cut off nothing.  The inner problem (chords) gives paths whose true value is a lower
bound, the outer problem (tangents) a proven upper bound, as for one step.

Each step is then certified on its own as well (:func:`certify_steps`): with its neighbours
held, step ``k`` may move inside the box its two neighbours and the one-way rule leave it, and
:func:`~roiste.optimizer.lp.solve.solve` bounds the best value there.  The joint optimum is
optimal in each such box, so every step's gap is small when the path's gap is.

Under CVaR (:func:`solve_path_cvar`) the objective is the conditional value at risk, over
curve draws, of the path's uplift summed over its steps, in the Rockafellar-Uryasev form:
each draw's value of each (step, channel) lies below its tangents at the breakpoints, so
the LP over them bounds every path from above, and the path found is valued exactly on the
draws.  The direction binaries are handled by a branch and cut: relaxed LPs (one model per
set of breakpoints and draws, re-solved with directions held), split on the channel whose
relaxed path turns back, tangents refined where a path's are loose.
:func:`certify_steps_cvar` certifies each step with its neighbours held on the same CVaR.
"""

from __future__ import annotations

import heapq
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pulp
from numpy.typing import NDArray

import roiste.optimizer.lp.pieces as pc
from roiste.models.errors import InfeasibleError
from roiste.optimizer.lp.infeasible import members_mask
from roiste.optimizer.lp.model import get_solver, solver_key
from roiste.optimizer.lp.problem import (
    AllocationProblem,
    FloatArray,
    PeriodModel,
    ShareConstraint,
    TargetConstraint,
    concave_on_box,
)
from roiste.optimizer.lp.scenarios import DrawModel, cut_rows, cvar
from roiste.optimizer.lp.solve import outcomes, relative_gap, rows_met, solve


@dataclass(frozen=True)
class PathProblem:
    """A glide path to optimise: start, static bounds per step, budgets and constraints.

    ``lower``/``upper`` (shape ``(n, C)``) are what each step can reach at all (the channels'
    own limits and locks, and the steps' boxes widened from the start: see
    :func:`roiste.optimizer.steps.reachable`); the boxes between consecutive steps are rows of
    the problem.  ``budgets`` holds one budget per step.  ``monotone`` asks for one direction
    per channel.
    """

    names: Sequence[str]
    start: Any
    lower: Any
    upper: Any
    step: float
    functions: PeriodModel
    budgets: Sequence[float]
    budget_mode: Literal["equal", "at_most"] = "equal"
    shares: Sequence[ShareConstraint] = ()
    targets: Sequence[TargetConstraint] = ()
    monotone: bool = True


@dataclass(frozen=True)
class StepCertificate:
    """One step of a path, certified with its neighbours held.

    ``value`` is the step's true objective; ``upper_bound`` bounds the best value the step
    could have inside the box its neighbours leave it (``lower``/``upper``); ``gap`` is the
    relative difference; ``shadow_price`` the budget's price in that box.
    """

    value: float
    upper_bound: float
    gap: float
    status: str
    lower: FloatArray
    upper: FloatArray
    shadow_price: float | None
    n_breakpoints: int
    milp: bool
    iterations: int
    build_seconds: float
    solve_seconds: float


@dataclass(frozen=True)
class PathSolution:
    """A certified glide path: ``value <= optimum <= upper_bound`` for the summed objective.

    ``x`` has one row per step (``(n, C)``); ``step_values`` the true objective of each step;
    ``directions`` is +1 (up), -1 (down) or 0 (unchanged) per channel; ``steps`` the
    per-step certificates (empty until :func:`certify_steps`).
    """

    x: FloatArray
    value: float
    upper_bound: float
    gap: float
    status: str
    solver: str
    step_values: FloatArray
    directions: NDArray[np.int_]
    n_breakpoints: int
    milp: bool
    iterations: int
    build_seconds: float
    solve_seconds: float
    steps: list[StepCertificate] = field(default_factory=list)


class Stacked:
    """The period functions of ``n`` steps stacked: row ``k C + c`` is channel ``c`` at step k."""

    def __init__(self, f: PeriodModel, n: int) -> None:
        self.f, self.n = f, n
        self.c = len(np.asarray(f.coefficient))
        self.coefficient = np.tile(np.asarray(f.coefficient, dtype=float), n)
        self.concave = np.tile(np.asarray(f.concave, dtype=bool), n)
        self.revenue_concave = np.tile(np.asarray(f.revenue_concave, dtype=bool), n)
        start = getattr(f, "concave_from", None)  # where an S-shape turns concave, if known
        if start is not None:
            self.concave_from = np.tile(np.asarray(start, dtype=float), n)

    def _apply(self, name: str, x: Any) -> FloatArray:
        x = np.asarray(x, dtype=float)
        fn = getattr(self.f, name)
        c = self.c
        return np.concatenate(
            [np.asarray(fn(x[k * c:(k + 1) * c]), dtype=float) for k in range(self.n)], axis=0)

    def value(self, x: Any) -> FloatArray:
        return self._apply("value", x)

    def slope(self, x: Any) -> FloatArray:
        return self._apply("slope", x)

    def revenue(self, x: Any) -> FloatArray:
        return self._apply("revenue", x)

    def revenue_slope(self, x: Any) -> FloatArray:
        return self._apply("revenue_slope", x)

    def new_customers(self, x: Any) -> FloatArray:
        return self._apply("new_customers", x)

    def new_customers_slope(self, x: Any) -> FloatArray:
        return self._apply("new_customers_slope", x)


@dataclass(frozen=True)
class _Prep:
    x0: FloatArray
    lo: FloatArray          # (n, C)
    hi: FloatArray          # (n, C)
    budgets: FloatArray
    shares: list[tuple[ShareConstraint, NDArray[np.bool_]]]
    targets: list[tuple[TargetConstraint, NDArray[np.bool_]]]
    free: NDArray[np.bool_]  # channels whose path is not fixed
    both: NDArray[np.bool_]  # channels that may move either way (a direction binary)
    up: NDArray[np.bool_]    # channels that can only move up (or stay)

    @property
    def n(self) -> int:
        return int(self.lo.shape[0])

    @property
    def c(self) -> int:
        return int(self.lo.shape[1])


def _prepare(problem: PathProblem) -> _Prep:
    x0 = np.asarray(problem.start, dtype=float).reshape(-1)
    lo = np.atleast_2d(np.asarray(problem.lower, dtype=float))
    hi = np.atleast_2d(np.asarray(problem.upper, dtype=float))
    budgets = np.asarray(problem.budgets, dtype=float).reshape(-1)
    names = list(problem.names)
    if lo.shape != hi.shape or lo.shape[1] != len(x0) or len(x0) != len(names):
        raise InfeasibleError("glide path: bounds, start and channels differ in size")
    if lo.shape[0] != len(budgets) or len(budgets) < 1:
        raise InfeasibleError("glide path: one budget per step is needed")
    if np.any(hi < lo - 1e-9 * np.maximum(np.abs(hi), 1.0)):
        raise InfeasibleError("glide path: a step's lower bound lies above its upper bound")
    hi = np.maximum(hi, lo)
    shares = [(s, members_mask(s.members, names, f"constraint {s.name!r}"))
              for s in problem.shares]
    targets = [(t, members_mask(t.members, names, f"constraint {t.name!r}"))
               for t in problem.targets]
    free = np.any(hi > lo, axis=0)
    can_up = np.any(hi > x0[None, :], axis=0)
    can_down = np.any(lo < x0[None, :], axis=0)
    return _Prep(x0, lo, hi, budgets, shares, targets, free, free & can_up & can_down,
                 free & can_up & ~can_down)


def _positions(channel: NDArray[np.intp]) -> NDArray[np.intp]:
    n = len(channel)
    first = np.r_[True, channel[1:] != channel[:-1]] if n else np.zeros(0, dtype=bool)
    return np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))


def _affine(pairs: list[tuple[Any, float]]) -> Any:
    return pulp.LpAffineExpression([(v, c) for v, c in pairs if c != 0.0])


@dataclass
class _Result:
    x: FloatArray        # (n, C)
    objective: float
    bound: float
    proven: bool
    status: str
    milp: bool
    build_s: float
    solve_s: float
    directions: dict[int, float] = field(default_factory=dict)


def _solve_model(p: pc.Pieces, prep: _Prep, problem: PathProblem, *, solver: str,
                 mip_gap: float, monotone: bool, relax: bool = False,
                 fix: dict[int, float] | None = None) -> _Result:
    """One LP/MILP over the stacked pieces (see the module's description).

    ``relax`` lets the direction binaries be fractional (a relaxation: its optimum bounds the
    one-way problem); ``fix`` holds them at given values (a restriction: its paths are one-way).
    """
    t0 = time.perf_counter()
    n, c = prep.n, prep.c
    lo_flat = prep.lo.reshape(-1)
    ch = p.channel
    pos = _positions(ch)
    prob = pulp.LpProblem("roiste_path", pulp.LpMaximize)
    xs = [prob.add_variable(f"x_{r}_{j}", 0.0, 1.0) for r, j in zip(ch.tolist(), pos.tolist(),
                                                                   strict=True)]
    ln = p.length
    by_row: list[list[int]] = [[] for _ in range(n * c)]
    for i, r in enumerate(ch.tolist()):
        by_row[r].append(i)

    def spend(r: int, scale: float = 1.0) -> list[tuple[Any, float]]:
        return [(xs[i], scale * float(ln[i])) for i in by_row[r]]

    step_of = ch // c
    for k in range(n):
        in_k = step_of == k
        rows = slice(k * c, (k + 1) * c)
        lo_blk = lo_flat[rows]
        expr = _affine([(xs[i], float(ln[i])) for i in np.flatnonzero(in_k).tolist()])
        rhs = float(prep.budgets[k]) - float(lo_blk.sum())
        if problem.budget_mode == "equal":
            prob.addConstraint(expr == rhs, f"budget_{k}")
        else:
            prob.addConstraint(expr <= rhs, f"budget_{k}")
        chan = ch - k * c
        for j, (s, m) in enumerate(prep.shares):
            coef_c = m.astype(float)
            for key, share, sense in (("max", s.max_share, "<="), ("min", s.min_share, ">=")):
                if share is None:
                    continue
                cc = coef_c - share
                idx = np.flatnonzero(in_k)
                e = _affine([(xs[i], float(cc[chan[i]] * ln[i])) for i in idx.tolist()])
                r_ = -float(cc @ lo_blk)
                prob.addConstraint(e <= r_ if sense == "<=" else e >= r_, f"share_{key}_{j}_{k}")
        for j, (t, m) in enumerate(prep.targets):
            idx = np.flatnonzero(in_k & m[np.clip(chan, 0, c - 1)])
            if t.kind == "min_roas":
                w = t.revenue_weights(c)
                coefs = p.slopes["revenue"] * w[np.clip(chan, 0, c - 1)] - t.target
                off = p.offset["revenue"][rows] * w
                r_ = t.target * float(lo_blk[m].sum()) - float(off[m].sum())
            elif t.kind == "max_cac_net":
                # its own outcome r R - s x (see _outcomes), >= 0 over the members
                coefs = p.slopes[f"target_{j}"]
                r_ = -float(p.offset[f"target_{j}"][rows][m].sum())
            else:
                coefs = t.target * p.slopes["new_customers"] - 1.0
                r_ = float(lo_blk[m].sum()) - t.target * float(p.offset["new_customers"][rows][m].sum())
            e = _affine([(xs[i], float(coefs[i] * ln[i])) for i in idx.tolist()])
            prob.addConstraint(e >= r_, f"target_{j}_{k}")
    # boxes between consecutive steps and the one-way rows
    step = float(problem.step)
    is_milp = False
    ds: dict[int, Any] = {}
    for cc_ in np.flatnonzero(prep.free).tolist():
        if monotone and prep.both[cc_]:
            if fix is not None:
                v = float(fix.get(cc_, 1.0))
                ds[cc_] = prob.add_variable(f"d_{cc_}", v, v)
            elif relax:
                ds[cc_] = prob.add_variable(f"d_{cc_}", 0.0, 1.0)
            else:
                ds[cc_] = prob.add_variable(f"d_{cc_}", cat="Binary")
                is_milp = True
        for k in range(n):
            r = k * c + cc_
            lo_k, hi_k = float(prep.lo[k, cc_]), float(prep.hi[k, cc_])
            if k == 0:
                prev: list[tuple[Any, float]] = []
                lo_p = hi_p = float(prep.x0[cc_])
            else:
                prev = spend(r - c, -1.0)
                lo_p, hi_p = float(prep.lo[k - 1, cc_]), float(prep.hi[k - 1, cc_])
            if lo_k == hi_k and (k == 0 or lo_p == hi_p):
                continue  # both ends fixed: nothing to choose
            if k > 0:
                # x^k <= (1 + step) x^{k-1} and x^k >= (1 - step) x^{k-1}
                e_up = _affine(spend(r) + spend(r - c, -(1.0 + step)))
                prob.addConstraint(e_up <= (1.0 + step) * lo_p - lo_k, f"box_up_{r}")
                e_dn = _affine(spend(r) + spend(r - c, -(1.0 - step)))
                prob.addConstraint(e_dn >= (1.0 - step) * lo_p - lo_k, f"box_down_{r}")
            if not monotone:
                continue
            # x^k - x^{k-1} as an affine function: sum(len u) over r minus over r - c, + const
            diff = spend(r) + prev
            shift = lo_k - lo_p
            if cc_ in ds:
                d = ds[cc_]
                # the least and the most move: the static bounds' reach, and the step box
                # (|x^k - x^{k-1}| <= step x^{k-1} <= step hi_{k-1}), whichever is tighter
                m_down = max(lo_k - hi_p, -step * hi_p)
                m_up = min(hi_k - lo_p, step * hi_p)
                prob.addConstraint(_affine([*diff, (d, m_down)]) >= m_down - shift,
                                   f"oneway_up_{r}")
                prob.addConstraint(_affine([*diff, (d, -m_up)]) <= -shift, f"oneway_down_{r}")
            elif prep.up[cc_]:
                prob.addConstraint(_affine(diff) >= -shift, f"oneway_up_{r}")
            else:
                prob.addConstraint(_affine(diff) <= -shift, f"oneway_down_{r}")
    # S-shaped pieces: fill in order with binaries where some slope rises
    if not relax and p.ordered.any():
        last = pc.binary_prefix(p, tuple(p.slopes))
        starts = np.flatnonzero(np.r_[True, ch[1:] != ch[:-1]]) if p.n_pieces else np.zeros(0, int)
        counts = np.diff(np.r_[starts, p.n_pieces])
        for s0, cnt in zip(starts.tolist(), counts.tolist(), strict=True):
            r = int(ch[s0])
            if r >= len(last) or last[r] < 1:
                continue
            jmax = min(int(last[r]), cnt - 2)
            ys = []
            for j in range(jmax + 1):
                y = prob.add_variable(f"y_{r}_{j}", cat="Binary")
                ys.append(y)
                prob.addConstraint(xs[s0 + j] - y >= 0, f"fill_{r}_{j}")
                if j > 0:
                    prob.addConstraint(xs[s0 + j] - ys[j - 1] <= 0, f"next_{r}_{j}")
            tail = pulp.lpSum(xs[s0 + jmax + 1: s0 + cnt])
            prob.addConstraint(tail - (cnt - jmax - 1) * ys[jmax] <= 0, f"tail_{r}")
            is_milp = True
    prob.setObjective(_affine([(xs[i], float(p.slopes["value"][i] * ln[i]))
                               for i in range(p.n_pieces)]))
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        status = prob.solve(get_solver(solver, gap=mip_gap if is_milp else None))
    t2 = time.perf_counter()
    st = pulp.LpStatus[status]
    vals = np.array([v.varValue or 0.0 for v in xs]) if xs else np.zeros(0)
    vals = np.clip(vals, 0.0, 1.0) * ln
    x = lo_flat + np.bincount(ch, weights=vals, minlength=n * c)
    x = np.minimum(x, prep.hi.reshape(-1)).reshape(n, c)
    base = float(p.offset["value"].sum())
    obj = base + float(p.slopes["value"] @ vals)
    proven = st == "Optimal" and prob.sol_status == pulp.LpSolutionOptimal
    bound = math.inf
    if proven:
        bound = obj
        if is_milp:
            bound = obj + mip_gap * max(abs(obj), abs(obj - base), 1e-9 * float(prep.budgets.max()))
            if solver_key(solver) == "HiGHS":
                db = base - float(prob.solverModel.getInfo().mip_dual_bound)
                if math.isfinite(db):
                    bound = max(obj, db)
    dirs = {c_: float(round(v.varValue or 0.0)) for c_, v in ds.items()}
    return _Result(x, obj, bound, proven, st, is_milp, t1 - t0, t2 - t1, dirs)


def _directions(x: FloatArray, x0: FloatArray) -> NDArray[np.int_]:
    tol = 1e-9 * np.maximum(np.abs(x0), 1.0)
    end = x[-1]
    return np.where(end > x0 + tol, 1, np.where(end < x0 - tol, -1, 0)).astype(np.int_)


def _link_box(prep: _Prep, k: int, prev: FloatArray, direction: NDArray[np.int_], step: float,
              monotone: bool) -> tuple[FloatArray, FloatArray]:
    """Where step ``k`` may lie given the previous step (static bounds, box, direction)."""
    lo_s, hi_s = prep.lo[k], prep.hi[k]
    lo = np.maximum(lo_s, (1.0 - step) * prev)
    hi = np.minimum(hi_s, (1.0 + step) * prev)
    if monotone:
        lo = np.where(direction >= 0, np.maximum(lo, np.minimum(prev, hi_s)), lo)
        hi = np.where(direction <= 0, np.minimum(hi, np.maximum(prev, lo_s)), hi)
    bad = lo > hi
    return np.where(bad, lo_s, lo), np.where(bad, hi_s, hi)


def _repair(problem: PathProblem, prep: _Prep, x: FloatArray, monotone: bool) -> FloatArray:
    """Hold a solver's path to its rows exactly: clip each step into the box its previous step
    leaves it (one direction per channel), then spread the budget row's rounding."""
    d = _directions(x, prep.x0) if monotone else np.zeros(prep.c, dtype=np.int_)
    out = np.empty_like(x)
    prev = prep.x0
    for k in range(prep.n):
        lo, hi = _link_box(prep, k, prev, d, float(problem.step), monotone)
        xk = np.clip(x[k], lo, hi)
        r = float(prep.budgets[k]) - float(xk.sum())
        if not (problem.budget_mode == "at_most" and r >= 0) and r != 0:
            room = np.maximum(hi - xk if r > 0 else xk - lo, 0.0)
            if room.sum() > 0:
                xk = np.clip(xk + r * room / room.sum(), lo, hi)
        out[k] = xk
        prev = xk
    return out


def _feasible(problem: PathProblem, prep: _Prep, x: FloatArray, monotone: bool) -> bool:
    """Does the path meet every row on the true curves (to a relative 1e-9)?"""
    f = problem.functions
    step = float(problem.step)
    prev = prep.x0
    d = _directions(x, prep.x0)
    for k in range(prep.n):
        xk = x[k]
        b = float(prep.budgets[k])
        eps = 1e-9 * max(b, 1.0)
        total = float(xk.sum())
        if total > b + eps or (problem.budget_mode == "equal" and total < b - eps):
            return False
        tol_x = 1e-9 * np.maximum(prev, 1.0)
        if np.any(xk < prep.lo[k] - tol_x) or np.any(xk > prep.hi[k] + tol_x):
            return False
        moving = prep.hi[k] > prep.lo[k]
        if np.any(moving & (xk > (1.0 + step) * prev + tol_x)):
            return False
        if np.any(moving & (xk < (1.0 - step) * prev - tol_x)):
            return False
        if monotone and (np.any((d > 0) & (xk < prev - tol_x)) or
                         np.any((d < 0) & (xk > prev + tol_x)) or
                         np.any((d == 0) & (np.abs(xk - prev) > tol_x))):
            return False
        if not rows_met(f, xk, prep.shares, prep.targets, eps):
            return False
        prev = xk
    return True


def _initial_breakpoints(problem: PathProblem, prep: _Prep, odd: NDArray[np.bool_]) -> FloatArray:
    """Per stacked row: its bounds, where each step's marginals meet its budget's price on its
    static box, and the geometric path from the start to the last step's such point."""
    f = problem.functions
    n, c = prep.n, prep.c
    cols_lo = prep.lo.reshape(-1)
    cols_hi = prep.hi.reshape(-1)
    extra: list[FloatArray] = []
    floor = 0.0 if problem.budget_mode == "at_most" else None
    price_x = np.empty((n, c))
    per_step: list[list[FloatArray]] = []
    for k in range(n):
        lo, hi = prep.lo[k], prep.hi[k]
        if np.any(hi > lo):
            _, pts = pc.price_points(f.slope, lo, hi, float(prep.budgets[k]), floor=floor)
        else:
            pts = [lo]
        per_step.append(pts)
        price_x[k] = pts[-1]
    for j in range(max(len(p) for p in per_step)):
        extra.append(np.concatenate([p[min(j, len(p) - 1)] for p in per_step]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(prep.x0 > 0, price_x[-1] / np.where(prep.x0 > 0, prep.x0, 1.0), 1.0)
    geo = np.stack([prep.x0 * ratio ** ((k + 1) / n) for k in range(n)])
    extra.append(np.clip(geo, prep.lo, prep.hi).reshape(-1))
    odd = odd & (cols_hi > cols_lo)
    if odd.any():
        for u in np.linspace(0.0, 1.0, 17)[1:-1]:
            extra.append(np.where(odd, cols_lo + u * (cols_hi - cols_lo), np.nan))
    bp = np.stack([cols_lo, cols_hi], axis=1)
    return pc.merge_points(bp, np.stack(extra, axis=1))


def _outcomes(stacked: Stacked, prep: _Prep,
              revenue_concave: NDArray[np.bool_]) -> dict[str, tuple[Any, Any, Any]]:
    def tiled(t: TargetConstraint) -> tuple[FloatArray, FloatArray]:
        r, s = t.net_weights(prep.c)
        return np.tile(r, prep.n), np.tile(s, prep.n)

    return outcomes(stacked, prep.targets, tiled, revenue_concave)


def solve_path(
    problem: PathProblem,
    *,
    tol: float = 1e-4,
    solver: str = "CBC",
    max_rounds: int = 15,
) -> PathSolution:
    """Optimise a glide path and certify it: ``value <= optimum <= upper_bound``.

    The objective is the sum over the steps of the channels' values; every step meets its
    budget, shares and targets on the true curves, stays inside its box around the previous
    step, and (``monotone``) every channel moves one way along the whole path.

    Parameters
    ----------
    problem : PathProblem
    tol : float, default=1e-4
        Target certified relative gap of the summed objective.
    solver : str, default="CBC"
        ``"CBC"`` or ``"HiGHS"``.
    max_rounds : int, default=15
        Rounds of breakpoint refinement.

    Returns
    -------
    PathSolution
        Without per-step certificates; see :func:`certify_steps`.

    Raises
    ------
    InfeasibleError
        When no path meets the rows (with ``monotone``: no one-way path does).
    """
    prep = _prepare(problem)
    n, c = prep.n, prep.c
    monotone = bool(problem.monotone)
    f = problem.functions
    stacked = Stacked(f, n)
    scale = float(np.sum(np.abs(prep.budgets)))
    if not prep.free.any():
        x = prep.lo.copy()
        if not _feasible(problem, prep, x, monotone):
            raise InfeasibleError("glide path: every channel is held, and the held spend misses "
                                  "a constraint")
        vals = np.array([float(np.sum(f.value(x[k]))) for k in range(n)])
        return PathSolution(x, float(vals.sum()), float(vals.sum()), 0.0, "optimal",
                            solver_key(solver), vals, np.zeros(c, dtype=np.int_), 2 * c, False,
                            0, 0.0, 0.0)
    lo_flat, hi_flat = prep.lo.reshape(-1), prep.hi.reshape(-1)
    # concave on each step's static box: an S-shape whose box starts above its inflection
    conc, rev_conc = concave_on_box(stacked, lo_flat)
    outs = _outcomes(stacked, prep, rev_conc)
    split = "revenue" if "revenue" in outs else "value"
    inflection = pc.inflection_points(stacked.revenue_slope, lo_flat, hi_flat,
                                      ~rev_conc & (hi_flat > lo_flat))
    ordered = ~(conc & rev_conc)
    bp = _initial_breakpoints(problem, prep, ordered)
    mip_gap = min(tol / 20.0, 1e-6)
    best_x: FloatArray | None = None
    best_lb, best_ub = -math.inf, math.inf
    build_s = solve_s = 0.0
    milp = False
    status = "not solved"
    n_rounds = 0
    unproven = 0
    for rounds in range(1, max_rounds + 1):
        tb = time.perf_counter()
        ev = {name: (pc.Outcome(np.asarray(v(bp), dtype=float), np.asarray(s(bp), dtype=float)), fl)
              for name, (v, s, fl) in outs.items()}
        lower_p, upper_p = pc.build(bp, ev, split, inflection, ordered)
        build_s += time.perf_counter() - tb
        up = _solve_model(upper_p, prep, problem, solver=solver, mip_gap=mip_gap,
                          monotone=monotone)
        build_s += up.build_s
        solve_s += up.solve_s
        milp = milp or up.milp
        if up.status == "Infeasible":
            what = "that moves every channel one way " if monotone else ""
            raise InfeasibleError(
                f"no glide path {what}meets the budget, shares and targets at every step within "
                "the step boxes")
        # the inner problem with the outer solution's directions: an LP whose paths are one-way
        # (it gives the lower bound; the outer MILP alone bounds the optimum)
        lw = _solve_model(lower_p, prep, problem, solver=solver, mip_gap=mip_gap,
                          monotone=monotone, fix=up.directions if up.proven else None)
        build_s += lw.build_s
        solve_s += lw.solve_s
        cands = [up.x] + ([lw.x] if lw.status in ("Optimal", "Not Solved") else [])
        for cand in cands:
            xr = _repair(problem, prep, cand, monotone)
            if _feasible(problem, prep, xr, monotone):
                v = float(np.sum(stacked.value(xr.reshape(-1))))
                if v > best_lb:
                    best_lb, best_x = v, xr
        if up.proven and up.milp and best_lb > up.bound + 1e-7 * max(abs(up.bound), scale):
            up.proven = False  # a MILP "optimum" below a path's true value bounds nothing
        if not up.proven:
            rel = _solve_model(upper_p, prep, problem, solver=solver, mip_gap=mip_gap,
                               monotone=monotone, relax=True)
            build_s += rel.build_s
            solve_s += rel.solve_s
            up.bound = rel.bound
            unproven += 1
        best_ub = min(best_ub, up.bound + 1e-9 * max(abs(up.bound), scale))
        n_rounds = rounds
        if relative_gap(best_lb, best_ub, scale) <= tol:
            status = "optimal"
            break
        bp = _refine(stacked, upper_p, bp, lo_flat, hi_flat, up.x.reshape(-1),
                     lw.x.reshape(-1), best_lb, best_ub)
    else:
        status = "gap_above_tolerance" if not unproven else "milp_not_proven"
    if best_x is None:
        raise InfeasibleError(
            "glide path: every path found misses a target on the curves; loosen the targets "
            "or the bounds")
    vals = np.array([float(np.sum(f.value(best_x[k]))) for k in range(n)])
    n_bp = int(np.sum(np.diff(bp, axis=1) > 0) + len(bp))
    return PathSolution(
        x=best_x, value=best_lb, upper_bound=max(best_ub, best_lb),
        gap=relative_gap(best_lb, best_ub, scale), status=status, solver=solver_key(solver),
        step_values=vals, directions=_directions(best_x, prep.x0), n_breakpoints=n_bp,
        milp=milp, iterations=n_rounds, build_seconds=build_s, solve_seconds=solve_s)


def _refine(stacked: Stacked, upper: pc.Pieces, bp: FloatArray, lo: FloatArray,
            hi: FloatArray, x_up: FloatArray, x_lo: FloatArray, lb: float,
            ub: float) -> FloatArray:
    """Breakpoints at the outer and inner solutions and around the outer one, where the outer
    pieces overstate the value there (a cutting-plane step, as for one step)."""
    over = upper.evaluate("value", x_up, lo) - np.asarray(stacked.value(x_up), dtype=float)
    n_free = max(int(np.sum(hi > lo)), 1)
    pick = over > 1e-3 * max(ub - lb, 0.0) / n_free
    if not pick.any():
        pick = hi > lo
    j = np.clip(np.sum(bp < x_up[:, None], axis=1), 1, bp.shape[1] - 1)
    left = np.take_along_axis(bp, (j - 1)[:, None], 1)[:, 0]
    right = np.take_along_axis(bp, j[:, None], 1)[:, 0]
    new = np.stack([x_up, x_lo, 0.5 * (left + x_up), 0.5 * (x_up + right)], axis=1)
    return pc.merge_points(bp, np.where(pick[:, None], new, np.nan))


def step_boxes(problem: PathProblem, x: FloatArray) -> list[tuple[FloatArray, FloatArray]]:
    """The box of each step with its neighbours held: what keeps the path within its step
    boxes and one-way (the current spend before step 1; nothing after the last step).

    Parameters
    ----------
    problem : PathProblem
    x : ndarray (n, C)
        The path.

    Returns
    -------
    list of (lower, upper)
        One box per step; each contains the step's own spend.
    """
    prep = _prepare(problem)
    step = float(problem.step)
    n = prep.n
    out = []
    for k in range(n):
        prev = prep.x0 if k == 0 else x[k - 1]
        lo = np.maximum(prep.lo[k], (1.0 - step) * prev)
        hi = np.minimum(prep.hi[k], (1.0 + step) * prev)
        if k + 1 < n:
            nxt = x[k + 1]
            lo = np.maximum(lo, nxt / (1.0 + step))
            hi = np.minimum(hi, nxt / (1.0 - step))
            if problem.monotone:
                lo = np.maximum(lo, np.minimum(prev, nxt))
                hi = np.minimum(hi, np.maximum(prev, nxt))
        elif problem.monotone:
            before = prep.x0 if k == 0 else x[k - 1]
            start = prep.x0
            lo = np.where(before > start, np.maximum(lo, before), lo)
            hi = np.where(before < start, np.minimum(hi, before), hi)
        fixed = prep.lo[k] >= prep.hi[k]
        lo = np.where(fixed, prep.lo[k], np.minimum(lo, x[k]))
        hi = np.where(fixed, prep.hi[k], np.maximum(hi, x[k]))
        out.append((lo, hi))
    return out


def certify_steps(
    problem: PathProblem, path: PathSolution, *, tol: float = 1e-4, solver: str = "CBC"
) -> PathSolution:
    """Certify each step of a path with its neighbours held (see the module's description).

    Parameters
    ----------
    problem : PathProblem
    path : PathSolution
        From :func:`solve_path` (or any path that meets the rows).
    tol, solver
        As in :func:`roiste.optimizer.lp.solve`.

    Returns
    -------
    PathSolution
        ``path`` with one :class:`StepCertificate` per step.
    """
    f = problem.functions
    certs: list[StepCertificate] = []
    for k, (lo, hi) in enumerate(step_boxes(problem, path.x)):
        xk = path.x[k]
        value = float(np.sum(f.value(xk)))
        budget = float(problem.budgets[k])
        sub = AllocationProblem(names=list(problem.names), lower=lo, upper=hi, functions=f,
                                budget=budget, budget_mode=problem.budget_mode,
                                shares=list(problem.shares), targets=list(problem.targets))
        try:
            sol = solve(sub, tol=tol, solver=solver)
        except InfeasibleError:
            # the box holds the step's own spend, which meets the rows on the true curves;
            # only the pieces' rounding can make the solver miss it: no bound then
            certs.append(StepCertificate(value, math.inf, math.inf, "not_certified", lo, hi,
                                         None, 0, False, 0, 0.0, 0.0))
            continue
        ub = max(float(sol.upper_bound), value)
        gap = relative_gap(value, ub, budget)
        certs.append(StepCertificate(
            value=value, upper_bound=ub, gap=gap,
            status="optimal" if gap <= tol else "gap_above_tolerance", lower=lo, upper=hi,
            shadow_price=None if sol.shadow_price is None or not math.isfinite(sol.shadow_price)
            else float(sol.shadow_price),
            n_breakpoints=int(sol.n_breakpoints), milp=bool(sol.milp),
            iterations=int(sol.iterations or 0), build_seconds=float(sol.build_seconds),
            solve_seconds=float(sol.solve_seconds)))
    return replace(path, steps=certs)


# --------------------------------------------------------------------------- CVaR paths


@dataclass
class _CvarRound:
    x: FloatArray        # (n, C)
    bound: float
    proven: bool
    status: str
    build_s: float
    solve_s: float
    over: FloatArray     # per stacked row: how far its value variables overstate the curves
    t: float = math.nan  # the LP's threshold of the worst draws


MAX_LPS = 400
"""Most LPs the branch and cut of a CVaR path solves before it returns with its gap."""

ROUND_FROM = 4
"""Turning-back channels from which a node's path is first rounded to one way (one LP)."""


def tail_weights(uplift: Any, level: float) -> FloatArray:
    """The weight of each draw in the CVaR at ``level``: ``1 / (level D)`` for the worst
    ``floor(level D)`` draws, the fractional rest for the next one, 0 for the others (ties
    broken by the draw's order), so that ``weights @ uplift == cvar(uplift, level)``.

    Parameters
    ----------
    uplift : array (D,)
    level : float
        Share in (0, 1].

    Returns
    -------
    ndarray (D,)
    """
    u = np.asarray(uplift, dtype=float).reshape(-1)
    k = float(level) * len(u)
    order = np.argsort(u, kind="stable")
    whole = math.floor(k + 1e-12)
    w = np.zeros(len(u))
    w[order[:whole]] = 1.0
    if whole < len(u) and k - whole > 1e-12:
        w[order[whole]] = k - whole
    return w / k


class _CvarLP:
    """The LP of a CVaR path (see :func:`solve_path_cvar`) for one set of breakpoints and
    draws: the spends ``x^k_c`` as variables, each draw's value of each (step, channel) below
    its tangents at ``bp``, and (``monotone``) one relaxed direction variable ``d_c`` in [0, 1]
    per channel that can move both ways (up when 1).

    Built once and solved for any node of the search: :meth:`solve` holds the given channels'
    ``d_c`` at 1 (up or unchanged) or 0 (down), which leaves the rows ``x^k - x^{k-1} >= 0`` or
    ``<= 0`` (the other one-way row is then the static bounds' reach, implied); with every
    channel held, an LP whose paths are one-way.  ``active`` keeps the tail rows of some draws
    only: the others' excess below the threshold counts 0, so the optimum still bounds the
    CVaR from above."""

    def __init__(self, prep: _Prep, problem: PathProblem, draws: DrawModel, base: FloatArray,
                 level: float, bp: FloatArray, *, solver: str, monotone: bool,
                 active: NDArray[np.bool_] | None = None) -> None:
        t0 = time.perf_counter()
        n, c = prep.n, prep.c
        s_n = int(draws.n_draws)
        lo, hi = prep.lo.reshape(-1), prep.hi.reshape(-1)
        free = hi > lo
        prob = pulp.LpProblem("roiste_path_cvar", pulp.LpMaximize)
        add = prob.add_variable
        le, ge, eq = pulp.LpConstraintLE, pulp.LpConstraintGE, pulp.LpConstraintEQ

        def row(terms: list[tuple[Any, float]], sense: int, rhs: float, name: str) -> None:
            prob.addConstraint(pulp.LpConstraint(_affine(terms), sense=sense, rhs=rhs), name)

        xv: list[Any] = [add(f"x_{r}", float(lo[r]), float(hi[r])) if free[r] else None
                         for r in range(n * c)]

        def term(r: int, coef: float) -> tuple[list[tuple[Any, float]], float]:
            """``coef x_r`` as variable terms and a constant."""
            return ([(xv[r], coef)], 0.0) if free[r] else ([], coef * float(lo[r]))

        # values per draw: (S, n C, K) at the breakpoints, and the fixed rows' constants
        vals = np.concatenate([np.asarray(draws.value(bp[k * c:(k + 1) * c]), dtype=float)
                               for k in range(n)], axis=1)
        slps = np.concatenate([np.asarray(draws.slope(bp[k * c:(k + 1) * c]), dtype=float)
                               for k in range(n)], axis=1)
        same = np.all(vals == vals[:1], axis=(0, 2)) & np.all(slps == slps[:1], axis=(0, 2))
        fixed_value = np.concatenate([np.asarray(draws.value(lo[k * c:(k + 1) * c]),
                                                 dtype=float) for k in range(n)], axis=1)
        const = fixed_value[:, ~free].sum(axis=1)
        use = np.arange(s_n) if active is None else np.flatnonzero(active)
        v_of: list[list[Any]] = [[] for _ in range(n * c)]  # per stacked row, per used draw
        for r in np.flatnonzero(free).tolist():
            v_of[r] = [add(f"v_{r}")] * len(use) if same[r] else [
                add(f"v_{r}_{s}") for s in use.tolist()]
        prob.extend(cut_rows(v_of, xv, bp, vals, slps, free, same, use.tolist()))
        t = add("t")
        z = [add(f"z_{s}", 0.0) for s in use.tolist()]
        rows_free = np.flatnonzero(free).tolist()
        for i_, s in enumerate(use.tolist()):
            terms = [(z[i_], 1.0), (t, -1.0)] + [(v_of[r][i_], 1.0) for r in rows_free]
            row(terms, ge, float(n * base[s] - const[s]), f"tail_{s}")
        # each step's budget and shares
        for k in range(n):
            terms, fixed = [], 0.0
            for cc_ in range(c):
                tr, k_ = term(k * c + cc_, 1.0)
                terms += tr
                fixed += k_
            rhs = float(prep.budgets[k]) - fixed
            row(terms, eq if problem.budget_mode == "equal" else le, rhs, f"budget_{k}")
            for j, (sh, m) in enumerate(prep.shares):
                for key, share, sense in (("max", sh.max_share, le), ("min", sh.min_share, ge)):
                    if share is None:
                        continue
                    terms, fixed = [], 0.0
                    for cc_ in range(c):
                        tr, k_ = term(k * c + cc_, float(m[cc_]) - float(share))
                        terms += tr
                        fixed += k_
                    row(terms, sense, -fixed, f"share_{key}_{j}_{k}")
        # the boxes between consecutive steps, and one direction per channel
        step = float(problem.step)
        ds: dict[int, Any] = {}
        for cc_ in np.flatnonzero(prep.free).tolist():
            d = None
            if monotone and prep.both[cc_]:
                d = ds[cc_] = add(f"d_{cc_}", 0.0, 1.0)  # the direction binary, relaxed
            for k in range(n):
                r = k * c + cc_
                lo_k, hi_k = float(prep.lo[k, cc_]), float(prep.hi[k, cc_])
                if k == 0:
                    lo_p = hi_p = float(prep.x0[cc_])
                    prev: tuple[list[tuple[Any, float]], float] = ([], lo_p)
                else:
                    lo_p, hi_p = float(prep.lo[k - 1, cc_]), float(prep.hi[k - 1, cc_])
                    prev = term(r - c, 1.0)
                if lo_k == hi_k and (k == 0 or lo_p == hi_p):
                    continue
                cur_t, cur_c = term(r, 1.0)
                prev_t, prev_c = prev
                if k > 0:
                    for sense, f_, nm in ((le, 1.0 + step, "box_up"),
                                          (ge, 1.0 - step, "box_down")):
                        row(cur_t + [(v, -f_ * a) for v, a in prev_t], sense,
                            f_ * prev_c - cur_c, f"{nm}_{r}")
                if not monotone:
                    continue
                diff = cur_t + [(v, -a) for v, a in prev_t]
                shift = cur_c - prev_c  # x^k - x^{k-1} = diff + shift
                if d is not None:
                    m_down = max(lo_k - hi_p, -step * hi_p)
                    m_up = min(hi_k - lo_p, step * hi_p)
                    row([*diff, (d, m_down)], ge, m_down - shift, f"oneway_up_{r}")
                    row([*diff, (d, -m_up)], le, -shift, f"oneway_down_{r}")
                elif prep.up[cc_]:
                    row(diff, ge, -shift, f"oneway_up_{r}")
                else:
                    row(diff, le, -shift, f"oneway_down_{r}")
        prob.setObjective(_affine([(t, 1.0)] + [(zs, -1.0 / (level * s_n)) for zs in z]))
        self.prob, self.xv, self.vv, self.t, self.ds = prob, xv, v_of, t, ds
        self.prep, self.draws, self.use, self.free, self.lo, self.hi = (
            prep, draws, use, free, lo, hi)
        self.solver = solver
        self.build_s = time.perf_counter() - t0  # counted with the first solve

    def solve(self, fix: dict[int, int] | None = None) -> _CvarRound:
        """Solve with the channels of ``fix`` held to a direction (+1 up, -1 down)."""
        t1 = time.perf_counter()
        fix = fix or {}
        for cc_, d in self.ds.items():
            v = fix.get(cc_)
            d.lowBound, d.upBound = (0.0, 1.0) if v is None else (
                (1.0, 1.0) if v >= 0 else (0.0, 0.0))
        prob, n, c = self.prob, self.prep.n, self.prep.c
        lo, hi, free = self.lo, self.hi, self.free
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            status = prob.solve(get_solver(self.solver))
        t2 = time.perf_counter()
        build_s, self.build_s = self.build_s, 0.0
        st = pulp.LpStatus[status]
        x = np.array([float(self.xv[r].varValue or 0.0) if free[r] else float(lo[r])
                      for r in range(n * c)])
        x = np.clip(x, lo, hi)
        proven = st == "Optimal" and prob.sol_status == pulp.LpSolutionOptimal
        bound = float(pulp.value(prob.objective) or 0.0) if proven else math.inf
        over = np.zeros(n * c)
        if proven:
            at = np.concatenate([np.asarray(self.draws.value(x[k * c:(k + 1) * c]),
                                            dtype=float) for k in range(n)], axis=1)  # (S, n C)
            for r in np.flatnonzero(free).tolist():
                got = np.array([float(v.varValue or 0.0) for v in self.vv[r]])
                over[r] = float(np.max(got - at[self.use, r]))
        return _CvarRound(x.reshape(n, c), bound, proven, st, build_s, t2 - t1, over,
                          float(self.t.varValue or 0.0) if proven else math.nan)


@dataclass(frozen=True)
class PathCvarSolution:
    """A certified CVaR glide path and its per-draw uplift.

    ``path.value`` is the true CVaR of the path's uplift summed over its steps and
    ``path.upper_bound`` one no path exceeds; ``path.step_values`` each step's share of the
    CVaR (its uplift averaged over the path's worst draws, so the shares add up to the
    value); ``uplift`` the summed uplift in each draw.
    """

    path: PathSolution
    uplift: FloatArray


def solve_path_cvar(
    problem: PathProblem,
    draws: DrawModel,
    level: float,
    *,
    candidates: Sequence[Any] = (),
    tol: float = 1e-4,
    solver: str = "CBC",
    max_rounds: int = 30,
) -> PathCvarSolution:
    """Maximise the CVaR over curve draws of a glide path's summed uplift, certified.

    In draw ``d`` the path's uplift is ``U_d = sum_k sum_c V_dc(x^k_c) - V_dc(x0_c)``: what the
    steps earn over keeping the current spend for as many steps.  The objective is its CVaR
    at ``level`` (the mean of the worst ``level`` share of the draws), in the
    Rockafellar-Uryasev form ``max t - 1 / (level D) sum_d u_d`` with ``u_d >= t - U_d``,
    ``u_d >= 0``, each ``V_dc`` bounded above by its tangents at the breakpoints.  The rows
    are those of :func:`solve_path`: each step's budget and shares, the step boxes, and
    (``monotone``) one direction per channel through one binary per channel that can move
    both ways.

    Certificate: the tangents lie above every concave ``V_dc``, and leaving a draw's tail row
    out or a binary fractional only relaxes, so each LP of a branch and cut bounds the paths
    it keeps; the best open node's bound bounds every one-way path (nodes fix directions, are
    split on the channel whose relaxed path turns back most, and get new tangents where a
    one-way solution's are loose, or any solution's when that overstatement is most of the
    node's distance to the best path found, and the draws a solution falls below the
    threshold in).  The lower bound is the exact CVaR, on the draws' own curves, of the best
    path found (the LPs' solutions repaired onto their rows, a node's path held to its net
    directions when many channels turn back, and the ``candidates``).  It stops when the two
    meet within ``tol``, or after ``max_rounds`` refinements or :data:`MAX_LPS` LPs with the
    gap reached.

    Parameters
    ----------
    problem : PathProblem
        Start, bounds, budgets, shares; no targets (their rows live on the curves: plan such
        a path on the expected value).
    draws : DrawModel
        Each draw's period values; every free channel's concave in every draw.
    level : float
        Share of the worst draws averaged, in (0, 1]; 1 gives the mean uplift.
    candidates : sequence of arrays (n, C)
        Paths tried for the lower bound (e.g. the expected path).
    tol : float, default=1e-4
        Target certified relative gap (floor: 1 % of the budgets summed).
    solver : str, default="CBC"
    max_rounds : int, default=30

    Returns
    -------
    PathCvarSolution

    Raises
    ------
    InfeasibleError
        When no path meets the rows.
    ValueError
        When the problem has targets, there are no draws, or ``level`` is outside (0, 1].
    """
    if not 0.0 < level <= 1.0:
        raise ValueError(f"CVaR level must lie in (0, 1], got {level}")
    if problem.targets:
        raise ValueError("a CVaR glide path takes no targets")
    s_n = int(draws.n_draws)
    if s_n < 1:
        raise ValueError("a CVaR glide path needs curve draws")
    prep = _prepare(problem)
    n, c = prep.n, prep.c
    monotone = bool(problem.monotone)
    scale = float(np.sum(np.abs(prep.budgets)))
    base = np.asarray(draws.value(prep.x0), dtype=float).sum(axis=1)

    def exact(x: FloatArray) -> tuple[float, FloatArray, FloatArray]:
        per = np.stack([np.asarray(draws.value(x[k]), dtype=float).sum(axis=1) - base
                        for k in range(n)])  # (n, S)
        u = per.sum(axis=0)
        return cvar(u, level), u, per

    best_x: FloatArray | None = None
    best_lb, best_ub = -math.inf, math.inf
    first = list(candidates[:1])  # the candidate whose tangents the LPs start with
    for cand in candidates:
        xr = _repair(problem, prep, np.asarray(cand, dtype=float).reshape(n, c), monotone)
        if _feasible(problem, prep, xr, monotone):
            v = exact(xr)[0]
            if v > best_lb:
                best_lb, best_x, first = v, xr, [cand]
    lo_flat, hi_flat = prep.lo.reshape(-1), prep.hi.reshape(-1)
    start = np.clip(np.tile(prep.x0, n), lo_flat, hi_flat)
    cols = [lo_flat + q * (hi_flat - lo_flat) for q in (0.25, 0.5, 0.75)] + [start]
    # tangents at the best candidate only: another one (a plan's path under a constraint that
    # is priced) may lie far from the optimum, and its tangents only add rows
    cols += [np.clip(np.asarray(cd, dtype=float).reshape(-1), lo_flat, hi_flat) for cd in first]
    bp = pc.merge_points(np.stack([lo_flat, hi_flat], axis=1), np.stack(cols, axis=1))
    build_s = solve_s = 0.0
    status = "gap_above_tolerance"
    unproven = 0
    rounds = 0
    n_free = max(int(np.sum(hi_flat > lo_flat)), 1)
    branching = monotone and bool(prep.both.any())

    def consider(x: FloatArray) -> None:
        nonlocal best_lb, best_x
        xr = _repair(problem, prep, x, monotone)
        if _feasible(problem, prep, xr, monotone):
            v = exact(xr)[0]
            if v > best_lb:
                best_lb, best_x = v, xr

    model: tuple[int, _CvarLP] | None = None

    def run(fix: dict[int, int] | None) -> _CvarRound:
        nonlocal build_s, solve_s, model
        if model is None or model[0] != version:
            model = (version, _CvarLP(prep, problem, draws, base, level, bp, solver=solver,
                                      monotone=monotone, active=active))
        r = model[1].solve(fix)
        build_s += r.build_s
        solve_s += r.solve_s
        if r.proven:
            consider(r.x)
        return r

    def reversal(x: FloatArray) -> FloatArray:
        """Per channel, how far its path moves against its main direction."""
        moves = np.diff(np.vstack([prep.x0, x]), axis=0)
        return np.minimum(np.maximum(moves, 0.0).sum(axis=0), np.maximum(-moves, 0.0).sum(axis=0))

    def refine(tried: Sequence[_CvarRound]) -> None:
        nonlocal bp
        gap_abs = best_ub - best_lb if math.isfinite(best_ub - best_lb) else scale
        for r_ in tried:
            pick = (r_.over > 1e-3 * gap_abs / n_free) & (hi_flat > lo_flat)
            if not pick.any():
                pick = hi_flat > lo_flat
            xu = r_.x.reshape(-1)
            j = np.clip(np.sum(bp < xu[:, None], axis=1), 1, bp.shape[1] - 1)
            left = np.take_along_axis(bp, (j - 1)[:, None], 1)[:, 0]
            right = np.take_along_axis(bp, j[:, None], 1)[:, 0]
            new = np.stack([xu, 0.5 * (left + xu), 0.5 * (xu + right)], axis=1)
            bp = pc.merge_points(bp, np.where(pick[:, None], new, np.nan))

    # the draws whose tail rows the LPs hold: at first the worst of the best path so far (its
    # tail and two more), then every draw a node's path leaves below the LP's threshold
    active = np.ones(s_n, dtype=bool)
    if best_x is not None:
        tail = min(s_n, math.ceil(level * s_n) + 2)
        active[:] = False
        active[np.argsort(exact(best_x)[1], kind="stable")[:tail]] = True
    # Branch and cut.  The open nodes partition the one-way paths by the directions they fix
    # (the others' binaries fractional); each node's bound holds for every path it keeps, and
    # stays valid as the tangents are refined and draws added (both only lower it), so the
    # best open bound bounds every one-way path.  The best node is re-solved when its LP is
    # older than the last refinement (one LP per version of the breakpoints and draws, its
    # direction variables held per node), given the draws its path falls below the threshold
    # in, split on the channel its path turns back on most, or, when its path is one-way (no
    # branching can lower it) or the tangents' overstatement of its path is most of its
    # distance to the best path found, the tangents are refined where they overstate that
    # path.  When many channels turn back, the node's path held to its net directions (one LP)
    # first gives a one-way path near it, for the lower bound.
    version = 0
    rounded = -1
    serial = 0
    lps = 0
    heap: list[tuple[float, int, dict[int, int], _CvarRound | None, int]] = [
        (-math.inf, 0, {}, None, -1)]
    while heap:
        nb, _, fix, node, ver = heapq.heappop(heap)
        bound = -nb
        best_ub = min(best_ub, bound + 1e-9 * max(abs(bound), scale))
        if relative_gap(best_lb, best_ub, scale) <= tol:
            status = "optimal"
            break
        if node is None or ver < version:
            if lps >= MAX_LPS:
                break
            r = run(fix)
            lps += 1
            if r.status == "Infeasible":
                continue  # no path keeps these directions
            if not r.proven:
                unproven += 1
                break  # the bound so far stands
            serial += 1
            heapq.heappush(heap, (-min(bound, r.bound), serial, fix, r, version))
            continue
        missed = ~active & (exact(node.x)[1] < node.t - 1e-9 * max(scale, 1.0))
        if missed.any():
            active |= missed  # the LP left out draws its path falls below the threshold in
            version += 1
            serial += 1
            heapq.heappush(heap, (nb, serial, fix, node, ver))
            continue
        turn = prep.both & (reversal(node.x) > 1e-9 * max(scale, 1.0)) if branching else (
            np.zeros(c, dtype=bool))
        turn[list(fix)] = False
        if int(turn.sum()) >= ROUND_FROM and rounded != version and lps < MAX_LPS:
            # many channels turn back (each a branch): first a one-way path near the node's,
            # every channel held to its net direction, for the lower bound (once per version)
            rounded = version
            net = {cc_: (1 if node.x[-1, cc_] >= prep.x0[cc_] else -1)
                   for cc_ in np.flatnonzero(prep.both).tolist()}
            lps += 1
            run({**net, **fix})  # a restriction: its path counts, not its bound
            serial += 1
            heapq.heappush(heap, (nb, serial, fix, node, ver))
            continue
        # how much of the node's bound is the tangents' overstatement of its own path (on the
        # draws' curves) rather than its turning back: when that is most, refine, not split
        loose = bool(turn.any()) and rounds < max_rounds and (
            node.bound - exact(node.x)[0] > 0.5 * (bound - best_lb))
        if turn.any() and not loose:
            ch_ = int(np.argmax(np.where(turn, reversal(node.x), -1.0)))
            for dir_ in (1, -1):
                serial += 1
                heapq.heappush(heap, (nb, serial, {**fix, ch_: dir_}, None, -1))
            continue
        serial += 1
        heapq.heappush(heap, (nb, serial, fix, node, ver))
        if rounds >= max_rounds:
            break
        rounds += 1
        refine([node])
        version += 1
    else:
        if best_x is None:
            what = "that moves every channel one way " if monotone else ""
            raise InfeasibleError(
                f"no glide path {what}meets the budget and shares at every step within the "
                "step boxes")
    if status != "optimal":
        status = "gap_above_tolerance" if not unproven else "milp_not_proven"
    if best_x is None:
        raise InfeasibleError("glide path: the solver found no path that meets the rows")
    value, u, per = exact(best_x)
    w = tail_weights(u, level)
    n_bp = int(np.sum(np.diff(bp, axis=1) > 0) + len(bp))
    sol = PathSolution(
        x=best_x, value=value, upper_bound=max(best_ub, value),
        gap=relative_gap(value, best_ub, scale), status=status, solver=solver_key(solver),
        step_values=per @ w, directions=_directions(best_x, prep.x0), n_breakpoints=n_bp,
        milp=branching, iterations=rounds, build_seconds=build_s, solve_seconds=solve_s)
    return PathCvarSolution(sol, u)


def certify_steps_cvar(
    problem: PathProblem, path: PathCvarSolution, draws: DrawModel, level: float, *,
    tol: float = 1e-4, solver: str = "CBC"
) -> PathCvarSolution:
    """Certify each step of a CVaR path with its neighbours held.

    Step ``k``'s value is its share of the path's CVaR (``path.step_values``); its upper
    bound adds the most the path's CVaR can gain when step ``k`` alone moves inside the box
    its neighbours and the one-way rule leave it (:func:`step_boxes`), bounded by
    :func:`solve_path_cvar` with the other steps held.

    Parameters
    ----------
    problem : PathProblem
    path : PathCvarSolution
        From :func:`solve_path_cvar`.
    draws, level
        As given to :func:`solve_path_cvar`.
    tol, solver
        As in :func:`solve_path_cvar`.

    Returns
    -------
    PathCvarSolution
        ``path`` with one :class:`StepCertificate` per step (no shadow price).
    """
    sol = path.path
    scale = float(np.sum(np.abs(np.asarray(problem.budgets, dtype=float))))
    certs: list[StepCertificate] = []
    for k, (lo, hi) in enumerate(step_boxes(problem, sol.x)):
        lower, upper = sol.x.copy(), sol.x.copy()
        lower[k], upper[k] = lo, hi
        sub = replace(problem, lower=lower, upper=upper, monotone=False)
        share = float(sol.step_values[k])
        try:
            res = solve_path_cvar(sub, draws, level, candidates=(sol.x,), tol=tol,
                                  solver=solver).path
        except InfeasibleError:
            certs.append(StepCertificate(share, math.inf, math.inf, "not_certified", lo, hi,
                                         None, 0, False, 0, 0.0, 0.0))
            continue
        gain = max(float(res.upper_bound) - sol.value, 0.0)
        ub = share + gain
        # the gap of the path's CVaR with this step free, on the path's scale
        gap = relative_gap(sol.value, sol.value + gain, scale)
        certs.append(StepCertificate(
            value=share, upper_bound=ub, gap=gap,
            status="optimal" if gap <= tol else "gap_above_tolerance", lower=lo, upper=hi,
            shadow_price=None, n_breakpoints=res.n_breakpoints, milp=False,
            iterations=res.iterations, build_seconds=res.build_seconds,
            solve_seconds=res.solve_seconds))
    return replace(path, path=replace(sol, steps=certs))


__all__ = [
    "PathCvarSolution",
    "PathProblem",
    "PathSolution",
    "Stacked",
    "StepCertificate",
    "certify_steps",
    "certify_steps_cvar",
    "solve_path",
    "solve_path_cvar",
    "step_boxes",
    "tail_weights",
]
