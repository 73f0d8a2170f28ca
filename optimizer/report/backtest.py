"""The backtest's output directory: ``backtest.csv``, ``backtest_weeks.csv``, ``backtest.json``
and ``backtest.html`` (self-contained: inline CSS, charts as embedded PNG), written all or
nothing like a plan's directory.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from roiste.optimizer.report import charts
from roiste.optimizer.report.html import esc, fmt, image, kv_table
from roiste.optimizer.report.output import check_output_dir, publish_dir, sibling_dir

if TYPE_CHECKING:
    from roiste.optimizer.backtest.walk import BacktestResult

FILES = ("backtest.csv", "backtest_weeks.csv", "backtest.json", "backtest.html")
FORECAST_COLOR = "#1d4ed8"
ACTUAL_COLOR = "#111827"


def _csv(df: pd.DataFrame) -> str:
    return str(df.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


def _forecast_chart(weeks: pd.DataFrame) -> str:
    """Weekly revenue of all channels: forecast (per fold) against actual."""
    tot = weeks.groupby(["fold_start", "week"], sort=True)[["forecast", "actual"]].sum().reset_index()
    with charts.style():
        fig = charts.new_figure(9.0, 3.4)
        ax = fig.add_subplot(1, 1, 1)
        x = pd.to_datetime(tot["week"])
        for i, (_, g) in enumerate(tot.groupby("fold_start", sort=True)):
            gx = pd.to_datetime(g["week"])
            ax.plot(gx, g["forecast"], "-", color=FORECAST_COLOR, lw=1.6,
                    label="forecast (each fold)" if i == 0 else None)
        ax.plot(x, tot["actual"], "o", color=ACTUAL_COLOR, ms=3, label="actual")
        ax.set_ylabel("weekly revenue, all channels")
        ax.yaxis.set_major_formatter(charts.money_formatter())
        ax.legend(frameon=False, loc="best")
        fig.autofmt_xdate()
        return image(charts.png_data_uri(fig), "forecast against actual revenue per fold")


def _uplift_chart(result: BacktestResult) -> str:
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
                            label="90% band (bootstrap)")
        ax.plot(starts, est, "o-", color=charts.RECOMMENDED_COLOR, label="estimated (after the fact)")
        if any(f.get("true_uplift") is not None for f in folds):
            true = np.cumsum([f.get("true_uplift") or 0.0 for f in folds])
            ax.plot(starts, true, "s--", color=charts.CURRENT_COLOR, label="true (simulation)")
        ax.axhline(0.0, color="#9ca3af", lw=0.8)
        ax.set_ylabel(f"cumulative {result.summary['value'].replace('_', ' ')} uplift")
        ax.yaxis.set_major_formatter(charts.money_formatter())
        ax.legend(frameon=False, loc="upper left")
        fig.autofmt_xdate()
        return image(charts.png_data_uri(fig), "cumulative uplift of the plans")


def _replay_chart(replay: list[dict[str, Any]]) -> str:
    with charts.style():
        fig = charts.new_figure(9.0, 3.0)
        ax = fig.add_subplot(1, 1, 1)
        m = [r["month"] for r in replay]
        ax.plot(m, [r["true_margin_replanned"] for r in replay], "o-",
                color=charts.RECOMMENDED_COLOR, label="replanned every month")
        ax.plot(m, [r["true_margin_start"] for r in replay], "--", color=charts.CURRENT_COLOR,
                label="allocation kept as it was")
        ax.set_xlabel("month")
        fig.subplots_adjust(bottom=0.18)
        ax.set_ylabel("true margin of the month")
        ax.yaxis.set_major_formatter(charts.money_formatter())
        ax.legend(frameon=False, loc="lower right")
        return image(charts.png_data_uri(fig), "true margin month by month under replanning")


def _table(df: pd.DataFrame, kinds: dict[str, str]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in kinds)
    body = []
    for rec in df.to_dict("records"):
        cells = [f"<td>{esc(rec.get(c, ''))}</td>" if k == "text" else
                 f'<td class="num">{fmt(rec.get(c), k)}</td>' for c, k in kinds.items()]
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_backtest_html(result: BacktestResult) -> str:
    """The whole backtest page as one string (no external resources, no timestamp)."""
    from roiste.optimizer import __version__

    s = result.summary
    css = resources.files("roiste.optimizer.report").joinpath("style.css").read_text(encoding="utf-8")
    u = s["cumulative_estimated_uplift"]
    parts = [f"<h1>Backtest: {esc(result.name)}</h1>",
             f'<p class="lead">{len(s["folds"])} folds of {s["horizon_weeks"]} weeks; each fold is '
             "forecast and planned from the weeks before it only. Money is per fold. "
             f"{esc(s['plan_rule'])}.</p>"]
    parts.append(kv_table([
        ("WAPE (week x channel cells)", fmt(s["wape"], "share")),
        ("bias", fmt(s["bias"], "share")),
        (f"coverage of the {s['interval_level']:.0%} intervals", fmt(s["coverage"], "share")),
        ("cumulative estimated uplift", f"{fmt(u['value'])} ({u['level']:.0%} interval "
                                        f"{fmt(u['lower'])} .. {fmt(u['upper'])})"),
    ]))
    if s["folds"]:
        parts += ["<h2>Forecast against actual</h2>", _forecast_chart(result.weeks),
                  "<h2>What the plans would have earned</h2>",
                  '<p class="note">Valued with curves fitted after the fact on every week; the '
                  "band is the spread of their bootstrap draws.</p>", _uplift_chart(result)]
        cols = {"start": "text", "train_weeks": "count", "wape": "share", "bias": "share",
                "coverage": "share", "actual_spend": "money", "est_margin_actual": "money",
                "est_margin_recommended": "money", "est_uplift": "money"}
        if any("true_uplift" in f for f in s["folds"]):
            cols["true_uplift"] = "money"
        parts += ["<h2>Folds</h2>", _table(pd.DataFrame(s["folds"]), cols)]
    if s["skipped"]:
        parts += ["<h2>Skipped folds</h2>",
                  _table(pd.DataFrame(s["skipped"]), {"fold_start": "text", "reason": "text"})]
    replay = (s.get("truth") or {}).get("replanning")
    if replay:
        parts += ["<h2>Replanning the simulated world month by month</h2>",
                  '<p class="note">True margins from the simulation\'s own curves.</p>',
                  _replay_chart(replay)]
    newc = s.get("new_customers")
    if newc:
        rows = pd.DataFrame([{"channel": c, **v} for c, v in newc.items()])
        parts += ["<h2>New customers against the forecast</h2>",
                  '<p class="note">Over every fold: new customers the fold\'s fit expected at the '
                  "spend actually spent (forecast revenue times the new-customer share of the "
                  "weeks before) against those won; short = more than 20 % below.</p>",
                  _table(rows, {"channel": "text", "forecast": "count", "actual": "count",
                                "ratio": "ratio", "short": "text"})]
    coh = s.get("cohorts")
    if coh:
        rows = pd.DataFrame([{"channel": c, **v} for c, v in coh["channels"].items()])
        parts += ["<h2>New-customer cohorts</h2>",
                  f'<p class="note">Value per customer over {coh["months"]} months after '
                  "acquisition against the new_customer_value assumed when planning; flagged: "
                  f"{esc(', '.join(coh['flagged']) or 'none')}.</p>",
                  _table(rows, {"channel": "text", "assumed_value": "cents",
                                "realised_value": "cents", "complete_cohorts": "count",
                                "disappoints": "text"})]
    parts.append(f"<footer>roiste {esc(__version__)}</footer>")
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>Backtest: {esc(result.name)}</title><style>{css}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")


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
