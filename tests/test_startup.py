"""Start-up: a plan on fitted curves never loads the fitting code; timings count imports apart.

Each run is a fresh interpreter (``sys.modules`` tells what a command imported), running the
installed ``roiste`` command line in-process so that the module table can be read afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from roiste.models.simulate import write_world

RUN = """
import json, sys
from roiste.optimizer.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print(json.dumps({m: m in sys.modules for m in ("sklearn", "roiste.models.fit.channel")}))
"""


def _run(*args: str) -> dict[str, bool]:
    r = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True,
                       timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    return dict(json.loads(r.stdout.strip().splitlines()[-1]))


def _scenario(tmp_path: Path, **extra: object) -> Path:
    write_world(tmp_path / "panel.csv", seed=5, n_channels=2, n_weeks=80)
    sc = {"name": "start-up", "data": "panel.csv", "bootstrap": 0,
          "economics": {"gross_margin": 0.4}, **extra}
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(sc), encoding="utf-8")
    return path


def _timings(out: Path) -> dict[str, float]:
    return dict(json.loads((out / "timings.json").read_text(encoding="utf-8")))


def test_plan_on_fitted_curves_loads_no_fitting_code(tmp_path: Path) -> None:
    # the world's own curves stand in for fitted ones (a truth file is a curves file)
    sc = _scenario(tmp_path, curves="panel.csv.truth.json")
    loaded = _run("plan", str(sc), "--out", str(tmp_path / "plan"), "--quiet")
    assert loaded == {"sklearn": False, "roiste.models.fit.channel": False}
    t = _timings(tmp_path / "plan")
    assert t["import_seconds"] > 0.0  # the command's import, measured by the command line
    assert t["total_seconds"] >= t["import_seconds"] + t["fit_seconds"]


def test_plan_that_fits_counts_the_fitting_import_as_import(tmp_path: Path) -> None:
    sc = _scenario(tmp_path)
    loaded = _run("plan", str(sc), "--out", str(tmp_path / "plan"), "--quiet")
    assert loaded == {"sklearn": True, "roiste.models.fit.channel": True}
    t = _timings(tmp_path / "plan")
    assert t["fit_seconds"] > 0.0 and t["import_seconds"] > 0.0
    assert t["total_seconds"] >= t["import_seconds"] + t["fit_seconds"]
