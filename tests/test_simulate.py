"""Simulated worlds: determinism, the data contract, and a truth that matches the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from roiste.models.curves import CurveSet
from roiste.models.simulate import SPEND_PATTERNS, simulate_world, write_world
from roiste.models.transforms import SATURATIONS


def test_same_seed_same_bytes(tmp_path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_world(a, seed=7, n_channels=4, n_weeks=80)
    write_world(b, seed=7, n_channels=4, n_weeks=80)
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a.csv.truth.json").read_bytes() == (tmp_path / "b.csv.truth.json").read_bytes()
    write_world(b, seed=8, n_channels=4, n_weeks=80)
    assert a.read_bytes() != b.read_bytes()


def test_panel_follows_the_long_contract(tmp_path) -> None:
    out = tmp_path / "panel.csv"
    world = write_world(out, seed=3, n_channels=5, n_weeks=60)
    df = pd.read_csv(out)
    assert list(df.columns) == ["date", "channel", "spend", "revenue", "visitors", "orders",
                                "new_customers", "new_customer_revenue", "returns"]
    assert len(df) == 5 * 60
    assert df.groupby("channel").size().eq(60).all()
    assert (df[["spend", "revenue", "visitors", "orders", "returns"]] >= 0).all().all()
    assert (df["new_customers"] <= df["orders"]).all()
    dates = pd.to_datetime(df["date"].unique())
    assert (np.diff(dates.values).astype("timedelta64[D]") == np.timedelta64(7, "D")).all()
    truth = CurveSet.load(f"{out}.truth.json")
    assert truth.channels == world.channels
    assert truth.meta["simulation"]["seed"] == 3


def test_truth_file_round_trips_the_curves(tmp_path) -> None:
    out = tmp_path / "p.csv"
    world = write_world(out, seed=11, n_channels=6, n_weeks=104)
    loaded = CurveSet.load(f"{out}.truth.json")
    w = np.linspace(0, 3, 7)
    for c in world.channels:
        x = world.truth[c].recent_spend * w
        np.testing.assert_allclose(loaded[c].response(x), world.truth[c].response(x), rtol=1e-12)
        np.testing.assert_allclose(loaded[c].visitors_at(x), world.truth[c].visitors_at(x), rtol=1e-12)
        assert loaded[c].recent_spend == pytest.approx(world.spend[c].iloc[-8:].mean())


def test_worlds_are_varied() -> None:
    families, patterns, adstocks, levels, paced = set(), set(), set(), [], []
    s_shapes = []
    for seed in range(12):
        world = simulate_world(seed, n_channels=6, n_weeks=60)
        paced.append(world.seasonal_spend)
        for c in world.channels:
            ch = world.channel_truth[c]
            families.add(ch.revenue.saturation.lookup_name)
            patterns.add(ch.pattern)
            adstocks.add(ch.revenue.adstock.lookup_name)
            levels.append(ch.mean_spend)
            if ch.revenue.saturation.lookup_name == "hill":
                s_shapes.append(ch.revenue.saturation.params["s"])
    assert families == set(SATURATIONS)
    assert patterns == set(SPEND_PATTERNS)
    assert adstocks == {"geometric", "weibull"}
    assert min(levels) < 1e3 and max(levels) > 1e4
    assert min(s_shapes) < 1.0 < max(s_shapes)
    assert any(paced) and not all(paced)


def test_seasonal_spend_follows_the_baseline() -> None:
    corr = {}
    for flag in (True, False):
        cs = []
        for seed in range(4):
            world = simulate_world(seed, n_channels=6, n_weeks=156, seasonal_spend=flag)
            for c in world.channels:
                x = world.spend[c].to_numpy()
                on = x > 0.3 * np.median(x)  # leave out dark weeks and flights' off weeks
                assert world.channel_truth[c].paced_to_season <= flag
                if world.channel_truth[c].paced_to_season or not flag:
                    cs.append(np.corrcoef(np.log(x[on]), world.season[on])[0, 1])
        corr[flag] = float(np.median(cs))
    assert corr[True] > 0.3 > 0.15 > abs(corr[False]), corr


def test_expected_outcome_matches_truth_at_steady_spend() -> None:
    """At a constant spend held long enough, expected revenue = baseline + truth response."""
    world = simulate_world(5, n_channels=6, n_weeks=156)
    level = np.array([world.truth[c].recent_spend for c in world.channels])
    path = np.tile(level * 1.2, (80, 1))
    expected = world.outcome(path, start=156)
    base = world.baseline_at(np.arange(156, 236))
    settled = (expected - base)[-20:]
    truth = np.array([world.truth[c].response(1.2 * world.truth[c].recent_spend) for c in world.channels])
    np.testing.assert_allclose(settled, np.tile(truth, (20, 1)), rtol=1e-6)


def test_outcome_reproduces_the_panel_and_its_noise() -> None:
    world = simulate_world(2, n_channels=6, n_weeks=156)
    expected = world.outcome(world.spend)
    revenue = world.panel.pivot(index="date", columns="channel", values="revenue")[world.channels]
    ratio = revenue.to_numpy() / expected
    assert abs(float(np.mean(ratio)) - 1.0) < 0.01
    assert float(np.std(np.log(ratio))) == pytest.approx(world.noise, rel=0.1)
    rng = np.random.default_rng(0)
    noisy = world.outcome(world.spend, rng=rng)
    assert float(np.std(np.log(noisy / expected))) == pytest.approx(world.noise, rel=0.1)


def test_panel_mean_revenue_at_steady_spend_matches_truth() -> None:
    """A channel whose spend barely varies earns, on average, its baseline plus the truth."""
    world = simulate_world(4, n_channels=12, n_weeks=156, patterns=("steady",))
    for c in world.channels:
        rows = world.panel[world.panel["channel"] == c]
        truth = world.truth[c]
        w = float(rows["spend"].iloc[-52:].mean())
        expected = world.baseline[c].iloc[-52:].mean() + float(truth.response(w))
        assert float(rows["revenue"].iloc[-52:].mean()) == pytest.approx(expected, rel=0.03)


def test_truth_ratios_match_the_panel() -> None:
    world = simulate_world(9, n_channels=4, n_weeks=156)
    for c in world.channels:
        rows = world.panel[world.panel["channel"] == c]
        r = world.truth[c].ratios
        rev = rows["revenue"].sum()
        assert rev / rows["orders"].sum() == pytest.approx(r["revenue_per_order"], rel=0.05)
        assert rows["returns"].sum() / rev == pytest.approx(r["return_share"], rel=0.05)
        assert rows["new_customer_revenue"].sum() / rev == pytest.approx(
            r["new_customer_revenue_share"], rel=0.05)
        assert rows["new_customers"].sum() / rev == pytest.approx(
            r["new_customers_per_revenue"], rel=0.1)


def test_outcome_takes_a_dated_frame_and_names_beyond_the_list() -> None:
    world = simulate_world(6, n_channels=16, n_weeks=60)
    assert len(set(world.channels)) == 16 and world.channels[14].endswith("_2")
    frame = world.spend.iloc[40:].iloc[:, ::-1]  # dated rows, columns in another order
    np.testing.assert_allclose(world.outcome(frame), world.outcome(world.spend)[40:], rtol=1e-12)
    with pytest.raises(ValueError, match="lacks channels"):
        world.outcome(frame.iloc[:, 1:])


def test_write_world_takes_a_world_already_drawn(tmp_path) -> None:
    world = simulate_world(7, n_channels=4, n_weeks=80)
    assert world.media_scale(np.arange(80)) is None
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_world(a, seed=7, n_channels=4, n_weeks=80)
    write_world(b, world=world)
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a.csv.truth.json").read_bytes() == (tmp_path / "b.csv.truth.json").read_bytes()
