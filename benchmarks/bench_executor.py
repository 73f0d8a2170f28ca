"""Per-channel fits per second on the local executor and on Dask, and Dask's overhead.

Run by hand (it is not part of the test run)::

    .venv/bin/python benchmarks/bench_executor.py [--channels 24] [--weeks 104] [--append]

A simulated long panel is fitted (``fit_long``, ``--bootstrap`` draws) with the local executor on 1 and
2 processes and with Dask on a ``LocalCluster`` of 1 and 2 worker processes that is running
before the clock starts (as a remote cluster would be); every run's curves must be the same
bytes.  The overhead on a small job (2 channels) is measured three ways: local in this
process, Dask on the running cluster, and Dask starting its own cluster for the run (what
``--executor dask`` without ``--scheduler`` does).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from roiste.models.executor import Executor
from roiste.models.fit.channel import fit_long
from roiste.models.panel import Panel, read_panel
from roiste.models.simulate import write_world

warnings.simplefilter("ignore")


def _timed(panel: Panel, ex: Executor, bootstrap: int = 0) -> tuple[float, str]:
    t = time.perf_counter()
    curves = fit_long(panel, progress=False, executor=ex, bootstrap=bootstrap)
    return time.perf_counter() - t, curves.to_json()


def main() -> None:
    # dask.distributed is the optional `dask` extra: this benchmark needs it
    from distributed import LocalCluster

    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=24)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--bootstrap", type=int, default=20)
    ap.add_argument("--append", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    write_world(tmp / "panel.csv", seed=11, n_channels=a.channels, n_weeks=a.weeks)
    write_world(tmp / "small.csv", seed=12, n_channels=2, n_weeks=a.weeks)
    panel, small = read_panel(tmp / "panel.csv"), read_panel(tmp / "small.csv")
    rows, texts = [], set()
    b = a.bootstrap
    for n in (1, 2):
        _timed(small, Executor("local", workers=n))  # warm: the workers import roiste once
        wall, text = _timed(panel, Executor("local", workers=n), b)
        texts.add(text)
        rows.append(f"| local | {n} | {wall:.2f} s | {a.channels / wall:.2f} |")
        print(rows[-1], flush=True)
    for n in (1, 2):
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=40)
        try:
            _timed(small, Executor("dask", scheduler=cluster.scheduler_address))  # warm
            wall, text = _timed(panel, Executor("dask", scheduler=cluster.scheduler_address), b)
            texts.add(text)
            rows.append(f"| dask (running cluster) | {n} | {wall:.2f} s | {a.channels / wall:.2f} |")
            print(rows[-1], flush=True)
            if n == 2:
                small_dask, _ = _timed(small, Executor("dask", scheduler=cluster.scheduler_address))
        finally:
            cluster.close()
    assert len(texts) == 1, "the executors disagree"
    small_local, _ = _timed(small, Executor("local", workers=1))
    small_start, _ = _timed(small, Executor("dask", workers=2))
    over = [f"| local, this process | {small_local:.2f} s |",
            f"| dask, a running cluster of 2 | {small_dask:.2f} s |",
            f"| dask, a cluster of 2 started for the run | {small_start:.2f} s |"]
    print("\n".join(over))
    if a.append:
        cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in cpu if ln.startswith("Model name")),
                     platform.processor())
        load = os.getloadavg()[0]
        text = (f"\n## Executors: fits per second, local and Dask (`benchmarks/bench_executor.py`), "
                f"{dt.date.today()}\nMachine: {os.cpu_count()} cores (`nproc`), {model}, shared "
                f"with other work (load average {load:.1f} when it ended). {a.channels} channels "
                f"x {a.weeks} weeks, {b} bootstrap draws each; the workers warmed by a small fit first "
                "(they import roiste once); every run's curves are the same bytes.\n\n"
                "| executor | workers | wall | fits / s |\n|---|---|---|---|\n"
                + "\n".join(rows) + "\n\nA small job (2 channels):\n\n| executor | wall |\n"
                "|---|---|\n" + "\n".join(over) + "\n")
        with Path(__file__).with_name("RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
