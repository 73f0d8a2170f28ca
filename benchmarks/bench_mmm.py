"""Time the marketing-mix fit of the wide layout, and its quality on worlds with a known truth.

Run by hand: ``.venv/bin/python benchmarks/bench_mmm.py [--channels 20] [--weeks 156]``.
Needs ``../shared/datasets`` (or ``$ROISTE_DATASETS``) for the public-data rows.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from roiste.models.fit.mmm import fit_wide
from roiste.models.panel import panel_from_frame, read_panel
from roiste.models.transforms import Geometric, Logistic
from roiste.models.worlds import draw_world

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("ROISTE_DATASETS", ROOT.parent / "shared" / "datasets"))


def _timed(fn: object) -> tuple[float, object]:
    t0 = time.process_time()
    out = fn()  # type: ignore[operator]
    return time.process_time() - t0, out


def _world(n_channels: int, n_weeks: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Channels with random alpha, logistic saturation and spend; returns the true totals."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_weeks, dtype=float)
    frame = {"week": pd.date_range("2022-01-03", periods=n_weeks, freq="7D")}
    y = 100_000 + 8_000 * np.sin(2 * np.pi * t / 52.18) + 50.0 * t
    totals = []
    for c in range(n_channels):
        x = rng.gamma(2.0, 2_000.0, n_weeks) * (rng.random(n_weeks) < 0.8)
        a = Geometric(alpha=float(rng.uniform(0, 0.7))).apply(x)
        contrib = float(rng.uniform(5_000, 20_000)) * Logistic(k=float(rng.uniform(0.5, 2)) * a.mean()).value(a)
        frame[f"ch{c:02d}"] = x
        y = y + contrib
        totals.append(contrib.sum())
    frame["sales"] = y + rng.normal(0, 2_000, n_weeks)
    return pd.DataFrame(frame), np.array(totals)


def _always_on(seed: int) -> tuple[object, float]:
    """A one-channel always-on world (spend never below 44 % of its mean) as a wide panel with
    its true baseline supplied as a control, and the channel's true ROAS."""
    w = draw_world(seed, "always_on", n_channels=1)
    ch = w.channels[0]
    x = w.spend[ch].to_numpy()
    rev = w.panel.pivot(index="date", columns="channel", values="revenue")[ch].to_numpy()
    frame = pd.DataFrame({"week": w.weeks, "sales": rev, ch: x, "baseline": w.baseline[ch].to_numpy()})
    comp = w.channel_truth[ch].revenue
    roas = float(comp.beta * comp.saturation.value(comp.adstock.apply(x)).sum() / x.sum())
    return panel_from_frame(frame, layout="wide", target="sales", spend=[ch], controls=["baseline"]), roas


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--channels", type=int, default=20)
    ap.add_argument("--weeks", type=int, default=156)
    ap.add_argument("--bootstrap", type=int, default=100)
    args = ap.parse_args()

    robyn = DATA / "robyn_dt_simulated_weekly.csv"
    if robyn.is_file():
        panel = read_panel(robyn, layout="wide", target="revenue",
                           spend=["tv_S", "ooh_S", "print_S", "facebook_S", "search_S"],
                           controls=["competitor_sales_B", "newsletter", "events"])
        sec, cs = _timed(lambda: fit_wide(panel, holdout_weeks=42, progress=False))
        d = cs.diagnostics  # type: ignore[attr-defined]
        print(f"robyn 5 ch x 208 wk, holdout 42: {sec:.2f} s cpu, r2_train {d['r2_train']:.3f}, "
              f"r2_holdout {d['r2_holdout']:.3f}, wape_holdout {d['wape_holdout']:.3f}")
        sec, _ = _timed(lambda: fit_wide(panel, holdout_weeks=42, bootstrap=args.bootstrap, progress=False))
        print(f"robyn with {args.bootstrap} bootstrap draws: {sec:.2f} s cpu")

    stan = DATA / "mmm_stan.csv"
    if stan.is_file():
        cols = pd.read_csv(stan, nrows=0).columns
        panel = read_panel(stan, layout="wide", target="sales",
                           spend=[c for c in cols if c.startswith("mdsp_")],
                           controls=[c for c in cols if c.startswith(("me_", "st_", "mrkdn_", "hldy_"))])
        sec, cs = _timed(lambda: fit_wide(panel, holdout_weeks=26, progress=False))
        d = cs.diagnostics  # type: ignore[attr-defined]
        print(f"mmm_stan 10 ch x 209 wk, holdout 26: {sec:.2f} s cpu, ridge {d['ridge']:g}, "
              f"r2_train {d['r2_train']:.3f}, r2_holdout {d['r2_holdout']:.3f}, warnings {len(d['warnings'])}")

    for ridge in (1e-3, None):
        errs = []
        for seed in range(8):
            panel, roas = _always_on(seed)
            cs = fit_wide(panel, ridge=ridge, progress=False)
            ch = panel.channels[0]
            errs.append(cs[ch].diagnostics["roas_train"] / roas - 1)  # type: ignore[index]
        print(f"always-on worlds 0..7, ridge {ridge or 'cross-validated'}: ROAS error "
              + " ".join(f"{e:+.3f}" for e in errs) + f", mean |error| {np.mean(np.abs(errs)):.3f}")

    frame, totals = _world(args.channels, args.weeks)
    channels = [c for c in frame.columns if c.startswith("ch")]
    panel = panel_from_frame(frame, layout="wide", target="sales", spend=channels)
    sec, cs = _timed(lambda: fit_wide(panel, progress=False))
    got = np.array([cs[c].diagnostics["contribution"] for c in channels])  # type: ignore[index]
    err = np.abs(got / totals - 1)
    print(f"synthetic {args.channels} ch x {args.weeks} wk: {sec:.2f} s cpu, contribution error "
          f"median {np.median(err):.3f}, max {err.max():.3f}, total {abs(got.sum() / totals.sum() - 1):.3f}")


if __name__ == "__main__":
    main()
