"""Peer of the wide exam: PyMC-Marketing's MMM and budget optimizer on the same worlds.

Runs in its own virtual environment (see README.md beside this file), never in roiste's:

    nice -n 10 benchmarks/peers/.venv/bin/python benchmarks/peers/pymc_marketing.py [--worlds 0-9]

Reads ``benchmarks/out/wide/worlds.csv`` and ``truth.csv`` written by
``benchmarks/bench_wide.py``; for every world fits PyMC-Marketing's multidimensional ``MMM``
(geometric adstock, ``l_max`` 8, logistic saturation, yearly seasonality of order 2, a linear
trend as the one control, default priors; NUTS, 2 chains x 500 draws after 500 tuning steps),
then allocates the same budget as the roiste exam (the mean weekly spend of the last 8 weeks,
held) with ``MultiDimensionalBudgetOptimizerWrapper.optimize_budget`` over the next 4 weeks,
each channel within +-15 % of its current spend.  Writes ``peer_plans.csv`` (the allocation per
world and channel, weekly) and ``peer_curves.csv`` (the posterior-mean steady-state weekly
contribution at 0.5-1.5 x the current spend); ``bench_wide.py --compare`` values both on the
truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# this file shares its name with the package: keep its own folder off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402
from pymc_marketing.mmm import GeometricAdstock, LogisticSaturation  # noqa: E402
from pymc_marketing.mmm.multidimensional import (  # noqa: E402
    MMM,
    MultiDimensionalBudgetOptimizerWrapper,
)

OUT = HERE.parent / "out" / "wide"
L_MAX = 8
PERIOD_WEEKS = 4
GRID = np.round(np.linspace(0.5, 1.5, 11), 2)


def steady_response(mmm: MMM, channels: list[str], weekly: np.ndarray) -> np.ndarray:
    """Posterior-mean steady-state weekly contribution at constant weekly spends, channels x grid.

    With normalised geometric weights the adstock of a constant spend is that spend; the
    contribution is ``beta * logistic(lam * spend / channel_scale) * target_scale`` per draw.
    """
    post = mmm.idata.posterior
    beta = post["saturation_beta"].stack(s=("chain", "draw")).transpose("channel", "s").to_numpy()
    lam = post["saturation_lam"].stack(s=("chain", "draw")).transpose("channel", "s").to_numpy()
    ch_scale = np.asarray(mmm.scalers._channel.sel(channel=channels).to_numpy(), dtype=float)
    y_scale = float(np.asarray(mmm.scalers._target).reshape(-1)[0])
    x = weekly / ch_scale[:, None]  # channels x grid
    z = lam[:, None, :] * x[:, :, None]
    sat = (1.0 - np.exp(-z)) / (1.0 + np.exp(-z))
    return np.asarray((beta[:, None, :] * sat).mean(axis=2) * y_scale)


def fit_world(frame: pd.DataFrame, channels: list[str], seed: int, draws: int, chains: int) -> MMM:
    """Fit the MMM to one world's wide frame."""
    X = frame[["date", *channels]].copy()
    X["date"] = pd.to_datetime(X["date"])
    X["trend"] = np.linspace(0.0, 1.0, len(X))
    mmm = MMM(date_column="date", channel_columns=channels, target_column="revenue",
              adstock=GeometricAdstock(l_max=L_MAX), saturation=LogisticSaturation(),
              yearly_seasonality=2, control_columns=["trend"])
    mmm.fit(X, frame["revenue"].rename("revenue"), chains=chains, draws=draws, tune=draws,
            cores=min(chains, 2), random_seed=seed, progressbar=False)
    return mmm


def allocate(mmm: MMM, frame: pd.DataFrame, channels: list[str], truth: pd.DataFrame) -> np.ndarray:
    """Weekly spend per channel chosen by PyMC-Marketing's optimizer (budget held, +-15 %)."""
    last = pd.to_datetime(frame["date"]).iloc[-1]
    start = last + pd.Timedelta(weeks=1)
    end = last + pd.Timedelta(weeks=PERIOD_WEEKS)
    wrapper = MultiDimensionalBudgetOptimizerWrapper(
        model=mmm, start_date=str(start.date()), end_date=str(end.date()))
    t = truth.set_index("channel").loc[channels]
    bounds = xr.DataArray(np.column_stack([t["lower"], t["upper"]]), dims=("channel", "bound"),
                          coords={"channel": channels, "bound": ["lower", "upper"]})
    alloc, _ = wrapper.optimize_budget(budget=float(t["current_weekly"].sum()), budget_bounds=bounds)
    return np.asarray(alloc.sel(channel=channels).to_numpy(), dtype=float)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worlds", default=None, help="lo-hi: only these worlds (default all)")
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--chains", type=int, default=2)
    a = ap.parse_args()
    worlds = pd.read_csv(OUT / "worlds.csv")
    truth = pd.read_csv(OUT / "truth.csv")
    ids = sorted(worlds["world"].unique())
    if a.worlds:
        lo, hi = (int(v) for v in a.worlds.split("-"))
        ids = [i for i in ids if lo <= i <= hi]
    plans, curves = [], []
    for i in ids:
        frame = worlds[worlds["world"] == i].reset_index(drop=True)
        tr = truth[truth["world"] == i]
        channels = list(tr["channel"])
        frame = frame[["date", "revenue", *channels]]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mmm = fit_world(frame, channels, seed=int(tr["seed"].iloc[0]), draws=a.draws,
                            chains=a.chains)
            fit_s = time.perf_counter() - t0
            weekly = allocate(mmm, frame, channels, tr)
        cur = tr.set_index("channel").loc[channels, "current_weekly"].to_numpy(dtype=float)
        resp = steady_response(mmm, channels, np.outer(cur, GRID))
        for j, c in enumerate(channels):
            plans.append({"world": i, "channel": c, "weekly_spend": weekly[j],
                          "current_weekly": cur[j], "fit_seconds": fit_s,
                          "wall_seconds": time.perf_counter() - t0})
            curves += [{"world": i, "channel": c, "mult": m, "response": resp[j, k]}
                       for k, m in enumerate(GRID)]
        print(f"world {i}: fit {fit_s:.0f} s, allocation / current "
              f"{np.round(weekly / cur, 3).tolist()}", flush=True)
        pd.DataFrame(plans).to_csv(OUT / "peer_plans.csv", index=False)
        pd.DataFrame(curves).to_csv(OUT / "peer_curves.csv", index=False)


if __name__ == "__main__":
    main()
