"""A recovery file -> a certified plan with its tables (what the reports show)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from roiste.models.io import file_sha256
from roiste.optimizer.recovery.model import (
    RecoveryProblem,
    RecoverySolution,
    build_problem,
    solve_recovery,
)
from roiste.optimizer.recovery.schema import Recovery, load_recovery
from roiste.version import __version__

SHARE_EPS = 1e-9


@dataclass(frozen=True)
class RecoveryPlan:
    """The plan: one row per segment and reminder it gets (``plan``), every option with what it
    would earn (``options``), and the summary (``summary``: totals and the certificate)."""

    name: str
    plan: pd.DataFrame
    options: pd.DataFrame
    summary: dict[str, Any]
    solution: RecoverySolution


def _tables(rec: Recovery, p: RecoveryProblem, sol: RecoverySolution) -> tuple[pd.DataFrame, pd.DataFrame]:
    segs = rec.spec.segments
    reminders = {r.name: r for r in rec.spec.reminders}
    opt_rows: list[dict[str, Any]] = []
    plan_rows: list[dict[str, Any]] = []
    for j, name in enumerate(p.column_reminder):
        s = segs[int(p.column_segment[j])]
        r = reminders.get(name)
        base = {
            "segment": s.name, "customer_type": s.customer, "reminder": name,
            "incentive": 0.0 if r is None else r.incentive,
            "recovery_rate": float(p.rate[j]), "control_rate": float(p.control_rate[j]),
            "uplift": float(p.rate[j] - p.control_rate[j]),
            "value_per_cart": float(p.value[j]),
            "messages_per_customer": float(p.messages[j]),
        }
        share = float(sol.shares[j])
        opt_rows.append({**base, "share": share})
        if share > SHARE_EPS:
            carts = s.carts * share
            plan_rows.append({
                "segment": s.name, "customer_type": s.customer, "basket_value": s.basket_value,
                "margin": s.margin, "hours": s.hours, "carts": s.carts, "reminder": name,
                "share": share, "carts_assigned": carts,
                "recovery_rate": float(p.rate[j]), "control_rate": float(p.control_rate[j]),
                "orders_caused": carts * float(p.rate[j] - p.control_rate[j]),
                "incentive_spend": carts * float(p.spend[j]),
                "messages_per_customer": float(p.messages[j]),
                "net_margin": carts * float(p.value[j]),
            })
    return pd.DataFrame(plan_rows), pd.DataFrame(opt_rows)


def plan_recovery(rec: Recovery) -> RecoveryPlan:
    """Solve a validated recovery file and assemble its tables and summary."""
    p = build_problem(rec)
    sol = solve_recovery(p, rec.spec.solver)
    plan, options = _tables(rec, p, sol)
    inputs = {str(rec.source.name): file_sha256(rec.source)} if rec.source.is_file() else {}
    if rec.readout_path is not None:
        inputs[rec.readout_path.name] = file_sha256(rec.readout_path)
    summary: dict[str, Any] = {
        "name": rec.spec.name,
        "segments": len(p.segments),
        "carts": float(p.carts.sum()),
        "whole_segments": p.whole,
        "budget": p.budget,
        "max_messages_per_customer": p.cap,
        "incentive_spend": sol.incentive_spend,
        "orders_caused": float(plan["orders_caused"].sum()) if len(plan) else 0.0,
        "net_margin": sol.net_margin,
        "dual_bound": sol.dual_bound,
        "lp_bound": sol.lp_bound,
        "optimality_gap": sol.gap,
        "budget_dual": sol.budget_dual,
        "status": sol.status,
        "solver": sol.solver,
        "rates_from": sorted({r.source for r in rec.rates.values()}),
        "inputs": inputs,
        "version": __version__,
    }
    return RecoveryPlan(rec.spec.name, plan, options, summary, sol)


def plan_recovery_file(path: str | os.PathLike[str]) -> RecoveryPlan:
    """Read, validate and plan a recovery file (``roiste recovery plan``)."""
    return plan_recovery(load_recovery(Path(path)))


def incentive_segments(plan: RecoveryPlan) -> list[str]:
    """The segments that get a reminder with an incentive (any share)."""
    rows = plan.options[(plan.options["incentive"] > 0) & (plan.options["share"] > SHARE_EPS)]
    return sorted(set(rows["segment"]))


__all__ = ["RecoveryPlan", "incentive_segments", "plan_recovery", "plan_recovery_file"]

