"""``new_customer_value: from_cohorts``: the value of a new customer from the tagged orders.

The value of a new customer acquired by a channel is its lifetime margin from the cohorts of
the tagged orders the scenario names under ``customers`` (:func:`models.customers.lifetime_value`)
minus the margin of its first order, which the channel's revenue already counts.  Values are
cached per file (path, modification time, size) and economics, so a plan, its checks and a
backtest read the file once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from roiste.models.customers import lifetime_value
from roiste.models.errors import RoisteError, ScenarioError
from roiste.optimizer.scenario.economics import FROM_COHORTS
from roiste.optimizer.scenario.schema import Scenario

_CACHE: dict[tuple[object, ...], tuple[dict[str, float], dict[str, float]]] = {}


def _read_tagged(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):  # what `roiste customers tag` may write
            return pd.read_parquet(path)
        frame = pd.read_csv(path, dtype={"order_id": str, "customer_key": str, "channel": str},
                            skip_blank_lines=False)
    except (OSError, ValueError, ImportError, pd.errors.ParserError) as exc:
        msg = " ".join(str(exc).split())
        raise ScenarioError(f"{path}: cannot read the tagged orders ({msg})") from None
    # rows numbered as the panel reader does: the header is row 1, blank lines keep their number
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    return frame[frame.notna().any(axis=1)]


def _cohort_values(
    path: Path, horizon: int, discount: float, gm: float, rr: float, cpo: float
) -> tuple[dict[str, float], dict[str, float]]:
    """``({channel: lifetime margin}, {channel: first-order margin})`` of a tagged orders file."""
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size, horizon, discount, gm, rr, cpo)
    if key in _CACHE:
        return _CACHE[key]
    tagged = _read_tagged(path)
    try:
        table = lifetime_value(tagged, horizon_months=horizon, monthly_discount=discount,
                               gross_margin=gm, return_rate=rr, cost_per_order=cpo,
                               n_bootstrap=0)
    except RoisteError as exc:
        raise ScenarioError(str(exc).replace("tagged orders", str(path), 1)) from None
    ltv = {str(c): float(v) for c, v in zip(table["channel"], table["ltv"], strict=True)}
    # the first order of each acquired customer: the `new` order, first in time
    new = tagged[tagged["customer_type"].astype(str) == "new"].copy()
    new["ts"] = pd.to_datetime(new["timestamp"], utc=True, format="ISO8601")
    new = new.sort_values("ts", kind="stable").drop_duplicates("customer_key", keep="first")
    value = pd.to_numeric(new["value"]).astype(float)
    first_margin = (gm * (1.0 - rr) * value - cpo).groupby(new["channel"].astype(str)).mean()
    first = {str(c): float(v) for c, v in first_margin.items()}
    _CACHE[key] = (ltv, first)
    return ltv, first


def cohort_customer_values(
    scenario: Scenario, channels: Sequence[str]
) -> tuple[dict[str, float], list[str]]:
    """The new-customer value of every channel set to ``from_cohorts``, and notes saying so.

    The value is the future margin of a new customer after its first order::

        value = LTV - first-order margin

    where ``LTV`` is :func:`models.customers.lifetime_value` of the channel's cohorts (margin
    over ``customers.horizon_months`` months from acquisition, month 0 included, discounted by
    ``customers.monthly_discount``) with the channel's gross margin, return rate and cost per
    order, and the first-order margin is the mean margin of the channel's orders tagged
    ``new``.  The channel's revenue already holds that first order (it is new-customer
    revenue), so crediting the whole lifetime value would count it twice.

    Parameters
    ----------
    scenario : Scenario
        The scenario; a channel takes its value from the cohorts when its own
        ``new_customer_value`` is ``from_cohorts``, or when it sets none and the scenario's is.
    channels : sequence of str
        The channels to value (those of the panel).

    Returns
    -------
    values : dict of str to float
        Future margin per new customer of each channel set to ``from_cohorts``.
    notes : list of str
        One sentence saying where the values came from (empty when no channel uses cohorts).

    Raises
    ------
    ScenarioError
        A channel with no cohort in the tagged orders (no order tagged ``new`` through it), or
        too few repeat purchases to fit retention: set a number for it under ``channels``.
    """
    spec = scenario.customers
    if spec is None:
        raise ScenarioError(
            "new_customer_value: from_cohorts needs customers: orders (the tagged orders file)")
    path = Path(spec.orders)
    shown = scenario.written("customers.orders")
    values: dict[str, float] = {}
    parts: list[str] = []
    for c in channels:
        econ = scenario.economics_for(c)
        if econ.new_customer_value != FROM_COHORTS:
            continue
        gm = 1.0 if econ.gross_margin is None else float(econ.gross_margin)
        rr, cpo = float(econ.return_rate), float(econ.cost_per_order)
        ltv, first = _cohort_values(path, int(spec.horizon_months),
                                    float(spec.monthly_discount), gm, rr, cpo)
        if c not in ltv:
            raise ScenarioError(
                f"channel {c!r}: new_customer_value: from_cohorts, but the tagged orders "
                f"{shown} have no customer acquired through {c!r}; set a number under "
                f"channels -> {c} -> new_customer_value")
        future = ltv[c] - first[c]
        if not math.isfinite(future):
            raise ScenarioError(
                f"channel {c!r}: new_customer_value: from_cohorts, but its cohorts in {shown} "
                f"have too few repeat purchases to fit retention; set a number under "
                f"channels -> {c} -> new_customer_value")
        if future < 0:
            raise ScenarioError(
                f"channel {c!r}: the cohorts in {shown} give a negative future margin per new "
                f"customer ({future:,.2f}); set a number under channels -> {c} -> "
                "new_customer_value")
        values[c] = float(future)
        parts.append(f"{c} {future:,.2f} (lifetime {ltv[c]:,.2f} - first order {first[c]:,.2f})")
    if not values:
        return values, []
    note = (
        f"new_customer_value from cohorts of {shown} ({int(spec.horizon_months)} months, "
        f"discount {100 * float(spec.monthly_discount):g} % a month; future margin after the "
        f"first order): " + ", ".join(parts)
    )
    return values, [note]


__all__ = ["cohort_customer_values"]
