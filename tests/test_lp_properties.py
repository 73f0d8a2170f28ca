"""Random separable concave problems: the LP's certificate holds against the exact optimum.

The exact optimum (bisection on the budget's Lagrange multiplier with closed-form spends, in
``lp_worlds``) is independent of the LP, its breakpoints and its solvers.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lp_worlds import ClosedFormModel

from roiste.optimizer.lp import AllocationProblem, solve


@st.composite
def problems(draw: st.DrawFn) -> dict[str, object]:
    n = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    step = draw(st.sampled_from([0.1, 0.15, 0.2, 0.5]))
    x0 = rng.uniform(100.0, 10000.0, n) * (rng.random(n) < 0.9)  # some channels spend nothing
    lo, hi = (1 - step) * x0, (1 + step) * x0
    # some channels are locked, some have a wide own range
    locked = rng.random(n) < 0.15
    hi = np.where(locked, lo, hi)
    wide = rng.random(n) < 0.2
    lo, hi = np.where(wide, 0.0, lo), np.where(wide, hi * 3 + 1000.0, hi)
    center = 0.5 * (lo + hi)
    budget = float(center.sum() * draw(st.sampled_from([1.0, 1.0, 0.97, 1.04])))
    budget = float(np.clip(budget, lo.sum(), hi.sum()))
    model = ClosedFormModel(
        beta=rng.uniform(1e3, 5e4, n),
        scale=rng.uniform(100.0, 20000.0, n),
        mm=rng.random(n) < 0.5,
        coefficient=rng.uniform(0.05, 0.8, n),
        cost=rng.uniform(1.0, 1.3, n),
    )
    return {"model": model, "lo": lo, "hi": hi, "budget": budget, "center": center,
            "mode": draw(st.sampled_from(["equal", "equal", "at_most"])),
            "solver": draw(st.sampled_from(["CBC", "HiGHS", "HiGHS"]))}


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_certificate_against_exact_optimum(p: dict[str, object]) -> None:
    model: ClosedFormModel = p["model"]  # type: ignore[assignment]
    lo, hi, budget, center = p["lo"], p["hi"], p["budget"], p["center"]
    mode = p["mode"]
    names = [f"c{i}" for i in range(len(lo))]  # type: ignore[arg-type]
    sol = solve(AllocationProblem(names, lo, hi, model, budget, budget_mode=mode),  # type: ignore[arg-type]
                solver=p["solver"])  # type: ignore[arg-type]
    x_opt, _ = model.optimum(lo, hi, budget, at_most=mode == "at_most")  # type: ignore[arg-type]
    opt = float(model.value(x_opt).sum())
    eps = 1e-8 * max(abs(opt), budget)  # type: ignore[arg-type]
    denom = max(abs(sol.upper_bound), abs(sol.value), 0.01 * budget)  # type: ignore[operator]
    # the certificate: value <= optimum <= upper bound, and the gap within the tolerance
    assert sol.value <= opt + eps
    assert opt <= sol.upper_bound + eps
    assert sol.gap <= 1e-4
    assert opt - sol.value <= sol.gap * denom + eps
    assert abs(sol.value - float(model.value(sol.x).sum())) <= eps
    # the budget and the boxes hold
    if mode == "equal":
        assert abs(sol.x.sum() - budget) <= 1e-9 * max(budget, 1.0)  # type: ignore[arg-type]
    else:
        assert sol.x.sum() <= budget + 1e-9 * max(budget, 1.0)  # type: ignore[operator]
    assert np.all(sol.x >= lo - 1e-9) and np.all(sol.x <= hi + 1e-9)  # type: ignore[operator]
    # never worse than the current allocation when that is feasible
    if abs(center.sum() - budget) <= 1e-9 * budget or (  # type: ignore[union-attr,operator]
            mode == "at_most" and center.sum() <= budget):  # type: ignore[union-attr]
        assert sol.value >= float(model.value(center).sum()) - eps


@settings(max_examples=60, deadline=None)
@given(problems(), st.floats(1.01, 1.3))
def test_optimum_never_falls_as_budget_grows(p: dict[str, object], factor: float) -> None:
    """With the budget an upper limit, more budget never lowers the certified optimum."""
    model: ClosedFormModel = p["model"]  # type: ignore[assignment]
    lo, hi, budget = p["lo"], p["hi"], p["budget"]
    names = [f"c{i}" for i in range(len(lo))]  # type: ignore[arg-type]
    small = solve(AllocationProblem(names, lo, hi, model, budget, budget_mode="at_most"))  # type: ignore[arg-type]
    big = solve(AllocationProblem(names, lo, hi, model, budget * factor,  # type: ignore[operator]
                                  budget_mode="at_most"))
    denom = max(abs(big.upper_bound), abs(big.value), 0.01 * budget * factor)  # type: ignore[operator]
    assert big.value >= small.value - big.gap * denom - 1e-8 * denom
    assert big.upper_bound >= small.value - 1e-8 * denom
