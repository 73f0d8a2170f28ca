"""Shared fixtures: where the public datasets live, and a skip when one is absent."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# One BLAS thread per process, set before numpy loads (and inherited by the notebook kernels
# and subprocesses): the fits solve many small systems, on which OpenBLAS's own threads cost
# several times the work (the mmm_stan fit: 73 s of CPU with two threads, 19 s with one), and
# two test workers would otherwise compete for the same two cores.  A value already set wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def datasets_path() -> Path:
    """``$ROISTE_DATASETS``, else ``<repo>/../shared/datasets`` (never copied into the repo)."""
    env = os.environ.get("ROISTE_DATASETS")
    return Path(env) if env else ROOT.parent / "shared" / "datasets"


def require_dataset(name: str) -> Path:
    """Path of a public dataset, or skip the test saying which file is missing and where."""
    path = datasets_path() / name
    if not path.is_file():
        pytest.skip(f"public dataset {name} not found in {path.parent} (set ROISTE_DATASETS)")
    return path


@pytest.fixture
def datasets_dir() -> Path:
    """Directory of the shared public datasets (may not exist; see ``require_dataset``)."""
    return datasets_path()


@pytest.fixture
def public_dataset() -> Callable[[str], Path]:
    """``public_dataset("robyn_dt_simulated_weekly.csv")`` -> Path, or skip with the reason."""
    return require_dataset
