"""Click options and small parsers shared by the commands of several areas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from roiste.models.io import check_output_path

# the key of click's context meta under which the command line (cli.py, which spells it out)
# keeps the seconds it spent importing a command's code (a run adds them to its timings)
IMPORT_SECONDS = "roiste.import_seconds"

PATH = click.Path(path_type=Path)
_F = TypeVar("_F", bound=Callable[..., Any])


def executor_options(f: _F) -> _F:
    """``--executor``, ``--scheduler`` and ``--workers``: where the fits and folds run."""
    f = click.option("--workers", type=click.IntRange(1, None), default=None,
                     help="Worker processes (local, or the Dask cluster started for the run).")(f)
    f = click.option("--scheduler", metavar="ADDRESS", default=None,
                     help="A running Dask scheduler (tcp://host:8786); implies --executor dask.")(f)
    return click.option("--executor", type=click.Choice(["local", "dask"]), default=None,
                        help="Run fits and folds on this machine's processes (local, the "
                        "default) or on Dask; same results.")(f)

quiet_option = click.option("--quiet", is_flag=True, help="No progress bars.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
force_option = click.option("--force", is_flag=True, help="Replace an existing output directory.")
date_column_option = click.option(
    "--date-column", "date_column", default=None, metavar="NAME",
    help="The panel's week column when it is not named date (e.g. time); replaces the "
    "scenario's date_column.")


controls_option = click.option(
    "--controls", "controls", default=None, metavar="COLUMNS",
    help="The panel's control columns (events, holidays), comma-separated; text columns become "
    "name=level indicators; replaces the scenario's controls.")


def split_list(cols: str | None) -> list[str] | None:
    """The items of a comma-separated option, stripped, empty ones dropped.

    Parameters
    ----------
    cols : str or None
        The option's value, e.g. ``"tv, search,"``.

    Returns
    -------
    list of str or None
        ``["tv", "search"]``; None when the option was not given.
    """
    if cols is None:
        return None
    return [c.strip() for c in cols.split(",") if c.strip()]


def _output_check(directory: bool) -> Callable[[click.Context, click.Parameter, Path | None], Path | None]:
    def check(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
        if value is not None:
            check_output_path(value, directory=directory)
        return value

    return check


#: ``--out`` callbacks: refuse, before any work, an output that exists and is not a regular file
#: (a directory, for ``output_dir``): a device, a FIFO, a socket or a symbolic link.
output_file = _output_check(directory=False)
output_dir = _output_check(directory=True)
