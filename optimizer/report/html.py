"""``report.html``: one self-contained page (inline CSS, charts as embedded PNG).

The page is assembled from small section builders, each taking the plan and returning an
HTML fragment; every sentence comes from :mod:`optimizer.report.text`.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from roiste.optimizer.report import charts
from roiste.optimizer.report import text as T

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan

MAX_CHANNEL_CHARTS = 12
MAX_BRIDGE_BARS = 15


def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def fmt(v: Any, kind: str = "money") -> str:
    """Human formatting: money with thousands separators, ratios with 3 decimals."""
    if v is None or isinstance(v, str):
        return "" if v is None else esc(v)
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    f = float(v)
    if not math.isfinite(f):
        return "–"
    if kind == "money":
        return T.money(f)
    if kind == "cents":
        return f"{f:,.2f}"
    if kind == "count":
        return f"{f:,.1f}"
    if kind == "pct":
        return f"{f:+.1f}%"
    if kind == "share":
        return f"{f:.1%}"
    if kind == "gap":
        return f"{f:.2e}"
    return f"{f:,.3f}"


def table(
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Mapping[str, Any]],
    total: Mapping[str, Any] | None = None,
) -> str:
    """An HTML table; ``columns`` are ``(key, kind)`` pairs, labels from ``text.COLUMN_LABELS``."""
    head = "".join(f"<th>{esc(T.COLUMN_LABELS.get(k, k))}</th>" for k, _ in columns)
    body = []
    for row, cls in [*((r, "") for r in rows), *(((total, "total"),) if total else ())]:
        cells = []
        for k, kind in columns:
            v = row.get(k)
            if kind == "text":
                cells.append(f"<td>{esc('' if v is None else v)}</td>")
            else:
                extra = ""
                if kind == "pct" and v is not None and math.isfinite(float(v)) and float(v) != 0:
                    extra = " up" if float(v) > 0 else " down"
                cells.append(f'<td class="num{extra}">{fmt(v, kind)}</td>')
        body.append(f'<tr class="{cls}">' + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def kv_table(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column table of already formatted (label, value-html) pairs."""
    body = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


def image(uri: str, alt: str) -> str:
    return f'<img class="chart" alt="{esc(alt)}" src="{uri}">'


def _records(plan: Plan) -> list[dict[str, Any]]:
    df = plan.allocation.copy()
    df["change"] = df["recommended_spend"] - df["current_spend"]
    return cast(list[dict[str, Any]], df.to_dict("records"))


def _has(plan: Plan, col: str) -> bool:
    return col in plan.allocation.columns


# --------------------------------------------------------------------------------- sections


def section_header(plan: Plan) -> str:
    cur, rec = plan.net_margin_current, plan.net_margin_recommended
    kpis = [
        ("Budget for the period", fmt(plan.budget)),
        ("Current total", fmt(plan.current_total)),
        ("Net margin now", fmt(cur)),
        ("Net margin planned", fmt(rec)),
        ("Change", fmt(plan.net_margin_change)),
        ("Certified gap", fmt(plan.optimality_gap, "gap")),
    ]
    boxes = "".join(
        f'<div class="kpi"><div class="label">{esc(k)}</div><div class="value">{v}</div></div>'
        for k, v in kpis
    )
    return (
        f"<h1>{esc(T.TITLE.format(name=plan.name))}</h1>"
        f'<p class="lead">{esc(T.SUBTITLE.format(weeks=plan.period_weeks))}</p>'
        f'<p class="lead"><strong>{esc(plan.headline())}</strong></p>'
        f'<div class="kpis">{boxes}</div>'
    )


def _with_locks(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**r, "channel": T.LOCKED_CHANNEL.format(channel=r["channel"]) if r.get("locked") else r["channel"]}
        for r in records
    ]


def section_recommendation(plan: Plan) -> str:
    cols = [
        ("channel", "text"),
        ("current_spend", "money"),
        ("recommended_spend", "money"),
        ("change", "money"),
        ("change_pct", "pct"),
        ("lower_bound", "money"),
        ("upper_bound", "money"),
        ("expected_revenue", "money"),
        ("expected_net_margin", "money"),
        ("roas", "ratio"),
        ("marginal_roas", "ratio"),
    ]
    a = plan.allocation
    cur, rec = float(a["current_spend"].sum()), float(a["recommended_spend"].sum())
    total = {
        "channel": T.COMPARE_TOTAL,
        "current_spend": cur,
        "recommended_spend": rec,
        "change": rec - cur,
        "change_pct": 100.0 * (rec - cur) / cur if cur > 0 else None,
        "lower_bound": float(a["lower_bound"].sum()),
        "upper_bound": float(a["upper_bound"].sum()),
        "expected_revenue": float(a["expected_revenue"].sum()),
        "expected_net_margin": float(a["expected_net_margin"].sum()),
        "roas": float(a["expected_revenue"].sum()) / rec if rec > 0 else None,
    }
    intro = T.RECOMMENDATION_INTRO.format(
        baseline=plan.baseline_weeks, weeks=plan.period_weeks, step=plan.step
    )
    return (
        f"<h2>{esc(T.SECTION_RECOMMENDATION)}</h2><p>{esc(intro)}</p>"
        + table(cols, _with_locks(_records(plan)), total)
    )


def _chart_channels(plan: Plan) -> list[str]:
    order = plan.allocation.sort_values("recommended_spend", ascending=False, kind="stable")
    return [str(c) for c in order["channel"].head(MAX_CHANNEL_CHARTS)]


def _channel_grid(plan: Plan, draw: Callable[..., None], alt: str) -> str:
    chans = _chart_channels(plan)
    rows = plan.allocation.set_index("channel")
    with charts.style():
        fig, axes = charts.grid(len(chans))
        for i, (ax, c) in enumerate(zip(axes, chans, strict=True)):
            r = rows.loc[c]
            draw(ax, plan, c, r, legend=i == 0)
        uri = charts.png_data_uri(fig)
    note = ""
    if len(chans) < len(plan.channels):
        note = f'<p class="note">{esc(T.CURVES_TRUNCATED.format(shown=len(chans), total=len(plan.channels)))}</p>'
    return image(uri, alt) + note


def _draw_response(ax: Any, plan: Plan, c: str, r: Any, legend: bool) -> None:
    charts.response_curve(
        ax,
        plan.curves[c],
        plan.period_weeks,
        current=float(r["current_spend"]),
        recommended=float(r["recommended_spend"]),
        bounds=(float(r["lower_bound"]), float(r["upper_bound"])),
        legend=legend,
    )


def _draw_marginal(ax: Any, plan: Plan, c: str, r: Any, legend: bool) -> None:
    charts.marginal_roas_curve(
        ax,
        plan.curves[c],
        plan.period_weeks,
        current=float(r["current_spend"]),
        recommended=float(r["recommended_spend"]),
        legend=legend,
    )


def section_curves(plan: Plan) -> str:
    return (
        f"<h2>{esc(T.SECTION_CURVES)}</h2><p>{esc(T.CURVES_INTRO)}</p>"
        + _channel_grid(plan, _draw_response, "response curves per channel")
        + table([("channel", "text"), ("saturation_spend", "money")], _records(plan))
    )


def section_marginal(plan: Plan) -> str:
    cols = [
        ("channel", "text"),
        ("marginal_roas_current", "ratio"),
        ("marginal_roas", "ratio"),
        ("marginal_net_margin_current", "ratio"),
        ("marginal_net_margin_recommended", "ratio"),
    ]
    cols += [(k, "ratio") for k in ("rpv_current", "rpv", "marginal_rpv_current", "marginal_rpv")]
    cols = [(k, kind) for k, kind in cols if k == "channel" or _has(plan, k)]
    return (
        f"<h2>{esc(T.SECTION_MARGINAL)}</h2><p>{esc(T.MARGINAL_INTRO)}</p>"
        + table(cols, _records(plan))
        + f'<p class="note">{esc(T.MARGINAL_CHART_NOTE)}</p>'
        + _channel_grid(plan, _draw_marginal, "marginal ROAS per channel")
    )


def section_customers(plan: Plan) -> str:
    keys = [
        ("new_customers_current", "count"),
        ("new_customers", "count"),
        ("cac_net_current", "money"),
        ("cac_net", "money"),
        ("cost_per_new_customer_current", "money"),
        ("cost_per_new_customer", "money"),
        ("rpv_current", "ratio"),
        ("rpv", "ratio"),
    ]
    cols = [(k, kind) for k, kind in keys if _has(plan, k)]
    head = f"<h2>{esc(T.SECTION_CUSTOMERS)}</h2>"
    if not cols:
        return head + f"<p>{esc(T.CUSTOMERS_MISSING)}</p>"
    return head + f"<p>{esc(T.CUSTOMERS_INTRO)}</p>" + table([("channel", "text"), *cols], _records(plan))


def bridge_bars(channels: list[str], deltas: np.ndarray) -> tuple[list[str], list[float]]:
    """The bridge's bars: every channel, or the largest moves and one bar for the others."""
    if len(channels) <= MAX_BRIDGE_BARS:
        return channels, [float(d) for d in deltas]
    keep = sorted(np.argsort(-np.abs(deltas), kind="stable")[: MAX_BRIDGE_BARS - 1])
    rest = np.setdiff1d(np.arange(len(channels)), keep)
    labels = [channels[i] for i in keep] + [T.BRIDGE_OTHERS.format(n=len(rest))]
    return labels, [float(deltas[i]) for i in keep] + [float(deltas[rest].sum())]


def section_bridge(plan: Plan) -> str:
    if plan.net_margin_current is None:
        return ""
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
    extra = f'<p class="note">{esc(T.BRIDGE_OBJECTIVE_REVENUE)}</p>' if plan.objective != "net_margin" else ""
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
    cols = [("channel", "text"), ("net_margin_current", "money"), ("expected_net_margin", "money"), ("change", "money")]
    return (
        f"<h2>{esc(T.SECTION_BRIDGE)}</h2><p>{esc(T.BRIDGE_INTRO)}</p>{extra}"
        + image(uri, "margin bridge")
        + table(cols, rows, total)
    )


def section_glide(plan: Plan) -> str:
    if len(plan.steps) <= 1:
        return ""
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
    body = ""
    if all(m is not None for m in margins):
        with charts.style():
            fig = charts.new_figure(7.0, 3.6)
            ax = fig.add_subplot(1, 1, 1)
            charts.glide_path(ax, [float(m) for m in margins if m is not None], budgets)
            fig.subplots_adjust(left=0.14, right=0.86, bottom=0.15)
            body = image(charts.png_data_uri(fig), "glide path")
    cols = [
        ("step", "text"),
        ("budget", "money"),
        ("spend", "money"),
        ("margin", "money"),
        ("gap", "gap"),
        ("status", "text"),
    ]
    spend = plan.step_table().reset_index()
    spend_cols = [("step", "text"), *((c, "money") for c in plan.channels)]
    return (
        f"<h2>{esc(T.SECTION_GLIDE)}</h2><p>{esc(T.GLIDE_INTRO.format(n=len(plan.steps)))}</p>"
        + body
        + table(cols, rows)
        + table(spend_cols, cast(list[dict[str, Any]], spend.to_dict("records")))
    )


def section_notes(plan: Plan) -> str:
    if not plan.notes:
        return ""
    items = "".join(f"<li>{esc(n)}</li>" for n in plan.notes)
    return f"<h2>{esc(T.SECTION_NOTES)}</h2><ul>{items}</ul>"


def _econ_value(k: str, v: float | None) -> str:
    if v is None:
        return "–"
    return fmt(v, "cents" if k in ("cost_per_order", "new_customer_value") else "ratio")


def section_assumptions(plan: Plan) -> str:
    settings = {
        "objective": esc(plan.objective),
        "period_weeks": str(plan.period_weeks),
        "baseline_weeks": str(plan.baseline_weeks),
        "budget": fmt(plan.budget),
        "current_total": fmt(plan.current_total),
        "budget_mode": esc(T.BUDGET_MODES.get(plan.budget_mode, plan.budget_mode)),
        "step": f"{plan.step:.0%}",
        "steps": str(len(plan.steps)),
        "tolerance": fmt(plan.tolerance, "gap"),
        "solver": esc(plan.solver),
    }
    keys = list(T.ECONOMICS_LABELS)
    base = kv_table([(T.ECONOMICS_LABELS[k], _econ_value(k, plan.base_economics.get(k))) for k in keys])
    head = "<th>Channel</th>" + "".join(f"<th>{esc(T.ECONOMICS_LABELS[k])}</th>" for k in keys)
    body = "".join(
        f"<tr><td>{esc(c)}</td>"
        + "".join(f'<td class="num">{_econ_value(k, plan.economics[c].get(k))}</td>' for k in keys)
        + "</tr>"
        for c in plan.channels
    )
    if plan.constraints:
        cons = "<ul>" + "".join(
            f"<li><strong>{esc(c.get('name', ''))}</strong>: {esc(c.get('rule', ''))}</li>"
            for c in plan.constraints
        ) + "</ul>"
    else:
        cons = f"<p>{esc(T.NO_CONSTRAINTS)}</p>"
    return (
        f"<h2>{esc(T.SECTION_ASSUMPTIONS)}</h2><p>{esc(T.ASSUMPTIONS_INTRO)}</p>"
        + base
        + f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + f"<h3>{esc(T.SETTINGS_TITLE)}</h3>"
        + kv_table([(T.SETTING_LABELS[k], v) for k, v in settings.items()])
        + f"<h3>{esc(T.CONSTRAINTS_TITLE)}</h3>"
        + cons
    )


def section_proof(plan: Plan, timings: Mapping[str, float]) -> str:
    runtime = float(timings.get("build_seconds", 0.0)) + float(timings.get("solve_seconds", 0.0))
    rows: list[tuple[str, str]] = [
        (T.PROOF_LABELS["status"], esc(plan.status)),
        (T.PROOF_LABELS["solver"], esc(plan.solver)),
        (T.PROOF_LABELS["objective_value"], fmt(plan.objective_recommended)),
        (T.PROOF_LABELS["upper_bound"], fmt(plan.upper_bound)),
        (T.PROOF_LABELS["optimality_gap"], fmt(plan.optimality_gap, "gap")),
        (T.PROOF_LABELS["shadow_price"], fmt(plan.shadow_price, "ratio")),
        (T.PROOF_LABELS["n_breakpoints"], str(plan.n_breakpoints)),
        (T.PROOF_LABELS["milp"], fmt(plan.milp)),
        (T.PROOF_LABELS["runtime"], f"{runtime:.3f}"),
    ]
    for k in ("data", "scenario", "curves"):
        if k in plan.hashes:
            rows.append((T.PROOF_LABELS[k], f"<code>{esc(plan.hashes[k])}</code>"))
    if plan.attribution_hash:
        rows.append((T.PROOF_LABELS["attribution"], f"<code>{esc(plan.attribution_hash)}</code>"))
    fit = {k: v for k, v in plan.curves.diagnostics.items() if isinstance(v, int | float)}
    if fit:
        shown = ", ".join(f"{k} {float(v):.3g}" for k, v in sorted(fit.items()))
        rows.append((T.PROOF_LABELS["fit"], esc(shown)))
    rows.append((T.PROOF_LABELS["version"], esc(plan.version)))
    extra = "".join(
        f"<tr><td>{esc(k)}</td><td class=\"num\">{v:.3f}</td></tr>" for k, v in sorted(timings.items())
    )
    return (
        f"<h2>{esc(T.SECTION_PROOF)}</h2><p>{esc(T.PROOF_INTRO)}</p>"
        + kv_table(rows)
        + f"<table><thead><tr><th>timing</th><th>seconds</th></tr></thead><tbody>{extra}</tbody></table>"
    )


def render_html(
    plan: Plan, timings: Mapping[str, float] | None = None, *, timestamp: str | None = None
) -> str:
    """The whole report page as one string (no external resources)."""
    timings = dict(plan.timings if timings is None else timings)
    ts = timestamp or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    css = resources.files("roiste.optimizer.report").joinpath("style.css").read_text(encoding="utf-8")
    parts = [
        section_header(plan),
        section_recommendation(plan),
        section_curves(plan),
        section_marginal(plan),
        section_customers(plan),
        section_bridge(plan),
        section_glide(plan),
        section_notes(plan),
        section_assumptions(plan),
        section_proof(plan, timings),
        f"<footer>{esc(T.FOOTER.format(version=plan.version, timestamp=ts))}</footer>",
    ]
    title = esc(T.TITLE.format(name=plan.name))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{css}</style></head><body>"
        + "\n".join(p for p in parts if p)
        + "</body></html>\n"
    )
