"""Plans week by week (scenario key ``period``), checked against the truth of simulated worlds.

The oracle is the simulator itself: :meth:`roiste.models.simulate.World.outcome` replays a spend
path through the world's true adstock, saturation and seasonal media scale; scipy's SLSQP
maximises the true net margin over the weekly spends, independently of the LP.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook
from scipy.optimize import minimize

from roiste.models.errors import InfeasibleError, ScenarioError
from roiste.models.worlds import Process, ProcessWorld, draw_world
from roiste.optimizer.backtest.truth import replan_world
from roiste.optimizer.flighting import WeeklyWorld, tail_weeks
from roiste.optimizer.lp import WeeklyProblem, solve_weekly
from roiste.optimizer.report import text as T
from roiste.optimizer.runs import run_plan
from roiste.optimizer.scenario import load_scenario

K, FEE = 0.5, 1.0  # gross margin 0.5 and nothing else: margin = 0.5 R - spend
SEASONAL = Process(family="demand", media_demand=1.0, season_strength=3.0, n_weeks=156,
                   max_carryover=0.7, shapes=("family",), level_shifts=0)


def _concave_world(n_channels: int, first_seed: int) -> ProcessWorld:
    """The first world from ``first_seed`` on whose true curves are all concave."""
    for seed in range(first_seed, first_seed + 200):
        w = draw_world(seed, SEASONAL, n_channels=n_channels)
        if all(w.truth[c].is_concave for c in w.channels):
            return w
    raise AssertionError("no concave world")  # pragma: no cover


def _truth_world(w: ProcessWorld, gap: int, weeks: int, history: np.ndarray | None = None,
                 carry: bool = False) -> WeeklyWorld:
    """The weekly world of the truth: the period starts ``gap`` weeks after the panel."""
    n = len(w.weeks)
    comps = [w.channel_truth[c].revenue for c in w.channels]
    tails = np.array([tail_weeks(c) if carry else 0 for c in comps])
    h = weeks + int(tails.max())
    scale = w.media_scale(np.arange(n + gap, n + gap + h))
    index = np.ones((len(comps), h)) if scale is None else scale.T
    hist = (w.spend.to_numpy(dtype=float) if history is None else history).T
    cur = hist[:, -8:].mean(axis=1)
    hist = np.hstack([hist, np.repeat(cur[:, None], gap, axis=1)])
    return WeeklyWorld(list(w.channels), comps, index, hist, cur, weeks, tails)


def _problem(ww: WeeklyWorld) -> tuple[WeeklyProblem, np.ndarray]:
    n, T = len(ww.names), ww.weeks
    x0 = ww.continuing * T
    hi = 1.15 * x0
    p = ww.problem(np.full(n, K), np.full(n, FEE), total_lower=0.85 * x0, total_upper=hi,
                   week_lower=np.zeros((n, T)), week_upper=np.repeat(hi[:, None], T, axis=1),
                   budget=float(x0.sum()))
    return p, x0


def _true_value(w: ProcessWorld, x: np.ndarray, gap: int, history: np.ndarray | None = None,
                after: int = 0, check: bool = False) -> float:
    """True net margin of weekly spends ``x`` (channels x weeks) by the simulator, the gap
    weeks and ``after`` weeks after the period spent at the current weekly level."""
    hist = w.spend.to_numpy(dtype=float) if history is None else history
    cur = hist[-8:].mean(axis=0)
    path = np.vstack([np.repeat(cur[None, :], gap, axis=0), x.T,
                      np.repeat(cur[None, :], after, axis=0)])
    full = np.vstack([hist, path])
    n = len(hist)
    t = np.arange(n, n + len(path))
    media = np.zeros((len(path), len(w.channels)))
    scale = w.media_scale(t)
    for j, c in enumerate(w.channels):
        comp = w.channel_truth[c].revenue
        a = comp.adstock.apply(full[:, j])[n:]
        media[:, j] = comp.beta * comp.saturation.value(a) * (1.0 if scale is None else scale[:, j])
    if check:  # the outcome the world itself reports, less its baseline: the same media
        np.testing.assert_allclose(w.outcome(path, start=n) - w.baseline_at(t), media,
                                   rtol=1e-9, atol=1e-6)
    return float(K * media[gap:].sum() - FEE * x.sum())


def _exact(w: ProcessWorld, p: WeeklyProblem, gap: int, x_start: np.ndarray,
           history: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """The true optimum by SLSQP over the weekly spends, on the simulator's truth."""
    n, T = p.week_lower.shape
    cons = [{"type": "eq", "fun": lambda v: v.sum() - p.budget}]
    for c in range(n):
        cons += [{"type": "ineq", "fun": lambda v, c=c: v.reshape(n, T)[c].sum() - p.total_lower[c]},
                 {"type": "ineq", "fun": lambda v, c=c: p.total_upper[c] - v.reshape(n, T)[c].sum()}]
    scale = p.budget / 100.0
    res = minimize(lambda v: -_true_value(w, v.reshape(n, T), gap, history) / scale,
                   x_start.reshape(-1), method="SLSQP", constraints=cons,
                   bounds=list(zip(p.week_lower.reshape(-1), p.week_upper.reshape(-1), strict=True)),
                   options={"ftol": 1e-12, "maxiter": 300})
    return -float(res.fun) * scale, res.x.reshape(n, T)


@pytest.fixture(scope="module")
def small_world() -> ProcessWorld:
    return _concave_world(2, 0)


def _seasonal_gap(w: ProcessWorld, weeks: int) -> int:
    """The start (weeks after the panel) whose weeks differ most in true effectiveness."""
    n = len(w.weeks)
    spread = [float(np.ptp(w.media_scale(np.arange(n + g, n + g + weeks)), axis=0).mean())
              for g in range(52)]
    return int(np.argmax(spread))


def test_the_weekly_lp_reaches_the_exact_optimum_on_the_truth(small_world: ProcessWorld) -> None:
    w = small_world
    gap = _seasonal_gap(w, 3)
    ww = _truth_world(w, gap, 3)
    p, x0 = _problem(ww)
    sol = solve_weekly(p)
    assert sol.status == "optimal" and sol.gap <= 1e-4
    # the LP's own valuation is the simulator's
    assert sol.value == pytest.approx(_true_value(w, sol.x, gap, check=True), rel=1e-10)
    flat = np.repeat((x0 / 3)[:, None], 3, axis=1)
    best, x_best = _exact(w, p, gap, flat)
    assert best <= sol.upper_bound * (1 + 1e-9)  # the certificate bounds the true optimum
    assert (best - sol.value) / abs(sol.value) <= 1e-4
    assert np.sum(x_best) == pytest.approx(p.budget, rel=1e-8)
    # HiGHS (held as arrays) certifies the same optimum
    hs = solve_weekly(p, solver="HiGHS")
    assert hs.status == "optimal"
    assert hs.value <= sol.upper_bound * (1 + 1e-9) and sol.value <= hs.upper_bound * (1 + 1e-9)
    assert (best - hs.value) / abs(hs.value) <= 1e-4


def test_a_share_constraint_holds_on_the_weeks_and_the_optimum_is_still_exact(
        small_world: ProcessWorld) -> None:
    w = small_world
    gap = _seasonal_gap(w, 3)
    p, x0 = _problem(_truth_world(w, gap, 3))
    free = solve_weekly(p, solver="HiGHS")
    j = int(np.argmax(free.x.sum(axis=1)))  # the larger channel
    share = float(free.x[j].sum() / free.x.sum())
    most = float(min(p.total_upper[j], p.budget - p.total_lower[1 - j]) / p.budget)
    least = float(max(p.total_lower[j], p.budget - p.total_upper[1 - j]) / p.budget)
    # held halfway from its optimum toward the far end of what the boxes allow
    far = most if share - least < most - share else least
    cap = 0.5 * (far + share)
    assert abs(share - cap) > 1e-4
    bound = (cap, None) if far == most else (None, cap)
    capped = replace(p, shares=[(np.arange(2) == j, *bound)])
    sol = solve_weekly(capped)
    assert sol.status == "optimal"
    got = sol.x[j].sum() / sol.x.sum()
    assert (got >= cap - 1e-9) if far == most else (got <= cap + 1e-9)
    assert sol.value < free.value
    best, _ = _exact_capped(w, capped, gap, j, cap, np.repeat((x0 / 3)[:, None], 3, axis=1))
    assert best <= sol.upper_bound * (1 + 1e-9)
    assert (best - sol.value) / abs(sol.value) <= 1e-4


def _exact_capped(w: ProcessWorld, p: WeeklyProblem, gap: int, j: int, cap: float,
                  x_start: np.ndarray) -> tuple[float, np.ndarray]:
    n, T = p.week_lower.shape
    sign = 1.0 if p.shares[0][2] is not None else -1.0  # at most a share, or at least
    cons = [{"type": "eq", "fun": lambda v: v.sum() - p.budget},
            {"type": "ineq", "fun": lambda v: sign * (cap * v.sum() - v.reshape(n, T)[j].sum())}]
    for c in range(n):
        cons += [{"type": "ineq", "fun": lambda v, c=c: v.reshape(n, T)[c].sum() - p.total_lower[c]},
                 {"type": "ineq", "fun": lambda v, c=c: p.total_upper[c] - v.reshape(n, T)[c].sum()}]
    scale = p.budget / 100.0
    res = minimize(lambda v: -_true_value(w, v.reshape(n, T), gap) / scale,
                   x_start.reshape(-1), method="SLSQP", constraints=cons,
                   bounds=list(zip(p.week_lower.reshape(-1), p.week_upper.reshape(-1), strict=True)),
                   options={"ftol": 1e-12, "maxiter": 300})
    return -float(res.fun) * scale, res.x.reshape(n, T)


def test_carry_in_lowers_the_first_weeks_as_the_truth_does(small_world: ProcessWorld) -> None:
    w = small_world
    alphas = [w.channel_truth[c].revenue.adstock.total_weight for c in w.channels]
    j = int(np.argmax(alphas))
    assert alphas[j] > 1.5  # a carry-over worth carrying in
    heavy = w.spend.to_numpy(dtype=float).copy()
    heavy[-3:, j] *= 4.0  # a burst just before the period, the older history the same
    # the current spend the period moves from stays the same: the burst only carries in
    base_hist = w.spend.to_numpy(dtype=float)
    out = {}
    for name, hist in (("normal", base_hist), ("burst", heavy)):
        ww = _truth_world(w, 0, 3, hist)
        ww = replace(ww, continuing=base_hist[-8:].mean(axis=0))
        p, _ = _problem(ww)
        p = replace(p, total_lower=0.85 * ww.continuing * 3, total_upper=1.15 * ww.continuing * 3,
                    budget=float(ww.continuing.sum() * 3),
                    week_upper=np.repeat((1.15 * ww.continuing * 3)[:, None], 3, axis=1))
        sol = solve_weekly(p)
        flat = np.repeat(ww.continuing[:, None], 3, axis=1)
        best, x_best = _exact(w, p, 0, flat, history=hist)
        assert (best - sol.value) / abs(sol.value) <= 1e-4, name
        out[name] = (sol.x, x_best)
    lp_normal, truth_normal = out["normal"]
    lp_burst, truth_burst = out["burst"]
    # the channel that spent heavily just before gets less in its first week, by the LP ...
    assert lp_burst[j, 0] < lp_normal[j, 0] - 1e-6 * lp_normal[j].sum()
    assert lp_burst[j, 0] < lp_burst[j].mean()
    # ... and by the true optimum
    assert truth_burst[j, 0] < truth_normal[j, 0]


@pytest.fixture(scope="module")
def seasonal_plan(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A seasonal world, fitted and planned week by week through ``roiste plan``."""
    w = _concave_world(3, 40)
    d = tmp_path_factory.mktemp("flight")
    w.panel.to_csv(d / "panel.csv", index=False)
    weeks = 6
    gap = _seasonal_gap(w, weeks)
    start = (w.weeks[-1] + pd.Timedelta(weeks=gap + 1)).date()
    (d / "plan.yaml").write_text(
        "name: weekly\ndata: panel.csv\nrisk: point\nseed: 1\n"
        f"period: {{start: {start}, weeks: {weeks}, value_carryover: true}}\n"
        "economics: {gross_margin: 0.5}\n", encoding="utf-8")
    plan = run_plan(d / "plan.yaml", d / "out", progress=False)
    return {"world": w, "plan": plan, "dir": d, "gap": gap, "weeks": weeks}


def test_the_weekly_plan_beats_the_flat_plan_on_the_truth(seasonal_plan: dict) -> None:
    w, plan, gap, weeks = (seasonal_plan[k] for k in ("world", "plan", "gap", "weeks"))
    table = plan.weeks
    x = np.vstack([table[table.channel == c].spend.to_numpy() for c in w.channels])
    totals = x.sum(axis=1)
    flat = np.repeat((totals / weeks)[:, None], weeks, axis=1)
    # the margin of the weeks after the period counts for both (the same spend continues)
    weekly_true = _true_value(w, x, gap, after=30)
    flat_true = _true_value(w, flat, gap, after=30)
    assert plan.flighting["seasonal_channels"], "the fit found no seasonal effectiveness"
    assert weekly_true > flat_true
    # allocation.csv's period totals are the weekly plan's
    alloc = pd.read_csv(seasonal_plan["dir"] / "out" / "allocation.csv")
    np.testing.assert_allclose(alloc.recommended_spend.to_numpy(), totals, rtol=1e-7)
    weekly = pd.read_csv(seasonal_plan["dir"] / "out" / "allocation_weeks.csv")
    assert list(weekly.columns) == ["week", "channel", "spend", "expected_revenue",
                                    "expected_net_margin"]
    assert len(weekly) == weeks * len(w.channels)
    np.testing.assert_allclose(weekly.expected_net_margin,
                               K * weekly.expected_revenue - FEE * weekly.spend, rtol=1e-9,
                               atol=1e-6)
    # the report draws the weeks, the workbook lists them
    page = (seasonal_plan["dir"] / "out" / "report.html").read_text(encoding="utf-8")
    assert f"<h2>{T.SECTION_FLIGHTING}</h2>" in page
    ws = load_workbook(seasonal_plan["dir"] / "out" / "plan.xlsx")[T.SHEET_WEEKS]
    sheet = pd.DataFrame([[c.value for c in row] for row in ws.iter_rows(min_row=2)],
                         columns=list(weekly.columns))
    np.testing.assert_allclose(sheet.spend.to_numpy(float), weekly.spend, rtol=1e-9)
    summary = json.loads((seasonal_plan["dir"] / "out" / "summary.json").read_text())
    assert summary["flighting"]["optimality_gap"] <= 1e-4
    # the net margin counts the weeks after the period too (value_carryover): above the weeks'
    assert summary["net_margin_recommended"] > weekly.expected_net_margin.sum()
    assert summary["flighting"]["net_margin_weekly"] >= summary["flighting"]["net_margin_flat_totals"]


@pytest.mark.parametrize(("period", "message"), [
    ("{start: 2020-01-06, weeks: 4}", "is not after the panel's last week"),
    ("{start: 2030-01-07, weeks: 4, weekly_min: {nope: 3}}", "no channel 'nope'"),
    ("{start: 2030-01-07, weeks: 0}", "(at period -> weeks)"),
    ("{start: 2030-01-07, weeks: 4, max_weekly_change: -1}", "(at period -> max_weekly_change)"),
    ("{start: 2030-01-07, weeks: 4, weekly_min: {search: 9}, weekly_max: {search: 1}}",
     "above its weekly_max"),
    ("{start: 2030-01-07, weeks: 4, weekly_min: {search_brand: 1.0e12}}",
     "is above the most it may spend in the period"),
    ("{start: 2030-01-07, weeks: 4, weekly_max: {search_brand: 0.01}}",
     "is below the least it must spend in the period"),
])
def test_bad_periods_are_one_line(tmp_path: Path, seasonal_plan: dict, period: str,
                                  message: str) -> None:
    d = seasonal_plan["dir"]
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\ndata: {d / 'panel.csv'}\nrisk: point\nperiod: {period}\n"
                    "economics: {gross_margin: 0.5}\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        run_plan(path, tmp_path / "out", progress=False)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_targets_are_refused_with_period(tmp_path: Path, seasonal_plan: dict) -> None:
    d = seasonal_plan["dir"]
    path = tmp_path / "t.yaml"
    path.write_text(f"name: t\ndata: {d / 'panel.csv'}\nrisk: point\n"
                    "period: {start: 2030-01-07, weeks: 4}\neconomics: {gross_margin: 0.5}\n"
                    "constraints:\n  - {target_roas: 2.0}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"share constraints only.*\(at constraints -> 0\)"):
        run_plan(path, tmp_path / "out", progress=False)


def test_period_weeks_and_period_must_agree(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndata: x.csv\nperiod_weeks: 4\nperiod: {start: 2030-01-07, weeks: 6}\n"
                    "economics: {gross_margin: 0.5}\n", encoding="utf-8")
    (tmp_path / "x.csv").write_text("date,channel,spend,revenue\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="disagree"):
        load_scenario(path)
    path.write_text("name: s\ndata: x.csv\nperiod: {start: 2030-01-07, weeks: 6}\n"
                    "economics: {gross_margin: 0.5}\n", encoding="utf-8")
    assert load_scenario(path).period_weeks == 6


def test_the_replay_plans_each_month_week_by_week_and_beats_flat_weeks(seasonal_plan: dict) -> None:
    w = seasonal_plan["world"]
    scenario = load_scenario(seasonal_plan["dir"] / "plan.yaml")
    replay = replan_world(w, scenario, months=2, seed=3)
    assert list(replay["weekly_plan"]) == [True, True]
    # every month spends the budget the replay started with, week by week
    n, p = len(w.weeks), scenario.period_weeks
    start = w.spend.to_numpy()[n - 2 * p - scenario.baseline_weeks:n - 2 * p].mean(axis=0) * p
    np.testing.assert_allclose(replay["spend"], start.sum(), rtol=1e-6)
    # valued on the truth (season, carry-over), the weeks beat the same totals spent evenly
    assert replay["true_margin_weeks"].sum() > replay["true_margin_flat_weeks"].sum()


def test_a_plan_without_period_writes_no_weeks(tmp_path: Path, seasonal_plan: dict) -> None:
    d = seasonal_plan["dir"]
    path = tmp_path / "steady.yaml"
    path.write_text(f"name: steady\ndata: {d / 'panel.csv'}\ncurves: {d / 'out' / 'curves.json'}\n"
                    "risk: point\nperiod_weeks: 6\neconomics: {gross_margin: 0.5}\n",
                    encoding="utf-8")
    plan = run_plan(path, tmp_path / "out", progress=False)
    assert plan.weeks is None and not plan.flighting
    out = tmp_path / "out"
    assert not (out / "allocation_weeks.csv").exists()
    assert "flighting" not in json.loads((out / "summary.json").read_text())
    assert f"<h2>{T.SECTION_FLIGHTING}</h2>" not in (out / "report.html").read_text()
    assert T.SHEET_WEEKS not in load_workbook(out / "plan.xlsx").sheetnames


def test_an_impossible_share_is_named(small_world: ProcessWorld) -> None:
    p, _ = _problem(_truth_world(small_world, 0, 3))
    j = int(np.argmin(p.total_upper))  # the smaller channel cannot take nearly all the budget
    bad = replace(p, shares=[(np.arange(2) == j, 0.999, None)])
    with pytest.raises(InfeasibleError, match=r"the share constraint .* >= 0.999 needs"):
        solve_weekly(bad)
