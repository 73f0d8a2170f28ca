"""Reading scenario YAML safely and explaining validation errors in one line.

Helpers of :mod:`optimizer.scenario`: the bounded safe loader of :mod:`models.yamlsafe` (keys
written twice refused, alias expansion bounded in count and depth) with a size limit on the
file, and the rewriting of pydantic ``ValidationError``s into lines such as
``Unknown key 'budgte' (at top level). Did you mean 'budget'?``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import types
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Tag

from roiste.models.errors import ScenarioError
from roiste.models.io import read_input_bytes, require_input
from roiste.models.yamlsafe import (
    MAX_YAML_BYTES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    DuplicateKeyError,
    YamlLimitError,
    check_node_graph,
    parse_yaml,
    yaml_problem,
)


def read_yaml(path: Path, label: str) -> Any:
    """Plain YAML of a file; any problem is a one-line ``ScenarioError`` with line and column.

    The file must be a regular file (a FIFO or a device would block or never end) of at most
    :data:`MAX_YAML_BYTES`.
    """
    require_input(path, label, ScenarioError, "scenario file not found")
    try:
        data = read_input_bytes(path, MAX_YAML_BYTES)
        if data is None:
            raise ScenarioError(
                f"{label}: larger than {MAX_YAML_BYTES // 1024} KiB; scenario and rules files are "
                "a page of keys (the data go in the files they name)"
            )
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{label}: not a UTF-8 text file") from None
    except OSError as exc:
        raise ScenarioError(f"{label}: cannot read ({exc.strerror})") from None
    try:
        return parse_yaml(text)
    except yaml.MarkedYAMLError as exc:
        raise ScenarioError(f"{label}: {yaml_problem(exc)}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{label}: YAML error: {' '.join(str(exc).split())}") from None
    except ValueError as exc:  # a date-like value that is no date (2026-13-01)
        raise ScenarioError(f"{label}: YAML error: {exc}") from None


class LocatedValueError(ValueError):
    """A validator's ``ValueError`` that points below the field it checks (``at`` keys)."""

    def __init__(self, message: str, *at: str) -> None:
        super().__init__(message)
        self.at = at


def _at(loc: tuple[Any, ...] | list[Any]) -> str:
    return " (at " + (" -> ".join(str(p) for p in loc) if loc else "top level") + ")"


def _strip_optional(tp: Any) -> Any:
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType) and type(None) in get_args(tp):
            rest = [a for a in get_args(tp) if a is not type(None)]
            if len(rest) != 1:
                return tp
            tp = rest[0]
        else:
            return tp


def _walk(root: type[BaseModel], loc: tuple[Any, ...]) -> tuple[list[Any], type[BaseModel] | None]:
    """Follow a pydantic error location through the models.

    Returns the location as a user reads it (without union tags) and the model found at its
    end (None when the path leaves the models).
    """
    tp: Any = root
    shown: list[Any] = []
    for part in loc:
        tp = _strip_optional(tp)
        if get_origin(tp) is Union:
            members = {
                m.tag: get_args(a)[0]
                for a in get_args(tp)
                for m in get_args(a)[1:]
                if isinstance(m, Tag)
            }
            if part in members:
                tp = members[part]
                continue
            return shown + list(loc[len(shown) :]), None
        shown.append(part)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        elif get_origin(tp) is list and isinstance(part, int):
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict and isinstance(part, str):
            tp = get_args(tp)[1]
        else:
            tp = None
    tp = _strip_optional(tp)
    model = tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
    return shown, model


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (dt.date, dt.datetime)):
        return "a date"
    if isinstance(value, (int, float)):
        return "a number"
    return f"a {type(value).__name__}"


def _explain_one(root: type[BaseModel], err: Any) -> str:
    kind = err["type"]
    loc = tuple(err["loc"])
    if kind == "string_type" and loc and loc[-1] == "[key]":
        shown, _ = _walk(root, loc[:-2])
        value = err["input"]
        return (
            f"the key {value} is read by YAML as {_yaml_type(value)}, not as text; put it in "
            f"quotes{_at(shown)}"
        )
    shown, _ = _walk(root, loc)
    if kind == "string_type" and isinstance(err.get("input"), (bool, int, float, dt.date)):
        value = err["input"]
        return (
            f"{value} is read by YAML as {_yaml_type(value)}, not as text; put it in quotes"
            f"{_at(shown)}"
        )
    if kind == "extra_forbidden":
        key = shown[-1]
        parent, model = _walk(root, tuple(err["loc"])[:-1])
        known = sorted(model.model_fields) if model else []
        hint = ""
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        if close:
            hint = f" Did you mean {close[0]!r}?"
        elif model is root and _home(root, str(key)):
            hint = f" {key!r} belongs under {_home(root, str(key))!r}."
        elif known:
            hint = " Known keys: " + ", ".join(known) + "."
        return f"Unknown key {key!r}{_at(parent)}.{hint}"
    if kind == "missing":
        return f"Missing required key {shown[-1]!r}{_at(shown[:-1])}"
    if kind == "value_error":
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, LocatedValueError):
            shown = [*shown, *cause.at]
        return f"{cause if cause is not None else err['msg']}{_at(shown)}"
    if kind == "constraint_kind":
        return f"{err['msg']}{_at(shown)}"
    return f"{err['msg']}, got {_short(err.get('input'))}{_at(shown)}"


_SHOWN_ERRORS = 3


def explain(root: type[BaseModel], errors: list[Any]) -> str:
    """Rewrite pydantic errors of ``root`` as one line: up to three problems, unknown keys first.

    A misspelled key often causes the other errors, so it is named first; each problem ends
    with where it is, ``(at channels -> tv -> max)``.
    """
    ordered = sorted(errors, key=lambda e: e["type"] != "extra_forbidden")
    lines: list[str] = []
    for err in ordered:
        line = _explain_one(root, err)
        if line not in lines:
            lines.append(line)
    more = len(lines) - _SHOWN_ERRORS
    tail = [f"and {more} more problem{'s' if more > 1 else ''}"] if more > 0 else []
    return "; ".join(lines[:_SHOWN_ERRORS] + tail)


def _home(root: type[BaseModel], key: str) -> str | None:
    """The section of ``root`` (a nested model field) where ``key`` is a known key."""
    for name, info in root.model_fields.items():
        tp = _strip_optional(info.annotation)
        if isinstance(tp, type) and issubclass(tp, BaseModel) and key in tp.model_fields:
            return name
    return None


__all__ = [
    "MAX_YAML_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "DuplicateKeyError",
    "LocatedValueError",
    "YamlLimitError",
    "check_node_graph",
    "explain",
    "parse_yaml",
    "read_yaml",
]
