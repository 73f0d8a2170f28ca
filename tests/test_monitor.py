"""roiste monitor: rules files, KPIs against hand-computed sums, the command end to end,
draft scenarios, comparison with a real plan."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from test_monitor_drift import inject_drift

from roiste.models.curves import CurveSet
from roiste.models.panel import panel_from_frame, read_panel
from roiste.models.simulate import simulate_world
from roiste.optimizer.cli import main
from roiste.optimizer.monitor.kpis import load_plan, series_of
from roiste.optimizer.monitor.rules import MonitorEconomics, MonitorError, load_rules
from roiste.optimizer.monitor.watch import evaluate
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.runs import run_monitor
from roiste.optimizer.scenario import Scenario, load_scenario, validate_scenario_file

FIXTURES = Path(__file__).parent / "fixtures" / "rules"

WRONG = {
    "wrong_unknown_key.yml": "Unknown key 'kpii' (at rules -> 0). Did you mean 'kpi'?",
    "wrong_kpi.yml": "got 'cac' (at rules -> 0 -> kpi). Did you mean 'net_cac'?",
    "wrong_two_durabilities.yml": "durability needs exactly one of weeks_in_a_row, cusum or "
    "ewma (got weeks_in_a_row, cusum) (at rules -> 0 -> durability)",
    "wrong_two_sides.yml": "a threshold needs exactly one of above or below "
    "(at rules -> 0 -> threshold)",
    "wrong_move.yml": "Input should be less than or equal to 0.2, got 0.3 (at draft -> move)",
    "wrong_arl0.yml": "Input should be greater than or equal to 20, got 5 "
    "(at rules -> 0 -> durability -> ewma -> arl0)",
    "wrong_duplicate_key.yml": "key 'kpi' is written twice at line 4, column 5",
    "wrong_notify_key.yml": "Unknown key 'tokn_env' (at notify -> webhook). Did you mean "
    "'token_env'?",
    "wrong_plan_kpi.yml": "a plan has no expectation for aov; use relative_to recent or "
    "absolute (at rules -> 0)",
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_broken_rules_files_give_one_line_naming_the_key(name: str) -> None:
    with pytest.raises(MonitorError) as info:
        load_rules(FIXTURES / name)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(FIXTURES / name) + ": ")
    assert WRONG[name] in msg


def test_every_wrong_fixture_is_checked() -> None:
    assert {p.name for p in FIXTURES.glob("wrong_*.yml")} == set(WRONG)


def test_good_rules_file_loads() -> None:
    rules = load_rules(FIXTURES / "ok_basic.yml")
    assert [r.name for r in rules.rules] == ["ROAS down three weeks", "net CAC chart"]
    assert rules.economics.return_cost_rate == 0.5
    assert rules.rules[1].durability.cusum is not None


# --------------------------------------------------------------------------- KPIs


def _keyed_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    weeks = pd.date_range("2024-01-01", periods=30, freq="7D")
    rows = []
    for w in weeks:
        for ch, camp in (("search", "brand"), ("search", "generic"), ("social", "prospecting")):
            spend = float(rng.integers(500, 1500))
            revenue = spend * float(rng.uniform(1.5, 4.0))
            rows.append({"date": w.strftime("%Y-%m-%d"), "channel": ch, "campaign": camp,
                         "spend": spend, "revenue": round(revenue, 2),
                         "visitors": int(rng.integers(800, 2000)),
                         "orders": int(rng.integers(20, 60)),
                         "new_customers": int(rng.integers(5, 20)),
                         "returns": round(revenue * 0.1, 2)})
    return pd.DataFrame(rows)


def test_kpis_per_campaign_and_channel_are_ratios_of_the_week_sums() -> None:
    frame = _keyed_frame()
    panel = panel_from_frame(frame, min_weeks=1)
    econ = MonitorEconomics(platform_fee_rate=0.05, commission_rate=0.02, return_cost_rate=0.5)
    by_key = {s.key: s for s in series_of(panel, econ)}
    assert set(by_key) == {"search|brand", "search|generic", "social|prospecting", "search",
                           "social", "(all channels)"}
    week = frame["date"].iloc[-1]
    rows = frame[(frame["date"] == week) & (frame["channel"] == "search")]
    s = rows[["spend", "revenue", "visitors", "orders", "new_customers", "returns"]].sum()
    got = by_key["search"].kpis.iloc[-1]
    assert got["spend"] == pytest.approx(s["spend"])
    assert got["roas"] == pytest.approx(s["revenue"] / s["spend"])
    cost = s["spend"] * 1.05 + 0.02 * s["revenue"] + 0.5 * s["returns"]
    assert got["net_cac"] == pytest.approx(cost / s["new_customers"])
    assert got["cost_per_new_customer"] == pytest.approx(s["spend"] / s["new_customers"])
    assert got["rpv"] == pytest.approx(s["revenue"] / s["visitors"])
    assert got["aov"] == pytest.approx(s["revenue"] / s["orders"])
    assert got["return_rate"] == pytest.approx(s["returns"] / s["revenue"])
    one = frame[(frame["date"] == week) & (frame["campaign"] == "generic")].iloc[0]
    assert by_key["search|generic"].kpis["roas"].iloc[-1] == pytest.approx(
        one["revenue"] / one["spend"])


def test_kpis_absent_columns_are_empty_not_zero() -> None:
    frame = _keyed_frame().drop(columns=["visitors", "orders", "campaign"])
    frame = frame.groupby(["date", "channel"], as_index=False).sum(numeric_only=True)
    panel = panel_from_frame(frame, min_weeks=1)
    s = series_of(panel, MonitorEconomics())[0]
    assert s.kpis["rpv"].isna().all() and s.kpis["aov"].isna().all()
    assert s.kpis["roas"].notna().all()


# --------------------------------------------------------------------------- end to end

DRIFT, LAST = 120, 126  # the panel ends six weeks after the drift


@pytest.fixture(scope="module")
def drift_case(tmp_path_factory: pytest.TempPathFactory) -> dict:
    world = simulate_world(1, n_channels=4, n_weeks=156, patterns=("steady",))
    channel = "social_meta"  # the largest share of revenue caused by spend in this world
    panel = inject_drift(world, channel, DRIFT)
    weeks = sorted(panel["date"].unique())[:LAST]
    panel = panel[panel["date"].isin(weeks)]
    d = tmp_path_factory.mktemp("monitor")
    panel.to_csv(d / "panel.csv", index=False)
    rules = {
        "name": "Drift test",
        "rules": [{"name": "ROAS down", "kpi": "roas", "channels": ["*"],
                   "threshold": {"below": 0.15}, "durability": {"weeks_in_a_row": 3}}],
    }
    (d / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    return {"dir": d, "world": world, "channel": channel, "weeks": weeks}


def _cli(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_monitor_command_writes_the_alert_with_its_draft(drift_case: dict) -> None:
    d, channel, weeks = drift_case["dir"], drift_case["channel"], drift_case["weeks"]
    out = d / "out"
    code, stdout, stderr = _cli("monitor", str(d / "panel.csv"), "--rules", str(d / "rules.yml"),
                                "--out", str(out), "--quiet")
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "alerts.json", "dashboard.html", "draft-01-social_meta.yml", "kpis.csv"]
    doc = json.loads((out / "alerts.json").read_text())
    assert [a["channel"] for a in doc["alerts"]] == [channel]
    alert = doc["alerts"][0]
    assert alert["since"] == weeks[DRIFT] and alert["fired"] == weeks[DRIFT + 2]
    assert alert["kpi"] == "roas" and alert["change"] < -0.15
    assert f"{channel} roas" in stdout
    # by how much: with more than a year of weeks the rule reads the change against the same
    # weeks a year before, net of that change over the 8 weeks before the drift
    panel = pd.read_csv(d / "panel.csv")
    rows = panel[panel["channel"] == channel]
    roas = (rows["revenue"] / rows["spend"]).to_numpy()
    yoy = np.log(roas[52:]) - np.log(roas[:-52])
    spell, base = yoy[DRIFT - 52:], yoy[DRIFT - 60:DRIFT - 52]
    assert alert["seasonal"] is True
    assert alert["change"] == pytest.approx(np.exp(spell.mean() - base.mean()) - 1, rel=1e-5)
    # the world's truth: halving the media response cuts expected revenue by this much
    w = drift_case["world"]
    j = w.channels.index(channel)
    expected = w.outcome(w.spend)[DRIFT:LAST, j]
    media = expected - w.baseline[channel].to_numpy()[DRIFT:LAST]
    truth = float(np.mean(np.log((expected - 0.5 * media) / expected)))
    assert np.log1p(alert["change"]) == pytest.approx(truth, abs=0.08)
    # kpis.csv carries the panel's numbers
    kpis = pd.read_csv(out / "kpis.csv")
    last = kpis[(kpis["week"] == weeks[-1]) & (kpis["key"] == channel)].iloc[0]
    assert last["roas"] == pytest.approx(roas[-1], rel=1e-5)
    assert last["roas_vs_recent"] == pytest.approx(
        roas[-1] / (rows["revenue"].iloc[-5:-1].sum() / rows["spend"].iloc[-5:-1].sum()) - 1,
        rel=1e-4)
    # the draft moves 15 % of the channel's period budget and validates
    draft_path = out / alert["draft_scenario"]
    assert validate_scenario_file(draft_path).endswith("step 0.15)")
    sc = load_scenario(draft_path)
    current = rows["spend"].iloc[-8:].mean() * 4
    assert sc.channels[channel].max == pytest.approx(0.85 * current, rel=1e-6)
    receivers = [c for c, spec in sc.channels.items() if spec.min is not None]
    assert receivers == alert["draft"]["recipients"] and channel not in receivers
    assert alert["draft"]["moved"] == pytest.approx(0.15 * current, abs=0.01)
    assert "no plan given" in alert["draft"]["basis"]
    # ranked by recent ROAS when there is no plan
    tail = panel[panel["date"].isin(weeks[-8:])].groupby("channel")[["revenue", "spend"]].sum()
    best = (tail["revenue"] / tail["spend"]).drop(channel).sort_values(ascending=False)
    assert receivers == list(best.index[: len(receivers)])


def test_an_alert_whose_draft_no_plan_could_run_keeps_its_outputs(drift_case: dict,
                                                                    tmp_path: Path) -> None:
    # One channel that never changed its spend: the fit behind a draft scenario refuses it, so
    # the alert is written without a draft, says why, and the KPIs and the page still come.
    panel = pd.read_csv(drift_case["dir"] / "panel.csv")
    flat = next(c for c in sorted(panel["channel"].unique()) if c != drift_case["channel"])
    panel.loc[panel["channel"] == flat, "spend"] = 1000.0
    panel.to_csv(tmp_path / "panel.csv", index=False)
    out = tmp_path / "out"
    code, _, stderr = _cli("monitor", str(tmp_path / "panel.csv"), "--rules",
                           str(drift_case["dir"] / "rules.yml"), "--out", str(out), "--quiet")
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == ["alerts.json", "dashboard.html", "kpis.csv"]
    alert = json.loads((out / "alerts.json").read_text())["alerts"][0]
    assert alert["channel"] == drift_case["channel"]
    assert "draft_scenario" not in alert and flat in alert["draft_refused"]
    assert "no draft: a plan could not run on it" in (out / "dashboard.html").read_text()


def test_monitor_refuses_an_existing_dir_and_reproduces_bytes_with_force(drift_case: dict) -> None:
    d = drift_case["dir"]
    out = d / "again"
    args = ["monitor", str(d / "panel.csv"), "--rules", str(d / "rules.yml"), "--out", str(out),
            "--quiet"]
    assert _cli(*args)[0] == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    code, _, err = _cli(*args)
    assert code == 2 and "exists (use --force" in err and "\n" not in err.strip()
    assert _cli(*args, "--force")[0] == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    (out / "notes.txt").write_text("mine")
    code, _, err = _cli(*args, "--force")
    assert code == 2 and "holds files this command does not write (notes.txt)" in err


def test_bad_inputs_exit_2_with_one_line(drift_case: dict, tmp_path: Path) -> None:
    d = drift_case["dir"]
    code, _, err = _cli("monitor", str(d / "panel.csv"), "--rules",
                        str(FIXTURES / "wrong_kpi.yml"), "--out", str(tmp_path / "o"))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    bad = tmp_path / "r.yml"
    bad.write_text("rules:\n  - {name: r, kpi: roas, channels: [socail_meta], "
                   "threshold: {below: 0.1}, durability: {weeks_in_a_row: 2}}\n")
    code, _, err = _cli("monitor", str(d / "panel.csv"), "--rules", str(bad), "--out",
                        str(tmp_path / "o"))
    assert code == 2
    assert "channel 'socail_meta' is not in the panel (at rules -> 0 -> channels -> 0). " \
           "Did you mean 'social_meta'?" in err
    plan_rule = tmp_path / "p.yml"
    plan_rule.write_text("rules:\n  - {name: r, kpi: roas, threshold: {relative_to: plan, "
                         "below: 0.1}, durability: {weeks_in_a_row: 2}}\n")
    code, _, err = _cli("monitor", str(d / "panel.csv"), "--rules", str(plan_rule), "--out",
                        str(tmp_path / "o"))
    assert code == 2 and "pass --plan PLAN_DIR" in err
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- with a plan

PLAN_AT = 110


@pytest.fixture(scope="module")
def plan_case(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A plan made at week 110 from the world's true curves, then 16 weeks of the world."""
    world = simulate_world(8, n_channels=4, n_weeks=126, patterns=("steady",))
    d = tmp_path_factory.mktemp("planned")
    world.panel.to_csv(d / "panel.csv", index=False)
    before = read_panel(d / "panel.csv").head(PLAN_AT)
    weekly = before.recent_spend(8)
    truth = CurveSet([world.truth[c] for c in world.channels])
    sc = Scenario.model_validate({"name": "Plan at week 110", "data": "panel.csv",
                                  "economics": {"gross_margin": 0.5}})
    write_plan(build_plan(truth, sc, weekly), d / "plan")
    return {"dir": d, "world": world, "weekly": weekly}


def test_plan_start_is_found_and_the_plan_expectation_follows_it(plan_case: dict) -> None:
    d = plan_case["dir"]
    rules = load_rules(FIXTURES / "ok_basic.yml")
    panel = read_panel(d / "panel.csv")
    plan = load_plan(d / "plan")
    result = evaluate(panel, rules, plan)
    assert plan.start == PLAN_AT
    alloc = pd.read_csv(d / "plan" / "allocation.csv").set_index("channel")
    table = result.table
    for c in panel.channels:
        rows = table[table["key"] == c]
        exp = rows["spend_plan"].to_numpy()
        assert np.isnan(exp[:PLAN_AT]).all()
        assert exp[PLAN_AT:] == pytest.approx(alloc.at[c, "recommended_spend"] / 4, abs=0.01)
        # the plan's revenue: the mean of its baseline weeks plus the curves' expected change
        rev = panel.revenue[c].to_numpy()[PLAN_AT - 8:PLAN_AT].mean()
        delta = (alloc.at[c, "expected_revenue"] - alloc.at[c, "revenue_current"]) / 4
        assert rows["revenue_plan"].to_numpy()[-1] == pytest.approx(rev + delta, rel=1e-4, abs=0.02)


def test_rule_relative_to_the_plan_flags_the_channels_spending_under_it(plan_case: dict,
                                                                         tmp_path: Path) -> None:
    d = plan_case["dir"]
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"rules": [{
        "name": "Spend under plan", "kpi": "spend", "channels": ["*"],
        "threshold": {"relative_to": "plan", "below": 0.05},
        "durability": {"weeks_in_a_row": 2}}]}))
    result = run_monitor(d / "panel.csv", rules, tmp_path / "out", plan_dir=d / "plan",
                         progress=False)
    alloc = pd.read_csv(d / "plan" / "allocation.csv").set_index("channel")
    # the world kept spending as before, so every channel the plan raised by more than 10 %
    # runs under it (steady spend varies by a few percent a week)
    raised = sorted(alloc.index[alloc["change_pct"] > 10])
    assert raised, "the plan raised no channel; the test needs one"
    assert sorted(a["channel"] for a in result.alerts) == raised
    weeks = [str(w.date()) for w in read_panel(d / "panel.csv").weeks]
    for c in raised:  # nothing before the plan; the first spell starts with it
        spells = sorted(a["since"] for a in result.alerts + result.history if a["channel"] == c)
        assert weeks[PLAN_AT] <= spells[0] <= weeks[PLAN_AT + 1]
    for a in result.alerts:
        assert "marginal net margin" in a["draft"]["basis"]
        draft = load_scenario(tmp_path / "out" / a["draft_scenario"])
        assert draft.curves is not None and draft.curves.name == "curves.json"
    html = (tmp_path / "out" / "dashboard.html").read_text()
    assert "Plan at week 110" in html and re.search(r"plan [+-]\d", html)


def test_campaign_alerts_get_drafts_that_keep_the_base_scenario_economics(tmp_path: Path) -> None:
    _keyed_frame().to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "base.yml").write_text(yaml.safe_dump({
        "name": "Base", "data": "panel.csv", "period_weeks": 2, "baseline_weeks": 4,
        "economics": {"gross_margin": 0.4, "platform_fee_rate": 0.05},
        "channels": {"social|prospecting": {"return_rate": 0.2}}}))
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({
        "draft": {"scenario": "base.yml", "move": 0.1, "recipients": 1},
        "rules": [{"name": "floor", "kpi": "roas", "channels": ["search"], "level": "campaign",
                   "threshold": {"relative_to": "absolute", "below": 100.0},
                   "durability": {"weeks_in_a_row": 1}}]}))
    res = run_monitor(tmp_path / "panel.csv", tmp_path / "rules.yml", tmp_path / "out",
                      progress=False)
    assert sorted(a["channel"] for a in res.alerts) == ["search|brand", "search|generic"]
    for a in res.alerts:
        assert a["level"] == "campaign"
        sc = load_scenario(tmp_path / "out" / a["draft_scenario"])
        assert sc.objective == "net_margin" and sc.economics.gross_margin == 0.4
        assert sc.economics.platform_fee_rate == 0.05 and sc.step == 0.1
        assert sc.period_weeks == 2 and sc.baseline_weeks == 4
        assert sc.channels["social|prospecting"].return_rate == 0.2
        spend = _keyed_frame()
        key = a["channel"].split("|")[1]
        current = spend[spend["campaign"] == key]["spend"].iloc[-4:].mean() * 2
        assert sc.channels[a["channel"]].max == pytest.approx(0.9 * current, rel=1e-6)
        validate_scenario_file(tmp_path / "out" / a["draft_scenario"])
