"""The ``roiste`` command line: thin commands that parse, call one library function and print.

Every ``RoisteError`` (bad input, impossible request) becomes one line on stderr and exit
code 2 here, in one place, and so does every operating-system error (``OSError``: a file that
cannot be read or written, a read-only folder, a full disk): those come from the machine, not
from the code.  Anything else is a bug and is allowed to trace back.  SIGTERM and SIGHUP end a
command the way Ctrl-C does, so that it removes its staging files on the way out.

The commands live in ``roiste.optimizer.commands``, one module per area.  The table below
names them; a command's module is imported only when that command runs or shows its own help,
so that ``roiste --help`` and ``roiste validate`` do not load the fitting and plotting stack.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

import click

from roiste.models.errors import RoisteError
from roiste.tracking.errors import TrackingError

# command name -> (module, attribute, short help); the short help is the first sentence of the
# command's docstring (tests/test_cli.py keeps the two equal)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "attribute": ("roiste.optimizer.commands.attribute", "attribute_group",
                  "Credit conversions to channels along touchpoint paths."),
    "backtest": ("roiste.optimizer.commands.backtest", "backtest",
                 "Walk forward over past months: forecast error, coverage, and what the plans "
                 "would have earned."),
    "compare": ("roiste.optimizer.commands.planning", "compare",
                "Two plans side by side: spend and net margin per channel and in total."),
    "curves": ("roiste.optimizer.commands.estimate", "curves_cmd",
               "Per-channel table: recent spend, ROAS, marginal ROAS, RPV, saturation."),
    "customers": ("roiste.optimizer.commands.customers", "customers",
                  "New versus existing customers: tag orders against the customer store."),
    "demo": ("roiste.optimizer.commands.planning", "demo",
             "Simulate, fit, plan and report on the bundled demo world."),
    "experiment": ("roiste.optimizer.commands.experiment", "experiment_group",
                   "Experiments that pin the curves: read out A/B and holdout tests."),
    "fit": ("roiste.optimizer.commands.estimate", "fit",
            "Fit a response curve per channel and save them as one JSON file."),
    "monitor": ("roiste.optimizer.commands.monitor", "monitor",
                "Weekly KPIs and alerts: dashboard.html, kpis.csv, alerts.json, draft scenarios."),
    "plan": ("roiste.optimizer.commands.planning", "plan",
             "Plan the next period: allocation.csv, summary.json, curves.json, report.html, "
             "plan.xlsx."),
    "recovery": ("roiste.optimizer.commands.recovery", "recovery_group",
                 "Cart recovery: which reminder or incentive each segment of abandoned carts "
                 "gets."),
    "schema": ("roiste.optimizer.commands.scenarios", "schema",
               "Print the JSON Schema of scenario files."),
    "serve": ("roiste.optimizer.commands.serve", "serve",
              "Serve POST /v1/purchases (bearer token from env ROISTE_TOKEN), /health, "
              "/openapi.json."),
    "simulate": ("roiste.optimizer.commands.estimate", "simulate",
                 "Write a simulated weekly panel and its known truth (PANEL.truth.json)."),
    "validate": ("roiste.optimizer.commands.scenarios", "validate",
                 "Check scenario files (and the data they name) without planning."),
}


class _RoisteGroup(click.Group):
    """The root group: loads the commands of ``COMMANDS`` on demand, turns library errors into
    exit code 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[cmd_name]
        t0 = time.perf_counter()
        cmd = getattr(importlib.import_module(module), attr)
        # the command's import, for the timings a run writes (the first import costs; a
        # module already loaded adds nothing); the key is commands.options.IMPORT_SECONDS,
        # spelled out: --help must not load a command module
        key = "roiste.import_seconds"
        ctx.meta[key] = ctx.meta.get(key, 0.0) + time.perf_counter() - t0
        if not isinstance(cmd, click.Command):
            raise TypeError(f"{module}.{attr} is not a click command")
        return cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # the listing comes from the table, so that --help imports no command module;
        # a stand-in command shortens each line the way click shortens a docstring
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, click.Command(n, help=COMMANDS[n][2]).get_short_help_str(limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (RoisteError, TrackingError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except OSError as exc:
            click.echo(f"error: {_os_error_line(exc)}", err=True)
            ctx.exit(2)


def _os_error_line(exc: OSError) -> str:
    """One line for an operating-system error: the file and the system's words, no errno."""
    reason = exc.strerror or " ".join(str(exc).split()) or exc.__class__.__name__
    if exc.filename is None:
        return reason
    if exc.filename2 is not None:
        return f"{os.fsdecode(exc.filename)} -> {os.fsdecode(exc.filename2)}: {reason}"
    return f"{os.fsdecode(exc.filename)}: {reason}"


def _stop(signum: int, frame: FrameType | None) -> None:
    # Raised in the main thread wherever it is: every `except BaseException` / `finally` that
    # removes a staging directory runs, then the process ends with 128 + the signal's number.
    raise SystemExit(128 + signum)


def _stop_on_signals() -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers (a command run from a worker thread)
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
            signal.signal(sig, _stop)


@click.group(cls=_RoisteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="roiste")
def main() -> None:
    """roiste: where the next unit of marketing spend earns the most net margin."""
    _stop_on_signals()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
