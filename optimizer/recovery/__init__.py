"""Cart recovery: which reminder (none, a reminder, an incentive) each segment of abandoned
carts gets, under an incentive budget and a cap on messages per customer, as a certified LP.

Layers inside the package: :mod:`.schema` (the recovery file, its rates from the file or an
A/B readout) < :mod:`.model` (the LP, its weak-dual certificate) < :mod:`.plan` (tables and
summary).  Import from here::

    from roiste.optimizer.recovery import load_recovery, plan_recovery
"""

from roiste.optimizer.recovery.model import (
    RecoveryProblem,
    RecoverySolution,
    build_problem,
    check_plan,
    solve_recovery,
    weak_dual_bound,
)
from roiste.optimizer.recovery.plan import (
    RecoveryPlan,
    incentive_segments,
    plan_recovery,
    plan_recovery_file,
)
from roiste.optimizer.recovery.schema import (
    NONE,
    Rates,
    Recovery,
    RecoveryFile,
    Reminder,
    Segment,
    load_recovery,
    recovery_schema,
)

__all__ = [
    "NONE",
    "Rates",
    "Recovery",
    "RecoveryFile",
    "RecoveryPlan",
    "RecoveryProblem",
    "RecoverySolution",
    "Reminder",
    "Segment",
    "build_problem",
    "check_plan",
    "incentive_segments",
    "load_recovery",
    "plan_recovery",
    "plan_recovery_file",
    "recovery_schema",
    "solve_recovery",
    "weak_dual_bound",
]
