"""Orders after returns, one alert per cohort fall, and the monitor's date column.

Orders after returns are checked against hand sums of the panel, and on a simulated history
whose returns arrive over the weeks after the order: a week is judged only once all its returns
can have arrived, so a true fall is raised exactly when its third week is complete, and the
returns still missing from the latest weeks never pass for a rise.  Cohort falls are simulated
per channel (:func:`optimizer.monitor.worlds.simulate_cohort_orders`) with a known drop week:
one falling channel gives one alert, whatever the ages that show it, and the fall of all
channels is left to it; two falling channels also give the fall of all channels.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from roiste.models.panel import panel_from_frame
from roiste.optimizer.cli import main
from roiste.optimizer.monitor.cohorts import CohortEconomics, cohort_alerts, cohort_values
from roiste.optimizer.monitor.kpis import series_of
from roiste.optimizer.monitor.rules import CohortWatch, MonitorEconomics, MonitorError, Rules
from roiste.optimizer.monitor.watch import evaluate
from roiste.optimizer.monitor.worlds import simulate_cohort_orders, simulate_funnel
from roiste.optimizer.scenario import load_scenario

CHANNELS = ("search_brand", "social_meta")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "preflight"

# --------------------------------------------------------------------------- orders after returns


def test_net_orders_are_the_hand_sums_of_the_panel() -> None:
    frame = simulate_funnel(2, n_weeks=30, channels=CHANNELS).panel
    rng = np.random.default_rng(7)
    frame["returned_orders"] = rng.binomial(frame["orders"].to_numpy(dtype=np.int64), 0.15)
    panel = panel_from_frame(frame, source="funnel")
    by_key = {s.key: s for s in series_of(panel, MonitorEconomics())}
    sums = {c: frame[frame["channel"] == c].set_index("date") for c in CHANNELS}
    sums["(all channels)"] = frame.groupby("date").sum(numeric_only=True)
    for key, d in sums.items():
        k = by_key[key].kpis
        net = d["orders"].to_numpy(dtype=float) - d["returned_orders"].to_numpy(dtype=float)
        assert k["net_orders"].to_numpy() == pytest.approx(net)
        assert k["net_conversion_rate"].to_numpy() == pytest.approx(
            net / d["visitors"].to_numpy(dtype=float))
    # without the column, a rule on it is refused with the column's name
    bare = panel_from_frame(frame.drop(columns=["returned_orders"]), source="bare")
    rules = Rules.model_validate({"rules": [
        {"name": "Net orders down", "kpi": "net_orders", "threshold": {"below": 0.2},
         "durability": {"weeks_in_a_row": 3}}]})
    with pytest.raises(MonitorError, match=r"needs the panel column\(s\) returned_orders"):
        evaluate(bare, rules)


RETURN_WEEKS = 4
JUMP = 30  # first week whose orders are returned far more often


def _late_returns_panel(observed_weeks: int, seed: int = 5) -> pd.DataFrame:
    """Weekly orders of two channels whose returns arrive evenly over the order's week and the
    ``RETURN_WEEKS`` after it, as seen at the end of week ``observed_weeks - 1``.  From week
    ``JUMP`` the first channel's orders are returned at 50 % instead of 20 % (its orders after
    returns fall by 37.5 %); the second channel never changes."""
    rng = np.random.default_rng(seed)
    n = 40
    weeks = pd.date_range("2025-01-06", periods=n, freq="7D")
    frames = []
    for j, c in enumerate(CHANNELS):
        orders = rng.poisson(2000, n)
        rate = np.where((np.arange(n) >= JUMP) & (j == 0), 0.5, 0.2)
        returned = rng.binomial(orders, rate)
        arrival = np.arange(n)[:, None] + np.arange(RETURN_WEEKS + 1)[None, :]
        split = np.array([rng.multinomial(r, np.full(RETURN_WEEKS + 1, 1 / (RETURN_WEEKS + 1)))
                          for r in returned])
        seen = (split * (arrival <= observed_weeks - 1)).sum(axis=1)
        frames.append(pd.DataFrame({
            "date": weeks.strftime("%Y-%m-%d"), "channel": c, "spend": 1000.0,
            "revenue": orders * 50.0, "visitors": rng.poisson(60000, n), "orders": orders,
            "returned_orders": seen}).iloc[:observed_weeks])
    return (pd.concat(frames, ignore_index=True)
            .sort_values(["date", "channel"], kind="stable").reset_index(drop=True))


def _net_order_alerts(observed_weeks: int) -> list[dict]:
    rules = Rules.model_validate({"return_weeks": RETURN_WEEKS, "rules": [
        {"name": name, "kpi": "net_orders", "threshold": {side: 0.2, "level": "mean"},
         "durability": {"weeks_in_a_row": 3}}
        for name, side in (("Net orders down", "below"), ("Net orders up", "above"))]})
    panel = panel_from_frame(_late_returns_panel(observed_weeks), source="late returns")
    result = evaluate(panel, rules)
    assert result.table["returns_complete"].iloc[-1] == pytest.approx(1 / (RETURN_WEEKS + 1))
    return result.alerts + result.history


def test_orders_after_returns_are_judged_once_their_returns_are_in() -> None:
    # the fall's third week (JUMP + 2) is complete once RETURN_WEEKS more weeks are observed
    complete_at = JUMP + 2 + RETURN_WEEKS + 1  # weeks observed
    assert _net_order_alerts(complete_at - 1) == []
    alerts = _net_order_alerts(complete_at)
    assert [(a["channel"], a["rule"]) for a in alerts] == [(CHANNELS[0], "Net orders down")]
    weeks = pd.date_range("2025-01-06", periods=40, freq="7D")
    assert alerts[0]["since"] == str(weeks[JUMP].date())
    assert alerts[0]["fired"] == str(weeks[JUMP + 2].date())
    assert alerts[0]["change"] == pytest.approx(0.5 / 0.8 - 1, abs=0.03)
    # before the jump, the latest weeks miss most of their returns (their orders after returns
    # look up to 16 % higher): never judged, so never a rise
    assert _net_order_alerts(JUMP) == []


# --------------------------------------------------------------------------- one fall, one alert

DROP_WEEK = 20


def _orders(falls: dict[str, float]) -> pd.DataFrame:
    parts = []
    for seed, (c, drop) in enumerate(falls.items(), start=10):
        o = simulate_cohort_orders(seed, n_weeks=34, drop_week=DROP_WEEK, drop=drop,
                                   channels=(c,)).orders
        o["customer_key"] = c + o["customer_key"]
        o["order_id"] = c + o["order_id"]
        parts.append(o)
    o = pd.concat(parts, ignore_index=True)
    o["timestamp"] = pd.to_datetime(o["timestamp"]).dt.tz_localize(None)
    return o.sort_values(["timestamp", "order_id"], kind="stable").reset_index(drop=True)


def _cohort_alerts(falls: dict[str, float]) -> list[dict]:
    watch = CohortWatch()
    econ = CohortEconomics(new_customer_value=100.0)
    series = cohort_values(_orders(falls), list(watch.ages_days), econ,
                           min_customers=watch.min_customers)
    active, history = cohort_alerts(series, watch, econ)
    return active + history


def test_one_channel_whose_cohorts_fall_gives_one_alert() -> None:
    """The first channel's cohorts lose 30 % of their 60-day value; the second's do not. Both
    ages 30 and 60 see it, and so do all channels together (15 % below): one alert."""
    alerts = _cohort_alerts({CHANNELS[0]: 0.3, CHANNELS[1]: 0.0})
    assert len(alerts) == 1, [(a["channel"], a["ages_days"]) for a in alerts]
    a = alerts[0]
    assert a["channel"] == CHANNELS[0] and a["ongoing"] and a["explains_total"]
    assert {30, 60} <= set(a["ages_days"])
    drop = pd.Timestamp("2025-01-06") + pd.Timedelta(weeks=DROP_WEEK)
    assert a["since"] == str(drop.date())
    # the earliest date of the ages that saw it, before the first affected cohort is 90 days old
    assert a["fired"] == min(m["fired"] for m in a["by_age"])
    assert pd.Timestamp(a["fired"]) < drop + pd.Timedelta(days=7 + 90)
    at60 = [m for m in a["by_age"] if m["age_days"] == 60]
    assert at60 and at60[0]["change"] == pytest.approx(-0.3, abs=0.06)


def test_a_fall_of_two_channels_is_also_a_fall_of_all_channels() -> None:
    alerts = _cohort_alerts({CHANNELS[0]: 0.3, CHANNELS[1]: 0.3})
    assert sorted(a["channel"] for a in alerts) == sorted([*CHANNELS, "(all channels)"])
    assert not any(a["explains_total"] for a in alerts)
    assert all({30, 60} <= set(a["ages_days"]) for a in alerts)


# --------------------------------------------------------------------------- date column

SPEND_ON = {"rules": [{"name": "Spend on", "kpi": "spend", "channels": ["search"],
                       "threshold": {"relative_to": "absolute", "above": 0},
                       "durability": {"weeks_in_a_row": 2}}]}


def _monitor(tmp: Path, rules: dict, *extra: str) -> tuple[int, str]:
    (tmp / "rules.yml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    res = CliRunner().invoke(main, ["monitor", str(tmp / "panel_time.csv"), "--rules",
                                    str(tmp / "rules.yml"), "--out", str(tmp / "out"),
                                    "--quiet", "--no-notify", *extra])
    return res.exit_code, res.output


def _draft(tmp: Path) -> dict:
    drafts = sorted((tmp / "out").glob("draft-*.yml"))
    assert len(drafts) == 1
    sc = load_scenario(drafts[0])
    assert sc.date_column == "time"
    return yaml.safe_load(drafts[0].read_text(encoding="utf-8"))


def test_monitor_reads_a_panel_whose_week_column_is_time(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "panel_time.csv", tmp_path / "panel_time.csv")
    code, out = _monitor(tmp_path, SPEND_ON)
    assert code == 2
    assert out.strip().splitlines()[-1].endswith("(--date-column time)")
    assert not (tmp_path / "out").exists()
    code, out = _monitor(tmp_path, SPEND_ON, "--date-column", "time")
    assert code == 0, out
    doc = _draft(tmp_path)
    assert doc["date_column"] == "time"
    weeks = pd.read_csv(tmp_path / "out" / "kpis.csv")["week"]
    assert weeks.iloc[0] == pd.read_csv(tmp_path / "panel_time.csv")["time"].min()


def test_monitor_takes_the_date_column_of_its_draft_scenario(tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "panel_time.csv", tmp_path / "panel_time.csv")
    (tmp_path / "base.yml").write_text("name: Base\ndata: panel_time.csv\ndate_column: time\nobjective: revenue\n",
                                       encoding="utf-8")
    code, out = _monitor(tmp_path, {**SPEND_ON, "draft": {"scenario": "base.yml"}})
    assert code == 0, out
    assert _draft(tmp_path)["date_column"] == "time"
