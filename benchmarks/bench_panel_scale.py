"""Time and peak memory of reading a long panel of many channels, whole-file vs in batches.

Run by hand: ``.venv/bin/python benchmarks/bench_panel_scale.py [--campaigns 25000]
[--markets 4] [--weeks 104] [--dir DIR]``.  The panel (campaigns x markets channels, one row per
week and channel, written with pyarrow so that the generator stays small) is saved once as
Parquet and as CSV; each read runs in a fresh interpreter, so its peak resident memory
(``ru_maxrss``) is its own.  The two readings are checked equal cell for cell.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

READ = """
import hashlib, json, resource, sys, time
import numpy as np
from roiste.models.panel import read_panel
t = time.perf_counter()
p = read_panel(sys.argv[1], chunked=sys.argv[2] == "batched")
dt = time.perf_counter() - t
digest = hashlib.sha256()
for table in (p.spend, p.revenue, *p.extras.values()):
    digest.update(np.ascontiguousarray(table.to_numpy()).tobytes())
digest.update("\\x1f".join(p.channels).encode())
print(json.dumps({"seconds": dt, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "channels": len(p.channels), "weeks": p.n_weeks, "digest": digest.hexdigest()}))
"""


def write_panel(folder: Path, campaigns: int, markets: int, weeks: int, seed: int = 0) -> tuple[Path, Path]:
    """Write the panel as Parquet and CSV, a week at a time (rows in week order)."""
    rng = np.random.default_rng(seed)
    n = campaigns * markets
    channel = pa.array(np.repeat([f"campaign_{i:06d}" for i in range(campaigns)], markets))
    market = pa.array(np.tile([f"M{j:02d}" for j in range(markets)], campaigns))
    days = np.datetime64("2024-01-01") + 7 * np.arange(weeks)
    schema = pa.schema([("date", pa.string()), ("channel", pa.string()), ("market", pa.string()),
                        ("spend", pa.float64()), ("revenue", pa.float64())])
    pq_path, csv_path = folder / "panel.parquet", folder / "panel.csv"
    with pq.ParquetWriter(pq_path, schema) as pw, pacsv.CSVWriter(csv_path, schema) as cw:
        for d in days:
            spend = rng.gamma(2.0, 50.0, size=n).round(2)
            batch = pa.record_batch([pa.array(np.full(n, str(d))), channel, market,
                                     pa.array(spend), pa.array((spend * rng.uniform(1, 4, n)).round(2))],
                                    schema=schema)
            pw.write_batch(batch)
            cw.write_batch(batch)
    return pq_path, csv_path


def measure(path: Path, how: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", READ, str(path), how], capture_output=True,
                         text=True, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--campaigns", type=int, default=25_000)
    ap.add_argument("--markets", type=int, default=4)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--dir", type=Path, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        t = time.perf_counter()
        files = write_panel(Path(tmp), args.campaigns, args.markets, args.weeks)
        print(f"{platform.processor() or platform.machine()}, {platform.python_version()}; "
              f"{args.campaigns * args.markets} channels x {args.weeks} weeks "
              f"({args.campaigns * args.markets * args.weeks:,} rows) written in "
              f"{time.perf_counter() - t:.1f} s")
        for path in files:
            size = path.stat().st_size / 2**20
            runs = {how: measure(path, how) for how in ("whole", "batched")}
            same = runs["whole"]["digest"] == runs["batched"]["digest"]
            for how, r in runs.items():
                print(f"{path.suffix[1:]:8} {size:7.0f} MB  {how:8} {r['seconds']:7.2f} s  "
                      f"peak {r['peak_mb']:7.0f} MB  {int(r['channels'])} channels  same={same}")


if __name__ == "__main__":
    main()
