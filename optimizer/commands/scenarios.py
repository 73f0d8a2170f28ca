"""Commands on scenario files that do not plan: validate them, print their JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from roiste.models.errors import RoisteError
from roiste.optimizer.commands.options import PATH, date_column_option
from roiste.optimizer.scenario import json_schema, validate_scenario_file


@click.command()
@click.argument("scenarios", nargs=-1, required=True, type=PATH)
@date_column_option
def validate(scenarios: tuple[Path, ...], date_column: str | None) -> None:
    """Check scenario files (and the data they name) without planning.

    Every check of ``roiste plan`` that needs no fit runs, with the same message.  Every file
    is checked: one line each, "ok" on stdout or the problem on stderr; the exit code is 2
    when any file fails.
    """
    failed = 0
    for s in scenarios:
        try:
            click.echo(validate_scenario_file(s, date_column=date_column))
        except RoisteError as exc:
            click.echo(f"error: {exc}", err=True)
            failed += 1
    if failed:
        click.get_current_context().exit(2)


@click.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
