"""The notebooks: paired with their percent-format scripts, stored without outputs, and run.

Every notebook is executed with nbclient on the ``python3`` kernel of the venv, in
``notebooks/`` (so relative paths resolve as for a user), with matplotlib's Agg backend; any
error in any cell fails the test.
"""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PAIRED = sorted(NOTEBOOKS.glob("*.ipynb"))
NAMES = [p.stem for p in PAIRED]
TIMEOUT = 300  # per cell; the whole set runs in well under a minute on two cores


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def _run(path: Path, env: dict[str, str] | None = None) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    old = dict(os.environ)
    os.environ.update({"MPLBACKEND": "Agg", **(env or {})})
    try:
        NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def _text(nb: nbformat.NotebookNode) -> str:
    out = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            out.append(o.get("text", "") or str(o.get("data", {}).get("text/plain", "")))
    return "\n".join(out)


def _figures_shown(nb: nbformat.NotebookNode) -> list[bool]:
    """For each cell ending in a ``plot_*`` call: did it display a PNG?"""
    return [any("image/png" in o.get("data", {}) for o in c.outputs)
            for c in nb.cells
            if c.cell_type == "code" and c.source.strip().splitlines()[-1].startswith("an.plot_")]


def test_every_notebook_is_paired_and_the_set_is_complete() -> None:
    assert NAMES == ["01_saturation_points", "02_what_if", "03_public_data", "04_attribution",
                     "05_experiments"]
    scripts = sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    assert scripts == NAMES
    assert "py:percent" in (NOTEBOOKS / "jupytext.toml").read_text()


@pytest.mark.parametrize("path", PAIRED, ids=NAMES)
def test_notebook_and_script_hold_the_same_cells(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    script = jupytext.read(path.with_suffix(".py"), fmt="py:percent")
    assert _cells(nb) == _cells(script), f"{path.name} and its .py differ: run jupytext --sync"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("path", PAIRED, ids=NAMES)
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, f"{path.name}: cell {i} has output"


@pytest.mark.parametrize("path", PAIRED, ids=NAMES)
def test_notebooks_import_the_library_and_copy_no_data(path: Path) -> None:
    src = path.with_suffix(".py").read_text()
    assert "from roiste.optimizer import analysis as an" in src
    assert "def " not in src and "class " not in src, "logic belongs in the library"
    assert not list(NOTEBOOKS.glob("*.csv")) and not (ROOT / "robyn_dt_simulated_weekly.csv").exists()


def test_all_notebooks_run_without_error() -> None:
    texts = {}
    for path in PAIRED:
        nb = _run(path)
        texts[path.stem] = _text(nb)
        shown = _figures_shown(nb)
        # the public-data notebook stops before its figures when the dataset is absent
        stopped = path.stem == "03_public_data" and "is not in" in texts[path.stem]
        assert stopped or (shown and all(shown)), f"{path.name}: a figure was not displayed"
    # each ends where it should: the what-if refused a step outside the band, and the public
    # data notebook read its file (or stopped with the instructions when it is absent)
    assert "refused:" in texts["02_what_if"] and "at step" in texts["02_what_if"]
    public = texts["03_public_data"]
    assert "reading " in public or "is not in" in public
    # the attribution notebook's plan names the rule its panel was credited by
    assert "same rule: True" in texts["04_attribution"]
    # the experiments notebook planned with and without its test and valued both on the truth
    assert "with one test" in texts["05_experiments"] and "share of the achievable" in texts[
        "05_experiments"]


def test_public_data_notebook_stops_cleanly_without_the_dataset(tmp_path: Path) -> None:
    nb = _run(NOTEBOOKS / "03_public_data.ipynb", env={"ROISTE_DATASETS": str(tmp_path)})
    text = _text(nb)
    assert "robyn_dt_simulated_weekly.csv is not in" in text
    assert "facebookexperimental/Robyn" in text
    assert "python/src/robyn/tutorials/resources/dt_simulated_weekly.csv" in text
    # every later cell was skipped: no output after the stop, and no error raised
    stop = next(i for i, c in enumerate(nb.cells) if "stop_here" in c.source)
    later = [c for c in nb.cells[stop + 1:] if c.cell_type == "code"]
    assert later and all(c.outputs == [] for c in later)
