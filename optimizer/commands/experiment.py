"""The experiment group: read out an A/B or holdout test into rows of the experiments file."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.models.experiments import LEVEL, readout, write_experiments
from roiste.optimizer.commands.options import PATH


@click.group("experiment")
def experiment_group() -> None:
    """Experiments that pin the curves: read out A/B and holdout tests.

    'readout' turns exposed and control counts into the incremental effect with an interval
    and into rows of the experiments file that 'roiste fit --experiments' and the scenario's
    'experiments' key read.
    """


@experiment_group.command("readout")
@click.argument("counts", metavar="FILE", type=PATH)
@click.option("--out", "out", type=PATH, default=None,
              help="Experiments CSV to write (channel, x, delta_x, delta_y, sigma, ...).")
def experiment_readout(counts: Path, out: Path | None) -> None:
    """Exposed against control counts -> incremental effect, interval and experiment rows.

    FILE has one row per test, arm (exposed | control) and customer type: test, channel, arm,
    visitors, orders, revenue, weeks, spend; optionally customer_type, revenue_sq (or
    order_value_sd), kind, start, end, delta_x.  The effect is the Welch two-sample difference
    of revenue per visitor with a 90 % Student t interval (Welch-Satterthwaite degrees of
    freedom).  A test of existing customers also gives the channel's existing_incrementality.
    """
    result = readout(counts)
    table = result.table()
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    click.echo(f"(revenue per visitor; diff = exposed - control, {LEVEL:.0%} interval low .. high)")
    for channel, (share, se) in sorted(result.existing_incrementality().items()):
        click.echo(f"{channel}: existing_incrementality {share:.3f} (standard error {se:.3f})")
    if out is not None:
        write_experiments(result.experiments, out)
        click.echo(f"wrote {out}: {len(result.experiments)} experiment rows")
