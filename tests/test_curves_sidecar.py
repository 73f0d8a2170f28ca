"""Curves with many bootstrap draws: one JSON plus a checked sidecar array, read back whole.

Oracles: the inline JSON of the same curve set (``to_json``, which holds every draw), a count
of the draws' numbers by hand, hashlib over the sidecar's bytes, and NumPy reading the sidecar
as a plain array.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import roiste.models.curves as curves_module
from roiste.models.curves import (
    SIDECAR_DRAWS,
    Component,
    CurveSet,
    ResponseCurve,
    copy_curves_files,
    draws_file_name,
)
from roiste.models.simulate import write_world
from roiste.models.transforms import Geometric, Hill, Logistic, Weibull
from roiste.optimizer.cli import main

N_CHANNELS, N_DRAWS = 12, 40  # 440 draws (one channel has none), over the threshold below
THRESHOLD = 400  # the tests lower SIDECAR_DRAWS to keep their curve sets small


def _draw(rng: np.random.Generator, i: int) -> Component:
    """Mixed families (as bootstrap draws may be): Hill/Geometric or Logistic/Weibull."""
    if i % 3:
        return Component(float(rng.uniform(1e3, 1e4)), Hill(k=float(rng.uniform(100, 900)),
                                                             s=float(rng.uniform(0.6, 2.5))),
                         Geometric(alpha=float(rng.uniform(0, 0.8))))
    return Component(float(rng.uniform(1e3, 1e4)), Logistic(k=float(rng.uniform(100, 900))),
                     Weibull(shape=float(rng.uniform(0.5, 3)), scale=float(rng.uniform(1, 4))))


def _big(seed: int = 0, channels: list[str] | None = None, draws: int = N_DRAWS) -> CurveSet:
    rng = np.random.default_rng(seed)
    names = channels or [f"campaign {i}|FR" for i in range(N_CHANNELS)]
    curves = [ResponseCurve(c, _draw(rng, 1), recent_spend=float(rng.uniform(100, 500)),
                            draws=tuple(_draw(rng, i) for i in range(draws if j != 3 else 0)))
              for j, c in enumerate(names)]  # channel 3 has no draws
    return CurveSet(curves, diagnostics={"r2_train": 0.9}, meta={"layout": "long"})


def _count(cs: CurveSet) -> int:
    """Numbers in the sidecar, by hand: per draw its layout's number, beta, the saturation's
    and the adstock's parameters."""
    return sum(2 + len(d.saturation.params) + len(d.adstock.params)
               for c in cs.channels for d in cs[c].draws)


@pytest.fixture(autouse=True)
def threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(curves_module, "SIDECAR_DRAWS", THRESHOLD)


@pytest.fixture(scope="module")
def big() -> CurveSet:
    cs = _big()
    assert sum(len(cs[c].draws) for c in cs.channels) > THRESHOLD
    return cs


def test_the_threshold_counts_draws_over_all_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(curves_module, "SIDECAR_DRAWS", SIDECAR_DRAWS)  # the real one
    names = [f"c{i}" for i in range(SIDECAR_DRAWS // 500 + 1)]
    at = _big(channels=names, draws=500)  # channel 3 has none: exactly SIDECAR_DRAWS draws
    assert sum(len(at[c].draws) for c in at.channels) == SIDECAR_DRAWS
    assert list(at.to_files()) == ["curves.json"]
    over = CurveSet([*(at[c] for c in names),
                     ResponseCurve("one more", at["c0"].revenue, draws=at["c0"].draws[:1])])
    assert list(over.to_files()) == ["curves.draws.npy", "curves.json"]


def test_large_draws_go_to_a_checked_sidecar_and_come_back_whole(big: CurveSet, tmp_path: Path) -> None:
    path = tmp_path / "fit.json"
    big.save(path)
    side = tmp_path / "fit.draws.npy"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.draws.npy", "fit.json"]
    doc = json.loads(path.read_text(encoding="utf-8"))
    ref = doc["draws_file"]
    assert ref["name"] == "fit.draws.npy" == draws_file_name("fit.json")
    assert ref["sha256"] == hashlib.sha256(side.read_bytes()).hexdigest()
    assert all("draws" not in c for c in doc["channels"])
    values = np.load(side, allow_pickle=False)
    assert values.dtype == np.dtype("<f8") and values.shape == (_count(big),)
    first = big[big.channels[0]].draws[0]
    assert (values[0], values[1]) == (0.0, first.beta)  # first layout, first draw's beta
    assert doc["draws_file"]["layouts"][0] == {"saturation": "logistic", "adstock": "weibull",
                                               "fields": ["beta", "saturation.k", "adstock.shape",
                                                          "adstock.scale"]}
    back = CurveSet.load(path)
    assert back.to_json() == big.to_json()  # every draw, every bit, in order
    # the JSON alone is small: the draws' numbers live in the array
    assert path.stat().st_size < len(big.to_json()) / 4


def test_same_curves_same_bytes(big: CurveSet, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    big.save(a / "curves.json")
    _big().save(b / "curves.json")
    for name in ("curves.json", "curves.draws.npy"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_small_curves_stay_one_file(tmp_path: Path) -> None:
    small = _big(channels=[f"c{i}" for i in range(6)], draws=20)
    assert small.to_files() == {"curves.json": small.to_json().encode("utf-8")}
    small.save(tmp_path / "curves.json")
    assert [p.name for p in tmp_path.iterdir()] == ["curves.json"]
    assert (tmp_path / "curves.json").read_text(encoding="utf-8") == small.to_json()


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_a_missing_or_altered_sidecar_is_one_line_and_exit_2(big: CurveSet, tmp_path: Path,
                                                             damage: str) -> None:
    path = tmp_path / "curves.json"
    big.save(path)
    side = tmp_path / "curves.draws.npy"
    if damage == "missing":
        side.unlink()
    else:
        data = bytearray(side.read_bytes())
        data[-1] ^= 1  # one bit of the last draw's last parameter
        side.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["curves", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    phrase = "is missing" if damage == "missing" else "does not match the SHA-256"
    assert lines[0].startswith(f"error: {path}: its draws file {side}") and phrase in lines[0]


def test_a_copy_under_another_name_renames_the_sidecar(big: CurveSet, tmp_path: Path) -> None:
    big.save(tmp_path / "fit.json")
    files = copy_curves_files(tmp_path / "fit.json", "curves.json")
    assert list(files) == ["curves.draws.npy", "curves.json"]
    assert files["curves.draws.npy"] == (tmp_path / "fit.draws.npy").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    for name, data in files.items():
        (out / name).write_bytes(data)
    assert CurveSet.load(out / "curves.json").to_json() == big.to_json()
    # and under its own name, the JSON is copied byte for byte
    assert copy_curves_files(tmp_path / "fit.json", "fit.json")["fit.json"] == \
        (tmp_path / "fit.json").read_bytes()


def test_a_plan_publishes_the_sidecar_with_the_rest(tmp_path: Path) -> None:
    write_world(tmp_path / "panel.csv", seed=3, n_channels=3, n_weeks=60)
    truth = CurveSet.load(tmp_path / "panel.csv.truth.json")
    rng = np.random.default_rng(1)
    n = THRESHOLD // len(truth) + 1
    curves = CurveSet([ResponseCurve(c, truth[c].revenue, truth[c].recent_spend,
                                     draws=tuple(Component(truth[c].revenue.beta * float(f),
                                                           truth[c].revenue.saturation,
                                                           truth[c].revenue.adstock)
                                                 for f in rng.uniform(0.9, 1.1, n)))
                       for c in truth.channels])
    curves.save(tmp_path / "curves.json")
    scenario = {"name": "sidecar", "data": "panel.csv", "curves": "curves.json",
                "economics": {"gross_margin": 0.4}}
    (tmp_path / "scenario.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")
    out = tmp_path / "plan"
    result = CliRunner().invoke(main, ["plan", str(tmp_path / "scenario.yaml"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "curves.draws.npy").read_bytes() == (tmp_path / "curves.draws.npy").read_bytes()
    assert (out / "curves.json").read_bytes() == (tmp_path / "curves.json").read_bytes()
    assert CurveSet.load(out / "curves.json").to_json() == curves.to_json()
    # a second run replaces the directory with --force: the sidecar is one of its own files
    again = CliRunner().invoke(main, ["plan", str(tmp_path / "scenario.yaml"), "--out", str(out),
                                      "--force"])
    assert again.exit_code == 0, again.output
