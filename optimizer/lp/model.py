"""The PuLP model of the allocation: one LP or MILP over piecewise-linear pieces.

One variable per piece holds the filled share of the piece (in ``[0, 1]``); a channel's spend
is its lower bound plus the filled lengths.  The rows are the budget, the group shares and the
targets, each named (``budget``, ``share_max_0``, ``target_1``, ...), and, for pieces whose
slopes rise (S-shaped or convex values), the binaries that fill them in order (``fill_3_0``,
``next_3_1``, ``tail_3``).  Variables are named by index (``x_<channel>_<piece>``,
``y_<channel>_<piece>``); :attr:`roiste.optimizer.lp.Solution.names` maps channels to their
names.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pulp
from numpy.typing import NDArray

import roiste.optimizer.lp.pieces as pc
from roiste.models.errors import RoisteError
from roiste.optimizer.lp.problem import AllocationProblem, FloatArray, Prepared

SOLVERS = {"CBC": "PULP_CBC_CMD", "HIGHS": "HiGHS"}


@dataclass
class ModelResult:
    """One solve of the model: the spends, the objective and what the solver proved.

    ``bound`` is an upper bound of the optimum on the pieces when ``proven`` (``inf``
    otherwise); ``dual`` is the budget row's dual of an LP (None for a MILP); ``status`` is
    PuLP's status name; ``build_s``/``solve_s`` are the seconds spent building and solving;
    ``filled`` marks an LP solved by :func:`fill_pieces` (no solver called).
    """

    x: FloatArray
    objective: float
    bound: float
    status: str
    proven: bool
    dual: float | None
    milp: bool
    build_s: float
    solve_s: float
    filled: bool = False


_AVAILABLE: list[str] = []


def solver_key(name: str) -> str:
    """PuLP's name of a solver given as ``"CBC"``, ``"HiGHS"`` (any case) or a PuLP name."""
    return SOLVERS.get(name.upper(), name)


def _available(name: str) -> str:
    """PuLP's key of solver ``name``, refused with a clear line when it is not installed."""
    key = solver_key(name)
    if not _AVAILABLE:
        _AVAILABLE.extend(pulp.listSolvers(onlyAvailable=True))
    if key not in _AVAILABLE:
        raise RoisteError(
            f"solver {name!r} is not available; available: "
            f"{sorted({k for k, v in SOLVERS.items() if v in _AVAILABLE} | set(_AVAILABLE))}")
    return key


def _solver(name: str, time_limit: float | None, msg: bool, gap: float | None,
            gap_abs: float | None = None) -> Any:
    key = _available(name)
    kwargs: dict[str, Any] = {"msg": bool(msg)}
    if time_limit is not None:
        kwargs["timeLimit"] = float(time_limit)
    if gap is not None:
        kwargs["gapRel"] = float(gap)
    if gap_abs is not None:
        kwargs["gapAbs"] = float(gap_abs)
    if key == "HiGHS":
        # HiGHS's presolve spends seconds on one dense budget row over many bounded columns
        # (measured: 9 s vs 0.03 s without it at 43,000 columns); the problems are presolved
        # by construction (one column per piece, a few rows)
        kwargs["presolve"] = "off"
        if not msg:
            _quiet_highs_banner()
    return pulp.getSolver(key, **kwargs)


def get_solver(name: str, *, gap: float | None = None, time_limit: float | None = None,
               msg: bool = False, gap_abs: float | None = None) -> Any:
    """A PuLP solver object for ``name`` (``"CBC"``, ``"HiGHS"`` or a PuLP name), checked for
    availability, HiGHS without presolve and without its banner; ``gap`` and ``gap_abs`` are
    the relative and absolute MIP gaps at which it stops."""
    return _solver(name, time_limit, msg, gap, gap_abs)


_BANNER_SHOWN: list[bool] = []


def _quiet_highs_banner() -> None:
    """HiGHS prints its banner on the process's stdout (C level) when the first solver object
    is made, before PuLP can switch its output off; make that first object with stdout closed.
    """
    if _BANNER_SHOWN:
        return
    _BANNER_SHOWN.append(True)
    try:
        # highspy is optional (HiGHS through PuLP): loaded only when HiGHS is chosen
        import highspy
    except ImportError:  # pragma: no cover - PuLP then reports HiGHS as unavailable
        return
    sys.stdout.flush()
    saved = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


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


def row_names(prep: Prepared) -> list[str]:
    """The names of the model's rows besides the budget, in the order they are added.

    Parameters
    ----------
    prep : Prepared
        The problem's checked arrays.

    Returns
    -------
    list of str
        ``share_max_<i>``/``share_min_<i>`` for each bound a share constraint sets, and
        ``target_<i>`` for each target.
    """
    names = [f"share_{key}_{i}" for i, (s, _) in enumerate(prep.shares)
             for key, share in (("max", s.max_share), ("min", s.min_share)) if share is not None]
    return names + [f"target_{i}" for i in range(len(prep.targets))]


def budget_only(p: pc.Pieces, prep: Prepared, skip: frozenset[str] = frozenset(),
                relax: bool = False) -> bool:
    """Is the model on ``p`` an LP whose only row is the budget (a fractional knapsack)?

    Parameters
    ----------
    p : Pieces
        The pieces of the model.
    prep : Prepared
        The problem's checked arrays (its share and target rows).
    skip : frozenset of str
        Rows left out of the model.
    relax : bool
        The binaries that fill pieces in order are dropped.

    Returns
    -------
    bool
        True when the budget row is in the model, every share and target row is left out
        (or there is none) and no piece needs a binary (concave pieces, or ``relax``).
    """
    if "budget" in skip or any(r not in skip for r in row_names(prep)):
        return False
    if relax or not p.ordered.any() or p.n_pieces == 0:
        return True
    return not bool(np.any(pc.binary_prefix(p, tuple(p.slopes)) >= 1))


def fill_pieces(p: pc.Pieces, prep: Prepared, problem: AllocationProblem) -> ModelResult:
    """The LP on the pieces with the budget as its only row, solved exactly without a solver.

    Each piece is a column in ``[0, 1]`` of the budget row with its length and of the
    objective with ``slope * length``: a fractional knapsack.  Its optimum fills the pieces
    in falling order of slope (ties by position, for the same answer on every run) until the
    budget runs out; with ``budget_mode="at_most"`` only pieces of positive slope are filled.
    The budget row's dual is the slope of the piece where the budget runs out (the price at
    which every filled piece earns at least as much and every empty one at most as much:
    LP duality certifies the optimum); 0 when an ``at_most`` budget is not all spent.
    Within a concave channel the slopes fall from piece to piece, so the fill is in order.

    Parameters
    ----------
    p : Pieces
        The pieces (any channel's pieces, filled independently: no binaries).
    prep : Prepared
        The boxes (spends start at ``prep.lo``).
    problem : AllocationProblem
        The budget and its mode.

    Returns
    -------
    ModelResult
        As the LP would give it: status ``"Optimal"`` (or ``"Infeasible"`` when the budget
        cannot be met inside the boxes), the objective as its bound, the budget's dual.
    """
    t0 = time.perf_counter()
    lo = prep.lo
    budget = float(problem.budget)
    need = budget - float(lo.sum())
    ln = p.length
    slope = p.slopes["value"]
    total = float(ln.sum())
    eps = 1e-9 * max(budget, 1.0)
    equal = problem.budget_mode == "equal"
    if need < -eps or (equal and need > total + eps):
        return ModelResult(lo.copy(), math.nan, math.inf, "Infeasible", False, None, False,
                           time.perf_counter() - t0, 0.0, filled=True)
    need = min(max(need, 0.0), total)
    order = np.argsort(-slope, kind="stable")
    s_sorted = slope[order]
    room = ln[order]
    if not equal:  # only pieces that add value are worth filling
        n_pos = int(np.searchsorted(-s_sorted, 0.0, side="left"))
        s_sorted, room, order = s_sorted[:n_pos], room[:n_pos], order[:n_pos]
    cum = np.cumsum(room)
    k = int(np.searchsorted(cum, need, side="left")) if len(cum) else 0
    vals = np.zeros(len(ln))
    if k < len(cum):
        vals[order[:k]] = room[:k]
        vals[order[k]] = min(need - (float(cum[k - 1]) if k > 0 else 0.0), float(room[k]))
        dual: float | None = float(s_sorted[k])
    else:  # every piece worth filling is full: an at_most budget is left over
        vals[order] = room
        dual = 0.0 if not equal else (float(s_sorted[-1]) if len(s_sorted) else None)
    x = lo + np.bincount(p.channel, weights=vals, minlength=len(lo))
    x = np.minimum(x, prep.hi)
    obj = float(p.offset["value"].sum()) + float(slope @ vals)
    t1 = time.perf_counter()
    return ModelResult(x, obj, obj, "Optimal", True, dual, False, 0.0, t1 - t0, filled=True)


def solve_pieces(
    p: pc.Pieces, prep: Prepared, problem: AllocationProblem, *, solver: str,
    time_limit: float | None, msg: bool, mip_gap: float, relax: bool = False,
    fix: dict[str, float] | None = None, elastic: bool = False,
    skip: frozenset[str] = frozenset(), fill: bool = True,
) -> tuple[ModelResult, Any]:
    """Optimise the sum of ``value`` pieces under the constraints; one LP or MILP.

    ``elastic`` minimises the violation of the named rows instead (each gets a slack, in
    money); ``skip`` leaves named rows out; ``fix`` holds the binaries at given values;
    ``relax`` drops them.  Where the budget is the only row and no binaries are needed
    (:func:`budget_only`), the LP is solved exactly by :func:`fill_pieces` unless ``fill``
    is False.
    """
    t0 = time.perf_counter()
    if fill and not elastic and fix is None and budget_only(p, prep, skip, relax):
        _available(solver)  # the same answer to a solver that is not there, filled or not
        return fill_pieces(p, prep, problem), {"slacks": {}, "binaries": {}}
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
            w = t.revenue_weights(len(lo))  # exact: a positive scale keeps chords and tangents
            coefs = p.slopes["revenue"] * w[ch] - t.target
            rhs = t.target * float(lo[m].sum()) - float((p.offset["revenue"] * w)[m].sum())
        elif t.kind == "max_cac_net":
            # its own outcome r R - s x, with inner pieces on the lower side (pieces.py)
            coefs = p.slopes[f"target_{i}"]
            rhs = -float(p.offset[f"target_{i}"][m].sum())
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
        # a limit stops MILPs only: a time-limited LP may call a partial answer optimal
        status = prob.solve(_solver(solver, time_limit if is_milp else None, msg,
                                    mip_gap if is_milp else None))
    t2 = time.perf_counter()
    st = pulp.LpStatus[status]
    limited = is_milp and time_limit is not None and t2 - t1 >= time_limit
    if limited and st != "Optimal":
        st = "Not Solved"  # stopped before any solution (CBC then says "infeasible")
    vals = np.array([v.varValue or 0.0 for v in xs]) if xs else np.zeros(0)
    vals = np.clip(vals, 0.0, 1.0) * ln
    x = lo + np.bincount(ch, weights=vals, minlength=len(lo))
    x = np.minimum(x, prep.hi)
    const = float(p.offset["value"].sum())
    obj = const + float(p.slopes["value"] @ vals) if not elastic else float(
        pulp.value(prob.objective) or 0.0)
    # a MILP stopped by the limit may still call its incumbent optimal
    proven = st == "Optimal" and prob.sol_status == pulp.LpSolutionOptimal and not limited
    bound = math.inf
    if proven:
        bound = obj
        if is_milp:
            # the solver stops within mip_gap of its own objective (without the constant)
            bound = obj + mip_gap * max(abs(obj), abs(obj - const), 1e-9 * scale)
            if solver_key(solver) == "HiGHS":
                # HiGHS proves a bound on the problem PuLP gave it: the minimum of the negated
                # objective, so the maximum is at most minus its dual bound
                db = const - float(prob.solverModel.getInfo().mip_dual_bound)
                if math.isfinite(db):
                    bound = max(obj, db)
    dual = None
    budget_row = prob.get_constraint_by_name("budget")
    if not is_milp and st == "Optimal" and budget_row is not None:
        pi = budget_row.pi
        dual = None if pi is None else float(pi)
    if dual is not None and solver_key(solver) == "HiGHS":
        dual = -dual  # PuLP hands HiGHS the negated objective of a maximisation
    res = ModelResult(x, obj, bound, st, proven, dual, is_milp, t1 - t0, t2 - t1)
    res_extra = {"slacks": {k: float(v.varValue or 0.0) for k, (v, _) in slacks.items()},
                 "binaries": {v.name: round(float(v.varValue or 0.0))
                              for v in prob.variables() if v.cat == pulp.LpInteger}}
    return res, res_extra
