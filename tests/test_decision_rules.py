"""Net CAC, marginal CPA and their break-even points; the budget signal; the new targets.

The oracles do not use the plan's code: the figures of a Michaelis-Menten channel are worked
out by hand (closed forms), the targets' optima solved on paper, and the best budget of the
demo world found by a general nonlinear solver (SLSQP) on the net margin written out from the
formula of DESIGN.md.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy.optimize import minimize, minimize_scalar

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import InfeasibleError, ScenarioError
from roiste.models.transforms import Geometric, MichaelisMenten
from roiste.optimizer.cli import main
from roiste.optimizer.economics import ChannelEconomics
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report import text as T
from roiste.optimizer.report.html import render_html
from roiste.optimizer.report.tables import allocation_csv, summary_dict
from roiste.optimizer.report.text import COLUMN_LABELS, headline
from roiste.optimizer.report.xlsx import build_workbook
from roiste.optimizer.runs import run_demo
from roiste.optimizer.scenario import Scenario, load_scenario

P = 4
ECON = {
    "gross_margin": 0.5,
    "return_rate": 0.1,
    "cancellation_rate": 0.2,
    "cost_per_order": 5.0,
    "platform_fee_rate": 0.05,
    "commission_rate": 0.02,
    "new_customer_value": 30.0,
}
RATIOS = {"revenue_per_order": 50.0, "new_customers_per_revenue": 0.004,
          "new_customer_revenue_share": 0.4}


def mm_channel(name: str, beta: float, k: float, weekly: float) -> ResponseCurve:
    """``R(w) = beta w / (w + k)`` (no carry-over), visitors ``4000 w / (w + 1000)``."""
    return ResponseCurve(
        name, Component(beta, MichaelisMenten(k=k), Geometric(alpha=0.0)), weekly,
        Component(4000.0, MichaelisMenten(k=1000.0), Geometric(alpha=0.0)), dict(RATIOS),
    )


def scenario(**kw: Any) -> Scenario:
    raw: dict[str, Any] = {"name": "decision rules", "data": "unused.csv", "period_weeks": P,
                           "economics": ECON, **kw}
    return Scenario.model_validate(raw)


# ------------------------------------------------------------------ figures by hand


def test_net_cac_marginal_cpa_and_ratio_by_hand() -> None:
    # one channel locked at weekly spend 1000: R = 10000 * 1000 / 2000 = 5000 a week,
    # R' = 10000 * 1000 / 2000^2 = 2.5; visitors' slope 4000 * 1000 / 2000^2 = 1
    curves = CurveSet([mm_channel("a", 10_000.0, 1000.0, 1000.0)])
    plan = build_plan(curves, scenario(channels={"a": {"locked": True}}),
                      pd.Series({"a": 1000.0}))
    row = plan.allocation.iloc[0]
    x, rev = 4000.0, 20_000.0  # period spend and revenue
    orders, new = rev / 50.0, rev * 0.004
    # kept share of revenue after returns and lost orders: 0.9 * 0.8 = 0.72
    k = 0.5 * 0.72 - 0.02 - 5.0 / 50.0 + 30.0 * 0.8 * 0.004  # = 0.336
    cac = (x * 1.05 + 0.02 * rev + 5.0 * orders + 0.5 * (1 - 0.72) * rev) / new
    assert cac == pytest.approx(117.5, rel=1e-15)  # (4200 + 400 + 2000 + 2800) / 80
    mroas, mrpv = 2.5, 2.5 / 1.0
    mcpa = 50.0 / mroas  # 20 of spend for the next order
    expected = {
        "cac_net": cac,
        "cac_net_current": cac,
        "marginal_cpa": mcpa,
        "marginal_cpa_current": mcpa,
        "marginal_cost_per_new_customer": 1.0 / (0.004 * mroas),  # 100
        "marginal_cost_per_new_customer_current": 100.0,
        "mrpv_over_mcpa": mrpv / mcpa,  # 0.125
        "mrpv_over_mcpa_current": 0.125,
        "break_even_marginal_roas": 1.05 / k,  # 3.125
        "break_even_cpa": k * 50.0 / 1.05,  # 16
        "break_even_mrpv_over_mcpa": mrpv / (k * 50.0 / 1.05),  # 0.15625
        "expected_net_margin": P * k * 5000.0 - 1.05 * x,  # 2520
    }
    for col, want in expected.items():
        assert row[col] == pytest.approx(want, rel=1e-9), col
    assert (row["break_even_cpa"], row["break_even_mrpv_over_mcpa"]) == pytest.approx((16.0, 0.15625))
    # the next unit loses money exactly when marginal CPA is above the break-even CPA
    assert row["marginal_cpa"] > row["break_even_cpa"]
    assert row["marginal_net_margin_recommended"] == pytest.approx(k * mroas - 1.05, rel=1e-9)
    assert row["marginal_net_margin_recommended"] < 0
    assert summary_dict(plan)["break_even"]["a"] == pytest.approx(
        {"marginal_roas": 1.05 / k, "cpa": k * 50.0 / 1.05}, rel=1e-12)
    header = allocation_csv(plan).splitlines()[0].split(",")
    for col in ("cac_net", "marginal_cpa", "marginal_cost_per_new_customer", "mrpv_over_mcpa"):
        assert col in header
    # the workbook's decision-rules sheet: one labelled column per figure, the same numbers
    ws = build_workbook(plan)["Decision rules"]
    cells = {ws.cell(1, j).value: ws.cell(2, j).value for j in range(1, ws.max_column + 1)}
    assert cells[COLUMN_LABELS["marginal_cpa"]] == pytest.approx(20.0, rel=1e-9)
    assert cells[COLUMN_LABELS["break_even_cpa"]] == pytest.approx(16.0, rel=1e-9)
    assert cells[COLUMN_LABELS["cac_net"]] == pytest.approx(117.5, rel=1e-9)
    page = render_html(plan)
    assert T.SECTION_DECISION in page and COLUMN_LABELS["mrpv_over_mcpa"] in page


def test_figures_at_the_recommended_spend_follow_the_formulas() -> None:
    curves = CurveSet([mm_channel("a", 10_000.0, 1000.0, 500.0),
                       mm_channel("b", 5_000.0, 500.0, 300.0)])
    plan = build_plan(curves, scenario(), pd.Series({"a": 500.0, "b": 300.0}))
    a = plan.allocation.set_index("channel")
    for c, beta, kk in (("a", 10_000.0, 1000.0), ("b", 5_000.0, 500.0)):
        for x, sfx in ((a.at[c, "recommended_spend"], ""), (a.at[c, "current_spend"], "_current")):
            w = x / P
            rev = P * beta * w / (w + kk)
            mroas = beta * kk / (w + kk) ** 2
            mrpv = mroas / (4000.0 * 1000.0 / (w + 1000.0) ** 2)
            cost = 1.05 * x + (0.02 + 0.1 + 0.5 * 0.28) * rev
            assert a.at[c, f"cac_net{sfx}"] == pytest.approx(cost / (0.004 * rev), rel=1e-9)
            assert a.at[c, f"marginal_cpa{sfx}"] == pytest.approx(50.0 / mroas, rel=1e-9)
            assert a.at[c, f"mrpv_over_mcpa{sfx}"] == pytest.approx(mrpv * mroas / 50.0, rel=1e-9)


def test_cancellation_rate_is_validated_where_the_other_keys_are(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"economics.cancellation_rate must lie in \[0, 1\]"):
        ChannelEconomics(gross_margin=0.4, cancellation_rate=1.5)
    for where, body in (
        ("economics", {"economics": {"gross_margin": 0.4, "cancellation_rate": 1.2}}),
        ("channels", {"economics": {"gross_margin": 0.4},
                      "channels": {"a": {"cancellation_rate": -0.1}}}),
    ):
        path = tmp_path / f"{where}.yaml"
        path.write_text(yaml.safe_dump({"name": "x", "data": "p.csv", **body}))
        with pytest.raises(ScenarioError) as exc:
            load_scenario(path)
        msg = str(exc.value)
        assert "cancellation_rate" in msg and "\n" not in msg and str(path) in msg


# ------------------------------------------------------------------ the new targets


def _targets_plan(constraint: dict[str, Any]) -> pd.DataFrame:
    curves = CurveSet([mm_channel("a", 10_000.0, 1000.0, 500.0),
                       mm_channel("b", 5_000.0, 500.0, 300.0)])
    sc = scenario(budget=20_000.0, allow_underspend=True, step=1.0, allow_large_step=True,
                  tolerance=1e-7, constraints=[constraint])
    plan = build_plan(curves, sc, pd.Series({"a": 500.0, "b": 300.0}))
    return plan.allocation.set_index("channel")


# k = 0.336, f = 1.05: alone, a channel of R = beta w / (w + K) stops where
# k beta K / (w + K)^2 = f, i.e. w = sqrt(k beta K / f) - K (a: 788.85 a week, b: 394.43)
FREE_B = math.sqrt(0.336 * 5000.0 * 500.0 / 1.05) - 500.0


def test_roas_on_new_customers_target_has_its_exact_solution() -> None:
    # 0.4 R(w) >= 2.5 w  <=>  0.4 beta / (w + K) >= 2.5  <=>  w <= 0.4 * 10000 / 2.5 - 1000 = 600
    a = _targets_plan({"channels": ["a"], "target_roas_new": 2.5})
    assert a.at["a", "recommended_spend"] == pytest.approx(P * 600.0, rel=1e-5)
    assert a.at["a", "recommended_spend"] <= P * 600.0 * (1 + 1e-9)  # met on the true curve
    assert a.at["b", "recommended_spend"] == pytest.approx(P * FREE_B, rel=1e-3)


def test_net_cac_target_has_its_exact_solution() -> None:
    # net CAC <= 100: 1.05 w + 0.26 R <= 100 * 0.004 R  <=>  1.05 (w + K) <= 0.14 beta
    # <=> w <= 0.14 * 10000 / 1.05 - 1000 = 333.33 (where net CAC is exactly 100)
    a = _targets_plan({"channels": ["a"], "max_cac_net": 100.0, "name": "cac"})
    assert a.at["a", "recommended_spend"] == pytest.approx(P * (1400.0 / 1.05 - 1000.0), rel=1e-5)
    assert a.at["a", "cac_net"] <= 100.0 * (1 + 1e-9)
    assert a.at["a", "cac_net"] == pytest.approx(100.0, rel=1e-5)
    assert a.at["b", "recommended_spend"] == pytest.approx(P * FREE_B, rel=1e-3)
    # a group target: spend and costs of both channels over both channels' new customers
    g = _targets_plan({"max_cac_net": 95.0})
    spend = g["recommended_spend"].to_numpy()
    rev = g["expected_revenue"].to_numpy()
    cost, new = 1.05 * spend.sum() + 0.26 * rev.sum(), 0.004 * rev.sum()
    # met on the true curves, to the solvers' row tolerance (1e-9 of the budget, times target)
    assert cost - 95.0 * new <= 1e-9 * 20_000.0 * 95.0
    assert cost / new == pytest.approx(95.0, rel=1e-5)


def test_net_cac_target_out_of_reach_says_the_lowest_achievable() -> None:
    # a fixed budget of 3200 within boxes of +-15 %: x_a in [1700, 2300], x_b = 3200 - x_a in
    # [1020, 1380]; the lowest group net CAC is found on that segment by a scalar search
    def group_cac(xa: float) -> float:
        wa, wb = xa / P, (3200.0 - xa) / P
        rev = P * (10_000.0 * wa / (wa + 1000.0) + 5_000.0 * wb / (wb + 500.0))
        return (1.05 * 3200.0 + 0.26 * rev) / (0.004 * rev)

    best = minimize_scalar(group_cac, bounds=(1820.0, 2180.0), method="bounded",
                           options={"xatol": 1e-9})
    lowest_true = float(best.fun)
    curves = CurveSet([mm_channel("a", 10_000.0, 1000.0, 500.0),
                       mm_channel("b", 5_000.0, 500.0, 300.0)])
    sc = scenario(constraints=[{"max_cac_net": lowest_true - 1.0, "name": "cheap"}])
    with pytest.raises(InfeasibleError) as exc:
        build_plan(curves, sc, pd.Series({"a": 500.0, "b": 300.0}))
    msg = str(exc.value)
    assert f"target net CAC {lowest_true - 1.0:g} (cheap) cannot be met" in msg
    found = re.search(r"lowest achievable within .* is ([0-9.]+)", msg)
    assert found is not None and float(found.group(1)) == pytest.approx(lowest_true, abs=0.01)
    # just above the lowest, the target is met
    sc = scenario(constraints=[{"max_cac_net": lowest_true + 0.05, "name": "cheap"}])
    a = build_plan(curves, sc, pd.Series({"a": 500.0, "b": 300.0})).allocation
    assert group_cac(float(a["recommended_spend"].iloc[0])) <= lowest_true + 0.05 + 1e-6


def test_targets_need_their_ratios() -> None:
    curves = CurveSet([ResponseCurve("a", Component(10_000.0, MichaelisMenten(k=1000.0),
                                                    Geometric(alpha=0.0)), 500.0)])
    sc = scenario(economics={"gross_margin": 0.5}, constraints=[{"max_cac_net": 50.0}])
    with pytest.raises(ScenarioError, match="no new_customers_per_revenue"):
        build_plan(curves, sc, pd.Series({"a": 500.0}))
    sc = scenario(economics={"gross_margin": 0.5}, constraints=[{"target_roas_new": 2.0}])
    with pytest.raises(ScenarioError, match="no new_customer_revenue_share"):
        build_plan(curves, sc, pd.Series({"a": 500.0}))


# ------------------------------------------------------------------ the budget signal


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("decision") / "demo"
    run_demo(out, progress=False)
    return out


def _oracle_best_budget(demo: Path) -> tuple[float, float, np.ndarray]:
    """Best total spend and its net margin, by SLSQP on the formula of DESIGN.md."""
    raw = yaml.safe_load((demo / "scenario.yaml").read_text())
    curves = CurveSet.load(demo / "curves.json")
    alloc = pd.read_csv(demo / "plan" / "allocation.csv")
    chans = list(alloc["channel"])
    x0 = alloc["current_spend"].to_numpy(dtype=float)
    p, step = int(raw["period_weeks"]), float(raw["step"])
    assert int(raw.get("steps", 1)) == 1 and not any(
        "min" in v or "max" in v or "locked" in v for v in (raw.get("channels") or {}).values())
    ks, fs = [], []
    for c in chans:
        e = {"return_rate": 0.0, "cancellation_rate": 0.0, "cost_per_order": 0.0,
             "platform_fee_rate": 0.0, "commission_rate": 0.0, "new_customer_value": 0.0,
             "existing_incrementality": 1.0, **raw["economics"], **(raw.get("channels") or {}).get(c, {})}
        r = curves[c].ratios
        s = r["new_customer_revenue_share"]
        incr = s + e["existing_incrementality"] * (1.0 - s)
        kept = (1.0 - e["return_rate"]) * (1.0 - e["cancellation_rate"])
        ks.append(e["gross_margin"] * kept * incr - e["cost_per_order"] / r["revenue_per_order"]
                  - e["commission_rate"]
                  + e["new_customer_value"] * (1.0 - e["cancellation_rate"])
                  * r["new_customers_per_revenue"])
        fs.append(1.0 + e["platform_fee_rate"])
    k, f = np.array(ks), np.array(fs)

    def value(x: np.ndarray) -> float:
        return float(sum(p * k[i] * float(curves[c].response(x[i] / p)) - f[i] * x[i]
                         for i, c in enumerate(chans)))

    def grad(x: np.ndarray) -> np.ndarray:
        return np.array([k[i] * float(curves[c].marginal(x[i] / p)) - f[i]
                         for i, c in enumerate(chans)])

    cons = []
    for con in raw.get("constraints") or []:
        m = np.array([c in con["channels"] for c in chans], dtype=float)
        cap = float(con["max_share"])
        cons.append({"type": "ineq", "fun": lambda u, m=m, cap=cap: float(((cap - m) * x0) @ u),
                     "jac": lambda u, m=m, cap=cap: (cap - m) * x0})
    # channels the plan held at current spend (moves the curves' draws do not support) stay
    held = set(json.loads((demo / "plan" / "summary.json").read_text()).get("held", []))
    bounds = [(1.0, 1.0) if c in held else (1.0 - step, 1.0 + step) for c in chans]
    res = minimize(lambda u: -value(u * x0) / 1e3, np.ones(len(chans)),
                   jac=lambda u: -grad(u * x0) * x0 / 1e3, method="SLSQP",
                   bounds=bounds, constraints=cons,
                   options={"ftol": 1e-14, "maxiter": 500})
    assert res.success, res.message
    x = res.x * x0
    return float(x.sum()), value(x), value(alloc["recommended_spend"].to_numpy(dtype=float))


def test_demo_says_spend_less_with_the_amount_of_an_independent_solve(demo: Path) -> None:
    summary = json.loads((demo / "plan" / "summary.json").read_text())
    best, best_margin, recommended_margin = _oracle_best_budget(demo)
    assert summary["shadow_price"] < 0
    assert summary["best_budget"] < summary["budget"]
    assert summary["best_budget_gap"] <= summary["tolerance"]  # certified like the plan
    scale = 1e-4 * max(abs(best_margin), 0.01 * summary["budget"])  # the certified tolerance
    assert summary["net_margin_at_best_budget"] == pytest.approx(best_margin, abs=2 * scale)
    assert summary["net_margin_recommended"] == pytest.approx(recommended_margin, abs=2 * scale)
    assert summary["best_budget"] == pytest.approx(best, rel=2e-3)
    gain = best_margin - recommended_margin
    assert gain > 0
    notes = [n for n in summary["notes"] if n.startswith("Spend less")]
    assert len(notes) == 1
    amounts = [float(a.replace(",", "")) for a in re.findall(r"(-?[0-9][0-9,]*(?:\.[0-9]+)?) more",
                                                             notes[0])]
    assert amounts and amounts[0] == pytest.approx(gain, abs=1.0 + 2 * scale)
    assert f"{summary['best_budget']:,.0f}" in notes[0]
    assert f"{-summary['shadow_price']:.3f}" in notes[0]


def test_demo_report_says_spend_less_at_its_top(demo: Path) -> None:
    summary = json.loads((demo / "plan" / "summary.json").read_text())
    note = summary["notes"][0]
    assert note.startswith("Spend less")
    page = html.unescape((demo / "plan" / "report.html").read_text())
    assert page.index(note) < page.index("<h2>")  # under the headline, before any section
    top = page[page.index("<strong>"):page.index("</strong>")]
    assert summary["net_margin_current"] < 0 and "%" not in top


def test_plan_command_prints_the_signal_and_no_percent_on_a_negative_base(
    tmp_path: Path
) -> None:
    # two channels spending far past the point where the next unit pays: net margin is
    # negative now, and the last unit of the fixed budget loses money
    weekly = {"a": 3000.0, "b": 1500.0}
    curves = CurveSet([mm_channel(c, 10_000.0, 1000.0, w) for c, w in weekly.items()])
    curves.save(tmp_path / "curves.json")
    dates = pd.date_range("2026-01-05", periods=26, freq="7D").strftime("%Y-%m-%d")
    pd.DataFrame([{"date": d, "channel": c, "spend": w, "revenue": 2.0 * w}
                  for d in dates for c, w in weekly.items()]).to_csv(tmp_path / "panel.csv",
                                                                      index=False)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({
        "name": "overspent", "data": "panel.csv", "curves": "curves.json", "period_weeks": P,
        "economics": ECON}))
    result = CliRunner().invoke(main, ["plan", str(tmp_path / "s.yaml"), "--out",
                                       str(tmp_path / "plan"), "--quiet"])
    assert result.exit_code == 0, result.output
    first, second = result.output.splitlines()[:2]
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert summary["net_margin_current"] < 0 and "%" not in first
    assert summary["shadow_price"] < 0
    assert second.startswith("Spend less") and second == summary["notes"][0]
    assert f"{-summary['shadow_price']:.3f}" in second
    # on a positive base the change shows in per cent too
    plan = build_plan(CurveSet([mm_channel("a", 10_000.0, 1000.0, 500.0)]), scenario(),
                      pd.Series({"a": 500.0}))
    assert plan.net_margin_current > 0
    pct = (plan.net_margin_recommended - plan.net_margin_current) / plan.net_margin_current
    assert f"{pct:+.1%}" in headline(plan)


def test_a_budget_that_would_pay_more_says_spend_more_with_the_amount() -> None:
    # two profitable channels on a tight fixed budget (boxes [0, 2 x current]: period spend
    # of a at most 2000, of b at most 1200); the best split
    # of a budget B is a one-dimensional search: x_a + x_b = B
    k, f = 0.336, 1.05

    def best_margin(budget: float) -> float:
        def neg(xa: float) -> float:
            wa, wb = xa / P, (budget - xa) / P
            rev = P * (10_000.0 * wa / (wa + 1000.0) + 5_000.0 * wb / (wb + 500.0))
            return -(k * rev - f * budget)

        lo, hi = max(0.0, budget - 1200.0), min(budget, 2000.0)  # x_a <= 2000, x_b <= 1200
        res = minimize_scalar(neg, bounds=(lo, hi), method="bounded", options={"xatol": 1e-9})
        return -float(res.fun)

    curves = CurveSet([mm_channel("a", 10_000.0, 1000.0, 250.0),
                       mm_channel("b", 5_000.0, 500.0, 150.0)])
    plan = build_plan(curves, scenario(step=1.0, allow_large_step=True, tolerance=1e-7),
                      pd.Series({"a": 250.0, "b": 150.0}))
    budget = 1600.0
    assert plan.budget == pytest.approx(budget) and plan.shadow_price > 0
    gain = best_margin(1.1 * budget) - best_margin(budget)
    assert gain > 0
    (note,) = plan.budget_notes
    assert note.startswith("Spend more") and "1,760" in note
    amount = float(re.search(r", ([0-9,.]+) more", note).group(1).replace(",", ""))
    assert amount == pytest.approx(gain, abs=0.5 + 1e-3)  # whole units in a sentence
    # the best budget: where the last unit earns nothing, k R'(w) = f, or a channel's upper
    # bound (here both: a would stop at 4 x 788.85, b at 4 x 394.43)
    free = (min(P * (math.sqrt(k * 10_000.0 * 1000.0 / f) - 1000.0), 2000.0)
            + min(P * FREE_B, 1200.0))
    assert plan.best_budget == pytest.approx(free, rel=1e-6)
    assert plan.net_margin_at_best_budget == pytest.approx(best_margin(free), rel=1e-6)
    assert summary_dict(plan)["best_budget"] == plan.best_budget


def test_net_cac_target_with_a_channel_that_cannot_meet_it_alone() -> None:
    # b pays a 20 % commission: its costs per unit of revenue (0.44) exceed 100 x 0.004, so its
    # revenue raises the group's net CAC whatever its spend (r R - s x is convex there); the
    # plan must meet the group target on the true curves and beat every feasible grid point
    curves = CurveSet([mm_channel("a", 10_000.0, 1000.0, 500.0),
                       mm_channel("b", 5_000.0, 500.0, 300.0)])
    sc = scenario(budget=20_000.0, allow_underspend=True, step=1.0, allow_large_step=True,
                  tolerance=1e-6, channels={"b": {"commission_rate": 0.2}},
                  constraints=[{"max_cac_net": 100.0}])
    plan = build_plan(curves, sc, pd.Series({"a": 500.0, "b": 300.0}))
    xa, xb = plan.allocation["recommended_spend"].to_numpy()
    k_a, k_b = 0.336, 0.336 - 0.18

    def parts(xa: Any, xb: Any) -> tuple[Any, Any, Any]:
        ra = P * 10_000.0 * (xa / P) / (xa / P + 1000.0)
        rb = P * 5_000.0 * (xb / P) / (xb / P + 500.0)
        cost = 1.05 * (xa + xb) + 0.26 * ra + 0.44 * rb
        value = k_a * ra + k_b * rb - 1.05 * (xa + xb)
        return cost, 0.004 * (ra + rb), value

    cost, new, value = parts(xa, xb)
    assert cost - 100.0 * new <= 1e-9 * 20_000.0 * 100.0
    ga, gb = np.meshgrid(np.linspace(0.0, 4000.0, 801), np.linspace(0.0, 2400.0, 481))
    c, n, v = parts(ga, gb)
    best_grid = float(v[c <= 100.0 * n].max())
    assert value >= best_grid - 1e-6 * abs(best_grid)
    assert plan.upper_bound >= best_grid - 1e-9 * abs(best_grid)
    assert plan.optimality_gap <= 1e-6
