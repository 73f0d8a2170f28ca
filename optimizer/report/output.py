"""Writing a plan's output directory, all or nothing.

Everything is built in a temporary sibling directory which is renamed into place at the end:
a reader sees either no directory, the old one, or the complete new one.  The staging
directories of runs that were killed are removed by the next run beside the same output
(:func:`roiste.models.io.clean_staging`), and an operating-system error while writing (a
read-only folder, a full disk) is one :class:`~roiste.models.errors.OutputError` line.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from roiste.models.curves import copy_curves_files, curves_files, draws_file_name
from roiste.models.errors import OutputError, RoisteError
from roiste.models.io import (
    check_output_path,
    clean_staging,
    os_error_line,
    output_errors,
    staging_name,
)
from roiste.optimizer.plan import Plan
from roiste.optimizer.report.html import render_html
from roiste.optimizer.report.tables import allocation_csv, allocation_weeks_csv, summary_json
from roiste.optimizer.report.xlsx import xlsx_bytes

OUTPUT_FILES = (
    "allocation.csv",
    "summary.json",
    "curves.json",
    "plan.xlsx",
    "report.html",
    "timings.json",
)
PLAN_FILES = (*OUTPUT_FILES, "allocation_weeks.csv", draws_file_name("curves.json"))
"""Every file a plan may write: a plan with ``period`` adds ``allocation_weeks.csv``, curves
with many bootstrap draws add their sidecar ``curves.draws.npy``."""


def sibling_dir(out: Path, kind: str) -> Path:
    """A new empty hidden directory next to ``out`` (same file system, so renames are atomic).

    What killed runs left beside ``out`` is removed first.
    """
    out = Path(os.path.abspath(out))
    with output_errors(out.parent):
        clean_staging(out)
        for _ in range(100):
            d = out.parent / staging_name(out, kind)
            try:
                d.mkdir()
            except FileExistsError:
                continue
            return d
    raise OutputError(f"{out.parent}: cannot create a temporary directory")


def publish_dir(tmp: Path, out: Path, check: Callable[[], None]) -> None:
    """Move a finished temporary directory to ``out``.

    An existing ``out`` is first passed to ``check`` (which raises to refuse it), then swapped
    out in one rename and deleted, so a reader never sees a half-written directory.
    """
    with output_errors(out):
        if out.exists():
            check()
            old = sibling_dir(out, "old")
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)


def check_output_dir(
    out: Path, force: bool, outputs: Collection[str] | None = None, prefixes: tuple[str, ...] = ()
) -> None:
    """Refuse an existing output, unless ``force`` and it is a directory that may be replaced.

    Never replaced, even with ``force``: a file, a symbolic link, a device, a FIFO or a
    socket, the working directory or a directory that contains it, and (when ``outputs`` names
    the files a run writes, and ``prefixes`` the starts of names it writes many of) a directory
    holding anything else, so that ``--force`` cannot wipe a folder of other work.
    """
    check_output_path(out, directory=True)
    if not (out.exists() or out.is_symlink()):
        return
    if not force:
        raise RoisteError(f"{out}: output directory exists (use --force to replace it)")
    here, target = Path.cwd().resolve(), out.resolve()
    if target == here or target in here.parents:
        raise RoisteError(f"{out}: is the working directory or contains it; not replacing it")
    if outputs is not None:
        other = sorted(p.name for p in out.iterdir()
                       if p.name not in outputs and not p.name.startswith(prefixes))
        if other:
            shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
            raise RoisteError(f"{out}: holds files this command does not write ({shown}); not replacing it")


def write_plan(
    plan: Plan,
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    curves_file: str | os.PathLike[str] | None = None,
    curves_json: str | None = None,
    timings: Mapping[str, float] | None = None,
) -> Path:
    """Write the plan's files into ``out_dir``, all or nothing.

    Everything is built in a temporary sibling directory which is renamed into place at the
    end; an existing directory is refused unless ``force``, and then replaced in one rename.

    Parameters
    ----------
    plan : Plan
    out_dir : path
        The output directory (``allocation.csv``, ``summary.json``, ``curves.json``,
        ``report.html``, ``plan.xlsx``, ``timings.json``).
    force : bool, default False
        Replace an existing output directory.
    curves_file : path, optional
        The curves file the plan read; copied byte for byte as ``curves.json`` (with its
        draws' sidecar as ``curves.draws.npy``).
    curves_json : str, optional
        The text of the curves fitted for the plan (otherwise the plan's curves are saved).
    timings : mapping, optional
        Extra wall-clock timings (seconds) for ``timings.json`` and the report.

    Returns
    -------
    pathlib.Path
        The output directory.
    """
    out = Path(os.path.abspath(out_dir))
    check_output_dir(out, force, PLAN_FILES)
    with output_errors(out.parent):
        out.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_dir(out, "tmp")
    try:
        t0 = time.perf_counter()
        (tmp / "allocation.csv").write_text(allocation_csv(plan), encoding="utf-8", newline="\n")
        (tmp / "summary.json").write_text(summary_json(plan), encoding="utf-8", newline="\n")
        if plan.weeks is not None:  # a plan with period: spend per channel and week
            (tmp / "allocation_weeks.csv").write_text(allocation_weeks_csv(plan),
                                                      encoding="utf-8", newline="\n")
        if curves_file is not None:  # with its sidecar, when it has one
            files = copy_curves_files(curves_file, "curves.json")
        else:
            files = curves_files(curves_json if curves_json is not None else plan.curves.to_json())
        for name, data in files.items():  # published with the rest, in the one rename
            (tmp / name).write_bytes(data)
        (tmp / "plan.xlsx").write_bytes(xlsx_bytes(plan))
        all_timings = {**plan.timings, **dict(timings or {})}
        # no timings and no clock time on the page: a rerun writes the same bytes
        (tmp / "report.html").write_text(render_html(plan, {}), encoding="utf-8")
        all_timings["write_seconds"] = time.perf_counter() - t0
        text = json.dumps({k: round(v, 4) for k, v in sorted(all_timings.items())}, indent=2)
        (tmp / "timings.json").write_text(text + "\n", encoding="utf-8")
        publish_dir(tmp, out, lambda: check_output_dir(out, force, PLAN_FILES))
    except OSError as exc:  # a full disk, a folder made read-only meanwhile, ...
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(os_error_line(out, exc)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
