"""The demo world of ``roiste demo`` and the planning settings it runs with.

``roiste demo`` (:func:`optimizer.runs.run_demo`) simulates the demo world, fits its curves,
plans, and writes the report.  The demo world is simulated (seed 7, 6 channels, 156 weeks),
so it needs no data file; the planning settings come from ``scenarios/demo.yaml`` when the
source tree is at hand, and from the same settings built in here otherwise, so the demo runs
from any working directory.

Layout of the output directory::

    OUT/data/panel.csv              the simulated weekly panel
    OUT/data/panel.csv.truth.json   the world's true curves
    OUT/curves.json                 the fitted curves (with bootstrap draws)
    OUT/scenario.yaml               the scenario the plan ran (data and curves point here)
    OUT/plan/                       allocation.csv, summary.json, report.html, plan.xlsx, ...
"""

from __future__ import annotations

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


__all__ = [
    "DEFAULT_SETTINGS",
    "DEMO_BOOTSTRAP",
    "DEMO_CHANNELS",
    "DEMO_ENTRIES",
    "DEMO_SEED",
    "DEMO_WEEKS",
    "demo_scenario_path",
    "demo_settings",
]
