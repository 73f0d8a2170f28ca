"""Glide paths under CVaR: the worst draws' summed uplift, one way per channel, certified.

Oracles: the exact CVaR optimum of a tiny path is found independently, by brute force over
every channel's direction, each a smooth concave program in the Rockafellar-Uryasev epigraph
form solved by scipy's SLSQP on the draws' closed-form curves, and, for two channels, by a
fine grid over the two steps' spends; with identical draws the CVaR path is the point path
(the uplift is then one number, and its CVaR the point value less the current one).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize

import roiste.optimizer.lp.path as path_module
from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Geometric, Hill
from roiste.optimizer.context import PlanContext
from roiste.optimizer.lp import (
    PathProblem,
    TargetConstraint,
    certify_steps_cvar,
    cvar,
    solve_path,
    solve_path_cvar,
)
from roiste.optimizer.lp.path import tail_weights
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.scenario import Scenario
from roiste.optimizer.steps import step_box, step_budgets

sys.path.insert(0, str(Path(__file__).parent))
from lp_worlds import ClosedFormModel

STEP = 0.15


class Draws:
    """A ``DrawModel`` over closed-form worlds: row ``d`` is world ``d``."""

    def __init__(self, worlds: list[ClosedFormModel]) -> None:
        self.worlds = worlds
        self.n_draws = len(worlds)

    def value(self, x: np.ndarray) -> np.ndarray:
        return np.stack([w.value(np.asarray(x, dtype=float)) for w in self.worlds])

    def slope(self, x: np.ndarray) -> np.ndarray:
        return np.stack([w.slope(np.asarray(x, dtype=float)) for w in self.worlds])


def worlds(beta: np.ndarray, scale: np.ndarray, factors: np.ndarray,
           mm: np.ndarray | None = None) -> list[ClosedFormModel]:
    c = len(beta)
    mm = np.zeros(c, dtype=bool) if mm is None else mm
    return [ClosedFormModel(beta=beta * f, scale=scale, mm=mm, coefficient=np.ones(c),
                            cost=np.ones(c)) for f in factors]


def bounds(x0: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    c = len(x0)
    mins, maxs, locked = np.zeros(c), np.full(c, np.inf), np.zeros(c, dtype=bool)
    lo, hi, _ = step_box(x0, STEP, mins, maxs, locked)
    lows, highs = [lo], [hi]
    for _ in range(n - 1):
        lows.append(step_box(lows[-1], STEP, mins, maxs, locked)[0])
        highs.append(step_box(highs[-1], STEP, mins, maxs, locked)[1])
    return np.array(lows), np.array(highs)


def path_cvar(d: Draws, x0: np.ndarray, path: np.ndarray, level: float) -> float:
    base = d.value(x0).sum(axis=1)
    return cvar(sum(d.value(xk).sum(axis=1) - base for xk in path), level)


def reversals(x0: np.ndarray, path: np.ndarray, tol: float) -> list[int]:
    steps = np.diff(np.vstack([x0, path]), axis=0)
    return [c for c in range(len(x0)) if (steps[:, c] > tol).any() and (steps[:, c] < -tol).any()]


def assert_path_rules(x0: np.ndarray, path: np.ndarray, budgets: list[float]) -> None:
    prev = x0
    for k, xk in enumerate(path):
        assert xk.sum() == pytest.approx(budgets[k], rel=1e-9)
        assert (xk >= (1 - STEP) * prev * (1 - 1e-9)).all(), k
        assert (xk <= (1 + STEP) * prev * (1 + 1e-9)).all(), k
        prev = xk
    assert reversals(x0, path, 1e-9 * float(np.max(x0))) == []


def slsqp_optimum(d: Draws, x0: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  budgets: list[float], level: float) -> float:
    """The best one-way path's CVaR: every direction pattern, each the epigraph program
    ``max t - sum(u) / (level D)``, ``u_d >= t - U_d(x)``, ``u_d >= 0``, by SLSQP."""
    n, c = lo.shape
    s_n = d.n_draws
    base = d.value(x0).sum(axis=1)
    nx = n * c

    def uplift(z: np.ndarray) -> np.ndarray:
        x = z[:nx].reshape(n, c)
        return sum(d.value(x[k]).sum(axis=1) - base for k in range(n))

    best = -math.inf
    for dirs in itertools.product((1.0, -1.0), repeat=c):
        sign = np.array(dirs)

        def link(z: np.ndarray, sign: np.ndarray = sign) -> np.ndarray:
            x = z[:nx].reshape(n, c)
            out = []
            for k in range(n):
                prev = x0 if k == 0 else x[k - 1]
                out += [(1 + STEP) * prev - x[k], x[k] - (1 - STEP) * prev, sign * (x[k] - prev)]
            return np.concatenate(out)

        cons = [
            {"type": "eq", "fun": lambda z: z[:nx].reshape(n, c).sum(axis=1) - np.array(budgets)},
            {"type": "ineq", "fun": link},
            {"type": "ineq", "fun": lambda z: z[nx + 1:] - (z[nx] - uplift(z))},
        ]
        bnds = [*zip(lo.reshape(-1), hi.reshape(-1), strict=True), (None, None),
                *[(0.0, None)] * s_n]
        for q in (0.3, 0.5, 0.7):  # a few starts inside the boxes
            start_x = (lo + q * (hi - lo)).reshape(-1)
            start_x = start_x * np.repeat(np.array(budgets) / (lo + q * (hi - lo)).sum(axis=1), c)
            u0 = uplift(np.r_[start_x, 0.0, np.zeros(s_n)])
            z0 = np.r_[start_x, u0.min(), np.zeros(s_n)]
            res = minimize(lambda z: -(z[nx] - z[nx + 1:].sum() / (level * s_n)), z0,
                           method="SLSQP", bounds=bnds, constraints=cons,
                           options={"ftol": 1e-12, "maxiter": 1000})
            # SLSQP often stops on a line search at the optimum: judge the point, not the flag
            x = np.clip(res.x[:nx].reshape(n, c), lo, hi)
            ok = np.all(link(np.r_[x.reshape(-1), res.x[nx:]]) >= -1e-7) and np.allclose(
                x.sum(axis=1), budgets, rtol=1e-9, atol=1e-7)
            if ok:  # the exact CVaR of a feasible path (never above the true optimum)
                best = max(best, cvar(uplift(np.r_[x.reshape(-1), res.x[nx:]]), level))
    return best


def test_tail_weights_add_up_to_the_cvar() -> None:
    u = np.array([4.0, 1.0, 3.0, 2.0, 1.0])
    for level in (0.2, 0.3, 0.5, 0.75, 1.0):
        w = tail_weights(u, level)
        assert w @ u == pytest.approx(cvar(u, level), rel=1e-12)
        assert w.sum() == pytest.approx(1.0, rel=1e-12) and (w >= 0).all()
    # the worst 40 % of five draws: the two draws of 1 (by hand)
    assert tail_weights(u, 0.4).tolist() == [0.0, 0.5, 0.0, 0.0, 0.5]


def three_channel_world() -> tuple[Draws, np.ndarray, list[float], np.ndarray, np.ndarray]:
    """a: the best on average, its draws spread widely; b: tight; c: weak and tight.  The
    expected path moves money to a; the worst draws would rather keep b."""
    factors = np.array([[1.55, 1.02, 0.95], [1.45, 0.98, 1.05], [0.70, 1.00, 1.00],
                        [0.60, 1.01, 0.98], [1.50, 0.99, 1.02]])
    d = Draws(worlds(np.array([900.0, 700.0, 200.0]), np.array([150.0, 180.0, 120.0]),
                     factors, mm=np.array([True, False, False])))
    x0 = np.array([100.0, 150.0, 110.0])
    budgets = step_budgets(float(x0.sum()), float(x0.sum()) * 1.05, 2)
    lo, hi = bounds(x0, 2)
    return d, x0, budgets, lo, hi


def mean_model(d: Draws) -> ClosedFormModel:
    w = d.worlds
    # the mean of the draws as a period model: betas average (revenue is linear in beta)
    return ClosedFormModel(beta=np.mean([m.beta for m in w], axis=0), scale=w[0].scale,
                           mm=w[0].mm, coefficient=w[0].coefficient, cost=w[0].cost)


def test_exact_against_slsqp_and_the_certificate_bounds_it() -> None:
    d, x0, budgets, lo, hi = three_channel_world()
    level = 0.4
    problem = PathProblem(["a", "b", "c"], x0, lo, hi, STEP, mean_model(d), budgets)
    expected = solve_path(problem, tol=1e-7)
    res = solve_path_cvar(problem, d, level, candidates=(expected.x,), tol=1e-7)
    path = res.path
    exact = slsqp_optimum(d, x0, lo, hi, budgets, level)
    scale = float(sum(budgets))
    # the value is the path's exact CVaR; the bound holds over the oracle; the optimum is met
    assert path.value == pytest.approx(path_cvar(d, x0, path.x, level), rel=1e-12)
    assert res.uplift == pytest.approx(
        sum(d.value(xk).sum(axis=1) - d.value(x0).sum(axis=1) for xk in path.x), rel=1e-12)
    assert exact <= path.upper_bound + 1e-9 * scale
    assert path.value >= exact - 1e-6 * scale
    assert exact >= path.value - 1e-6 * scale           # the oracle finds the optimum too
    assert path.gap <= 1e-7 and path.status == "optimal"
    assert_path_rules(x0, path.x, budgets)
    # the worst draws change the plan: the expected path is worse on them
    assert path_cvar(d, x0, expected.x, level) < path.value - 1.0
    # each step certified with its neighbours held; the steps' shares add up to the value
    certified = certify_steps_cvar(problem, res, d, level, tol=1e-7).path
    assert sum(s.value for s in certified.steps) == pytest.approx(path.value, rel=1e-9)
    for s in certified.steps:
        assert s.value <= s.upper_bound and s.gap <= 1e-7 and s.status == "optimal"


def test_two_channels_against_a_fine_grid() -> None:
    """Two channels and a fixed budget: each step is one number, so a grid over both steps'
    spends on the first channel, one way, is the whole set of paths."""
    factors = np.array([[1.6, 1.0], [0.5, 1.03], [1.2, 0.97], [0.9, 1.0]])
    d = Draws(worlds(np.array([800.0, 600.0]), np.array([120.0, 160.0]), factors))
    x0 = np.array([120.0, 150.0])
    budgets = [270.0, 270.0]
    lo, hi = bounds(x0, 2)
    level = 0.5
    problem = PathProblem(["a", "b"], x0, lo, hi, STEP, mean_model(d), budgets)
    path = solve_path_cvar(problem, d, level, tol=1e-7).path
    # the grid: step 1 and step 2 spends of a; b takes the rest
    g = np.linspace(x0[0] * (1 - STEP) ** 2, x0[0] * (1 + STEP) ** 2, 1201)
    a1, a2 = np.meshgrid(g, g, indexing="ij")
    b1, b2 = 270.0 - a1, 270.0 - a2
    ok = ((a1 >= (1 - STEP) * x0[0]) & (a1 <= (1 + STEP) * x0[0])
          & (b1 >= (1 - STEP) * x0[1]) & (b1 <= (1 + STEP) * x0[1])
          & (a2 >= (1 - STEP) * a1) & (a2 <= (1 + STEP) * a1)
          & (b2 >= (1 - STEP) * b1) & (b2 <= (1 + STEP) * b1)
          & ((a1 - x0[0]) * (a2 - a1) >= 0))  # one way
    base = d.value(x0).sum(axis=1)
    u = np.zeros((d.n_draws, *a1.shape))
    for s, w in enumerate(d.worlds):
        for xa, xb in ((a1, b1), (a2, b2)):
            u[s] += (w.value(np.stack([xa.ravel(), xb.ravel()]))).sum(axis=0).reshape(
                xa.shape) - base[s]
    worst = np.sort(u, axis=0)[: int(level * d.n_draws)].mean(axis=0)
    grid_best = float(np.max(np.where(ok, worst, -np.inf)))
    scale = float(sum(budgets))
    assert grid_best <= path.upper_bound + 1e-9 * scale   # no path on the grid beats the bound
    assert path.value >= grid_best - 1e-6 * scale          # and the path is at least as good
    assert path.value - grid_best <= 1e-3                  # the grid is fine enough to tell
    assert_path_rules(x0, path.x, budgets)


def zigzag_world() -> tuple[Draws, np.ndarray, np.ndarray, np.ndarray, list[float], float]:
    """The zigzag world of tests/test_glide_path.py with its draws: T strong, M middling, D
    weak; the budget kept over three steps, CVaR level 0.5."""
    factors = np.array([[1.0, 1.0, 1.0], [0.9, 1.05, 1.0], [1.1, 0.95, 1.0], [0.95, 1.0, 0.9]])
    d = Draws(worlds(np.array([1000.0, 600.0, 150.0]), np.array([200.0, 150.0, 100.0]), factors))
    x0 = np.array([80.0, 200.0, 100.0])
    budgets = step_budgets(380.0, 380.0, 3)
    lo, hi = bounds(x0, 3)
    return d, x0, lo, hi, budgets, 0.5


def test_one_way_binds_where_the_free_path_reverses() -> None:
    """The zigzag world of tests/test_glide_path.py with its draws: T strong, M middling, D
    weak.  With the budget kept, the unrestricted CVaR path takes M up, then down; the
    one-way path does not, and its value stays below the free path's bound."""
    d, x0, lo, hi, budgets, level = zigzag_world()
    free = solve_path_cvar(PathProblem(["T", "M", "D"], x0, lo, hi, STEP, mean_model(d), budgets,
                                       monotone=False), d, level, tol=1e-7).path
    one = solve_path_cvar(PathProblem(["T", "M", "D"], x0, lo, hi, STEP, mean_model(d), budgets),
                          d, level, tol=1e-7).path
    assert reversals(x0, free.x, 1e-3) == [1]
    assert_path_rules(x0, one.x, budgets)
    assert one.directions.tolist() == [1, -1, -1]
    assert one.milp and one.status == "optimal"
    assert one.value <= free.upper_bound and one.value < free.value


@pytest.mark.parametrize("round_from", [1, path_module.ROUND_FROM])
def test_zigzag_world_against_slsqp_with_and_without_rounding(
        monkeypatch: pytest.MonkeyPatch, round_from: int) -> None:
    """The zigzag world's one-way optimum by SLSQP over every direction pattern, met by the
    search as it runs (its relaxation turns back on one channel: split) and with every node
    that turns back first held to its net directions (``ROUND_FROM`` 1)."""
    monkeypatch.setattr(path_module, "ROUND_FROM", round_from)
    d, x0, lo, hi, budgets, level = zigzag_world()
    res = solve_path_cvar(PathProblem(["T", "M", "D"], x0, lo, hi, STEP, mean_model(d), budgets),
                          d, level, tol=1e-7).path
    exact = slsqp_optimum(d, x0, lo, hi, budgets, level)
    scale = float(sum(budgets))
    assert res.value == pytest.approx(path_cvar(d, x0, res.x, level), rel=1e-12)
    assert exact <= res.upper_bound + 1e-9 * scale
    assert res.value >= exact - 1e-6 * scale
    assert res.gap <= 1e-7 and res.status == "optimal"
    assert_path_rules(x0, res.x, budgets)


def test_identical_draws_give_the_point_path() -> None:
    d3, x0, budgets, lo, hi = three_channel_world()
    point = d3.worlds[0]
    d = Draws([point] * 6)
    problem = PathProblem(["a", "b", "c"], x0, lo, hi, STEP, point, budgets)
    exact = solve_path(problem, tol=1e-8)
    res = solve_path_cvar(problem, d, 0.2, tol=1e-8).path
    base = float(point.value(x0).sum())
    assert res.value == pytest.approx(exact.value - 2 * base, abs=1e-6 * sum(budgets))
    np.testing.assert_allclose(res.x, exact.x, rtol=1e-3)
    assert res.directions.tolist() == exact.directions.tolist()


def test_targets_and_bad_levels_are_refused() -> None:
    d, x0, budgets, lo, hi = three_channel_world()
    t = TargetConstraint("roas", "min_roas", 1.5, members=np.ones(3, dtype=bool))
    problem = PathProblem(["a", "b", "c"], x0, lo, hi, STEP, mean_model(d), budgets,
                          targets=[t])
    with pytest.raises(ValueError, match="no targets"):
        solve_path_cvar(problem, d, 0.2)
    with pytest.raises(ValueError, match="level"):
        solve_path_cvar(PathProblem(["a", "b", "c"], x0, lo, hi, STEP, mean_model(d), budgets),
                        d, 0.0)


# ----------------------------------------------------------------------- through build_plan

P = 4


def drawn_curves() -> tuple[CurveSet, pd.Series]:
    """a: strong, its draws spread; b: tight; c: weak and tight (Hill curves of shape 1)."""
    def curve(name: str, beta: float, k: float, factors: list[float]) -> ResponseCurve:
        ds = tuple(Component(beta * f, Hill(k=k, s=1.0), Geometric(alpha=0.0)) for f in factors)
        return ResponseCurve(name, Component(beta, Hill(k=k, s=1.0), Geometric(alpha=0.0)),
                             recent_spend=200.0, draws=ds)

    cs = CurveSet([curve("a", 6000.0, 300.0, [1.5, 0.6, 1.4, 0.7, 1.0, 0.8]),
                   curve("b", 3000.0, 400.0, [1.02, 0.98, 1.0, 1.01, 0.99, 1.0]),
                   curve("c", 1500.0, 500.0, [1.0, 0.99, 1.01, 1.0, 1.0, 1.0])])
    return cs, pd.Series([200.0, 200.0, 200.0], index=["a", "b", "c"])


def plan_scenario(**kw: object) -> Scenario:
    raw: dict[str, object] = {"name": "cvar path", "data": "unused.csv", "period_weeks": P,
                              "step": STEP, "steps": 2, "risk": {"kind": "cvar", "level": 0.5},
                              "economics": {"gross_margin": 0.5}}
    raw.update(kw)
    return Scenario.model_validate(raw)


def test_plan_prices_a_cap_on_the_cvar_path_against_a_plan_without_it(tmp_path: Path) -> None:
    cs, cur = drawn_curves()
    cap = {"channels": ["a"], "max_share": 0.34, "name": "a cap"}
    plan = build_plan(cs, plan_scenario(constraints=[cap]), cur)
    free = build_plan(cs, plan_scenario(), cur)
    assert plan.risk == free.risk == "cvar" and plan.glide["risk_level"] == 0.5
    assert plan.objective_current == 0.0
    # the glide value is the exact CVaR of the path's summed uplift over the draws
    d = PlanContext.create(cs, plan_scenario(), cur).draws
    assert d is not None
    x0 = cur.to_numpy() * P
    base = d.value(x0).sum(axis=1)
    for p in (plan, free):
        path = np.array([s.spend for s in p.steps])
        u = sum(d.value(xk).sum(axis=1) - base for xk in path)
        assert p.glide["value"] == pytest.approx(cvar(u, 0.5), rel=1e-9)
        assert sum(s.objective_value for s in p.steps) == pytest.approx(p.glide["value"],
                                                                        rel=1e-9)
        assert reversals(x0, path, 1e-9 * float(x0.max())) == []
    entry = plan.constraints[0]
    gain = free.glide["value"] - plan.glide["value"]
    assert entry["binding"] is True and gain > 0
    assert entry["cost"] == pytest.approx(gain, rel=1e-6)
    # the figures travel to summary.json and the report
    out = write_plan(plan, tmp_path / "plan")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["glide_path"]["risk"] == "cvar"
    assert summary["glide_path"]["value"] == pytest.approx(plan.glide["value"], rel=1e-12)
    assert "worst 50% of the curve draws" in (out / "report.html").read_text()


def test_plan_with_a_target_plans_the_path_on_the_expected_margin_and_says_so() -> None:
    cs, cur = drawn_curves()
    plan = build_plan(cs, plan_scenario(constraints=[{"target_roas": 1.0, "name": "floor"}]),
                      cur)
    assert plan.risk == "expected" and plan.glide["risk"] == "expected"
    assert any("targets is planned on the expected net margin" in n for n in plan.notes)
