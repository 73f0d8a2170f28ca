"""The house rules of the code: no import circle, no private name crossing a module, imports at
module level unless they guard an optional dependency (and then say so in a comment).

The code is read with ``ast``; nothing is imported.  Module names are the installed ones
(``models/fit/channel.py`` is ``roiste.models.fit.channel``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"roiste": "roiste", "models": "roiste.models", "optimizer": "roiste.optimizer",
           "tracking": "roiste.tracking"}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for folder, name in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            mods[".".join([name, *parts])] = path
    return mods


MODULES = _modules()


def _imports(tree: ast.Module) -> Iterator[tuple[ast.stmt, str, list[str]]]:
    """Each import statement with the module it names and the names it takes."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node, a.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node, node.module, [a.name for a in node.names]


def _targets(module: str, names: list[str]) -> set[str]:
    """The project modules an import statement loads, as far as the code names them."""
    out = set()
    if module in MODULES:
        out.add(module)
    for n in names:
        if f"{module}.{n}" in MODULES:
            out.add(f"{module}.{n}")
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for _, module, names in _imports(tree):
            edges |= _targets(module, names)
        edges.discard(mod)
        graph[mod] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_the_module_finder_sees_the_whole_house() -> None:
    assert "roiste.optimizer.cli" in MODULES and "roiste.models.curves" in MODULES
    assert "roiste.tracking.store" in MODULES and "roiste" in MODULES


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle() -> None:
    """Every import counts: module level, under TYPE_CHECKING, and inside functions."""
    circles = _cycles(_graph())
    assert not circles, "\n".join(" <-> ".join(c) for c in circles)


def test_no_private_name_crosses_a_module() -> None:
    bad = []
    for mod, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        aliases: dict[str, str] = {}
        for node, module, _ in _imports(tree):
            if not module.startswith("roiste"):
                continue
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    full = f"{module}.{a.name}"
                    if full in MODULES:
                        aliases[a.asname or a.name] = full
                    elif a.name.startswith("_") and not a.name.startswith("__"):
                        bad.append(f"{mod} imports {a.name} from {module}")
            else:
                for a in node.names:
                    if a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__")):
                bad.append(f"{mod} uses {aliases[node.value.id]}.{node.attr}")
    assert not bad, "\n".join(sorted(set(bad)))


def _module_level(tree: ast.Module) -> set[int]:
    """ids of the import statements at module level, including those under ``if``/``try``."""
    ids: set[int] = set()
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            ids.add(id(node))
        elif isinstance(node, (ast.If, ast.Try)):
            todo.extend(node.body)
            todo.extend(node.orelse)
            if isinstance(node, ast.Try):
                todo.extend(node.finalbody)
                for h in node.handlers:
                    todo.extend(h.body)
    return ids


def test_function_level_imports_say_why() -> None:
    """An import inside a function guards an optional dependency and says so in a comment."""
    bad = []
    for path in MODULES.values():
        lines = path.read_text(encoding="utf-8").splitlines()
        tree = ast.parse("\n".join(lines), filename=str(path))
        top = _module_level(tree)
        for node, module, _ in _imports(tree):
            if id(node) in top:
                continue
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2] if node.lineno > 1 else ""
            if "#" not in here and not above.strip().startswith("#"):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module} in a function")
    assert not bad, "\n".join(bad)
