"""The per-channel fit recovers the known truth of simulated worlds.

Worlds of 156 weeks with 6 % multiplicative noise, half of them with spend paced to the
season (so that spend and baseline demand move together).  Every channel has some weeks of
(almost) no spend -- go-dark tests, a freeze or a launch -- since without them the level of a
curve rests on the assumed family alone (see docs/decisions.md); steady channels are left out
for the same reason.  The error of a channel is the worst relative error of its fitted
steady-state response against the truth over weekly spends in [0.5, 1.5] x its mean spend of
the last 8 weeks.  The oracle is the same fit told the true saturation family and the true
baseline shape (number of harmonics, level-shift week).

The bar, measured over the 120 channels of the contiguous seeds 1-20 (season-paced spend in
the even ones): the median error over channels is at most 8 %, at least 80 % of channels are
within 20 %, the median error over channels is at most 1.3 x the oracle's median error over the
same channels, and 90 % bootstrap bands cover the truth at 75-98 % of (channel, spend) points.
No channel is left out: these worlds have no steady channels, and the channels whose level the
fit flags as unidentified are the subject of the last test (default worlds).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from roiste.models.curves import ResponseCurve
from roiste.models.fit.channel import FitSettings, fit_channel, week_index
from roiste.models.simulate import simulate_world

SEEDS = tuple(range(1, 21))
PATTERNS = ("random_walk", "flighting", "promotions", "steps")
GRID = np.linspace(0.5, 1.5, 11)
DRAWS = 100


def _error(curve: ResponseCurve, truth: ResponseCurve) -> float:
    w = truth.recent_spend * GRID
    return float(np.max(np.abs(curve.response(w) / truth.response(w) - 1.0)))


@pytest.fixture(scope="module")
def fits() -> list[dict[str, Any]]:
    out = []
    for seed in SEEDS:
        world = simulate_world(seed, seasonal_spend=seed % 2 == 0, dark_share=1.0, patterns=PATTERNS)
        t = week_index(world.weeks)
        n_harm = len(world.params["season"]["amps"])
        for j, c in enumerate(world.channels):
            rows = world.panel[world.panel["channel"] == c]
            spend, revenue = rows["spend"].to_numpy(), rows["revenue"].to_numpy()
            truth = world.truth[c]
            shift = world.channel_truth[c].shift_week
            oracle = FitSettings(
                family=truth.family,
                n_harmonics=n_harm,
                choose_harmonics=False,
                level_shift=None if shift is None else float(t[shift]),
            )
            fitted = fit_channel(spend, revenue, world.weeks, settings=FitSettings(bootstrap=DRAWS),
                                 seed=100 * seed + j)
            told = fit_channel(spend, revenue, world.weeks, settings=oracle)
            out.append({"world": seed, "channel": c, "truth": truth, "fit": fitted, "oracle": told,
                        "error": _error(fitted, truth), "oracle_error": _error(told, truth)})
    return out


def test_median_error_is_small(fits: list[dict[str, Any]]) -> None:
    errors = np.array([f["error"] for f in fits])
    assert np.median(errors) <= 0.08, sorted(errors.round(3))


def test_most_channels_within_20_percent(fits: list[dict[str, Any]]) -> None:
    errors = np.array([f["error"] for f in fits])
    assert np.mean(errors <= 0.20) >= 0.80, sorted(errors.round(3))


def test_close_to_the_oracle(fits: list[dict[str, Any]]) -> None:
    """Median error over channels within 1.3 x the oracle's median error over the same channels.

    benchmarks/bench_recovery.py measured 1.24 on these seeds and 1.25 over seeds 1-48.
    """
    errors = np.array([f["error"] for f in fits])
    oracle = np.array([f["oracle_error"] for f in fits])
    assert np.median(errors) <= 1.3 * np.median(oracle), (np.median(errors), np.median(oracle))


def test_bootstrap_intervals_cover_the_truth(fits: list[dict[str, Any]]) -> None:
    hits = []
    for f in fits:
        w = f["truth"].recent_spend * GRID
        lo, hi = f["fit"].response_band(w, level=0.9)
        assert len(f["fit"].draws) == DRAWS
        truth = f["truth"].response(w)
        hits.append((truth >= lo) & (truth <= hi))
    coverage = float(np.mean(np.concatenate(hits)))
    assert 0.75 <= coverage <= 0.98, coverage


def test_family_choice_is_recorded(fits: list[dict[str, Any]]) -> None:
    for f in fits:
        d = f["fit"].diagnostics
        assert d["family"] == f["fit"].family
        assert set(d["cv_scores"]) == {"exponential", "hill", "logistic", "michaelis_menten"}
        assert all(np.isfinite(v) and v > 0 for v in d["cv_scores"].values())


def test_diagnostics_warn_where_the_level_is_not_identified() -> None:
    """In default worlds (steady channels, channels that never go dark), the warned curves are
    the poor ones, and the others keep most channels within 20 %.  Every steady channel (spend
    that barely varies) is warned about: the plan can treat such curves as uncertain."""
    warned, trusted = [], []
    steady = 0
    for seed in range(8, 14):
        world = simulate_world(seed, seasonal_spend=seed % 2 == 0)
        for c in world.channels:
            rows = world.panel[world.panel["channel"] == c]
            curve = fit_channel(rows["spend"].to_numpy(), rows["revenue"].to_numpy(), world.weeks)
            err = _error(curve, world.truth[c])
            if world.channel_truth[c].pattern == "steady":
                steady += 1
                assert "warning" in curve.diagnostics, (seed, c)
            (warned if "warning" in curve.diagnostics else trusted).append(err)
    assert steady >= 2 and len(warned) >= 4 and len(trusted) >= 20
    assert np.median(warned) > 1.5 * np.median(trusted), (np.median(warned), np.median(trusted))
    assert np.mean(np.array(trusted) <= 0.20) >= 0.8, sorted(np.round(trusted, 3))
