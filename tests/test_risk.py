"""Plans over the uncertainty of the curves: the CVaR LP, the risk key, each move's evidence.

Oracles: brute force over the one free direction of two-channel problems (expected and CVaR
optimum), hand computations (CVaR, which moves are right), and the truth of simulated worlds
(true uplift, the achievable uplift planned on the true curves, whether a move is right on the
true curves).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from draws import ExpDraws, MeanOf
from openpyxl import load_workbook

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import ScenarioError
from roiste.models.fit.channel import fit_long
from roiste.models.panel import panel_from_frame
from roiste.models.transforms import Geometric, Hill
from roiste.models.worlds import draw_world
from roiste.optimizer.cli import main
from roiste.optimizer.context import PlanContext
from roiste.optimizer.lp import AllocationProblem, cvar, solve, solve_cvar
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.report.tables import allocation_csv, summary_json
from roiste.optimizer.risk import SUPPORT_THRESHOLD, concave_over, moves_right
from roiste.optimizer.scenario import Scenario, load_scenario

ECONOMICS = {"gross_margin": 0.45, "return_rate": 0.10, "cost_per_order": 7.5,
             "new_customer_value": 35.0, "existing_incrementality": 0.8}


# ------------------------------------------------------------------ two-channel draws, by hand


@pytest.fixture(scope="module")
def two_channels() -> tuple[ExpDraws, np.ndarray, AllocationProblem]:
    rng = np.random.default_rng(1)
    s = 12
    beta = np.array([3000.0, 2000.0]) * rng.lognormal(0, 0.3, (s, 2))
    scale = np.array([500.0, 800.0]) * rng.lognormal(0, 0.3, (s, 2))
    d = ExpDraws(beta, scale)
    x0 = np.array([600.0, 600.0])
    problem = AllocationProblem(["a", "b"], 0.8 * x0, 1.2 * x0, MeanOf(d), 1200.0)
    return d, x0, problem


def test_cvar_is_the_mean_of_the_worst_share() -> None:
    assert cvar([4.0, 1.0, 3.0, 2.0], 0.5) == pytest.approx(1.5)
    # 1.5 draws: the worst one and half of the next
    assert cvar([4.0, 1.0, 3.0, 2.0], 0.375) == pytest.approx((1.0 + 0.5 * 2.0) / 1.5)
    assert cvar([4.0, 1.0, 3.0, 2.0], 1.0) == pytest.approx(2.5)


def _brute(f, lo: float, hi: float) -> tuple[float, float]:
    grid = np.linspace(lo, hi, 6001)
    vals = np.array([f(a) for a in grid])
    i = int(np.argmax(vals))
    return float(grid[i]), float(vals[i])


def test_expected_plan_is_the_brute_force_optimum(two_channels) -> None:
    d, _x0, problem = two_channels
    sol = solve(problem, tol=1e-7)
    a, best = _brute(lambda a: float(d.value(np.array([a, 1200.0 - a])).sum(1).mean()),
                     480.0, 720.0)
    # no allocation beats the upper bound; the plan is as good as the grid's best within its gap
    assert best <= sol.upper_bound + 1e-9
    assert sol.value >= best - (sol.upper_bound - sol.value) - 1e-9
    assert sol.x[0] == pytest.approx(a, abs=0.1)


@pytest.mark.parametrize("level", [0.25, 0.5, 1.0])
def test_cvar_plan_is_the_brute_force_optimum(two_channels, level: float) -> None:
    d, x0, problem = two_channels
    res = solve_cvar(problem, d, level, x0, tol=1e-6)
    sol = res.solution
    base = d.value(x0).sum(1)
    _a, best = _brute(lambda a: cvar(d.value(np.array([a, 1200.0 - a])).sum(1) - base, level),
                     480.0, 720.0)
    assert sol.status == "optimal"
    # lower bound: the true CVaR of the plan; upper bound: no allocation's CVaR beats it
    assert sol.value == pytest.approx(cvar(res.uplift, level))
    assert best <= sol.upper_bound + 1e-9
    assert sol.value >= best - (sol.upper_bound - sol.value) - 1e-9
    assert sol.x.sum() == pytest.approx(1200.0)


def test_cvar_at_level_one_is_the_expected_plan(two_channels) -> None:
    d, x0, problem = two_channels
    exp = solve(problem, tol=1e-8)
    res = solve_cvar(problem, d, 1.0, x0, tol=1e-7)
    mean_uplift = float(exp.value - d.value(x0).sum(1).mean())
    assert res.solution.value == pytest.approx(mean_uplift, rel=1e-5)


# ------------------------------------------------------------------ which moves are right


def test_moves_right_by_hand() -> None:
    x0 = np.array([100.0, 100.0, 100.0])
    x1 = np.array([120.0, 80.0, 100.0])
    # a raise of 20 funded by a cut of 20: the cut channel loses 10, so money costs 0.5 a unit
    # there; the raised channel earns 4 (0.2 a unit): the raise is wrong, the cut is wrong too
    # (the money earns 0.2 where it goes, it earned 0.5 where it was)
    assert moves_right(np.array([4.0, -10.0, 0.0]), x0, x1, 300.0).tolist() == [
        False, False, True]
    # the cut channel gains 2 (it lost money at the margin): money costs -0.1 a unit, and the
    # raise loses 1 (-0.05 a unit): both right
    assert moves_right(np.array([-1.0, 2.0, 0.0]), x0, x1, 300.0).tolist() == [True, True, True]
    # new budget costs only its spend: a raise with nothing cut is right when it gains
    up = np.array([120.0, 100.0, 100.0])
    assert moves_right(np.array([[0.5, 0.0, 0.0], [-0.5, 0.0, 0.0]]), x0, up, 320.0).tolist() == [
        [True, True, True], [False, True, True]]


def test_an_s_curve_past_its_inflection_counts_as_concave() -> None:
    c = Component(1000.0, Hill(k=100.0, s=2.0), Geometric(alpha=0.0))
    # Hill s=2 turns at k / sqrt(3) ~ 57.7
    assert not concave_over(c, 10.0, 200.0)
    assert concave_over(c, 60.0, 200.0)


# ------------------------------------------------------------------ the scenario key


def _write(tmp_path: Path, **keys: object) -> Path:
    (tmp_path / "panel.csv").write_text("date,channel,spend,revenue\n")
    doc = {"name": "t", "data": "panel.csv", "economics": {"gross_margin": 0.4}, **keys}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_risk_key_forms(tmp_path: Path) -> None:
    assert load_scenario(_write(tmp_path)).risk.kind == "cvar"
    assert load_scenario(_write(tmp_path)).risk.cvar_level == 0.2
    sc = load_scenario(_write(tmp_path, risk="expected"))
    assert (sc.risk.kind, sc.risk.level) == ("expected", None)
    sc = load_scenario(_write(tmp_path, risk={"kind": "cvar", "level": 0.1}))
    assert sc.risk.cvar_level == 0.1
    assert load_scenario(_write(tmp_path, risk="point")).fit_draws(30) == 0
    assert load_scenario(_write(tmp_path)).fit_draws(30) == 30
    assert load_scenario(_write(tmp_path, bootstrap=5)).fit_draws(30) == 5


@pytest.mark.parametrize("risk", ["cautious", {"kind": "cvar", "level": 1.5},
                                  {"kind": "expected", "level": 0.2}, {"kind": "cvar", "lvl": 1}])
def test_bad_risk_is_one_line_naming_the_key(tmp_path: Path, risk: object) -> None:
    path = _write(tmp_path, risk=risk)
    with pytest.raises(ScenarioError, match="risk"):
        load_scenario(path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "risk" in result.output


# ------------------------------------------------------------------ plans without draws


def _hill_curve(name: str, beta: float, k: float, spend: float, draws: int = 0,
                s: float = 1.0) -> ResponseCurve:
    rng = np.random.default_rng(len(name))
    ds = tuple(Component(beta * f, Hill(k=k * g, s=s), Geometric(alpha=0.0))
               for f, g in rng.lognormal(0.0, 0.2, (draws, 2)))
    return ResponseCurve(name, Component(beta, Hill(k=k, s=s), Geometric(alpha=0.0)),
                         recent_spend=spend, draws=ds)


def _scenario(**keys: object) -> Scenario:
    return Scenario.model_validate({"name": "t", "data": "x.csv",
                                    "economics": {"gross_margin": 0.5}, **keys})


def test_without_draws_the_plan_says_it_ignores_the_uncertainty() -> None:
    cs = CurveSet([_hill_curve("a", 4000.0, 300.0, 200.0), _hill_curve("b", 3000.0, 900.0, 200.0)])
    current = np.array([200.0, 200.0])
    plan = build_plan(cs, _scenario(), pd.Series(current, index=["a", "b"]))
    point = build_plan(cs, _scenario(risk="point"), pd.Series(current, index=["a", "b"]))
    assert plan.risk == "point" and plan.draws == 0
    assert any("ignores the uncertainty of the curves" in n for n in plan.notes)
    assert np.allclose(plan.allocation["recommended_spend"], point.allocation["recommended_spend"])
    moved = plan.allocation["recommended_spend"] != plan.allocation["current_spend"]
    assert moved.any() and plan.allocation.loc[moved, "move_support"].isna().all()
    assert plan.uplift_p50 is None


def test_a_channel_without_draws_is_named() -> None:
    cs = CurveSet([_hill_curve("a", 4000.0, 300.0, 200.0, draws=12),
                   _hill_curve("b", 3000.0, 900.0, 200.0)])
    plan = build_plan(cs, _scenario(), pd.Series([200.0, 200.0], index=["a", "b"]))
    assert plan.risk == "cvar" and plan.draws == 12
    assert any("ignores the uncertainty of b" in n for n in plan.notes)
    assert plan.uplift_p05 is not None and plan.uplift_p05 <= plan.uplift_p50 <= plan.uplift_p95


# ------------------------------------------------------------------ simulated worlds


WORLDS = (("plain", 100), ("paced", 101), ("power", 102))


@pytest.fixture(scope="module")
def fitted_worlds() -> list[tuple[object, CurveSet, object]]:
    out = []
    for family, seed in WORLDS:
        world = draw_world(seed, family, n_channels=5)
        panel = panel_from_frame(world.panel)
        curves = fit_long(panel, bootstrap=20, seed=seed, progress=False, n_jobs=1)
        out.append((world, curves, panel.recent_spend(8).astype(float)))
    return out


def test_robust_plans_on_simulated_worlds(fitted_worlds) -> None:
    """The default (cvar) plan's true uplift is never negative, it captures most of the
    achievable true uplift, and its supported moves are right on the truth in >= 85 % of cases.

    The achievable uplift is that of the plan made on the world's true curves.  A robust plan
    gives up the moves the draws do not support, so it can capture less than that: 90 % in the
    median world here; over the 24 worlds of ``benchmarks/bench_risk.py`` some capture nothing
    (every move unsupported), which ``benchmarks/RESULTS.md`` reports.
    """
    sc = Scenario.model_validate({"name": "w", "data": "x.csv", "economics": ECONOMICS})
    truth_sc = Scenario.model_validate({"name": "w", "data": "x.csv", "economics": ECONOMICS,
                                        "risk": "point"})
    supported, captures = [], []
    for world, curves, current in fitted_worlds:
        ctx = PlanContext.create(world.truth, truth_sc, current)
        v = ctx.margin_functions.value
        x0 = ctx.x0
        best = build_plan(world.truth, truth_sc, current)
        x_best = best.allocation["recommended_spend"].to_numpy(float)
        achievable = float(np.sum(v(x_best) - v(x0)))
        plan = build_plan(curves, sc, current)
        assert plan.risk == "cvar" and plan.draws == 20
        x1 = plan.allocation["recommended_spend"].to_numpy(float)
        uplift = float(np.sum(v(x1) - v(x0)))
        assert uplift >= 0.0
        assert achievable > 0
        captures.append(uplift / achievable)
        right = moves_right(v(x1) - v(x0), x0, x1, plan.budget)
        moved = np.abs(x1 - x0) > 1e-6 * plan.budget
        flags = plan.allocation["supported"].to_numpy()
        supported += [bool(r) for r, m, f in zip(right, moved, flags, strict=True) if m and f]
    assert min(captures) >= 0.75 and float(np.median(captures)) >= 0.9
    assert len(supported) >= 8
    assert np.mean(supported) >= 0.85


# ------------------------------------------------------------------ outputs


def test_evidence_in_every_output(fitted_worlds, tmp_path: Path) -> None:
    _world, curves, current = fitted_worlds[0]
    plan = build_plan(curves, Scenario.model_validate(
        {"name": "w", "data": "x.csv", "economics": ECONOMICS}), current)
    out = write_plan(plan, tmp_path / "plan")
    header = (out / "allocation.csv").read_text().splitlines()[0].split(",")
    assert {"move_support", "supported"} <= set(header)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["risk"] == "cvar" and summary["risk_level"] == 0.2
    assert summary["uplift_p05"] <= summary["uplift_p50"] <= summary["uplift_p95"]
    assert summary["support_threshold"] == SUPPORT_THRESHOLD
    # the P50 is the median of the plan's uplift over the draws, recomputed here
    ctx = PlanContext.create(curves, plan_scenario := Scenario.model_validate(
        {"name": "w", "data": "x.csv", "economics": ECONOMICS}), current)
    x1 = plan.allocation["recommended_spend"].to_numpy(float)
    u = (ctx.margin_draws.value(x1) - ctx.margin_draws.value(ctx.x0)).sum(1)
    assert summary["uplift_p50"] == pytest.approx(float(np.median(u)), rel=1e-6)
    assert plan_scenario.risk.kind == "cvar"
    html = (out / "report.html").read_text()
    assert "Evidence of each move" in html and "Move support" in html
    ws = load_workbook(out / "plan.xlsx")["Allocation"]
    heads = [c.value for c in ws[1]]
    assert "Move support (share of draws)" in heads and "Supported by the data" in heads
    summary_sheet = [r[0].value for r in load_workbook(out / "plan.xlsx")["Summary"].iter_rows()]
    assert "Net margin uplift, P5 over the draws" in summary_sheet


def test_targets_hold_on_the_fitted_curves_under_cvar() -> None:
    """A binding ROAS target is met on the point curves (as the report shows it), and the CVaR
    plan is at least as good in CVaR as the point plan, which meets the target too."""
    cs = CurveSet([_hill_curve("a", 9000.0, 300.0, 200.0, draws=16),
                   _hill_curve("b", 3000.0, 900.0, 400.0, draws=16),
                   _hill_curve("c", 5000.0, 500.0, 300.0, draws=16)])
    current = pd.Series([200.0, 400.0, 300.0], index=["a", "b", "c"])
    free = build_plan(cs, _scenario(risk="point"), current)
    spend = free.allocation["recommended_spend"].to_numpy(float)
    target = 0.995 * float(free.allocation["expected_revenue"].sum() / spend.sum())
    keys = {"constraints": [{"target_roas": round(target, 4)}]}
    point = build_plan(cs, _scenario(risk="point", **keys), current)
    plan = build_plan(cs, _scenario(**keys), current)
    assert plan.risk == "cvar" and plan.optimality_gap <= 1e-4
    a = plan.allocation
    roas = float(a["expected_revenue"].sum() / a["recommended_spend"].sum())
    assert roas >= round(target, 4)
    ctx = PlanContext.create(cs, _scenario(**keys), current)
    rows = ctx.draws.optimisable()

    def cvar_of(x: np.ndarray) -> float:
        return cvar((rows.value(x) - rows.value(ctx.x0)).sum(1), 0.2)

    x_point = point.allocation["recommended_spend"].to_numpy(float)
    x_plan = a["recommended_spend"].to_numpy(float)
    assert cvar_of(x_plan) >= cvar_of(x_point) - 1e-4 * 0.01 * plan.budget


def test_highs_finds_the_same_cvar_plan(two_channels) -> None:
    d, x0, problem = two_channels
    cbc = solve_cvar(problem, d, 0.5, x0, tol=1e-6).solution
    highs = solve_cvar(problem, d, 0.5, x0, tol=1e-6, solver="HiGHS").solution
    # each is certified within 1e-6 of the optimum (relative to 1 % of the budget at least)
    assert highs.value == pytest.approx(cbc.value, abs=2e-6 * 12.0)
    assert highs.upper_bound >= cbc.value - 1e-9 and cbc.upper_bound >= highs.value - 1e-9


def test_same_inputs_same_bytes(fitted_worlds) -> None:
    _world, curves, current = fitted_worlds[1]
    sc = Scenario.model_validate({"name": "w", "data": "x.csv", "economics": ECONOMICS})
    one, two = (build_plan(curves, sc, current) for _ in range(2))
    assert allocation_csv(one) == allocation_csv(two)
    assert summary_json(one) == summary_json(two)
