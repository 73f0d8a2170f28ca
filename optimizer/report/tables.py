"""The machine-readable plan outputs: ``allocation.csv`` and ``summary.json``, byte-stable.

Numbers are written with a fixed format so that the same plan gives the same bytes.  In
``allocation.csv`` each column has one number of decimals (:func:`format_column`): money
(spend, revenue, margin, costs per customer) keeps twelve significant digits of the column's
largest value, ratios six decimals, counts two.  ``summary.json`` rounds money to twelve
significant digits, counts to two decimals, ratios to six significant digits; missing values
are empty cells in the CSV and ``null`` in JSON.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from roiste.optimizer.report.columns import (
    ALLOCATION_WEEKS,
    CONTRACT_COLUMNS,
    EVIDENCE_COLUMNS,
    EXTRA_COLUMNS,
    OPTIONAL_COLUMNS,
    STEP_SPEND_PREFIX,
    allocation_column,
    json_rounding,
)

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan


def column_kind(name: str) -> str:
    """``money``, ``count`` or ``ratio``: how an allocation column's numbers are rounded."""
    return allocation_column(name).rounding


def round_value(v: Any, kind: str = "ratio") -> Any:
    """Round a number for output (None for missing or non-finite); leave other values alone."""
    if v is None or isinstance(v, bool | str):
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v
    if not math.isfinite(f):
        return None
    if kind == "money":
        # twelve significant digits: exact to the cent for any budget a team plans, and bounds
        # that are exactly (1 -/+ step) x current spend for small spend scales too
        r = float(f"{f:.12g}")
    elif kind == "count":
        r = round(f, 2)
    else:
        r = float(f"{f:.6g}")
    return 0.0 if r == 0 else r  # no "-0.0"


def format_cell(v: Any, kind: str) -> str:
    """One CSV cell: fixed decimals for money and counts, six significant digits for ratios."""
    r = round_value(v, kind)
    if r is None:
        return ""
    if isinstance(r, bool):
        return "true" if r else "false"
    if isinstance(r, str):
        return r
    if kind == "money":
        return f"{r:.12g}"
    if kind == "count":
        return f"{r:.2f}"
    return f"{r:.6g}"


MONEY_DIGITS = 12
"""Significant digits of a money column's largest value that every value of the column keeps."""
RATIO_DECIMALS = 6
"""Decimals of a ratio in ``allocation.csv``."""


def column_decimals(values: Iterable[Any], kind: str) -> int:
    """The one number of decimals of a column of ``allocation.csv``.

    ``money``: the decimals that keep :data:`MONEY_DIGITS` significant digits of the column's
    largest value (at least 2, at most 12), so all values of a column sit on one grid, exact to
    the column's twelfth digit on any spend scale; ``count``: 2; ``ratio``: :data:`RATIO_DECIMALS`.

    Examples
    --------
    >>> column_decimals([949.957243491, 545.695], "money"), column_decimals([0.37, 0.2], "money")
    (9, 12)
    """
    if kind == "count":
        return 2
    if kind != "money":
        return RATIO_DECIMALS
    sizes = [abs(float(v)) for v in values
             if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
             and math.isfinite(float(v)) and float(v) != 0.0]
    if not sizes:
        return 2
    top = math.floor(math.log10(max(sizes)))
    return min(max(MONEY_DIGITS - 1 - top, 2), 12)


def format_column(values: Sequence[Any], kind: str) -> list[str]:
    """The CSV cells of one column: every number with the column's decimals (never in
    scientific notation, no ``-0``); missing values empty, flags ``true``/``false``."""
    d = column_decimals(values, kind)
    out = []
    for v in values:
        if v is None or isinstance(v, bool | np.bool_ | str):
            out.append(format_cell(v, kind))
            continue
        f = float(v)
        if not math.isfinite(f):
            out.append("")
            continue
        text = f"{f:.{d}f}"
        out.append(text[1:] if text.startswith("-") and not text.strip("-0.") else text)
    return out


def allocation_columns(plan: Plan) -> list[str]:
    """The columns of ``allocation.csv``: the contract, the optional ones present, the extras."""
    present = set(plan.allocation.columns)
    return (
        list(CONTRACT_COLUMNS)
        + [c for c in OPTIONAL_COLUMNS if c in present]
        + [c for c in EVIDENCE_COLUMNS if c in present]
        + [c for c in EXTRA_COLUMNS if c in present]
        + [c for c in plan.allocation.columns if str(c).startswith(STEP_SPEND_PREFIX)]
    )


def allocation_csv(plan: Plan) -> str:
    """``allocation.csv`` as text: one row per channel, in the plan's channel order."""
    cols = allocation_columns(plan)
    cells = [format_column(plan.allocation[c].tolist(), column_kind(c)) for c in cols]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    w.writerows(zip(*cells, strict=True))
    return buf.getvalue()


def _rounded(obj: Any, kind: str = "money") -> Any:
    """Round every number of a JSON-like object; a key's registered unit sets its rounding."""
    if isinstance(obj, dict):
        return {str(k): _rounded(v, json_rounding(str(k), kind)) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v, kind) for v in obj]
    return round_value(obj, kind)


BREAK_EVEN = {"marginal_roas": "break_even_marginal_roas", "cpa": "break_even_cpa"}
"""The break-even points per channel in ``summary.json``, and the columns they come from."""


def break_even(plan: Plan) -> dict[str, dict[str, Any]]:
    """Per channel, where the next unit of spend earns zero net margin: its marginal ROAS
    (``(1 + fee) / k``) and its marginal CPA (``k x average order value / (1 + fee)``); null
    where unknown (no gross margin, no orders, or ``k <= 0``)."""
    a = plan.allocation
    cols = {key: col for key, col in BREAK_EVEN.items() if col in a.columns}
    return {
        str(rec["channel"]): {key: rec[col] for key, col in cols.items()}
        for rec in a[["channel", *cols.values()]].to_dict("records")
    } if cols else {}


def summary_dict(plan: Plan) -> dict[str, Any]:
    """The content of ``summary.json``: deterministic, so wall-clock times are left out.

    ``runtime`` holds the solver's work (breakpoints, iterations, whether it was a MILP) and
    names ``timings.json``, the file beside it that holds the seconds.
    """
    inputs: dict[str, Any] = dict(sorted(plan.hashes.items()))
    if plan.attribution_hash:
        inputs["attribution"] = plan.attribution_hash
    return {
        "scenario": plan.name,
        "objective": plan.objective,
        "budget": plan.budget,
        "budget_mode": plan.budget_mode,
        "current_total": plan.current_total,
        "period_weeks": plan.period_weeks,
        "baseline_weeks": plan.baseline_weeks,
        "step": plan.step,
        "channels": len(plan.channels),
        "net_margin_current": plan.net_margin_current,
        "net_margin_recommended": plan.net_margin_recommended,
        "net_margin_change": plan.net_margin_change,
        "best_budget": plan.best_budget,
        "net_margin_at_best_budget": plan.net_margin_at_best_budget,
        "best_budget_gap": plan.best_budget_gap,
        "break_even": break_even(plan),
        "risk": plan.risk,
        "risk_level": plan.risk_level,
        "draws": plan.draws,
        "support_threshold": plan.support_threshold,
        "uplift_p05": plan.uplift_p05,
        "uplift_p50": plan.uplift_p50,
        "uplift_p95": plan.uplift_p95,
        "held": list(plan.held),
        "revenue_current": plan.revenue_current,
        "revenue_recommended": plan.revenue_recommended,
        "objective_current": plan.objective_current,
        "objective_recommended": plan.objective_recommended,
        "upper_bound": plan.upper_bound,
        "optimality_gap": plan.optimality_gap,
        "shadow_price": plan.shadow_price,
        "solver": plan.solver,
        "status": plan.status,
        "tolerance": plan.tolerance,
        "runtime": {
            "n_breakpoints": plan.n_breakpoints,
            "milp": plan.milp,
            "iterations": plan.iterations,
            "wall_clock": "timings.json",
        },
        "inputs": inputs,
        "version": plan.version,
        "steps": [
            {
                "step": s.index,
                "budget": s.budget,
                "total_spend": s.total_spend,
                "net_margin": s.net_margin,
                "objective_value": s.objective_value,
                "upper_bound": s.upper_bound,
                "optimality_gap": s.optimality_gap,
                "status": s.status,
            }
            for s in plan.steps
        ],
        "constraints": [dict(c) for c in plan.constraints],
        **({"glide_path": dict(plan.glide)} if plan.glide else {}),
        **({"flighting": dict(plan.flighting)} if plan.flighting else {}),
        "notes": list(plan.notes),
    }


def allocation_weeks_csv(plan: Plan) -> str:
    """``allocation_weeks.csv`` as text: one row per week and channel (a plan with period)."""
    if plan.weeks is None:
        raise ValueError("the plan has no weeks (its scenario has no period)")
    cols = list(ALLOCATION_WEEKS)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for rec in plan.weeks[cols].to_dict("records"):
        w.writerow([format_cell(rec[c], ALLOCATION_WEEKS[c].rounding) for c in cols])
    return buf.getvalue()


def summary_json(plan: Plan) -> str:
    """``summary.json`` as text: sorted keys, rounded numbers, no wall-clock times."""
    return json.dumps(_rounded(summary_dict(plan)), indent=2, sort_keys=True, allow_nan=False) + "\n"
