"""Experiments: the file, the A/B readout (against a hand computation and scipy), the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from roiste.models.experiments import (
    Arm,
    Experiment,
    ExperimentError,
    calibrate,
    lift_data,
    lift_test_from_truth,
    read_experiments,
    readout,
    welch,
    write_experiments,
)
from roiste.models.fit.channel import fit_channel
from roiste.models.worlds import draw_world
from roiste.optimizer.cli import main

GOOD = ("channel,x,delta_x,delta_y,sigma,start,end,kind,customer_type\n"
        "search,1000,-1000,-2500,200,2026-03-02,2026-04-27,holdout,all\n"
        "social,500,250,300,80,,,geo,\n")


def _write(tmp_path: Path, text: str, name: str = "experiments.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_the_file_reads_and_writes_back_the_same_rows(tmp_path: Path) -> None:
    rows = read_experiments(_write(tmp_path, GOOD))
    assert [(e.channel, e.x, e.delta_x, e.delta_y, e.sigma) for e in rows] == [
        ("search", 1000.0, -1000.0, -2500.0, 200.0), ("social", 500.0, 250.0, 300.0, 80.0)]
    assert rows[0].kind == "holdout" and rows[1].customer_type == "all"
    assert rows[0].label == "experiments.csv row 2"
    out = tmp_path / "again.csv"
    write_experiments(rows, out)
    again = read_experiments(out)
    assert [e.to_dict() for e in again] == [e.to_dict() for e in rows]


@pytest.mark.parametrize(("text", "where"), [
    ("channel,x,delta_x,delta_y\nsearch,1,1,1\n", "row 1: column 'sigma' is missing"),
    ("channel,x,delta_x,delta_y,sigma,colour\nsearch,1,1,1,1,red\n", "row 1: column 'colour'"),
    ("channel,x,delta_x,delta_y,sigma\nsearch,1,1,1,1\nsocial,abc,1,1,1\n", "row 3: column 'x'"),
    ("channel,x,delta_x,delta_y,sigma\nsearch,100,-150,1,1\n", "row 2: column 'delta_x'"),
    ("channel,x,delta_x,delta_y,sigma\nsearch,100,0,1,1\n", "row 2: column 'delta_x'"),
    ("channel,x,delta_x,delta_y,sigma\nsearch,100,10,1,0\n", "row 2: column 'sigma'"),
    ("channel,x,delta_x,delta_y,sigma\nsearch,100,10,nan,1\n", "row 2: column 'delta_y'"),
    ("channel,x,delta_x,delta_y,sigma,kind\nsearch,100,10,1,1,survey\n", "row 2: column 'kind'"),
    ("channel,x,delta_x,delta_y,sigma,customer_type\nsearch,100,10,1,1,vip\n",
     "row 2: column 'customer_type'"),
    ("channel,x,delta_x,delta_y,sigma,start,end\nsearch,100,10,1,1,2026-05-01,2026-04-01\n",
     "row 2: column 'end'"),
    ("channel,x,delta_x,delta_y,sigma\n", "row 2: the file has no experiment rows"),
])
def test_a_bad_row_is_one_line_naming_file_row_and_column(tmp_path: Path, text: str, where: str
                                                          ) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ExperimentError) as err:
        read_experiments(path)
    msg = str(err.value)
    assert str(path) in msg and where in msg and "\n" not in msg


def test_the_fit_command_stops_on_a_bad_file_with_exit_2(tmp_path: Path) -> None:
    bad = _write(tmp_path, "channel,x,delta_x,delta_y,sigma\nsearch,100,10,1,-1\n")
    res = CliRunner().invoke(main, ["fit", str(tmp_path / "panel.csv"), "--out",
                                    str(tmp_path / "c.json"), "--experiments", str(bad)])
    assert res.exit_code == 2
    # the panel is missing too: whichever is read first, one line names its file
    assert res.output.count("\n") == 1 and str(tmp_path) in res.output


def test_tests_of_one_customer_type_scale_by_its_share_of_revenue() -> None:
    e = [Experiment("a", 100, -100, -40, 4, customer_type="new"),
         Experiment("a", 100, -100, -60, 6, customer_type="existing")]
    lift = lift_data(e, {"new_customer_revenue_share": 0.4})
    assert lift.delta_y.tolist() == pytest.approx([-100.0, -100.0])
    assert lift.sigma.tolist() == pytest.approx([10.0, 10.0])
    with pytest.raises(ExperimentError, match="new_customer_revenue"):
        lift_data(e, {})


def test_calibration_is_the_normal_posterior_of_the_level() -> None:
    # one candidate predicting 100 for a test that measured 60 +- 10; prior N(1, 0.5^2):
    # precision 100^2/10^2 + 4 = 104, mean (100*60/100 + 4) / 104 = 64/104
    lift = lift_data([Experiment("a", 10, -10, 60, 10)])
    level, sd, cost = calibrate(np.array([[100.0]]), lift, 0.5)
    assert level[0] == pytest.approx(64 / 104, rel=1e-12)
    assert sd[0] == pytest.approx(1 / math.sqrt(104), rel=1e-12)
    assert cost[0] == pytest.approx((60 - 100 * 64 / 104) ** 2 / 100 + (64 / 104 - 1) ** 2 * 4)


# --------------------------------------------------------------------------- the readout


def _units(rng: np.random.Generator, n: int, rate: float, aov: float) -> np.ndarray:
    orders = rng.random(n) < rate
    return np.where(orders, rng.lognormal(np.log(aov), 0.6, n), 0.0)


def _arm_row(test: str, channel: str, arm: str, r: np.ndarray, ctype: str = "all") -> str:
    return (f"{test},{channel},{arm},{len(r)},{int(np.count_nonzero(r))},{float(r.sum())!r},"
            f"{float(r @ r)!r},4,2000,{ctype}\n")


HEAD = "test,channel,arm,visitors,orders,revenue,revenue_sq,weeks,spend,customer_type\n"


def test_the_readout_matches_scipy_welch_and_a_hand_computation(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    exp_, ctl = _units(rng, 4000, 0.05, 80.0), _units(rng, 1000, 0.035, 80.0)
    path = _write(tmp_path, HEAD + _arm_row("t1", "search", "exposed", exp_)
                  + _arm_row("t1", "search", "control", ctl), "counts.csv")
    ro = readout(path)
    (ef,) = ro.effects
    ref = stats.ttest_ind(exp_, ctl, equal_var=False)
    ci = ref.confidence_interval(0.9)
    assert ef.diff / ef.se == pytest.approx(float(ref.statistic), abs=1e-9)
    assert ef.df == pytest.approx(float(ref.df), abs=1e-9)
    assert ef.low == pytest.approx(float(ci.low), abs=1e-9)
    assert ef.high == pytest.approx(float(ci.high), abs=1e-9)
    # by hand: the difference of means and the Welch standard error of the raw units
    se = math.sqrt(exp_.var(ddof=1) / len(exp_) + ctl.var(ddof=1) / len(ctl))
    assert ef.diff == pytest.approx(exp_.mean() - ctl.mean(), abs=1e-9)
    assert ef.se == pytest.approx(se, abs=1e-9)
    # the row: the whole audience going dark for a week loses diff * 5000 / 4 weeks
    (row,) = ro.experiments
    assert (row.channel, row.x, row.delta_x) == ("search", 2000.0, -2000.0)
    assert row.delta_y == pytest.approx(-ef.diff * 5000 / 4, abs=1e-9)
    assert row.sigma == pytest.approx(se * 5000 / 4, abs=1e-9)


def test_welch_from_order_value_sd_is_the_compound_variance() -> None:
    # 1000 units, 50 orders of mean 80 and sd 20 (population): E[r^2] = 50 (20^2 + 80^2) / 1000
    a = Arm(1000, 50, 4000, 50 * (20**2 + 80**2))
    b = Arm(1000, 40, 3200, 40 * (20**2 + 80**2))
    diff, se, _, lo, hi = welch(a, b)
    va = (50 * (400 + 6400) - 1000 * 4.0**2) / 999
    vb = (40 * (400 + 6400) - 1000 * 3.2**2) / 999
    assert diff == pytest.approx(0.8, abs=1e-12)
    assert se == pytest.approx(math.sqrt(va / 1000 + vb / 1000), rel=1e-12)
    assert lo < diff < hi


def test_a_holdout_of_existing_customers_gives_existing_incrementality(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    # existing customers buy anyway at 4 %; the ads add a quarter: 5 % when exposed
    exp_, ctl = _units(rng, 20000, 0.05, 60.0), _units(rng, 20000, 0.04, 60.0)
    new_e, new_c = _units(rng, 5000, 0.03, 60.0), _units(rng, 5000, 0.01, 60.0)
    path = _write(tmp_path, HEAD + _arm_row("h", "social", "exposed", exp_, "existing")
                  + _arm_row("h", "social", "control", ctl, "existing")
                  + _arm_row("h", "social", "exposed", new_e, "new")
                  + _arm_row("h", "social", "control", new_c, "new"), "counts.csv")
    ro = readout(path)
    share, se = ro.existing_incrementality()["social"]
    assert share == pytest.approx(1 - ctl.mean() / exp_.mean(), abs=1e-12)
    assert abs(share - 0.2) < 3 * se < 0.3  # the truth, 1 - 0.04 / 0.05, within 3 se
    assert [e.customer_type for e in ro.experiments] == ["existing", "new"]
    out = tmp_path / "rows.csv"
    res = CliRunner().invoke(main, ["experiment", "readout", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "existing_incrementality" in res.output
    rows = read_experiments(out)
    assert [r.delta_y for r in rows] == pytest.approx([e.delta_y for e in ro.experiments])


@pytest.mark.parametrize(("line", "where"), [
    ("t,a,exposed,100,5,400,,4,100,all\n", "row 2: column 'revenue_sq'"),
    ("t,a,treated,100,5,400,40000,4,100,all\n", "row 2: column 'arm'"),
    ("t,a,exposed,100,500,400,40000,4,100,all\n", "row 2: column 'orders'"),
])
def test_a_bad_readout_row_is_one_line(tmp_path: Path, line: str, where: str) -> None:
    path = _write(tmp_path, HEAD + line, "counts.csv")
    res = CliRunner().invoke(main, ["experiment", "readout", str(path)])
    assert res.exit_code == 2
    assert where in res.output and res.output.count("\n") == 1


def test_a_test_without_its_control_arm_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "t,a,exposed,100,5,400,40000,4,100,all\n", "counts.csv")
    with pytest.raises(ExperimentError, match="has no control row"):
        readout(path)


def test_each_of_several_tests_says_how_far_it_alone_moved_the_marginal_roas() -> None:
    world = draw_world(2, "paced_demand", n_channels=1)
    name = world.channels[0]
    sub = world.panel[world.panel["channel"] == name]
    x, y = sub["spend"].to_numpy(), sub["revenue"].to_numpy()
    tests = [lift_test_from_truth(world, name, -1.0, 8, 1),
             lift_test_from_truth(world, name, 0.5, 8, 2)]
    both = fit_channel(x, y, world.weeks, channel=name, experiments=tests)
    diag = both.diagnostics["experiments"]
    assert [t["label"] for t in diag["tests"]] == [t.label for t in tests]
    for t, row in zip(tests, diag["tests"], strict=True):
        alone = fit_channel(x, y, world.weeks, channel=name, experiments=[t])
        assert row["marginal_roas_alone"] == pytest.approx(
            float(alone.marginal(alone.recent_spend)), rel=1e-9)
    assert diag["marginal_roas_with"] == pytest.approx(float(both.marginal(both.recent_spend)))


def test_validate_reads_the_scenarios_experiments_and_refuses_a_fifo(tmp_path: Path) -> None:
    import os

    from roiste.models.simulate import write_world

    write_world(tmp_path / "panel.csv", seed=5, n_channels=2, n_weeks=80)
    channel = (tmp_path / "panel.csv").read_text().splitlines()[1].split(",")[1]
    scenario = tmp_path / "plan.yaml"
    scenario.write_text("name: t\ndata: panel.csv\nexperiments: tests.csv\n"
                        "economics: {gross_margin: 0.4}\n", encoding="utf-8")

    def validate() -> tuple[int, str]:
        res = CliRunner().invoke(main, ["validate", str(scenario)])
        return res.exit_code, res.output

    _write(tmp_path, f"channel,x,delta_x,delta_y,sigma\n{channel},100,-100,-300,50\n", "tests.csv")
    code, out = validate()
    assert code == 0 and ": ok (" in out, out
    _write(tmp_path, "channel,x,delta_x,delta_y,sigma\nnowhere,100,-100,-300,50\n", "tests.csv")
    code, out = validate()
    assert code == 2 and out.count("\n") == 1 and "row 2" in out and "'nowhere'" in out, out
    _write(tmp_path, f"channel,x,delta_x,delta_y,sigma\n{channel},100,-100,-300,-5\n", "tests.csv")
    code, out = validate()
    assert code == 2 and out.count("\n") == 1 and "sigma" in out, out
    (tmp_path / "tests.csv").unlink()
    os.mkfifo(tmp_path / "tests.csv")
    code, out = validate()  # a FIFO would block the reader: refused at once
    assert code == 2 and out.count("\n") == 1 and "not a regular file" in out, out
