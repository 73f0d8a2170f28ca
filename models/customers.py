"""New versus existing customers: cohorts, lifetime value per acquisition channel, panel columns.

Everything here reads *tagged orders*, the output of ``roiste customers tag`` (or any table with
the same columns): ``order_id, timestamp, value, channel, customer_key, customer_type,
first_purchase_at``.  A customer's acquisition is its order tagged ``new``: that order's month is
the cohort and its channel the acquisition channel.  Customers whose ``new`` order is not in the
data (acquired before it starts) belong to no cohort.

Lifetime value model (stated, per acquisition channel)
------------------------------------------------------
With ``m`` the number of calendar months since acquisition:

* month 0 is observed for every customer: its mean margin per customer is ``M0``;
* for ``m >= 1`` the share of the cohort that buys in month ``m`` decays geometrically,
  ``r(m) = a * q ** (m - 1)`` (a constant monthly survival ``q`` and a repeat share ``a`` one
  month after acquisition), fitted by weighted least squares on ``log r(m)`` over every observed
  (cohort, month) pooled per ``m``, with weights ``k_m / (1 - r_m)``, the inverse of the
  delta-method variance of a binomial log share (``k_m`` buyers of ``n_m`` observed customers);
* a customer who buys in a month brings the channel's mean margin per active customer-month
  ``mu`` (pooled over ``m >= 1``).

The lifetime value over ``H`` months, discounted by ``d = 1 / (1 + monthly_discount)``, is
``LTV = M0 + sum_{m=1..H} a q^(m-1) mu d^m``: observed months are smoothed by the fit and later
ones extrapolated by it.  Its uncertainty comes from a bootstrap over customers (each draw
resamples the channel's customers with their whole histories and refits).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from tqdm.auto import tqdm

from roiste.models.errors import RoisteError

_DRAWS_PER_BLOCK = 16  # bootstrap weights held at once: 16 x customers
TAGGED_COLUMNS = ("order_id", "timestamp", "value", "channel", "customer_key", "customer_type")


class CustomerDataError(RoisteError):
    """Tagged orders that do not meet the data contract."""


# ------------------------------------------------------------------------------ inputs
def _row_of(df: pd.DataFrame, bad: pd.Series) -> int:
    """The first bad row's number as the panel reader counts rows (the header is row 1).

    A frame read with its file's row numbers as index (blank lines keeping theirs) is named by
    that index; a default index from 0 by position + 2, the row of the frame written to CSV.
    """
    pos = int(np.flatnonzero(bad.to_numpy())[0])
    idx = df.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return pos + 2
    return int(idx[pos])


def _prepare(tagged: pd.DataFrame, source: str = "tagged orders") -> pd.DataFrame:
    missing = [c for c in TAGGED_COLUMNS if c not in tagged.columns]
    if missing:
        raise CustomerDataError(f"{source}: missing column(s) {', '.join(map(repr, missing))}")
    df = tagged.loc[:, list(TAGGED_COLUMNS)].copy()
    ts = pd.to_datetime(df["timestamp"], utc=True, errors="coerce", format="ISO8601")
    if ts.isna().any():
        row = _row_of(df, ts.isna())
        raise CustomerDataError(f"{source}: row {row}, column 'timestamp': not a date-time")
    value = pd.to_numeric(df["value"], errors="coerce")
    bad = value.isna() | (value < 0)
    if bad.any():
        row = _row_of(df, bad)
        raise CustomerDataError(f"{source}: row {row}, column 'value': not a number >= 0")
    kind = df["customer_type"].astype(str)
    bad = ~kind.isin(["new", "existing"])
    if bad.any():
        row = _row_of(df, bad)
        raise CustomerDataError(f"{source}: row {row}, column 'customer_type': not new or existing")
    df["timestamp"] = ts.dt.tz_localize(None)
    df["value"] = value.astype(float)
    df["customer_type"] = kind
    df["customer_key"] = df["customer_key"].astype(str)
    df["channel"] = df["channel"].astype(str)
    return df


def _month_index(ts: pd.Series) -> np.ndarray:
    return np.asarray(ts.dt.year * 12 + ts.dt.month - 1, dtype=np.int64)


def _last_complete_month(ts: pd.Series, observed_until: str | pd.Timestamp | None) -> int:
    end = pd.Timestamp(observed_until) if observed_until is not None else ts.max()
    if end.tzinfo is not None:
        end = end.tz_convert("UTC").tz_localize(None)
    nxt = end + pd.Timedelta(days=1)
    # The month holding `end` counts only when `end` is its last day.
    return int(nxt.year * 12 + nxt.month - 1) - 1


def _histories(
    df: pd.DataFrame,
    gross_margin: float,
    return_rate: float,
    cost_per_order: float,
    observed_until: str | pd.Timestamp | None,
) -> pd.DataFrame:
    """Orders of acquired customers with channel, cohort, months since and margin."""
    new = df[df["customer_type"] == "new"].sort_values("timestamp", kind="stable")
    new = new.drop_duplicates("customer_key", keep="first")
    acq = pd.DataFrame(
        {
            "customer_key": new["customer_key"].to_numpy(),
            "acq_channel": new["channel"].to_numpy(),
            "cohort": _month_index(new["timestamp"]),
        }
    )
    orders = df.merge(acq, on="customer_key", how="inner")
    orders["month"] = _month_index(orders["timestamp"])
    orders["months_since"] = orders["month"] - orders["cohort"]
    orders = orders[orders["months_since"] >= 0]
    orders["margin"] = (
        gross_margin * (1.0 - return_rate) * orders["value"] - cost_per_order
    )
    last = _last_complete_month(df["timestamp"], observed_until)
    orders.attrs["last_month"] = last
    acq["observed_months"] = last - acq["cohort"] + 1  # months 0 .. last-cohort
    orders.attrs["customers"] = acq
    return orders


def _month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# ------------------------------------------------------------------------------ cohorts
def cohort_table(
    tagged: pd.DataFrame,
    *,
    gross_margin: float = 1.0,
    return_rate: float = 0.0,
    cost_per_order: float = 0.0,
    observed_until: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Cohorts by acquisition channel and month, followed month by month.

    Parameters
    ----------
    tagged : DataFrame
        Tagged orders (see the module docstring).
    gross_margin, return_rate, cost_per_order : float
        Margin of an order: ``gross_margin * (1 - return_rate) * value - cost_per_order``.
        The defaults make margin equal to revenue.
    observed_until : date-like, optional
        End of the observation (default: the last order).  Only whole calendar months up to it
        are reported, so that a partly observed month does not look like churn.

    Returns
    -------
    DataFrame
        One row per (channel, cohort, months_since) observed: ``channel, cohort`` (YYYY-MM),
        ``months_since, customers`` (cohort size), ``active_customers`` (who bought that month),
        ``retention`` (their share), ``orders, revenue, margin, margin_per_customer``.
    """
    orders = _histories(_prepare(tagged), gross_margin, return_rate, cost_per_order, observed_until)
    last = orders.attrs["last_month"]
    customers = orders.attrs["customers"]
    sizes = customers.groupby(["acq_channel", "cohort"]).size().rename("customers")
    grid = [
        (ch, co, m)
        for (ch, co) in sizes.index
        for m in range(max(0, last - co + 1))
    ]
    index = pd.MultiIndex.from_tuples(grid, names=["acq_channel", "cohort", "months_since"])
    obs = orders[orders["month"] <= last]
    g = obs.groupby(["acq_channel", "cohort", "months_since"])
    agg = pd.DataFrame(
        {
            "active_customers": g["customer_key"].nunique(),
            "orders": g.size(),
            "revenue": g["value"].sum(),
            "margin": g["margin"].sum(),
        }
    ).reindex(index, fill_value=0)
    out = agg.reset_index().merge(sizes.reset_index(), on=["acq_channel", "cohort"])
    out["retention"] = out["active_customers"] / out["customers"]
    out["margin_per_customer"] = out["margin"] / out["customers"]
    out["cohort"] = [_month_label(int(c)) for c in out["cohort"]]
    out = out.rename(columns={"acq_channel": "channel"})
    cols = ["channel", "cohort", "months_since", "customers", "active_customers", "retention",
            "orders", "revenue", "margin", "margin_per_customer"]
    return out[cols].sort_values(["channel", "cohort", "months_since"]).reset_index(drop=True)


# ------------------------------------------------------------------------------ lifetime value
@dataclass(frozen=True)
class _ChannelArrays:
    """One channel's customers, sparse: memory grows with orders, not customers x months."""

    cohort_of: sparse.csr_matrix  # customers x cohorts: 1 at the customer's cohort
    obs: np.ndarray  # cohorts x months: month observed
    act: sparse.csr_matrix  # customers x months: bought that month
    mar: sparse.csr_matrix  # customers x months: margin that month

    def sums(self, weights: np.ndarray) -> tuple[np.ndarray, ...]:
        """Weighted sums the fit needs, for a block of weight vectors (draws x customers)."""
        wt = weights.T
        n_m = np.asarray(self.cohort_of.T @ wt).T @ self.obs
        k_m = np.asarray(self.act.T @ wt).T
        mar_m = np.asarray(self.mar.T @ wt).T
        return weights.sum(1), mar_m[:, 0], n_m[:, 1:], k_m[:, 1:], mar_m[:, 1:]


def _channel_arrays(orders: pd.DataFrame, customers: pd.DataFrame, months: int) -> dict[str, _ChannelArrays]:
    out: dict[str, _ChannelArrays] = {}
    last = orders.attrs["last_month"]
    obs_orders = orders[(orders["month"] <= last) & (orders["months_since"] < months)]
    for ch, cust in customers.groupby("acq_channel", sort=True):
        keys = cust["customer_key"].to_numpy()
        n = len(keys)
        pos = pd.Series(np.arange(n), index=keys)
        cohorts, cohort_idx = np.unique(cust["cohort"].to_numpy(), return_inverse=True)
        cohort_of = sparse.csr_matrix((np.ones(n), (np.arange(n), cohort_idx)), shape=(n, len(cohorts)))
        n_obs = np.clip(last - cohorts + 1, 0, months)
        obs = (np.arange(months)[None, :] < n_obs[:, None]).astype(float)
        o = obs_orders[obs_orders["acq_channel"] == ch]
        rows = pos.loc[o["customer_key"].to_numpy()].to_numpy()
        cols = o["months_since"].to_numpy()
        mar = sparse.csr_matrix((o["margin"].to_numpy(), (rows, cols)), shape=(n, months))
        act = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, months))
        act.data[:] = 1.0  # duplicates (several orders in a month) were summed: one active month
        out[str(ch)] = _ChannelArrays(cohort_of, obs, act, mar)
    return out


def _fit_from_sums(
    n0: np.ndarray, m0_sum: np.ndarray, n_m: np.ndarray, k_m: np.ndarray, mar_m: np.ndarray,
    horizon: int, discount: float,
) -> dict[str, np.ndarray]:
    """Fit the stated model from weighted sums; every array has a leading draws axis."""
    with np.errstate(divide="ignore", invalid="ignore"):
        m0 = m0_sum / n0
        r = k_m / n_m
        ok = (k_m > 0) & (n_m > 0) & (r < 1)
        w = np.where(ok, k_m / np.where(ok, 1.0 - r, 1.0), 0.0)
        y = np.where(ok, np.log(np.where(ok, r, 1.0)), 0.0)
        x = np.arange(n_m.shape[1], dtype=float)[None, :]  # m - 1 for m = 1..
        sw, sx, sy = w.sum(1), (w * x).sum(1), (w * y).sum(1)
        sxx, sxy = (w * x * x).sum(1), (w * x * y).sum(1)
        den = sw * sxx - sx * sx
        slope = (sw * sxy - sx * sy) / den
        inter = (sy - slope * sx) / sw
        a, q = np.exp(inter), np.exp(slope)
        mu = mar_m.sum(1) / k_m.sum(1)
    m = np.arange(1, horizon + 1, dtype=float)
    d = 1.0 / (1.0 + discount)
    future = (a[:, None] * q[:, None] ** (m[None, :] - 1) * d ** m[None, :]).sum(1) * mu
    return {"m0": m0, "a": a, "q": q, "mu": mu, "ltv": m0 + future}


def lifetime_value(
    tagged: pd.DataFrame,
    *,
    horizon_months: int = 36,
    monthly_discount: float = 0.0,
    gross_margin: float = 1.0,
    return_rate: float = 0.0,
    cost_per_order: float = 0.0,
    observed_until: str | pd.Timestamp | None = None,
    n_bootstrap: int = 200,
    level: float = 0.9,
    seed: int = 0,
    progress: bool = False,
) -> pd.DataFrame:
    """Lifetime margin of a customer per acquisition channel, with a bootstrap interval.

    Parameters
    ----------
    tagged : DataFrame
        Tagged orders.
    horizon_months : int, default 36
        Months after acquisition counted (month 0 is the acquisition month).
    monthly_discount : float, default 0.0
        Discount rate per month applied to future months.
    gross_margin, return_rate, cost_per_order : float
        Order margin, as in :func:`cohort_table` (defaults: margin = revenue).
    observed_until : date-like, optional
        End of the observation (default: the last order).
    n_bootstrap : int, default 200
        Bootstrap draws over customers (0: no interval).
    level : float, default 0.9
        Coverage of the percentile interval.
    seed : int, default 0
        Seed of the bootstrap.
    progress : bool, default False
        Show a progress bar over channels.

    Returns
    -------
    DataFrame
        One row per acquisition channel: ``channel, customers, observed_months,
        first_month_margin`` (``M0``), ``repeat_share`` (``a``), ``monthly_survival`` (``q``),
        ``margin_per_active_month`` (``mu``), ``ltv``, and with a bootstrap ``ltv_se,
        ltv_low, ltv_high``.
    """
    if horizon_months < 1:
        raise CustomerDataError(f"horizon_months must be >= 1, not {horizon_months}")
    if not 0 < level < 1:
        raise CustomerDataError(f"level must be in (0, 1), not {level}")
    orders = _histories(_prepare(tagged), gross_margin, return_rate, cost_per_order, observed_until)
    customers = orders.attrs["customers"]
    if customers.empty:
        raise CustomerDataError("tagged orders: no order tagged 'new', so no cohort to follow")
    months = int(max(1, customers["observed_months"].max()))
    arrays = _channel_arrays(orders, customers, months)
    rng = np.random.default_rng(seed)
    rows = []
    for ch, arr in tqdm(arrays.items(), disable=not progress, desc="lifetime value", unit="channel"):
        n = arr.act.shape[0]
        blocks = [arr.sums(np.ones((1, n)))]
        for start in range(0, n_bootstrap, _DRAWS_PER_BLOCK):
            size = min(_DRAWS_PER_BLOCK, n_bootstrap - start)
            blocks.append(arr.sums(rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)))
        n0, m0_sum, n_m, k_m, mar_m = (np.concatenate([b[i] for b in blocks]) for i in range(5))
        fit = _fit_from_sums(n0, m0_sum, n_m, k_m, mar_m, horizon_months, monthly_discount)
        row = {
            "channel": ch,
            "customers": n,
            "observed_months": int(arr.obs.any(axis=0).sum()),
            "first_month_margin": fit["m0"][0],
            "repeat_share": fit["a"][0],
            "monthly_survival": fit["q"][0],
            "margin_per_active_month": fit["mu"][0],
            "ltv": fit["ltv"][0],
        }
        if not np.isfinite(fit["ltv"][0]):
            warnings.warn(f"channel {ch!r}: too few repeat purchases to fit retention", stacklevel=2)
        elif fit["q"][0] >= 1:
            warnings.warn(
                f"channel {ch!r}: fitted retention does not decay (survival {fit['q'][0]:.3f}); "
                "the value grows with the horizon",
                stacklevel=2,
            )
        if n_bootstrap > 0:
            draws = fit["ltv"][1:]
            draws = draws[np.isfinite(draws)]
            lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]) if draws.size else (np.nan,) * 2
            row.update(ltv_se=float(draws.std(ddof=1)) if draws.size > 1 else np.nan,
                       ltv_low=float(lo), ltv_high=float(hi))
        rows.append(row)
    return pd.DataFrame(rows)


def new_customer_value(tagged: pd.DataFrame, **kwargs: object) -> dict[str, float]:
    """Lifetime margin per new customer by acquisition channel: ``{channel: ltv}``.

    The value a scenario's ``new_customer_value: from_cohorts`` stands for; keyword arguments
    go to :func:`lifetime_value` (``n_bootstrap`` defaults to 0 here).
    """
    kwargs.setdefault("n_bootstrap", 0)
    table = lifetime_value(tagged, **kwargs)  # type: ignore[arg-type]
    return {str(c): float(v) for c, v in zip(table["channel"], table["ltv"], strict=True)}


# ------------------------------------------------------------------------------ the panel
def panel_columns_from_orders(tagged: pd.DataFrame, *, week_start: str = "MON") -> pd.DataFrame:
    """The panel's ``new_customers`` and ``new_customer_revenue`` per (week, channel).

    Parameters
    ----------
    tagged : DataFrame
        Tagged orders.
    week_start : str, default "MON"
        First day of a week (``MON`` .. ``SUN``); ``date`` is that day, at midnight UTC.

    Returns
    -------
    DataFrame
        ``date, channel, orders, new_customers, new_customer_revenue`` for every week from
        the first to the last order and every channel (zeros where nothing happened).
    """
    days = ["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
    if week_start.upper() not in days:
        raise CustomerDataError(f"week_start must be one of {', '.join(days)}, not {week_start!r}")
    df = _prepare(tagged)
    shift = (df["timestamp"].dt.dayofweek - days.index(week_start.upper())) % 7
    df["date"] = (df["timestamp"] - pd.to_timedelta(shift, unit="D")).dt.normalize()
    df["is_new"] = (df["customer_type"] == "new").astype(int)
    df["new_value"] = df["value"] * df["is_new"]
    g = df.groupby(["date", "channel"])
    agg = pd.DataFrame(
        {"orders": g.size(), "new_customers": g["is_new"].sum(), "new_customer_revenue": g["new_value"].sum()}
    )
    weeks = pd.date_range(df["date"].min(), df["date"].max(), freq="7D")
    full = pd.MultiIndex.from_product([weeks, sorted(df["channel"].unique())], names=["date", "channel"])
    out = agg.reindex(full, fill_value=0).reset_index()
    out["orders"] = out["orders"].astype(int)
    out["new_customers"] = out["new_customers"].astype(int)
    out["new_customer_revenue"] = out["new_customer_revenue"].astype(float)
    return out


# ------------------------------------------------------------------------------ a known world
@dataclass(frozen=True)
class ChannelTruth:
    """A channel's customers in a simulated world: the truth the estimates must recover.

    New customers arrive ``Poisson(new_per_month)`` a month; the first order is worth
    ``first_value`` on average.  After acquisition a customer stays each month with
    probability ``survival`` and, while staying, buys in a month with probability
    ``repeat_prob`` an order worth ``repeat_value`` on average (log-normal values).
    """

    name: str
    new_per_month: float
    first_value: float
    repeat_prob: float
    survival: float
    repeat_value: float

    def ltv(
        self,
        horizon_months: int = 36,
        *,
        monthly_discount: float = 0.0,
        gross_margin: float = 1.0,
        return_rate: float = 0.0,
        cost_per_order: float = 0.0,
    ) -> float:
        """Exact expected lifetime margin of one new customer over the horizon."""
        k = gross_margin * (1.0 - return_rate)
        m = np.arange(1, horizon_months + 1, dtype=float)
        d = 1.0 / (1.0 + monthly_discount)
        repeat = (self.survival**m * self.repeat_prob * d**m).sum()
        return float(k * self.first_value - cost_per_order
                     + repeat * (k * self.repeat_value - cost_per_order))


def simulate_customer_orders(
    channels: list[ChannelTruth],
    *,
    months: int = 24,
    start: str = "2023-01-01",
    value_sigma: float = 0.5,
    repeat_channel: str = "crm",
    seed: int = 0,
) -> pd.DataFrame:
    """Orders of a simulated world, already tagged by construction (and with addresses).

    Returns
    -------
    DataFrame
        ``order_id, timestamp`` (ISO text, UTC), ``value, channel, email, customer_key,
        customer_type, first_purchase_at``, in time order.  Repeat orders come through
        ``repeat_channel``, so cohorts must follow the acquisition channel, not the order's.
    """
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    month_starts = [t0 + pd.DateOffset(months=i) for i in range(months + 1)]
    recs: list[tuple[pd.Timestamp, float, str, int, bool]] = []
    n_customers = 0
    for ch in channels:
        for mo in range(months):
            for _ in range(int(rng.poisson(ch.new_per_month))):
                cid = n_customers
                n_customers += 1
                span = (month_starts[mo + 1] - month_starts[mo]).total_seconds()
                first = month_starts[mo] + pd.Timedelta(seconds=float(rng.uniform(0, span)))
                recs.append((first, _lognormal(rng, ch.first_value, value_sigma), ch.name, cid, True))
                for later in range(mo + 1, months):
                    if rng.random() >= ch.survival:
                        break
                    if rng.random() < ch.repeat_prob:
                        span = (month_starts[later + 1] - month_starts[later]).total_seconds()
                        t = month_starts[later] + pd.Timedelta(seconds=float(rng.uniform(0, span)))
                        recs.append((t, _lognormal(rng, ch.repeat_value, value_sigma),
                                     repeat_channel, cid, False))
    recs.sort(key=lambda r: (r[0], r[3]))
    first_at: dict[int, pd.Timestamp] = {}
    for t, _, _, cid, is_new in recs:
        if is_new:
            first_at[cid] = t
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return pd.DataFrame(
        {
            "order_id": [f"S{i:07d}" for i in range(len(recs))],
            "timestamp": [r[0].strftime(fmt) for r in recs],
            "value": [round(r[1], 2) for r in recs],
            "channel": [r[2] for r in recs],
            "email": [f"sim.customer.{r[3]}@example.test" for r in recs],
            "customer_key": [f"c{r[3]:07d}" for r in recs],
            "customer_type": ["new" if r[4] else "existing" for r in recs],
            "first_purchase_at": [first_at[r[3]].strftime(fmt) for r in recs],
        }
    )


def _lognormal(rng: np.random.Generator, mean: float, sigma: float) -> float:
    return float(rng.lognormal(np.log(mean) - sigma**2 / 2, sigma))
