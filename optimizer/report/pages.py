"""The HTML pages' machinery: the Jinja2 environment, number formats and table contexts.

Templates live in ``optimizer/report/templates/*.html.j2`` and are loaded from the installed
package.  The environment escapes every value (autoescape), refuses an undefined name
(``StrictUndefined``) and drops the newline after a block tag (``trim_blocks``).  Pages are
self-contained: :func:`stylesheet` is inlined and charts come as ``data:`` URIs.

Section builders of each page return a plain context (dicts, lists, strings); numbers are
formatted here, in Python, so that templates only place text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import Column

PACKAGE = "roiste.optimizer.report"


@cache
def environment() -> jinja2.Environment:
    """The one Jinja2 environment of the reports (templates from the installed package)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader(PACKAGE, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``."""
    return environment().get_template(template).render(**context)


@cache
def stylesheet(*names: str) -> Markup:
    """The CSS files ``names`` of the package, one after the other, to inline in a page."""
    css = "".join(
        resources.files(PACKAGE).joinpath(n).read_text(encoding="utf-8") for n in names
    )
    return Markup(css)  # our own files: no user input reaches a style sheet


def fmt(v: Any, kind: str = "money") -> str:
    """A number for people (plain text; the template escapes it).

    ``money``: whole units with separators (cents below 100); ``whole``: whole units;
    ``cents``: two decimals;
    ``count``: one decimal; ``pct``: signed percent; ``share``: a ratio as percent; ``gap``:
    scientific; ``int``: as is (a whole float without its ``.0``); ``flag``: yes or no;
    anything else (``ratio``): three decimals.  ``None`` is empty,
    a string stays as it is, a flag is yes or no, a non-finite number is a dash.
    """
    if v is None or isinstance(v, str):
        return "" if v is None else v
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    f = float(v)
    if not math.isfinite(f):
        return "–"
    if kind == "money":
        return T.money(f)
    if kind == "cents":
        return f"{f:,.2f}"
    if kind == "whole":
        return f"{f:,.0f}"
    if kind == "count":
        return f"{f:,.1f}"
    if kind == "pct":
        return f"{f:+.1f}%"
    if kind == "share":
        return f"{f:.1%}"
    if kind == "gap":
        return f"{f:.2e}"
    if kind == "int":
        return str(int(f)) if f.is_integer() else str(v)
    return f"{f:,.3f}"


@dataclass(frozen=True)
class Cell:
    """One table cell: its text and its CSS class (``num``, ``num up``, ``num down`` or none)."""

    text: str
    cls: str = ""


def cell(v: Any, kind: str) -> Cell:
    """The cell of value ``v`` shown as ``kind``; a non-zero change in percent goes up or down."""
    if kind == "text":
        return Cell("" if v is None else str(v))
    if kind == "date":
        return Cell("" if v is None else str(v), "date")
    if kind == "flag":
        unknown = v is None or (isinstance(v, float) and math.isnan(v))
        return Cell("" if unknown else fmt(bool(v), kind))
    extra = ""
    if kind == "pct" and v is not None and math.isfinite(float(v)) and float(v) != 0:
        extra = " up" if float(v) > 0 else " down"
    return Cell(fmt(v, kind), "num" + extra)


def table(
    columns: Sequence[Column],
    rows: Sequence[Mapping[str, Any]],
    total: Mapping[str, Any] | None = None,
    *,
    consistent: bool = False,
) -> dict[str, Any]:
    """The context of one table: headers from the columns' labels, cells in their formats,
    and an optional total row (class ``total``).

    With ``consistent``, a money column is written in one format on every row: whole units
    when any of its values is 100 or more, cents otherwise (``money`` alone switches per value).
    """
    kinds = [c.fmt for c in columns]
    if consistent:
        kinds = [_column_kind(c, [*rows, *([total] if total is not None else [])])
                 for c in columns]
    body = [{"cls": "", "cells": [cell(r.get(c.name), k) for c, k in zip(columns, kinds, strict=True)]}
            for r in rows]
    if total is not None:
        body.append({"cls": "total", "cells": [cell(total.get(c.name), k)
                                               for c, k in zip(columns, kinds, strict=True)]})
    return {"head": [c.label for c in columns], "rows": body}


def _column_kind(column: Column, rows: Sequence[Mapping[str, Any]]) -> str:
    """A money column's one format: whole units when any of its values is 100 or more."""
    if column.fmt != "money":
        return column.fmt
    values = [r.get(column.name) for r in rows]
    big = any(isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
              and math.isfinite(float(v)) and abs(float(v)) >= 100 for v in values)
    return "whole" if big else "cents"


def kv(label: str, value: Any, *, code: bool = False) -> dict[str, Any]:
    """One row of a two-column table of already formatted values (``code``: monospace)."""
    return {"label": label, "value": value, "code": code}


def image(uri: str, alt: str) -> dict[str, str]:
    """The context of an embedded chart."""
    return {"src": uri, "alt": alt}
