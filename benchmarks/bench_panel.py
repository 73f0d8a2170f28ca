"""Time reading a large long panel (channels x weeks) from CSV and Parquet.

Run by hand: ``.venv/bin/python benchmarks/bench_panel.py [--channels 1000] [--weeks 156]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from roiste.models.panel import read_panel


def _frame(n_channels: int, n_weeks: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2023-01-02", periods=n_weeks, freq="7D")
    spend = rng.gamma(2.0, 500.0, size=n_weeks * n_channels).round(2)
    return pd.DataFrame({
        "date": np.repeat(weeks.strftime("%Y-%m-%d"), n_channels),
        "channel": np.tile([f"campaign_{i:04d}" for i in range(n_channels)], n_weeks),
        "market": np.tile(["FR", "DE", "ES", "IT"], n_weeks * n_channels // 4 + 1)[: n_weeks * n_channels],
        "spend": spend,
        "revenue": (spend * rng.uniform(1.0, 4.0, size=spend.size)).round(2),
        "orders": rng.integers(0, 200, size=spend.size),
    })


def _best_of(fn: object, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=1000)
    ap.add_argument("--weeks", type=int, default=156)
    args = ap.parse_args()
    df = _frame(args.channels, args.weeks)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path, pq_path = Path(tmp) / "panel.csv", Path(tmp) / "panel.parquet"
        df.to_csv(csv_path, index=False)
        df.assign(date=pd.to_datetime(df["date"])).to_parquet(pq_path)
        for path in (csv_path, pq_path):
            t = _best_of(lambda p=path: read_panel(p))
            size = path.stat().st_size / 1e6
            print(f"{path.suffix[1:]:8s} {len(df):>8,d} rows {size:6.1f} MB  read_panel {t:.3f} s (best of 3)")


if __name__ == "__main__":
    main()
