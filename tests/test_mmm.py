"""The marketing-mix regressor of the wide layout, checked against worlds with a known truth."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import TimeSeriesSplit, cross_val_score

from roiste.models.curves import CurveSet
from roiste.models.errors import CurveError
from roiste.models.fit.mmm import MarketingMixRegressor, WeakChannelWarning, fit_wide
from roiste.models.panel import panel_from_frame
from roiste.models.transforms import Exponential, Geometric, Logistic, Saturation, Weibull

WEEKS_PER_YEAR = 365.25 / 7.0

# The simulated wide world: three channels with different carry-over, saturation and spend
# patterns (flighted TV, search paced to the season, noisy social), a baseline with trend
# and yearly seasonality, a price control, and two one-week promotions of the same size.
TRUTH = {
    "tv": {"alpha": 0.6, "family": Logistic, "k_mult": 1.2, "beta": 45_000.0},
    "search": {"alpha": 0.1, "family": Exponential, "k_mult": 0.8, "beta": 30_000.0},
    "social": {"alpha": 0.3, "family": Logistic, "k_mult": 1.5, "beta": 20_000.0},
}


def _geometric(x: np.ndarray, alpha: float) -> np.ndarray:
    """Geometric adstock by its recursion (independent of the library's implementation)."""
    out = np.empty_like(x)
    prev = 0.0
    for i, v in enumerate(x):
        prev = v + alpha * prev
        out[i] = prev
    return out


def wide_world(seed: int, n_weeks: int = 208, noise_sd: float = 2_000.0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A wide panel and the true weekly contribution of each channel."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_weeks, dtype=float)
    season = np.sin(2 * np.pi * t / WEEKS_PER_YEAR) + 0.4 * np.cos(4 * np.pi * t / WEEKS_PER_YEAR)
    on = (np.arange(n_weeks) // 4) % 3 != 2  # TV in four-week flights, then four weeks dark
    spend = {
        "tv": np.where(on, rng.uniform(10_000, 40_000, n_weeks), 0.0),
        "search": 6_000 * (1 + 0.35 * season) * np.exp(rng.normal(0, 0.45, n_weeks))
        * (rng.random(n_weeks) < 0.9),  # paced to the season, with pauses
        "social": rng.uniform(0, 8_000, n_weeks) * (rng.random(n_weeks) < 0.85),
    }
    contrib = {}
    for ch, p in TRUTH.items():
        a = _geometric(spend[ch], p["alpha"])
        sat: Saturation = p["family"](k=p["k_mult"] * a.mean())
        contrib[ch] = p["beta"] * sat.value(a)
    price = 1.0 + 0.05 * np.sin(t / 7.0) + rng.normal(0, 0.02, n_weeks)
    promo = np.full(n_weeks, "none", dtype=object)
    promo[[40, 90]] = "spring_sale"
    baseline = 150_000 + 120.0 * t + 12_000 * season - 200_000 * (price - 1.0)
    baseline += 25_000 * (promo == "spring_sale")
    y = baseline + sum(contrib.values()) + rng.normal(0, noise_sd, n_weeks)
    frame = pd.DataFrame(
        {"week": pd.date_range("2021-01-04", periods=n_weeks, freq="7D"), "sales": y, **spend,
         "price": price, "promo": promo}
    )  # fmt: skip
    return frame, contrib


def world_panel(frame: pd.DataFrame, controls: tuple[str, ...] = ("price", "promo")):
    return panel_from_frame(frame, layout="wide", target="sales", spend=list(TRUTH), controls=list(controls))


@pytest.fixture(scope="module")
def world() -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    return wide_world(seed=7)


@pytest.fixture(scope="module")
def world_fit(world):
    frame, _ = world
    return fit_wide(world_panel(frame), holdout_weeks=26, bootstrap=30, seed=3, progress=False,
                    families=("logistic", "exponential"))


# ---------------------------------------------------------------- recovery of a known truth


def test_contributions_and_carry_over_are_recovered(world, world_fit):
    """Each channel's total contribution over the training weeks within 25 % of the truth.

    182 training weeks, noise sd about 1 % of the target.  The level of a saturated channel's
    contribution is told apart from the intercept only by the curvature of its response, so
    it is the least precise number of the fit: over seeds 7..14 of this world the worst
    channel was off by 21 % (seed 7, used here: social at low spend, search paced to the
    season), the total by at most 8.5 %.  25 % keeps that margin and still fails a fit that hands a channel's credit to another channel or to
    the baseline (true shares about 45/35/20 %).  The total media contribution is tighter
    (10 %), and each carry-over decay lies within 0.1 of the true alpha.
    """
    _, contrib = world
    n_train = world_fit.diagnostics["n_weeks_train"]
    for ch in TRUTH:
        true_total = contrib[ch][:n_train].sum()
        got = world_fit[ch].diagnostics["contribution"]
        assert got == pytest.approx(true_total, rel=0.25), ch
        alpha = world_fit[ch].revenue.adstock.params["alpha"]
        assert abs(alpha - TRUTH[ch]["alpha"]) < 0.1, (ch, alpha)
    total = sum(world_fit[ch].diagnostics["contribution"] for ch in TRUTH)
    assert total == pytest.approx(sum(contrib[ch][:n_train].sum() for ch in TRUTH), rel=0.1)
    shares = world_fit.meta["contribution_share"]
    assert sum(shares.values()) == pytest.approx(1.0)


def test_response_curves_follow_the_truth_near_current_spend(world, world_fit):
    """Steady-state response at the recent spend within 25 % of the true curve's.

    Over seeds 7..14 of this world the worst channel's ratio to the truth was 0.79 (seed 7).
    """
    frame, _ = world
    for ch, p in TRUTH.items():
        adstocked = _geometric(frame[ch].to_numpy(), p["alpha"])
        true_sat = p["family"](k=p["k_mult"] * adstocked.mean())
        w = world_fit[ch].recent_spend
        assert w == pytest.approx(frame[ch].iloc[-8:].mean())
        true_resp = p["beta"] * float(true_sat.value(w / (1 - p["alpha"])))
        assert float(world_fit[ch].response(w)) == pytest.approx(true_resp, rel=0.25), ch


def test_holdout_forecast_and_diagnostics(world_fit):
    d = world_fit.diagnostics
    assert d["n_weeks_train"] == 182 and d["n_weeks_holdout"] == 26
    assert d["r2_train"] > 0.9
    assert d["r2_holdout"] > 0.8
    assert 0 <= d["wape_holdout"] < 0.05
    # the price control is recovered with its sign (true effect -200000 per unit of price)
    assert world_fit.meta["controls"]["price"] == pytest.approx(-200_000, rel=0.25)


def test_bootstrap_draws_bracket_the_point_estimate(world_fit):
    for ch in TRUTH:
        c = world_fit[ch]
        assert len(c.draws) == 30
        lo, hi = c.response_band(c.recent_spend, level=0.9)
        assert lo[0] <= float(c.response(c.recent_spend)) * 1.05
        assert hi[0] >= float(c.response(c.recent_spend)) * 0.95
        assert hi[0] > lo[0]


def test_baseline_that_bends_does_not_leak_into_the_channels():
    """Demand grows, then falls after week 104: a bent baseline no control explains.

    A straight trend would hand the bend to whichever channel's spend drifts along with it
    (social came out 1.5 to 5 times its truth over seeds 7..10); the half-yearly trend hinges
    of ``fit_wide`` absorb it.  Over seeds 7..12 the worst channel was off by 21 %.
    """
    frame, contrib = wide_world(seed=8)
    frame = frame.copy()
    frame["sales"] -= 400.0 * np.maximum(np.arange(len(frame)) - 104, 0)
    cs = fit_wide(world_panel(frame), progress=False, families=("logistic", "exponential"))
    for ch in TRUTH:
        assert cs[ch].diagnostics["contribution"] == pytest.approx(contrib[ch].sum(), rel=0.25), ch
    assert any(k.startswith("trend_after_") for k in cs.meta["baseline"])


def test_unseen_event_level_is_forecast_with_the_pooled_effect():
    """A promotion level seen only in the holdout borrows the effect of the seen levels."""
    frame, _ = wide_world(seed=11)
    frame = frame.copy()
    frame.loc[200, "promo"] = "autumn_sale"  # the last 16 weeks are held out
    frame.loc[200, "sales"] += 25_000
    cs = fit_wide(world_panel(frame), holdout_weeks=16, progress=False)
    effects = cs.meta["controls"]
    assert effects["promo=spring_sale"] == pytest.approx(25_000, rel=0.3)
    assert effects["promo=autumn_sale"] == pytest.approx(25_000, rel=0.3)


# ---------------------------------------------------------------- determinism and files


def test_same_seed_same_bytes_and_round_trip(world, tmp_path):
    frame, _ = world
    panel = world_panel(frame)
    a = fit_wide(panel, holdout_weeks=10, bootstrap=5, seed=1, progress=False)
    b = fit_wide(panel, holdout_weeks=10, bootstrap=5, seed=1, progress=False)
    c = fit_wide(panel, holdout_weeks=10, bootstrap=5, seed=2, progress=False)
    assert a.to_json() == b.to_json()
    assert a.to_json() != c.to_json()
    a.save(tmp_path / "c.json")
    back = CurveSet.load(tmp_path / "c.json")
    assert back.to_json() == a.to_json()
    w = np.array([0.0, 1_000.0, 20_000.0])
    np.testing.assert_allclose(back["tv"].response(w), a["tv"].response(w))
    assert json.loads(a.to_json())["meta"]["bootstrap"]["hyperparameters"] == "searched again in every draw"


# ---------------------------------------------------------------- the estimator contract


def _arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    X = frame[[*TRUTH, "price"]].to_numpy(dtype=float)
    week = np.arange(len(frame), dtype=float)
    return np.column_stack([X, week]), frame["sales"].to_numpy()


def test_scikit_learn_contract(world):
    frame, _ = world
    X, y = _arrays(frame)
    est = MarketingMixRegressor(n_channels=3, time_column=4, sweeps=2)
    with pytest.raises(NotFittedError):
        est.predict(X)
    twin = clone(est)
    assert twin.get_params() == est.get_params()
    assert not hasattr(twin, "coef_media_")
    assert est.fit(X, y) is est
    assert (est.coef_media_ >= 0).all()
    scores = cross_val_score(clone(est), X, y, cv=TimeSeriesSplit(n_splits=3, test_size=20))
    assert np.isfinite(scores).all() and scores.min() > 0.5
    with pytest.raises(ValueError, match="n_channels"):
        MarketingMixRegressor(n_channels=9).fit(X, y)


def test_predict_warms_adstock_with_the_training_tail(world):
    """Forecasting the weeks right after training equals predicting the whole series."""
    frame, _ = world
    X, y = _arrays(frame)
    est = MarketingMixRegressor(n_channels=3, time_column=4, refine=False).fit(X[:120], y[:120])
    np.testing.assert_allclose(est.predict(X[120:]), est.predict(X)[120:], rtol=1e-9)


def test_useless_channel_gets_zero_not_a_negative_coefficient(world):
    frame, _ = world
    X, y = _arrays(frame)
    rng = np.random.default_rng(5)
    X = np.column_stack([X[:, :3], rng.uniform(0, 5_000, len(y)), X[:, 3:]])
    est = MarketingMixRegressor(n_channels=4, time_column=5, refine=False).fit(X, y)
    assert est.coef_media_.min() >= 0.0
    share = est.decompose(X)["media"].sum(axis=0)
    assert share[3] / share.sum() < 0.05


# ---------------------------------------------------------------- bad input and weak data


def test_idle_channel_and_too_long_holdout_are_refused(world):
    frame, _ = world
    f = frame.copy()
    f["social"] = 0.0
    f.loc[200:, "social"] = 100.0
    with pytest.raises(CurveError, match="'social' is zero in every training week"):
        fit_wide(world_panel(f), holdout_weeks=8, progress=False)
    with pytest.raises(CurveError, match="holdout_weeks=190 leaves 18 training weeks"):
        fit_wide(world_panel(frame), holdout_weeks=190, progress=False)


def test_flat_channel_warns_and_is_flagged(world):
    frame, _ = world
    f = frame.copy()
    f["social"] = 5_000.0 + np.arange(len(f)) % 2  # practically constant
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cs = fit_wide(world_panel(f), progress=False)
    assert any(issubclass(w.category, WeakChannelWarning) and "social" in str(w.message) for w in caught)
    assert cs["social"].diagnostics["weakly_identified"] is True
    assert cs["tv"].diagnostics["weakly_identified"] is False


def test_geometric_fast_path_matches_the_registry():
    from roiste.models.fit.mmm import adstocked

    x = np.random.default_rng(0).uniform(0, 10, 60)
    np.testing.assert_allclose(adstocked(x, Geometric(alpha=0.55)), Geometric(alpha=0.55).apply(x))
    np.testing.assert_allclose(adstocked(x, Geometric(alpha=0.55)), _geometric(x, 0.55))


def test_active_set_solver_matches_bounded_least_squares():
    """The normal-equation active-set solve against scipy's bounded least squares (bvls)."""
    from scipy.optimize import lsq_linear

    from roiste.models.fit.mmm import nonneg_normal_solve

    rng = np.random.default_rng(0)
    for _ in range(60):
        n, pf, pm = int(rng.integers(30, 120)), int(rng.integers(1, 12)), int(rng.integers(1, 10))
        Z = rng.normal(size=(n, pf + pm))
        Z[:, pf:] = np.abs(Z[:, pf:])
        y = rng.normal(size=n)
        pen = np.full(pf + pm, 1e-3)
        A, c = Z.T @ Z + np.diag(pen), Z.T @ y
        bounded = np.r_[np.zeros(pf, bool), np.ones(pm, bool)]
        bounded[0] = bool(rng.random() < 0.5)
        b = nonneg_normal_solve(A, c, bounded)
        assert b is not None and b[bounded].min() >= 0.0
        ref = lsq_linear(np.vstack([Z, np.diag(np.sqrt(pen))]), np.r_[y, np.zeros(pf + pm)],
                         bounds=(np.where(bounded, 0.0, -np.inf), np.inf), method="bvls").x
        f_b, f_ref = 0.5 * b @ A @ b - c @ b, 0.5 * ref @ A @ ref - c @ ref
        assert f_b <= f_ref + 1e-9 * max(1.0, abs(f_ref))


def test_estimator_refuses_bad_arrays(world):
    frame, _ = world
    X, y = _arrays(frame)
    bad = X.copy()
    bad[5, 1] = -1.0
    with pytest.raises(CurveError, match="spend column 1 has a negative value in row 5"):
        MarketingMixRegressor(n_channels=3, time_column=4).fit(bad, y)
    with pytest.raises(ValueError, match="sample_weight"):
        MarketingMixRegressor(n_channels=3, time_column=4).fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="not registered"):
        MarketingMixRegressor(n_channels=3, families=("nope",)).fit(X, y)


def test_progress_bar_only_when_asked(world, capsys):
    frame, _ = world
    panel = world_panel(frame)
    fit_wide(panel, bootstrap=2, progress=False)
    assert capsys.readouterr().err == ""
    fit_wide(panel, bootstrap=2, progress=True)
    err = capsys.readouterr().err
    assert "mmm search" in err and "bootstrap" in err


def test_weibull_adstock_recovers_a_delayed_peak():
    """A flighted channel whose effect peaks weeks after the spend (Weibull shape 2, scale 3).

    Over seeds 0..4 of this world the worst contribution was off by 13 % and the delayed
    channel's shape and scale came out within 10 % of the truth; tolerances 20 % and 10 %.
    """
    rng = np.random.default_rng(2)
    n = 156
    t = np.arange(n, dtype=float)
    flights = (np.arange(n) // 3) % 3 == 0
    x = np.column_stack([np.where(flights, rng.uniform(5e3, 2e4, n), 0.0), rng.gamma(2.0, 1500.0, n)])
    truth = [(Weibull(shape=2.0, scale=3.0), 1.0, 30_000.0), (Weibull(shape=1.0, scale=1.0), 1.5, 15_000.0)]
    contrib = []
    for c, (ad, k, beta) in enumerate(truth):
        a = ad.apply(x[:, c])
        contrib.append(beta * Logistic(k=k * a.mean()).value(a))
    y = 80_000 + 60 * t + 5_000 * np.sin(2 * np.pi * t / WEEKS_PER_YEAR) + sum(contrib) + rng.normal(0, 1_500, n)
    X = np.column_stack([x, t])
    m = MarketingMixRegressor(n_channels=2, time_column=2, adstock="weibull").fit(X, y)
    got = m.decompose(X)["media"].sum(axis=0)
    np.testing.assert_allclose(got, [c.sum() for c in contrib], rtol=0.2)
    assert m.adstocks_[0].params["shape"] == pytest.approx(2.0, rel=0.1)
    assert m.adstocks_[0].params["scale"] == pytest.approx(3.0, rel=0.1)
