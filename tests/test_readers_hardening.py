"""Readers: inputs are regular files, scenario and rules files are small plain YAML whose
aliases cannot explode, and the planning horizon stays within reach of the data."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from roiste.models.errors import PanelError, ScenarioError
from roiste.models.panel import read_panel
from roiste.optimizer.cli import main
from roiste.optimizer.monitor.rules import MonitorError, load_rules
from roiste.optimizer.scenario import load_scenario
from roiste.optimizer.scenario.errors import (
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    check_node_graph,
    parse_yaml,
)

ROOT = Path(__file__).resolve().parents[1]
PANEL = ROOT / "tests" / "fixtures" / "scenarios" / "panel_long.csv"
PANEL_WEEKS = 40


def _one_line(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.output)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output, r.output
    return lines[0]


def _bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs" document: 9 ** 9 strings through 9 levels of aliases, in ~350 bytes."""
    lines = ["name: bomb", "data: panel.csv", "l0: &l0 [" + ",".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


class _Unblock:
    """Opens a FIFO for writing after a delay, so that a reader stuck on it is released (and
    the test fails on its message instead of hanging for ever)."""

    def __init__(self, fifo: Path, after: float = 20.0) -> None:
        self.fifo, self.after, self.done = fifo, after, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        if not self.done.wait(self.after):
            fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK) if _has_reader(self.fifo) else None
            if fd is not None:
                os.close(fd)

    def __enter__(self) -> _Unblock:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


def _has_reader(fifo: Path) -> bool:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        return True
    except OSError:
        return False


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (["fit", "{fifo}", "--out", "{tmp}/curves.json"], "panel"),
        (["validate", "{fifo}"], "scenario"),
        (["plan", "{fifo}", "--out", "{tmp}/plan"], "scenario"),
        (["monitor", str(PANEL), "--rules", "{fifo}", "--out", "{tmp}/mon"], "rules"),
        (["monitor", "{fifo}", "--rules", str(ROOT / "tests/fixtures/rules/ok_basic.yml"),
          "--out", "{tmp}/mon"], "panel"),
        (["curves", "{fifo}"], "curves"),
        (["customers", "tag", "{fifo}.csv", "--store", "sqlite:///{tmp}/s.db", "--out", "{tmp}/t.csv"], "orders"),
    ],
    ids=["fit-panel", "validate", "plan", "monitor-rules", "monitor-panel", "curves", "customers-tag"],
)
def test_a_fifo_as_input_is_refused_at_once(tmp_path: Path, args: list[str], kind: str) -> None:
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    os.mkfifo(tmp_path / "input.csv")
    argv = [a.format(fifo=fifo, tmp=tmp_path) for a in args]
    named = Path(argv[argv.index(next(a for a in argv if a.startswith(str(fifo))))])
    t0 = time.perf_counter()
    with _Unblock(named):
        r = CliRunner().invoke(main, argv, env={"ROISTE_SALT": "reader-salt-0123456789"})
    line = _one_line(r)
    assert time.perf_counter() - t0 < 15, "the reader waited on the FIFO"
    assert str(named) in line and "FIFO" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input", "input.csv"]


def test_dev_zero_as_panel_does_not_hang_fit(tmp_path: Path) -> None:
    # A subprocess with a memory cap: before, the reader would have read /dev/zero for ever.
    code = (
        "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
        "from roiste.optimizer.cli import main; sys.argv = ['roiste'] + sys.argv[1:]; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "fit", "/dev/zero", "--out", str(tmp_path / "c.json")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [
        "error: /dev/zero: is a character device, not a regular file"
    ]
    with pytest.raises(PanelError, match="character device"):
        read_panel("/dev/zero")


def test_a_one_kilobyte_alias_bomb_is_refused_fast(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_bomb())
    assert bomb.stat().st_size < 1024
    rules = tmp_path / "rules.yml"
    rules.write_text(_bomb().replace("data: panel.csv", "rules: []"))
    # A subprocess, so that a regression fails on the timeout instead of hanging the suite.
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "roiste.optimizer.cli", "validate", str(bomb)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-2000:]
    assert f"more than {MAX_YAML_NODES:,} values through its aliases" in proc.stderr
    assert time.perf_counter() - t0 < 30
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError, match="through its aliases"):
        load_scenario(bomb)
    with pytest.raises(MonitorError, match="through its aliases"):
        load_rules(rules)
    assert time.perf_counter() - t0 < 1.0


def test_alias_limits_count_depth_and_recursion() -> None:
    # Just under the count limit is fine and reads back as YAML reads it.
    ok = "a: &a [" + ",".join(["1"] * 99) + "]\nb: [" + ",".join(["*a"] * 900) + "]\n"
    data = parse_yaml(ok)
    assert len(data["b"]) == 900 and data["b"][0] == [1] * 99 and data == yaml.safe_load(ok)
    with pytest.raises(yaml.YAMLError, match="through its aliases"):
        parse_yaml(ok.replace("* 900", "") + "c: [" + ",".join(["*a"] * 1100) + "]\n")
    deep = "x: " + "[" * (MAX_YAML_DEPTH + 1) + "]" * (MAX_YAML_DEPTH + 1) + "\n"
    with pytest.raises(yaml.YAMLError, match=f"deeper than {MAX_YAML_DEPTH} levels"):
        parse_yaml(deep)
    with pytest.raises(yaml.YAMLError, match="recursive alias"):
        parse_yaml("a: &a {b: *a}\n")
    # merge keys still work, and a key written twice is still found, inside an alias too
    assert parse_yaml("x: &x {k: 1}\ny: {<<: *x, m: 2}\n") == {"x": {"k": 1}, "y": {"k": 1, "m": 2}}
    with pytest.raises(yaml.YAMLError, match="'k' is written twice"):
        parse_yaml("x: &x {k: 1, k: 2}\ny: [*x, *x]\n")


def test_the_duplicate_key_check_is_linear() -> None:
    def graph(n: int) -> yaml.Node:
        # each mapping is used twice more through aliases; composed by libyaml (fast, untimed)
        text = "".join(f"m{i}: &m{i} {{a: {i}, b: [1, 2, {{c: 3}}]}}\nr{i}: [*m{i}, *m{i}]\n"
                       for i in range(n))
        return yaml.compose(text, Loader=yaml.CSafeLoader)

    times = []
    for n in (500, 2_000):  # 2,000 entries expand to ~70,000 values, under the limit
        node = graph(n)
        t0 = time.perf_counter()
        check_node_graph(node)
        times.append(time.perf_counter() - t0)
    # four times the file, well under sixteen times the time (a quadratic check would be 16x)
    assert times[1] < 8 * times[0] + 0.05, times


def test_a_scenario_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    filler = "# " + "x" * 98 + "\n"
    big.write_text(f"name: big\ndata: {PANEL}\n" + filler * (MAX_YAML_BYTES // 100 + 10))
    line = _one_line(CliRunner().invoke(main, ["validate", str(big)]))
    assert line == (f"error: {big}: larger than 1024 KiB; scenario and rules files are a page of "
                    "keys (the data go in the files they name)")


def test_steps_are_bounded(tmp_path: Path) -> None:
    sc = tmp_path / "s.yaml"
    sc.write_text(f"name: s\ndata: {PANEL}\neconomics: {{gross_margin: 0.4}}\nsteps: 1000\n")
    t0 = time.perf_counter()
    line = _one_line(CliRunner().invoke(main, ["validate", str(sc)]))
    assert "less than or equal to 24" in line and "(at steps)" in line, line
    assert time.perf_counter() - t0 < 10


def test_a_period_longer_than_the_history_is_refused(tmp_path: Path) -> None:
    sc = tmp_path / "s.yaml"
    for weeks, ok in ((PANEL_WEEKS, True), (PANEL_WEEKS + 1, False), (100_000, False)):
        sc.write_text(f"name: s\ndata: {PANEL}\neconomics: {{gross_margin: 0.4}}\n"
                      f"period_weeks: {weeks}\nbaseline_weeks: 4\n")
        r = CliRunner().invoke(main, ["validate", str(sc)])
        if ok:
            assert r.exit_code == 0, r.output
        else:
            assert _one_line(r) == (
                f"error: {sc}: period_weeks {weeks} plans further ahead than the {PANEL_WEEKS} "
                "weeks of history the curves come from (at period_weeks)"
            )
