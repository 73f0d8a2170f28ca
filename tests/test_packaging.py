"""One import name: the layers install as roiste.models, roiste.optimizer, roiste.tracking."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import roiste

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FOLDERS = PYPROJECT["tool"]["setuptools"]["package-dir"]


def test_every_package_folder_is_installed() -> None:
    """A folder with an ``__init__.py`` that pyproject does not list would be left out of a wheel."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = set()
    for name, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *rel.parts]))
    assert found == listed, f"missing {sorted(found - listed)}, stale {sorted(listed - found)}"


def test_front_door_names_resolve() -> None:
    for name in roiste.__all__:
        assert getattr(roiste, name) is not None, name
    assert roiste.CurveSet is __import__("roiste.models.curves", fromlist=["CurveSet"]).CurveSet
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = roiste.nothing_here  # type: ignore[attr-defined]


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_a_users_own_models_module_does_not_shadow_roiste(tmp_path: Path) -> None:
    """A notebook folder often has its own ``models.py``; roiste must not care."""
    (tmp_path / "models.py").write_text("raise ImportError('the user models.py was imported')\n")
    (tmp_path / "optimizer.py").write_text("raise ImportError('the user optimizer.py')\n")
    res = _python("import models", tmp_path)  # the planted module is really on the path
    assert "the user models.py was imported" in res.stderr, res.stderr
    res = _python("from roiste import CurveSet; import roiste.optimizer.cli; print('ok')", tmp_path)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_the_tagging_layer_imports_light(tmp_path: Path) -> None:
    """``roiste.tracking`` (the tagging server) does not pull the estimation or planning stack."""
    res = _python("import sys, roiste.tracking\n"
                  "heavy = [m for m in ('roiste.models', 'roiste.optimizer', 'pandas', 'pulp',\n"
                  "         'matplotlib', 'scipy') if m in sys.modules]\n"
                  "print(','.join(heavy))", tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", res.stdout


def test_starting_the_server_leaves_the_estimation_stack_unloaded(tmp_path: Path) -> None:
    """``roiste serve`` (and a server restarted after a crash) loads the store and the web
    framework, not pandas, the fit or the planner: its start-up stays short."""
    res = _python("import sys\n"
                  "from click.testing import CliRunner\n"
                  "from roiste.optimizer.cli import main\n"
                  "assert CliRunner().invoke(main, ['serve', '--help']).exit_code == 0\n"
                  "from roiste.tracking import server\n"
                  "heavy = [m for m in ('roiste.models.curves', 'roiste.optimizer.plan', 'pandas',\n"
                  "         'pulp', 'matplotlib', 'scipy') if m in sys.modules]\n"
                  "print(','.join(heavy))", tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", res.stdout


def test_console_script_points_into_the_one_name() -> None:
    assert PYPROJECT["project"]["scripts"]["roiste"] == "roiste.optimizer.cli:main"
    assert PYPROJECT["project"]["license"] == "MIT"
    serve = " ".join(PYPROJECT["project"]["optional-dependencies"]["serve"])
    for dep in ("fastapi", "uvicorn", "psycopg"):
        assert dep in serve and dep not in " ".join(PYPROJECT["project"]["dependencies"])
