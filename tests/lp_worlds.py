"""Small period models with closed-form marginals, and an exact optimum to test the LP against.

They implement the LP's ``PeriodModel`` protocol with plain arrays (the LP never sees a curve
class).  Revenue is ``beta * (1 - exp(-x / scale))`` (exponential) or
``beta * x / (x + scale)`` (Michaelis-Menten); the value is ``k * revenue - f * x``.  Where
the value is concave, the spend at which its marginal equals a price has a closed form, so
the optimum under a budget and boxes follows from bisection on the price (the Lagrange
multiplier of the budget), independent of the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def _col(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    return a if x.ndim == 1 else a[:, None]


@dataclass
class ClosedFormModel:
    beta: np.ndarray
    scale: np.ndarray
    mm: np.ndarray  # True: Michaelis-Menten, False: exponential
    coefficient: np.ndarray
    cost: np.ndarray
    nc_per_revenue: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        n = len(self.beta)
        if len(self.nc_per_revenue) != n:
            self.nc_per_revenue = np.full(n, 0.01)
        self.revenue_concave = np.ones(n, dtype=bool)
        self.concave = self.coefficient >= 0

    def revenue(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        b, s, mm = _col(self.beta, x), _col(self.scale, x), _col(self.mm, x)
        return np.where(mm, b * x / (x + s), b * -np.expm1(-x / s))

    def revenue_slope(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        b, s, mm = _col(self.beta, x), _col(self.scale, x), _col(self.mm, x)
        return np.where(mm, b * s / (x + s) ** 2, b / s * np.exp(-x / s))

    def value(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return _col(self.coefficient, x) * self.revenue(x) - _col(self.cost, x) * x

    def slope(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return _col(self.coefficient, x) * self.revenue_slope(x) - _col(self.cost, x)

    def new_customers(self, x: np.ndarray) -> np.ndarray:
        return _col(self.nc_per_revenue, np.asarray(x)) * self.revenue(x)

    def new_customers_slope(self, x: np.ndarray) -> np.ndarray:
        return _col(self.nc_per_revenue, np.asarray(x)) * self.revenue_slope(x)

    # -- the exact optimum (concave values) ---------------------------------------------
    def spend_at_price(self, lam: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """argmax of V(x) - lam x on [lo, hi], in closed form."""
        q = (lam + self.cost) / self.coefficient  # the revenue marginal that is wanted
        with np.errstate(divide="ignore", invalid="ignore"):
            x_mm = np.sqrt(self.beta * self.scale / q) - self.scale
            x_ex = -self.scale * np.log(q * self.scale / self.beta)
        x = np.where(self.mm, x_mm, x_ex)
        x = np.where(q <= 0, np.inf, x)
        return np.clip(np.nan_to_num(x, nan=-np.inf), lo, hi)

    def optimum(self, lo: np.ndarray, hi: np.ndarray, budget: float,
                at_most: bool = False) -> tuple[np.ndarray, float]:
        """The exact optimum under the budget and the boxes (bisection on the price)."""
        a, b = -1e6, 1e6
        for _ in range(400):
            m = 0.5 * (a + b)
            if self.spend_at_price(m, lo, hi).sum() > budget:
                a = m
            else:
                b = m
        lam = 0.5 * (a + b)
        if at_most and lam < 0:
            lam = 0.0
        x = self.spend_at_price(lam, lo, hi)
        if not at_most or lam > 0:
            # What bisection leaves over goes to the channels whose marginal is closest to the
            # price, each within its box.  Where a curve is flat in floating point (an
            # exponential far past its scale) the spend at a price jumps, and the channel on
            # that flat stretch is the one that absorbs the rest at no cost in value.
            # A channel goes first when taking the whole rest moves its marginal least.
            x = x.copy()
            r = budget - x.sum()
            while r != 0:
                moved = np.clip(x + r, lo, hi)
                room = moved != x
                if not room.any():
                    break
                drift = np.where(room, np.abs(self.slope(moved) - lam), np.inf)
                i = int(np.argmin(drift))
                r -= float(moved[i] - x[i])
                x[i] = moved[i]
        return x, lam


def random_model(rng: np.random.Generator, n: int, *, k: float = 0.5, f: float = 1.0
                 ) -> ClosedFormModel:
    return ClosedFormModel(
        beta=rng.uniform(1e3, 1e4, n),
        scale=rng.uniform(200.0, 3000.0, n),
        mm=rng.random(n) < 0.5,
        coefficient=np.full(n, k),
        cost=np.full(n, f),
    )
