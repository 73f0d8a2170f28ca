"""Curve draws written by hand for the LP tests: ``V_sc(x) = k R_sc(x) - x`` per draw.

A subclass of :class:`HandDraws` gives the revenue ``R`` and its slope for arrays shaped as
``_b`` returns them; :class:`MeanOf` is the mean over the draws, the problem's period model.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class HandDraws:
    """S draws of N channels with parameters ``beta`` and ``scale`` (each ``(S, N)``)."""

    def __init__(self, beta: np.ndarray, scale: np.ndarray, k: float = 0.5) -> None:
        self.beta, self.scale, self.k = beta, scale, k
        self.n_draws = beta.shape[0]

    def _b(self, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.asarray(x, float)
        if x.ndim == 1:
            return self.beta, self.scale, x[None, :]
        return self.beta[:, :, None], self.scale[:, :, None], x[None]

    def revenue(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def revenue_slope(self, x: Any) -> np.ndarray:
        raise NotImplementedError

    def value(self, x: Any) -> np.ndarray:
        return self.k * self.revenue(x) - np.asarray(x, float)[None]

    def slope(self, x: Any) -> np.ndarray:
        return self.k * self.revenue_slope(x) - 1.0


class ExpDraws(HandDraws):
    """``R_sc(x) = b_sc (1 - exp(-x / s_sc))``: concave."""

    def revenue(self, x: Any) -> np.ndarray:
        b, s, xx = self._b(x)
        return b * -np.expm1(-xx / s)

    def revenue_slope(self, x: Any) -> np.ndarray:
        b, s, xx = self._b(x)
        return b / s * np.exp(-xx / s)


class MeanOf:
    """The mean over the draws: the problem's period functions (the targets' curves);
    ``concave`` per channel (all by default)."""

    def __init__(self, d: HandDraws, concave: np.ndarray | None = None) -> None:
        self.d = d
        n = d.beta.shape[1]
        self.coefficient = np.full(n, d.k)
        self.concave = np.ones(n, bool) if concave is None else np.asarray(concave, bool)
        self.revenue_concave = self.concave.copy()

    def value(self, x: Any) -> np.ndarray:
        return self.d.value(x).mean(0)

    def slope(self, x: Any) -> np.ndarray:
        return self.d.slope(x).mean(0)

    def revenue(self, x: Any) -> np.ndarray:
        return self.d.revenue(x).mean(0)

    def revenue_slope(self, x: Any) -> np.ndarray:
        return self.d.revenue_slope(x).mean(0)

    def new_customers(self, x: Any) -> np.ndarray:
        return 0.01 * self.revenue(x)

    def new_customers_slope(self, x: Any) -> np.ndarray:
        return 0.01 * self.revenue_slope(x)
