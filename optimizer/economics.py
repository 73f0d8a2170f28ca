"""Revenue -> net margin: the economics of a channel over a planning period.

For a planning period of ``P`` weeks and period spend ``x`` (weekly ``w = x / P``), with
``R(w)`` the channel's steady-state weekly incremental revenue (DESIGN.md, "Net margin of a
channel")::

    margin(x) = P * [ gm * (1 - rr) * (1 - cx) * R_incr(w) - cpo * orders(w) - cr * R(w)
                      + ncv * (1 - cx) * new_customers(w) ] - x * (1 + fee)

``cx`` is the ``cancellation_rate``: the share of orders lost after they are placed keeps no
revenue, no margin and wins no customer, while its logistics, commission and media were paid.
The net CAC of a channel (:func:`net_cac_rates`, :func:`net_cac_terms`) divides what its new
customers cost, all in, by their number::

    cac_net(x) = [ x * (1 + fee) + cr * R + cpo * orders + gm * (1 - (1 - rr) * (1 - cx)) * R ]
                 / new_customers

Orders, new customers and new-customer revenue follow revenue through the panel's ratios
(``revenue_per_order``, ``new_customers_per_revenue``, ``new_customer_revenue_share``), so every
term is proportional to ``R`` and ``margin(x) = P * k * R(x / P) - (1 + fee) * x`` with one
coefficient ``k`` per channel (:func:`margin_coefficient`).  With the ``revenue`` objective the
value is ``P * R(x / P)``.

:class:`PeriodFunctions` evaluates these period functions for many channels at once: channels
of one saturation family are evaluated together with array parameters, never one by one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from roiste.models.curves import CurveSet
from roiste.models.errors import ScenarioError
from roiste.models.transforms import Saturation
from roiste.optimizer.scenario import (
    ECONOMICS,
    ECONOMICS_KEYS,
    FROM_COHORTS,
    Scenario,
    cohort_customer_values,
    neutral,
)

FloatArray = NDArray[np.float64]

OBJECTIVES = ("net_margin", "revenue")


@dataclass(frozen=True)
class ChannelEconomics:
    """Money per unit of a channel's revenue, orders and new customers.

    The keys, their neutral defaults and their meaning are those of
    :data:`optimizer.scenario.ECONOMICS`; :func:`channel_economics` resolves them for the
    channels of a scenario.

    Parameters
    ----------
    gross_margin : float or None, default=None
        Share of net revenue left after the cost of goods; required for ``net_margin``.
    return_rate : float, default=0
        Share of revenue refunded.
    cancellation_rate : float, default=0
        Share of orders lost after they are placed (no revenue, margin or customer kept;
        logistics, commission and fees still paid).
    cost_per_order : float, default=0
        Logistics and handling per order (data currency).
    platform_fee_rate : float, default=0
        Fee on media spend paid to the platform or agency (spend costs ``1 + fee``).
    commission_rate : float, default=0
        Commission on (gross) revenue, e.g. affiliation.
    new_customer_value : float, default=0
        Future margin credited per new customer (data currency).
    existing_incrementality : float, default=1
        Share of existing-customer revenue counted as caused by the channel.
    """

    gross_margin: float | None = ECONOMICS["gross_margin"].default
    return_rate: float = neutral("return_rate")
    cancellation_rate: float = neutral("cancellation_rate")
    cost_per_order: float = neutral("cost_per_order")
    platform_fee_rate: float = neutral("platform_fee_rate")
    commission_rate: float = neutral("commission_rate")
    new_customer_value: float = neutral("new_customer_value")
    existing_incrementality: float = neutral("existing_incrementality")

    def __post_init__(self) -> None:
        for key in ECONOMICS_KEYS:
            v = getattr(self, key)
            if v is None and key == "gross_margin":
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ScenarioError(f"economics.{key} must be a number, got {v!r}")
            v = float(v)
            object.__setattr__(self, key, v)
            if not math.isfinite(v):
                raise ScenarioError(f"economics.{key} must be finite, got {v!r}")
            if ECONOMICS[key].is_share and not 0.0 <= v <= 1.0:
                raise ScenarioError(f"economics.{key} must lie in [0, 1], got {v:g}")
            if not ECONOMICS[key].is_share and v < 0.0:
                raise ScenarioError(f"economics.{key} must be >= 0, got {v:g}")

    @classmethod
    def merged(
        cls, base: Mapping[str, Any] | Any | None, override: Mapping[str, Any] | Any | None = None,
        *, where: str = "economics",
    ) -> ChannelEconomics:
        """Scenario-wide values with a channel's overrides on top.

        ``base`` and ``override`` are mappings or objects with attributes (pydantic models);
        keys that are not economics (``min``, ``max``, ``locked``) and values of ``None`` in
        the override are ignored.  ``where`` names the place in error messages.
        """
        values: dict[str, Any] = {}
        for layer, is_base in ((base, True), (override, False)):
            for key, v in _items(layer, strict=is_base, where=where):
                if v is None and not is_base:
                    continue
                values[key] = v
        values = {k: v for k, v in values.items() if not (v is None and k != "gross_margin")}
        try:
            return cls(**values)
        except ScenarioError as exc:
            raise ScenarioError(str(exc).replace("economics.", f"{where}.", 1)) from None

    def as_dict(self) -> dict[str, float | None]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _items(layer: Any, *, strict: bool, where: str) -> list[tuple[str, Any]]:
    if layer is None:
        return []
    if isinstance(layer, ChannelEconomics):
        return list(layer.as_dict().items())
    if isinstance(layer, Mapping):
        d = dict(layer)
    elif hasattr(layer, "model_dump"):
        d = layer.model_dump()
    else:
        d = {k: getattr(layer, k) for k in ECONOMICS_KEYS if hasattr(layer, k)}
    if strict:
        unknown = sorted(set(d) - set(ECONOMICS_KEYS))
        if unknown:
            raise ScenarioError(f"{where}: unknown key {unknown[0]!r}; known: {list(ECONOMICS_KEYS)}")
    return [(k, d[k]) for k in ECONOMICS_KEYS if k in d]


def channel_economics(
    scenario: Scenario, channels: Sequence[str]
) -> tuple[list[ChannelEconomics], dict[str, float | None], list[str]]:
    """Every channel's economics: the scenario's, its overrides, cohort values resolved.

    The one place that reads the economics keys of a scenario: the plan, the backtest, the
    analysis API and the cohort checks all take a channel's economics from here.

    Parameters
    ----------
    scenario : Scenario
        The scenario: its ``economics`` section and the overrides under ``channels``.
    channels : sequence of str
        The channels, in the order of the returned list.

    Returns
    -------
    economics : list of ChannelEconomics
        One per channel, with ``new_customer_value: from_cohorts`` replaced by the value of
        :func:`optimizer.scenario.cohort_customer_values`.
    base : dict
        The scenario-wide economics (its ``new_customer_value`` is None when it is
        ``from_cohorts``: the value is then per channel).
    notes : list of str
        Where cohort values came from (empty when no channel uses them).
    """
    values: dict[str, float] = {}
    notes: list[str] = []
    if scenario.uses_cohorts():
        values, notes = cohort_customer_values(scenario, channels)
    base: dict[str, Any] = scenario.economics.model_dump()
    by_cohorts = base["new_customer_value"] == FROM_COHORTS
    if by_cohorts:
        base["new_customer_value"] = None  # per channel: see the notes
    base_econ = ChannelEconomics.merged(base).as_dict()
    if by_cohorts:
        base_econ["new_customer_value"] = None
    econ = []
    for c in channels:
        own: dict[str, Any] = scenario.channel(c).overrides()
        if c in values:
            own["new_customer_value"] = values[c]
        econ.append(ChannelEconomics.merged(base, own, where=f"channels.{c}"))
    return econ, base_econ, notes


# ------------------------------------------------------------------------ the coefficient


def margin_terms(
    econ: ChannelEconomics, ratios: Mapping[str, float], objective: str = "net_margin",
    *, channel: str = "",
) -> tuple[float, float, list[str]]:
    """``(k, f, dropped)``: period value ``V(x) = P * k * R(x / P) - f * x``.

    ``dropped`` lists the terms left out because the panel lacks the ratio they need and
    leaving them out can only understate the margin (new-customer value; the new-customer
    share of revenue, then counted as existing-customer revenue).  A cost that needs a
    missing ratio (``cost_per_order`` without ``revenue_per_order``) raises
    :class:`ScenarioError`: dropping it would overstate the margin.
    """
    if objective not in OBJECTIVES:
        raise ScenarioError(f"objective must be one of {list(OBJECTIVES)}, got {objective!r}")
    if objective == "revenue":
        return 1.0, 0.0, []
    who = f"channel {channel!r}: " if channel else ""
    if econ.gross_margin is None:
        raise ScenarioError(f"{who}economics.gross_margin is required for objective net_margin")
    dropped: list[str] = []
    ei = econ.existing_incrementality
    share = ratios.get("new_customer_revenue_share")
    if ei < 1.0 and share is None:
        dropped.append("new-customer share of revenue (all revenue counted at "
                       f"existing_incrementality {ei:g})")
    s_new = 0.0 if share is None else float(share)
    incr = 1.0 if ei == 1.0 else s_new + (1.0 - s_new) * ei
    kept = 1.0 - econ.cancellation_rate  # lost orders keep no revenue and win no customer
    k = econ.gross_margin * (1.0 - econ.return_rate) * kept * incr - econ.commission_rate
    if econ.cost_per_order > 0.0:
        rpo = ratios.get("revenue_per_order")
        if rpo is None or not rpo > 0:
            raise ScenarioError(
                f"{who}economics.cost_per_order {econ.cost_per_order:g} needs orders, but the "
                "panel has no orders column (no revenue_per_order ratio)"
            )
        k -= econ.cost_per_order / float(rpo)
    if econ.new_customer_value > 0.0:
        ncr = ratios.get("new_customers_per_revenue")
        if ncr is None:
            dropped.append("new_customer_value (the panel has no new_customers column)")
        else:
            k += econ.new_customer_value * kept * float(ncr)
    return float(k), 1.0 + econ.platform_fee_rate, dropped


@dataclass(frozen=True)
class NetCacTerms:
    """The pieces of a channel's net CAC, per unit of its revenue and of its spend.

    ``cac_net = (spend_cost * x + cost_per_revenue * R) / (customers_per_revenue * R)`` for
    period spend ``x`` and period revenue ``R``; ``None`` where the panel lacks the ratio a
    piece needs (or, for ``cost_per_revenue``, the economics lack a gross margin).

    Attributes
    ----------
    cost_per_revenue : float or None
        ``cr + cpo / revenue_per_order + gm * (1 - (1 - rr) * (1 - cx))``: commission,
        logistics, and the margin lost to returns and lost orders, per unit of revenue.
    spend_cost : float
        ``1 + platform_fee_rate``: what a unit of media spend costs.
    customers_per_revenue : float or None
        New customers per unit of revenue (the panel's ratio).
    revenue_per_order : float or None
        The panel's average order value.
    margin_per_revenue : float or None
        ``k`` of :func:`margin_terms` (net margin objective): net margin per unit of revenue
        before media.
    """

    cost_per_revenue: float | None
    spend_cost: float
    customers_per_revenue: float | None
    revenue_per_order: float | None
    margin_per_revenue: float | None


def net_cac_terms(econ: ChannelEconomics, ratios: Mapping[str, float]) -> NetCacTerms:
    """The net CAC pieces of a channel (see :class:`NetCacTerms`); never raises.

    Examples
    --------
    >>> t = net_cac_terms(ChannelEconomics(gross_margin=0.5, return_rate=0.1,
    ...                   cancellation_rate=0.2, cost_per_order=5.0),
    ...                   {"revenue_per_order": 50.0, "new_customers_per_revenue": 0.01})
    >>> round(t.cost_per_revenue, 12)  # 5 / 50 + 0.5 * (1 - 0.9 * 0.8)
    0.24
    """
    rpo = ratios.get("revenue_per_order")
    rpo = float(rpo) if rpo is not None and rpo > 0 else None
    ncr = ratios.get("new_customers_per_revenue")
    ncr = None if ncr is None else float(ncr)
    rates = net_cac_rates(econ)
    a: float | None = None
    k: float | None = None
    if rates.lost_margin is not None and (rpo is not None or rates.per_order == 0.0):
        logistics = 0.0 if rpo is None else rates.per_order / rpo
        a = rates.commission + logistics + rates.lost_margin
        k = margin_terms(econ, ratios, "net_margin")[0]
    return NetCacTerms(a, rates.per_spend, ncr, rpo, k)


@dataclass(frozen=True)
class NetCacRates:
    """What a channel's net CAC counts per unit of spend, revenue and orders.

    The one definition of what new customers cost, all in: the planner's ``cac_net``
    (:func:`net_cac_terms`, orders following revenue) and the monitor's weekly ``net_cac``
    (observed orders) both count it through :meth:`cost`.

    Attributes
    ----------
    per_spend : float
        ``1 + platform_fee_rate``: media spend and platform fees.
    commission : float
        ``commission_rate``: commission per unit of revenue.
    per_order : float
        ``cost_per_order``: logistics of every order, kept or lost.
    lost_margin : float or None
        ``gm * (1 - (1 - rr) * (1 - cx))``: the margin lost to returns and lost orders per
        unit of revenue; None without a gross margin.
    """

    per_spend: float
    commission: float
    per_order: float
    lost_margin: float | None

    def cost(self, spend: ArrayLike, revenue: ArrayLike, orders: ArrayLike) -> FloatArray:
        """What new customers cost at these spends, revenues and orders (NaN without a
        gross margin: the margin lost to returns and lost orders cannot be valued).

        Examples
        --------
        >>> r = net_cac_rates(ChannelEconomics(gross_margin=0.5, return_rate=0.1,
        ...                   platform_fee_rate=0.1, cost_per_order=5.0))
        >>> float(r.cost(100.0, 400.0, 8.0))  # 110 + 5 * 8 + 0.5 * 0.1 * 400
        170.0
        """
        lost = np.nan if self.lost_margin is None else self.lost_margin
        s, r, o = (np.asarray(v, dtype=float) for v in (spend, revenue, orders))
        return np.asarray(self.per_spend * s + self.commission * r + self.per_order * o
                          + lost * r, dtype=float)


def net_cac_rates(econ: ChannelEconomics) -> NetCacRates:
    """The net CAC rates of a channel's economics (see :class:`NetCacRates`).

    Examples
    --------
    >>> round(net_cac_rates(ChannelEconomics(gross_margin=0.5, return_rate=0.1,
    ...       cancellation_rate=0.2)).lost_margin, 12)  # 0.5 * (1 - 0.9 * 0.8)
    0.14
    """
    lost: float | None = None
    if econ.gross_margin is not None:
        lost = econ.gross_margin * (1.0 - (1.0 - econ.return_rate) * (1.0 - econ.cancellation_rate))
    return NetCacRates(1.0 + econ.platform_fee_rate, econ.commission_rate, econ.cost_per_order,
                       lost)


def margin_coefficient(
    econ: ChannelEconomics, ratios: Mapping[str, float], objective: str = "net_margin"
) -> float:
    """The coefficient ``k`` of ``V(x) = P * k * R(x / P) - (1 + fee) * x``.

    Examples
    --------
    >>> margin_coefficient(ChannelEconomics(gross_margin=0.5, return_rate=0.1), {})
    0.45
    """
    return margin_terms(econ, ratios, objective)[0]


# ------------------------------------------------------------------ vectorised evaluation


class _Group:
    """Channels of one saturation family, evaluated together with array parameters."""

    def __init__(self, sats: Sequence[Saturation], rows: NDArray[np.intp]) -> None:
        self.rows = rows
        self.family = type(sats[0])
        self.params = self.family.stack_params(sats)

    def value(self, a: FloatArray) -> FloatArray:
        return np.asarray(self.family.value_at(self.params, a), dtype=float)

    def derivative(self, a: FloatArray) -> FloatArray:
        return np.asarray(self.family.derivative_at(self.params, a), dtype=float)


class PeriodFunctions:
    """Period value, revenue and new customers of N channels, vectorised over channels.

    Every method takes period spends ``X`` of shape ``(N,)`` or ``(N, m)`` (row ``c`` is
    channel ``c``, in the order of ``channels``) and returns period totals of the same shape.

    Parameters
    ----------
    curves : CurveSet
        Response curves; ``channels`` (default: all, in the set's order) picks and orders them.
    economics : ChannelEconomics, sequence or mapping of ChannelEconomics
        One for all channels, one per channel (in order), or a mapping channel -> economics.
    period_weeks : float
        Length ``P`` of the planning period in weeks.
    objective : {"net_margin", "revenue"}, default="net_margin"

    Attributes
    ----------
    coefficient : ndarray
        ``k_c`` of ``V_c(x) = P k_c R_c(x / P) - f_c x``.
    spend_cost : ndarray
        ``f_c = 1 + platform_fee_rate`` (net margin) or 0 (revenue).
    concave : ndarray of bool
        ``V_c`` is concave: a concave response and ``k_c >= 0``.
    revenue_concave : ndarray of bool
        The response itself is concave.
    concave_from : ndarray
        The period spend from which the response is concave (0 where it is concave; the
        inflection point of an S-shape, carry-over included).
    has_new_customers : ndarray of bool
        The panel gave the channel a new-customers ratio.
    dropped : dict
        Channel -> terms left out for lack of a ratio (see :func:`margin_terms`).
    """

    def __init__(
        self,
        curves: CurveSet,
        economics: ChannelEconomics | Sequence[ChannelEconomics] | Mapping[str, ChannelEconomics],
        period_weeks: float,
        objective: str = "net_margin",
        channels: Sequence[str] | None = None,
    ) -> None:
        names = list(curves.channels if channels is None else channels)
        if not period_weeks > 0:
            raise ScenarioError(f"period_weeks must be > 0, got {period_weeks!r}")
        if isinstance(economics, ChannelEconomics):
            econ = [economics] * len(names)
        elif isinstance(economics, Mapping):
            missing = [c for c in names if c not in economics]
            if missing:
                raise ScenarioError(f"economics: no economics for channel {missing[0]!r}")
            econ = [economics[c] for c in names]
        else:
            econ = list(economics)
            if len(econ) != len(names):
                raise ScenarioError(
                    f"economics: {len(econ)} entries for {len(names)} channels"
                )
        self.names = names
        self.n = len(names)
        self.period_weeks = float(period_weeks)
        self.objective = objective
        cs = [curves[c] for c in names]
        k = np.empty(self.n)
        f = np.empty(self.n)
        self.dropped: dict[str, list[str]] = {}
        for i, (c, e) in enumerate(zip(cs, econ, strict=True)):
            k[i], f[i], dropped = margin_terms(e, c.ratios, objective, channel=c.channel)
            if dropped:
                self.dropped[c.channel] = dropped
        self.coefficient = k
        self.spend_cost = f
        ncr = [c.ratios.get("new_customers_per_revenue") for c in cs]
        self.has_new_customers = np.array([r is not None for r in ncr], dtype=bool)
        self.new_customers_per_revenue = np.array([0.0 if r is None else float(r) for r in ncr])
        self.beta = np.array([c.revenue.beta for c in cs], dtype=float)
        self.adstock_weight = np.array([c.revenue.adstock.total_weight for c in cs], dtype=float)
        self.revenue_concave = np.array([c.is_concave for c in cs], dtype=bool)
        self.concave = self.revenue_concave & (k >= 0.0)
        # the period spend from which revenue P beta S(x w / P) is concave: S's own point,
        # scaled as _saturation scales the spend
        start = np.array([c.revenue.saturation.concave_from for c in cs], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            from_x = start * self.period_weeks / self.adstock_weight
        self.concave_from = np.where(start <= 0.0, 0.0, np.where(np.isnan(from_x), np.inf, from_x))
        by_family: dict[str, list[int]] = {}
        for i, c in enumerate(cs):
            by_family.setdefault(c.family, []).append(i)
        self._groups = [
            _Group([cs[i].revenue.saturation for i in rows], np.array(rows, dtype=np.intp))
            for _, rows in sorted(by_family.items())
        ]

    # -- the response, per period ----------------------------------------------------------
    def _shaped(self, x: ArrayLike) -> tuple[FloatArray, bool]:
        X = np.asarray(x, dtype=float)
        flat = X.ndim == 1
        X2 = X[:, None] if flat else X
        if X2.ndim != 2 or X2.shape[0] != self.n:
            raise ValueError(f"spends must have shape ({self.n},) or ({self.n}, m), got {X.shape}")
        return X2, flat

    def _saturation(self, X: FloatArray, derivative: bool) -> FloatArray:
        a = X / self.period_weeks * self.adstock_weight[:, None]
        out = np.empty_like(a)
        for g in self._groups:
            sub = a[g.rows]
            out[g.rows] = g.derivative(sub) if derivative else g.value(sub)
        return out

    def revenue(self, x: ArrayLike) -> FloatArray:
        """Period incremental revenue ``P * R(x / P)``."""
        X, flat = self._shaped(x)
        r = self.period_weeks * self.beta[:, None] * self._saturation(X, False)
        return r[:, 0] if flat else r

    def revenue_slope(self, x: ArrayLike) -> FloatArray:
        """Derivative of period revenue in period spend: the marginal ROAS ``R'(x / P)``."""
        X, flat = self._shaped(x)
        r = (self.beta * self.adstock_weight)[:, None] * self._saturation(X, True)
        return r[:, 0] if flat else r

    def new_customers(self, x: ArrayLike) -> FloatArray:
        """Period incremental new customers (0 where the panel had none)."""
        r = self.revenue(x)
        return self.new_customers_per_revenue[:, None] * r if r.ndim == 2 else (
            self.new_customers_per_revenue * r)

    def new_customers_slope(self, x: ArrayLike) -> FloatArray:
        r = self.revenue_slope(x)
        return (self.new_customers_per_revenue[:, None] * r if r.ndim == 2
                else self.new_customers_per_revenue * r)

    # -- the objective -----------------------------------------------------------------------
    def value(self, x: ArrayLike) -> FloatArray:
        """Period value ``V(x) = P k R(x / P) - f x`` (net margin, or revenue)."""
        X, flat = self._shaped(x)
        v = self.coefficient[:, None] * self.revenue(X) - self.spend_cost[:, None] * X
        return v[:, 0] if flat else v

    def slope(self, x: ArrayLike) -> FloatArray:
        """Derivative of :meth:`value` in period spend."""
        X, flat = self._shaped(x)
        s = self.coefficient[:, None] * self.revenue_slope(X) - self.spend_cost[:, None]
        return s[:, 0] if flat else s


def channel_margin(
    curves: CurveSet, channel: str, econ: ChannelEconomics, period_weeks: float,
    x: ArrayLike, objective: str = "net_margin",
) -> FloatArray:
    """Period value of one channel at period spends ``x`` (a convenience for reports)."""
    c = curves[channel]
    k, f, _ = margin_terms(econ, c.ratios, objective, channel=channel)
    x = np.asarray(x, dtype=float)
    return period_weeks * k * c.response(x / period_weeks) - f * x
