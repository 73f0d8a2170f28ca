"""The glide path solved together against steps solved one by one (run by hand).

    .venv/bin/python benchmarks/bench_glide.py [n_channels ...]

On simulated worlds of growing size (the simulation's true curves, so no fitting is timed),
with the budget kept and 3 steps of 15 %: the seconds of the joint one-way path
(:func:`roiste.optimizer.lp.solve_path`, a MILP with one direction binary per channel that can
move both ways) and of its per-step certificates, the seconds of the path of separate steps,
the channels that path moves both ways, and what keeping every channel one way costs in net
margin summed over the steps (relative to the separate steps' sum).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from roiste.models.simulate import simulate_world
from roiste.optimizer.context import PlanContext
from roiste.optimizer.glide import static_bounds
from roiste.optimizer.lp import AllocationProblem, PathProblem, certify_steps, solve, solve_path
from roiste.optimizer.scenario import Scenario
from roiste.optimizer.steps import step_box, step_budgets


def bench(n_channels: int, steps: int = 3) -> dict[str, float]:
    world = simulate_world(5, n_channels=n_channels, n_weeks=104)
    current = world.spend.iloc[-8:].mean()
    sc = Scenario.model_validate({
        "name": f"bench {n_channels}", "data": "unused.csv", "steps": steps, "risk": "point",
        "economics": {"gross_margin": 0.45, "return_rate": 0.08, "cost_per_order": 6.0}})
    ctx = PlanContext.create(world.truth, sc, current)
    budgets = step_budgets(ctx.current_total, ctx.budget, steps)
    f = ctx.objective_functions
    t0 = time.perf_counter()
    prev, old = ctx.x0, []
    for b in budgets:
        lo, hi, _ = step_box(prev, ctx.step, ctx.mins, ctx.maxs, ctx.locked)
        prev = solve(AllocationProblem(ctx.channels, lo, hi, f, b)).x
        old.append(prev)
    t1 = time.perf_counter()
    lows, highs, _ = static_bounds(ctx, steps)
    problem = PathProblem(ctx.channels, ctx.x0, lows, highs, ctx.step, f, budgets)
    path = solve_path(problem)
    t2 = time.perf_counter()
    certify_steps(problem, path)
    t3 = time.perf_counter()
    d = np.diff(np.vstack([ctx.x0, *old]), axis=0)
    tol = 1e-6 * np.maximum(ctx.x0, 1.0)
    both = int(np.sum((d > tol).any(axis=0) & (d < -tol).any(axis=0)))
    greedy_sum = sum(float(f.value(x).sum()) for x in old)
    return {"separate_s": t1 - t0, "path_s": t2 - t1, "certify_s": t3 - t2,
            "zigzag": both, "cost_rel": (greedy_sum - path.value) / abs(greedy_sum),
            "gap": path.gap}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [6, 50, 200]
    print(f"{'channels':>8} {'separate s':>10} {'path s':>8} {'certify s':>9} {'zigzag':>6} "
          f"{'one-way cost':>12} {'gap':>9}")
    for n in sizes:
        r = bench(n)
        print(f"{n:>8} {r['separate_s']:>10.2f} {r['path_s']:>8.2f} {r['certify_s']:>9.2f} "
              f"{r['zigzag']:>6d} {r['cost_rel']:>12.2e} {r['gap']:>9.2e}")


if __name__ == "__main__":
    main()
