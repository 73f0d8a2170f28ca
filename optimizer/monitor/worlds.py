"""Simulated histories with a known change, for the monitor's tests and benchmarks.

:func:`simulate_funnel` draws a weekly long panel whose every column comes from a stated
funnel (spend -> impressions -> clicks -> visitors -> orders -> new customers, revenue,
returns); from ``jump_week`` on, one KPI of the ``target`` channel changes by a known factor:

* ``cpc``: the price of impressions (CPM) is multiplied by the factor, the click-through rate
  stays, so cost per click moves by the factor;
* ``net_cac``: the share of orders from new customers is divided by the factor, so what the
  new customers cost, all in, per new customer moves by the factor (in expectation);
* ``none``: nothing changes (false alarms).

Ratios of the funnel carry no seasonality (spend does); their weekly noise is stated by
:attr:`FunnelWorld.noise` (log standard deviation of the weekly net CAC and CPC).

:func:`simulate_cohort_orders` draws tagged orders whose customers acquired from
``drop_week`` on repeat less, so that their value after ``age`` days falls by a known share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["CohortWorld", "FunnelWorld", "simulate_cohort_orders", "simulate_funnel"]

JUMP_KPIS = ("cpc", "net_cac", "none")


@dataclass(frozen=True)
class FunnelWorld:
    """A simulated funnel panel and its truth."""

    panel: pd.DataFrame
    target: str
    kpi: str
    jump_week: int
    factor: float
    noise: dict[str, float]


def simulate_funnel(seed: int, *, n_weeks: int = 60, kpi: str = "net_cac", factor: float = 1.0,
                    jump_week: int | None = None, channels: tuple[str, ...] = ("search", "social"),
                    weekly_spend: float = 100_000.0, auction_noise: float = 0.02,
                    start: str = "2025-01-06") -> FunnelWorld:
    """A weekly long panel with ``clicks`` and ``impressions`` and a known change.

    Parameters
    ----------
    seed : int
        Seed of every draw.
    n_weeks : int, default 60
        Weeks of history.
    kpi : {"net_cac", "cpc", "none"}
        The KPI of ``channels[0]`` that changes from ``jump_week`` on.
    factor : float, default 1.0
        Its multiplier (1.55: +55 %).
    jump_week : int, optional
        First week of the change (default: ``n_weeks - 8``).
    channels : tuple of str
        Channel names; the first is the target.
    weekly_spend : float, default 100000
        Mean weekly spend of the target (the others spend half of it).
    auction_noise : float, default 0.02
        Log standard deviation of the weekly price of impressions.
    start : str
        Monday of the first week.

    Returns
    -------
    FunnelWorld
    """
    if kpi not in JUMP_KPIS:
        raise ValueError(f"kpi must be one of {', '.join(JUMP_KPIS)}")
    rng = np.random.default_rng(seed)
    jump = n_weeks - 8 if jump_week is None else jump_week
    weeks = pd.date_range(start, periods=n_weeks, freq="7D")
    t = np.arange(n_weeks)
    frames = []
    for j, c in enumerate(channels):
        level = weekly_spend if j == 0 else weekly_spend / 2
        spend = level * (1 + 0.15 * np.sin(2 * np.pi * (t + 13 * j) / 52)) * np.exp(
            rng.normal(0.0, 0.05, n_weeks))
        cpm = np.full(n_weeks, 8.0 + 2.0 * j) * np.exp(rng.normal(0.0, auction_noise, n_weeks))
        new_share = np.full(n_weeks, 0.5)
        if j == 0 and kpi == "cpc":
            cpm[jump:] *= factor
        if j == 0 and kpi == "net_cac":
            new_share[jump:] /= factor
        impressions = rng.poisson(1000.0 * spend / cpm)
        clicks = rng.binomial(impressions, 0.01)
        visitors = rng.binomial(clicks, 0.95)
        orders = rng.binomial(visitors, 0.04)
        new = rng.binomial(orders, new_share)
        aov = 80.0 * np.exp(rng.normal(0.0, 0.02, n_weeks))
        revenue = np.round(orders * aov, 2)
        returns = np.round(revenue * 0.1 * np.exp(rng.normal(0.0, 0.05, n_weeks)), 2)
        frames.append(pd.DataFrame({
            "date": weeks.strftime("%Y-%m-%d"), "channel": c, "spend": np.round(spend, 2),
            "revenue": revenue, "visitors": visitors, "orders": orders, "new_customers": new,
            "returns": returns, "clicks": clicks, "impressions": impressions,
        }))
    panel = pd.concat(frames, ignore_index=True).sort_values(["date", "channel"], kind="stable")
    # stated noise of the target's weekly KPIs (log scale): the auction's price and the binomial
    # counts; spend cancels in both ratios
    new_mean = weekly_spend / 8.0 * 1000 * 0.01 * 0.95 * 0.04 * 0.5
    clicks_mean = weekly_spend / 8.0 * 1000 * 0.01
    noise = {"net_cac": float(np.sqrt(auction_noise**2 + 1.0 / new_mean)),
             "cpc": float(np.sqrt(auction_noise**2 + 1.0 / clicks_mean))}
    return FunnelWorld(panel.reset_index(drop=True), channels[0], kpi, jump, factor, noise)


@dataclass(frozen=True)
class CohortWorld:
    """Simulated tagged orders and their truth."""

    orders: pd.DataFrame
    drop_week: int
    first_value: float
    repeat_value: float
    repeat_per_day: float
    repeat_per_day_after: float

    def value(self, age_days: float, after: bool = False) -> float:
        """Expected order value per new customer within ``age_days`` of the first order."""
        rate = self.repeat_per_day_after if after else self.repeat_per_day
        return self.first_value + rate * age_days * self.repeat_value


def simulate_cohort_orders(seed: int, *, n_weeks: int = 40, drop_week: int = 24,
                           drop: float = 0.3, age_days: int = 60,
                           new_per_week: float = 250.0, channels: tuple[str, ...] = ("search",),
                           first_value: float = 40.0, repeat_value: float = 40.0,
                           repeat_per_day: float = 0.05, horizon_days: int = 200,
                           start: str = "2025-01-06") -> CohortWorld:
    """Tagged orders whose customers acquired from ``drop_week`` on repeat less.

    Customers arrive ``Poisson(new_per_week)`` a week per channel, at uniform times; each
    places its first order (value ``first_value`` on average), then repeat orders at
    ``repeat_per_day`` per day (``repeat_value`` on average; log-normal values) until
    ``horizon_days``.  Customers acquired from ``drop_week`` on repeat at the rate that makes
    their expected value after ``age_days`` ``drop`` below the earlier customers' (the first
    order is unchanged).  Orders stop at the end of week ``n_weeks - 1``.
    """
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    end_days = 7.0 * n_weeks
    before = first_value + repeat_per_day * age_days * repeat_value
    after_rate = ((1.0 - drop) * before - first_value) / (age_days * repeat_value)
    if after_rate < 0:
        raise ValueError("the drop is larger than the repeat orders can give")
    times: list[np.ndarray] = []
    values: list[np.ndarray] = []
    chans: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    kinds: list[np.ndarray] = []
    next_key = 0
    for w in range(n_weeks):
        for c in channels:
            n = int(rng.poisson(new_per_week))
            first = 7.0 * w + rng.uniform(0.0, 7.0, n)
            ids = np.arange(next_key, next_key + n)
            next_key += n
            rate = after_rate if w >= drop_week else repeat_per_day
            k = rng.poisson(rate * horizon_days, n)
            rep_t = np.repeat(first, k) + rng.uniform(0.0, horizon_days, int(k.sum()))
            rep_id = np.repeat(ids, k)
            for tt, vv, ii, new in ((first, first_value, ids, True),
                                    (rep_t, repeat_value, rep_id, False)):
                val = rng.lognormal(np.log(vv) - 0.5 * 0.25, 0.5, len(tt))
                keep = tt < end_days
                times.append(tt[keep])
                values.append(val[keep])
                keys.append(ii[keep])
                chans.append(np.full(int(keep.sum()), c if new else "crm", dtype=object))
                kinds.append(np.full(int(keep.sum()), "new" if new else "existing", dtype=object))
    t = np.concatenate(times)
    order = np.lexsort((np.concatenate(keys), t))
    stamp = t0 + pd.to_timedelta(np.round(t[order] * 86400.0), unit="s")
    orders = pd.DataFrame({
        "order_id": np.char.add("O", np.char.zfill(np.arange(len(order)).astype(str), 8)),
        "timestamp": np.char.add(np.datetime_as_string(stamp.to_numpy(), unit="s"), "Z"),
        "value": np.round(np.concatenate(values)[order], 2),
        "channel": np.concatenate(chans)[order],
        "customer_key": np.char.add("k", np.char.zfill(
            np.concatenate(keys)[order].astype(str), 7)),
        "customer_type": np.concatenate(kinds)[order],
    })
    return CohortWorld(orders, drop_week, first_value, repeat_value, repeat_per_day, after_rate)
