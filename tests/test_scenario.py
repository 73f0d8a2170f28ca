"""Scenario files: keys and defaults, one-line errors for broken files, checks against data.

The fixture panels (``tests/fixtures/scenarios/make_panels.py``) hold a constant spend in
their last 8 weeks: search 1,000, social_meta 500 and tv 2,000 a week, so a 4-week period's
current spend is 4,000 / 2,000 / 8,000 and 14,000 in total.  The numbers in the expected
messages below follow from these by hand.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pydantic import ValidationError

from roiste.models.errors import PanelError, RoisteError, ScenarioError
from roiste.optimizer.cli import main
from roiste.optimizer.scenario import (
    Scenario,
    check_against_data,
    json_schema,
    load_scenario,
    validate_scenario_file,
)

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "tests" / "fixtures" / "scenarios"
EXAMPLES = sorted((ROOT / "scenarios").glob("*.yaml"))
GOOD = sorted(HERE.glob("good_*.yaml"))

# file stem -> (stage, error class, message after "<file>: ").  "load": load_scenario fails;
# "data": the file loads, and validate_scenario_file fails once the panel is read.
# "{here}" stands for the fixture directory.
WRONG: dict[str, tuple[str, type[RoisteError], str]] = {
    "unknown_key": ("load", ScenarioError,
        "Unknown key 'budgte' (at top level). Did you mean 'budget'?"),
    "unknown_nested_key": ("load", ScenarioError,
        "Unknown key 'mx' (at channels -> tv). Did you mean 'max'?"),
    "misplaced_economics_key": ("load", ScenarioError,
        "Unknown key 'gross_margin' (at top level). 'gross_margin' belongs under 'economics'."),
    "step_too_large": ("load", ScenarioError,
        "step 0.3 is outside 0.10 .. 0.20 (a channel moves at most 10-20 % per step); "
        "set allow_large_step: true to allow any step in (0, 1] (at step)"),
    "unknown_channel_override": ("data", ScenarioError,
        "Unknown channel 'serach', not in the data (at channels -> serach). "
        "Did you mean 'search'?"),
    "unknown_channel_constraint": ("data", ScenarioError,
        "Unknown channel 'social_tiktok', not in the data (at constraints -> 0 -> channels). "
        "Did you mean 'social_meta'?"),
    "negative_budget": ("load", ScenarioError,
        "Input should be greater than 0, got -5000 (at budget)"),
    "budget_text": ("load", ScenarioError,
        "Input should be a valid number, unable to parse string as a number, got '15,000' "
        "(at budget)"),
    "minimums_above_budget": ("data", ScenarioError,
        "channel minimums sum to 13,000, above the budget 10,000 (at channels)"),
    "yaml_syntax": ("load", ScenarioError,
        "YAML syntax error at line 4, column 9: expected ',' or '}', but got ':' "
        "(while parsing a flow mapping that starts at line 3, column 12)"),
    "python_tag": ("load", ScenarioError,
        "YAML tag !!python/object/apply:os.system is not allowed at line 1, column 7 "
        "(scenario files are plain YAML: mappings, lists, numbers and text)"),
    "duplicate_key": ("load", ScenarioError,
        "key 'budget' is written twice at line 5, column 1 "
        "(YAML would silently keep only the last value)"),
    "missing_data": ("load", ScenarioError,
        "data file not found: missing_panel.csv (resolved to {here}/missing_panel.csv) "
        "(at data)"),
    "rate_above_one": ("load", ScenarioError,
        "Input should be less than or equal to 1, got 1.2 (at economics -> return_rate)"),
    "objective_unknown": ("load", ScenarioError,
        "Input should be 'net_margin' or 'revenue', got 'profit' (at objective)"),
    "no_gross_margin": ("load", ScenarioError,
        "objective net_margin needs economics: gross_margin (the share of revenue left after "
        "cost of goods); set it, or use objective: revenue (at economics -> gross_margin)"),
    "wide_no_target": ("load", ScenarioError,
        "layout: wide needs target: the target column (at target)"),
    "long_with_target": ("load", ScenarioError, "target is only for layout: wide (at target)"),
    "min_above_max": ("load", ScenarioError,
        "min 9,000 is above max 7,000 (at channels -> tv -> min)"),
    "max_share_above_one": ("load", ScenarioError,
        "Input should be less than or equal to 1, got 1.5 (at constraints -> 0 -> max_share)"),
    "steps_zero": ("load", ScenarioError,
        "Input should be greater than or equal to 1, got 0 (at steps)"),
    "tolerance_too_loose": ("load", ScenarioError,
        "Input should be less than or equal to 0.01, got 0.05 (at tolerance)"),
    "constraint_kind": ("load", ScenarioError,
        "a constraint needs one of max_share / min_share (with channels), target_roas, "
        "target_roas_existing, target_roas_new, max_cost_per_new_customer or max_cac_net "
        "(at constraints -> 0)"),
    "constraint_name_twice": ("load", ScenarioError,
        "constraint name 'cap' is listed twice (at constraints)"),
    "missing_name": ("load", ScenarioError, "Missing required key 'name' (at top level)"),
    "not_a_mapping": ("load", ScenarioError,
        "a scenario is a mapping of keys (name: ..., data: ...), not a list"),
    "empty": ("load", ScenarioError,
        "the file is empty; a scenario needs at least name and data"),
    "locked_with_min": ("data", ScenarioError,
        "channel 'tv' is locked at its current spend 8,000 but its min is 9,000 "
        "(at channels -> tv -> min)"),
    # 1.15 x 14,000 = 16,100 is the most one step of 15 % can reach
    "budget_unreachable": ("data", ScenarioError,
        "the budget 20,000 is above the 16,100 the channels can spend (each moving at most "
        "15 % from its current spend, within their min, max and locks); raise step or steps, "
        "lower the budget, or set allow_underspend: true (at budget)"),
    # the glide path's first step: 14,000 + (24,000 - 14,000) / 2 = 19,000
    "glide_first_step": ("data", ScenarioError,
        "the first step's budget 19,000 (1 of 2 towards 24,000) is above the 16,100 the "
        "channels can spend (each moving at most 15 % from its current spend, within their "
        "min, max and locks); raise step or steps, lower the budget, or set "
        "allow_underspend: true (at budget)"),
    "share_impossible": ("data", ScenarioError,
        "max_share 0.9 over every channel of the data is impossible: together they are "
        "100 % of spend (at constraints -> 0 -> max_share)"),
    # tv is locked at 8,000 but may take only 0.5 x 14,000 = 7,000
    "share_below_floor": ("data", ScenarioError,
        "max_share 0.5 allows 7,000 of the budget 14,000, but tv must spend at least 8,000 "
        "(at constraints -> 0 -> max_share)"),
    "baseline_too_long": ("data", ScenarioError,
        "baseline_weeks 60 is more than the 40 weeks in the data (at baseline_weeks)"),
}  # fmt: skip
# A broken panel is reported by the panel reader, naming the panel file, row and column.
PANEL_WRONG = {
    "panel_bad_row": "{here}/panel_broken.csv: row 5, column 'spend': -796.06 is negative; "
    "spend must be >= 0",
}
# The plan command runs the checks of validate before it fits (check_plan_inputs), so no
# message differs between the two.
PLAN_MESSAGE_DIFFERS: set[str] = set()


def _fill(template: str) -> str:
    return template.replace("{here}", str(HERE))


def _message(stem: str, template: str) -> str:
    return f"{HERE / f'wrong_{stem}.yaml'}: {_fill(template)}"


def test_every_wrong_fixture_has_an_expected_message() -> None:
    stems = {p.stem.removeprefix("wrong_") for p in HERE.glob("wrong_*.yaml")}
    assert stems == set(WRONG) | set(PANEL_WRONG)
    assert len(stems) >= 15


@pytest.mark.parametrize(("stem", "case"), list(WRONG.items()), ids=list(WRONG))
def test_wrong_scenario_gives_its_one_line_message(
    stem: str, case: tuple[str, type[RoisteError], str]
) -> None:
    stage, kind, template = case
    path = HERE / f"wrong_{stem}.yaml"
    expected = _message(stem, template)
    if stage == "load":
        with pytest.raises(kind) as exc:
            load_scenario(path)
        assert str(exc.value) == expected
    else:
        load_scenario(path)  # the file alone is fine
    with pytest.raises(kind) as exc:
        validate_scenario_file(path)
    assert str(exc.value) == expected
    assert "\n" not in str(exc.value)


def test_broken_panel_is_reported_by_the_panel_reader() -> None:
    path = HERE / "wrong_panel_bad_row.yaml"
    load_scenario(path)
    with pytest.raises(PanelError) as exc:
        validate_scenario_file(path)
    assert str(exc.value) == _fill(PANEL_WRONG["panel_bad_row"])


ALL_WRONG = {k: v[2] for k, v in WRONG.items()} | PANEL_WRONG


def _expected_cli_line(stem: str) -> str:
    if stem in PANEL_WRONG:
        return "error: " + _fill(PANEL_WRONG[stem])
    return "error: " + _message(stem, WRONG[stem][2])


@pytest.mark.parametrize("stem", list(ALL_WRONG), ids=list(ALL_WRONG))
def test_validate_command_exits_2_with_one_line(stem: str) -> None:
    result = CliRunner().invoke(main, ["validate", str(HERE / f"wrong_{stem}.yaml")])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.splitlines() == [_expected_cli_line(stem)]
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("roiste.optimizer.plan") is None, reason="roiste.optimizer.plan not present yet"
)
@pytest.mark.parametrize("stem", list(ALL_WRONG), ids=list(ALL_WRONG))
def test_plan_command_exits_2_and_writes_nothing(stem: str, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    args = ["plan", str(HERE / f"wrong_{stem}.yaml"), "--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    if stem not in PLAN_MESSAGE_DIFFERS:
        assert lines[0] == _expected_cli_line(stem)
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_several_problems_share_one_line_unknown_keys_first(tmp_path: Path) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(
        "name: Many\ndata: panel.csv\nstep: 0.5\nsteps: 0\nbudget: -1\n"
        "tolerance: 1\nbudgte: 3\neconomics: {gross_margin: 0.4}\n",
        encoding="utf-8",
    )
    (tmp_path / "panel.csv").write_text("x\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert str(exc.value) == (
        f"{path}: Unknown key 'budgte' (at top level). Did you mean 'budget'?; "
        "Input should be greater than 0, got -1 (at budget); "
        "step 0.5 is outside 0.10 .. 0.20 (a channel moves at most 10-20 % per step); set "
        "allow_large_step: true to allow any step in (0, 1] (at step); and 2 more problems"
    )


def test_python_tag_is_never_constructed(tmp_path: Path) -> None:
    target = tmp_path / "made-by-yaml"
    path = tmp_path / "evil.yaml"
    path.write_text(
        f'name: !!python/object/apply:os.makedirs ["{target}"]\ndata: x.csv\n', encoding="utf-8"
    )
    with pytest.raises(ScenarioError, match=r"YAML tag !!python/object/apply:os\.makedirs "):
        load_scenario(path)
    assert not target.exists()


def test_missing_scenario_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ScenarioError, match=r"nope\.yaml: scenario file not found$"):
        load_scenario(path)


# ------------------------------------------------------------------------- good files


def test_minimal_scenario_takes_the_documented_defaults() -> None:
    sc = load_scenario(HERE / "good_minimal.yaml")
    assert sc.name == "Minimal"
    assert sc.data == HERE / "panel_long.csv" and sc.data.is_absolute()
    assert sc.written("data") == "panel_long.csv"
    assert sc.source == HERE / "good_minimal.yaml"
    assert (sc.layout, sc.target, sc.spend, sc.controls) == ("long", None, None, None)
    assert sc.curves is None
    assert (sc.period_weeks, sc.baseline_weeks, sc.budget) == (4, 8, None)
    assert sc.allow_underspend is False
    assert (sc.step, sc.allow_large_step, sc.steps) == (0.15, False, 1)
    assert (sc.objective, sc.tolerance, sc.solver) == ("net_margin", 1e-4, "CBC")
    assert (sc.seed, sc.bootstrap, sc.holdout_weeks) == (0, 0, 0)
    assert sc.economics.model_dump() == {
        "gross_margin": 0.4, "return_rate": 0.0, "cost_per_order": 0.0,
        "platform_fee_rate": 0.0, "commission_rate": 0.0, "new_customer_value": 0.0,
        "existing_incrementality": 1.0, "cancellation_rate": 0.0,
    }  # fmt: skip
    assert sc.channels == {} and sc.constraints == []
    assert sc.period_budget(14_000.0) == 14_000.0


def test_full_scenario_reads_every_key() -> None:
    sc = load_scenario(HERE / "good_full.yaml")
    assert (sc.budget, sc.step, sc.steps, sc.solver, sc.seed) == (15000.0, 0.2, 2, "HiGHS", 11)
    assert (sc.tolerance, sc.bootstrap, sc.holdout_weeks) == (0.0005, 20, 6)
    assert sc.channels["tv"].locked and not sc.channels["search"].locked
    assert (sc.channels["search"].min, sc.channels["search"].max) == (3500.0, 6000.0)
    # overrides replace the scenario's economics for that channel only
    meta = sc.economics_for("social_meta")
    assert (meta.gross_margin, meta.return_rate, meta.cost_per_order) == (0.5, 0.15, 6.0)
    search = sc.economics_for("search")
    assert (search.gross_margin, search.commission_rate, search.return_rate) == (0.45, 0.05, 0.08)
    assert sc.economics_for("tv") == sc.economics
    kinds = [c.kind for c in sc.constraints]
    assert kinds == ["share", "roas", "cost_per_new_customer"]
    assert [c.describe() for c in sc.constraints] == [
        "social_meta at least 5 % and at most 30 % of total spend",
        "revenue of search + social_meta at least 1.5 x their spend",
        "spend of all channels at most 80 per new customer",
    ]
    assert [c.name for c in sc.constraints] == ["social cap", None, "acquisition cost"]


def test_scenario_is_frozen() -> None:
    sc = load_scenario(HERE / "good_minimal.yaml")
    with pytest.raises(ValidationError):
        sc.budget = 5.0


@pytest.mark.parametrize(
    ("name", "line"),
    [
        ("good_minimal.yaml", "ok (Minimal: 3 channels, budget 14,000 (current total), step 0.15)"),
        ("good_full.yaml", "ok (Full plan: 3 channels, budget 15,000, step 0.2 x 2)"),
        ("good_wide.yaml", "ok (Wide plan: 2 channels, budget 12,500, step 0.15)"),
    ],
)
def test_validate_summarises_a_good_file(name: str, line: str) -> None:
    assert validate_scenario_file(HERE / name) == f"{HERE / name}: {line}"


def test_paths_are_relative_to_the_scenario_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "plans" / "data").mkdir(parents=True)
    shutil.copy(HERE / "panel_long.csv", tmp_path / "plans" / "data" / "weekly.csv")
    scenario = tmp_path / "plans" / "may.yaml"
    scenario.write_text("name: May\ndata: data/weekly.csv\nobjective: revenue\n", encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    sc = load_scenario(Path("..") / "plans" / "may.yaml")
    assert sc.data == (tmp_path / "plans" / "data" / "weekly.csv").resolve()
    assert sc.written("data") == "data/weekly.csv"
    result = CliRunner().invoke(main, ["validate", "../plans/may.yaml"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "../plans/may.yaml: ok (May: 3 channels, budget 14,000 (current total), step 0.15)\n"
    )


def test_large_step_needs_the_flag(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("x\n", encoding="utf-8")
    base = "name: s\ndata: p.csv\nobjective: revenue\n"
    for text, ok in [
        ("step: 0.5\nallow_large_step: true\n", True),
        ("step: 1.0\nallow_large_step: true\n", True),
        ("step: 0.10\n", True),
        ("step: 0.20\n", True),
        ("step: 0.09\n", False),
        ("step: 0\nallow_large_step: true\n", False),
        ("step: 1.5\nallow_large_step: true\n", False),
    ]:
        path = tmp_path / "s.yaml"
        path.write_text(base + text, encoding="utf-8")
        if ok:
            assert load_scenario(path).step == yaml.safe_load(text)["step"]
        else:
            with pytest.raises(ScenarioError, match=r"\(at step\)$"):
                load_scenario(path)


# ------------------------------------------------------------------------- checks with data


def _scenario(**keys: object) -> Scenario:
    return Scenario.model_validate({"name": "t", "data": "x.csv", "objective": "revenue", **keys})


CHANNELS = ["search", "social_meta", "tv"]
CURRENT = {"search": 4000.0, "social_meta": 2000.0, "tv": 8000.0}


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (
            {"constraints": [
                {"channels": ["search"], "min_share": 0.6},
                {"channels": ["tv"], "min_share": 0.5},
            ]},
            "min_share 0.6 and 0.5 of constraint 1 on other channels sum above 100 % of spend "
            "(at constraints -> 0 -> min_share)",
        ),
        (
            {"constraints": [
                {"channels": ["search", "tv"], "max_share": 0.5},
                {"channels": ["tv"], "min_share": 0.6},
            ]},
            "min_share 0.6 is above max_share 0.5 of constraint 0, which covers these channels "
            "and more (at constraints -> 1 -> min_share)",
        ),
        (  # social_meta can reach 1.15 x 2,000 = 2,300 but needs 0.2 x 14,000 = 2,800
            {"constraints": [{"channels": ["social_meta"], "min_share": 0.2}]},
            "min_share 0.2 needs 2,800 of the budget 14,000, but social_meta can spend at most "
            "2,300 (at constraints -> 0 -> min_share)",
        ),
        (  # 0.85 x 14,000 = 11,900 is the least one step down allows
            {"budget": 11000},
            "the budget 11,000 is below the 11,900 the channels must spend (each moving at most "
            "15 % from its current spend, within their min, max and locks) (at budget)",
        ),
        (
            {"channels": {"tv": {"locked": True, "max": 7000}}},
            "channel 'tv' is locked at its current spend 8,000 but its max is 7,000 "
            "(at channels -> tv -> max)",
        ),
        (
            {"channels": {"TV": {"max": 7000}}},
            "Unknown channel 'TV', not in the data (at channels -> TV). Did you mean 'tv'?",
        ),
        (
            {"channels": {"radio": {"max": 7000}}},
            "Unknown channel 'radio', not in the data (at channels -> radio). "
            "The data has: search, social_meta, tv.",
        ),
    ],
    ids=["disjoint-min-shares", "nested-min-above-max", "min-share-out-of-reach",
         "budget-below-step-floor", "locked-max", "case-hint", "no-close-name"],
)  # fmt: skip
def test_check_against_data_names_the_conflict(keys: dict[str, object], message: str) -> None:
    # the first two conflicts are structural: they show without any current spend
    structural = "of constraint" in message
    with pytest.raises(ScenarioError) as exc:
        check_against_data(_scenario(**keys), CHANNELS, 14_000.0, None if structural else CURRENT)
    assert str(exc.value) == f"scenario: {message}"


def test_check_against_data_accepts_what_a_plan_can_meet() -> None:
    # boundaries that are exactly reachable pass: 1.15 x 14,000 and 0.85 x 14,000
    for budget in (16_100.0, 11_900.0, 14_000.0):
        check_against_data(_scenario(budget=budget), CHANNELS, 14_000.0, CURRENT)
    # a min beyond one step is not an error: the plan moves towards it as far as it may
    check_against_data(_scenario(channels={"search": {"min": 5000}}), CHANNELS, 14_000.0, CURRENT)
    # with allow_underspend the budget is a cap: above what one step can reach is fine
    check_against_data(
        _scenario(budget=20_000, allow_underspend=True), CHANNELS, 14_000.0, CURRENT
    )
    # without current spend, only names, minimums and share structure are checked
    check_against_data(_scenario(budget=50_000), CHANNELS, 14_000.0)


def test_check_against_data_without_spend_needs_a_budget() -> None:
    with pytest.raises(ScenarioError, match="have no spend, so there is no current total"):
        check_against_data(_scenario(), CHANNELS, 0.0, dict.fromkeys(CHANNELS, 0.0))


# ------------------------------------------------------------------------- schema and examples


def test_json_schema_describes_every_key() -> None:
    schema = json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    models = [schema, *schema["$defs"].values()]
    missing = [
        f"{m.get('title')}.{key}"
        for m in models
        for key, prop in m.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert missing == []
    assert all(m.get("title") and m.get("description") for m in models)
    assert set(schema["properties"]) == set(Scenario.model_fields)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "data"]


def test_schema_command_prints_the_schema() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == json_schema()


def _validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    cls = jsonschema.validators.validator_for(json_schema())
    cls.check_schema(json_schema())
    return cls(json_schema())


@pytest.mark.parametrize("path", EXAMPLES + GOOD, ids=[p.name for p in EXAMPLES + GOOD])
def test_good_files_validate_against_the_json_schema(path: Path) -> None:
    validator = _validator()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [e.message for e in validator.iter_errors(data)] == []


@pytest.mark.parametrize(
    "stem", ["unknown_key", "unknown_nested_key", "max_share_above_one", "rate_above_one",
             "objective_unknown", "steps_zero", "negative_budget", "constraint_kind"],
)  # fmt: skip
def test_json_schema_rejects_what_the_loader_rejects(stem: str) -> None:
    validator = _validator()
    data = yaml.safe_load((HERE / f"wrong_{stem}.yaml").read_text(encoding="utf-8"))
    assert list(validator.iter_errors(data)) != []


def test_example_scenarios_validate_on_the_command_line() -> None:
    assert {p.name for p in EXAMPLES} >= {"demo.yaml", "conservative.yaml", "growth.yaml"}
    result = CliRunner().invoke(main, ["validate", *map(str, EXAMPLES)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == len(EXAMPLES)
    assert all(": ok (" in line and "6 channels" in line for line in lines)


def test_example_scenarios_name_channels_of_the_demo_panel() -> None:
    from roiste.models.panel import read_panel

    for path in EXAMPLES:
        sc = load_scenario(path)
        channels = set(read_panel(sc.data).channels)
        named = set(sc.channels) | {c for con in sc.constraints for c in con.channels or []}
        assert named <= channels, path.name
        assert sc.written("data") == "data/demo_panel.csv"


def test_validate_checks_every_file_and_fails_if_any_fails() -> None:
    good, bad = HERE / "good_minimal.yaml", HERE / "wrong_unknown_key.yaml"
    result = CliRunner().invoke(main, ["validate", str(bad), str(good)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [validate_scenario_file(good)]
    assert result.stderr.splitlines() == [_expected_cli_line("unknown_key")]


def test_validate_checks_the_curves_file_covers_the_data(tmp_path: Path) -> None:
    from roiste.models.curves import Component, CurveSet, ResponseCurve
    from roiste.models.transforms import Geometric, Hill

    def curve(name: str) -> ResponseCurve:
        shape = Component(5000.0, Hill(k=2000.0, s=1.0), Geometric(alpha=0.5))
        return ResponseCurve(name, shape, 1000.0)

    shutil.copy(HERE / "panel_long.csv", tmp_path / "panel.csv")
    CurveSet([curve("search"), curve("tv")]).save(tmp_path / "two.json")
    CurveSet([curve(c) for c in CHANNELS]).save(tmp_path / "three.json")
    path = tmp_path / "s.yaml"
    for curves, error in [("three.json", None), ("two.json", "channel(s) social_meta")]:
        path.write_text(
            f"name: s\ndata: panel.csv\ncurves: {curves}\nobjective: revenue\n", encoding="utf-8"
        )
        assert load_scenario(path).curves == tmp_path / curves
        if error is None:
            line = validate_scenario_file(path)
            assert line == f"{path}: ok (s: 3 channels, budget 14,000 (current total), step 0.15)"
        else:
            with pytest.raises(ScenarioError) as exc:
                validate_scenario_file(path)
            assert str(exc.value) == (
                f"{path}: the curves file two.json has no curve for channel(s) social_meta "
                "of the data (at curves)"
            )


def test_yaml_values_that_are_not_text_ask_for_quotes(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("x\n", encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: 2024-12-01\ndata: p.csv\nobjective: revenue\nchannels:\n  on: {max: 5}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert str(exc.value) == (
        f"{path}: 2024-12-01 is read by YAML as a date, not as text; put it in quotes "
        "(at name); the key True is read by YAML as true/false, not as text; put it in quotes "
        "(at channels)"
    )


# ------------------------------------------------------------------------- robustness

_KEYS = [*sorted(Scenario.model_fields), "budgte", "gross_margin", "min", "x"]


def _yaml_values() -> Any:
    from hypothesis import strategies as st

    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(-10, 10**6), st.text(max_size=8),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["tv", "search", "wide"]),
    )  # fmt: skip
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from([*_KEYS, "tv", "channels"]), inner, max_size=3),
        max_leaves=8,
    )


def test_any_mapping_gives_a_scenario_or_one_line_error(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    (tmp_path / "p.csv").write_text("x\n", encoding="utf-8")
    path = tmp_path / "s.yaml"

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.dictionaries(st.sampled_from(_KEYS), _yaml_values(), max_size=6))
    def check(extra: dict[str, Any]) -> None:
        raw = {"name": "fuzz", "data": "p.csv", "objective": "revenue", **extra}
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        try:
            sc = load_scenario(path)
        except ScenarioError as exc:
            message = str(exc)
            assert message.startswith(f"{path}: ") and "\n" not in message
            assert "Traceback" not in message
        else:
            assert 0.0 < sc.step <= 1.0 and sc.steps >= 1 and sc.period_weeks >= 1
            assert sc.allow_large_step or 0.10 <= sc.step <= 0.20
            assert sc.budget is None or sc.budget > 0

    check()
