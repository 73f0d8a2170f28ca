"""What every step of a plan shares, and the per-channel figures of the allocation table.

A private helper of :mod:`optimizer.plan`: the current spend, the limits of each channel, the
economics after the scenario's overrides, the period value functions, and the evaluation of
every channel (revenue, ROAS, marginal ROAS, net margin, RPV, net CAC, ...) at a spend.

``new_customer_value: from_cohorts`` is resolved here, once per plan: the value of a new
customer acquired by a channel is its lifetime margin from the cohorts of the tagged orders
(:func:`models.customers.lifetime_value`) minus the margin of its first order, which the
channel's revenue already counts (see :func:`cohort_customer_values`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from roiste.models.curves import CurveSet
from roiste.models.errors import CurveError, RoisteError, ScenarioError
from roiste.optimizer.economics import ECONOMICS_KEYS, ChannelEconomics, PeriodFunctions


@dataclass
class PlanContext:
    """What every step of a plan shares: channels, current spend, limits and value functions."""

    curves: CurveSet
    scenario: Any
    channels: list[str]
    x0: np.ndarray
    budget: float
    current_total: float
    budget_mode: Literal["equal", "at_most"]
    mins: np.ndarray
    maxs: np.ndarray
    locked: np.ndarray
    economics: list[dict[str, float | None]]
    base_economics: dict[str, float | None]
    objective_functions: PeriodFunctions
    margin_functions: PeriodFunctions | None
    value_notes: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, curves: CurveSet, scenario: Any, current_weekly: pd.Series) -> PlanContext:
        channels = [str(c) for c in current_weekly.index]
        missing = [c for c in channels if c not in curves]
        if missing:
            raise CurveError(
                f"curves: no curve for channel(s) {missing}; the curves have {curves.channels}"
            )
        curves = curves.subset(channels)
        p = int(scenario.period_weeks)
        x0 = current_weekly.to_numpy(dtype=float) * p
        current_total = float(x0.sum())
        overrides = scenario.channels or {}
        econ_objs, base_econ, notes = channel_economics(scenario, channels)
        objective = str(scenario.objective)
        fn_obj = PeriodFunctions(curves, econ_objs, p, objective)
        if objective == "net_margin":
            fn_margin: PeriodFunctions | None = fn_obj
        elif all(e.gross_margin is not None for e in econ_objs):
            fn_margin = PeriodFunctions(curves, econ_objs, p, "net_margin")
        else:
            fn_margin = None
        return cls(
            curves=curves,
            scenario=scenario,
            channels=channels,
            x0=x0,
            budget=current_total if scenario.budget is None else float(scenario.budget),
            current_total=current_total,
            budget_mode="at_most" if scenario.allow_underspend else "equal",
            mins=np.array([_opt(overrides.get(c), "min", 0.0) for c in channels], dtype=float),
            maxs=np.array([_opt(overrides.get(c), "max", np.inf) for c in channels], dtype=float),
            locked=np.array([bool(_opt(overrides.get(c), "locked", False)) for c in channels]),
            economics=[e.as_dict() for e in econ_objs],
            base_economics=base_econ,
            objective_functions=fn_obj,
            margin_functions=fn_margin,
            value_notes=notes,
        )

    @property
    def period_weeks(self) -> int:
        return int(self.scenario.period_weeks)

    @property
    def step(self) -> float:
        return float(self.scenario.step)

    def net_margin(self, x: np.ndarray) -> float | None:
        """Total period net margin at period spends ``x`` (None without a gross margin)."""
        if self.margin_functions is None:
            return None
        return float(np.sum(self.margin_functions.value(x)))

    def evaluate(self, x: np.ndarray, suffix: str) -> dict[str, np.ndarray]:
        """Every per-channel figure of the allocation table at period spends ``x``."""
        p = float(self.period_weeks)
        w = x / p
        cs = [self.curves[c] for c in self.channels]
        rev = np.array([float(c.response(w[i])) for i, c in enumerate(cs)]) * p
        out: dict[str, np.ndarray] = {
            f"revenue{suffix}": rev,
            f"roas{suffix}": _safe_div(rev, x),
            f"marginal_roas{suffix}": np.array([float(c.marginal(w[i])) for i, c in enumerate(cs)]),
        }
        nan = np.full(len(cs), np.nan)
        fn = self.margin_functions
        out[f"net_margin{suffix}"] = nan if fn is None else np.asarray(fn.value(x), dtype=float)
        out[f"marginal_net_margin{suffix}"] = (
            nan if fn is None else np.asarray(fn.slope(x), dtype=float)
        )
        if any(c.has_visitors for c in cs):  # channels without visitors get empty cells
            out[f"rpv{suffix}"] = np.array(
                [float(c.rpv(w[i])) if c.has_visitors else np.nan for i, c in enumerate(cs)]
            )
            out[f"marginal_rpv{suffix}"] = np.array(
                [float(c.marginal_rpv(w[i])) if c.has_visitors else np.nan for i, c in enumerate(cs)]
            )
        ncr = np.array([c.ratios.get("new_customers_per_revenue", np.nan) for c in cs], dtype=float)
        if np.isfinite(ncr).any():
            nc = rev * ncr
            e = {k: np.array([d.get(k) or 0.0 for d in self.economics]) for k in ECONOMICS_KEYS}
            cost = (
                x * (1.0 + e["platform_fee_rate"])
                + e["commission_rate"] * rev
                + e["gross_margin"] * e["return_rate"] * rev
            )
            out[f"new_customers{suffix}"] = nc
            out[f"cac_net{suffix}"] = _safe_div(cost, nc)
            out[f"cost_per_new_customer{suffix}"] = _safe_div(x, nc)
        return out


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` where ``b > 0``, NaN elsewhere (also where ``b`` is NaN)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.nan_to_num(b, nan=0.0) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, a / np.where(ok, b, 1.0), np.nan)


def _opt(override: Any, key: str, default: Any) -> Any:
    if override is None:
        return default
    v = override.get(key) if isinstance(override, Mapping) else getattr(override, key, None)
    return default if v is None else v


# ------------------------------------------------------------------------ customer value

FROM_COHORTS = "from_cohorts"
_COHORT_CACHE: dict[tuple[Any, ...], tuple[dict[str, float], dict[str, float]]] = {}


def channel_economics(
    scenario: Any, channels: Sequence[str]
) -> tuple[list[ChannelEconomics], dict[str, float | None], list[str]]:
    """Every channel's economics with ``from_cohorts`` resolved: ``(per channel, base, notes)``.

    ``base`` is the scenario-wide economics (its ``new_customer_value`` is None when it is
    ``from_cohorts``: the value is then per channel); ``notes`` say where cohort values came
    from (see :func:`cohort_customer_values`).
    """
    overrides = scenario.channels or {}
    layers = {c: _layer(overrides.get(c)) for c in channels}
    base = _layer(scenario.economics)
    notes: list[str] = []
    if _uses_cohorts(base, layers):
        values, notes = cohort_customer_values(scenario, channels, base, layers)
        for c, v in values.items():
            layers[c]["new_customer_value"] = v
    by_cohorts = base.get("new_customer_value") == FROM_COHORTS
    if by_cohorts:
        base["new_customer_value"] = None  # per channel: see the notes
    base_econ = ChannelEconomics.merged(base).as_dict()
    if by_cohorts:
        base_econ["new_customer_value"] = None
    econ = [ChannelEconomics.merged(base, layers[c], where=f"channels.{c}") for c in channels]
    return econ, base_econ, notes


def _layer(spec: Any) -> dict[str, Any]:
    """Economics keys of a scenario section or channel override, as a plain dict."""
    if spec is None:
        return {}
    d = dict(spec) if isinstance(spec, Mapping) else (
        spec.model_dump() if hasattr(spec, "model_dump") else {})
    return {k: d[k] for k in ECONOMICS_KEYS if k in d}


def _uses_cohorts(base: Mapping[str, Any], layers: Mapping[str, Mapping[str, Any]]) -> bool:
    own = [lay.get("new_customer_value") for lay in layers.values()]
    return any(v == FROM_COHORTS for v in own) or (
        base.get("new_customer_value") == FROM_COHORTS and any(v is None for v in own))


def _read_tagged(path: Path) -> pd.DataFrame:
    try:
        if path.suffix.lower() in (".parquet", ".pq"):  # what `roiste customers tag` may write
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={"order_id": str, "customer_key": str, "channel": str})
    except (OSError, ValueError, ImportError, pd.errors.ParserError) as exc:
        msg = " ".join(str(exc).split())
        raise ScenarioError(f"{path}: cannot read the tagged orders ({msg})") from None


def _cohort_values(
    path: Path, horizon: int, discount: float, gm: float, rr: float, cpo: float
) -> tuple[dict[str, float], dict[str, float]]:
    """``({channel: lifetime margin}, {channel: first-order margin})`` of a tagged orders file."""
    from roiste.models.customers import lifetime_value

    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size, horizon, discount, gm, rr, cpo)
    if key in _COHORT_CACHE:
        return _COHORT_CACHE[key]
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
    _COHORT_CACHE[key] = (ltv, first)
    return ltv, first


def cohort_customer_values(
    scenario: Any,
    channels: Sequence[str],
    base: Mapping[str, Any] | None = None,
    layers: Mapping[str, Mapping[str, Any]] | None = None,
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

    Raises
    ------
    ScenarioError
        A channel with no cohort in the tagged orders (no order tagged ``new`` through it), or
        too few repeat purchases to fit retention: set a number for it under ``channels``.
    """
    base = _layer(scenario.economics) if base is None else base
    layers = {c: _layer((scenario.channels or {}).get(c)) for c in channels} if layers is None \
        else layers
    spec = scenario.customers
    if spec is None:
        raise ScenarioError(
            "new_customer_value: from_cohorts needs customers: orders (the tagged orders file)")
    path = Path(spec.orders)
    shown = scenario.written("customers.orders") if hasattr(scenario, "written") else str(path)
    values: dict[str, float] = {}
    parts: list[str] = []
    for c in channels:
        lay = layers.get(c, {})
        own = lay.get("new_customer_value")
        if own != FROM_COHORTS and not (own is None and base.get("new_customer_value") == FROM_COHORTS):
            continue

        def pick(k: str, default: float, lay: Mapping[str, Any] = lay) -> float:
            v = lay.get(k)
            v = base.get(k) if v is None else v
            return default if v is None else float(v)

        gm = pick("gross_margin", 1.0)
        rr, cpo = pick("return_rate", 0.0), pick("cost_per_order", 0.0)
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
