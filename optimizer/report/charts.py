"""Plotting functions of the plan reports, reusable from notebooks.

Each function draws on a matplotlib ``Axes`` it is given (or a new ``Figure``) and never
touches pyplot's global state, so it works under any backend; :func:`png_bytes` renders a
figure with the Agg canvas at a fixed dpi and font, without a timestamp in the PNG.

Spend is per planning period (``period_weeks`` weeks) on every x axis.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from roiste.models.curves import ResponseCurve
from roiste.optimizer.report import text as T

DPI = 100
STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "roiste",
}
CURRENT_COLOR = "#6b7280"
RECOMMENDED_COLOR = "#0f766e"
CURVE_COLOR = "#1d4ed8"
UP_COLOR = "#15803d"
DOWN_COLOR = "#b91c1c"


@contextmanager
def style() -> Iterator[None]:
    """The fixed style of every chart (fonts bundled with matplotlib, so stable everywhere)."""
    with matplotlib.rc_context(cast(Any, STYLE)):
        yield


def new_figure(width: float, height: float) -> Figure:
    """A figure on the Agg canvas, independent of pyplot."""
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (fixed dpi, no software/date metadata)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,...`` URI for a self-contained HTML page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def png_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI for a self-contained HTML page."""
    return data_uri(png_bytes(fig))


def money_formatter() -> FuncFormatter:
    """Tick labels like ``12k`` and ``1.5M``."""

    def fmt(v: float, _pos: int | None = None) -> str:
        a = abs(v)
        if a >= 1e6:
            return f"{v / 1e6:.3g}M"
        if a >= 1e3:
            return f"{v / 1e3:.3g}k"
        return f"{v:.3g}"

    return FuncFormatter(fmt)


def _x_range(curve: ResponseCurve, period_weeks: int, points: Sequence[float]) -> np.ndarray:
    top = max([*points, 1.0]) * 1.6
    return np.linspace(0.0, top, 241)


def response_curve(
    ax: Axes,
    curve: ResponseCurve,
    period_weeks: int,
    *,
    current: float | None = None,
    recommended: float | None = None,
    bounds: tuple[float, float] | None = None,
    saturation_share: float = 0.8,
    band_level: float = 0.9,
    legend: bool = True,
) -> None:
    """A channel's period revenue against period spend, with band, box, saturation, markers.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    curve : ResponseCurve
        Weekly response curve; it is drawn scaled to the period.
    period_weeks : int
    current, recommended : float, optional
        Period spends to mark.
    bounds : (float, float), optional
        The range the plan could use, shaded.
    saturation_share : float, default 0.8
        The saturation point marked is where this share of the maximum response is reached.
    band_level : float, default 0.9
        Level of the bootstrap band (drawn only when the curve has draws).
    legend : bool, default True
    """
    p = float(period_weeks)
    pts = [v for v in (current, recommended, *(bounds or ())) if v is not None]
    x = _x_range(curve, period_weeks, pts)
    y = np.asarray(curve.response(x / p)) * p
    if bounds is not None and bounds[1] > bounds[0]:
        ax.axvspan(bounds[0], bounds[1], color="#e5e7eb", alpha=0.8, label=T.LEGEND_BOX, lw=0)
    if curve.draws:
        lo, hi = curve.response_band(x / p, level=band_level)
        ax.fill_between(x, lo * p, hi * p, color=CURVE_COLOR, alpha=0.18, lw=0, label=T.LEGEND_BAND)
    ax.plot(x, y, color=CURVE_COLOR, lw=1.6, label=T.LEGEND_CURVE)
    sat = curve.saturation_spend(saturation_share) * p
    if np.isfinite(sat) and sat <= x[-1]:
        ax.axvline(sat, color="#9333ea", ls=":", lw=1.2, label=T.LEGEND_SATURATION)
    for value, color, label, marker in (
        (current, CURRENT_COLOR, T.LEGEND_CURRENT, "o"),
        (recommended, RECOMMENDED_COLOR, T.LEGEND_RECOMMENDED, "D"),
    ):
        if value is not None:
            ax.plot([value], [float(curve.response(value / p)) * p], marker, color=color,
                    ms=6, label=label, zorder=5)
    ax.set_title(curve.channel)
    ax.set_xlabel(T.AXIS_PERIOD_SPEND)
    ax.set_ylabel(T.AXIS_PERIOD_REVENUE)
    ax.xaxis.set_major_formatter(money_formatter())
    ax.yaxis.set_major_formatter(money_formatter())
    ax.set_xlim(0, x[-1])
    ax.set_ylim(bottom=0)
    if legend:
        ax.legend(loc="lower right", frameon=False)


def marginal_roas_curve(
    ax: Axes,
    curve: ResponseCurve,
    period_weeks: int,
    *,
    current: float | None = None,
    recommended: float | None = None,
    breakeven: float | None = 1.0,
    legend: bool = True,
) -> None:
    """Marginal ROAS against period spend with markers at current and recommended spend."""
    p = float(period_weeks)
    pts = [v for v in (current, recommended) if v is not None]
    x = _x_range(curve, period_weeks, pts)[1:]
    m = np.asarray(curve.marginal(x / p))
    ax.plot(x, m, color=CURVE_COLOR, lw=1.6, label=curve.channel)
    if breakeven is not None:
        ax.axhline(breakeven, color="#9ca3af", ls="--", lw=1, label=T.LEGEND_BREAKEVEN)
    for value, color, label, marker in (
        (current, CURRENT_COLOR, T.LEGEND_CURRENT, "o"),
        (recommended, RECOMMENDED_COLOR, T.LEGEND_RECOMMENDED, "D"),
    ):
        if value is not None:
            ax.plot([value], [float(curve.marginal(value / p))], marker, color=color, ms=6,
                    label=label, zorder=5)
    finite = m[np.isfinite(m)]
    if finite.size:
        top = float(np.quantile(finite, 0.98))
        ax.set_ylim(0, max(top * 1.1, (breakeven or 0) * 1.5, 1e-9))
    ax.set_title(curve.channel)
    ax.set_xlabel(T.AXIS_PERIOD_SPEND)
    ax.set_ylabel(T.AXIS_MARGINAL_ROAS)
    ax.xaxis.set_major_formatter(money_formatter())
    if legend:
        ax.legend(loc="upper right", frameon=False)


def margin_bridge(
    ax: Axes,
    labels: Sequence[str],
    deltas: Sequence[float],
    start: float,
    *,
    start_label: str = T.BRIDGE_START,
    end_label: str = T.BRIDGE_END,
) -> None:
    """A waterfall from ``start`` through one bar per delta to ``start + sum(deltas)``."""
    names = [start_label, *labels, end_label]
    end = start + float(np.sum(deltas))
    bottoms, heights, colors = [0.0], [start], [CURRENT_COLOR]
    level = start
    for d in deltas:
        bottoms.append(level if d >= 0 else level + d)
        heights.append(abs(d))
        colors.append(UP_COLOR if d >= 0 else DOWN_COLOR)
        level += d
    bottoms.append(0.0)
    heights.append(end)
    colors.append(RECOMMENDED_COLOR)
    pos = np.arange(len(names))
    ax.bar(pos, heights, bottom=bottoms, color=colors, width=0.7)
    for i, d in enumerate(deltas, start=1):
        ax.annotate(f"{d:+,.0f}", (pos[i], bottoms[i] + heights[i]), ha="center", va="bottom",
                    fontsize=7, xytext=(0, 2), textcoords="offset points")
    lo = min(min(bottoms[1:-1], default=start), start, end)
    hi = max(max((b + h for b, h in zip(bottoms, heights, strict=True)), default=end), 0.0)
    span = max(hi - lo, abs(hi) * 1e-3, 1.0)
    ax.set_ylim(max(0.0, lo - 0.25 * span) if lo > 0 else lo - 0.1 * span, hi + 0.1 * span)
    ax.set_xticks(pos)
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel(T.AXIS_NET_MARGIN)
    ax.yaxis.set_major_formatter(money_formatter())


def glide_path(ax: Axes, margins: Sequence[float], budgets: Sequence[float]) -> None:
    """Net margin (and budget, on a twin axis) after each step; step 0 is the current plan."""
    steps = np.arange(len(margins))
    ax.plot(steps, margins, "o-", color=RECOMMENDED_COLOR, label=T.GLIDE_MARGIN)
    ax.set_xlabel(T.AXIS_STEP)
    ax.set_ylabel(T.AXIS_NET_MARGIN)
    ax.set_xticks(steps)
    ax.yaxis.set_major_formatter(money_formatter())
    twin = ax.twinx()
    twin.plot(steps, budgets, "s--", color=CURRENT_COLOR, label=T.GLIDE_BUDGET)
    twin.set_ylabel(T.AXIS_PERIOD_SPEND)
    twin.yaxis.set_major_formatter(money_formatter())
    twin.spines["right"].set_visible(True)
    lines = ax.get_lines() + twin.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="lower right", frameon=False)


def grid(n: int, ncols: int = 3, cell: tuple[float, float] = (4.2, 3.0)) -> tuple[Figure, list[Axes]]:
    """A figure with ``n`` axes in rows of ``ncols`` (extra cells hidden)."""
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig = new_figure(cell[0] * ncols, cell[1] * nrows)
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n)]
    fig.subplots_adjust(hspace=0.55, wspace=0.35)
    return fig, axes


__all__ = [
    "glide_path",
    "grid",
    "margin_bridge",
    "marginal_roas_curve",
    "new_figure",
    "png_bytes",
    "png_data_uri",
    "response_curve",
    "style",
]
