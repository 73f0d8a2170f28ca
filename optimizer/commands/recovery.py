"""The recovery group: which reminder each segment of abandoned carts gets."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.optimizer.commands.options import PATH, force_option, output_dir
from roiste.optimizer.recovery import plan_recovery_file
from roiste.optimizer.report.recovery import headline, write_recovery


@click.group("recovery")
def recovery_group() -> None:
    """Cart recovery: which reminder or incentive each segment of abandoned carts gets.

    'plan' reads RECOVERY.yaml (segments, reminders, their recovery rates or an A/B readout,
    the incentive budget and the cap on messages per customer) and writes a certified plan.
    """


@recovery_group.command("plan")
@click.argument("recovery", metavar="RECOVERY.yaml", type=PATH)
@click.option("--out", "out", type=PATH, callback=output_dir, required=True,
              help="Output directory: recovery.csv, options.csv, summary.json, report.html, "
                   "recovery.xlsx.")
@force_option
def recovery_plan(recovery: Path, out: Path, force: bool) -> None:
    """Choose a reminder per segment for the most net margin caused, under the incentive budget.

    Only what a reminder causes counts (the control's own recovery rate is subtracted); the
    plan is certified by a bound from the LP's duals.
    """
    plan = plan_recovery_file(recovery)
    write_recovery(plan, out, force=force)
    click.echo(headline(plan))
    click.echo(f"wrote {out}")
