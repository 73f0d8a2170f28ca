"""The numbers behind the exploration figures: curves on a spend grid and saturation points.

Every function takes a *source*: a :class:`~models.curves.CurveSet` (then the current spend of
a channel is its ``recent_spend`` times ``period_weeks``) or a :class:`~optimizer.plan.Plan`
(then the plan's period, current and recommended spend, bounds and economics are used).
Spend is for the whole planning period of ``period_weeks`` weeks, in the data's currency;
marginal ROAS is extra revenue per extra unit of spend (the same per week and per period).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.curves import CurveSet, ResponseCurve
from roiste.models.errors import CurveError, ScenarioError
from roiste.optimizer.economics import ChannelEconomics, channel_economics, margin_terms
from roiste.optimizer.plan import Plan
from roiste.optimizer.scenario import Scenario

Economics = ChannelEconomics | Mapping[str, ChannelEconomics]


@dataclass(frozen=True)
class View:
    """What the figures and tables need to know about a source (curves or a plan)."""

    curves: CurveSet
    period_weeks: int
    current: dict[str, float]
    recommended: dict[str, float] | None = None
    bounds: dict[str, tuple[float, float]] | None = None
    economics: dict[str, ChannelEconomics] | None = None
    step: float | None = None

    def curve(self, channel: str) -> ResponseCurve:
        if channel not in self.curves:
            raise CurveError(f"no curve for channel {channel!r}; known: {self.curves.channels}")
        return self.curves[channel]

    def econ(self, channel: str) -> ChannelEconomics | None:
        return None if self.economics is None else self.economics.get(channel)


def view(
    source: CurveSet | Plan,
    period_weeks: int = 4,
    *,
    current: Mapping[str, float] | None = None,
    economics: Economics | None = None,
) -> View:
    """Resolve a source into curves, period, current/recommended spend and economics.

    Parameters
    ----------
    source : CurveSet or Plan
    period_weeks : int, default 4
        Length of the planning period (ignored for a plan, which has its own).
    current : mapping, optional
        Current period spend per channel (default: recent weekly spend x ``period_weeks``).
    economics : ChannelEconomics or mapping channel -> ChannelEconomics, optional
        Turns revenue into net margin (a plan brings its own).
    """
    if isinstance(source, Plan):
        a = source.allocation.set_index("channel")
        econ = {c: ChannelEconomics.merged(d) for c, d in source.economics.items()}

        def col(name: str) -> dict[str, float]:
            return {str(c): float(x) for c, x in a[name].items()}

        lo, hi = col("lower_bound"), col("upper_bound")
        return View(
            curves=source.curves,
            period_weeks=int(source.period_weeks),
            current=col("current_spend"),
            recommended=col("recommended_spend"),
            bounds={c: (lo[c], hi[c]) for c in lo},
            economics=econ if all(e.gross_margin is not None for e in econ.values()) else None,
            step=float(source.step),
        )
    if not isinstance(source, CurveSet):
        raise TypeError(f"expected a CurveSet or a Plan, got {type(source).__name__}")
    if not period_weeks >= 1:
        raise ScenarioError(f"period_weeks must be >= 1, got {period_weeks!r}")
    p = int(period_weeks)
    cur = {c: source[c].recent_spend * p for c in source.channels}
    for c, v in (current or {}).items():
        if c not in source:
            raise CurveError(f"current spend given for channel {c!r}, which has no curve")
        cur[c] = float(v)
    if economics is None:
        econ_map = None
    elif isinstance(economics, ChannelEconomics):
        econ_map = dict.fromkeys(source.channels, economics)
    else:
        missing = [c for c in source.channels if c not in economics]
        if missing:
            raise ScenarioError(f"economics: no economics for channel {missing[0]!r}")
        econ_map = {c: economics[c] for c in source.channels}
    return View(curves=source, period_weeks=p, current=cur, economics=econ_map)


def scenario_economics(scenario: Scenario, channels: Sequence[str]) -> dict[str, ChannelEconomics]:
    """Each channel's economics in a scenario: overrides applied, cohort values resolved."""
    return dict(zip(channels, channel_economics(scenario, channels)[0], strict=True))


# --------------------------------------------------------------------------- bootstrap draws


def _quantiles(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    q = (1.0 - level) / 2.0
    return (np.quantile(values, q, axis=0, method="inverted_cdf"),
            np.quantile(values, 1.0 - q, axis=0, method="inverted_cdf"))


def marginal_band(curve: ResponseCurve, w: Any, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise ``level`` interval of the marginal ROAS at weekly spend ``w`` over the draws.

    Without bootstrap draws both ends are the fitted marginal ROAS.
    """
    w = np.atleast_1d(np.asarray(w, dtype=float))
    if not curve.draws:
        m = np.atleast_1d(curve.marginal(w))
        return m, m
    d = np.vstack([c.derivative(w) for c in curve.draws])
    q = (1.0 - level) / 2.0
    return np.quantile(d, q, axis=0), np.quantile(d, 1.0 - q, axis=0)


def _draw_curves(curve: ResponseCurve) -> list[ResponseCurve]:
    return [ResponseCurve(curve.channel, d, recent_spend=curve.recent_spend) for d in curve.draws]


def _spend_at(curve: ResponseCurve, target: float) -> float:
    """Weekly spend where marginal ROAS falls to ``target`` (inf when never, 0 when never above)."""
    if not math.isfinite(target) or target <= 0:
        return math.inf
    return curve.spend_at_marginal(target)


# --------------------------------------------------------------------------- tables


def spend_grid(v: View, channel: str, n: int = 121) -> np.ndarray:
    """Period spends from 0 to 1.6 x the largest marked point (current, recommended, bounds)."""
    pts = [v.current.get(channel, 0.0)]
    if v.recommended:
        pts.append(v.recommended[channel])
    if v.bounds:
        pts.extend(v.bounds[channel])
    top = max([*pts, 1.0]) * 1.6
    return np.linspace(0.0, top, n)


def curve_frame(
    source: CurveSet | Plan,
    channel: str,
    *,
    period_weeks: int = 4,
    spend: Sequence[float] | np.ndarray | None = None,
    level: float = 0.9,
) -> pd.DataFrame:
    """One channel's response and marginal ROAS over period spend, with bootstrap bands.

    Returns
    -------
    pandas.DataFrame
        ``spend`` (period), ``weekly_spend``, ``revenue`` (incremental, per period) with
        ``revenue_low``/``revenue_high``, ``marginal_roas`` with ``marginal_roas_low``/``_high``
        (the ``level`` bootstrap interval; equal to the fit without draws), ``roas``,
        ``saturation_share`` and, when the panel had visitors, ``rpv`` and ``marginal_rpv``.
    """
    v = view(source, period_weeks)
    c = v.curve(channel)
    p = float(v.period_weeks)
    x = spend_grid(v, channel) if spend is None else np.asarray(spend, dtype=float)
    w = x / p
    lo, hi = c.response_band(w, level=level)
    mlo, mhi = marginal_band(c, w, level=level)
    out = pd.DataFrame({
        "spend": x,
        "weekly_spend": w,
        "revenue": np.asarray(c.response(w)) * p,
        "revenue_low": np.asarray(lo) * p,
        "revenue_high": np.asarray(hi) * p,
        "marginal_roas": np.asarray(c.marginal(w)),
        "marginal_roas_low": mlo,
        "marginal_roas_high": mhi,
        "roas": np.asarray(c.roas(w)),
        "saturation_share": np.asarray(c.saturation_share(w)),
    })
    if c.has_visitors:
        with np.errstate(divide="ignore", invalid="ignore"):
            out["rpv"] = np.asarray(c.rpv(w))
            out["marginal_rpv"] = np.asarray(c.marginal_rpv(w))
    return out


def margin_breakeven(curve: ResponseCurve, econ: ChannelEconomics | None) -> float:
    """Marginal ROAS at which one more unit of spend adds no net margin: ``(1 + fee) / k``."""
    if econ is None or econ.gross_margin is None:
        return math.nan
    k, f, _ = margin_terms(econ, curve.ratios, "net_margin", channel=curve.channel)
    return f / k if k > 0 else math.inf


def saturation_table(
    source: CurveSet | Plan,
    *,
    period_weeks: int = 4,
    economics: Economics | None = None,
    share: float = 0.8,
    level: float = 0.9,
) -> pd.DataFrame:
    """Where each channel saturates, per period, with bootstrap intervals.

    Columns (spend per period): ``family``, ``current_spend``, ``saturation_share`` (share of
    the maximum response reached at current spend), ``saturation_spend`` (where ``share`` of
    the maximum is reached), ``roas_1_spend`` (where marginal ROAS falls to 1), ``marginal_roas``
    at current spend; with economics, ``margin_breakeven_roas`` (the marginal ROAS at which
    extra spend stops adding net margin) and ``margin_breakeven_spend`` (the spend where it is
    reached); each spend and ratio with ``_low``/``_high`` columns over the bootstrap draws when
    the curves have them; ``recommended_spend`` for a plan; ``rpv``/``marginal_rpv`` when the
    panel had visitors.
    """
    v = view(source, period_weeks, economics=economics)
    p = float(v.period_weeks)
    rows = []
    for ch in v.curves.channels:
        c = v.curves[ch]
        w = v.current[ch] / p
        be = margin_breakeven(c, v.econ(ch))
        row: dict[str, Any] = {
            "channel": ch,
            "family": c.family,
            "current_spend": v.current[ch],
            "saturation_share": float(c.saturation_share(w)),
            "saturation_spend": c.saturation_spend(share) * p,
            "roas_1_spend": _spend_at(c, 1.0) * p,
            "marginal_roas": float(c.marginal(w)),
        }
        if v.economics is not None:
            row["margin_breakeven_roas"] = be
            row["margin_breakeven_spend"] = _spend_at(c, be) * p
        draws = _draw_curves(c)
        if draws:
            stats = {
                "saturation_share": [float(d.saturation_share(w)) for d in draws],
                "saturation_spend": [d.saturation_spend(share) * p for d in draws],
                "roas_1_spend": [_spend_at(d, 1.0) * p for d in draws],
                "marginal_roas": [float(d.marginal(w)) for d in draws],
            }
            if v.economics is not None:
                stats["margin_breakeven_spend"] = [_spend_at(d, be) * p for d in draws]
            for key, vals in stats.items():
                lo, hi = _quantiles(np.asarray(vals, dtype=float), level)
                row[f"{key}_low"], row[f"{key}_high"] = float(lo), float(hi)
        if v.recommended is not None:
            row["recommended_spend"] = v.recommended[ch]
            row["saturation_share_recommended"] = float(
                c.saturation_share(v.recommended[ch] / p))
        if c.has_visitors:
            row["rpv"] = float(c.rpv(w))
            row["marginal_rpv"] = float(c.marginal_rpv(w))
        rows.append(row)
    return pd.DataFrame(rows).set_index("channel")


def margin_transfer(
    source: CurveSet | Plan,
    from_channel: str,
    to_channel: str,
    *,
    period_weeks: int = 4,
    economics: Economics | None = None,
    at: str = "recommended",
    amounts: Sequence[float] | np.ndarray | None = None,
    n: int = 101,
) -> pd.DataFrame:
    """Net margin when period spend moves from one channel to another, the total unchanged.

    Parameters
    ----------
    source : CurveSet or Plan
    from_channel, to_channel : str
    period_weeks : int, default 4
    economics : ChannelEconomics or mapping, optional
        Required with a CurveSet (a plan brings its own economics).
    at : {"recommended", "current"}, default "recommended"
        The allocation to move from (a CurveSet only has the current one).
    amounts : array-like, optional
        Period spends moved from ``from_channel`` to ``to_channel`` (negative: the other way).
        Default: ``n`` points and 0, from half of ``to_channel``'s spend back to half of
        ``from_channel``'s, or within four bounded steps of a plan when that is narrower.

    Returns
    -------
    pandas.DataFrame
        ``moved``, ``from_spend``, ``to_spend``, ``from_margin_change``, ``to_margin_change``,
        ``net_margin_change`` (the sum: change of the plan's total net margin).  ``attrs`` hold
        ``step_limit`` (the largest move one bounded step allows, when known), ``best_move``
        and ``best_change``.
    """
    v = view(source, period_weeks, economics=economics)
    if from_channel == to_channel:
        raise CurveError(f"margin transfer needs two different channels, got {from_channel!r} twice")
    if v.economics is None:
        raise ScenarioError("margin transfer needs economics with a gross_margin "
                            "(economics=ChannelEconomics(gross_margin=...))")
    if at not in ("recommended", "current"):
        raise ValueError(f"at must be 'recommended' or 'current', got {at!r}")
    base = v.recommended if at == "recommended" and v.recommended is not None else v.current
    xa, xb = base[from_channel], base[to_channel]
    ca, cb = v.curve(from_channel), v.curve(to_channel)
    if amounts is None:  # four steps' worth each way, or half of either channel's spend
        lo, hi = 0.5 * xb, 0.5 * xa
        if v.step is not None:
            lo, hi = min(lo, 4 * v.step * min(xa, xb)), min(hi, 4 * v.step * min(xa, xb))
        d = np.union1d(np.linspace(-lo, hi, n), [0.0])
    else:
        d = np.asarray(amounts, dtype=float)
    if np.any(xa - d < -1e-9) or np.any(xb + d < -1e-9):
        raise ValueError("a move larger than a channel's spend would make its spend negative")
    p = float(v.period_weeks)

    def value(c: ResponseCurve, x: np.ndarray) -> np.ndarray:
        econ = v.econ(c.channel)
        assert econ is not None
        k, f, _ = margin_terms(econ, c.ratios, "net_margin", channel=c.channel)
        return p * k * np.asarray(c.response(np.maximum(x, 0.0) / p)) - f * x

    da = value(ca, xa - d) - value(ca, np.array([xa]))
    db = value(cb, xb + d) - value(cb, np.array([xb]))
    out = pd.DataFrame({
        "moved": d, "from_spend": xa - d, "to_spend": xb + d,
        "from_margin_change": da, "to_margin_change": db, "net_margin_change": da + db,
    })
    best = int(np.argmax(out["net_margin_change"].to_numpy()))
    out.attrs.update(
        from_channel=from_channel, to_channel=to_channel, period_weeks=v.period_weeks, at=at,
        step_limit=None if v.step is None else v.step * min(xa, xb),
        best_move=float(d[best]), best_change=float(out["net_margin_change"].iloc[best]),
    )
    return out


def glide_path_table(plan: Plan) -> pd.DataFrame:
    """The glide path: one row per step (0 = current) with budget, spend, net margin and gap,
    then the period spend of every channel."""
    steps = plan.step_table()
    head = pd.DataFrame(
        {
            "budget": [plan.current_total, *(s.budget for s in plan.steps)],
            "total_spend": steps.sum(axis=1).to_numpy(),
            "net_margin": [plan.net_margin_current, *(s.net_margin for s in plan.steps)],
            "optimality_gap": [0.0, *(s.optimality_gap for s in plan.steps)],
        },
        index=steps.index,
    )
    return pd.concat([head, steps], axis=1)


def truth_table(fitted: CurveSet, truth: CurveSet, *, period_weeks: int = 4,
                share: float = 0.8) -> pd.DataFrame:
    """Fitted against true saturation points of a simulated world (spend per period)."""
    p = float(period_weeks)
    rows = []
    for ch in fitted.channels:
        f, t = fitted[ch], truth[ch]
        w = f.recent_spend
        rows.append({
            "channel": ch, "family_fitted": f.family, "family_true": t.family,
            "saturation_spend_fitted": f.saturation_spend(share) * p,
            "saturation_spend_true": t.saturation_spend(share) * p,
            "marginal_roas_fitted": float(f.marginal(w)),
            "marginal_roas_true": float(t.marginal(w)),
            "revenue_fitted": float(f.response(w)) * p,
            "revenue_true": float(t.response(w)) * p,
        })
    return pd.DataFrame(rows).set_index("channel")


__all__ = [
    "View",
    "curve_frame",
    "glide_path_table",
    "margin_breakeven",
    "margin_transfer",
    "marginal_band",
    "saturation_table",
    "scenario_economics",
    "spend_grid",
    "truth_table",
    "view",
]
