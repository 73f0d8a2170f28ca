"""roiste: marketing budget allocation for net margin.

The front door of the three layers installed under this name: ``roiste.models`` (estimate:
panels in, response curves out), ``roiste.optimizer`` (decide: scenarios in, plans, backtests
and reports out) and ``roiste.tracking`` (collect: the customer store and tagging server).

>>> from roiste import CurveSet, fit, plan          # doctest: +SKIP
>>> curves = fit("panel.csv")                       # doctest: +SKIP
>>> result = plan("scenarios/demo.yaml", "out/")    # doctest: +SKIP

The names are loaded on first use, so that ``import roiste.tracking`` (the tagging server)
does not pay for the estimation and planning stack.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from roiste.version import __version__

# public name -> (module, attribute)
_FRONT_DOOR = {
    "CurveSet": ("roiste.models.curves", "CurveSet"),
    "ResponseCurve": ("roiste.models.curves", "ResponseCurve"),
    "RoisteError": ("roiste.models.errors", "RoisteError"),
    "read_panel": ("roiste.models.panel", "read_panel"),
    "simulate_world": ("roiste.models.simulate", "simulate_world"),
    "fit": ("roiste.models.fit.channel", "fit_panel_file"),
    "load_scenario": ("roiste.optimizer.scenario", "load_scenario"),
    "plan": ("roiste.optimizer.runs", "run_plan"),
}

__all__ = [
    "CurveSet",
    "ResponseCurve",
    "RoisteError",
    "__version__",
    "fit",
    "load_scenario",
    "plan",
    "read_panel",
    "simulate_world",
]

if TYPE_CHECKING:
    from roiste.models.curves import CurveSet, ResponseCurve
    from roiste.models.errors import RoisteError
    from roiste.models.fit.channel import fit_panel_file as fit
    from roiste.models.panel import read_panel
    from roiste.models.simulate import simulate_world
    from roiste.optimizer.runs import run_plan as plan
    from roiste.optimizer.scenario import load_scenario


def __getattr__(name: str) -> Any:
    try:
        module, attr = _FRONT_DOOR[name]
    except KeyError:
        raise AttributeError(f"module 'roiste' has no attribute {name!r}") from None
    value = getattr(import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_FRONT_DOOR})
