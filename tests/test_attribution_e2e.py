"""Attribution on simulated journeys with known causes, against ChannelAttribution, from the
command line, and end to end: journeys -> attribute -> fit -> plan."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from roiste.models.attribution.credit import RULES, AttributionRule, attribute
from roiste.models.attribution.inputs import inputs_from_frames
from roiste.models.attribution.journeys import (
    DEFAULT_CHANNELS,
    JourneyWorld,
    simulate_journeys,
    write_journeys,
)
from roiste.optimizer.cli import main


@pytest.fixture(scope="module")
def journeys() -> JourneyWorld:
    return simulate_journeys(seed=11, n_weeks=16, users_per_week=5000)


@pytest.fixture(scope="module")
def shares(journeys: JourneyWorld) -> dict[str, pd.Series]:
    inputs = inputs_from_frames(journeys.touchpoints, journeys.conversions)
    out = {}
    rules = {**{r: AttributionRule(r) for r in RULES},
             "markov-journey": AttributionRule("markov", {"split": "journey"})}
    for name, rule in rules.items():
        t = attribute(inputs, rule).totals.set_index("channel")["revenue"]
        t = t.drop("(direct)")
        out[name] = t / t.sum()
    return out


def _distance(a: pd.Series, b: pd.Series) -> float:
    """Total variation distance between two share vectors."""
    return float(0.5 * (a - b.reindex(a.index)).abs().sum())


def test_simulated_truth_is_what_the_world_was_built_with(journeys: JourneyWorld) -> None:
    t = journeys.truth.set_index("channel")
    # drawn causes agree with the expected lift times reach (binomial noise only)
    caused, expected = t["caused_conversions"], t["expected_conversions"]
    assert (np.abs(caused - expected) < 4 * np.sqrt(expected) + 5).all()
    assert caused.sum() == len(journeys.conversions)
    assert t["caused_revenue"].sum() == pytest.approx(journeys.conversions["revenue"].sum())
    # users no channel touched convert at the baseline rate and have no touchpoint
    touched = set(journeys.touchpoints["customer_id"])
    direct = ~journeys.conversions["customer_id"].isin(touched)
    n_untouched = 16 * 5000 - len(touched)
    assert direct.sum() == pytest.approx(journeys.baseline * n_untouched, abs=4 * np.sqrt(
        journeys.baseline * n_untouched))


def test_which_rules_recover_the_known_causes(journeys: JourneyWorld,
                                              shares: dict[str, pd.Series]) -> None:
    truth = journeys.true_shares()
    dist = {rule: _distance(s, truth) for rule, s in shares.items()}
    # Shapley on conversion rates of channel sets recovers the causes best; the heuristics
    # are far off, last click worst of all
    assert dist["shapley"] < 0.08, dist
    assert dist["shapley"] == min(dist.values()), dist
    assert dist["last-click"] > 0.25, dist
    assert dist["last-click"] == max(dist.values()), dist
    # Markov: split journey by journey it beats linear; the standard global shares (the
    # default) give the channels that sit on many converting paths (retargeting) more than
    # their cause, and land between linear and last click here (0.22 against 0.14)
    assert dist["markov-journey"] < dist["linear"], dist
    assert dist["markov-journey"] < dist["markov"] < dist["last-click"], dist
    assert shares["markov"]["retargeting"] > 2 * truth["retargeting"]
    # last click over-credits the closing, low-lift channel; first click the opener
    assert shares["last-click"]["retargeting"] > 3 * truth["retargeting"]
    assert shares["first-click"]["video"] > 1.1 * truth["video"]
    assert abs(shares["shapley"]["video"] - truth["video"]) < 0.05


def test_markov_agrees_with_channelattribution_within_one_percent(journeys: JourneyWorld) -> None:
    ca = pytest.importorskip(
        "ChannelAttribution",
        reason="ChannelAttribution is not installed (pip install 'roiste[dev]' builds it from source)")
    # a world with strong lifts, so the package's simulation converges in a few seconds
    world = simulate_journeys(seed=4, n_weeks=3, users_per_week=1500, baseline=0.02,
                              channels=[replace(c, lift=6 * c.lift) for c in DEFAULT_CHANNELS])
    res = attribute(inputs_from_frames(world.touchpoints, world.conversions),
                    AttributionRule("markov"))
    # the same paths, built independently: touches up to the conversion within 30 days;
    # users who did not convert keep their last 30 days of touches (one order per customer
    # in this world, so a converting path's value is its customer's revenue)
    assert not world.conversions["customer_id"].duplicated().any()
    tp = world.touchpoints.assign(ts=pd.to_datetime(world.touchpoints["timestamp"]))
    conv_at = world.conversions.assign(ts=pd.to_datetime(world.conversions["timestamp"]))
    tp["conv_ts"] = tp["customer_id"].map(conv_at.set_index("customer_id")["ts"])
    tp["value"] = tp["customer_id"].map(conv_at.set_index("customer_id")["revenue"])
    month = pd.Timedelta(days=30)
    conv = tp[tp["conv_ts"].notna() & (tp["ts"] <= tp["conv_ts"]) & (tp["ts"] >= tp["conv_ts"] - month)]
    open_ = tp[tp["conv_ts"].isna()]
    open_ = open_[open_["ts"] >= open_.groupby("customer_id")["ts"].transform("max") - month]

    def paths(df: pd.DataFrame) -> pd.DataFrame:
        df = df.sort_values(["customer_id", "ts", "channel"])
        return df.groupby("customer_id").agg(path=("channel", " > ".join), value=("value", "first"))

    converted = paths(conv).groupby("path").agg(conv=("value", "size"), value=("value", "sum"))
    data = pd.concat([converted, paths(open_).groupby("path").size().rename("null")], axis=1)
    data = data.fillna(0.0).rename_axis("path").reset_index()
    # max_step: the package cuts simulated journeys at the longest observed path unless told
    # otherwise, which biases removal effects; 60 steps is far beyond any journey here
    out = ca.markov_model(data, "path", "conv", var_value="value", var_null="null", out_more=True,
                          verbose=False, flg_pro=False, nsim_start=1e6, conv_par=0.005,
                          max_step=60, seed=1)
    effects = out["removal_effects"].set_index("channel_name")
    assert set(effects.index) == set(res.details["removal_effects"])
    for ch, row in effects.iterrows():
        assert res.details["removal_effects"][ch] == pytest.approx(
            row["removal_effects_conversion"], rel=0.01), ch
        assert res.details["removal_effects_value"][ch] == pytest.approx(
            row["removal_effects_conversion_value"], rel=0.01), ch
    # the credits: each channel's global share of the conversions and of the value
    theirs = out["result"].set_index("channel_name")
    ours = res.totals.set_index("channel").drop("(direct)")
    assert ours["revenue"].sum() == pytest.approx(data["value"].sum(), abs=0.01)
    assert res.details["global_split_gap"] < 1e-6
    for ch, row in theirs.iterrows():
        assert ours.loc[ch, "revenue"] == pytest.approx(row["total_conversion_value"], rel=0.01), ch
        assert ours.loc[ch, "orders"] == pytest.approx(row["total_conversions"], rel=0.01), ch
    # the per-journey split, kept as an option, is not the standard: it misses by more
    journey = attribute(inputs_from_frames(world.touchpoints, world.conversions),
                        AttributionRule("markov", {"split": "journey"})).totals
    off = (journey.set_index("channel").drop("(direct)")["revenue"]
           / theirs["total_conversion_value"] - 1).abs()
    assert off.max() > 0.02, off


# --- command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_journeys(tmp_path_factory.mktemp("journeys"), seed=2, n_weeks=30,
                          users_per_week=2500, mean_order_value=600.0)


def _run(*args: str | Path) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_cli_attribute_writes_a_panel_the_panel_reader_accepts(files: dict[str, Path], tmp_path: Path) -> None:
    from roiste.models.panel import read_panel

    out = tmp_path / "panel.csv"
    code, stdout, _ = _run("attribute", files["touchpoints"], files["conversions"], "--rule",
                           "position-based", "--param", "weights=0.3,0.4,0.3", "--spend",
                           files["spend"], "--out", out, "--quiet")
    assert code == 0, stdout
    panel = pd.read_csv(out)
    assert list(panel.columns) == ["date", "channel", "spend", "revenue", "orders",
                                   "new_customers", "new_customer_revenue"]
    assert (pd.to_datetime(panel["date"]).dt.dayofweek == 0).all()  # weeks start on Monday
    side = json.loads(Path(f"{out}.attribution.json").read_text())
    rule = AttributionRule("position-based", {"weights": [0.3, 0.4, 0.3]})
    assert side["attribution_hash"] == rule.config_hash
    assert rule.config_hash[:12] in stdout
    conv = pd.read_csv(files["conversions"])
    # every cent of revenue is in the panel or credited to the direct channel
    total = round(panel["revenue"].sum() + side["totals"]["direct_revenue"], 2)
    assert total == round(conv["revenue"].sum(), 2)
    assert panel["orders"].sum() + side["totals"]["direct_conversions"] == pytest.approx(len(conv))
    # spend per channel is the spend file's, week by week
    spend = pd.read_csv(files["spend"]).groupby("channel")["spend"].sum()
    assert panel.groupby("channel")["spend"].sum().to_dict() == pytest.approx(spend.to_dict())
    read_panel(out)  # the data contract of DESIGN.md holds


def test_cli_same_inputs_same_bytes_and_parquet(files: dict[str, Path], tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.parquet"
    for out in (a, b, c):
        assert _run("attribute", files["touchpoints"], files["conversions"], "--rule", "markov",
                    "--lookback-days", "14", "--spend", files["spend"], "--out", out, "--quiet")[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert Path(f"{a}.attribution.json").read_bytes() == Path(f"{b}.attribution.json").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(c), pd.read_csv(a), check_dtype=False)


def test_cli_compare_writes_csv_and_html(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    code, stdout, _ = _run("attribute", "compare", files["touchpoints"], files["conversions"],
                           "--rules", "last-click,linear,time-decay:half_life_days=3,shapley",
                           "--out", out, "--quiet")
    assert code == 0, stdout
    table = pd.read_csv(out / "compare.csv")
    assert list(dict.fromkeys(table["rule"])) == ["last-click", "linear", "time-decay", "shapley"]
    assert table.groupby("label")["share"].sum().to_numpy() == pytest.approx(1.0)
    conv_total = pd.read_csv(files["conversions"])["revenue"].sum()
    assert table.groupby("label")["revenue"].sum().round(2).eq(round(conv_total, 2)).all()
    html = (out / "compare.html").read_text()
    assert "data:image/png;base64,iVBORw0KGgo" in html and "time-decay(half_life_days=3.0)" in html


@pytest.mark.parametrize(("args", "message"), [
    (["--rule", "last-touch"], "unknown attribution rule 'last-touch'"),
    (["--rule", "linear", "--param", "weights"], "--param 'weights': expected KEY=VALUE"),
    (["--rule", "time-decay", "--param", "half_life_days=-1"], "must be above 0"),
])
def test_cli_bad_rule_exits_2_with_one_line(files: dict[str, Path], tmp_path: Path,
                                            args: list[str], message: str) -> None:
    out = tmp_path / "p.csv"
    code, _, stderr = _run("attribute", files["touchpoints"], files["conversions"], *args, "--out", out)
    assert code == 2 and message in stderr and stderr.count("\n") == 1
    assert not out.exists()


def test_cli_bad_file_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    tp = tmp_path / "tp.csv"
    tp.write_text("customer_id,timestamp,channel\nu1,2024-01-01,a\nu2,2024-13-01,b\n")
    cv = tmp_path / "cv.csv"
    cv.write_text("order_id,customer_id,timestamp,revenue\no1,u1,2024-01-02,5\n")
    code, _, stderr = _run("attribute", tp, cv, "--rule", "linear", "--out", tmp_path / "p.csv")
    assert code == 2
    assert stderr == f"error: {tp}: row 3, column 'timestamp': '2024-13-01' is not an ISO 8601 timestamp\n"
    assert list(tmp_path.iterdir()) == [tp, cv] or sorted(tmp_path.iterdir()) == sorted([tp, cv])


def test_cli_help_shows_both_forms() -> None:
    code, stdout, _ = _run("attribute", "--help")
    assert code == 0 and "compare" in stdout and "TOUCHPOINTS CONVERSIONS --rule RULE" in stdout


# --- end to end ---------------------------------------------------------------------------


def _importable() -> str | None:
    try:
        from roiste.models.fit.channel import fit_panel_file  # noqa: F401
        from roiste.optimizer.runs import run_plan  # noqa: F401
    except ImportError as exc:
        return f"fit or plan not importable yet: {exc}"
    return None


@pytest.mark.skipif(_importable() is not None, reason=str(_importable()))
def test_journeys_attribute_fit_plan(files: dict[str, Path], tmp_path: Path) -> None:
    from roiste.models.curves import CurveSet
    from roiste.models.fit.channel import fit_panel_file
    from roiste.optimizer.runs import run_plan

    panel = tmp_path / "panel.csv"
    assert _run("attribute", files["touchpoints"], files["conversions"], "--rule", "shapley",
                "--spend", files["spend"], "--out", panel, "--quiet")[0] == 0
    curves = fit_panel_file(panel, progress=False)
    curves.save(tmp_path / "curves.json")
    channels = [c.name for c in DEFAULT_CHANNELS]
    assert sorted(curves.channels) == sorted(channels)
    # the attributed revenue responds to spend: every fitted curve rises
    for ch in channels:
        w = curves[ch]
        assert float(np.asarray(w.response(2000.0))) > float(np.asarray(w.response(200.0)))
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "name: attributed plan\ndata: panel.csv\ncurves: curves.json\nperiod_weeks: 4\n"
        "baseline_weeks: 8\nstep: 0.15\nobjective: net_margin\neconomics:\n  gross_margin: 0.5\n")
    plan = run_plan(scenario, tmp_path / "plan", progress=False)
    alloc = pd.read_csv(tmp_path / "plan" / "allocation.csv")
    assert sorted(alloc["channel"]) == sorted(channels)
    assert alloc["recommended_spend"].sum() == pytest.approx(alloc["current_spend"].sum(), rel=1e-6)
    move = (alloc["recommended_spend"] - alloc["current_spend"]).abs()
    assert (move <= 0.15 * alloc["current_spend"] + 0.011).all()  # the CSV holds cents
    assert plan is not None
    # the rule's hash travels from the panel's sidecar into the curves and the plan
    meta = CurveSet.load(tmp_path / "plan" / "curves.json").meta
    assert meta["attribution_hash"] == AttributionRule("shapley").config_hash
    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert summary["inputs"]["attribution"] == AttributionRule("shapley").config_hash


def test_cli_weekly_revenue_is_the_weeks_conversions(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "panel.csv"
    assert _run("attribute", files["touchpoints"], files["conversions"], "--rule", "time-decay",
                "--keep-direct", "--out", out, "--quiet")[0] == 0
    panel = pd.read_csv(out)
    conv = pd.read_csv(files["conversions"], parse_dates=["timestamp"])
    monday = conv["timestamp"].dt.to_period("W-SUN").dt.start_time.dt.strftime("%Y-%m-%d")
    expected = conv.groupby(monday)["revenue"].sum().round(2)
    got = panel.groupby("date")["revenue"].sum().round(2)
    assert got[got > 0].to_dict() == expected.to_dict()
    assert panel.groupby("date")["new_customers"].sum().sum() == pytest.approx(conv["new_customer"].sum())
