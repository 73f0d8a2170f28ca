"""Benchmark: backtest of 3 years of weekly data with 20 channels (target: under 5 minutes on 2 cores).

Run by hand: ``.venv/bin/python benchmarks/bench_backtest.py``; append the printed line to
``benchmarks/RESULTS.md`` with the machine (``nproc``, ``lscpu | head``) and date.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml

from roiste.models.simulate import write_world
from roiste.optimizer.runs import run_backtest


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        write_world(d / "panel.csv", seed=11, n_channels=20, n_weeks=156)
        sc = {"name": "bench", "data": "panel.csv",
              "economics": {"gross_margin": 0.45, "cost_per_order": 6.0, "new_customer_value": 30.0}}
        (d / "scenario.yaml").write_text(yaml.safe_dump(sc), encoding="utf-8")
        t0 = time.perf_counter()
        res = run_backtest(d / "scenario.yaml", d / "out", progress=False)
        wall = time.perf_counter() - t0
        s = res.summary
        print(f"20 channels x 156 weeks, {len(s['folds'])} folds of 4 weeks, bootstrap "
              f"{s['bootstrap']}, replay of {len(s['truth']['replanning'])} months: {wall:.1f} s; "
              f"WAPE {s['wape']:.3f}, coverage {s['coverage']:.3f}")


if __name__ == "__main__":
    main()
