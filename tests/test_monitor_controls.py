"""The monitor on a panel that carries an events column (a promotion calendar): the column is
read as a control, named by ``--controls`` or by the rules' draft scenario, and the drafts
written after an alert carry it so that a plan can read the same panel."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from test_monitor_drift import inject_drift

from roiste.models.simulate import simulate_world
from roiste.optimizer.cli import main
from roiste.optimizer.scenario import load_scenario, validate_scenario_file

DRIFT, LAST = 120, 126
CHANNEL = "social_meta"


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = simulate_world(1, n_channels=4, n_weeks=156, patterns=("steady",))
    panel = inject_drift(world, CHANNEL, DRIFT)
    weeks = sorted(panel["date"].unique())[:LAST]
    panel = panel[panel["date"].isin(weeks)].copy()
    # a promotion in two weeks of every year: the same text for every channel of a date
    week_of_year = pd.to_datetime(panel["date"]).dt.isocalendar().week
    panel["promotion"] = week_of_year.isin([47, 48]).map({True: "black_friday", False: ""})
    d = tmp_path_factory.mktemp("monitor_controls")
    panel.to_csv(d / "panel.csv", index=False)
    rule = {"name": "ROAS down", "kpi": "roas", "channels": ["*"],
            "threshold": {"below": 0.15}, "durability": {"weeks_in_a_row": 3}}
    (d / "rules.yml").write_text(yaml.safe_dump({"name": "t", "rules": [rule]}), encoding="utf-8")
    (d / "base.yml").write_text(yaml.safe_dump({
        "name": "Base", "data": "panel.csv", "controls": ["promotion"],
        "economics": {"gross_margin": 0.4}}), encoding="utf-8")
    (d / "rules_draft.yml").write_text(yaml.safe_dump({
        "name": "t", "draft": {"scenario": "base.yml"}, "rules": [rule]}), encoding="utf-8")
    return d


def _monitor(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, ["monitor", *args, "--quiet", "--no-notify"])
    return res.exit_code, res.stdout, res.stderr


def test_an_events_column_unnamed_is_one_line_that_says_how_to_name_it(case: Path) -> None:
    code, _, err = _monitor(str(case / "panel.csv"), "--rules", str(case / "rules.yml"),
                            "--out", str(case / "out_unnamed"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "column 'promotion'" in lines[0] and "--controls" in lines[0]
    assert not (case / "out_unnamed").exists()


@pytest.mark.parametrize("how", ["option", "draft scenario"])
def test_the_events_column_named_the_alert_and_its_draft_carry_it(case: Path, how: str) -> None:
    out = case / f"out_{how.replace(' ', '_')}"
    args = ([str(case / "panel.csv"), "--rules", str(case / "rules.yml"), "--out", str(out),
             "--controls", "promotion"] if how == "option" else
            [str(case / "panel.csv"), "--rules", str(case / "rules_draft.yml"), "--out", str(out)])
    code, _, err = _monitor(*args)
    assert code == 0, err
    doc = json.loads((out / "alerts.json").read_text())
    # the channels are the panel's four, not split by the promotion's text
    kpis = pd.read_csv(out / "kpis.csv")
    assert set(kpis["channel"]) - {"(all channels)"} == {
        "search_brand", "search_generic", "shopping", "social_meta"}
    assert [a["channel"] for a in doc["alerts"]] == [CHANNEL]
    draft = out / doc["alerts"][0]["draft_scenario"]
    sc = load_scenario(draft)
    assert sc.controls == ["promotion"]
    # the draft reads the same panel: without its controls it could not
    assert validate_scenario_file(draft)
