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


LP_ORDER = ["problem", "pieces", "model", "infeasible", "solve", "scenarios", "path", "weekly"]


def _lp_imports(path: Path) -> set[str]:
    """The modules of ``roiste.optimizer.lp`` a file imports: every import statement counts
    (module level, under ``if TYPE_CHECKING:``, inside functions); ``__init__`` stands for the
    package itself (``from roiste.optimizer.lp import solve`` names the package's front door
    unless ``solve`` is one of its modules).
    """
    pkg = "roiste.optimizer.lp"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.add("relative import")
            continue
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module == pkg:
                found.update(a.name if a.name in LP_ORDER else "__init__" for a in node.names)
                continue
            mods = [node.module]
        else:
            continue
        for m in mods:
            if m == pkg:
                found.add("__init__")
            elif m.startswith(pkg + "."):
                found.add(m.split(".")[3])
    return found


def test_lp_package_imports_only_go_down() -> None:
    files = {p.stem: p for p in _files("optimizer/lp") if p.stem != "__init__"}
    assert sorted(files) == sorted(LP_ORDER), "optimizer/lp/ holds modules outside LP_ORDER"
    bad = []
    for name, path in files.items():
        below = set(LP_ORDER[: LP_ORDER.index(name)])
        bad += [f"optimizer/lp/{name}.py imports {m}" for m in sorted(_lp_imports(path) - below)]
    assert not bad, "\n".join(bad)


# The modules and packages of roiste.optimizer from the top down: each imports only from the
# rows below its own (runs on top of the library, the reports on top of the types they show).
OPTIMIZER_RANKS = [
    {"cli"},
    {"commands"},
    {"runs"},
    {"analysis", "demo"},
    {"report"},
    {"backtest", "monitor"},
    {"flighting"},
    {"plan"},
    {"budget", "glide", "recovery", "targets", "voi"},
    {"context"},
    {"risk"},
    {"economics"},
    {"scenario"},
    {"steps", "lp"},
]


def _optimizer_units(path: Path) -> set[str]:
    """The modules and packages of ``roiste.optimizer`` a file imports, by their first name
    (``roiste.optimizer.report.text`` is ``report``); every import statement counts."""
    pkg = "roiste.optimizer"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == pkg and node.level == 0:
            found.update(a.name for a in node.names if a.name != "__version__")
            continue
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            mods = [node.module]
        else:
            continue
        found.update(m.split(".")[2] for m in mods if m.startswith(pkg + "."))
    return found


def _optimizer_unit(path: Path) -> str:
    return path.relative_to(ROOT / "optimizer").parts[0].removesuffix(".py")


def test_every_optimizer_module_has_a_rank() -> None:
    units = {_optimizer_unit(p) for p in _files("optimizer")} - {"__init__"}
    ranked = set().union(*OPTIMIZER_RANKS)
    assert units == ranked, f"unranked: {sorted(units - ranked)}; gone: {sorted(ranked - units)}"


def test_optimizer_imports_follow_the_ranks() -> None:
    rank = {u: i for i, row in enumerate(OPTIMIZER_RANKS) for u in row}
    bad = []
    for path in _files("optimizer"):
        unit = _optimizer_unit(path)
        if unit == "__init__":
            continue
        for used in sorted(_optimizer_units(path) - {unit}):
            if rank.get(used, len(OPTIMIZER_RANKS)) <= rank[unit]:
                bad.append(f"{path.relative_to(ROOT)} ({unit}) imports {used}")
    assert not bad, "\n".join(bad)


def test_reports_never_import_a_run() -> None:
    files = _files("optimizer/report")
    assert files, "optimizer/report/ is missing"
    bad = [f"{f.relative_to(ROOT)} imports {u}" for f in files
           for u in sorted(_optimizer_units(f) & {"runs", "cli", "commands"})]
    assert not bad, "\n".join(bad)
