"""Several attribution rules side by side: credited revenue share per channel and rule.

:func:`compare_table` reads the inputs once, runs every rule and returns one row per rule and
channel (``roiste attribute compare`` writes it with a page of charts).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd
from tqdm import tqdm

from roiste.models.attribution.credit import AttributionRule, attribute
from roiste.models.attribution.inputs import read_inputs
from roiste.models.errors import AttributionError

__all__ = ["compare_table"]


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
