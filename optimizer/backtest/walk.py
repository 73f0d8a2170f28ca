"""Walk-forward backtest: would roiste's forecasts and plans have held up in past months?

Folds are consecutive blocks of ``horizon_weeks`` weeks at the end of the panel.  For each
fold, using only the weeks before it, every channel is fitted (baseline + response, with
bootstrap draws), its weekly revenue is forecast at the spend actually spent (the carry-over
of the training weeks flows into the fold), and the plan the scenario would have made on the
fold's first day is built.  After the last fold, curves fitted on every week ("after the fact")
value each fold's actual and recommended spend; their bootstrap draws give the uncertainty of
that estimate.  On a simulated world (``<panel>.truth.json`` next to the panel) the true curves
value them too, and :func:`replan_world` replays the world month after month under roiste's
own plans.

Each fold's forecasts and plan come from :mod:`optimizer.backtest.forecast`.  Money is for the
fold (``horizon_weeks`` weeks) unless a name says weekly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.curves import CurveSet
from roiste.models.errors import RoisteError
from roiste.models.executor import Executor
from roiste.models.fit.channel import fit_long
from roiste.models.panel import Panel
from roiste.models.transforms import FloatArray
from roiste.optimizer.backtest.forecast import (
    BOOTSTRAP,
    LEVEL,
    MIN_TRAIN_WEEKS,
    backtest_scenario,
    channel_seed,
    economics_of,
    forecast_channel,
    plan_from,
    value_objective,
)
from roiste.optimizer.economics import PeriodFunctions
from roiste.optimizer.scenario import Scenario

MAX_FOLDS = 12


class BacktestError(RoisteError):
    """A backtest that cannot run as asked (the message names the scenario key or option)."""


# ------------------------------------------------------------------------------- folds


def fold_starts(
    n_weeks: int, horizon_weeks: int, folds: int | None = None,
    min_train_weeks: int = MIN_TRAIN_WEEKS,
) -> tuple[list[int], list[tuple[int, str]]]:
    """Start positions of the folds kept, and ``(start, reason)`` of those skipped.

    Folds are spaced ``horizon_weeks`` apart and end with the panel.  Without ``folds``, as
    many as leave ``min_train_weeks`` of history, at most :data:`MAX_FOLDS`; with ``folds``,
    exactly that many are laid out and those with too little history are skipped.

    Examples
    --------
    >>> fold_starts(60, 4, folds=3, min_train_weeks=50)
    ([52, 56], [(48, 'only 48 weeks of history before the fold; at least 50 are needed')])
    """
    if horizon_weeks < 1:
        raise BacktestError(f"--horizon-weeks must be at least 1, got {horizon_weeks}")
    if folds is None:
        folds = max(1, min(MAX_FOLDS, (n_weeks - min_train_weeks) // horizon_weeks))
    starts = [n_weeks - k * horizon_weeks for k in range(int(folds), 0, -1)]
    kept, skipped = [], []
    for s in starts:
        if s >= min_train_weeks:
            kept.append(s)
        else:
            have = max(s, 0)
            skipped.append((s, f"only {have} weeks of history before the fold; at least "
                               f"{min_train_weeks} are needed"))
    return kept, skipped


# ---------------------------------------------------------------------------------- folds


def _fold_job(job: dict[str, Any]) -> dict[str, Any]:
    """Fit, forecast and plan one fold (runs in a worker process)."""
    panel, s, stop = job["panel"], job["start"], job["stop"]
    train, test = panel.slice(0, s), panel.slice(s, stop)
    curves, weekly = [], []
    for c in panel.channels:
        extras = {k: v[c].to_numpy(dtype=float) for k, v in train.extras.items() if c in v}
        fc = forecast_channel(
            train.spend[c].to_numpy(dtype=float), train.revenue[c].to_numpy(dtype=float),
            train.weeks, test.spend[c].to_numpy(dtype=float), test.weeks, channel=c,
            extras=extras, bootstrap=job["bootstrap"], level=job["level"],
            seed=channel_seed(job["seed"], s, c), controls=train.channel_controls(c),
            future_controls=test.channel_controls(c),
        )  # fmt: skip
        curves.append(fc.curve)
        weekly.append({"channel": c, "mean": fc.mean, "lower": fc.lower, "upper": fc.upper,
                       "total_lower": fc.total_lower, "total_upper": fc.total_upper,
                       "ratios": fc.curve.ratios})
    current = test.spend.mean(axis=0)  # the month's media plan, known before the month
    note = ""
    try:
        rec = plan_from(CurveSet(curves), job["scenario"], current.astype(float))
    except RoisteError as exc:
        rec, note = np.full(len(curves), np.nan), f"no plan: {exc}"
    return {"start": s, "stop": stop, "weekly": weekly, "recommended_period": rec,
            "current_weekly": current.to_numpy(dtype=float), "note": note}


@dataclass
class BacktestResult:
    """Everything a backtest found; written by :mod:`optimizer.report.backtest`."""

    name: str
    rows: pd.DataFrame
    weeks: pd.DataFrame
    summary: dict[str, Any]
    uplift_draws: FloatArray = field(default_factory=lambda: np.empty((0, 0)))

    def headline(self) -> str:
        """One line for the command line."""
        s = self.summary
        folds = len(s["folds"])
        skipped = len(s["skipped"])
        u = s["cumulative_estimated_uplift"]
        if not folds:
            return f"{self.name}: no fold could be backtested ({skipped} skipped)"
        text = (f"{self.name}: {folds} folds of {s['horizon_weeks']} weeks"
                f"{f' ({skipped} skipped)' if skipped else ''}; WAPE {s['wape']:.1%}, "
                f"bias {s['bias']:+.1%}, {s['interval_level']:.0%} interval coverage "
                f"{s['coverage']:.0%}; estimated {s['value'].replace('_', ' ')} uplift of the plans "
                f"{u['value']:+,.0f} ({u['level']:.0%} interval {u['lower']:+,.0f} .. "
                f"{u['upper']:+,.0f})")
        truth = s.get("truth")
        if truth:
            text += f"; true uplift {truth['cumulative_true_uplift']:+,.0f}"
        return text

    def to_json(self) -> str:
        return json.dumps(_clean(self.summary), indent=2, sort_keys=False) + "\n"


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return round(obj, 6) if np.isfinite(obj) else None
    return obj


def backtest_panel(
    panel: Panel, scenario: Scenario, *, folds: int | None = None, horizon_weeks: int = 4,
    min_train_weeks: int = MIN_TRAIN_WEEKS, bootstrap: int = BOOTSTRAP, level: float = LEVEL,
    seed: int | None = None, truth: CurveSet | None = None, progress: bool = True,
    n_jobs: int | None = None, executor: Executor | None = None,
) -> BacktestResult:
    """Backtest a long panel under a scenario's rules (see the module's description).

    Parameters
    ----------
    panel : models.panel.Panel
        A long panel with revenue.
    scenario : optimizer.scenario.Scenario
        Planning rules and economics; each fold plans with the current total as budget.
    folds, horizon_weeks, min_train_weeks : int
        Fold layout (:func:`fold_starts`).
    bootstrap, level : int, float
        Draws of each fit and level of the intervals.
    seed : int, optional
        Seed of every draw (default: the scenario's).
    truth : CurveSet, optional
        True curves of a simulated world: true margins of each fold's actual and planned spend.
    progress : bool
        Show a progress bar over folds.
    n_jobs : int, optional
        Worker processes (default: 2 for large jobs); results do not depend on it.
    executor : Executor, optional
        Where the folds run, one task each, and the fit on the whole panel (one task per
        channel); default: local processes, ``n_jobs`` of them.  Results do not depend on it.
    """
    if panel.revenue is None:
        raise BacktestError(f"{panel.source}: the backtest needs a long panel with revenue per "
                            "channel (layout: long)")
    seed = int(scenario.seed if seed is None else seed)
    starts, skipped = fold_starts(panel.n_weeks, horizon_weeks, folds, min_train_weeks)
    sc = backtest_scenario(scenario)
    jobs = [{"panel": panel, "start": s, "stop": s + horizon_weeks, "scenario": sc,
             "bootstrap": bootstrap, "level": level, "seed": seed} for s in starts]
    if n_jobs is None:
        n_jobs = 2 if len(jobs) * len(panel.channels) * (1 + bootstrap / 50) >= 40 else 1
    ex = executor if executor is not None else Executor("local", workers=n_jobs)
    results = ex.map(_fold_job, jobs, desc="backtest folds", unit="fold", progress=progress,
                     auto_workers=n_jobs)
    after = fit_long(panel, bootstrap=bootstrap, seed=seed, progress=False,
                     executor=executor) if results else None
    settings = {"horizon_weeks": horizon_weeks, "interval_level": level, "bootstrap": bootstrap,
                "seed": seed, "min_train_weeks": min_train_weeks}
    return _assemble(panel, scenario, results, skipped, after, truth, settings)


def _values(curves: CurveSet, scenario: Scenario, channels: Sequence[str], weeks: int) -> PeriodFunctions:
    return PeriodFunctions(curves, economics_of(scenario, channels), weeks,
                           value_objective(scenario), channels=channels)


def _draw_sets(curves: CurveSet, channels: Sequence[str]) -> list[CurveSet]:
    """One CurveSet per bootstrap draw (draw ``j`` of every channel)."""
    n = min((len(curves[c].draws) for c in channels), default=0)
    return [CurveSet([replace(curves[c], revenue=curves[c].draws[j], draws=()) for c in channels])
            for j in range(n)]


def _assemble(
    panel: Panel, scenario: Scenario, results: list[dict[str, Any]], skipped: list[tuple[int, str]],
    after: CurveSet | None, truth: CurveSet | None, settings: dict[str, Any],
) -> BacktestResult:
    """Turn the folds' forecasts and plans into the tables and the summary."""
    chans = list(panel.channels)
    h = int(settings["horizon_weeks"])
    p = int(scenario.period_weeks)
    fn_after = _values(after, scenario, chans, h) if after is not None else None
    fn_draws = [_values(cs, scenario, chans, h) for cs in _draw_sets(after, chans)] if after else []
    fn_truth = _values(truth, scenario, chans, h) if truth is not None else None
    nc = panel.extras.get("new_customers")
    rows, weeks, folds = [], [], []
    draws = np.zeros((len(fn_draws), len(results)))
    for i, res in enumerate(results):
        test = panel.slice(res["start"], res["stop"])
        start = test.weeks[0].strftime("%Y-%m-%d")
        x_act = test.spend.sum(axis=0).to_numpy(dtype=float)
        x_rec = np.asarray(res["recommended_period"], dtype=float) / p * h
        planned = bool(np.all(np.isfinite(x_rec)))
        m_act = fn_after.value(x_act) if fn_after else np.full(len(chans), np.nan)
        m_rec = fn_after.value(x_rec) if fn_after and planned else np.full(len(chans), np.nan)
        for j, fn in enumerate(fn_draws):
            draws[j, i] = float(np.sum(fn.value(x_rec) - fn.value(x_act))) if planned else 0.0
        t_act = fn_truth.value(x_act) if fn_truth else None
        t_rec = fn_truth.value(x_rec) if fn_truth and planned else None
        assert test.revenue is not None  # the backtest reads long panels only
        for k, (c, wk) in enumerate(zip(chans, res["weekly"], strict=True)):
            actual = test.revenue[c].to_numpy(dtype=float)
            covered = (actual >= wk["lower"]) & (actual <= wk["upper"])
            for d, a in enumerate(actual):
                weeks.append({"week": test.weeks[d].strftime("%Y-%m-%d"), "fold_start": start,
                              "channel": c, "spend": float(test.spend[c].iloc[d]),
                              "forecast": float(wk["mean"][d]), "lower": float(wk["lower"][d]),
                              "upper": float(wk["upper"][d]), "actual": float(a),
                              "covered": bool(covered[d])})
            f_tot, a_tot = float(np.sum(wk["mean"])), float(np.sum(actual))
            row = {"fold_start": start, "channel": c, "actual_spend": float(x_act[k]),
                   "forecast_revenue": f_tot, "actual_revenue": a_tot,
                   "abs_pct_error": abs(f_tot - a_tot) / a_tot if a_tot > 0 else float("nan"),
                   "interval_covered": bool(wk["total_lower"] <= a_tot <= wk["total_upper"]),
                   "recommended_spend": float(x_rec[k]),
                   "est_margin_actual": float(m_act[k]), "est_margin_recommended": float(m_rec[k]),
                   "forecast_lower": float(wk["total_lower"]), "forecast_upper": float(wk["total_upper"])}
            if nc is not None and "new_customers_per_revenue" in wk["ratios"]:
                row["forecast_new_customers"] = f_tot * wk["ratios"]["new_customers_per_revenue"]
                row["actual_new_customers"] = float(nc[c].iloc[res["start"]:res["stop"]].sum())
            if t_act is not None:
                row["true_margin_actual"] = float(t_act[k])
                row["true_margin_recommended"] = float(t_rec[k]) if t_rec is not None else float("nan")
            rows.append(row)
        fw = pd.DataFrame(weeks[-len(chans) * h:])
        fold: dict[str, Any] = {
            "fold": i + 1, "start": start, "end": test.weeks[-1].strftime("%Y-%m-%d"),
            "train_weeks": int(res["start"]), **_errors(fw),
            "actual_spend": float(x_act.sum()), "recommended_spend": float(x_rec.sum()),
            "est_margin_actual": float(np.sum(m_act)), "est_margin_recommended": float(np.sum(m_rec)),
            "est_uplift": float(np.sum(m_rec - m_act)) if planned else None,
        }
        if len(fn_draws):
            lo, hi = np.quantile(draws[:, i], [(1 - LEVEL_UPLIFT) / 2, (1 + LEVEL_UPLIFT) / 2])
            fold.update(est_uplift_lower=float(lo), est_uplift_upper=float(hi))
        if t_act is not None:
            fold.update(true_margin_actual=float(np.sum(t_act)),
                        true_margin_recommended=None if t_rec is None else float(np.sum(t_rec)),
                        true_uplift=None if t_rec is None else float(np.sum(t_rec - t_act)))
        if res["note"]:
            fold["note"] = res["note"]
        folds.append(fold)
    table = pd.DataFrame(rows, columns=None if rows else list(CSV_COLUMNS))
    weekly = pd.DataFrame(weeks, columns=None if weeks else list(WEEK_COLUMNS))
    summary = _summary(panel, scenario, table, weekly, folds, skipped, draws, settings)
    return BacktestResult(str(scenario.name), table, weekly, summary, draws)


LEVEL_UPLIFT = 0.9
NEW_CUSTOMER_TOLERANCE = 0.2  # new customers this far below the forecast are flagged
CSV_COLUMNS = ("fold_start", "channel", "actual_spend", "forecast_revenue", "actual_revenue",
               "abs_pct_error", "interval_covered", "recommended_spend", "est_margin_actual",
               "est_margin_recommended")
WEEK_COLUMNS = ("week", "fold_start", "channel", "spend", "forecast", "lower", "upper", "actual",
                "covered")


def _errors(weekly: pd.DataFrame) -> dict[str, float]:
    """WAPE, bias and coverage over the (week, channel) cells of ``weekly``."""
    if weekly.empty:
        return {"wape": float("nan"), "bias": float("nan"), "coverage": float("nan")}
    act = float(weekly["actual"].sum())
    err = weekly["forecast"] - weekly["actual"]
    return {"wape": float(err.abs().sum()) / act if act > 0 else float("nan"),
            "bias": float(err.sum()) / act if act > 0 else float("nan"),
            "coverage": float(weekly["covered"].mean())}


def _summary(
    panel: Panel, scenario: Scenario, table: pd.DataFrame, weekly: pd.DataFrame,
    folds: list[dict[str, Any]], skipped: list[tuple[int, str]], draws: FloatArray,
    settings: dict[str, Any],
) -> dict[str, Any]:
    h = int(settings["horizon_weeks"])
    planned = [f["est_uplift"] for f in folds if f["est_uplift"] is not None]
    total = draws.sum(axis=1) if draws.size else np.zeros(0)
    q = [(1 - LEVEL_UPLIFT) / 2, (1 + LEVEL_UPLIFT) / 2]
    lo, hi = (np.quantile(total, q) if total.size else (float("nan"), float("nan")))
    out: dict[str, Any] = {
        "scenario": str(scenario.name),
        "panel": os.path.basename(str(panel.source)),
        "panel_sha256": panel.sha256,
        "channels": len(panel.channels),
        **settings,
        "period_weeks": int(scenario.period_weeks),
        "value": value_objective(scenario),
        **_errors(weekly),
        "coverage_fold_totals": float(table["interval_covered"].mean()) if len(table) else None,
        "cells": len(weekly),
        "cumulative_estimated_uplift": {"value": float(sum(planned)), "lower": float(lo),
                                        "upper": float(hi), "level": LEVEL_UPLIFT,
                                        "draws": int(total.size)},
        "folds": folds,
        "skipped": [{"fold_start": _week(panel, s, h), "train_weeks": max(s, 0), "reason": r}
                    for s, r in skipped],
        "plan_rule": "each fold's plan is one bounded step from the spend actually spent in it "
                     "(the month's media plan, known before the month), at the same total",
    }
    if "true_margin_actual" in table.columns:
        ups = [f["true_uplift"] for f in folds if f.get("true_uplift") is not None]
        out["truth"] = {"cumulative_true_uplift": float(sum(ups)),
                        "folds_true_uplift_positive": int(sum(u > 0 for u in ups)),
                        "folds": len(ups)}
    if "actual_new_customers" in table.columns:
        g = table.groupby("channel", sort=False)[["forecast_new_customers", "actual_new_customers"]].sum()
        nc: dict[str, Any] = {}
        for c, r in g.iterrows():
            f, a = float(r.forecast_new_customers), float(r.actual_new_customers)
            nc[str(c)] = {"forecast": f, "actual": a, "ratio": a / f if f > 0 else None,
                          "short": bool(f > 0 and a < (1.0 - NEW_CUSTOMER_TOLERANCE) * f)}
        out["new_customers"] = nc
    return out


def _week(panel: Panel, pos: int, h: int) -> str:
    """The date of week position ``pos`` (extrapolated weekly before the panel's start)."""
    return (panel.weeks[0] + pd.Timedelta(weeks=int(pos))).strftime("%Y-%m-%d")
