"""The cohort backtest of ``scenarios/customers.yaml``, end to end.

The scenario values a new customer ``from_cohorts`` (the tagged orders it names); the backtest
judges each channel's cohorts against that value.  One fold with few bootstrap draws and no
replanning replay keeps it fast; the cohorts are those of the scenario's own tagged orders,
given as ``--cohorts`` takes them.

Oracle: each channel's realised value per customer of its oldest (only complete) cohort, summed
by hand from the tagged orders with pandas: customers whose first ``new`` order falls in the
oldest month, the revenue of their orders in the whole months after it, times
``gross_margin * (1 - return_rate)``, per customer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from roiste.models.panel import read_panel
from roiste.optimizer.runs import run_backtest
from roiste.optimizer.scenario import cohort_customer_values, load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "customers.yaml"


def _realised_by_hand(orders: Path, per_revenue: float) -> dict[str, float]:
    t = pd.read_csv(orders, dtype={"customer_key": str})
    ts = pd.to_datetime(t["timestamp"], utc=True)
    t["month"] = ts.dt.year * 12 + ts.dt.month - 1
    end = ts.max() + pd.Timedelta(days=1)  # the month of the last order counts when it is over
    last = int(end.year * 12 + end.month - 1) - 1
    first = t[t["customer_type"] == "new"].assign(ts=ts).sort_values("ts", kind="stable")
    first = first.drop_duplicates("customer_key")
    oldest = int(first["month"].min())
    out = {}
    for channel, grp in first[first["month"] == oldest].groupby("channel"):
        later = t[t["customer_key"].isin(grp["customer_key"]) & (t["month"] > oldest)
                  & (t["month"] <= last)]
        out[str(channel)] = per_revenue * float(later["value"].sum()) / len(grp)
    return out


@pytest.fixture(scope="module")
def backtest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bt") / "backtest"
    orders = load_scenario(SCENARIO).customers.orders  # type: ignore[union-attr]
    run_backtest(SCENARIO, out, folds=1, bootstrap=4, replan_months=0, cohorts=orders,
                 progress=False)
    return out, json.loads((out / "backtest.json").read_text(encoding="utf-8"))


def test_the_cohort_backtest_writes_every_output(backtest: tuple[Path, dict]) -> None:
    out, doc = backtest
    assert sorted(p.name for p in out.iterdir()) == [
        "backtest.csv", "backtest.html", "backtest.json", "backtest_weeks.csv"]
    assert len(doc["folds"]) == 1
    rows = pd.read_csv(out / "backtest.csv")
    assert len(rows) == 6  # one fold x the six channels of the demo panel


def test_cohorts_are_judged_against_the_values_the_plan_credits(
    backtest: tuple[Path, dict]
) -> None:
    _, doc = backtest
    sc = load_scenario(SCENARIO)
    channels = [str(c) for c in read_panel(sc.data).channels]
    assumed, _ = cohort_customer_values(sc, channels)
    gm, rr = sc.economics.gross_margin, sc.economics.return_rate
    assert gm is not None
    realised = _realised_by_hand(sc.customers.orders, gm * (1 - rr))  # type: ignore[union-attr]
    judged = doc["cohorts"]["channels"]
    assert set(judged) == set(channels) == set(realised)
    for c in channels:
        assert judged[c]["assumed_value"] == pytest.approx(assumed[c], rel=1e-6)
        assert judged[c]["realised_value"] == pytest.approx(realised[c], rel=1e-6)
        assert judged[c]["complete_cohorts"] == 1
    flagged = sorted(c for c in channels if realised[c] < 0.8 * assumed[c])
    assert 0 < len(flagged) < len(channels)  # both sides of the judgement are exercised
    assert doc["cohorts"]["flagged"] == flagged
