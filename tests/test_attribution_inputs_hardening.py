"""Attribution inputs and the salt file are read as scenarios are: regular files, bounded YAML.

Each case runs the real command line in a subprocess with a timeout, so that a reader that
blocks on a FIFO or expands an alias bomb fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roiste.models.attribution.inputs import read_channel_map
from roiste.models.errors import AttributionError
from roiste.models.yamlsafe import MAX_YAML_BYTES, MAX_YAML_NODES

ROOT = Path(__file__).resolve().parents[1]
TOUCH = "customer_id,timestamp,channel\nc1,2024-01-01T10:00:00,fb\nc1,2024-01-02T10:00:00,search\n"
CONV = "order_id,customer_id,timestamp,revenue\no1,c1,2024-01-03T10:00:00,100\n"


def _bomb() -> str:
    """A "billion laughs" mapping: ten levels of ten aliases, 10**10 values once expanded."""
    lines = ['a0: &a0 "x"']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 11)]
    return "\n".join(lines) + "\n"


def _roiste(*args: str | Path, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "roiste.optimizer.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    return proc, time.perf_counter() - t0


def _one_line_exit_2(proc: subprocess.CompletedProcess[str], *parts: str) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, Path]:
    tp, cv = tmp_path / "tp.csv", tmp_path / "cv.csv"
    tp.write_text(TOUCH)
    cv.write_text(CONV)
    return tp, cv


def test_an_alias_bomb_as_channel_map_is_refused_fast(tmp_path: Path, inputs) -> None:
    bomb = tmp_path / "map.yaml"
    bomb.write_text(_bomb())
    assert bomb.stat().st_size < 1024
    out = tmp_path / "panel.csv"
    proc, seconds = _roiste("attribute", *inputs, "--rule", "linear", "--out", out,
                            "--channel-map", bomb, "--quiet")
    _one_line_exit_2(proc, f"error: {bomb}: ",
                     f"more than {MAX_YAML_NODES:,} values through its aliases", "line ")
    assert seconds < 30 and not out.exists()
    t0 = time.perf_counter()
    with pytest.raises(AttributionError, match="through its aliases"):
        read_channel_map(bomb)
    assert time.perf_counter() - t0 < 2


def test_a_channel_map_is_plain_bounded_yaml(tmp_path: Path) -> None:
    m = tmp_path / "map.yaml"
    m.write_text("fb: social\nig: social\nfb: search\n")
    with pytest.raises(AttributionError, match=r"key 'fb' is written twice at line 3, column 1"):
        read_channel_map(m)
    m.write_text("fb: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(AttributionError, match=r"YAML tag !!python/object/apply:os.system is not "
                                                r"allowed at line 1.*channel maps are plain YAML"):
        read_channel_map(m)
    m.write_text("fb: social\n" + "# padding\n" * (MAX_YAML_BYTES // 10 + 1))
    with pytest.raises(AttributionError, match=f"larger than {MAX_YAML_BYTES // 1024} KiB"):
        read_channel_map(m)
    m.write_text("s: &s social\nfb: *s\nig: *s\n")  # an alias within bounds is fine
    assert read_channel_map(m) == {"s": "social", "fb": "social", "ig": "social"}


@pytest.mark.parametrize("which", ["touchpoints", "conversions", "channel map"])
def test_a_fifo_as_attribution_input_is_refused(tmp_path: Path, inputs, which: str) -> None:
    tp, cv = inputs
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    cmap = tmp_path / "map.yaml"
    cmap.write_text("fb: social\n")
    args = {"touchpoints": (fifo, cv, cmap), "conversions": (tp, fifo, cmap),
            "channel map": (tp, cv, fifo)}[which]
    out = tmp_path / "panel.csv"
    proc, _ = _roiste("attribute", args[0], args[1], "--rule", "linear", "--out", out,
                      "--channel-map", args[2], "--quiet")
    _one_line_exit_2(proc, f"error: {fifo}: ", "FIFO")
    assert not out.exists()


def test_a_fifo_as_salt_file_is_refused(tmp_path: Path) -> None:
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,timestamp,value,channel,email\n1,2024-01-01T10:00:00Z,10,search,"
                      "ann@example.com\n")
    salt = tmp_path / "salt"
    os.mkfifo(salt)
    out = tmp_path / "tagged.csv"
    proc, _ = _roiste("customers", "tag", orders, "--store", f"sqlite:///{tmp_path}/store.db",
                      "--out", out, "--salt-file", salt, "--quiet")
    _one_line_exit_2(proc, f"error: {salt}: cannot read the salt file", "FIFO")
    assert not out.exists() and not (tmp_path / "store.db").exists()
