"""Experiments in the notebooks: what the curves rest on, how wrong they were, what to test.

- :func:`experiments_table`: per channel and test, the measured change and what the fit
  predicted without and with the tests, and the marginal ROAS both ways.
- :func:`test_next_table`: the channels ranked by the value of knowing their curve exactly
  (:func:`roiste.optimizer.voi.information_values`), with the test to run.
- :func:`curve_errors`: on a simulated world, the worst relative error of fitted curves over
  0.5-1.5 x recent spend, against the truth.
- :func:`plans_on_truth`: plans valued under the world's true curves.
- :func:`plot_experiment`: one channel's curves (true, without and with tests) and its tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from roiste.models.curves import CurveSet, ResponseCurve
from roiste.models.experiments import Experiment
from roiste.optimizer.analysis.figures import PALETTE, figure_with_axes
from roiste.optimizer.economics import margin_terms
from roiste.optimizer.plan import Plan
from roiste.optimizer.report import charts
from roiste.optimizer.voi import (
    economics_of,
    experiments_table,
    information_values,
    test_next_table,
)

ERROR_GRID = np.linspace(0.5, 1.5, 11)


def worst_error(curve: ResponseCurve, truth: ResponseCurve) -> float:
    """Worst relative error of a curve's response over [0.5, 1.5] x the true recent spend.

    Parameters
    ----------
    curve : ResponseCurve
        A fitted curve of the channel.
    truth : ResponseCurve
        The channel's true curve.

    Returns
    -------
    float
        ``max |curve(w) / truth(w) - 1|`` over the weekly spends of :data:`ERROR_GRID` times
        the truth's recent spend.
    """
    w = truth.recent_spend * ERROR_GRID
    return float(np.max(np.abs(curve.response(w) / truth.response(w) - 1.0)))


def curve_errors(fitted: Mapping[str, CurveSet], truth: CurveSet) -> pd.DataFrame:
    """Worst relative error of each fitted curve over [0.5, 1.5] x the true recent spend.

    Parameters
    ----------
    fitted : mapping
        Label -> fitted curves (e.g. ``{"without tests": a, "with tests": b}``).
    truth : CurveSet
        The world's true curves.

    Returns
    -------
    pandas.DataFrame
        One row per channel, one column per label.
    """
    rows = {}
    for ch in truth.channels:
        rows[ch] = {label: worst_error(c[ch], truth[ch]) for label, c in fitted.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def plans_on_truth(plans: Mapping[str, Plan], truth: CurveSet) -> pd.DataFrame:
    """What each plan expects its move to earn, and what it earns under the true curves.

    Each channel's period value is ``P k R(x / P) - f x`` with the plan's economics, once with
    the plan's curves (its expectation) and once with the true ones; one row per plan:
    ``expected_change``, ``true_change`` (money per planning period).
    """
    rows = []
    for name, plan in plans.items():
        p = float(plan.period_weeks)
        alloc = plan.allocation.set_index("channel")
        change = {"expected_change": 0.0, "true_change": 0.0}
        current = alloc["current_spend"].to_numpy(dtype=float)
        recommended = alloc["recommended_spend"].to_numpy(dtype=float)
        for i, ch in enumerate(alloc.index):
            k, f, _ = margin_terms(economics_of(plan.economics[str(ch)]),
                                   truth[str(ch)].ratios or plan.curves[str(ch)].ratios,
                                   plan.objective, channel=str(ch))
            x0, x1 = float(current[i]), float(recommended[i])
            for key, curve in (("expected_change", plan.curves[str(ch)]),
                               ("true_change", truth[str(ch)])):
                change[key] += (p * k * float(curve.response(x1 / p) - curve.response(x0 / p))
                                - f * (x1 - x0))
        rows.append({"plan": name, **change})
    return pd.DataFrame(rows).set_index("plan")


def plot_experiment(curves: Mapping[str, CurveSet], channel: str,
                    tests: Sequence[Experiment] = ()) -> Figure:
    """A channel's weekly response under each labelled curve set, and its tests.

    A test of spend ``x`` moved by ``dx`` is drawn at ``x`` as the response it implies,
    ``R(x + dx) - delta_y`` with ``R`` the last curve set's (exact for a holdout, whose
    ``R(0)`` is 0), with its standard error.
    """
    last = list(curves.values())[-1][channel]
    top = 2.0 * max([last.recent_spend, *(t.x for t in tests if t.channel == channel)])
    w = np.linspace(0.0, top, 200)
    with charts.style():
        fig, (ax,) = figure_with_axes(6.4, 4.2)
        for i, (label, cs) in enumerate(curves.items()):
            ax.plot(w, cs[channel].response(w), color=PALETTE[i % len(PALETTE)], label=label,
                    lw=2.0 if i else 2.6, ls="--" if i == 0 else "-")
        for t in tests:
            if t.channel != channel:
                continue
            y = float(last.response(t.x + t.delta_x)) - t.delta_y
            ax.errorbar([t.x], [y], yerr=[t.sigma], fmt="o", color="black", capsize=4,
                        label=f"{t.kind} test")
        ax.axvline(last.recent_spend, color="#9ca3af", lw=1.0, ls=":", label="current spend")
        ax.set_xlabel("Weekly spend (data currency)")
        ax.set_ylabel("Weekly incremental revenue (data currency)")
        ax.set_title(channel)
        ax.legend(loc="best", fontsize=8)
        fig.subplots_adjust(left=0.14, bottom=0.13)
    return fig


__all__ = ["curve_errors", "experiments_table", "information_values", "plans_on_truth",
           "plot_experiment", "test_next_table", "worst_error"]
