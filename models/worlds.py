"""Worlds unlike our own: a family of generating processes to examine the fit on.

:func:`models.simulate.simulate_world` draws one form of world, the form the per-channel fit
assumes.  :func:`draw_world` draws a world from a *process*, a :class:`Process` that says

* whether the media effect is added to the baseline or scales with demand (in peak weeks the
  same spend converts more: the media term is multiplied by ``1 - m + m * demand_t``, ``m``
  the share that scales, ``demand_t`` the channel's seasonal index, of mean 1 over a year,
  which also multiplies its baseline), and how strong the season is;
* whether spend is paced to the season (and pushed in promotion weeks);
* how long the history is (104-208 weeks), how long the carry-over (geometric, up to 0.7);
* which saturation shapes the channels have: a registered family, or shapes that no fitted
  family has exactly (:class:`Mixture` of two families, capped :class:`Power` curves, a
  :class:`Kinked` linear response with a rounded knee, a generalised logistic
  :class:`Richards` curve);
* how rough the baseline is (trend and yearly season always; level shifts and promotion weeks);
* the noise (4-12 %) and whether channels are always on (spend never below 44 % of its mean).

Processes come in named families (:data:`PROCESS_FAMILIES`); each fixes the axes that define
it and draws the others from the seed.  The world records its process in ``params["process"]``
and in ``meta.simulation.process`` of its truth file.  ``world.truth`` is a ``CurveSet`` whose
``response(w)`` is the steady-state weekly incremental revenue at a constant weekly spend
``w``, averaged over a year when the effect scales with demand, which is what a fitted
:class:`~models.curves.ResponseCurve` means.  The truth shapes are saturations registered in
:data:`TRUTH_SHAPES`, never in ``SATURATIONS``: the fit does not search them, and
``CurveSet.load`` does not read them back (the truth file's JSON holds their parameters).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from roiste.models.curves import Component, CurveSet
from roiste.models.simulate import (
    CHANNEL_NAMES,
    PATTERN_WEIGHTS,
    RECENT_WEEKS,
    SPEND_PATTERNS,
    WEEKS_PER_YEAR,
    ChannelTruth,
    World,
    draw_saturation,
    panel_rows,
    spend_path,
    truth_curves,
    yearly_season,
)
from roiste.models.transforms import SATURATIONS, FloatArray, Geometric, Saturation

TRUTH_SHAPES: dict[str, type[TruthShape]] = {}
SHAPE_KINDS = ("family", "mixture", "power", "kinked", "richards")
ALWAYS_ON_FLOOR = 0.44


def _nonneg(a: ArrayLike) -> FloatArray:
    return np.maximum(np.asarray(a, dtype=float), 0.0)


# --------------------------------------------------------------------------- truth shapes


class TruthShape(Saturation):
    """A saturation of simulated truths that the fit never searches.

    Subclasses register in :data:`TRUTH_SHAPES` by ``lookup_name``, not in ``SATURATIONS``;
    like the families, their value and derivative are static methods over parameter arrays.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # skip Saturation.__init_subclass__: it would make the shape a family the fit searches
        super(Saturation, cls).__init_subclass__(**kwargs)
        name = cls.__dict__.get("lookup_name")
        if name is None:
            return
        if name in TRUTH_SHAPES or name in SATURATIONS:
            raise ValueError(f"truth shape {name!r} is registered twice")
        TRUTH_SHAPES[name] = cls

    @property
    def scale(self) -> float:
        """The adstocked spend at which the value reaches 1/2 (by bisection)."""
        lo, hi = 0.0, float(self.params["k"])
        while float(self.value(hi)) < 0.5:
            hi *= 2.0
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if float(self.value(mid)) < 0.5 else (lo, mid)
        return 0.5 * (lo + hi)

    @property
    def is_concave(self) -> bool:
        """No S-shape: the derivative never rises on ``[0, 10 k]`` (checked on a grid)."""
        d = self.derivative(float(self.params["k"]) * np.linspace(0.0, 10.0, 2001))
        d = d[np.isfinite(d)]
        return bool(np.all(np.diff(d) <= 1e-9 * float(np.max(np.abs(d)))))


def shape_from_dict(d: Mapping[str, Any]) -> Saturation:
    """Rebuild a truth shape or a registered family from ``{"lookup_name": ..., **params}``."""
    d = dict(d)
    name = d.pop("lookup_name", None)
    if name in SATURATIONS:
        return SATURATIONS[name](**d)
    if name not in TRUTH_SHAPES:
        raise ValueError(f"unknown shape {name!r}; known: {sorted(SATURATIONS) + sorted(TRUTH_SHAPES)}")
    return TRUTH_SHAPES[name](**d)


class Power(TruthShape):
    """``(min(a, k) / k)**p``: a power curve (``0 < p < 1``) that stops growing at ``k``."""

    lookup_name = "power"
    param_names = ("k", "p")

    def _check(self) -> None:
        if not (self.params["k"] > 0 and 0 < self.params["p"] <= 1):
            raise ValueError(f"power needs k > 0 and 0 < p <= 1, got {self.params}")

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        return np.asarray(np.minimum(_nonneg(a) / p["k"], 1.0) ** p["p"], dtype=float)

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        r = _nonneg(a) / p["k"]
        with np.errstate(divide="ignore"):
            d = p["p"] / p["k"] * np.where(r < 1.0, r, 1.0) ** (p["p"] - 1.0)
        return np.asarray(np.where(r < 1.0, d, 0.0), dtype=float)


class Kinked(TruthShape):
    """``a / k`` up to the knee ``k``, ``r`` times that slope after it; the knee rounded.

    ``(a - (1 - r) (u(a) - u(0))) / k`` with ``u(a) = h k softplus((a - k) / (h k))``: a small
    ``h`` gives a knee sharper than any family's, a large one a softer knee.  The value grows
    without bound when ``r > 0`` (it is not a share of a maximum).
    """

    lookup_name = "kinked"
    param_names = ("k", "h", "r")

    def _check(self) -> None:
        p = self.params
        if not (p["k"] > 0 and p["h"] > 0 and 0 <= p["r"] < 1):
            raise ValueError(f"kinked needs k > 0, h > 0 and 0 <= r < 1, got {p}")

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        a = _nonneg(a)
        k, hk, r = p["k"], p["h"] * p["k"], p["r"]
        u = hk * (np.logaddexp(0.0, (a - k) / hk) - np.logaddexp(0.0, -k / hk))
        return np.asarray((a - (1.0 - r) * u) / k, dtype=float)

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        a = _nonneg(a)
        k, hk, r = p["k"], p["h"] * p["k"], p["r"]
        sig = 0.5 * (1.0 + np.tanh(0.5 * (a - k) / hk))
        return np.asarray((1.0 - (1.0 - r) * sig) / k, dtype=float)


class Richards(TruthShape):
    """Generalised logistic ``G(a) = (1 + nu exp(-b (a / k - 1)))**(-1 / nu)``, from 0 to 1.

    ``(G(a) - G(0)) / (1 - G(0))``.  ``b`` sets how sharp the knee is (2 soft, 10 sharp), ``nu``
    its asymmetry; the curve is S-shaped when its steepest point lies above ``a = 0``.
    """

    lookup_name = "richards"
    param_names = ("k", "b", "nu")
    can_be_s_shaped = True

    def _check(self) -> None:
        p = self.params
        if not (p["k"] > 0 and 0 < p["b"] <= 30 and p["nu"] > 0):
            raise ValueError(f"richards needs k > 0, 0 < b <= 30 and nu > 0, got {p}")

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        b, nu = p["b"], p["nu"]
        g = (1.0 + nu * np.exp(-b * (_nonneg(a) / p["k"] - 1.0))) ** (-1.0 / nu)
        g0 = (1.0 + nu * np.exp(b)) ** (-1.0 / nu)
        return np.asarray((g - g0) / (1.0 - g0), dtype=float)

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        b, nu = p["b"], p["nu"]
        z = np.exp(-b * (_nonneg(a) / p["k"] - 1.0))
        g0 = (1.0 + nu * np.exp(b)) ** (-1.0 / nu)
        return np.asarray(b / p["k"] * z * (1.0 + nu * z) ** (-1.0 / nu - 1.0) / (1.0 - g0),
                          dtype=float)


class Mixture(TruthShape):
    """``w hill(a; k, s) + (1 - w) exponential(a; k2)``: two families at two scales."""

    lookup_name = "mixture"
    param_names = ("k", "s", "k2", "w")
    can_be_s_shaped = True

    def _check(self) -> None:
        p = self.params
        if not (p["k"] > 0 and p["s"] > 0 and p["k2"] > 0 and 0 < p["w"] < 1):
            raise ValueError(f"mixture needs k, s, k2 > 0 and 0 < w < 1, got {p}")

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        first = SATURATIONS["hill"].value_at({"k": p["k"], "s": p["s"]}, a)
        second = SATURATIONS["exponential"].value_at({"k": p["k2"]}, a)
        return np.asarray(p["w"] * first + (1.0 - p["w"]) * second, dtype=float)

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        first = SATURATIONS["hill"].derivative_at({"k": p["k"], "s": p["s"]}, a)
        second = SATURATIONS["exponential"].derivative_at({"k": p["k2"]}, a)
        return np.asarray(p["w"] * first + (1.0 - p["w"]) * second, dtype=float)


def draw_shape(rng: np.random.Generator, kind: str, a_ref: float) -> Saturation:
    """A saturation of ``kind`` (one of :data:`SHAPE_KINDS`) placed around ``a_ref``."""
    if kind == "family":
        return draw_saturation(rng, a_ref)
    if kind == "mixture":
        k = a_ref * float(np.exp(rng.uniform(np.log(0.3), np.log(1.5))))
        apart = float(np.exp(rng.choice([-1.0, 1.0]) * rng.uniform(np.log(3.0), np.log(12.0))))
        return Mixture(k=k, s=float(rng.uniform(0.6, 2.5)), k2=k * apart,
                       w=float(rng.uniform(0.3, 0.7)))
    if kind == "power":
        return Power(k=a_ref * float(rng.uniform(1.7, 4.0)), p=float(rng.uniform(0.25, 0.8)))
    if kind == "kinked":
        return Kinked(k=a_ref * float(np.exp(rng.uniform(np.log(0.6), np.log(1.7)))),
                      h=float(rng.uniform(0.02, 0.3)), r=float(rng.uniform(0.0, 0.3)))
    if kind == "richards":
        return Richards(k=a_ref * float(np.exp(rng.uniform(np.log(0.5), np.log(1.5)))),
                        b=float(rng.uniform(2.0, 10.0)),
                        nu=float(np.exp(rng.uniform(np.log(0.2), np.log(5.0)))))
    raise ValueError(f"unknown shape kind {kind!r}; known: {list(SHAPE_KINDS)}")


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class Process:
    """How a world is generated.

    Attributes
    ----------
    family : str
        Name of the process family (:data:`PROCESS_FAMILIES`), or any label.
    media_demand : float
        Share of the media effect that scales with demand: 0 added to the baseline, 1
        multiplied by the seasonal demand index.
    paced : bool
        Most channels (80 %) pace their spend to the season.
    n_weeks : int
        Length of the history.
    max_carryover : float
        Geometric adstock ``alpha`` is drawn in ``[0, max_carryover]``.
    shapes : tuple of str
        Saturation kinds drawn for the channels (:data:`SHAPE_KINDS`).
    level_shifts : int
        Each channel's baseline shifts level 0 .. ``level_shifts`` times.
    promotions : bool
        Promotion weeks (the same weeks each year) lift every baseline.
    promo_spend : bool
        Spend is pushed in promotion weeks too.
    noise : float
        Standard deviation of the multiplicative log-normal revenue noise.
    always_on : float
        Chance that a channel is always on: its spend never falls below 44 % of its mean.
    season_strength : float
        Scale of the yearly season in the log of demand: 1 gives seasons like the simulator's
        (about +-20 %), 3 peaks of 2-5 x the trough (a retail year).
    """

    family: str = "plain"
    media_demand: float = 0.0
    paced: bool = False
    n_weeks: int = 156
    max_carryover: float = 0.7
    shapes: tuple[str, ...] = ("family",)
    level_shifts: int = 1
    promotions: bool = False
    promo_spend: bool = False
    noise: float = 0.06
    always_on: float = 0.0
    season_strength: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.media_demand <= 1.0:
            raise ValueError(f"media_demand must lie in [0, 1], got {self.media_demand}")
        if self.n_weeks < 60:
            raise ValueError(f"n_weeks must be at least 60, got {self.n_weeks}")
        if not 0.0 <= self.max_carryover < 1.0:
            raise ValueError(f"max_carryover must lie in [0, 1), got {self.max_carryover}")
        unknown = [s for s in self.shapes if s not in SHAPE_KINDS]
        if unknown or not self.shapes:
            raise ValueError(f"shapes must be among {list(SHAPE_KINDS)}, got {list(self.shapes)}")
        if not (self.noise > 0 and 0.0 <= self.always_on <= 1.0 and self.level_shifts >= 0
                and self.season_strength > 0):
            raise ValueError("noise and season_strength must be > 0, always_on in [0, 1], "
                             "level_shifts >= 0")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shapes"] = list(self.shapes)
        return d


PROCESS_FAMILIES: dict[str, str] = {
    "plain": "media added to the baseline, registered families, spend not paced",
    "demand": "media effect scales with demand (share 0.5-1), seasons up to 3 x stronger",
    "paced": "spend paced to the season, seasons up to 3 x stronger",
    "paced_demand": "spend paced to the season and media scaling with demand, strong seasons",
    "mixture": "saturation a mixture of two families at two scales",
    "power": "capped power curves w**p, p < 1",
    "knee": "knees sharper or softer than any family's (kinked linear, generalised logistic)",
    "rough_baseline": "level shifts (up to 2) and promotion weeks, spend sometimes pushed in them",
    "always_on": "channels always on: spend never below 44 % of its mean",
    "wild": "every axis drawn",
}


def draw_process(rng: np.random.Generator, family: str) -> Process:
    """A process of ``family``: its defining axes fixed, the others drawn from ``rng``.

    Every family draws the history (104-208 weeks) and the noise (4-12 %); the carry-over
    reaches up to 0.7 everywhere.
    """
    if family not in PROCESS_FAMILIES:
        raise ValueError(f"unknown process family {family!r}; known: {list(PROCESS_FAMILIES)}")
    common: dict[str, Any] = {
        "family": family,
        "n_weeks": int(rng.integers(104, 209)),
        "noise": float(rng.uniform(0.04, 0.12)),
    }
    demand = float(rng.uniform(0.5, 1.0))
    strong = float(rng.uniform(1.0, 3.0))
    wild = {
        "media_demand": float(rng.choice([0.0, rng.uniform(0.0, 1.0), 1.0])),
        "paced": bool(rng.random() < 0.5),
        "shapes": SHAPE_KINDS,
        "level_shifts": int(rng.integers(0, 3)),
        "promotions": bool(rng.random() < 0.5),
        "promo_spend": bool(rng.random() < 0.5),
        "always_on": float(rng.choice([0.0, 0.5])),
        "season_strength": strong,
    }
    axes: dict[str, dict[str, Any]] = {
        "plain": {},
        "demand": {"media_demand": demand, "season_strength": strong},
        "paced": {"paced": True, "season_strength": strong},
        "paced_demand": {"paced": True, "media_demand": demand, "season_strength": strong},
        "mixture": {"shapes": ("mixture",)},
        "power": {"shapes": ("power",)},
        "knee": {"shapes": ("kinked", "richards")},
        "rough_baseline": {"level_shifts": 2, "promotions": True,
                           "promo_spend": bool(rng.random() < 0.5)},
        "always_on": {"always_on": 1.0},
        "wild": wild,
    }
    return Process(**common, **axes[family])


# --------------------------------------------------------------------------- worlds


@dataclass
class ProcessWorld(World):
    """A world drawn from a :class:`Process`: more level shifts, promotions, media scaling.

    Attributes
    ----------
    process : Process
        The process that generated the world.
    extra_shifts : dict
        Channel -> ``[(week, size), ...]``: level shifts after the one in its ``ChannelTruth``.
    promotions : list of dict
        ``week_of_year``, ``weeks`` and ``lift`` (share of the baseline) of each yearly promotion.
        A world with promotions has a text column ``promotion`` in its panel: the promotions
        running that week (``promo_1`` .. by their index here, joined by ``+`` when two
        overlap), empty otherwise; what a shop knows of its promotions in advance, read as a
        control (``read_panel(..., controls=["promotion"])``).
    """

    process: Process = field(default_factory=Process)
    extra_shifts: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    promotions: list[dict[str, float]] = field(default_factory=list)

    def _promo_weeks(self, t: ArrayLike) -> list[np.ndarray]:
        """Per promotion, whether it runs at each week index of ``t``."""
        pos = np.mod(np.asarray(t, dtype=float), WEEKS_PER_YEAR)
        return [((pos - p["week_of_year"]) % WEEKS_PER_YEAR) < p["weeks"] for p in self.promotions]

    def promo_lift(self, t: ArrayLike) -> FloatArray:
        """Share by which promotions lift the baseline at week indices ``t``."""
        out = np.zeros_like(np.asarray(t, dtype=float))
        for p, inside in zip(self.promotions, self._promo_weeks(t), strict=True):
            out += p["lift"] * inside
        return out

    def promotion_labels(self, t: ArrayLike) -> list[str]:
        """The promotions running at each week index of ``t``: ``promo_1`` .. (by index in
        :attr:`promotions`, joined by ``+`` when several run), ``""`` when none does."""
        runs = self._promo_weeks(t)
        n = len(np.asarray(t, dtype=float))
        return ["+".join(f"promo_{j + 1}" for j, r in enumerate(runs) if r[i]) for i in range(n)]

    def demand_index(self, t: ArrayLike) -> FloatArray:
        """Seasonal demand of each channel at week indices ``t``, t x channels; mean 1 over a year.

        ``exp(c s_t) / E_year[exp(c s)]`` with ``s_t`` the world's yearly season and ``c`` the
        channel's ``season_amp`` times the process's ``season_strength``.
        """
        c = self.process.season_strength * np.array(
            [self.channel_truth[ch].season_amp for ch in self.channels])
        year = yearly_season(np.linspace(0.0, WEEKS_PER_YEAR, 4096, endpoint=False),
                             self.season_params)
        norm = np.exp(np.outer(year, c)).mean(axis=0)
        s = yearly_season(np.asarray(t, dtype=float), self.season_params)
        return np.asarray(np.exp(np.outer(s, c)) / norm, dtype=float)

    def baseline_at(self, t: np.ndarray) -> FloatArray:
        """``level (1 + trend t / n + shifts) demand_t (1 + promotion lift_t)``, t x channels."""
        t = np.asarray(t, dtype=float)
        n = len(self.weeks)
        cols = []
        for c in self.channels:
            ch = self.channel_truth[c]
            shifts = ([] if ch.shift_week is None else [(ch.shift_week, ch.shift_size)]
                      ) + self.extra_shifts.get(c, [])
            b = 1.0 + ch.trend * t / n
            for week, size in shifts:
                b = b + size * (t >= week)
            cols.append(ch.level * b)
        base = np.column_stack(cols) * self.demand_index(t)
        if self.promotions:
            base *= 1.0 + self.promo_lift(t)[:, None]
        return np.maximum(base, 0.0)

    def media_scale(self, t: np.ndarray) -> FloatArray | None:
        """``1 - m + m demand_t`` per channel (None when ``m = 0``): mean 1 over a year."""
        m = self.process.media_demand
        if m == 0.0:
            return None
        return 1.0 - m + m * self.demand_index(t)


def _season(rng: np.random.Generator, n_weeks: int) -> dict[str, Any]:
    n_harm = int(rng.integers(1, 4))
    amps = rng.uniform(0.03, 0.2, n_harm) / np.arange(1, n_harm + 1) ** 0.5
    return {
        "amps": [float(a) for a in amps],
        "phases": [float(p) for p in rng.uniform(0, 2 * np.pi, n_harm)],
        "offset": 0.0,
        "n_weeks": n_weeks,
    }


def _promotions(rng: np.random.Generator) -> list[dict[str, float]]:
    n = int(rng.integers(3, 7))
    starts = np.sort(rng.uniform(0.0, WEEKS_PER_YEAR, n))
    return [{"week_of_year": float(s), "weeks": float(rng.integers(1, 3)),
             "lift": float(rng.uniform(0.15, 0.6))} for s in starts]


def _channel_spend(
    rng: np.random.Generator, process: Process, world: ProcessWorld, level: float, promo: FloatArray,
) -> tuple[FloatArray, str, bool, bool]:
    """Weekly spend of one channel: ``(spend, pattern, paced, always_on)``."""
    n = process.n_weeks
    always_on = bool(rng.random() < process.always_on)
    pool = tuple(p for p in SPEND_PATTERNS if p != "flighting") if always_on else SPEND_PATTERNS
    weights = np.array([PATTERN_WEIGHTS[SPEND_PATTERNS.index(p)] for p in pool])
    pattern = str(rng.choice(list(pool), p=weights / weights.sum()))
    paced = bool(process.paced and rng.random() < 0.8)
    season = world.season * process.season_strength if paced else None
    x = spend_path(rng, pattern, n, 1.0, season, 0.0 if always_on else 0.65)
    if process.promotions and process.promo_spend:
        x = x * (1.0 + float(rng.uniform(0.3, 1.0)) * (promo > 0))
    if always_on:
        x = ALWAYS_ON_FLOOR + (1.0 - ALWAYS_ON_FLOOR) * x / float(x.mean())
    x = level * x / float(x.mean())
    return np.round(x, 2), pattern, paced, always_on


def _channel(
    rng: np.random.Generator, name: str, process: Process, world: ProcessWorld, promo: FloatArray,
) -> tuple[FloatArray, ChannelTruth, list[tuple[int, float]], dict[str, Any]]:
    n = process.n_weeks
    level = float(10 ** rng.uniform(2.0, 5.0))
    x, pattern, paced, always_on = _channel_spend(rng, process, world, level, promo)
    adstock = Geometric(alpha=float(rng.uniform(0.0, process.max_carryover)))
    recent = float(x[-RECENT_WEEKS:].mean())
    a_ref = max(recent, 1e-9) * adstock.total_weight
    kind = str(process.shapes[int(rng.integers(len(process.shapes)))])
    sat = draw_shape(rng, kind, a_ref)
    roas = float(rng.uniform(0.8, 6.0))
    beta = roas * recent / float(sat.value(a_ref))
    vk = a_ref * float(np.exp(rng.uniform(np.log(0.3), np.log(2.5))))
    vsat = SATURATIONS["exponential" if rng.random() < 0.5 else "michaelis_menten"](k=vk)
    rpv = float(rng.uniform(0.5, 5.0))
    aov, new_share = float(rng.uniform(40.0, 150.0)), float(rng.uniform(0.15, 0.6))
    ratios = {
        "revenue_per_order": aov,
        "new_customers_per_revenue": new_share / aov,
        "new_customer_revenue_share": new_share * float(rng.uniform(0.8, 1.05)),
        "return_share": float(rng.uniform(0.02, 0.25)),
    }
    n_shifts = int(rng.integers(0, process.level_shifts + 1))
    weeks = np.sort(rng.choice(np.arange(n // 6, 5 * n // 6), size=n_shifts, replace=False))
    shifts = [(int(w), float(rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.3))) for w in weeks]
    truth = ChannelTruth(
        name=name, revenue=Component(beta, sat, adstock),
        visitors=Component(roas * recent / rpv / float(vsat.value(a_ref)), vsat, adstock),
        pattern=pattern, paced_to_season=paced, mean_spend=float(x.mean()),
        level=float(roas * recent * rng.uniform(0.2, 1.2)), trend=float(rng.uniform(-0.2, 0.3)),
        season_amp=float(rng.uniform(0.5, 1.5)),
        shift_week=shifts[0][0] if shifts else None, shift_size=shifts[0][1] if shifts else 0.0,
        visitors_per_revenue_base=1.0 / float(rng.uniform(0.5, 5.0)), ratios=ratios,
    )  # fmt: skip
    meta = {"shape_kind": kind, "always_on": always_on,
            "level_shifts": [{"week": w, "size": s} for w, s in shifts]}
    return x, truth, shifts[1:], meta


def draw_world(
    seed: int,
    process: Process | str | None = None,
    *,
    n_channels: int = 6,
    start: str = "2023-01-02",
) -> ProcessWorld:
    """Draw a world from a generating process.

    Parameters
    ----------
    seed : int
        Seed of every random draw; the same seed (and process) gives the same world.
    process : Process, str or None
        A process, the name of a process family (its other axes drawn from the seed), or
        None: the family too is drawn from the seed.
    n_channels : int, default 6
        Channels of the panel.
    start : str
        Monday of the first week.

    Examples
    --------
    >>> w = draw_world(3, "power", n_channels=2)
    >>> w.params["process"]["family"], w.truth[w.channels[0]].family
    ('power', 'power')
    """
    if n_channels < 1:
        raise ValueError("a world needs at least 1 channel")
    seq = np.random.SeedSequence([seed, 23])
    process_rng, world_rng = (np.random.default_rng(s) for s in seq.spawn(2))
    channel_rngs = [np.random.default_rng(s) for s in seq.spawn(n_channels)]
    if process is None:
        families = list(PROCESS_FAMILIES)
        process = families[int(process_rng.integers(len(families)))]
    if isinstance(process, str):
        process = draw_process(process_rng, process)
    n = process.n_weeks
    season = _season(world_rng, n)
    promotions = _promotions(world_rng) if process.promotions else []
    weeks = pd.date_range(pd.Timestamp(start), periods=n, freq="7D")
    t = np.arange(n, dtype=float)
    names = [CHANNEL_NAMES[i % len(CHANNEL_NAMES)]
             + (f"_{i // len(CHANNEL_NAMES) + 1}" if i >= len(CHANNEL_NAMES) else "")
             for i in range(n_channels)]
    world = ProcessWorld(
        seed=seed, weeks=weeks, channels=names, spend=pd.DataFrame(index=weeks),
        baseline=pd.DataFrame(index=weeks), noise=process.noise, seasonal_spend=process.paced,
        season=yearly_season(t, season), channel_truth={}, panel=pd.DataFrame(),
        truth=CurveSet([]), process=process, promotions=promotions,
        params={"season": season, "dark_share": 0.65, "process": process.to_dict(),
                "promotions": promotions},
    )  # fmt: skip
    promo = world.promo_lift(t)
    spend, channel_meta = {}, {}
    for name, rng in zip(names, channel_rngs, strict=True):
        spend[name], world.channel_truth[name], world.extra_shifts[name], channel_meta[name] = (
            _channel(rng, name, process, world, promo))
    world.spend = pd.DataFrame(spend, index=weeks)
    world.baseline = pd.DataFrame(world.baseline_at(t), index=weeks, columns=names)
    world.panel = panel_rows(world, channel_rngs)
    if promotions:  # the promotion calendar a shop knows in advance: a control of the fit
        label = dict(zip(weeks.strftime("%Y-%m-%d"), world.promotion_labels(t), strict=True))
        world.panel["promotion"] = world.panel["date"].map(label)
    world.truth = truth_curves(world)
    sim = world.truth.meta["simulation"]
    sim["process"] = process.to_dict()
    sim["promotions"] = promotions
    sim["baseline_model"] = ("level (1 + trend t / n_weeks + level shifts) demand_t (1 + promotion "
                             "lift_t), demand_t = exp(season_strength season_amp season_t) / "
                             "its yearly mean")
    sim["truth_meaning"] = ("steady-state weekly incremental revenue at a constant weekly spend, "
                            "averaged over a year")
    for name in names:
        sim["channels"][name].update(channel_meta[name])
    return world
