"""The layers of DESIGN.md: imports only go downward.

The repository's folders ``models/``, ``optimizer/`` and ``tracking/`` install as
``roiste.models``, ``roiste.optimizer`` and ``roiste.tracking``; every import of the code goes
through that one name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("models", "optimizer", "tracking")
FORBIDDEN = {
    "models": {"optimizer", "tracking"},
    "tracking": {"optimizer", "models"},
}
CURVE_MODULES = {"roiste.models.curves", "roiste.models.transforms", "roiste.models.fit",
                 "roiste.models.simulate", "roiste.optimizer.economics"}


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


def _layer(name: str) -> str | None:
    parts = name.split(".")
    if parts[0] in LAYERS:
        return f"bare {parts[0]}"
    if parts[0] == "roiste" and len(parts) > 1:
        return parts[1]
    return None


@pytest.mark.parametrize("package", LAYERS)
def test_code_imports_through_the_one_name(package: str) -> None:
    bad = [f"{f.relative_to(ROOT)} imports {name}" for f in _files(package)
           for name in _imports(f) if (_layer(name) or "").startswith("bare ")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_upper_ones(package: str) -> None:
    bad = [f"{f.relative_to(ROOT)} imports {name}" for f in _files(package)
           for name in _imports(f) if _layer(name) in FORBIDDEN[package]]
    assert not bad, "\n".join(bad)


def test_lp_never_imports_a_curve_class() -> None:
    files = _files("optimizer/lp")
    assert files, "optimizer/lp/ is missing"
    bad = [f"{f.relative_to(ROOT)} imports {name}" for f in files for name in _imports(f)
           if any(name == m or name.startswith(m + ".") for m in CURVE_MODULES)]
    assert not bad, "\n".join(bad)


def test_models_package_exists_with_layers() -> None:
    for sub in ("roiste", *LAYERS):
        assert (ROOT / sub / "__init__.py").exists()
