"""The monitor command: weekly KPIs, alerts and their notifications."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.optimizer.commands.options import (
    PATH,
    controls_option,
    date_column_option,
    force_option,
    output_dir,
    quiet_option,
    split_list,
)
from roiste.optimizer.runs import run_monitor


@click.command()
@click.argument("panel", type=PATH)
@click.option("--rules", "rules", type=PATH, required=True, help="Alert rules (YAML).")
@click.option("--plan", "plan_dir", type=PATH, default=None, help="A plan directory to compare with.")
@click.option("--orders", "orders", type=PATH, default=None,
              help="Tagged orders (roiste customers tag): watch recent cohorts at equal age.")
@click.option("--out", "out", type=PATH, callback=output_dir, required=True, help="Output directory.")
@click.option("--no-notify", is_flag=True, help="Write the outputs but send no notification.")
@force_option
@quiet_option
@date_column_option
@controls_option
def monitor(panel: Path, rules: Path, plan_dir: Path | None, orders: Path | None, out: Path,
            no_notify: bool, force: bool, quiet: bool, date_column: str | None,
            controls: str | None) -> None:
    """Weekly KPIs and alerts: dashboard.html, kpis.csv, alerts.json, draft scenarios.

    Exit code 1 when a notification could not be delivered after its retries.
    """
    result = run_monitor(panel, rules, out, plan_dir=plan_dir, orders_path=orders, force=force,
                         notify=not no_notify, progress=not quiet, date_column=date_column,
                         controls=split_list(controls))
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(result.headline())
    click.echo(f"dashboard: {out / 'dashboard.html'}")
    failed = result.failed_deliveries
    for d in failed:
        click.echo(f"error: {d.target} delivery failed after {d.attempts} attempt(s): {d.error}",
                   err=True)
    if failed:
        click.get_current_context().exit(1)
