"""Public datasets for the notebooks: where they are, where to get them, and a clean stop.

The datasets are never part of the repository: they live in ``$ROISTE_DATASETS``, by default
``../shared/datasets`` beside the repository (the same place the tests look).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV = "ROISTE_DATASETS"

# file name -> (repository, path in it, license): where to download a missing file
SOURCES: dict[str, tuple[str, str, str]] = {
    "robyn_dt_simulated_weekly.csv": (
        "facebookexperimental/Robyn",
        "python/src/robyn/tutorials/resources/dt_simulated_weekly.csv",
        "MIT",
    ),
    "pymc_mmm_example.csv": ("pymc-labs/pymc-marketing", "data/mmm_example.csv", "Apache-2.0"),
    "mmm_stan.csv": ("sibylhe/mmm_stan", "data.csv", "MIT"),
}


def datasets_dir() -> Path:
    """``$ROISTE_DATASETS``, else ``../shared/datasets`` relative to the repository root."""
    env = os.environ.get(ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def find_dataset(name: str) -> Path | None:
    """The path of a public dataset, or None when it is not there."""
    path = datasets_dir() / name
    return path if path.is_file() else None


def missing_dataset_message(name: str) -> str:
    """Where the file was looked for and where to get it (one paragraph)."""
    where = datasets_dir()
    repo, path, lic = SOURCES.get(name, ("", "", ""))
    get = (f" Download {path} from the GitHub repository {repo} ({lic} license) and save it as "
           f"{where / name}" if repo else f" Save it as {where / name}")
    return (f"The public dataset {name} is not in {where}.{get}, or set {ENV} to the directory "
            "that holds it; never copy it into this repository. Then restart the kernel and "
            "run the notebook again. The rest of this notebook is skipped.")


def _skip_cell(lines: list[str]) -> list[str]:
    return ["# skipped: the notebook was stopped by optimizer.analysis.stop_here\n"]


def stop_here(message: str) -> None:
    """Print ``message`` and skip the rest of the notebook, without an error.

    In IPython (Jupyter), every later cell of the session becomes a no-op (restart the kernel
    to run cells again); as a plain script (the notebook's paired ``.py``) the process exits
    with status 0.
    """
    print(message)
    ip: Any = None
    try:
        from IPython import get_ipython  # only inside a notebook; not a dependency

        ip = get_ipython()
    except ImportError:  # pragma: no cover - IPython ships with every Jupyter kernel
        ip = None
    if ip is None:
        raise SystemExit(0)
    if _skip_cell not in ip.input_transformers_cleanup:
        ip.input_transformers_cleanup.append(_skip_cell)


__all__ = ["ENV", "SOURCES", "datasets_dir", "find_dataset", "missing_dataset_message",
           "stop_here"]
