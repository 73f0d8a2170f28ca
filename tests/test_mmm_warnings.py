"""The wide fit says when it is wrong: each warning fires where it should, none on a clean world."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from test_mmm import TRUTH, wide_world, world_panel

from roiste.models.fit.mmm import fit_wide
from roiste.models.fit.mmm_validation import (
    PENALTY_GRID,
    FitSummary,
    choose_penalty,
    decomposition_warnings,
    time_series_folds,
)
from roiste.models.panel import panel_from_frame
from roiste.models.worlds import draw_world


@pytest.fixture(scope="module")
def clean_fit():
    frame, _ = wide_world(seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean world raises no warning either
        return fit_wide(world_panel(frame), holdout_weeks=26, progress=False)


def _summary(**changes: object) -> FitSummary:
    """A plausible two-channel fit; ``changes`` break one thing at a time."""
    rng = np.random.default_rng(0)
    spend = np.column_stack([rng.uniform(0, 2_000, 100), rng.uniform(0, 1_000, 100)])
    base = {
        "channels": ["tv", "search"], "spend": spend, "target": np.full(100, 10_000.0),
        "contribution": np.array([200_000.0, 100_000.0]), "coef_media": np.array([3_000.0, 2_000.0]),
        "k_mult": np.array([1.0, 2.0]), "k_bounds": (0.1, 10.0), "intercept": 6_000.0,
    }  # fmt: skip
    return FitSummary(**{**base, **changes})  # type: ignore[arg-type]


def test_clean_world_raises_no_warning_and_states_its_penalty(clean_fit):
    d = clean_fit.diagnostics
    assert d["warnings"] == []
    assert d["ridge"] in PENALTY_GRID
    assert set(d["ridge_cv"]) == {f"{r:g}" for r in PENALTY_GRID}
    assert "cross-validation" in d["ridge_choice"]
    assert all("warning" not in clean_fit[ch].diagnostics for ch in TRUTH)
    assert decomposition_warnings(_summary()) == []


def test_always_on_channel_is_flagged_as_unidentified():
    """A simulated always-on world (spend never below 44 % of its mean), every baseline driver
    supplied as a control: the channel's ROAS is not identified, and the fit says so."""
    w = draw_world(1, "always_on", n_channels=1)
    ch = w.channels[0]
    revenue = w.panel.pivot(index="date", columns="channel", values="revenue")[ch].to_numpy()
    frame = pd.DataFrame({"week": w.weeks, "sales": revenue, ch: w.spend[ch].to_numpy(),
                          "baseline": w.baseline[ch].to_numpy()})
    panel = panel_from_frame(frame, layout="wide", target="sales", spend=[ch], controls=["baseline"])
    cs = fit_wide(panel, progress=False)
    assert cs[ch].diagnostics["min_spend_share"] > 0.3
    assert "never fell below 30 % of its mean" in cs[ch].diagnostics["warning"]
    assert any(s.startswith(f"{ch}: spend never fell below") for s in cs.diagnostics["warnings"])


def test_media_above_the_target_is_implausible():
    out = decomposition_warnings(_summary(contribution=np.array([800_000.0, 400_000.0])))
    assert out[0].startswith("the decomposition is implausible")
    assert "credited with 120% of the target" in out[0]


def test_roas_far_outside_the_panels_range_is_implausible():
    plain = _summary()
    assert decomposition_warnings(plain) == []
    # search's spend cut a hundredfold: the panel takes in about 9 per unit of all spend,
    # search's ROAS comes out at 188
    spend = plain.spend * np.array([1.0, 0.01])
    out = decomposition_warnings(_summary(spend=spend))
    assert len(out) == 1 and out[0].startswith("the decomposition is implausible")
    assert "search: ROAS 188 is" in out[0] and "more than 5 times the panel's target per unit" in out[0]


def test_negative_holdout_r2_says_why():
    act = 10_000.0 + np.array([100.0, -100.0] * 5)
    out = decomposition_warnings(_summary(r2_holdout=-0.5, holdout=act, holdout_pred=act[::-1]))
    assert "holdout R2 -0.50 < 0" in out[0]
    assert "they vary by 1.0% of their mean, the forecast misses by 2.0%" in out[0]


def test_coefficients_at_their_bounds():
    out = decomposition_warnings(_summary(intercept=0.0))
    assert "the intercept is at its bound 0" in out[0]
    out = decomposition_warnings(_summary(coef_media=np.array([3_000.0, 0.0]), k_mult=np.array([0.1, 2.0])))
    assert out == [
        "tv: half-saturation spend at the lower edge of its range (0.1 x mean adstocked spend): "
        "the curve is saturated over almost all observed spend",
        "search: coefficient at its bound 0: no effect of its spend is found",
    ]


def test_penalty_is_chosen_by_blocked_cross_validation():
    assert time_series_folds(100, 5, 26) == [(0, 20), (20, 40), (40, 60), (60, 80), (80, 100)]
    assert time_series_folds(30, 5, 26) == []

    class Ridge:  # a linear model whose best penalty is known: the one closest to 1e-3
        def __init__(self, r: float) -> None:
            self.r = r

        def fit(self, X, y):
            return self

        def refit_linear(self, X, y, rows, ridge):
            return np.asarray(y) + abs(np.log10(ridge) + 3.0)

    X, y = np.zeros((60, 1)), np.arange(60.0)
    model, best, scores = choose_penalty(Ridge, X, y, grid=(1e-4, 1e-3, 1e-2))
    assert best == 1e-3 and model.r == 1e-3
    assert scores == pytest.approx({1e-4: 1.0, 1e-3: 0.0, 1e-2: 1.0})
    # a given penalty is used as it is, and said to be given
    frame, _ = wide_world(seed=7, n_weeks=104)
    cs = fit_wide(world_panel(frame), ridge=1e-2, progress=False)
    assert cs.diagnostics["ridge"] == 1e-2 and cs.diagnostics["ridge_choice"] == "given"


def test_command_line_prints_the_warnings_on_stderr(tmp_path):
    from roiste.optimizer.cli import main

    frame, _ = wide_world(seed=7)
    frame["tv"] = 20_000.0 + 5_000.0 * np.sin(np.arange(len(frame)) / 5.0)  # always on
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "c.json"
    args = ["fit", str(path), "--layout", "wide", "--target", "sales", "--spend", "tv,search,social",
            "--controls", "price,promo", "--out", str(out), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert any(s.startswith("tv: spend never fell below") for s in saved["diagnostics"]["warnings"])
    assert "warning: tv: spend never fell below 30 % of its mean" in result.stderr
    assert "warning" not in result.stdout
