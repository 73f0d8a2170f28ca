"""S-shaped (and convex) channel values: the MILP finds the global optimum a local method misses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Exponential, Geometric, Hill, MichaelisMenten
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.lp import AllocationProblem, TargetConstraint, solve


def _curve(name: str, beta: float, sat: object, spend: float,
           ratios: dict[str, float] | None = None) -> ResponseCurve:
    return ResponseCurve(name, Component(beta, sat, Geometric(alpha=0.0)),  # type: ignore[arg-type]
                         recent_spend=spend, ratios=ratios or {})


def _grid_best(pf: PeriodFunctions, lo: np.ndarray, hi: np.ndarray, budget: float,
               n: int = 1201) -> tuple[float, np.ndarray]:
    """Brute force over three channels: a grid on the first two, the third takes the rest."""
    g0 = np.linspace(lo[0], hi[0], n)
    g1 = np.linspace(lo[1], hi[1], n)
    a, b = np.meshgrid(g0, g1, indexing="ij")
    c = budget - a - b
    ok = (c >= lo[2]) & (c <= hi[2])
    X = np.vstack([a[ok], b[ok], c[ok]])
    v = pf.value(X).sum(axis=0)
    i = int(np.argmax(v))
    return float(v[i]), X[:, i]


def _three_curves(seed: int) -> CurveSet:
    """Two S-shaped Hill curves and a concave one, drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    return CurveSet([
        _curve("a", rng.uniform(3000, 6000), Hill(k=rng.uniform(500, 1500), s=rng.uniform(2, 3)),
               500.0),
        _curve("b", rng.uniform(3000, 6000), Hill(k=rng.uniform(500, 1500), s=0.8), 500.0),
        _curve("c", rng.uniform(3000, 6000), Hill(k=rng.uniform(500, 1500), s=rng.uniform(1.5, 3)),
               500.0),
    ])


@pytest.mark.parametrize("solver", ["CBC", "HiGHS"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_milp_equals_brute_force(seed: int, solver: str) -> None:
    curves = _three_curves(seed)
    pf = PeriodFunctions(curves, ChannelEconomics(gross_margin=0.5), 1)
    lo, hi = np.zeros(3), np.full(3, 2500.0)
    budget = 2100.0
    sol = solve(AllocationProblem(curves.channels, lo, hi, pf, budget), solver=solver)
    assert sol.milp and sol.gap <= 1e-4
    best, _ = _grid_best(pf, lo, hi, budget)
    # the grid is a plan too: it cannot beat the certified bound; and the plan is within
    # its gap of the true optimum, which is within one grid step (|V'| <= 10, step ~2) of it
    assert best <= sol.upper_bound + 1e-6
    denom = max(abs(sol.upper_bound), abs(sol.value), 0.01 * budget)
    assert sol.value >= best - sol.gap * denom - 1e-6
    assert sol.value <= best + 10 * 2.1 * 2
    assert sol.x.sum() == pytest.approx(budget, rel=1e-9)


@pytest.mark.parametrize("solver", ["CBC", "HiGHS"])
@pytest.mark.parametrize("limit", [0.001, 0.01])
def test_a_time_limited_milp_still_brackets_the_optimum(limit: float, solver: str) -> None:
    # stopped by the limit (with or without an allocation of its own), the MILP's answer is not
    # taken for a proof: the bound comes from the relaxation and stays above the brute force
    curves = _three_curves(0)
    pf = PeriodFunctions(curves, ChannelEconomics(gross_margin=0.5), 1)
    lo, hi = np.zeros(3), np.full(3, 2500.0)
    sol = solve(AllocationProblem(curves.channels, lo, hi, pf, 2100.0), solver=solver,
                time_limit=limit)
    best, _ = _grid_best(pf, lo, hi, 2100.0)
    assert sol.status in ("optimal", "milp_not_proven")
    assert best <= sol.upper_bound + 1e-6
    assert sol.value <= best + 10 * 2.1 * 2
    assert float(pf.value(sol.x).sum()) == pytest.approx(sol.value)


def test_a_local_method_stays_stuck_where_the_milp_does_not() -> None:
    # "video" is S-shaped (Hill s = 3, half saturation at 4000 a week): at the current 300 a
    # week it earns almost nothing per extra unit (marginal net margin -0.96 against -0.90 for
    # "search"), so every local step moves money out of it; past ~3000 it earns far more than
    # "search", which is concave and already saturating.
    curves = CurveSet([
        _curve("search", 6000.0, MichaelisMenten(k=2000.0), 3000.0),
        _curve("video", 20000.0, Hill(k=4000.0, s=3.0), 500.0),
    ])
    pf = PeriodFunctions(curves, ChannelEconomics(gross_margin=0.5), 1)
    x0 = np.array([5700.0, 300.0])
    lo, hi = np.zeros(2), np.full(2, 6000.0)
    budget = float(x0.sum())
    local = minimize(
        lambda x: -float(pf.value(x).sum()), x0, jac=lambda x: -pf.slope(x),
        method="SLSQP", bounds=list(zip(lo, hi, strict=True)),
        constraints=[{"type": "eq", "fun": lambda x: x.sum() - budget}],
    )
    sol = solve(AllocationProblem(curves.channels, lo, hi, pf, budget))
    assert local.success
    assert local.x[1] <= x0[1]  # the local method only takes money out of video
    assert sol.x[1] > 3000  # the global optimum invests in video past its threshold
    assert sol.value > -local.fun + 1000
    best, _ = _grid_best_two(pf, lo, hi, budget)
    assert sol.value == pytest.approx(best, abs=1.0)


def _grid_best_two(pf: PeriodFunctions, lo: np.ndarray, hi: np.ndarray,
                   budget: float) -> tuple[float, float]:
    a = np.linspace(max(lo[0], budget - hi[1]), min(hi[0], budget - lo[1]), 200001)
    v = pf.value(np.vstack([a, budget - a])).sum(axis=0)
    return float(v.max()), float(a[int(np.argmax(v))])


@pytest.mark.parametrize("solver", ["CBC", "HiGHS"])
def test_convex_value_of_a_loss_making_channel(solver: str) -> None:
    # "returns" loses money on every sale (k = 0.5 - 20/10 < 0): its value is convex, and the
    # budget must still be spent; the MILP puts the forced spend where it hurts least
    curves = CurveSet([
        _curve("good", 8000.0, Exponential(k=3000.0), 2000.0),
        _curve("bad", 8000.0, MichaelisMenten(k=1000.0), 2000.0, {"revenue_per_order": 10.0}),
    ])
    econ = {"good": ChannelEconomics(gross_margin=0.5),
            "bad": ChannelEconomics(gross_margin=0.5, cost_per_order=20.0)}
    pf = PeriodFunctions(curves, econ, 1)
    assert not pf.concave[1]
    lo, hi = np.array([0.0, 0.0]), np.array([3000.0, 5000.0])
    sol = solve(AllocationProblem(curves.channels, lo, hi, pf, 6000.0), solver=solver)
    best, a = _grid_best_two(pf, lo, hi, 6000.0)
    # a negative objective: the MILP's own bound must be read in the right direction
    assert sol.milp and sol.gap <= 1e-4 and sol.status == "optimal" and sol.value < 0
    assert sol.value == pytest.approx(best, abs=0.05)
    assert sol.x[0] == pytest.approx(a, abs=1.0)


def test_target_roas_holds_with_s_shaped_channels() -> None:
    curves = CurveSet([
        _curve("a", 5000.0, Hill(k=1000.0, s=2.5), 800.0),
        _curve("b", 4000.0, Hill(k=800.0, s=0.8), 900.0),
        _curve("c", 6000.0, Exponential(k=2000.0), 700.0),
    ])
    econ = {"a": ChannelEconomics(gross_margin=0.6), "b": ChannelEconomics(gross_margin=0.3),
            "c": ChannelEconomics(gross_margin=0.45)}
    pf = PeriodFunctions(curves, econ, 1)
    lo, hi = np.full(3, 200.0), np.full(3, 2500.0)
    target = TargetConstraint("roas", "min_roas", 2.4, ["b", "c"])
    sol = solve(AllocationProblem(curves.channels, lo, hi, pf, 3000.0, targets=[target]))
    r = pf.revenue(sol.x)
    assert r[1:].sum() >= 2.4 * sol.x[1:].sum() * (1 - 1e-9)
    assert sol.gap <= 1e-4


@pytest.mark.parametrize(("sa", "sb"), [(0.5, 2.5), (2.5, 3.0), (0.7, 0.9)])
@pytest.mark.parametrize("kind", ["min_roas", "max_cost_per_new_customer"])
def test_binding_targets_against_brute_force(sa: float, sb: float, kind: str) -> None:
    # a (shape sa, from 0 spend: an infinite marginal there when sa < 1) brings new customers,
    # b (shape sb) margin; each target is set halfway between the free optimum's and the best
    # achievable, so it binds
    curves = CurveSet([
        _curve("a", 5000.0, Hill(k=1000.0, s=sa), 500.0, {"new_customers_per_revenue": 0.01}),
        _curve("b", 6000.0, Hill(k=900.0, s=sb), 500.0, {"new_customers_per_revenue": 0.002}),
    ])
    pf = PeriodFunctions(curves, {"a": ChannelEconomics(gross_margin=0.3),
                                  "b": ChannelEconomics(gross_margin=0.7)}, 1)
    lo, hi, budget = np.zeros(2), np.full(2, 3000.0), 2000.0
    a = np.linspace(0.0, budget, 400001)
    X = np.vstack([a, budget - a])
    v, r, nc = pf.value(X).sum(0), pf.revenue(X).sum(0), pf.new_customers(X).sum(0)
    i = int(np.argmax(v))
    if kind == "min_roas":
        target = 0.5 * (r[i] + r.max()) / budget
        ok = r >= target * budget
    else:
        target = 0.5 * (budget / nc[i] + budget / nc.max())
        ok = budget <= target * nc
    best = float(v[ok].max())
    sol = solve(AllocationProblem(curves.channels, lo, hi, pf, budget,
                                  targets=[TargetConstraint("t", kind, target)]))
    assert best <= sol.upper_bound + 1e-6  # the grid's best feasible plan respects the bound
    assert sol.value >= best - sol.gap * max(abs(sol.upper_bound), 20.0) - 0.01
    if kind == "min_roas":
        assert pf.revenue(sol.x).sum() >= target * budget * (1 - 1e-9)
    else:
        assert budget <= target * pf.new_customers(sol.x).sum() * (1 + 1e-9)


@pytest.mark.parametrize("seed", range(12))
def test_random_mixed_problems_against_brute_force(seed: int) -> None:
    """Hill shapes from 0.6 to 3, costs that may make channels lose money, both budget modes
    and both solvers: the brute-force optimum over a grid never beats the certified bound, and
    the plan is within its gap of it."""
    rng = np.random.default_rng(seed)
    curves = CurveSet([
        ResponseCurve(f"c{i}", Component(rng.uniform(2e3, 8e3), Hill(
            k=rng.uniform(300, 1500), s=float(rng.choice([0.6, 1.0, 1.8, 2.6, 3.0]))),
            Geometric(alpha=rng.uniform(0, 0.5))), 500.0,
            ratios={"revenue_per_order": 50.0, "new_customers_per_revenue": 0.01})
        for i in range(3)
    ])
    econ = ChannelEconomics(gross_margin=rng.uniform(0.2, 0.7),
                            cost_per_order=float(rng.choice([0.0, 20.0, 40.0])),
                            platform_fee_rate=0.05)
    pf = PeriodFunctions(curves, econ, 2)
    lo = rng.uniform(0, 800, 3) * (rng.random(3) < 0.5)
    hi = lo + rng.uniform(500, 4000, 3)
    budget = float(rng.uniform(lo.sum(), hi.sum()))
    mode = "equal" if seed % 2 else "at_most"
    sol = solve(AllocationProblem(curves.channels, lo, hi, pf, budget, budget_mode=mode),
                solver="HiGHS" if seed % 3 else "CBC")
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 301), np.linspace(lo[1], hi[1], 301))
    a, b = g0.ravel(), g1.ravel()
    if mode == "equal":
        c = budget - a - b
        ok = (c >= lo[2]) & (c <= hi[2])
        best = float(pf.value(np.vstack([a[ok], b[ok], c[ok]])).sum(0).max())
    else:
        best = -np.inf
        for c3 in np.linspace(lo[2], hi[2], 61):
            ok = a + b + c3 <= budget
            if ok.any():
                X = np.vstack([a[ok], b[ok], np.full(ok.sum(), c3)])
                best = max(best, float(pf.value(X).sum(0).max()))
    denom = max(abs(sol.upper_bound), abs(sol.value), 0.01 * budget)
    assert sol.status == "optimal" and sol.gap <= 1e-4
    assert best <= sol.upper_bound + 1e-7 * max(abs(best), budget)
    assert sol.value >= best - sol.gap * denom - 1e-6 * denom
