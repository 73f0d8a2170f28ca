"""Workbook cells from data: text that could be read as a formula stays text.

A channel, campaign or constraint named ``=HYPERLINK(...)`` (or ``+1``, ``-2``, ``@SUM(...)``)
must not become a live formula in a workbook: openpyxl turns any string that starts with ``=``
into a formula, and a spreadsheet may evaluate the others when a cell is edited.  Every value
from data goes through :func:`sheet_value`; the workbook's own formulas are written as plain
strings by the code that builds them.  Numbers (negative ones included) stay numbers: only
strings are escaped.
"""

from __future__ import annotations

from typing import Any

from openpyxl.cell.rich_text import CellRichText

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_STARTS = ("=", "+", "-", "@")


def sheet_value(v: Any) -> Any:
    """``v`` for a cell; a string starting with ``= + - @`` is wrapped so it is written as text.

    The wrapper is openpyxl's rich text, which is always saved as an inline string (never a
    formula); reading the workbook back gives the same string.

    Examples
    --------
    >>> sheet_value(-2.5), sheet_value("search")
    (-2.5, 'search')
    >>> type(sheet_value("=1+1")).__name__
    'CellRichText'
    """
    if isinstance(v, str) and v.startswith(FORMULA_STARTS):
        return CellRichText(v)
    return v
