"""The recovery plan: which reminder each segment of abandoned carts gets, as a small LP.

Columns are (segment, reminder) pairs, ``none`` (the control) included; ``x`` is the share of
the segment's carts that get the reminder (binary with ``whole_segments``, the default).  For a
cart of segment ``s`` given reminder ``k`` with recovery rate ``r_k`` (``r_0`` the control's):

- net margin caused: ``(r_k - r_0) (basket margin + new_customer_value[new]) - r_k incentive_k
  basket - messages_k cost_per_message_k``.  Only what the reminder causes is counted; the
  incentive is paid on every recovered cart that uses it, those that would have come back
  anyway included;
- incentive spent: ``r_k incentive_k basket``;
- messages per customer: ``messages_k carts_per_customer``.

Rows: each segment's shares sum to one; the incentive budget; per segment, messages per
customer at most the cap.  Maximise the net margin caused.

The plan is certified like the budget plan: its value (recomputed from the data, after a
check that it meets every row) is a lower bound, and an upper bound comes from weak duality
of the LP relaxation, ``sum_s y_s + pi B + sum_s mu_s cap + sum_j max(0, c_j - (A^T y)_j)``,
valid for *any* multipliers with ``pi, mu >= 0`` (``x`` in ``[0, 1]``), so it does not rest
on the solver's word; the solver's duals only make it tight.  With whole segments the MILP's
proven optimum (CBC stops at a relative gap of 1e-9) tightens the bound further.  The gap is
relative to ``max(|UB|, |LB|, 1 % of the gross margin of all abandoned carts)``.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pulp
from numpy.typing import NDArray

from roiste.models.errors import RoisteError
from roiste.optimizer.lp.model import get_solver
from roiste.optimizer.recovery.schema import NONE, Recovery

FloatArray = NDArray[np.float64]
MIP_GAP = 1e-9
FEAS_TOL = 1e-7  # relative tolerance of the rows when the plan is checked


@dataclass(frozen=True)
class RecoveryProblem:
    """The LP in arrays: one entry per column (segment, reminder), the rows' data.

    ``value`` and ``spend`` are per cart; ``messages`` per customer of the segment.
    """

    segments: tuple[str, ...]
    carts: FloatArray
    column_segment: NDArray[np.intp]
    column_reminder: tuple[str, ...]
    rate: FloatArray
    control_rate: FloatArray
    value: FloatArray
    spend: FloatArray
    messages: FloatArray
    budget: float
    cap: float
    whole: bool
    floor: float

    @property
    def objective(self) -> FloatArray:
        """Net margin caused per column at share 1 (for the whole segment)."""
        return self.carts[self.column_segment] * self.value

    @property
    def budget_row(self) -> FloatArray:
        """Incentive spent per column at share 1."""
        return self.carts[self.column_segment] * self.spend


def build_problem(rec: Recovery) -> RecoveryProblem:
    """The arrays of a validated recovery file (a reminder without a rate in a segment is not
    offered there)."""
    spec = rec.spec
    reminders = {r.name: r for r in spec.reminders}
    seg_idx: list[int] = []
    names: list[str] = []
    rate: list[float] = []
    ctrl: list[float] = []
    value: list[float] = []
    spend: list[float] = []
    msgs: list[float] = []
    for i, s in enumerate(spec.segments):
        rates = rec.rates[s.name]
        worth = s.basket_value * s.margin + (spec.new_customer_value if s.customer == "new" else 0.0)
        seg_idx.append(i)
        names.append(NONE)
        rate.append(rates.control)
        ctrl.append(rates.control)
        value.append(0.0)
        spend.append(0.0)
        msgs.append(0.0)
        for r in spec.reminders:  # file order
            if r.name not in rates.reminders:
                continue
            rk = rates.reminders[r.name]
            rem = reminders[r.name]
            seg_idx.append(i)
            names.append(r.name)
            rate.append(rk)
            ctrl.append(rates.control)
            value.append((rk - rates.control) * worth - rk * rem.incentive * s.basket_value
                         - rem.messages * rem.cost_per_message)
            spend.append(rk * rem.incentive * s.basket_value)
            msgs.append(rem.messages * s.carts_per_customer)
    carts = np.array([s.carts for s in spec.segments], dtype=float)
    gross = float(sum(s.carts * s.basket_value * s.margin for s in spec.segments))
    return RecoveryProblem(
        segments=tuple(s.name for s in spec.segments), carts=carts,
        column_segment=np.array(seg_idx, dtype=np.intp), column_reminder=tuple(names),
        rate=np.array(rate), control_rate=np.array(ctrl), value=np.array(value),
        spend=np.array(spend), messages=np.array(msgs), budget=float(spec.budget),
        cap=float(spec.max_messages_per_customer), whole=spec.whole_segments,
        floor=0.01 * gross,
    )


@dataclass(frozen=True)
class RecoverySolution:
    """A certified recovery plan: shares per column, its value and the bound on the best.

    ``net_margin`` is the plan's value recomputed from the data (a lower bound of the best);
    ``dual_bound`` an upper bound no plan can beat; ``lp_bound`` the LP relaxation's weak-dual
    bound alone; ``budget_dual`` the net margin one more unit of incentive budget earns in the
    LP relaxation (0 when the budget does not bind).
    """

    shares: FloatArray
    net_margin: float
    incentive_spend: float
    dual_bound: float
    lp_bound: float
    gap: float
    status: str
    solver: str
    budget_dual: float
    seconds: float


def _model(p: RecoveryProblem, integer: bool) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    prob = pulp.LpProblem("recovery", pulp.LpMaximize)
    cat = pulp.LpBinary if integer else pulp.LpContinuous
    xs = [prob.add_variable(f"x_{j}", 0, 1, cat=cat) for j in range(len(p.column_reminder))]
    c, a = p.objective, p.budget_row
    prob += pulp.lpSum(float(c[j]) * xs[j] for j in range(len(xs)))
    for s in range(len(p.segments)):
        cols = np.flatnonzero(p.column_segment == s)
        prob += pulp.lpSum(xs[j] for j in cols) == 1, f"assign_{s}"
        used = [j for j in cols if p.messages[j] > 0]
        if used:
            prob += pulp.lpSum(float(p.messages[j]) * xs[j] for j in used) <= p.cap, f"cap_{s}"
    spend_cols = [j for j in range(len(xs)) if a[j] > 0]
    if spend_cols:
        prob += pulp.lpSum(float(a[j]) * xs[j] for j in spend_cols) <= p.budget, "budget"
    return prob, xs


def _run(prob: pulp.LpProblem, solver: str, integer: bool) -> str:
    with warnings.catch_warnings():
        # PuLP 3.3 announces its 4.0 renames (PULP_CBC_CMD -> COIN_CMD) on every solve
        warnings.simplefilter("ignore", DeprecationWarning)
        status = prob.solve(get_solver(solver, gap=MIP_GAP if integer else None))
    return str(pulp.LpStatus[status])


def weak_dual_bound(p: RecoveryProblem, y: FloatArray, pi: float, mu: FloatArray) -> float:
    """An upper bound of the LP relaxation (hence of every plan) from any multipliers.

    Parameters
    ----------
    p : RecoveryProblem
    y : array
        One free multiplier per segment's assignment row.
    pi : float
        The budget row's multiplier (clipped at 0).
    mu : array
        Each segment's cap row multiplier (clipped at 0).

    Returns
    -------
    float
        ``sum y + pi B + cap sum mu + sum_j max(0, c_j - y_s(j) - pi a_j - mu_s(j) m_j)``.
    """
    pi = max(float(pi), 0.0)
    mu = np.maximum(np.asarray(mu, dtype=float), 0.0)
    s = p.column_segment
    reduced = p.objective - y[s] - pi * p.budget_row - mu[s] * p.messages
    return float(y.sum() + pi * p.budget + p.cap * mu.sum() + np.maximum(reduced, 0.0).sum())


def _duals(prob: pulp.LpProblem, p: RecoveryProblem, solver: str) -> tuple[FloatArray, float, FloatArray]:
    sign = -1.0 if solver.upper() == "HIGHS" else 1.0  # PuLP hands HiGHS the negated objective

    def pi_of(name: str) -> float:
        row = prob.get_constraint_by_name(name)
        return 0.0 if row is None or row.pi is None else sign * float(row.pi)

    n = len(p.segments)
    y = np.array([pi_of(f"assign_{s}") for s in range(n)])
    mu = np.array([pi_of(f"cap_{s}") for s in range(n)])
    return y, pi_of("budget"), mu


def check_plan(p: RecoveryProblem, x: FloatArray) -> None:
    """Raise when shares ``x`` break a row of the problem (beyond a relative 1e-7)."""
    tol_b = FEAS_TOL * max(p.budget, float(p.budget_row.sum()), 1.0)
    sums = np.bincount(p.column_segment, weights=x, minlength=len(p.segments))
    if np.any(np.abs(sums - 1.0) > 1e-6) or np.any(x < -1e-9) or np.any(x > 1 + 1e-9):
        raise RoisteError("the solver's plan does not assign every segment once")
    if float(p.budget_row @ x) > p.budget + tol_b:
        raise RoisteError("the solver's plan spends more than the incentive budget")
    msgs = np.bincount(p.column_segment, weights=p.messages * x, minlength=len(p.segments))
    if np.any(msgs > p.cap + FEAS_TOL * max(p.cap, 1.0)):
        raise RoisteError("the solver's plan sends more messages per customer than the cap")


def solve_recovery(p: RecoveryProblem, solver: str = "CBC") -> RecoverySolution:
    """Solve and certify the recovery problem (see the module's description).

    Parameters
    ----------
    p : RecoveryProblem
    solver : {"CBC", "HiGHS"}, default "CBC"

    Returns
    -------
    RecoverySolution
    """
    t0 = time.perf_counter()
    relax, rx = _model(p, integer=False)
    st_relax = _run(relax, solver, integer=False)
    if st_relax != "Optimal":
        raise RoisteError(f"the recovery LP was not solved ({st_relax})")
    y, pi, mu = _duals(relax, p, solver)
    lp_bound = weak_dual_bound(p, y, pi, mu)
    if p.whole:
        prob, xs = _model(p, integer=True)
        status = _run(prob, solver, integer=True)
        if status != "Optimal":
            raise RoisteError(f"the recovery MILP was not solved ({status})")
    else:
        prob, xs, status = relax, rx, st_relax
    x = np.array([v.varValue or 0.0 for v in xs], dtype=float)
    x = np.clip(x, 0.0, 1.0)
    if p.whole:
        x = np.round(x)
    check_plan(p, x)
    value = float(p.objective @ x)
    bound = lp_bound
    if p.whole and prob.sol_status == pulp.LpSolutionOptimal:
        obj = float(pulp.value(prob.objective) or 0.0)
        bound = min(bound, obj + MIP_GAP * max(abs(obj), p.floor))
    if bound < value - 1e-6 * max(abs(value), p.floor, 1.0):
        raise RoisteError("the recovery plan's bound is below its value: the certificate failed")
    bound = max(bound, value)  # the sums' rounding, never more
    gap = (bound - value) / max(abs(bound), abs(value), p.floor, 1e-12)
    return RecoverySolution(
        shares=x, net_margin=value, incentive_spend=float(p.budget_row @ x), dual_bound=bound,
        lp_bound=lp_bound, gap=gap, status=status, solver=solver,
        budget_dual=max(pi, 0.0) if math.isfinite(pi) else 0.0,
        seconds=time.perf_counter() - t0,
    )


__all__ = [
    "RecoveryProblem",
    "RecoverySolution",
    "build_problem",
    "check_plan",
    "solve_recovery",
    "weak_dual_bound",
]
