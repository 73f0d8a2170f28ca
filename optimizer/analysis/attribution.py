"""Attribution rules held against a simulated world whose true causes are known.

A :class:`JourneyStudy` simulates customer journeys (:mod:`models.journeys`), writes them as
the files ``roiste attribute`` reads, and keeps the truth: which channel caused each
conversion, and each channel's true weekly response to spend.  With it, the rules' credited
revenue shares can be set beside the true shares (:func:`attribution_shares`,
:func:`share_distance`, :func:`plot_attribution_shares`), a weekly panel can be written and
fitted under any rule (:meth:`JourneyStudy.what_if`), and the plans fitted from different
rules can be valued under the true response (:func:`true_plan_outcome`).

In the simulated world the chance of converting is the baseline plus the lift of every
channel that touched the user, so a channel's true weekly revenue at weekly spend ``s`` is
``users_per_week * reach * (1 - 2 ** (-s / half_reach_spend)) * lift * mean_order_value``:
it adds up over channels, and a plan can be valued channel by channel.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from tqdm import tqdm

from roiste.models.attribution.credit import (
    DIRECT,
    AttributionRule,
    attribute,
    write_attribution_panel,
)
from roiste.models.attribution.inputs import Inputs, inputs_from_frames
from roiste.models.attribution.journeys import JourneyWorld, simulate_journeys, write_journey_world
from roiste.models.errors import RoisteError
from roiste.optimizer.analysis.figures import PALETTE, figure_with_axes
from roiste.optimizer.analysis.whatif import WhatIf, scenario_from_dict
from roiste.optimizer.economics import ChannelEconomics, margin_terms
from roiste.optimizer.plan import Plan
from roiste.optimizer.report import charts

__all__ = [
    "JourneyStudy",
    "attribution_shares",
    "plot_attribution_shares",
    "rule_names",
    "rule_plan_trials",
    "share_distance",
    "true_plan_outcome",
]

TRUTH = "truth"
TRUTH_COLOR = "#111827"


@dataclass
class JourneyStudy:
    """Simulated journeys written to files, with the truth of the world that made them.

    Attributes
    ----------
    world : JourneyWorld
        Touchpoints, conversions, spend and the true causes.
    files : dict of str to Path
        ``touchpoints``, ``conversions``, ``spend`` (CSV) and ``truth`` (JSON).
    out_dir : Path
        Where the files are, and where :meth:`write_panel` writes the panels.
    users_per_week : int
    mean_order_value : float
    """

    world: JourneyWorld
    files: dict[str, Path]
    out_dir: Path
    users_per_week: int
    mean_order_value: float

    @classmethod
    def simulate(cls, out_dir: str | os.PathLike[str], *, seed: int = 0, n_weeks: int = 52,
                 users_per_week: int = 4000, mean_order_value: float = 600.0,
                 **kwargs: Any) -> JourneyStudy:
        """Simulate journeys (``kwargs`` as :func:`models.journeys.simulate_journeys`) and
        write their files into ``out_dir``.

        The default order value is high enough for the channels to pay their way at a 50 %
        gross margin, so that a plan has something to move.
        """
        kw: dict[str, Any] = dict(kwargs, seed=seed, n_weeks=n_weeks,
                                  users_per_week=users_per_week,
                                  mean_order_value=mean_order_value)
        out = Path(out_dir)
        world = simulate_journeys(**kw)
        files = write_journey_world(world, out)
        return cls(world, files, out, int(users_per_week), float(mean_order_value))

    @property
    def channels(self) -> list[str]:
        """The simulated channels, in the world's order."""
        return [c.name for c in self.world.channels]

    def inputs(self) -> Inputs:
        """Touchpoints and conversions checked as the attribution rules read them."""
        return inputs_from_frames(self.world.touchpoints, self.world.conversions)

    def true_weekly_revenue(self, weekly_spend: Mapping[str, float] | pd.Series) -> pd.Series:
        """Expected weekly revenue each channel causes at a weekly spend (index: channel).

        Channels missing from ``weekly_spend`` are at zero spend and cause nothing.
        """
        spend = dict(weekly_spend)
        unknown = sorted(set(spend) - set(self.channels))
        if unknown:
            raise RoisteError(f"true_weekly_revenue: channel '{unknown[0]}' is not in the world")
        out = {}
        for c in self.world.channels:
            s = float(spend.get(c.name, 0.0))
            reached = self.users_per_week * c.reach * (1.0 - 2.0 ** (-s / c.half_reach_spend))
            out[c.name] = reached * c.lift * self.mean_order_value
        return pd.Series(out, name="true_weekly_revenue")

    def write_panel(self, rule: AttributionRule, out: str | os.PathLike[str] | None = None) -> Path:
        """Write the weekly panel of ``rule`` (spend from the spend file) and its sidecar.

        ``out`` defaults to ``OUT_DIR/panel-RULE.csv``; ``OUT.attribution.json`` beside it
        holds the rule and its hash.
        """
        path = Path(out) if out is not None else self.out_dir / f"panel-{rule.rule}.csv"
        write_attribution_panel(self.files["touchpoints"], self.files["conversions"], rule, path,
                                spend=self.files["spend"])
        return path

    def what_if(self, rule: AttributionRule, scenario: Mapping[str, Any], *,
                progress: bool = False) -> WhatIf:
        """Write ``rule``'s panel, fit its curves and return a :class:`WhatIf` to plan with.

        ``scenario`` is a scenario as a mapping without ``data`` (the panel is the rule's);
        its ``name`` defaults to ``"plan from RULE"``.  The curves carry the rule's hash, and
        so does every plan of the returned :class:`WhatIf`.
        """
        if "data" in scenario:
            raise RoisteError("what_if: the scenario's 'data' is the rule's panel; leave it out")
        panel = self.write_panel(rule)
        values = {"name": f"plan from {rule.label}", **dict(scenario), "data": str(panel)}
        return WhatIf.from_scenario(scenario_from_dict(values, label=f"scenario of {rule.label}"),
                                    progress=progress)


def rule_names(rules: Sequence[AttributionRule]) -> list[str]:
    """Display names of rules: the rule's name (``shapley``) when no other rule of the list
    has it, else its full label with parameters (``time-decay(half_life_days=3.0)``).

    Raises
    ------
    RoisteError
        When a rule is listed twice.
    """
    labels = [r.label for r in rules]
    for lab in labels:
        if labels.count(lab) > 1:
            raise RoisteError(f"rule '{lab}' is listed twice")
    kinds = [r.rule for r in rules]
    return [r.rule if kinds.count(r.rule) == 1 else r.label for r in rules]


def attribution_shares(inputs: Inputs, rules: Sequence[AttributionRule], *,
                       truth: pd.Series | None = None) -> pd.DataFrame:
    """Share of the revenue each rule credits to each channel, direct conversions left out.

    Parameters
    ----------
    inputs : Inputs
        Touchpoints and conversions (:meth:`JourneyStudy.inputs` or
        :func:`models.attribution_io.read_inputs`).
    rules : sequence of AttributionRule
    truth : pandas.Series, optional
        True share per channel (:meth:`JourneyWorld.true_shares`): the first column.

    Returns
    -------
    pandas.DataFrame
        Index ``channel`` (in the truth's order when given, else sorted); columns ``truth``
        (when given) then one per rule (:func:`rule_names`); every column adds up to 1.
    """
    if not rules:
        raise RoisteError("attribution_shares: name at least one rule")
    cols: dict[str, pd.Series] = {}
    if truth is not None:
        cols[TRUTH] = truth / truth.sum()
    for rule, name in zip(rules, rule_names(rules), strict=True):
        revenue = attribute(inputs, rule).totals.set_index("channel")["revenue"]
        revenue = revenue.drop(DIRECT, errors="ignore")
        cols[name] = revenue / revenue.sum()
    out = pd.DataFrame(cols).fillna(0.0)
    if truth is not None:  # the truth's order (a world's channels in journey order) first
        out = out.reindex([*truth.index, *(c for c in out.index if c not in truth.index)])
    out.index.name = "channel"
    return out


def share_distance(shares: pd.DataFrame) -> pd.Series:
    """Total variation distance of each rule's shares from the truth (0 = the truth, 1 = none
    of the revenue where it belongs), smallest first."""
    if TRUTH not in shares.columns:
        raise RoisteError("share_distance: the share table has no 'truth' column")
    truth = shares[TRUTH]
    dist = {c: 0.5 * float((shares[c] - truth).abs().sum()) for c in shares.columns if c != TRUTH}
    return pd.Series(dist, name="distance_to_truth").sort_values(kind="stable")


def plot_attribution_shares(shares: pd.DataFrame) -> Figure:
    """Credited revenue share per channel and rule, the truth (when known) as the first bar."""
    names = list(shares.columns)
    n, k = len(shares), len(names)
    x = np.arange(n)
    w = 0.8 / max(k, 1)
    with charts.style():
        fig, (ax,) = figure_with_axes(max(7.0, 1.3 * n + 2.5), 4.4)
        for j, name in enumerate(names):
            colour = TRUTH_COLOR if name == TRUTH else PALETTE[(j - (TRUTH in names)) % len(PALETTE)]
            ax.bar(x - 0.4 + w * (j + 0.5), 100.0 * shares[name].to_numpy(dtype=float), w,
                   color=colour, label="true causes" if name == TRUTH else str(name),
                   hatch="//" if name == TRUTH else None, edgecolor="white" if name == TRUTH else None)
        ax.set_xticks(x)
        ax.set_xticklabels([str(c) for c in shares.index])
        ax.set_xlabel("Channel")
        ax.set_ylabel("Share of credited revenue (%)")
        ax.set_title("Credited revenue share by channel and rule")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
        fig.subplots_adjust(left=0.09, right=0.74, bottom=0.14, top=0.9)
    return fig


def true_plan_outcome(plans: Mapping[str, Plan], study: JourneyStudy) -> pd.DataFrame:
    """What each plan expects to gain, and what it gains under the world's true response.

    Each channel's period value is ``P * k * R(x / P) - f * x`` with the plan's own economics
    (``k``, ``f`` from :func:`optimizer.economics.margin_terms`), once with the fitted
    response ``R`` (the plan's expectation) and once with the true one
    (:meth:`JourneyStudy.true_weekly_revenue`).  The true value counts only the revenue the
    channels cause; the baseline is the same under every plan and cancels in the change.

    Returns
    -------
    pandas.DataFrame
        One row per plan: ``expected_change`` (net margin, as the plan reports it),
        ``true_change`` (net margin under the truth), ``true_revenue_change`` and
        ``budget``, money per planning period.
    """
    rows = []
    for name, plan in plans.items():
        p = plan.period_weeks
        alloc = plan.allocation.set_index("channel")
        x0 = alloc["current_spend"].astype(float)
        x1 = alloc["recommended_spend"].astype(float)
        r0 = study.true_weekly_revenue(x0 / p) * p
        r1 = study.true_weekly_revenue(x1 / p) * p
        change = 0.0
        for ch in plan.channels:
            econ = ChannelEconomics.merged(plan.economics[ch], where=f"channels.{ch}")
            k, f, _ = margin_terms(econ, plan.curves[ch].ratios, plan.objective, channel=ch)
            change += k * (r1[ch] - r0[ch]) - f * (x1[ch] - x0[ch])
        rows.append({"plan": name, "budget": plan.budget,
                     "expected_change": plan.net_margin_change
                     if plan.net_margin_change is not None
                     else plan.objective_recommended - plan.objective_current,
                     "true_change": change,
                     "true_revenue_change": float((r1 - r0).sum())})
    return pd.DataFrame(rows).set_index("plan")


def rule_plan_trials(rules: Sequence[AttributionRule], scenario: Mapping[str, Any],
                     seeds: Sequence[int], out_dir: str | os.PathLike[str], *,
                     progress: bool = False, **simulate: Any) -> pd.DataFrame:
    """Plan from each rule in several simulated worlds and value each plan under the truth.

    One world is one draw of the journeys; a rule that plans well in one may plan badly in
    the next.  Each seed simulates a world (``simulate`` as :meth:`JourneyStudy.simulate`,
    files in ``out_dir/seed-N``), and each rule's panel is fitted and planned with
    ``scenario`` (a mapping without ``data``).

    Returns
    -------
    pandas.DataFrame
        One row per (seed, rule): ``seed``, ``rule`` (:func:`rule_names`), ``expected_change``,
        ``true_change`` and ``true_revenue_change`` as :func:`true_plan_outcome`.
    """
    parts = []
    for seed in tqdm(list(seeds), desc="worlds", disable=not progress):
        study = JourneyStudy.simulate(Path(out_dir) / f"seed-{seed}", seed=seed, **simulate)
        plans = {name: study.what_if(r, scenario).plan()
                 for r, name in zip(rules, rule_names(rules), strict=True)}
        out = true_plan_outcome(plans, study).reset_index().rename(columns={"plan": "rule"})
        out.insert(0, "seed", seed)
        parts.append(out)
    return pd.concat(parts, ignore_index=True)
