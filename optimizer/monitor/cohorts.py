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

An alert gives the change of the recent cohorts against the earlier ones at that age and the
``new_customer_value`` it implies for the next plan: the plan's value scaled by that ratio
(the value a customer brings later is taken to move in proportion to what it brought so far).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
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
    value at ``a`` days is complete.
    """

    channel: str
    weeks: pd.DatetimeIndex
    customers: np.ndarray
    values: dict[int, np.ndarray]
    known: dict[int, pd.DatetimeIndex]


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
        for a in ages:
            keep = in_o.to_numpy() & (age < a)
            sums = pd.Series(margin[keep]).groupby(o["week"].to_numpy()[keep]).sum()
            tot = sums.reindex(weeks, fill_value=0.0).to_numpy()
            ready = weeks + pd.Timedelta(days=7 + a)
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where((n >= min_customers) & (ready <= end), tot / np.maximum(n, 1), np.nan)
            values[a] = v
            known[a] = ready
        out.append(CohortSeries(name, weeks, n, values, known))
    return out


def _alert_id(channel: str, age: int, since: str) -> str:
    return hashlib.sha256(f"cohort\x1f{channel}\x1f{age}\x1f{since}".encode()).hexdigest()[:16]


def _record(s: CohortSeries, age: int, ep: Episode, watch: CohortWatch,
            econ: CohortEconomics) -> dict[str, Any]:
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
    since = s.weeks[ep.since].strftime("%Y-%m-%d")
    fired = s.known[age][ep.fired].strftime("%Y-%m-%d")
    kpi = f"cohort_value_{age}d"
    pct = "n/a" if not np.isfinite(change) else f"{100 * change:+.1f} %"
    n = ep.until - ep.since + 1
    text = (f"{s.channel}: margin per new customer after {age} days {level:,.2f} for the "
            f"{n} acquisition week(s) from {since}, {pct} against the earlier cohorts at the same "
            f"age ({ref:,.2f}); known from {fired}")
    if implied is not None:
        text += (f"; new_customer_value {econ.new_customer_value:,.2f} in the plan implies "
                 f"{implied:,.2f}")
    return {
        "id": _alert_id(s.channel, age, since),
        "rule": f"Cohorts at {age} days",
        "kpi": kpi,
        "kpi_label": f"margin per new customer after {age} days, by acquisition week",
        "channel": s.channel,
        "level": "total" if s.channel == ALL else "channel",
        "direction": "below",
        "relative_to": "earlier cohorts",
        "seasonal": False,
        "durability": f"{watch.weeks_in_a_row} acquisition week(s) in a row",
        "since": since,
        "fired": fired,
        "until": s.weeks[ep.until].strftime("%Y-%m-%d"),
        "ongoing": ep.ongoing,
        "weeks": n,
        "value": _round(level),
        "latest": _round(float(v[ep.until])),
        "reference": _round(ref),
        "change": _round(change),
        "summary_change": pct,
        "age_days": age,
        "new_customer_value": econ.new_customer_value,
        "implied_new_customer_value": _round(implied) if implied is not None else None,
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


def cohort_alerts(series: list[CohortSeries], watch: CohortWatch,
                  econ: CohortEconomics) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Alerts (ongoing at the latest judged week) and earlier episodes of every series and age.

    A series of an age is cut at its last judged acquisition week, so an episode that lasts to
    the newest cohort old enough for that age is ongoing.
    """
    th, dur = _rule(watch)
    active: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for s in series:
        for age in watch.ages_days:
            v = s.values[age]
            judged = np.flatnonzero(np.isfinite(v))
            if len(judged) == 0:
                continue
            cut = v[:judged[-1] + 1]
            for ep in episodes(cut, th, dur):
                (active if ep.ongoing else history).append(_record(s, age, ep, watch, econ))
    return active, history
