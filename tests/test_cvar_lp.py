"""The scenario (CVaR) LP against independent oracles.

Oracles: the same LP written densely as matrices (every channel with one value variable per
draw, locked channels included, no row skipped) and solved by scipy's HiGHS (``linprog``);
and the CVaR optimum bracketed by a fine grid of 400 tangents per channel (the dense LP's
optimum is above it, the true CVaR of that LP's allocation below it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pulp
import pytest
from draws import ExpDraws, MeanOf
from scipy.optimize import linprog

from roiste.optimizer.lp import (
    AllocationProblem,
    ShareConstraint,
    TargetConstraint,
    cvar,
    solve_cvar,
)
from roiste.optimizer.lp.scenarios import cut_rows


@dataclass
class Case:
    d: ExpDraws
    x0: np.ndarray
    problem: AllocationProblem
    level: float


def _case(kind: str) -> Case:
    rng = np.random.default_rng(7)
    s_n, n = 9, 5
    beta = np.array([3000.0, 2200.0, 2500.0, 1800.0, 2600.0]) * rng.lognormal(0, 0.3, (s_n, n))
    scale = np.array([500.0, 800.0, 600.0, 700.0, 400.0]) * rng.lognormal(0, 0.3, (s_n, n))
    beta[:, 3], scale[:, 3] = 1800.0, 700.0  # a channel the same in every draw
    d = ExpDraws(beta, scale)
    x0 = np.array([600.0, 500.0, 400.0, 450.0, 550.0])
    lo, hi = 0.7 * x0, 1.3 * x0
    lo[2] = hi[2] = x0[2]  # a locked channel
    budget = float(x0.sum())
    if kind == "shares":
        problem = AllocationProblem(
            [f"c{i}" for i in range(n)], lo, hi, MeanOf(d), budget,
            shares=(ShareConstraint("g", [0, 1], max_share=0.4),))
        return Case(d, x0, problem, 0.25)
    # ROAS on the mean curves, just below the current allocation's, with an at-most budget
    roas = 0.98 * float(MeanOf(d).revenue(x0).sum()) / budget
    problem = AllocationProblem(
        [f"c{i}" for i in range(n)], lo, hi, MeanOf(d), budget, budget_mode="at_most",
        targets=(TargetConstraint("roas", "min_roas", roas),))
    return Case(d, x0, problem, 0.4)


@pytest.fixture(scope="module", params=["shares", "roas"])
def case(request: pytest.FixtureRequest) -> Case:
    return _case(request.param)


def _dense(c: Case, bp: np.ndarray) -> tuple[float, np.ndarray]:
    """The upper LP on breakpoints ``bp`` (N, K), as matrices; its optimum and allocation.

    Columns: x (N), v (S x N), t, z (S), then r (N) for a ROAS target's revenue.
    """
    d, p = c.d, c.problem
    lo, hi = np.asarray(p.lower, float), np.asarray(p.upper, float)
    s_n, n = d.n_draws, len(lo)
    roas = [t for t in p.targets if t.kind == "min_roas"]
    nv = n + s_n * n + 1 + s_n + (n if roas else 0)
    iv = lambda s, ch: n + s * n + ch  # noqa: E731
    it = n + s_n * n
    iz = it + 1
    ir = iz + s_n
    a_ub: list[np.ndarray] = []
    b_ub: list[float] = []

    def row(coefs: dict[int, float], rhs: float) -> None:
        r = np.zeros(nv)
        for i, v in coefs.items():
            r[i] += v
        a_ub.append(r)
        b_ub.append(rhs)

    vals, slps = d.value(bp), d.slope(bp)
    for s in range(s_n):
        for ch in range(n):
            for j in range(bp.shape[1]):
                g, b = slps[s, ch, j], bp[ch, j]
                row({iv(s, ch): 1.0, ch: -g}, vals[s, ch, j] - g * b)
    base = d.value(c.x0).sum(1)
    for s in range(s_n):  # z_s >= t - u_s
        row({it: 1.0, iz + s: -1.0, **{iv(s, ch): -1.0 for ch in range(n)}}, -base[s])
    for sh in p.shares:
        m = np.zeros(n, bool)
        m[list(sh.members)] = True
        if sh.max_share is not None:
            row({ch: float(m[ch]) - sh.max_share for ch in range(n)}, 0.0)
        if sh.min_share is not None:
            row({ch: sh.min_share - float(m[ch]) for ch in range(n)}, 0.0)
    f = p.functions
    for t in roas:
        rv, rg = f.revenue(bp), f.revenue_slope(bp)
        for ch in range(n):
            for j in range(bp.shape[1]):
                row({ir + ch: 1.0, ch: -rg[ch, j]}, rv[ch, j] - rg[ch, j] * bp[ch, j])
        row({**{ch: t.target for ch in range(n)}, **{ir + ch: -1.0 for ch in range(n)}}, 0.0)
    budget = np.zeros(nv)
    budget[:n] = 1.0
    eq = p.budget_mode == "equal"
    if not eq:
        a_ub.append(budget)
        b_ub.append(p.budget)
    cost = np.zeros(nv)
    cost[it] = -1.0
    cost[iz:iz + s_n] = 1.0 / (c.level * s_n)
    bounds = ([(lo[ch], hi[ch]) for ch in range(n)] + [(None, None)] * (s_n * n + 1)
              + [(0.0, None)] * s_n + [(None, None)] * (n if roas else 0))
    res = linprog(cost, A_ub=np.array(a_ub), b_ub=np.array(b_ub),
                  A_eq=budget[None] if eq else None, b_eq=[p.budget] if eq else None,
                  bounds=bounds, method="highs")
    assert res.status == 0, res.message
    return float(-res.fun), np.asarray(res.x[:n])


def _first_breakpoints(c: Case) -> np.ndarray:
    """The breakpoints of the first round: nine across each box, the start and the candidates
    (none here), sorted per channel."""
    lo, hi = np.asarray(c.problem.lower, float), np.asarray(c.problem.upper, float)
    pts = [lo + q * (hi - lo) for q in np.linspace(0.0, 1.0, 9)] + [np.clip(c.x0, lo, hi)]
    return np.sort(np.stack(pts, axis=1), axis=1)


def test_the_first_upper_lp_is_the_dense_lp(case: Case) -> None:
    # one round: the certificate's upper bound is that LP's optimum (plus 1e-9 of the budget)
    sol = solve_cvar(case.problem, case.d, case.level, case.x0, tol=1e-12, max_rounds=1).solution
    opt, _x = _dense(case, _first_breakpoints(case))
    budget = case.problem.budget
    assert sol.iterations == 1
    assert sol.upper_bound == pytest.approx(opt + 1e-9 * max(abs(opt), budget), abs=1e-7 * budget)
    # the tolerance tells LPs apart: without every other breakpoint (a looser relaxation)
    # the optimum is higher by far more
    loose, _ = _dense(case, _first_breakpoints(case)[:, ::2])
    assert loose > opt + 1e-4 * budget


def test_the_certified_plan_meets_the_fine_grid_bracket(case: Case) -> None:
    res = solve_cvar(case.problem, case.d, case.level, case.x0, tol=1e-6)
    sol = res.solution
    assert sol.status == "optimal"
    lo, hi = np.asarray(case.problem.lower, float), np.asarray(case.problem.upper, float)
    fine_ub, x_fine = _dense(case, lo[:, None] + np.linspace(0.0, 1.0, 400)[None] * (hi - lo)[:, None])
    base = case.d.value(case.x0).sum(1)
    fine_lb = cvar(case.d.value(x_fine).sum(1) - base, case.level)
    budget = case.problem.budget
    eps = 1e-7 * budget
    assert fine_lb <= fine_ub + eps
    # both bracket the optimum: they overlap, and the plan is within its gap of the bracket
    assert sol.value <= fine_ub + eps
    assert sol.upper_bound >= fine_lb - eps
    assert sol.value >= fine_lb - (sol.upper_bound - sol.value) - eps
    # the plan's value is the true CVaR of its uplifts, and it keeps the locked channel
    assert sol.value == pytest.approx(cvar(case.d.value(sol.x).sum(1) - base, case.level))
    assert sol.x[2] == case.x0[2]
    if case.problem.budget_mode == "equal":
        assert sol.x.sum() == pytest.approx(budget)
    for t in case.problem.targets:
        assert case.problem.functions.revenue(sol.x).sum() >= t.target * sol.x.sum()


def test_the_same_problem_gives_the_same_bytes(case: Case) -> None:
    one, two = (solve_cvar(case.problem, case.d, case.level, case.x0, tol=1e-6) for _ in range(2))
    assert one.solution.x.tobytes() == two.solution.x.tobytes()
    assert one.uplift.tobytes() == two.uplift.tobytes()
    for key in ("value", "upper_bound", "gap", "shadow_price", "n_breakpoints", "iterations"):
        assert getattr(one.solution, key) == getattr(two.solution, key)


def test_cut_rows_are_the_rows_written_one_by_one() -> None:
    """The bulk tangent rows against the same rows written out densely, one by one: a free
    channel with a repeated breakpoint, a zero slope and a vertical tangent, a channel equal in
    every draw, a held channel (no rows), and a subset of the draws."""
    bp = np.array([[0.0, 1.0, 1.0, 4.0], [2.0, 3.0, 5.0, 6.0], [7.0, 7.0, 7.0, 7.0]])
    rng = np.random.default_rng(3)
    vals = rng.uniform(0.0, 10.0, (3, 3, 4))
    slps = rng.uniform(-1.0, 2.0, (3, 3, 4))
    slps[:, 0, 0] = np.inf      # vertical at the lower end: no row
    slps[1, 0, 3] = 0.0         # zero slope: x left out
    vals[:, 1] = vals[0, 1]     # channel 1 the same in every draw
    slps[:, 1] = slps[0, 1]
    free = np.array([True, True, False])
    same = np.array([False, True, False])
    use = [1, 2]
    prob = pulp.LpProblem("rows")
    x = [prob.add_variable(f"x{c}") for c in range(3)]
    v = [[prob.add_variable(f"v{c}_{s}") for s in use] for c in range(3)]
    got = cut_rows(v, x, bp, vals, slps, free, same, use)
    want: list[tuple[str, dict[str, float], float]] = []
    for c in range(3):
        if not free[c]:
            continue
        for s in (use[:1] if same[c] else use):
            for j in range(4):
                g, b = float(slps[s, c, j]), float(bp[c, j])
                if not np.isfinite(g) or (j > 0 and bp[c, j] == bp[c, j - 1]):
                    continue
                coef = {f"v{c}_{s}": 1.0} | ({} if g == 0.0 else {f"x{c}": -g})
                want.append((f"cut_{c}_{s}_{j}", coef, float(vals[s, c, j]) - g * b))
    assert list(got) == [name for name, _, _ in want]
    assert len(want) == 2 * 2 + 1 * 4  # channel 0: 2 draws x (0, 1, 3); channel 1: 4 points
    for name, coef, rhs in want:
        row = got[name]
        assert row.sense == pulp.LpConstraintLE
        assert {var.name: a for var, a in row.items()} == coef
        assert -row.constant == rhs
    # every draw by default: channel 0's rows in draws 0, 1 and 2, channel 1's in draw 0
    every = cut_rows([[prob.add_variable(f"w{c}_{s}") for s in range(3)] for c in range(3)], x,
                     bp, vals, slps, free, same)
    assert list(every) == [f"cut_0_{s}_{j}" for s in range(3) for j in (1, 3)] + [
        f"cut_1_0_{j}" for j in range(4)]
