"""Two plan directories side by side: spend and net margin per channel and in total."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from roiste.models.errors import RoisteError
from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import ALLOCATION, CONTRACT_COLUMNS

SPEND, MARGIN = ALLOCATION["recommended_spend"], ALLOCATION["expected_net_margin"]
NUMERIC = ("current_spend", SPEND.name, MARGIN.name)
"""The columns a plan directory's ``allocation.csv`` must hold as numbers to be compared."""


class PlanDirError(RoisteError):
    """A directory that does not hold a readable plan."""


def read_plan_dir(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read ``allocation.csv`` and ``summary.json`` of a plan directory, checking both."""
    d = Path(path)
    if not d.is_dir():
        raise PlanDirError(f"{d}: not a plan directory (no such directory)")
    alloc_path, summary_path = d / "allocation.csv", d / "summary.json"
    for p in (alloc_path, summary_path):
        if not p.is_file():
            raise PlanDirError(f"{d}: not a plan directory (missing {p.name})")
    try:
        alloc = pd.read_csv(alloc_path, dtype={"channel": str}, keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise PlanDirError(f"{alloc_path}: unreadable CSV ({exc})") from None
    missing = [c for c in CONTRACT_COLUMNS if c not in alloc.columns]
    if missing:
        raise PlanDirError(f"{alloc_path}: missing column(s) {missing}")
    for c in NUMERIC:
        if not pd.api.types.is_numeric_dtype(alloc[c]):
            raise PlanDirError(f"{alloc_path}: column {c!r} is not numeric")
    if alloc["channel"].duplicated().any():
        dup = alloc.loc[alloc["channel"].duplicated(), "channel"].iloc[0]
        raise PlanDirError(f"{alloc_path}: channel {dup!r} appears twice")
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlanDirError(f"{summary_path}: not JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise PlanDirError(f"{summary_path}: top level is not an object")
    return alloc, summary


def _num(v: Any, width: int = 14) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-".rjust(width)
    return f"{float(v):,.2f}".rjust(width)


def _delta(a: Any, b: Any, width: int = 14) -> str:
    if a is None or b is None or any(isinstance(v, float) and math.isnan(v) for v in (a, b)):
        return "-".rjust(width)
    return f"{float(b) - float(a):+,.2f}".rjust(width)


def compare_plans(dir_a: str | os.PathLike[str], dir_b: str | os.PathLike[str]) -> str:
    """A text table: per channel spend and expected net margin in plan A and B, and the totals.

    Channels of either plan appear (``-`` where a plan lacks one); the last lines compare the
    summaries' net margins.
    """
    a_alloc, a_sum = read_plan_dir(dir_a)
    b_alloc, b_sum = read_plan_dir(dir_b)
    a_idx, b_idx = a_alloc.set_index("channel"), b_alloc.set_index("channel")
    channels = list(a_idx.index) + [c for c in b_idx.index if c not in a_idx.index]
    name_a = str(a_sum.get("scenario", Path(dir_a).name))
    name_b = str(b_sum.get("scenario", Path(dir_b).name))
    width = max(12, *(len(str(c)) for c in channels), len(T.COMPARE_TOTAL))
    first, *rest = T.COMPARE_COLUMNS
    head = f"{first:<{width}}" + "".join(f" {h:>14}" for h in rest)
    lines = [T.COMPARE_HEADER.format(a=f"A = {name_a} ({dir_a})", b=f"B = {name_b} ({dir_b})"), head,
             "-" * len(head)]
    totals = {"sa": 0.0, "sb": 0.0, "ma": 0.0, "mb": 0.0}

    def get(idx: pd.DataFrame, c: str, col: str) -> float | None:
        if c not in idx.index:
            return None
        v: Any = idx.at[c, col]
        return None if pd.isna(v) else float(v)

    for c in channels:
        sa, sb = get(a_idx, c, SPEND.name), get(b_idx, c, SPEND.name)
        ma, mb = get(a_idx, c, MARGIN.name), get(b_idx, c, MARGIN.name)
        for key, v in (("sa", sa), ("sb", sb), ("ma", ma), ("mb", mb)):
            totals[key] += v or 0.0
        lines.append(
            f"{c!s:<{width}} {_num(sa)} {_num(sb)} {_delta(sa, sb)} {_num(ma)} {_num(mb)} {_delta(ma, mb)}"
        )
    lines.append("-" * len(head))
    lines.append(
        f"{T.COMPARE_TOTAL:<{width}} {_num(totals['sa'])} {_num(totals['sb'])}"
        f" {_delta(totals['sa'], totals['sb'])} {_num(totals['ma'])} {_num(totals['mb'])}"
        f" {_delta(totals['ma'], totals['mb'])}"
    )
    na, nb = a_sum.get("net_margin_recommended"), b_sum.get("net_margin_recommended")
    if isinstance(na, int | float) and isinstance(nb, int | float):
        lines.append(T.COMPARE_MARGIN_LINE.format(a=f"{na:,.2f}", b=f"{nb:,.2f}", delta=nb - na))
    return "\n".join(lines)
