"""Speed of the certified allocation LP/MILP at 1,000 to 100,000 channels.

Run by hand (it is not part of the test run)::

    .venv/bin/python benchmarks/bench_lp.py [--sizes 1000,10000] [--solvers CBC,HiGHS]
        [--repeat 3] [--append]

Each world draws channels of the four saturation families (Hill with shape <= 1, Michaelis-
Menten, exponential, logistic) with geometric carry-over, a current weekly spend around the
half-saturation point, a four-week period, net margin with gross margin 0.4 and a platform fee
of 5 %, a step box of 15 % and a budget 5 % above the current total.  Variants add a share cap
and a target ROAS ("constrained"), or make 5 % of the channels S-shaped (Hill shape 2-3,
"s-shaped": a MILP).  Reported: wall seconds of ``solve`` (best of ``--repeat``), split into
model building (breakpoints, pieces, PuLP model) and the solver (including PuLP's hand-over),
the certified gap, refinement rounds and breakpoints per channel.  ``PeriodFunctions`` is built
before the clock starts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Exponential, Geometric, Hill, Logistic, MichaelisMenten
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.lp import AllocationProblem, ShareConstraint, TargetConstraint, solve

warnings.simplefilter("ignore", DeprecationWarning)


def world(n: int, s_shaped: float = 0.0, seed: int = 0) -> tuple[PeriodFunctions, np.ndarray]:
    rng = np.random.default_rng(seed)
    curves = []
    for i in range(n):
        k = rng.uniform(100.0, 5000.0)
        fam = i % 4
        if rng.random() < s_shaped:
            sat: object = Hill(k=k, s=rng.uniform(2.0, 3.0))
        else:
            sat = [Hill(k=k, s=rng.uniform(0.5, 1.0)), MichaelisMenten(k=k), Exponential(k=k),
                   Logistic(k=k)][fam]
        alpha = rng.uniform(0.0, 0.6)
        spend = k * (1 - alpha) * rng.uniform(0.3, 2.0)
        curves.append(ResponseCurve(f"ch{i}", Component(rng.uniform(1e3, 1e5), sat,  # type: ignore[arg-type]
                                                        Geometric(alpha=alpha)), spend))
    cs = CurveSet(curves)
    pf = PeriodFunctions(cs, ChannelEconomics(gross_margin=0.4, platform_fee_rate=0.05), 4)
    x0 = np.array([c.recent_spend for c in curves]) * 4
    return pf, x0


def problem(pf: PeriodFunctions, x0: np.ndarray, variant: str) -> AllocationProblem:
    n = len(x0)
    shares, targets = [], []
    if variant == "constrained":
        first = np.arange(n) < n // 5
        shares = [ShareConstraint("first_fifth", first, max_share=0.9 * x0[first].sum() / x0.sum())]
        r0 = pf.revenue(x0).sum() / x0.sum()
        targets = [TargetConstraint("roas", "min_roas", 0.98 * r0)]
    return AllocationProblem(pf.names, 0.85 * x0, 1.15 * x0, pf, float(x0.sum()) * 1.05,
                             shares=shares, targets=targets)


def run(sizes: list[int], solvers: list[str], variants: list[str], repeat: int) -> list[str]:
    rows = []
    for n in sizes:
        for variant in variants:
            pf, x0 = world(n, s_shaped=0.05 if variant == "s-shaped" else 0.0)
            for solver in solvers:
                best = None
                for _ in range(repeat if n <= 10000 else 1):
                    p = problem(pf, x0, variant)
                    t = time.perf_counter()
                    sol = solve(p, solver=solver)
                    wall = time.perf_counter() - t
                    if best is None or wall < best[0]:
                        best = (wall, sol)
                assert best is not None
                wall, sol = best
                row = (f"| {n:,} | {variant} | {solver} | {wall:.2f} s | "
                       f"{sol.build_seconds:.2f} s | {sol.solve_seconds:.2f} s | "
                       f"{sol.gap:.1e} | {sol.iterations} | {sol.n_breakpoints / n:.1f} |"
                       f" {'yes' if sol.milp else 'no'} |")
                print(row, flush=True)
                rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--solvers", default="CBC,HiGHS")
    ap.add_argument("--variants", default="concave,constrained,s-shaped")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--append", action="store_true")
    a = ap.parse_args()
    header = ["| channels | variant | solver | wall | building | solver | gap | rounds | "
              "breakpoints / channel | MILP |", "|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(header))
    rows = run([int(s) for s in a.sizes.split(",")], a.solvers.split(","),
               a.variants.split(","), a.repeat)
    if a.append:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in cpu if ln.startswith("Model name")),
                     platform.processor())
        text = (f"\n## Allocation LP/MILP (`benchmarks/bench_lp.py`), {dt.date.today()}\n"
                f"Machine: {os.cpu_count()} cores (`nproc`), {model}, shared with other work "
                f"while measured.\nWall seconds of `solve` (best of {a.repeat} up to 10,000 "
                "channels); building = breakpoints, pieces and the PuLP model; solver = PuLP's "
                "hand-over and the solver.\n\n" + "\n".join(header + rows) + "\n")
        path = Path(__file__).with_name("RESULTS.md")
        with path.open("a", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
