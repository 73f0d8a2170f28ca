"""Outputs: never written through a device, FIFO, socket or link; OS errors are one line, exit 2;
what killed runs leave beside an output is removed by the next run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import OutputError
from roiste.models.io import atomic_write_text
from roiste.models.transforms import Exponential, Geometric, Hill
from roiste.optimizer.cli import main
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.output import OUTPUT_FILES, write_plan
from roiste.optimizer.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = os.geteuid() == 0


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def _one_line(r, exit_code: int = 2) -> str:
    assert r.exit_code == exit_code, (r.exit_code, r.output)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert "Traceback" not in r.output
    return lines[0]


def _build_plan():
    ratios = {"revenue_per_order": 75.0, "new_customers_per_revenue": 0.004}
    curves = CurveSet([
        ResponseCurve("search", Component(6000.0, Hill(k=1800.0, s=1.0), Geometric(alpha=0.3)), 800.0,
                      Component(2000.0, Exponential(k=2000.0), Geometric(alpha=0.3)), ratios),
        ResponseCurve("social", Component(15000.0, Exponential(k=4000.0), Geometric(alpha=0.5)), 2000.0,
                      Component(7000.0, Exponential(k=5000.0), Geometric(alpha=0.5)), ratios),
    ])
    scenario = Scenario.model_validate(
        {"name": "Writers", "data": "unused.csv", "economics": {"gross_margin": 0.5}})
    cur = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    return build_plan(curves, scenario, cur, data_hash="d" * 64, scenario_hash="5" * 64,
                      curves_hash="c" * 64)


@pytest.fixture(scope="module")
def plan():
    return _build_plan()


def test_a_rerun_writes_the_same_bytes_report_html_included(tmp_path: Path, plan) -> None:
    again = _build_plan()  # the same inputs, planned again: other timings
    assert again.timings != plan.timings
    write_plan(plan, tmp_path / "a")
    write_plan(again, tmp_path / "b")
    for name in OUTPUT_FILES:
        a, b = (tmp_path / "a" / name).read_bytes(), (tmp_path / "b" / name).read_bytes()
        if name == "timings.json":
            assert b"solve_seconds" in a and b"write_seconds" in a
        else:
            assert a == b, name
    page = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert "solve_seconds" not in page and "timings.json" in page


def _specials(tmp_path: Path) -> dict[str, Path]:
    """Paths that exist and are not regular files: a FIFO, a socket, links, a device (root)."""
    out = {"fifo": tmp_path / "fifo"}
    os.mkfifo(out["fifo"])
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    out["symlink"] = tmp_path / "link"
    out["symlink"].symlink_to(target)
    out["dangling symlink"] = tmp_path / "dangling"
    out["dangling symlink"].symlink_to(tmp_path / "nowhere" / "x")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    sock.close()
    out["socket"] = tmp_path / "sock"
    if IS_ROOT:  # a copy of /dev/full (major 1, minor 7): the real one is never put at risk
        os.mknod(tmp_path / "full", stat.S_IFCHR | 0o666, os.makedev(1, 7))
        out["device"] = tmp_path / "full"
    return out


def _state(p: Path) -> tuple[int, str]:
    st = os.lstat(p)
    return stat.S_IFMT(st.st_mode), os.readlink(p) if p.is_symlink() else ""


@pytest.mark.parametrize(
    "command",
    [
        ["fit", "{missing}/panel.csv", "--out", "{out}"],
        ["simulate", "--out", "{out}", "--weeks", "60"],
        ["attribute", "{missing}/t.csv", "{missing}/c.csv", "--rule", "linear", "--out", "{out}"],
        ["customers", "tag", "{missing}/orders.csv", "--store", "sqlite:///{missing}/s.db", "--out", "{out}"],
        ["plan", "{missing}/scenario.yaml", "--out", "{out}", "--force"],
        ["monitor", "{missing}/panel.csv", "--rules", "{missing}/r.yml", "--out", "{out}", "--force"],
        ["backtest", "{missing}/scenario.yaml", "--out", "{out}", "--force"],
    ],
    ids=["fit", "simulate", "attribute", "customers-tag", "plan", "monitor", "backtest"],
)
def test_an_output_that_is_not_a_regular_file_is_refused_before_any_work(tmp_path: Path, command) -> None:
    missing = tmp_path / "does-not-exist"
    for kind, path in _specials(tmp_path).items():
        before = _state(path)
        args = [a.format(out=path, missing=missing) for a in command]
        t0 = time.perf_counter()
        r = _run(*args, env={"ROISTE_SALT": "writer-salt-0123456789"})
        line = _one_line(r)
        # The output is named, not the missing input: the check came before any work.
        assert line.startswith(f"error: {path}: exists and is "), (kind, line)
        assert time.perf_counter() - t0 < 10
        assert _state(path) == before, kind
    assert (tmp_path / "precious.txt").read_text() == "keep me\n"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_directory_given_for_a_file_output_is_one_line(tmp_path: Path) -> None:
    line = _one_line(_run("simulate", "--out", str(tmp_path), "--weeks", "60"))
    assert line == f"error: {tmp_path}: is a directory; give the name of a file to write"


def test_the_library_writers_refuse_too(tmp_path: Path, plan) -> None:
    specials = _specials(tmp_path)
    for kind, path in specials.items():
        with pytest.raises(OutputError, match="not a regular file"):
            atomic_write_text(path, "x")
        with pytest.raises(OutputError, match="not a directory"):
            write_plan(plan, path, force=True)
        assert (tmp_path / "precious.txt").read_text() == "keep me\n", kind
    # a link to a directory is not replaced either, even with force
    real = tmp_path / "real"
    write_plan(plan, real)
    (tmp_path / "dirlink").symlink_to(real)
    with pytest.raises(OutputError, match="symbolic link"):
        write_plan(plan, tmp_path / "dirlink", force=True)
    assert (tmp_path / "dirlink").is_symlink()


@contextlib.contextmanager
def _mounted(path: Path, *args: str) -> Iterator[None]:
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", *args, str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount here: {r.stderr.strip()[:120]}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def _read_only_folder(path: Path) -> Iterator[None]:
    """A folder the process cannot write: mode 0555, or under root (which ignores modes) a
    read-only bind mount of it."""
    path.mkdir(parents=True, exist_ok=True)
    if not IS_ROOT:
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(0o755)
        return
    with _mounted(path, "-o", "bind,ro", str(path)):
        yield


def test_a_read_only_folder_is_one_line_exit_2(tmp_path: Path, plan) -> None:
    ro = tmp_path / "ro"
    with _read_only_folder(ro):
        line = _one_line(_run("simulate", "--out", str(ro / "panel.csv"), "--weeks", "60"))
        assert line.startswith(f"error: {ro}") and ("Read-only" in line or "Permission" in line), line
        line = _one_line(_run("simulate", "--out", str(ro / "sub" / "panel.csv"), "--weeks", "60"))
        assert line.startswith(f"error: {ro}"), line
        with pytest.raises(OutputError, match=str(ro)):
            write_plan(plan, ro / "plan")
        assert list(ro.iterdir()) == []


@pytest.mark.skipif(not IS_ROOT, reason="a full disk is simulated with a small tmpfs, which needs root")
def test_a_full_disk_is_one_line_exit_2_and_leaves_nothing(tmp_path: Path, plan) -> None:
    full = tmp_path / "full"
    with _mounted(full, "-t", "tmpfs", "-o", "size=48k", "tmpfs"):
        line = _one_line(_run("simulate", "--out", str(full / "panel.csv"), "--weeks", "156"))
        assert "No space left on device" in line, line
        with pytest.raises(OutputError, match="No space left on device"):
            write_plan(plan, full / "plan")
        assert list(full.iterdir()) == []
    # The same commands write where there is room.
    assert _run("simulate", "--out", str(tmp_path / "panel.csv"), "--weeks", "156").exit_code == 0
    write_plan(plan, tmp_path / "plan")
    assert sorted(p.name for p in (tmp_path / "plan").iterdir()) == sorted(OUTPUT_FILES)


KILLED = """
import os, sys
from pathlib import Path
from roiste.models.io import staging_name
out = Path(sys.argv[1])
tmp = out.parent / staging_name(out, "tmp")  # what sibling_dir makes for a plan's directory
tmp.mkdir()
(tmp / "allocation.csv").write_text("half")
(out.parent / staging_name(out.parent / "panel.csv")).write_text("half a panel")
os.kill(os.getpid(), 9)
"""


def test_staging_left_by_killed_runs_is_removed_by_the_next_run(tmp_path: Path, plan) -> None:
    out = tmp_path / "plan"
    proc = subprocess.run([sys.executable, "-c", KILLED, str(out)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    left = sorted(p.name for p in tmp_path.iterdir())
    assert len(left) == 2 and all(n.endswith(".tmp") for n in left), left
    # A staging folder of a run still going (this process's parent) is left alone.
    alive = tmp_path / f".plan.{os.getppid()}.0badcafe.tmp"
    alive.mkdir()
    write_plan(plan, out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [alive.name, "plan", next(n for n in left if n.startswith(".panel.csv"))])
    atomic_write_text(tmp_path / "panel.csv", "date\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, "panel.csv", "plan"])


def test_sigterm_removes_the_staging_folder(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "roiste.optimizer.cli", "demo", "--out", str(out)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        # roiste leaves an inherited "ignore SIGTERM" alone (the nohup convention), and a CI
        # runner may start the suite that way: the child gets the default disposition here.
        preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL),
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
            time.sleep(0.02)
        assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")], "no staging folder seen"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert list(tmp_path.iterdir()) == []
