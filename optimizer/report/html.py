"""``report.html``: one self-contained page (inline CSS, charts as embedded PNG).

The page is ``templates/report.html.j2``; each of its sections gets its context from a small
builder here (``section_*``, taking the plan).  Every sentence comes from
:mod:`~roiste.optimizer.report.text`, every column from
:mod:`~roiste.optimizer.report.columns`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from roiste.optimizer.report import charts
from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import (
    ALLOCATION,
    CONSTRAINTS,
    ECONOMICS,
    STEPS,
    TEXT,
    Column,
    money_columns,
    pick,
)
from roiste.optimizer.report.experiments import section_experiments
from roiste.optimizer.report.flighting import section_flighting
from roiste.optimizer.report.pages import Cell, fmt, image, kv, render, stylesheet, table

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan

MAX_CHANNEL_CHARTS = 12
MAX_BRIDGE_BARS = 15
Context = dict[str, Any]


def _records(plan: Plan) -> list[dict[str, Any]]:
    df = plan.allocation.copy()
    df["change"] = df["recommended_spend"] - df["current_spend"]
    return cast(list[dict[str, Any]], df.to_dict("records"))


def _present(plan: Plan, names: tuple[str, ...]) -> list[Column]:
    """The allocation columns ``names`` that the plan has (``channel`` always)."""
    return pick(ALLOCATION, [n for n in names if n == "channel" or n in plan.allocation.columns])


# --------------------------------------------------------------------------------- sections


def section_header(plan: Plan) -> Context:
    """Title, lead, the headline and the key figures in boxes."""
    values = {
        "budget": fmt(plan.budget),
        "current_total": fmt(plan.current_total),
        "net_margin_current": fmt(plan.net_margin_current),
        "net_margin_recommended": fmt(plan.net_margin_recommended),
        "net_margin_change": fmt(plan.net_margin_change),
        "optimality_gap": fmt(plan.optimality_gap, "gap"),
    }
    if plan.best_budget is not None:
        values["best_budget"] = fmt(plan.best_budget)
    return {
        "title": T.TITLE.format(name=plan.name),
        "subtitle": T.SUBTITLE.format(weeks=plan.period_weeks),
        "headline": T.headline(plan),
        "signals": T.budget_lines(plan),
        "kpis": [{"label": T.KPI_BOXES[k], "value": v} for k, v in values.items()],
    }


def _with_locks(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**r, "channel": T.LOCKED_CHANNEL.format(channel=r["channel"]) if r.get("locked") else r["channel"]}
        for r in records
    ]


def section_recommendation(plan: Plan) -> Context:
    """Spend per channel now and recommended, with bounds and effects, and a total row."""
    cols = pick(ALLOCATION, (
        "channel", "current_spend", "recommended_spend", "change", "change_pct", "lower_bound",
        "upper_bound", "expected_revenue", "expected_net_margin", "roas", "marginal_roas",
    ))
    a = plan.allocation
    total: dict[str, Any] = {c.name: float(a[c.name].sum()) for c in cols if c.summable}
    cur, rec = total["current_spend"], total["recommended_spend"]
    total |= {
        "channel": T.COMPARE_TOTAL,
        "change": rec - cur,
        "change_pct": 100.0 * (rec - cur) / cur if cur > 0 else None,
        "roas": total["expected_revenue"] / rec if rec > 0 else None,
    }
    intro = T.RECOMMENDATION_INTRO.format(
        baseline=plan.baseline_weeks, weeks=plan.period_weeks, step=plan.step
    )
    return {
        "title": T.SECTION_RECOMMENDATION,
        "intro": intro,
        "table": table(cols, _with_locks(_records(plan)), total),
    }


def _chart_channels(plan: Plan) -> list[str]:
    order = plan.allocation.sort_values("recommended_spend", ascending=False, kind="stable")
    return [str(c) for c in order["channel"].head(MAX_CHANNEL_CHARTS)]


def _channel_grid(plan: Plan, alt: str, *, marginal: bool) -> Context:
    """One chart per channel (the largest ones) in a grid, and a note when some are left out:
    the response curves with the allowed range, or (``marginal``) the marginal ROAS."""
    chans = _chart_channels(plan)
    rows = plan.allocation.set_index("channel")
    with charts.style():
        fig, axes = charts.grid(len(chans))
        for i, (ax, c) in enumerate(zip(axes, chans, strict=True)):
            _draw_channel(ax, plan, c, rows.loc[c], legend=i == 0, marginal=marginal)
        uri = charts.png_data_uri(fig)
    note = None
    if len(chans) < len(plan.channels):
        note = T.CURVES_TRUNCATED.format(shown=len(chans), total=len(plan.channels))
    return {"image": image(uri, alt), "note": note}


def _draw_channel(ax: Any, plan: Plan, c: str, r: Any, legend: bool, marginal: bool) -> None:
    current, recommended = float(r["current_spend"]), float(r["recommended_spend"])
    if marginal:
        charts.marginal_roas_curve(ax, plan.curves[c], plan.period_weeks, current=current,
                                   recommended=recommended, legend=legend)
    else:
        charts.response_curve(ax, plan.curves[c], plan.period_weeks, current=current,
                              recommended=recommended,
                              bounds=(float(r["lower_bound"]), float(r["upper_bound"])),
                              legend=legend)


def section_curves(plan: Plan) -> Context:
    """Response curves per channel with the allowed range, and the saturation points."""
    return {
        "title": T.SECTION_CURVES,
        "intro": T.CURVES_INTRO,
        "grid": _channel_grid(plan, T.CHART_ALT_RESPONSE, marginal=False),
        "table": table(pick(ALLOCATION, ("channel", "saturation_spend")), _records(plan)),
    }


def section_marginal(plan: Plan) -> Context:
    """Marginal returns before and after, as a table and per channel as charts."""
    cols = _present(plan, (
        "channel", "marginal_roas_current", "marginal_roas", "marginal_net_margin_current",
        "marginal_net_margin_recommended", "rpv_current", "rpv", "marginal_rpv_current",
        "marginal_rpv",
    ))
    return {
        "title": T.SECTION_MARGINAL,
        "intro": T.MARGINAL_INTRO,
        "table": table(cols, _records(plan)),
        "note": T.MARGINAL_CHART_NOTE,
        "grid": _channel_grid(plan, T.CHART_ALT_MARGINAL, marginal=True),
    }


def section_customers(plan: Plan) -> Context:
    """Visitors and new customers per channel, where the panel has them."""
    cols = _present(plan, (
        "new_customers_current", "new_customers", "cac_net_current", "cac_net",
        "cost_per_new_customer_current", "cost_per_new_customer", "rpv_current", "rpv",
    ))
    if not cols:
        return {"title": T.SECTION_CUSTOMERS, "intro": T.CUSTOMERS_MISSING, "table": None}
    return {
        "title": T.SECTION_CUSTOMERS,
        "intro": T.CUSTOMERS_INTRO,
        "table": table([ALLOCATION["channel"], *cols], _records(plan)),
    }


DECISION_COLUMNS = (
    "cac_net_current", "cac_net", "marginal_cpa_current", "marginal_cpa", "break_even_cpa",
    "marginal_cost_per_new_customer_current", "marginal_cost_per_new_customer",
    "mrpv_over_mcpa_current", "mrpv_over_mcpa", "break_even_mrpv_over_mcpa_current",
    "break_even_mrpv_over_mcpa", "marginal_roas", "break_even_marginal_roas",
)
"""The columns of the decision-rules table and sheet (those the plan has)."""


def section_evidence(plan: Plan) -> Context:
    """Each move's support in the curve draws, and the plan's uplift over the draws."""
    if not plan.draws:
        return {"title": T.SECTION_EVIDENCE, "intro": T.EVIDENCE_NO_DRAWS, "uplift": None,
                "table": None}
    cols = pick(ALLOCATION, ("channel", "current_spend", "recommended_spend", "change_pct",
                             "move_support", "supported"))
    intro = T.EVIDENCE_INTRO.format(
        draws=plan.draws, risk=plan.risk if plan.risk_level is None
        else f"{plan.risk} {plan.risk_level:.0%}",
        threshold=plan.support_threshold,
        held_rule=T.EVIDENCE_HELD_RULE if plan.risk != "point" else T.EVIDENCE_NO_HOLD,
    )
    uplift = None
    if plan.uplift_p50 is not None:
        uplift = T.EVIDENCE_UPLIFT.format(p05=fmt(plan.uplift_p05), p50=fmt(plan.uplift_p50),
                                          p95=fmt(plan.uplift_p95))
    rows = [{**r, "supported": T.SUPPORTED_WORDS[r["supported"]],
             "channel": T.HELD_CHANNEL.format(channel=r["channel"])
             if r["channel"] in plan.held else r["channel"]}
            for r in _with_locks(_records(plan))]
    return {"title": T.SECTION_EVIDENCE, "intro": intro, "uplift": uplift,
            "table": table(cols, rows)}


def section_decision(plan: Plan) -> Context | None:
    """Net CAC, marginal CPA, marginal RPV / marginal CPA and their break-even points."""
    cols = _present(plan, DECISION_COLUMNS)
    if not any(c.name != "marginal_roas" and c.name != "break_even_marginal_roas" for c in cols):
        return None
    return {
        "title": T.SECTION_DECISION,
        "intro": T.DECISION_INTRO,
        "table": table([ALLOCATION["channel"], *cols], _records(plan)),
    }


def bridge_bars(channels: list[str], deltas: np.ndarray) -> tuple[list[str], list[float]]:
    """The bridge's bars: every channel, or the largest moves and one bar for the others."""
    if len(channels) <= MAX_BRIDGE_BARS:
        return channels, [float(d) for d in deltas]
    keep = sorted(np.argsort(-np.abs(deltas), kind="stable")[: MAX_BRIDGE_BARS - 1])
    rest = np.setdiff1d(np.arange(len(channels)), keep)
    labels = [channels[i] for i in keep] + [T.BRIDGE_OTHERS.format(n=len(rest))]
    return labels, [float(deltas[i]) for i in keep] + [float(deltas[rest].sum())]


def section_bridge(plan: Plan) -> Context | None:
    """The margin bridge from now to the plan (None without a net margin)."""
    if plan.net_margin_current is None:
        return None
    a = plan.allocation
    labels, deltas = bridge_bars(
        [str(c) for c in a["channel"]],
        (a["expected_net_margin"] - a["net_margin_current"]).to_numpy(dtype=float),
    )
    with charts.style():
        fig = charts.new_figure(max(6.0, 0.8 * len(deltas) + 3.0), 4.0)
        ax = fig.add_subplot(1, 1, 1)
        charts.margin_bridge(ax, labels, deltas, plan.net_margin_current)
        fig.subplots_adjust(bottom=0.28, left=0.12)
        uri = charts.png_data_uri(fig)
    rows = [
        {"channel": c, "net_margin_current": m0, "expected_net_margin": m1, "change": m1 - m0}
        for c, m0, m1 in zip(a["channel"], a["net_margin_current"], a["expected_net_margin"], strict=True)
    ]
    total = {
        "channel": T.COMPARE_TOTAL,
        "net_margin_current": plan.net_margin_current,
        "expected_net_margin": plan.net_margin_recommended,
        "change": plan.net_margin_change,
    }
    cols = pick(ALLOCATION, ("channel", "net_margin_current", "expected_net_margin", "change"))
    return {
        "title": T.SECTION_BRIDGE,
        "intro": T.BRIDGE_INTRO,
        "note": T.BRIDGE_OBJECTIVE_REVENUE if plan.objective != "net_margin" else None,
        "image": image(uri, T.CHART_ALT_BRIDGE),
        "table": table(cols, rows, total),
    }


def section_glide(plan: Plan) -> Context | None:
    """The glide path of a plan in several steps (None for one step)."""
    if len(plan.steps) <= 1:
        return None
    margins = [plan.net_margin_current, *(s.net_margin for s in plan.steps)]
    budgets = [plan.current_total, *(s.budget for s in plan.steps)]
    rows = [
        {
            "step": s.index,
            "budget": s.budget,
            "spend": s.total_spend,
            "margin": s.net_margin,
            "gap": s.optimality_gap,
            "status": s.status,
        }
        for s in plan.steps
    ]
    chart = None
    if all(m is not None for m in margins):
        with charts.style():
            fig = charts.new_figure(7.0, 3.6)
            ax = fig.add_subplot(1, 1, 1)
            charts.glide_path(ax, [float(m) for m in margins if m is not None], budgets)
            fig.subplots_adjust(left=0.14, right=0.86, bottom=0.15)
            chart = image(charts.png_data_uri(fig), T.CHART_ALT_GLIDE)
    spend = cast(list[dict[str, Any]], plan.step_table().reset_index().to_dict("records"))
    together = None
    if plan.glide:
        g = plan.glide
        moves = ", ".join(f"{c} {T.GLIDE_MOVES.get(d, d)}" for c, d in g["directions"].items())
        words = T.GLIDE_TOGETHER_CVAR if g.get("risk") == "cvar" else T.GLIDE_TOGETHER
        together = words.format(
            moves=moves, objective=T.OBJECTIVE_WORDS.get(plan.objective, plan.objective),
            value=fmt(g["value"]), upper=fmt(g["upper_bound"]),
            gap=fmt(g["optimality_gap"], "gap"), level=f"{g.get('risk_level', 0.0):.0%}")
    return {
        "title": T.SECTION_GLIDE,
        "intro": T.GLIDE_INTRO.format(n=len(plan.steps)),
        "together": together,
        "image": chart,
        "steps": table(list(STEPS.values()), rows),
        "spend": table([STEPS["step"], *money_columns(plan.channels)], spend),
    }


def constraint_rows(plan: Plan) -> list[dict[str, Any]]:
    """One row per constraint for the report and the workbook: a share's figure and limit as
    percentages (text), the others as numbers; whether it binds in words."""
    rows = []
    for c in plan.constraints:
        row = {k: c.get(k) for k in CONSTRAINTS}
        if c.get("kind") == "share":
            for k in ("achieved", "limit"):
                v = c.get(k)
                row[k] = None if v is None else f"{100.0 * float(v):.1f} %"
        if "binding" in c:
            row["binding"] = T.BINDING[bool(c["binding"])]
        rows.append(row)
    return rows


def section_targets(plan: Plan) -> Context | None:
    """Each constraint's figure, limit, whether it binds and its certified cost (None when the
    scenario has none)."""
    if not plan.constraints or "achieved" not in plan.constraints[0]:
        return None
    words = T.OBJECTIVE_WORDS.get(plan.objective, plan.objective)
    words = T.RISK_OBJECTIVE_WORDS.get(plan.risk, "{objective}").format(objective=words)
    intro = T.TARGETS_INTRO.format(objective=words)
    if len(plan.steps) > 1:
        intro += " " + T.TARGETS_PATH
    cols = list(CONSTRAINTS.values())
    return {"title": T.SECTION_TARGETS, "intro": intro, "table": table(cols, constraint_rows(plan))}


def section_notes(plan: Plan) -> Context | None:
    """The plan's notes (None when it has none)."""
    if not plan.notes:
        return None
    return {"title": T.SECTION_NOTES, "lines": list(plan.notes)}


def _dash(v: float | None) -> float:
    """A missing economics value, shown as a dash."""
    return math.nan if v is None else v


def section_assumptions(plan: Plan) -> Context:
    """Economics per channel, planning settings and extra constraints."""
    settings = {
        "objective": plan.objective,
        "period_weeks": str(plan.period_weeks),
        "baseline_weeks": str(plan.baseline_weeks),
        "budget": fmt(plan.budget),
        "current_total": fmt(plan.current_total),
        "budget_mode": T.BUDGET_MODES.get(plan.budget_mode, plan.budget_mode),
        "step": f"{plan.step:.0%}",
        "steps": str(len(plan.steps)),
        "tolerance": fmt(plan.tolerance, "gap"),
        "solver": plan.solver,
    }
    econ = list(ECONOMICS.values())
    channels = [
        {"channel": c, **{k.name: _dash(plan.economics[c].get(k.name)) for k in econ}}
        for c in plan.channels
    ]
    head = Column("channel", T.ECONOMICS_CHANNEL, TEXT, "text")
    return {
        "title": T.SECTION_ASSUMPTIONS,
        "intro": T.ASSUMPTIONS_INTRO,
        "base": [kv(k.label, fmt(_dash(plan.base_economics.get(k.name)), k.fmt)) for k in econ],
        "channels": table([head, *econ], channels),
        "settings_title": T.SETTINGS_TITLE,
        "settings": [kv(T.SETTING_LABELS[k], v) for k, v in settings.items()],
        "constraints_title": T.CONSTRAINTS_TITLE,
        "constraints": [{"name": c.get("name", ""), "rule": c.get("rule", "")} for c in plan.constraints],
        "no_constraints": T.NO_CONSTRAINTS,
    }


def section_proof(plan: Plan, timings: Mapping[str, float]) -> Context:
    """Optimality certificate, provenance hashes and timings."""
    runtime = float(timings.get("build_seconds", 0.0)) + float(timings.get("solve_seconds", 0.0))
    L = T.PROOF_LABELS
    rows = [
        kv(L["status"], plan.status),
        kv(L["solver"], plan.solver),
        kv(L["risk"], T.RISK_OBJECTIVES[plan.risk].format(
            level=plan.risk_level if plan.risk_level is not None else 0.0)),
        kv(L["objective_value"], fmt(plan.objective_recommended)),
        kv(L["upper_bound"], fmt(plan.upper_bound)),
        kv(L["optimality_gap"], fmt(plan.optimality_gap, "gap")),
        kv(L["shadow_price"], fmt(plan.shadow_price, "ratio")),
        kv(L["n_breakpoints"], str(plan.n_breakpoints)),
        kv(L["milp"], fmt(plan.milp)),
    ]
    if timings:  # none on the page a plan writes: they change from run to run (timings.json)
        rows.append(kv(L["runtime"], f"{runtime:.3f}"))
    rows += [kv(L[k], plan.hashes[k], code=True) for k in ("data", "scenario", "curves") if k in plan.hashes]
    if plan.attribution_hash:
        rows.append(kv(L["attribution"], plan.attribution_hash, code=True))
    fit = {k: v for k, v in plan.curves.diagnostics.items() if isinstance(v, int | float)}
    if fit:
        rows.append(kv(L["fit"], ", ".join(f"{k} {float(v):.3g}" for k, v in sorted(fit.items()))))
    rows.append(kv(L["version"], plan.version))
    timing_rows = [{"cls": "", "cells": [Cell(k), Cell(f"{v:.3f}", "num")]} for k, v in sorted(timings.items())]
    return {
        "title": T.SECTION_PROOF,
        "intro": T.PROOF_INTRO,
        "rows": rows,
        "timings": {"head": list(T.TIMINGS_HEAD), "rows": timing_rows} if timing_rows else None,
    }


def render_html(
    plan: Plan, timings: Mapping[str, float] | None = None, *, timestamp: str | None = None
) -> str:
    """The whole report page as one string (no external resources).

    With ``timings`` empty and no ``timestamp`` the page holds no clock time at all: the same
    plan gives the same bytes (what ``write_plan`` writes; the timings go to timings.json).
    """
    timings = dict(plan.timings if timings is None else timings)
    if timestamp is None and not timings:
        footer = T.FOOTER_STABLE.format(version=plan.version)
    else:
        ts = timestamp or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        footer = T.FOOTER.format(version=plan.version, timestamp=ts)
    return render(
        "report.html.j2",
        title=T.TITLE.format(name=plan.name),
        css=stylesheet("style.css"),
        header=section_header(plan),
        recommendation=section_recommendation(plan),
        curves=section_curves(plan),
        marginal=section_marginal(plan),
        customers=section_customers(plan),
        decision=section_decision(plan),
        evidence=section_evidence(plan),
        experiments=section_experiments(plan),
        bridge=section_bridge(plan),
        glide=section_glide(plan),
        flighting=section_flighting(plan),
        targets=section_targets(plan),
        notes_section=section_notes(plan),
        assumptions=section_assumptions(plan),
        proof=section_proof(plan, timings),
        footer=footer,
    )
