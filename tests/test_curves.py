"""CurveSet: steady-state response, derivatives, saturation helpers, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import CurveError
from roiste.models.transforms import Exponential, Geometric, Hill, Weibull


def _curveset() -> CurveSet:
    a = ResponseCurve(
        "search",
        Component(5000.0, Hill(k=2000.0, s=1.0), Geometric(alpha=0.5)),
        recent_spend=800.0,
        visitors=Component(900.0, Exponential(k=1500.0), Geometric(alpha=0.5)),
        ratios={"revenue_per_order": 80.0},
        draws=(Component(5100.0, Hill(k=2100.0, s=1.0), Geometric(alpha=0.45)),),
    )
    b = ResponseCurve(
        "tv", Component(20000.0, Hill(k=9000.0, s=2.2), Weibull(shape=1.5, scale=3.0)), 4000.0
    )
    return CurveSet([a, b], diagnostics={"r2_train": 0.93}, meta={"layout": "long"})


def test_response_uses_steady_state_adstock() -> None:
    c = _curveset()["search"]
    # a = w / (1 - alpha) = 2w; hill with s=1: 5000 * 2w / (2w + 2000)
    w = np.array([0.0, 500.0, 1000.0])
    np.testing.assert_allclose(c.response(w), 5000.0 * 2 * w / (2 * w + 2000.0))
    np.testing.assert_allclose(c.marginal(w), 5000.0 * 2 * 2000.0 / (2 * w + 2000.0) ** 2)


def test_saturation_helpers_invert_the_curve() -> None:
    c = _curveset()["search"]
    w = c.spend_at_marginal(1.0)
    assert float(c.marginal(w)) == pytest.approx(1.0, rel=1e-6)
    s = c.saturation_spend(0.8)
    assert float(c.saturation_share(s)) == pytest.approx(0.8, rel=1e-9)
    tv = _curveset()["tv"]
    w = tv.spend_at_marginal(0.5)
    assert float(tv.marginal(w)) == pytest.approx(0.5, rel=1e-6)
    assert float(tv.marginal(w * 1.01)) < 0.5  # on the falling side of the S


def test_rpv_and_marginal_rpv() -> None:
    c = _curveset()["search"]
    w = 700.0
    assert float(c.rpv(w)) == pytest.approx(float(c.response(w) / c.visitors_at(w)))
    h = 1e-3
    num = (c.response(w + h) - c.response(w)) / (c.visitors_at(w + h) - c.visitors_at(w))
    assert float(c.marginal_rpv(w)) == pytest.approx(float(num), rel=1e-4)
    with pytest.raises(CurveError):
        _curveset()["tv"].rpv(w)


def test_save_load_round_trip_is_exact(tmp_path) -> None:
    cs = _curveset()
    p = tmp_path / "curves.json"
    cs.save(p)
    back = CurveSet.load(p)
    assert back.channels == cs.channels
    assert back.diagnostics == cs.diagnostics
    w = np.geomspace(1, 1e5, 50)
    for ch in cs:
        np.testing.assert_array_equal(back[ch].response(w), cs[ch].response(w))
    p2 = tmp_path / "again.json"
    back.save(p2)
    assert p.read_bytes() == p2.read_bytes()


def test_load_rejects_bad_files(tmp_path) -> None:
    with pytest.raises(CurveError, match="no such curves file"):
        CurveSet.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CurveError, match="not a curves JSON"):
        CurveSet.load(bad)
    bad.write_text(json.dumps({"schema_version": 99, "channels": []}))
    with pytest.raises(CurveError, match="schema_version"):
        CurveSet.load(bad)


def test_band_comes_from_draws() -> None:
    c = _curveset()["search"]
    lo, hi = c.response_band([100.0, 1000.0])
    assert lo.shape == (2,) and np.all(lo <= hi)


def test_saved_files_get_ordinary_permissions(tmp_path) -> None:
    import os
    import stat

    p = tmp_path / "curves.json"
    _curveset().save(p)
    mode = stat.S_IMODE(os.stat(p).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask


def test_marginal_rpv_is_undefined_where_visitors_no_longer_respond() -> None:
    from roiste.models.transforms import Logistic

    c = ResponseCurve(
        "shopping",
        Component(1000.0, Hill(k=500.0, s=1.0), Geometric(alpha=0.0)),
        recent_spend=1500.0,
        visitors=Component(180.0, Logistic(k=40.0), Geometric(alpha=0.9)),
    )
    # adstocked spend 15,000 against a half-saturation of 40: the visitor curve is flat
    assert np.isnan(c.marginal_rpv(1500.0))
    assert np.isfinite(c.marginal_rpv(1.0))
