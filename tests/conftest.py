"""Shared fixtures: where the public datasets live, and a skip when one is absent."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
