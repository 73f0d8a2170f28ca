"""``roiste demo``: simulate, fit, plan and report from a fresh directory, in one command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from roiste.models.curves import CurveSet
from roiste.optimizer.cli import main
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.scenario import load_scenario


def test_demo_writes_a_plan_that_improves_the_true_net_margin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # any working directory
    result = CliRunner().invoke(main, ["demo", "--out", "demo", "--quiet"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "demo"
    assert result.output.strip() == f"report: {Path('demo') / 'plan' / 'report.html'}"
    for name in ("allocation.csv", "summary.json", "curves.json", "report.html", "plan.xlsx"):
        assert (out / "plan" / name).is_file(), name
    assert (out / "data" / "panel.csv").is_file()
    fitted = CurveSet.load(out / "curves.json")
    assert len(fitted) == 6 and all(fitted[c].draws for c in fitted.channels)  # bands to show
    summary = json.loads((out / "plan" / "summary.json").read_text())
    assert summary["optimality_gap"] <= 1e-4

    # judged by the simulated world's true curves, the plan earns more than the current spend
    truth = CurveSet.load(out / "data" / "panel.csv.truth.json")
    sc = load_scenario(out / "scenario.yaml")
    alloc = pd.read_csv(out / "plan" / "allocation.csv")
    chans = list(alloc["channel"])
    econ = [ChannelEconomics.merged(sc.economics, sc.channels.get(c)) for c in chans]
    true_value = PeriodFunctions(truth.subset(chans), econ, sc.period_weeks, "net_margin")
    before = true_value.value(alloc["current_spend"].to_numpy()).sum()
    after = true_value.value(alloc["recommended_spend"].to_numpy()).sum()
    assert after > before

    again = CliRunner().invoke(main, ["demo", "--out", "demo", "--quiet"])
    assert again.exit_code == 2 and "--force" in again.stderr
    (out / "notes.txt").write_text("mine")
    forced = CliRunner().invoke(main, ["demo", "--out", "demo", "--quiet", "--force"])
    assert forced.exit_code == 2 and "notes.txt" in forced.stderr  # never wipes other files
