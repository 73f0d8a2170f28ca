"""``roiste validate`` makes every check of ``roiste plan`` that needs no fit, with its line.

Both commands run :func:`roiste.optimizer.scenario.check_plan_inputs` on the panel as the plan
reads it, before any curve is fitted.  Every ``wrong_*`` scenario under ``tests/fixtures``
goes through both commands on the real command line; each must exit 2 with the same one line
and the plan must write nothing.  The fixtures of ``tests/fixtures/preflight`` (panels made by
its ``make_panels.py`` from ``../scenarios/panel_long.csv``) carry the checks that used to
show only after the fit; their expected lines are written out here.

Oracles: the lines below, written by hand; the panel ratios summed by hand from the CSV
file; the fixture panels' constant spend over their last 8 weeks (search 1,000, social_meta
500, tv 2,000 a week, so 4,000 / 2,000 / 8,000 over a 4-week period).
"""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.fit.channel import fit_panel_file
from roiste.models.fit.limits import RATIO_WEEKS, panel_ratios
from roiste.models.panel import read_panel
from roiste.models.transforms import Geometric, Hill
from roiste.optimizer.cli import main
from roiste.optimizer.scenario import validate_scenario_file

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
HERE = FIXTURES / "preflight"
SCENARIOS = FIXTURES / "scenarios"
WRONG_FILES = sorted(FIXTURES.glob("*/wrong_*.yaml"))

# stem -> the message after "error: "; {here} is this fixture folder, {scenarios} the other
EXPECTED = {
    "cost_per_order_no_orders":
        "{file}: channel 'search': economics.cost_per_order 5 needs orders, but the panel has "
        "no orders column (no revenue_per_order ratio) (at economics -> cost_per_order)",
    "cost_per_order_override":
        "{file}: channel 'social_meta': economics.cost_per_order 3 needs orders, but the panel "
        "has no orders column (no revenue_per_order ratio) "
        "(at channels -> social_meta -> cost_per_order)",
    "cost_per_order_wide":
        "{file}: channel 'search_S': economics.cost_per_order 5 needs orders, but the panel has "
        "no orders column (no revenue_per_order ratio) (at economics -> cost_per_order)",
    "roas_existing_no_new_revenue":
        "{file}: target_roas_existing needs the revenue of new customers, but the panel has no "
        "new_customer_revenue column for channel 'search' (at constraints -> 0)",
    "net_cac_no_new_customers":
        "{file}: max_cac_net needs new customers, but the panel has no new_customers column "
        "for channel 'search' (at constraints -> 0)",
    "holdout_too_long":
        "{file}: holdout_weeks 20 leaves 20 of the 40 weeks of the data to fit on; the fit "
        "needs at least 26 (at holdout_weeks)",
    "experiments_wide":
        "{file}: experiments pin the per-channel fit of a long panel; the wide "
        "(marketing-mix) fit does not read them (at experiments)",
    "experiment_unknown_channel":
        "experiments_radio.csv row 2: column 'channel': 'radio' is not a channel of the "
        "panel; known: search, social_meta, tv",
    "experiment_new_customers":
        "experiments_new_customers.csv row 2: column 'customer_type': a test of new customers "
        "needs the panel's new_customer_revenue to scale it to the channel's revenue",
    "flat_spend":
        "{here}/panel_flat.csv: channel 'tv': spend is 2000 every week, so its response curve "
        "cannot be identified; drop the channel or add weeks where its spend varies",
    "wide_read_as_long":
        "{scenarios}/panel_wide.csv: required column 'channel' is not in the file; it looks "
        "like a wide file (one row per week, spend columns search_S, tv_S): read it with "
        "layout: wide (--layout wide), naming its target and spend columns",
    "long_read_as_wide":
        "{scenarios}/panel_long.csv: spend column 'search' is not in the file; the columns "
        "are: date, channel, spend, revenue, orders, new_customers; the file has channel, "
        "spend and revenue columns: it looks like a long file (one row per week and channel), "
        "read without layout: wide, target and spend",
    "date_column_missing":
        "{here}/panel_time.csv: required column 'date' is not in the file; column 'time' "
        "holds dates: name it with date_column: time (--date-column time)",
    "period_start":
        "{file}: period.start 2025-09-29 is not after the panel's last week 2025-10-06 "
        "(at period -> start)",
    "period_unknown_channel":
        "{file}: no channel 'radio' in the panel; channels: ['search', 'social_meta', 'tv'] "
        "(at period -> weekly_min -> radio)",
    "date_column_unknown":
        "{scenarios}/panel_long.csv: date column 'week' is not in the file; the columns are: "
        "date, channel, spend, revenue, orders, new_customers",
}  # fmt: skip


def _expected(stem: str) -> str:
    file = HERE / f"wrong_{stem}.yaml"
    return "error: " + EXPECTED[stem].format(file=file, here=HERE, scenarios=SCENARIOS)


def _plan(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["plan", *args, "--quiet"])
    return result.exit_code, result.stdout, result.stderr


def test_every_preflight_fixture_has_its_expected_line() -> None:
    stems = {p.stem.removeprefix("wrong_") for p in HERE.glob("wrong_*.yaml")}
    assert stems == set(EXPECTED)
    assert {p.parent.name for p in WRONG_FILES} == {"scenarios", "customer_planning", "preflight"}
    assert len(WRONG_FILES) >= 56


@pytest.mark.parametrize("path", WRONG_FILES, ids=[f"{p.parent.name}/{p.stem}" for p in WRONG_FILES])
def test_validate_and_plan_reject_every_wrong_fixture_with_the_same_line(
    path: Path, tmp_path: Path
) -> None:
    checked = CliRunner().invoke(main, ["validate", str(path)])
    assert checked.exit_code == 2, checked.output
    assert checked.stdout == ""
    lines = checked.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), checked.stderr
    out = tmp_path / "plan"
    code, stdout, stderr = _plan([str(path), "--out", str(out)])
    assert code == 2, stdout + stderr
    assert stderr.splitlines() == lines
    assert "Traceback" not in stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []
    if path.parent == HERE:
        assert lines == [_expected(path.stem.removeprefix("wrong_"))]


# ------------------------------------------------------------------------- ratios


def _hand_ratios(path: Path) -> dict[str, dict[str, float]]:
    """Revenue per order and new customers per revenue over the last weeks, summed by hand."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    weeks = sorted({r["date"] for r in rows})[-RATIO_WEEKS:]
    out: dict[str, dict[str, float]] = {}
    for c in sorted({r["channel"] for r in rows}):
        mine = [r for r in rows if r["channel"] == c and r["date"] in weeks]
        rev = sum(float(r["revenue"]) for r in mine)
        out[c] = {"revenue_per_order": rev / sum(float(r["orders"]) for r in mine),
                  "new_customers_per_revenue": sum(float(r["new_customers"]) for r in mine) / rev}
    return out


def test_the_ratios_validate_checks_are_those_the_fit_gives_the_curves() -> None:
    path = SCENARIOS / "panel_long.csv"
    hand = _hand_ratios(path)
    seen = panel_ratios(read_panel(path))
    fitted = fit_panel_file(path, progress=False)
    for c, want in hand.items():
        assert set(seen[c]) == set(want)
        for key, value in want.items():
            assert seen[c][key] == pytest.approx(value, rel=1e-12)
            assert fitted[c].ratios[key] == pytest.approx(value, rel=1e-12)
    no_orders = panel_ratios(read_panel(HERE / "panel_no_orders.csv"))
    assert all(r == {} for r in no_orders.values())


def _curve(name: str, ratios: dict[str, float] | None = None) -> ResponseCurve:
    shape = Component(5000.0, Hill(k=2000.0, s=1.0), Geometric(alpha=0.5))
    return ResponseCurve(name, shape, 1000.0, ratios=ratios or {})


def test_a_curves_file_without_orders_fails_validate_and_plan_alike(tmp_path: Path) -> None:
    shutil.copy(SCENARIOS / "panel_long.csv", tmp_path / "panel.csv")
    CurveSet([_curve(c) for c in ("search", "social_meta", "tv")]).save(tmp_path / "c.json")
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ndata: panel.csv\ncurves: c.json\n"
                    "economics: {gross_margin: 0.4, cost_per_order: 4}\n", encoding="utf-8")
    line = (f"error: {path}: channel 'search': economics.cost_per_order 4 needs orders, but "
            "its curve in c.json has no revenue_per_order (at economics -> cost_per_order)")
    checked = CliRunner().invoke(main, ["validate", str(path)])
    assert (checked.exit_code, checked.stderr.splitlines()) == (2, [line])
    code, _, stderr = _plan([str(path), "--out", str(tmp_path / "plan")])
    assert (code, stderr.splitlines()) == (2, [line])
    assert not (tmp_path / "plan").exists()


# ------------------------------------------------------------------------- date column


def test_date_column_from_the_command_line_and_the_scenario(tmp_path: Path) -> None:
    """A panel whose week column is named ``time`` plans like the same panel named ``date``."""
    shutil.copy(HERE / "panel_time.csv", tmp_path / "panel_time.csv")
    CurveSet([_curve(c) for c in ("search", "social_meta", "tv")]).save(tmp_path / "c.json")
    body = "data: panel_time.csv\ncurves: c.json\nobjective: revenue\nrisk: point\n"
    bare, named = tmp_path / "bare.yaml", tmp_path / "named.yaml"
    bare.write_text("name: bare\n" + body, encoding="utf-8")
    named.write_text("name: named\ndate_column: time\n" + body, encoding="utf-8")
    hint = (f"error: {tmp_path / 'panel_time.csv'}: required column 'date' is not in the file; "
            "column 'time' holds dates: name it with date_column: time (--date-column time)")
    checked = CliRunner().invoke(main, ["validate", str(bare)])
    assert (checked.exit_code, checked.stderr.splitlines()) == (2, [hint])
    ok = "ok ({}: 3 channels, budget 14,000 (current total), step 0.15)"
    assert validate_scenario_file(named) == f"{named}: {ok.format('named')}"
    checked = CliRunner().invoke(main, ["validate", "--date-column", "time", str(bare)])
    assert checked.exit_code == 0 and checked.stdout == f"{bare}: {ok.format('bare')}\n"
    for path, extra in ((bare, ["--date-column", "time"]), (named, [])):
        out = tmp_path / f"plan-{path.stem}"
        code, stdout, stderr = _plan([str(path), "--out", str(out), *extra])
        assert code == 0, stdout + stderr
        with open(out / "allocation.csv", newline="", encoding="utf-8") as fh:
            current = {r["channel"]: float(r["current_spend"]) for r in csv.DictReader(fh)}
        assert current == {"search": 4000.0, "social_meta": 2000.0, "tv": 8000.0}
    # the command line wins over the scenario
    checked = CliRunner().invoke(main, ["validate", "--date-column", "when", str(named)])
    assert checked.exit_code == 2 and "date column 'when' is not in the file" in checked.stderr


def test_fit_reads_a_week_column_named_time(tmp_path: Path) -> None:
    out = tmp_path / "curves.json"
    result = CliRunner().invoke(main, ["fit", str(HERE / "panel_time.csv"), "--out", str(out),
                                       "--date-column", "time", "--quiet"])
    assert result.exit_code == 0, result.output
    by_time = CurveSet.load(out)
    by_date = fit_panel_file(SCENARIOS / "panel_long.csv", progress=False)
    w = np.linspace(0.0, 3000.0, 7)
    for c in by_date.channels:
        assert np.allclose(by_time[c].response(w), by_date[c].response(w), rtol=1e-12)
    assert json.loads(out.read_text(encoding="utf-8"))["meta"]["weeks"] == ["2025-01-06",
                                                                             "2025-10-06"]


def test_scenario_schema_names_date_column() -> None:
    result = CliRunner().invoke(main, ["schema"])
    prop = json.loads(result.stdout)["properties"]["date_column"]
    assert "time" in prop["description"]


# ------------------------------------------------------------------------- layout hints


@pytest.mark.parametrize(("name", "spends"), [
    ("robyn_dt_simulated_weekly.csv", "tv_S, ooh_S, print_S, search_S ..."),
    ("mmm_stan.csv", "mdsp_dm, mdsp_inst, mdsp_nsp, mdsp_auddig ..."),
])
def test_a_public_wide_file_read_as_long_says_layout_wide(
    name: str, spends: str, public_dataset: Callable[[str], Path], tmp_path: Path
) -> None:
    path = public_dataset(name)
    out = tmp_path / "curves.json"
    result = CliRunner().invoke(main, ["fit", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path}: required column 'channel' is not in the file; it looks like a wide "
        f"file (one row per week, spend columns {spends}): read it with layout: wide "
        "(--layout wide), naming its target and spend columns"]


def test_backtest_reads_a_week_column_named_time(tmp_path: Path) -> None:
    """The 40-week fixture is too short for a fold (52 weeks of history): the run reads the
    panel, skips the fold and says why, which is all this checks of it."""
    path = HERE / "wrong_date_column_missing.yaml"
    out = tmp_path / "bt"
    result = CliRunner().invoke(main, ["backtest", str(path), "--out", str(out), "--quiet"])
    assert result.exit_code == 2 and "--date-column time" in result.stderr
    assert not out.exists()
    result = CliRunner().invoke(main, ["backtest", str(path), "--out", str(out), "--quiet",
                                       "--date-column", "time"])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "backtest.json").read_text(encoding="utf-8"))
    assert [s["fold_start"] for s in doc["skipped"]] == ["2025-09-15"]  # 36 weeks before it
