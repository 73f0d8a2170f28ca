"""Commands that plan: plan a scenario, compare two plans, run the demo."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.optimizer.commands.options import (
    IMPORT_SECONDS,
    PATH,
    controls_option,
    date_column_option,
    executor_options,
    force_option,
    output_dir,
    quiet_option,
    split_list,
)
from roiste.optimizer.report.compare import compare_plans
from roiste.optimizer.report.text import budget_lines, headline
from roiste.optimizer.runs import run_demo, run_plan


@click.command()
@click.argument("scenario", type=PATH)
@click.option("--out", "out", type=PATH, callback=output_dir, required=True, help="Output directory.")
@force_option
@quiet_option
@date_column_option
@controls_option
@executor_options
def plan(scenario: Path, out: Path, force: bool, quiet: bool, date_column: str | None,
         controls: str | None, executor: str | None, scheduler: str | None,
         workers: int | None) -> None:
    """Plan the next period: allocation.csv, summary.json, curves.json, report.html, plan.xlsx."""
    result = run_plan(scenario, out, force=force, progress=not quiet, date_column=date_column,
                      import_seconds=click.get_current_context().meta.get(IMPORT_SECONDS, 0.0),
                      executor=executor, scheduler=scheduler, workers=workers,
                      controls=split_list(controls))
    click.echo(headline(result))
    for line in budget_lines(result):
        click.echo(line)
    click.echo(f"report: {out / 'report.html'}")


@click.command()
@click.argument("plan_a", type=PATH)
@click.argument("plan_b", type=PATH)
def compare(plan_a: Path, plan_b: Path) -> None:
    """Two plans side by side: spend and net margin per channel and in total."""
    click.echo(compare_plans(plan_a, plan_b))


@click.command()
@click.option("--out", "out", type=PATH, callback=output_dir, default=Path("demo-output"), show_default=True)
@force_option
@quiet_option
def demo(out: Path, force: bool, quiet: bool) -> None:
    """Simulate, fit, plan and report on the bundled demo world."""
    report = run_demo(out, force=force, progress=not quiet)
    click.echo(f"report: {report}")
