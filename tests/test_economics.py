"""Net margin of a channel: every economic term checked on a hand-computed two-channel world.

The world, over a planning period of P = 4 weeks:

* channel ``a``: R(w) = 2000 w / (w + 1000) (Michaelis-Menten, no carry-over).  At period
  spend x = 4000 the weekly spend is w = 1000 and R = 2000 * 1000 / 2000 = 1000 per week.
* channel ``b``: R(w) = 3000 (1 - 2^(-w / 500)) (exponential).  At x = 2000, w = 500 and
  R = 3000 * (1 - 1/2) = 1500 per week.

Each test states the margin by hand in its comments.
"""

from __future__ import annotations

import numpy as np
import pytest

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import ScenarioError
from roiste.models.transforms import Exponential, Geometric, Hill, Logistic, MichaelisMenten
from roiste.optimizer.economics import (
    ChannelEconomics,
    PeriodFunctions,
    channel_margin,
    margin_coefficient,
    margin_terms,
)

P = 4
X = np.array([4000.0, 2000.0])


def _world(ratios_a: dict[str, float] | None = None,
           ratios_b: dict[str, float] | None = None) -> CurveSet:
    a = ResponseCurve("a", Component(2000.0, MichaelisMenten(k=1000.0), Geometric(alpha=0.0)),
                      recent_spend=1000.0, ratios=ratios_a or {})
    b = ResponseCurve("b", Component(3000.0, Exponential(k=500.0), Geometric(alpha=0.0)),
                      recent_spend=500.0, ratios=ratios_b or {})
    return CurveSet([a, b])


def _margins(econ: ChannelEconomics, **ratios: dict[str, float]) -> np.ndarray:
    pf = PeriodFunctions(_world(ratios.get("a"), ratios.get("b")), econ, P)
    return pf.value(X)


def test_gross_margin_only() -> None:
    # a: 4 * 0.4 * 1000 - 4000 = -2400 ; b: 4 * 0.4 * 1500 - 2000 = 400
    np.testing.assert_allclose(_margins(ChannelEconomics(gross_margin=0.4)), [-2400.0, 400.0])


def test_returns() -> None:
    # a: 4 * 0.5 * 0.9 * 1000 - 4000 = 1800 - 4000 = -2200
    # b: 4 * 0.5 * 0.9 * 1500 - 2000 = 2700 - 2000 = 700
    got = _margins(ChannelEconomics(gross_margin=0.5, return_rate=0.1))
    np.testing.assert_allclose(got, [-2200.0, 700.0])


def test_cost_per_order() -> None:
    # orders: a 1000 / 50 = 20 a week, b 1500 / 100 = 15 a week; 5 per order
    # a: 4 * (0.5 * 1000 - 5 * 20) - 4000 = 4 * 400 - 4000 = -2400
    # b: 4 * (0.5 * 1500 - 5 * 15) - 2000 = 4 * 675 - 2000 = 700
    got = _margins(ChannelEconomics(gross_margin=0.5, cost_per_order=5.0),
                   a={"revenue_per_order": 50.0}, b={"revenue_per_order": 100.0})
    np.testing.assert_allclose(got, [-2400.0, 700.0])


def test_platform_fee() -> None:
    # a: 4 * 0.5 * 1000 - 4000 * 1.1 = 2000 - 4400 = -2400
    # b: 4 * 0.5 * 1500 - 2000 * 1.1 = 3000 - 2200 = 800
    got = _margins(ChannelEconomics(gross_margin=0.5, platform_fee_rate=0.1))
    np.testing.assert_allclose(got, [-2400.0, 800.0])


def test_commission() -> None:
    # a: 4 * (0.5 * 1000 - 0.05 * 1000) - 4000 = 1800 - 4000 = -2200
    # b: 4 * (0.5 * 1500 - 0.05 * 1500) - 2000 = 2700 - 2000 = 700
    got = _margins(ChannelEconomics(gross_margin=0.5, commission_rate=0.05))
    np.testing.assert_allclose(got, [-2200.0, 700.0])


def test_new_customer_value() -> None:
    # new customers: a 0.01 * 1000 = 10 a week, b 0.002 * 1500 = 3 a week; 30 each
    # a: 4 * (0.5 * 1000 + 30 * 10) - 4000 = 3200 - 4000 = -800
    # b: 4 * (0.5 * 1500 + 30 * 3) - 2000 = 3360 - 2000 = 1360
    got = _margins(ChannelEconomics(gross_margin=0.5, new_customer_value=30.0),
                   a={"new_customers_per_revenue": 0.01}, b={"new_customers_per_revenue": 0.002})
    np.testing.assert_allclose(got, [-800.0, 1360.0])


def test_existing_incrementality() -> None:
    # incremental revenue: a 1000 * (0.4 + 0.6 * 0.5) = 700, b 1500 * (0.2 + 0.8 * 0.5) = 900
    # a: 4 * 0.5 * 700 - 4000 = -2600 ; b: 4 * 0.5 * 900 - 2000 = -200
    got = _margins(ChannelEconomics(gross_margin=0.5, existing_incrementality=0.5),
                   a={"new_customer_revenue_share": 0.4}, b={"new_customer_revenue_share": 0.2})
    np.testing.assert_allclose(got, [-2600.0, -200.0])


def test_all_terms_together() -> None:
    # a (weekly): gm*(1-rr)*R_incr = 0.5 * 0.9 * 700 = 315; orders 1000/50 = 20 -> 5 * 20 = 100;
    #   commission 0.05 * 1000 = 50; new customers 10 -> 30 * 10 = 300
    #   4 * (315 - 100 - 50 + 300) - 4000 * 1.1 = 1860 - 4400 = -2540
    # b: 0.45 * 900 = 405; orders 15 -> 75; commission 75; new customers 3 -> 90
    #   4 * (405 - 75 - 75 + 90) - 2000 * 1.1 = 1380 - 2200 = -820
    econ = ChannelEconomics(gross_margin=0.5, return_rate=0.1, cost_per_order=5.0,
                            platform_fee_rate=0.1, commission_rate=0.05,
                            new_customer_value=30.0, existing_incrementality=0.5)
    got = _margins(
        econ,
        a={"revenue_per_order": 50.0, "new_customers_per_revenue": 0.01,
           "new_customer_revenue_share": 0.4},
        b={"revenue_per_order": 100.0, "new_customers_per_revenue": 0.002,
           "new_customer_revenue_share": 0.2},
    )
    np.testing.assert_allclose(got, [-2540.0, -820.0])
    # the coefficient of a: 0.45 * 0.7 - 5/50 - 0.05 + 30 * 0.01 = 0.315 - 0.1 - 0.05 + 0.3
    k = margin_coefficient(econ, {"revenue_per_order": 50.0, "new_customers_per_revenue": 0.01,
                                  "new_customer_revenue_share": 0.4})
    assert k == pytest.approx(0.465)


def test_revenue_objective_and_single_channel_helper() -> None:
    pf = PeriodFunctions(_world(), ChannelEconomics(), P, objective="revenue")
    np.testing.assert_allclose(pf.value(X), [4000.0, 6000.0])
    c = _world()
    got = channel_margin(c, "b", ChannelEconomics(gross_margin=0.4), P, 2000.0)
    assert float(got) == pytest.approx(400.0)


def test_slopes_match_finite_differences() -> None:
    pf = PeriodFunctions(_world({"new_customers_per_revenue": 0.01}), ChannelEconomics(
        gross_margin=0.45, platform_fee_rate=0.05), P)
    h = 1e-3
    for fn, d in ((pf.value, pf.slope), (pf.revenue, pf.revenue_slope),
                  (pf.new_customers, pf.new_customers_slope)):
        fd = (fn(X + h) - fn(X - h)) / (2 * h)
        np.testing.assert_allclose(d(X), fd, rtol=1e-6)
    # the marginal ROAS of a at w = 1000: 2000 * 1000 / 2000^2 = 0.5
    assert pf.revenue_slope(X)[0] == pytest.approx(0.5)


def test_vectorised_groups_equal_channel_by_channel() -> None:
    rng = np.random.default_rng(3)
    curves = []
    for i in range(24):
        sat = [Hill(k=rng.uniform(50, 500), s=float(rng.choice([0.6, 1.0, 2.5]))),
               Logistic(k=rng.uniform(50, 500)), Exponential(k=rng.uniform(50, 500)),
               MichaelisMenten(k=rng.uniform(50, 500))][i % 4]
        curves.append(ResponseCurve(f"c{i}", Component(rng.uniform(1e3, 5e3), sat,
                                                       Geometric(alpha=0.4)), 100.0))
    cs = CurveSet(curves)
    x = np.column_stack([np.zeros(24), rng.uniform(0, 4000, (24, 3))])
    pf = PeriodFunctions(cs, ChannelEconomics(gross_margin=0.4), 4)
    for i, c in enumerate(cs.channels):  # each channel against its own curve, one at a time
        want = 4 * 0.4 * cs[c].response(x[i] / 4) - x[i]
        np.testing.assert_allclose(pf.value(x)[i], want, rtol=1e-12)
        np.testing.assert_allclose(pf.slope(x)[i], 0.4 * cs[c].marginal(x[i] / 4) - 1.0,
                                   rtol=1e-12)


def test_concavity_flags() -> None:
    s = ResponseCurve("s", Component(1000.0, Hill(k=100.0, s=2.0), Geometric(alpha=0.0)), 50.0)
    c = ResponseCurve("c", Component(1000.0, Hill(k=100.0, s=0.8), Geometric(alpha=0.0)), 50.0)
    neg = ResponseCurve("n", Component(1000.0, Exponential(k=100.0), Geometric(alpha=0.0)), 50.0,
                        ratios={"revenue_per_order": 10.0})
    pf = PeriodFunctions(CurveSet([s, c, neg]), {
        "s": ChannelEconomics(gross_margin=0.5), "c": ChannelEconomics(gross_margin=0.5),
        # 0.5 - 10 / 10 < 0: every sale loses money, V is convex
        "n": ChannelEconomics(gross_margin=0.5, cost_per_order=10.0)}, 1)
    assert pf.coefficient[2] == pytest.approx(-0.5)
    assert list(pf.concave) == [False, True, False]
    assert list(pf.revenue_concave) == [False, True, True]


# -------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gross_margin": 1.5}, "economics.gross_margin must lie in [0, 1], got 1.5"),
        ({"gross_margin": 0.4, "return_rate": -0.1},
         "economics.return_rate must lie in [0, 1], got -0.1"),
        ({"gross_margin": 0.4, "cost_per_order": -2.0},
         "economics.cost_per_order must be >= 0, got -2"),
        ({"gross_margin": 0.4, "existing_incrementality": 2.0},
         "economics.existing_incrementality must lie in [0, 1], got 2"),
        ({"gross_margin": "high"}, "economics.gross_margin must be a number, got 'high'"),
    ],
)
def test_bad_values_name_the_key(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        ChannelEconomics(**kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_merged_overrides_and_names_the_channel() -> None:
    base = {"gross_margin": 0.45, "return_rate": 0.08, "cost_per_order": 6.0}
    e = ChannelEconomics.merged(base, {"return_rate": 0.15, "min": 5000, "locked": None})
    assert (e.gross_margin, e.return_rate, e.cost_per_order) == (0.45, 0.15, 6.0)
    assert ChannelEconomics.merged(base, None).return_rate == 0.08
    with pytest.raises(ScenarioError) as err:
        ChannelEconomics.merged(base, {"return_rate": 1.2}, where="channels.social")
    assert str(err.value) == "channels.social.return_rate must lie in [0, 1], got 1.2"
    with pytest.raises(ScenarioError, match="unknown key 'gross_margn'"):
        ChannelEconomics.merged({"gross_margn": 0.4})


def test_net_margin_needs_gross_margin_and_costs_need_their_ratio() -> None:
    with pytest.raises(ScenarioError) as err:
        PeriodFunctions(_world(), ChannelEconomics(), P)
    assert str(err.value) == ("channel 'a': economics.gross_margin is required for objective "
                              "net_margin")
    with pytest.raises(ScenarioError) as err:
        PeriodFunctions(_world(), ChannelEconomics(gross_margin=0.4, cost_per_order=6.0), P)
    assert str(err.value) == (
        "channel 'a': economics.cost_per_order 6 needs orders, but the panel has no orders "
        "column (no revenue_per_order ratio)")


def test_benefits_without_their_ratio_are_dropped_and_said() -> None:
    econ = ChannelEconomics(gross_margin=0.5, new_customer_value=30.0, existing_incrementality=0.5)
    k, f, dropped = margin_terms(econ, {})
    # no new-customer share: all revenue counted at 0.5; no new customers: value left out
    assert k == pytest.approx(0.25) and f == 1.0
    assert len(dropped) == 2 and "new_customer_value" in dropped[1]
    pf = PeriodFunctions(_world(), econ, P)
    assert sorted(pf.dropped) == ["a", "b"]
