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
from matplotlib.figure import Figure

from roiste.models.attribution.compare import compare_table
from roiste.models.attribution.credit import AttributionRule
from roiste.models.errors import AttributionError
from roiste.models.io import atomic_write_text
from roiste.optimizer.report import charts
from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import SHARE, TEXT, Column
from roiste.optimizer.report.pages import Cell, cell, image, kv, render, stylesheet
from roiste.version import __version__

__all__ = ["compare_chart", "compare_figure", "compare_rules", "render_compare_html"]


def _shares(table: pd.DataFrame) -> pd.DataFrame:
    """Credited revenue share, one row per channel and one column per rule (in rule order)."""
    labels = list(dict.fromkeys(table["label"]))
    return table.pivot(index="channel", columns="label", values="share").fillna(0.0)[labels]


def compare_figure(table: pd.DataFrame) -> Figure:
    """Grouped bars of the credited revenue share per channel, one bar per rule.

    The legend stands to the right of the axes, outside them, so it never covers a bar.
    """
    wide = _shares(table)
    labels = list(wide.columns)
    n_ch, n_r = wide.shape
    with charts.style():
        fig = charts.new_figure(max(7.0, 1.1 * n_ch + 4.0), 4.2)
        ax = fig.add_subplot(1, 1, 1)
        width = 0.8 / max(n_r, 1)
        x = np.arange(n_ch)
        for k, label in enumerate(labels):
            ax.bar(x + (k - (n_r - 1) / 2) * width, 100 * wide[label].to_numpy(), width,
                   label=label)
        ax.set_xticks(x, list(wide.index), rotation=30, ha="right")
        ax.set_ylabel(T.ATTRIBUTION_AXIS)
        ax.set_title(T.ATTRIBUTION_CHART_TITLE)
        ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  title=T.ATTRIBUTION_LEGEND_TITLE)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
    return fig


def compare_chart(table: pd.DataFrame) -> bytes:
    """:func:`compare_figure` as PNG bytes."""
    with charts.style():
        return charts.png_bytes(compare_figure(table))


def section_shares(table: pd.DataFrame) -> dict[str, Any]:
    """The share table: a channel per row, a rule per column, shares in percent."""
    wide = _shares(table)
    cols = [Column("channel", T.ATTRIBUTION_CHANNEL, TEXT, "text"),
            *(Column(str(lab), str(lab), SHARE, "share") for lab in wide.columns)]
    rows = [{"cls": "", "cells": [Cell(str(ch)), *(cell(v, "share") for v in wide.loc[ch])]}
            for ch in wide.index]
    return {"head": [c.label for c in cols], "rows": rows}


def render_compare_html(table: pd.DataFrame, png: bytes) -> str:
    """The whole ``compare.html`` page (chart embedded) as one string."""
    rules = dict(zip(table["label"], table["attribution_hash"], strict=True))
    return render(
        "attribution.html.j2",
        title=T.ATTRIBUTION_TITLE,
        css=stylesheet("style.css"),
        intro=T.ATTRIBUTION_INTRO,
        chart=image(charts.data_uri(png), T.ATTRIBUTION_ALT),
        shares=section_shares(table),
        shares_title=T.ATTRIBUTION_SHARES,
        rules_title=T.ATTRIBUTION_RULES,
        rules=[kv(lab, h[:12], code=True) for lab, h in rules.items()],
        footer=T.BACKTEST_FOOTER.format(version=__version__),
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
