"""The scenario LP: an allocation that maximises the CVaR of its uplift over curve draws.

Each draw ``s`` of the curves gives every channel a concave period value ``V_sc``.  The plan's
uplift in draw ``s`` is ``u_s(x) = sum_c V_sc(x_c) - base_s`` (``base_s``: the value of the
current allocation in that draw), and its conditional value at risk at level ``a`` is the mean
of the worst ``a`` share of the draws.  In the Rockafellar-Uryasev form::

    CVaR_a(x) = max_t  t - 1 / (a S) * sum_s max(t - u_s(x), 0)

so maximising it over the allocations is one LP once each ``V_sc`` is linear in ``x``.

Certificate.  The *upper* LP replaces each ``V_sc`` by the minimum of its tangents at the
breakpoints (``v_sc <= V_sc(b) + V_sc'(b) (x_c - b)``): every tangent lies above a concave
function, so no allocation beats its optimum.  The *lower* bound is the true CVaR of the best
feasible allocation found (the upper LP's, the inner LP's, and the candidates handed in),
evaluated on the exact functions.  Breakpoints are added at the upper LP's solution (a
cutting-plane step) until the two meet within ``tol``.  Target rows (ROAS, cost per new
customer) are kept on the mean functions: outer tangents in the upper LP (a relaxation),
chords in the inner LP (whose every solution meets the targets on the exact curves).

Channels whose value is not concave in some draw (S-shaped, or losing money on every sale)
are named by the caller in ``shaped``: they take chords filled in order, one binary per inner
breakpoint shared by every draw, each draw's chords raised on the segment the spend lies in by
the most that draw rises above them (a MILP whose optimum still bounds every allocation's
CVaR).  The module knows arrays and the :class:`DrawModel` protocol, never a curve class.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pulp
from numpy.typing import NDArray

from roiste.models.errors import InfeasibleError
from roiste.optimizer.lp.infeasible import prepare
from roiste.optimizer.lp.model import get_solver, solver_key
from roiste.optimizer.lp.problem import AllocationProblem, FloatArray, Prepared, Solution
from roiste.optimizer.lp.solve import feasible, relative_gap, repair


class DrawModel(Protocol):
    """Per-draw period values: ``value(x)`` has shape ``(S, N)`` for ``x`` of shape ``(N,)``
    and ``(S, N, m)`` for ``(N, m)``; ``slope`` is its derivative in ``x``."""

    n_draws: int

    def value(self, x: Any) -> FloatArray: ...
    def slope(self, x: Any) -> FloatArray: ...


def cvar(uplift: Any, level: float) -> float:
    """Mean of the worst ``level`` share of ``uplift`` (fractional draws weighted in).

    Parameters
    ----------
    uplift : array (S,)
        One value per draw.
    level : float
        Share in (0, 1]; 1 gives the mean.

    Examples
    --------
    >>> cvar([4.0, 1.0, 3.0, 2.0], 0.5)
    1.5
    >>> cvar([4.0, 1.0, 3.0, 2.0], 0.375)
    1.3333333333333333
    """
    u = np.sort(np.asarray(uplift, dtype=float).reshape(-1))
    k = float(level) * len(u)
    whole = math.floor(k + 1e-12)
    total = float(u[:whole].sum())
    if whole < len(u) and k - whole > 1e-12:
        total += (k - whole) * float(u[whole])
    return total / k


@dataclass(frozen=True)
class CvarSolution:
    """A certified CVaR allocation and its per-draw uplifts (``solution.value`` is the CVaR)."""

    solution: Solution
    uplift: FloatArray


def _repair(problem: AllocationProblem, prep: Prepared, x: FloatArray) -> FloatArray:
    """Clip ``x`` into the boxes, then spread the budget row's rounding over the room."""
    return repair(problem, prep, np.clip(x, prep.lo, prep.hi))


def cut_rows(v: Sequence[Sequence[Any]], x: Sequence[Any], bp: FloatArray, vals: FloatArray,
             slps: FloatArray, free: NDArray[np.bool_], same: NDArray[np.bool_],
             draws: Sequence[int] | None = None) -> dict[str, pulp.LpConstraint]:
    """The tangent cuts ``v_sc - V_sc'(b) x_c <= V_sc(b) - V_sc'(b) b``, named and in order.

    One row per free channel ``c``, draw ``s`` (the first only where the channel is the same
    in every draw) and breakpoint ``j``, named ``cut_<c>_<s>_<j>``, skipping a breakpoint equal
    to the one before and a tangent whose slope is not finite (vertical at the lower end).
    The coefficients and right-hand sides come from whole arrays and each row from one
    constructor: the rows, order and numbers are those ``v[c][i] - g * x[c] <= V - g * b``
    gives (a zero slope leaves ``x`` out), at about a quarter of the cost of PuLP's operators.
    Add them to a problem with ``prob.extend(rows)``.

    Parameters
    ----------
    v : sequence (N,) of sequences
        Per channel, its value variable in each of ``draws`` (by position); any entries for a
        channel that is not free (not read).
    x : sequence (N,)
        Per channel, its spend variable (for a free channel).
    bp : ndarray (N, K)
        Each channel's breakpoints, sorted.
    vals, slps : ndarray (S, N, K)
        Each draw's value and slope at the breakpoints.
    free : ndarray of bool (N,)
        The channels that get cuts.
    same : ndarray of bool (N,)
        The channels equal in every draw: cuts of the first of ``draws`` only.
    draws : sequence of int, optional
        The draws (indices into ``vals``) that get cuts, in order; every draw by default.

    Returns
    -------
    dict
        Row name to :class:`pulp.LpConstraint`, in the order they are to be added.

    Examples
    --------
    >>> import numpy as np, pulp
    >>> prob = pulp.LpProblem("cuts", pulp.LpMaximize)
    >>> x, v = prob.add_variable("x"), prob.add_variable("v")
    >>> bp = np.array([[1.0, 4.0]])
    >>> rows = cut_rows([[v]], [x], bp, np.sqrt(bp)[None], 0.5 / np.sqrt(bp)[None],
    ...                 np.array([True]), np.array([False]))
    >>> [(name, str(r)) for name, r in rows.items()]
    [('cut_0_0_0', 'v - 0.5*x <= 0.5'), ('cut_0_0_1', 'v - 0.25*x <= 1.0')]
    """
    use = list(range(vals.shape[0])) if draws is None else [int(s) for s in draws]
    with np.errstate(invalid="ignore", over="ignore"):
        rhs = vals - slps * bp[None]  # (S, N, K); where the slope is not finite, skipped
    dup = np.zeros(bp.shape, dtype=bool)
    dup[:, 1:] = bp[:, 1:] == bp[:, :-1]
    keep = np.isfinite(slps) & ~dup[None]
    le = pulp.LpConstraintLE
    rows: dict[str, pulp.LpConstraint] = {}
    for c in np.flatnonzero(free).tolist():
        xc = x[c]
        for i in ([0] if same[c] else range(len(use))):
            s = use[i]
            vcs = v[c][i]
            js = np.flatnonzero(keep[s, c])
            for j, g, r in zip(js.tolist(), slps[s, c, js].tolist(), rhs[s, c, js].tolist(),
                               strict=True):
                # a zero slope leaves x out of the row, as the product 0 * x does
                e = pulp.LpAffineExpression({vcs: 1} if g == 0 else {vcs: 1, xc: -g})
                name = f"cut_{c}_{s}_{j}"
                rows[name] = pulp.LpConstraint(e, le, name, r)
    return rows


SEGMENT_SAMPLES = 33
"""Points per segment (its ends included) at which an S-shaped draw's distance above its
chord is measured (:func:`_above_chords`)."""


def _above_chords(draws: DrawModel, bp: FloatArray, vals: FloatArray,
                  shaped: NDArray[np.bool_]) -> FloatArray:
    """How far each draw's value rises above its chord on each segment of ``bp``, ``(S, N, K-1)``.

    Measured on :data:`SEGMENT_SAMPLES` evenly spaced points per segment of the ``shaped``
    channels (zero elsewhere, and on a segment of zero length); never negative.
    """
    s_n, n, k = vals.shape
    out = np.zeros((s_n, n, max(k - 1, 0)))
    if k < 2 or not shaped.any():
        return out
    u = np.linspace(0.0, 1.0, SEGMENT_SAMPLES)[1:-1]
    left, length = bp[:, :-1], np.diff(bp, axis=1)  # (N, K-1)
    pts = left[:, :, None] + length[:, :, None] * u[None, None, :]  # (N, K-1, U)
    pts = np.where(shaped[:, None, None], pts, bp[:, :1, None])
    fine = np.asarray(draws.value(pts.reshape(n, -1)), dtype=float).reshape(s_n, n, k - 1, len(u))
    chord = vals[:, :, :-1, None] + (vals[:, :, 1:] - vals[:, :, :-1])[:, :, :, None] * u
    gap = np.max(fine - chord, axis=3)
    out[:] = np.where(shaped[None, :, None] & (length[None] > 0), np.maximum(gap, 0.0), 0.0)
    return out


MIN_SEGMENT = 1e-6
"""Shortest segment of an S-shaped channel's chords, as a share of its box: a nearer
breakpoint is dropped (segments of a few millionths only make the MILP's rows ill-scaled)."""


def _spaced(bp: FloatArray, shaped: NDArray[np.bool_], lo: FloatArray, hi: FloatArray
            ) -> FloatArray:
    """``bp`` (each row sorted, from ``lo`` to ``hi``) with the rows of ``shaped`` channels
    thinned to segments of at least :data:`MIN_SEGMENT` of the box, the last point moved to
    ``hi`` when it was dropped (repeated at the end to keep the width)."""
    if not shaped.any():
        return bp
    out = bp.copy()
    for c in np.flatnonzero(shaped).tolist():
        gap = MIN_SEGMENT * float(hi[c] - lo[c])
        kept = [float(lo[c])]
        for b in out[c, 1:].tolist():
            if b - kept[-1] >= gap:
                kept.append(b)
        kept[-1] = float(hi[c])  # hi itself, or the point within a gap of it
        out[c] = kept + [kept[-1]] * (out.shape[1] - len(kept))
    return out


def _shaped_values(prob: pulp.LpProblem, c: int, xc: Any, bp: FloatArray, vals: FloatArray,
                   above: FloatArray, draws: Sequence[int], binaries: list[Any]) -> list[Any]:
    """The values of an S-shaped channel ``c`` in ``draws``: its chords between the
    breakpoints, filled in order (one binary per inner breakpoint, shared by all draws), plus
    the most any draw rises above its chord on the segment the spend lies in.  Every draw's
    expression lies on or above its value at every spend, so the model bounds the optimum.
    The binaries are appended to ``binaries``.
    """
    add = prob.add_variable
    pts = bp[c]
    length = np.diff(pts)
    segs = np.flatnonzero(length > 0).tolist()
    d = [add(f"seg_{c}_{j}", 0.0, float(length[j])) for j in segs]
    full = [add(f"full_{c}_{j}", 0, 1, cat=pulp.LpBinary) for j in segs[:-1]]
    binaries += full
    prob.addConstraint(xc - pulp.lpSum(d) == float(pts[0]), f"fill_{c}")
    for i in range(len(full)):
        prob.addConstraint(d[i] - float(length[segs[i]]) * full[i] >= 0, f"full_lo_{c}_{i}")
        prob.addConstraint(d[i + 1] - float(length[segs[i + 1]]) * full[i] <= 0,
                           f"full_hi_{c}_{i}")
    # the segment the spend lies in: the first not full (indicator full[i-1] - full[i])
    active: list[Any] = [1 - full[0] if full else pulp.LpAffineExpression(constant=1.0)]
    active += [full[i - 1] - full[i] for i in range(1, len(full))]
    if full:
        active.append(pulp.LpAffineExpression(full[-1]))
    out = []
    for s in draws:
        slope = (vals[s, c, 1:] - vals[s, c, :-1])[segs] / length[segs]
        e = pulp.lpSum(float(g) * di for g, di in zip(slope.tolist(), d, strict=True))
        e += pulp.lpSum(float(above[s, c, j]) * a for j, a in zip(segs, active, strict=True)
                        if above[s, c, j] > 0)
        out.append(e + float(vals[s, c, 0]))
    return out


def _build(problem: AllocationProblem, prep: Prepared, draws: DrawModel, base: FloatArray,
           level: float, bp: FloatArray, *, inner: bool, solver: str,
           time_limit: float | None, msg: bool, shaped: NDArray[np.bool_] | None = None,
           gap_abs: float = 0.0) -> tuple[FloatArray, float, float | None, str, float]:
    """One LP: tangent cuts of every draw's value; targets outer (tangents) or inner (chords).

    The ``shaped`` channels (not concave in some draw) take chords filled in order instead of
    tangents, raised by how far each draw rises above them (:func:`_shaped_values`): the model
    is then a MILP whose optimum still bounds every allocation's CVaR.

    A MILP stops within ``gap_abs`` of its optimum, which is added to the bound returned; one
    stopped before that (a time limit) returns its LP relaxation's optimum as the bound and the
    status ``"Not Proven"``.

    Returns the spends, the bound on the objective, the budget row's dual (of a MILP: with its
    binaries held), the solver's status and the seconds spent building the model (before the
    solver is called).
    """
    t_build = time.perf_counter()
    lo, hi = prep.lo, prep.hi
    n, k = bp.shape
    s_n = int(draws.n_draws)
    free = hi > lo
    prob = pulp.LpProblem("roiste_cvar", pulp.LpMaximize)
    add = prob.add_variable
    x = [add(f"x_{c}", float(lo[c]), float(hi[c])) for c in range(n)]
    shaped = np.zeros(n, dtype=bool) if shaped is None else np.asarray(shaped, dtype=bool) & free
    bp = _spaced(bp, shaped, lo, hi)
    vals = np.asarray(draws.value(bp), dtype=float)  # (S, N, K)
    slps = np.asarray(draws.slope(bp), dtype=float)
    # a channel equal in every draw (no draws, or locked) needs one value variable, not S
    same = np.all(vals == vals[:1], axis=(0, 2)) & np.all(slps == slps[:1], axis=(0, 2))
    at_lo = np.asarray(draws.value(lo), dtype=float)  # (S, N)
    above = _above_chords(draws, bp, vals, shaped)
    v: list[list[Any]] = []
    binaries: list[Any] = []
    for c in range(n):
        if not free[c]:
            v.append([pulp.LpAffineExpression(constant=float(at_lo[s, c])) for s in range(s_n)])
        elif shaped[c]:
            vs = _shaped_values(prob, c, x[c], bp, vals, above, [0] if same[c] else range(s_n),
                                binaries)
            v.append(vs * s_n if same[c] else vs)
        elif same[c]:
            v.append([add(f"v_{c}")] * s_n)
        else:
            v.append([add(f"v_{c}_{s}") for s in range(s_n)])
    prob.extend(cut_rows(v, x, bp, vals, slps, free & ~shaped, same))
    t = add("t")
    z = [add(f"z_{s}", 0.0) for s in range(s_n)]
    for s in range(s_n):
        prob.addConstraint(z[s] - t + pulp.lpSum(v[c][s] for c in range(n)) >= float(base[s]),
                           f"tail_{s}")
    budget_expr = pulp.lpSum(x)
    if problem.budget_mode == "equal":
        prob.addConstraint(budget_expr == float(problem.budget), "budget")
    else:
        prob.addConstraint(budget_expr <= float(problem.budget), "budget")
    for i, (sh, m) in enumerate(prep.shares):
        part = pulp.lpSum(x[c] for c in np.flatnonzero(m).tolist())
        if sh.max_share is not None:
            prob.addConstraint(part - sh.max_share * budget_expr <= 0, f"share_max_{i}")
        if sh.min_share is not None:
            prob.addConstraint(part - sh.min_share * budget_expr >= 0, f"share_min_{i}")
    if prep.targets:
        f = problem.functions
        outcome: dict[str, list[Any]] = {}
        for name, fn, dfn in (("revenue", f.revenue, f.revenue_slope),
                              ("new_customers", f.new_customers, f.new_customers_slope)):
            if name == "new_customers" and not any(
                    tc.kind == "max_cost_per_new_customer" for tc, _ in prep.targets):
                continue
            ov = np.asarray(fn(bp), dtype=float)
            og = np.asarray(dfn(bp), dtype=float)
            exprs: list[Any] = []
            for c in range(n):
                if not free[c]:
                    exprs.append(pulp.LpAffineExpression(constant=float(ov[c, 0])))
                    continue
                if inner:
                    # chords between the breakpoints, filled in any order: never above the curve
                    pts = np.unique(bp[c])
                    vals_c = np.asarray(fn(np.tile(pts, (n, 1))), dtype=float)[c]
                    us = [add(f"u_{name}_{c}_{j}", 0.0, 1.0) for j in range(len(pts) - 1)]
                    ln = np.diff(pts)
                    prob.addConstraint(x[c] - pulp.lpSum(float(ln[j]) * us[j] for j in range(len(us)))
                                       == float(pts[0]), f"fill_{name}_{c}")
                    exprs.append(float(vals_c[0]) + pulp.lpSum(
                        float(vals_c[j + 1] - vals_c[j]) * us[j] for j in range(len(us))))
                else:
                    r = add(f"r_{name}_{c}")
                    for j in range(k):
                        g = og[c, j]
                        if np.isfinite(g) and not (j > 0 and bp[c, j] == bp[c, j - 1]):
                            b = float(bp[c, j])
                            prob.addConstraint(r - float(g) * x[c] <= float(ov[c, j] - g * b),
                                               f"rcut_{name}_{c}_{j}")
                    exprs.append(r)
            outcome[name] = exprs
        # the inner LP keeps a hair of room (1e-8 of the target) against the solver's rounding
        # of its rows, so that its allocations meet the targets exactly on the curves
        tight = 1e-8 if inner else 0.0
        for i, (tc, m) in enumerate(prep.targets):
            idx = np.flatnonzero(m).tolist()
            spend = pulp.lpSum(x[c] for c in idx)
            if tc.kind == "min_roas":
                w = tc.revenue_weights(n)
                prob.addConstraint(pulp.lpSum(float(w[c]) * outcome["revenue"][c] for c in idx)
                                   - tc.target * (1.0 + tight) * spend >= 0, f"target_{i}")
            elif tc.kind == "max_cac_net":
                # sum(r R - s x) >= 0; with r >= 0 on every member (checked in solve_cvar),
                # chords of R keep the inner LP on the safe side and tangents the outer one
                r_net, s_net = tc.net_weights(n)
                prob.addConstraint(pulp.lpSum(float(r_net[c]) * outcome["revenue"][c]
                                              - float(s_net[c]) * (1.0 + tight) * x[c]
                                              for c in idx) >= 0, f"target_{i}")
            else:
                prob.addConstraint(spend - tc.target * (1.0 - tight) * pulp.lpSum(
                    outcome["new_customers"][c] for c in idx) <= 0, f"target_{i}")
    prob.setObjective(t - (1.0 / (level * s_n)) * pulp.lpSum(z))
    built = time.perf_counter() - t_build

    def run(limit: float | None) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            # only the absolute gap stops a MILP (HiGHS would stop at a relative 1e-4)
            return pulp.LpStatus[prob.solve(get_solver(
                solver, time_limit=limit, msg=msg, gap=0.0 if binaries else None,
                gap_abs=gap_abs if binaries and gap_abs > 0 else None))]

    t_solve = time.perf_counter()
    st = run(time_limit if binaries else None)  # a limit stops MILPs; LPs are solved whole
    t_solve = time.perf_counter() - t_solve
    if binaries and st != "Optimal" and time_limit is not None and t_solve >= time_limit:
        # stopped by the limit before any solution: CBC then says "infeasible"; the
        # relaxation still bounds the optimum, and no allocation comes from this MILP
        for var in binaries:
            var.cat = pulp.LpContinuous
        relaxed = run(None)  # an LP: solved whole (a time-limited solve may call 0 optimal)
        bound = float(pulp.value(prob.objective)) if relaxed == "Optimal" else math.inf
        return np.full(n, math.nan), bound, None, "Not Proven", built
    xs = np.array([float(xi.varValue or 0.0) for xi in x])
    obj = float(pulp.value(prob.objective) or 0.0) if st == "Optimal" else math.nan
    dual_ok = st == "Optimal"
    if dual_ok and binaries:
        # CBC stopped by the time limit may still call its incumbent optimal: only a MILP that
        # ended before the limit counts as proven
        proven = prob.sol_status == pulp.LpSolutionOptimal and (
            time_limit is None or t_solve < float(time_limit))
        values = [round(float(var.varValue or 0.0)) for var in binaries]
        for var in binaries:
            var.cat = pulp.LpContinuous
        if proven:
            obj += gap_abs
        else:  # stopped early: the relaxation, solved whole, bounds the optimum
            relaxed = run(None)
            obj = float(pulp.value(prob.objective)) if relaxed == "Optimal" else math.inf
            st = "Not Proven"
        # the budget's dual of a MILP: the LP with its binaries held where they were
        for var, at in zip(binaries, values, strict=True):
            var.lowBound = var.upBound = at
        dual_ok = run(None) == "Optimal" and proven
    row = prob.get_constraint_by_name("budget")
    dual = None if not dual_ok or row is None or row.pi is None else float(row.pi)
    if dual is not None and solver_key(solver) == "HiGHS":
        dual = -dual
    return xs, obj, dual, st, built


def solve_cvar(
    problem: AllocationProblem,
    draws: DrawModel,
    level: float,
    base_x: Any,
    *,
    candidates: tuple[Any, ...] = (),
    tol: float = 1e-4,
    solver: str = "CBC",
    time_limit: float | None = None,
    msg: bool = False,
    max_rounds: int = 40,
    shaped: Any = None,
) -> CvarSolution:
    """Maximise the CVaR at ``level`` of the uplift over ``base_x``, certified.

    Parameters
    ----------
    problem : AllocationProblem
        Boxes, budget and constraints; its ``functions`` are the mean over the draws (the
        targets are met on them).
    draws : DrawModel
        Each draw's period values; every free channel's must be concave in every draw, or
        marked in ``shaped``.
    level : float
        Share of the worst draws averaged, in (0, 1].
    base_x : array (N,)
        The allocation the uplift is measured from (the current spend).
    candidates : tuple of arrays
        Allocations tried for the lower bound besides the LP's (e.g. the expected plan's).
    tol : float, default=1e-4
        Target certified relative gap ``(UB - LB) / max(|UB|, |LB|, 0.01 budget)``.
    solver, msg
        As in :func:`roiste.optimizer.lp.solve`.
    time_limit : float, optional
        Seconds per MILP (LPs are solved whole: a solver stopped by a limit may call a
        partial answer optimal).
    max_rounds : int, default=40
        Rounds of cuts before returning with the gap reached.
    shaped : array of bool (N,), optional
        Channels whose value is not concave in some draw (S-shaped, or losing money on every
        sale): chords filled in order with binaries, each raised by how far its draw rises
        above it on the segment (measured on :data:`SEGMENT_SAMPLES` points), so that the
        MILP still bounds the optimum (its budget dual: the LP with the binaries held); each
        MILP stops within a quarter of ``tol``; one stopped by ``time_limit`` gives its LP
        relaxation as the bound and ends the refinement (status ``milp_not_proven``).

    Returns
    -------
    CvarSolution
        ``solution.value`` is the true CVaR of ``solution.x``; ``solution.upper_bound`` no
        allocation's CVaR exceeds; ``uplift`` the per-draw uplifts of ``solution.x``.

    Raises
    ------
    InfeasibleError
        When no allocation meets the constraints.
    """
    if not 0.0 < level <= 1.0:
        raise InfeasibleError(f"CVaR level must lie in (0, 1], got {level}")
    t_start = time.perf_counter()
    prep = prepare(problem)
    for t, m in prep.targets:
        if t.kind == "max_cac_net":
            r_net, _ = t.net_weights(len(prep.lo))
            if np.any(m & (r_net < 0)):
                c = problem.names[int(np.flatnonzero(m & (r_net < 0))[0])]
                raise InfeasibleError(
                    f"constraint {t.name!r}: channel {c!r} costs more than {t.target:g} per new "
                    "customer at any spend (its commissions, logistics and lost margin alone); "
                    "with risk cvar a net-CAC target needs every member able to meet it: drop "
                    "the channel from the target or use risk expected")
    lo, hi = prep.lo, prep.hi
    budget = float(problem.budget)
    base = np.asarray(draws.value(np.clip(np.asarray(base_x, dtype=float), 0.0, None)),
                      dtype=float).sum(axis=1)

    def true_cvar(x: FloatArray) -> tuple[float, FloatArray]:
        u = np.asarray(draws.value(x), dtype=float).sum(axis=1) - base
        return cvar(u, level), u

    best_x: FloatArray | None = None
    best_lb, best_u = -math.inf, np.zeros(int(draws.n_draws))
    for cand in candidates:
        xc = _repair(problem, prep, np.asarray(cand, dtype=float))
        if feasible(problem, prep, xc, exact_targets=True):
            val, u = true_cvar(xc)
            if val > best_lb:
                best_lb, best_x, best_u = val, xc, u
    grid = [lo + q * (hi - lo) for q in np.linspace(0.0, 1.0, 9)]
    extra = [np.clip(np.asarray(c, dtype=float), lo, hi) for c in (*candidates, base_x)]
    bp = np.sort(np.stack(grid + extra, axis=1), axis=1)
    best_ub = math.inf
    dual: float | None = None
    status = "gap_above_tolerance"
    # a MILP need not be solved closer than a quarter of the tolerance of the certificate
    gap_abs = 0.25 * tol * 0.01 * budget
    rounds = 0
    build_s = 0.0
    while rounds < max_rounds:
        rounds += 1
        xu, ub, du, st, built = _build(problem, prep, draws, base, level, bp, inner=False,
                                       solver=solver, time_limit=time_limit, msg=msg,
                                       shaped=shaped, gap_abs=gap_abs)
        build_s += built
        if st == "Infeasible":
            raise InfeasibleError(
                "no allocation meets the constraints within the channels' bounds (CVaR plan)")
        if st == "Not Proven":  # its allocation (if any) still counts; its relaxation bounds
            best_ub = min(best_ub, ub + 1e-9 * max(abs(ub), budget))
            xc = _repair(problem, prep, np.nan_to_num(xu, nan=0.0))
            if np.all(np.isfinite(xu)) and feasible(problem, prep, xc, exact_targets=True):
                val, u = true_cvar(xc)
                if val > best_lb:
                    best_lb, best_x, best_u = val, xc, u
            status = "milp_not_proven"
            break
        if st != "Optimal":
            status = "milp_not_proven"
            break
        dual = du
        best_ub = min(best_ub, ub + 1e-9 * max(abs(ub), budget))
        tried = [xu]
        if prep.targets:
            xi, _, _, sti, built = _build(problem, prep, draws, base, level, bp, inner=True,
                                          solver=solver, time_limit=time_limit, msg=msg,
                                          shaped=shaped, gap_abs=gap_abs)
            build_s += built
            if sti == "Optimal":
                tried.append(xi)
        for xc in (_repair(problem, prep, t) for t in tried):
            if feasible(problem, prep, xc, exact_targets=True):
                val, u = true_cvar(xc)
                if val > best_lb:
                    best_lb, best_x, best_u = val, xc, u
        if relative_gap(best_lb, best_ub, budget) <= tol:
            status = "optimal"
            break
        # halve the segments on both sides of the spend; a spend the solver wrote a hair off
        # a breakpoint counts as on it, so that the segments beside it are the ones halved
        near = MIN_SEGMENT * (hi - lo)[:, None]
        mids = [0.5 * (xu + np.max(np.where(bp < xu[:, None] - near, bp, lo[:, None]), axis=1)),
                0.5 * (xu + np.min(np.where(bp > xu[:, None] + near, bp, hi[:, None]), axis=1))]
        bp = np.sort(np.concatenate([bp, np.stack([np.clip(xu, lo, hi), *mids], axis=1)],
                                    axis=1), axis=1)
    if best_x is None:
        raise InfeasibleError(
            "the constraints leave no room: every allocation found misses a target on the "
            "curves; loosen the targets or the bounds")
    elapsed = time.perf_counter() - t_start
    return CvarSolution(
        solution=Solution(
            x=best_x, value=best_lb, upper_bound=max(best_ub, best_lb),
            gap=relative_gap(best_lb, best_ub, budget), status=status, solver=solver_key(solver),
            shadow_price=math.nan if dual is None else float(dual),
            n_breakpoints=int(bp.shape[1]),
            milp=bool(shaped is not None and np.any(np.asarray(shaped) & (hi > lo))),
            build_seconds=build_s,
            solve_seconds=elapsed - build_s, iterations=rounds,
            names={f"x_{i}": str(nm) for i, nm in enumerate(problem.names)},
        ),
        uplift=best_u,
    )


__all__ = ["CvarSolution", "DrawModel", "cut_rows", "cvar", "solve_cvar"]
