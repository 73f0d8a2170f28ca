"""Curves + scenario -> a plan for the next period (one step or a glide path of steps).

``build_plan`` turns the current spend into bounded boxes, asks the LP for the allocation
with the highest objective (one step; the steps of a glide path together, each channel one
way: :mod:`optimizer.glide`), prices each scenario constraint (:mod:`optimizer.targets`), and
evaluates every channel at the current and the recommended spend.  The result is a frozen :class:`Plan`: the reports read it, and the run
behind ``roiste plan`` (:func:`optimizer.runs.run_plan`) writes it.

Spend and money are for the whole planning period (``period_weeks`` weeks) unless a name says
weekly; a period spend ``x`` is a constant weekly spend ``x / period_weeks``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from roiste.models.curves import CurveSet
from roiste.models.errors import RoisteError, ScenarioError
from roiste.optimizer.budget import budget_signal
from roiste.optimizer.context import PlanContext
from roiste.optimizer.economics import NetCacTerms
from roiste.optimizer.glide import GlidePath, glide_path
from roiste.optimizer.lp import (
    AllocationProblem,
    ShareConstraint,
    TargetConstraint,
)
from roiste.optimizer.risk import (
    SUPPORT_THRESHOLD,
    move_support,
    quantiles,
    solve_step,
    unchanged,
    uplift_draws,
)
from roiste.optimizer.scenario import (
    CostPerNewCustomerConstraint,
    ExistingRoasConstraint,
    NetCacConstraint,
    NewRoasConstraint,
    RoasConstraint,
    Scenario,
)
from roiste.optimizer.steps import reachable, step_box, step_budgets
from roiste.optimizer.targets import Certified, price_constraints
from roiste.version import __version__


@dataclass(frozen=True)
class PlanStep:
    """One bounded step of a glide path (spend per channel in the plan's channel order)."""

    index: int
    budget: float
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    spend: tuple[float, ...]
    objective_value: float
    upper_bound: float
    optimality_gap: float
    status: str
    net_margin: float | None
    shadow_price: float | None = None
    solver: str = ""
    n_breakpoints: int = 0
    milp: bool = False
    iterations: int = 0
    build_seconds: float = 0.0
    solve_seconds: float = 0.0

    @property
    def total_spend(self) -> float:
        return float(sum(self.spend))


@dataclass(frozen=True)
class Plan:
    """A recommended allocation for the next period, with everything the reports show.

    ``allocation`` holds one row per channel (the columns of ``allocation.csv``); ``steps``
    the glide path (one entry when ``steps: 1``).  Net margins are over the period and count
    only what the plan can change: the channels' incremental revenue net of costs and spend.
    """

    name: str
    objective: str
    channels: list[str]
    allocation: pd.DataFrame
    steps: list[PlanStep]
    budget: float
    current_total: float
    budget_mode: str
    period_weeks: int
    baseline_weeks: int
    step: float
    tolerance: float
    solver: str
    status: str
    objective_current: float
    objective_recommended: float
    upper_bound: float
    optimality_gap: float
    shadow_price: float | None
    net_margin_current: float | None
    net_margin_recommended: float | None
    revenue_current: float
    revenue_recommended: float
    curves: CurveSet
    economics: dict[str, dict[str, float | None]]
    base_economics: dict[str, float | None]
    constraints: list[dict[str, Any]] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    attribution_hash: str | None = None
    version: str = ""
    n_breakpoints: int = 0
    milp: bool = False
    iterations: int = 0
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    glide: dict[str, Any] = field(default_factory=dict)
    risk: str = "point"
    risk_level: float | None = None
    draws: int = 0
    support_threshold: float = SUPPORT_THRESHOLD
    uplift_p05: float | None = None
    uplift_p50: float | None = None
    uplift_p95: float | None = None
    held: list[str] = field(default_factory=list)
    best_budget: float | None = None
    net_margin_at_best_budget: float | None = None
    best_budget_gap: float | None = None
    budget_notes: list[str] = field(default_factory=list)
    weeks: pd.DataFrame | None = None  # a plan with period: allocation_weeks.csv's rows
    flighting: dict[str, Any] = field(default_factory=dict)  # its certificate and margins

    # -- views --------------------------------------------------------------------------------
    @property
    def net_margin_change(self) -> float | None:
        if self.net_margin_current is None or self.net_margin_recommended is None:
            return None
        return self.net_margin_recommended - self.net_margin_current

    def step_table(self) -> pd.DataFrame:
        """Spend per channel after each step (rows: step 0 = current, 1..n)."""
        cur = self.allocation["current_spend"].to_numpy(dtype=float)
        rows = [dict(zip(self.channels, cur, strict=True))]
        rows += [dict(zip(self.channels, s.spend, strict=True)) for s in self.steps]
        return pd.DataFrame(rows, index=pd.Index(range(len(rows)), name="step"))


# --------------------------------------------------------------------------------- building


def _existing_weights(curves: CurveSet | None, channels: Sequence[str], name: str) -> np.ndarray:
    """``1 - new_customer_revenue_share`` per channel: the existing customers' revenue share."""
    out = np.empty(len(channels))
    for i, c in enumerate(channels):
        share = None if curves is None else curves[c].ratios.get("new_customer_revenue_share")
        if share is None:
            raise ScenarioError(
                f"constraint {name!r}: channel {c!r} has no new_customer_revenue_share (the "
                "panel has no new_customer_revenue column), so its existing-customer revenue "
                "is unknown"
            )
        out[i] = min(max(1.0 - float(share), 0.0), 1.0)
    return out


def _customer_roas_target(name: str, target: float, channels: Sequence[str],
                          members: list[str], curves: CurveSet | None, *,
                          new: bool) -> TargetConstraint:
    """A ROAS target on the existing (``new=False``) or new customers' revenue: each member's
    revenue weighted by that group's share (``1 - new_customer_revenue_share`` or the share)."""
    weights = np.ones(len(channels))
    idx = [list(channels).index(m) for m in members if m in channels]
    existing = _existing_weights(curves, [channels[j] for j in idx], name)
    weights[idx] = 1.0 - existing if new else existing
    label = "ROAS on new customers" if new else "ROAS on existing customers"
    return TargetConstraint(name, "min_roas", target, members, weights=weights, label=label)


def _net_cac_target(name: str, target: float, channels: Sequence[str], members: list[str],
                    terms: Sequence[NetCacTerms] | None) -> TargetConstraint:
    """A net-CAC target: spend x (1 + fee) + costs per unit of revenue x revenue <= target x
    new customers over the members (:func:`optimizer.economics.net_cac_terms`)."""
    n = len(channels)
    cost, spend, cust = np.zeros(n), np.ones(n), np.zeros(n)
    for j, c in enumerate(channels):
        if c not in members:
            continue
        t = None if terms is None else terms[j]
        if t is None or t.customers_per_revenue is None:
            raise ScenarioError(
                f"constraint {name!r}: channel {c!r} has no new_customers_per_revenue (the "
                "panel has no new_customers column), so its net CAC is unknown")
        if t.cost_per_revenue is None:
            raise ScenarioError(
                f"constraint {name!r}: channel {c!r}'s net CAC needs economics.gross_margin "
                "(and, with cost_per_order, an orders column in the panel)")
        cost[j], spend[j], cust[j] = t.cost_per_revenue, t.spend_cost, t.customers_per_revenue
    return TargetConstraint(name, "max_cac_net", target, members, weights=cost,
                            spend_weights=spend, customer_weights=cust, label="net CAC")


def _constraints(
    scenario: Scenario, channels: Sequence[str], curves: CurveSet | None = None,
    terms: Sequence[NetCacTerms] | None = None,
) -> tuple[list[Any], list[Any], list[dict[str, Any]]]:
    """Scenario constraints -> the LP's share and target constraints, and their descriptions.

    The ROAS on existing customers is the blended ROAS with each channel's revenue weighted
    by ``1 - new_customer_revenue_share``, the ROAS on new customers with the share itself
    (every member channel needs that ratio).  A net-CAC target needs each member's net CAC
    pieces (``terms``, one per channel in order).
    """
    shares: list[Any] = []
    targets: list[Any] = []
    described: list[dict[str, Any]] = []
    for i, c in enumerate(scenario.constraints or [], start=1):
        members = list(c.channels or channels)
        kind = str(c.kind)
        if isinstance(c, RoasConstraint):
            name = c.name or f"target_roas_{i}"
            targets.append(TargetConstraint(name, "roas", float(c.target_roas), members))
        elif isinstance(c, ExistingRoasConstraint):
            name = c.name or f"target_roas_existing_{i}"
            targets.append(_customer_roas_target(name, float(c.target_roas_existing), channels,
                                                 members, curves, new=False))
        elif isinstance(c, NewRoasConstraint):
            name = c.name or f"target_roas_new_{i}"
            targets.append(_customer_roas_target(name, float(c.target_roas_new), channels,
                                                 members, curves, new=True))
        elif isinstance(c, NetCacConstraint):
            name = c.name or f"max_cac_net_{i}"
            targets.append(_net_cac_target(name, float(c.max_cac_net), channels, members, terms))
        elif isinstance(c, CostPerNewCustomerConstraint):
            name = c.name or f"max_cost_per_new_customer_{i}"
            targets.append(
                TargetConstraint(
                    name, "cost_per_new_customer", float(c.max_cost_per_new_customer), members
                )
            )
        else:
            name = c.name or f"share_{i}"
            shares.append(ShareConstraint(name, members, c.min_share, c.max_share))
        described.append({"name": name, "kind": kind, "rule": c.describe()})
    return shares, targets, described


def build_plan(
    curves: CurveSet,
    scenario: Scenario,
    current_weekly: pd.Series,
    *,
    data_hash: str | None = None,
    scenario_hash: str | None = None,
    curves_hash: str | None = None,
    attribution_hash: str | None = None,
    progress: bool = False,
) -> Plan:
    """Plan the next period from fitted curves and a validated scenario.

    Parameters
    ----------
    curves : CurveSet
        One response curve per channel (weekly revenue at a constant weekly spend).
    scenario : Scenario
        The validated scenario (``optimizer.scenario.load_scenario``).
    current_weekly : pandas.Series
        Current weekly spend per channel (index: channel); the current period spend is this
        times ``period_weeks``.  Channels follow this order in the plan.
    data_hash, scenario_hash, curves_hash, attribution_hash : str, optional
        Hashes of the inputs, recorded in the summary and the report.
    progress : bool, default False
        Show a progress bar over the steps of a glide path.

    Returns
    -------
    Plan

    Raises
    ------
    InfeasibleError
        When a step's constraints conflict (the message names them, and the step).
    """
    t0 = time.perf_counter()
    ctx = PlanContext.create(curves, scenario, current_weekly)
    fn_obj, channels = ctx.objective_functions, ctx.channels
    shares, targets, described = _constraints(scenario, channels, ctx.curves,
                                              ctx.net_cac_terms())
    n_steps = int(scenario.steps)
    budgets = step_budgets(ctx.current_total, ctx.budget, n_steps)
    steps: list[PlanStep] = []
    notes: list[str] = []
    risk_notes: list[str] = list(ctx.draws.notes) if ctx.draws is not None else []
    risk_kind = str(scenario.risk.kind)
    held = np.zeros(len(channels), dtype=bool)
    start_value = float("nan")
    x_prev = ctx.x0.copy()
    gp: GlidePath | None = None
    if n_steps > 1:  # the steps solved together, each channel one way (optimizer.glide)
        gp = glide_path(ctx, shares, targets, budgets)
        steps, risk_kind = path_steps(ctx, gp, budgets), gp.risk_kind
        notes += gp.notes
        risk_notes += [n for n in gp.risk_notes if n not in risk_notes]
        held |= gp.held
    # one step is solved on its own, under the scenario's risk objective
    for k in tqdm(range(1 if n_steps == 1 else 0), desc="plan steps", disable=True):
        lo, hi, clipped = step_box(x_prev, float(scenario.step), ctx.mins, ctx.maxs, ctx.locked)
        for i in clipped:
            notes.append(
                f"step {k + 1}: {channels[i]}'s own minimum/maximum lies beyond one step from "
                f"{x_prev[i]:,.2f}; the step moves it to {lo[i]:,.2f}"
            )
        problem = AllocationProblem(
            names=channels,
            lower=lo,
            upper=hi,
            functions=fn_obj,
            budget=budgets[k],
            budget_mode=ctx.budget_mode,
            shares=shares,
            targets=targets,
        )
        try:
            rs = solve_step(problem, ctx.draws, x_prev, kind=str(scenario.risk.kind),
                            level=scenario.risk.cvar_level, tol=float(scenario.tolerance),
                            solver=str(scenario.solver))
        except RoisteError as exc:
            if n_steps == 1:
                raise
            raise type(exc)(f"step {k + 1} of {n_steps}: {exc}") from None
        sol, risk_kind = rs.solution, rs.kind
        start_value = rs.start_value
        held |= rs.held
        risk_notes += [n for n in rs.notes if n not in risk_notes]
        x = np.clip(np.asarray(sol.x, dtype=float), lo, hi)
        steps.append(
            PlanStep(
                index=k + 1,
                budget=budgets[k],
                lower=tuple(float(v) for v in lo),
                upper=tuple(float(v) for v in hi),
                spend=tuple(float(v) for v in x),
                objective_value=float(sol.value),
                upper_bound=float(sol.upper_bound),
                optimality_gap=float(sol.gap),
                status=str(sol.status),
                net_margin=ctx.net_margin(x),
                shadow_price=None if sol.shadow_price is None else float(sol.shadow_price),
                solver=str(sol.solver),
                n_breakpoints=int(sol.n_breakpoints),
                milp=bool(sol.milp),
                iterations=int(sol.iterations or 0),
                build_seconds=float(sol.build_seconds),
                solve_seconds=float(sol.solve_seconds),
            )
        )
        x_prev = x
    tb = time.perf_counter()
    lo_reach, hi_reach = reachable(np.array(steps[0].lower), np.array(steps[0].upper),
                                   n_steps - 1, ctx.step, ctx.mins, ctx.maxs, ctx.locked)
    signal = budget_signal(
        ctx, lo_reach, hi_reach, shares=shares, targets=targets, budget=ctx.budget,
        spent=steps[-1].total_spend, net_margin=steps[-1].net_margin,
        shadow_price=steps[-1].shadow_price, held=held,
    )
    budget_seconds = time.perf_counter() - tb
    if scenario.risk.kind != "point" and (ctx.draws is None or not ctx.draws.n_draws):
        risk_notes.append(
            f"risk {scenario.risk.kind} needs curves with bootstrap draws and these have none "
            "(fit with --bootstrap N): the plan ignores the uncertainty of the curves and is "
            "made on their point estimate.")
    if held.any():
        risk_notes.append(
            f"Held at current spend for want of support in the draws: "
            f"{', '.join(c for c, h in zip(channels, held, strict=True) if h)}.")
    tc = time.perf_counter()
    priced = _price_constraints(ctx, shares, targets, described, steps, gp, budgets)
    constraint_seconds = time.perf_counter() - tc
    plan = assemble_plan(
        ctx,
        steps,
        constraints=priced,
        notes=[*risk_notes, *notes],
        risk_kind=risk_kind,
        held=[c for c, h in zip(channels, held, strict=True) if h],
        start_value=start_value,
        hashes={"data": data_hash, "scenario": scenario_hash, "curves": curves_hash},
        attribution_hash=attribution_hash,
    )
    if gp is not None:
        plan = replace(plan, glide=gp.summary, timings={**plan.timings, **gp.seconds})
    if described:
        plan = replace(plan, timings={**plan.timings, "constraint_seconds": constraint_seconds})
    return replace(
        plan,
        timings={**plan.timings, "budget_seconds": budget_seconds,
                 "plan_seconds": time.perf_counter() - t0},
        best_budget=signal.best_budget,
        net_margin_at_best_budget=signal.net_margin_at_best_budget,
        best_budget_gap=signal.best_gap,
        budget_notes=list(signal.notes),
        notes=[*signal.notes, *plan.notes],
    )


def _price_constraints(ctx: PlanContext, shares: Sequence[ShareConstraint],
                       targets: Sequence[TargetConstraint], described: Sequence[dict[str, Any]],
                       steps: Sequence[PlanStep], gp: GlidePath | None,
                       budgets: Sequence[float]) -> list[dict[str, Any]]:
    """Each constraint's figure, whether it binds, and its cost from a re-solve without it
    under the same rules (:func:`optimizer.targets.price_constraints`)."""
    if not described:
        return []
    sc = ctx.scenario
    tol, solver = float(sc.tolerance), str(sc.solver)
    if gp is not None:
        with_ = Certified(gp.path.value, gp.path.upper_bound)

        def resolve(sh: Sequence[ShareConstraint], tg: Sequence[TargetConstraint]) -> Certified:
            # the plan's path meets the fewer constraints: the re-solve starts from it
            p = glide_path(ctx, sh, tg, budgets, certify=False, kind=gp.risk_kind,
                           candidates=(gp.x,)).path
            return Certified(p.value, p.upper_bound)
    else:
        with_ = Certified(steps[-1].objective_value, steps[-1].upper_bound)

        def resolve(sh: Sequence[ShareConstraint], tg: Sequence[TargetConstraint]) -> Certified:
            problem = AllocationProblem(ctx.channels, np.array(steps[0].lower),
                                        np.array(steps[0].upper), ctx.objective_functions,
                                        budgets[0], ctx.budget_mode, list(sh), list(tg))
            sol = solve_step(problem, ctx.draws, ctx.x0, kind=str(sc.risk.kind),
                             level=sc.risk.cvar_level, tol=tol, solver=solver).solution
            return Certified(float(sol.value), float(sol.upper_bound))

    spends = [np.array(s.spend, dtype=float) for s in steps]
    return price_constraints(ctx, shares, targets, described, spends, with_, resolve)


def path_steps(ctx: PlanContext, gp: GlidePath, budgets: Sequence[float]) -> list[PlanStep]:
    """The steps of a glide path solved together, each with its certificate (neighbours held)."""
    out = []
    for k, cert in enumerate(gp.path.steps):
        x = gp.x[k]
        out.append(PlanStep(
            index=k + 1, budget=float(budgets[k]),
            lower=tuple(float(v) for v in gp.lower[k]),
            upper=tuple(float(v) for v in gp.upper[k]),
            spend=tuple(float(v) for v in x), objective_value=cert.value,
            upper_bound=cert.upper_bound, optimality_gap=cert.gap, status=cert.status,
            net_margin=ctx.net_margin(x), shadow_price=cert.shadow_price,
            solver=gp.path.solver, n_breakpoints=max(cert.n_breakpoints, gp.path.n_breakpoints),
            milp=cert.milp or gp.path.milp,
            iterations=cert.iterations + (gp.path.iterations if k == 0 else 0),
            build_seconds=cert.build_seconds, solve_seconds=cert.solve_seconds))
    return out


def assemble_plan(
    ctx: PlanContext,
    steps: Sequence[PlanStep],
    *,
    constraints: Sequence[dict[str, Any]] = (),
    notes: Sequence[str] = (),
    hashes: Mapping[str, str | None] | None = None,
    attribution_hash: str | None = None,
    risk_kind: str = "point",
    held: Sequence[str] = (),
    start_value: float = float("nan"),
) -> Plan:
    """Turn solved steps into a :class:`Plan`: evaluate every channel before and after.

    ``risk_kind`` is the risk objective the steps were solved on (their objective values are
    on it), ``start_value`` that objective at the current allocation when the step knows it;
    ``held`` the channels held at their spend for want of support.  With curve draws,
    each channel's ``move_support`` (from the current to the recommended spend, at the final
    step's budget price) and the uplift's quantiles over the draws are added.
    """
    if not steps:
        raise ValueError("a plan needs at least one step")
    first, final = steps[0], steps[-1]
    x0, x1 = ctx.x0, np.array(final.spend, dtype=float)
    cur = ctx.evaluate(x0, "_current")
    rec = ctx.evaluate(x1, "")
    # the range the plan could use: one step's box, or what n bounded steps can reach
    lo_reach, hi_reach = reachable(np.array(first.lower), np.array(first.upper), len(steps) - 1,
                                   ctx.step, ctx.mins, ctx.maxs, ctx.locked)
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(x0 > 0, 100.0 * (x1 - x0) / np.where(x0 > 0, x0, 1.0), np.nan)
    alloc = pd.DataFrame(
        {
            "channel": ctx.channels,
            "current_spend": x0,
            "recommended_spend": x1,
            "change_pct": change,
            "lower_bound": lo_reach,
            "upper_bound": hi_reach,
            "expected_revenue": rec["revenue"],
            "expected_net_margin": rec["net_margin"],
            "roas": rec["roas"],
            "marginal_roas": rec["marginal_roas"],
        }
    )
    for col in ("rpv", "marginal_rpv", "cac_net", "new_customers", "marginal_cpa",
                "marginal_cost_per_new_customer", "mrpv_over_mcpa", "break_even_cpa",
                "break_even_marginal_roas", "break_even_mrpv_over_mcpa"):
        if col in rec:
            alloc[col] = rec[col]
    alloc["locked"] = ctx.locked
    for key, values in cur.items():
        alloc[key] = values
    alloc["marginal_net_margin_recommended"] = rec["marginal_net_margin"]
    if "cost_per_new_customer" in rec:
        alloc["cost_per_new_customer"] = rec["cost_per_new_customer"]
    p = ctx.period_weeks
    alloc["saturation_spend"] = [ctx.curves[c].saturation_spend(0.8) * p for c in ctx.channels]
    if len(steps) > 1:
        for s in steps:
            alloc[f"spend_step_{s.index}"] = np.array(s.spend)
    if ctx.draws is not None and ctx.draws.n_draws:
        support = move_support(ctx.draws, x0, x1, ctx.budget)
    else:
        support = np.where(unchanged(x0, x1, ctx.budget), 1.0, np.nan)
    alloc["move_support"] = support
    alloc["supported"] = [None if np.isnan(v) else bool(v >= SUPPORT_THRESHOLD) for v in support]
    uplift = (uplift_draws(ctx.margin_draws, x0, x1)
              if ctx.margin_draws is not None and ctx.margin_draws.n_draws else np.zeros(0))
    p05, p50, p95 = quantiles(uplift)

    sc = ctx.scenario
    fn_obj = ctx.objective_functions
    objective_current = float(np.sum(fn_obj.value(x0)))
    if risk_kind == "expected" and ctx.draws is not None:
        # as the step was solved (a one-step plan may count every draw of S-shaped curves)
        objective_current = (start_value if np.isfinite(start_value) else
                             float(np.sum(ctx.draws.optimisable().value(x0).mean(axis=0))))
    elif risk_kind == "cvar":
        objective_current = 0.0  # the CVaR of the current allocation's uplift over itself
    dropped = [f"{c}: left out {', '.join(d)}" for c, d in sorted(fn_obj.dropped.items())]
    dropped += ctx.value_notes
    return Plan(
        name=str(sc.name),
        objective=str(sc.objective),
        channels=list(ctx.channels),
        allocation=alloc,
        steps=list(steps),
        budget=ctx.budget,
        current_total=ctx.current_total,
        budget_mode=ctx.budget_mode,
        period_weeks=p,
        baseline_weeks=int(sc.baseline_weeks),
        step=float(sc.step),
        tolerance=float(sc.tolerance),
        solver=final.solver,
        status=final.status,
        objective_current=objective_current,
        objective_recommended=final.objective_value,
        upper_bound=final.upper_bound,
        optimality_gap=final.optimality_gap,
        shadow_price=final.shadow_price,
        net_margin_current=ctx.net_margin(x0),
        net_margin_recommended=final.net_margin,
        revenue_current=float(np.sum(cur["revenue_current"])),
        revenue_recommended=float(np.sum(rec["revenue"])),
        curves=ctx.curves,
        economics=dict(zip(ctx.channels, ctx.economics, strict=True)),
        base_economics=ctx.base_economics,
        constraints=list(constraints),
        hashes={k: v for k, v in (hashes or {}).items() if v},
        attribution_hash=attribution_hash or _attribution_hash(ctx.curves),
        version=__version__,
        n_breakpoints=max(s.n_breakpoints for s in steps),
        milp=any(s.milp for s in steps),
        iterations=sum(s.iterations for s in steps),
        notes=[*dropped, *notes],
        risk=risk_kind,
        risk_level=sc.risk.cvar_level if risk_kind == "cvar" else None,
        draws=int(ctx.draws.n_draws) if ctx.draws is not None else 0,
        uplift_p05=p05,
        uplift_p50=p50,
        uplift_p95=p95,
        held=list(held),
        timings={
            "build_seconds": sum(s.build_seconds for s in steps),
            "solve_seconds": sum(s.solve_seconds for s in steps),
        },
    )


def _attribution_hash(curves: CurveSet) -> str | None:
    for key in ("attribution_hash", "attribution_sha256"):
        v = curves.meta.get(key)
        if isinstance(v, str):
            return v
    att = curves.meta.get("attribution")
    if isinstance(att, Mapping):
        for key in ("hash", "sha256"):
            if isinstance(att.get(key), str):
                return str(att[key])
    return None


__all__ = [
    "Plan",
    "PlanContext",
    "PlanStep",
    "assemble_plan",
    "build_plan",
]
