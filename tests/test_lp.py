"""The allocation LP: certified optimum, constraints held, infeasibility explained."""

from __future__ import annotations

import numpy as np
import pytest
from lp_worlds import ClosedFormModel, random_model

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import InfeasibleError, RoisteError
from roiste.models.transforms import Exponential, Geometric, Logistic, MichaelisMenten
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.lp import AllocationProblem, ShareConstraint, TargetConstraint, solve


def _denominator(sol, budget: float) -> float:  # type: ignore[no-untyped-def]
    return max(abs(sol.upper_bound), abs(sol.value), 0.01 * budget)


def _check_certificate(sol, model, lo, hi, budget, at_most=False):  # type: ignore[no-untyped-def]
    x_opt, _ = model.optimum(lo, hi, budget, at_most=at_most)
    opt = float(model.value(x_opt).sum())
    scale = 1e-8 * max(abs(opt), budget)
    assert sol.value <= opt + scale
    assert opt <= sol.upper_bound + scale
    assert sol.gap <= 1e-4
    assert opt - sol.value <= sol.gap * _denominator(sol, budget) + scale
    return opt


def test_budget_and_boxes_against_the_exact_optimum() -> None:
    rng = np.random.default_rng(7)
    model = random_model(rng, 40)
    x0 = rng.uniform(500, 5000, 40)
    lo, hi = 0.85 * x0, 1.15 * x0
    budget = float(x0.sum())
    sol = solve(AllocationProblem([f"c{i}" for i in range(40)], lo, hi, model, budget))
    _check_certificate(sol, model, lo, hi, budget)
    assert sol.x.sum() == pytest.approx(budget, rel=1e-9)
    assert np.all(sol.x >= lo - 1e-9) and np.all(sol.x <= hi + 1e-9)
    assert sol.value >= float(model.value(x0).sum())  # never worse than the current plan
    assert not sol.milp and sol.status == "optimal"


def test_shadow_price_is_the_budget_multiplier() -> None:
    rng = np.random.default_rng(11)
    model = random_model(rng, 12)
    x0 = rng.uniform(500, 5000, 12)
    lo, hi = 0.5 * x0, 1.5 * x0
    budget = float(x0.sum()) * 1.1
    _, lam = model.optimum(lo, hi, budget)
    for solver in ("CBC", "HiGHS"):
        sol = solve(AllocationProblem(list("abcdefghijkl"), lo, hi, model, budget), solver=solver)
        assert sol.shadow_price == pytest.approx(lam, abs=1e-3 * max(1.0, abs(lam)))


def test_cbc_and_highs_agree() -> None:
    rng = np.random.default_rng(5)
    model = random_model(rng, 30)
    x0 = rng.uniform(500, 5000, 30)
    lo, hi = 0.8 * x0, 1.2 * x0
    shares = [ShareConstraint("first", np.arange(10), max_share=0.3)]
    targets = [TargetConstraint("roas", "min_roas", 1.0)]
    sols = [solve(AllocationProblem([str(i) for i in range(30)], lo, hi, model, x0.sum(),
                                    shares=shares, targets=targets), solver=s)
            for s in ("CBC", "HiGHS")]
    a, b = sols
    assert a.solver == "PULP_CBC_CMD" and b.solver == "HiGHS"
    assert a.value <= b.upper_bound + 1e-6 and b.value <= a.upper_bound + 1e-6
    assert abs(a.value - b.value) <= max(a.gap, b.gap) * _denominator(a, x0.sum()) + 1e-6


def test_locked_channels_unchanged_and_at_most_budget() -> None:
    model = ClosedFormModel(beta=np.array([1000.0, 5000.0, 3000.0]),
                            scale=np.array([500.0, 2000.0, 1000.0]),
                            mm=np.array([True, False, True]),
                            coefficient=np.full(3, 0.4), cost=np.ones(3))
    lo = np.array([100.0, 1000.0, 700.0])
    hi = np.array([2000.0, 1000.0, 5000.0])  # channel 1 locked at 1000
    sol = solve(AllocationProblem(["a", "b", "c"], lo, hi, model, 6000.0, budget_mode="at_most"))
    assert sol.x[1] == 1000.0
    # with budget to spare each free channel stops where its marginal net margin is zero:
    # a: 0.4 * 1000 * 500 / (x + 500)^2 = 1 -> x = sqrt(200000) - 500 < 100 -> lower bound
    # c: 0.4 * 3000 * 1000 / (x + 1000)^2 = 1 -> x = sqrt(1.2e6) - 1000 = 95.4 -> 700
    np.testing.assert_allclose(sol.x, [100.0, 1000.0, 700.0], atol=1e-6)
    assert sol.shadow_price == 0.0
    # a richer channel spends up to its zero marginal, under the budget
    rich = ClosedFormModel(beta=np.array([50000.0]), scale=np.array([1000.0]),
                           mm=np.array([True]), coefficient=np.array([0.4]), cost=np.ones(1))
    s2 = solve(AllocationProblem(["r"], [0.0], [10000.0], rich, 9000.0, budget_mode="at_most"))
    want = np.sqrt(0.4 * 50000 * 1000) - 1000  # 3472.1
    assert s2.x[0] == pytest.approx(want, rel=1e-4)


def test_share_cap_and_floor_hold() -> None:
    rng = np.random.default_rng(2)
    model = random_model(rng, 8)
    x0 = rng.uniform(1000, 3000, 8)
    lo, hi = 0.5 * x0, 1.5 * x0
    budget = float(x0.sum())
    names = [f"c{i}" for i in range(8)]
    cap = ShareConstraint("social", ["c0", "c1", "c2"], max_share=0.25)
    floor = ShareConstraint("brand", np.array([False] * 6 + [True] * 2), min_share=0.3)
    sol = solve(AllocationProblem(names, lo, hi, model, budget, shares=[cap, floor]))
    # rows hold to the solvers' tolerance, 1e-9 of the budget
    assert sol.x[:3].sum() <= 0.25 * sol.x.sum() + 1e-9 * budget
    assert sol.x[6:].sum() >= 0.3 * sol.x.sum() - 1e-9 * budget
    # no feasible plan beats the certified bound, and the plan is within its gap of them all
    best = -np.inf
    for _ in range(3000):
        x = rng.uniform(lo, hi)
        x *= budget / x.sum()
        if np.all(x >= lo) and np.all(x <= hi) and x[:3].sum() <= 0.25 * budget and (
                x[6:].sum() >= 0.3 * budget):
            best = max(best, float(model.value(x).sum()))
    assert np.isfinite(best) and best <= sol.upper_bound + 1e-6


def test_targets_hold_on_the_true_curves() -> None:
    rng = np.random.default_rng(4)
    model = random_model(rng, 6)
    model.coefficient = rng.uniform(0.2, 0.6, 6)  # margins differ: margin and revenue disagree
    x0 = rng.uniform(1000, 4000, 6)
    lo, hi = 0.5 * x0, 1.5 * x0
    budget = float(x0.sum())
    free = solve(AllocationProblem(list("abcdef"), lo, hi, model, budget))
    roas_free = model.revenue(free.x).sum() / free.x.sum()
    revenue_only = ClosedFormModel(model.beta, model.scale, model.mm, np.ones(6), np.zeros(6))
    x_rev, _ = revenue_only.optimum(lo, hi, budget)
    roas_max = model.revenue(x_rev).sum() / budget
    assert roas_max > roas_free * 1.001
    target = 0.5 * (roas_free + roas_max)
    sol = solve(AllocationProblem(list("abcdef"), lo, hi, model, budget,
                                  targets=[TargetConstraint("roas", "min_roas", target)]))
    assert model.revenue(sol.x).sum() >= target * sol.x.sum() * (1 - 1e-9)
    assert sol.value <= free.upper_bound + 1e-6 and sol.gap <= 1e-4
    cpnc_free = free.x.sum() / model.new_customers(free.x).sum()
    t2 = TargetConstraint("cac", "max_cost_per_new_customer", cpnc_free * 0.97, list("abc"))
    sol2 = solve(AllocationProblem(list("abcdef"), lo, hi, model, budget, targets=[t2]))
    assert sol2.x[:3].sum() <= t2.target * model.new_customers(sol2.x)[:3].sum() * (1 + 1e-9)


def test_period_functions_from_curves_plan_end_to_end() -> None:
    curves = CurveSet([
        ResponseCurve("search", Component(20000.0, MichaelisMenten(k=5000.0),
                                          Geometric(alpha=0.2)), 4000.0),
        ResponseCurve("social", Component(15000.0, Exponential(k=3000.0),
                                          Geometric(alpha=0.0)), 3000.0),
        ResponseCurve("tv", Component(30000.0, Logistic(k=10000.0), Geometric(alpha=0.5)),
                      8000.0),
    ])
    pf = PeriodFunctions(curves, ChannelEconomics(gross_margin=0.5), 4)
    x0 = np.array([16000.0, 12000.0, 32000.0])
    sol = solve(AllocationProblem(curves.channels, 0.85 * x0, 1.15 * x0, pf, x0.sum()))
    assert sol.gap <= 1e-4 and sol.value >= float(pf.value(x0).sum())
    # where no channel sits on its box, the marginal net margins are equal (= shadow price)
    inner = (sol.x > 0.85 * x0 + 1) & (sol.x < 1.15 * x0 - 1)
    for i in np.flatnonzero(inner):
        w = sol.x[i] / 4
        assert 0.5 * curves[curves.channels[i]].marginal(w) - 1 == pytest.approx(
            sol.shadow_price, abs=2e-3)


# ------------------------------------------------------------------- infeasibility


def _three() -> ClosedFormModel:
    return ClosedFormModel(beta=np.array([20000.0, 15000.0, 30000.0]),
                           scale=np.array([5000.0, 3000.0, 10000.0]),
                           mm=np.array([True, False, True]), coefficient=np.full(3, 0.5),
                           cost=np.ones(3))


LO = np.array([1000.0, 1000.0, 1000.0])
HI = np.array([10000.0, 10000.0, 10000.0])
NAMES = ["search", "social", "tv"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lower": [50000.0, 40000.0, 30000.0], "upper": [60000.0] * 3, "budget": 100000.0},
         "channel lower bounds sum to 120,000 but the budget is 100,000"),
        ({"budget": 50000.0},
         "budget 50,000 exceeds the sum of channel upper bounds 30,000"),
        ({"lower": [5000.0, 1000.0, 1000.0], "upper": [4000.0, 9000.0, 9000.0]},
         "channel 'search': lower bound 5,000 exceeds upper bound 4,000"),
        ({"shares": [ShareConstraint("social", ["social", "search"], max_share=0.1)]},
         "group share cap social<=0.10 allows at most 1,500 of the budget 15,000, but the "
         "group needs at least 5,000: the other channels can take at most 10,000"),
        ({"shares": [ShareConstraint("tv", ["tv"], min_share=0.8)]},
         "group share floor tv>=0.80 needs at least 12,000 of the budget 15,000, but the "
         "group can take at most 10,000: its upper bounds sum to 10,000"),
        ({"targets": [TargetConstraint("roas", "min_roas", 5.0)]},
         "target ROAS 5 (roas) cannot be met: the best achievable ROAS within the channel "
         "bounds is {best_roas:.2f}"),
        ({"targets": [TargetConstraint("roas", "min_roas", 2.3)]},
         "target ROAS 2.3 (roas) cannot be met: the best achievable ROAS within the channel "
         "bounds and the budget is {budget_roas:.2f}"),
        ({"shares": [ShareConstraint("a", ["social", "search"], max_share=0.5),
                     ShareConstraint("b", ["social", "search"], min_share=0.6)]},
         "constraints conflict: group share cap a<=0.50 and group share floor b>=0.60: within "
         "the channel bounds they cannot all hold; the closest plan misses group share cap "
         "a<=0.50 by 333"),
    ],
)
def test_infeasible_problems_are_explained(kwargs: dict[str, object], message: str) -> None:
    args = {"names": NAMES, "lower": LO, "upper": HI, "functions": _three(), "budget": 15000.0}
    args.update(kwargs)
    args["lower"] = np.asarray(args["lower"])
    args["upper"] = np.asarray(args["upper"])
    with pytest.raises(InfeasibleError) as err:
        solve(AllocationProblem(**args))  # type: ignore[arg-type]
    assert str(err.value) == message.format(best_roas=_best_roas(), budget_roas=_budget_roas())


def _revenue_model() -> ClosedFormModel:
    m = _three()
    return ClosedFormModel(m.beta, m.scale, m.mm, np.ones(3), np.zeros(3))


def _best_roas() -> float:
    """max sum R / sum x over the boxes: Dinkelbach with the closed-form argmax of R - r x."""
    m, r = _revenue_model(), 0.0
    for _ in range(100):
        x = m.spend_at_price(r, LO, HI)
        r = float(m.revenue(x).sum() / x.sum())
    return r


def _budget_roas() -> float:
    """With the whole budget spent, the best ROAS is the most revenue over the budget."""
    x, _ = _revenue_model().optimum(LO, HI, 15000.0)
    return float(_revenue_model().revenue(x).sum() / 15000.0)


def test_cost_per_new_customer_target_explained() -> None:
    t = TargetConstraint("cac", "max_cost_per_new_customer", 5.0)
    with pytest.raises(InfeasibleError) as err:
        solve(AllocationProblem(NAMES, LO, HI, _three(), 15000.0, targets=[t]))
    # every channel brings 0.01 new customers per unit of revenue: the lowest cost per new
    # customer is 100 / (the best ROAS within the bounds)
    assert str(err.value) == (
        "target cost per new customer 5 (cac) cannot be met: the lowest achievable within the "
        f"channel bounds is {100.0 / _best_roas():.2f}")


def test_unknown_solver_and_bad_constraint() -> None:
    with pytest.raises(RoisteError, match="solver 'GUROBI_X' is not available"):
        solve(AllocationProblem(NAMES, LO, HI, _three(), 15000.0), solver="GUROBI_X")
    with pytest.raises(InfeasibleError, match="unknown channel 'radio'"):
        solve(AllocationProblem(NAMES, LO, HI, _three(), 15000.0,
                                shares=[ShareConstraint("x", ["radio"], max_share=0.5)]))
    with pytest.raises(InfeasibleError, match=r"min_share 0\.6 exceeds max_share 0\.5"):
        ShareConstraint("x", [0], min_share=0.6, max_share=0.5)


def test_every_channel_locked() -> None:
    sol = solve(AllocationProblem(NAMES, LO * 5, LO * 5, _three(), 15000.0))
    np.testing.assert_array_equal(sol.x, LO * 5)
    assert sol.gap == 0.0 and sol.value == pytest.approx(float(_three().value(LO * 5).sum()))
