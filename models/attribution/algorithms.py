"""The data-driven attribution models: Markov-chain removal effects and Shapley values.

Plain functions on arrays, used by :mod:`models.attribution` and usable on their own.

* :func:`markov_removal_effects` fits a Markov chain of order ``k`` to customer paths (states
  are the last ``k`` channels seen; ``start``, ``conversion`` and ``null`` close the chain) and
  returns, for each channel, the share of the probability of converting that disappears when
  the channel is removed (every transition into a state that holds it goes to ``null``).  The
  probabilities are solved exactly from the absorbing chain, not simulated.
* :func:`set_values` and :func:`shapley_of_set` split the credit of one journey among its
  channels by their Shapley values in the game whose value of a channel set is its observed
  conversion rate (made monotone: a set is worth the best rate observed on any set inside it,
  and the empty set is worth 0).  Exact up to ``max_exact`` channels in a journey, sampled by
  random permutations beyond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from roiste.models.errors import RoisteError

__all__ = [
    "MarkovEffects",
    "balance",
    "markov_effects",
    "markov_removal_effects",
    "paths_to_arrays",
    "set_values",
    "shapley_of_set",
    "unique_inverse",
    "unique_sorted",
]

IntArray = np.ndarray
FloatArray = np.ndarray


def unique_sorted(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (a plain sort: faster than ``np.unique`` on large int arrays)."""
    s = np.sort(a)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def unique_inverse(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and the index of each element among them."""
    u = unique_sorted(a)
    return u, np.searchsorted(u, a)


def paths_to_arrays(
    paths: Sequence[Sequence[str]],
) -> tuple[IntArray, IntArray, list[str]]:
    """Turn paths of channel names into the flat arrays the models take.

    Parameters
    ----------
    paths : sequence of sequences of str
        One sequence of channel names per path, in the order of the touches; none empty.

    Returns
    -------
    path_index : ndarray of int64
        The path of each touch (``0 .. len(paths) - 1``, non-decreasing).
    channel : ndarray of int64
        The channel of each touch, an index into ``names``.
    names : list of str
        The channels, sorted.

    Examples
    --------
    >>> paths_to_arrays([["b", "a"], ["a"]])
    (array([0, 0, 1]), array([1, 0, 0]), ['a', 'b'])
    """
    names = sorted({c for p in paths for c in p})
    code = {c: i for i, c in enumerate(names)}
    lengths = [len(p) for p in paths]
    if any(n == 0 for n in lengths):
        raise RoisteError(f"path {lengths.index(0)} holds no channel")
    path_index = np.repeat(np.arange(len(paths), dtype=np.int64), lengths)
    channel = np.fromiter((code[c] for p in paths for c in p), dtype=np.int64, count=sum(lengths))
    return path_index, channel, names


def _states(path_index: IntArray, channel: IntArray, n_channels: int, order: int) -> IntArray:
    """Key of the state after each touch: the last ``order`` channels, most recent first."""
    base = n_channels + 1
    if order < 1 or base ** order >= 2**62:
        raise RoisteError(f"markov order {order} is out of range for {n_channels} channels")
    n = len(channel)
    key = np.zeros(n, dtype=np.int64)
    for j in range(order):
        shifted = np.full(n, -1, dtype=np.int64)
        if j < n:
            same = path_index[j:] == path_index[: n - j]
            shifted[j:] = np.where(same, channel[: n - j], -1)
        key += (shifted + 1) * base**j
    return key


@dataclass(frozen=True)
class MarkovEffects:
    """What a fitted Markov chain says about each channel.

    Attributes
    ----------
    p_conversion : float
        Probability that a journey converts under the fitted chain.
    conversion : ndarray of float, shape (n_channels,)
        Removal effect on conversions: ``1 - P(conversion without the channel) / P(conversion)``,
        the share of converting journeys of the chain that pass through the channel.
    value : ndarray of float, shape (n_channels,)
        Removal effect on value: the share of the chain's expected converted value carried by
        journeys that pass through the channel, each conversion worth the mean value per
        conversion of the observed journeys that end in the same state.
    """

    p_conversion: float
    conversion: FloatArray
    value: FloatArray

    def shares(self, *, by_value: bool = False) -> FloatArray:
        """Removal effects normalised to add up to 1 (all zeros when every effect is 0)."""
        e = self.value if by_value else self.conversion
        total = float(e.sum())
        return e / total if total > 0 else np.zeros_like(e)


def markov_removal_effects(
    path_index: IntArray,
    channel: IntArray,
    n_channels: int,
    conversions: FloatArray,
    nulls: FloatArray,
    *,
    order: int = 1,
) -> tuple[float, FloatArray]:
    """Probability of conversion and each channel's removal effect in a Markov-chain model.

    Parameters
    ----------
    path_index : ndarray of int
        The path of each touch, non-decreasing, touches of a path in their order.
    channel : ndarray of int
        The channel of each touch, in ``0 .. n_channels - 1``.
    n_channels : int
        Number of channels.
    conversions, nulls : ndarray of float
        Per path: how many journeys took it and converted, and how many did not.
    order : int, default 1
        Order of the chain (the number of most recent channels a state remembers).

    Returns
    -------
    p_conversion : float
        Probability that a journey converts under the fitted chain.
    removal_effects : ndarray of float, shape (n_channels,)
        ``1 - P(conversion without the channel) / P(conversion)``; 0 for a channel never seen.

    Examples
    --------
    >>> pi, ch, names = paths_to_arrays([["a", "b"], ["b"]])
    >>> p, re = markov_removal_effects(pi, ch, 2, np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    >>> round(p, 3), re.round(3).tolist()
    (0.5, [0.5, 1.0])
    """
    fx = markov_effects(path_index, channel, n_channels, conversions, nulls, order=order)
    return fx.p_conversion, fx.conversion


def markov_effects(
    path_index: IntArray,
    channel: IntArray,
    n_channels: int,
    conversions: FloatArray,
    nulls: FloatArray,
    *,
    values: FloatArray | None = None,
    order: int = 1,
) -> MarkovEffects:
    """Removal effects of every channel on conversions and on converted value.

    The chain is solved exactly (an absorbing chain: one sparse solve with all states and one
    per channel without the states that hold it), not simulated.  The shares of these effects
    times the total conversions (value) are what ChannelAttribution's ``markov_model`` reports
    as ``total_conversions`` (``total_conversion_value``), up to its simulation noise.

    Parameters
    ----------
    path_index, channel, n_channels, conversions, nulls, order
        As in :func:`markov_removal_effects`.
    values : ndarray of float, optional
        Per path: the value its conversions brought (0 for a path that did not convert).
        Without it every conversion is worth 1 and ``value`` equals ``conversion``.

    Returns
    -------
    MarkovEffects
    """
    path_index = np.asarray(path_index, dtype=np.int64)
    channel = np.asarray(channel, dtype=np.int64)
    conversions = np.asarray(conversions, dtype=float)
    nulls = np.asarray(nulls, dtype=float)
    vals = conversions if values is None else np.asarray(values, dtype=float)
    n_paths = len(conversions)
    if len(channel) == 0 or n_paths == 0:
        return MarkovEffects(0.0, np.zeros(n_channels), np.zeros(n_channels))
    weight = conversions + nulls
    keys = _states(path_index, channel, n_channels, order)
    uniq, state = unique_inverse(keys)
    n_states = len(uniq)
    first = np.r_[True, path_index[1:] != path_index[:-1]]
    last = np.r_[path_index[1:] != path_index[:-1], True]
    # transitions between transient states, weighted by how many journeys took the path
    inner = ~first
    src = state[np.flatnonzero(inner) - 1]
    dst = state[inner]
    w_inner = weight[path_index[inner]]
    out_conv = np.bincount(state[last], weights=conversions[path_index[last]], minlength=n_states)
    out_null = np.bincount(state[last], weights=nulls[path_index[last]], minlength=n_states)
    out_value = np.bincount(state[last], weights=vals[path_index[last]], minlength=n_states)
    # a conversion that leaves a state is worth the mean value per conversion leaving it
    per_conv = np.where(out_conv > 0, out_value / np.where(out_conv > 0, out_conv, 1.0), 0.0)
    out_total = np.bincount(src, weights=w_inner, minlength=n_states) + out_conv + out_null
    out_total = np.where(out_total > 0, out_total, 1.0)
    q = sp.csr_matrix((w_inner / out_total[src], (src, dst)), shape=(n_states, n_states))
    r = out_conv / out_total
    start = np.bincount(state[first], weights=weight[path_index[first]], minlength=n_states)
    start = start / start.sum()
    # which channels each state holds: decode its digits
    base = n_channels + 1
    holds = np.zeros((n_states, n_channels), dtype=bool)
    rest = uniq.copy()
    for _ in range(order):
        digit = rest % base
        rows = np.flatnonzero(digit > 0)
        holds[rows, digit[rows] - 1] = True
        rest //= base

    def absorbed(keep: np.ndarray) -> tuple[float, float]:
        """P(conversion) and expected converted value with only the ``keep`` states."""
        idx = np.flatnonzero(keep)
        if len(idx) == 0:
            return 0.0, 0.0
        # expected visits to each state: solve (I - Q)^T y = start
        sub = (sp.identity(len(idx), format="csc") - q[idx][:, idx].tocsc()).T.tocsc()
        if len(idx) > 1:
            y = np.atleast_1d(spla.spsolve(sub, start[idx]))
        else:
            y = start[idx] / sub.toarray()[0]
        conv = y * r[idx]
        return float(conv.sum()), float(np.dot(conv, per_conv[idx]))

    p_all, v_all = absorbed(np.ones(n_states, dtype=bool))
    effects = np.zeros(n_channels)
    v_effects = np.zeros(n_channels)
    if p_all <= 0:
        return MarkovEffects(0.0, effects, v_effects)
    seen = holds.any(axis=0)
    for c in np.flatnonzero(seen):
        p_c, v_c = absorbed(~holds[:, c])
        effects[c] = 1.0 - p_c / p_all
        v_effects[c] = 1.0 - v_c / v_all if v_all > 0 else 0.0
    return MarkovEffects(p_all, np.clip(effects, 0.0, 1.0), np.clip(v_effects, 0.0, 1.0))


def balance(
    row: IntArray,
    col: IntArray,
    weight: FloatArray,
    row_totals: FloatArray,
    col_totals: FloatArray,
    *,
    tol: float = 1e-10,
    max_iter: int = 5000,
) -> tuple[FloatArray, float]:
    """Scale a sparse table of weights to given row and column sums (iterative proportional fitting).

    Entries stay where they are (a zero stays zero); among the tables with the row sums and
    the column sums asked for, the result is the one closest to ``weight`` in relative entropy.

    Parameters
    ----------
    row, col : ndarray of int
        Row and column of each entry.
    weight : ndarray of float
        Starting weight of each entry (non-negative).
    row_totals, col_totals : ndarray of float
        The sums asked for (their totals should agree).
    tol : float, default 1e-10
        Stop when every column sum is within ``tol`` (relative to the grand total) of its target.
    max_iter : int, default 5000
        Stop after this many sweeps when no table has these sums.

    Returns
    -------
    amounts : ndarray of float
        One per entry; each row adds up to its total exactly (up to rounding).
    gap : float
        Largest distance of a column sum from its target, relative to the grand total.

    Examples
    --------
    >>> a, gap = balance(np.array([0, 0, 1]), np.array([0, 1, 1]), np.ones(3),
    ...                  np.array([2.0, 1.0]), np.array([1.0, 2.0]))
    >>> a.round(6).tolist(), gap < 1e-9
    ([1.0, 1.0, 1.0], True)
    """
    row = np.asarray(row, dtype=np.int64)
    col = np.asarray(col, dtype=np.int64)
    x = np.asarray(weight, dtype=float).copy()
    row_totals = np.asarray(row_totals, dtype=float)
    col_totals = np.asarray(col_totals, dtype=float)
    n_r, n_c = len(row_totals), len(col_totals)
    grand = max(float(row_totals.sum()), 1e-300)

    def fit_rows(x: np.ndarray) -> np.ndarray:
        s = np.bincount(row, weights=x, minlength=n_r)
        return x * np.where(s > 0, row_totals / np.where(s > 0, s, 1.0), 0.0)[row]

    x = fit_rows(x)
    gap = np.inf
    for _ in range(max_iter):
        s = np.bincount(col, weights=x, minlength=n_c)
        gap = float(np.abs(s - col_totals).max()) / grand if n_c else 0.0
        if gap <= tol:
            break
        x = fit_rows(x * np.where(s > 0, col_totals / np.where(s > 0, s, 1.0), 0.0)[col])
    s = np.bincount(col, weights=x, minlength=n_c)
    gap = float(np.abs(s - col_totals).max()) / grand if n_c else 0.0
    return x, gap


def set_values(members: IntArray, masks: IntArray, rates: FloatArray) -> FloatArray:
    """Monotone value of every subset of ``members``, indexed by a local bit mask.

    Parameters
    ----------
    members : ndarray of int
        The channels of the journey (distinct codes below 63).
    masks : ndarray of int64
        Sorted bit masks of the channel sets observed in the data.
    rates : ndarray of float
        Conversion rate of each observed set.

    Returns
    -------
    ndarray of float, shape (2 ** len(members),)
        Entry ``m`` is the value of the subset whose local bits are set in ``m``: the highest
        rate observed on any set inside it (0 for the empty set and when none is observed).
    """
    s = len(members)
    local = np.arange(1 << s, dtype=np.int64)
    glob = np.zeros(1 << s, dtype=np.int64)
    for j, c in enumerate(members):
        glob |= np.where((local >> j) & 1 == 1, np.int64(1) << np.int64(c), 0)
    pos = np.searchsorted(masks, glob)
    pos_ok = np.minimum(pos, len(masks) - 1)
    found = (pos < len(masks)) & (masks[pos_ok] == glob)
    value = np.where(found, rates[pos_ok], 0.0)
    value[0] = 0.0
    for j in range(s):
        has = ((local >> j) & 1) == 1
        value[has] = np.maximum(value[has], value[local[has] ^ (1 << j)])
    return value


def _best_inside(glob: IntArray, masks: IntArray, rates: FloatArray) -> FloatArray:
    """Highest observed rate among the sets inside each mask of ``glob`` (0 when none)."""
    out = np.zeros(len(glob))
    for m, r in zip(masks.tolist(), rates.tolist(), strict=True):
        inside = (glob & m) == m
        out = np.where(inside & (r > out), r, out)
    return out


def shapley_of_set(
    members: IntArray,
    masks: IntArray,
    rates: FloatArray,
    *,
    max_exact: int = 15,
    samples: int = 2000,
    seed: int = 0,
) -> FloatArray:
    """Shapley value of each channel of one journey in the conversion-rate game.

    Parameters
    ----------
    members : ndarray of int
        The distinct channels of the journey (codes below 63).
    masks, rates : ndarray
        Observed channel sets (sorted bit masks) and their conversion rates.
    max_exact : int, default 15
        Journeys with at most this many channels get exact values (``2 ** n`` subsets).
    samples : int, default 2000
        Random orderings of the channels drawn for longer journeys.
    seed : int, default 0
        Seed of those orderings.

    Returns
    -------
    ndarray of float, shape (len(members),)
        Non-negative values that add up to the value of the whole set.

    Examples
    --------
    >>> masks = np.array([0b01, 0b10, 0b11]); rates = np.array([0.1, 0.2, 0.4])
    >>> shapley_of_set(np.array([0, 1]), masks, rates).round(3).tolist()
    [0.15, 0.25]
    """
    members = np.asarray(members, dtype=np.int64)
    s = len(members)
    if s == 0:
        return np.zeros(0)
    if s <= max_exact:
        value = set_values(members, masks, rates)
        local = np.arange(1 << s, dtype=np.int64)
        size = np.zeros(1 << s, dtype=np.int64)
        for j in range(s):
            size += (local >> j) & 1
        coef = np.array([math.factorial(k) * math.factorial(s - k - 1) / math.factorial(s)
                         for k in range(s)])
        phi = np.empty(s)
        for j in range(s):
            without = local[((local >> j) & 1) == 0]
            phi[j] = float(np.sum(coef[size[without]] * (value[without | (1 << j)] - value[without])))
        return phi
    # sampled: marginal contributions along random orderings of the members
    rng = np.random.default_rng(seed)
    bits = np.int64(1) << members
    inside_set = (masks & bits.sum()) == masks
    masks, rates = masks[inside_set], rates[inside_set]
    order = np.argsort(rng.random((samples, s)), axis=1)
    prefix = np.cumsum(bits[order], axis=1)
    value = _best_inside(prefix.ravel(), masks, rates).reshape(samples, s)
    gain = np.diff(np.c_[np.zeros(samples), value], axis=1)
    phi = np.zeros(s)
    np.add.at(phi, order.ravel(), gain.ravel())
    return phi / samples
