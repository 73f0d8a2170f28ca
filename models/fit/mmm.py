"""Aggregate marketing-mix fit of the wide layout: one target, one spend column per channel.

The model of week ``t`` is

``y_t = baseline_t + sum_j gamma_j z_jt + sum_c beta_c * saturation_c(adstock_c(x_c)_t) + e_t``

with a baseline of intercept (>= 0), piecewise-linear trend and yearly Fourier seasonality,
controls ``z`` of free sign (indicator levels of one categorical partially pooled), and media
coefficients ``beta_c >= 0`` in target units.  Given each channel's adstock and saturation
parameters the model is linear, so the coefficients come from a ridge solve with sign bounds
(an active-set solve on the normal equations, ``scipy.optimize.lsq_linear`` as fallback).  The nonlinear parameters are searched per channel: coordinate
descent over a grid of adstock parameters, saturation scales (multiples of the channel's mean
adstocked spend) and saturation families, then a joint bounded least-squares refinement of the
continuous parameters with the coefficients profiled out.  Families are chosen by an AIC-like
criterion on the training weeks.

In the demand-scaled form the baseline's intercept, trend and controls are multiplied by a
seasonal demand index ``d_t`` of the target (no Fourier terms) and each channel's media term by
``1 - m + m d_t``; :func:`fit_wide` chooses the form by time-series cross-validated forecast
error (:func:`~models.fit.mmm_validation.choose_media_form`).

Three levels, as in scikit-learn: :func:`~models.mmm_search.media_features` does the transform,
:class:`MarketingMixRegressor` is the estimator, :func:`fit_wide` turns a wide panel into a
:class:`~models.curves.CurveSet`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import lsq_linear
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm import tqdm

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import CurveError
from roiste.models.executor import Executor
from roiste.models.fit.baseline import PROFILE_WEEKS, DemandIndex, media_scale, week_index
from roiste.models.fit.limits import MIN_TRAIN_WEEKS
from roiste.models.fit.mmm_search import (
    ChannelSpec,
    candidates,
    media_features,
    nonneg_normal_solve,
    refine,
    searchable_adstocks,
    start_spec,
    symmetric_solve,
)
from roiste.models.fit.mmm_validation import (
    FORM_CHOICE,
    PENALTY_CHOICE,
    FitSummary,
    MediaForm,
    WeakChannelWarning,
    block_bootstrap,
    choose_media_form,
    choose_penalty,
    decomposition_warnings,
    low_spend_warning,
)
from roiste.models.fit.search import adstocked, check_media_form
from roiste.models.transforms import SATURATIONS, Adstock, FloatArray, Saturation

__all__ = [
    "ChannelSpec",
    "MarketingMixRegressor",
    "WeakChannelWarning",
    "adstocked",
    "fit_wide",
    "media_features",
    "nonneg_normal_solve",
    "wide_design",
]

WEEKS_PER_YEAR = 365.25 / 7.0


class MarketingMixRegressor(RegressorMixin, BaseEstimator):
    """Baseline + controls + saturated, adstocked media; media coefficients non-negative.

    ``X`` holds one row per week: the first ``n_channels`` columns are media spend (>= 0), the
    remaining columns are controls, except ``time_column`` (a week counter, e.g. weeks since
    the first week) which drives the trend and the yearly seasonality.

    Parameters
    ----------
    n_channels : int, default=1
        Number of leading spend columns.
    time_column : int or None, default=None
        Index of the week-counter column; ``None`` fits no trend and no seasonality.
    adstock : {"geometric", "weibull"}, default="geometric"
        Carry-over family of every channel.
    families : sequence of str, default=("logistic",)
        Saturation families each channel may take (registered names); chosen per channel.
    trend : bool, default=True
        Fit a linear trend (needs ``time_column``).
    trend_knots : int, default=0
        Hinges of a piecewise-linear trend, evenly spaced over the training weeks and
        ridge-penalised like the other baseline terms (0: a straight line).  Beyond the
        training weeks the trend holds its last value (no extrapolated growth or decline).
    seasonality : int, default=2
        Order of the yearly Fourier seasonality (0: none; needs ``time_column``).
    ridge : float, default=1e-3
        Ridge penalty: times each baseline or control column's sum of squares (scale-free),
        times the number of weeks for media coefficients (features in ``[0, 1)``); none on
        the intercept.
    control_groups : sequence of sequence of int, default=()
        Column indices of indicator controls that are levels of one categorical (events,
        holidays).  Their effects are partially pooled: a shared effect plus level deviations
        shrunk by ``pool_ridge``, so a level never seen in training is forecast with the
        shared effect instead of none.
    pool_ridge : float, default=1.0
        Penalty on the level deviations, in units of one week's squared (standardised) target:
        a level seen in one week keeps ``1 / (1 + pool_ridge)`` of its own deviation.
    positive_intercept : bool, default=True
        Keep the intercept (the baseline at mean controls and mid-season) non-negative, so
        that always-on channels cannot claim more than the whole target.
    k_bounds : tuple of float, default=(0.1, 10.0)
        Half-saturation spend as multiples of the channel's mean adstocked spend.
    sweeps : int, default=3
        Maximum coordinate-descent sweeps over the channels.
    refine : bool, default=True
        Refine the continuous parameters jointly after the grid search.
    progress : bool, default=False
        Show a progress bar over the search.
    demand : DemandIndex or None, default=None
        A seasonal demand index ``d``: the baseline's columns (intercept, trend, controls) are
        multiplied by ``d_t`` and every channel's media term by ``1 - m + m d_t`` (the
        demand-scaled form; give ``seasonality=0``, the index carries the season).  None: the
        media are added to the baseline.
    demand_share : float, default=0.0
        ``m``, the share of the media effect that scales with demand.
    week_origin : float, default=0.0
        Week index of ``time_column == 0`` on the index's calendar
        (:func:`~models.fit.baseline.week_index` of the first week).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 10, size=(120, 1))
    >>> y = 5.0 + 3.0 * x[:, 0] / (x[:, 0] + 4.0) + rng.normal(0, 0.01, 120)
    >>> m = MarketingMixRegressor(families=("michaelis_menten",)).fit(x, y)
    >>> bool(m.score(x, y) > 0.95)
    True
    """

    def __init__(
        self,
        *,
        n_channels: int = 1,
        time_column: int | None = None,
        adstock: str = "geometric",
        families: Sequence[str] = ("logistic",),
        trend: bool = True,
        trend_knots: int = 0,
        seasonality: int = 2,
        ridge: float = 1e-3,
        control_groups: Sequence[Sequence[int]] = (),
        pool_ridge: float = 1.0,
        positive_intercept: bool = True,
        k_bounds: tuple[float, float] = (0.1, 10.0),
        sweeps: int = 3,
        refine: bool = True,
        progress: bool = False,
        demand: DemandIndex | None = None,
        demand_share: float = 0.0,
        week_origin: float = 0.0,
    ) -> None:
        self.n_channels = n_channels
        self.time_column = time_column
        self.adstock = adstock
        self.families = families
        self.trend = trend
        self.trend_knots = trend_knots
        self.seasonality = seasonality
        self.ridge = ridge
        self.control_groups = control_groups
        self.pool_ridge = pool_ridge
        self.positive_intercept = positive_intercept
        self.k_bounds = k_bounds
        self.sweeps = sweeps
        self.refine = refine
        self.progress = progress
        self.demand = demand
        self.demand_share = demand_share
        self.week_origin = week_origin

    # -- design ----------------------------------------------------------------------------
    def _check_params(self, n_features: int) -> None:
        if self.adstock not in searchable_adstocks():
            raise ValueError(f"adstock {self.adstock!r} is not searchable; use one of {searchable_adstocks()}")
        unknown = [f for f in self.families if f not in SATURATIONS]
        if unknown or not self.families:
            raise ValueError(f"families {unknown or '[]'} are not registered; known: {sorted(SATURATIONS)}")
        if not 1 <= self.n_channels <= n_features:
            raise ValueError(f"n_channels={self.n_channels} must lie in 1..{n_features}")
        tc = self.time_column
        if tc is not None and not (self.n_channels <= tc < n_features):
            raise ValueError(f"time_column={tc} must index a non-spend column (< {n_features})")
        ctrl = set(self._control_index(n_features))
        for g in self.control_groups:
            if not g or not set(g) <= ctrl:
                raise ValueError(f"control_groups entry {list(g)} must list control columns of X")
        lo, hi = self.k_bounds
        if not 0 < lo < hi:
            raise ValueError(f"k_bounds must satisfy 0 < low < high, got {self.k_bounds}")

    def _control_index(self, n_features: int) -> list[int]:
        return [j for j in range(self.n_channels, n_features) if j != self.time_column]

    def _split(self, X: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        spend = X[:, : self.n_channels]
        t = X[:, self.time_column] if self.time_column is not None else None
        return spend, X[:, self._control_index(X.shape[1])], t

    def _group_positions(self, n_features: int) -> list[list[int]]:
        """Positions of each pooled group among the control columns."""
        pos = {j: i for i, j in enumerate(self._control_index(n_features))}
        return [[pos[j] for j in g] for g in self.control_groups]

    def _demand_at(self, t: FloatArray | None, demand: DemandIndex | None = None) -> FloatArray | None:
        """``d_t`` of ``demand`` (default: the model's) at week counters ``t`` (None: no index)."""
        d = demand if demand is not None else self.demand
        if d is None or t is None:
            return None
        return d.at(np.asarray(t, dtype=float) + self.week_origin)

    def media_multiplier(self, t: FloatArray | None, demand: DemandIndex | None = None) -> FloatArray | None:
        """``1 - m + m d_t`` at week counters ``t`` (None in the additive form)."""
        d = self._demand_at(t, demand)
        return None if d is None or self.demand_share == 0.0 else media_scale(d, self.demand_share)

    def _base_design(self, controls: FloatArray, t: FloatArray | None, demand: DemandIndex | None = None,
                     scaled: bool = True) -> FloatArray:
        """Intercept, trend, Fourier terms (the baseline), then controls and pooled sums; times
        ``d_t`` in the demand-scaled form (unless not ``scaled``)."""
        cols = [np.ones(len(controls))]
        if t is not None:
            if self.trend:
                u = np.clip((t - self.t_origin_) / self.t_span_, 0.0, 1.0)
                cols.append(u)
                cols += [np.maximum(np.minimum(u, 1.0) - q, 0.0) for q in self.knots_]
            for h in range(1, self.seasonality + 1):
                w = 2.0 * math.pi * h * t / WEEKS_PER_YEAR
                cols += [np.sin(w), np.cos(w)]
        cols += list(((controls - self.ctrl_mean_) / self.ctrl_scale_).T)
        cols += [controls[:, g].sum(axis=1) for g in self.groups_]
        B = np.column_stack(cols)
        d = self._demand_at(t, demand) if scaled else None
        return B if d is None else B * d[:, None]

    # -- linear solve ------------------------------------------------------------------------
    def _base_penalty(self, B: FloatArray, ridge: float) -> FloatArray:
        """Ridge of the baseline and control columns of ``B``: ``ridge`` times each column's sum
        of squares (scale-free), none on the intercept, the pooling penalty on level deviations."""
        pen = ridge * np.maximum((B * B).sum(axis=0), 1e-12)
        pen[0] = 0.0
        pooled = sorted({i for g in self.groups_ for i in g})
        pen[[self.n_baseline_ + i for i in pooled]] = self.pool_ridge
        return np.asarray(pen, dtype=float)

    def _solve(self, Z: FloatArray, y: FloatArray, n_media: int) -> FloatArray:
        """Ridge least squares with the last ``n_media`` coefficients kept >= 0."""
        pen = np.concatenate([self.pen_base_, np.full(n_media, self.ridge * len(y))])
        return self._bounded_solve(Z, y, pen, n_media)

    def _bounded_solve(self, Z: FloatArray, y: FloatArray, pen: FloatArray, n_media: int) -> FloatArray:
        p = Z.shape[1]
        A = Z.T @ Z + np.diag(pen)
        c = Z.T @ y
        b = symmetric_solve(A, c)
        bounded = np.zeros(p, dtype=bool)
        bounded[p - n_media :] = True
        bounded[0] = self.positive_intercept
        if not bounded.any() or b[bounded].min() >= 0.0:
            return b
        nb = nonneg_normal_solve(A, c, bounded)
        if nb is not None:
            return nb
        lower = np.where(bounded, 0.0, -np.inf)  # fallback if the active set cycles
        Za = np.vstack([Z, np.diag(np.sqrt(pen))])
        ya = np.concatenate([y, np.zeros(p)])
        res = lsq_linear(Za, ya, bounds=(lower, np.full(p, np.inf)), method="bvls")
        return np.asarray(res.x, dtype=float)

    def _criterion(self, rss: float, n: int, n_hyper: int) -> float:
        return n * math.log(max(rss, 1e-300) / n) + 2.0 * n_hyper

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None) -> MarketingMixRegressor:
        """Search each channel's adstock and saturation, then solve the coefficients.

        Parameters
        ----------
        X : array-like of shape (n_weeks, n_features)
            Consecutive weeks: spend columns first, then controls and the week counter.
        y : array-like of shape (n_weeks,)
            The target (revenue, sales) of each week.
        sample_weight : array-like of shape (n_weeks,), optional
            Non-negative week weights (the bootstrap passes how often each week was drawn).

        Returns
        -------
        self : MarketingMixRegressor
        """
        Xa, ya = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        sw = np.ones(len(ya)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if sw.shape != ya.shape or (sw < 0).any():
            raise ValueError("sample_weight must hold one non-negative weight per row")
        self._check_params(Xa.shape[1])
        spend, controls, t = self._split(Xa)
        if (spend < 0).any():
            r, c = np.argwhere(spend < 0)[0]
            raise CurveError(f"spend column {c} has a negative value in row {r}")
        n = len(ya)
        if t is not None:
            self.t_origin_ = float(t.min())
            self.t_span_ = float(max(t.max() - t.min(), 1.0))
        self.knots_ = [(i + 1) / (self.trend_knots + 1) for i in range(self.trend_knots)]
        self.groups_ = self._group_positions(Xa.shape[1])
        pooled = sorted({i for g in self.groups_ for i in g})
        self.ctrl_mean_ = controls.mean(axis=0)
        sd = controls.std(axis=0)
        self.ctrl_scale_ = np.where(sd > 0, sd, 1.0)
        self.ctrl_mean_[pooled] = 0.0
        self.ctrl_scale_[pooled] = 1.0
        self.y_scale_ = float(ya.std()) or 1.0
        ys = ya / self.y_scale_
        B = self._base_design(controls, t)
        self.n_baseline_ = B.shape[1] - controls.shape[1] - len(self.groups_)
        self.pen_base_ = self._base_penalty(B, self.ridge)
        C = self.n_channels
        if self.demand is not None and t is None:
            raise ValueError("a demand index needs time_column")
        mult = self.media_multiplier(t)
        scale = np.ones(n) if mult is None else mult
        for c in range(C):
            if spend[:, c].max() <= 0:
                raise CurveError(f"spend column {c} is zero in every training week; its effect cannot be estimated")

        refs: dict[tuple[int, tuple[tuple[str, float], ...]], float] = {}

        def feature(c: int, spec: ChannelSpec) -> FloatArray:
            key = (c, spec.adstock_params)
            ad = spec.make_adstock()
            a = adstocked(spend[:, c], ad)
            if key not in refs:
                refs[key] = float(a.mean())
            sat = SATURATIONS[spec.family].from_scale(spec.k_mult * refs[key], **dict(spec.shape))
            return sat.value(a) * scale if mult is not None else sat.value(a)

        rw = np.sqrt(sw)

        def evaluate(F: FloatArray, specs: list[ChannelSpec]) -> tuple[float, FloatArray]:
            Z = np.hstack([B, F]) * rw[:, None]
            b = self._solve(Z, ys * rw, C)
            resid = ys * rw - Z @ b
            n_hyper = sum(s.n_params() for s in specs)
            return self._criterion(float(resid @ resid), n, n_hyper), resid

        specs = [start_spec(self.adstock, self.families) for _ in range(C)]
        F = np.column_stack([feature(c, s) for c, s in enumerate(specs)])
        best, _ = evaluate(F, specs)
        grid = candidates(self.adstock, self.families, self.k_bounds)
        bar = tqdm(total=self.sweeps * C, desc="mmm search", disable=not self.progress, leave=False)
        for _sweep in range(self.sweeps):
            changed = False
            for c in range(C):
                for cand in grid:
                    trial = [*specs[:c], cand, *specs[c + 1 :]]
                    Fc = F.copy()
                    Fc[:, c] = feature(c, cand)
                    crit, _ = evaluate(Fc, trial)
                    if crit < best - 1e-9:
                        best, specs, F, changed = crit, trial, Fc, True
                bar.update(1)
            if not changed:
                break
        bar.close()
        if self.refine:
            specs, F, best = refine(specs, F, best, self.k_bounds, feature, evaluate)

        Z = np.hstack([B, F])
        b = self._solve(Z * rw[:, None], ys * rw, C)
        self.specs_ = specs
        self.criterion_ = best
        self._store(b, specs, spend, refs)
        self.history_ = spend[-_max_lag(self.adstocks_) :].copy()
        self.t_last_ = float(t[-1]) if t is not None else None
        ahead = self.media_multiplier(None if t is None else t[-1] + np.arange(1.0, PROFILE_WEEKS + 1.0))
        self.year_scale_ = 1.0 if ahead is None else float(np.mean(ahead))
        resid = ys - Z @ b
        self.r2_train_ = 1.0 - float(resid @ resid) / max(float(((ys - ys.mean()) ** 2).sum()), 1e-300)
        self._warn_weak(spend)
        return self

    def _store(self, b: FloatArray, specs: list[ChannelSpec], spend: FloatArray, refs: dict[Any, float]) -> None:
        C = self.n_channels
        p_base = len(b) - C
        self.adstocks_: list[Adstock] = []
        self.saturations_: list[Saturation] = []
        for c, s in enumerate(specs):
            ad = s.make_adstock()
            ref = refs.get((c, s.adstock_params))
            if ref is None:
                ref = float(adstocked(spend[:, c], ad).mean())
            self.adstocks_.append(ad)
            self.saturations_.append(SATURATIONS[s.family].from_scale(s.k_mult * ref, **dict(s.shape)))
        self.coef_media_ = b[p_base:] * self.y_scale_
        self.intercept_ = float(b[0] * self.y_scale_)
        self.coef_base_ = b[:p_base] * self.y_scale_  # intercept, trend, Fourier, controls

    def _warn_weak(self, spend: FloatArray) -> None:
        mean = spend.mean(axis=0)
        cv = np.where(mean > 0, spend.std(axis=0) / np.where(mean > 0, mean, 1.0), 0.0)
        self.weak_channels_ = [int(c) for c in np.nonzero(cv < 0.05)[0]]
        if self.weak_channels_:
            warnings.warn(
                f"spend columns {self.weak_channels_} barely vary (coefficient of variation < 0.05); "
                "their curves are weakly identified",
                WeakChannelWarning,
                stacklevel=3,
            )

    def control_effects(self) -> FloatArray:
        """Effect of one unit of each control column on the target (pooled levels: shared + own)."""
        check_is_fitted(self, "coef_media_")
        nb, n_ctrl = self.n_baseline_, len(self.ctrl_scale_)
        eff = self.coef_base_[nb : nb + n_ctrl] / self.ctrl_scale_
        for i, g in enumerate(self.groups_):
            eff[g] += self.coef_base_[nb + n_ctrl + i]
        return np.asarray(eff, dtype=float)

    def design(self, X: ArrayLike, demand: DemandIndex | None = None) -> FloatArray:
        """The linear design of the fitted hyperparameters (baseline, controls, media), unweighted.

        ``demand`` replaces the model's demand index (a demand-scaled model only).
        """
        check_is_fitted(self, "coef_media_")
        Xa = validate_data(self, X, dtype=np.float64, reset=False)
        spend, controls, t = self._split(Xa)
        return np.hstack([self._base_design(controls, t, demand), self._media(spend, t, demand)])

    def refit_coef(self, X: ArrayLike, y: ArrayLike, rows: ArrayLike, ridge: float,
                   demand: DemandIndex | None = None) -> tuple[FloatArray, FloatArray]:
        """The design of every row of ``X`` and the coefficients re-solved on the ``rows``.

        The adstock and saturation stay as fitted (adstock runs over all weeks of ``X``); only
        the linear coefficients are solved again, at penalty ``ridge``, with the design of
        ``demand`` (default: the model's own index).  ``design @ coef`` is the prediction.
        """
        D, b = self._resolve(X, y, rows, ridge, demand)
        return D, np.asarray(b * self.y_scale_, dtype=float)

    def _resolve(self, X: ArrayLike, y: ArrayLike, rows: ArrayLike, ridge: float,
                 demand: DemandIndex | None = None) -> tuple[FloatArray, FloatArray]:
        check_is_fitted(self, "coef_media_")
        D = self.design(X, demand)
        C = self.n_channels
        keep = np.asarray(rows, dtype=bool)
        Z = D[keep]
        pen = np.concatenate([self._base_penalty(Z[:, :-C], ridge), np.full(C, ridge * len(Z))])
        ys = np.asarray(y, dtype=float)[keep] / self.y_scale_
        return D, self._bounded_solve(Z, ys, pen, C)

    def refit_linear(self, X: ArrayLike, y: ArrayLike, rows: ArrayLike, ridge: float) -> FloatArray:
        """Predict every row of ``X`` from coefficients re-solved on the ``rows`` (a boolean mask).

        The adstock and saturation stay as fitted (adstock runs over all weeks of ``X``); only
        the linear coefficients are solved again, at penalty ``ridge``.  This is what
        cross-validation of the penalty runs with each fold's weeks left out.
        """
        D, b = self._resolve(X, y, rows, ridge)
        return np.asarray(D @ b * self.y_scale_, dtype=float)

    def level_and_media(self, X: ArrayLike, coef: FloatArray | None = None) -> tuple[FloatArray, FloatArray]:
        """The baseline's level and the media term of each week, neither times the season.

        The level is intercept, trend and controls (no Fourier terms, not times ``d_t``); the
        media term is the sum over channels of ``beta_c * saturation_c(adstock_c(x_c))``
        (not times ``1 - m + m d_t``).  ``coef`` are coefficients of :meth:`design`'s columns
        (default: the fitted ones).  What the demand index is read from
        (:func:`~models.fit.baseline.demand_ratio`).
        """
        check_is_fitted(self, "coef_media_")
        Xa = validate_data(self, X, dtype=np.float64, reset=False)
        spend, controls, t = self._split(Xa)
        b = np.concatenate([self.coef_base_, self.coef_media_]) if coef is None else np.asarray(coef)
        B = self._base_design(controls, t, scaled=False)
        seasonal = np.zeros(B.shape[1], dtype=bool)
        if t is not None:
            first = 1 + (1 + len(self.knots_) if self.trend else 0)
            seasonal[first : first + 2 * self.seasonality] = True
        C = self.n_channels
        level = B[:, ~seasonal] @ b[: B.shape[1]][~seasonal]
        media = self._media(spend, t, scaled=False) @ b[-C:]
        return np.asarray(level, dtype=float), np.asarray(media, dtype=float)

    # -- predict -------------------------------------------------------------------------------
    def _media(self, spend: FloatArray, t: FloatArray | None, demand: DemandIndex | None = None,
               scaled: bool = True) -> FloatArray:
        """Saturated adstocked spend, warmed up with the training tail when X follows it; times
        ``1 - m + m d_t`` in the demand-scaled form (unless not ``scaled``)."""
        warm = self.t_last_ is not None and t is not None and len(t) > 0 and abs(t[0] - self.t_last_ - 1.0) < 1e-9
        xs = np.vstack([self.history_, spend]) if warm else spend
        cols = [sat.value(adstocked(xs[:, c], ad)) for c, (ad, sat) in enumerate(zip(self.adstocks_, self.saturations_, strict=True))]
        out = np.column_stack(cols)[-len(spend) :]
        mult = self.media_multiplier(t, demand) if scaled else None
        return out if mult is None else out * mult[:, None]

    def decompose(self, X: ArrayLike) -> dict[str, FloatArray]:
        """Per-week parts of the prediction: ``baseline``, ``controls`` and ``media`` (weeks x channels)."""
        check_is_fitted(self, "coef_media_")
        Xa = validate_data(self, X, dtype=np.float64, reset=False)
        spend, controls, t = self._split(Xa)
        B = self._base_design(controls, t)
        nb = self.n_baseline_
        base = B[:, :nb] @ self.coef_base_[:nb]
        ctrl = B[:, nb:] @ self.coef_base_[nb:]
        media = self._media(spend, t) * self.coef_media_
        return {"baseline": base, "controls": ctrl, "media": media}

    def predict(self, X: ArrayLike) -> FloatArray:
        """Expected target of each week of ``X``."""
        parts = self.decompose(X)
        return np.asarray(parts["baseline"] + parts["controls"] + parts["media"].sum(axis=1))


def _max_lag(adstocks: Sequence[Adstock]) -> int:
    return max(min(len(a.weights()), 104) for a in adstocks)


# --------------------------------------------------------------------------- wide panels

RECENT_WEEKS = 8
BLOCK_WEEKS = 8
KNOT_WEEKS = 26  # one trend hinge per half year of training weeks
WEEK_COLUMN = "__week__"
DEMAND_HARMONICS = 2  # yearly harmonics of the demand index, as the additive baseline's Fourier terms


def _seasonal_effect(model: MarketingMixRegressor, form: MediaForm, last_week: Any) -> dict[str, Any]:
    """The media multipliers of the 52 weeks after ``last_week`` over their mean (the weekly
    plans' seasonal index), as the per-channel fit keeps them; empty when additive."""
    if form.demand is None or model.t_last_ is None:
        return {}
    ahead = model.media_multiplier(model.t_last_ + np.arange(1.0, PROFILE_WEEKS + 1.0))
    if ahead is None:
        return {}
    start = pd.Timestamp(last_week) + pd.Timedelta(weeks=1)
    return {
        "start": start.strftime("%Y-%m-%d"),
        "weekly": [float(v) for v in ahead / model.year_scale_],
        "year_scale": float(model.year_scale_),
        "demand_harmonics": list(form.demand.coef),
    }


def wide_design(panel: Any) -> tuple[pd.DataFrame, list[list[int]]]:
    """The estimator's ``X`` of a wide panel (spend, controls, week counter) and pooled groups.

    Indicator controls named ``name=level`` that share ``name`` form one pooled group.
    """
    controls = panel.controls if panel.controls is not None else pd.DataFrame(index=panel.weeks)
    X = pd.concat([panel.spend, controls], axis=1)
    X.columns = [str(c) for c in X.columns]
    X[WEEK_COLUMN] = np.asarray((panel.weeks - panel.weeks[0]).days, dtype=float) / 7.0
    C = len(panel.channels)
    by_name: dict[str, list[int]] = {}
    for j, name in enumerate(controls.columns):
        if "=" in str(name):
            by_name.setdefault(str(name).split("=", 1)[0], []).append(C + j)
    return X, [g for g in by_name.values()]


def fit_wide(
    panel: Any,
    *,
    holdout_weeks: int = 0,
    bootstrap: int = 0,
    seed: int = 0,
    progress: bool = True,
    families: Sequence[str] | None = None,
    adstock: str = "geometric",
    ridge: float | None = None,
    executor: Executor | None = None,
    media_form: str = "auto",
) -> CurveSet:
    """Fit the marketing-mix model of a wide panel and return one response curve per channel.

    Parameters
    ----------
    panel : models.panel.Panel
        A wide-layout panel (target, one spend column per channel, optional controls).
    holdout_weeks : int, default=0
        Fit on all weeks but the last ``holdout_weeks``; forecast those with their actual
        spend and controls and report ``r2_holdout`` and ``wape_holdout``.  The returned
        curves are the ones that forecast (fitted on the training weeks).
    bootstrap : int, default=0
        Number of moving-block bootstrap draws over weeks (blocks of 8 weeks).  Each draw
        refits the whole model, adstock and saturation search included.
    seed : int, default=0
        Seed of the bootstrap.
    progress : bool, default=True
        Progress bars over the search and the bootstrap.
    families : sequence of str, optional
        Saturation families each channel may take (default: logistic only).
    adstock : {"geometric", "weibull"}, default="geometric"
        Carry-over family of every channel (Weibull allows a delayed peak).
    ridge : float, optional
        Ridge penalty of the coefficients (see :class:`MarketingMixRegressor`).  By default it
        is chosen among :data:`~models.fit.mmm_validation.PENALTY_GRID` by time-series
        cross-validation on the training weeks (:func:`~models.fit.mmm_validation.choose_penalty`).
    executor : Executor, optional
        Where the bootstrap refits run, one task each (default: in this process); the draws
        are the same bytes whichever runs them.
    media_form : {"auto", "additive", "half_demand", "demand"}, default "auto"
        Every channel's media term added to the baseline ("additive"), or the baseline
        ``level_t d_t`` and the media times ``1 - m + m d_t`` (one demand index ``d`` of the
        target, ``m`` of :data:`~models.fit.search.DEMAND_SHARES`); "auto" chooses by
        time-series cross-validated forecast error on the training weeks
        (:func:`~models.fit.mmm_validation.choose_media_form`).  A demand-scaled curve's
        ``response(w)`` is the steady-state week averaged over the year after the training
        weeks, and its diagnostics keep the weekly multipliers (``seasonal_effect``).

    Returns
    -------
    CurveSet
        Curves with ``diagnostics`` (``r2_train``, ``r2_holdout``, ``wape_holdout``, the chosen
        ``ridge`` and its ``ridge_cv`` scores, ``media_form`` and its ``form_cv`` scores,
        ``warnings``: sentences naming what is implausible or unidentified) and ``meta``
        (baseline and control coefficients, contribution shares, hyperparameters).
    """
    if getattr(panel, "layout", "wide") != "wide" or panel.target is None:
        raise CurveError(f"{panel.source}: the marketing-mix fit needs a wide panel with a target")
    n = int(panel.n_weeks)
    C = len(panel.channels)
    if holdout_weeks < 0 or n - holdout_weeks < max(MIN_TRAIN_WEEKS, 2 * C + 8):
        raise CurveError(
            f"{panel.source}: holdout_weeks={holdout_weeks} leaves {n - holdout_weeks} training weeks "
            f"of {n}; at least {max(MIN_TRAIN_WEEKS, 2 * C + 8)} are needed"
        )
    check_media_form(media_form, f"{panel.source}: ")
    X, groups = wide_design(panel)
    y = panel.target.to_numpy(dtype=float)
    n_train = n - holdout_weeks
    idle = [ch for ch in panel.channels if float(panel.spend[ch].iloc[:n_train].max()) <= 0.0]
    if idle:
        raise CurveError(f"{panel.source}: spend column {idle[0]!r} is zero in every training week; no curve can be fitted")

    origin = float(week_index(panel.weeks[:1])[0])

    def make_model(penalty: float, demand: DemandIndex | None = None, share: float = 0.0) -> MarketingMixRegressor:
        return MarketingMixRegressor(
            n_channels=C,
            time_column=X.shape[1] - 1,
            families=tuple(families) if families else ("logistic",),
            adstock=adstock,
            control_groups=groups,
            trend_knots=max(0, n_train // KNOT_WEEKS - 1),
            ridge=penalty,
            progress=progress,
            seasonality=2 if demand is None else 0,  # the demand index carries the season
            demand=demand,
            demand_share=share if demand is not None else 0.0,
            week_origin=origin if demand is not None else 0.0,
        )

    Xv = X.to_numpy()
    cv_scores: dict[float, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakChannelWarning)
        if ridge is None:
            chosen, ridge, cv_scores = choose_penalty(make_model, Xv[:n_train], y[:n_train],
                                                      min_train=max(MIN_TRAIN_WEEKS, 2 * C + 8))
            model = cast(MarketingMixRegressor, chosen)
        else:
            model = make_model(ridge).fit(Xv[:n_train], y[:n_train])
        penalty = float(ridge)

        def fit_scaled(share: float, demand: DemandIndex) -> MarketingMixRegressor:
            return make_model(penalty, demand, share).fit(Xv[:n_train], y[:n_train])

        form = choose_media_form(model, fit_scaled, Xv[:n_train], y[:n_train],
                                 Xv[:n_train, -1] + origin, penalty, DEMAND_HARMONICS, media_form)
        model = cast(MarketingMixRegressor, form.model)
    if model.weak_channels_:
        names = [panel.channels[i] for i in model.weak_channels_]
        warnings.warn(f"{panel.source}: spend of {names} barely varies (coefficient of variation "
                      "< 0.05); those curves are weakly identified", WeakChannelWarning, stacklevel=2)

    diagnostics: dict[str, Any] = {
        "model": "mmm",
        "r2_train": float(model.r2_train_),
        "aic": float(model.criterion_),
        "n_weeks_train": n_train,
        "train_start": str(panel.weeks[0].date()),
        "train_end": str(panel.weeks[n_train - 1].date()),
        "ridge": float(ridge),
        "ridge_cv": {f"{r:g}": v for r, v in cv_scores.items()},
        "ridge_choice": PENALTY_CHOICE if cv_scores else "given",
        "media_form": form.name,
        "demand_share": form.share,
        "form_cv": dict(sorted(form.cv.items())),
        "form_choice": FORM_CHOICE if form.cv else ("given" if media_form != "auto" else
                                                    "additive: too few weeks to cross-validate"),
    }
    seasonal = _seasonal_effect(model, form, panel.weeks[n_train - 1])
    if seasonal:
        diagnostics["seasonal_effect"] = seasonal
    act = pred = None
    if holdout_weeks:
        pred = model.predict(Xv)[n_train:]
        act = y[n_train:]
        sst = float(((act - act.mean()) ** 2).sum())
        diagnostics["r2_holdout"] = 1.0 - float(((act - pred) ** 2).sum()) / sst if sst > 0 else float("nan")
        diagnostics["wape_holdout"] = float(np.abs(act - pred).sum() / max(np.abs(act).sum(), 1e-300))
        diagnostics["n_weeks_holdout"] = holdout_weeks

    parts = model.decompose(Xv[:n_train])
    contrib = parts["media"].sum(axis=0)
    total_media = float(contrib.sum())
    spend_weeks = panel.spend.iloc[:n_train].to_numpy(dtype=float)
    spend_train = spend_weeks.sum(axis=0)
    diagnostics["warnings"] = decomposition_warnings(FitSummary(
        channels=list(panel.channels), spend=spend_weeks, target=y[:n_train], contribution=contrib,
        coef_media=model.coef_media_, k_mult=np.array([s.k_mult for s in model.specs_]),
        k_bounds=model.k_bounds, intercept=model.intercept_,
        positive_intercept=model.positive_intercept, r2_holdout=diagnostics.get("r2_holdout"),
        holdout=act, holdout_pred=pred, weak=model.weak_channels_,
    ))  # fmt: skip
    draws = block_bootstrap(model, Xv[:n_train], y[:n_train], bootstrap, seed, progress, BLOCK_WEEKS,
                            executor=executor)
    recent = panel.spend.iloc[-RECENT_WEEKS:].mean(axis=0)
    curves = []
    for c, ch in enumerate(panel.channels):
        # steady-state week averaged over the coming year (year_scale_ is 1 when additive)
        comp = Component(float(model.coef_media_[c]) * model.year_scale_, model.saturations_[c],
                         model.adstocks_[c])
        curves.append(
            ResponseCurve(
                channel=ch,
                revenue=comp,
                recent_spend=float(recent[ch]),
                draws=tuple(d[c] for d in draws),
                diagnostics={
                    "contribution": float(contrib[c]),
                    "contribution_share": float(contrib[c] / total_media) if total_media > 0 else 0.0,
                    "roas_train": float(contrib[c] / spend_train[c]) if spend_train[c] > 0 else 0.0,
                    "weakly_identified": c in model.weak_channels_,
                    "min_spend_share": float(spend_weeks[:, c].min() / spend_weeks[:, c].mean()),
                    "media_form": form.name,
                    "demand_share": form.share,
                    **({"seasonal_effect": seasonal} if seasonal else {}),
                    **({} if c in model.weak_channels_ else low_spend_warning(ch, spend_weeks[:, c])),
                },
            )
        )
    nb = model.n_baseline_
    base_names = ["intercept", "trend", *[f"trend_after_{q:.3g}" for q in model.knots_],
                  *[f"{f}_{h}" for h in range(1, model.seasonality + 1) for f in ("sin", "cos")]]
    meta = {
        "fit": "marketing-mix (wide layout)",
        "media_form": form.name,
        "source": str(panel.source),
        "sha256": str(panel.sha256),
        "target": str(panel.target.name),
        "baseline": dict(zip(base_names, [float(v) for v in model.coef_base_[:nb]], strict=True)),
        "baseline_note": "intercept with controls at their training mean; trend per training span"
                         + ("; times the demand index" if form.demand is not None else ""),
        "controls": {str(k): float(v) for k, v in zip(X.columns[C:-1], model.control_effects(), strict=True)},
        "contribution_share": {ch: float(contrib[c] / total_media) if total_media > 0 else 0.0 for c, ch in enumerate(panel.channels)},
        "media_share_of_target": total_media / float(y[:n_train].sum()) if y[:n_train].sum() else 0.0,
        "bootstrap": {"draws": int(bootstrap), "block_weeks": BLOCK_WEEKS, "seed": seed,
                      "hyperparameters": "searched again in every draw"} if bootstrap else None,
    }
    return CurveSet(curves, diagnostics, meta)
