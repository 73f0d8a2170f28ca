"""The allocation LP/MILP: piecewise-linear pieces in, a certified allocation out.

This module knows arrays and constraints, never a channel's curve family: the period
functions arrive through the small :class:`PeriodModel` protocol.  Each channel's value is
bounded from below by inner pieces (chords where it is concave) and from above by outer
pieces (tangents where it is concave), see :mod:`optimizer.pieces`.  The optimum on the inner
pieces is a plan whose true value is a lower bound; the optimum on the outer pieces is an
upper bound no plan can beat.  Breakpoints are refined until the two meet within ``tol``.
Channels that are not concave (S-shaped) make both problems mixed-integer (ordered filling of
the pieces with binaries), solved globally by the MILP solver.

The certified relative gap is ``(UB - LB) / max(|UB|, |LB|, 0.01 * budget)``: relative to
the objective, with a floor of one per cent of the budget so that a plan whose net margin is
close to zero is not held to an impossible relative precision.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pulp
from numpy.typing import NDArray

from models.errors import InfeasibleError, RoisteError
from optimizer import pieces as pc

FloatArray = NDArray[np.float64]
SOLVERS = {"CBC": "PULP_CBC_CMD", "HIGHS": "HiGHS"}
TARGET_KINDS = {
    "min_roas": "min_roas",
    "roas": "min_roas",
    "max_cost_per_new_customer": "max_cost_per_new_customer",
    "cost_per_new_customer": "max_cost_per_new_customer",
}


class PeriodModel(Protocol):
    """What the LP needs of the channels: vectorised period functions (rows = channels)."""

    coefficient: FloatArray
    concave: NDArray[np.bool_]
    revenue_concave: NDArray[np.bool_]

    def value(self, x: Any) -> FloatArray: ...
    def slope(self, x: Any) -> FloatArray: ...
    def revenue(self, x: Any) -> FloatArray: ...
    def revenue_slope(self, x: Any) -> FloatArray: ...
    def new_customers(self, x: Any) -> FloatArray: ...
    def new_customers_slope(self, x: Any) -> FloatArray: ...


@dataclass(frozen=True)
class ShareConstraint:
    """A group's share of total spend: ``min_share <= sum(members) / sum(all) <= max_share``.

    ``members`` holds channel indices, a boolean mask or channel names.
    """

    name: str
    members: Any
    min_share: float | None = None
    max_share: float | None = None

    def __post_init__(self) -> None:
        for key in ("min_share", "max_share"):
            v = getattr(self, key)
            if v is not None and not 0.0 <= float(v) <= 1.0:
                raise InfeasibleError(f"constraint {self.name!r}: {key} must lie in [0, 1], got {v}")
        if self.min_share is not None and self.max_share is not None and (
                self.min_share > self.max_share):
            raise InfeasibleError(
                f"constraint {self.name!r}: min_share {self.min_share:g} exceeds "
                f"max_share {self.max_share:g}")


@dataclass(frozen=True)
class TargetConstraint:
    """A group's efficiency target over its period totals.

    ``min_roas``: revenue >= target * spend.  ``max_cost_per_new_customer``: spend <= target *
    new customers.  ``members`` as in :class:`ShareConstraint`; None means every channel.
    """

    name: str
    kind: str
    target: float
    members: Any = None

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise InfeasibleError(
                f"constraint {self.name!r}: unknown target kind {self.kind!r}; "
                f"known: min_roas, max_cost_per_new_customer")
        object.__setattr__(self, "kind", TARGET_KINDS[self.kind])
        if not (math.isfinite(self.target) and self.target > 0):
            raise InfeasibleError(f"constraint {self.name!r}: target must be > 0, got {self.target}")


@dataclass(frozen=True)
class AllocationProblem:
    """Maximise the sum of channel values under the budget, boxes and extra constraints.

    ``lower``/``upper`` are period-spend boxes (step box, own min/max and locks already
    intersected; ``lower == upper`` for a locked channel).
    """

    names: Sequence[str]
    lower: Any
    upper: Any
    functions: PeriodModel
    budget: float
    budget_mode: Literal["equal", "at_most"] = "equal"
    shares: Sequence[ShareConstraint] = ()
    targets: Sequence[TargetConstraint] = ()


@dataclass(frozen=True)
class Solution:
    """A certified allocation: ``value <= optimum <= upper_bound``."""

    x: FloatArray
    value: float
    upper_bound: float
    gap: float
    status: str
    solver: str
    shadow_price: float
    n_breakpoints: int
    milp: bool
    build_seconds: float
    solve_seconds: float
    iterations: int
    names: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- checks


def _members(spec: Any, names: Sequence[str], where: str) -> NDArray[np.bool_]:
    n = len(names)
    if spec is None:
        return np.ones(n, dtype=bool)
    arr = np.asarray(list(spec) if not isinstance(spec, np.ndarray) else spec)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InfeasibleError(f"{where}: member mask has {arr.size} entries for {n} channels")
        return arr.copy()
    mask = np.zeros(n, dtype=bool)
    if arr.size == 0:
        return mask
    if arr.dtype.kind in "iu":
        if arr.min() < 0 or arr.max() >= n:
            raise InfeasibleError(f"{where}: member index out of range")
        mask[arr] = True
        return mask
    index = {str(c): i for i, c in enumerate(names)}
    for m in arr.tolist():
        if str(m) not in index:
            raise InfeasibleError(f"{where}: unknown channel {m!r}")
        mask[index[str(m)]] = True
    return mask


def _money(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


@dataclass
class _Prepared:
    lo: FloatArray
    hi: FloatArray
    shares: list[tuple[ShareConstraint, NDArray[np.bool_]]]
    targets: list[tuple[TargetConstraint, NDArray[np.bool_]]]


def _prepare(problem: AllocationProblem) -> _Prepared:
    names = list(problem.names)
    n = len(names)
    lo = np.asarray(problem.lower, dtype=float).reshape(-1)
    hi = np.asarray(problem.upper, dtype=float).reshape(-1)
    if lo.shape != (n,) or hi.shape != (n,):
        raise InfeasibleError(f"bounds: expected {n} lower and upper bounds, got {lo.size}, {hi.size}")
    for i in range(n):
        if not (np.isfinite(lo[i]) and np.isfinite(hi[i])) or lo[i] < 0:
            raise InfeasibleError(
                f"channel {names[i]!r}: bounds must be finite and >= 0, got [{lo[i]}, {hi[i]}]")
        if lo[i] > hi[i] * (1 + 1e-12) + 1e-9:
            raise InfeasibleError(
                f"channel {names[i]!r}: lower bound {_money(lo[i])} exceeds upper bound "
                f"{_money(hi[i])}")
    hi = np.maximum(hi, lo)
    budget = float(problem.budget)
    if not math.isfinite(budget) or budget < 0:
        raise InfeasibleError(f"budget must be a finite amount >= 0, got {problem.budget}")
    if problem.budget_mode not in ("equal", "at_most"):
        raise InfeasibleError(f"budget_mode must be 'equal' or 'at_most', got {problem.budget_mode!r}")
    slack = 1e-9 * max(budget, 1.0)
    if lo.sum() > budget + slack:
        raise InfeasibleError(
            f"channel lower bounds sum to {_money(lo.sum())} but the budget is {_money(budget)}")
    if problem.budget_mode == "equal" and hi.sum() < budget - slack:
        raise InfeasibleError(
            f"budget {_money(budget)} exceeds the sum of channel upper bounds {_money(hi.sum())}")
    shares = []
    for s in problem.shares:
        m = _members(s.members, names, f"constraint {s.name!r}")
        shares.append((s, m))
        _check_share(s, m, lo, hi, budget, problem.budget_mode)
    targets = []
    for t in problem.targets:
        m = _members(t.members, names, f"constraint {t.name!r}")
        if not m.any():
            raise InfeasibleError(f"constraint {t.name!r}: no member channels")
        targets.append((t, m))
    return _Prepared(lo, hi, shares, targets)


def _check_share(s: ShareConstraint, m: NDArray[np.bool_], lo: FloatArray, hi: FloatArray,
                 budget: float, mode: str) -> None:
    """Name a share constraint that the bounds alone make impossible (one-constraint test)."""
    in_lo, in_hi = lo[m].sum(), hi[m].sum()
    out_lo, out_hi = lo[~m].sum(), hi[~m].sum()
    tol = 1e-9 * max(budget, 1.0)
    if mode == "equal":
        least = max(in_lo, budget - out_hi)
        most = min(in_hi, budget - out_lo)
        if s.max_share is not None and least > s.max_share * budget + tol:
            why = (f"its lower bounds sum to {_money(in_lo)}" if in_lo >= budget - out_hi
                   else f"the other channels can take at most {_money(out_hi)}")
            raise InfeasibleError(
                f"group share cap {s.name}<={s.max_share:.2f} allows at most "
                f"{_money(s.max_share * budget)} of the budget {_money(budget)}, but the group "
                f"needs at least {_money(least)}: {why}")
        if s.min_share is not None and most < s.min_share * budget - tol:
            why = (f"its upper bounds sum to {_money(in_hi)}" if in_hi <= budget - out_lo
                   else f"the other channels need at least {_money(out_lo)}")
            raise InfeasibleError(
                f"group share floor {s.name}>={s.min_share:.2f} needs at least "
                f"{_money(s.min_share * budget)} of the budget {_money(budget)}, but the group "
                f"can take at most {_money(most)}: {why}")
    else:
        # share of actual spend: members x <= s (members + others), others at their highest
        if s.max_share is not None and in_lo > s.max_share * (in_lo + min(out_hi, budget - in_lo)) + tol:
            raise InfeasibleError(
                f"group share cap {s.name}<={s.max_share:.2f}: the group's lower bounds sum to "
                f"{_money(in_lo)}, more than {s.max_share:.0%} of any spend within the budget "
                f"{_money(budget)}")
        if s.min_share is not None and s.min_share > 0 and in_hi < s.min_share * (
                in_hi + out_lo) - tol:
            raise InfeasibleError(
                f"group share floor {s.name}>={s.min_share:.2f}: the group's upper bounds sum to "
                f"{_money(in_hi)}, less than {s.min_share:.0%} of the spend the other channels "
                f"need ({_money(out_lo)})")


# ------------------------------------------------------------------------ the LP itself


@dataclass
class _Result:
    x: FloatArray
    objective: float
    bound: float
    status: str
    proven: bool
    dual: float | None
    milp: bool
    build_s: float
    solve_s: float


_AVAILABLE: list[str] = []
_DEBUG = bool(__import__("os").environ.get("ROISTE_LP_DEBUG"))


def _solver_key(name: str) -> str:
    return SOLVERS.get(name.upper(), name)


def _solver(name: str, time_limit: float | None, msg: bool, gap: float | None) -> Any:
    key = _solver_key(name)
    if not _AVAILABLE:
        _AVAILABLE.extend(pulp.listSolvers(onlyAvailable=True))
    if key not in _AVAILABLE:
        raise RoisteError(
            f"solver {name!r} is not available; available: "
            f"{sorted({k for k, v in SOLVERS.items() if v in _AVAILABLE} | set(_AVAILABLE))}")
    kwargs: dict[str, Any] = {"msg": bool(msg)}
    if time_limit is not None:
        kwargs["timeLimit"] = float(time_limit)
    if gap is not None:
        kwargs["gapRel"] = float(gap)
    if key == "HiGHS":
        # HiGHS's presolve spends seconds on one dense budget row over many bounded columns
        # (measured: 9 s vs 0.03 s without it at 43,000 columns); the problems are presolved
        # by construction (one column per piece, a few rows)
        kwargs["presolve"] = "off"
    return pulp.getSolver(key, **kwargs)


def _positions(channel: NDArray[np.intp]) -> NDArray[np.intp]:
    n = len(channel)
    first = np.r_[True, channel[1:] != channel[:-1]] if n else np.zeros(0, dtype=bool)
    return np.arange(n) - np.maximum.accumulate(np.where(first, np.arange(n), 0))


def _expr(vars_: list[Any], coefs: FloatArray, mask: NDArray[np.bool_] | None = None) -> Any:
    if mask is None:
        pairs = [(v, c) for v, c in zip(vars_, coefs.tolist(), strict=True) if c != 0.0]
    else:
        pairs = [(vars_[i], c) for i, c in zip(np.flatnonzero(mask).tolist(),
                                                  coefs[mask].tolist(), strict=True) if c != 0.0]
    return pulp.LpAffineExpression(pairs)


def _solve_pieces(
    p: pc.Pieces, prep: _Prepared, problem: AllocationProblem, *, solver: str,
    time_limit: float | None, msg: bool, mip_gap: float, relax: bool = False,
    fix: dict[str, float] | None = None, elastic: bool = False,
    skip: frozenset[str] = frozenset(),
) -> tuple[_Result, Any]:
    """Optimise the sum of ``value`` pieces under the constraints; one LP or MILP.

    ``elastic`` minimises the violation of the named rows instead (each gets a slack, in
    money); ``skip`` leaves named rows out; ``fix`` holds the binaries at given values;
    ``relax`` drops them.
    """
    t0 = time.perf_counter()
    lo = prep.lo
    budget = float(problem.budget)
    ch = p.channel
    pos = _positions(ch)
    prob = pulp.LpProblem("roiste", pulp.LpMinimize if elastic else pulp.LpMaximize)
    add = prob.add_variable
    # one variable per piece: the share of the piece that is filled, in [0, 1] (scaled
    # variables keep the binaries' rows at unit coefficients)
    xs = [add(f"x_{c}_{j}", 0.0, 1.0) for c, j in zip(ch.tolist(), pos.tolist(), strict=True)]
    ln = p.length
    slacks: dict[str, Any] = {}

    def row(name: str, expr: Any, sense: str, rhs: float, scale: float) -> None:
        if name in skip:
            return
        if elastic:
            s = prob.add_variable(f"s_{name}", 0.0)
            slacks[name] = (s, scale)
            expr = expr + s if sense == ">=" else expr - s if sense == "<=" else expr
            if sense == "==":
                s2 = prob.add_variable(f"t_{name}", 0.0)
                slacks[name + "~"] = (s2, scale)
                expr = expr + s - s2
        if sense == "<=":
            prob.addConstraint(expr <= rhs, name)
        elif sense == ">=":
            prob.addConstraint(expr >= rhs, name)
        else:
            prob.addConstraint(expr == rhs, name)

    scale = max(budget, 1.0)
    row("budget", _expr(xs, ln), "==" if problem.budget_mode == "equal" else "<=",
        budget - float(lo.sum()), scale)
    for i, (s, m) in enumerate(prep.shares):
        coef_c = m.astype(float)
        for key, share, sense in (("max", s.max_share, "<="), ("min", s.min_share, ">=")):
            if share is None:
                continue
            cc = coef_c - share
            row(f"share_{key}_{i}", _expr(xs, cc[ch] * ln), sense, -float(cc @ lo), scale)
    for i, (t, m) in enumerate(prep.targets):
        sel = m[ch]
        if t.kind == "min_roas":
            coefs = p.slopes["revenue"] - t.target
            rhs = t.target * float(lo[m].sum()) - float(p.offset["revenue"][m].sum())
        else:
            coefs = t.target * p.slopes["new_customers"] - 1.0
            rhs = float(lo[m].sum()) - t.target * float(p.offset["new_customers"][m].sum())
        row(f"target_{i}", _expr(xs, coefs * ln, sel), ">=", rhs, scale)
    # S-shaped pieces: fill in order with binaries where some slope rises
    is_milp = False
    if not relax and p.ordered.any():
        names = tuple(k for k in p.slopes)
        last = pc.binary_prefix(p, names)
        starts = np.flatnonzero(np.r_[True, ch[1:] != ch[:-1]]) if p.n_pieces else np.zeros(0, int)
        counts = np.diff(np.r_[starts, p.n_pieces])
        for s0, cnt in zip(starts.tolist(), counts.tolist(), strict=True):
            c = int(ch[s0])
            if c >= len(last) or last[c] < 1:
                continue
            jmax = min(int(last[c]), cnt - 2)
            ys = []
            for j in range(jmax + 1):
                nm = f"y_{c}_{j}"
                if fix is None:
                    y = prob.add_variable(nm, cat="Binary")
                else:
                    y = prob.add_variable(nm, fix.get(nm, 0.0), fix.get(nm, 0.0))
                ys.append(y)
                prob.addConstraint(xs[s0 + j] - y >= 0, f"fill_{c}_{j}")
                if j > 0:
                    prob.addConstraint(xs[s0 + j] - ys[j - 1] <= 0, f"next_{c}_{j}")
            tail = pulp.lpSum(xs[s0 + jmax + 1: s0 + cnt])
            prob.addConstraint(tail - (cnt - jmax - 1) * ys[jmax] <= 0, f"tail_{c}")
            is_milp = is_milp or fix is None
    if elastic:
        prob.setObjective(pulp.lpSum(v / sc for v, sc in slacks.values()))
    else:
        prob.setObjective(_expr(xs, p.slopes["value"] * ln))
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        # PuLP 3.3 announces its 4.0 renames (PULP_CBC_CMD -> COIN_CMD) on every solve
        warnings.simplefilter("ignore", DeprecationWarning)
        status = prob.solve(_solver(solver, time_limit, msg, mip_gap if is_milp else None))
    t2 = time.perf_counter()
    st = pulp.LpStatus[status]
    vals = np.array([v.varValue or 0.0 for v in xs]) if xs else np.zeros(0)
    vals = np.clip(vals, 0.0, 1.0) * ln
    x = lo + np.bincount(ch, weights=vals, minlength=len(lo))
    x = np.minimum(x, prep.hi)
    const = float(p.offset["value"].sum())
    obj = const + float(p.slopes["value"] @ vals) if not elastic else float(
        pulp.value(prob.objective) or 0.0)
    proven = st == "Optimal" and prob.sol_status == pulp.LpSolutionOptimal
    bound = math.inf
    if proven:
        bound = obj
        if is_milp:
            # the solver stops within mip_gap of its own objective (without the constant)
            bound = obj + mip_gap * max(abs(obj), abs(obj - const), 1e-9 * scale)
            try:  # HiGHS reports its proven bound
                db = float(prob.solverModel.getInfo().mip_dual_bound) + const
                if math.isfinite(db):
                    bound = max(obj, db)
            except Exception:
                pass
    dual = None
    budget_row = prob.get_constraint_by_name("budget")
    if not is_milp and st == "Optimal" and budget_row is not None:
        pi = budget_row.pi
        dual = None if pi is None else float(pi)
    if dual is not None and _solver_key(solver) == "HiGHS":
        dual = -dual  # PuLP hands HiGHS the negated objective of a maximisation
    res = _Result(x, obj, bound, st, proven, dual, is_milp, t1 - t0, t2 - t1)
    res_extra = {"slacks": {k: float(v.varValue or 0.0) for k, (v, _) in slacks.items()},
                 "binaries": {v.name: round(float(v.varValue or 0.0))
                              for v in prob.variables() if v.cat == pulp.LpInteger}}
    return res, res_extra


# --------------------------------------------------------------------------- the loop


def _outcomes(problem: AllocationProblem, prep: _Prepared) -> dict[str, tuple[Any, Any, Any]]:
    f = problem.functions
    k = np.asarray(f.coefficient, dtype=float)
    out: dict[str, tuple[Any, Any, Any]] = {"value": (f.value, f.slope, k < 0)}
    no_flip = np.zeros(len(prep.lo), dtype=bool)
    # revenue's tangents set the split point of every outcome's pieces (they cross where the
    # tangents of any k R(x) - f x do), so it is evaluated whenever an outcome besides the
    # value is: with k = 0 the value alone does not tell where to split
    need_r = bool(prep.targets) or not np.all(f.revenue_concave)
    if need_r:
        out["revenue"] = (f.revenue, f.revenue_slope, no_flip)
    if any(t.kind == "max_cost_per_new_customer" for t, _ in prep.targets):
        out["new_customers"] = (f.new_customers, f.new_customers_slope, no_flip)
    return out


def _evaluate(outs: dict[str, tuple[Any, Any, Any]], bp: FloatArray) -> dict[str, Any]:
    return {
        name: (pc.Outcome(np.asarray(v(bp), dtype=float), np.asarray(s(bp), dtype=float)), flip)
        for name, (v, s, flip) in outs.items()
    }


def _feasible(problem: AllocationProblem, prep: _Prepared, x: FloatArray) -> bool:
    """Does ``x`` meet every constraint on the true curves (to a relative 1e-9)?"""
    f = problem.functions
    eps = 1e-9 * max(float(problem.budget), 1.0)
    total = float(x.sum())
    if total > problem.budget + eps or (problem.budget_mode == "equal" and total < problem.budget - eps):
        return False
    if np.any(x < prep.lo - eps) or np.any(x > prep.hi + eps):
        return False
    for s, m in prep.shares:
        if s.max_share is not None and x[m].sum() > s.max_share * total + eps:
            return False
        if s.min_share is not None and x[m].sum() < s.min_share * total - eps:
            return False
    for t, m in prep.targets:
        # a target row is in money times the target: the solvers' tolerance scales with it
        tol = eps * max(t.target, 1.0)
        if t.kind == "min_roas":
            if float(f.revenue(x)[m].sum()) < t.target * float(x[m].sum()) - tol:
                return False
        elif float(x[m].sum()) > t.target * float(f.new_customers(x)[m].sum()) + tol:
            return False
    return True


def _gap(lb: float, ub: float, budget: float) -> float:
    if not (math.isfinite(lb) and math.isfinite(ub)):
        return math.inf
    return max(ub - lb, 0.0) / max(abs(ub), abs(lb), 0.01 * max(budget, 1e-9), 1e-12)


def _initial_breakpoints(problem: AllocationProblem, prep: _Prepared,
                         inflection: FloatArray) -> FloatArray:
    f = problem.functions
    lo, hi = prep.lo, prep.hi
    cols = [lo, hi]
    free = hi > lo
    if free.any():
        floor = 0.0 if problem.budget_mode == "at_most" else None
        _, pts = pc.price_points(f.slope, lo, hi, float(problem.budget), floor=floor)
        cols += pts
    odd = ~(np.asarray(f.concave) & np.asarray(f.revenue_concave)) & free
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
    prep = _prepare(problem)
    f = problem.functions
    lo, hi = prep.lo, prep.hi
    budget = float(problem.budget)
    if not np.any(hi > lo):  # every channel locked: nothing to choose
        value = float(np.asarray(f.value(lo)).sum())
        if not _feasible(problem, prep, lo):
            rows = ", ".join(_describe(r, problem, prep) for r in _row_names(prep)[1:])
            raise InfeasibleError(f"every channel is locked and the locked spends miss a "
                                  f"constraint among: {rows}")
        return Solution(x=lo.copy(), value=value, upper_bound=value, gap=0.0, status="optimal",
                        solver=_solver_key(solver), shadow_price=math.nan, n_breakpoints=len(lo),
                        milp=False, build_seconds=0.0, solve_seconds=0.0, iterations=0,
                        names={f"x_{i}": str(nm) for i, nm in enumerate(problem.names)})
    outs = _outcomes(problem, prep)
    split = "revenue" if "revenue" in outs else "value"
    rev_conc = np.asarray(f.revenue_concave, dtype=bool)
    inflection = pc.inflection_points(f.revenue_slope, lo, hi, ~rev_conc & (hi > lo))
    ordered = ~(np.asarray(f.concave, dtype=bool) & rev_conc)
    bp = _initial_breakpoints(problem, prep, inflection)
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
    for rounds in range(1, max_rounds + 1):
        tb = time.perf_counter()
        lower_p, upper_p = pc.build(bp, _evaluate(outs, bp), split, inflection, ordered)
        build_s += time.perf_counter() - tb
        up, up_extra = _solve_pieces(upper_p, prep, problem, solver=solver,
                                     time_limit=time_limit, msg=msg, mip_gap=mip_gap)
        build_s += up.build_s
        solve_s += up.solve_s
        milp = milp or up.milp
        if up.status == "Infeasible":
            _explain(problem, prep, upper_p, solver)
        lw, _ = _solve_pieces(lower_p, prep, problem, solver=solver, time_limit=time_limit,
                              msg=msg, mip_gap=mip_gap)
        build_s += lw.build_s
        solve_s += lw.solve_s
        candidates = [up.x] + ([lw.x] if lw.status in ("Optimal", "Not Solved") else [])
        for x in (_repair(problem, prep, v) for v in candidates):
            if _feasible(problem, prep, x):
                v = float(f.value(x).sum())
                if v > best_lb:
                    best_lb, best_x = v, x
        if up.proven and up.milp and best_lb > up.bound + 1e-7 * max(abs(up.bound), budget):
            up.proven = False  # a MILP "optimum" below a plan's value bounds nothing
        if not up.proven:  # e.g. a time limit: the relaxation still bounds the optimum
            rel, _ = _solve_pieces(upper_p, prep, problem, solver=solver, time_limit=time_limit,
                                   msg=msg, mip_gap=mip_gap, relax=True)
            build_s += rel.build_s
            solve_s += rel.solve_s
            up.bound = rel.bound
            unproven_rounds += 1
        else:
            dual = up.dual
            upper_fix = up_extra["binaries"] if up.milp else None
        # the solvers meet rows to a relative 1e-9: so much is added to the bound
        best_ub = min(best_ub, up.bound + 1e-9 * max(abs(up.bound), budget))
        gap = _gap(best_lb, best_ub, budget)
        if _DEBUG:
            print(f"round {rounds}: lb {best_lb!r} ub {best_ub!r} up.obj {up.objective!r} gap {gap:.3g}"
                  f" pieces {lower_p.n_pieces}/{upper_p.n_pieces}")
        if gap <= tol:
            last_status = "optimal"
            break
        bp = _refine(problem, bp, up.x, lw.x, best_lb, best_ub, tol)
    else:
        last_status = "gap_above_tolerance" if not unproven_rounds else "milp_not_proven"
    if best_x is None:
        raise InfeasibleError(
            "the constraints leave no room: every allocation found misses a target on the "
            "curves; loosen the targets or the bounds")
    if upper_p is not None and milp and upper_fix:
        # the shadow price of a MILP: the LP with its binaries held
        fx, _ = _solve_pieces(upper_p, prep, problem, solver=solver, time_limit=time_limit,
                              msg=msg, mip_gap=mip_gap, fix=upper_fix)
        dual = fx.dual
    shadow = _shadow(problem, prep, best_x, dual)
    n_bp = int(np.sum(np.r_[np.ones((len(bp), 1), bool).T, (np.diff(bp, axis=1) > 0).T]))
    return Solution(
        x=best_x, value=best_lb, upper_bound=max(best_ub, best_lb),
        gap=_gap(best_lb, best_ub, budget), status=last_status,
        solver=SOLVERS.get(solver.upper(), solver), shadow_price=shadow,
        n_breakpoints=n_bp, milp=milp, build_seconds=build_s,
        solve_seconds=solve_s, iterations=rounds,
        names={f"x_{i}": str(nm) for i, nm in enumerate(problem.names)},
    )


def _repair(problem: AllocationProblem, prep: _Prepared, x: FloatArray) -> FloatArray:
    """Spread the solver's rounding of the budget row over the channels with room."""
    total = float(x.sum())
    r = float(problem.budget) - total
    if problem.budget_mode == "at_most" and r >= 0:
        return x
    room = prep.hi - x if r > 0 else x - prep.lo
    room = np.maximum(room, 0.0)
    if r == 0 or room.sum() <= 0:
        return x
    return np.clip(x + r * room / room.sum(), prep.lo, prep.hi)


def _shadow(problem: AllocationProblem, prep: _Prepared, x: FloatArray,
            dual: float | None) -> float:
    """Net value of one more unit of budget: the budget row's dual, sign-checked."""
    eps = 1e-9 * max(float(problem.budget), 1.0)
    if problem.budget_mode == "at_most" and float(x.sum()) < problem.budget - eps:
        return 0.0
    if dual is None:
        return math.nan
    return float(dual)


def _refine(problem: AllocationProblem, bp: FloatArray, x_up: FloatArray, x_lo: FloatArray,
            lb: float, ub: float, tol: float) -> FloatArray:
    """Add the two solutions as breakpoints, and split the segments around them."""
    new = [x_up, x_lo]
    for x in (x_up,):
        j = np.clip(np.sum(bp < x[:, None], axis=1), 1, bp.shape[1] - 1)
        left = np.take_along_axis(bp, (j - 1)[:, None], 1)[:, 0]
        right = np.take_along_axis(bp, j[:, None], 1)[:, 0]
        new += [0.5 * (left + x), 0.5 * (x + right)]
    return pc.merge_points(bp, np.stack(new, axis=1))


# ------------------------------------------------------------------- infeasibility


def _row_names(prep: _Prepared) -> list[str]:
    names = ["budget"]
    for i, (s, _) in enumerate(prep.shares):
        names += [f"share_{k}_{i}" for k, v in (("max", s.max_share), ("min", s.min_share))
                  if v is not None]
    return names + [f"target_{i}" for i in range(len(prep.targets))]


def _describe(row: str, problem: AllocationProblem, prep: _Prepared) -> str:
    if row == "budget":
        op = "=" if problem.budget_mode == "equal" else "<="
        return f"the budget (spend {op} {_money(problem.budget)})"
    if row.startswith("share_"):
        _, key, i = row.split("_")
        s = prep.shares[int(i)][0]
        if key == "max":
            return f"group share cap {s.name}<={s.max_share:.2f}"
        return f"group share floor {s.name}>={s.min_share:.2f}"
    t = prep.targets[int(row.split("_")[1])][0]
    if t.kind == "min_roas":
        return f"target ROAS {t.target:g} ({t.name})"
    return f"target cost per new customer {t.target:g} ({t.name})"


def _explain(problem: AllocationProblem, prep: _Prepared, upper: pc.Pieces, solver: str) -> None:
    """Name the constraints that conflict and by how much; always raises InfeasibleError.

    A deletion filter on the outer pieces (a relaxation: what is infeasible there is
    infeasible on the curves) leaves an irreducible set of rows that conflict within the
    channel bounds; an elastic LP on that set says by how much.
    """
    rows = _row_names(prep)
    kw: dict[str, Any] = {"solver": solver, "time_limit": None, "msg": False, "mip_gap": 1e-6}
    dropped: set[str] = set()
    for r in rows:
        res, _ = _solve_pieces(upper, prep, problem, skip=frozenset(dropped | {r}), **kw)
        if res.status != "Optimal":
            dropped.add(r)
    core = [r for r in rows if r not in dropped]
    in_core = [r for r in core if r.startswith("target_")]
    if len(in_core) == 1:
        t, m = prep.targets[int(in_core[0].split("_")[1])]
        raise InfeasibleError(_target_message(problem, prep, solver, t, m, core))
    _, extra = _solve_pieces(upper, prep, problem, elastic=True, skip=frozenset(dropped), **kw)
    least = sorted(((v, k.rstrip("~")) for k, v in extra["slacks"].items() if v > 0),
                   reverse=True)
    what = " and ".join(_describe(r, problem, prep) for r in core) or "the channel bounds"
    tail = ""
    if least:
        amount, row = least[0]
        tail = (f": within the channel bounds they cannot all hold; the closest plan misses "
                f"{_describe(row, problem, prep)} by {_money(amount)}")
    raise InfeasibleError(f"constraints conflict: {what}{tail}")


class _RatioModel:
    """``sum over members of num(x) - rho x``: the Dinkelbach objective of a target's ratio."""

    def __init__(self, f: PeriodModel, members: NDArray[np.bool_], num: str, rho: float) -> None:
        self.f, self.m, self.rho = f, members, rho
        self.num = getattr(f, num)
        self.num_slope = getattr(f, num + "_slope")
        self.coefficient = np.where(members, 1.0, 0.0)
        self.revenue_concave = np.asarray(f.revenue_concave, dtype=bool)
        self.concave = self.revenue_concave | ~members

    def _mask(self, x: Any) -> NDArray[Any]:
        x = np.asarray(x, dtype=float)
        return self.m if x.ndim == 1 else self.m[:, None]

    def value(self, x: Any) -> FloatArray:
        return np.where(self._mask(x), self.num(x) - self.rho * np.asarray(x), 0.0)

    def slope(self, x: Any) -> FloatArray:
        return np.where(self._mask(x), self.num_slope(x) - self.rho, 0.0)

    def revenue(self, x: Any) -> FloatArray:
        return self.f.revenue(x)

    def revenue_slope(self, x: Any) -> FloatArray:
        return self.f.revenue_slope(x)

    def new_customers(self, x: Any) -> FloatArray:
        return self.f.new_customers(x)

    def new_customers_slope(self, x: Any) -> FloatArray:
        return self.f.new_customers_slope(x)


def _target_message(problem: AllocationProblem, prep: _Prepared, solver: str,
                    t: TargetConstraint, m: NDArray[np.bool_], core: list[str]) -> str:
    """The best ratio the other constraints of the conflict allow (Dinkelbach iterations).

    Each iteration maximises ``num - rho * spend`` over the members with the certified solver
    itself; the ratio at its plan is achievable, and the iterations stop when it no longer
    rises (to 1e-6).
    """
    num = "revenue" if t.kind == "min_roas" else "new_customers"
    within = "the channel bounds" + (" and the budget" if "budget" in core else "")
    shares = [s for i, (s, _) in enumerate(prep.shares)
              if any(r.startswith("share_") and r.endswith(f"_{i}") for r in core)]
    if shares:
        within += " and the share constraints"
    if "budget" in core:
        budget, mode = float(problem.budget), problem.budget_mode
    else:
        budget, mode = float(prep.hi.sum()), "at_most"
    best = 0.0
    for _ in range(30):
        sub = AllocationProblem(problem.names, prep.lo, prep.hi, _RatioModel(
            problem.functions, m, num, best), budget, mode, shares, ())
        x = solve(sub, tol=1e-7, solver=solver).x
        spend = float(x[m].sum())
        if spend <= 0:
            break
        ratio = float(getattr(problem.functions, num)(x)[m].sum()) / spend
        if ratio <= best * (1 + 1e-6):
            best = max(best, ratio)
            break
        best = ratio
    if t.kind == "min_roas":
        return (f"target ROAS {t.target:g} ({t.name}) cannot be met: the best achievable ROAS "
                f"within {within} is {best:.2f}")
    cost = math.inf if best <= 0 else 1.0 / best
    return (f"target cost per new customer {t.target:g} ({t.name}) cannot be met: the lowest "
            f"achievable within {within} is {cost:.2f}")
