"""What each scenario constraint does to a plan: its value, whether it binds, what it costs.

For every constraint (a share of spend, a blended ROAS, the ROAS on existing or on new
customers, the cost per new customer, the net CAC) the plan reports

* ``achieved``: the constraint's figure at the recommended spend (the last step), on the
  fitted curves: the group's share of spend, its ROAS, its spend or net cost per new customer;
* ``limit``: the figure the constraint allows (for a share with both ends, the end it is
  nearest to), and ``side``: ``at_least`` or ``at_most``;
* ``binding``: the plan sits at the limit at some step (within :data:`AT_LIMIT`, relative),
  or dropping the constraint is proven to pay;
* ``cost``, ``cost_low``, ``cost_high``: what the constraint costs in the plan's objective.
  The plan is solved again without it, under the same rules (risk, steps); each solve is
  certified, ``value <= optimum <= upper_bound``, so the true cost ``optimum_without -
  optimum_with`` lies in ``[value_without - upper_with, upper_without - value_with]`` (floored
  at 0, as dropping a constraint cannot lose); ``cost`` is ``value_without - value_with``.

The re-solve is preferred to the row's dual: the dual prices a marginal loosening of the row,
not the whole constraint, and a target's row is on the pieces, not the curves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from roiste.models.errors import RoisteError
from roiste.optimizer.context import PlanContext
from roiste.optimizer.lp import ShareConstraint, TargetConstraint
from roiste.optimizer.lp.infeasible import members_mask

AT_LIMIT = 1e-4
"""Relative distance from its limit within which a constraint counts as binding."""


@dataclass(frozen=True)
class Certified:
    """An optimisation's certificate: ``value <= optimum <= upper_bound``."""

    value: float
    upper_bound: float


Resolve = Callable[[Sequence[ShareConstraint], Sequence[TargetConstraint]], Certified]


def achieved(con: ShareConstraint | TargetConstraint, ctx: PlanContext,
             x: np.ndarray) -> tuple[float | None, float, str]:
    """A constraint's figure at period spends ``x``, its limit and the side it bounds.

    Parameters
    ----------
    con : ShareConstraint or TargetConstraint
    ctx : PlanContext
        Gives the channels and their period functions (the fitted curves).
    x : ndarray
        Period spend per channel.

    Returns
    -------
    value : float or None
        The figure (None where it is undefined: no spend, no new customers).
    limit : float
    side : {"at_least", "at_most"}
    """
    m = members_mask(con.members, ctx.channels, f"constraint {con.name!r}")
    f = ctx.objective_functions
    spend = float(x[m].sum())
    if isinstance(con, ShareConstraint):
        total = float(x.sum())
        value = spend / total if total > 0 else None
        if con.max_share is None or (con.min_share is not None and value is not None
                                     and value - con.min_share < con.max_share - value):
            return value, float(con.min_share or 0.0), "at_least"
        return value, float(con.max_share), "at_most"
    rev = np.asarray(f.revenue(x), dtype=float)
    n = len(x)
    if con.kind == "min_roas":
        num = float((rev * con.revenue_weights(n))[m].sum())
        return (num / spend if spend > 0 else None), float(con.target), "at_least"
    if con.kind == "max_cac_net":
        cust = np.asarray(con.customer_weights, dtype=float).reshape(-1) * rev
        cost_w = np.zeros(n) if con.weights is None else np.asarray(con.weights, dtype=float)
        spend_w = (np.ones(n) if con.spend_weights is None
                   else np.asarray(con.spend_weights, dtype=float))
        cost = float((spend_w * x + cost_w.reshape(-1) * rev)[m].sum())
        customers = float(cust[m].sum())
        return (cost / customers if customers > 0 else None), float(con.target), "at_most"
    customers = float(np.asarray(f.new_customers(x), dtype=float)[m].sum())
    return (spend / customers if customers > 0 else None), float(con.target), "at_most"


def _at_limit(value: float | None, limit: float, side: str) -> bool:
    if value is None:
        return False
    scale = max(abs(limit), 1e-12)
    return (limit - value if side == "at_most" else value - limit) <= AT_LIMIT * scale


def price_constraints(
    ctx: PlanContext,
    shares: Sequence[ShareConstraint],
    targets: Sequence[TargetConstraint],
    described: Sequence[dict[str, Any]],
    spends: Sequence[np.ndarray],
    with_: Certified,
    resolve: Resolve,
) -> list[dict[str, Any]]:
    """Each constraint's description with its figure, whether it binds and its certified cost.

    Parameters
    ----------
    ctx : PlanContext
    shares, targets
        The LP's constraints, in the scenario's order within each kind.
    described : sequence of dict
        One entry per scenario constraint, in order (``name``, ``kind``, ``rule``); a
        ``share`` entry belongs to the next of ``shares``, any other to the next of ``targets``.
    spends : sequence of ndarray
        The plan's spend after each step (the last is the recommended spend).
    with_ : Certified
        The plan's certificate on its objective (the summed steps for a glide path).
    resolve : callable
        Solves the plan again under given constraints and returns its certificate.

    Returns
    -------
    list of dict
        ``described``'s entries with ``achieved``, ``limit``, ``side``, ``binding``, ``cost``,
        ``cost_low`` and ``cost_high`` added (costs None when the re-solve fails).
    """
    out: list[dict[str, Any]] = []
    si = ti = 0
    for d in described:
        con: ShareConstraint | TargetConstraint
        if d.get("kind") == "share":
            con = shares[si]
            rest_s = [s for j, s in enumerate(shares) if j != si]
            rest_t = list(targets)
            si += 1
        else:
            con = targets[ti]
            rest_s = list(shares)
            rest_t = [t for j, t in enumerate(targets) if j != ti]
            ti += 1
        value, limit, side = achieved(con, ctx, spends[-1])
        at_limit = any(_at_limit(*achieved(con, ctx, x)) for x in spends)
        cost = low = high = None
        try:
            without = resolve(rest_s, rest_t)
        except RoisteError:
            without = None
        if without is not None:
            cost = max(without.value - with_.value, 0.0)
            low = max(without.value - with_.upper_bound, 0.0)
            high = max(without.upper_bound - with_.value, 0.0)
        binding = at_limit or (low is not None and low > 0)
        out.append({**d, "achieved": value, "limit": limit, "side": side,
                    "binding": bool(binding), "cost": cost, "cost_low": low,
                    "cost_high": high})
    return out


__all__ = ["AT_LIMIT", "Certified", "Resolve", "achieved", "price_constraints"]
