"""The runs behind the command line: read the inputs, call the library, write the outputs.

Each run reads its files (scenario, panel, curves, rules, a plan directory), hands the
contents to the library below (:mod:`optimizer.plan`, :mod:`optimizer.backtest`,
:mod:`optimizer.monitor`) and writes its output directory through :mod:`optimizer.report`,
all or nothing: the directory is checked before any work, built in a temporary sibling and
renamed into place at the end, so a failed run leaves no output directory.

* :func:`run_plan`: ``roiste plan SCENARIO --out DIR``
* :func:`run_backtest`: ``roiste backtest SCENARIO --out DIR``
* :func:`run_monitor`: ``roiste monitor PANEL --rules RULES --out DIR``
* :func:`run_demo`: ``roiste demo --out DIR``
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from roiste.models.curves import CurveSet
from roiste.models.errors import RoisteError
from roiste.models.executor import Executor, choose_executor
from roiste.models.experiments import read_experiments
from roiste.models.io import file_sha256
from roiste.models.panel import read_panel
from roiste.models.simulate import write_world
from roiste.optimizer.backtest.cohorts import cohort_check, read_cohorts
from roiste.optimizer.demo import (
    DEMO_BOOTSTRAP,
    DEMO_CHANNELS,
    DEMO_ENTRIES,
    DEMO_SEED,
    DEMO_WEEKS,
    demo_settings,
)
from roiste.optimizer.flighting import plan_weeks
from roiste.optimizer.monitor.cohorts import read_tagged_orders
from roiste.optimizer.monitor.kpis import load_plan
from roiste.optimizer.monitor.notify import deliver
from roiste.optimizer.monitor.rules import load_rules
from roiste.optimizer.monitor.watch import (
    MonitorResult,
    alerts_doc,
    draft_scenario,
    evaluate,
    write_cohort_draft,
    write_draft,
)
from roiste.optimizer.plan import Plan, build_plan
from roiste.optimizer.report.dashboard import render_dashboard
from roiste.optimizer.report.output import (
    PLAN_FILES,
    check_output_dir,
    publish_dir,
    sibling_dir,
    write_plan,
)
from roiste.optimizer.risk import RISK_BOOTSTRAP
from roiste.optimizer.scenario import (
    check_plan_inputs,
    load_for_data,
    load_scenario,
    validate_scenario_file,
)

if TYPE_CHECKING:  # the walk loads the fits and scikit-learn: a type only here
    from roiste.optimizer.backtest.walk import BacktestResult

MONITOR_FILES = ("dashboard.html", "kpis.csv", "alerts.json")


# ------------------------------------------------------------------------------------ plan


def run_plan(
    scenario_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: bool = True,
    date_column: str | None = None,
    import_seconds: float = 0.0,
    executor: str | None = None,
    scheduler: str | None = None,
    workers: int | None = None,
    controls: list[str] | None = None,
) -> Plan:
    """The whole ``roiste plan`` run: scenario -> data -> curves -> plan -> output directory.

    Curves come from the scenario's ``curves`` file when it names one, otherwise they are
    fitted from the data with the scenario's ``seed``, ``bootstrap`` and ``holdout_weeks``; a
    plan over the curves' uncertainty (``risk`` other than ``point``) fits
    :data:`~roiste.optimizer.risk.RISK_BOOTSTRAP` draws unless ``bootstrap`` is written.
    The output directory is checked before any work and written atomically at the end; a
    failed run leaves no output directory.

    Parameters
    ----------
    scenario_path : path
        The scenario file.
    out_dir : path
        The output directory (:func:`optimizer.report.output.write_plan`).
    force : bool, default False
        Replace an existing output directory (one holding only the files a plan writes).
    progress : bool, default True
        Progress bars while fitting and over the steps of a glide path.
    date_column : str, optional
        The panel's week column (``--date-column``), replacing the scenario's ``date_column``.
    controls : list of str, optional
        The panel's control columns (``--controls``), replacing the scenario's ``controls``.
    import_seconds : float, default 0
        Seconds the command spent importing its code before the run (measured by the command
        line).  ``timings.json`` holds ``import_seconds`` (these, and the fitting code's import
        when the run fits), ``fit_seconds`` (the fit alone) and ``total_seconds`` (both).
    executor, scheduler, workers : optional
        Where the per-channel fits run (:func:`roiste.models.executor.choose_executor`); each
        given one replaces the scenario's key of the same name.

    Returns
    -------
    Plan
    """
    t0 = time.perf_counter()
    startup = float(import_seconds)
    out = Path(out_dir)
    check_output_dir(out, force, PLAN_FILES)
    scenario_path = Path(scenario_path)
    scenario, panel = load_for_data(scenario_path, date_column=date_column, controls=controls)
    panel_kw: dict[str, Any] = {
        "layout": scenario.layout,
        "target": scenario.target,
        "spend": scenario.spend,
        "controls": scenario.controls,
        "date_column": scenario.date_column,
    }
    # every check against the data that needs no fit, the same as roiste validate's
    current_weekly = check_plan_inputs(scenario, panel)

    t_fit = time.perf_counter()
    curves_file: Path | None = None
    curves_json: str | None = None
    if scenario.curves is not None:
        curves_file = Path(scenario.curves)
        curves = CurveSet.load(curves_file)
        curves_hash = file_sha256(curves_file)
    else:
        t_import = time.perf_counter()
        # loaded when a run fits: the fitting code and scikit-learn take a second to import,
        # which a plan on fitted curves does not spend (counted as import time, not fit time)
        from roiste.models.fit.channel import fit_panel_file
        loaded = time.perf_counter() - t_import
        import_seconds += loaded
        t_fit += loaded
        curves = fit_panel_file(
            scenario.data,
            **panel_kw,
            holdout_weeks=int(scenario.holdout_weeks or 0),
            bootstrap=scenario.fit_draws(RISK_BOOTSTRAP),
            seed=int(scenario.seed or 0),
            progress=progress,
            experiments=() if scenario.experiments is None
            else read_experiments(scenario.experiments),
            executor=_executor(scenario, executor, scheduler, workers),
        )
        curves_json = curves.to_json()
        curves_hash = hashlib.sha256(curves_json.encode("utf-8")).hexdigest()
    fit_s = time.perf_counter() - t_fit
    if scenario.period is not None:  # spend per channel and week of the period
        plan = plan_weeks(curves, scenario, current_weekly, panel.spend,
                          data_hash=str(panel.sha256), scenario_hash=file_sha256(scenario_path),
                          curves_hash=curves_hash)
    else:
        plan = build_plan(
            curves,
            scenario,
            current_weekly,
            data_hash=str(panel.sha256),
            scenario_hash=file_sha256(scenario_path),
            curves_hash=curves_hash,
            progress=progress,
        )
    timings = {"fit_seconds": fit_s, "import_seconds": import_seconds,
               "total_seconds": time.perf_counter() - t0 + startup}
    write_plan(
        plan, out, force=force, curves_file=curves_file, curves_json=curves_json, timings=timings
    )
    return plan


def _executor(scenario: Any, kind: str | None, scheduler: str | None,
              workers: int | None) -> Executor:
    """The run's executor: the command line's settings, else the scenario's keys (a
    ``--scheduler`` means dask; the scenario's address serves its dask executor only)."""
    k = kind if kind is not None else ("dask" if scheduler is not None else scenario.executor)
    address = scheduler if scheduler is not None else scenario.scheduler
    if k == "local" and scheduler is None:
        address = None
    return choose_executor(k, address, workers if workers is not None else scenario.workers)


# -------------------------------------------------------------------------------- backtest


def run_backtest(
    scenario_path: str | os.PathLike[str], out_dir: str | os.PathLike[str], *,
    folds: int | None = None, horizon_weeks: int = 4, force: bool = False, progress: bool = True,
    cohorts: str | os.PathLike[str] | None = None, truth: str | os.PathLike[str] | None = None,
    replan_months: int | None = None, bootstrap: int | None = None,
    date_column: str | None = None, executor: str | None = None, scheduler: str | None = None,
    workers: int | None = None, controls: list[str] | None = None,
) -> BacktestResult:
    """The whole ``roiste backtest`` run: scenario -> folds -> output directory.

    Parameters
    ----------
    scenario_path : path
        The scenario file (long layout); its ``curves`` key is ignored (every fold refits).
    out_dir : path
        Output directory (``backtest.csv``, ``backtest_weeks.csv``, ``backtest.json``,
        ``backtest.html``), written all or nothing; an existing one is refused unless ``force``.
    folds, horizon_weeks : int
        Fold layout (:func:`optimizer.backtest.walk.fold_starts`).
    cohorts : path, optional
        A cohort table (:func:`optimizer.backtest.cohorts.read_cohorts`).
    truth : path, optional
        A simulated world's truth file; by default ``<panel>.truth.json`` when it exists.
    replan_months : int, optional
        With a truth: months of the closed-loop replay (default: as many folds as fit, at most
        12, of ``period_weeks`` weeks each; 0 turns it off).
    bootstrap : int, optional
        Draws of each fit (default: the scenario's ``bootstrap``, or 50 when it is 0).
    date_column : str, optional
        The panel's week column (``--date-column``), replacing the scenario's ``date_column``.
    controls : list of str, optional
        The panel's control columns (``--controls``), replacing the scenario's ``controls``:
        each fold's forecasts know the controls of the weeks they forecast.
    executor, scheduler, workers : optional
        Where the folds and fits run (:func:`roiste.models.executor.choose_executor`); each
        given one replaces the scenario's key of the same name.

    Returns
    -------
    optimizer.backtest.walk.BacktestResult
    """
    # loaded when a backtest runs: its folds fit curves (scikit-learn), which a plan may not
    from roiste.optimizer.backtest.forecast import BOOTSTRAP, MIN_TRAIN_WEEKS
    from roiste.optimizer.backtest.truth import (  # the same: loads the fits
        replan_world,
        truth_path,
        world_from_truth,
    )
    from roiste.optimizer.backtest.walk import (  # the same
        MAX_FOLDS,
        BacktestError,
        backtest_panel,
    )
    from roiste.optimizer.report.backtest import write_backtest  # the same: loads the walk

    out = Path(out_dir)
    check_output_dir(out, force)
    scenario = load_scenario(scenario_path)
    if date_column is not None:
        scenario = scenario.model_copy(update={"date_column": date_column})
    if controls is not None:
        scenario = scenario.model_copy(update={"controls": controls})
    if scenario.layout != "long":
        raise BacktestError(f"{scenario_path}: layout: the backtest needs a long panel (revenue per "
                            "channel), not layout: wide")
    panel = read_panel(scenario.data, controls=scenario.controls,
                       date_column=scenario.date_column)
    tpath = Path(truth) if truth is not None else truth_path(scenario.data)
    truth_curves = CurveSet.load(tpath) if truth is not None or tpath.exists() else None
    table = read_cohorts(cohorts) if cohorts is not None else None
    draws = int(bootstrap if bootstrap is not None else (scenario.bootstrap or BOOTSTRAP))
    # the cohorts are judged before the walk, so that a problem with them costs no fit
    judged = cohort_check(table, scenario, list(panel.channels)) if table is not None else None
    result = backtest_panel(panel, scenario, folds=folds, horizon_weeks=horizon_weeks,
                            bootstrap=draws, truth=truth_curves, progress=progress,
                            executor=_executor(scenario, executor, scheduler, workers))
    if truth_curves is not None:
        world = world_from_truth(panel, truth_curves)
        p = int(scenario.period_weeks)
        months = (min(MAX_FOLDS, (panel.n_weeks - MIN_TRAIN_WEEKS) // p)
                  if replan_months is None else int(replan_months))
        if months > 0:
            replay = replan_world(world, scenario, months=months, seed=int(scenario.seed),
                                  progress=progress)
            result.summary.setdefault("truth", {})["replanning"] = replay.to_dict("records")
        result.summary.setdefault("truth", {})["file"] = tpath.name
    if judged is not None:
        result.summary["cohorts"] = judged
    write_backtest(result, out, force=force)
    return result


# --------------------------------------------------------------------------------- monitor


def _slug(s: str) -> str:
    out = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in s.lower())
    return out.strip("-")[:40] or "channel"


def _check_monitor_out(out: Path, force: bool) -> None:
    check_output_dir(out, force, MONITOR_FILES, prefixes=("draft-",))


def run_monitor(
    panel_path: str | os.PathLike[str],
    rules_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    plan_dir: str | os.PathLike[str] | None = None,
    orders_path: str | os.PathLike[str] | None = None,
    force: bool = False,
    notify: bool = True,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    date_column: str | None = None,
    controls: Sequence[str] | None = None,
) -> MonitorResult:
    """The whole ``roiste monitor`` run: panel and rules -> KPIs, alerts, drafts, dashboard.

    Writes into ``out``:

    * ``kpis.csv``: one row per week and series (campaign, channel, all channels) with every
      KPI, its level over the recent weeks, the plan's expectation and the changes against
      both;
    * ``alerts.json``: the alerts active in the latest week (rule, channel, KPI, since when, by
      how much, the draft scenario) and every earlier episode, plus the notification outcomes;
    * ``draft-<n>-<channel>.yml``: the draft scenario of each alert
      (:func:`optimizer.monitor.watch.write_draft`);
    * ``dashboard.html``: one page, the alerts on top, then the KPI table with sparklines.

    The directory is written all or nothing; an existing one is refused unless ``force``.
    Notifications (:mod:`optimizer.monitor.notify`) go out after the outputs are built and
    before they are moved into place.

    Parameters
    ----------
    panel_path, rules_path : path
        The weekly panel (long layout) and the rules file.
    out : path
        Output directory (refused when it exists, unless ``force``).
    plan_dir : path, optional
        A ``roiste plan`` output directory.
    orders_path : path, optional
        Tagged orders (``roiste customers tag`` output): recent cohorts at equal age are
        watched (the rules' ``cohorts`` section).
    force : bool, default False
        Replace an existing output directory of the monitor.
    notify : bool, default True
        Send the notifications configured in the rules.
    progress : bool, default True
        Progress bar over the rules.
    sleep : callable
        Waits between delivery attempts.
    date_column : str, optional
        The panel's week column (``--date-column``), replacing the ``date_column`` of the
        rules' draft scenario; the draft scenarios written carry it.
    controls : sequence of str, optional
        The panel's event columns (``--controls``), replacing the ``controls`` of the rules'
        draft scenario: read as controls, not as part of the channel key; the drafts carry them.

    Returns
    -------
    optimizer.monitor.watch.MonitorResult
    """
    out = Path(os.path.abspath(out))
    _check_monitor_out(out, force)
    rules = load_rules(rules_path)
    draft = draft_scenario(rules)
    if date_column is None and draft is not None:
        date_column = draft.date_column
    if controls is None and draft is not None:
        controls = draft.controls
    panel = read_panel(panel_path, min_weeks=1, date_column=date_column, controls=controls)
    plan = load_plan(Path(plan_dir)) if plan_dir is not None else None
    orders = read_tagged_orders(orders_path) if orders_path is not None else None
    result = evaluate(panel, rules, plan, orders=orders, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_dir(out, "tmp")
    try:
        alerted = frozenset(a["channel"] for a in result.alerts)
        for i, alert in enumerate(result.alerts, start=1):
            name = f"draft-{i:02d}-{_slug(alert['channel'])}.yml"
            if "age_days" in alert:  # a cohort alert: the next plan with the value it implies
                moved = write_cohort_draft(tmp / name, alert, panel, rules, plan,
                                           Path(panel_path), result.cohort_econ,
                                           date_column=date_column, controls=controls)
                if moved is None:
                    continue
                alert["draft"] = moved
            else:
                alert["draft"] = write_draft(tmp / name, alert, panel, rules, plan,
                                             Path(panel_path), avoid=alerted,
                                             date_column=date_column, controls=controls)
            alert["draft_scenario"] = name
            try:
                validate_scenario_file(tmp / name)
            except RoisteError as exc:
                # A draft no plan could run on (a channel whose spend never changes, say) is not
                # written; the alert stands and says why.
                (tmp / name).unlink()
                alert.pop("draft", None)
                alert.pop("draft_scenario")
                alert["draft_refused"] = str(exc)
        if notify and rules.notify is not None and result.alerts:
            n = rules.notify
            cafile = rules.resolve(n.email.cafile) if n.email and n.email.cafile else None
            result.deliveries = deliver(result.alerts, n, rules.resolve(n.state),
                                        title=rules.name, cafile=cafile, sleep=sleep)
        table = result.table
        (tmp / "kpis.csv").write_text(table.to_csv(index=False, float_format="%.6g",
                                                   lineterminator="\n"), encoding="utf-8")
        doc = json.dumps(alerts_doc(result), indent=2, sort_keys=True, allow_nan=False) + "\n"
        (tmp / "alerts.json").write_text(doc, encoding="utf-8")
        (tmp / "dashboard.html").write_text(render_dashboard(result), encoding="utf-8")
        publish_dir(tmp, out, lambda: _check_monitor_out(out, force))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out = out
    return result


# ------------------------------------------------------------------------------------ demo


def _check_demo_out(out: Path, force: bool) -> None:
    check_output_dir(out, force, DEMO_ENTRIES)


def run_demo(out: str | os.PathLike[str], *, force: bool = False, progress: bool = True) -> Path:
    """Simulate, fit, plan and report on the demo world; return the path of ``report.html``.

    Parameters
    ----------
    out : path
        Output directory (its layout: :mod:`optimizer.demo`).
    force : bool, default False
        Replace an existing demo output directory (one holding only demo files).
    progress : bool, default True
        Progress bars while fitting.

    Returns
    -------
    pathlib.Path
        ``OUT/plan/report.html``.
    """
    given = Path(out)
    out = Path(os.path.abspath(out))
    _check_demo_out(out, force)
    settings = demo_settings()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_dir(out, "tmp")
    try:
        panel = tmp / "data" / "panel.csv"
        write_world(panel, seed=DEMO_SEED, n_channels=DEMO_CHANNELS, n_weeks=DEMO_WEEKS)
        # loaded when a run fits (see run_plan)
        from roiste.models.fit.channel import fit_panel_file

        curves = fit_panel_file(
            panel,
            holdout_weeks=int(settings.get("holdout_weeks", 0) or 0),
            bootstrap=int(settings.get("bootstrap", 0) or DEMO_BOOTSTRAP),
            seed=int(settings.get("seed", DEMO_SEED)),
            progress=progress,
        )
        (tmp / "curves.json").write_text(curves.to_json(), encoding="utf-8")
        scenario = {**settings, "data": "data/panel.csv", "curves": "curves.json"}
        text = yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True)
        (tmp / "scenario.yaml").write_text(text, encoding="utf-8")
        run_plan(tmp / "scenario.yaml", tmp / "plan", progress=progress)
        publish_dir(tmp, out, lambda: _check_demo_out(out, force))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return given / "plan" / "report.html"


__all__ = ["MONITOR_FILES", "run_backtest", "run_demo", "run_monitor", "run_plan"]
