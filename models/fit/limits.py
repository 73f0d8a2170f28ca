"""What the fits need of a panel, read without a fit: training weeks and the panel's ratios.

Kept apart from the estimators so that the checks of a plan (``roiste validate``, ``roiste
plan`` with fitted curves) read them without loading the fitting code and scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from roiste.models.transforms import FloatArray

RATIO_WEEKS = 13  # the last weeks whose totals give a channel's ratios
MIN_TRAIN_WEEKS = 26  # the fewest weeks a fit trains on


def revenue_ratios(revenue: FloatArray, extras: Mapping[str, FloatArray]) -> dict[str, float]:
    """Panel ratios over the last weeks that turn revenue into orders, customers, returns.

    Parameters
    ----------
    revenue : ndarray
        A channel's weekly revenue.
    extras : mapping
        Its other weekly outcome columns (``orders``, ``new_customers``, ...).

    Returns
    -------
    dict
        ``revenue_per_order``, ``new_customers_per_revenue``, ``new_customer_revenue_share``
        and ``return_share`` over the last :data:`RATIO_WEEKS` weeks, where the columns allow.
    """
    rev = float(np.nansum(revenue[-RATIO_WEEKS:]))
    out: dict[str, float] = {}

    def total(name: str) -> float | None:
        v = extras.get(name)
        return None if v is None else float(np.nansum(np.asarray(v, dtype=float)[-RATIO_WEEKS:]))

    orders = total("orders")
    if orders:
        out["revenue_per_order"] = rev / orders
    if rev > 0:
        for key, name in (("new_customers_per_revenue", "new_customers"),
                          ("new_customer_revenue_share", "new_customer_revenue"),
                          ("return_share", "returns")):
            v = total(name)
            if v is not None:
                out[key] = v / rev
    return out


def channel_extras(panel: Any, channel: str) -> dict[str, FloatArray]:
    """The outcome columns of a long panel's channel that its ratios come from (not visitors).

    Parameters
    ----------
    panel : models.panel.Panel
        A long panel.
    channel : str
        One of its channels.

    Returns
    -------
    dict
        Column name -> the channel's weekly values.
    """
    return {k: v[channel].to_numpy(dtype=float) for k, v in panel.extras.items()
            if k != "visitors" and channel in v}


def panel_ratios(panel: Any) -> dict[str, dict[str, float]]:
    """The ratios each channel's fitted curve will carry, read from the panel without a fit.

    ``revenue_per_order``, ``new_customers_per_revenue``, ``new_customer_revenue_share`` and
    ``return_share`` over the last :data:`RATIO_WEEKS` weeks, exactly as
    :func:`roiste.models.fit.channel.fit_long` computes them; a ratio is absent where the panel
    lacks its column (or, for orders, holds none in those weeks).  A wide panel's curves carry
    no ratios.

    Parameters
    ----------
    panel : models.panel.Panel
        A long or wide panel.

    Returns
    -------
    dict
        Channel -> ratio name -> value.
    """
    if panel.layout != "long" or panel.revenue is None:
        return {str(c): {} for c in panel.channels}
    return {str(c): revenue_ratios(panel.revenue[c].to_numpy(dtype=float),
                                   channel_extras(panel, c))
            for c in panel.channels}


def min_train_weeks(layout: str, n_channels: int) -> int:
    """The fewest weeks a fit needs to train on (after its holdout weeks).

    Parameters
    ----------
    layout : {"long", "wide"}
        Per-channel fits (long) or one marketing-mix model (wide).
    n_channels : int
        Channels of the panel (the wide model needs more weeks with more channels).

    Returns
    -------
    int
    """
    if layout == "wide":
        return max(MIN_TRAIN_WEEKS, 2 * int(n_channels) + 8)
    return MIN_TRAIN_WEEKS
