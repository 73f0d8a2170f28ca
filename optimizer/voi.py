"""What to test next: the net-margin value of knowing each channel's curve exactly.

For channel ``c`` with bootstrap draws ``d`` of its curve (the other channels at their fitted
curves), the decision is its weekly spend ``w`` on a grid over ``[(1 - span) w0, (1 + span)
w0]`` (``w0`` the current spend); the euros it gains or gives up come from or go to the other
channels at their marginal value ``lam`` (the spend-weighted mean over them of ``k R'(w0) - f``,
the slope of their period value at current spend).  The period value under draw ``d`` is

``U_d(w) = P k_c R_d(w) - f_c P w + lam P (w0 - w)``

(``P`` weeks, ``k_c`` and ``f_c`` of :func:`roiste.optimizer.economics.margin_terms`), and the
expected value of perfect information about the channel's curve is

``EVPI_c = mean_d max_w U_d(w) - max_w mean_d U_d(w)``:

what a plan that knew which draw is true would earn above the plan that must choose under all
of them.  A test that moves weekly spend by ``dx w0`` for ``T`` weeks measures ``R(w0 (1 + dx))
- R(w0)`` with standard error ``sigma_T = s Y sqrt(2 / T)`` (``Y`` the channel's weekly revenue,
``s`` its relative weekly noise, test and control halves of the market); its expected value of
sample information (preposterior over the draws: each draw in turn taken as the truth, its
measurement drawn, the draws reweighted by the measurement's likelihood and the spend chosen
on the reweighted mean) chooses the spend change among :data:`DESIGNS`.  The weeks a test
needs for a relative precision ``p`` of its effect are ``ceil(2 (s Y / (p |effect|))**2)``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from roiste.models.curves import CurveSet, ResponseCurve
from roiste.optimizer.economics import ChannelEconomics, channel_economics, margin_terms
from roiste.optimizer.scenario import load_scenario

DESIGNS = (-1.0, -0.5, -0.25, 0.25, 0.5)  # spend changes a test can make, relative to current
SPAN = 0.5  # the spend range the decision covers, relative to current
PRECISION = 0.1  # relative standard error of a test's measured effect
TEST_WEEKS = 8  # the test length at which designs are compared
GRID = 201
REPLICATES = 4  # simulated measurements per draw in the preposterior


@dataclass(frozen=True)
class InformationValue:
    """The value of testing one channel (period money, the plan's objective).

    Attributes
    ----------
    channel : str
    evpi : float
        Expected value of perfect information about the channel's curve (see the module).
    rank : int
        1 for the channel whose uncertainty costs most.
    spend_change : float
        The test's spend change relative to current spend (-1: a holdout that goes dark).
    evsi : float
        Expected value of the information of that test at :data:`TEST_WEEKS` weeks.
    effect : float
        Median over the draws of the weekly revenue change the test would measure.
    weeks : int or None
        Weeks the test needs for the relative precision asked (None: the curves file holds no
        noise for the channel).
    draws : int
        Draws behind the numbers (0: none, the value is unknown and reported as 0).
    """

    channel: str
    evpi: float
    rank: int
    spend_change: float
    evsi: float
    effect: float
    weeks: int | None
    draws: int


def _values(curve: ResponseCurve, k: float, f: float, lam: float, w: np.ndarray, w0: float,
            period: float) -> np.ndarray:
    """``U_d(w)`` for every draw: shape ``(draws, grid)``."""
    r = curve.response_draws(w)
    return period * (k * r - f * w[None, :] + lam * (w0 - w[None, :]))


def _noise(curve: ResponseCurve) -> float | None:
    """Weekly revenue noise ``s Y`` of the channel, from its diagnostics (None without)."""
    d = curve.diagnostics
    s, y = d.get("noise_sd"), d.get("weekly_revenue")
    if s is None or y is None or not (float(s) > 0 and float(y) > 0):
        return None
    return float(s) * float(y)


def information_values(
    curves: CurveSet,
    economics: Mapping[str, ChannelEconomics],
    current_weekly: Mapping[str, float],
    period_weeks: float,
    *,
    objective: str = "net_margin",
    span: float = SPAN,
    precision: float = PRECISION,
    test_weeks: int = TEST_WEEKS,
) -> list[InformationValue]:
    """Rank the channels by the value of knowing their curves exactly (see the module).

    Parameters
    ----------
    curves : CurveSet
        Curves with bootstrap draws (``roiste fit --bootstrap N``); channels without draws get
        a value of 0 and ``draws`` 0.
    economics : mapping
        Channel -> its economics.
    current_weekly : mapping
        Channel -> current weekly spend.
    period_weeks : float
        Length of the planning period (values are per period).
    objective : str
        ``net_margin`` or ``revenue``.
    span, precision, test_weeks : float, float, int
        The decision's spend range, the test's relative precision, the test length at which
        designs are compared.

    Returns
    -------
    list of InformationValue
        Highest value first (ties by channel name).
    """
    names = [c for c in curves.channels if c in current_weekly]
    terms = {c: margin_terms(economics[c], curves[c].ratios, objective, channel=c)[:2]
             for c in names}
    slope = {c: terms[c][0] * float(curves[c].marginal(current_weekly[c])) - terms[c][1]
             for c in names}
    out = []
    for c in names:
        curve, w0 = curves[c], float(current_weekly[c])
        k, f = terms[c]
        others = [o for o in names if o != c]
        weight = sum(float(current_weekly[o]) for o in others)
        lam = (sum(slope[o] * float(current_weekly[o]) for o in others) / weight
               if weight > 0 else 0.0)
        if not curve.draws or w0 <= 0:
            out.append(InformationValue(c, 0.0, 0, float("nan"), 0.0, float("nan"), None, 0))
            continue
        w = w0 * np.linspace(1.0 - span, 1.0 + span, GRID)
        u = _values(curve, k, f, lam, w, w0, period_weeks)
        evpi = float(np.mean(u.max(axis=1)) - np.max(u.mean(axis=0)))
        base = float(np.max(u.mean(axis=0)))
        noise = _noise(curve)
        rng = np.random.default_rng([zlib.crc32(c.encode()), 15])
        best = (float("nan"), -math.inf, float("nan"))
        for dx in DESIGNS:
            effect = (curve.response_draws([w0 * (1.0 + dx)]) - curve.response_draws([w0]))[:, 0]
            med = float(np.median(effect))
            sigma = (noise * math.sqrt(2.0 / test_weeks) if noise is not None
                     else precision * abs(med))
            evsi = _preposterior(u, effect, sigma, rng) - base if sigma > 0 else evpi
            if evsi > best[1] + 1e-12 * max(abs(evpi), 1.0):
                best = (dx, evsi, med)
        dx, evsi, med = best
        if not evsi > 1e-9 * max(abs(base), 1.0):  # no test changes the decision
            dx, med = float("nan"), float("nan")
        weeks = (None if noise is None or not abs(med) > 0
                 else max(1, math.ceil(2.0 * (noise / (precision * abs(med))) ** 2)))
        out.append(InformationValue(c, evpi, 0, dx, max(evsi, 0.0), med, weeks, len(curve.draws)))
    order = sorted(out, key=lambda v: (-v.evpi, v.channel))
    return [InformationValue(v.channel, v.evpi, i + 1, v.spend_change, v.evsi, v.effect, v.weeks,
                      v.draws) for i, v in enumerate(order)]


def _preposterior(u: np.ndarray, effect: np.ndarray, sigma: float, rng: np.random.Generator
                  ) -> float:
    """Expected value of choosing after a measurement of ``effect`` with noise ``sigma``:
    each draw in turn the truth, :data:`REPLICATES` measurements of it, the spend chosen on
    the draws' mean reweighted by the measurement's likelihood."""
    n = len(effect)
    m = effect[:, None] + sigma * rng.standard_normal((n, REPLICATES))
    total = 0.0
    for i in range(n):
        logw = -0.5 * ((m[i][:, None] - effect[None, :]) / sigma) ** 2
        p = np.exp(logw - logw.max(axis=1, keepdims=True))
        total += float(np.sum(u[i, np.argmax(p @ u, axis=1)]))
    return total / (n * REPLICATES)


def economics_of(values: Mapping[str, float | None]) -> ChannelEconomics:
    """A channel's :class:`ChannelEconomics` from a plan's economics mapping (other keys
    ignored)."""
    keys = {f.name for f in dataclasses.fields(ChannelEconomics)}
    return ChannelEconomics(**{k: v for k, v in values.items() if k in keys})  # type: ignore[arg-type]


def experiment_rows(curves: CurveSet) -> list[dict[str, object]]:
    """Per channel and test its fit rests on (the diagnostics' ``experiments``): the test,
    the measured weekly revenue change (all customers), what the fit predicted without and
    with the tests, and the marginal ROAS at recent spend without and with them."""
    rows: list[dict[str, object]] = []
    for c in (curves[name] for name in curves.channels):
        ex = c.diagnostics.get("experiments")
        if not ex:
            continue
        for t in ex["tests"]:
            rows.append({
                "channel": c.channel, "test": t.get("label", ""), "kind": t.get("kind", ""),
                "x": t["x"], "delta_x": t["delta_x"], "measured": t["measured"],
                "sigma": t["measured_sigma"], "predicted_without": t["predicted_without"],
                "predicted_with": t["predicted_with"],
                "marginal_roas_without": ex["marginal_roas_without"],
                "marginal_roas_with": ex["marginal_roas_with"],
                "marginal_roas_change": ex["marginal_roas_change"],
                "marginal_roas_change_alone": t.get("marginal_roas_change_alone",
                                                    ex["marginal_roas_change"]),
            })
    return rows


def experiments_table(curves: CurveSet) -> pd.DataFrame:
    """One row per channel and test that its fit rests on (empty without experiments).

    Columns: ``channel, test, kind, x, delta_x, measured, predicted_without, predicted_with,
    marginal_roas_without, marginal_roas_with, marginal_roas_change`` (weekly revenue).
    """
    return pd.DataFrame(experiment_rows(curves))


def test_next_table(curves: CurveSet, scenario: str | os.PathLike[str] | None = None
                    ) -> tuple[pd.DataFrame, str]:
    """What to test next: ``(table, unit)``.

    With a scenario, values are the scenario's objective over its period, with its economics;
    without, weekly revenue at the curves' recent spend.  The table has one row per channel,
    highest value first: ``rank, channel, value_of_knowing, test_spend_change, test_value,
    test_effect, weeks_needed``.
    """
    current = {c: curves[c].recent_spend for c in curves.channels}
    if scenario is None:
        econ = {c: ChannelEconomics() for c in curves.channels}
        period, objective, unit = 1.0, "revenue", "weekly revenue"
    else:
        sc = load_scenario(scenario)
        econ_list, _, _ = channel_economics(sc, list(curves.channels))
        econ = dict(zip(curves.channels, econ_list, strict=True))
        period, objective = float(sc.period_weeks), str(sc.objective)
        unit = f"{objective.replace('_', ' ')} over {sc.period_weeks} weeks"
    values = information_values(curves, econ, current, period, objective=objective)
    return pd.DataFrame([{
        "rank": v.rank, "channel": v.channel, "value_of_knowing": v.evpi,
        "test_spend_change": v.spend_change, "test_value": v.evsi, "test_effect": v.effect,
        "weeks_needed": v.weeks,
    } for v in values]), unit


__all__ = ["DESIGNS", "InformationValue", "economics_of", "experiment_rows", "experiments_table",
           "information_values", "test_next_table"]
