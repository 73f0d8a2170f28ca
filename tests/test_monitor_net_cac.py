"""The monitor's ``net_cac`` is the plan's ``cac_net``: a week computed by hand through
``roiste monitor``, the real planner's ``cac_net`` as the oracle at the same spend and
economics, and one note where an input the definition needs is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Geometric, MichaelisMenten
from roiste.optimizer.cli import main
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.scenario import Scenario

WEEKS = [d.strftime("%Y-%m-%d") for d in pd.date_range("2025-01-06", periods=10, freq="7D")]
CSV = 1e-5  # kpis.csv writes six significant digits
RULE = {"name": "Net CAC up", "kpi": "net_cac", "threshold": {"above": 0.5},
        "durability": {"weeks_in_a_row": 3}}


def _panel(last: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Ten weeks per channel: the last is ``last``; the earlier ones differ a little in new
    customers (so each series has some week-to-week noise)."""
    rows = []
    for i, week in enumerate(WEEKS):
        for channel, q in last.items():
            row = {"date": week, "channel": channel, **q}
            if i < len(WEEKS) - 1:
                row["new_customers"] = q["new_customers"] + i % 3
            rows.append(row)
    return pd.DataFrame(rows)


def _run(tmp: Path, panel: pd.DataFrame, rules: dict[str, Any],
         scenario: dict[str, Any] | None = None,
         *more: str) -> tuple[pd.DataFrame, dict[str, Any], str]:
    panel.to_csv(tmp / "panel.csv", index=False)
    if scenario is not None:
        (tmp / "scenario.yml").write_text(yaml.safe_dump({"data": "panel.csv", **scenario}),
                                          encoding="utf-8")
        rules = {**rules, "draft": {"scenario": "scenario.yml"}}
    (tmp / "rules.yml").write_text(yaml.safe_dump({**rules, "rules": [RULE]}), encoding="utf-8")
    res = CliRunner().invoke(main, ["monitor", str(tmp / "panel.csv"), "--rules",
                                    str(tmp / "rules.yml"), "--out", str(tmp / "out"),
                                    "--quiet", "--no-notify", *more])
    assert res.exit_code == 0, res.stderr
    kpis = pd.read_csv(tmp / "out" / "kpis.csv")
    doc = json.loads((tmp / "out" / "alerts.json").read_text(encoding="utf-8"))
    return kpis, doc, res.stderr


def _last(kpis: pd.DataFrame, key: str, col: str = "net_cac") -> float:
    return float(kpis[(kpis["week"] == WEEKS[-1]) & (kpis["key"] == key)][col].iloc[0])


def test_net_cac_of_a_week_by_hand(tmp_path: Path) -> None:
    panel = _panel({
        "search": {"spend": 1000.0, "revenue": 4000.0, "orders": 40, "new_customers": 20,
                   "returns": 400.0},
        "social": {"spend": 500.0, "revenue": 1000.0, "orders": 20, "new_customers": 10,
                   "returns": 50.0},
    })
    scenario = {"name": "shop", "period_weeks": 4,
                "economics": {"gross_margin": 0.5, "return_rate": 0.1, "cancellation_rate": 0.05,
                              "cost_per_order": 6.0, "platform_fee_rate": 0.1,
                              "commission_rate": 0.3},
                "channels": {"search": {"cost_per_order": 8.0}}}
    # the rules' commission (0.02) replaces the scenario's 0.3 for every channel; search's own
    # cost per order (8) replaces the scenario's 6; the panel's refunds do not enter (the
    # margin lost to returns and lost orders is gm x (1 - (1 - rr)(1 - cx)) x revenue)
    kpis, doc, stderr = _run(tmp_path, panel, {"economics": {"commission_rate": 0.02}}, scenario)
    lost = 0.5 * (1.0 - 0.9 * 0.95)  # 0.0725 of revenue
    search = 1000 * 1.1 + 0.02 * 4000 + 8 * 40 + lost * 4000  # 1100 + 80 + 320 + 290 = 1790
    social = 500 * 1.1 + 0.02 * 1000 + 6 * 20 + lost * 1000  # 550 + 20 + 120 + 72.5 = 762.5
    assert (search, social) == pytest.approx((1790.0, 762.5), rel=1e-12)
    assert _last(kpis, "search") == pytest.approx(1790.0 / 20, rel=CSV)  # 89.5
    assert _last(kpis, "social") == pytest.approx(762.5 / 10, rel=CSV)  # 76.25
    assert _last(kpis, "(all channels)") == pytest.approx((1790.0 + 762.5) / 30, rel=CSV)
    # an earlier week of search: same costs, 20 + 1 new customers
    first = kpis[(kpis["week"] == WEEKS[1]) & (kpis["key"] == "search")].iloc[0]
    assert first["net_cac"] == pytest.approx(1790.0 / 21, rel=CSV)
    assert first["cost_per_new_customer"] == pytest.approx(1000.0 / 21, rel=CSV)
    # everything the definition needs was given: no note
    assert not any("net_cac" in n for n in doc["notes"]) and "net_cac" not in stderr


def test_missing_inputs_are_said_once_and_the_rest_is_counted(tmp_path: Path) -> None:
    panel = _panel({
        "search": {"spend": 1000.0, "revenue": 4000.0, "new_customers": 20, "returns": 400.0},
        "social": {"spend": 500.0, "revenue": 1000.0, "new_customers": 10, "returns": 50.0},
    })  # no orders column
    econ = {"platform_fee_rate": 0.1, "cost_per_order": 5.0, "return_cost_rate": 0.5}
    kpis, doc, stderr = _run(tmp_path, panel, {"economics": econ})
    # no gross margin: refunds count at return_cost_rate; no orders: no logistics
    assert _last(kpis, "search") == pytest.approx((1000 * 1.1 + 0.5 * 400) / 20, rel=CSV)  # 65
    assert _last(kpis, "social") == pytest.approx((500 * 1.1 + 0.5 * 50) / 10, rel=CSV)  # 57.5
    notes = [n for n in doc["notes"] if "net_cac" in n]
    assert len(notes) == 1 and stderr.count("net_cac is not the plan's cac_net") == 1
    assert "no channel has a gross_margin" in notes[0]
    assert "return_cost_rate 0.5" in notes[0]
    assert "logistics (cost_per_order) are left out: the panel has no orders column" in notes[0]


# ----------------------------------------------------------------- the planner as the oracle

P = 4
ECON = {"gross_margin": 0.5, "return_rate": 0.1, "cancellation_rate": 0.2, "cost_per_order": 5.0,
        "platform_fee_rate": 0.05, "commission_rate": 0.02, "new_customer_value": 30.0}
OWN = {"b": {"cost_per_order": 8.0, "platform_fee_rate": 0.1}}
RPO, NCR = 50.0, 0.004  # revenue per order, new customers per revenue


def _mm(name: str, beta: float, k: float, weekly: float) -> ResponseCurve:
    """``R(w) = beta w / (w + k)`` without carry-over."""
    return ResponseCurve(name, Component(beta, MichaelisMenten(k=k), Geometric(alpha=0.0)),
                         weekly, None,
                         {"revenue_per_order": RPO, "new_customers_per_revenue": NCR})


def test_monitor_net_cac_is_the_planners_cac_net_at_the_same_spend(tmp_path: Path) -> None:
    # both channels locked at their current weekly spend: the plan's cac_net is at that spend
    spend = {"a": 1000.0, "b": 500.0}
    curves = CurveSet([_mm("a", 10_000.0, 1000.0, spend["a"]), _mm("b", 6000.0, 500.0, spend["b"])])
    sc = Scenario.model_validate({
        "name": "oracle", "data": "unused.csv", "period_weeks": P, "economics": ECON,
        "channels": {"a": {"locked": True}, "b": {"locked": True, **OWN["b"]}}})
    built = build_plan(curves, sc, pd.Series(spend))
    write_plan(built, tmp_path / "plan")
    plan = built.allocation.set_index("channel")
    # the weeks the monitor sees: that spend, the curve's revenue, orders and new customers
    # following revenue through the same ratios
    revenue = {"a": 10_000.0 * 1000 / 2000, "b": 6000.0 * 500 / 1000}  # 5000, 3000
    panel = _panel({c: {"spend": spend[c], "revenue": revenue[c], "orders": revenue[c] / RPO,
                        "new_customers": revenue[c] * NCR, "returns": 0.1 * revenue[c]}
                    for c in ("a", "b")})
    kpis, doc, _ = _run(tmp_path, panel, {},
                        {"name": "oracle", "period_weeks": P, "economics": ECON, "channels": OWN},
                        "--plan", str(tmp_path / "plan"))
    for c in ("a", "b"):
        assert _last(kpis, c) == pytest.approx(float(plan.loc[c, "cac_net"]), rel=CSV), c
    assert not any("net_cac" in n for n in doc["notes"])
    # and both are the hand computation: (1050 + 100 + 500 + 700) / 20 = 117.5 for a,
    # (550 + 60 + 480 + 420) / 12 = 125.83 for b
    assert float(plan.loc["a", "cac_net"]) == pytest.approx(117.5, rel=1e-12)
    assert float(plan.loc["b", "cac_net"]) == pytest.approx(1510.0 / 12, rel=1e-12)
    # the week the plan expects (it holds the spend, and starts after the panel): the mean of
    # its 8 baseline weeks, the panel's last 8, whose new customers of a are 22 20 21 22 20 21
    # 22 20 (mean 21; of b 13) at the same costs
    assert _last(kpis, "a", "net_cac_plan") == pytest.approx(2350.0 / 21, rel=CSV)
    assert _last(kpis, "b", "net_cac_plan") == pytest.approx(1510.0 / 13, rel=CSV)
