"""S-shaped curves whose box lies above the inflection point are concave there: no MILP.

The inflection point of a Hill curve ``a^s / (a^s + k^s)`` is where its second derivative,
of the sign of ``(s - 1) k^s - (s + 1) a^s``, changes sign; in period spend it is scaled by
the period and the carry-over (``a = x w / P``).  A plan whose boxes start above it is the
same plan the MILP finds, now from an LP.
"""

from __future__ import annotations

from decimal import Decimal, getcontext

import numpy as np
import pytest

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Exponential, Geometric, Hill, MichaelisMenten
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.lp import (
    AllocationProblem,
    PathProblem,
    PathSolution,
    concave_on_box,
    solve,
    solve_path,
)


def _second_derivative_sign(a: Decimal, k: Decimal, s: int) -> int:
    """Sign of the Hill curve's second derivative at ``a`` (exact decimals, integer shape)."""
    t = (s - 1) * k ** s - (s + 1) * a ** s
    return (t > 0) - (t < 0)


@pytest.mark.parametrize(("k", "s", "exact"), [
    (3.0, 2, 3.0 ** 0.5),            # k sqrt(1/3)
    (2.0, 3, 2.0 ** (2.0 / 3.0)),    # k (1/2)^(1/3)
    (10.0, 5, 10.0 * (2.0 / 3.0) ** 0.2),
])
def test_hill_inflection_is_exact(k: float, s: int, exact: float) -> None:
    point = Hill(k=k, s=float(s)).concave_from
    assert point == pytest.approx(exact, rel=4e-16)
    getcontext().prec = 50
    for side, sign in ((Decimal("0.999999999999"), 1), (Decimal("1.000000000001"), -1)):
        assert _second_derivative_sign(Decimal(point) * side, Decimal(k), s) == sign
    assert Hill(k=k, s=0.8).concave_from == 0.0
    assert MichaelisMenten(k=k).concave_from == 0.0 and Exponential(k=k).concave_from == 0.0


def test_period_inflection_takes_period_and_carry_over() -> None:
    k, s, alpha, period = 800.0, 2.5, 0.4, 4.0
    curves = CurveSet([ResponseCurve("a", Component(5000.0, Hill(k=k, s=s),
                                                    Geometric(alpha=alpha)), 500.0)])
    pf = PeriodFunctions(curves, ChannelEconomics(gross_margin=0.5), period)
    x_star = period * k * ((s - 1) / (s + 1)) ** (1 / s) * (1 - alpha)  # a = x / P / (1 - alpha)
    assert pf.concave_from[0] == pytest.approx(x_star, rel=1e-14)
    # the period marginal rises up to it and falls after it
    d = pf.revenue_slope(np.array([[x_star * 0.99, x_star, x_star * 1.01]]))[0]
    assert d[0] < d[1] > d[2]
    grid = np.linspace(x_star, 10 * x_star, 2001)
    assert np.all(np.diff(pf.revenue_slope(grid[None, :])[0]) < 0)


class _Unknown:
    """The same period functions without ``concave_from``: every S-shape goes to the MILP."""

    def __init__(self, pf: PeriodFunctions) -> None:
        self.pf = pf
        self.coefficient, self.concave = pf.coefficient, pf.concave
        self.revenue_concave = pf.revenue_concave

    def value(self, x):  # type: ignore[no-untyped-def]
        return self.pf.value(x)

    def slope(self, x):  # type: ignore[no-untyped-def]
        return self.pf.slope(x)

    def revenue(self, x):  # type: ignore[no-untyped-def]
        return self.pf.revenue(x)

    def revenue_slope(self, x):  # type: ignore[no-untyped-def]
        return self.pf.revenue_slope(x)

    def new_customers(self, x):  # type: ignore[no-untyped-def]
        return self.pf.new_customers(x)

    def new_customers_slope(self, x):  # type: ignore[no-untyped-def]
        return self.pf.new_customers_slope(x)


def _world(seed: int, n: int = 12) -> tuple[PeriodFunctions, np.ndarray]:
    rng = np.random.default_rng(seed)
    curves = []
    for i in range(n):
        k = rng.uniform(300.0, 2000.0)
        alpha = rng.uniform(0.0, 0.5)
        if i % 3 == 0:
            sat: object = MichaelisMenten(k=k)
        else:
            sat = Hill(k=k, s=rng.uniform(1.3, 3.0))
        curves.append(ResponseCurve(f"c{i}", Component(rng.uniform(2e3, 2e4), sat,  # type: ignore[arg-type]
                                                       Geometric(alpha=alpha)), 100.0))
    pf = PeriodFunctions(CurveSet(curves), ChannelEconomics(gross_margin=0.4), 4.0)
    # every box starts 1.2-2.5 times above its channel's inflection point (MM: anywhere)
    start = np.where(pf.concave_from > 0, pf.concave_from, 2000.0)
    x0 = start * rng.uniform(1.5, 3.0, n)
    return pf, x0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_plans_above_the_inflection_equal_the_milp(seed: int) -> None:
    pf, x0 = _world(seed)
    lo, hi = 0.8 * x0, 1.2 * x0
    assert np.all(lo > pf.concave_from) and not pf.revenue_concave.all()
    budget = float(x0.sum()) * 1.02
    conc, rev = concave_on_box(pf, lo)
    assert conc.all() and rev.all()
    lp = solve(AllocationProblem(pf.names, lo, hi, pf, budget))
    milp = solve(AllocationProblem(pf.names, lo, hi, _Unknown(pf), budget))  # type: ignore[arg-type]
    assert not lp.milp and lp.filled and milp.milp
    # both certified: each plan lies within its gap of an optimum the other bounds
    assert lp.value <= milp.upper_bound + 1e-9 * budget
    assert milp.value <= lp.upper_bound + 1e-9 * budget
    denom = max(abs(lp.value), 0.01 * budget)
    assert abs(lp.value - milp.value) <= (lp.gap + milp.gap) * denom + 1e-9 * budget
    np.testing.assert_allclose(lp.x, milp.x, rtol=0, atol=1e-3 * budget / len(x0))


def test_a_box_reaching_below_the_inflection_stays_s_shaped() -> None:
    pf, x0 = _world(3, n=6)
    s_shaped = pf.concave_from > 0
    lo = np.where(s_shaped, pf.concave_from * (1 - 1e-9), 0.8 * x0)
    conc, rev = concave_on_box(pf, lo)
    assert not rev[s_shaped].any() and not conc[s_shaped].any()
    lo_above = np.where(s_shaped, pf.concave_from * (1 + 1e-9), 0.8 * x0)
    conc, rev = concave_on_box(pf, lo_above)
    assert rev.all() and conc.all()
    hi = np.maximum(1.2 * x0, lo * 1.5)
    sol = solve(AllocationProblem(pf.names, lo, hi, pf, float(lo.sum() + 0.4 * (hi - lo).sum())))
    assert sol.milp and sol.gap <= 1e-4


def test_glide_path_above_the_inflection_equals_the_milp() -> None:
    pf, x0 = _world(4, n=8)
    step = 0.15
    lower = np.stack([x0 * (1 - step) ** (k + 1) for k in range(2)])
    upper = np.stack([x0 * (1 + step) ** (k + 1) for k in range(2)])
    assert np.all(lower > pf.concave_from)
    budgets = [float(x0.sum()) * 1.01, float(x0.sum()) * 1.02]

    def path(f: object) -> PathSolution:
        return solve_path(PathProblem(pf.names, x0, lower, upper, step, f, budgets))  # type: ignore[arg-type]

    lp, milp = path(pf), path(_Unknown(pf))
    assert milp.status == lp.status == "optimal"
    # concave on their boxes, the channels get no grid of breakpoints for an S-shape
    assert lp.n_breakpoints < milp.n_breakpoints
    # the same optimum, each certified within its gap (the summed margin is flat near it: the
    # two paths' spends may differ by a few per cent at the same value)
    assert lp.value <= milp.upper_bound + 1e-9 * sum(budgets)
    assert milp.value <= lp.upper_bound + 1e-9 * sum(budgets)
    assert abs(lp.value - milp.value) <= (lp.gap + milp.gap) * abs(milp.upper_bound)
