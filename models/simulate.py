"""Synthetic weekly panels with a known truth: demo data, tests and backtests.

A *world* is a set of channels, each with a true response curve (a registered saturation
family after an adstock), a baseline (the revenue the channel's rows carry without spend:
level, trend, yearly seasonality and sometimes a level shift), a spend history drawn from one
of several patterns, multiplicative log-normal noise, and the outcomes that follow revenue
(visitors on their own curve, orders, new customers, returns).  The world knows what it
would have produced under any other spend path (:meth:`World.outcome`), so fits and plans
can be scored against the truth.

Everything is drawn from ``numpy.random.default_rng`` seeded by the world's seed: the same
seed gives the same panel and truth files, byte for byte.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.io import atomic_write_text
from roiste.models.transforms import (
    SATURATIONS,
    Adstock,
    FloatArray,
    Geometric,
    Saturation,
    Weibull,
)

WEEKS_PER_YEAR = 365.25 / 7.0
RECENT_WEEKS = 8
CHANNEL_NAMES = (
    "search_brand", "search_generic", "shopping", "social_meta", "social_tiktok", "display",
    "video_youtube", "affiliation", "email", "tv", "radio", "podcast", "ooh", "retargeting",
)  # fmt: skip
SPEND_PATTERNS = ("random_walk", "flighting", "promotions", "steps", "steady")
PATTERN_WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)


@dataclass(frozen=True)
class ChannelTruth:
    """Everything that generates one channel's rows."""

    name: str
    revenue: Component
    visitors: Component
    pattern: str
    paced_to_season: bool
    mean_spend: float
    level: float
    trend: float
    season_amp: float
    shift_week: int | None
    shift_size: float
    visitors_per_revenue_base: float
    ratios: dict[str, float]


@dataclass
class World:
    """A simulated world: the long panel, the true curves and how the world reacts to spend.

    Attributes
    ----------
    panel : pandas.DataFrame
        Long panel (``date, channel, spend, revenue, visitors, orders, new_customers,
        new_customer_revenue, returns``), one row per week and channel.
    truth : CurveSet
        The true steady-state curves (``recent_spend`` is the mean of the last 8 weeks).
    baseline : pandas.DataFrame
        Expected baseline revenue, weeks x channels.
    spend : pandas.DataFrame
        The spend history, weeks x channels.
    noise : float
        Standard deviation of the log-normal revenue noise.
    """

    seed: int
    weeks: pd.DatetimeIndex
    channels: list[str]
    spend: pd.DataFrame
    baseline: pd.DataFrame
    noise: float
    seasonal_spend: bool
    season: FloatArray
    channel_truth: dict[str, ChannelTruth]
    panel: pd.DataFrame
    truth: CurveSet
    params: dict[str, Any] = field(default_factory=dict)

    # -- the world's reaction to spend ----------------------------------------------------
    def baseline_at(self, t: np.ndarray) -> FloatArray:
        """Expected baseline revenue at week indices ``t`` (0 = first panel week), t x channels."""
        t = np.asarray(t, dtype=float)
        season = self.season_params
        cols = [channel_baseline(self.channel_truth[c], t, season) for c in self.channels]
        return np.column_stack(cols) if cols else np.empty((len(t), 0))

    def media_scale(self, t: np.ndarray) -> FloatArray | None:
        """Multiplier of the media effect at week indices ``t``, t x channels (None: always 1).

        A world whose media converts more in peak weeks returns its demand index here; the
        media effect is then ``beta * saturation(adstock) * media_scale``.
        """
        return None

    @property
    def season_params(self) -> dict[str, Any]:
        """Amplitudes, phases and offset of the world's yearly seasonality."""
        return dict(self.params["season"])

    def outcome(
        self,
        spend_matrix: pd.DataFrame | np.ndarray,
        rng: np.random.Generator | None = None,
        start: int | None = None,
    ) -> FloatArray:
        """Revenue (weeks x channels) the world would have produced under another spend path.

        Parameters
        ----------
        spend_matrix : DataFrame or ndarray
            Weekly spend, consecutive weeks x channels (columns in :attr:`channels` order; a
            DataFrame is reordered by its column names and, with a DatetimeIndex, placed in time
            by its first date).
        rng : numpy.random.Generator, optional
            Draw the multiplicative noise with it; without it, return the expected revenue.
        start : int, optional
            Week index of the first row (0 = first panel week; at most the panel length).  The
            carry-over from before ``start`` comes from the world's actual spend history.
        """
        if isinstance(spend_matrix, pd.DataFrame):
            missing = [c for c in self.channels if c not in spend_matrix.columns]
            if missing:
                raise ValueError(f"spend matrix lacks channels {missing}")
            if start is None and isinstance(spend_matrix.index, pd.DatetimeIndex):
                start = round((spend_matrix.index[0] - self.weeks[0]).days / 7)
            x = spend_matrix[self.channels].to_numpy(dtype=float)
        else:
            x = np.asarray(spend_matrix, dtype=float)
        if x.ndim != 2 or x.shape[1] != len(self.channels):
            raise ValueError(f"spend matrix must be weeks x {len(self.channels)} channels")
        start = 0 if start is None else int(start)
        if not 0 <= start <= len(self.weeks):
            raise ValueError(f"start must lie in [0, {len(self.weeks)}], got {start}")
        history = self.spend.to_numpy(dtype=float)[:start]
        full = np.vstack([history, x])
        t = np.arange(start, start + len(x))
        expected = self.baseline_at(t)
        scale = self.media_scale(t)
        for j, c in enumerate(self.channels):
            comp = self.channel_truth[c].revenue
            a = comp.adstock.apply(full[:, j])[start:]
            media = comp.beta * comp.saturation.value(a)
            expected[:, j] += media if scale is None else media * scale[:, j]
        if rng is None:
            return expected
        eps = rng.normal(0.0, self.noise, size=expected.shape)
        return expected * np.exp(eps - 0.5 * self.noise**2)


def yearly_season(t: FloatArray, season: dict[str, Any]) -> FloatArray:
    """Yearly seasonality with mean 0 over a year (a sum of harmonics of the calendar year)."""
    out = np.zeros_like(t, dtype=float)
    for h, (amp, phase) in enumerate(zip(season["amps"], season["phases"], strict=True), start=1):
        out += amp * np.sin(2 * np.pi * h * (t + season["offset"]) / WEEKS_PER_YEAR + phase)
    return out


def channel_baseline(ch: ChannelTruth, t: FloatArray, season: dict[str, Any]) -> FloatArray:
    """Expected baseline revenue of a channel at week indices ``t``: level, trend, season, shift."""
    n = season["n_weeks"]
    b = ch.level * (1.0 + ch.trend * t / n + ch.season_amp * yearly_season(t, season))
    if ch.shift_week is not None:
        b = b + ch.level * ch.shift_size * (t >= ch.shift_week)
    return np.maximum(b, 0.0)


def draw_saturation(rng: np.random.Generator, a_ref: float) -> Saturation:
    """A registered saturation family, half-saturated at 0.4-3 x the adstocked spend ``a_ref``."""
    names = sorted(SATURATIONS)
    name = names[int(rng.integers(len(names)))]
    k = a_ref * float(np.exp(rng.uniform(np.log(0.4), np.log(3.0))))
    family = SATURATIONS[name]
    shape = {p: float(rng.choice([rng.uniform(lo, hi) for lo, hi in ranges]))
             for p, ranges in family.simulation_shape_ranges.items()}
    return family.from_scale(k, **shape)


def draw_adstock(rng: np.random.Generator) -> Adstock:
    """Geometric carry-over (alpha up to 0.7), or a Weibull lag in a quarter of the draws."""
    if rng.random() < 0.25:
        return Weibull(shape=float(rng.uniform(0.8, 2.5)), scale=float(rng.uniform(0.8, 3.0)))
    return Geometric(alpha=float(rng.uniform(0.0, 0.7)))


def _dark_weeks(rng: np.random.Generator, x: FloatArray, pattern: str, share: float) -> FloatArray:
    """Weeks of (almost) no spend: go-dark tests, budget freezes, a launch during the panel."""
    n = len(x)
    x = x.copy()
    u = rng.random()
    if pattern == "steady" or u >= share:
        return x
    if u < 0.25 * share:  # launched during the panel
        x[: int(rng.integers(8, max(9, n // 5)))] = 0.0
        return x
    for _ in range(int(rng.integers(1, 4))):
        start, length = int(rng.integers(0, n - 6)), int(rng.integers(2, 6))
        x[start : start + length] *= rng.uniform(0.0, 0.15)
    return x


def spend_path(
    rng: np.random.Generator, pattern: str, n: int, level: float, season: FloatArray | None,
    dark_share: float,
) -> FloatArray:
    """One channel's weekly spend (mean about ``level``).

    ``pattern`` is one of :data:`SPEND_PATTERNS`; with ``season`` (the yearly seasonality of
    the weeks) the spend is paced to it; ``dark_share`` is the chance of weeks of no spend.
    """
    if pattern == "random_walk":
        phi = rng.uniform(0.5, 0.95)
        sd = rng.uniform(0.2, 0.45) * np.sqrt(1.0 - phi**2)  # stationary log-sd 0.2 .. 0.45
        z = np.zeros(n)
        for t in range(1, n):
            z[t] = phi * z[t - 1] + rng.normal(0.0, sd)
        x = np.exp(z + rng.normal(0.0, rng.uniform(0.05, 0.2), n))  # weekly pacing jitter
    elif pattern == "flighting":
        x = np.zeros(n)
        off_level = rng.choice([0.0, rng.uniform(0.05, 0.3)])
        t, on = 0, bool(rng.random() < 0.5)
        while t < n:
            run = int(rng.integers(3, 9)) if on else int(rng.integers(2, 7))
            x[t : t + run] = rng.uniform(0.7, 1.4) if on else off_level
            t, on = t + run, not on
        x *= np.exp(rng.normal(0.0, 0.05, n))
    elif pattern == "promotions":
        x = np.exp(rng.normal(0.0, rng.uniform(0.15, 0.35), n))
        promo = rng.random(n) < rng.uniform(0.05, 0.15)
        x[promo] *= rng.uniform(1.5, 3.0)
    elif pattern == "steps":
        x = np.ones(n)
        for cut in np.sort(rng.integers(8, n - 8, size=int(rng.integers(2, 6)))):
            x[cut:] *= float(np.exp(rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.5)))
        x *= np.exp(rng.normal(0.0, rng.uniform(0.05, 0.15), n))
    else:  # steady: barely varies
        x = np.exp(rng.normal(0.0, rng.uniform(0.02, 0.05), n))
    if season is not None:
        x = x * np.exp(rng.uniform(1.5, 4.0) * season)
    x = _dark_weeks(rng, x, pattern, dark_share)
    mean = float(x.mean())
    return level * x / mean if mean > 0 else np.full(n, level)


def simulate_world(
    seed: int,
    *,
    n_channels: int = 6,
    n_weeks: int = 156,
    noise: float = 0.06,
    seasonal_spend: bool | None = None,
    start: str = "2023-01-02",
    patterns: tuple[str, ...] | None = None,
    dark_share: float = 0.65,
) -> World:
    """Draw a world with ``n_channels`` channels and ``n_weeks`` weekly rows.

    Parameters
    ----------
    seed : int
        Seed of every random draw; the same seed gives the same world.
    n_channels, n_weeks : int
        Size of the panel.
    noise : float, default 0.06
        Standard deviation of the multiplicative log-normal noise on revenue (mean preserving).
    seasonal_spend : bool, optional
        Whether most channels pace their spend to the season (spend correlated with the
        baseline demand).  ``None``: decided by the seed (about half the worlds).
    start : str
        Monday of the first week.
    patterns : tuple of str, optional
        Restrict the spend patterns drawn (default: all of :data:`SPEND_PATTERNS`).
    dark_share : float, default 0.65
        Share of channels (other than steady ones) with weeks of almost no spend: 1-3 go-dark
        periods of 2-5 weeks, or a launch during the panel.  Such weeks are what pins down the
        level of a response curve; without them only its slope is seen.

    Examples
    --------
    >>> w = simulate_world(1, n_channels=2, n_weeks=60)
    >>> w.panel.shape[0], len(w.truth)
    (120, 2)
    """
    if n_channels < 1 or n_weeks < 20:
        raise ValueError("a world needs at least 1 channel and 20 weeks")
    seq = np.random.SeedSequence(seed)
    world_rng = np.random.default_rng(seq.spawn(1)[0])
    channel_rngs = [np.random.default_rng(s) for s in seq.spawn(n_channels)]
    if seasonal_spend is None:
        seasonal_spend = bool(world_rng.random() < 0.5)
    n_harm = int(world_rng.integers(1, 4))
    amps = world_rng.uniform(0.03, 0.15, n_harm) / np.arange(1, n_harm + 1) ** 0.5
    season = {
        "amps": [float(a) for a in amps],
        "phases": [float(p) for p in world_rng.uniform(0, 2 * np.pi, n_harm)],
        "offset": 0.0,
        "n_weeks": n_weeks,
    }
    weeks = pd.date_range(pd.Timestamp(start), periods=n_weeks, freq="7D")
    t = np.arange(n_weeks, dtype=float)
    s_t = yearly_season(t, season)
    names = [
        CHANNEL_NAMES[i % len(CHANNEL_NAMES)]
        + (f"_{i // len(CHANNEL_NAMES) + 1}" if i >= len(CHANNEL_NAMES) else "")
        for i in range(n_channels)
    ]
    pattern_pool = patterns or SPEND_PATTERNS
    weights = np.array([PATTERN_WEIGHTS[SPEND_PATTERNS.index(p)] for p in pattern_pool])
    spend_cols: dict[str, FloatArray] = {}
    truths: dict[str, ChannelTruth] = {}
    for name, rng in zip(names, channel_rngs, strict=True):
        pattern = str(rng.choice(list(pattern_pool), p=weights / weights.sum()))
        paced = bool(seasonal_spend and rng.random() < 0.8)
        level = float(10 ** rng.uniform(2.0, 5.0))
        x = np.round(
            spend_path(rng, pattern, n_weeks, level, s_t if paced else None, dark_share), 2
        )
        spend_cols[name] = x
        adstock = draw_adstock(rng)
        recent = float(x[-RECENT_WEEKS:].mean())
        a_ref = max(recent, 1e-9) * adstock.total_weight
        sat = draw_saturation(rng, a_ref)
        roas = float(rng.uniform(0.8, 6.0))
        beta = roas * recent / float(sat.value(a_ref))
        revenue = Component(beta, sat, adstock)
        rpv = float(rng.uniform(0.5, 5.0))
        vk = a_ref * float(np.exp(rng.uniform(np.log(0.3), np.log(2.5))))
        vsat = SATURATIONS["exponential" if rng.random() < 0.5 else "michaelis_menten"](k=vk)
        vbeta = roas * recent / rpv / float(vsat.value(a_ref))
        aov = float(rng.uniform(40.0, 150.0))
        new_share = float(rng.uniform(0.15, 0.6))
        ratios = {
            "revenue_per_order": aov,
            "new_customers_per_revenue": new_share / aov,
            "new_customer_revenue_share": new_share * float(rng.uniform(0.8, 1.05)),
            "return_share": float(rng.uniform(0.02, 0.25)),
        }
        shift = rng.random() < 0.25
        truths[name] = ChannelTruth(
            name=name,
            revenue=revenue,
            visitors=Component(vbeta, vsat, adstock),
            pattern=pattern,
            paced_to_season=paced,
            mean_spend=float(x.mean()),
            level=float(roas * recent * rng.uniform(0.2, 1.2)),
            trend=float(rng.uniform(-0.2, 0.3)),
            season_amp=float(rng.uniform(0.5, 1.5)),
            shift_week=int(rng.integers(n_weeks // 4, 3 * n_weeks // 4)) if shift else None,
            shift_size=float(rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.3)) if shift else 0.0,
            visitors_per_revenue_base=1.0 / float(rng.uniform(0.5, 5.0)),
            ratios=ratios,
        )
    spend = pd.DataFrame(spend_cols, index=weeks)
    world = World(
        seed=seed, weeks=weeks, channels=names, spend=spend,
        baseline=pd.DataFrame(index=weeks), noise=noise, seasonal_spend=seasonal_spend,
        season=s_t, channel_truth=truths, panel=pd.DataFrame(), truth=CurveSet([]),
        params={"season": season, "dark_share": dark_share},
    )  # fmt: skip
    world.baseline = pd.DataFrame(world.baseline_at(t), index=weeks, columns=names)
    world.panel = panel_rows(world, channel_rngs)
    world.truth = truth_curves(world)
    return world


def panel_rows(world: World, rngs: list[np.random.Generator]) -> pd.DataFrame:
    """The long panel of a world whose spend, baseline and truths are set (one rng per channel)."""
    n = len(world.weeks)
    frames = []
    scale = world.media_scale(np.arange(n, dtype=float))
    for j, name in enumerate(world.channels):
        ch, rng = world.channel_truth[name], rngs[j]
        x = world.spend[name].to_numpy()
        base = world.baseline[name].to_numpy()
        a = ch.revenue.adstock.apply(x)
        sigma = world.noise
        media = ch.revenue.beta * ch.revenue.saturation.value(a)
        if scale is not None:
            media = media * scale[:, j]
        revenue = (base + media) * np.exp(
            rng.normal(0.0, sigma, n) - 0.5 * sigma**2
        )
        v_mean = base * ch.visitors_per_revenue_base + ch.visitors.beta * ch.visitors.saturation.value(a)
        visitors = np.round(v_mean * np.exp(rng.normal(0.0, sigma, n) - 0.5 * sigma**2))
        r = ch.ratios
        orders = rng.poisson(revenue / r["revenue_per_order"])
        new_share = r["new_customers_per_revenue"] * r["revenue_per_order"]
        frames.append(
            pd.DataFrame(
                {
                    "date": world.weeks.strftime("%Y-%m-%d"),
                    "channel": name,
                    "spend": x,
                    "revenue": np.round(revenue, 2),
                    "visitors": visitors.astype(np.int64),
                    "orders": orders.astype(np.int64),
                    "new_customers": rng.binomial(orders, new_share).astype(np.int64),
                    "new_customer_revenue": np.round(
                        revenue * r["new_customer_revenue_share"] * np.exp(rng.normal(0, 0.05, n)), 2
                    ),
                    "returns": np.round(
                        revenue * r["return_share"] * np.exp(rng.normal(0, 0.1, n)), 2
                    ),
                }
            )
        )
    panel = pd.concat(frames, ignore_index=True)
    order = np.lexsort((panel["channel"].map(world.channels.index), panel["date"]))
    return panel.iloc[order].reset_index(drop=True)


def truth_curves(world: World) -> CurveSet:
    """The true curves of a world, with its parameters under ``meta["simulation"]``."""
    curves = []
    for name in world.channels:
        ch = world.channel_truth[name]
        curves.append(
            ResponseCurve(
                channel=name,
                revenue=ch.revenue,
                recent_spend=float(world.spend[name].to_numpy()[-RECENT_WEEKS:].mean()),
                visitors=ch.visitors,
                ratios=dict(ch.ratios),
                diagnostics={"source": "simulation truth"},
            )
        )
    channels_meta = {}
    for name in world.channels:
        ch = world.channel_truth[name]
        channels_meta[name] = {
            "pattern": ch.pattern,
            "paced_to_season": ch.paced_to_season,
            "mean_spend": ch.mean_spend,
            "baseline": {
                "level": ch.level,
                "trend": ch.trend,
                "season_amp": ch.season_amp,
                "shift_week": ch.shift_week,
                "shift_size": ch.shift_size,
                "visitors_per_revenue": ch.visitors_per_revenue_base,
            },
            "baseline_mean": float(world.baseline[name].mean()),
        }
    meta = {
        "simulation": {
            "seed": world.seed,
            "n_weeks": len(world.weeks),
            "first_week": world.weeks[0].strftime("%Y-%m-%d"),
            "noise": world.noise,
            "noise_model": "revenue = expected * exp(N(0, noise^2) - noise^2 / 2)",
            "seasonal_spend": world.seasonal_spend,
            "dark_share": world.params["dark_share"],
            "season": world.params["season"],
            "recent_weeks": RECENT_WEEKS,
            "channels": channels_meta,
        }
    }
    return CurveSet(curves, meta=meta)


def write_world(
    out: str | os.PathLike[str], *, seed: int = 0, n_channels: int = 6, n_weeks: int = 156,
    world: World | None = None, **kw: Any,
) -> World:
    """Simulate a world and write its long panel CSV to ``out`` and truth to ``out.truth.json``.

    The truth file has the schema of a curves file (``CurveSet.load`` reads it) with the
    world's parameters under ``meta.simulation``.  A ``world`` already drawn (for instance by
    :func:`models.worlds.draw_world`) is written as it is; the other arguments are then unused.
    """
    if world is None:
        world = simulate_world(seed, n_channels=n_channels, n_weeks=n_weeks, **kw)
    text = world.panel.to_csv(index=False, float_format="%.2f", lineterminator="\n")
    atomic_write_text(out, text)
    atomic_write_text(f"{os.fspath(out)}.truth.json", world.truth.to_json())
    return world


def truth_json(world: World) -> str:
    """The truth file's text (the same bytes :func:`write_world` writes)."""
    return world.truth.to_json()


__all__ = [
    "ChannelTruth",
    "World",
    "channel_baseline",
    "draw_adstock",
    "draw_saturation",
    "panel_rows",
    "simulate_world",
    "spend_path",
    "truth_curves",
    "truth_json",
    "write_world",
    "yearly_season",
]
