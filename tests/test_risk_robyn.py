"""Robyn's public weekly data: plans fitted with and without the last 8 weeks agree on the
direction of every move that either plan calls supported.

Protocol: the wide marketing-mix fit (Robyn's spend columns and controls, as in
``test_public_datasets.py``) with 6 bootstrap draws (seed 0), once on all 208 weeks and once
holding out the last 8; each is planned with the default risk (cvar), the demo's gross margin
0.45, one step of 15 % and the budget kept, from the same current spend (the last 8 weeks).
A channel that one plan raises and the other cuts, while either marks its move as supported,
fails the test.  (On their point estimates the two fits move search in opposite directions.)
"""

from __future__ import annotations

import pytest

from roiste.models.fit.mmm import fit_wide
from roiste.models.panel import read_panel
from roiste.optimizer.plan import build_plan
from roiste.optimizer.scenario import Scenario

pytestmark = pytest.mark.public_data

ROBYN = "robyn_dt_simulated_weekly.csv"
SPEND = ["tv_S", "ooh_S", "print_S", "facebook_S", "search_S"]
CONTROLS = ["competitor_sales_B", "newsletter", "events"]


def test_no_opposite_supported_moves_with_and_without_the_last_weeks(public_dataset) -> None:
    panel = read_panel(public_dataset(ROBYN), layout="wide", target="revenue", spend=SPEND,
                       controls=CONTROLS)
    current = panel.recent_spend(8).astype(float)
    sc = Scenario.model_validate({"name": "robyn", "data": "x.csv", "layout": "wide",
                                  "target": "revenue", "spend": SPEND,
                                  "economics": {"gross_margin": 0.45}})
    plans = []
    for holdout in (0, 8):
        curves = fit_wide(panel, holdout_weeks=holdout, bootstrap=6, seed=0, progress=False)
        plans.append(build_plan(curves, sc, current).allocation.set_index("channel"))
    full, held_out = plans
    assert any(full["supported"]) and any(held_out["supported"])
    for ch in SPEND:
        a = full.loc[ch, "recommended_spend"] - full.loc[ch, "current_spend"]
        b = held_out.loc[ch, "recommended_spend"] - held_out.loc[ch, "current_spend"]
        if full.loc[ch, "supported"] or held_out.loc[ch, "supported"]:
            assert a * b >= 0, f"{ch}: {a:+,.0f} with all weeks, {b:+,.0f} without the last 8"
