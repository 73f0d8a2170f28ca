"""``compare.csv`` and ``compare.html`` of ``roiste attribute compare``: several attribution
rules side by side.

The table comes from :func:`roiste.models.attribution.compare.compare_table` (one row per
rule and channel); the page is ``templates/attribution.html.j2`` with a grouped bar chart of
the credited revenue shares embedded as PNG.  Both files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.attribution.compare import compare_table
from roiste.models.attribution.credit import AttributionRule
from roiste.models.errors import AttributionError
from roiste.models.io import atomic_write_text
from roiste.optimizer.report import charts
from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import SHARE, TEXT, Column
from roiste.optimizer.report.pages import Cell, image, render, stylesheet

__all__ = ["compare_chart", "compare_rules", "render_compare_html"]


def _shares(table: pd.DataFrame) -> pd.DataFrame:
    """Credited revenue share, one row per channel and one column per rule (in rule order)."""
    labels = list(dict.fromkeys(table["label"]))
    return table.pivot(index="channel", columns="label", values="share").fillna(0.0)[labels]


def compare_chart(table: pd.DataFrame) -> bytes:
    """Grouped bars of the credited revenue share per channel, one bar per rule (PNG)."""
    wide = _shares(table)
    labels = list(wide.columns)
    n_ch, n_r = wide.shape
    fig = charts.new_figure(max(6.0, 1.1 * n_ch + 2), 4.2)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(n_r, 1)
    x = np.arange(n_ch)
    for k, label in enumerate(labels):
        ax.bar(x + (k - (n_r - 1) / 2) * width, 100 * wide[label].to_numpy(), width, label=label)
    ax.set_xticks(x, list(wide.index), rotation=30, ha="right")
    ax.set_ylabel(T.ATTRIBUTION_AXIS)
    ax.set_title(T.ATTRIBUTION_CHART_TITLE)
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return charts.png_bytes(fig)


def section_shares(table: pd.DataFrame) -> dict[str, Any]:
    """The share table: a channel per row, a rule per column, shares in percent."""
    wide = _shares(table)
    cols = [Column("channel", T.ATTRIBUTION_CHANNEL, TEXT, "text"),
            *(Column(str(lab), str(lab), SHARE, "share") for lab in wide.columns)]
    rows = [{"cls": "", "cells": [Cell(str(ch)), *(Cell(f"{100 * v:.1f} %") for v in wide.loc[ch])]}
            for ch in wide.index]
    return {"head": [c.label for c in cols], "rows": rows}


def render_compare_html(table: pd.DataFrame, png: bytes) -> str:
    """The whole ``compare.html`` page (chart embedded) as one string."""
    rules = dict(zip(table["label"], table["attribution_hash"], strict=True))
    return render(
        "attribution.html.j2",
        title=T.ATTRIBUTION_TITLE,
        css=stylesheet("attribution.css"),
        intro=T.ATTRIBUTION_INTRO,
        chart=image(charts.data_uri(png), T.ATTRIBUTION_ALT),
        shares=section_shares(table),
        rules_title=T.ATTRIBUTION_RULES,
        hash_word=T.ATTRIBUTION_HASH,
        rules=[{"label": lab, "hash": h[:12]} for lab, h in rules.items()],
    )


def compare_rules(
    touchpoints: str | os.PathLike[str],
    conversions: str | os.PathLike[str],
    rules: Sequence[AttributionRule],
    out_dir: str | os.PathLike[str],
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Write ``compare.csv`` and ``compare.html`` for ``rules`` into ``out_dir``; return the table."""
    table = compare_table(touchpoints, conversions, rules, progress=progress)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AttributionError(f"{out}: exists and is not a directory")
    atomic_write_text(out / "compare.csv", table.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out / "compare.html", render_compare_html(table, compare_chart(table)))
    return table
