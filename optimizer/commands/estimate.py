"""Commands that estimate: simulate a panel, fit response curves, show the curves."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.models.curves import CurveSet
from roiste.models.executor import choose_executor
from roiste.models.experiments import read_experiments
from roiste.models.fit.channel import fit_panel_file
from roiste.models.simulate import write_world
from roiste.optimizer.commands.options import (
    PATH,
    date_column_option,
    executor_options,
    output_file,
    quiet_option,
    seed_option,
    split_list,
)
from roiste.optimizer.report import text as T
from roiste.optimizer.report.columns import CURVES_TABLE, EXPERIMENTS, TEST_NEXT
from roiste.optimizer.report.console import text_table
from roiste.optimizer.voi import experiments_table, test_next_table

CURVES_LEVEL = 0.8
"""Level of the intervals ``roiste curves`` shows when the curves carry bootstrap draws."""


@click.command()
@click.option("--out", "out", type=PATH, callback=output_file, required=True, help="Panel CSV to write.")
@seed_option
@click.option("--channels", "n_channels", type=click.IntRange(1, 10_000), default=6, show_default=True)
@click.option("--weeks", "n_weeks", type=click.IntRange(20, 2_000), default=156, show_default=True)
def simulate(out: Path, seed: int, n_channels: int, n_weeks: int) -> None:
    """Write a simulated weekly panel and its known truth (PANEL.truth.json)."""
    write_world(out, seed=seed, n_channels=n_channels, n_weeks=n_weeks)
    click.echo(f"wrote {out} and {out}.truth.json")


@click.command()
@click.argument("panel", type=PATH)
@click.option("--out", "out", type=PATH, callback=output_file, required=True, help="Curves JSON to write.")
@click.option("--layout", type=click.Choice(["long", "wide"]), default="long", show_default=True)
@click.option("--target", default=None, help="Wide layout: the target column.")
@click.option("--spend", default=None, help="Wide layout: spend columns, comma-separated.")
@click.option("--controls", default=None,
              help="Control columns (events, holidays), comma-separated; text columns become "
                   "name=level indicators. Long layout: columns of each channel's baseline.")
@click.option("--holdout-weeks", type=click.IntRange(0, None), default=0, show_default=True)
@click.option("--bootstrap", type=click.IntRange(0, None), default=0, show_default=True)
@click.option("--experiments", "experiments", type=PATH, default=None,
              help="Lift tests (CSV: channel, x, delta_x, delta_y, sigma, ...) the fit honours.")
@seed_option
@quiet_option
@date_column_option
@executor_options
def fit(
    panel: Path,
    out: Path,
    layout: str,
    target: str | None,
    spend: str | None,
    controls: str | None,
    holdout_weeks: int,
    bootstrap: int,
    experiments: Path | None,
    seed: int,
    quiet: bool,
    date_column: str | None,
    executor: str | None,
    scheduler: str | None,
    workers: int | None,
) -> None:
    """Fit a response curve per channel and save them as one JSON file."""
    curves = fit_panel_file(
        panel,
        layout=layout,
        target=target,
        spend=split_list(spend),
        controls=split_list(controls),
        holdout_weeks=holdout_weeks,
        bootstrap=bootstrap,
        seed=seed,
        progress=not quiet,
        experiments=() if experiments is None else read_experiments(experiments),
        date_column=date_column,
        executor=choose_executor(executor, scheduler, workers),
    )
    curves.save(out)
    d = curves.diagnostics
    quality = ", ".join(f"{k}={d[k]:.3f}" for k in ("r2_train", "r2_holdout", "wape_holdout") if k in d)
    click.echo(f"wrote {out}: {len(curves)} channels" + (f" ({quality})" if quality else ""))
    for warning in d.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)


@click.command("curves")
@click.argument("curves_path", metavar="CURVES", type=PATH)
@click.option("--scenario", "scenario_path", type=PATH, default=None,
              help="Value what to test next in the scenario's net margin (default: revenue).")
def curves_cmd(curves_path: Path, scenario_path: Path | None) -> None:
    """Per-channel table: recent spend, ROAS, marginal ROAS, RPV, saturation.

    Channels fitted with experiments get a second table (the tests each rests on and how far
    they moved its marginal ROAS); curves with bootstrap draws a third: what to test next,
    the channels ranked by the value of knowing their curve exactly.
    """
    curves = CurveSet.load(curves_path)
    n_draws = max(len(curves[c].draws) for c in curves.channels) if len(curves) else 0
    click.echo(text_table(curves.summary_table(level=CURVES_LEVEL), CURVES_TABLE,
                          level=CURVES_LEVEL))
    if n_draws:
        click.echo(T.CURVES_INTERVAL_NOTE.format(level=CURVES_LEVEL, draws=n_draws))
    tested = experiments_table(curves)
    if not tested.empty:
        click.echo("\n" + T.CURVES_EXPERIMENTS)
        percent = [k for k in ("marginal_roas_change", "marginal_roas_change_alone") if k in tested]
        click.echo(text_table(tested.assign(**{k: 100.0 * tested[k] for k in percent}),
                              EXPERIMENTS))
    if n_draws:
        values, unit = test_next_table(curves, scenario_path)
        click.echo("\n" + T.CURVES_TEST_NEXT.format(unit=unit))
        click.echo(text_table(values.assign(test_spend_change=100.0 * values["test_spend_change"]),
                              TEST_NEXT))
