"""Figures of the exploration API, drawn with the report's chart functions.

Each ``plot_*`` function returns a matplotlib ``Figure`` on the Agg canvas (never through
pyplot, so any backend works).  Imported inside IPython, the module registers a PNG display
for figures, so a notebook cell ending in a ``plot_*`` call shows the image whatever the
matplotlib backend.  Curves, markers and the
glide path come from :mod:`optimizer.report.charts`, the functions report.html uses; what the
report does not draw (bootstrap band of the marginal ROAS, margin break-even, saturation
overview, marginal RPV, moving spend between two channels, families, plan comparison) is
drawn here with the same style and colours.  Axis labels carry units: spend and money per
planning period in the data's currency.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from roiste.models.curves import CurveSet
from roiste.models.errors import CurveError
from roiste.optimizer.analysis.curves import (
    Economics,
    curve_frame,
    glide_path_table,
    margin_breakeven,
    margin_transfer,
    marginal_band,
    saturation_table,
    view,
)
from roiste.optimizer.analysis.families import FamilyComparison
from roiste.optimizer.analysis.whatif import plan_table
from roiste.optimizer.plan import Plan
from roiste.optimizer.report import charts

PALETTE = ("#1d4ed8", "#b45309", "#15803d", "#9333ea", "#be123c", "#0e7490", "#4d7c0f", "#6b7280")
BREAKEVEN_COLOR = "#b91c1c"


def spend_label(period_weeks: int, short: bool = False) -> str:
    """``Spend per 4 weeks (data currency)``: spend is always per planning period."""
    return f"Spend per {period_weeks} weeks ({'currency' if short else 'data currency'})"


def money_label(what: str, period_weeks: int, short: bool = False) -> str:
    return f"{what} per {period_weeks} weeks ({'currency' if short else 'data currency'})"


ROAS_LABEL = "Marginal ROAS (extra revenue per extra unit of spend)"
ROAS_LABEL_SHORT = "Marginal ROAS (revenue / spend)"


def figure_with_axes(width: float, height: float, ncols: int = 1) -> tuple[Figure, list[Axes]]:
    """A figure of the report's style with `ncols` axes side by side."""
    fig = charts.new_figure(width, height)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _register_ipython_display() -> None:
    """Show ``Figure`` results as PNG in IPython, as the inline backend would, without pyplot."""
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython  # only inside a notebook; not a dependency

    ip = get_ipython()
    formatters = getattr(getattr(ip, "display_formatter", None), "formatters", None)
    if not formatters or "image/png" not in formatters:
        return
    png = formatters["image/png"]
    if not _registered(png):  # keep the inline backend's own display when it is active
        png.for_type(Figure, charts.png_bytes)


def _registered(formatter: Any) -> bool:
    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        return False
    return True


def _legend(ax: Axes, loc: Any = "best") -> None:
    ax.legend(loc=loc, frameon=False)


def _figure_legend(fig: Figure, axes: Sequence[Axes], skip: set[str]) -> None:
    """One legend under a grid: every label drawn in any panel, once (channel names left out,
    the panel titles say them; the net-margin break-even label without its panel's value)."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            lab = lab.split(" (ROAS")[0]
            if lab not in skip and lab not in seen:
                seen[lab] = h
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="lower center", ncol=min(len(seen), 6),
                   frameon=False)


# --------------------------------------------------------------------------- one channel


def _draw_response(ax: Axes, v: Any, channel: str, level: float, share: float,
                   legend: bool, short: bool = False) -> None:
    charts.response_curve(
        ax, v.curve(channel), v.period_weeks, current=v.current[channel],
        recommended=None if v.recommended is None else v.recommended[channel],
        bounds=None if v.bounds is None else v.bounds[channel],
        saturation_share=share, band_level=level, legend=legend,
    )
    ax.set_xlabel(spend_label(v.period_weeks, short))
    ax.set_ylabel(money_label("Revenue" if short else "Incremental revenue", v.period_weeks,
                              short))


def _draw_marginal(ax: Axes, v: Any, channel: str, level: float, legend: bool,
                   short: bool = False) -> None:
    c = v.curve(channel)
    p = float(v.period_weeks)
    charts.marginal_roas_curve(
        ax, c, v.period_weeks, current=v.current[channel],
        recommended=None if v.recommended is None else v.recommended[channel], legend=False,
    )
    line = next(ln for ln in ax.get_lines() if ln.get_label() == c.channel)
    x = np.asarray(line.get_xdata(), dtype=float)
    if c.draws:
        lo, hi = marginal_band(c, x / p, level)
        ax.fill_between(x, lo, hi, color=charts.CURVE_COLOR, alpha=0.18, lw=0, zorder=0,
                        label=f"{level:.0%} bootstrap band")
    be = margin_breakeven(c, v.econ(channel))
    if np.isfinite(be):
        ax.axhline(be, color=BREAKEVEN_COLOR, ls="-.", lw=1,
                   label=f"net margin break-even (ROAS {be:.2f})")
        ax.set_ylim(top=max(ax.get_ylim()[1], be * 1.3))
    ax.set_xlabel(spend_label(v.period_weeks, short))
    ax.set_ylabel(ROAS_LABEL_SHORT if short else ROAS_LABEL)
    if legend:
        _legend(ax, "upper right")


def plot_response(source: CurveSet | Plan, channel: str, *, period_weeks: int = 4,
                  level: float = 0.9, share: float = 0.8) -> Figure:
    """A channel's period revenue against period spend: bootstrap band, saturation point,
    current (and recommended) spend, the range a plan may use."""
    v = view(source, period_weeks)
    with charts.style():
        fig, (ax,) = figure_with_axes(6.4, 4.2)
        _draw_response(ax, v, channel, level, share, legend=True)
        fig.subplots_adjust(left=0.14, bottom=0.13)
    return fig


def plot_marginal_roas(source: CurveSet | Plan, channel: str, *, period_weeks: int = 4,
                       economics: Economics | None = None, level: float = 0.9) -> Figure:
    """A channel's marginal ROAS with its bootstrap band, the ROAS-1 line and, with economics
    (or a plan), the marginal ROAS below which extra spend loses net margin."""
    v = view(source, period_weeks, economics=economics)
    with charts.style():
        fig, (ax,) = figure_with_axes(6.4, 4.2)
        _draw_marginal(ax, v, channel, level, legend=True)
        fig.subplots_adjust(left=0.12, bottom=0.13)
    return fig


def plot_curves(source: CurveSet | Plan, *, kind: str = "response", period_weeks: int = 4,
                channels: Sequence[str] | None = None, economics: Economics | None = None,
                level: float = 0.9, share: float = 0.8, ncols: int = 3) -> Figure:
    """Every channel's response (``kind="response"``) or marginal ROAS (``"marginal"``) in a
    grid, with one legend below it."""
    if kind not in ("response", "marginal"):
        raise ValueError(f"kind must be 'response' or 'marginal', got {kind!r}")
    v = view(source, period_weeks, economics=economics)
    names = list(channels or v.curves.channels)
    with charts.style():
        fig, axes = charts.grid(len(names), ncols=ncols, cell=(4.6, 3.4))
        for ax, ch in zip(axes, names, strict=True):
            if kind == "response":
                _draw_response(ax, v, ch, level, share, legend=False, short=True)
            else:
                _draw_marginal(ax, v, ch, level, legend=False, short=True)
        _figure_legend(fig, axes, skip=set(names))
        inches = fig.get_figheight()
        fig.subplots_adjust(hspace=0.6, wspace=0.4, left=0.08, right=0.98,
                            bottom=0.95 / inches, top=1 - 0.35 / inches)
    return fig


def plot_marginal_rpv(source: CurveSet | Plan, channel: str, *, period_weeks: int = 4) -> Figure:
    """Revenue per visitor (average and marginal) against period spend; needs visitors."""
    v = view(source, period_weeks)
    c = v.curve(channel)
    if not c.has_visitors:
        raise CurveError(f"channel {channel!r}: the panel had no visitors, so no RPV")
    f = curve_frame(source, channel, period_weeks=period_weeks).iloc[1:]
    p = float(v.period_weeks)
    with charts.style():
        fig, (ax,) = figure_with_axes(6.4, 4.2)
        ax.plot(f["spend"], f["rpv"], color=charts.CURVE_COLOR, lw=1.6,
                label="revenue per incremental visitor")
        ax.plot(f["spend"], f["marginal_rpv"], color=PALETTE[1], lw=1.6, ls="--",
                label="marginal RPV (extra revenue per extra visitor)")
        marks = [("current", v.current[channel], charts.CURRENT_COLOR, "o")]
        if v.recommended is not None:
            marks.append(("recommended", v.recommended[channel], charts.RECOMMENDED_COLOR, "D"))
        for label, x, color, marker in marks:
            ax.plot([x], [float(c.marginal_rpv(x / p))], marker, color=color, ms=6, zorder=5,
                    label=f"{label} (marginal RPV)")
        finite = f[["rpv", "marginal_rpv"]].to_numpy(dtype=float)
        finite = finite[np.isfinite(finite)]
        if finite.size:
            ax.set_ylim(0, float(np.quantile(finite, 0.98)) * 1.15)
        ax.set_title(channel)
        ax.set_xlabel(spend_label(v.period_weeks))
        ax.set_ylabel("Revenue per visitor (data currency)")
        ax.xaxis.set_major_formatter(charts.money_formatter())
        _legend(ax)
        fig.subplots_adjust(left=0.12, bottom=0.13)
    return fig


# --------------------------------------------------------------------------- all channels


def plot_saturation(source: CurveSet | Plan, *, period_weeks: int = 4, share: float = 0.8,
                    level: float = 0.9) -> Figure:
    """Share of each channel's maximum response reached at current (and recommended) spend,
    with the bootstrap interval, against the saturation threshold ``share``."""
    t = saturation_table(source, period_weeks=period_weeks, share=share, level=level)
    n = len(t)
    pos = np.arange(n)
    rec = "saturation_share_recommended" in t
    h = 0.38 if rec else 0.6
    with charts.style():
        fig, (ax,) = figure_with_axes(7.0, 1.0 + 0.5 * n)
        cur = t["saturation_share"].to_numpy() * 100
        err = None
        if "saturation_share_low" in t:
            err = np.vstack([cur - t["saturation_share_low"].to_numpy() * 100,
                             t["saturation_share_high"].to_numpy() * 100 - cur])
            err = np.clip(err, 0.0, None)
        ax.barh(pos - (h / 2 if rec else 0), cur, height=h, color=charts.CURRENT_COLOR,
                xerr=err, capsize=3, label="at current spend"
                + (f" ({level:.0%} bootstrap interval)" if err is not None else ""))
        if rec:
            ax.barh(pos + h / 2, t["saturation_share_recommended"].to_numpy() * 100, height=h,
                    color=charts.RECOMMENDED_COLOR, label="at recommended spend")
        ax.axvline(share * 100, color="#9333ea", ls=":", lw=1.2,
                   label=f"saturation point ({share:.0%})")
        ax.set_yticks(pos)
        ax.set_yticklabels(list(t.index))
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_xlabel("Share of the channel's maximum weekly response reached (%)")
        ax.set_ylabel("Channel")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        height = 1.0 + 0.5 * n
        fig.subplots_adjust(left=0.22, right=0.96, bottom=0.55 / height, top=1 - 0.75 / height)
    return fig


def plot_margin_transfer(source: CurveSet | Plan, from_channel: str, to_channel: str, *,
                         period_weeks: int = 4, economics: Economics | None = None, at: str = "recommended",
                         amounts: Any = None) -> Figure:
    """Change of total net margin as period spend moves from one channel to another."""
    f = margin_transfer(source, from_channel, to_channel, period_weeks=period_weeks,
                        economics=economics, at=at, amounts=amounts)
    a = f.attrs
    with charts.style():
        fig, (ax,) = figure_with_axes(6.6, 4.2)
        limit = a.get("step_limit")
        if limit:
            ax.axvspan(-limit, limit, color="#e5e7eb", alpha=0.8, lw=0, label="within one step")
        ax.plot(f["moved"], f["net_margin_change"], color=charts.CURVE_COLOR, lw=1.8,
                label="total net margin change")
        ax.plot(f["moved"], f["from_margin_change"], color=PALETTE[1], lw=1, ls="--",
                label=f"from {from_channel}")
        ax.plot(f["moved"], f["to_margin_change"], color=PALETTE[2], lw=1, ls="--",
                label=f"to {to_channel}")
        ax.axhline(0.0, color="#9ca3af", lw=0.8)
        ax.plot([0.0], [0.0], "o", color=charts.CURRENT_COLOR, ms=6, zorder=5,
                label=f"{a['at']} allocation")
        ax.plot([a["best_move"]], [a["best_change"]], "D", color=charts.RECOMMENDED_COLOR,
                ms=6, zorder=5, label=f"best move ({a['best_move']:+,.0f})")
        ax.set_title(f"{from_channel} -> {to_channel}")
        ax.set_xlabel(f"Spend moved from {from_channel} to {to_channel} "
                      f"per {a['period_weeks']} weeks (data currency)")
        ax.set_ylabel(money_label("Net margin change", a["period_weeks"]))
        ax.xaxis.set_major_formatter(charts.money_formatter())
        ax.yaxis.set_major_formatter(charts.money_formatter())
        _legend(ax, "lower center")
        fig.subplots_adjust(left=0.14, bottom=0.13)
    return fig


# --------------------------------------------------------------------------- plans


def plot_glide_path(plan: Plan) -> Figure:
    """Net margin and budget after each step (the report's chart), beside each channel's
    period spend along the path."""
    g = glide_path_table(plan)
    if g["net_margin"].isna().any():
        raise CurveError("the glide path needs net margins (economics with a gross_margin)")
    p = plan.period_weeks
    with charts.style():
        fig, (ax, ax2) = figure_with_axes(12.0, 4.2, ncols=2)
        charts.glide_path(ax, [float(m) for m in g["net_margin"]], list(g["budget"]))
        ax.set_ylabel(money_label("Net margin", p))
        fig.axes[-1].set_ylabel(money_label("Budget", p))  # the twin axis of the budget
        for i, ch in enumerate(plan.channels):
            ax2.plot(g.index, g[ch], "o-", color=PALETTE[i % len(PALETTE)], lw=1.4, ms=4,
                     label=ch)
        ax2.set_xticks(list(g.index))
        ax2.set_xlabel("Step (0 = current)")
        ax2.set_ylabel(spend_label(p))
        ax2.yaxis.set_major_formatter(charts.money_formatter())
        ax2.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        ax2.set_title("Spend per channel along the glide path")
        fig.subplots_adjust(left=0.08, right=0.84, wspace=0.55, bottom=0.13)
    return fig


def plot_plan_comparison(plans: Mapping[str, Plan]) -> Figure:
    """Each plan's change of period spend per channel against the current spend (%)."""
    t = plan_table(plans).drop(index="total")
    cur = t["current"].to_numpy(dtype=float)
    names = [c for c in t.columns if c != "current"]
    n, k = len(t), len(names)
    pos = np.arange(n)
    h = 0.8 / k
    height = 1.4 + 0.22 * n * k
    with charts.style():
        fig, (ax,) = figure_with_axes(7.5, height)
        for j, name in enumerate(names):
            with np.errstate(divide="ignore", invalid="ignore"):
                pct = np.where(cur > 0, 100.0 * (t[name].to_numpy(dtype=float) / cur - 1.0), 0.0)
            ax.barh(pos - 0.4 + h * (j + 0.5), pct, height=h, color=PALETTE[j % len(PALETTE)],
                    label=str(name))
        ax.axvline(0.0, color=charts.CURRENT_COLOR, lw=1, label="current spend")
        ax.set_yticks(pos)
        ax.set_yticklabels(list(t.index))
        ax.invert_yaxis()
        p = next(iter(plans.values())).period_weeks
        ax.set_xlabel(f"Recommended change of spend per {p} weeks against current (%)")
        ax.set_ylabel("Channel")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(k + 1, 4), frameon=False)
        fig.subplots_adjust(left=0.2, right=0.96, bottom=0.6 / height, top=1 - 0.7 / height)
    return fig


def plot_sweep(sweep: pd.DataFrame, *, period_weeks: int = 4) -> Figure:
    """How the plan moves along a sweep (:meth:`WhatIf.sweep`): each channel's recommended
    spend, and net margin before and after."""
    key = str(sweep.index.name)
    chans = sweep.attrs.get("channels") or [
        c for c in sweep.columns if c not in ("budget", "net_margin_current",
                                              "net_margin_recommended", "net_margin_change",
                                              "optimality_gap")]
    x = np.asarray(sweep.index, dtype=float)
    with charts.style():
        fig, (ax, ax2) = figure_with_axes(12.0, 4.2, ncols=2)
        for i, ch in enumerate(chans):
            ax.plot(x, sweep[ch], "o-", color=PALETTE[i % len(PALETTE)], lw=1.4, ms=4, label=ch)
        ax.set_xlabel(key)
        ax.set_ylabel(f"Recommended {spend_label(period_weeks).lower()}")
        ax.yaxis.set_major_formatter(charts.money_formatter())
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
        ax2.plot(x, sweep["net_margin_current"], "o--", color=charts.CURRENT_COLOR,
                 label="current allocation")
        ax2.plot(x, sweep["net_margin_recommended"], "D-", color=charts.RECOMMENDED_COLOR,
                 label="recommended allocation")
        ax2.set_xlabel(key)
        ax2.set_ylabel(money_label("Net margin", period_weeks))
        ax2.yaxis.set_major_formatter(charts.money_formatter())
        _legend(ax2)
        fig.subplots_adjust(left=0.08, right=0.97, wspace=0.75, bottom=0.13)
    return fig


def plot_family_comparison(comparison: FamilyComparison) -> Figure:
    """The channel's response and marginal ROAS under each family, current spend marked."""
    cmp = comparison
    p = float(cmp.period_weeks)
    top = max(cmp.current_spend * 2.5,
              *(min(c.saturation_spend(0.8) * p, cmp.current_spend * 6) for c in cmp.curves.values()))
    x = np.linspace(0.0, top, 241)
    with charts.style():
        fig, (ax, ax2) = figure_with_axes(12.0, 4.2, ncols=2)
        for i, (fam, c) in enumerate(cmp.curves.items()):
            label = fam + (" (selected)" if fam == cmp.selected else "")
            lw = 2.2 if fam == cmp.selected else 1.3
            color = PALETTE[i % len(PALETTE)]
            ax.plot(x, np.asarray(c.response(x / p)) * p, color=color, lw=lw, label=label)
            ax2.plot(x[1:], np.asarray(c.marginal(x[1:] / p)), color=color, lw=lw, label=label)
        for a in (ax, ax2):
            a.axvline(cmp.current_spend, color=charts.CURRENT_COLOR, ls="--", lw=1,
                      label="current spend")
            a.set_xlabel(spend_label(cmp.period_weeks))
            a.xaxis.set_major_formatter(charts.money_formatter())
            a.set_xlim(0, top)
            a.set_title(f"{cmp.channel}: one curve per saturation family")
        ax.set_ylabel(money_label("Incremental revenue", cmp.period_weeks))
        ax.yaxis.set_major_formatter(charts.money_formatter())
        m = np.concatenate([np.asarray(c.marginal(x[1:] / p)) for c in cmp.curves.values()])
        m = m[np.isfinite(m)]
        if m.size:
            ax2.set_ylim(0, float(np.quantile(m, 0.98)) * 1.1)
        ax2.axhline(1.0, color="#9ca3af", ls=":", lw=1, label="marginal ROAS 1")
        ax2.set_ylabel(ROAS_LABEL)
        _legend(ax, "lower right")
        _legend(ax2, "upper right")
        fig.subplots_adjust(left=0.07, right=0.98, wspace=0.25, bottom=0.13)
    return fig


_register_ipython_display()

__all__ = [
    "plot_curves",
    "plot_family_comparison",
    "plot_glide_path",
    "plot_margin_transfer",
    "plot_marginal_roas",
    "plot_marginal_rpv",
    "plot_plan_comparison",
    "plot_response",
    "plot_saturation",
    "plot_sweep",
]
