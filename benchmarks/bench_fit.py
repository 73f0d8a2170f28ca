"""Benchmark: fit a long panel of many channels with bootstrap draws, time and peak memory.

Run by hand (not part of the tests)::

    .venv/bin/python benchmarks/bench_fit.py [--channels 1000] [--weeks 156] [--bootstrap 100]
        [--jobs 2] [--append]

It simulates a world, writes its panel to a temporary CSV, fits it end to end with
``fit_panel_file`` (reading included) and reports wall time, CPU time and the peak resident
memory of this process plus its worker processes (sampled every 50 ms from ``/proc``).
With ``--append`` the result is appended to ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from roiste.models.fit.channel import fit_long
from roiste.models.panel import read_panel
from roiste.models.simulate import write_world

ROOT = Path(__file__).resolve().parents[1]


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


class PeakMemory(threading.Thread):
    """Peak of the summed RSS of this process and its descendants."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak_kib = 0
        self._done = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._done.is_set():
            total = sum(_rss_kib(p) for p in [me, *_descendants(me)])
            self.peak_kib = max(self.peak_kib, total)
            self._done.wait(0.05)

    def stop(self) -> None:
        self._done.set()
        self.join()


def _machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines()
                      if ln.startswith("Model name")), platform.processor())
    except OSError:
        model = platform.processor()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, load {load:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--weeks", type=int, default=156)
    ap.add_argument("--bootstrap", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--append", action="store_true", help="append the result to RESULTS.md")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "panel.csv"
        t0 = time.perf_counter()
        write_world(path, seed=args.seed, n_channels=args.channels, n_weeks=args.weeks)
        t_sim = time.perf_counter() - t0
        mem = PeakMemory()
        mem.start()
        cpu0, t0 = time.process_time(), time.perf_counter()
        panel = read_panel(path, require_variation=True)
        curves = fit_long(panel, bootstrap=args.bootstrap, seed=args.seed, progress=True,
                          n_jobs=args.jobs)
        wall = time.perf_counter() - t0
        cpu_main = time.process_time() - cpu0
        mem.stop()
    per = wall / args.channels * 1000
    line = (f"| {dt.date.today().isoformat()} | fit_long | {args.channels} x {args.weeks} wk, "
            f"{args.bootstrap} draws, {args.jobs} jobs | {wall:.1f} s ({per:.0f} ms/channel) | "
            f"{mem.peak_kib / 1024:.0f} MiB | {_machine()} |")
    print(f"simulated in {t_sim:.1f} s; fitted {len(curves)} channels in {wall:.1f} s "
          f"(main process CPU {cpu_main:.1f} s); peak RSS {mem.peak_kib / 1024:.0f} MiB; "
          f"r2_train {curves.diagnostics['r2_train']:.3f}")
    print(line)
    if args.append:
        results = ROOT / "benchmarks" / "RESULTS.md"
        text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
        if "| date | benchmark |" not in text:
            text += ("\n## Per-channel fit (benchmarks/bench_fit.py)\n\n"
                     "| date | benchmark | size | time | peak memory | machine |\n"
                     "|---|---|---|---|---|---|\n")
        results.write_text(text.rstrip("\n") + "\n" + line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
