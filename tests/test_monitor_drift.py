"""Alert rules on simulated worlds: a channel whose response halves, and a century without drift.

The worlds come from :mod:`models.simulate`; the drift is injected from the world's own truth
(baseline and media response): from week ``d`` on, the channel's media revenue is halved and
its other outcomes follow revenue.  The oracle is the known drift week, and for false alarms
the stated in-control average run length.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from roiste.models.simulate import World, simulate_world
from roiste.optimizer.monitor.charts import calibrate, episodes
from roiste.optimizer.monitor.rules import Cusum, Durability, Threshold

WEEKS = 156
DRIFT = 120
CENTURY = 5218  # 100 years of weeks


def inject_drift(world: World, channel: str, week: int, factor: float = 0.5) -> pd.DataFrame:
    """The world's panel with the channel's media response scaled by ``factor`` from ``week``."""
    j = world.channels.index(channel)
    expected = world.outcome(world.spend)[:, j]
    base = world.baseline[channel].to_numpy()
    media = expected - base
    scale = np.ones(len(world.weeks))
    scale[week:] = (base[week:] + factor * media[week:]) / expected[week:]
    panel = world.panel.copy()
    rows = (panel["channel"] == channel).to_numpy()
    for col in ("revenue", "new_customer_revenue", "returns"):
        panel.loc[rows, col] = np.round(panel.loc[rows, col].to_numpy() * scale, 2)
    for col in ("visitors", "orders", "new_customers"):
        panel.loc[rows, col] = np.round(panel.loc[rows, col].to_numpy() * scale).astype(np.int64)
    return panel


def _roas(panel: pd.DataFrame, channel: str) -> np.ndarray:
    d = panel[panel["channel"] == channel]
    return (d["revenue"] / d["spend"]).to_numpy()


def _media_share(world: World, channel: str, weeks: int) -> float:
    """Share of the channel's expected revenue that its spend causes (from the world's truth)."""
    j = world.channels.index(channel)
    expected = world.outcome(world.spend)[:weeks, j]
    return float(((expected - world.baseline[channel].to_numpy()[:weeks]) / expected).mean())


def _drift_worlds() -> list[tuple[World, str]]:
    """Twelve seasonal worlds with steady spend; in each, the channel (without a baseline
    level shift, which is a real change) whose revenue its spend drives most, so that halving
    the response cuts its ROAS by a quarter or more."""
    out = []
    for seed in range(1, 20):
        w = simulate_world(seed, n_channels=4, n_weeks=WEEKS, patterns=("steady",))
        calm = [c for c in w.channels if w.channel_truth[c].shift_week is None]
        c = max(calm, key=lambda c: _media_share(w, c, DRIFT))
        if _media_share(w, c, DRIFT) >= 0.5:  # seeds 5 and 11 have no such channel
            out.append((w, c))
    assert len(out) >= 12
    return out[:12]


# level auto: the weeks are compared with the same weeks a year before, so the worlds'
# seasonality (up to +-40 % swings of ROAS within a quarter) is not taken for a drift
RULES = {
    "in_a_row": (Threshold(relative_to="recent", below=0.15), Durability(weeks_in_a_row=3)),
    "cusum": (Threshold(relative_to="recent", below=0.0, baseline_weeks=13),
              Durability(cusum={"arl0": 500, "k": 0.5})),
    "ewma": (Threshold(relative_to="recent", below=0.0, baseline_weeks=13),
             Durability(ewma={"arl0": 500, "lambda": 0.3})),
}
WINDOW = 6  # weeks after the drift within which every world must have fired


@pytest.fixture(scope="module")
def worlds() -> list[tuple[World, str, np.ndarray, np.ndarray]]:
    out = []
    for w, c in _drift_worlds():
        drifted, clean = _roas(inject_drift(w, c, DRIFT), c), _roas(w.panel, c)
        # the drift is large against the weekly noise: media revenue halves
        assert drifted[DRIFT:].mean() < 0.75 * clean[DRIFT:].mean()
        out.append((w, c, drifted, clean))
    return out


@pytest.mark.parametrize("kind", list(RULES))
def test_rule_fires_within_its_window_after_the_drift_and_not_before(
    kind: str, worlds: list[tuple[World, str, np.ndarray, np.ndarray]]
) -> None:
    threshold, durability = RULES[kind]
    delays, early = [], 0
    watched = 0
    for world, _, drifted, clean in worlds:
        eps = episodes(drifted, threshold, durability)
        after = [e for e in eps if e.fired >= DRIFT]
        assert after, f"{kind} on seed {world.seed}: no alert after the drift"
        first = after[0]
        delays.append(first.fired - DRIFT)
        assert first.fired < DRIFT + WINDOW, (kind, world.seed, first)
        # the change is dated near the drift (a chart's estimate may start a few noisy weeks early)
        assert DRIFT - (1 if kind == "in_a_row" else 4) <= first.since <= first.fired, (
            kind, world.seed, first)
        early += sum(e.fired < DRIFT for e in eps)
        watched += DRIFT - 52 - threshold.baseline_weeks
        # the same world without the drift stays quiet in those weeks
        quiet = episodes(clean, threshold, durability)
        assert not [e for e in quiet if DRIFT <= e.fired < DRIFT + WINDOW], (kind, world.seed)
    if kind == "in_a_row":
        # three weeks beyond the line: it fires in the drift's third week unless a noisy week
        # climbs back over the line, and never before the drift
        assert early == 0
        assert sum(d == 2 for d in delays) >= 0.75 * len(delays), delays
    else:
        # a halving is several standard deviations: the chart fires within a few weeks ...
        assert np.median(delays) <= 2, delays
        # ... and before the drift only at about the stated rate (one per arl0 weeks)
        assert early <= _poisson_bounds(watched / 500)[1], (early, watched)


def _poisson_bounds(expected: float) -> tuple[int, int]:
    return int(stats.poisson.ppf(0.0005, expected)), int(stats.poisson.ppf(0.9995, expected))


@pytest.mark.parametrize("chart", [{"cusum": {"arl0": 260, "k": 0.5}},
                                   {"ewma": {"arl0": 260, "lambda": 0.2}}],
                         ids=["cusum", "ewma"])
def test_false_alarms_over_a_century_without_drift_match_the_stated_rate(chart: dict) -> None:
    """100 simulated years of seasonal weeks: episodes per week within the stated 1 / arl0."""
    durability = Durability.model_validate(chart)
    arl0 = durability.cusum.arl0 if durability.cusum else durability.ewma.arl0  # type: ignore[union-attr]
    count, watched = 0, 0
    for seed in (21, 22):
        world = simulate_world(seed, n_channels=3, n_weeks=CENTURY, patterns=("steady",))
        for c in world.channels:
            if world.channel_truth[c].shift_week is not None:
                continue  # a level shift of the baseline is a real change, not a false alarm
            roas = _roas(world.panel, c)
            for direction in ("above", "below"):
                th = Threshold.model_validate({"relative_to": "recent", direction: 0.0,
                                               "baseline_weeks": 13, "level": "year_over_year"})
                count += len(episodes(roas, th, durability))
                watched += CENTURY - 52 - 13
    expected = watched / arl0
    lo, hi = _poisson_bounds(expected)
    assert count <= hi, f"{count} false alarms over {watched} series-weeks; at most {hi} expected"
    assert count >= lo, f"only {count} false alarms: the limit is far wider than stated ({expected:.0f})"


def test_calibration_matches_the_known_cusum_run_length() -> None:
    """With a long baseline the chart is the textbook CUSUM: k 0.5, h 4 gives ARL0 336 and
    h 5 gives 930 (Siegmund's approximation with b = h + 1.166)."""
    def siegmund(k: float, h: float) -> float:
        b = h + 1.166
        return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)

    for h in (4.0, 5.0):
        arl0 = siegmund(0.5, h)
        d = Durability.model_construct(weeks_in_a_row=None, ewma=None,
                                       cusum=Cusum(arl0=arl0, k=0.5))
        got = calibrate(d, 400, centred=False, level="mean")
        assert got == pytest.approx(h, abs=0.12), (arl0, got)
