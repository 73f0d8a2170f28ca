"""Lift tests against the truth of simulated worlds whose spend follows the season.

One holdout test per channel, measured from the world's truth with the error of an 8-week
test (:func:`roiste.models.experiments.lift_test_from_truth`), must bring the curves close to
the truth (median worst error over 0.5-1.5 x current spend at most 10 %) and the plans to the
achievable true uplift (at least 95 % of it); the same fits without the test are the
reference.  The wider measurement is ``benchmarks/bench_experiments.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import ScenarioError
from roiste.models.experiments import lift_test_from_truth, write_experiments
from roiste.models.fit.channel import FitSettings, fit_channel
from roiste.models.worlds import draw_world
from roiste.optimizer.analysis.experiments import worst_error
from roiste.optimizer.backtest.truth import true_step_uplift
from roiste.optimizer.economics import ChannelEconomics
from roiste.optimizer.runs import run_plan
from roiste.optimizer.scenario import Scenario, load_scenario

SEEDS = (1, 2, 3, 4)
GROSS_MARGIN = 0.4


def _uplift(world: Any, curves: CurveSet) -> float:
    """True net-margin uplift of one step planned on ``curves`` (valued on the truth)."""
    sc = Scenario.model_validate({"name": "exam", "data": "unused.csv", "step": 0.15,
                                  "risk": "point", "economics": {"gross_margin": GROSS_MARGIN}})
    return true_step_uplift(world, curves, sc, ChannelEconomics(gross_margin=GROSS_MARGIN))[0]


@pytest.fixture(scope="module")
def exam() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per channel the worst errors without and with its test (and, in the first world, the
    90 % bands of 40 draws at the tested spend); per world the captures."""
    rows, plans = [], []
    for seed in SEEDS:
        world = draw_world(seed, "paced_demand")
        draws = 40 if seed == SEEDS[0] else 0
        without, with_ = [], []
        for name in world.channels:
            sub = world.panel[world.panel["channel"] == name]
            x, y = sub["spend"].to_numpy(), sub["revenue"].to_numpy()
            test = lift_test_from_truth(world, name, -1.0, 8, seed)
            fitted = fit_channel(x, y, world.weeks, channel=name, experiments=[test],
                                 settings=FitSettings(bootstrap=draws), seed=3)
            # the same fit without the test (the diagnostics keep its curve)
            alone = ResponseCurve(name, Component.from_dict(
                fitted.diagnostics["experiments"]["curve_without"]), fitted.recent_spend)
            without.append(alone)
            with_.append(fitted)
            row = {"seed": seed, "channel": name, "without": worst_error(alone, world.truth[name]),
                   "with": worst_error(fitted, world.truth[name])}
            if draws:
                plain = fit_channel(x, y, world.weeks, channel=name,
                                    settings=FitSettings(bootstrap=draws), seed=3)
                truth = float(world.truth[name].response(test.x))
                for label, c in (("without", plain), ("with", fitted)):
                    lo, hi = c.response_band([test.x])
                    # band width in units of the test's own 90 % interval
                    row[f"band_{label}"] = float(hi[0] - lo[0]) / (2 * 1.645 * test.sigma)
                    row[f"holds_{label}"] = bool(lo[0] <= truth <= hi[0])
            rows.append(row)
        best = _uplift(world, world.truth)
        plans.append({"seed": seed, "without": _uplift(world, CurveSet(without)) / best,
                      "with": _uplift(world, CurveSet(with_)) / best})
    return pd.DataFrame(rows), pd.DataFrame(plans)


def test_one_lift_test_per_channel_brings_the_curves_to_the_truth(exam: Any) -> None:
    errors, _ = exam
    assert len(errors) == 6 * len(SEEDS)
    assert errors["with"].median() <= 0.10, errors.describe()
    assert errors["with"].median() <= 0.8 * errors["without"].median()
    assert (errors["with"] <= 0.10).mean() > (errors["without"] <= 0.10).mean()


def test_plans_on_tested_curves_capture_the_achievable_true_uplift(exam: Any) -> None:
    _, plans = exam
    assert (plans["with"] >= 0.95).all(), plans
    assert plans["with"].mean() >= plans["without"].mean()


def test_bands_rest_on_the_test_where_it_pinned_the_curve(exam: Any) -> None:
    """At the tested spend, the band with the test is no wider than the test's own 90 %
    interval; it is narrower than the panel's where the panel knew less than the test, and
    holds the truth at least as often."""
    errors, _ = exam
    b = errors[errors["seed"] == SEEDS[0]]
    assert len(b) == 6
    assert (b["band_with"] <= 1.15).all(), b
    vaguer = b["band_without"] > 1.0
    assert vaguer.any() and (b.loc[vaguer, "band_with"] < b.loc[vaguer, "band_without"]).all(), b
    assert b["holds_with"].sum() >= max(b["holds_without"].sum(), 5), b


def test_a_plan_says_which_tests_its_curves_rest_on(tmp_path: Path) -> None:
    world = draw_world(2, "paced_demand", n_channels=3)
    world.panel.to_csv(tmp_path / "panel.csv", index=False)
    tests = [lift_test_from_truth(world, c, -1.0, 8, 2) for c in world.channels[:2]]
    write_experiments(tests, tmp_path / "tests.csv")
    (tmp_path / "plan.yaml").write_text(
        "name: tested\ndata: panel.csv\nexperiments: tests.csv\nbootstrap: 8\nrisk: point\n"
        "economics: {gross_margin: 0.4}\n", encoding="utf-8")
    run_plan(tmp_path / "plan.yaml", tmp_path / "out", progress=False)
    curves = CurveSet.load(tmp_path / "out" / "curves.json")
    for t in tests:
        diag = curves[t.channel].diagnostics["experiments"]
        assert [d["label"] for d in diag["tests"]] == ["tests.csv row 2" if t is tests[0]
                                                       else "tests.csv row 3"]
        assert diag["marginal_roas_with"] == pytest.approx(
            float(curves[t.channel].marginal(curves[t.channel].recent_spend)))
    assert "experiments" not in curves[world.channels[2]].diagnostics
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "Experiments and what to test next" in html and "tests.csv row 3" in html
    wb = openpyxl.load_workbook(tmp_path / "out" / "plan.xlsx")
    sheet = wb["Experiments"]
    assert [sheet.cell(row=r, column=1).value for r in (2, 3)] == [t.channel for t in tests]
    ranked = wb["Test next"]
    assert sorted(ranked.cell(row=r, column=1).value for r in range(2, 5)) == [1, 2, 3]


def test_a_scenario_naming_a_missing_experiments_file_stops_with_its_key(tmp_path: Path) -> None:
    (tmp_path / "panel.csv").write_text("date,channel,spend,revenue\n", encoding="utf-8")
    (tmp_path / "s.yaml").write_text("name: x\ndata: panel.csv\nexperiments: nope.csv\n"
                                     "economics: {gross_margin: 0.4}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"experiments file not found: nope\.csv"):
        load_scenario(tmp_path / "s.yaml")
