"""Backtests scored against simulated worlds whose truth is known.

The oracles do not come from the backtest's code: the noise a perfect forecast would still make
is measured from the world's expected revenue (``World.outcome``), the true net margin is
recomputed from the true curves with the formula of DESIGN.md, and WAPE is recomputed from the
weekly forecast file by its definition.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from roiste.models.panel import panel_from_frame
from roiste.models.simulate import simulate_world, write_world
from roiste.optimizer.backtest.cohorts import cohort_check, read_cohorts
from roiste.optimizer.backtest.truth import replan_world
from roiste.optimizer.backtest.walk import LEVEL, backtest_panel, fold_starts
from roiste.optimizer.cli import main
from roiste.optimizer.scenario import Scenario

GM = 0.45


def _scenario(**kw: object) -> Scenario:
    return Scenario(name="bt", data=Path("panel.csv"), economics={"gross_margin": GM}, **kw)


@pytest.mark.parametrize("seed,seasonal", [(1, False), (2, True)])
def test_forecast_error_near_the_noise_and_intervals_at_nominal(seed: int, seasonal: bool) -> None:
    world = simulate_world(seed, n_channels=4, n_weeks=156, noise=0.06, seasonal_spend=seasonal)
    assert world.seasonal_spend is seasonal
    res = backtest_panel(panel_from_frame(world.panel), _scenario(), folds=8, horizon_weeks=4,
                         bootstrap=30, progress=False)
    weeks = res.weeks
    n = len(world.weeks)
    cells = slice(n - 32, n)
    expected = world.outcome(world.spend)[cells]
    actual = world.panel.pivot(index="date", columns="channel", values="revenue")[world.channels]
    actual = actual.to_numpy()[cells]
    noise = float(np.abs(actual - expected).sum() / actual.sum())  # error of a perfect forecast
    assert len(weeks) == 32 * 4
    assert np.isclose(weeks["actual"].sum(), actual.sum(), rtol=1e-9)
    assert 0.035 < noise < 0.06
    assert res.summary["wape"] <= 1.35 * noise, (res.summary["wape"], noise)
    assert abs(res.summary["coverage"] - LEVEL) <= 0.10, res.summary["coverage"]


def _true_margin(world, x: np.ndarray, p: int) -> float:
    """DESIGN.md's net margin with only a gross margin: P * gm * R(x / P) - x, true curves."""
    return float(sum(p * GM * float(world.truth[c].response(x[i] / p)) - x[i]
                     for i, c in enumerate(world.channels)))


def test_monthly_replanning_raises_the_true_margin_month_after_month() -> None:
    world = simulate_world(5, n_channels=4, n_weeks=120, noise=0.06)
    sc = _scenario()
    replay = replan_world(world, sc, months=12, seed=0)
    assert len(replay) == 12
    p = sc.period_weeks
    start_x = world.spend.to_numpy()[120 - 48 - 8:120 - 48].mean(axis=0) * p
    start = _true_margin(world, start_x, p)
    true = []
    for _, row in replay.iterrows():
        x = np.array([row[f"spend[{c}]"] for c in world.channels])
        assert x.sum() == pytest.approx(start_x.sum(), rel=1e-6)  # a reallocation, same budget
        true.append(_true_margin(world, x, p))
    assert np.allclose(true, replay["true_margin_replanned"], rtol=1e-9)
    steps = np.diff([start, *true])
    assert np.all(steps > 0), steps
    assert true[-1] - start > 0.2 * abs(start)


def test_fold_layout_and_skipped_folds() -> None:
    kept, skipped = fold_starts(100, 4, folds=14, min_train_weeks=52)
    assert kept == list(range(52, 100, 4))
    assert [s for s, _ in skipped] == [44, 48]
    assert "only 44 weeks of history" in skipped[0][1]
    assert fold_starts(100, 4)[0] == list(range(52, 100, 4))  # default: as many as fit
    assert fold_starts(300, 4)[0] == list(range(252, 300, 4))  # at most 12


def _cli_world(tmp_path: Path) -> Path:
    write_world(tmp_path / "panel.csv", seed=3, n_channels=3, n_weeks=72)
    sc = {"name": "cli backtest", "data": "panel.csv", "bootstrap": 10,
          "economics": {"gross_margin": GM, "cost_per_order": 4.0, "new_customer_value": 20.0}}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(sc), encoding="utf-8")
    return path


def test_command_writes_outputs_and_states_skipped_folds(tmp_path: Path) -> None:
    sc = _cli_world(tmp_path)
    out = tmp_path / "bt"
    runner = CliRunner()
    r = runner.invoke(main, ["backtest", str(sc), "--out", str(out), "--folds", "7", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "skipped fold 2023-11-06: only 44 weeks of history" in r.output
    data = json.loads((out / "backtest.json").read_text())
    assert [s["train_weeks"] for s in data["skipped"]] == [44, 48]
    assert all("at least 52 are needed" in s["reason"] for s in data["skipped"])
    assert len(data["folds"]) == 5
    table = pd.read_csv(out / "backtest.csv")
    assert list(table.columns[:10]) == [
        "fold_start", "channel", "actual_spend", "forecast_revenue", "actual_revenue",
        "abs_pct_error", "interval_covered", "recommended_spend", "est_margin_actual",
        "est_margin_recommended"]
    assert len(table) == 5 * 3
    assert np.allclose(table.groupby("fold_start")["recommended_spend"].sum(),
                       table.groupby("fold_start")["actual_spend"].sum(), rtol=1e-6)
    weeks = pd.read_csv(out / "backtest_weeks.csv")
    wape = (weeks["forecast"] - weeks["actual"]).abs().sum() / weeks["actual"].sum()
    assert data["wape"] == pytest.approx(wape, rel=1e-4)
    assert data["coverage"] == pytest.approx(weeks["covered"].mean(), abs=1e-6)
    assert data["truth"]["file"] == "panel.csv.truth.json"
    assert len(data["truth"]["replanning"]) == 5
    for c, v in data["new_customers"].items():  # new customers follow revenue in the world
        assert 0.8 < v["actual"] / v["forecast"] < 1.25, (c, v)
    html = (out / "backtest.html").read_text()
    assert html.count("data:image/png;base64") >= 3
    again = runner.invoke(main, ["backtest", str(sc), "--out", str(out), "--quiet"])
    assert again.exit_code == 2 and "output directory exists" in again.output
    twin = tmp_path / "bt2"
    r2 = runner.invoke(main, ["backtest", str(sc), "--out", str(twin), "--folds", "7", "--quiet"])
    assert r2.exit_code == 0, r2.output
    for name in ("backtest.csv", "backtest_weeks.csv", "backtest.json", "backtest.html"):
        assert (out / name).read_bytes() == (twin / name).read_bytes(), name


def test_cohorts_flag_channels_whose_customers_disappoint(tmp_path: Path) -> None:
    path = tmp_path / "cohorts.csv"
    path.write_text(
        "acquisition_month,channel,customers,month_0,month_1,month_2\n"
        "2024-01,search,100,5000,4000,2000\n"   # 0.45 * 6000 / 100 = 27 per customer
        "2024-02,search,50,2500,3000,1000\n"    # 0.45 * 4000 / 50 = 36
        "2024-03,search,40,2000,900,\n"         # young: listed, not judged
        "2024-01,social,200,8000,1000,600\n",   # 0.45 * 1600 / 200 = 3.6
        encoding="utf-8")
    sc = Scenario(name="bt", data=Path("panel.csv"),
                  economics={"gross_margin": GM, "new_customer_value": 30.0},
                  channels={"social": {"new_customer_value": 25.0}})
    out = cohort_check(read_cohorts(path), sc, ["search", "social"])
    search = out["channels"]["search"]
    assert search["realised_value"] == pytest.approx((27 * 100 + 36 * 50) / 150)
    assert search["complete_cohorts"] == 2 and not search["disappoints"]
    assert out["channels"]["social"]["realised_value"] == pytest.approx(3.6)
    assert out["flagged"] == ["social"]


def test_bad_cohort_table_is_one_line_exit_2(tmp_path: Path) -> None:
    sc = _cli_world(tmp_path)
    bad = tmp_path / "cohorts.csv"
    bad.write_text("acquisition_month,channel,customers,month_1\n2024-01,search,ten,5\n")
    r = CliRunner().invoke(main, ["backtest", str(sc), "--out", str(tmp_path / "o"),
                                  "--cohorts", str(bad), "--quiet"])
    assert r.exit_code == 2
    assert r.output.strip().endswith("row 2, column customers: 'ten' is not a number")
    assert not (tmp_path / "o").exists()


def test_wide_scenario_is_refused_in_one_line(tmp_path: Path) -> None:
    wide = Path(__file__).parent / "fixtures" / "scenarios" / "good_wide.yaml"
    r = CliRunner().invoke(main, ["backtest", str(wide), "--out", str(tmp_path / "o"), "--quiet"])
    assert r.exit_code == 2
    assert "the backtest needs a long panel" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cohort_table_of_the_customer_model_reads_the_same(tmp_path: Path) -> None:
    wide = tmp_path / "wide.csv"
    wide.write_text("acquisition_month,channel,customers,month_0,month_1,month_2\n"
                    "2024-01,search,100,5000,4000,2000\n2024-02,search,50,2500,3000,\n")
    long = tmp_path / "long.csv"
    long.write_text("channel,cohort,months_since,customers,active_customers,revenue\n"
                    "search,2024-01,0,100,100,5000\nsearch,2024-01,1,100,40,4000\n"
                    "search,2024-01,2,100,20,2000\nsearch,2024-02,0,50,50,2500\n"
                    "search,2024-02,1,50,30,3000\n")
    sc = Scenario(name="bt", data=Path("panel.csv"),
                  economics={"gross_margin": GM, "new_customer_value": 30.0})
    a = cohort_check(read_cohorts(wide), sc, ["search"])
    b = cohort_check(read_cohorts(long), sc, ["search"])
    assert a["channels"] == b["channels"]
    assert a["channels"]["search"]["realised_value"] == pytest.approx(27.0)  # 0.45 * 6000 / 100
