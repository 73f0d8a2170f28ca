"""Speed of the planning run on simulated worlds of growing size (run by hand).

    .venv/bin/python benchmarks/bench_plan.py [n_channels ...]

Times, per world, building the plan on the world's true curves (the LP and the per-channel
evaluation) and writing the output directory (CSV, JSON, charts, HTML, Excel).  Curves are the
simulation's truth, so no fitting is timed here.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from roiste.models.simulate import simulate_world
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.scenario import Scenario


def bench(n_channels: int, steps: int = 1) -> tuple[float, float, float]:
    world = simulate_world(5, n_channels=n_channels, n_weeks=104)
    current = world.spend.iloc[-8:].mean()
    sc = Scenario.model_validate(
        {
            "name": f"bench {n_channels}",
            "data": "unused.csv",
            "steps": steps,
            "economics": {"gross_margin": 0.45, "return_rate": 0.08, "cost_per_order": 6.0},
        }
    )
    t0 = time.perf_counter()
    plan = build_plan(world.truth, sc, current)
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_plan(plan, Path(tmp) / "plan")
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, plan.optimality_gap


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [6, 50, 200]
    print(f"{'channels':>8} {'steps':>5} {'plan s':>8} {'write s':>8} {'gap':>9}")
    for n in sizes:
        for steps in (1, 3):
            p, w, gap = bench(n, steps)
            print(f"{n:>8} {steps:>5} {p:>8.2f} {w:>8.2f} {gap:>9.2e}")


if __name__ == "__main__":
    main()
