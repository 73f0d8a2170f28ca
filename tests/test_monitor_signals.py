"""The monitor's weak signals on simulated histories whose change is known.

Funnels (:mod:`optimizer.monitor.worlds`) jump by a known factor in a known week: the README's
own example rules must fire in the third or fourth week of every jump, and a quiet funnel must
raise false alarms at the rate the monitor states.  Cohorts of tagged orders lose a known share
of their 60-day value: the cohort watch must say so before they are 90 days old, with the
``new_customer_value`` that the truth implies.  The oracles are the simulated truth (jump week,
factor, expected cohort values) and Poisson bounds on counts of independent alarms.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from scipy import stats

from roiste.models.curves import CurveSet
from roiste.models.panel import panel_from_frame, read_panel
from roiste.models.simulate import simulate_world
from roiste.optimizer.cli import main
from roiste.optimizer.monitor.charts import episodes, stated_rate
from roiste.optimizer.monitor.cohorts import read_tagged_orders
from roiste.optimizer.monitor.kpis import load_plan, returns_complete, series_of
from roiste.optimizer.monitor.rules import (
    Durability,
    MonitorEconomics,
    MonitorError,
    Rules,
    Threshold,
)
from roiste.optimizer.monitor.watch import evaluate
from roiste.optimizer.monitor.worlds import simulate_cohort_orders, simulate_funnel
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.dashboard import render_dashboard
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.scenario import Scenario, load_scenario

README = Path(__file__).resolve().parents[1] / "README.md"
CHANNELS = ("search_brand", "social_meta")  # the names the README's rules watch
SEEDS = range(5)
FACTORS = (1.20, 1.55, 2.00)


def readme_rules() -> Rules:
    """The rules file shown in the README's monitor section, as a user would copy it."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## What the weekly monitor writes"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block, "the README's monitor section has no YAML rules file"
    doc = yaml.safe_load(block.group(1))
    doc.pop("notify")  # no mail server here; the rules are what is checked
    doc["draft"].pop("scenario")
    return Rules.model_validate(doc)


@pytest.fixture(scope="module")
def rules() -> Rules:
    return readme_rules()


def _rule(rules: Rules, name: str) -> Rules:
    return rules.model_copy(update={"rules": [r for r in rules.rules if r.name == name]})


# --------------------------------------------------------------------------- funnel KPIs


def test_funnel_kpis_are_ratios_of_the_week_sums() -> None:
    world = simulate_funnel(3, n_weeks=30, channels=CHANNELS)
    frame = world.panel
    panel = panel_from_frame(frame, source="funnel")
    econ = MonitorEconomics(platform_fee_rate=0.05)
    by_key = {s.key: s for s in series_of(panel, econ)}
    sums = {c: frame[frame["channel"] == c].set_index("date") for c in CHANNELS}
    sums["(all channels)"] = frame.groupby("date").sum(numeric_only=True)
    for key, d in sums.items():
        k = by_key[key].kpis
        assert k["cpc"].to_numpy() == pytest.approx((d["spend"] / d["clicks"]).to_numpy())
        assert k["cpm"].to_numpy() == pytest.approx((1000 * d["spend"] / d["impressions"]).to_numpy())
        assert k["ctr"].to_numpy() == pytest.approx((d["clicks"] / d["impressions"]).to_numpy())
        assert k["conversion_rate"].to_numpy() == pytest.approx((d["orders"] / d["visitors"]).to_numpy())
        assert k["net_revenue"].to_numpy() == pytest.approx((d["revenue"] - d["returns"]).to_numpy())
        assert k["net_roas"].to_numpy() == pytest.approx(
            ((d["revenue"] - d["returns"]) / d["spend"]).to_numpy())
        cac = (1.05 * d["spend"] + d["returns"]) / d["new_customers"]
        assert k["net_cac"].to_numpy() == pytest.approx(cac.to_numpy())


def test_a_rule_on_a_column_the_panel_lacks_is_refused(tmp_path: Path) -> None:
    frame = simulate_funnel(0, n_weeks=30, channels=CHANNELS).panel.drop(columns=["clicks"])
    frame.to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"rules": [
        {"name": "CPC up", "kpi": "cpc", "threshold": {"above": 0.1},
         "durability": {"weeks_in_a_row": 3}}]}))
    res = CliRunner().invoke(main, ["monitor", str(tmp_path / "panel.csv"), "--rules",
                                    str(tmp_path / "rules.yml"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2
    line = res.output.strip().splitlines()[-1]
    assert "rule 'CPC up' watches cpc, which needs the panel column(s) clicks" in line
    assert "(at rules -> 0 -> kpi)" in line
    assert not (tmp_path / "o").exists()


def test_net_kpis_wait_for_the_returns_to_arrive() -> None:
    """Returns arrive over four weeks: a fall in the last three weeks is not judged on revenue
    after returns until those weeks are complete; on ROAS it is."""
    assert returns_complete(6, 4) == pytest.approx([1, 1, 0.8, 0.6, 0.4, 0.2])
    frame = simulate_funnel(4, n_weeks=40, channels=CHANNELS).panel
    late = (frame["date"] >= sorted(frame["date"].unique())[-3]) & (frame["channel"] == CHANNELS[0])
    frame.loc[late, ["revenue", "returns"]] *= 0.5
    panel = panel_from_frame(frame, source="late fall")

    def alerted(return_weeks: int) -> set[str]:
        rules = Rules.model_validate({"return_weeks": return_weeks, "rules": [
            {"name": k, "kpi": k, "channels": [CHANNELS[0]],
             "threshold": {"below": 0.2, "level": "mean"},
             "durability": {"weeks_in_a_row": 3}} for k in ("roas", "net_roas")]})
        result = evaluate(panel, rules)
        assert result.table["returns_complete"].iloc[-1] == pytest.approx(1 / (return_weeks + 1))
        return {a["kpi"] for a in result.alerts}

    assert alerted(4) == {"roas"}
    assert alerted(0) == {"roas", "net_roas"}


# --------------------------------------------------------------------------- jumps


@pytest.fixture(scope="module")
def jumps(rules: Rules) -> dict[tuple[str, float], list[tuple[int, list[dict]]]]:
    """For each KPI and factor, per seed: the jump week and the alerts of the README's rule."""
    names = {"net_cac": "Net CAC up three weeks", "cpc": "CPC up three weeks"}
    out: dict[tuple[str, float], list[tuple[int, list[dict]]]] = {}
    for kpi, name in names.items():
        only = _rule(rules, name)
        for factor in FACTORS:
            runs = []
            for seed in SEEDS:
                world = simulate_funnel(seed, n_weeks=40, kpi=kpi, factor=factor,
                                        channels=CHANNELS)
                panel = panel_from_frame(world.panel, source=f"funnel {seed}")
                result = evaluate(panel, only)
                weeks = [str(w.date()) for w in panel.weeks]
                runs.append((world.jump_week, [dict(a, since_i=weeks.index(a["since"]),
                                                    fired_i=weeks.index(a["fired"]))
                                               for a in result.alerts + result.history]))
            out[(kpi, factor)] = runs
    return out


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("kpi", ["net_cac", "cpc"])
def test_readme_rules_fire_in_the_third_or_fourth_week_of_every_jump(
        kpi: str, factor: float, jumps: dict) -> None:
    for seed, (jump, found) in zip(SEEDS, jumps[(kpi, factor)], strict=True):
        on_target = [a for a in found if a["channel"] == CHANNELS[0]]
        assert len(on_target) == 1, (seed, on_target)
        a = on_target[0]
        # dated at the jump, fired in its third or fourth week, still holding at the end
        assert a["since_i"] in (jump, jump + 1), (seed, a["since"])
        assert jump + 2 <= a["fired_i"] <= jump + 3, (seed, a["fired"])
        assert a["ongoing"]
        # measured against the level before the jump, so it reports the jump itself
        assert a["change"] == pytest.approx(factor - 1, abs=0.06 + 0.05 * factor), (seed, a)
        # the channel that did not change stays quiet
        assert not [x for x in found if x["channel"] == CHANNELS[1]], (seed, found)


def _poisson_bounds(expected: float) -> tuple[int, int]:
    return int(stats.poisson.ppf(0.0005, expected)), int(stats.poisson.ppf(0.9995, expected))


@pytest.fixture(scope="module")
def quiet() -> list[pd.DataFrame]:
    """Funnels without a change, noisy enough (about 8 % a week) for false alarms to happen."""
    return [simulate_funnel(100 + seed, n_weeks=400, kpi="none", auction_noise=0.08,
                            channels=CHANNELS).panel for seed in range(6)]


def test_in_a_row_false_alarms_match_the_rate_the_monitor_states(
        rules: Rules, quiet: list[pd.DataFrame]) -> None:
    """Episodes of the README's "three weeks in a row" rules on funnels that never change,
    against the sum over series of the rate stated for each (its own noise)."""
    count, expected, watched = 0, 0.0, 0
    for frame in quiet:
        panel = panel_from_frame(frame, source="quiet")
        for s in series_of(panel, rules.economics):
            if s.level != "channel":
                continue
            for name in ("Net CAC up three weeks", "CPC up three weeks"):
                r = _rule(rules, name).rules[0]
                values = s.kpis[r.kpi].to_numpy()
                n = len(values) - r.threshold.baseline_weeks - 3
                rate = stated_rate(values, r.threshold, r.durability)
                assert rate is not None and rate > 0
                expected += rate * n
                watched += n
                count += len(episodes(values, r.threshold, r.durability))
    lo, hi = _poisson_bounds(expected)
    assert expected > 10, expected  # a test that can fail both ways
    assert lo <= count <= hi, (count, expected, watched)


def test_chart_false_alarms_match_the_stated_arl0(rules: Rules,
                                                 quiet: list[pd.DataFrame]) -> None:
    """The README's "ROAS drift" chart: one false alarm per arl0 weeks and series."""
    r = _rule(rules, "ROAS drift").rules[0]
    assert r.durability.cusum is not None
    count, watched = 0, 0
    for frame in quiet:
        panel = panel_from_frame(frame, source="quiet")
        for s in series_of(panel, rules.economics):
            if s.level == "channel":
                values = s.kpis["roas"].to_numpy()
                count += len(episodes(values, r.threshold, r.durability))
                watched += len(values) - 52 - r.threshold.baseline_weeks
    lo, hi = _poisson_bounds(watched / r.durability.cusum.arl0)
    assert lo <= count <= hi, (count, watched / r.durability.cusum.arl0)


def test_the_frozen_baseline_is_not_absorbed_by_the_change() -> None:
    """A jump whose first week happens to fall short of the line: the run that starts in its
    second week is still measured against the weeks before the change."""
    y = np.full(30, 100.0)
    y[:20] *= np.exp(0.01 * np.sin(np.arange(20)))  # a little noise, no trend
    y[20] = 105.0  # the first week of the +55 % change falls short of the line (+10 %)
    y[21:] = 155.0
    th = Threshold(relative_to="recent", above=0.10, level="mean")
    eps = episodes(y, th, Durability(weeks_in_a_row=3))
    assert [(e.since, e.fired, e.ongoing) for e in eps] == [(21, 23, True)]


# --------------------------------------------------------------------------- cohorts

DROP_WEEK = 20


def _cohort_case(seed: int, drop: float, tmp: Path) -> tuple[dict, list[dict], object]:
    world = simulate_cohort_orders(seed, n_weeks=34, drop_week=DROP_WEEK, drop=drop,
                                   channels=(CHANNELS[0],))
    orders = tmp / f"orders-{seed}-{drop}.csv"
    world.orders.to_csv(orders, index=False)
    frame = simulate_funnel(seed, n_weeks=34, channels=CHANNELS).panel
    rules = Rules.model_validate({
        "cohorts": {"gross_margin": 1.0, "new_customer_value": 100.0},
        "rules": [{"name": "ROAS down", "kpi": "roas", "threshold": {"below": 0.5},
                   "durability": {"weeks_in_a_row": 3}}]})
    panel = panel_from_frame(frame, source="funnel")
    result = evaluate(panel, rules, orders=read_tagged_orders(orders))
    cohort = [a for a in result.alerts + result.history
              if "age_days" in a and a["channel"] == CHANNELS[0]]
    return {"world": world, "start": pd.Timestamp(world.orders["timestamp"].iloc[0][:10])}, \
        cohort, result


@pytest.fixture(scope="module")
def cohort_cases(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("cohorts")
    return {(seed, drop): _cohort_case(seed, drop, tmp)
            for seed, drop in [(0, 0.3), (1, 0.3), (3, 0.0),
                               (4, 1 - 1 / 1.2), (5, 1 - 1 / 1.55), (6, 1 - 1 / 2.0)]}


@pytest.mark.parametrize("seed", [0, 1])
def test_a_cohort_30_percent_below_at_60_days_is_flagged_before_90_days(
        seed: int, cohort_cases: dict) -> None:
    case, alerts, _ = cohort_cases[(seed, 0.3)]
    world = case["world"]
    monday = pd.Timestamp("2025-01-06")
    drop_week = monday + pd.Timedelta(weeks=DROP_WEEK)
    assert alerts, "no cohort alert"
    first = min(alerts, key=lambda a: a["fired"])
    # the first affected cohort's 90-day point: its last customer is 90 days old
    ninety = drop_week + pd.Timedelta(days=7 + 90)
    assert pd.Timestamp(first["fired"]) < ninety, first
    assert first["since"] == str(drop_week.date()), first
    # nothing before the change
    assert all(pd.Timestamp(a["since"]) >= drop_week for a in alerts)
    # the implied value follows the truth's ratio at that age (new_customer_value 100)
    age = first["age_days"]
    truth = world.value(age, after=True) / world.value(age)
    assert first["implied_new_customer_value"] == pytest.approx(100 * truth, abs=6.0), first
    at60 = [m for a in alerts for m in a["by_age"] if m["age_days"] == 60]
    assert at60 and at60[0]["change"] == pytest.approx(-0.3, abs=0.06)
    assert pd.Timestamp(at60[0]["fired"]) < ninety, at60[0]
    # one fall, one alert: every age that saw it is in it, dated by the earliest
    assert len(alerts) == 1 and {30, 60} <= set(first["ages_days"]), alerts
    assert first["fired"] == min(m["fired"] for m in first["by_age"])


def test_cohorts_without_a_change_raise_no_alert(cohort_cases: dict) -> None:
    _, alerts, result = cohort_cases[(3, 0.0)]
    assert alerts == []
    assert result.cohorts and all(np.isfinite(c.values[30]).sum() >= 20 for c in result.cohorts)


@pytest.mark.parametrize("seed,factor", [(4, 1.2), (5, 1.55), (6, 2.0)])
def test_cohort_value_falls_are_flagged_within_four_acquisition_weeks(
        seed: int, factor: float, cohort_cases: dict) -> None:
    """Cohorts whose 60-day value falls to 1 / 1.2, 1 / 1.55 and 1 / 2 of before: the watch
    fires by the fourth affected acquisition week at the age that first shows it."""
    _, alerts, result = cohort_cases[(seed, 1 - 1 / factor)]
    assert alerts
    series = next(c for c in result.cohorts if c.channel == CHANNELS[0])
    weeks = [str(w.date()) for w in series.weeks]
    for a in alerts:
        assert weeks.index(a["since"]) >= DROP_WEEK
    at60 = [m for a in alerts for m in a["by_age"] if m["age_days"] == 60]
    assert at60, alerts
    since = weeks.index(at60[0]["since"])
    fired_cohort = since + 2  # three weeks in a row
    assert since <= DROP_WEEK + 1 and fired_cohort <= DROP_WEEK + 3, at60[0]


def test_monitor_command_with_orders_writes_the_cohort_draft(tmp_path: Path) -> None:
    world = simulate_cohort_orders(0, n_weeks=36, drop_week=DROP_WEEK, drop=0.3,
                                   channels=(CHANNELS[0],))
    world.orders.to_csv(tmp_path / "orders.csv", index=False)
    simulate_funnel(0, n_weeks=36, kpi="cpc", factor=1.55,
                    channels=CHANNELS).panel.to_csv(tmp_path / "panel.csv", index=False)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({
        "cohorts": {"gross_margin": 0.5, "new_customer_value": 60.0, "ages_days": [30, 60]},
        "rules": [{"name": "CPC up", "kpi": "cpc", "threshold": {"above": 0.1, "level": "mean"},
                   "durability": {"weeks_in_a_row": 3}}]}))
    res = CliRunner().invoke(main, ["monitor", str(tmp_path / "panel.csv"), "--rules",
                                    str(tmp_path / "rules.yml"), "--orders",
                                    str(tmp_path / "orders.csv"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "out" / "alerts.json").read_text())
    cohort = [a for a in doc["alerts"] if a.get("age_days") == 60 and a["channel"] == CHANNELS[0]]
    assert cohort
    a = cohort[0]
    sc = load_scenario(tmp_path / "out" / a["draft_scenario"])
    assert sc.economics.gross_margin == 0.5
    assert sc.channels[CHANNELS[0]].new_customer_value == pytest.approx(
        a["implied_new_customer_value"])
    assert a["implied_new_customer_value"] == pytest.approx(60 * (1 + a["change"]), rel=1e-4)
    html = (tmp_path / "out" / "dashboard.html").read_text()
    signals = html[html.index('id="signals"'):]
    signals = signals[:signals.index("</table>")]
    assert "margin / new customer at 60 days" in signals and a["draft_scenario"] in signals
    cpc = [x for x in doc["alerts"] if x["kpi"] == "cpc"]
    assert [x["channel"] for x in cpc] == [CHANNELS[0]]
    row = re.search(rf"<tr class=\"alert\"><td>Cost / click</td><td>{CHANNELS[0]}</td>.*?</tr>",
                    signals, re.S)
    assert row and cpc[0]["draft_scenario"] in row.group(0)
    # each series' stated false-alarm rate for the rule
    assert {(r["channel"], r["kpi"]) for r in doc["rates"]} == (
        {(c, "cpc") for c in CHANNELS}
        | {(c, f"cohort_value_{a}d") for c in (CHANNELS[0], "(all channels)") for a in (30, 60)})
    assert all(r["false_alarms_per_year"] is not None and r["false_alarms_per_year"] >= 0
               for r in doc["rates"])
    stated = {(r["channel"], r["kpi"]): r["false_alarms_per_year"] for r in doc["rates"]}
    assert cpc[0]["false_alarms_per_year"] == stated[(CHANNELS[0], "cpc")]
    # a cohort alert counts once whatever the ages that saw it: it states at most their sum
    assert a["false_alarms_per_year"] == pytest.approx(
        sum(stated[(CHANNELS[0], f"cohort_value_{g}d")] for g in (30, 60)), abs=1e-6)
    assert "When nothing changes, this rule" in html
    assert 'class="spark"' in signals
    # the same inputs give the same bytes
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    res = CliRunner().invoke(main, ["monitor", str(tmp_path / "panel.csv"), "--rules",
                                    str(tmp_path / "rules.yml"), "--orders",
                                    str(tmp_path / "orders.csv"), "--out", str(tmp_path / "out"),
                                    "--force"])
    assert res.exit_code == 0, res.output
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == first


@pytest.mark.parametrize("body,message", [
    ("order_id,timestamp,value,channel,customer_key\n", "column(s) 'customer_type' missing"),
    ("order_id,timestamp,value,channel,customer_key,customer_type\n"
     "a,2025-01-06T10:00:00Z,12,search,k1,new\nb,yesterday,3,search,k1,existing\n",
     "row 3, column 'timestamp': not an ISO date-time"),
    ("order_id,timestamp,value,channel,customer_key,customer_type\n"
     "a,2025-01-06T10:00:00Z,-1,search,k1,new\n", "row 2, column 'value': not a number >= 0"),
    ("order_id,timestamp,value,channel,customer_key,customer_type\n"
     "a,2025-01-06T10:00:00Z,5,search,k1,first\n",
     "row 2, column 'customer_type': not new or existing"),
])
def test_bad_tagged_orders_give_one_line(body: str, message: str, tmp_path: Path) -> None:
    p = tmp_path / "orders.csv"
    p.write_text(body)
    with pytest.raises(MonitorError) as info:
        read_tagged_orders(p)
    assert str(info.value) == f"{p}: {message}" or message in str(info.value)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- plan and page


@pytest.fixture(scope="module")
def plan_after(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A plan made from the whole panel: its period starts the week after the panel ends."""
    world = simulate_world(8, n_channels=3, n_weeks=60, patterns=("steady",))
    d = tmp_path_factory.mktemp("after")
    world.panel.to_csv(d / "panel.csv", index=False)
    panel = read_panel(d / "panel.csv")
    truth = CurveSet([world.truth[c] for c in world.channels])
    sc = Scenario.model_validate({"name": "Next month", "data": "panel.csv",
                                  "economics": {"gross_margin": 0.5}})
    write_plan(build_plan(truth, sc, panel.recent_spend(8)), d / "plan")
    return {"dir": d, "panel": panel}


def test_a_plan_that_follows_the_panel_is_compared_with_its_latest_weeks(plan_after: dict) -> None:
    d, panel = plan_after["dir"], plan_after["panel"]
    rules = Rules.model_validate({"recent_weeks": 4, "rules": [
        {"name": "Spend", "kpi": "spend", "threshold": {"relative_to": "plan", "below": 0.5},
         "durability": {"weeks_in_a_row": 2}}]})
    plan = load_plan(d / "plan")
    result = evaluate(panel, rules, plan)
    assert plan.start == panel.n_weeks and not plan.overlaps
    alloc = pd.read_csv(d / "plan" / "allocation.csv").set_index("channel")
    for c in panel.channels:
        rows = result.table[result.table["key"] == c]
        exp = rows["spend_plan"].to_numpy()
        assert np.isnan(exp[:-4]).all()
        assert exp[-4:] == pytest.approx(alloc.at[c, "recommended_spend"] / 4, abs=0.01)
        vs = rows["spend_vs_plan"].to_numpy()[-1]
        assert vs == pytest.approx(rows["spend"].to_numpy()[-1] / exp[-1] - 1)
    after = (panel.weeks[-1] + pd.Timedelta(weeks=1)).date()
    assert any(f"it starts {after}" in n and "latest 4 week(s)" in n for n in result.notes)
    html = render_dashboard(result)
    assert f"No week of the panel is in the plan&#39;s period (it starts {after})" in html
    assert re.search(r"plan [+-]\d", html)


def test_zero_spend_is_neither_good_nor_bad_news() -> None:
    frame = simulate_funnel(2, n_weeks=30, channels=CHANNELS).panel
    last = frame["date"] == frame["date"].max()
    off = last & (frame["channel"] == CHANNELS[1])
    frame.loc[off, ["spend", "impressions", "clicks"]] = 0  # paused; old clicks still buy
    panel = panel_from_frame(frame, source="paused")
    rules = Rules.model_validate({"rules": [{"name": "r", "kpi": "roas",
                                             "threshold": {"below": 0.9},
                                             "durability": {"weeks_in_a_row": 3}}]})
    html = render_dashboard(evaluate(panel, rules))
    for table in re.findall(r'<table id="kpi-table[^"]*".*?</table>', html, re.S):
        row = re.search(rf"<tr class=\"level-channel\"><td>{CHANNELS[1]}</td>(.*?)</tr>", table, re.S)
        assert row
        assert "-100.0%" not in row.group(1) or 'class="d good"' not in row.group(1)
        heads = re.findall(r"<th>(.*?)</th>", table)
        cells = re.findall(r'<td class="kpi">(.*?)</td>', row.group(1), re.S)
        for head, cell in zip(heads[1:], cells, strict=True):
            if head in ("Net CAC", "Cost / new customer", "Cost / click",
                        "Cost / 1,000 impressions"):
                assert "no spend" in cell and "good" not in cell, (head, cell)
            if "-100.0%" in cell:  # spend fell to nothing: no colour
                assert 'class="d good"' not in cell and 'class="d bad"' not in cell, (head, cell)
        assert len(heads) <= 6  # a series and at most five KPIs per table: it fits the page
