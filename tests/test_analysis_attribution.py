"""Attribution rules against simulated journeys: the analysis helpers behind the notebook.

Oracles: the world's own parameters (a channel's true response is written here again from
its reach, half-reach spend and lift), the simulated causes, a last click computed with
pandas from the files, and hand-computed distances.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from roiste.models.attribution.credit import AttributionRule
from roiste.models.errors import RoisteError
from roiste.optimizer import analysis as an

SEED, WEEKS, USERS, AOV = 3, 30, 2500, 600.0
SCENARIO = {"period_weeks": 4, "baseline_weeks": 8, "step": 0.15, "objective": "net_margin",
            "economics": {"gross_margin": 0.5}}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> an.JourneyStudy:
    return an.JourneyStudy.simulate(tmp_path_factory.mktemp("study"), seed=SEED, n_weeks=WEEKS,
                                    users_per_week=USERS, mean_order_value=AOV)


def _true_revenue(study: an.JourneyStudy, weekly: pd.Series) -> pd.Series:
    out = {}
    for c in study.world.channels:
        p_touch = c.reach * (1 - np.exp(-np.log(2) * weekly.get(c.name, 0.0) / c.half_reach_spend))
        out[c.name] = USERS * p_touch * c.lift * AOV
    return pd.Series(out)


def test_the_files_hold_the_world(study: an.JourneyStudy) -> None:
    tp = pd.read_csv(study.files["touchpoints"])
    cv = pd.read_csv(study.files["conversions"])
    pd.testing.assert_frame_equal(tp, study.world.touchpoints, check_dtype=False)
    assert cv["order_id"].tolist() == study.world.conversions["order_id"].tolist()
    assert cv["revenue"].sum() == pytest.approx(study.world.conversions["revenue"].sum())
    assert study.channels == ["video", "social", "email", "search", "retargeting"]


def test_true_weekly_revenue_is_what_the_world_caused(study: an.JourneyStudy) -> None:
    spend = pd.read_csv(study.files["spend"]).pivot(index="date", columns="channel", values="spend")
    expected = sum(study.true_weekly_revenue(row) for _, row in spend.iterrows())
    oracle = sum(_true_revenue(study, row) for _, row in spend.iterrows())
    pd.testing.assert_series_equal(expected, oracle, check_names=False)
    # the conversions the world drew for each channel: binomial noise around the expectation
    truth = study.world.truth.set_index("channel")
    conv = expected / AOV
    caused = truth.loc[conv.index, "caused_conversions"]
    assert (np.abs(caused - conv) < 4 * np.sqrt(conv) + 5).all(), pd.DataFrame({"c": caused, "e": conv})
    # no spend, no revenue; unknown channels are refused
    assert study.true_weekly_revenue({}).sum() == 0.0
    with pytest.raises(RoisteError, match="channel 'tv' is not in the world"):
        study.true_weekly_revenue({"tv": 100.0})


def test_shares_hold_the_truth_and_a_last_click_computed_apart(study: an.JourneyStudy) -> None:
    rules = [AttributionRule("last-click"), AttributionRule("shapley"),
             AttributionRule("time-decay", {"half_life_days": 3}),
             AttributionRule("time-decay", {"half_life_days": 14})]
    shares = an.attribution_shares(study.inputs(), rules, truth=study.world.true_shares())
    assert list(shares.columns) == ["truth", "last-click", "shapley",
                                    "time-decay(half_life_days=3.0)",
                                    "time-decay(half_life_days=14.0)"]
    assert shares.sum().to_numpy() == pytest.approx(1.0)
    truth = study.world.true_shares()
    pd.testing.assert_series_equal(shares["truth"], truth, check_names=False)
    # last click with pandas: each user converts once; the latest touch at or before the
    # order and no older than 30 days takes its revenue; touches tied at that instant share it
    tp = pd.read_csv(study.files["touchpoints"], parse_dates=["timestamp"])
    cv = pd.read_csv(study.files["conversions"], parse_dates=["timestamp"])
    j = tp.merge(cv, on="customer_id", suffixes=("", "_order"))
    j = j[(j["timestamp"] <= j["timestamp_order"])
          & (j["timestamp"] >= j["timestamp_order"] - pd.Timedelta(days=30))]
    last = j[j["timestamp"] == j.groupby("order_id")["timestamp"].transform("max")]
    ties = last.groupby("order_id")["channel"].transform("size")
    assert (ties > 1).any()  # the seconds of the files do tie now and then
    oracle = (last["revenue"] / ties).groupby(last["channel"]).sum()
    oracle = oracle / oracle.sum()
    assert shares["last-click"].to_dict() == pytest.approx(oracle.to_dict(), abs=1e-9)
    # Shapley is nearer the truth than last click; the distances are in [0, 1]
    dist = an.share_distance(shares)
    assert dist["shapley"] < dist["last-click"]
    assert ((dist >= 0) & (dist <= 1)).all()


def test_share_distance_by_hand_and_bad_tables() -> None:
    t = pd.DataFrame({"truth": [0.5, 0.5, 0.0], "a": [0.2, 0.5, 0.3], "b": [0.5, 0.5, 0.0]},
                     index=["x", "y", "z"])
    assert an.share_distance(t).to_dict() == pytest.approx({"b": 0.0, "a": 0.3})
    assert list(an.share_distance(t).index) == ["b", "a"]
    with pytest.raises(RoisteError, match="no 'truth' column"):
        an.share_distance(t.drop(columns="truth"))
    with pytest.raises(RoisteError, match="'linear' is listed twice"):
        an.rule_names([AttributionRule("linear"), AttributionRule("linear")])
    with pytest.raises(RoisteError, match="at least one rule"):
        an.attribution_shares(None, [])  # type: ignore[arg-type]


def test_share_chart_draws_every_channel_and_rule(study: an.JourneyStudy) -> None:
    shares = an.attribution_shares(study.inputs(), [AttributionRule("linear")],
                                   truth=study.world.true_shares())
    fig = an.plot_attribution_shares(shares)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 9) for p in ax.patches)
    assert heights == sorted(round(100 * v, 9) for v in shares.to_numpy().ravel())
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["true causes", "linear"]
    assert "%" in ax.get_ylabel() and [t.get_text() for t in ax.get_xticklabels()] == list(shares.index)
    assert len(an.png_bytes(fig)) > 10_000


def test_plan_from_a_rule_names_it_and_is_valued_under_the_truth(study: an.JourneyStudy) -> None:
    rule = AttributionRule("last-click")
    what_if = study.what_if(rule, SCENARIO)
    assert what_if.curves.meta["attribution_hash"] == rule.config_hash
    plan = what_if.plan()
    assert plan.attribution_hash == rule.config_hash
    assert Path(study.out_dir / "panel-last-click.csv.attribution.json").is_file()
    out = an.true_plan_outcome({"lc": plan}, study)
    assert list(out.index) == ["lc"]
    # by hand: 50 % gross margin, nothing else, so net margin = 0.5 * revenue - spend; the
    # budget is the current total, so the spend cancels
    a = plan.allocation.set_index("channel")
    r0 = _true_revenue(study, a["current_spend"] / 4) * 4
    r1 = _true_revenue(study, a["recommended_spend"] / 4) * 4
    dx = float((a["recommended_spend"] - a["current_spend"]).sum())
    assert out.loc["lc", "true_change"] == pytest.approx(0.5 * float((r1 - r0).sum()) - dx, abs=1e-6)
    assert out.loc["lc", "true_revenue_change"] == pytest.approx(float((r1 - r0).sum()))
    assert out.loc["lc", "expected_change"] == pytest.approx(plan.net_margin_change)
    # a plan that stays where it is gains nothing, under its curves or the truth
    still = an.true_plan_outcome({"still": what_if.plan(channels={
        c: {"locked": True} for c in plan.channels})}, study)
    assert still.loc["still", "true_change"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(RoisteError, match="leave it out"):
        study.what_if(rule, {**SCENARIO, "data": "x.csv"})


def test_trials_repeat_the_study_per_seed(study: an.JourneyStudy, tmp_path: Path) -> None:
    rules = [AttributionRule("last-click"), AttributionRule("linear")]
    trials = an.rule_plan_trials(rules, SCENARIO, [SEED], tmp_path, n_weeks=WEEKS,
                                 users_per_week=USERS, mean_order_value=AOV)
    assert list(trials.columns) == ["seed", "rule", "budget", "expected_change", "true_change",
                                    "true_revenue_change"]
    assert trials["rule"].tolist() == ["last-click", "linear"]
    # the same seed is the same world: the same plan as the study's own
    plan = study.what_if(rules[0], SCENARIO).plan()
    same = an.true_plan_outcome({"x": plan}, study).iloc[0]
    row = trials.iloc[0]
    assert row["true_change"] == pytest.approx(same["true_change"], rel=1e-9)
    assert row["expected_change"] == pytest.approx(same["expected_change"], rel=1e-9)


def test_plans_fitted_from_shapley_keep_more_of_their_promise_than_last_click(tmp_path: Path) -> None:
    # the notebook's claim, on three of its worlds: last click credits the closing channel,
    # its plan promises more than the truth gives back; Shapley's plan earns more under the
    # true response
    rules = [AttributionRule("last-click"), AttributionRule("shapley")]
    trials = an.rule_plan_trials(rules, SCENARIO, [1, 2, 3], tmp_path, n_weeks=52,
                                 users_per_week=4000)
    mean = trials.groupby("rule")[["expected_change", "true_change"]].mean()
    assert mean.loc["shapley", "true_change"] > mean.loc["last-click", "true_change"] + 300, mean
    overstated = mean["expected_change"] - mean["true_change"]
    assert overstated["last-click"] > 2 * overstated["shapley"], mean
    assert (trials["expected_change"] > 0).all()  # every plan expects to gain from its curves
