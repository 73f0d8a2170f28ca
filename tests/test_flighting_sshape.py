"""Weekly plans on S-shaped curves, checked against an independent exact optimum.

A channel whose adstock can fall below its Hill curve's inflection point is planned by a MILP
(chords below the point, tangents above, binaries filling the chords in order); one whose
every week lies above it keeps the tangent LP.  The oracle replays the spends through the
components' own adstock and saturation and maximises the true value by multi-start SLSQP
(analytic gradients), independently of the weekly model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from panels import saturation_panel
from scipy.optimize import minimize

from roiste.models.curves import Component
from roiste.models.transforms import Geometric, Hill
from roiste.optimizer.flighting import WeeklyWorld
from roiste.optimizer.lp import WeeklyProblem, WeeklySolution, solve_weekly
from roiste.optimizer.runs import run_plan

K, FEE = 0.5, 1.0  # margin = 0.5 revenue - spend
T = 3


def _world(history: np.ndarray, tails: tuple[int, int] = (0, 0)) -> WeeklyWorld:
    comps = [Component(30000.0, Hill(k=1500.0, s=2.5), Geometric(alpha=0.4)),
             Component(20000.0, Hill(k=800.0, s=1.8), Geometric(alpha=0.2))]
    h = T + max(tails)
    index = np.array([[0.8, 1.3, 1.0, 1.1, 0.9][:h], [1.2, 0.9, 1.1, 1.0, 1.0][:h]])
    return WeeklyWorld(["video", "display"], comps, index, history, history[:, -1], T,
                       np.array(tails))


def _problem(ww: WeeklyWorld, x0: np.ndarray, week_lower: np.ndarray | None = None
             ) -> WeeklyProblem:
    lo, hi = 0.3 * x0, 1.7 * x0
    return ww.problem(np.full(2, K), np.full(2, FEE), total_lower=lo, total_upper=hi,
                      week_lower=np.zeros((2, T)) if week_lower is None else week_lower,
                      week_upper=np.repeat(hi[:, None], T, axis=1), budget=float(x0.sum()))


def _true(ww: WeeklyWorld, v: np.ndarray) -> tuple[float, np.ndarray]:
    """True value and gradient of weekly spends ``v`` (flat, channels x weeks)."""
    x = v.reshape(2, T)
    total, grad = 0.0, np.zeros((2, T))
    for c, comp in enumerate(ww.components):
        tail = int(ww.tails[c])
        m = ww.history.shape[1]
        path = np.concatenate([ww.history[c], x[c], np.full(tail, ww.continuing[c])])
        a = comp.adstock.apply(path)[m:]
        w = comp.adstock.weights(T + tail)
        coef = K * comp.beta * ww.index[c, : T + tail]
        total += float(coef @ comp.saturation.value(a)) - FEE * float(x[c].sum())
        d = coef * comp.saturation.derivative(a)
        for s in range(T):
            grad[c, s] = float(d[s:] @ w[: T + tail - s]) - FEE
    return total, grad.reshape(-1)


def _oracle(ww: WeeklyWorld, p: WeeklyProblem, starts: list[np.ndarray]) -> float:
    """The best true value SLSQP reaches from ``starts`` and 30 random plans."""
    rng = np.random.default_rng(7)
    for _ in range(30):
        x = rng.dirichlet(np.full(2 * T, 0.5)).reshape(2, T) * p.budget
        starts.append(x)
    cons = [{"type": "eq", "fun": lambda v: v.sum() - p.budget,
             "jac": lambda v: np.ones_like(v)}]
    for c in range(2):
        row = np.zeros((2, T))
        row[c] = 1.0
        ones = row.reshape(-1)
        cons += [{"type": "ineq", "fun": lambda v, c=c: v.reshape(2, T)[c].sum() - p.total_lower[c],
                  "jac": lambda v, r=ones: r},
                 {"type": "ineq", "fun": lambda v, c=c: p.total_upper[c] - v.reshape(2, T)[c].sum(),
                  "jac": lambda v, r=ones: -r}]
    bounds = list(zip(p.week_lower.reshape(-1), p.week_upper.reshape(-1), strict=True))
    best = -np.inf
    for x in starts:
        res = minimize(lambda v: tuple(-z / 100.0 for z in _true(ww, v)),
                       np.clip(x.reshape(-1), p.week_lower.reshape(-1), p.week_upper.reshape(-1)),
                       jac=True, method="SLSQP", constraints=cons, bounds=bounds,
                       options={"ftol": 1e-13, "maxiter": 500})
        v = res.x
        feasible = (abs(v.sum() - p.budget) <= 1e-6 * p.budget
                    and np.all(v >= p.week_lower.reshape(-1) - 1e-6)
                    and np.all(v.reshape(2, T).sum(axis=1) <= p.total_upper + 1e-6)
                    and np.all(v.reshape(2, T).sum(axis=1) >= p.total_lower - 1e-6))
        if feasible:
            best = max(best, _true(ww, v)[0])
    return best


def _assert_exact(ww: WeeklyWorld, p: WeeklyProblem, sol: WeeklySolution) -> float:
    assert sol.status == "optimal" and sol.gap <= 1e-4
    # the plan is valued exactly: the truth's own replay
    assert sol.value == pytest.approx(_true(ww, sol.x.reshape(-1))[0], rel=1e-10)
    even = np.repeat((p.budget * np.array([0.6, 0.4]) / T)[:, None], T, axis=1)
    best = _oracle(ww, p, [sol.x.copy(), even])
    assert best <= sol.upper_bound * (1 + 1e-9)  # the certificate bounds the true optimum
    assert (best - sol.value) / abs(sol.value) <= 1e-4
    return best


@pytest.mark.parametrize("tails", [(0, 0), (2, 1)])
def test_s_shaped_weeks_below_the_inflection_reach_the_exact_optimum(
        tails: tuple[int, int]) -> None:
    ww = _world(np.array([[300.0] * 8, [200.0] * 8]), tails)
    p = _problem(ww, np.array([2400.0, 1800.0]))
    sol = solve_weekly(p)
    assert sol.n_binaries > 0  # the low carry-in leaves the weeks below the inflection point
    best = _assert_exact(ww, p, sol)
    if tails == (0, 0):  # HiGHS's MILP (its own dual bound) certifies the same optimum
        hs = solve_weekly(p, solver="HiGHS")
        assert hs.status == "optimal" and hs.n_binaries > 0
        assert best <= hs.upper_bound * (1 + 1e-9) and (best - hs.value) / abs(hs.value) <= 1e-4
    # the plan pulses: an S-curve rewards concentrating a channel's spend in fewer weeks
    assert np.min(sol.x, axis=1).min() < 0.05 * p.budget / (2 * T)


def test_weeks_above_the_inflection_keep_the_tangent_lp() -> None:
    # a heavy spend before the period and a weekly minimum hold every week's adstock above
    # both curves' inflection points (video 1,069, display 399): concave on the box
    ww = _world(np.array([[1500.0] * 8, [700.0] * 8]))
    x0 = np.array([4500.0, 2100.0])
    p = _problem(ww, x0, week_lower=np.array([[600.0] * T, [330.0] * T]))
    lo = p.adstock(p.week_lower)
    assert np.all(lo[0] >= 1069.0) and np.all(lo[1] >= 399.0)
    sol = solve_weekly(p)
    assert sol.n_binaries == 0
    _assert_exact(ww, p, sol)
    # HiGHS (the arrays model) certifies the same optimum on this path
    hs = solve_weekly(p, solver="HiGHS")
    assert hs.n_binaries == 0 and hs.status == "optimal"
    assert hs.value <= sol.upper_bound * (1 + 1e-9) and sol.value <= hs.upper_bound * (1 + 1e-9)


WEEKS = 130
# channel: (mean weekly spend, half saturation as a multiple of the mean adstock, Hill shape,
# maximum weekly response as a multiple of the mean spend)
CHANNELS = {"video": (3000.0, 1.0, 2.6, 4.0), "search": (2000.0, 2.0, 0.8, 6.0)}
ALPHA = 0.3


def test_a_fitted_s_shaped_curve_is_planned_week_by_week(tmp_path: Path) -> None:
    """A panel whose video follows a Hill curve of shape 2.6: the fit finds an S-shape, and
    ``period`` plans it, certified; its weeks replay exactly through the fitted curves."""
    panel, dates = saturation_panel(CHANNELS, Hill, weeks=WEEKS, walk_sd=0.35, alpha=ALPHA)
    panel.to_csv(tmp_path / "panel.csv", index=False)
    start = (dates[-1] + pd.Timedelta(weeks=1)).date()
    (tmp_path / "plan.yaml").write_text(
        "name: s\ndata: panel.csv\nrisk: point\nseed: 1\n"
        f"period: {{start: {start}, weeks: 4, value_carryover: false}}\n"
        "economics: {gross_margin: 0.5}\n", encoding="utf-8")
    plan = run_plan(tmp_path / "plan.yaml", tmp_path / "out", progress=False)
    video = plan.curves["video"].revenue
    assert not video.saturation.is_concave  # the fit chose an S-shape
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    flight = summary["flighting"]
    assert flight["s_shaped_channels"] == ["video"] and flight["binaries"] > 0
    assert flight["status"] == "optimal" and flight["optimality_gap"] <= 1e-4
    assert flight["objective_weekly"] >= flight["objective_flat_totals"] * (1 - 1e-4)
    assert flight["upper_bound"] >= flight["objective_weekly"]
    # the weeks' revenue is the fitted video curve's, replayed from the panel's spend
    weeks = pd.read_csv(tmp_path / "out" / "allocation_weeks.csv")
    spend = weeks[weeks.channel == "video"].spend.to_numpy()
    past = panel[panel.channel == "video"].spend.to_numpy()
    a = video.adstock.apply(np.concatenate([past, spend]))[WEEKS:]
    assert "video" not in plan.flighting["seasonal_channels"]
    np.testing.assert_allclose(weeks[weeks.channel == "video"].expected_revenue,
                               video.beta * video.saturation.value(a), rtol=1e-9)
    assert any("S-shaped curves (video)" in n for n in plan.notes)
