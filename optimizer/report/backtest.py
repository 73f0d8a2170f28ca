"""The backtest's output directory: ``backtest.csv``, ``backtest_weeks.csv``, ``backtest.json``
and ``backtest.html`` (self-contained: inline CSS, charts as embedded PNG), written all or
nothing like a plan's directory.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from roiste.optimizer.report import charts
from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import (
    BACKTEST_COHORTS,
    BACKTEST_FOLDS,
    BACKTEST_NEW_CUSTOMERS,
    BACKTEST_SKIPPED,
    Column,
)
from roiste.optimizer.report.output import check_output_dir, publish_dir, sibling_dir
from roiste.optimizer.report.pages import fmt, image, kv, render, stylesheet, table
from roiste.version import __version__

if TYPE_CHECKING:  # the walk loads the fits: a type only here
    from roiste.optimizer.backtest.walk import BacktestResult

FILES = ("backtest.csv", "backtest_weeks.csv", "backtest.json", "backtest.html")
FORECAST_COLOR = "#1d4ed8"
ACTUAL_COLOR = "#111827"


def _csv(df: pd.DataFrame) -> str:
    return str(df.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


def _forecast_chart(weeks: pd.DataFrame, level: float) -> dict[str, str]:
    """Weekly revenue of all channels: forecast (per fold, with its band) against actual.

    The band adds up the channels' bands week by week (the forecast keeps no draws of the
    total): exact when the channels' errors move together, wider when they are independent.
    """
    value_cols = [c for c in ("forecast", "lower", "upper", "actual") if c in weeks.columns]
    tot = weeks.groupby(["fold_start", "week"], sort=True)[value_cols].sum().reset_index()
    with charts.style():
        fig = charts.new_figure(9.0, 3.4)
        ax = fig.add_subplot(1, 1, 1)
        x = pd.to_datetime(tot["week"])
        for i, (_, g) in enumerate(tot.groupby("fold_start", sort=True)):
            gx = pd.to_datetime(g["week"])
            if "lower" in g.columns and "upper" in g.columns:
                ax.fill_between(gx, g["lower"], g["upper"], color=FORECAST_COLOR, alpha=0.15,
                                lw=0, label=T.BACKTEST_LEGEND_FORECAST_BAND.format(level=level)
                                if i == 0 else None)
            ax.plot(gx, g["forecast"], "-", color=FORECAST_COLOR, lw=1.6,
                    label=T.BACKTEST_LEGEND_FORECAST if i == 0 else None)
        ax.plot(x, tot["actual"], "o", color=ACTUAL_COLOR, ms=3, label=T.BACKTEST_LEGEND_ACTUAL)
        ax.set_ylabel(T.BACKTEST_AXIS_REVENUE)
        ax.yaxis.set_major_formatter(charts.money_formatter())
        # the legend sits above the plot, never over the data
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3,
                  borderaxespad=0.2)
        fig.autofmt_xdate()
        return image(charts.png_data_uri(fig), T.BACKTEST_ALT_FORECAST)


def _uplift_chart(result: BacktestResult) -> dict[str, str]:
    """Cumulative estimated uplift of the plans (band: bootstrap draws), and the truth if known."""
    folds = result.summary["folds"]
    starts = pd.to_datetime([f["start"] for f in folds])
    est = np.cumsum([f["est_uplift"] or 0.0 for f in folds])
    with charts.style():
        fig = charts.new_figure(9.0, 3.2)
        ax = fig.add_subplot(1, 1, 1)
        d = result.uplift_draws
        if d.size:
            lo, hi = np.quantile(np.cumsum(d, axis=1), [0.05, 0.95], axis=0)
            ax.fill_between(starts, lo, hi, color=charts.RECOMMENDED_COLOR, alpha=0.2,
                            label=T.BACKTEST_LEGEND_BAND)
        ax.plot(starts, est, "o-", color=charts.RECOMMENDED_COLOR, label=T.BACKTEST_LEGEND_ESTIMATED)
        if any(f.get("true_uplift") is not None for f in folds):
            true = np.cumsum([f.get("true_uplift") or 0.0 for f in folds])
            ax.plot(starts, true, "s--", color=charts.CURRENT_COLOR, label=T.BACKTEST_LEGEND_TRUE)
        ax.axhline(0.0, color="#9ca3af", lw=0.8)
        ax.set_ylabel(T.BACKTEST_AXIS_UPLIFT.format(value=result.summary["value"].replace("_", " ")))
        ax.yaxis.set_major_formatter(charts.money_formatter())
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3,
                  borderaxespad=0.2)
        fig.autofmt_xdate()
        return image(charts.png_data_uri(fig), T.BACKTEST_ALT_UPLIFT)


def _replay_chart(replay: list[dict[str, Any]]) -> dict[str, str]:
    with charts.style():
        fig = charts.new_figure(9.0, 3.0)
        ax = fig.add_subplot(1, 1, 1)
        m = [r["month"] for r in replay]
        ax.plot(m, [r["true_margin_replanned"] for r in replay], "o-",
                color=charts.RECOMMENDED_COLOR, label=T.BACKTEST_LEGEND_REPLANNED)
        ax.plot(m, [r["true_margin_start"] for r in replay], "--", color=charts.CURRENT_COLOR,
                label=T.BACKTEST_LEGEND_KEPT)
        ax.set_xlabel(T.BACKTEST_AXIS_MONTH)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.subplots_adjust(bottom=0.18)
        ax.set_ylabel(T.BACKTEST_AXIS_TRUE_MARGIN)
        ax.yaxis.set_major_formatter(charts.money_formatter())
        ax.legend(frameon=False, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2,
                  borderaxespad=0.2)
        return image(charts.png_data_uri(fig), T.BACKTEST_ALT_REPLAN)


def _rows(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]


def section_scores(result: BacktestResult) -> list[dict[str, Any]]:
    """WAPE, bias, coverage and the cumulative uplift with its interval."""
    s = result.summary
    u = s["cumulative_estimated_uplift"]
    uplift = T.BACKTEST_UPLIFT_VALUE.format(value=fmt(u["value"]), level=u["level"],
                                            lower=fmt(u["lower"]), upper=fmt(u["upper"]))
    return [
        kv(T.BACKTEST_WAPE, fmt(s["wape"], "share")),
        kv(T.BACKTEST_BIAS, fmt(s["bias"], "share")),
        kv(T.BACKTEST_COVERAGE.format(level=s["interval_level"]), fmt(s["coverage"], "share")),
        kv(T.BACKTEST_UPLIFT, uplift),
    ]


def _section(title: str, *, note: str | None = None, chart: dict[str, str] | None = None,
             columns: list[Column] | None = None, rows: list[dict[str, Any]] | None = None
             ) -> dict[str, Any]:
    return {"title": title, "note": note, "image": chart,
            "table": None if columns is None else table(columns, rows or [], consistent=True)}


def section_folds(result: BacktestResult) -> list[dict[str, Any]]:
    """Forecast against actual, what the plans would have earned, and the folds' table."""
    folds = result.summary["folds"]
    if not folds:
        return []
    cols = [c for c in BACKTEST_FOLDS.values()
            if c.name != "true_uplift" or any("true_uplift" in f for f in folds)]
    return [
        _section(T.BACKTEST_FORECAST,
                 note=T.BACKTEST_FORECAST_NOTE.format(level=result.summary["interval_level"]),
                 chart=_forecast_chart(result.weeks, result.summary["interval_level"])),
        _section(T.BACKTEST_EARNED, note=T.BACKTEST_EARNED_NOTE, chart=_uplift_chart(result)),
        _section(T.BACKTEST_FOLDS, note=T.BACKTEST_FOLDS_NOTE, columns=cols,
                 rows=_rows(pd.DataFrame(folds))),
    ]


def section_skipped(result: BacktestResult) -> list[dict[str, Any]]:
    """The folds left out and why."""
    skipped = result.summary["skipped"]
    if not skipped:
        return []
    return [_section(T.BACKTEST_SKIPPED, columns=list(BACKTEST_SKIPPED.values()),
                     rows=_rows(pd.DataFrame(skipped)))]


def section_replanning(result: BacktestResult) -> list[dict[str, Any]]:
    """Replanning the simulated world month by month (when its truth is known)."""
    replay = (result.summary.get("truth") or {}).get("replanning")
    if not replay:
        return []
    return [_section(T.BACKTEST_REPLAN, note=T.BACKTEST_REPLAN_NOTE, chart=_replay_chart(replay))]


def section_new_customers(result: BacktestResult) -> list[dict[str, Any]]:
    """New customers won against those the forecast expected, per channel."""
    newc = result.summary.get("new_customers")
    if not newc:
        return []
    rows = [{"channel": c, **v} for c, v in newc.items()]
    return [_section(T.BACKTEST_NEW_CUSTOMERS, note=T.BACKTEST_NEW_CUSTOMERS_NOTE,
                     columns=list(BACKTEST_NEW_CUSTOMERS.values()), rows=rows)]


def section_cohorts(result: BacktestResult) -> list[dict[str, Any]]:
    """Realised value of new-customer cohorts against the value assumed when planning."""
    coh = result.summary.get("cohorts")
    if not coh:
        return []
    rows = [{"channel": c, **v} for c, v in coh["channels"].items()]
    note = T.BACKTEST_COHORTS_NOTE.format(
        months=coh["months"], flagged=", ".join(coh["flagged"]) or T.BACKTEST_NONE_FLAGGED)
    return [_section(T.BACKTEST_COHORTS, note=note, columns=list(BACKTEST_COHORTS.values()),
                     rows=rows)]


def render_backtest_html(result: BacktestResult) -> str:
    """The whole backtest page as one string (no external resources, no timestamp)."""
    s = result.summary
    title = T.BACKTEST_TITLE.format(name=result.name)
    rule = str(s["plan_rule"])
    lead = T.BACKTEST_LEAD.format(folds=len(s["folds"]), weeks=s["horizon_weeks"],
                                  rule=rule[:1].upper() + rule[1:])
    sections = [
        *section_folds(result),
        *section_skipped(result),
        *section_replanning(result),
        *section_new_customers(result),
        *section_cohorts(result),
    ]
    return render("backtest.html.j2", title=title, css=stylesheet("style.css"), lead=lead,
                  scores=section_scores(result), sections=sections,
                  footer=T.BACKTEST_FOOTER.format(version=__version__))


def write_backtest(result: BacktestResult, out_dir: str | os.PathLike[str], *,
                   force: bool = False) -> Path:
    """Write the backtest's files into ``out_dir`` all or nothing (see :data:`FILES`)."""
    out = Path(out_dir)
    check_output_dir(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_dir(out, "tmp")
    try:
        (tmp / "backtest.csv").write_text(_csv(result.rows), encoding="utf-8", newline="\n")
        (tmp / "backtest_weeks.csv").write_text(_csv(result.weeks), encoding="utf-8", newline="\n")
        (tmp / "backtest.json").write_text(result.to_json(), encoding="utf-8", newline="\n")
        (tmp / "backtest.html").write_text(render_backtest_html(result), encoding="utf-8")
        publish_dir(tmp, out, lambda: check_output_dir(out, force))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


__all__ = ["FILES", "render_backtest_html", "write_backtest"]
