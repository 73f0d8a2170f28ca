"""Plain YAML with bounds: the safe loader, keys written twice refused, aliases bounded.

``yaml.safe_load`` alone expands aliases without limit (a 1 KB "billion laughs" file runs for
ever) and keeps the last of two equal keys without a word.  :func:`parse_yaml` composes the
document once, checks its node graph in one linear pass (:func:`check_node_graph`), then
constructs it; every YAML file the package reads goes through it, after
:func:`models.io.input_problem` (a regular file) and :func:`models.io.read_input_bytes`
(at most :data:`MAX_YAML_BYTES`).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = [
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "DuplicateKeyError",
    "YamlLimitError",
    "check_node_graph",
    "parse_yaml",
    "yaml_problem",
]

#: Largest scenario or rules file read (a scenario is a page of keys; 1 MiB is far beyond one).
MAX_YAML_BYTES = 1 << 20
#: Largest number of YAML nodes once every alias is expanded (what a reader of the data walks).
MAX_YAML_NODES = 100_000
#: Deepest nesting of mappings and lists once every alias is expanded.
MAX_YAML_DEPTH = 64


def check_node_graph(root: yaml.Node) -> None:
    """Refuse keys written twice, and alias expansion beyond the limits, in one pass.

    Each distinct node of the graph built by ``yaml.compose`` is visited once (an alias is the
    same node object as its anchor), so the check is linear in the file however the aliases
    nest; the expanded size and depth of a node are computed from its children's, remembered
    per node, so that a "billion laughs" file is measured without being expanded.

    Raises
    ------
    DuplicateKeyError
        A mapping key written twice (YAML would silently keep the last one).
    YamlLimitError
        A recursive alias, or more than :data:`MAX_YAML_NODES` nodes or :data:`MAX_YAML_DEPTH`
        levels once aliases are expanded.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    # iterative post-order walk: (node, children visited?)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_YAML_NODES:
                raise YamlLimitError(
                    None, None, f"the document expands to more than {MAX_YAML_NODES:,} values "
                    "through its aliases (*name)", node.start_mark)
            if depth[key] > MAX_YAML_DEPTH:
                raise YamlLimitError(
                    None, None, f"the document nests deeper than {MAX_YAML_DEPTH} levels",
                    node.start_mark)
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlLimitError(
                None, None, "an alias refers to a node that contains it (a recursive alias)",
                node.start_mark)
        on_path.add(key)
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    k = (key_node.tag, key_node.value)
                    if k in seen:
                        raise DuplicateKeyError(
                            None, None, f"key {key_node.value!r} is written twice",
                            key_node.start_mark,
                        )
                    seen.add(k)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def parse_yaml(text: str) -> Any:
    """Plain YAML (the safe loader's types only), checked before any Python object is built.

    The document is composed once; :func:`check_node_graph` refuses keys written twice and
    bounds the alias expansion; then the same node graph is constructed.

    Raises
    ------
    yaml.YAMLError
        Syntax errors, tags other than plain YAML's, keys written twice, alias bombs.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_node_graph(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping key written twice."""


class YamlLimitError(yaml.composer.ComposerError):
    """A document whose aliases expand beyond the limits, or refer to themselves."""



def _line_col(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


def yaml_problem(exc: yaml.MarkedYAMLError, kind: str = "scenario files") -> str:
    """One line for a YAML error: what, where (line and column) and, for a tag, why not."""
    mark = exc.problem_mark or exc.context_mark
    where = f" at {_line_col(mark)}" if mark else ""
    problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
    if isinstance(exc, DuplicateKeyError):
        return f"{problem}{where} (YAML would silently keep only the last value)"
    if isinstance(exc, YamlLimitError):
        return f"{problem}{where}"
    if "could not determine a constructor" in problem:
        tag = problem.rsplit(" ", 1)[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
        return (
            f"YAML tag {tag} is not allowed{where} ({kind} are plain YAML: "
            "mappings, lists, numbers and text)"
        )
    started = ""
    if exc.context and exc.problem and exc.context_mark is not None:
        context = " ".join(str(exc.context).split())
        started = f" ({context} that starts at {_line_col(exc.context_mark)})"
    return f"YAML syntax error{where}: {problem}{started}"
