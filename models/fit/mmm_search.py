"""The nonlinear half of the marketing-mix fit: per-channel adstock and saturation search.

A channel's nonlinear parameters are a :class:`ChannelSpec`.  :func:`candidates` lists the grid
the coordinate search walks; :func:`refine` polishes the continuous parameters of all channels
at once by bounded least squares on residuals with the linear coefficients solved inside.
:func:`nonneg_normal_solve` is the linear solve with sign bounds that every trial runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from roiste.models.fit.search import adstocked
from roiste.models.transforms import ADSTOCKS, SATURATIONS, Adstock, FloatArray, Saturation

# The grids of the coordinate search (continuous refinement follows) belong to the families:
# ``Adstock.mmm_grid`` and ``mmm_bounds``, ``Saturation.mmm_shape_grid`` and ``shape_bounds``.


def searchable_adstocks() -> list[str]:
    """The adstock families the coordinate search can walk (those with an ``mmm_grid``)."""
    return sorted(name for name, cls in ADSTOCKS.items() if cls.mmm_grid)


@dataclass(frozen=True)
class ChannelSpec:
    """One channel's nonlinear parameters: adstock, saturation family and scale multiple."""

    adstock: str
    adstock_params: tuple[tuple[str, float], ...]
    family: str
    k_mult: float
    shape: tuple[tuple[str, float], ...] = ()

    def make_adstock(self) -> Adstock:
        return ADSTOCKS[self.adstock](**dict(self.adstock_params))

    def n_params(self) -> int:
        return len(self.adstock_params) + 1 + len(self.shape)


def media_features(
    x: FloatArray, spec: ChannelSpec, ref: float
) -> tuple[FloatArray, Adstock, Saturation]:
    """``saturation(adstock(x))`` of one channel; ``ref`` is the reference adstocked spend.

    The saturation's half-saturation spend is ``spec.k_mult * ref``; returns the feature
    (in ``[0, 1)``) with the adstock and saturation objects it used.
    """
    ad = spec.make_adstock()
    a = adstocked(x, ad)
    sat = SATURATIONS[spec.family].from_scale(spec.k_mult * ref, **dict(spec.shape))
    return sat.value(a), ad, sat


Feature = Callable[[int, "ChannelSpec"], FloatArray]
Evaluate = Callable[[FloatArray, list["ChannelSpec"]], tuple[float, FloatArray]]


def start_spec(adstock: str, families: Sequence[str]) -> ChannelSpec:
    """Where the coordinate search starts: a middle alpha and scale, the first family."""
    grid = ADSTOCKS[adstock].mmm_grid
    start = grid[len(grid) // 3]
    fam = families[0]
    shape = tuple((k, v[len(v) // 2]) for k, v in SATURATIONS[fam].mmm_shape_grid.items())
    return ChannelSpec(adstock, tuple(start.items()), fam, 1.0, shape)


def candidates(adstock: str, families: Sequence[str], k_bounds: tuple[float, float]) -> list[ChannelSpec]:
    """Every grid point of one channel: adstock parameters x families x scales x shapes."""
    lo, hi = k_bounds
    k_grid = np.geomspace(max(lo, 0.2), min(hi, 5.0), 9) if hi > lo else np.array([lo])
    out = []
    for ap in ADSTOCKS[adstock].mmm_grid:
        for fam in families:
            shapes = SATURATIONS[fam].mmm_shape_grid
            names = list(shapes)
            combos: list[tuple[float, ...]] = [()]
            for nm in names:
                combos = [(*c, v) for c in combos for v in shapes[nm]]
            for km in k_grid:
                for combo in combos:
                    out.append(
                        ChannelSpec(adstock, tuple(ap.items()), fam, float(km), tuple(zip(names, combo, strict=True)))
                    )
    return out

def refine(
    specs: list[ChannelSpec], F: FloatArray, best: float, k_bounds: tuple[float, float],
    feature: Feature, evaluate: Evaluate,
) -> tuple[list[ChannelSpec], FloatArray, float]:
    """Joint bounded least squares over the continuous parameters (families fixed)."""
    layout: list[tuple[int, str, str]] = []  # (channel, kind, name)
    x0: list[float] = []
    lo: list[float] = []
    hi: list[float] = []

    def add(c: int, kind: str, nm: str, v: float, b0: float, b1: float) -> None:
        layout.append((c, kind, nm))
        x0.append(v)
        lo.append(b0)
        hi.append(b1)

    for c, s in enumerate(specs):
        for nm, v in s.adstock_params:
            b0, b1 = ADSTOCKS[s.adstock].mmm_bounds[nm]
            add(c, "adstock", nm, min(max(v, b0), b1), b0, b1)
        add(c, "k", "k_mult", math.log(s.k_mult), math.log(k_bounds[0]), math.log(k_bounds[1]))
        for nm, v in s.shape:
            b0, b1 = SATURATIONS[s.family].shape_bounds[nm]
            add(c, "shape", nm, min(max(v, b0), b1), b0, b1)

    def unpack(v: FloatArray) -> list[ChannelSpec]:
        out = []
        for c, s in enumerate(specs):
            vals = {(kind, nm): float(v[i]) for i, (cc, kind, nm) in enumerate(layout) if cc == c}
            out.append(
                ChannelSpec(
                    s.adstock,
                    tuple((nm, vals[("adstock", nm)]) for nm, _ in s.adstock_params),
                    s.family,
                    math.exp(vals[("k", "k_mult")]),
                    tuple((nm, vals[("shape", nm)]) for nm, _ in s.shape),
                )
            )
        return out

    def residuals(v: FloatArray) -> FloatArray:
        trial = unpack(v)
        Fv = np.column_stack([feature(c, s) for c, s in enumerate(trial)])
        return np.asarray(evaluate(Fv, trial)[1])

    eps = 1e-9
    x0a = np.clip(np.asarray(x0), np.asarray(lo) + eps, np.asarray(hi) - eps)
    sol = least_squares(residuals, x0a, bounds=(np.asarray(lo), np.asarray(hi)), diff_step=1e-4, max_nfev=50, ftol=1e-6, xtol=1e-6)
    trial = unpack(sol.x)
    Ft = np.column_stack([feature(c, s) for c, s in enumerate(trial)])
    crit, _ = evaluate(Ft, trial)
    if crit < best:
        return trial, Ft, crit
    return specs, F, best


# --------------------------------------------------------------------------- linear part


def symmetric_solve(A: FloatArray, c: FloatArray) -> FloatArray:
    """Solve ``A x = c``; least squares when ``A`` is singular."""
    try:
        return np.asarray(np.linalg.solve(A, c), dtype=float)
    except np.linalg.LinAlgError:
        return np.asarray(np.linalg.lstsq(A, c, rcond=None)[0], dtype=float)


def nonneg_normal_solve(A: FloatArray, c: FloatArray, bounded: np.ndarray, max_iter: int = 500) -> FloatArray | None:
    """Minimise ``b'Ab/2 - c'b`` with ``b[bounded] >= 0`` (A positive definite).

    Lawson and Hanson's active-set method on the normal equations: the bounded coefficients
    start at zero and enter one at a time by largest gradient; a coefficient that would turn
    negative is stepped back to the bound and leaves.  Exact at convergence; returns None if it
    does not converge within ``max_iter`` steps.
    """
    p = len(c)
    passive = ~bounded
    x = np.zeros(p)

    def solve_on(mask: np.ndarray) -> FloatArray:
        z = np.zeros(p)
        z[mask] = symmetric_solve(A[np.ix_(mask, mask)], c[mask])
        return z

    x = solve_on(passive)
    tol = 1e-12 * max(1.0, float(np.abs(c).max()))
    for _ in range(max_iter):
        w = c - A @ x  # minus the gradient
        w[passive] = -np.inf
        j = int(np.argmax(w))
        if w[j] <= tol:
            return x
        passive[j] = True
        for _ in range(max_iter):
            z = solve_on(passive)
            bad = passive & bounded & (z <= 0.0)
            if not bad.any():
                x = z
                break
            step = float(np.min(x[bad] / (x[bad] - z[bad])))
            x = x + step * (z - x)
            leave = passive & bounded & (x <= tol)
            passive &= ~leave
            x[leave] = 0.0
        else:
            return None
    return None
