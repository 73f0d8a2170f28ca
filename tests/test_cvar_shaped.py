"""The CVaR plan over S-shaped curve draws against an exhaustive grid.

Channels whose value is not concave in some draw take chords filled in order (a MILP) raised by
how far each draw rises above them.  Oracle: with an equal budget and three channels, every
allocation is a point of a two-dimensional grid; the true CVaR of each is computed directly, and
the plan must reach the grid's best (within the grid's spacing) while its upper bound stays
above it.  Tangents alone (as if the curves were concave) give a "bound" below the grid's best:
the comparison can fail.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from draws import HandDraws, MeanOf

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Geometric, Hill
from roiste.optimizer.context import PlanContext
from roiste.optimizer.lp import AllocationProblem, concave_on_box, cvar, solve_cvar
from roiste.optimizer.plan import build_plan
from roiste.optimizer.scenario import Scenario


class HillDraws(HandDraws):
    """``R_sc(x) = b_sc x^h_c / (x^h_c + s_sc^h_c)``: S-shaped where ``h_c > 1``."""

    def __init__(self, beta: np.ndarray, scale: np.ndarray, h: np.ndarray) -> None:
        super().__init__(beta, scale)
        self.h = h

    def _hill(self, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        b, s, xx = self._b(x)
        h = self.h[None, :] if np.asarray(x).ndim == 1 else self.h[None, :, None]
        return b, s, h, np.maximum(xx, 1e-12)

    def revenue(self, x: Any) -> np.ndarray:
        b, s, h, xx = self._hill(x)
        r = (xx / s) ** h
        return b * r / (1.0 + r)

    def revenue_slope(self, x: Any) -> np.ndarray:
        b, s, h, xx = self._hill(x)
        r = (xx / s) ** h
        return b * h * r / (xx * (1.0 + r) ** 2)


X0 = np.array([600.0, 500.0, 700.0])
LEVEL = 0.25


def _case(seed: int) -> tuple[HillDraws, AllocationProblem]:
    rng = np.random.default_rng(seed)
    s_n, n = 12, 3
    beta = np.array([4000.0, 3000.0, 3500.0]) * rng.lognormal(0.0, 0.3, (s_n, n))
    scale = X0 * rng.lognormal(0.0, 0.25, (s_n, n))
    d = HillDraws(beta, scale, np.array([3.0, 2.5, 1.0]))
    problem = AllocationProblem(["a", "b", "c"], 0.7 * X0, 1.3 * X0, MeanOf(d, d.h <= 1.0), float(X0.sum()))
    return d, problem


def _grid_best(d: HillDraws, problem: AllocationProblem, points: int = 601
               ) -> tuple[float, float]:
    """The best true CVaR over a grid of the budget's plane, and the most one grid cell can
    hide (the largest CVaR change between neighbouring points)."""
    lo, hi = np.asarray(problem.lower), np.asarray(problem.upper)
    a, b = np.meshgrid(np.linspace(lo[0], hi[0], points), np.linspace(lo[1], hi[1], points),
                       indexing="ij")
    c = problem.budget - a - b
    ok = (c >= lo[2]) & (c <= hi[2])
    x = np.stack([a[ok], b[ok], c[ok]])
    u = d.value(x).sum(1) - d.value(X0).sum(1)[:, None]
    worst = round(LEVEL * d.n_draws)  # a whole number of draws: the mean of the worst ones
    assert worst == LEVEL * d.n_draws
    values = np.sort(u, axis=0)[:worst].mean(axis=0)
    assert values[0] == pytest.approx(cvar(u[:, 0], LEVEL))
    grid = np.full(a.shape, np.nan)
    grid[ok] = values
    step = np.nanmax(np.abs(np.diff(grid, axis=0)))
    return float(np.nanmax(values)), float(step)


@pytest.fixture(scope="module", params=[3, 11])
def case(request: pytest.FixtureRequest) -> tuple[HillDraws, AllocationProblem, float, float]:
    d, problem = _case(request.param)
    best, cell = _grid_best(d, problem)
    return d, problem, best, cell


def test_the_plan_reaches_the_grid_best_and_its_bound_holds(case: Any) -> None:
    d, problem, best, cell = case
    res = solve_cvar(problem, d, LEVEL, X0, tol=1e-6, shaped=np.array([True, True, False]))
    sol = res.solution
    assert sol.status == "optimal"
    assert sol.milp
    # the true CVaR of the plan, and the bracket around the grid's best
    base = d.value(X0).sum(1)
    assert sol.value == pytest.approx(cvar(d.value(sol.x).sum(1) - base, LEVEL))
    assert sol.upper_bound >= best - 1e-9 * problem.budget
    assert sol.value >= best - cell
    assert sol.x.sum() == pytest.approx(problem.budget)
    assert np.all(sol.x >= np.asarray(problem.lower) - 1e-9)
    assert np.all(sol.x <= np.asarray(problem.upper) + 1e-9)


def test_highs_reaches_the_same_certified_plan(case: Any) -> None:
    d, problem, best, _ = case
    shaped = np.array([True, True, False])
    cbc = solve_cvar(problem, d, LEVEL, X0, tol=1e-6, shaped=shaped).solution
    highs = solve_cvar(problem, d, LEVEL, X0, tol=1e-6, shaped=shaped, solver="HiGHS").solution
    assert highs.status == "optimal" and highs.milp
    assert highs.upper_bound >= best - 1e-9 * problem.budget
    # each certificate brackets the other's value
    assert highs.value <= cbc.upper_bound + 1e-9 * problem.budget
    assert cbc.value <= highs.upper_bound + 1e-9 * problem.budget
    assert np.isfinite(highs.shadow_price)


@pytest.mark.parametrize("limit", [1e-6, 0.01])
def test_a_milp_stopped_early_still_brackets_the_optimum(case: Any, limit: float) -> None:
    # a time limit too short to prove the MILP (or to find any allocation): whatever round it
    # stops in, the bound it reports (the relaxation's) stays above the grid's best and the
    # plan is a real allocation (the current one when nothing better was found)
    d, problem, best, cell = case
    res = solve_cvar(problem, d, LEVEL, X0, tol=1e-9, shaped=np.array([True, True, False]),
                     time_limit=limit, candidates=(X0,))
    sol = res.solution
    assert sol.status in ("milp_not_proven", "optimal")
    assert sol.upper_bound >= best - 1e-9 * problem.budget
    base = d.value(X0).sum(1)
    assert sol.value == pytest.approx(cvar(d.value(sol.x).sum(1) - base, LEVEL))
    assert sol.value <= best + cell


def test_tangents_alone_would_certify_a_wrong_bound(case: Any) -> None:
    # the same problem treated as if every draw were concave: its "upper bound" lies below
    # what the grid reaches, so the chords are what makes the certificate hold
    d, problem, best, _ = case
    wrong = solve_cvar(problem, d, LEVEL, X0, tol=1e-6).solution
    assert wrong.upper_bound < best - 1e-3 * abs(best)


def test_the_budget_price_is_the_value_of_one_more_unit(case: Any) -> None:
    # the dual of the MILP with its binaries held, against re-solving with a larger budget:
    # the CVaR is concave in the budget on neither side, so the finite difference is the check
    d, problem, _, _ = case
    shaped = np.array([True, True, False])
    sol = solve_cvar(problem, d, LEVEL, X0, tol=1e-8, shaped=shaped).solution
    more = solve_cvar(replace(problem, budget=problem.budget + 1.0), d, LEVEL, X0, tol=1e-8,
                      shaped=shaped).solution
    assert np.isfinite(sol.shadow_price)
    assert sol.shadow_price == pytest.approx(more.value - sol.value, abs=0.05)


def test_the_same_problem_gives_the_same_bytes(case: Any) -> None:
    d, problem, _, _ = case
    shaped = np.array([True, True, False])
    one, two = (solve_cvar(problem, d, LEVEL, X0, tol=1e-6, shaped=shaped) for _ in range(2))
    assert one.solution.x.tobytes() == two.solution.x.tobytes()
    assert one.solution.upper_bound == two.solution.upper_bound


# ------------------------------------------------------------------ through the planner


def _s_curve(name: str, beta: float, k: float, spend: float, draws: int, seed: int
             ) -> ResponseCurve:
    rng = np.random.default_rng(seed)
    ds = tuple(Component(beta * f, Hill(k=k * g, s=2.5), Geometric(alpha=0.0))
               for f, g in rng.lognormal(0.0, 0.25, (draws, 2)))
    return ResponseCurve(name, Component(beta, Hill(k=k, s=2.5), Geometric(alpha=0.0)),
                         recent_spend=spend, draws=ds)


def test_a_plan_on_s_shaped_draws_counts_every_draw() -> None:
    # two channels whose draws turn from convex to concave inside the step's box: the cvar
    # plan is made on the CVaR of all the draws (not on the expected net margin, not on the
    # point curves), and reaches the best CVaR along the budget line
    cs = CurveSet([_s_curve("a", 9000.0, 220.0, 200.0, 16, 1),
                   _s_curve("b", 7000.0, 260.0, 200.0, 16, 2)])
    current = pd.Series([200.0, 200.0], index=["a", "b"])
    scenario = Scenario.model_validate({"name": "s", "data": "x.csv", "step": 0.2,
                                        "economics": {"gross_margin": 0.5},
                                        "risk": {"kind": "cvar", "level": 0.25},
                                        "tolerance": 1e-6})
    ctx = PlanContext.create(cs, scenario, current)
    assert ctx.draws is not None and not ctx.draws.all_concave.any()
    plan = build_plan(cs, scenario, current)
    assert plan.risk == "cvar"
    assert not any("concave" in n or "point estimate" in n for n in plan.notes)
    x0 = ctx.x0
    x = plan.allocation["recommended_spend"].to_numpy(float)
    base = ctx.draws.value(x0).sum(1)
    lo, hi = 0.8 * x0, 1.2 * x0
    grid = np.linspace(max(lo[0], x0.sum() - hi[1]), min(hi[0], x0.sum() - lo[1]), 4001)
    pts = np.stack([grid, x0.sum() - grid])
    u = ctx.draws.value(pts).sum(1) - base[:, None]
    best = max(cvar(u[:, i], 0.25) for i in range(len(grid)))
    got = cvar(ctx.draws.value(x).sum(1) - base, 0.25)
    assert got >= best - 1e-4 * abs(best)
    # the expected plan counts every draw too (its moves here lack the support of 90 % of
    # the draws, so it holds them); it is no better in the worst quarter
    expected = build_plan(cs, scenario.model_copy(update={"risk": scenario.risk.model_copy(
        update={"kind": "expected"})}), current)
    assert expected.risk == "expected"
    assert not any("point estimate" in n for n in expected.notes)
    xe = expected.allocation["recommended_spend"].to_numpy(float)
    assert float((ctx.draws.value(xe).sum(1) - base).mean()) >= -1e-9
    assert cvar(ctx.draws.value(xe).sum(1) - base, 0.25) <= got + 1e-9
    # its objective is the mean net margin over the draws, at current and recommended spend
    assert expected.objective_current == pytest.approx(float(base.mean()), rel=1e-9)
    assert expected.objective_recommended == pytest.approx(
        float(ctx.draws.value(xe).sum(1).mean()), rel=1e-9)


def test_a_roas_target_with_s_shaped_draws_holds_on_the_fitted_curves() -> None:
    # the fitted curves are concave over the step, some draws are not: the target rows stay
    # on the fitted curves and the CVaR counts every draw (no fallback to the point plan)
    cs = CurveSet([_s_curve("a", 9000.0, 220.0, 200.0, 16, 1),
                   _s_curve("b", 7000.0, 215.0, 200.0, 16, 2)])
    current = pd.Series([200.0, 200.0], index=["a", "b"])
    base_keys = {"name": "s", "data": "x.csv", "step": 0.2, "economics": {"gross_margin": 0.5},
                 "risk": {"kind": "cvar", "level": 0.25}, "tolerance": 1e-5}
    free = build_plan(cs, Scenario.model_validate(base_keys), current)
    ctx = PlanContext.create(cs, Scenario.model_validate(base_keys), current)
    fitted = ctx.objective_functions
    x0 = ctx.x0
    lo, hi = 0.8 * x0, 1.2 * x0
    assert np.all(concave_on_box(fitted, lo)[1])  # past the inflection on the whole box
    assert not ctx.draws.all_concave.all()  # some draws are not
    grid = np.linspace(max(lo[0], x0.sum() - hi[1]), min(hi[0], x0.sum() - lo[1]), 4001)
    pts = np.stack([grid, x0.sum() - grid])
    roas = fitted.revenue(pts).sum(0) / x0.sum()
    x_free = free.allocation["recommended_spend"].to_numpy(float)
    # a target the unconstrained plan misses: above its ROAS, below the best on the line
    target = round(0.5 * (float(fitted.revenue(x_free).sum() / x0.sum()) + float(roas.max())), 4)
    scenario = Scenario.model_validate({**base_keys,
                                        "constraints": [{"target_roas": target}]})
    plan = build_plan(cs, scenario, current)
    assert plan.risk == "cvar"
    assert not any("point estimate" in n for n in plan.notes)
    x = plan.allocation["recommended_spend"].to_numpy(float)
    assert float(fitted.revenue(x).sum() / x.sum()) >= target - 1e-9
    base = ctx.draws.value(x0).sum(1)
    u = ctx.draws.value(pts).sum(1) - base[:, None]
    ok = roas >= target
    best = max(cvar(u[:, i], 0.25) for i in np.flatnonzero(ok))
    assert cvar(ctx.draws.value(x).sum(1) - base, 0.25) >= best - 1e-3 * abs(best)
