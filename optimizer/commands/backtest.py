"""The backtest command: walk forward over past months and score the forecasts and plans."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.optimizer.commands.options import (
    PATH,
    controls_option,
    date_column_option,
    executor_options,
    force_option,
    output_dir,
    quiet_option,
    split_list,
)
from roiste.optimizer.runs import run_backtest


@click.command()
@click.argument("scenario", type=PATH)
@click.option("--out", "out", type=PATH, callback=output_dir, required=True, help="Output directory.")
@click.option("--folds", type=click.IntRange(1, None), default=None, help="Number of folds.")
@click.option("--horizon-weeks", type=click.IntRange(1, None), default=4, show_default=True)
@click.option("--cohorts", type=PATH, default=None,
              help="Cohort table (acquisition_month, channel, customers, month_1, month_2, ...) "
              "or the tagged orders of `roiste customers tag`.")
@force_option
@quiet_option
@date_column_option
@controls_option
@executor_options
def backtest(
    scenario: Path, out: Path, folds: int | None, horizon_weeks: int, cohorts: Path | None,
    force: bool, quiet: bool, date_column: str | None, controls: str | None,
    executor: str | None, scheduler: str | None, workers: int | None,
) -> None:
    """Walk forward over past months: forecast error, coverage, and what the plans would have earned."""
    result = run_backtest(
        scenario, out, folds=folds, horizon_weeks=horizon_weeks, force=force, progress=not quiet,
        cohorts=cohorts, date_column=date_column, executor=executor, scheduler=scheduler,
        workers=workers, controls=split_list(controls),
    )
    for s in result.summary["skipped"]:
        click.echo(f"skipped fold {s['fold_start']}: {s['reason']}", err=True)
    click.echo(result.headline())
