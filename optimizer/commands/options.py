"""Click options and small parsers shared by the commands of several areas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from roiste.models.io import check_output_path

PATH = click.Path(path_type=Path)

quiet_option = click.option("--quiet", is_flag=True, help="No progress bars.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
force_option = click.option("--force", is_flag=True, help="Replace an existing output directory.")


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
