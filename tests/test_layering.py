"""The layers of DESIGN.md: imports only go downward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "models": {"optimizer", "tracking"},
    "tracking": {"optimizer", "models"},
}
CURVE_MODULES = {"models.curves", "models.transforms", "models.fit", "models.simulate"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package: str) -> None:
    bad = []
    for f in _files(package):
        for name in _imports(f):
            if name.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{f.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


def test_lp_never_imports_a_curve_class() -> None:
    lp = ROOT / "optimizer" / "lp.py"
    if not lp.exists():
        pytest.skip("optimizer/lp.py not present")
    names = _imports(lp)
    assert not names & CURVE_MODULES and "models" not in names, names


def test_models_package_exists_with_layers() -> None:
    for sub in ("models", "optimizer"):
        assert (ROOT / sub / "__init__.py").exists()
