"""Cohorts, lifetime value per acquisition channel, and the panel's new-customer columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roiste.models.customers import (
    ChannelTruth,
    CustomerDataError,
    cohort_table,
    lifetime_value,
    new_customer_value,
    panel_columns_from_orders,
    simulate_customer_orders,
)


def _orders(rows: list[tuple[str, str, float, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["order_id", "timestamp", "value", "channel", "customer_key", "customer_type"]
    )


HAND = _orders(
    [
        # customer a: search, Jan; buys again in Feb (twice) and Apr
        ("1", "2024-01-10T10:00:00Z", 100.0, "search", "a", "new"),
        ("2", "2024-02-03T10:00:00Z", 20.0, "crm", "a", "existing"),
        ("3", "2024-02-20T10:00:00Z", 30.0, "crm", "a", "existing"),
        ("4", "2024-04-01T10:00:00Z", 10.0, "search", "a", "existing"),
        # customer b: search, Jan; never again
        ("5", "2024-01-31T23:00:00Z", 50.0, "search", "b", "new"),
        # customer c: social, Feb; buys in Mar
        ("6", "2024-02-15T00:00:00Z", 40.0, "social", "c", "new"),
        ("7", "2024-03-15T00:00:00Z", 60.0, "social", "c", "existing"),
        # customer z: acquired before the data: in no cohort
        ("8", "2024-03-01T00:00:00Z", 99.0, "search", "z", "existing"),
    ]
)


def test_cohort_table_on_a_hand_made_history() -> None:
    t = cohort_table(HAND, gross_margin=0.5, cost_per_order=2.0, observed_until="2024-04-30")
    s = t[t["channel"] == "search"].set_index("months_since")
    assert list(s.index) == [0, 1, 2, 3] and set(s["cohort"]) == {"2024-01"}
    assert list(s["customers"]) == [2, 2, 2, 2]
    assert list(s["active_customers"]) == [2, 1, 0, 1]
    assert list(s["retention"]) == [1.0, 0.5, 0.0, 0.5]
    assert list(s["orders"]) == [2, 2, 0, 1]
    assert list(s["revenue"]) == [150.0, 50.0, 0.0, 10.0]
    assert s.loc[1, "margin"] == pytest.approx(0.5 * 50 - 2 * 2)
    soc = t[t["channel"] == "social"].set_index("months_since")
    assert list(soc.index) == [0, 1, 2] and list(soc["active_customers"]) == [1, 1, 0]
    assert "z" not in set(t["channel"]) and t["revenue"].sum() == 310.0  # z's 99 not counted


def test_a_partly_observed_month_is_left_out() -> None:
    t = cohort_table(HAND)  # last order on 2024-04-01: April is not over
    assert t[t["channel"] == "search"]["months_since"].max() == 2


def test_bad_tagged_orders_name_row_and_column() -> None:
    bad = HAND.copy()
    bad.loc[2, "customer_type"] = "returning"
    with pytest.raises(CustomerDataError, match=r"row 4, column 'customer_type'"):
        cohort_table(bad)
    with pytest.raises(CustomerDataError, match="missing column"):
        cohort_table(HAND.drop(columns=["customer_key"]))


def test_panel_columns_count_new_customers_per_week_and_channel() -> None:
    p = panel_columns_from_orders(HAND).set_index(["date", "channel"])
    # 2024-01-10 is a Wednesday: its week starts on Monday 2024-01-08.
    assert p.loc[(pd.Timestamp("2024-01-08"), "search"), "new_customers"] == 1
    assert p.loc[(pd.Timestamp("2024-01-29"), "search"), "new_customer_revenue"] == 50.0
    assert p.loc[(pd.Timestamp("2024-02-12"), "social"), "new_customers"] == 1
    assert p.loc[(pd.Timestamp("2024-02-19"), "crm"), "orders"] == 1
    assert p.loc[(pd.Timestamp("2024-02-19"), "crm"), "new_customers"] == 0
    weeks = p.index.get_level_values("date").unique()
    assert len(p) == len(weeks) * 3 and (np.diff(weeks.to_numpy()) == np.timedelta64(7, "D")).all()
    assert p["new_customers"].sum() == 3 and p["new_customer_revenue"].sum() == 190.0
    assert p["orders"].sum() == len(HAND)


TRUTH = [
    ChannelTruth("search", new_per_month=250, first_value=60, repeat_prob=0.35, survival=0.90, repeat_value=45),
    ChannelTruth("social", new_per_month=250, first_value=40, repeat_prob=0.20, survival=0.80, repeat_value=35),
    ChannelTruth("affiliate", new_per_month=250, first_value=50, repeat_prob=0.50, survival=0.95, repeat_value=30),
]
ECON = {"gross_margin": 0.5, "cost_per_order": 5.0, "monthly_discount": 0.01}


def test_lifetime_value_recovers_each_channels_true_value() -> None:
    """12 months observed, 36 valued: two thirds of the horizon is extrapolation.

    Tolerance: each channel's estimate is within 3 bootstrap standard errors of the exact
    value.  The model is the simulated one (geometric retention), so the estimator is close to
    unbiased and a 3-SE band misses with about 0.3 % chance per channel; the interval must also
    be informative (SE under 5 % of the value) and the error under 8 %, so that a wide,
    useless interval cannot pass.  Seed fixed: the result is deterministic.
    """
    orders = simulate_customer_orders(TRUTH, months=12, seed=2)
    table = lifetime_value(orders, horizon_months=36, n_bootstrap=200, seed=0, **ECON)
    table = table.set_index("channel")
    assert "crm" not in table.index  # repeat orders' channel is no acquisition channel
    for ch in TRUTH:
        true = ch.ltv(36, **ECON)
        row = table.loc[ch.name]
        assert row["ltv_se"] < 0.05 * true, (ch.name, row["ltv_se"], true)
        assert abs(row["ltv"] - true) < 3 * row["ltv_se"], (ch.name, row["ltv"], true, row["ltv_se"])
        assert abs(row["ltv"] / true - 1) < 0.08
        assert row["ltv_low"] < row["ltv"] < row["ltv_high"]
        assert row["monthly_survival"] == pytest.approx(ch.survival, abs=0.03)
    # the three channels' true values differ by > 3x: the estimates keep their order
    est = table.loc[[c.name for c in TRUTH], "ltv"].to_numpy()
    true = np.array([c.ltv(36, **ECON) for c in TRUTH])
    assert (np.argsort(est) == np.argsort(true)).all()
    values = new_customer_value(orders, horizon_months=36, **ECON)
    assert values == pytest.approx(table["ltv"].to_dict())


def test_lifetime_value_is_deterministic_for_a_seed() -> None:
    orders = simulate_customer_orders(TRUTH[:1], months=6, seed=5)
    a = lifetime_value(orders, n_bootstrap=50, seed=3)
    b = lifetime_value(orders, n_bootstrap=50, seed=3)
    pd.testing.assert_frame_equal(a, b)
