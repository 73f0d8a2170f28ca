"""The step rule: how far each channel may move in one step, and the budgets of a glide path.

A plan moves every channel at most ``step`` (10-20 %) from its current spend ``x0`` in one
step: its box is ``[(1 - step) x0, (1 + step) x0]`` intersected with the channel's own
``[min, max]``, and a locked channel stays at ``x0``.  A glide path of ``steps`` steps moves the
budget from the current total to the scenario's in equal parts.  The scenario checks and the
planner both take the box and the budgets from here, so what the validator accepts is what the
planner can do.

Spend is for the whole planning period.  The rule needs of a scenario only what
:class:`Limits` describes, so this module sits below the scenario checks that use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class ChannelLimits(Protocol):
    """A channel's own limits, as a scenario's ``channels`` section sets them."""

    @property
    def locked(self) -> bool:
        """Keep the channel at its current spend."""

    @property
    def min(self) -> float | None:
        """Least period spend, or None."""

    @property
    def max(self) -> float | None:
        """Most period spend, or None."""


class Limits(Protocol):
    """What the step rule reads of a scenario: the limits of each channel by name."""

    def channel(self, name: str) -> ChannelLimits:
        """The limits of one channel (none set: not locked, no min, no max)."""


def channel_limits(
    scenario: Limits, channels: Sequence[str]
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Each channel's own limits: ``(mins, maxs, locked)`` in the order of ``channels``.

    Parameters
    ----------
    scenario : Limits
        The scenario (:class:`optimizer.scenario.Scenario`) whose ``channels`` section holds
        the overrides.
    channels : sequence of str
        The channels, in the order of the returned arrays.

    Returns
    -------
    mins, maxs : ndarray of float
        Least and most period spend (0 and infinity where the scenario sets none).
    locked : ndarray of bool
        Channels kept at their current spend.

    Examples
    --------
    >>> from roiste.optimizer.scenario import Scenario
    >>> sc = Scenario.model_validate({"name": "x", "data": "p.csv", "objective": "revenue",
    ...                               "channels": {"tv": {"locked": True, "max": 5.0}}})
    >>> channel_limits(sc, ["tv", "search"])
    (array([0., 0.]), array([ 5., inf]), array([ True, False]))
    """
    specs = [scenario.channel(c) for c in channels]
    mins = np.array([s.min if s.min is not None else 0.0 for s in specs], dtype=float)
    maxs = np.array([s.max if s.max is not None else np.inf for s in specs], dtype=float)
    locked = np.array([bool(s.locked) for s in specs], dtype=bool)
    return mins, maxs, locked


def step_box(
    x_prev: FloatArray,
    step: float,
    mins: FloatArray,
    maxs: FloatArray,
    locked: BoolArray,
) -> tuple[FloatArray, FloatArray, list[int]]:
    """The box of one step: ``[(1-step) x, (1+step) x]`` intersected with ``[min, max]``.

    Parameters
    ----------
    x_prev : ndarray of float
        Period spend of each channel before the step.
    step : float
        Largest relative move of a channel in one step.
    mins, maxs : ndarray of float
        Each channel's own least and most period spend (see :func:`channel_limits`).
    locked : ndarray of bool
        Channels that stay at ``x_prev``.

    Returns
    -------
    lower, upper : ndarray of float
        The box of each channel.
    clipped : list of int
        Channels whose own minimum (maximum) lies beyond one step: their box moves as far
        towards it as the step allows (a single point), so the plan can say so.

    Examples
    --------
    >>> lo, hi, clipped = step_box(np.array([100.0, 100.0]), 0.5, np.array([0.0, 200.0]),
    ...                            np.array([np.inf, np.inf]), np.array([False, False]))
    >>> lo.tolist(), hi.tolist(), clipped
    ([50.0, 150.0], [150.0, 150.0], [1])
    """
    lo_box, hi_box = (1.0 - step) * x_prev, (1.0 + step) * x_prev
    lo, hi = np.maximum(lo_box, mins), np.minimum(hi_box, maxs)
    clipped: list[int] = []
    for i in range(len(x_prev)):
        if locked[i]:
            lo[i] = hi[i] = x_prev[i]
        elif lo[i] > hi[i]:
            clipped.append(i)
            lo[i] = hi[i] = hi_box[i] if mins[i] > hi_box[i] else lo_box[i]
    return lo, hi, clipped


def reachable(
    lower: FloatArray,
    upper: FloatArray,
    more_steps: int,
    step: float,
    mins: FloatArray,
    maxs: FloatArray,
    locked: BoolArray,
) -> tuple[FloatArray, FloatArray]:
    """The range a channel can reach: the first step's box widened by ``more_steps`` steps.

    Parameters
    ----------
    lower, upper : ndarray of float
        The box of the first step.
    more_steps : int
        Steps after the first (0: the first box itself).
    step, mins, maxs, locked
        As in :func:`step_box`.

    Returns
    -------
    lower, upper : ndarray of float
        Least and most period spend after all the steps.
    """
    lo, hi = lower, upper
    for _ in range(more_steps):
        lo = step_box(lo, step, mins, maxs, locked)[0]
        hi = step_box(hi, step, mins, maxs, locked)[1]
    return lo, hi


def step_budgets(current_total: float, budget: float, steps: int) -> list[float]:
    """Budgets of a glide path: from the current total to ``budget`` in equal increments.

    Examples
    --------
    >>> step_budgets(100.0, 130.0, 3)
    [110.0, 120.0, 130.0]
    """
    return [current_total + (budget - current_total) * k / steps for k in range(1, steps + 1)]


__all__ = ["ChannelLimits", "Limits", "channel_limits", "reachable", "step_box", "step_budgets"]
