"""The backtest command: walk forward over past months and score the forecasts and plans."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.optimizer.commands.options import PATH, force_option, output_dir, quiet_option
from roiste.optimizer.runs import run_backtest


@click.command()
@click.argument("scenario", type=PATH)
@click.option("--out", "out", type=PATH, callback=output_dir, required=True, help="Output directory.")
@click.option("--folds", type=click.IntRange(1, None), default=None, help="Number of folds.")
@click.option("--horizon-weeks", type=click.IntRange(1, None), default=4, show_default=True)
@click.option("--cohorts", type=PATH, default=None,
              help="Cohort table: acquisition_month, channel, customers, month_1, month_2, ...")
@force_option
@quiet_option
def backtest(
    scenario: Path, out: Path, folds: int | None, horizon_weeks: int, cohorts: Path | None,
    force: bool, quiet: bool,
) -> None:
    """Walk forward over past months: forecast error, coverage, and what the plans would have earned."""
    result = run_backtest(
        scenario, out, folds=folds, horizon_weeks=horizon_weeks, force=force, progress=not quiet,
        cohorts=cohorts,
    )
    for s in result.summary["skipped"]:
        click.echo(f"skipped fold {s['fold_start']}: {s['reason']}", err=True)
    click.echo(result.headline())
