"""Simulated customer journeys whose true causes are known.

Each week a cohort of users arrives.  A channel touches each user with a probability that grows
with the channel's spend that week and saturates (``reach * (1 - 2 ** (-spend /
half_reach_spend))``); a touched user sees it one or more times, at a point of the journey
set by the channel's ``stage`` (0 opens journeys, 1 closes them).  A user converts with
probability ``baseline + sum(lift of each channel that touched them)``, after the last touch,
so every channel adds a known amount to the chance of converting.  Each conversion is then
given one true cause, drawn in proportion to ``baseline`` and the lifts of the channels that
touched the user: the expected number of conversions a channel causes is its lift times the
number of users it touched, and a rule's credit can be held against it.

Users no channel touched convert at the baseline rate; their orders have no touchpoint (the
rules credit them to ``"(direct)"``).

:func:`simulate_journeys` returns the data and the truth; :func:`write_journeys` writes
``touchpoints.csv``, ``conversions.csv``, ``spend.csv`` and ``truth.json`` into a folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from roiste.models.errors import RoisteError
from roiste.models.io import atomic_write_text

__all__ = ["DEFAULT_CHANNELS", "JourneyChannel", "JourneyWorld", "simulate_journeys", "write_journey_world",
           "write_journeys"]

BASELINE = "(baseline)"


@dataclass(frozen=True)
class JourneyChannel:
    """One channel of the simulated world.

    Parameters
    ----------
    name : str
    lift : float
        Probability of converting that a touch of this channel adds for a user.
    reach : float
        Share of a week's users the channel touches at saturation (0..1).
    half_reach_spend : float
        Weekly spend at which it touches half of ``reach``.
    stage : float
        Typical position of its touches in a journey (0 first .. 1 last).
    weekly_spend : float
        Mean weekly spend.
    touches : float, default 1.5
        Mean number of touches for a user it reaches (at least 1).
    """

    name: str
    lift: float
    reach: float
    half_reach_spend: float
    stage: float
    weekly_spend: float
    touches: float = 1.5

    def __post_init__(self) -> None:
        if not (0 <= self.lift < 1 and 0 < self.reach <= 1 and self.half_reach_spend > 0
                and 0 <= self.stage <= 1 and self.weekly_spend >= 0 and self.touches >= 1):
            raise RoisteError(f"journey channel '{self.name}': parameters out of range")


# Openers with high lift, closers with low lift and high reach: last click over-credits the
# closers, first click the openers.
DEFAULT_CHANNELS: tuple[JourneyChannel, ...] = (
    JourneyChannel("video", lift=0.030, reach=0.30, half_reach_spend=6000, stage=0.05, weekly_spend=8000),
    JourneyChannel("social", lift=0.025, reach=0.35, half_reach_spend=4000, stage=0.25, weekly_spend=5000),
    JourneyChannel("email", lift=0.008, reach=0.30, half_reach_spend=500, stage=0.50, weekly_spend=600, touches=2.0),
    JourneyChannel("search", lift=0.020, reach=0.30, half_reach_spend=3000, stage=0.75, weekly_spend=4000),
    JourneyChannel("retargeting", lift=0.004, reach=0.45, half_reach_spend=2000, stage=0.95, weekly_spend=3000, touches=2.5),
)


@dataclass
class JourneyWorld:
    """Simulated journeys with their truth.

    Attributes
    ----------
    touchpoints : DataFrame
        ``customer_id, timestamp, channel``.
    conversions : DataFrame
        ``order_id, customer_id, timestamp, revenue, new_customer``.
    spend : DataFrame
        ``date`` (Monday), ``channel``, ``spend``: one row per week and channel.
    truth : DataFrame
        Per channel and ``"(baseline)"``: ``caused_conversions``, ``caused_revenue`` (drawn
        causes), ``expected_conversions`` (lift times users touched) and ``users_touched``.
    channels : tuple of JourneyChannel
    baseline : float
    """

    touchpoints: pd.DataFrame
    conversions: pd.DataFrame
    spend: pd.DataFrame
    truth: pd.DataFrame
    channels: tuple[JourneyChannel, ...]
    baseline: float

    def true_shares(self) -> pd.Series:
        """Share of the revenue caused by channels (baseline left out) per channel."""
        t = self.truth.set_index("channel")["caused_revenue"].drop(BASELINE)
        return t / t.sum()


def simulate_journeys(
    *,
    seed: int = 0,
    n_weeks: int = 26,
    users_per_week: int = 5000,
    channels: Sequence[JourneyChannel] = DEFAULT_CHANNELS,
    baseline: float = 0.005,
    spend_variation: float = 0.6,
    journey_days: float = 10.0,
    mean_order_value: float = 80.0,
    new_customer_share: float = 0.45,
    start: str = "2024-01-01",
) -> JourneyWorld:
    """Simulate ``n_weeks`` weekly cohorts of users, their touches and conversions.

    Parameters
    ----------
    seed : int, default 0
    n_weeks : int, default 26
    users_per_week : int, default 5000
    channels : sequence of JourneyChannel, default DEFAULT_CHANNELS
    baseline : float, default 0.005
        Probability of converting without any touch.
    spend_variation : float, default 0.6
        Weekly spend is ``weekly_spend * U(1 - v, 1 + v)``.
    journey_days : float, default 10
        Mean length of a journey from its first touch to its conversion.
    mean_order_value : float, default 80
    new_customer_share : float, default 0.45
    start : str, default "2024-01-01"
        A Monday: the first week.

    Returns
    -------
    JourneyWorld
    """
    channels = tuple(channels)
    names = [c.name for c in channels]
    if len(set(names)) < len(names) or not channels:
        raise RoisteError("journey channels: names must be distinct and at least one given")
    t0 = pd.Timestamp(start)
    if t0.dayofweek != 0:
        raise RoisteError(f"journeys: start {start} is not a Monday")
    lifts = np.array([c.lift for c in channels])
    if baseline + lifts.sum() > 1:
        raise RoisteError("journeys: baseline plus all lifts exceed a probability of 1")
    rng = np.random.default_rng(seed)
    n_c, n_u = len(channels), n_weeks * users_per_week
    week = np.repeat(np.arange(n_weeks), users_per_week)
    mult = rng.uniform(1 - spend_variation, 1 + spend_variation, size=(n_weeks, n_c))
    spend = np.array([c.weekly_spend for c in channels]) * mult
    half = np.array([c.half_reach_spend for c in channels])
    p_touch = np.array([c.reach for c in channels]) * (1 - np.exp2(-spend / half))
    touched = rng.random((n_u, n_c)) < p_touch[week]
    day = 86_400.0
    begin = week * 7 * day + rng.uniform(0, 7 * day, n_u)
    span = journey_days * day * rng.uniform(0.5, 1.5, n_u)
    # touches
    users, chans = np.nonzero(touched)
    counts = 1 + rng.poisson(np.array([c.touches - 1 for c in channels])[chans])
    t_user, t_ch = np.repeat(users, counts), np.repeat(chans, counts)
    stage = np.array([c.stage for c in channels])[t_ch]
    pos = np.clip(stage + rng.normal(0, 0.12, len(t_user)), 0.0, 1.0)
    t_time = begin[t_user] + span[t_user] * pos
    # conversions and their causes
    any_touch = touched.any(axis=1)
    p = baseline + touched @ lifts
    converted = rng.random(n_u) < p
    conv_users = np.flatnonzero(converted)
    weights = np.c_[np.full(len(conv_users), baseline), touched[conv_users] * lifts]
    cum = np.cumsum(weights, axis=1)
    cause = (rng.random(len(conv_users))[:, None] * cum[:, -1:] >= cum).sum(axis=1)
    sigma = 0.5
    revenue = np.round(rng.lognormal(np.log(mean_order_value) - sigma**2 / 2, sigma, len(conv_users)), 2)
    new = rng.random(len(conv_users)) < new_customer_share
    c_time = begin[conv_users] + np.where(any_touch[conv_users], span[conv_users], 0.0) \
        + rng.exponential(0.5 * day, len(conv_users))

    def stamp(seconds: np.ndarray) -> np.ndarray:
        return (np.datetime64(t0.date(), "s") + np.round(seconds).astype("timedelta64[s]")).astype(str)

    cust = np.array([f"u{i:07d}" for i in range(n_u)], dtype=object)
    order_t = np.lexsort((t_ch, t_time))
    touchpoints = pd.DataFrame({
        "customer_id": cust[t_user[order_t]],
        "timestamp": stamp(t_time[order_t]),
        "channel": np.array(names, dtype=object)[t_ch[order_t]],
    })
    order_c = np.argsort(c_time, kind="stable")
    conversions = pd.DataFrame({
        "order_id": [f"o{i:07d}" for i in range(len(conv_users))],
        "customer_id": cust[conv_users[order_c]],
        "timestamp": stamp(c_time[order_c]),
        "revenue": revenue[order_c],
        "new_customer": new[order_c],
    })
    weeks = pd.date_range(t0, periods=n_weeks, freq="7D").strftime("%Y-%m-%d")
    spend_frame = pd.DataFrame({
        "date": np.repeat(weeks, n_c),
        "channel": np.tile(np.array(names, dtype=object), n_weeks),
        "spend": spend.ravel().round(2),
    })
    n_touched = touched.sum(axis=0)
    truth = pd.DataFrame({
        "channel": [BASELINE, *names],
        "caused_conversions": np.bincount(cause, minlength=n_c + 1),
        "caused_revenue": np.round(np.bincount(cause, weights=revenue, minlength=n_c + 1), 2),
        "expected_conversions": np.r_[baseline * n_u, lifts * n_touched],
        "users_touched": np.r_[n_u, n_touched],
    })
    return JourneyWorld(touchpoints, conversions, spend_frame, truth, channels, baseline)


def write_journeys(out_dir: str | os.PathLike[str], **kwargs: object) -> dict[str, Path]:
    """Simulate (``kwargs`` as :func:`simulate_journeys`) and write the files into ``out_dir``.

    Returns the paths of ``touchpoints``, ``conversions``, ``spend`` and ``truth``.
    """
    return write_journey_world(simulate_journeys(**kwargs), out_dir)  # type: ignore[arg-type]


def write_journey_world(world: JourneyWorld, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write a simulated world's files into ``out_dir``, as :func:`write_journeys` does.

    Parameters
    ----------
    world : JourneyWorld
        A world from :func:`simulate_journeys`.
    out_dir : path
        Folder of ``touchpoints.csv``, ``conversions.csv``, ``spend.csv`` and ``truth.json``.

    Returns
    -------
    dict of str to Path
        The paths of ``touchpoints``, ``conversions``, ``spend`` and ``truth``.
    """
    out = Path(out_dir)
    paths = {k: out / f"{k}.csv" for k in ("touchpoints", "conversions", "spend")}
    paths["truth"] = out / "truth.json"
    atomic_write_text(paths["touchpoints"], world.touchpoints.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(paths["conversions"], world.conversions.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(paths["spend"], world.spend.to_csv(index=False, lineterminator="\n"))
    truth = {
        "baseline": world.baseline,
        "channels": [asdict(c) for c in world.channels],
        "truth": world.truth.to_dict(orient="records"),
    }
    atomic_write_text(paths["truth"], json.dumps(truth, indent=2, sort_keys=True, default=float) + "\n")
    return paths
