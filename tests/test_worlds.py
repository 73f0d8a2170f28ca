"""Worlds of every generating process: valid panels, a truth that is the steady state, seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from roiste.models.panel import panel_from_frame
from roiste.models.simulate import write_world
from roiste.models.transforms import SATURATIONS
from roiste.models.worlds import (
    ALWAYS_ON_FLOOR,
    PROCESS_FAMILIES,
    SHAPE_KINDS,
    TRUTH_SHAPES,
    Process,
    draw_world,
    shape_from_dict,
)


@pytest.mark.parametrize("family", list(PROCESS_FAMILIES))
def test_every_process_gives_a_valid_panel_and_records_itself(family: str, tmp_path) -> None:
    world = draw_world(3, family, n_channels=4)
    promotions = ["promotion"] if world.promotions else None  # the calendar is a control
    assert ("promotion" in world.panel) == bool(world.promotions)
    panel = panel_from_frame(world.panel, require_variation=True, controls=promotions)
    assert panel.channels == world.channels
    assert 104 <= panel.n_weeks == world.process.n_weeks <= 208
    assert 0.04 <= world.noise <= 0.12
    assert world.params["process"] == world.process.to_dict()
    assert world.params["process"]["family"] == family
    assert all(world.channel_truth[c].revenue.adstock.params["alpha"] <= 0.7 for c in world.channels)
    out = tmp_path / "p.csv"
    write_world(out, world=world)
    meta = json.loads((tmp_path / "p.csv.truth.json").read_text())["meta"]["simulation"]
    assert meta["process"] == world.process.to_dict()
    assert meta["n_weeks"] == world.process.n_weeks
    assert set(meta["channels"]) == set(world.channels)


@pytest.mark.parametrize("kind", SHAPE_KINDS)
@pytest.mark.parametrize("media_demand", [0.0, 0.6, 1.0])
def test_truth_is_the_steady_state_of_a_long_run(kind: str, media_demand: float) -> None:
    """Three years at a constant spend, no noise: the mean media revenue is the truth."""
    process = Process(family="test", shapes=(kind,), media_demand=media_demand, paced=True,
                      level_shifts=2, promotions=True, promo_spend=True, n_weeks=120,
                      season_strength=3.0)
    world = draw_world(11, process, n_channels=4)
    n = len(world.weeks)
    for mult in (0.5, 1.0, 1.5):
        w = np.array([world.truth[c].recent_spend for c in world.channels]) * mult
        path = np.tile(w, (52 + 156, 1))  # a year to settle the carry-over, then three years
        t = np.arange(n, n + len(path))
        media = world.outcome(path, start=n) - world.baseline_at(t)
        truth = np.array([float(world.truth[c].response(w[j])) for j, c in enumerate(world.channels)])
        np.testing.assert_allclose(media[-156:].mean(axis=0), truth, rtol=0.01)


@pytest.mark.parametrize("kind", SHAPE_KINDS)
def test_marginal_is_the_derivative_of_the_response(kind: str) -> None:
    world = draw_world(5, Process(family="test", shapes=(kind,)), n_channels=3)
    for c in world.channels:
        curve = world.truth[c]
        w = curve.recent_spend * np.linspace(0.3, 2.0, 9)
        h = 1e-5 * curve.recent_spend
        numeric = (curve.response(w + h) - curve.response(w - h)) / (2 * h)
        np.testing.assert_allclose(curve.marginal(w), numeric, rtol=1e-4)
        assert np.all(np.diff(curve.response(w)) > 0)


def test_same_seed_same_world_and_none_draws_the_process(tmp_path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    write_world(a, world=draw_world(7))
    write_world(b, world=draw_world(7))
    assert a.read_bytes() == b.read_bytes()
    assert (tmp_path / "a.csv.truth.json").read_bytes() == (tmp_path / "b.csv.truth.json").read_bytes()
    write_world(b, world=draw_world(8))
    assert a.read_bytes() != b.read_bytes()
    drawn = {draw_world(s, n_channels=1).process.family for s in range(20)}
    assert len(drawn) >= 6 and drawn <= set(PROCESS_FAMILIES)


def test_truth_shapes_are_not_families_the_fit_searches() -> None:
    assert set(TRUTH_SHAPES) == {"mixture", "power", "kinked", "richards"}
    assert not set(TRUTH_SHAPES) & set(SATURATIONS)
    world = draw_world(2, "wild", n_channels=8)
    for c in world.channels:
        sat = world.truth[c].revenue.saturation
        again = shape_from_dict(sat.to_dict())
        a = world.truth[c].recent_spend * np.linspace(0.0, 3.0, 7)
        np.testing.assert_allclose(again.value(a), sat.value(a), rtol=1e-12)


def test_always_on_channels_never_go_low() -> None:
    world = draw_world(4, "always_on", n_channels=6)
    for c in world.channels:
        x = world.spend[c].to_numpy()
        assert x.min() >= (ALWAYS_ON_FLOOR - 0.01) * x.mean()


def test_paced_spend_follows_the_season_and_demand_scales_the_media() -> None:
    world = draw_world(6, Process(family="test", paced=True, media_demand=1.0,
                                        season_strength=2.5), n_channels=6)
    paced = [c for c in world.channels if world.channel_truth[c].paced_to_season]
    assert paced
    for c in paced:
        x = world.spend[c].to_numpy()
        on = x > 0.3 * np.median(x)
        assert np.corrcoef(np.log(x[on]), world.season[on])[0, 1] > 0.2
    t = np.arange(len(world.weeks), dtype=float)
    scale = world.media_scale(t)
    assert scale is not None
    np.testing.assert_allclose(scale, world.demand_index(t))
    year = world.demand_index(np.linspace(0.0, 52.0, 521) + 0.09)  # a year, finely
    np.testing.assert_allclose(year.mean(axis=0), 1.0, atol=0.01)
    peak = int(np.argmax(world.season))
    assert np.all(scale[peak] > 1.0)
