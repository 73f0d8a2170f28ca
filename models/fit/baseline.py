"""The baseline of the per-channel fit and the seasonal demand index.

The additive baseline of a channel's week ``t`` is intercept + linear trend + yearly Fourier
harmonics (+ a level shift).  The demand-scaled forms multiply instead: ``level_t * d_t``,
the level being intercept + trend (+ shift) and ``d_t`` a :class:`DemandIndex`, the exponential
of yearly harmonics normalised to mean 1 over a year, which also multiplies the media term by
``1 - m + m d_t`` (:func:`media_scale`).  :class:`BaselineDesign` builds the columns of both.
Known events (promotions, holidays: the panel's controls, a :class:`ControlTable`) add one
column each to the level: added in the additive form, times ``d_t`` in the demand-scaled forms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from roiste.models.errors import CurveError
from roiste.models.transforms import FloatArray

WEEKS_PER_YEAR = 365.25 / 7.0
EPOCH = pd.Timestamp("1970-01-05")  # a Monday: week indices count from it
PROFILE_WEEKS = 52  # weeks of the seasonal-effectiveness profile kept in a curve
RATIO_BOUNDS = (0.05, 20.0)  # a week's demand ratio counts within these multiples


def week_index(weeks: Any) -> FloatArray:
    """Weeks since 1970-01-05 (fractional for dates that are not Mondays)."""
    w = pd.DatetimeIndex(weeks)
    return np.asarray((w - EPOCH).days, dtype=float) / 7.0


def _harmonics(t: FloatArray, n_harmonics: int) -> FloatArray:
    ang = 2.0 * np.pi * np.asarray(t, dtype=float)[:, None] / WEEKS_PER_YEAR
    h = np.arange(1, n_harmonics + 1)[None, :]
    return np.column_stack([np.sin(ang * h), np.cos(ang * h)]) if n_harmonics else np.zeros((len(t), 0))


@dataclass(frozen=True)
class DemandIndex:
    """A channel's seasonal demand index ``d_t = exp(sum of yearly harmonics) / norm``.

    ``norm`` makes the mean of ``d`` over a calendar year exactly 1, so the index only moves
    weeks against each other; the same calendar week has the same index every year.

    Attributes
    ----------
    coef : tuple of float
        Coefficients of ``sin(2 pi h t / 52.18)``, h = 1 .. n, then of the cosines.
    norm : float
        Mean of the exponential over a year.
    """

    coef: tuple[float, ...]
    norm: float = 1.0

    @property
    def n_harmonics(self) -> int:
        """Number of yearly harmonics."""
        return len(self.coef) // 2

    @classmethod
    def from_log(cls, t: FloatArray, log_ratio: FloatArray, weights: FloatArray,
                 n_harmonics: int) -> DemandIndex:
        """The index whose log best fits ``log_ratio`` (weighted least squares with an intercept)."""
        h = _harmonics(t, n_harmonics)
        x = np.column_stack([np.ones(len(t)), h]) * np.sqrt(weights)[:, None]
        coef = np.linalg.lstsq(x, log_ratio * np.sqrt(weights), rcond=None)[0][1:]
        return cls.from_coef(coef)

    @classmethod
    def from_coef(cls, coef: FloatArray) -> DemandIndex:
        """The index of harmonic coefficients ``coef`` (sines, then cosines), normalised."""
        coef = np.asarray(coef, dtype=float)
        year = np.linspace(0.0, WEEKS_PER_YEAR, 1024, endpoint=False)
        norm = float(np.mean(np.exp(_harmonics(year, len(coef) // 2) @ coef)))
        return cls(tuple(float(c) for c in coef), norm)

    def at(self, t: FloatArray) -> FloatArray:
        """``d_t`` at week indices ``t``."""
        coef = np.asarray(self.coef, dtype=float)
        return np.asarray(np.exp(_harmonics(t, self.n_harmonics) @ coef) / self.norm, dtype=float)


@dataclass(frozen=True, eq=False)
class ControlTable:
    """Values of a channel's controls (known events) by week: the baseline's extra columns.

    Attributes
    ----------
    names : tuple of str
        The controls (``name`` for a number, ``name=level`` for a level of a text column).
    t : ndarray
        Week indices (:func:`week_index`) the values are known for, increasing.
    values : ndarray
        ``(len(t), len(names))``.
    """

    names: tuple[str, ...]
    t: FloatArray
    values: FloatArray

    @classmethod
    def of(cls, names: Any, t: Any, values: Any) -> ControlTable:
        """The table of ``values`` (weeks x names) at week indices ``t``, sorted by week."""
        t = np.asarray(t, dtype=float)
        v = np.asarray(values, dtype=float).reshape(len(t), -1)
        order = np.argsort(t, kind="stable")
        return cls(tuple(str(n) for n in names), t[order], v[order])

    def extended(self, t: Any, values: Any) -> ControlTable:
        """This table with the values of further weeks (``values`` win where weeks repeat)."""
        t = np.asarray(t, dtype=float)
        old = ~np.isin(np.round(self.t, 6), np.round(t, 6))
        return ControlTable.of(self.names, np.concatenate([self.t[old], t]),
                               np.vstack([self.values[old],
                                          np.asarray(values, dtype=float).reshape(len(t), -1)]))

    def at(self, t: FloatArray) -> FloatArray:
        """The values at week indices ``t``, ``(len(t), len(names))``; every week must be known."""
        t = np.asarray(t, dtype=float)
        if not len(self.t):
            raise CurveError("the controls hold no weeks")
        i = np.clip(np.searchsorted(self.t, t - 1e-6), 0, len(self.t) - 1)
        miss = np.abs(self.t[i] - t) > 1e-6
        if miss.any():
            day = (EPOCH + pd.Timedelta(weeks=float(t[int(miss.argmax())]))).strftime("%Y-%m-%d")
            raise CurveError(f"the controls ({', '.join(self.names)}) have no value for the "
                             f"week of {day}")
        return np.asarray(self.values[i], dtype=float)


@dataclass(frozen=True)
class BaselineDesign:
    """Columns of the baseline: intercept, trend, yearly harmonics, optional level shift,
    then one column per control (known events, from ``controls``).

    With a ``demand`` index the baseline is multiplicative: the intercept, trend, shift and
    control columns times ``d_t`` (and ``n_harmonics`` is 0).
    """

    t0: float
    t_scale: float
    n_harmonics: int = 2
    shift_week: float | None = None
    demand: DemandIndex | None = None
    controls: ControlTable | None = None

    def matrix(self, t: FloatArray) -> FloatArray:
        """The design at week indices ``t``, shape ``(len(t), columns)``."""
        t = np.asarray(t, dtype=float)
        cols = [np.ones_like(t), (t - self.t0) / self.t_scale]
        for h in range(1, self.n_harmonics + 1):
            ang = 2.0 * np.pi * h * t / WEEKS_PER_YEAR
            cols += [np.sin(ang), np.cos(ang)]
        if self.shift_week is not None:
            cols.append((t >= self.shift_week).astype(float))
        m = np.column_stack(cols)
        if self.controls is not None and self.controls.names:
            m = np.column_stack([m, self.controls.at(t)])
        return m if self.demand is None else m * self.demand.at(t)[:, None]

    def level(self) -> BaselineDesign:
        """The same design without harmonics and demand index (intercept, trend, shift,
        controls)."""
        return BaselineDesign(self.t0, self.t_scale, 0, self.shift_week, None, self.controls)

    def with_demand(self, demand: DemandIndex) -> BaselineDesign:
        """The multiplicative design: this design's level columns times ``demand``."""
        return BaselineDesign(self.t0, self.t_scale, 0, self.shift_week, demand, self.controls)

    def with_controls(self, controls: ControlTable | None) -> BaselineDesign:
        """The same design with another table of the controls (the same names, more weeks)."""
        return BaselineDesign(self.t0, self.t_scale, self.n_harmonics, self.shift_week,
                              self.demand, controls)

    @classmethod
    def for_weeks(cls, t: FloatArray, n_harmonics: int, shift_week: float | None = None,
                  controls: ControlTable | None = None) -> BaselineDesign:
        """The design whose trend column runs from -1 to 1 over the weeks ``t``."""
        half = max(float(t.max() - t.min()) / 2.0, 1.0)
        return cls(float((t.max() + t.min()) / 2.0), half, n_harmonics, shift_week, None,
                   controls)


def demand_ratio(y: FloatArray, level: FloatArray, media: FloatArray, share: float) -> FloatArray:
    """Week by week demand ``d_t`` that makes ``y = d (level + m media) + (1 - m) media``."""
    floor = 1e-3 * max(float(np.mean(np.abs(level))), 1e-12)
    r = (y - (1.0 - share) * media) / np.maximum(level + share * media, floor)
    return np.clip(r, *RATIO_BOUNDS)


def media_scale(d: FloatArray, share: float) -> FloatArray:
    """Multiplier of the media term: ``1 - share + share * d``."""
    return 1.0 - share + share * np.asarray(d, dtype=float)
