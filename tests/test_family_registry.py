"""A saturation family is one registered class: its maths, grids and shape live there alone.

Every registered family runs through the same checks of its vectorised maths; a family defined
here, in the test, goes through simulate -> fit -> plan -> report with nothing else changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import yaml
from numpy.typing import ArrayLike
from panels import saturation_panel

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.fit.channel import FitSettings, fit_channel, fit_long
from roiste.models.fit.mmm_search import candidates, start_spec
from roiste.models.panel import read_panel
from roiste.models.transforms import (
    SATURATIONS,
    Bounds,
    FloatArray,
    Geometric,
    Grid,
    Saturation,
)
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.runs import run_plan

LN2 = float(np.log(2.0))
NEW = "power_exponential"


def _power_exponential() -> type[Saturation]:
    """``1 - 2**(-(a / k)**s)``: half the maximum at ``a = k``; S-shaped for ``s > 1``."""

    class PowerExponential(Saturation):
        lookup_name = NEW
        param_names = ("k", "s")
        shape_bounds: ClassVar[Bounds] = {"s": (0.5, 2.5)}
        fit_shape_grid: ClassVar[Grid] = {"s": (0.5, 0.8, 1.3, 2.0)}
        mmm_shape_grid: ClassVar[Grid] = {"s": (0.7, 1.5)}
        simulation_shape_ranges: ClassVar[Mapping[str, tuple[tuple[float, float], ...]]] = {
            "s": ((0.6, 0.9), (1.2, 2.0))}
        can_be_s_shaped = True

        def _check(self) -> None:
            if not (self.params["k"] > 0 and self.params["s"] > 0):
                raise ValueError(f"{NEW} needs k > 0 and s > 0, got {self.params}")

        @staticmethod
        def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
            u = np.maximum(np.asarray(a, dtype=float), 0.0) / p["k"]
            return np.asarray(-np.expm1(-LN2 * u ** p["s"]), dtype=float)

        @staticmethod
        def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
            k, s = p["k"], p["s"]
            u = np.maximum(np.asarray(a, dtype=float), 0.0) / k
            with np.errstate(divide="ignore", invalid="ignore"):
                d = LN2 * s / k * u ** (s - 1.0) * np.exp(-LN2 * u**s)
            at_zero = np.where(s == 1.0, LN2 / k, np.where(s < 1.0, np.inf, 0.0))
            return np.asarray(np.where(u == 0, at_zero, d), dtype=float)

        @property
        def is_concave(self) -> bool:
            return self.params["s"] <= 1.0

    return PowerExponential


@pytest.fixture
def new_family() -> Iterator[type[Saturation]]:
    """The family registered for one test, and gone afterwards."""
    before = dict(SATURATIONS)
    family = _power_exponential()
    try:
        yield family
    finally:
        SATURATIONS.pop(NEW, None)
        assert SATURATIONS == before


# ------------------------------------------------------------------ every registered family


def _parameter_arrays(family: type[Saturation], n: int, seed: int = 0) -> dict[str, FloatArray]:
    """``n`` members of the family as columns ``(n, 1)``: scales 50 .. 500, shapes in bounds."""
    rng = np.random.default_rng(seed)
    p = {"k": rng.uniform(50.0, 500.0, n)}
    for name, (lo, hi) in family.shape_bounds.items():
        p[name] = rng.uniform(lo, hi, n)
    return {name: v[:, None] for name, v in p.items()}


FAMILIES = [pytest.param(f, id=f.lookup_name) for f in SATURATIONS.values()]


@pytest.mark.parametrize("family", FAMILIES)
def test_vectorised_derivative_is_the_derivative_of_the_value(family: type[Saturation]) -> None:
    p = _parameter_arrays(family, 7)
    a = np.linspace(0.02, 8.0, 200)[None, :] * p["k"]  # up to 8 half-saturation spends
    h = 1e-5 * p["k"]
    fd = (family.value_at(p, a + h) - family.value_at(p, a - h)) / (2 * h)
    d = family.derivative_at(p, a)
    assert d.shape == (7, 200)
    np.testing.assert_allclose(d, fd, rtol=1e-6, atol=1e-12)
    v = family.value_at(p, a)
    assert np.all(np.diff(v, axis=1) > 0) and np.all((v > 0) & (v < 1))
    assert np.all(family.value_at(p, np.zeros((7, 1))) == 0.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_arrays_of_parameters_equal_the_members_one_by_one(family: type[Saturation]) -> None:
    n = 6
    p = _parameter_arrays(family, n, seed=1)
    members = [family(**{name: float(v[i, 0]) for name, v in p.items()}) for i in range(n)]
    stacked = family.stack_params(members)
    for name in family.param_names:
        np.testing.assert_array_equal(stacked[name], p[name])
    a = np.column_stack([np.zeros(n), np.random.default_rng(2).uniform(0.0, 4000.0, (n, 5))])
    value, derivative = family.value_at(p, a), family.derivative_at(p, a)
    for i, m in enumerate(members):
        np.testing.assert_array_equal(value[i], m.value(a[i]))
        np.testing.assert_array_equal(derivative[i], m.derivative(a[i]))
        assert float(m.value(m.scale)) == pytest.approx(0.5, rel=1e-9)
        assert m.is_concave or family.can_be_s_shaped


@pytest.mark.parametrize("family", FAMILIES)
def test_grids_name_shape_parameters_within_bounds(family: type[Saturation]) -> None:
    assert set(family.fit_shape_grid) == set(family.shape_bounds)
    for grid in (family.fit_shape_grid, family.mmm_shape_grid):
        for name, values in grid.items():
            lo, hi = family.shape_bounds[name]
            assert values and all(lo <= v <= hi for v in values), (name, values)


@pytest.mark.parametrize("family", FAMILIES)
def test_period_functions_of_a_family_equal_its_curves(family: type[Saturation]) -> None:
    """The planner evaluates a family's channels together; each equals its own curve."""
    n = 5
    p = _parameter_arrays(family, n, seed=3)
    curves = CurveSet([
        ResponseCurve(f"c{i}", Component(1000.0 * (i + 1), family(**{
            name: float(v[i, 0]) for name, v in p.items()}), Geometric(alpha=0.3)), 100.0)
        for i in range(n)
    ])
    x = np.column_stack([np.zeros(n), np.random.default_rng(4).uniform(0.0, 4000.0, (n, 3))])
    pf = PeriodFunctions(curves, ChannelEconomics(gross_margin=0.4), 4)
    value, slope = pf.value(x), pf.slope(x)
    for i, c in enumerate(curves.channels):
        np.testing.assert_allclose(value[i], 4 * 0.4 * curves[c].response(x[i] / 4) - x[i],
                                   rtol=1e-12)
        np.testing.assert_allclose(slope[i], 0.4 * curves[c].marginal(x[i] / 4) - 1.0,
                                   rtol=1e-12)


# ---------------------------------------------------------------- a family of the test's own


def test_a_new_family_is_searched_by_both_fits(new_family: type[Saturation]) -> None:
    assert SATURATIONS[NEW] is new_family
    spec = start_spec("geometric", [NEW])
    assert spec.family == NEW and dict(spec.shape) == {"s": 1.5}
    shapes = {dict(c.shape)["s"] for c in candidates("geometric", [NEW], (0.2, 5.0))}
    assert shapes == {0.7, 1.5}
    with pytest.raises(ValueError, match="not shape parameters"):

        class Broken(Saturation):
            lookup_name = "broken"
            param_names = ("k",)
            mmm_shape_grid: ClassVar[Grid] = {"s": (1.0,)}
    assert "broken" not in SATURATIONS


WEEKS = 130
# channel: (mean weekly spend, half-saturation k as a multiple of the mean adstocked spend,
# shape, maximum weekly response as a multiple of the mean spend); "under" is far from
# saturation (a high marginal return), "over" well past it
CHANNELS = {"under": (2000.0, 3.0, 0.8, 14.0), "over": (6000.0, 0.35, 0.8, 2.2),
            "sshaped": (3000.0, 1.2, 1.8, 4.0)}
ALPHA = 0.3


def _panel(family: type[Saturation], path: Path) -> None:
    """A long panel whose channels follow ``family`` after a geometric adstock."""
    panel, _ = saturation_panel(CHANNELS, family, weeks=WEEKS, walk_sd=0.2, alpha=ALPHA)
    panel.to_csv(path, index=False)


def test_a_new_family_goes_through_fit_plan_and_report(
    new_family: type[Saturation], tmp_path: Path
) -> None:
    _panel(new_family, tmp_path / "panel.csv")
    panel = read_panel(tmp_path / "panel.csv")
    # the automatic choice searches the new family beside the others (BIC may prefer a family
    # with fewer parameters on so few weeks, so the plan's curves name it explicitly)
    auto = fit_channel(panel.spend["sshaped"].to_numpy(), panel.revenue["sshaped"].to_numpy(),
                       panel.weeks, channel="sshaped")
    assert set(auto.diagnostics["cv_scores"]) == set(SATURATIONS)
    fitted = fit_long(panel, settings=FitSettings(family=NEW), progress=False)
    fitted.save(tmp_path / "curves.json")
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(yaml.safe_dump({
        "name": "New family", "data": "panel.csv", "curves": "curves.json", "period_weeks": 4,
        "step": 0.2, "economics": {"gross_margin": 0.5},
    }), encoding="utf-8")
    plan = run_plan(scenario, tmp_path / "plan", progress=False)

    saved = json.loads((tmp_path / "plan" / "curves.json").read_text())
    families = {c["channel"]: c["revenue"]["saturation"]["lookup_name"] for c in saved["channels"]}
    assert families == dict.fromkeys(CHANNELS, NEW)
    curves = CurveSet.load(tmp_path / "plan" / "curves.json")
    assert not curves["sshaped"].is_concave and curves["under"].is_concave
    assert curves["sshaped"].revenue.saturation.params["s"] == pytest.approx(1.8, abs=0.3)

    summary = json.loads((tmp_path / "plan" / "summary.json").read_text())
    assert summary["status"] == plan.status and plan.optimality_gap <= 1e-4
    assert plan.net_margin_recommended is not None and plan.net_margin_current is not None
    assert plan.net_margin_recommended > plan.net_margin_current + 1.0
    spend = plan.allocation.set_index("channel")
    assert spend.loc["under", "recommended_spend"] > spend.loc["under", "current_spend"]
    assert spend.loc["over", "recommended_spend"] < spend.loc["over", "current_spend"]
    assert spend["recommended_spend"].sum() == pytest.approx(plan.budget, abs=0.05)
    report = (tmp_path / "plan" / "report.html").read_text(encoding="utf-8")
    assert all(c in report for c in CHANNELS)
