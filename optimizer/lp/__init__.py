"""The allocation LP/MILP: problem types, pieces, the PuLP model, the certificate loop.

Layers inside the package, each importing only those before it: :mod:`.problem` (the frozen
problem and solution types), :mod:`.pieces` (piecewise-linear bounds of the values),
:mod:`.model` (the PuLP model), :mod:`.infeasible` (conflicts explained), :mod:`.solve`
(the certificate loop), :mod:`.scenarios` (the CVaR plan over curve draws), :mod:`.path`
(a glide path's steps solved together, each channel one way) and :mod:`.weekly` (spend per
channel and week of a period, adstock carried in and out).  Callers
import from here::

    from roiste.optimizer.lp import AllocationProblem, solve
"""

from roiste.optimizer.lp.infeasible import explain, prepare
from roiste.optimizer.lp.model import SOLVERS
from roiste.optimizer.lp.path import (
    PathCvarSolution,
    PathProblem,
    PathSolution,
    certify_steps,
    certify_steps_cvar,
    solve_path,
    solve_path_cvar,
)
from roiste.optimizer.lp.problem import (
    TARGET_KINDS,
    AllocationProblem,
    PeriodModel,
    Prepared,
    ShareConstraint,
    Solution,
    TargetConstraint,
    concave_on_box,
)
from roiste.optimizer.lp.scenarios import CvarSolution, DrawModel, cvar, solve_cvar
from roiste.optimizer.lp.solve import solve
from roiste.optimizer.lp.weekly import WeeklyProblem, WeeklySolution, solve_weekly

__all__ = [
    "SOLVERS",
    "TARGET_KINDS",
    "AllocationProblem",
    "CvarSolution",
    "DrawModel",
    "PathCvarSolution",
    "PathProblem",
    "PathSolution",
    "PeriodModel",
    "Prepared",
    "ShareConstraint",
    "Solution",
    "TargetConstraint",
    "WeeklyProblem",
    "WeeklySolution",
    "certify_steps",
    "certify_steps_cvar",
    "concave_on_box",
    "cvar",
    "explain",
    "prepare",
    "solve",
    "solve_cvar",
    "solve_path",
    "solve_path_cvar",
    "solve_weekly",
]
