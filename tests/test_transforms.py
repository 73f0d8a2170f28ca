"""Every saturation and adstock family runs through the same checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from roiste.models.fit.search import adstocked
from roiste.models.transforms import (
    ADSTOCKS,
    SATURATIONS,
    Adstock,
    Geometric,
    Hill,
    Saturation,
    Weibull,
    adstock_from_dict,
    saturation_from_dict,
)

SAT_EXAMPLES = {
    "hill": {"k": 300.0, "s": 1.7},
    "michaelis_menten": {"k": 250.0},
    "exponential": {"k": 400.0},
    "logistic": {"k": 350.0},
}
ADSTOCK_EXAMPLES = {"geometric": {"alpha": 0.6}, "weibull": {"shape": 1.5, "scale": 3.0}}


def test_every_registered_family_has_an_example() -> None:
    assert set(SAT_EXAMPLES) == set(SATURATIONS)
    assert set(ADSTOCK_EXAMPLES) == set(ADSTOCKS)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in SAT_EXAMPLES])
def test_saturation_is_increasing_bounded_and_derivative_matches(name: str) -> None:
    sat = SATURATIONS[name](**SAT_EXAMPLES[name])
    a = np.linspace(1.0, 5000.0, 400)
    v = sat.value(a)
    assert v.shape == a.shape
    assert float(sat.value(0.0)) == 0.0
    assert np.all(np.diff(v) > 0) and np.all(v < 1.0)
    h = 1e-4
    numeric = (sat.value(a + h) - sat.value(a - h)) / (2 * h)
    np.testing.assert_allclose(sat.derivative(a), numeric, rtol=1e-5, atol=1e-12)
    # half saturation at the scale parameter
    assert float(sat.value(sat.scale)) == pytest.approx(0.5, rel=1e-9)
    assert saturation_from_dict(sat.to_dict()) == sat


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in SAT_EXAMPLES])
def test_concavity_flag_matches_second_differences(name: str) -> None:
    sat = SATURATIONS[name](**SAT_EXAMPLES[name])
    a = np.linspace(0.0, 3000.0, 3001)
    second = np.diff(sat.value(a), 2)
    assert sat.is_concave == bool(np.all(second <= 1e-12))


def test_hill_s_shape_and_concave_variants() -> None:
    assert not Hill(k=1.0, s=2.0).is_concave
    assert Hill(k=1.0, s=0.8).is_concave
    with pytest.raises(ValueError):
        Hill(k=-1.0, s=1.0)
    with pytest.raises(ValueError):
        Hill(k=1.0)  # type: ignore[call-arg]


def test_duplicate_family_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="registered twice"):

        class Again(Saturation):
            lookup_name = "hill"
            param_names = ("k",)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in ADSTOCK_EXAMPLES])
def test_adstock_steady_state_and_round_trip(name: str) -> None:
    ad: Adstock = ADSTOCKS[name](**ADSTOCK_EXAMPLES[name])
    x = np.full(600, 100.0)
    a = ad.apply(x)
    assert a[-1] == pytest.approx(100.0 * ad.total_weight, rel=1e-9)
    assert adstock_from_dict(ad.to_dict()) == ad
    # a single pulse decays through the weights
    pulse = np.zeros(30)
    pulse[0] = 1.0
    w = ad.weights()
    np.testing.assert_allclose(ad.apply(pulse)[: min(30, len(w))], w[:30], rtol=1e-12)
    # starting from a steady state keeps it
    np.testing.assert_allclose(ad.apply(x[:10], initial=100.0), 100.0 * ad.total_weight, rtol=1e-6)


def test_geometric_recursion_matches_definition() -> None:
    g = Geometric(alpha=0.5)
    x = np.array([4.0, 0.0, 2.0, 0.0])
    np.testing.assert_allclose(g.apply(x), [4.0, 2.0, 3.0, 1.5])
    assert g.total_weight == pytest.approx(2.0)


def test_weibull_weights_start_at_one_and_decay() -> None:
    w = Weibull(shape=2.0, scale=4.0).weights()
    assert w[0] == 1.0 and np.all(np.diff(w) <= 0)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in ADSTOCK_EXAMPLES])
def test_adstock_fast_path_equals_apply(name: str) -> None:
    ad: Adstock = ADSTOCKS[name](**ADSTOCK_EXAMPLES[name])
    x = np.random.default_rng(0).uniform(0.0, 100.0, 80)
    np.testing.assert_allclose(adstocked(x, ad), ad.apply(x), rtol=1e-12)
    coefficients = ad.filter_coefficients()
    if coefficients is not None:
        np.testing.assert_allclose(lfilter(*coefficients, x), ad.apply(x), rtol=1e-12)


@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in ADSTOCK_EXAMPLES])
def test_adstock_grids_are_members_within_bounds(name: str) -> None:
    family = ADSTOCKS[name]
    assert family.fit_grid and family.mmm_grid
    for params in (*family.fit_grid, *family.mmm_grid):
        family(**params)  # a valid member
    for params in family.mmm_grid:
        assert set(params) == set(family.mmm_bounds) == set(family.param_names)
        for p, v in params.items():
            lo, hi = family.mmm_bounds[p]
            assert lo <= v <= hi, (p, v)
