"""Breakpoints and piecewise-linear pieces that bound a channel's value from both sides.

This module knows callables and arrays only.  A channel's period value ``V(x)`` and period
revenue ``R(x)`` are given on a box ``[lo, hi]`` by vectorised functions (rows are channels);
revenue is convex below one inflection point and concave above it (an S-shape), or concave
throughout.  Every other outcome (net margin, new customers) is ``k * R(x) - f * x``, so the
tangents of all outcomes at two breakpoints cross at the same spend ``z``.

Between two breakpoints ``a < b`` each outcome is bounded by two pieces split at ``z``:

* where the outcome is concave, the chord lies below it (inner, achievable) and the two
  tangents above it (outer);
* where it is convex, the two tangents lie below it and the chord above it.

The *lower* pieces use the inner bound of every outcome, the *upper* pieces the outer one.
A plan optimised on the lower pieces meets every target on the true curves; no plan can beat
the optimum on the upper pieces.  Breakpoints are placed where the optimum is expected
(:func:`price_points`) and refined around each solution (:func:`refine`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
Fn = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class Outcome:
    """Values and slopes of one outcome at the breakpoints, shape ``(N, K)``."""

    value: FloatArray
    slope: FloatArray


@dataclass(frozen=True)
class Pieces:
    """Piecewise-linear functions of all channels, flat over pieces (CSR-like).

    Piece ``i`` belongs to channel ``channel[i]``, has length ``length[i]`` and the slopes
    ``slopes[name][i]`` of each outcome; channel ``c``'s function is
    ``offset[name][c] + sum of slope * filled length`` over its pieces filled in order, from
    spend ``lower[c]``.  ``ordered[i]`` marks pieces whose filling order needs binaries.
    """

    channel: NDArray[np.intp]
    length: FloatArray
    slopes: dict[str, FloatArray]
    offset: dict[str, FloatArray]
    ordered: NDArray[np.bool_]

    @property
    def n_pieces(self) -> int:
        return len(self.length)

    def evaluate(self, name: str, x: FloatArray, lower: FloatArray) -> FloatArray:
        """The piecewise function of outcome ``name`` at spends ``x``, filled in order."""
        excl = np.cumsum(self.length) - self.length
        first = np.r_[True, self.channel[1:] != self.channel[:-1]]
        start = excl - np.maximum.accumulate(np.where(first, excl, 0.0))
        fill = np.clip((x - lower)[self.channel] - start, 0.0, self.length)
        out = self.offset[name].copy()
        np.add.at(out, self.channel, self.slopes[name] * fill)
        return out


def _tangent_split(
    h: FloatArray, chord: FloatArray, ga: FloatArray, gb: FloatArray
) -> FloatArray:
    """Share ``t`` of a segment before the crossing of the tangents at its two ends."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (chord - gb) / (ga - gb)
    t = np.where(np.isinf(ga), 0.0, t)
    t = np.where(np.isinf(gb), 1.0, t)
    t = np.where(np.isfinite(t), t, 0.5)
    return np.clip(t, 0.0, 1.0)


def build(
    bp: FloatArray,
    outcomes: dict[str, tuple[Outcome, NDArray[np.bool_]]],
    split_by: str,
    inflection: FloatArray,
    ordered_channels: NDArray[np.bool_],
) -> tuple[Pieces, Pieces]:
    """Lower and upper pieces of every outcome on the breakpoints ``bp`` (sorted rows).

    Parameters
    ----------
    bp : ndarray (N, K)
        Breakpoints per channel, sorted; repeated points give empty segments (dropped).
    outcomes : dict
        name -> (values and slopes at ``bp``, ``flip`` (N,) bool: the outcome is ``-`` a
        multiple of revenue, so its curvature is the opposite of revenue's).
    split_by : str
        The outcome whose tangents define the split point ``z`` (revenue).
    inflection : ndarray (N,)
        Spend below which revenue is convex (``lo`` for concave revenue).
    ordered_channels : ndarray (N,) bool
        Channels whose pieces may need to be filled in order (non-concave somewhere).
    """
    n, k = bp.shape
    a, b = bp[:, :-1], bp[:, 1:]
    h = b - a
    ref = outcomes[split_by][0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rchord = np.where(h > 0, (ref.value[:, 1:] - ref.value[:, :-1]) / h, ref.slope[:, :-1])
    t = _tangent_split(h, rchord, ref.slope[:, :-1], ref.slope[:, 1:])
    convex_r = b <= inflection[:, None] * (1.0 + 1e-12)
    lengths = np.stack([t * h, (1.0 - t) * h], axis=2).reshape(n, 2 * (k - 1))
    keep = lengths > 0
    chan = np.repeat(np.arange(n), 2 * (k - 1)).reshape(n, -1)[keep]
    lo_s: dict[str, FloatArray] = {}
    up_s: dict[str, FloatArray] = {}
    lo_off: dict[str, FloatArray] = {}
    up_off: dict[str, FloatArray] = {}
    for name, (o, flip) in outcomes.items():
        va, vb = o.value[:, :-1], o.value[:, 1:]
        ga, gb = o.slope[:, :-1], o.slope[:, 1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            chord = np.where(h > 0, (vb - va) / h, 0.0)
        convex = convex_r ^ flip[:, None]
        tang = np.stack([ga, gb], axis=2)
        chords = np.stack([chord, chord], axis=2)
        # a tangent of infinite slope at the first breakpoint (x = 0) covers an empty piece;
        # the function then starts from the other tangent's value there
        tang = np.where(np.isfinite(tang), tang, 0.0)
        lower = np.where(convex[:, :, None], tang, chords).reshape(n, -1)
        upper = np.where(convex[:, :, None], chords, tang).reshape(n, -1)
        lo_s[name], up_s[name] = lower[keep], upper[keep]
        other = o.value[:, 1] - np.where(np.isfinite(o.slope[:, 1]), o.slope[:, 1], 0.0) * h[:, 0]
        inf0 = ~np.isfinite(o.slope[:, 0])
        lo_off[name] = np.where(inf0 & convex[:, 0], other, o.value[:, 0])
        up_off[name] = np.where(inf0 & ~convex[:, 0], other, o.value[:, 0])
    ordered = ordered_channels[chan]
    lower_p = _merge(Pieces(chan, lengths[keep], lo_s, lo_off, ordered))
    upper_p = _merge(Pieces(chan, lengths[keep], up_s, up_off, ordered))
    return lower_p, upper_p


def _merge(p: Pieces) -> Pieces:
    """Join neighbouring pieces of a channel whose slopes are all equal."""
    if p.n_pieces < 2:
        return p
    same = p.channel[1:] == p.channel[:-1]
    for s in p.slopes.values():
        same &= s[1:] == s[:-1]
    start = np.r_[True, ~same]
    idx = np.flatnonzero(start)
    return Pieces(
        channel=p.channel[idx],
        length=np.add.reduceat(p.length, idx),
        slopes={k: v[idx] for k, v in p.slopes.items()},
        offset=p.offset,
        ordered=p.ordered[idx],
    )


def binary_prefix(p: Pieces, names: tuple[str, ...]) -> NDArray[np.intp]:
    """For each piece of an ordered channel, its position in the prefix that needs binaries.

    Returns ``J`` per piece: pieces ``0..J`` of a channel (``J = -1``: none) must be filled in
    order because some outcome's slope rises somewhere up to piece ``J + 1``; after it the
    slopes of every outcome only fall, and filling in order is optimal anyway.
    """
    n = p.n_pieces
    rises = np.zeros(n, dtype=bool)
    same = np.r_[False, p.channel[1:] == p.channel[:-1]]
    for name in names:
        s = p.slopes[name]
        prev = np.r_[np.inf, s[:-1]]
        rises |= same & (s > prev + 1e-12 * np.maximum(np.abs(prev), 1.0))
    rises &= p.ordered
    pos = np.arange(n) - np.maximum.accumulate(np.where(~same, np.arange(n), 0))
    last = np.full(int(p.channel.max()) + 1 if n else 0, -1, dtype=np.intp)
    np.maximum.at(last, p.channel[rises], pos[rises])
    return last


def _cells(S: FloatArray, level: FloatArray) -> tuple[NDArray[np.intp], FloatArray]:
    """Per row of a falling table ``S``: the cell where it crosses ``level``, and the fraction.

    Returns ``(j, frac)`` with the crossing at ``j + frac`` in grid units (0 .. grid-1).
    """
    grid = S.shape[1]
    cnt = np.count_nonzero(S >= level[:, None], axis=1)
    jj = np.clip(cnt, 1, grid - 1)
    rows = np.arange(len(S))
    s0 = S[rows, jj - 1]
    s1 = S[rows, jj]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(s0 > s1, (s0 - level) / (s0 - s1), 0.0)
    frac = np.clip(np.where(np.isfinite(frac), frac, 0.0), 0.0, 1.0)
    pos = np.where(cnt == 0, 0.0, np.where(cnt == grid, grid - 1.0, jj - 1 + frac))
    j = np.clip(np.floor(pos).astype(np.intp), 0, grid - 2)
    return j, pos - j


def _falling_table(slope: Fn, a: FloatArray, b: FloatArray, u: FloatArray) -> FloatArray:
    S = np.asarray(slope(a[:, None] + (b - a)[:, None] * u[None, :]), dtype=float)
    finite = np.isfinite(S)
    if not finite.all():
        big = np.max(np.abs(np.where(finite, S, 0.0))) * 10.0 + 1.0
        S = np.where(finite, S, np.where(S > 0, big, -big))
    return np.minimum.accumulate(S, axis=1)  # a marginal that only falls (noise, S-shapes)


def _price(spend: Callable[[float], float], lo_l: float, hi_l: float, budget: float,
           guess: float | None = None) -> float:
    """The level at which the falling ``spend(level)`` meets ``budget`` on ``[lo_l, hi_l]``.

    Regula falsi with the Illinois step (the end that stays twice has its value halved): the
    spends are piecewise linear in the level, so it ends in a few evaluations where bisection
    needs 48, each a pass over every channel's table.  Stops at a relative 1e-11 of the
    budget or at the width 48 halvings reach; the end of the bracket when the budget is out
    of its reach.  A ``guess`` (the price of a coarser table) starts a narrow bracket around
    it, widened until it holds the price or reaches the ends.
    """
    if guess is not None and lo_l < guess < hi_l:
        half = 1e-6 * max(abs(guess), 1e-12)
        while True:
            a, b = max(guess - half, lo_l), min(guess + half, hi_l)
            ga, gb = spend(a) - budget, spend(b) - budget
            if (ga > 0.0 or a <= lo_l) and (gb <= 0.0 or b >= hi_l):
                lo_l, hi_l = a, b
                break
            half *= 16.0
    else:
        ga = spend(lo_l) - budget
        gb = spend(hi_l) - budget
    if ga <= 0.0:  # even the lowest level spends no more than the budget
        return lo_l
    if gb > 0.0:
        return hi_l
    width = (hi_l - lo_l) * 2.0 ** -48
    tol = 1e-11 * max(abs(budget), 1.0)
    side = 0
    m = 0.5 * (lo_l + hi_l)
    for _ in range(60):
        m = hi_l - gb * (hi_l - lo_l) / (gb - ga) if gb != ga else 0.5 * (lo_l + hi_l)
        if not lo_l < m < hi_l:
            m = 0.5 * (lo_l + hi_l)
        gm = spend(m) - budget
        if abs(gm) <= tol:
            return m
        if gm > 0.0:
            lo_l, ga = m, gm
            if side == -1:
                gb *= 0.5
            side = -1
        else:
            hi_l, gb = m, gm
            if side == 1:
                ga *= 0.5
            side = 1
        if hi_l - lo_l <= width:
            break
    return 0.5 * (lo_l + hi_l)


def price_points(
    slope: Fn, lo: FloatArray, hi: FloatArray, budget: float, *, floor: float | None = None,
    grid: int = 65, rounds: int = 4, keep: tuple[int, ...] = (),
) -> tuple[float, list[FloatArray]]:
    """Estimate the budget's price and the spends where each marginal falls to it.

    The marginal of every channel is tabulated on ``grid`` points of a bracket; the price
    ``lam`` at which the interpolated spends add up to ``budget`` is found by bisection; each
    bracket then shrinks to the grid cells around its channel's spend, and the table is
    evaluated again (``rounds`` evaluations of ``slope`` in all).  Returns the price and
    breakpoints: the spends at the price and the ends of the brackets of rounds ``keep``,
    dense around the expected optimum.  ``floor`` bounds the price from below (0 when the budget
    may be left unspent).  An estimate for placing breakpoints, not part of any bound.
    """
    u = np.linspace(0.0, 1.0, grid)
    a, b = lo.copy(), hi.copy()
    points: list[FloatArray] = []
    lam = 0.0
    for r in range(rounds):
        S = _falling_table(slope, a, b, u)

        def spend(level: float, S: FloatArray = S, a: FloatArray = a, b: FloatArray = b) -> float:
            j, frac = _cells(S, np.full(len(a), level))
            return float(np.sum(a + (b - a) * (j + frac) / (grid - 1)))

        lam = _price(spend, float(np.min(S)) - 1.0, float(np.max(S)) + 1.0, budget,
                     guess=lam if r > 0 else None)
        if floor is not None:
            lam = max(lam, floor)
        j, frac = _cells(S, np.full(len(a), lam))
        x = a + (b - a) * (j + frac) / (grid - 1)
        if r == rounds - 1:
            points.append(x)
            break
        na = a + (b - a) * np.maximum(j - 1, 0) / (grid - 1)
        nb = a + (b - a) * np.minimum(j + 2, grid - 1) / (grid - 1)
        a, b = na, nb
        if r in keep:
            points += [a, b]
    return lam, points


def stationary_points(
    slope: Fn, lo: FloatArray, hi: FloatArray, price: FloatArray | float, *, grid: int = 65,
    rounds: int = 4,
) -> FloatArray:
    """Where a falling marginal ``slope`` meets ``price`` on ``[lo, hi]`` (zooming tables)."""
    level = np.broadcast_to(np.asarray(price, dtype=float), lo.shape).copy()
    u = np.linspace(0.0, 1.0, grid)
    a, b = lo.copy(), hi.copy()
    for _ in range(rounds):
        S = _falling_table(slope, a, b, u)
        j, frac = _cells(S, level)
        x = a + (b - a) * (j + frac) / (grid - 1)
        a, b = a + (b - a) * j / (grid - 1), a + (b - a) * (j + 1) / (grid - 1)
    return x


def inflection_points(slope: Fn, lo: FloatArray, hi: FloatArray, mask: NDArray[np.bool_],
                      *, grid: int = 65, rounds: int = 6) -> FloatArray:
    """Spend of the highest marginal revenue on ``[lo, hi]``: the S-shape's inflection.

    The marginal is unimodal (rising, then falling); each table evaluation narrows the bracket
    around its maximum to two grid cells.  ``lo`` where ``mask`` is False.
    """
    if not mask.any():
        return lo.copy()
    u = np.linspace(0.0, 1.0, grid)
    a, b = lo.copy(), hi.copy()
    for _ in range(rounds):
        S = np.asarray(slope(a[:, None] + (b - a)[:, None] * u[None, :]), dtype=float)
        j = np.argmax(np.where(np.isfinite(S), S, -np.inf), axis=1)
        a, b = (a + (b - a) * np.maximum(j - 1, 0) / (grid - 1),
                a + (b - a) * np.minimum(j + 1, grid - 1) / (grid - 1))
    p = 0.5 * (a + b)
    p = np.where(a <= lo, np.where(b <= lo, lo, p), p)
    return np.where(mask, np.clip(p, lo, hi), lo)


def merge_points(bp: FloatArray, new: FloatArray) -> FloatArray:
    """Add columns of new breakpoints (NaN: none) and sort each row; duplicates collapse."""
    hi = bp[:, -1:]
    new = np.where(np.isnan(new), hi, new)
    allp = np.sort(np.concatenate([bp, new], axis=1), axis=1)
    # push repeats to the end (as copies of the upper end) and drop columns that are all copies
    rep = np.zeros_like(allp, dtype=bool)
    rep[:, 1:] = allp[:, 1:] <= allp[:, :-1]
    allp = np.where(rep, np.inf, allp)
    allp = np.sort(allp, axis=1)
    allp = np.where(np.isinf(allp), hi, allp)
    width = int(np.max(np.sum(~rep, axis=1)))
    return allp[:, : max(width, 2)]
