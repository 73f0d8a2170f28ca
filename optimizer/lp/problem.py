"""The allocation problem and its solution: frozen, self-checking types over arrays.

The solver sees the channels through the small :class:`PeriodModel` protocol (vectorised
period functions), never through a curve class.  An :class:`AllocationProblem` holds the
period-spend boxes, the budget and the extra constraints (:class:`ShareConstraint`,
:class:`TargetConstraint`); :class:`Prepared` holds its checked arrays (boxes and member
masks), and a :class:`Solution` the certified allocation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from roiste.models.errors import InfeasibleError

FloatArray = NDArray[np.float64]
TARGET_KINDS = {
    "min_roas": "min_roas",
    "roas": "min_roas",
    "max_cost_per_new_customer": "max_cost_per_new_customer",
    "cost_per_new_customer": "max_cost_per_new_customer",
    "max_cac_net": "max_cac_net",
    "cac_net": "max_cac_net",
}


class PeriodModel(Protocol):
    """What the LP needs of the channels: vectorised period functions (rows = channels)."""

    coefficient: FloatArray
    concave: NDArray[np.bool_]
    revenue_concave: NDArray[np.bool_]

    def value(self, x: Any) -> FloatArray: ...
    def slope(self, x: Any) -> FloatArray: ...
    def revenue(self, x: Any) -> FloatArray: ...
    def revenue_slope(self, x: Any) -> FloatArray: ...
    def new_customers(self, x: Any) -> FloatArray: ...
    def new_customers_slope(self, x: Any) -> FloatArray: ...


def concave_on_box(f: PeriodModel, lo: FloatArray) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Which channels' value and revenue are concave on boxes that start at ``lo``.

    A model may give ``concave_from`` (per channel, the period spend from which its revenue
    is concave: an S-shape's inflection point); a channel whose box starts there or above is
    concave on its box, its value too when its revenue coefficient is >= 0.

    Parameters
    ----------
    f : PeriodModel
        The period functions.
    lo : ndarray
        The lower ends of the boxes.

    Returns
    -------
    concave, revenue_concave : ndarray of bool
        ``f.concave`` and ``f.revenue_concave``, widened by the boxes.
    """
    rev = np.asarray(f.revenue_concave, dtype=bool)
    conc = np.asarray(f.concave, dtype=bool)
    start = getattr(f, "concave_from", None)
    if start is None:
        return conc, rev
    # a relative 1e-12 above the point: its rounding cannot make a convex stretch concave
    above = np.asarray(lo, dtype=float) >= np.asarray(start, dtype=float) * (1.0 + 1e-12)
    k = np.asarray(f.coefficient, dtype=float)
    return conc | (above & (k >= 0.0)), rev | above


@dataclass(frozen=True)
class ShareConstraint:
    """A group's share of total spend: ``min_share <= sum(members) / sum(all) <= max_share``.

    ``members`` holds channel indices, a boolean mask or channel names.
    """

    name: str
    members: Any
    min_share: float | None = None
    max_share: float | None = None

    def __post_init__(self) -> None:
        for key in ("min_share", "max_share"):
            v = getattr(self, key)
            if v is not None and not 0.0 <= float(v) <= 1.0:
                raise InfeasibleError(f"constraint {self.name!r}: {key} must lie in [0, 1], got {v}")
        if self.min_share is not None and self.max_share is not None and (
                self.min_share > self.max_share):
            raise InfeasibleError(
                f"constraint {self.name!r}: min_share {self.min_share:g} exceeds "
                f"max_share {self.max_share:g}")


@dataclass(frozen=True)
class TargetConstraint:
    """A group's efficiency target over its period totals.

    ``min_roas``: revenue >= target * spend.  ``max_cost_per_new_customer``: spend <= target *
    new customers.  ``max_cac_net``: ``sum(spend_weights * x + weights * revenue) <= target *
    sum(customer_weights * revenue)`` over the members, i.e. a net CAC (all-in cost per new
    customer) of at most ``target``; ``weights`` are then each channel's costs per unit of
    revenue, ``spend_weights`` what a unit of spend costs (default 1) and ``customer_weights``
    its new customers per unit of revenue (required).  ``members`` as in
    :class:`ShareConstraint`; None means every channel.  ``weights`` (``min_roas``) scale each
    channel's revenue, one entry >= 0 per channel (e.g. ``1 - new_customer_revenue_share`` for
    the ROAS on existing customers); ``label`` names the ratio in messages (default ``ROAS``).
    """

    name: str
    kind: str
    target: float
    members: Any = None
    weights: Any = None
    label: str = ""
    spend_weights: Any = None
    customer_weights: Any = None

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise InfeasibleError(
                f"constraint {self.name!r}: unknown target kind {self.kind!r}; "
                f"known: min_roas, max_cost_per_new_customer")
        object.__setattr__(self, "kind", TARGET_KINDS[self.kind])
        if not (math.isfinite(self.target) and self.target > 0):
            raise InfeasibleError(f"constraint {self.name!r}: target must be > 0, got {self.target}")
        if self.weights is not None and self.kind == "max_cost_per_new_customer":
            raise InfeasibleError(
                f"constraint {self.name!r}: weights are for min_roas and max_cac_net only")
        if (self.kind == "max_cac_net") != (self.customer_weights is not None):
            raise InfeasibleError(
                f"constraint {self.name!r}: customer_weights are required by max_cac_net "
                "and used by it alone")
        if self.spend_weights is not None and self.kind != "max_cac_net":
            raise InfeasibleError(f"constraint {self.name!r}: spend_weights are for max_cac_net only")

    def net_weights(self, n: int) -> tuple[FloatArray, FloatArray]:
        """``(r, s)`` of a ``max_cac_net`` target: it holds when ``sum(r * R - s * x) >= 0``.

        ``r = target * customer_weights - weights`` (any sign) and ``s = spend_weights``.

        Parameters
        ----------
        n : int
            Number of channels.

        Returns
        -------
        r, s : ndarray
            Per-channel coefficients of revenue and of spend.
        """
        cust = np.asarray(self.customer_weights, dtype=float).reshape(-1)
        cost = np.zeros(n) if self.weights is None else np.asarray(self.weights, dtype=float).reshape(-1)
        spend = (np.ones(n) if self.spend_weights is None
                 else np.asarray(self.spend_weights, dtype=float).reshape(-1))
        return self.target * cust - cost, spend

    def revenue_weights(self, n: int) -> FloatArray:
        """The per-channel revenue weights of ``n`` channels (ones when the target has none).

        Parameters
        ----------
        n : int
            Number of channels.

        Returns
        -------
        ndarray
            One weight per channel, as given (checked against ``n`` by the LP's preparation).
        """
        if self.weights is None:
            return np.ones(n)
        return np.asarray(self.weights, dtype=float).reshape(-1)


@dataclass(frozen=True)
class AllocationProblem:
    """Maximise the sum of channel values under the budget, boxes and extra constraints.

    ``lower``/``upper`` are period-spend boxes (step box, own min/max and locks already
    intersected; ``lower == upper`` for a locked channel).
    """

    names: Sequence[str]
    lower: Any
    upper: Any
    functions: PeriodModel
    budget: float
    budget_mode: Literal["equal", "at_most"] = "equal"
    shares: Sequence[ShareConstraint] = ()
    targets: Sequence[TargetConstraint] = ()


@dataclass(frozen=True)
class Prepared:
    """A problem's checked arrays: the period-spend boxes and each constraint's member mask.

    ``lo``/``hi`` are the channels' boxes (``hi >= lo``); ``shares`` and ``targets`` pair each
    constraint with its boolean mask over the channels, in the problem's order (the rows of
    the model are numbered by these positions).
    """

    lo: FloatArray
    hi: FloatArray
    shares: list[tuple[ShareConstraint, NDArray[np.bool_]]]
    targets: list[tuple[TargetConstraint, NDArray[np.bool_]]]


@dataclass(frozen=True)
class Solution:
    """A certified allocation: ``value <= optimum <= upper_bound``.

    ``x`` are period spends per channel; ``value`` their true objective; ``gap`` the certified
    relative gap; ``status`` is ``"optimal"`` (gap within the tolerance),
    ``"gap_above_tolerance"`` (refinement rounds ran out) or ``"milp_not_proven"`` (a MILP
    stopped early, e.g. on ``time_limit``; its relaxation gives the bound); ``shadow_price``
    is the objective gained per extra unit of budget (0 when the budget is not all spent);
    ``names`` maps the variables' channel prefix ``x_<i>`` to the channel's name; ``filled``
    says every LP was solved by filling the pieces in order of slope (only the budget couples
    the channels: a fractional knapsack, exact without a solver).
    """

    x: FloatArray
    value: float
    upper_bound: float
    gap: float
    status: str
    solver: str
    shadow_price: float
    n_breakpoints: int
    milp: bool
    build_seconds: float
    solve_seconds: float
    iterations: int
    names: dict[str, str] = field(default_factory=dict)
    filled: bool = False
