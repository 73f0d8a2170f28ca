"""The fit's estimator contract, its function and panel levels, determinism and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score

from roiste.models.curves import CurveSet
from roiste.models.errors import CurveError, PanelError
from roiste.models.fit.channel import (
    ChannelResponseRegressor,
    FitSettings,
    fit_channel,
    fit_long,
    fit_panel_file,
)
from roiste.models.panel import panel_from_frame
from roiste.models.simulate import simulate_world, write_world
from roiste.models.transforms import Geometric, MichaelisMenten


def _series(n: int = 130, noise: float = 0.02, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Spend and revenue of a Michaelis-Menten channel with geometric carry-over."""
    rng = np.random.default_rng(seed)
    x = 1000 * np.exp(rng.normal(0, 0.4, n))
    x[rng.random(n) < 0.1] = 0.0
    a = Geometric(alpha=0.4).apply(x)
    t = np.arange(n, dtype=float)
    base = 800 + 2 * t + 150 * np.sin(2 * np.pi * t / (365.25 / 7))
    y = (base + 3000 * MichaelisMenten(k=1500.0).value(a)) * np.exp(rng.normal(0, noise, n))
    return np.column_stack([x, t]), y


def test_init_only_stores_and_clone_works() -> None:
    est = ChannelResponseRegressor(family="hill", bootstrap=3, random_state=5)
    assert est.get_params()["family"] == "hill"
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    assert not hasattr(twin, "component_")


def test_fit_sets_attributes_and_returns_self() -> None:
    X, y = _series()
    est = ChannelResponseRegressor(family="michaelis_menten")
    assert est.fit(X, y) is est
    for name in ("component_", "family_", "alpha_", "k_", "beta_", "baseline_coef_", "cv_scores_",
                 "draws_", "n_features_in_"):
        assert hasattr(est, name), name
    assert est.family_ == "michaelis_menten"
    assert est.alpha_ == pytest.approx(0.4, abs=0.08)
    w = np.array([500.0, 1000.0, 1500.0])
    truth = 3000 * MichaelisMenten(k=1500.0).value(w / 0.6)
    np.testing.assert_allclose(est.component_.value(w), truth, rtol=0.15)
    assert est.score(X, y) > 0.9


def test_predict_before_fit_raises() -> None:
    X, _ = _series(40)
    with pytest.raises(NotFittedError):
        ChannelResponseRegressor().predict(X)


def test_time_series_cv_and_grid_search_run() -> None:
    X, y = _series(156, seed=1)
    est = ChannelResponseRegressor(family="exponential", level_shift=None)
    scores = cross_val_score(est, X, y, cv=TimeSeriesSplit(n_splits=3, test_size=13))
    assert len(scores) == 3 and np.all(np.isfinite(scores))
    search = GridSearchCV(
        ChannelResponseRegressor(level_shift=None),
        {"family": ["michaelis_menten", "logistic"]},
        cv=TimeSeriesSplit(n_splits=2, test_size=13),
    ).fit(X, y)
    assert search.best_params_["family"] in {"michaelis_menten", "logistic"}


def test_predict_carries_over_the_fitted_history() -> None:
    X, y = _series(120, seed=2)
    est = ChannelResponseRegressor(family="michaelis_menten").fit(X, y)
    whole = est.predict(X)
    np.testing.assert_allclose(est.predict(X[-10:]), whole[-10:], rtol=1e-10)
    # order of rows does not matter
    perm = np.random.default_rng(0).permutation(len(X))
    np.testing.assert_allclose(est.predict(X[perm]), whole[perm], rtol=1e-10)


def test_bad_input_is_named() -> None:
    X, y = _series(60)
    with pytest.raises(ValueError, match="1 \\(spend\\) or 2"):
        ChannelResponseRegressor().fit(np.column_stack([X, X]), y)
    with pytest.raises(ValueError, match="spend"):
        ChannelResponseRegressor().fit(np.column_stack([-X[:, 0], X[:, 1]]), y)
    with pytest.raises(CurveError, match="not registered"):
        ChannelResponseRegressor(family="cubic").fit(X, y)
    with pytest.raises(CurveError, match="adstock"):
        ChannelResponseRegressor(adstock="linear").fit(X, y)


def test_noise_free_channel_is_recovered_exactly() -> None:
    X, y = _series(156, noise=0.0, seed=4)
    curve = fit_channel(X[:, 0], y, pd.date_range("2022-01-03", periods=156, freq="7D"),
                        settings=FitSettings(level_shift=None))
    w = np.linspace(300, 2000, 9)
    truth = 3000 * MichaelisMenten(k=1500.0).value(w / 0.6)
    np.testing.assert_allclose(curve.response(w), truth, rtol=0.02)


def test_bootstrap_draws_are_seeded() -> None:
    X, y = _series(104, seed=5)
    weeks = pd.date_range("2022-01-03", periods=104, freq="7D")
    s = FitSettings(family="michaelis_menten", bootstrap=20)
    a = fit_channel(X[:, 0], y, weeks, settings=s, seed=1)
    b = fit_channel(X[:, 0], y, weeks, settings=s, seed=1)
    c = fit_channel(X[:, 0], y, weeks, settings=s, seed=2)
    assert len(a.draws) == 20
    assert [d.to_dict() for d in a.draws] == [d.to_dict() for d in b.draws]
    assert [d.to_dict() for d in a.draws] != [d.to_dict() for d in c.draws]


@pytest.fixture(scope="module")
def world_file(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("world") / "panel.csv"
    world = write_world(path, seed=21, n_channels=4, n_weeks=130)
    return path, world


def test_fit_panel_file_gives_curves_with_diagnostics(world_file) -> None:
    path, world = world_file
    curves = fit_panel_file(path, holdout_weeks=13, bootstrap=5, seed=3, progress=False)
    assert curves.channels == world.channels
    assert curves.meta["layout"] == "long"
    assert len(curves.meta["panel_sha256"]) == 64
    d = curves.diagnostics
    assert 0.5 < d["r2_train"] <= 1.0
    assert d["wape_holdout"] < 0.2 and np.isfinite(d["r2_holdout"])
    for c in world.channels:
        cur, truth = curves[c], world.truth[c]
        assert cur.recent_spend == pytest.approx(truth.recent_spend)
        assert len(cur.draws) == 5
        assert cur.has_visitors
        assert set(cur.ratios) == set(truth.ratios)
        for k, v in truth.ratios.items():
            assert cur.ratios[k] == pytest.approx(v, rel=0.25), (c, k)
        assert "wape_holdout" in cur.diagnostics


def test_fit_is_deterministic_and_independent_of_workers(world_file, tmp_path) -> None:
    path, world = world_file
    a = fit_panel_file(path, bootstrap=4, seed=9, progress=False)
    b = fit_panel_file(path, bootstrap=4, seed=9, progress=False)
    assert a.to_json() == b.to_json()
    panel = panel_from_frame(world.panel, source=str(path))
    one = fit_long(panel, bootstrap=4, seed=9, progress=False, n_jobs=1)
    two = fit_long(panel, bootstrap=4, seed=9, progress=False, n_jobs=2)
    assert one.to_json() == two.to_json()
    a.save(tmp_path / "c.json")
    assert CurveSet.load(tmp_path / "c.json").to_json() == a.to_json()


def test_constant_spend_channel_is_refused_by_name(tmp_path) -> None:
    world = simulate_world(3, n_channels=3, n_weeks=60)
    df = world.panel.copy()
    df.loc[df["channel"] == world.channels[1], "spend"] = 250.0
    path = tmp_path / "flat.csv"
    df.to_csv(path, index=False)
    with pytest.raises(PanelError, match=world.channels[1]):
        fit_panel_file(path, progress=False)


def test_holdout_too_long_is_refused(world_file) -> None:
    path, _ = world_file
    with pytest.raises(CurveError, match="holdout"):
        fit_panel_file(path, holdout_weeks=120, progress=False)


def test_tags_say_spend_is_non_negative() -> None:
    assert ChannelResponseRegressor().__sklearn_tags__().input_tags.positive_only
