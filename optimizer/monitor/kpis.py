"""Weekly KPIs of the monitor: per channel, per campaign, and what the plan expects of them.

Every KPI is a ratio of weekly sums, so a channel's KPI over several weeks or campaigns is the
ratio of their sums (never a mean of ratios):

========================  ==========================================================
spend, revenue            the panel's columns
roas                      revenue / spend
net_cac                   (spend x (1 + platform fee) + commission x revenue
                          + cost_per_order x orders
                          + gross margin x (1 - (1 - return_rate)(1 - cancellation_rate))
                            x revenue) / new customers: the plan's cac_net
cost_per_new_customer     spend / new customers
rpv                       revenue / visitors
aov                       revenue / orders
return_rate               returns / revenue
cpc                       spend / clicks
cpm                       1000 x spend / impressions
ctr                       clicks / impressions
conversion_rate           orders / visitors
net_revenue               revenue - returns
net_roas                  (revenue - returns) / spend
net_orders                orders - returned_orders
net_conversion_rate       (orders - returned_orders) / visitors
========================  ==========================================================

``returns`` (refunded revenue) and ``returned_orders`` (orders returned, whole or in part)
belong to the week of the order.  They arrive in the weeks after it: a week's
``net_revenue``, ``net_roas``, ``net_orders`` and ``net_conversion_rate`` are final once
``return_weeks`` (a rules key) have passed.  ``returns_complete`` says how complete
each week is, taking returns to arrive evenly over the order's week and the ``return_weeks``
after it: ``min(1, (weeks since the order's week + 1) / (return_weeks + 1))``; rules on the
net KPIs judge complete weeks only.

A KPI whose panel column is absent, or whose denominator is zero, is NaN (empty in CSV).

``net_cac`` is the plan's ``cac_net`` (``docs/economics.md``) on the week's observed spend,
revenue and orders: each channel's economics (:class:`NetCacBasis`) are the rules' ``economics``
keys, else the rules' draft scenario's (the channel's override, else its ``economics``), else
neutral, and one definition (:class:`optimizer.economics.NetCacRates`) gives the cost for both.
Where an input is missing the basis says so in one note: without a ``gross_margin`` the margin
lost to returns and lost orders cannot be valued and ``return_cost_rate`` x the panel's
refunded revenue counts instead (lost orders are left out); without an ``orders`` column
logistics (``cost_per_order``) are left out.  A series' net CAC sums each campaign's or
channel's cost with its own economics (all channels: every channel's).

Panels with extra key columns (campaign, market) have keys ``channel|campaign``; their rows
are the *campaign* level and their sums per channel the *channel* level.

The plan's expectation: a plan (``allocation.csv``) gives, per channel, the spend it
recommends and the incremental revenue, visitors and new customers its curves expect at the
current and the recommended spend.  The expected week is the panel's mean week over the plan's
baseline weeks (before the plan started) plus those expected changes; the plan's start is
``plan_start`` of the rules, or the week after the baseline weeks whose mean spend reproduces
the plan's current spend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.panel import Panel
from roiste.optimizer.economics import ChannelEconomics, NetCacRates, net_cac_rates
from roiste.optimizer.monitor.rules import KPIS, NO_PLAN, MonitorEconomics, MonitorError
from roiste.optimizer.scenario import Scenario

__all__ = [
    "COST",
    "NET_KPIS",
    "QUANTITIES",
    "KpiSeries",
    "NetCacBasis",
    "PlanView",
    "attach_plan",
    "kpi_table",
    "kpis_from",
    "load_plan",
    "net_cac_basis",
    "recent_kpis",
    "returns_complete",
    "series_of",
]

QUANTITIES = ("spend", "revenue", "visitors", "orders", "new_customers", "returns", "clicks",
              "impressions", "returned_orders")
NET_KPIS = ("net_revenue", "net_roas", "net_orders", "net_conversion_rate")
COST = "acquisition_cost"  # a week's net CAC numerator: what its new customers cost, all in
TOTAL = "(all channels)"
# the economics keys net CAC counts (new_customer_value and existing_incrementality do not enter)
NET_CAC_KEYS = ("platform_fee_rate", "commission_rate", "cost_per_order", "gross_margin",
                "return_rate", "cancellation_rate")


@dataclass(frozen=True)
class NetCacBasis:
    """What the monitor's ``net_cac`` counts for each panel column (channel or
    ``channel|campaign``): its channel's :class:`optimizer.economics.NetCacRates`.

    Attributes
    ----------
    rates : dict
        Panel column -> the rates of its channel's economics.
    return_cost_rate : float
        Share of the panel's refunded revenue counted for a channel without a gross margin.
    has_orders, has_returns : bool
        Whether the panel has the ``orders`` and ``returns`` columns.
    notes : tuple of str
        What the net CAC leaves out for want of an input (at most one line).
    """

    rates: dict[str, NetCacRates]
    return_cost_rate: float = 1.0
    has_orders: bool = True
    has_returns: bool = True
    notes: tuple[str, ...] = ()

    def cost(self, column: str, spend: Any, revenue: Any, orders: Any, returns: Any) -> Any:
        """What the new customers of ``column`` cost at these (weekly) quantities: the
        numerator of its net CAC (arrays or numbers, as given)."""
        r = self.rates[column]
        o = orders if self.has_orders and r.per_order != 0.0 else 0.0
        if r.lost_margin is not None:
            return r.cost(spend, revenue, o)
        refunds = np.nan_to_num(np.asarray(returns, dtype=float)) if self.has_returns else 0.0
        return (NetCacRates(r.per_spend, r.commission, r.per_order, 0.0).cost(spend, revenue, o)
                + self.return_cost_rate * refunds)


def net_cac_basis(panel: Panel, econ: MonitorEconomics,
                  scenario: Scenario | None = None) -> NetCacBasis:
    """Each panel column's net CAC economics and a note on what cannot be counted.

    Parameters
    ----------
    panel : Panel
        The weekly panel (its channels, and whether it has ``orders``, ``returns`` and
        ``new_customers``).
    econ : MonitorEconomics
        The rules' ``economics``: a key given there applies to every channel.
    scenario : Scenario, optional
        The rules' draft scenario: the keys the rules leave out, per channel (its override,
        else the scenario's ``economics``).

    Returns
    -------
    NetCacBasis
    """
    given = econ.model_dump(include=set(NET_CAC_KEYS), exclude_none=True)
    rates: dict[str, NetCacRates] = {}
    no_margin: list[str] = []
    cx: list[str] = []
    logistics = False
    for col in panel.channels:
        ch = col.split("|", 1)[0]
        base: dict[str, Any] = {}
        if scenario is not None:
            own = scenario.economics_for(ch).model_dump()
            base = {k: own[k] for k in NET_CAC_KEYS if k in own}
        ce = ChannelEconomics.merged({**base, **given}, where=f"channels.{ch}")
        rates[col] = net_cac_rates(ce)
        if ce.gross_margin is None and ch not in no_margin:
            no_margin.append(ch)
            if ce.cancellation_rate > 0.0:
                cx.append(ch)
        logistics = logistics or ce.cost_per_order > 0.0
    has_orders, has_returns = "orders" in panel.extras, "returns" in panel.extras
    parts: list[str] = []
    if no_margin:
        who = ("no channel has" if len(no_margin) == len({c.split("|", 1)[0] for c in rates})
               else f"channel(s) {', '.join(no_margin[:5])} have")
        refunds = (f"return_cost_rate {econ.return_cost_rate:g} x the panel's refunded revenue"
                   if has_returns else "nothing (the panel has no returns column)")
        lost = f"; cancellation_rate is left out for {', '.join(cx[:5])}" if cx else ""
        parts.append(f"{who} a gross_margin (in the rules' economics or the draft scenario), so "
                     "the margin lost to returns and lost orders is not valued (returns count as "
                     f"{refunds}{lost})")
    if logistics and not has_orders:
        parts.append("logistics (cost_per_order) are left out: the panel has no orders column")
    notes: tuple[str, ...] = ()
    if parts and "new_customers" in panel.extras:
        notes = ("net_cac is not the plan's cac_net: " + "; ".join(parts),)
    return NetCacBasis(rates, econ.return_cost_rate, has_orders, has_returns, notes)


def _basis(panel: Panel, econ: MonitorEconomics | NetCacBasis) -> NetCacBasis:
    return econ if isinstance(econ, NetCacBasis) else net_cac_basis(panel, econ)


@dataclass
class KpiSeries:
    """One watched series: the weekly sums of a channel (or campaign) and their KPIs."""

    key: str
    channel: str
    campaign: str
    level: str
    sums: pd.DataFrame
    kpis: pd.DataFrame
    expected: pd.DataFrame | None = None  # the plan's expected KPIs per week (NaN before it)


@dataclass
class PlanView:
    """What a plan directory says about the weeks it covers."""

    path: Path
    name: str
    period_weeks: int
    baseline_weeks: int
    allocation: pd.DataFrame
    start: int | None = None  # index of the plan's first week in the panel (may be past its end)
    compared_from: int | None = None  # first week compared with the plan's expected week
    notes: list[str] = field(default_factory=list)

    @property
    def overlaps(self) -> bool:
        """Whether some week of the panel lies in the plan's period."""
        return self.start is not None and self.compared_from == self.start


def kpis_from(sums: pd.DataFrame) -> pd.DataFrame:
    """KPIs of weekly (or summed) quantities (:data:`QUANTITIES` and :data:`COST`); columns
    in :data:`KPIS` order."""
    s = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        def ratio(a: pd.Series, b: pd.Series) -> pd.Series:
            return (a / b.where(b > 0)).astype(float)

        out = pd.DataFrame({
            "spend": s["spend"],
            "revenue": s["revenue"],
            "roas": ratio(s["revenue"], s["spend"]),
            "net_cac": ratio(s[COST], s["new_customers"]),
            "cost_per_new_customer": ratio(s["spend"], s["new_customers"]),
            "rpv": ratio(s["revenue"], s["visitors"]),
            "aov": ratio(s["revenue"], s["orders"]),
            "return_rate": ratio(s["returns"], s["revenue"]),
            "cpc": ratio(s["spend"], s["clicks"]),
            "cpm": 1000.0 * ratio(s["spend"], s["impressions"]),
            "ctr": ratio(s["clicks"], s["impressions"]),
            "conversion_rate": ratio(s["orders"], s["visitors"]),
            "net_revenue": (s["revenue"] - s["returns"]).astype(float),
            "net_roas": ratio(s["revenue"] - s["returns"], s["spend"]),
            "net_orders": (s["orders"] - s["returned_orders"]).astype(float),
            "net_conversion_rate": ratio(s["orders"] - s["returned_orders"], s["visitors"]),
        }, index=s.index)
    return out[list(KPIS)]


def _sums(panel: Panel, cols: list[str], basis: NetCacBasis) -> pd.DataFrame:
    assert panel.revenue is not None
    data: dict[str, Any] = {"spend": panel.spend[cols].sum(axis=1),
                            "revenue": panel.revenue[cols].sum(axis=1)}
    for q in QUANTITIES[2:]:
        data[q] = panel.extras[q][cols].sum(axis=1) if q in panel.extras else np.nan

    def col(q: str, c: str) -> Any:
        return panel.extras[q][c].to_numpy(dtype=float) if q in panel.extras else np.nan

    data[COST] = sum(basis.cost(c, panel.spend[c].to_numpy(dtype=float),
                                panel.revenue[c].to_numpy(dtype=float), col("orders", c),
                                col("returns", c)) for c in cols)
    return pd.DataFrame(data, index=panel.weeks)[[*QUANTITIES, COST]].astype(float)


def series_of(panel: Panel, econ: MonitorEconomics | NetCacBasis) -> list[KpiSeries]:
    """The series a panel holds: campaigns (when keyed), channels, and all channels together.

    ``econ`` is the rules' economics (no draft scenario) or the basis
    :func:`net_cac_basis` resolved with it.
    """
    if panel.layout != "long" or panel.revenue is None:
        raise MonitorError(f"{panel.source}: the monitor needs a long panel "
                           "(date, channel, spend, revenue, ...)")
    basis = _basis(panel, econ)
    out: list[KpiSeries] = []
    keyed = any("|" in c for c in panel.channels)
    groups: dict[str, list[str]] = {}
    for c in panel.channels:
        groups.setdefault(c.split("|", 1)[0], []).append(c)
    if keyed:
        for c in panel.channels:
            ch, camp = c.split("|", 1) if "|" in c else (c, "")
            sums = _sums(panel, [c], basis)
            out.append(KpiSeries(c, ch, camp, "campaign", sums, kpis_from(sums)))
    for ch, cols in groups.items():
        sums = _sums(panel, cols, basis)
        out.append(KpiSeries(ch, ch, "", "channel", sums, kpis_from(sums)))
    sums = _sums(panel, list(panel.channels), basis)
    out.append(KpiSeries(TOTAL, TOTAL, "", "total", sums, kpis_from(sums)))
    return out


# --------------------------------------------------------------------------- the plan


def load_plan(plan_dir: str | Path) -> PlanView:
    """Read ``allocation.csv`` and ``summary.json`` of a plan directory."""
    d = Path(plan_dir)
    alloc_path, summary_path = d / "allocation.csv", d / "summary.json"
    for p in (alloc_path, summary_path):
        if not p.is_file():
            raise MonitorError(f"{d}: not a plan directory ({p.name} is missing)")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        period, base = int(summary["period_weeks"]), int(summary["baseline_weeks"])
    except (ValueError, KeyError, TypeError) as exc:
        raise MonitorError(f"{summary_path}: not a plan summary ({type(exc).__name__}: {exc})") from None
    try:
        alloc = pd.read_csv(alloc_path, dtype={"channel": str})
    except (ValueError, pd.errors.ParserError) as exc:
        raise MonitorError(f"{alloc_path}: cannot read ({exc})") from None
    need = ("channel", "current_spend", "recommended_spend", "expected_revenue")
    missing = [c for c in need if c not in alloc.columns]
    if missing:
        raise MonitorError(f"{alloc_path}: column(s) {', '.join(missing)} missing")
    return PlanView(d, str(summary.get("scenario", d.name)), period, base,
                    alloc.set_index("channel"))


def _find_start(plan: PlanView, panel: Panel, plan_start: str | None, recent: int) -> int:
    weeks = panel.weeks
    if plan_start is not None:
        pos = int(weeks.searchsorted(pd.Timestamp(plan_start)))
        if pos < plan.baseline_weeks:
            raise MonitorError(f"plan_start {plan_start}: the panel has fewer than "
                               f"{plan.baseline_weeks} weeks before it (the plan's baseline weeks)")
        return pos
    chans = [c for c in plan.allocation.index if c in panel.channels]
    cur = plan.allocation.loc[chans, "current_spend"].to_numpy(dtype=float)
    x = panel.spend[chans].to_numpy()
    b, p = plan.baseline_weeks, plan.period_weeks
    csum = np.vstack([np.zeros(len(chans)), np.cumsum(x, axis=0)])
    for e in range(panel.n_weeks, b - 1, -1):
        period = (csum[e] - csum[e - b]) / b * p
        if np.all(np.abs(period - cur) <= 0.006 + 1e-9 * np.abs(cur)):
            return e
    e = max(b, panel.n_weeks - recent)
    plan.notes.append(
        f"no {b} weeks of the panel reproduce the plan's current spend; the plan is taken to "
        f"start {weeks[min(e, panel.n_weeks - 1)].date()} (set plan_start in the rules file)")
    return e


def attach_plan(series: list[KpiSeries], plan: PlanView, panel: Panel,
                econ: MonitorEconomics | NetCacBasis, plan_start: str | None,
                recent: int) -> None:
    """Set ``expected`` on every series the plan covers (weeks from the plan's start).

    The expected net CAC counts the expected week's spend, revenue and orders with each
    channel's economics (``econ``, as in :func:`series_of`).
    """
    basis = _basis(panel, econ)
    missing = [c for c in panel.channels if c not in plan.allocation.index]
    if missing:
        raise MonitorError(f"{plan.path / 'allocation.csv'}: no row for channel(s) "
                           f"{', '.join(missing[:5])} of the panel {panel.source}")
    start = _find_start(plan, panel, plan_start, recent)
    plan.start = start
    plan.compared_from = start
    if start >= panel.n_weeks:
        plan.compared_from = max(0, panel.n_weeks - recent)
        begins = (panel.weeks[-1] + pd.Timedelta(weeks=start - panel.n_weeks + 1)).date()
        plan.notes.append(
            f"no week of the panel is in the plan's period (it starts {begins}, after the "
            f"panel's last week {panel.weeks[-1].date()}); the latest {panel.n_weeks - plan.compared_from} "
            "week(s) are compared with the weekly KPIs the plan expects")
    a, p, b = plan.allocation, plan.period_weeks, plan.baseline_weeks
    pre = slice(start - b, start)

    def col(name: str, c: str) -> float:
        if name not in a.columns:
            return np.nan
        v = pd.to_numeric(a[name], errors="coerce").get(c)
        return float(v) if v is not None and pd.notna(v) else np.nan

    per_key: dict[str, pd.Series] = {}
    for c in panel.channels:
        q = _sums(panel, [c], basis).iloc[pre].mean()
        rev_now = col("revenue_current", c)
        d_rev = (col("expected_revenue", c) - rev_now) / p if np.isfinite(rev_now) else 0.0
        d_nc = (col("new_customers", c) - col("new_customers_current", c)) / p
        vis_rec = col("expected_revenue", c) / col("rpv", c)
        vis_cur = rev_now / col("rpv_current", c)
        d_vis = (vis_rec - vis_cur) / p
        exp = q.copy()
        exp["spend"] = col("recommended_spend", c) / p
        exp["revenue"] = q["revenue"] + d_rev
        exp["new_customers"] = q["new_customers"] + (d_nc if np.isfinite(d_nc) else 0.0)
        exp["visitors"] = q["visitors"] + (d_vis if np.isfinite(d_vis) else 0.0)
        scale = exp["revenue"] / q["revenue"] if q["revenue"] > 0 else 1.0
        exp["orders"] = q["orders"] * scale
        exp["returns"] = q["returns"] * scale
        exp["returned_orders"] = q["returned_orders"] * scale
        exp[COST] = float(basis.cost(c, exp["spend"], exp["revenue"], exp["orders"],
                                     exp["returns"]))
        per_key[c] = exp
    for s in series:
        cols = ([s.key] if s.level == "campaign" else panel.channels if s.level == "total"
                else [c for c in panel.channels if c.split("|", 1)[0] == s.key])
        total = sum((per_key[c] for c in cols),
                    start=pd.Series(0.0, index=[*QUANTITIES, COST]))
        exp_kpi = kpis_from(total.to_frame().T).iloc[0]
        frame = pd.DataFrame(np.nan, index=panel.weeks, columns=list(KPIS))
        frame.iloc[plan.compared_from:] = exp_kpi.to_numpy()
        frame[list(NO_PLAN)] = np.nan  # a plan says nothing of baskets, returns or the funnel
        s.expected = frame


def returns_complete(n_weeks: int, return_weeks: int) -> np.ndarray:
    """Share of each week's returns arrived by the last week: returns spread evenly over the
    order's week and the ``return_weeks`` after it."""
    since = np.arange(n_weeks - 1, -1, -1, dtype=float)  # weeks from each week to the last
    return np.minimum(1.0, (since + 1.0) / (return_weeks + 1.0))


def recent_kpis(s: KpiSeries, recent: int) -> pd.DataFrame:
    """KPIs over the ``recent`` weeks before each week (ratios of sums; spend, revenue, net
    revenue and net orders per week)."""
    prev = s.sums.rolling(recent, min_periods=recent).sum().shift(1)
    k = kpis_from(prev)
    k["spend"] = prev["spend"] / recent
    k["revenue"] = prev["revenue"] / recent
    k["net_revenue"] = (prev["revenue"] - prev["returns"]) / recent
    k["net_orders"] = (prev["orders"] - prev["returned_orders"]) / recent
    return k


def _change(a: pd.Series, b: pd.Series) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a / b.where(b != 0) - 1.0).astype(float)


def kpi_table(series: list[KpiSeries], recent: int,
              complete: np.ndarray | None = None) -> pd.DataFrame:
    """The long table of ``kpis.csv``: one row per week and series.

    Besides each KPI: ``<kpi>_recent`` (the KPI over the ``recent`` weeks before that week,
    as a ratio of sums), ``<kpi>_vs_recent`` (relative change against it), and, with a plan,
    ``<kpi>_plan`` and ``<kpi>_vs_plan``; with returns, ``returns_complete`` (the share of the
    week's returns arrived, :func:`returns_complete`).
    """
    rows = []
    for s in series:
        cols: dict[str, Any] = {"week": pd.DatetimeIndex(s.kpis.index).strftime("%Y-%m-%d"),
                                "key": s.key, "channel": s.channel, "campaign": s.campaign,
                                "level": s.level}
        if complete is not None:
            cols["returns_complete"] = complete
        rec = recent_kpis(s, recent)
        for k in KPIS:
            cols[k] = s.kpis[k].to_numpy()
        for k in KPIS:
            cols[f"{k}_recent"] = rec[k].to_numpy()
            cols[f"{k}_vs_recent"] = _change(s.kpis[k], rec[k]).to_numpy()
        if s.expected is not None:
            for k in KPIS:
                cols[f"{k}_plan"] = s.expected[k].to_numpy()
                cols[f"{k}_vs_plan"] = _change(s.kpis[k], s.expected[k]).to_numpy()
        rows.append(pd.DataFrame(cols, index=s.kpis.index))
    return pd.concat(rows, ignore_index=True)
