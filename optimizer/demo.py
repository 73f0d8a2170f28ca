"""``roiste demo``: simulate the bundled demo world, fit its curves, plan, and write the report.

The demo world is simulated (seed 7, 6 channels, 156 weeks), so it needs no data file; the
planning settings come from ``scenarios/demo.yaml`` when the source tree is at hand, and from
the same settings built in here otherwise, so the demo runs from any working directory.

Layout of the output directory::

    OUT/data/panel.csv              the simulated weekly panel
    OUT/data/panel.csv.truth.json   the world's true curves
    OUT/curves.json                 the fitted curves (with bootstrap draws)
    OUT/scenario.yaml               the scenario the plan ran (data and curves point here)
    OUT/plan/                       allocation.csv, summary.json, report.html, plan.xlsx, ...
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from roiste.models.errors import RoisteError

DEMO_SEED = 7
DEMO_CHANNELS = 6
DEMO_WEEKS = 156
DEMO_BOOTSTRAP = 20
DEMO_ENTRIES = frozenset({"data", "curves.json", "scenario.yaml", "plan"})

# The settings of scenarios/demo.yaml, used when that file is not at hand (installed package).
DEFAULT_SETTINGS: dict[str, Any] = {
    "name": "Demo plan",
    "period_weeks": 4,
    "baseline_weeks": 8,
    "step": 0.15,
    "steps": 3,
    "objective": "net_margin",
    "seed": DEMO_SEED,
    "economics": {
        "gross_margin": 0.45,
        "return_rate": 0.08,
        "cost_per_order": 6.0,
        "new_customer_value": 30.0,
        "existing_incrementality": 0.8,
    },
}


def demo_scenario_path() -> Path:
    """Where ``scenarios/demo.yaml`` sits in a source tree (next to the ``optimizer`` package)."""
    return Path(__file__).resolve().parents[1] / "scenarios" / "demo.yaml"


def demo_settings() -> dict[str, Any]:
    """The demo's planning settings: ``scenarios/demo.yaml`` without its data and curves keys."""
    path = demo_scenario_path()
    if not path.is_file():
        return dict(DEFAULT_SETTINGS)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RoisteError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise RoisteError(f"{path}: a scenario is a mapping of keys")
    return {k: v for k, v in raw.items() if k not in ("data", "curves")}


def _check_out(out: Path, force: bool) -> None:
    from roiste.optimizer.report.output import check_output_dir

    check_output_dir(out, force, DEMO_ENTRIES)


def run_demo(out: str | os.PathLike[str], *, force: bool = False, progress: bool = True) -> Path:
    """Simulate, fit, plan and report on the demo world; return the path of ``report.html``.

    Parameters
    ----------
    out : path
        Output directory (see the module docstring for its layout).
    force : bool, default False
        Replace an existing demo output directory (one holding only demo files).
    progress : bool, default True
        Progress bars while fitting.

    Returns
    -------
    pathlib.Path
        ``OUT/plan/report.html``.
    """
    from roiste.models.fit.channel import fit_panel_file
    from roiste.models.simulate import write_world
    from roiste.optimizer.plan import run_plan
    from roiste.optimizer.report.output import publish_dir, sibling_dir

    given = Path(out)
    out = Path(os.path.abspath(out))
    _check_out(out, force)
    settings = demo_settings()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = sibling_dir(out, "tmp")
    try:
        panel = tmp / "data" / "panel.csv"
        write_world(panel, seed=DEMO_SEED, n_channels=DEMO_CHANNELS, n_weeks=DEMO_WEEKS)
        curves = fit_panel_file(
            panel,
            holdout_weeks=int(settings.get("holdout_weeks", 0) or 0),
            bootstrap=int(settings.get("bootstrap", 0) or DEMO_BOOTSTRAP),
            seed=int(settings.get("seed", DEMO_SEED)),
            progress=progress,
        )
        (tmp / "curves.json").write_text(curves.to_json(), encoding="utf-8")
        scenario = {**settings, "data": "data/panel.csv", "curves": "curves.json"}
        text = yaml.safe_dump(scenario, sort_keys=False, allow_unicode=True)
        (tmp / "scenario.yaml").write_text(text, encoding="utf-8")
        run_plan(tmp / "scenario.yaml", tmp / "plan", progress=progress)
        publish_dir(tmp, out, lambda: _check_out(out, force))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return given / "plan" / "report.html"


__all__ = ["DEFAULT_SETTINGS", "demo_scenario_path", "demo_settings", "run_demo"]
