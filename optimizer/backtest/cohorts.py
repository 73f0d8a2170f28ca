"""Did each channel's new customers go on to be worth what the plans assumed?

A cohort table has one row per acquisition month and channel: ``acquisition_month``
(``YYYY-MM`` or a date), ``channel``, ``customers`` (new customers acquired), then
``month_1, month_2, ...``: the cohort's revenue in each following month (blank where the month
has not happened yet).  ``month_0`` (the acquisition month itself) may be present; it is the
first order, already counted in the panel's revenue, so it is left out of the later value.
The long table of :func:`models.customers.cohort_table` (``channel, cohort, months_since,
customers, revenue, ...``), saved as CSV, is read as well, and so are the tagged orders that
``roiste customers tag`` writes (their cohorts are made with that function).

The value a cohort went on to create per customer is ``gross_margin * (1 - return_rate) *
(month_1 + ... + month_K) / customers``, over the ``K`` following months the table records
for its oldest cohorts; it is compared with the ``new_customer_value`` the scenario credits
each new customer of the channel.  Only cohorts observed for all ``K`` months count (younger
ones are listed but not judged).  A channel *disappoints* when its customer-weighted realised
value falls below ``(1 - tolerance)`` times the value assumed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.customers import TAGGED_COLUMNS, cohort_table
from roiste.models.errors import RoisteError
from roiste.optimizer.economics import ChannelEconomics, channel_economics
from roiste.optimizer.scenario import Scenario

TOLERANCE = 0.2
_MONTH = re.compile(r"^month_(\d+)$")


class CohortError(RoisteError):
    """A cohort table that cannot be used as given."""


def read_cohorts(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check a cohort table (CSV); one line naming the file, row and column on error.

    Tagged orders (``order_id, timestamp, value, channel, customer_key, customer_type``) are
    turned into their cohorts by acquisition channel and month
    (:func:`models.customers.cohort_table`, whole months only).
    """
    src = os.fspath(path)
    try:
        df = pd.read_csv(src, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise CohortError(f"{src}: cannot read the cohort table ({str(exc).splitlines()[0]})") from None
    df.columns = [str(c).strip() for c in df.columns]
    if set(TAGGED_COLUMNS) <= set(df.columns):  # tagged orders: their cohorts month by month
        try:
            df = cohort_table(df)
        except RoisteError as exc:
            raise CohortError(str(exc).replace("tagged orders", src, 1)) from None
    if {"cohort", "months_since", "revenue"} <= set(df.columns):
        df = _wide(df, src)
    for col in ("acquisition_month", "channel", "customers"):
        if col not in df.columns:
            raise CohortError(f"{src}: no column {col!r} (columns: {list(df.columns)})")
    months = sorted((int(m.group(1)), c) for c in df.columns if (m := _MONTH.match(c)))
    later = [c for k, c in months if k >= 1]
    if not later:
        raise CohortError(f"{src}: no month_1, month_2, ... revenue columns")
    out = pd.DataFrame({"channel": df["channel"].str.strip()})
    for i, v in enumerate(df["acquisition_month"], start=2):
        try:
            pd.Timestamp(str(v).strip() + ("-01" if len(str(v).strip()) == 7 else ""))
        except ValueError:
            raise CohortError(f"{src}: row {i}, column acquisition_month: {v!r} is not a month "
                              "(YYYY-MM)") from None
    out["acquisition_month"] = [str(v).strip()[:7] for v in df["acquisition_month"]]
    for col in ["customers", *later]:
        vals = []
        for i, v in enumerate(df[col], start=2):
            v = str(v).strip()
            if v == "" and col != "customers":
                vals.append(np.nan)
                continue
            try:
                f = float(v)
            except ValueError:
                raise CohortError(f"{src}: row {i}, column {col}: {v!r} is not a number") from None
            if not np.isfinite(f) or f < 0:
                raise CohortError(f"{src}: row {i}, column {col}: {v!r} must be >= 0")
            vals.append(f)
        out[col] = vals
    return out


def _wide(df: pd.DataFrame, src: str) -> pd.DataFrame:
    """The long table of ``models.customers.cohort_table`` (one row per cohort and month since
    acquisition) as one row per cohort with ``month_k`` columns (text, checked by the caller)."""
    for col in ("channel", "customers"):
        if col not in df.columns:
            raise CohortError(f"{src}: no column {col!r} (columns: {list(df.columns)})")
    for i, v in enumerate(df["months_since"], start=2):
        if not str(v).strip().isdigit():
            raise CohortError(f"{src}: row {i}, column months_since: {v!r} is not a whole number")
    df = df.assign(months_since=df["months_since"].astype(int))
    wide = df.pivot_table(index=["cohort", "channel", "customers"], columns="months_since",
                          values="revenue", aggfunc="first").reset_index()
    wide.columns = [f"month_{c}" if isinstance(c, int | np.integer) else str(c)
                    for c in wide.columns]
    return wide.rename(columns={"cohort": "acquisition_month"}).fillna("")


def cohort_check(
    table: pd.DataFrame, scenario: Scenario, channels: Sequence[str],
    tolerance: float = TOLERANCE,
) -> dict[str, Any]:
    """Realised new-customer value per channel and cohort against the scenario's assumption.

    A channel of the panel is judged against its own economics
    (:func:`optimizer.economics.channel_economics`); a channel only in the table against the
    scenario-wide economics.
    """
    later = [c for c in table.columns if _MONTH.match(c)]
    k = len(later)
    rows, per_channel = [], {}
    own, base, _ = channel_economics(scenario, channels)
    econs = dict(zip(channels, own, strict=True))
    for ch, grp in table.groupby("channel", sort=True):
        econ = econs.get(str(ch)) or ChannelEconomics.merged(base)
        gm = econ.gross_margin if econ.gross_margin is not None else 1.0
        per_rev = gm * (1.0 - econ.return_rate)
        assumed = float(econ.new_customer_value)
        done_cust, done_value = 0.0, 0.0
        for _, r in grp.sort_values("acquisition_month").iterrows():
            revenue = r[later].to_numpy(dtype=float)
            complete = bool(np.all(np.isfinite(revenue)))
            cust = float(r["customers"])
            value = per_rev * float(np.nansum(revenue)) / cust if cust > 0 else float("nan")
            rows.append({"channel": ch, "acquisition_month": r["acquisition_month"],
                         "customers": cust, "months_observed": int(np.isfinite(revenue).sum()),
                         "complete": complete, "value_per_customer": value,
                         "assumed_value": assumed})
            if complete and cust > 0:
                done_cust += cust
                done_value += value * cust
        realised = done_value / done_cust if done_cust > 0 else None
        per_channel[str(ch)] = {
            "assumed_value": assumed, "realised_value": realised,
            "complete_cohorts": int(sum(1 for x in rows if x["channel"] == ch and x["complete"])),
            "ratio": None if realised is None or assumed <= 0 else realised / assumed,
            "disappoints": bool(realised is not None and realised < (1.0 - tolerance) * assumed),
            "in_panel": ch in channels,
        }
    return {"months": k, "tolerance": tolerance, "channels": per_channel,
            "flagged": sorted(c for c, v in per_channel.items() if v["disappoints"]),
            "cohorts": rows}


__all__ = ["CohortError", "cohort_check", "read_cohorts"]
