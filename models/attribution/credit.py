"""Multi-touch attribution: touchpoint paths in, revenue credited per week and channel out.

A conversion's **journey** is the touches of its customer at or before the conversion, after
the customer's previous conversion, and no older than the rule's lookback window.  Touches
after a conversion never count for it.  A conversion with no touch in its journey is credited
to the channel ``"(direct)"``.  Several orders of one customer at the same instant share one
journey.  The touches of a customer after their last conversion form a journey that did not
convert (its lookback counts back from its last touch); only the data-driven rules use those.

Rules (DESIGN.md names): ``last-click``, ``first-click``, ``linear``, ``position-based``
(``weights`` for first, middle, last; default 0.4, 0.2, 0.4; with no middle touch the first
and last share in proportion), ``time-decay`` (weight ``2 ** (-age / half_life_days)``, the
age counted back from the conversion), ``markov`` (removal effects of a Markov chain of
``order`` 1 or more, fitted on converting and non-converting journeys; by default, ``split:
global``, each channel is credited its removal effect's share of the sum of all effects, times
the revenue (orders) of the journeys, the standard of ChannelAttribution's ``markov_model``,
kept on the journeys that touched the channel as far as the shares allow; with ``split:
journey`` each
journey's credit is split among its own channels in proportion to their removal effects) and
``shapley`` (see
:mod:`models.attribution_models`).  Touches at the same instant are equals: the first and last
click are shared among the touches at the earliest and latest instant.

Credit is computed in whole cents: each conversion's revenue (rounded to the cent) is split by
the largest remainder, so every rule's credits add up to the converted revenue exactly.
Conversions are credited in the week they happen; weeks start on Monday.  Timestamps with a
zone are converted to UTC; those without are taken as they are.

The weekly panel written by :func:`write_attribution_panel` follows the long layout of
DESIGN.md; the rule, its parameters and its hash go to ``PANEL.attribution.json`` beside it,
which :func:`attribution_meta` reads back for the fitter.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from roiste.models.attribution.algorithms import (
    balance,
    markov_effects,
    shapley_of_set,
    unique_inverse,
    unique_sorted,
)
from roiste.models.attribution.inputs import Inputs, read_inputs, read_spend
from roiste.models.attribution.rules import (
    DIRECT,
    RULES,
    SCHEMA_VERSION,
    AttributionRule,
    parse_rule,
)
from roiste.models.errors import AttributionError
from roiste.models.io import atomic_write_text, atomic_write_with, file_sha256

__all__ = [
    "DIRECT",
    "RULES",
    "AttributionResult",
    "AttributionRule",
    "attribute",
    "attribute_files",
    "attribution_meta",
    "parse_rule",
    "write_attribution_panel",
]

_NS_PER_DAY = 86_400 * 10**9


# --- journeys ---------------------------------------------------------------------------


@dataclass
class _Journeys:
    """Touches matched to conversion events under one rule's lookback and grouping."""

    names: list[str]            # credited channels, sorted
    ev_week: np.ndarray         # per event: week index
    ev_ts: np.ndarray           # per event: timestamp (ns)
    ev_cust: np.ndarray         # per event: customer code
    ev_cents: np.ndarray        # per event: revenue in cents
    ev_orders: np.ndarray       # per event: orders
    ev_new: np.ndarray          # per event: orders from new customers
    ev_new_cents: np.ndarray    # per event: revenue of those
    t_event: np.ndarray         # per matched touch: event index (grouped by event)
    t_ts: np.ndarray
    t_ch: np.ndarray
    o_cust: np.ndarray          # open (non-converting) touches, grouped by customer
    o_ts: np.ndarray
    o_ch: np.ndarray


def _group_channels(inp: Inputs, rule: AttributionRule) -> tuple[list[str], np.ndarray]:
    mapped = [rule.channel_map.get(c, c) for c in inp.channel_names]
    names = sorted(set(mapped))
    code = {c: i for i, c in enumerate(names)}
    lut = np.array([code[c] for c in mapped], dtype=np.int64)
    return names, lut


def _journeys(inp: Inputs, rule: AttributionRule) -> _Journeys:
    names, lut = _group_channels(inp, rule)
    # conversion events: the orders of one customer at one instant
    order = np.lexsort((inp.c_ts, inp.c_cust))
    cust, ts = inp.c_cust[order], inp.c_ts[order]
    new_ev = np.r_[True, (cust[1:] != cust[:-1]) | (ts[1:] != ts[:-1])]
    ev_of = np.cumsum(new_ev) - 1
    n_ev = int(ev_of[-1]) + 1 if len(ev_of) else 0
    ev_cust, ev_ts = cust[new_ev], ts[new_ev]
    cents = inp.c_cents[order]
    isnew = inp.c_new[order] if inp.c_new is not None else np.zeros(len(order), dtype=bool)
    ev_cents = np.bincount(ev_of, weights=cents, minlength=n_ev).round().astype(np.int64)
    ev_orders = np.bincount(ev_of, minlength=n_ev).astype(float)
    ev_new = np.bincount(ev_of, weights=isnew, minlength=n_ev)
    ev_new_cents = np.bincount(ev_of, weights=np.where(isnew, cents, 0), minlength=n_ev).round()
    ev_week = _week_start(ev_ts)
    # each touch goes to the first event of its customer at or after it: match on a
    # (customer, time bucket) key with sorted touches, then step past events earlier in the
    # same bucket
    t_key, ev_key = _keys(inp.t_cust, inp.t_ts, ev_cust, ev_ts)
    order_t = np.argsort(t_key, kind="stable")
    t_cust, t_ts = inp.t_cust[order_t], inp.t_ts[order_t]
    pos = np.searchsorted(ev_key, t_key[order_t], side="left")
    while True:
        inside = pos < n_ev
        early = np.flatnonzero(inside)
        early = early[(ev_cust[pos[early]] == t_cust[early]) & (ev_ts[pos[early]] < t_ts[early])]
        if not len(early):
            break
        pos[early] += 1
    matched = pos < n_ev
    matched[matched] = ev_cust[pos[matched]] == t_cust[matched]
    lookback = round(rule.lookback_days * _NS_PER_DAY)
    t_ch_all = lut[inp.t_ch[order_t]]
    keep = matched.copy()
    keep[matched] = t_ts[matched] >= ev_ts[pos[matched]] - lookback
    idx = np.flatnonzero(keep)
    if len(idx) > 1 and (np.diff(pos[idx]) < 0).any():
        # a touch stepped past an order in its bucket: regroup touches by event
        idx = idx[np.argsort(pos[idx], kind="stable")]
    # open journeys: touches after the customer's last conversion, within the lookback of the
    # journey's last touch
    opn = np.flatnonzero(~matched)
    o_cust, o_ts, o_ch = t_cust[opn], t_ts[opn], t_ch_all[opn]
    if len(o_cust):
        starts = _starts(o_cust)
        last_ts = np.maximum.reduceat(o_ts, starts)
        grp = np.cumsum(np.r_[True, o_cust[1:] != o_cust[:-1]]) - 1
        within = o_ts >= last_ts[grp] - lookback
        o_cust, o_ts, o_ch = o_cust[within], o_ts[within], o_ch[within]
    # touches come grouped by event (and customer), in time order up to the key's bucket
    return _Journeys(names, ev_week, ev_ts, ev_cust, ev_cents, ev_orders, ev_new, ev_new_cents,
                     pos[idx], t_ts[idx], t_ch_all[idx], o_cust, o_ts, o_ch)


def _keys(t_cust: np.ndarray, t_ts: np.ndarray, ev_cust: np.ndarray,
          ev_ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int64 keys ordered by (customer, time bucket); the bucket is as fine as int64 allows."""
    if not len(t_ts) or not len(ev_ts):
        return t_cust.astype(np.int64), ev_cust.astype(np.int64)
    t0 = min(int(t_ts.min()), int(ev_ts.min()))
    span = max(int(t_ts.max()), int(ev_ts.max())) - t0 + 1
    n_cust = max(int(t_cust.max()), int(ev_cust.max())) + 1
    res = 1
    while n_cust * (span // res + 1) >= 2**62:
        res *= 10
    width = span // res + 1
    return t_cust * width + (t_ts - t0) // res, ev_cust * width + (ev_ts - t0) // res


def _in_time_order(event: np.ndarray, ts: np.ndarray, ch: np.ndarray) -> np.ndarray:
    """Order of touches by (event or customer, time, channel): paths for the Markov chain."""
    return np.lexsort((ch, ts, event))


def _week_start(ts_ns: np.ndarray) -> np.ndarray:
    """Monday of each timestamp's week, as days since 1970-01-01 (a Thursday)."""
    days = np.floor_divide(ts_ns, _NS_PER_DAY)
    return days - (days + 3) % 7


def _starts(group: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else group


# --- rules: a weight per (event, channel) -----------------------------------------------


def _heuristic_weights(j: _Journeys, rule: AttributionRule) -> np.ndarray:
    e, ts = j.t_event, j.t_ts
    n_ev = len(j.ev_ts)
    starts = _starts(e)
    count = np.bincount(e, minlength=n_ev).astype(float)
    if rule.rule == "linear":
        return 1.0 / count[e]
    if rule.rule == "time-decay":
        age_days = (j.ev_ts[e] - ts) / _NS_PER_DAY
        w = np.exp2(-age_days / rule.params["half_life_days"])
        return w / np.bincount(e, weights=w, minlength=n_ev)[e]
    tmin = np.full(n_ev, 0, dtype=np.int64)
    tmax = np.full(n_ev, 0, dtype=np.int64)
    if len(starts):
        tmin[e[starts]] = np.minimum.reduceat(ts, starts)
        tmax[e[starts]] = np.maximum.reduceat(ts, starts)
    is_first = ts == tmin[e]
    is_last = ts == tmax[e]
    n_first = np.bincount(e, weights=is_first, minlength=n_ev)
    n_last = np.bincount(e, weights=is_last, minlength=n_ev)
    if rule.rule == "first-click":
        return is_first / n_first[e]
    if rule.rule == "last-click":
        return is_last / n_last[e]
    f, m, last = rule.params["weights"]
    middle = ~is_first & ~is_last
    n_mid = np.bincount(e, weights=middle, minlength=n_ev)
    total = f + last + np.where(n_mid > 0, m, 0.0)
    total = np.where(total > 0, total, 1.0)
    w = (is_first * f / np.maximum(n_first[e], 1) + is_last * last / np.maximum(n_last[e], 1)
         + middle * m / np.maximum(n_mid[e], 1)) / total[e]
    single = (tmin == tmax)[e]
    w = np.where(single, 1.0 / count[e], w)
    # a zero weight for every position present (e.g. weights 0,1,0 with no middle): linear
    s = np.bincount(e, weights=w, minlength=n_ev)
    return np.where(s[e] > 0, w / np.where(s[e] > 0, s[e], 1.0), 1.0 / count[e])


def _channel_sets(event: np.ndarray, ch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (event, channel) pairs, and the bit mask of each event's channel set."""
    n_ch = int(ch.max()) + 1 if len(ch) else 1
    pair = unique_sorted(event * n_ch + ch)
    pe, pc = pair // n_ch, pair % n_ch
    starts = _starts(pe)
    mask = np.bitwise_or.reduceat(np.int64(1) << pc, starts) if len(starts) else pc
    return pe, pc, mask


def _data_driven_weights(j: _Journeys, rule: AttributionRule, progress: bool,
                         details: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights per distinct (event, channel) pair for ``markov`` and ``shapley``."""
    n_ch = len(j.names)
    s = _in_time_order(j.t_event, j.t_ts, j.t_ch)
    j.t_event, j.t_ts, j.t_ch = j.t_event[s], j.t_ts[s], j.t_ch[s]
    s = _in_time_order(j.o_cust, j.o_ts, j.o_ch)
    j.o_cust, j.o_ts, j.o_ch = j.o_cust[s], j.o_ts[s], j.o_ch[s]
    pe, pc, ev_mask = _channel_sets(j.t_event, j.t_ch)
    conv_events = unique_sorted(j.t_event)
    o_starts = _starts(j.o_cust)
    o_path = np.cumsum(np.r_[True, j.o_cust[1:] != j.o_cust[:-1]]) - 1 if len(j.o_cust) else j.o_cust
    if rule.rule == "markov":
        remap = np.searchsorted(conv_events, j.t_event)
        path = np.concatenate([remap, len(conv_events) + o_path])
        ch = np.concatenate([j.t_ch, j.o_ch])
        n_open = len(o_starts)
        conv = np.r_[j.ev_orders[conv_events], np.zeros(n_open)]
        null = np.r_[np.zeros(len(conv_events)), np.ones(n_open)]
        value = np.r_[j.ev_cents[conv_events].astype(float), np.zeros(n_open)]
        fx = markov_effects(path, ch, n_ch, conv, null, values=value, order=rule.params["order"])
        details["p_conversion"] = fx.p_conversion
        details["removal_effects"] = dict(zip(j.names, fx.conversion.tolist(), strict=True))
        details["removal_effects_value"] = dict(zip(j.names, fx.value.tolist(), strict=True))
        return pe, pc, fx.conversion[pc]
    if n_ch > 62:
        raise AttributionError(f"rule 'shapley' handles at most 62 channels, not {n_ch}; "
                               "group them with a channel map")
    _, _, o_mask = _channel_sets(j.o_cust, j.o_ch)
    masks, inverse = unique_inverse(np.r_[ev_mask, o_mask])
    converted = np.bincount(inverse[: len(ev_mask)], minlength=len(masks))
    rates = converted / np.bincount(inverse, minlength=len(masks))
    details["channel_sets"] = len(masks)

    w = np.zeros(len(pe))
    uniq_sets, set_of_event = unique_inverse(ev_mask)
    pair_set = set_of_event[np.searchsorted(conv_events, pe)]
    by_set = np.argsort(pair_set, kind="stable")
    bounds = np.searchsorted(pair_set[by_set], np.arange(len(uniq_sets) + 1))
    for k in tqdm(range(len(uniq_sets)), desc="shapley", disable=not progress):
        rows = by_set[bounds[k]:bounds[k + 1]]
        members = np.flatnonzero([(int(uniq_sets[k]) >> c) & 1 for c in range(n_ch)])
        phi = shapley_of_set(members, masks, rates, max_exact=rule.params["max_exact"],
                             samples=rule.params["samples"], seed=rule.params["seed"])
        w[rows] = phi[np.searchsorted(members, pc[rows])]
    return pe, pc, w


@dataclass
class _GlobalSplit:
    """Rows of the events that ``markov``'s global shares credit, and their credit."""

    events: np.ndarray   # the events credited here (sorted); their other rows are dropped
    pe: np.ndarray       # per row: event
    pc: np.ndarray       # per row: channel
    cents: np.ndarray    # per row: revenue in whole cents (each event's add up to its own)
    orders: np.ndarray   # per row: orders (each event's add up to its own)


def _global_split(pe: np.ndarray, pc: np.ndarray, w: np.ndarray, j: _Journeys,
                  details: dict[str, Any]) -> _GlobalSplit:
    """Revenue and orders per (event, channel) that give each channel its global share.

    Each channel's credit over all journeys is its removal effect divided by the sum of all
    channels' effects, times the revenue (orders) of the journeys (value effects for revenue,
    conversion effects for orders).  The credit stays on the journeys that touched the channel
    as far as it can: the per-journey split is rescaled, journey by journey and channel by
    channel, until each journey's credit adds up to its revenue (orders) and each channel's to
    its share (:func:`balance`).  The chain also converts paths nobody took, so a channel's
    share can be more than the revenue of the journeys that touched it (or it touched no
    converting journey at all); then the channels over their share are scaled down to it and the
    revenue this frees in each journey goes to the channels still short, in proportion to what
    each lacks.  Every journey's credit adds up to its revenue and every channel's total is its
    share; ``details["global_split_gap"]`` is the share of all revenue (or orders) that had to
    leave the journeys that touched a channel (0 when none).  Events without a touch and events
    whose channels all have no effect keep the per-event split.
    """
    names = j.names
    n_ch, n_ev = len(names), len(j.ev_ts)
    ch_ok = pc < n_ch  # "(direct)" rows sit past the named channels
    ev_w = np.bincount(pe, weights=np.where(ch_ok, w, 0.0), minlength=n_ev)
    rows = ch_ok & (w > 0) & (ev_w[pe] > 0)
    events = unique_sorted(pe[rows])
    own = pe[rows] * n_ch + pc[rows]
    amounts: list[dict[int, float]] = []
    moved = []
    for key, totals in (("removal_effects_value", j.ev_cents.astype(float)),
                        ("removal_effects", j.ev_orders)):
        eff = np.array([details[key][c] for c in names])
        share = eff / eff.sum() if eff.sum() > 0 else np.zeros(n_ch)
        ev_total = np.bincount(events, weights=totals[events], minlength=n_ev)
        target = share * ev_total.sum()
        a, _ = balance(pe[rows], pc[rows], w[rows], ev_total, target)
        got = np.bincount(pc[rows], weights=a, minlength=n_ch)
        a = a * np.where(got > target, target / np.where(got > 0, got, 1.0), 1.0)[pc[rows]]
        short = np.clip(target - np.bincount(pc[rows], weights=a, minlength=n_ch), 0.0, None)
        freed = np.clip(ev_total - np.bincount(pe[rows], weights=a, minlength=n_ev), 0.0, None)
        table = dict(zip(own.tolist(), a.tolist(), strict=True))
        if short.sum() > 1e-9 * max(ev_total.sum(), 1e-300) and freed.sum() > 0:
            for e in np.flatnonzero(freed > 0):
                for c in np.flatnonzero(short > 0):
                    k = int(e) * n_ch + int(c)
                    table[k] = table.get(k, 0.0) + short[c] * freed[e] / freed.sum()
        moved.append(float(short.sum() / max(ev_total.sum(), 1e-300)))
        amounts.append(table)
    details["global_split_gap"] = max(moved)
    keys = np.array(sorted(set(amounts[0]) | set(amounts[1])), dtype=np.int64)
    revenue = np.array([amounts[0].get(k, 0.0) for k in keys.tolist()])
    orders = np.array([amounts[1].get(k, 0.0) for k in keys.tolist()])
    g_pe, g_pc = keys // n_ch, keys % n_ch
    return _GlobalSplit(events, g_pe, g_pc, _split_cents(g_pe, revenue, j.ev_cents), orders)


def _split_cents(event: np.ndarray, weight: np.ndarray, cents: np.ndarray) -> np.ndarray:
    """Split each event's cents over its rows by weight (largest remainder; exact sums)."""
    n_ev = len(cents)
    total = np.bincount(event, weights=weight, minlength=n_ev)
    count = np.bincount(event, minlength=n_ev)
    even = total[event] <= 0
    share = np.where(even, 1.0 / count[event], weight / np.where(even, 1.0, total[event]))
    raw = share * cents[event]
    base = np.floor(raw).astype(np.int64)
    left = cents - np.bincount(event, weights=base, minlength=n_ev).round().astype(np.int64)
    frac = raw - base
    order = np.lexsort((np.arange(len(event)), -frac, event))
    rank = np.arange(len(event)) - _starts_of(event[order], n_ev)[event[order]]
    base[order] += (rank < left[event[order]]).astype(np.int64)
    return base


def _starts_of(sorted_event: np.ndarray, n_ev: int) -> np.ndarray:
    return np.searchsorted(sorted_event, np.arange(n_ev))


# --- results ----------------------------------------------------------------------------


@dataclass
class AttributionResult:
    """What one rule credits, per conversion event and channel.

    Attributes
    ----------
    rule : AttributionRule
    channels : list of str
        Channels credited (sorted), ``"(direct)"`` last when present.
    totals : pandas.DataFrame
        One row per channel: ``channel, revenue, orders, new_customers, share``.
    details : dict
        Counts (``conversions``, ``conversion_events``, ``direct_conversions``, ...) and model
        output (``removal_effects`` and ``p_conversion`` for ``markov``).
    """

    rule: AttributionRule
    channels: list[str]
    totals: pd.DataFrame
    details: dict[str, Any]
    has_new: bool
    _cols: dict[str, np.ndarray] = field(repr=False)
    _customers: Any = field(repr=False)

    @property
    def credits(self) -> pd.DataFrame:
        """One row per (conversion event, channel) with a credit.

        Columns ``customer_id, timestamp, week, channel, revenue, orders, new_customers,
        new_customer_revenue`` (money in the data's currency).
        """
        c = self._cols
        return pd.DataFrame({
            "customer_id": self._customers.take(c["cust"]).to_numpy(zero_copy_only=False),
            "timestamp": pd.to_datetime(c["ts"]),
            "week": pd.to_datetime(c["week"], unit="D"),
            "channel": np.array(self.channels, dtype=object)[c["ch"]],
            "revenue": c["cents"] / 100.0,
            "orders": c["orders"],
            "new_customers": c["new"],
            "new_customer_revenue": c["new_cents"] / 100.0,
        })

    def panel(self, spend: pd.DataFrame | None = None, *, keep_direct: bool = False) -> pd.DataFrame:
        """The long weekly panel: every week from the first to the last, every channel.

        ``spend`` has ``week`` (a Monday, datetime64), ``channel`` and ``spend`` columns.
        The ``"(direct)"`` channel has no spend and no response curve: it is left out unless
        ``keep_direct`` (its revenue stays in :attr:`totals`).
        """
        c = self._cols
        channels = list(self.channels)
        if not keep_direct and DIRECT in channels:
            kept = c["ch"] != channels.index(DIRECT)
            c = {k: v[kept] for k, v in c.items()}
            channels.remove(DIRECT)
        weeks = c["week"]
        sp_week: np.ndarray = np.zeros(0, dtype=np.int64)
        sp_ch: np.ndarray = np.zeros(0, dtype=np.int64)
        sp_val: np.ndarray = np.zeros(0)
        if spend is not None and len(spend):
            channels += sorted(set(spend["channel"]) - set(channels))
            sp_week = spend["week"].to_numpy().astype("datetime64[D]").astype(np.int64)
            code = {ch: i for i, ch in enumerate(channels)}
            sp_ch = spend["channel"].map(code).to_numpy(dtype=np.int64)
            sp_val = spend["spend"].to_numpy(dtype=float)
        if len(weeks) == 0 and len(sp_week) == 0:
            raise AttributionError("no conversions and no spend: nothing to put in a panel")
        first = int(min(weeks.min() if len(weeks) else sp_week.min(),
                        sp_week.min() if len(sp_week) else weeks.min()))
        last = int(max(weeks.max() if len(weeks) else sp_week.max(),
                       sp_week.max() if len(sp_week) else weeks.max()))
        n_w, n_c = (last - first) // 7 + 1, len(channels)
        cell = (weeks - first) // 7 * n_c + c["ch"]

        def total(w: np.ndarray, at: np.ndarray = cell) -> np.ndarray:
            return np.bincount(at, weights=w, minlength=n_w * n_c)

        days = first + 7 * np.repeat(np.arange(n_w), n_c)
        frame = pd.DataFrame({
            "date": pd.to_datetime(days, unit="D").strftime("%Y-%m-%d"),
            "channel": np.tile(np.array(channels, dtype=object), n_w),
            "spend": total(sp_val, (sp_week - first) // 7 * n_c + sp_ch).round(2),
            "revenue": total(c["cents"]).round() / 100.0,
            "orders": total(c["orders"]).round(6),
        })
        if self.has_new:
            frame["new_customers"] = total(c["new"]).round(6)
            frame["new_customer_revenue"] = total(c["new_cents"]).round() / 100.0
        return frame


def attribute(inputs: Inputs, rule: AttributionRule, *, progress: bool = False) -> AttributionResult:
    """Credit every conversion of ``inputs`` to channels under ``rule``.

    Parameters
    ----------
    inputs : Inputs
        Touchpoints and conversions from :func:`models.attribution_io.read_inputs`.
    rule : AttributionRule
    progress : bool, default False
        Show a progress bar on the slow part of the data-driven rules.

    Returns
    -------
    AttributionResult
    """
    j = _journeys(inputs, rule)
    n_ev = len(j.ev_ts)
    details: dict[str, Any] = {"conversions": len(inputs.c_cents), "conversion_events": n_ev}
    if rule.rule in ("markov", "shapley"):
        pe, pc, w = _data_driven_weights(j, rule, progress, details)
    else:
        w_touch = _heuristic_weights(j, rule)
        n_ch = max(len(j.names), 1)
        pair, inv = unique_inverse(j.t_event * n_ch + j.t_ch)
        pe, pc = pair // n_ch, pair % n_ch
        w = np.bincount(inv, weights=w_touch, minlength=len(pair))
    # rows of zero weight carry nothing unless their whole event has no weight at all
    w = np.clip(w, 0.0, None)
    ev_w = np.bincount(pe, weights=w, minlength=n_ev)
    keep = (w > 0) | (ev_w[pe] <= 0)
    pe, pc, w = pe[keep], pc[keep], w[keep]
    touched = np.zeros(n_ev, dtype=bool)
    touched[pe] = True
    direct = np.flatnonzero(~touched)
    names = list(j.names) + ([DIRECT] if len(direct) else [])
    pe = np.r_[pe, direct]
    pc = np.r_[pc, np.full(len(direct), len(j.names), dtype=np.int64)]
    w = np.r_[w, np.ones(len(direct))]
    order = np.lexsort((pc, pe))
    pe, pc, w = pe[order], pc[order], w[order]
    cents = _split_cents(pe, w, j.ev_cents)
    tot = np.bincount(pe, weights=w, minlength=n_ev)[pe]
    cnt = np.bincount(pe, minlength=n_ev)[pe]
    share = np.where(tot > 0, w / np.where(tot > 0, tot, 1.0), 1.0 / cnt)
    share_orders = share
    if rule.rule == "markov" and rule.params["split"] == "global":
        g = _global_split(pe, pc, w, j, details)
        keep = ~np.isin(pe, g.events)
        ev_c, ev_o = j.ev_cents[g.pe].astype(float), j.ev_orders[g.pe]
        g_share = np.divide(g.cents, ev_c, out=np.zeros(len(ev_c)), where=ev_c > 0)
        g_orders = np.divide(g.orders, ev_o, out=np.zeros(len(ev_o)), where=ev_o > 0)
        pe, pc = np.r_[pe[keep], g.pe], np.r_[pc[keep], g.pc]
        cents = np.r_[cents[keep], g.cents]
        share, share_orders = np.r_[share[keep], g_share], np.r_[share[keep], g_orders]
        order = np.lexsort((pc, pe))
        pe, pc, cents = pe[order], pc[order], cents[order]
        share, share_orders = share[order], share_orders[order]
    cols = {
        "cust": j.ev_cust[pe], "ts": j.ev_ts[pe], "week": j.ev_week[pe], "ch": pc,
        "cents": cents, "orders": share_orders * j.ev_orders[pe],
        "new": share_orders * j.ev_new[pe], "new_cents": share * j.ev_new_cents[pe],
    }
    by = np.bincount(pc, weights=cents, minlength=len(names))
    total_cents = int(j.ev_cents.sum())
    totals = pd.DataFrame({
        "channel": names,
        "revenue": by.round() / 100.0,
        "orders": np.bincount(pc, weights=cols["orders"], minlength=len(names)),
        "new_customers": np.bincount(pc, weights=cols["new"], minlength=len(names)),
        "share": by / total_cents if total_cents else np.zeros(len(names)),
    })
    details.update(direct_conversions=int(j.ev_orders[direct].sum()),
                   revenue=total_cents / 100.0, touches_used=len(j.t_event),
                   open_journeys=len(_starts(j.o_cust)))
    return AttributionResult(rule, names, totals, details, inputs.c_new is not None, cols,
                             inputs.customer_names)


def attribute_files(
    touchpoints: str | os.PathLike[str],
    conversions: str | os.PathLike[str],
    rule: AttributionRule,
    *,
    progress: bool = False,
) -> AttributionResult:
    """Read, check and attribute: :func:`read_inputs` then :func:`attribute`."""
    return attribute(read_inputs(touchpoints, conversions), rule, progress=progress)


def write_attribution_panel(
    touchpoints: str | os.PathLike[str],
    conversions: str | os.PathLike[str],
    rule: AttributionRule,
    out: str | os.PathLike[str],
    *,
    spend: str | os.PathLike[str] | None = None,
    keep_direct: bool = False,
    progress: bool = False,
) -> AttributionResult:
    """Write the weekly panel of ``rule`` to ``out`` (CSV, or Parquet by suffix) and its sidecar.

    Conversions without a touch are credited to ``"(direct)"``, which the panel leaves out
    unless ``keep_direct`` (it has no spend, so no curve can be fitted to it); the sidecar's
    ``totals.direct_revenue`` holds their revenue either way.

    Spend comes from ``spend`` (``date`` or ``week``, ``channel``, ``spend``; summed per week
    and credited channel); without it, from the touchpoints' ``cost`` column summed per week
    of the touch; without either it is 0.  ``out.attribution.json`` holds the rule, its hash,
    the input files' hashes and the totals.
    """
    inputs = read_inputs(touchpoints, conversions)
    result = attribute(inputs, rule, progress=progress)
    names, lut = _group_channels(inputs, rule)
    if spend is not None:
        sp_ = read_spend(spend, rule.channel_map)
    elif inputs.t_cost is not None:
        week = pd.to_datetime(_week_start(inputs.t_ts), unit="D")
        sp_ = pd.DataFrame({"week": week, "channel": np.array(names, dtype=object)[lut[inputs.t_ch]],
                            "spend": inputs.t_cost})
    else:
        sp_ = None
    frame = result.panel(sp_, keep_direct=keep_direct)
    out = Path(out)
    if out.suffix.lower() in (".parquet", ".pq"):
        atomic_write_with(out, lambda p: frame.to_parquet(p, index=False))
    else:
        atomic_write_text(out, frame.to_csv(index=False, lineterminator="\n"))
    sidecar = {
        "schema": SCHEMA_VERSION,
        "attribution_hash": rule.config_hash,
        "rule": rule.to_dict(),
        "inputs": {k: {"file": Path(v).name, "sha256": _sha(v)}
                   for k, v in (("touchpoints", touchpoints), ("conversions", conversions),
                                ("spend", spend)) if v is not None},
        "totals": {**{k: round(v, 6) if k == "global_split_gap" else v
                      for k, v in result.details.items() if not isinstance(v, dict)},
                   "direct_revenue": float(result.totals.set_index("channel")["revenue"]
                                           .get(DIRECT, 0.0)),
                   "panel_revenue": round(float(frame["revenue"].sum()), 2)},
        "panel_keeps_direct": keep_direct,
        "channels": {str(ch): {"revenue": float(rev), "share": round(float(sh), 10)}
                     for ch, rev, sh in zip(result.totals["channel"], result.totals["revenue"],
                                            result.totals["share"], strict=True)},
    }
    for key in ("removal_effects", "removal_effects_value"):
        if key in result.details:
            sidecar[key] = result.details[key]
    atomic_write_text(f"{out}.attribution.json", json.dumps(sidecar, indent=2, sort_keys=True) + "\n")
    return result


def _sha(path: str | os.PathLike[str]) -> str:
    return file_sha256(path)


def attribution_meta(panel: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"attribution_hash", "attribution_rule"}`` from ``PANEL.attribution.json``, else ``{}``.

    The fitter copies this into ``CurveSet.meta`` so that every plan names the rule its
    revenue stands on.
    """
    path = Path(f"{panel}.attribution.json")
    if not path.is_file():
        return {}
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        rule = AttributionRule.from_dict(d["rule"])
    except (ValueError, KeyError, TypeError) as exc:
        raise AttributionError(f"{path}: not a readable attribution sidecar ({exc})") from None
    if d.get("attribution_hash") != rule.config_hash:
        if rule.rule == "markov" and "split" not in (d["rule"].get("params") or {}):
            raise AttributionError(f"{path}: written by an older markov rule (each journey split "
                                   "by its own channels); make the panel again with "
                                   "'roiste attribute'")
        raise AttributionError(f"{path}: attribution_hash does not match the rule it holds")
    return {"attribution_hash": rule.config_hash, "attribution_rule": rule.label}
