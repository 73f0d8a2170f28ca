"""What to test next: the value of knowing a curve, on a world built so the answer is known."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.optimize import minimize_scalar

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Geometric, MichaelisMenten
from roiste.optimizer.cli import main
from roiste.optimizer.economics import ChannelEconomics
from roiste.optimizer.voi import information_values

W0 = 1000.0
ECON = ChannelEconomics(gross_margin=0.5)
PERIOD = 4.0


def _mm(beta: float, k: float) -> Component:
    return Component(beta, MichaelisMenten(k=k), Geometric(alpha=0.0))


def _curve(name: str, beta: float, k: float, betas: list[float]) -> ResponseCurve:
    return ResponseCurve(name, _mm(beta, k), W0, draws=tuple(_mm(b, k) for b in betas),
                         diagnostics={"noise_sd": 0.08, "weekly_revenue": 20_000.0})


def _world() -> CurveSet:
    """Three channels at the same spend.  ``unsure``: its draws disagree on the level, and
    under each the best spend is elsewhere in the range; ``sure``: draws all alike;
    ``loud``: its draws differ by +-20 % too, but under every one of them the next euro earns
    more than elsewhere up to the top of the range, so the best spend is the top whatever the
    truth.  The money's value elsewhere is about 0 for each (the others' slopes cancel)."""
    spread = [0.5, 0.75, 1.0, 1.25, 1.5]
    return CurveSet([
        _curve("unsure", 7000.0, 1000.0, [7000.0 * s for s in spread]),
        _curve("sure", 7000.0, 1000.0, [7000.0 * s for s in (0.98, 0.99, 1.0, 1.01, 1.02)]),
        _curve("loud", 2.25e6, 1.0e6, [2.25e6 * s for s in (0.8, 0.9, 1.0, 1.1, 1.2)]),
    ])


def _lam(curves: CurveSet, channel: str) -> float:
    """The others' spend-weighted marginal net margin per euro at current spend (by hand)."""
    others = [curves[c] for c in curves.channels if c != channel]
    return float(np.mean([0.5 * float(c.marginal(W0)) - 1.0 for c in others]))


def _evpi_by_hand(curves: CurveSet, channel: str) -> float:
    """Continuous optimum per draw and for the mean, with scipy, over [0.5, 1.5] w0."""
    c, lam = curves[channel], _lam(curves, channel)

    def u(w: float, comps: list[Component]) -> float:
        return float(np.mean([PERIOD * (0.5 * float(d.value(w)) - w + lam * (W0 - w))
                              for d in comps]))

    def best(comps: list[Component]) -> float:
        res = minimize_scalar(lambda w: -u(w, comps), bounds=(0.5 * W0, 1.5 * W0),
                              method="bounded", options={"xatol": 1e-6})
        return max(-float(res.fun), u(0.5 * W0, comps), u(1.5 * W0, comps))

    draws = list(c.draws)
    return float(np.mean([best([d]) for d in draws]) - best(draws))


def test_the_channel_whose_uncertainty_costs_most_ranks_first() -> None:
    curves = _world()
    econ = {c: ECON for c in curves.channels}
    values = {v.channel: v for v in information_values(curves, econ, dict.fromkeys(
        curves.channels, W0), PERIOD)}
    assert values["unsure"].rank == 1
    assert values["loud"].evpi == pytest.approx(0.0, abs=1e-6)  # uncertain, but it never matters
    assert values["sure"].evpi < 0.01 * values["unsure"].evpi
    assert values["unsure"].evpi == pytest.approx(_evpi_by_hand(curves, "unsure"), rel=0.02)
    # the test it should run measures something and needs weeks: the sizes are those asked
    v = values["unsure"]
    assert v.spend_change in (-1.0, -0.5, -0.25, 0.25, 0.5)
    assert 0 < v.evsi <= v.evpi * (1 + 1e-9)
    effect = float(np.median([d.value(W0 * (1 + v.spend_change)) - d.value(W0)
                              for d in curves["unsure"].draws]))
    assert v.effect == pytest.approx(effect)
    assert v.weeks == int(np.ceil(2.0 * (0.08 * 20_000.0 / (0.1 * abs(effect))) ** 2))


def test_the_curves_command_ranks_what_to_test_next(tmp_path) -> None:
    path = tmp_path / "curves.json"
    _world().save(path)
    res = CliRunner().invoke(main, ["curves", str(path)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("what to test next"))
    assert lines[at + 2].split()[:2] == ["1", "unsure"]
