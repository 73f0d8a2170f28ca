"""The allocation LP/MILP: problem types, pieces, the PuLP model, the certificate loop.

Layers inside the package, each importing only those before it: :mod:`.problem` (the frozen
problem and solution types), :mod:`.pieces` (piecewise-linear bounds of the values),
:mod:`.model` (the PuLP model), :mod:`.infeasible` (conflicts explained) and :mod:`.solve`
(the certificate loop).  Callers import from here::

    from roiste.optimizer.lp import AllocationProblem, solve
"""

from roiste.optimizer.lp.infeasible import explain, prepare
from roiste.optimizer.lp.model import SOLVERS
from roiste.optimizer.lp.problem import (
    TARGET_KINDS,
    AllocationProblem,
    PeriodModel,
    Prepared,
    ShareConstraint,
    Solution,
    TargetConstraint,
)
from roiste.optimizer.lp.solve import solve

__all__ = [
    "SOLVERS",
    "TARGET_KINDS",
    "AllocationProblem",
    "PeriodModel",
    "Prepared",
    "ShareConstraint",
    "Solution",
    "TargetConstraint",
    "explain",
    "prepare",
    "solve",
]
