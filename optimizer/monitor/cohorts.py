"""Recent cohorts at equal age: the margin per new customer after 30, 60, 90 days.

From tagged orders (``roiste customers tag``: ``order_id, timestamp, value, channel,
customer_key, customer_type``), a customer's acquisition is its order tagged ``new``; its
week (Monday) is the customer's *acquisition week* and its channel the acquisition channel.
The value of an acquisition week at age ``a`` days is the mean over its new customers of the
margin of their orders placed within ``a`` days of their first one::

    margin of an order = gross_margin x (1 - return_rate) x value - cost_per_order

An acquisition week is judged at age ``a`` only once every customer of it has reached that age
(the week's last day plus ``a`` days is at most the end of the orders), so a young cohort is
never compared with an old one: each age is its own series over acquisition weeks, and the
rule of :mod:`optimizer.monitor.charts` (N weeks in a row below the mean of the earlier weeks,
frozen when a run starts and read from the weeks that end N weeks before it) watches it.

One fall of a channel's cohorts is one alert: the spells found at the different ages whose
acquisition weeks overlap are one episode, which carries the ages at which it was seen
(``ages_days``), the earliest date one of them was known (``fired``) and, per age, its change
(``by_age``).  Its headline is the oldest age seen (the most of the customers' value so far):
the change of the recent cohorts against the earlier ones at that age and the
``new_customer_value`` it implies for the next plan, the plan's value scaled by that ratio
(the value a customer brings later is taken to move in proportion to what it brought so far).

The cohorts of all channels together raise an alert only when a single channel does not
explain their fall: an episode of all channels is explained by a channel that has an episode
over overlapping acquisition weeks when the other channels' cohorts together (all channels
less that one, at the same ages) show no fall over those weeks.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.io import require_input
from roiste.optimizer.monitor.charts import Episode, episodes, stated_rate, weekly_noise
from roiste.optimizer.monitor.rules import CohortWatch, Durability, MonitorError, Threshold

__all__ = [
    "ORDER_COLUMNS",
    "CohortEconomics",
    "CohortSeries",
    "OrdersError",
    "cohort_alerts",
    "cohort_rates",
    "cohort_values",
    "read_tagged_orders",
]

ORDER_COLUMNS = ("order_id", "timestamp", "value", "channel", "customer_key", "customer_type")
ALL = "(all channels)"


class OrdersError(MonitorError):
    """A tagged-orders file the monitor cannot read."""


@dataclass(frozen=True)
class CohortEconomics:
    """What turns order value into margin, and the plan's value of a new customer."""

    gross_margin: float = 1.0
    return_rate: float = 0.0
    cost_per_order: float = 0.0
    new_customer_value: float | None = None
    given: frozenset[str] = frozenset()  # the keys stated (in the rules or a scenario)


@dataclass
class CohortSeries:
    """One channel's acquisition weeks and their value per new customer at each age.

    ``values[a]`` holds, per acquisition week, the mean margin per new customer after ``a``
    days (NaN where the week has not reached that age or has too few customers);
    ``customers`` the new customers of each week; ``known[a]`` the date from which each week's
    value at ``a`` days is complete; ``totals[a]`` the margin summed over the week's customers
    (so that channels' series can be added and subtracted).
    """

    channel: str
    weeks: pd.DatetimeIndex
    customers: np.ndarray
    values: dict[int, np.ndarray]
    known: dict[int, pd.DatetimeIndex]
    totals: dict[int, np.ndarray] = field(default_factory=dict)  # margin summed per week and age


def read_tagged_orders(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a tagged-orders CSV file: one line naming the file, row and column on bad input.

    Returns
    -------
    DataFrame
        ``timestamp`` (naive UTC), ``value`` (float), ``channel``, ``customer_key``,
        ``customer_type`` (``new`` | ``existing``), in the file's order.
    """
    p = Path(path)
    label = str(p)
    require_input(p, label, OrdersError, "orders file not found")
    try:
        raw = pd.read_csv(p, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise OrdersError(f"{label}: cannot read as CSV ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    missing = [c for c in ORDER_COLUMNS if c not in raw.columns]
    if missing:
        raise OrdersError(f"{label}: column(s) {', '.join(map(repr, missing))} missing "
                          "(tagged orders, as roiste customers tag writes them)")
    raw.index = pd.RangeIndex(2, len(raw) + 2)  # spreadsheet rows: the header is row 1
    blank = (raw[list(ORDER_COLUMNS)] == "").all(axis=1)
    raw = raw[~blank]
    if raw.empty:
        raise OrdersError(f"{label}: no order")
    ts = pd.to_datetime(raw["timestamp"], utc=True, errors="coerce", format="ISO8601")
    value = pd.to_numeric(raw["value"], errors="coerce")
    kind = raw["customer_type"].str.strip()
    checks = (
        ("timestamp", ts.isna(), "not an ISO date-time"),
        ("value", value.isna() | ~np.isfinite(value) | (value < 0), "not a number >= 0"),
        ("customer_type", ~kind.isin(["new", "existing"]), "not new or existing"),
        ("customer_key", raw["customer_key"].str.strip() == "", "empty"),
        ("channel", raw["channel"].str.strip() == "", "empty"),
    )
    for col, bad, what in checks:
        if bad.any():
            row = int(raw.index[np.flatnonzero(bad.to_numpy())[0]])
            raise OrdersError(f"{label}: row {row}, column '{col}': {what}")
    return pd.DataFrame({
        "timestamp": ts.dt.tz_localize(None).to_numpy(),
        "value": value.astype(float).to_numpy(),
        "channel": raw["channel"].str.strip().to_numpy(),
        "customer_key": raw["customer_key"].str.strip().to_numpy(),
        "customer_type": kind.to_numpy(),
    })


def cohort_values(orders: pd.DataFrame, ages: list[int], econ: CohortEconomics, *,
                  observed_until: pd.Timestamp | None = None,
                  min_customers: int = 1) -> list[CohortSeries]:
    """Value per new customer of each acquisition week at each age, per channel and in all.

    Parameters
    ----------
    orders : DataFrame
        Tagged orders (:func:`read_tagged_orders`).
    ages : list of int
        Ages in days.
    econ : CohortEconomics
        Gross margin, return rate and cost per order.
    observed_until : Timestamp, optional
        End of the observed orders (exclusive); the latest order's time by default.
    min_customers : int, default 1
        Weeks with fewer new customers get no value.

    Returns
    -------
    list of CohortSeries
        One per acquisition channel (sorted), then all channels together.
    """
    df = orders.sort_values(["timestamp"], kind="stable")
    new = df[df["customer_type"] == "new"].drop_duplicates("customer_key", keep="first")
    if new.empty:
        raise MonitorError("tagged orders: no order tagged 'new', so no cohort to follow")
    end = pd.Timestamp(observed_until) if observed_until is not None else df["timestamp"].max()
    acq = pd.DataFrame({"customer_key": new["customer_key"].to_numpy(),
                        "acq_time": new["timestamp"].to_numpy(),
                        "acq_channel": new["channel"].to_numpy()})
    acq["week"] = acq["acq_time"].dt.normalize() - pd.to_timedelta(
        acq["acq_time"].dt.weekday, unit="D")
    o = df.merge(acq, on="customer_key", how="inner")
    o = o[o["timestamp"] >= o["acq_time"]]
    age = ((o["timestamp"] - o["acq_time"]).dt.total_seconds() / 86400.0).to_numpy()
    margin = (econ.gross_margin * (1.0 - econ.return_rate) * o["value"]
              - econ.cost_per_order).to_numpy()
    first, last = acq["week"].min(), acq["week"].max()
    weeks = pd.date_range(first, last, freq="7D")
    out: list[CohortSeries] = []
    groups = [(c, acq["acq_channel"] == c, o["acq_channel"] == c)
              for c in sorted(acq["acq_channel"].unique())]
    groups.append((ALL, pd.Series(True, index=acq.index), pd.Series(True, index=o.index)))
    for name, in_acq, in_o in groups:
        n = acq.loc[in_acq].groupby("week").size().reindex(weeks, fill_value=0).to_numpy()
        values: dict[int, np.ndarray] = {}
        known: dict[int, pd.DatetimeIndex] = {}
        totals: dict[int, np.ndarray] = {}
        for a in ages:
            keep = in_o.to_numpy() & (age < a)
            sums = pd.Series(margin[keep]).groupby(o["week"].to_numpy()[keep]).sum()
            tot = sums.reindex(weeks, fill_value=0.0).to_numpy()
            ready = weeks + pd.Timedelta(days=7 + a)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where((n >= min_customers) & (ready <= end), tot / np.maximum(n, 1), np.nan)
            values[a] = v
            known[a] = ready
            totals[a] = tot
        out.append(CohortSeries(name, weeks, n, values, known, totals))
    return out


def _alert_id(channel: str, age: int, since: str) -> str:
    return hashlib.sha256(f"cohort\x1f{channel}\x1f{age}\x1f{since}".encode()).hexdigest()[:16]


def _member(s: CohortSeries, age: int, ep: Episode, watch: CohortWatch,
            econ: CohortEconomics) -> dict[str, Any]:
    """One spell of one age: its level, reference, change and implied value."""
    v = s.values[age]
    spell = v[ep.since:ep.until + 1]
    spell = spell[np.isfinite(spell)]
    level = float(spell.mean()) if len(spell) else float("nan")
    end = ep.since - watch.weeks_in_a_row
    base = v[max(0, end - watch.baseline_weeks):max(end, 0)]
    base = base[np.isfinite(base)]
    ref = float(base.mean()) if len(base) else float("nan")
    change = level / ref - 1.0 if np.isfinite(ref) and ref > 0 else float("nan")
    implied = (econ.new_customer_value * (1.0 + change)
               if econ.new_customer_value is not None and np.isfinite(change) else None)
    return {
        "age_days": age,
        "since": s.weeks[ep.since].strftime("%Y-%m-%d"),
        "fired": s.known[age][ep.fired].strftime("%Y-%m-%d"),
        "until": s.weeks[ep.until].strftime("%Y-%m-%d"),
        "ongoing": ep.ongoing,
        "weeks": ep.until - ep.since + 1,
        "value": _round(level),
        "latest": _round(float(v[ep.until])),
        "reference": _round(ref),
        "change": _round(change),
        "implied_new_customer_value": _round(implied) if implied is not None else None,
    }


def _pct(change: float | None) -> str:
    return "n/a" if change is None else f"{100 * change:+.1f} %"


def _record(s: CohortSeries, spells: list[tuple[int, Episode]], watch: CohortWatch,
            econ: CohortEconomics) -> dict[str, Any]:
    """One alert of a channel's episode: the spells of every age whose weeks overlap."""
    members = [_member(s, age, ep, watch, econ) for age, ep in spells]
    head = max(members, key=lambda m: (m["age_days"], m["since"]))  # the oldest age seen
    first = min(members, key=lambda m: (m["fired"], m["age_days"]))  # the earliest known
    ages = sorted({m["age_days"] for m in members})
    since = min(ep.since for _, ep in spells)
    until = max(ep.until for _, ep in spells)
    age = head["age_days"]
    pct = _pct(head["change"])
    nan = float("nan")
    text = (f"{s.channel}: margin per new customer after {age} days "
            f"{head['value'] if head['value'] is not None else nan:,.2f} for the {head['weeks']} "
            f"acquisition week(s) from {head['since']}, {pct} against the earlier cohorts at the "
            f"same age ({head['reference'] if head['reference'] is not None else nan:,.2f}); seen "
            f"at {', '.join(map(str, ages))} days, first known {first['fired']}")
    implied = head["implied_new_customer_value"]
    if implied is not None and econ.new_customer_value is not None:
        text += (f"; new_customer_value {econ.new_customer_value:,.2f} in the plan implies "
                 f"{implied:,.2f}")
    return {
        "id": _alert_id(s.channel, first["age_days"], first["since"]),
        "rule": "Cohorts at equal age",
        "kpi": f"cohort_value_{age}d",
        "kpi_label": f"margin per new customer after {age} days, by acquisition week",
        "channel": s.channel,
        "level": "total" if s.channel == ALL else "channel",
        "direction": "below",
        "relative_to": "earlier cohorts",
        "seasonal": False,
        "durability": f"{watch.weeks_in_a_row} acquisition week(s) in a row",
        "since": s.weeks[since].strftime("%Y-%m-%d"),
        "fired": first["fired"],
        "until": s.weeks[until].strftime("%Y-%m-%d"),
        "ongoing": any(ep.ongoing for _, ep in spells),
        "weeks": until - since + 1,
        "value": head["value"],
        "latest": head["latest"],
        "reference": head["reference"],
        "change": head["change"],
        "summary_change": pct,
        "age_days": age,
        "ages_days": ages,
        "by_age": sorted(members, key=lambda m: (m["age_days"], m["since"])),
        "new_customer_value": econ.new_customer_value,
        "implied_new_customer_value": implied,
        "explains_total": False,  # set when this channel alone explains a fall of all channels
        "message": text,
    }


def _round(x: float) -> float | None:
    return float(f"{x:.6g}") if np.isfinite(x) else None


def _rule(watch: CohortWatch) -> tuple[Threshold, Durability]:
    return (Threshold(relative_to="recent", below=watch.below, level="mean",
                      baseline_weeks=watch.baseline_weeks),
            Durability(weeks_in_a_row=watch.weeks_in_a_row))


def cohort_rates(series: list[CohortSeries], watch: CohortWatch) -> list[dict[str, Any]]:
    """The false-alarm rate the cohort watch states for each series and age: alarms per 52
    acquisition weeks when nothing changes, from the series' own noise
    (:func:`optimizer.monitor.charts.stated_rate`)."""
    th, dur = _rule(watch)
    out = []
    for s in series:
        for age in watch.ages_days:
            v = s.values[age]
            judged = v[np.isfinite(v)]
            rate = stated_rate(judged, th, dur) if len(judged) else None
            out.append({"rule": f"Cohorts at {age} days", "channel": s.channel,
                        "kpi": f"cohort_value_{age}d",
                        "weekly_noise": _round(weekly_noise(judged)) if len(judged) else None,
                        "false_alarms_per_year": None if rate is None else _round(52.0 * rate)})
    return out


def _spells(v: np.ndarray, watch: CohortWatch) -> list[Episode]:
    """Episodes of one age's series, cut at its last judged acquisition week."""
    judged = np.flatnonzero(np.isfinite(v))
    if len(judged) == 0:
        return []
    th, dur = _rule(watch)
    return episodes(v[:judged[-1] + 1], th, dur)


def _overlap(a: Episode, b: Episode) -> bool:
    return a.since <= b.until and b.since <= a.until


def _grouped(spells: list[tuple[int, Episode]]) -> list[list[tuple[int, Episode]]]:
    """Spells joined when their acquisition weeks overlap (directly or through another)."""
    root = list(range(len(spells)))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for i in range(len(spells)):
        for j in range(i):
            if _overlap(spells[i][1], spells[j][1]):
                root[find(i)] = find(j)
    groups: dict[int, list[tuple[int, Episode]]] = {}
    for i, sp in enumerate(spells):
        groups.setdefault(find(i), []).append(sp)
    return sorted(groups.values(), key=lambda g: (min(e.since for _, e in g), min(a for a, _ in g)))


def _rest(total: CohortSeries, c: CohortSeries, age: int, min_customers: int) -> np.ndarray:
    """Value per new customer at ``age`` of all channels less ``c``, per acquisition week."""
    n = total.customers - c.customers
    tot = total.totals[age] - c.totals[age]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(total.values[age]) & (n >= min_customers),
                        tot / np.maximum(n, 1), np.nan)


def _explained_by(group: list[tuple[int, Episode]], total: CohortSeries,
                  channels: list[tuple[CohortSeries, list[list[tuple[int, Episode]]]]],
                  watch: CohortWatch) -> str | None:
    """The channel that alone explains a fall of all channels' cohorts, if one does."""
    for c, groups in channels:
        if len(c.weeks) != len(total.weeks) or not c.totals:
            continue
        if not any(_overlap(ep, mine) for g in groups for _, ep in g for _, mine in group):
            continue
        rest = {age: _spells(_rest(total, c, age, watch.min_customers), watch)
                for age in {a for a, _ in group}}
        if not any(_overlap(r, ep) for age, ep in group for r in rest[age]):
            return c.channel
    return None


def cohort_alerts(series: list[CohortSeries], watch: CohortWatch,
                  econ: CohortEconomics) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Alerts (ongoing at the latest judged week) and earlier episodes: one per channel and
    episode, whatever the number of ages that show it.

    A series of an age is cut at its last judged acquisition week, so a spell that lasts to
    the newest cohort old enough for that age is ongoing; an episode is ongoing when one of its
    spells is.  An episode of all channels together is left out when a single channel explains
    it (the module's rule); it is then named in that channel's alert (``explains_total``).
    """
    active: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    found = [(s, _grouped([(age, ep) for age in watch.ages_days
                           for ep in _spells(s.values[age], watch)])) for s in series]
    channels = [(s, groups) for s, groups in found if s.channel != ALL]
    records = {(s.channel, i): _record(s, g, watch, econ)
               for s, groups in found for i, g in enumerate(groups)}
    for s, groups in found:
        for i, g in enumerate(groups):
            who = _explained_by(g, s, channels, watch) if s.channel == ALL else None
            if who is None:
                rec = records[(s.channel, i)]
                (active if rec["ongoing"] else history).append(rec)
                continue
            mine = next(gs for c, gs in channels if c.channel == who)
            for j, cg in enumerate(mine):
                if any(_overlap(a, b) for _, a in cg for _, b in g):
                    records[(who, j)]["explains_total"] = True
    return active, history
