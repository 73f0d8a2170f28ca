"""Attribution at scale: 10 million touchpoints and 1 million conversions per heuristic rule.

Run by hand (it is not part of the test run)::

    .venv/bin/python benchmarks/bench_attribution.py [--touches 10000000] [--conversions 1000000]
        [--rules last-click,first-click,linear,position-based,time-decay] [--append]

It writes the inputs once as Parquet into a temporary folder, then for each rule starts a
fresh Python process that reads and checks both files, attributes every conversion and writes
the weekly panel, and reports the wall time and the process's peak resident memory.  With
``--append`` the table goes to ``benchmarks/RESULTS.md`` with the machine and the date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HEURISTIC = ["last-click", "first-click", "linear", "position-based", "time-decay"]
CHANNELS = ["affiliate", "display", "email", "organic_social", "paid_search", "retargeting",
            "search_brand", "social_meta", "social_tiktok", "video"]


def make_inputs(folder: Path, n_touch: int, n_conv: int, seed: int = 0) -> tuple[Path, Path]:
    """Touches of ``n_touch / 5`` customers, each within four weeks of its own start (over 26
    weeks in all); ``n_conv`` orders among them, one to five weeks after that start."""
    rng = np.random.default_rng(seed)
    n_cust = max(n_touch // 5, 1)
    start = np.datetime64("2024-01-01T00:00:00", "s").astype(np.int64)
    span = 26 * 7 * 86_400
    day = 86_400
    begin = start + rng.integers(0, span - 35 * day, n_cust)  # each customer's journey
    cust = rng.integers(0, n_cust, n_touch)
    ts = begin[cust] + rng.integers(0, 28 * day, n_touch)
    ch = rng.integers(0, len(CHANNELS), n_touch)
    ids = pa.array([f"c{i:08d}" for i in range(n_cust)])
    touch = pa.table({
        "customer_id": ids.take(pa.array(cust)),
        "timestamp": pa.array(ts.astype("datetime64[s]")),
        "channel": pa.DictionaryArray.from_arrays(pa.array(ch.astype(np.int32)),
                                                  pa.array(CHANNELS)).cast(pa.string()),
    })
    c_cust = rng.integers(0, n_cust, n_conv)
    c_ts = begin[c_cust] + rng.integers(7 * day, 35 * day, n_conv)
    conv = pa.table({
        "order_id": pa.array([f"o{i:09d}" for i in range(n_conv)]),
        "customer_id": ids.take(pa.array(c_cust)),
        "timestamp": pa.array(c_ts.astype("datetime64[s]")),
        "revenue": pa.array(np.round(rng.lognormal(4.2, 0.6, n_conv), 2)),
        "new_customer": pa.array(rng.random(n_conv) < 0.4),
    })
    tp, cv = folder / "touchpoints.parquet", folder / "conversions.parquet"
    pq.write_table(touch, tp)
    pq.write_table(conv, cv)
    return tp, cv


def run_one(rule: str, tp: str, cv: str, out: str) -> None:
    """Child process: one rule, timed; prints a JSON line."""
    t0 = time.perf_counter()
    from roiste.models.attribution.credit import AttributionRule, write_attribution_panel

    result = write_attribution_panel(tp, cv, AttributionRule(rule), out)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rule": rule, "seconds": round(wall, 2), "peak_mib": round(peak_kib / 1024),
                      "revenue": result.details["revenue"],
                      "touches_used": result.details["touches_used"]}))


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()[:12]
    model = next((ln.split(":", 1)[1].strip() for ln in lscpu if ln.startswith("Model name")), "?")
    return f"{os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {model}, {platform.python_version()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--touches", type=int, default=10_000_000)
    ap.add_argument("--conversions", type=int, default=1_000_000)
    ap.add_argument("--rules", default=",".join(HEURISTIC))
    ap.add_argument("--append", action="store_true", help="Append the table to benchmarks/RESULTS.md")
    ap.add_argument("--run", nargs=4, metavar=("RULE", "TP", "CV", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run:
        run_one(*args.run)
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        tp, cv = make_inputs(Path(tmp), args.touches, args.conversions)
        print(f"inputs written in {time.perf_counter() - t0:.1f} s "
              f"({tp.stat().st_size / 2**20:.0f} + {cv.stat().st_size / 2**20:.0f} MiB Parquet)")
        rows = []
        for rule in args.rules.split(","):
            out = subprocess.run([sys.executable, __file__, "--run", rule, str(tp), str(cv),
                                  str(Path(tmp) / f"panel-{rule}.csv")],
                                 capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(row)
            rows.append(row)
    lines = [
        f"\n## Attribution: {args.touches:,} touchpoints, {args.conversions:,} conversions "
        f"({dt.date.today().isoformat()})\n",
        f"Machine: {machine()}. `benchmarks/bench_attribution.py`; each rule in a fresh process: "
        "read and check both Parquet files, attribute, write the weekly panel.\n",
        f"Load average before the run: {load}.\n",
        "| rule | kind | wall time (s) | peak memory (MiB) | touches in journeys |",
        "|---|---|---:|---:|---:|",
        *[f"| {r['rule']} | {'heuristic' if r['rule'] in HEURISTIC else 'data-driven'} "
          f"| {r['seconds']:.1f} | {r['peak_mib']} | {r['touches_used']:,} |" for r in rows],
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with open(Path(__file__).with_name("RESULTS.md"), "a", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
