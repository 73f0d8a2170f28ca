"""The same run on this machine's processes and on a Dask cluster: the same bytes.

A ``LocalCluster`` of two worker processes stands in for a remote cluster (the commands get
its address, as they would a remote scheduler's); fit, plan and backtest write their outputs
with the local executor (in this process and in two processes) and with Dask, and every file
but the timings is compared byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from test_mmm import wide_world

from roiste.models.errors import ScenarioError
from roiste.models.executor import Executor, choose_executor
from roiste.models.simulate import write_world
from roiste.optimizer.cli import main

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=40)
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("executor")
    write_world(d / "panel.csv", seed=3, n_channels=3, n_weeks=64)
    (d / "panel.csv.truth.json").unlink()  # no closed-loop replay in the backtest: faster
    sc = {"name": "executors", "data": "panel.csv", "bootstrap": 2, "risk": "point",
          "economics": {"gross_margin": 0.4, "cost_per_order": 4.0}}
    (d / "scenario.yaml").write_text(yaml.safe_dump(sc), encoding="utf-8")
    return d


def _run(*args: str) -> str:
    r = CliRunner().invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r.output


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.name != "timings.json"}


def test_fit_is_the_same_bytes_on_every_executor(world: Path, scheduler: str) -> None:
    outs = {}
    # in this process (the plan's test runs two local processes)
    for name, opts in (("one", ["--workers", "1"]), ("dask", ["--scheduler", scheduler])):
        out = world / f"curves-{name}.json"
        text = _run("fit", str(world / "panel.csv"), "--out", str(out), "--bootstrap", "2",
                    "--seed", "4", *opts)
        outs[name] = out.read_bytes()
        if name == "dask":  # the scheduler's dashboard, for watching a long run
            assert "dask dashboard: http" in text
    assert outs["one"] == outs["dask"]
    assert b'"draws"' in outs["one"]  # the bootstrap draws travel with the tasks


def test_wide_bootstrap_refits_are_the_same_bytes_on_every_executor(tmp_path: Path,
                                                                     scheduler: str) -> None:
    # The marketing-mix fit is one model; its bootstrap draws are refits, one task each.
    frame, _ = wide_world(seed=7, n_weeks=104)
    frame.to_csv(tmp_path / "wide.csv", index=False)
    outs = {}
    for name, opts in (("one", ["--workers", "1"]), ("dask", ["--scheduler", scheduler])):
        out = tmp_path / f"curves-{name}.json"
        _run("fit", str(tmp_path / "wide.csv"), "--layout", "wide", "--target", "sales",
             "--spend", "tv,search,social", "--controls", "price,promo", "--bootstrap", "3",
             "--seed", "2", "--out", str(out), *opts)
        outs[name] = out.read_bytes()
    assert outs["one"] == outs["dask"]
    draws = [len(c["draws"]) for c in json.loads(outs["one"])["channels"]]
    assert draws == [3, 3, 3]


def test_plan_is_the_same_bytes_on_every_executor(world: Path, scheduler: str) -> None:
    sc = world / "scenario.yaml"
    _run("plan", str(sc), "--out", str(world / "plan-local"), "--quiet", "--executor", "local",
         "--workers", "2")
    _run("plan", str(sc), "--out", str(world / "plan-dask"), "--quiet", "--executor", "dask",
         "--scheduler", scheduler)
    local, dask = _files(world / "plan-local"), _files(world / "plan-dask")
    assert local.keys() == dask.keys() and "curves.json" in local
    assert local == dask


def test_backtest_is_the_same_bytes_on_every_executor(world: Path, scheduler: str) -> None:
    # the executor from the scenario's keys this time
    sc = yaml.safe_load((world / "scenario.yaml").read_text(encoding="utf-8"))
    (world / "dask.yaml").write_text(yaml.safe_dump({**sc, "executor": "dask",
                                                     "scheduler": scheduler}), encoding="utf-8")
    _run("backtest", str(world / "scenario.yaml"), "--out", str(world / "bt-local"), "--folds",
         "2", "--quiet")
    _run("backtest", str(world / "dask.yaml"), "--out", str(world / "bt-dask"), "--folds", "2",
         "--quiet")
    local, dask = _files(world / "bt-local"), _files(world / "bt-dask")
    assert "backtest.csv" in local and local["backtest.csv"].count(b"\n") == 1 + 2 * 3
    local.pop("backtest.html"), dask.pop("backtest.html")  # names the scenario file
    assert local.keys() == dask.keys()
    for name in local:
        if name == "backtest.json":  # it names the scenario too; the rest is the same
            a = local[name].replace(b"scenario.yaml", b"X").replace(b"dask.yaml", b"X")
            b = dask[name].replace(b"scenario.yaml", b"X").replace(b"dask.yaml", b"X")
            assert a == b
        else:
            assert local[name] == dask[name], name


def test_bad_settings_are_one_line(world: Path) -> None:
    with pytest.raises(ScenarioError, match="scheduler: an address is for executor dask"):
        Executor("local", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ScenarioError, match="not one of local, dask"):
        choose_executor("spark")
    with pytest.raises(ScenarioError, match="workers: must be a whole number >= 1"):
        Executor("local", workers=0)
    # no scheduler there: one line (the command line turns a ScenarioError into exit code 2)
    with pytest.raises(ScenarioError, match=r"^scheduler 'tcp://127.0.0.1:9': cannot connect"):
        Executor("dask", scheduler="tcp://127.0.0.1:9", timeout=1.0).map(
            str, [1], desc="x", unit="x", progress=False)
    r = CliRunner().invoke(main, ["fit", str(world / "panel.csv"), "--out",
                                  str(world / "x.json"), "--executor", "local", "--scheduler",
                                  "tcp://127.0.0.1:9", "--quiet"])
    assert r.exit_code == 2 and not (world / "x.json").exists()
    assert r.output == "error: scheduler: an address is for executor dask\n"
