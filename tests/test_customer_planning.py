"""New versus existing customers in planning: cohort value per channel, ROAS on existing customers.

Oracles:

* the new-customer value of a hand-made tagged-orders file whose retention is exactly
  geometric (search: 8 customers, then 4, 2, 1 buying in the months after; social: 25, then
  5, 1), so the stated lifetime model fits it exactly and its future margin is a sum written
  out here;
* the optimum of a two-channel plan under a ROAS target on existing customers, found by
  bisection on the one free spend (the budget fixes the other), without the LP.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import InfeasibleError, RoisteError, ScenarioError
from roiste.models.transforms import Exponential, Geometric, Hill
from roiste.optimizer.cli import main
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.tables import summary_dict
from roiste.optimizer.runs import run_plan
from roiste.optimizer.scenario import (
    Scenario,
    json_schema,
    load_scenario,
    validate_scenario_file,
)

HERE = Path(__file__).resolve().parent / "fixtures" / "customer_planning"
P = 4
GM, RR, CPO = 0.5, 0.1, 2.0
HORIZON, DISCOUNT = 24, 0.01


# ------------------------------------------------------------------ hand-made tagged orders


def hand_orders() -> pd.DataFrame:
    """Two acquisition channels; repeat orders come through ``crm``.

    search: 8 customers in 2024-01 (first order 80), of whom 4, 2, 1 buy 100 in Feb, Mar,
    Apr.  social: 25 customers in 2024-02 (first order 60), of whom 5 and 1 buy 50 in Mar
    and Apr.  The last order is on 30 April, so January to April are whole months.
    """
    rows: list[tuple[str, float, str, str, str]] = []
    for i in range(8):
        rows.append((f"2024-01-{5 + i:02d}T10:00:00Z", 80.0, "search", f"s{i}", "new"))
    for month, buyers in ((2, 4), (3, 2), (4, 1)):
        for i in range(buyers):
            day = 30 if (month, i) == (4, 0) else 10 + i
            rows.append((f"2024-{month:02d}-{day:02d}T12:00:00Z", 100.0, "crm", f"s{i}",
                         "existing"))
    for i in range(25):
        rows.append((f"2024-02-{1 + i:02d}T09:00:00Z", 60.0, "social", f"f{i}", "new"))
    for month, buyers in ((3, 5), (4, 1)):
        for i in range(buyers):
            rows.append((f"2024-{month:02d}-{3 + i:02d}T08:00:00Z", 50.0, "crm", f"f{i}",
                         "existing"))
    rows.sort()
    first = {}
    for ts, _, _, key, kind in rows:
        if kind == "new":
            first[key] = ts
    return pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(rows))],
            "timestamp": [r[0] for r in rows],
            "value": [r[1] for r in rows],
            "channel": [r[2] for r in rows],
            "customer_key": [r[3] for r in rows],
            "customer_type": [r[4] for r in rows],
            "first_purchase_at": [first[r[3]] for r in rows],
        }
    )


def future_value(a: float, q: float, repeat_value: float) -> float:
    """``sum_{m=1..H} a q^(m-1) (gm (1-rr) v - cpo) / (1 + d)^m``: margin after month 0."""
    m = np.arange(1, HORIZON + 1)
    mu = GM * (1 - RR) * repeat_value - CPO
    return float(np.sum(a * q ** (m - 1) * mu / (1 + DISCOUNT) ** m))


# search: a = 4/8, q = 2/4; social: a = 5/25, q = 1/5.  Month 0 holds only the first order.
EXPECTED_VALUE = {"search": future_value(0.5, 0.5, 100.0), "social": future_value(0.2, 0.2, 50.0)}


# ------------------------------------------------------------------ curves and scenarios


def curves(share_search: float | None = 0.2, share_social: float | None = 0.7) -> CurveSet:
    def ratios(rpo: float, ncr: float, share: float | None) -> dict[str, float]:
        out = {"revenue_per_order": rpo, "new_customers_per_revenue": ncr}
        if share is not None:
            out["new_customer_revenue_share"] = share
        return out

    return CurveSet(
        [
            ResponseCurve("search", Component(9000.0, Hill(k=2500.0, s=1.0), Geometric(alpha=0.3)),
                          1000.0, None, ratios(80.0, 0.004, share_search)),
            ResponseCurve("social", Component(16000.0, Exponential(k=5000.0), Geometric(alpha=0.4)),
                          2000.0, None, ratios(60.0, 0.008, share_social)),
        ]
    )


def current(cs: CurveSet) -> pd.Series:
    return pd.Series({c: cs[c].recent_spend for c in cs.channels})


def scenario(orders: Path | None = None, **kw: Any) -> Scenario:
    raw: dict[str, Any] = {
        "name": "customers",
        "data": "unused.csv",
        "period_weeks": P,
        "economics": {"gross_margin": GM, "return_rate": RR, "cost_per_order": CPO},
        "tolerance": 1e-6,
    }
    if orders is not None:
        raw["customers"] = {"orders": str(orders), "horizon_months": HORIZON,
                            "monthly_discount": DISCOUNT}
    raw.update(kw)
    return Scenario.model_validate(raw)


@pytest.fixture
def orders_file(tmp_path: Path) -> Path:
    path = tmp_path / "tagged.csv"
    hand_orders().to_csv(path, index=False)
    return path


# ------------------------------------------------------------------ cohort value


def margin(cs: CurveSet, c: str, x: float, ncv: float) -> float:
    """Net margin of DESIGN.md: ``P [gm (1-rr) R - cpo R / rpo + ncv R ncr] - x``."""
    r = cs[c].ratios
    k = GM * (1 - RR) - CPO / r["revenue_per_order"] + ncv * r["new_customers_per_revenue"]
    return P * k * float(cs[c].response(x / P)) - x


def test_from_cohorts_uses_the_future_margin_after_the_first_order(orders_file: Path) -> None:
    cs = curves()
    econ = {"gross_margin": GM, "return_rate": RR, "cost_per_order": CPO,
            "new_customer_value": "from_cohorts"}
    plan = build_plan(cs, scenario(orders_file, economics=econ), current(cs))
    for c in ("search", "social"):
        assert plan.economics[c]["new_customer_value"] == pytest.approx(EXPECTED_VALUE[c], rel=1e-9)
    # the same plan as with the numbers written in
    numbers = build_plan(cs, scenario(channels={c: {"new_customer_value": v}
                                                for c, v in EXPECTED_VALUE.items()}), current(cs))
    x = plan.allocation["recommended_spend"].to_numpy()
    np.testing.assert_allclose(x, numbers.allocation["recommended_spend"].to_numpy(), rtol=1e-9)
    oracle = sum(margin(cs, c, xi, EXPECTED_VALUE[c]) for c, xi in zip(cs.channels, x, strict=True))
    assert plan.net_margin_recommended == pytest.approx(oracle, rel=1e-9)
    # the value moves the plan: without it the margin at the same spends is lower by the credit
    no_value = sum(margin(cs, c, xi, 0.0) for c, xi in zip(cs.channels, x, strict=True))
    assert plan.net_margin_recommended > no_value + 1.0
    # where it came from: in the notes of summary.json, with both parts of the difference
    note = next(n for n in summary_dict(plan)["notes"] if n.startswith("new_customer_value from"))
    assert str(orders_file) in note and "24 months" in note and "discount 1 %" in note
    assert f"search {EXPECTED_VALUE['search']:,.2f} (lifetime " in note
    assert f"first order {GM * (1 - RR) * 60 - CPO:,.2f})" in note  # social's first order: 25
    assert plan.base_economics["new_customer_value"] is None


def test_tagged_orders_in_parquet_give_the_same_values(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "tagged.parquet"
    hand_orders().to_parquet(path, index=False)
    cs = curves()
    econ = {"gross_margin": GM, "return_rate": RR, "cost_per_order": CPO,
            "new_customer_value": "from_cohorts"}
    plan = build_plan(cs, scenario(path, economics=econ), current(cs))
    for c in ("search", "social"):
        assert plan.economics[c]["new_customer_value"] == pytest.approx(EXPECTED_VALUE[c], rel=1e-9)


def test_a_number_overrides_from_cohorts_per_channel(orders_file: Path) -> None:
    cs = curves()
    econ = {"gross_margin": GM, "new_customer_value": "from_cohorts"}
    sc = scenario(orders_file, economics=econ, channels={"social": {"new_customer_value": 7.5}})
    plan = build_plan(cs, sc, current(cs))
    assert plan.economics["social"]["new_customer_value"] == 7.5
    # gross margin 0.5 with no returns or order costs: mu = 50, not 43
    assert plan.economics["search"]["new_customer_value"] == pytest.approx(
        sum(0.5 * 0.5 ** (m - 1) * 50.0 / 1.01**m for m in range(1, HORIZON + 1)), rel=1e-9)


def test_a_channel_without_cohorts_is_one_clear_line(tmp_path: Path) -> None:
    orders = hand_orders()
    orders = orders[~orders["customer_key"].str.startswith("f")]
    path = tmp_path / "only_search.csv"
    orders.to_csv(path, index=False)
    cs = curves()
    econ = {"gross_margin": GM, "new_customer_value": "from_cohorts"}
    with pytest.raises(ScenarioError) as exc:
        build_plan(cs, scenario(path, economics=econ), current(cs))
    assert str(exc.value) == (
        f"channel 'social': new_customer_value: from_cohorts, but the tagged orders {path} have "
        "no customer acquired through 'social'; set a number under channels -> social -> "
        "new_customer_value"
    )


def test_a_broken_orders_file_names_file_row_and_column(tmp_path: Path) -> None:
    orders = hand_orders()
    orders["value"] = orders["value"].astype(object)
    orders.loc[3, "value"] = "lots"
    path = tmp_path / "broken.csv"
    orders.to_csv(path, index=False)
    cs = curves()
    econ = {"gross_margin": GM, "new_customer_value": "from_cohorts"}
    with pytest.raises(ScenarioError) as exc:
        build_plan(cs, scenario(path, economics=econ), current(cs))
    assert str(exc.value) == f"{path}: row 5, column 'value': not a number >= 0"


# ------------------------------------------------------------------ ROAS on existing customers


W = {"search": 0.8, "social": 0.3}  # 1 - new_customer_revenue_share


def _bisect(f: Any, a: float, b: float) -> float:
    """A root of ``f`` on ``[a, b]`` where it changes sign."""
    fa = f(a)
    for _ in range(200):
        m = 0.5 * (a + b)
        if (f(m) > 0) == (fa > 0):
            a, fa = m, f(m)
        else:
            b = m
    return 0.5 * (a + b)


def oracle(cs: CurveSet, lo: np.ndarray, hi: np.ndarray, budget: float,
           target: float) -> tuple[float, float, float]:
    """Best search spend under the target, the best existing ROAS, and its margin.

    The budget fixes social = B - search; margin and existing revenue are concave in the
    search spend, so the target holds on an interval and the optimum is the unconstrained
    one clipped to it.
    """
    a0, b0 = max(lo[0], budget - hi[1]), min(hi[0], budget - lo[1])

    def total(xs: float) -> float:
        return margin(cs, "search", xs, 0.0) + margin(cs, "social", budget - xs, 0.0)

    def dtotal(xs: float) -> float:
        h = 1e-4
        return (total(xs + h) - total(xs - h)) / (2 * h)

    def existing(xs: float) -> float:
        return (W["search"] * P * float(cs["search"].response(xs / P))
                + W["social"] * P * float(cs["social"].response((budget - xs) / P)))

    def dexisting(xs: float) -> float:
        h = 1e-4
        return (existing(xs + h) - existing(xs - h)) / (2 * h)

    free = a0 if dtotal(a0) <= 0 else b0 if dtotal(b0) >= 0 else _bisect(dtotal, a0, b0)
    peak = a0 if dexisting(a0) <= 0 else b0 if dexisting(b0) >= 0 else _bisect(dexisting, a0, b0)
    best_roas = existing(peak) / budget
    g = lambda xs: existing(xs) - target * budget  # noqa: E731
    if g(peak) < 0:
        return float("nan"), best_roas, float("nan")
    left = a0 if g(a0) >= 0 else _bisect(g, a0, peak)
    right = b0 if g(b0) >= 0 else _bisect(g, peak, b0)
    xs = min(max(free, left), right)
    return xs, best_roas, total(xs)


def _existing_roas(cs: CurveSet, x: np.ndarray) -> float:
    rev = [W[c] * P * float(cs[c].response(xi / P)) for c, xi in zip(cs.channels, x, strict=True)]
    return sum(rev) / float(x.sum())


def test_roas_on_existing_customers_holds_binds_and_is_optimal() -> None:
    cs = curves()
    sc = scenario(step=0.2)
    free = build_plan(cs, sc, current(cs))
    x_free = free.allocation["recommended_spend"].to_numpy()
    lo, hi = 0.8 * free.allocation["current_spend"].to_numpy(), 1.2 * free.allocation[
        "current_spend"].to_numpy()
    budget = float(x_free.sum())
    _, best, _ = oracle(cs, lo, hi, budget, 0.0)
    roas_free = _existing_roas(cs, x_free)
    assert roas_free < best - 0.05  # room for a target between the two
    target = 0.5 * (roas_free + best)
    cons = [{"target_roas_existing": target, "name": "returning"}]
    plan = build_plan(cs, scenario(step=0.2, constraints=cons), current(cs))
    x = plan.allocation["recommended_spend"].to_numpy()
    roas = _existing_roas(cs, x)
    assert roas >= target * (1 - 1e-9)  # holds on the true curves
    assert roas == pytest.approx(target, rel=1e-4)  # and binds: the free plan misses it
    xs, _, value = oracle(cs, lo, hi, budget, target)
    assert x[0] == pytest.approx(xs, rel=2e-3)
    assert plan.net_margin_recommended <= value + 1e-6 * abs(value)
    assert plan.net_margin_recommended >= value - 1e-5 * abs(value)
    assert plan.net_margin_recommended < free.net_margin_recommended
    (entry,) = plan.constraints
    assert {k: entry[k] for k in ("name", "kind", "rule")} == {
        "name": "returning", "kind": "roas_existing",
        "rule": f"existing-customer revenue of all channels at least {target:g} x their spend",
    }
    # reported: the figure by hand, binding, and its cost against the free plan solved apart
    assert entry["achieved"] == pytest.approx(roas, rel=1e-9) and entry["limit"] == target
    assert entry["binding"] is True and entry["side"] == "at_least"
    gain = free.objective_recommended - plan.objective_recommended
    assert entry["cost_low"] <= gain <= entry["cost_high"]
    assert entry["cost"] == pytest.approx(gain, rel=1e-6)


def test_roas_on_existing_customers_over_one_channel() -> None:
    cs = curves()
    x_cur = current(cs).to_numpy() * P
    # search alone: its existing revenue 0.8 R(x) >= T x; at the step's lowest spend it is
    # highest (R(x) / x falls with x), so this T forces search down to a known spend
    lo = 0.8 * x_cur[0]
    roas_lo = W["search"] * P * float(cs["search"].response(lo / P)) / lo
    roas_cur = W["search"] * P * float(cs["search"].response(x_cur[0] / P)) / x_cur[0]
    target = 0.5 * (roas_lo + roas_cur)
    cons = [{"target_roas_existing": target, "channels": ["search"]}]
    plan = build_plan(cs, scenario(step=0.2, constraints=cons), current(cs))
    xs = float(plan.allocation["recommended_spend"].iloc[0])

    def g(x: float) -> float:
        return W["search"] * P * float(cs["search"].response(x / P)) - target * x

    assert xs <= _bisect(g, lo, x_cur[0]) * (1 + 1e-9)


def test_an_impossible_existing_roas_is_one_line_with_the_best_achievable() -> None:
    cs = curves()
    lo, hi = 0.8 * current(cs).to_numpy() * P, 1.2 * current(cs).to_numpy() * P
    cons = [{"target_roas_existing": 9.0, "name": "returning"}]
    with pytest.raises(InfeasibleError) as exc:
        build_plan(cs, scenario(step=0.2, constraints=cons), current(cs))
    msg = str(exc.value)
    assert "\n" not in msg
    # the target alone conflicts with the channels' step boxes, whatever the budget
    m = re.fullmatch(
        r"target ROAS on existing customers 9 \(returning\) cannot be met: the best achievable "
        r"ROAS on existing customers within the channel bounds is ([0-9.]+)",
        msg,
    )
    assert m is not None, msg
    # oracle: the best existing-customer ROAS over a fine grid of the two spends
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 1201), np.linspace(lo[1], hi[1], 1201))
    rev = (W["search"] * P * cs["search"].response(g0 / P)
           + W["social"] * P * cs["social"].response(g1 / P))
    best = float(np.max(rev / (g0 + g1)))
    assert float(m.group(1)) == pytest.approx(best, abs=0.006)


def test_existing_roas_needs_the_new_customer_revenue_share() -> None:
    cs = curves(share_social=None)
    cons = [{"target_roas_existing": 1.0}]
    with pytest.raises(ScenarioError) as exc:
        build_plan(cs, scenario(constraints=cons), current(cs))
    assert str(exc.value) == (
        "constraint 'target_roas_existing_1': channel 'social' has no "
        "new_customer_revenue_share (the panel has no new_customer_revenue column), so its "
        "existing-customer revenue is unknown"
    )
    # a target over search alone does not need social's share
    ok = build_plan(cs, scenario(constraints=[{"target_roas_existing": 0.1,
                                               "channels": ["search"]}]), current(cs))
    assert ok.status == "optimal"


# ------------------------------------------------------------------ scenario files


WRONG = {
    "cohorts_without_customers": ("load",
        "new_customer_value: from_cohorts needs customers: orders (the tagged orders file whose "
        "cohorts value a new customer) (at channels -> search -> new_customer_value)"),
    "orders_missing": ("load",
        "tagged orders file not found: no_such_orders.csv (resolved to "
        "{here}/no_such_orders.csv) (at customers -> orders)"),
    "customer_value_text": ("load",
        "new_customer_value must be a number >= 0 or from_cohorts, got 'from_cohort' "
        "(at economics -> new_customer_value)"),
    "horizon_zero": ("load",
        "Input should be greater than or equal to 1, got 0 (at customers -> horizon_months)"),
    "roas_existing_negative": ("load",
        "Input should be greater than 0, got -1.5 (at constraints -> 0 -> target_roas_existing)"),
    "roas_existing_unknown_channel": ("data",
        "Unknown channel 'serch', not in the data (at constraints -> 0 -> channels). "
        "Did you mean 'search'?"),
}  # fmt: skip


def _expected(stem: str) -> str:
    return f"{HERE / f'wrong_{stem}.yaml'}: " + WRONG[stem][1].replace("{here}", str(HERE))


def test_every_wrong_fixture_has_an_expected_message() -> None:
    assert {p.stem.removeprefix("wrong_") for p in HERE.glob("wrong_*.yaml")} == set(WRONG)


@pytest.mark.parametrize("stem", list(WRONG))
def test_wrong_file_gives_its_one_line_message(stem: str) -> None:
    path = HERE / f"wrong_{stem}.yaml"
    if WRONG[stem][0] == "load":
        with pytest.raises(ScenarioError) as exc:
            load_scenario(path)
        assert str(exc.value) == _expected(stem)
    with pytest.raises(ScenarioError) as exc:
        validate_scenario_file(path)
    assert str(exc.value) == _expected(stem)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: " + _expected(stem)]


def test_validate_finds_a_channel_without_cohorts(tmp_path: Path) -> None:
    text = (HERE / "good_cohorts.yaml").read_text(encoding="utf-8")
    text = text.replace("../scenarios/panel_long.csv",
                        str(HERE.parent / "scenarios" / "panel_long.csv"))
    text = text.replace("orders: tagged_orders.csv", f"orders: {HERE / 'tagged_orders.csv'}")
    sc = tmp_path / "sc.yaml"
    sc.write_text(text.replace("tv: {new_customer_value: 12}", "tv: {}"), encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(sc)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: channel 'tv': new_customer_value: from_cohorts, but the tagged orders "
        f"{HERE / 'tagged_orders.csv'} have no customer acquired through 'tv'; set a number "
        "under channels -> tv -> new_customer_value"]
    assert validate_scenario_file(HERE / "good_cohorts.yaml").endswith("step 0.15)")


def test_schema_names_the_new_keys() -> None:
    text = json.dumps(json_schema())
    assert "target_roas_existing" in text and "from_cohorts" in text
    assert "horizon_months" in json_schema()["$defs"]["Customers"]["properties"]


def test_plan_command_with_cohort_value(tmp_path: Path) -> None:
    """End to end on the fixture panel: values per channel in summary.json and the report."""
    path = HERE / "good_cohorts.yaml"
    sc = load_scenario(path)
    assert sc.customers is not None and sc.customers.orders == HERE / "tagged_orders.csv"
    out = tmp_path / "plan"
    plan = run_plan(path, out, progress=False)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    note = next(n for n in summary["notes"] if n.startswith("new_customer_value from cohorts"))
    assert "tagged_orders.csv (24 months, discount 1 % a month" in note
    assert "search " in note and "social_meta " in note and "tv " not in note
    assert plan.economics["tv"]["new_customer_value"] == 12.0
    for c in ("search", "social_meta"):
        v = plan.economics[c]["new_customer_value"]
        assert v is not None and v > 0 and f"{c} {v:,.2f} (lifetime" in note
    report = next(p for p in out.iterdir() if p.suffix == ".html")
    assert "new_customer_value from cohorts" in report.read_text(encoding="utf-8")


def test_bad_orders_in_a_plan_run_exit_2(tmp_path: Path) -> None:
    orders = pd.read_csv(HERE / "tagged_orders.csv")
    orders.loc[6, "customer_type"] = "returning"
    bad = tmp_path / "orders.csv"
    orders.to_csv(bad, index=False)
    text = (HERE / "good_cohorts.yaml").read_text(encoding="utf-8")
    text = text.replace("../scenarios/panel_long.csv",
                        str(HERE.parent / "scenarios" / "panel_long.csv"))
    text = text.replace("orders: tagged_orders.csv", f"orders: {bad}")
    sc = tmp_path / "sc.yaml"
    sc.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["plan", str(sc), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {bad}: row 8, column 'customer_type': not new or existing"]
    assert not (tmp_path / "o").exists()
    assert isinstance(ScenarioError("x"), RoisteError)


def test_example_scenario_target_binds_on_the_demo_panel(tmp_path: Path) -> None:
    """scenarios/customers.yaml: the target on existing customers holds, binds, and costs."""
    from roiste.models.panel import read_panel

    path = Path(__file__).resolve().parents[1] / "scenarios" / "customers.yaml"
    plan = run_plan(path, tmp_path / "plan", progress=False)
    cs = CurveSet.load(tmp_path / "plan" / "curves.json")
    group = ["search_brand", "search_generic", "shopping"]

    def existing_roas(x: pd.Series) -> float:
        rev = sum(P * float(cs[c].response(x[c] / P))
                  * (1 - cs[c].ratios["new_customer_revenue_share"]) for c in group)
        return rev / float(x[group].sum())

    sc = load_scenario(path)
    target = sc.constraints[0].target_roas_existing  # type: ignore[union-attr]
    alloc = plan.allocation.set_index("channel")
    assert existing_roas(alloc["recommended_spend"]) == pytest.approx(target, rel=1e-4)
    assert existing_roas(alloc["recommended_spend"]) >= target * (1 - 1e-9)
    panel = read_panel(sc.data)
    weekly = panel.recent_spend(sc.baseline_weeks).astype(float)
    free = build_plan(cs, sc.model_copy(update={"constraints": []}), weekly)
    assert existing_roas(free.allocation.set_index("channel")["recommended_spend"]) < 0.98 * target
    assert free.net_margin_recommended > plan.net_margin_recommended


def three_curves() -> CurveSet:
    def ratios(share: float) -> dict[str, float]:
        return {"revenue_per_order": 70.0, "new_customers_per_revenue": 0.005,
                "new_customer_revenue_share": share}

    return CurveSet(
        [
            ResponseCurve("a", Component(9000.0, Hill(k=2500.0, s=1.0), Geometric(alpha=0.3)),
                          1000.0, None, ratios(0.1)),
            ResponseCurve("b", Component(16000.0, Exponential(k=5000.0), Geometric(alpha=0.4)),
                          2000.0, None, ratios(0.75)),
            ResponseCurve("c", Component(7000.0, Hill(k=1200.0, s=0.8), Geometric(alpha=0.2)),
                          800.0, None, ratios(0.4)),
        ]
    )


@pytest.mark.parametrize("solver", ["CBC", "HiGHS"])
def test_existing_roas_on_three_channels_against_a_grid(solver: str) -> None:
    """Grid over two spends (the budget fixes the third): the plan is at least its best."""
    cs = three_curves()
    x0 = current(cs).to_numpy() * P
    lo, hi, budget = 0.8 * x0, 1.2 * x0, float(x0.sum())
    w = np.array([0.9, 0.25, 0.6])
    g0, g1 = np.meshgrid(np.linspace(lo[0], hi[0], 801), np.linspace(lo[1], hi[1], 801))
    g2 = budget - g0 - g1
    ok = (g2 >= lo[2]) & (g2 <= hi[2])
    spends = (g0, g1, np.clip(g2, lo[2], hi[2]))
    rev = [P * cs[c].response(s / P) for c, s in zip(cs.channels, spends, strict=True)]
    k = [GM * (1 - RR) - CPO / 70.0 for _ in cs.channels]
    value = sum(k[i] * rev[i] - spends[i] for i in range(3))
    existing = sum(w[i] * rev[i] for i in range(3))
    free_best = float(np.max(np.where(ok, value, -np.inf)))
    # a target between the free plan's existing ROAS and the best one
    i_free = np.unravel_index(np.argmax(np.where(ok, value, -np.inf)), value.shape)
    roas_free, roas_best = existing[i_free] / budget, float(np.max(np.where(ok, existing, 0))) / budget
    assert roas_free < roas_best - 0.05
    target = 0.5 * (roas_free + roas_best)
    grid_best = float(np.max(np.where(ok & (existing >= target * budget), value, -np.inf)))
    plan = build_plan(cs, scenario(step=0.2, solver=solver,
                                   constraints=[{"target_roas_existing": target}]), current(cs))
    x = plan.allocation["recommended_spend"].to_numpy()
    got_existing = sum(w[i] * P * float(cs[c].response(x[i] / P)) for i, c in enumerate(cs.channels))
    assert got_existing >= target * budget * (1 - 1e-9)
    assert got_existing == pytest.approx(target * budget, rel=1e-4)  # binds
    assert plan.net_margin_recommended is not None
    assert plan.net_margin_recommended >= grid_best - 1e-6 * abs(grid_best)
    # the grid's cells are 1/800 of each box (4-10 of spend): along the binding target its
    # best misses the optimum by a fraction of a unit of margin (measured: 0.06 of 5,816)
    assert plan.net_margin_recommended <= grid_best + 0.5
    assert plan.net_margin_recommended < free_best
