"""Glide paths solved together: one direction per channel, each step in its box, certified.

Oracles: the step-by-step path is recomputed here from the one-step solver and the step box
(what a path of separate steps does); the exact optimum of a tiny path is found by brute force
over every channel's direction, each a smooth concave problem solved by scipy's SLSQP.
"""

from __future__ import annotations

import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import InfeasibleError
from roiste.models.transforms import Exponential, Geometric, Hill
from roiste.optimizer.context import PlanContext
from roiste.optimizer.lp import (
    AllocationProblem,
    PathProblem,
    TargetConstraint,
    certify_steps,
    solve,
    solve_path,
)
from roiste.optimizer.plan import build_plan
from roiste.optimizer.scenario import Scenario
from roiste.optimizer.steps import step_box, step_budgets

sys.path.insert(0, str(Path(__file__).parent))
from lp_worlds import ClosedFormModel

STEP = 0.15
NONE = np.zeros(3, dtype=bool)


def zigzag_model() -> tuple[ClosedFormModel, np.ndarray]:
    """T (strong, small), M (middling, interior), D (weak): with the budget kept, step 1 frees
    more from D (15 % of 100) than T can take (15 % of 80), so M takes the rest; by step 2 T
    can take more (15 % of 92) than D frees (15 % of 85), so M gives it back."""
    f = ClosedFormModel(beta=np.array([1000.0, 600.0, 150.0]), scale=np.array([200.0, 150.0, 100.0]),
                        mm=np.zeros(3, dtype=bool), coefficient=np.ones(3), cost=np.ones(3))
    return f, np.array([80.0, 200.0, 100.0])


def bounds(x0: np.ndarray, n: int, mins: np.ndarray | None = None,
           maxs: np.ndarray | None = None, locked: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    c = len(x0)
    mins = np.zeros(c) if mins is None else mins
    maxs = np.full(c, np.inf) if maxs is None else maxs
    locked = np.zeros(c, dtype=bool) if locked is None else locked
    lo, hi, _ = step_box(x0, STEP, mins, maxs, locked)
    lows, highs = [lo], [hi]
    for _ in range(n - 1):
        lows.append(step_box(lows[-1], STEP, mins, maxs, locked)[0])
        highs.append(step_box(highs[-1], STEP, mins, maxs, locked)[1])
    return np.array(lows), np.array(highs)


def greedy(f: ClosedFormModel, x0: np.ndarray, budgets: list[float]) -> np.ndarray:
    """The path of separate steps: each step's best allocation in its box around the last."""
    prev, out = x0, []
    for b in budgets:
        lo, hi, _ = step_box(prev, STEP, np.zeros(len(x0)), np.full(len(x0), np.inf),
                             np.zeros(len(x0), dtype=bool))
        prev = solve(AllocationProblem(["a", "b", "c"][: len(x0)], lo, hi, f, b), tol=1e-7).x
        out.append(prev)
    return np.array(out)


def reversals(x0: np.ndarray, path: np.ndarray, tol: float = 1e-6) -> list[int]:
    """Channels that move up in one step and down in another."""
    d = np.diff(np.vstack([x0, path]), axis=0)
    return [c for c in range(len(x0)) if (d[:, c] > tol).any() and (d[:, c] < -tol).any()]


def assert_path_rules(x0: np.ndarray, path: np.ndarray, budgets: list[float]) -> None:
    prev = x0
    for k, xk in enumerate(path):
        assert xk.sum() == pytest.approx(budgets[k], rel=1e-9)
        assert (xk >= (1 - STEP) * prev * (1 - 1e-9)).all(), k
        assert (xk <= (1 + STEP) * prev * (1 + 1e-9)).all(), k
        prev = xk
    assert reversals(x0, path, tol=1e-9 * float(np.max(x0))) == []


def test_step_by_step_zigzags_and_the_joint_path_moves_one_way() -> None:
    f, x0 = zigzag_model()
    budgets = step_budgets(float(x0.sum()), float(x0.sum()), 3)
    old = greedy(f, x0, budgets)
    assert reversals(x0, old) == [1]          # M goes up, then down
    assert old[0, 1] > x0[1] + 2.0 and old[1, 1] < old[0, 1] - 0.5
    lo, hi = bounds(x0, 3)
    problem = PathProblem(["T", "M", "D"], x0, lo, hi, STEP, f, budgets)
    path = certify_steps(problem, solve_path(problem, tol=1e-6), tol=1e-6)
    assert_path_rules(x0, path.x, budgets)
    assert path.directions.tolist() == [1, -1, -1]
    # the certificate: the path's true value, and an upper bound within the tolerance
    true = sum(float(f.value(xk).sum()) for xk in path.x)
    assert path.value == pytest.approx(true, rel=1e-12)
    assert path.value <= path.upper_bound and path.gap <= 1e-6
    # one way costs a little of what the zigzag earns, and never more than the bound allows
    zig = sum(float(f.value(xk).sum()) for xk in old)
    assert path.value < zig and path.upper_bound < zig
    # each step certified with its neighbours held; step values add up to the path's
    assert len(path.steps) == 3
    assert sum(s.value for s in path.steps) == pytest.approx(path.value, rel=1e-12)
    for s in path.steps:
        assert s.value <= s.upper_bound and s.gap <= 1e-6


def _brute_force(f: ClosedFormModel, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 budgets: list[float], target: tuple[float, np.ndarray] | None = None) -> float:
    """The best one-way path: every direction pattern, each a concave problem for SLSQP."""
    n, c = lo.shape
    best = -math.inf
    for dirs in itertools.product((1, -1), repeat=c):
        d = np.array(dirs, dtype=float)

        def neg(z: np.ndarray) -> float:
            return -float(sum(f.value(z.reshape(n, c)[k]).sum() for k in range(n)))

        cons: list[dict[str, object]] = []
        for k in range(n):
            cons.append({"type": "eq", "fun": lambda z, k=k: z.reshape(n, c)[k].sum() - budgets[k]})

            def link(z: np.ndarray, k: int = k, d: np.ndarray = d) -> np.ndarray:
                x = z.reshape(n, c)
                prev = x0 if k == 0 else x[k - 1]
                return np.concatenate([(1 + STEP) * prev - x[k], x[k] - (1 - STEP) * prev,
                                       d * (x[k] - prev)])

            cons.append({"type": "ineq", "fun": link})
            if target is not None:
                cons.append({"type": "ineq", "fun": lambda z, k=k, t=target[0], m=target[1]: float(
                    f.revenue(z.reshape(n, c)[k])[m].sum() - t * z.reshape(n, c)[k][m].sum())})
        start = np.vstack([x0 * (budgets[k] / x0.sum()) for k in range(n)]).reshape(-1)
        res = minimize(neg, np.clip(start, lo.reshape(-1), hi.reshape(-1)), method="SLSQP",
                       bounds=list(zip(lo.reshape(-1), hi.reshape(-1), strict=True)),
                       constraints=cons, options={"ftol": 1e-13, "maxiter": 500})
        z = res.x.reshape(n, c)
        feasible = all(np.all(g["fun"](res.x) >= -1e-6) if g["type"] == "ineq"  # type: ignore[operator]
                       else abs(g["fun"](res.x)) <= 1e-6 for g in cons)  # type: ignore[operator]
        if res.success and feasible:
            best = max(best, float(sum(f.value(z[k]).sum() for k in range(n))))
    return best


@pytest.mark.parametrize("case", ["zigzag_3x3", "two_channels_rising_budget", "roas_target"])
def test_exact_against_brute_force(case: str) -> None:
    if case == "zigzag_3x3":
        f, x0 = zigzag_model()
        budgets = step_budgets(float(x0.sum()), float(x0.sum()), 3)
        targets: list[TargetConstraint] = []
        target = None
    elif case == "two_channels_rising_budget":
        f = ClosedFormModel(beta=np.array([500.0, 400.0]), scale=np.array([150.0, 60.0]),
                            mm=np.array([True, False]), coefficient=np.array([1.0, 1.2]),
                            cost=np.ones(2))
        x0 = np.array([100.0, 120.0])
        budgets = step_budgets(float(x0.sum()), 1.1 * float(x0.sum()), 2)
        targets, target = [], None
    else:
        f, x0 = zigzag_model()
        budgets = step_budgets(float(x0.sum()), float(x0.sum()), 2)
        # the blended ROAS of M and D at least 1.83 (1.79 now; step 1 reaches about 1.84)
        m = np.array([False, True, True])
        targets = [TargetConstraint("roas", "min_roas", 1.83, members=m)]
        target = (1.83, m)
    lo, hi = bounds(x0, len(budgets))
    names = [f"c{i}" for i in range(len(x0))]
    problem = PathProblem(names, x0, lo, hi, STEP, f, budgets, targets=targets)
    path = solve_path(problem, tol=1e-7)
    exact = _brute_force(f, x0, lo, hi, budgets, target)
    scale = abs(exact)
    assert path.value <= exact + 1e-6 * scale            # a path that is possible
    assert exact <= path.upper_bound + 1e-6 * scale      # the bound holds
    assert path.value >= exact - 2e-6 * scale            # and is met
    assert_path_rules(x0, path.x, budgets)
    if target is not None:
        for xk in path.x:
            assert f.revenue(xk)[target[1]].sum() >= target[0] * xk[target[1]].sum() * (1 - 1e-9)


def test_monotone_false_is_the_unrestricted_joint_optimum() -> None:
    f, x0 = zigzag_model()
    budgets = step_budgets(float(x0.sum()), float(x0.sum()), 3)
    lo, hi = bounds(x0, 3)
    free = solve_path(PathProblem(["T", "M", "D"], x0, lo, hi, STEP, f, budgets, monotone=False),
                      tol=1e-7)
    one_way = solve_path(PathProblem(["T", "M", "D"], x0, lo, hi, STEP, f, budgets), tol=1e-7)
    assert one_way.value <= free.upper_bound
    assert free.value >= one_way.value - 1e-9 * abs(free.value)


# ----------------------------------------------------------------------- through build_plan

P = 4


def zigzag_curves() -> CurveSet:
    """The zigzag world in weekly curves: period revenue ``P beta (1 - exp(-x / (P s)))``."""

    def curve(name: str, beta: float, s: float, spend: float) -> ResponseCurve:
        return ResponseCurve(name, Component(beta, Exponential(k=s * math.log(2.0)),
                                             Geometric(alpha=0.0)), spend)

    return CurveSet([curve("T", 500.0, 50.0, 20.0), curve("M", 300.0, 37.5, 50.0),
                     curve("D", 75.0, 25.0, 25.0)])


def zigzag_scenario(steps: int, **kw: object) -> Scenario:
    raw: dict[str, object] = {"name": "zigzag", "data": "unused.csv", "period_weeks": P,
                              "step": STEP, "steps": steps, "risk": "point",
                              "economics": {"gross_margin": 0.5}}
    raw.update(kw)
    return Scenario.model_validate(raw)


def test_plan_glide_path_is_one_way_where_separate_steps_zigzag() -> None:
    curves = zigzag_curves()
    cur = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    sc = zigzag_scenario(3)
    # the old behaviour, recomputed: each step solved alone in its box around the last
    ctx = PlanContext.create(curves, sc, cur)
    budgets = step_budgets(ctx.current_total, ctx.budget, 3)
    prev, old = ctx.x0, []
    for b in budgets:
        lo, hi, _ = step_box(prev, STEP, ctx.mins, ctx.maxs, ctx.locked)
        prev = solve(AllocationProblem(ctx.channels, lo, hi, ctx.objective_functions, b)).x
        old.append(prev)
    assert reversals(ctx.x0, np.array(old)) == [1]
    plan = build_plan(curves, sc, cur)
    path = np.array([s.spend for s in plan.steps])
    assert_path_rules(ctx.x0, path, budgets)
    assert plan.glide["directions"] == {"T": "up", "M": "down", "D": "down"}
    assert plan.glide["optimality_gap"] <= float(sc.tolerance)
    summed = sum(s.objective_value for s in plan.steps)
    assert plan.glide["value"] == pytest.approx(summed, rel=1e-12)
    assert plan.glide["value"] <= plan.glide["upper_bound"]
    for s in plan.steps:
        assert s.optimality_gap <= float(sc.tolerance) and s.objective_value <= s.upper_bound
    a = plan.allocation
    np.testing.assert_allclose(a["recommended_spend"], path[-1])
    np.testing.assert_allclose(a["spend_step_2"], path[1])


def test_plan_glide_path_keeps_a_locked_channel_and_reaches_a_minimum() -> None:
    curves = zigzag_curves()
    cur = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    x0 = cur.to_numpy() * P
    sc = zigzag_scenario(3, channels={"D": {"locked": True}, "T": {"min": 110.0}},
                         budget=float(x0.sum()) * 1.09)
    plan = build_plan(curves, sc, cur)
    path = np.array([s.spend for s in plan.steps])
    assert (path[:, 2] == x0[2]).all()
    # T's minimum lies beyond two steps: it grows 15 % a step, then meets it
    np.testing.assert_allclose(path[:2, 0], [80.0 * 1.15, 80.0 * 1.15**2])
    assert 110.0 - 1e-9 <= path[2, 0] <= 80.0 * 1.15**3 * (1 + 1e-12)
    assert sum("beyond one step" in n for n in plan.notes) == 2
    assert reversals(x0, path) == []


def test_an_impossible_target_names_the_step_that_cannot_meet_it() -> None:
    curves = zigzag_curves()
    cur = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    sc = zigzag_scenario(3, constraints=[{"target_roas": 50.0, "name": "dream"}])
    with pytest.raises(InfeasibleError, match=r"step 1 of 3: .*dream"):
        build_plan(curves, sc, cur)


def test_with_curve_draws_the_path_holds_a_move_the_draws_split_on() -> None:
    """c's draws are half at 0.5 x and half at 1.5 x its curve: any move of c is right in
    about half the draws, so the expected path keeps c where it is; a and b (tight draws)
    still move, one way, and the path is planned on the mean over the draws.  Under cvar the
    path is planned on the worst draws, where c earns half: it cuts c, a move every draw
    supports."""
    def curve(name: str, beta: float, k: float, factors: list[float]) -> ResponseCurve:
        ds = tuple(Component(beta * f, Hill(k=k, s=1.0), Geometric(alpha=0.0)) for f in factors)
        return ResponseCurve(name, Component(beta, Hill(k=k, s=1.0), Geometric(alpha=0.0)),
                             recent_spend=200.0, draws=ds)

    tight, split = [0.97, 0.99, 1.0, 1.01, 1.03] * 4, [0.5, 1.5] * 10
    cs = CurveSet([curve("a", 6000.0, 300.0, tight), curve("b", 1500.0, 600.0, tight),
                   curve("c", 3000.0, 250.0, split)])
    cur = pd.Series([200.0, 200.0, 200.0], index=["a", "b", "c"])
    point = build_plan(cs, zigzag_scenario(3, risk="point"), cur)
    assert point.glide["directions"]["c"] != "unchanged"   # the point curves would move c
    plan = build_plan(cs, zigzag_scenario(3, risk="expected"), cur)
    path = np.array([s.spend for s in plan.steps])
    assert plan.held == ["c"] and (path[:, 2] == 800.0).all()
    assert plan.glide["risk"] == "expected" and plan.risk == "expected"
    assert plan.glide["directions"] == {"a": "up", "b": "down", "c": "unchanged"}
    assert_path_rules(cur.to_numpy() * P, path, [2400.0] * 3)
    risky = build_plan(cs, zigzag_scenario(3, risk="cvar"), cur)
    path = np.array([s.spend for s in risky.steps])
    assert risky.glide["risk"] == "cvar" and risky.risk == "cvar" and risky.held == []
    assert risky.glide["directions"] == {"a": "up", "b": "down", "c": "down"}
    assert (risky.allocation["move_support"] >= 0.9).all()
    assert not any("expected net margin" in n for n in risky.notes)
    assert_path_rules(cur.to_numpy() * P, path, [2400.0] * 3)
