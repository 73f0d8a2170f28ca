"""What every step of a plan shares, and the per-channel figures of the allocation table.

The context of :mod:`optimizer.plan`: the current spend, the limits of each channel
(:func:`optimizer.steps.channel_limits`), the economics after the scenario's overrides
(:func:`optimizer.economics.channel_economics`, once per plan), the period value functions,
and the evaluation of every channel (revenue, ROAS, marginal ROAS, net margin, RPV, net CAC,
...) at a spend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from roiste.models.curves import CurveSet
from roiste.models.errors import CurveError
from roiste.optimizer.economics import (
    ChannelEconomics,
    NetCacTerms,
    PeriodFunctions,
    channel_economics,
    net_cac_terms,
)
from roiste.optimizer.risk import DrawFunctions
from roiste.optimizer.scenario import Scenario
from roiste.optimizer.steps import channel_limits, reachable, step_box


@dataclass
class PlanContext:
    """What every step of a plan shares: channels, current spend, limits and value functions."""

    curves: CurveSet
    scenario: Scenario
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
    draws: DrawFunctions | None = None
    margin_draws: DrawFunctions | None = None

    @classmethod
    def create(
        cls, curves: CurveSet, scenario: Scenario, current_weekly: pd.Series
    ) -> PlanContext:
        """Channels, current spend, limits, economics and value functions of a plan.

        Parameters
        ----------
        curves : CurveSet
            Response curves; every channel of ``current_weekly`` needs one.
        scenario : Scenario
            The validated scenario.
        current_weekly : pandas.Series
            Current weekly spend per channel (index: channel), in the plan's channel order.
        """
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
        mins, maxs, locked = channel_limits(scenario, channels)
        econ_objs, base_econ, notes = channel_economics(scenario, channels)
        objective = str(scenario.objective)
        fn_obj = PeriodFunctions(curves, econ_objs, p, objective)
        if objective == "net_margin":
            fn_margin: PeriodFunctions | None = fn_obj
        elif all(e.gross_margin is not None for e in econ_objs):
            fn_margin = PeriodFunctions(curves, econ_objs, p, "net_margin")
        else:
            fn_margin = None
        draws: DrawFunctions | None = None
        margin_draws: DrawFunctions | None = None
        if any(curves[c].draws for c in channels):
            lo1, hi1, _ = step_box(x0, float(scenario.step), mins, maxs, locked)
            region = reachable(lo1, hi1, int(scenario.steps) - 1, float(scenario.step), mins,
                               maxs, locked)
            draws = DrawFunctions(curves, econ_objs, p, objective, region)
            margin_draws = draws if fn_margin is fn_obj else (
                DrawFunctions(curves, econ_objs, p, "net_margin", region)
                if fn_margin is not None else None)
        return cls(
            curves=curves,
            scenario=scenario,
            channels=channels,
            x0=x0,
            budget=scenario.period_budget(current_total),
            current_total=current_total,
            budget_mode="at_most" if scenario.allow_underspend else "equal",
            mins=mins,
            maxs=maxs,
            locked=locked,
            economics=[e.as_dict() for e in econ_objs],
            base_economics=base_econ,
            objective_functions=fn_obj,
            margin_functions=fn_margin,
            value_notes=notes,
            draws=draws,
            margin_draws=margin_draws,
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
        out.update(self.evaluate_customers(x, suffix, rev, out))
        return out

    def net_cac_terms(self) -> list[NetCacTerms]:
        """Each channel's net CAC pieces (:func:`optimizer.economics.net_cac_terms`)."""
        return [
            net_cac_terms(ChannelEconomics.merged(d), self.curves[c].ratios)
            for c, d in zip(self.channels, self.economics, strict=True)
        ]

    def evaluate_customers(
        self, x: np.ndarray, suffix: str, rev: np.ndarray, figures: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Net CAC, marginal CPA and their break-even points at period spends ``x``.

        ``rev`` is the period revenue at ``x`` and ``figures`` holds the marginal ROAS (and
        marginal RPV) at ``x`` under the same ``suffix``.  Orders follow revenue through
        ``revenue_per_order`` and new customers through ``new_customers_per_revenue``, so the
        next order costs ``revenue_per_order / marginal ROAS`` of spend, the next new customer
        ``1 / (new_customers_per_revenue * marginal ROAS)``.  The next unit of spend earns
        zero net margin where ``k * marginal ROAS = 1 + fee``: at a marginal CPA of
        ``k * revenue_per_order / (1 + fee)`` (``break_even_cpa``), and at a ratio of
        marginal RPV to marginal CPA of ``marginal RPV / break_even_cpa``.  Cells are empty
        (NaN) where the panel lacks the ratio.
        """
        terms = self.net_cac_terms()
        nan = np.full(len(terms), np.nan)

        def arr(values: list[float | None]) -> np.ndarray:
            return np.array([np.nan if v is None else v for v in values], dtype=float)

        a = arr([t.cost_per_revenue for t in terms])
        f = arr([t.spend_cost for t in terms])
        ncr = arr([t.customers_per_revenue for t in terms])
        rpo = arr([t.revenue_per_order for t in terms])
        k = arr([t.margin_per_revenue for t in terms])
        mroas = figures[f"marginal_roas{suffix}"]
        mrpv = figures.get(f"marginal_rpv{suffix}", nan)
        out: dict[str, np.ndarray] = {}
        if np.isfinite(ncr).any():
            nc = rev * ncr
            out[f"new_customers{suffix}"] = nc
            out[f"cac_net{suffix}"] = _safe_div(f * x + a * rev, nc)
            out[f"cost_per_new_customer{suffix}"] = _safe_div(x, nc)
            out[f"marginal_cost_per_new_customer{suffix}"] = _safe_div(np.ones_like(x), ncr * mroas)
        if np.isfinite(rpo).any():
            mcpa = _safe_div(rpo, mroas)
            out[f"marginal_cpa{suffix}"] = mcpa
            cpa_star = np.where(k > 0, k * rpo / f, np.nan)
            if f"marginal_rpv{suffix}" in figures:
                out[f"mrpv_over_mcpa{suffix}"] = _safe_div(mrpv, mcpa)
                out[f"break_even_mrpv_over_mcpa{suffix}"] = _safe_div(mrpv, cpa_star)
            if not suffix:
                out["break_even_cpa"] = cpa_star
        if not suffix:
            out["break_even_marginal_roas"] = np.where(k > 0, _safe_div(f, k), np.nan)
        return out


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a / b`` where ``b > 0``, NaN elsewhere (also where ``b`` is NaN)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.nan_to_num(b, nan=0.0) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, a / np.where(ok, b, 1.0), np.nan)
