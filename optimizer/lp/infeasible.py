"""Infeasible allocations explained: which constraints conflict, and by how much.

Before solving, single constraints that the bounds alone make impossible are named with their
numbers (:func:`prepare`).  When the outer problem (a relaxation of the true one) has no
solution, a deletion filter leaves an irreducible set of rows that conflict within the channel
bounds, and an elastic LP or a Dinkelbach search on the certified solver says by how much
(:func:`explain`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

import numpy as np
from numpy.typing import NDArray

import roiste.optimizer.lp.pieces as pc
from roiste.models.errors import InfeasibleError
from roiste.optimizer.lp.model import solve_pieces
from roiste.optimizer.lp.problem import (
    AllocationProblem,
    FloatArray,
    PeriodModel,
    Prepared,
    ShareConstraint,
    Solution,
    TargetConstraint,
)


class SolveFunction(Protocol):
    """The certified solver, handed in by its caller (the Dinkelbach search re-solves with it)."""

    def __call__(self, problem: AllocationProblem, *, tol: float = ...,
                 solver: str = ...) -> Solution: ...


def members_mask(spec: Any, names: Sequence[str], where: str) -> NDArray[np.bool_]:
    """A constraint's members as a boolean mask over the channels.

    Parameters
    ----------
    spec : None, boolean mask, channel indices or channel names
        None means every channel.
    names : sequence of str
        The channels' names.
    where : str
        Names the constraint in error messages.

    Raises
    ------
    InfeasibleError
        On a mask of the wrong length, an index out of range or an unknown channel.
    """
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


def money(v: float) -> str:
    """An amount for messages: whole units from 100 on, cents below."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"


def prepare(problem: AllocationProblem) -> Prepared:
    """Check a problem's bounds, budget and constraints, and turn them into arrays.

    Raises
    ------
    InfeasibleError
        On malformed bounds, budget or constraints, and when the bounds alone make the
        budget or a single share constraint impossible (the message gives the numbers).
    """
    names = list(problem.names)
    n = len(names)
    lo = np.asarray(problem.lower, dtype=float).reshape(-1)
    hi = np.asarray(problem.upper, dtype=float).reshape(-1)
    if lo.shape != (n,) or hi.shape != (n,):
        raise InfeasibleError(f"bounds: expected {n} lower and upper bounds, got {lo.size}, {hi.size}")
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(lo) & np.isfinite(hi)) | (lo < 0)
        crossed = lo > hi * (1 + 1e-12) + 1e-9
    # the first channel with either fault, named as a loop over the channels would name it
    first = np.flatnonzero(bad | crossed)
    if first.size:
        i = int(first[0])
        if bad[i]:
            raise InfeasibleError(
                f"channel {names[i]!r}: bounds must be finite and >= 0, got [{lo[i]}, {hi[i]}]")
        raise InfeasibleError(
            f"channel {names[i]!r}: lower bound {money(lo[i])} exceeds upper bound "
            f"{money(hi[i])}")
    hi = np.maximum(hi, lo)
    budget = float(problem.budget)
    if not math.isfinite(budget) or budget < 0:
        raise InfeasibleError(f"budget must be a finite amount >= 0, got {problem.budget}")
    if problem.budget_mode not in ("equal", "at_most"):
        raise InfeasibleError(f"budget_mode must be 'equal' or 'at_most', got {problem.budget_mode!r}")
    slack = 1e-9 * max(budget, 1.0)
    if lo.sum() > budget + slack:
        raise InfeasibleError(
            f"channel lower bounds sum to {money(lo.sum())} but the budget is {money(budget)}")
    if problem.budget_mode == "equal" and hi.sum() < budget - slack:
        raise InfeasibleError(
            f"budget {money(budget)} exceeds the sum of channel upper bounds {money(hi.sum())}")
    shares = []
    for s in problem.shares:
        m = members_mask(s.members, names, f"constraint {s.name!r}")
        shares.append((s, m))
        _check_share(s, m, lo, hi, budget, problem.budget_mode)
    targets = []
    for t in problem.targets:
        m = members_mask(t.members, names, f"constraint {t.name!r}")
        if not m.any():
            raise InfeasibleError(f"constraint {t.name!r}: no member channels")
        for label, given in (("weights", t.weights), ("spend_weights", t.spend_weights),
                             ("customer_weights", t.customer_weights)):
            if given is None:
                continue
            w = np.asarray(given, dtype=float).reshape(-1)
            if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise InfeasibleError(
                    f"constraint {t.name!r}: {label} must be {n} finite numbers >= 0")
        targets.append((t, m))
    return Prepared(lo, hi, shares, targets)


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
            why = (f"its lower bounds sum to {money(in_lo)}" if in_lo >= budget - out_hi
                   else f"the other channels can take at most {money(out_hi)}")
            raise InfeasibleError(
                f"group share cap {s.name}<={s.max_share:.2f} allows at most "
                f"{money(s.max_share * budget)} of the budget {money(budget)}, but the group "
                f"needs at least {money(least)}: {why}")
        if s.min_share is not None and most < s.min_share * budget - tol:
            why = (f"its upper bounds sum to {money(in_hi)}" if in_hi <= budget - out_lo
                   else f"the other channels need at least {money(out_lo)}")
            raise InfeasibleError(
                f"group share floor {s.name}>={s.min_share:.2f} needs at least "
                f"{money(s.min_share * budget)} of the budget {money(budget)}, but the group "
                f"can take at most {money(most)}: {why}")
    else:
        # share of actual spend: members x <= s (members + others), others at their highest
        if s.max_share is not None and in_lo > s.max_share * (in_lo + min(out_hi, budget - in_lo)) + tol:
            raise InfeasibleError(
                f"group share cap {s.name}<={s.max_share:.2f}: the group's lower bounds sum to "
                f"{money(in_lo)}, more than {s.max_share:.0%} of any spend within the budget "
                f"{money(budget)}")
        if s.min_share is not None and s.min_share > 0 and in_hi < s.min_share * (
                in_hi + out_lo) - tol:
            raise InfeasibleError(
                f"group share floor {s.name}>={s.min_share:.2f}: the group's upper bounds sum to "
                f"{money(in_hi)}, less than {s.min_share:.0%} of the spend the other channels "
                f"need ({money(out_lo)})")


def _row_names(prep: Prepared) -> list[str]:
    names = ["budget"]
    for i, (s, _) in enumerate(prep.shares):
        names += [f"share_{k}_{i}" for k, v in (("max", s.max_share), ("min", s.min_share))
                  if v is not None]
    return names + [f"target_{i}" for i in range(len(prep.targets))]


def _describe(row: str, problem: AllocationProblem, prep: Prepared) -> str:
    if row == "budget":
        op = "=" if problem.budget_mode == "equal" else "<="
        return f"the budget (spend {op} {money(problem.budget)})"
    if row.startswith("share_"):
        _, key, i = row.split("_")
        s = prep.shares[int(i)][0]
        if key == "max":
            return f"group share cap {s.name}<={s.max_share:.2f}"
        return f"group share floor {s.name}>={s.min_share:.2f}"
    t = prep.targets[int(row.split("_")[1])][0]
    if t.kind == "min_roas":
        return f"target {t.label or 'ROAS'} {t.target:g} ({t.name})"
    if t.kind == "max_cac_net":
        return f"target net CAC {t.target:g} ({t.name})"
    return f"target cost per new customer {t.target:g} ({t.name})"


def explain_locked(problem: AllocationProblem, prep: Prepared) -> NoReturn:
    """Every channel is locked and the locked spends miss a constraint: name the candidates.

    Raises
    ------
    InfeasibleError
        Always; the message lists the constraints besides the budget.
    """
    rows = ", ".join(_describe(r, problem, prep) for r in _row_names(prep)[1:])
    raise InfeasibleError(f"every channel is locked and the locked spends miss a "
                          f"constraint among: {rows}")


def explain(problem: AllocationProblem, prep: Prepared, upper: pc.Pieces, solver: str,
            solve: SolveFunction) -> NoReturn:
    """Name the constraints that conflict and by how much; always raises InfeasibleError.

    A deletion filter on the outer pieces (a relaxation: what is infeasible there is
    infeasible on the curves) leaves an irreducible set of rows that conflict within the
    channel bounds; an elastic LP on that set says by how much.  When the conflict holds one
    target, the best ratio the other constraints allow is found with ``solve``.

    Parameters
    ----------
    problem : AllocationProblem
    prep : Prepared
        The problem's checked arrays (:func:`prepare`).
    upper : Pieces
        The outer pieces on which the problem was found infeasible.
    solver : str
        The MILP/LP solver's name.
    solve : SolveFunction
        The certified solver, for the best ratio of a single conflicting target.

    Raises
    ------
    InfeasibleError
        Always; the message names the conflicting constraints.
    """
    rows = _row_names(prep)
    kw: dict[str, Any] = {"solver": solver, "time_limit": None, "msg": False, "mip_gap": 1e-6}
    dropped: set[str] = set()
    for r in rows:
        res, _ = solve_pieces(upper, prep, problem, skip=frozenset(dropped | {r}), **kw)
        if res.status != "Optimal":
            dropped.add(r)
    core = [r for r in rows if r not in dropped]
    in_core = [r for r in core if r.startswith("target_")]
    if len(in_core) == 1:
        t, m = prep.targets[int(in_core[0].split("_")[1])]
        raise InfeasibleError(_target_message(problem, prep, solver, solve, t, m, core))
    _, extra = solve_pieces(upper, prep, problem, elastic=True, skip=frozenset(dropped), **kw)
    least = sorted(((v, k.rstrip("~")) for k, v in extra["slacks"].items() if v > 0),
                   reverse=True)
    what = " and ".join(_describe(r, problem, prep) for r in core) or "the channel bounds"
    tail = ""
    if least:
        amount, row = least[0]
        tail = (f": within the channel bounds they cannot all hold; the closest plan misses "
                f"{_describe(row, problem, prep)} by {money(amount)}")
    raise InfeasibleError(f"constraints conflict: {what}{tail}")


class _RatioModel:
    """``sum over members of num(x) - rho x``: the Dinkelbach objective of a target's ratio."""

    def __init__(self, f: PeriodModel, members: NDArray[np.bool_], num: str, rho: float,
                 weights: FloatArray | None = None) -> None:
        self.f, self.m, self.rho = f, members, rho
        self.w = np.ones(len(members)) if weights is None else np.asarray(weights, dtype=float)
        self.num = getattr(f, num)
        self.num_slope = getattr(f, num + "_slope")
        self.coefficient = np.where(members, 1.0, 0.0)
        self.revenue_concave = np.asarray(f.revenue_concave, dtype=bool)
        self.concave = self.revenue_concave | ~members

    def _mask(self, x: Any) -> NDArray[Any]:
        x = np.asarray(x, dtype=float)
        return self.m if x.ndim == 1 else self.m[:, None]

    def _w(self, x: Any) -> NDArray[Any]:
        return self.w if np.asarray(x).ndim == 1 else self.w[:, None]

    def value(self, x: Any) -> FloatArray:
        return np.where(self._mask(x), self._w(x) * self.num(x) - self.rho * np.asarray(x), 0.0)

    def slope(self, x: Any) -> FloatArray:
        return np.where(self._mask(x), self._w(x) * self.num_slope(x) - self.rho, 0.0)

    def revenue(self, x: Any) -> FloatArray:
        return self.f.revenue(x)

    def revenue_slope(self, x: Any) -> FloatArray:
        return self.f.revenue_slope(x)

    def new_customers(self, x: Any) -> FloatArray:
        return self.f.new_customers(x)

    def new_customers_slope(self, x: Any) -> FloatArray:
        return self.f.new_customers_slope(x)


def _target_message(problem: AllocationProblem, prep: Prepared, solver: str,
                    solve: SolveFunction, t: TargetConstraint, m: NDArray[np.bool_], core: list[str]) -> str:
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
    if t.kind == "max_cac_net":
        lowest = _lowest_cac_net(problem, prep, solver, solve, t, m, budget, mode, shares)
        return (f"target net CAC {t.target:g} ({t.name}) cannot be met: the lowest "
                f"achievable within {within} is {lowest:.2f}")
    w = t.revenue_weights(len(m)) if t.kind == "min_roas" else np.ones(len(m))
    best = 0.0
    for _ in range(30):
        sub = AllocationProblem(problem.names, prep.lo, prep.hi, _RatioModel(
            problem.functions, m, num, best, w), budget, mode, shares, ())
        x = solve(sub, tol=1e-7, solver=solver).x
        spend = float(x[m].sum())
        if spend <= 0:
            break
        ratio = float((getattr(problem.functions, num)(x) * w)[m].sum()) / spend
        if ratio <= best * (1 + 1e-6):
            best = max(best, ratio)
            break
        best = ratio
    if t.kind == "min_roas":
        what = t.label or "ROAS"
        return (f"target {what} {t.target:g} ({t.name}) cannot be met: the best achievable "
                f"{what} within {within} is {best:.2f}")
    cost = math.inf if best <= 0 else 1.0 / best
    return (f"target cost per new customer {t.target:g} ({t.name}) cannot be met: the lowest "
            f"achievable within {within} is {cost:.2f}")


class _NetCacModel(_RatioModel):
    """``sum over members of (n - rho a) R(x) - rho s x``: Dinkelbach's objective for the
    highest new customers per unit of all-in cost (the inverse of the lowest net CAC)."""

    def __init__(self, f: PeriodModel, members: NDArray[np.bool_], rho: float,
                 t: TargetConstraint) -> None:
        super().__init__(f, members, "revenue", rho)
        n = len(members)
        cust = np.asarray(t.customer_weights, dtype=float).reshape(-1)
        cost = np.zeros(n) if t.weights is None else np.asarray(t.weights, dtype=float).reshape(-1)
        self.s = (np.ones(n) if t.spend_weights is None
                  else np.asarray(t.spend_weights, dtype=float).reshape(-1))
        self.w = cust - rho * cost
        self.coefficient = np.where(members, self.w, 0.0)
        self.concave = (self.revenue_concave & (self.w >= 0)) | ~members

    def _s(self, x: Any) -> NDArray[Any]:
        return self.s if np.asarray(x).ndim == 1 else self.s[:, None]

    def value(self, x: Any) -> FloatArray:
        return np.where(self._mask(x), self._w(x) * self.num(x)
                        - self.rho * self._s(x) * np.asarray(x), 0.0)

    def slope(self, x: Any) -> FloatArray:
        return np.where(self._mask(x), self._w(x) * self.num_slope(x) - self.rho * self._s(x), 0.0)


def _lowest_cac_net(problem: AllocationProblem, prep: Prepared, solver: str,
                    solve: SolveFunction, t: TargetConstraint, m: NDArray[np.bool_],
                    budget: float, mode: Any, shares: list[ShareConstraint]) -> float:
    """The lowest net CAC the other constraints of the conflict allow (Dinkelbach iterations
    on new customers per unit of all-in cost; ``inf`` when no plan wins a customer)."""
    f = problem.functions
    n = len(m)
    cust = np.asarray(t.customer_weights, dtype=float).reshape(-1)
    r, s = t.net_weights(n)
    cost_rev = t.target * cust - r  # the costs per unit of revenue, as given
    best = 0.0
    for _ in range(30):
        sub = AllocationProblem(problem.names, prep.lo, prep.hi, _NetCacModel(f, m, best, t),
                                budget, mode, shares, ())
        x = solve(sub, tol=1e-7, solver=solver).x
        rev = np.asarray(f.revenue(x), dtype=float)
        cost = float((s * x + cost_rev * rev)[m].sum())
        if cost <= 0:
            break
        ratio = float((cust * rev)[m].sum()) / cost
        if ratio <= best * (1 + 1e-6):
            best = max(best, ratio)
            break
        best = ratio
    return math.inf if best <= 0 else 1.0 / best
