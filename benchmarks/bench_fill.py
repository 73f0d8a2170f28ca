"""Plans at scale where only the budget couples the channels: 1,000 to 100,000 channels.

Run by hand (it is not part of the test run)::

    .venv/bin/python benchmarks/bench_fill.py [--sizes 1000,10000,100000] [--repeat 3] [--append]

Each world draws logistic and Hill curves (shape 0.5-1, and shape 1.5-3 with the current
spend well above the inflection point, concave on its box), geometric carry-over, a four-week
period, net margin (gross margin 0.4, fee 5 %), boxes of +-20 % around the current spend and
a fixed budget equal to the current total.  With no share or target rows every LP on the
pieces is a fractional knapsack, solved by filling the pieces in order of slope.  Reported:
wall seconds of ``solve`` (best of ``--repeat``; one run at 100,000), the certified gap, the
CPU seconds of the process (the machine is shared: the wall time counts the waits), the seconds
in the fill, and the peak memory of ``solve`` (``tracemalloc``, a
separate run: tracing slows the clock).  ``PeriodFunctions`` is built before the clock starts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Geometric, Hill, Logistic
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.lp import AllocationProblem, solve

warnings.simplefilter("ignore", DeprecationWarning)


def world(n: int, seed: int = 0) -> tuple[PeriodFunctions, np.ndarray]:
    rng = np.random.default_rng(seed)
    curves = []
    for i in range(n):
        k = rng.uniform(100.0, 5000.0)
        alpha = rng.uniform(0.0, 0.6)
        kind = i % 3
        if kind == 0:
            sat: object = Logistic(k=k)
            spend = k * (1 - alpha) * rng.uniform(0.3, 2.0)
        elif kind == 1:
            sat = Hill(k=k, s=rng.uniform(0.5, 1.0))
            spend = k * (1 - alpha) * rng.uniform(0.3, 2.0)
        else:  # S-shaped, but the whole box lies above the inflection point
            sat = Hill(k=k, s=rng.uniform(1.5, 3.0))
            spend = k * (1 - alpha) * rng.uniform(1.6, 3.0)
        curves.append(ResponseCurve(f"ch{i}", Component(rng.uniform(1e3, 1e5), sat,  # type: ignore[arg-type]
                                                        Geometric(alpha=alpha)), spend))
    pf = PeriodFunctions(CurveSet(curves), ChannelEconomics(gross_margin=0.4,
                                                            platform_fee_rate=0.05), 4)
    x0 = np.array([c.recent_spend for c in curves]) * 4
    return pf, x0


def problem(pf: PeriodFunctions, x0: np.ndarray) -> AllocationProblem:
    return AllocationProblem(pf.names, 0.8 * x0, 1.2 * x0, pf, float(x0.sum()))


def run(sizes: list[int], repeat: int) -> list[str]:
    rows = []
    for n in sizes:
        pf, x0 = world(n)
        best = None
        for _ in range(repeat if n <= 10000 else 1):
            t, c = time.perf_counter(), time.process_time()
            sol = solve(problem(pf, x0))
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            if best is None or wall < best[0]:
                best = (wall, cpu, sol)
        assert best is not None
        wall, cpu, sol = best
        tracemalloc.start()
        solve(problem(pf, x0))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        row = (f"| {n:,} | {wall:.3f} s | {cpu:.3f} s | {sol.solve_seconds:.3f} s | {sol.gap:.1e} | "
               f"{sol.iterations} | {'yes' if sol.filled else 'no'} | "
               f"{'yes' if sol.milp else 'no'} | {peak / 2**20:.0f} MiB |")
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    a = ap.parse_args()
    header = ["| channels | wall | CPU | fill | gap | rounds | filled | MILP | peak memory |",
              "|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(header))
    rows = run([int(s) for s in a.sizes.split(",")], a.repeat)
    if a.append:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in cpu if ln.startswith("Model name")),
                     platform.processor())
        text = (f"\n## Plans filled by slope (`benchmarks/bench_fill.py`), {dt.date.today()}\n"
                f"Machine: {os.cpu_count()} cores (`nproc`), {model}, shared with other work "
                f"while measured.\n\n" + "\n".join(header + rows) + "\n")
        path = Path(__file__).with_name("RESULTS.md")
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
