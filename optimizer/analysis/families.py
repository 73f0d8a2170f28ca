"""One channel fitted with every saturation family, side by side.

The families (``models.transforms.SATURATIONS``) often fit the weeks seen about equally well
and still disagree on where the channel saturates, because the data rarely reach that far.
:func:`compare_families` shows how much the saturation point and the marginal ROAS at current
spend depend on that choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from roiste.models.curves import ResponseCurve
from roiste.models.errors import CurveError
from roiste.models.fit.channel import FitSettings, fit_channel
from roiste.models.fit.mmm import fit_wide
from roiste.models.panel import Panel
from roiste.models.transforms import SATURATIONS


@dataclass(frozen=True)
class FamilyComparison:
    """The curves of one channel under each family, and a table comparing them.

    Attributes
    ----------
    channel : str
    curves : dict of str to ResponseCurve
        One curve per family.
    selected : str
        The family the default fit picks (long panels: time-series cross-validation among all
        registered families, so possibly one not compared; wide panels: the lowest AIC among
        the families compared).
    table : pandas.DataFrame
        One row per family (see :func:`compare_families`).
    period_weeks : int
    current_spend : float
        The channel's current period spend (its recent weekly spend x ``period_weeks``).
    """

    channel: str
    curves: dict[str, ResponseCurve]
    selected: str
    table: pd.DataFrame
    period_weeks: int
    current_spend: float
    meta: dict[str, Any] = field(default_factory=dict)


def _long_fits(panel: Panel, channel: str, families: Sequence[str], seed: int,
               bootstrap: int) -> tuple[dict[str, ResponseCurve], str, dict[str, float]]:
    if panel.revenue is None:
        raise CurveError(f"{panel.source}: comparing families needs a revenue column")
    x = panel.spend[channel].to_numpy(dtype=float)
    y = panel.revenue[channel].to_numpy(dtype=float)

    def fit(family: str) -> ResponseCurve:
        return fit_channel(x, y, panel.weeks, channel=channel, seed=seed,
                           settings=FitSettings(family=family, bootstrap=bootstrap))

    auto = fit("auto")  # the curve `roiste fit` gives, with every family's CV error
    curves = {f: auto if f == auto.family else fit(f) for f in families}
    cv = {str(k): float(v) for k, v in auto.diagnostics.get("cv_scores", {}).items()}
    return curves, auto.family, cv


def _wide_fits(panel: Panel, channel: str, families: Sequence[str], seed: int,
               bootstrap: int) -> tuple[dict[str, ResponseCurve], str, dict[str, float]]:
    curves, aic = {}, {}
    for f in families:
        cs = fit_wide(panel, families=(f,), seed=seed, bootstrap=bootstrap, progress=False)
        curves[f] = cs[channel]
        aic[f] = float(cs.diagnostics.get("aic", math.nan))
    selected = min(families, key=lambda f: (not math.isfinite(aic[f]), aic[f]))
    return curves, selected, aic


def compare_families(
    panel: Panel,
    channel: str,
    *,
    families: Sequence[str] | None = None,
    period_weeks: int = 4,
    share: float = 0.8,
    seed: int = 0,
    bootstrap: int = 0,
) -> FamilyComparison:
    """Fit one channel with each saturation family and compare what they imply.

    Parameters
    ----------
    panel : models.panel.Panel
        A long panel (the channel is fitted on its own, as ``roiste fit`` does) or a wide one
        (the whole marketing mix is refitted with every channel in the family).
    channel : str
    families : sequence of str, optional
        Registered family names (default: all of them).
    period_weeks : int, default 4
    share : float, default 0.8
        The saturation point is where this share of the maximum response is reached.
    seed, bootstrap : int
        Seed and number of bootstrap draws of each fit.

    Returns
    -------
    FamilyComparison
        Its ``table`` has one row per family: ``selected``, ``score`` (long: cross-validated
        relative RMSE of the family, lower is better; wide: AIC of the whole model),
        ``r2_train``, ``concave``, then at current spend ``revenue`` (per period),
        ``marginal_roas`` and ``saturation_share``, and ``saturation_spend`` and
        ``roas_1_spend`` per period.
    """
    if channel not in panel.channels:
        raise CurveError(f"{panel.source}: no channel {channel!r}; known: {list(panel.channels)}")
    fams = sorted(SATURATIONS) if families is None else list(dict.fromkeys(families))
    unknown = [f for f in fams if f not in SATURATIONS]
    if unknown or not fams:
        raise CurveError(f"family {unknown[0] if unknown else ''!r} is not registered; "
                         f"known: {sorted(SATURATIONS)}")
    wide = getattr(panel, "layout", "long") == "wide"
    runner = _wide_fits if wide else _long_fits
    curves, selected, scores = runner(panel, channel, fams, seed, bootstrap)
    p = float(period_weeks)
    rows = []
    for f in fams:
        c = curves[f]
        w = c.recent_spend
        rows.append({
            "family": f,
            "selected": f == selected,
            "score": scores.get(f, math.nan),
            "r2_train": c.diagnostics.get("r2_train", math.nan) if not wide else math.nan,
            "concave": c.is_concave,
            "revenue": float(c.response(w)) * p,
            "marginal_roas": float(c.marginal(w)),
            "saturation_share": float(c.saturation_share(w)),
            "saturation_spend": c.saturation_spend(share) * p,
            "roas_1_spend": c.spend_at_marginal(1.0) * p,
        })
    table = pd.DataFrame(rows).set_index("family")
    if wide:
        table = table.drop(columns="r2_train")
    return FamilyComparison(
        channel=channel, curves=curves, selected=selected,
        table=table, period_weeks=int(period_weeks),
        current_spend=curves[fams[0]].recent_spend * p,
        meta={"score": "AIC of the marketing-mix model" if wide
              else "cross-validated relative RMSE"},
    )


__all__ = ["FamilyComparison", "compare_families"]
