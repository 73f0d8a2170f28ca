"""The command table of ``roiste.optimizer.cli``: commands load on demand, ``--help`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from roiste.optimizer.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sklearn", "scipy", "matplotlib", "pulp")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_loads_with_the_short_help_of_the_table(name: str) -> None:
    cmd = main.get_command(click.Context(main), name)
    assert isinstance(cmd, click.Command)
    assert cmd.name == name
    assert cmd.get_short_help_str(limit=10_000) == COMMANDS[name][2]


def test_help_lists_every_command_without_importing_the_heavy_stack() -> None:
    code = (
        "import sys\n"
        "from roiste.optimizer.cli import main\n"
        "main(['--help'], standalone_mode=False)\n"
        "print('MODULES', ' '.join(sorted(sys.modules)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    help_text, _, modules = res.stdout.partition("MODULES ")
    loaded = {m.partition(".")[0] for m in modules.split()}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert not any(m.startswith("roiste.optimizer.commands.") for m in modules.split())
    for name in COMMANDS:
        assert f"\n  {name} " in help_text


def test_schema_prints_the_json_schema() -> None:
    res = CliRunner().invoke(main, ["schema"])
    assert res.exit_code == 0, res.output
    assert isinstance(json.loads(res.output), dict)


def test_validate_the_demo_scenario(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    res = CliRunner().invoke(main, ["validate", "scenarios/demo.yaml"])
    assert res.exit_code == 0, res.output
    assert "ok" in res.output


def test_an_unknown_command_is_a_usage_error() -> None:
    res = CliRunner().invoke(main, ["no-such-command"])
    assert res.exit_code == 2
    assert "No such command 'no-such-command'" in res.output
    assert res.output.startswith("Usage: ")
