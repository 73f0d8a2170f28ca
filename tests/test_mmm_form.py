"""The wide (marketing-mix) fit chooses its media form: added to the baseline or scaled by demand.

The worlds are :func:`roiste.models.worlds.draw_world` worlds whose channels' revenue is summed
into one target (as ``benchmarks/bench_wide.py`` builds them); the oracle is each world's own
``truth``: the steady-state weekly response of each channel averaged over a year, and its
demand index.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from roiste.models.curves import CurveSet
from roiste.models.errors import CurveError
from roiste.models.fit.baseline import week_index
from roiste.models.fit.mmm import fit_wide
from roiste.models.fit.mmm_validation import FORM_MARGIN, form_folds
from roiste.models.panel import panel_from_frame
from roiste.models.worlds import Process, ProcessWorld, draw_world
from roiste.optimizer.flighting import seasonal_index

GRID = np.linspace(0.5, 1.5, 11)


def wide_panel(world: ProcessWorld):
    """The world's channels summed into one revenue column, one spend column per channel."""
    rev = world.panel.pivot(index="date", columns="channel", values="revenue")[world.channels]
    frame = pd.DataFrame({"date": world.weeks.strftime("%Y-%m-%d"),
                          "revenue": np.round(rev.sum(axis=1).to_numpy(), 2)})
    for c in world.channels:
        frame[c] = world.spend[c].to_numpy()
    return panel_from_frame(frame, source="world.csv", layout="wide", target="revenue",
                            spend=list(world.channels))


def fit(world: ProcessWorld, **kw) -> CurveSet:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # weakly identified channels are measured, not warned about
        return fit_wide(wide_panel(world), progress=False, **kw)


def curve_error(world: ProcessWorld, curves: CurveSet) -> float:
    """Summed absolute error of the channels' steady-state responses over 0.5-1.5 x the recent
    spend, relative to the summed true responses."""
    err = tot = 0.0
    for c in world.channels:
        truth = world.truth[c]
        w = truth.recent_spend * GRID
        true = np.asarray(truth.response(w), dtype=float)
        err += float(np.abs(np.asarray(curves[c].response(w)) - true).sum())
        tot += float(true.sum())
    return err / tot


def world_of(seed: int, media_demand: float) -> ProcessWorld:
    season = 3.0 if media_demand else 1.0
    return draw_world(seed, Process(family="test", media_demand=media_demand, season_strength=season,
                                    n_weeks=156, noise=0.05, level_shifts=0), n_channels=2)


@pytest.fixture(scope="module")
def demand_world() -> ProcessWorld:
    return world_of(8, 1.0)  # media multiplied by each channel's demand index, strong seasons


@pytest.fixture(scope="module")
def demand_fits(demand_world) -> tuple[CurveSet, CurveSet]:
    return fit(demand_world), fit(demand_world, media_form="additive")


def test_media_scaling_with_demand_chooses_the_demand_form(demand_world, demand_fits):
    auto, additive = demand_fits
    d = auto.diagnostics
    assert d["media_form"] in ("demand", "half_demand")
    cv = d["form_cv"]
    assert set(cv) == {"additive", "demand", "half_demand"}
    assert cv[d["media_form"]] < (1.0 - FORM_MARGIN) * cv["additive"]
    assert additive.diagnostics["media_form"] == "additive" and additive.diagnostics["form_cv"] == {}
    # the steady-state curves are nearer the truth than the additive fit's
    assert curve_error(demand_world, auto) < 0.8 * curve_error(demand_world, additive)


def test_demand_form_keeps_the_seasonal_profile_of_the_truth(demand_world, demand_fits):
    auto, _ = demand_fits
    effect = auto.diagnostics["seasonal_effect"]
    for c in demand_world.channels:
        assert auto[c].diagnostics["seasonal_effect"] == effect
        assert auto[c].diagnostics["demand_share"] == auto.diagnostics["demand_share"] > 0
    weekly = np.asarray(effect["weekly"])
    assert len(weekly) == 52 and weekly.mean() == pytest.approx(1.0)
    assert effect["start"] == (demand_world.weeks[-1] + pd.Timedelta(weeks=1)).strftime("%Y-%m-%d")
    # the world's media multiplier of the same weeks, spend-weighted over its channels
    t = week_index(pd.date_range(effect["start"], periods=52, freq="7D"))
    true = demand_world.media_scale(t)
    assert true is not None
    share = demand_world.spend.iloc[-8:].mean().to_numpy()
    truth = true @ (share / share.sum())
    assert np.corrcoef(weekly, truth)[0, 1] > 0.95
    assert np.max(np.abs(weekly / truth / np.mean(weekly / truth) - 1.0)) < 0.25
    # weekly plans read the same multipliers off each curve
    dates = pd.date_range(effect["start"], periods=52, freq="7D")
    for c in demand_world.channels:
        index = seasonal_index(auto[c], dates)
        assert index is not None
        np.testing.assert_allclose(index, weekly, rtol=1e-9)


def test_additive_media_keep_the_additive_form():
    world = world_of(4, 0.0)  # media added to a seasonal baseline
    curves = fit(world)
    d = curves.diagnostics
    assert d["media_form"] == "additive" and d["demand_share"] == 0.0
    assert set(d["form_cv"]) == {"additive", "demand", "half_demand"}
    assert "seasonal_effect" not in d
    assert all("seasonal_effect" not in curves[c].diagnostics for c in world.channels)
    # the additive choice is the additive fit: the same curves, draws and diagnostics but the
    # form's evidence
    chosen = json.loads(curves.to_json())
    given = json.loads(fit(world, media_form="additive").to_json())
    for doc in (chosen, given):
        del doc["diagnostics"]["form_cv"], doc["diagnostics"]["form_choice"]
    assert chosen == given


def test_same_seed_same_bytes_with_the_demand_form(demand_world):
    a = fit(demand_world, bootstrap=3, seed=1, media_form="demand")
    b = fit(demand_world, bootstrap=3, seed=1, media_form="demand")
    assert a.to_json() == b.to_json()
    assert a.diagnostics["form_choice"] == "given"
    # each draw follows the form: its beta is the year's average week, as the point curve's
    for c in demand_world.channels:
        assert len(a[c].draws) == 3
        band = a[c].response_draws(np.array([a[c].recent_spend]))
        assert np.all(np.isfinite(band)) and np.all(band >= 0)
    assert a.diagnostics["media_form"] == "demand" and a.diagnostics["demand_share"] == 1.0


def test_short_history_and_unknown_form():
    world = draw_world(5, Process(family="test", n_weeks=60, noise=0.05), n_channels=2)
    assert form_folds(60) == [] and len(form_folds(80)) == 3  # forecast blocks keep 52 weeks
    d = fit(world).diagnostics
    assert d["media_form"] == "additive" and d["form_cv"] == {}
    with pytest.raises(CurveError, match="media_form"):
        fit(world, media_form="seasonal")
