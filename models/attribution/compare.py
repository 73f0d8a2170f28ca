"""Several attribution rules side by side: credited revenue share per channel and rule.

:func:`compare_rules` reads the inputs once, runs every rule and writes ``DIR/compare.csv``
(one row per rule and channel) and ``DIR/compare.html`` (a table and a grouped bar chart,
the PNG embedded in the page).  Both are written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from roiste.models.attribution.credit import AttributionRule, attribute
from roiste.models.attribution.inputs import read_inputs
from roiste.models.errors import AttributionError
from roiste.models.io import atomic_write_text

__all__ = ["compare_rules", "compare_table"]


def compare_table(
    touchpoints: str | os.PathLike[str],
    conversions: str | os.PathLike[str],
    rules: Sequence[AttributionRule],
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per (rule, channel): ``rule, label, attribution_hash, channel, revenue, orders, share``."""
    if not rules:
        raise AttributionError("compare: name at least one rule")
    labels = [r.label for r in rules]
    if len(set(labels)) < len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise AttributionError(f"compare: rule '{dup}' is named twice")
    inputs = read_inputs(touchpoints, conversions)
    from tqdm import tqdm

    parts = []
    for rule in tqdm(rules, desc="rules", disable=not progress):
        t = attribute(inputs, rule).totals
        parts.append(pd.DataFrame({
            "rule": rule.rule,
            "label": rule.label,
            "attribution_hash": rule.config_hash,
            "channel": t["channel"],
            "revenue": t["revenue"].round(2),
            "orders": t["orders"].round(6),
            "share": t["share"].round(8),
        }))
    return pd.concat(parts, ignore_index=True)


def _chart(table: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wide = table.pivot(index="channel", columns="label", values="share").fillna(0.0)
    labels = list(dict.fromkeys(table["label"]))
    wide = wide[labels]
    n_ch, n_r = wide.shape
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * n_ch + 2), 4.2), dpi=100)
    width = 0.8 / max(n_r, 1)
    x = np.arange(n_ch)
    for k, label in enumerate(labels):
        ax.bar(x + (k - (n_r - 1) / 2) * width, 100 * wide[label].to_numpy(), width, label=label)
    ax.set_xticks(x, list(wide.index), rotation=30, ha="right")
    ax.set_ylabel("share of credited revenue (%)")
    ax.set_title("Credited revenue share by channel and rule")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _html(table: pd.DataFrame, png: bytes) -> str:
    labels = list(dict.fromkeys(table["label"]))
    wide = table.pivot(index="channel", columns="label", values="share").fillna(0.0)[labels]
    head = "".join(f"<th>{html.escape(x)}</th>" for x in labels)
    rows = "".join(
        f"<tr><td>{html.escape(str(ch))}</td>"
        + "".join(f"<td>{100 * v:.1f} %</td>" for v in wide.loc[ch])
        + "</tr>"
        for ch in wide.index
    )
    rules = "".join(
        f"<li><code>{html.escape(lab)}</code>: hash <code>{h[:12]}</code></li>"
        for lab, h in dict(zip(table["label"], table["attribution_hash"], strict=True)).items()
    )
    img = base64.b64encode(png).decode("ascii")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Attribution rules compared</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}"
        "table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;"
        "text-align:right}td:first-child{text-align:left}</style></head><body>\n"
        "<h1>Attribution rules compared</h1>\n"
        "<p>Share of the converted revenue each rule credits to each channel.</p>\n"
        f"<img alt=\"credited revenue share by channel and rule\" src=\"data:image/png;base64,{img}\">\n"
        f"<table><thead><tr><th>channel</th>{head}</tr></thead><tbody>{rows}</tbody></table>\n"
        f"<h2>Rules</h2><ul>{rules}</ul>\n</body></html>\n"
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
    atomic_write_text(out / "compare.html", _html(table, _chart(table)))
    return table
