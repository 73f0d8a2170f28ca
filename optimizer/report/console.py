"""Tables for the terminal: the columns' labels and one number format per column.

``roiste curves`` prints its tables through :func:`text_table`, so that a column never mixes
``1.343e+04`` with ``9,208``: each column's format comes from the column registry
(:mod:`~roiste.optimizer.report.columns`) and money is written with the same decimals on every
row of a column.  A column ``name`` whose frame also holds ``name_low`` and ``name_high`` gets an
interval column beside it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import Column

__all__ = ["column_cells", "text_table"]


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool | str):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def column_cells(values: Sequence[Any], fmt: str) -> list[str]:
    """The cells of one column in display format ``fmt`` (see :func:`pages.fmt`), with one
    number of decimals for the whole column: money in whole units when the column's largest
    value is 100 or more, in cents otherwise; a missing or non-finite value is ``-``.

    Examples
    --------
    >>> column_cells([13430.2, 9208.0, 45.3], "money")
    ['13,430', '9,208', '45']
    >>> column_cells([0.5, None], "share")
    ['50.0%', '-']
    """
    nums = [_number(v) for v in values]
    if fmt == "text":
        return ["" if v is None else str(v) for v in values]
    if fmt == "flag":
        return ["-" if v is None else ("yes" if v else "no") for v in values]
    patterns = {"cents": "{:,.2f}", "ratio": "{:,.3f}", "share": "{:.1%}", "pct": "{:+.1f}%",
                "count": "{:,.1f}", "gap": "{:.2e}"}
    if fmt == "money":
        top = max((abs(f) for f in nums if f is not None), default=0.0)
        pattern = "{:,.0f}" if top >= 100 else "{:,.2f}"
    elif fmt == "int":
        pattern = "{:,.0f}"
    else:
        pattern = patterns.get(fmt, "{:,.3f}")
    out = []
    for f in nums:
        if f is None:
            out.append("-")
            continue
        text = pattern.format(f)
        out.append(text[1:] if text.startswith("-") and not text.strip("-0.,%") else text)
    return out


def text_table(frame: pd.DataFrame, columns: Mapping[str, Column], *,
               level: float | None = None) -> str:
    """``frame`` as an aligned text table with the registry's labels and formats.

    Columns of ``frame`` not in ``columns`` are left out, except ``name_low`` / ``name_high``
    pairs, shown as one ``name`` interval column after ``name`` (labelled with ``level``).
    """
    heads: list[str] = []
    body: list[list[str]] = []
    numeric: list[bool] = []
    for name in frame.columns:
        col = columns.get(str(name))
        if col is None:
            continue
        heads.append(col.label)
        body.append(column_cells(frame[name].tolist(), col.fmt))
        numeric.append(col.fmt not in ("text", "flag"))
        low, high = f"{name}_low", f"{name}_high"
        if low in frame.columns and high in frame.columns:
            both = column_cells([*frame[low].tolist(), *frame[high].tolist()], col.fmt)
            n = len(frame)
            heads.append(T.CURVES_INTERVAL.format(label=col.label, level=level or 0.0))
            body.append(["-" if a == "-" else T.CURVES_INTERVAL_CELL.format(low=a, high=b)
                         for a, b in zip(both[:n], both[n:], strict=True)])
            numeric.append(True)
    widths = [max([len(h), *(len(c) for c in cells)]) for h, cells in zip(heads, body, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    rows = [line(heads)]
    rows += [line([cells[i] for cells in body]) for i in range(len(frame))]
    return "\n".join(rows)
