"""Long panels of channels that follow a known saturation after a geometric adstock, for tests
that fit, plan and replay them against the curves they were drawn from."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from roiste.models.transforms import Geometric, Saturation


def saturation_panel(channels: Mapping[str, tuple[float, float, float, float]],
                     family: type[Saturation], *, weeks: int, walk_sd: float, alpha: float,
                     seed: int = 5) -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """A long panel (date, channel, spend, revenue) and its weeks.

    ``channels`` maps a name to ``(mean spend, k / adstocked mean, shape s, beta / mean)``:
    spend a log random walk (AR 0.85, steps of ``walk_sd``) scaled to its mean, revenue a
    gently seasonal baseline plus ``beta * family(k, s)`` of the adstocked spend, times 2 %
    lognormal noise.
    """
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2023-01-02", periods=weeks, freq="7D")
    rows = []
    for name, (mean, k_mult, s, beta_mult) in channels.items():
        z = np.zeros(weeks)
        for t in range(1, weeks):
            z[t] = 0.85 * z[t - 1] + rng.normal(0.0, walk_sd)
        spend = mean * np.exp(z) / np.exp(z).mean()
        sat = family(k=k_mult * mean / (1.0 - alpha), s=s)
        base = 0.5 * beta_mult * mean * (1.0 + 0.1 * np.sin(2 * np.pi * np.arange(weeks) / 52.18))
        revenue = (base + beta_mult * mean * sat.value(Geometric(alpha=alpha).apply(spend))
                   ) * np.exp(rng.normal(0.0, 0.02, weeks))
        rows.append(pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "channel": name,
                                  "spend": spend.round(2), "revenue": revenue.round(2)}))
    return pd.concat(rows), dates
