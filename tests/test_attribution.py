"""Attribution rules on journeys computed by hand, the rule config and its hash, bad input."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from roiste.models.attribution.algorithms import (
    markov_removal_effects,
    paths_to_arrays,
    shapley_of_set,
)
from roiste.models.attribution.credit import (
    DIRECT,
    RULES,
    AttributionRule,
    attribute,
    attribution_meta,
    parse_rule,
)
from roiste.models.attribution.inputs import inputs_from_frames, read_inputs
from roiste.models.errors import AttributionError, RoisteError

T0 = pd.Timestamp("2024-03-04")  # a Monday


def day(d: float) -> str:
    return (T0 + pd.Timedelta(days=d)).isoformat()


def world(touches: list[tuple[str, float, str]], orders: list[tuple[str, float, float]]) -> tuple:
    tp = pd.DataFrame(touches, columns=["customer_id", "t", "channel"])
    tp["timestamp"] = tp.pop("t").map(day)
    cv = pd.DataFrame(orders, columns=["customer_id", "t", "revenue"])
    cv["timestamp"] = cv.pop("t").map(day)
    cv.insert(0, "order_id", [f"o{i}" for i in range(len(cv))])
    return tp, cv


def credit(touches, orders, rule: AttributionRule | str, customer: str | None = None) -> dict[str, float]:
    rule = AttributionRule(rule) if isinstance(rule, str) else rule
    res = attribute(inputs_from_frames(*world(touches, orders)), rule)
    c = res.credits
    if customer is not None:
        c = c[c["customer_id"] == customer]
    return c.groupby("channel")["revenue"].sum().round(2).to_dict()


THREE = [("u1", 1, "social"), ("u1", 3, "email"), ("u1", 5, "search")]
ORDER = [("u1", 6, 100.0)]


def test_last_and_first_click() -> None:
    assert credit(THREE, ORDER, "last-click") == {"search": 100.0}
    assert credit(THREE, ORDER, "first-click") == {"social": 100.0}


def test_linear_splits_the_cents_exactly() -> None:
    got = credit(THREE, ORDER, "linear")
    # 100 / 3: the odd cent goes to the first channel by name among equal remainders
    assert got == {"email": 33.34, "search": 33.33, "social": 33.33}


def test_position_based_default_and_custom_weights() -> None:
    assert credit(THREE, ORDER, "position-based") == {"social": 40.0, "email": 20.0, "search": 40.0}
    rule = AttributionRule("position-based", {"weights": [0.3, 0.5, 0.2]})
    assert credit(THREE, ORDER, rule) == {"social": 30.0, "email": 50.0, "search": 20.0}
    # four touches: the middle share is spread over the two middle touches
    four = [*THREE, ("u1", 4, "video")]
    assert credit(four, ORDER, "position-based") == {
        "social": 40.0, "email": 10.0, "video": 10.0, "search": 40.0}


def test_position_based_without_a_middle_shares_first_and_last_in_proportion() -> None:
    two = [("u1", 1, "social"), ("u1", 2, "search")]
    assert credit(two, ORDER, "position-based") == {"social": 50.0, "search": 50.0}
    rule = AttributionRule("position-based", {"weights": [0.6, 0.2, 0.2]})
    assert credit(two, ORDER, rule) == {"social": 75.0, "search": 25.0}


@pytest.mark.parametrize("half_life", [1.0, 7.0, 30.0])
def test_time_decay_halves_weight_every_half_life(half_life: float) -> None:
    ages = np.array([5.0, 3.0, 1.0])  # days before the order at day 6
    w = 0.5 ** (ages / half_life)
    expected = 100 * w / w.sum()
    got = credit(THREE, ORDER, AttributionRule("time-decay", {"half_life_days": half_life}))
    assert [got["social"], got["email"], got["search"]] == pytest.approx(expected, abs=0.01)
    assert sum(got.values()) == pytest.approx(100.0, abs=1e-9)


@pytest.mark.parametrize("rule", RULES)
def test_a_journey_of_one_touch_gets_everything(rule: str) -> None:
    assert credit([("u1", 2, "video")], ORDER, rule) == {"video": 100.0}


@pytest.mark.parametrize("rule", RULES)
def test_a_conversion_with_no_touch_is_direct(rule: str) -> None:
    touches = [("u2", 1, "search")]
    got = credit(touches, [("u1", 6, 42.5), ("u2", 2, 10.0)], rule)
    assert got == {DIRECT: 42.5, "search": 10.0}


def test_lookback_window_drops_old_touches_and_keeps_the_boundary() -> None:
    touches = [("u1", 0, "video"), ("u1", 10, "social"), ("u1", 25, "search")]
    orders = [("u1", 40, 90.0)]
    r30 = AttributionRule("linear", lookback_days=30)
    assert credit(touches, orders, r30) == {"social": 45.0, "search": 45.0}  # day 10 is 30 days back
    r29 = AttributionRule("linear", lookback_days=29.9)
    assert credit(touches, orders, r29) == {"search": 90.0}
    r45 = AttributionRule("first-click", lookback_days=45)
    assert credit(touches, orders, r45) == {"video": 90.0}
    # nothing inside the window: the order is direct
    assert credit(touches, orders, AttributionRule("last-click", lookback_days=10)) == {DIRECT: 90.0}


def test_touches_at_the_same_instant_share_first_and_last_place() -> None:
    tied = [("u1", 1, "social"), ("u1", 1, "video")]
    assert credit(tied, ORDER, "last-click") == {"social": 50.0, "video": 50.0}
    assert credit(tied, ORDER, "first-click") == {"social": 50.0, "video": 50.0}
    assert credit(tied, ORDER, "position-based") == {"social": 50.0, "video": 50.0}
    late_tie = [("u1", 1, "email"), ("u1", 3, "search"), ("u1", 3, "social")]
    assert credit(late_tie, ORDER, "last-click") == {"search": 50.0, "social": 50.0}
    assert credit(late_tie, ORDER, "first-click") == {"email": 100.0}
    # first 0.4 alone, last 0.4 over two tied touches, no middle: 0.5, 0.25, 0.25
    assert credit(late_tie, ORDER, "position-based") == {"email": 50.0, "search": 25.0, "social": 25.0}
    # and the input order of tied rows changes nothing
    assert credit(late_tie[::-1], ORDER, "position-based") == {"email": 50.0, "search": 25.0, "social": 25.0}


def test_touches_after_a_conversion_never_count_and_journeys_restart() -> None:
    touches = [("u1", 1, "search"), ("u1", 3, "social"), ("u1", 4, "email")]
    orders = [("u1", 2, 30.0), ("u1", 5, 70.0)]
    res = attribute(inputs_from_frames(*world(touches, orders)), AttributionRule("linear"))
    c = res.credits.sort_values(["timestamp", "channel"])
    assert c[["channel", "revenue"]].values.tolist() == [
        ["search", 30.0], ["email", 35.0], ["social", 35.0]]
    after = [("u1", 1, "search"), ("u1", 3, "social")]
    assert credit(after, [("u1", 2, 50.0)], "last-click") == {"search": 50.0}


def test_orders_at_the_same_instant_share_one_journey() -> None:
    orders = [("u1", 6, 100.0), ("u1", 6, 50.0)]
    res = attribute(inputs_from_frames(*world(THREE, orders)), AttributionRule("first-click"))
    assert res.totals.set_index("channel").loc["social", "revenue"] == 150.0
    assert res.totals.set_index("channel").loc["social", "orders"] == pytest.approx(2.0)


def test_markov_removal_effects_by_hand() -> None:
    # paths: a>b converts, a does not, b converts.  P(start->a)=2/3, P(a->b)=1/2, b always
    # converts: P(conv)=2/3; without a: 1/3 (effect 1/2); without b: 0 (effect 1).
    pi, ch, _names = paths_to_arrays([["a", "b"], ["a"], ["b"]])
    p, eff = markov_removal_effects(pi, ch, 2, np.array([1.0, 0, 1]), np.array([0.0, 1, 0]))
    assert p == pytest.approx(2 / 3)
    assert eff.tolist() == pytest.approx([0.5, 1.0])
    touches = [("u1", 1, "a"), ("u1", 2, "b"), ("u2", 1, "a"), ("u3", 1, "b")]
    orders = [("u1", 3, 90.0), ("u3", 2, 30.0)]
    res = attribute(inputs_from_frames(*world(touches, orders)), AttributionRule("markov"))
    assert res.details["removal_effects"] == pytest.approx({"a": 0.5, "b": 1.0})
    journey = AttributionRule("markov", {"split": "journey"})
    assert credit(touches, orders, journey, "u1") == {"a": 30.0, "b": 60.0}  # 0.5 : 1
    # global shares: every conversion leaves from b, worth (90 + 30) / 2 = 60 on average, so
    # the value effects equal the conversion effects: a 0.5 / 1.5 of 120 = 40, b 80; b's 80
    # is 30 from u3's journey (b alone) and 50 from u1's
    assert res.details["removal_effects_value"] == pytest.approx({"a": 0.5, "b": 1.0})
    assert credit(touches, orders, "markov") == {"a": 40.0, "b": 80.0}
    assert credit(touches, orders, "markov", "u1") == {"a": 40.0, "b": 50.0}
    assert res.totals.set_index("channel")["orders"].to_dict() == pytest.approx(
        {"a": 2 / 3, "b": 4 / 3})


# three channels, a loop (b > a > b), journeys that end in different states with different
# values, and journeys that do not convert
MARKOV3 = {  # customer: (channels in order, revenue or None)
    "u1": ("abc", 100.0), "u2": ("ac", 40.0), "u3": ("b", None), "u4": ("ca", 70.0),
    "u5": ("a", None), "u6": ("bc", 20.0), "u7": ("bab", 55.0), "u8": ("c", None),
    "u9": ("ab", None), "u10": ("cc", None),
}


def _markov_oracle(journeys: dict[str, tuple[str, float | None]]) -> tuple[dict, dict]:
    """Global Markov credits by a dense absorbing-chain solve written from the definition.

    Returns each channel's total credited revenue and orders: its removal effect over the sum
    of all channels' effects, times the total (value effects for revenue, each conversion worth
    the mean revenue per conversion of the journeys that end in the same channel).
    """
    chans = sorted({c for path, _ in journeys.values() for c in path})
    k = {c: i for i, c in enumerate(chans)}
    n = len(chans)
    start, moves = np.zeros(n), np.zeros((n, n))
    to_conv, to_null, value_end = np.zeros(n), np.zeros(n), np.zeros(n)
    for path, revenue in journeys.values():
        start[k[path[0]]] += 1
        for x, y in itertools.pairwise(path):
            moves[k[x], k[y]] += 1
        if revenue is None:
            to_null[k[path[-1]]] += 1
        else:
            to_conv[k[path[-1]]] += 1
            value_end[k[path[-1]]] += revenue
    out = moves.sum(axis=1) + to_conv + to_null
    q, r = moves / out[:, None], to_conv / out
    mean_value = np.divide(value_end, to_conv, out=np.zeros(n), where=to_conv > 0)

    def solve(keep: list[int]) -> tuple[float, float]:
        visits = start[keep] / start.sum() @ np.linalg.inv(np.eye(len(keep)) - q[np.ix_(keep, keep)])
        return float(visits @ r[keep]), float(visits @ (r * mean_value)[keep])

    p_all, v_all = solve(list(range(n)))
    eff_c = np.array([1 - solve([j for j in range(n) if j != i])[0] / p_all for i in range(n)])
    eff_v = np.array([1 - solve([j for j in range(n) if j != i])[1] / v_all for i in range(n)])
    revenue = sum(v for _, v in journeys.values() if v is not None)
    orders = sum(1 for _, v in journeys.values() if v is not None)
    return (dict(zip(chans, eff_v / eff_v.sum() * revenue, strict=True)),
            dict(zip(chans, eff_c / eff_c.sum() * orders, strict=True)))


def test_markov_global_shares_equal_a_dense_absorbing_chain_solve() -> None:
    touches = [(u, i + 1, c) for u, (path, _) in MARKOV3.items() for i, c in enumerate(path)]
    orders = [(u, 10, v) for u, (_, v) in MARKOV3.items() if v is not None]
    res = attribute(inputs_from_frames(*world(touches, orders)), AttributionRule("markov"))
    revenue, n_orders = _markov_oracle(MARKOV3)
    totals = res.totals.set_index("channel")
    assert res.details["global_split_gap"] < 1e-9
    for ch in revenue:
        assert totals.loc[ch, "revenue"] == pytest.approx(revenue[ch], abs=0.015), ch
        assert totals.loc[ch, "orders"] == pytest.approx(n_orders[ch], rel=1e-6), ch
    # the value effects differ from the conversion effects here (conversions leaving c are
    # worth 53.33, leaving a 70, leaving b 55), so the two shares differ too
    assert res.details["removal_effects_value"] != pytest.approx(res.details["removal_effects"])
    # credit stays on the journey: each order's revenue goes to its own channels, in full
    c = res.credits
    for u, (path, v) in MARKOV3.items():
        mine = c[c["customer_id"] == u]
        if v is not None:
            assert set(mine["channel"]) <= set(path), u
            assert mine["revenue"].sum() == pytest.approx(v), u
    # the per-journey split gives other totals
    journey = attribute(inputs_from_frames(*world(touches, orders)),
                        AttributionRule("markov", {"split": "journey"})).totals.set_index("channel")
    assert max(abs(journey.loc[ch, "revenue"] - revenue[ch]) for ch in revenue) > 1.0


def test_markov_global_shares_hold_when_a_channel_touched_no_converting_journey() -> None:
    # c sits only on a journey that did not convert, but the chain converts b > c > b paths:
    # its removal effect is 1/3 of b's, so the standard gives it 25 % of the revenue.  That
    # revenue cannot stay on c's own journeys: it leaves b's share on u2's journey
    journeys = {"u0": ("a", None), "u1": ("bcb", None), "u2": ("b", 70.0)}
    touches = [(u, i + 1, c) for u, (path, _) in journeys.items() for i, c in enumerate(path)]
    res = attribute(inputs_from_frames(*world(touches, [("u2", 10, 70.0)])), AttributionRule("markov"))
    revenue, orders = _markov_oracle(journeys)
    assert revenue == pytest.approx({"a": 0.0, "b": 52.5, "c": 17.5})
    totals = res.totals.set_index("channel")
    for ch in ("b", "c"):
        assert totals.loc[ch, "revenue"] == pytest.approx(revenue[ch], abs=0.015)
        assert totals.loc[ch, "orders"] == pytest.approx(orders[ch], rel=1e-9)
    assert res.credits["revenue"].sum() == pytest.approx(70.0)
    assert res.details["global_split_gap"] == pytest.approx(0.25)
    # the per-journey split keeps everything on b
    journey = AttributionRule("markov", {"split": "journey"})
    assert credit(touches, [("u2", 10, 70.0)], journey) == {"b": 70.0}


def test_markov_self_loops_change_nothing_at_first_order() -> None:
    pi, ch, _ = paths_to_arrays([["a", "a", "b"], ["a"], ["b", "b"]])
    p, eff = markov_removal_effects(pi, ch, 2, np.array([1.0, 0, 1]), np.array([0.0, 1, 0]))
    assert p == pytest.approx(2 / 3) and eff.tolist() == pytest.approx([0.5, 1.0])


def test_markov_second_order_on_a_chain_it_can_tell_apart() -> None:
    # after a>b a journey converts, after c>b it does not: a second-order chain sees it
    pi, ch, _names = paths_to_arrays([["a", "b"], ["c", "b"]])
    conv, null = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    p2, eff2 = markov_removal_effects(pi, ch, 3, conv, null, order=2)
    assert p2 == pytest.approx(0.5)
    assert eff2.tolist() == pytest.approx([1.0, 1.0, 0.0])  # removing c costs nothing
    _p1, eff1 = markov_removal_effects(pi, ch, 3, conv, null, order=1)
    assert eff1[2] > 0  # the first-order chain cannot tell, and credits c


def test_shapley_by_hand() -> None:
    # {a}: 2 journeys, 1 converts -> 0.5; {b}: 4 journeys, 1 converts -> 0.25; {a,b}: 1 of 1.
    # phi_a = (0.5 - 0)/2 + (1 - 0.25)/2 = 0.625 ; phi_b = (0.25 - 0)/2 + (1 - 0.5)/2 = 0.375
    touches = [("ab", 1, "a"), ("ab", 2, "b"), ("a1", 1, "a"), ("a2", 1, "a"),
               *[(f"b{i}", 1, "b") for i in range(4)]]
    orders = [("ab", 3, 100.0), ("a1", 2, 10.0), ("b0", 2, 20.0)]
    assert credit(touches, orders, "shapley", "ab") == {"a": 62.5, "b": 37.5}
    assert credit(touches, orders, "shapley", "a1") == {"a": 10.0}


def test_shapley_fills_unseen_sets_monotonically_and_sampling_agrees() -> None:
    masks = np.array([0b001, 0b010, 0b100, 0b111])
    rates = np.array([0.2, 0.1, 0.05, 0.6])
    exact = shapley_of_set(np.array([0, 1, 2]), masks, rates)
    # unseen {a,b}, {a,c}, {b,c} are worth the best set inside them: 0.2, 0.2, 0.1
    v = {(): 0, (0,): .2, (1,): .1, (2,): .05, (0, 1): .2, (0, 2): .2, (1, 2): .1, (0, 1, 2): .6}
    def phi(i: int) -> float:
        import itertools
        tot = 0.0
        for perm in itertools.permutations(range(3)):
            before = tuple(sorted(perm[: perm.index(i)]))
            tot += v[tuple(sorted((*before, i)))] - v[before]
        return tot / 6
    assert exact.tolist() == pytest.approx([phi(0), phi(1), phi(2)])
    sampled = shapley_of_set(np.array([0, 1, 2]), masks, rates, max_exact=1, samples=4000, seed=1)
    assert sampled == pytest.approx(exact, abs=0.01)
    assert sampled.sum() == pytest.approx(0.6)


@pytest.mark.parametrize("rule", RULES)
def test_credits_add_up_to_the_cent(rule: str) -> None:
    rng = np.random.default_rng(5)
    chans = ["a", "b", "c", "d", "e"]
    touches = [(f"u{rng.integers(60)}", float(rng.uniform(0, 40)), str(rng.choice(chans)))
               for _ in range(400)]
    orders = [(f"u{rng.integers(80)}", float(rng.uniform(5, 45)), float(rng.integers(1, 100_000)) / 100)
              for _ in range(120)]
    tp, cv = world(touches, orders)
    res = attribute(inputs_from_frames(tp, cv), AttributionRule(rule, lookback_days=7))
    cents = np.round(res.credits["revenue"].to_numpy() * 100).astype(np.int64)
    assert cents.sum() == np.round(cv["revenue"].to_numpy() * 100).astype(np.int64).sum()
    per_event = res.credits.groupby(["customer_id", "timestamp"])["revenue"].sum()
    expected = cv.assign(timestamp=pd.to_datetime(cv["timestamp"])).groupby(
        ["customer_id", "timestamp"])["revenue"].sum()
    assert (per_event.round(2) == expected.reindex(per_event.index).round(2)).all()
    assert len(per_event) == len(expected)
    assert res.totals["share"].sum() == pytest.approx(1.0)
    assert res.totals["orders"].sum() == pytest.approx(len(cv))


def test_channel_map_groups_before_crediting() -> None:
    touches = [("u1", 1, "fb"), ("u1", 2, "ig"), ("u1", 3, "google")]
    rule = AttributionRule("linear", channel_map={"fb": "social", "ig": "social"})
    assert credit(touches, ORDER, rule) == {"social": 66.67, "google": 33.33}


# --- the rule config and its hash ---------------------------------------------------------


def test_hash_is_sha256_of_canonical_json_with_defaults_filled() -> None:
    r = AttributionRule("time-decay")
    canonical = json.dumps(
        {"schema": 1, "rule": "time-decay", "params": {"half_life_days": 7.0},
         "lookback_days": 30.0, "channel_map": {}},
        sort_keys=True, separators=(",", ":"))
    assert r.config_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert AttributionRule("time-decay", {"half_life_days": 7}, 30).config_hash == r.config_hash
    assert AttributionRule("time-decay", {"half_life_days": 3}).config_hash != r.config_hash
    assert AttributionRule("time-decay", lookback_days=14).config_hash != r.config_hash
    a = AttributionRule("linear", channel_map={"x": "1", "y": "2"})
    b = AttributionRule("linear", channel_map={"y": "2", "x": "1"})
    assert a.config_hash == b.config_hash
    assert AttributionRule.from_dict(a.to_dict()) == a


def test_parse_rule_reads_parameters() -> None:
    r = parse_rule("position-based:weights=0.3,0.4,0.3", lookback_days=14)
    assert r.params["weights"] == [0.3, 0.4, 0.3] and r.lookback_days == 14.0
    assert parse_rule("markov:order=2").params["order"] == 2


@pytest.mark.parametrize(("rule", "params", "message"), [
    ("last-touch", {}, "unknown attribution rule 'last-touch'"),
    ("linear", {"half_life_days": 3}, "rule 'linear': unknown parameter 'half_life_days'"),
    ("position-based", {"weights": [0.5, 0.5, 0.5]}, "must add up to 1"),
    ("position-based", {"weights": [0.5, 0.5]}, "three numbers"),
    ("time-decay", {"half_life_days": 0}, "'half_life_days' must be above 0"),
    ("markov", {"order": 1.5}, "'order' must be an integer"),
    ("markov", {"split": "path"}, "'split' must be one of global, journey"),
])
def test_bad_rules_are_named(rule: str, params: dict, message: str) -> None:
    with pytest.raises(AttributionError, match=message):
        AttributionRule(rule, params)


def test_lookback_must_be_positive_and_finite() -> None:
    for bad in (0, -1, float("inf"), 1e9, "a week"):
        with pytest.raises(AttributionError, match="lookback_days"):
            AttributionRule("linear", lookback_days=bad)  # type: ignore[arg-type]


def test_attribution_meta_reads_the_sidecar(tmp_path: Path) -> None:
    panel = tmp_path / "panel.csv"
    assert attribution_meta(panel) == {}
    rule = AttributionRule("markov", {"order": 2})
    Path(f"{panel}.attribution.json").write_text(json.dumps(
        {"attribution_hash": rule.config_hash, "rule": rule.to_dict()}))
    assert attribution_meta(panel) == {"attribution_hash": rule.config_hash,
                                       "attribution_rule": "markov(order=2,split=global)"}
    Path(f"{panel}.attribution.json").write_text(json.dumps(
        {"attribution_hash": "0" * 64, "rule": rule.to_dict()}))
    with pytest.raises(AttributionError, match="does not match"):
        attribution_meta(panel)
    old = {**rule.to_dict(), "params": {"order": 2}}  # a markov rule before 'split'
    Path(f"{panel}.attribution.json").write_text(json.dumps(
        {"attribution_hash": "1" * 64, "rule": old}))
    with pytest.raises(AttributionError, match="older markov rule"):
        attribution_meta(panel)


# --- bad input ----------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD_TP = "customer_id,timestamp,channel\nu1,2024-03-01T10:00:00,search\nu2,2024-03-02,social\n"
GOOD_CV = "order_id,customer_id,timestamp,revenue\no1,u1,2024-03-03T08:00:00Z,10.5\n"


@pytest.mark.parametrize(("which", "text", "message"), [
    ("tp", "customer_id,time,channel\nu1,2024-03-01,a\n", "column 'timestamp' is missing"),
    ("tp", "customer_id,timestamp,channel\nu1,2024-03-01,a\nu2,yesterday,b\n",
     "row 3, column 'timestamp': 'yesterday' is not an ISO 8601 timestamp"),
    ("tp", "customer_id,timestamp,channel\nu1,2024-03-01,a\n,2024-03-01,b\n", "row 3, column 'customer_id': empty"),
    ("tp", "customer_id,timestamp,channel\nu1,2024-03-01,\n", "row 2, column 'channel': empty"),
    ("tp", "customer_id,timestamp,channel,cost\nu1,2024-03-01,a,-3\n", "row 2, column 'cost': -3 is not a number >= 0"),
    ("cv", "order_id,customer_id,timestamp,revenue\no1,u1,2024-03-03,ten\n", "row 2, column 'revenue': 'ten' is not a number"),
    ("cv", "order_id,customer_id,timestamp,revenue\no1,u1,2024-03-03,-1\n", "row 2, column 'revenue': -1 is not a number >= 0"),
    ("cv", "order_id,customer_id,timestamp,revenue\no1,u1,2024-03-03,1\no2,u1,2024-03-04,2\no1,u2,2024-03-05,3\n",
     "rows 2 and 4 both hold order_id 'o1'"),
    ("cv", "order_id,customer_id,timestamp,revenue,new_customer\no1,u1,2024-03-03,1,maybe\n",
     "row 2, column 'new_customer': 'maybe' is not true/false"),
    ("cv", "order_id,customer_id,timestamp,revenue\n", "no data rows below the header"),
    ("cv", "", "conversions file is empty"),
    ("cv", "order_id,customer_id,timestamp,revenue,revenue\no1,u1,2024-03-03,1,1\n", "column 'revenue' appears twice"),
])
def test_bad_input_names_file_row_and_column(tmp_path: Path, which: str, text: str, message: str) -> None:
    tp = _write(tmp_path, "tp.csv", text if which == "tp" else GOOD_TP)
    cv = _write(tmp_path, "cv.csv", text if which == "cv" else GOOD_CV)
    with pytest.raises(AttributionError) as info:
        read_inputs(tp, cv)
    msg = str(info.value)
    assert message in msg and "\n" not in msg
    assert msg.startswith(str(tp if which == "tp" else cv))
    assert isinstance(info.value, RoisteError)


def test_missing_file_and_parquet_inputs(tmp_path: Path) -> None:
    with pytest.raises(AttributionError, match="touchpoints file not found"):
        read_inputs(tmp_path / "nope.csv", tmp_path / "cv.csv")
    tp, cv = world(THREE, ORDER)
    tp["timestamp"] = pd.to_datetime(tp["timestamp"]).dt.tz_localize("Europe/Dublin")
    cv["new_customer"] = [True]
    tp.to_parquet(tmp_path / "tp.parquet")
    cv.to_parquet(tmp_path / "cv.parquet")
    inp = read_inputs(tmp_path / "tp.parquet", tmp_path / "cv.parquet")
    assert inp.channel_names == ["email", "search", "social"]
    # Dublin is UTC+0 in March: the instants are unchanged
    assert inp.t_ts.min() == pd.Timestamp(day(1)).value
    res = attribute(inp, AttributionRule("last-click"))
    assert res.totals.set_index("channel")["new_customers"].to_dict() == {
        "email": 0.0, "search": 1.0, "social": 0.0}


def test_nanosecond_order_survives_coarse_matching_keys() -> None:
    # 40 customers over ten years do not fit (customer, nanosecond) into 63 bits: the keys
    # use coarser buckets, and touches in the same bucket as an order still fall on the
    # right side of it
    base = pd.Timestamp("2024-01-01")
    ns = pd.Timedelta(1, "ns")
    tp = pd.DataFrame({
        "customer_id": ["u1", "u1", "u1"] + [f"x{i}" for i in range(40)],
        "timestamp": [base + 1 * ns, base + 5 * ns, base + 7 * ns]
        + [pd.Timestamp("2014-01-01")] * 40,
        "channel": ["before", "after", "later"] + ["old"] * 40,
    })
    cv = pd.DataFrame({"order_id": ["o1", "o2"], "customer_id": ["u1", "u1"],
                       "timestamp": [base + 3 * ns, base + pd.Timedelta(days=1)],
                       "revenue": [10.0, 20.0]})
    res = attribute(inputs_from_frames(tp, cv), AttributionRule("linear"))
    got = res.credits.groupby("timestamp")["channel"].apply(sorted).tolist()
    assert got == [["before"], ["after", "later"]]


def test_spend_from_touch_costs_and_keep_direct(tmp_path: Path) -> None:
    from roiste.models.attribution.credit import write_attribution_panel

    tp, cv = world([("u1", 1, "search"), ("u1", 8, "search"), ("u2", 2, "video")],
                   [("u1", 9, 100.0), ("u3", 3, 7.0)])
    tp["cost"] = [1.5, 2.25, None]
    tp.to_csv(tmp_path / "tp.csv", index=False)
    cv.to_csv(tmp_path / "cv.csv", index=False)
    out = tmp_path / "panel.csv"
    write_attribution_panel(tmp_path / "tp.csv", tmp_path / "cv.csv", AttributionRule("linear"), out)
    panel = pd.read_csv(out)
    # days 1 and 2 fall in the week of 2024-03-04, day 8 and 9 in the next
    assert panel.to_dict("list") == {
        "date": ["2024-03-04", "2024-03-04", "2024-03-11", "2024-03-11"],
        "channel": ["search", "video", "search", "video"],
        "spend": [1.5, 0.0, 2.25, 0.0],
        "revenue": [0.0, 0.0, 100.0, 0.0],
        "orders": [0.0, 0.0, 1.0, 0.0],
    }
    side = json.loads(Path(f"{out}.attribution.json").read_text())
    assert side["totals"]["direct_revenue"] == 7.0 and not side["panel_keeps_direct"]
    write_attribution_panel(tmp_path / "tp.csv", tmp_path / "cv.csv", AttributionRule("linear"),
                            out, keep_direct=True)
    kept = pd.read_csv(out)
    assert kept.loc[kept["channel"] == DIRECT, "revenue"].tolist() == [7.0, 0.0]


def test_channel_map_file(tmp_path: Path) -> None:
    from roiste.models.attribution.inputs import read_channel_map

    (tmp_path / "map.yaml").write_text("fb: social\nig: social\n")
    assert read_channel_map(tmp_path / "map.yaml") == {"fb": "social", "ig": "social"}
    (tmp_path / "bad.yaml").write_text("- fb\n")
    with pytest.raises(AttributionError, match="a channel map is a mapping"):
        read_channel_map(tmp_path / "bad.yaml")


def test_touches_stepping_past_an_order_in_their_bucket_stay_grouped() -> None:
    # as above, with rows in an order that interleaves the two orders' touches in the bucket
    base = pd.Timestamp("2024-01-01")
    ns = pd.Timedelta(1, "ns")
    tp = pd.DataFrame({
        "customer_id": ["u1"] * 4 + [f"x{i}" for i in range(40)],
        "timestamp": [base - 9 * ns, base + 6 * ns, base + 1 * ns, base + 8 * ns]
        + [pd.Timestamp("2014-01-01")] * 40,
        "channel": ["a", "c", "b", "d"] + ["old"] * 40,
    })
    cv = pd.DataFrame({"order_id": ["o1", "o2"], "customer_id": ["u1", "u1"],
                       "timestamp": [base + 3 * ns, base + 9 * ns], "revenue": [10.0, 20.0]})
    inputs = inputs_from_frames(tp, cv)
    first = attribute(inputs, AttributionRule("first-click")).credits
    assert first.groupby("timestamp")["channel"].apply(sorted).tolist() == [["a"], ["c"]]
    last = attribute(inputs, AttributionRule("last-click")).credits
    assert last.groupby("timestamp")["channel"].apply(sorted).tolist() == [["b"], ["d"]]
