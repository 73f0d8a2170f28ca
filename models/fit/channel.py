"""Per-channel response-curve fits of the long panel.

The model of one channel's week ``t`` is

``revenue_t = baseline_t + beta * saturation(adstock(spend)_t)``, times noise,

with ``baseline_t`` = intercept + linear trend + yearly Fourier terms (+ a level shift when the
data show one) (+ the panel's controls, known events such as promotions, one coefficient each)
and ``beta >= 0`` (the *additive* form), or, when the media effect scales with
seasonal demand, ``revenue_t = level_t d_t + beta (1 - m + m d_t) saturation(...)`` with a demand
index ``d_t`` (exponential of yearly harmonics, mean 1 over a year; ``m`` 0.5 or 1) read from
the data by alternating least squares.  The form is chosen by time-series cross-validated
forecast error (a demand-scaled media term must forecast 2 % better) and recorded with the
errors in the diagnostics (``media_form``, ``form_cv``); a demand-scaled curve keeps the media
multipliers of the 52 weeks after the data (``seasonal_effect``), and its ``response(w)`` is the
weekly response averaged over those weeks.  Noise is treated as multiplicative: weighted least squares
with weights ``1 / mu_t**2`` from a preliminary linear fit, renewed once from the best
candidate of the grid, so a week's residual counts by its relative size.

Given the saturation family, its shape, its half-saturation spend ``k`` and the adstock, the
model is linear in (baseline coefficients, beta).  The fit profiles the linear part out
(variable projection): every candidate on a grid of families x shapes x adstock ``alpha`` x
``k`` is scored at once by one matrix product, ``beta`` kept between zero and the value that
would leave a negative baseline.  The number of harmonics is chosen by an information
criterion, the family by the likelihood (BIC); time-series cross-validation
(``TimeSeriesSplit``) reports each family's forecast error.  The family's best candidate is
refined continuously (bounded Nelder-Mead on the profiled residual sum of squares).  The
uncertainty comes from draws of the grid's candidates by their tempered profile likelihood
(:mod:`models.fit.bands`): where the data fit many curves about as well, the band spans them
and the diagnostics' ``warning`` names what the data cannot pin (the level or the shape of
the curve).  The search lives in :mod:`models.fit.search`, the baseline and demand index in
:mod:`models.fit.baseline`.

Three levels, as in scikit-learn: :func:`fit_channel` (arrays in, a
:class:`~models.curves.ResponseCurve` out), :class:`ChannelResponseRegressor` (the estimator)
and :func:`fit_long` / :func:`fit_panel_file` (a panel in, a :class:`~models.curves.CurveSet`
out).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from roiste.models.attribution.credit import attribution_meta
from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import CurveError
from roiste.models.executor import Executor
from roiste.models.experiments import Experiment, check_channels, lift_data, lift_predictions
from roiste.models.fit.bands import LEVEL_SPREAD, SLOPE_SPREAD, draw_spread
from roiste.models.fit.baseline import EPOCH, BaselineDesign, ControlTable, week_index
from roiste.models.fit.limits import (
    MIN_TRAIN_WEEKS,
    RATIO_WEEKS,
    channel_extras,
    min_train_weeks,
    panel_ratios,
    revenue_ratios,
)
from roiste.models.fit.mmm import fit_wide
from roiste.models.fit.search import RECENT_WEEKS, FitSettings, fit_arrays
from roiste.models.panel import read_panel
from roiste.models.transforms import Adstock, FloatArray

# --------------------------------------------------------------------------- the estimator


class ChannelResponseRegressor(RegressorMixin, BaseEstimator):
    """One channel's revenue from its weekly spend: baseline + ``beta * saturation(adstock)``.

    Parameters
    ----------
    family : str, default "auto"
        A registered saturation family, or ``"auto"`` to choose among all of them by BIC.
    adstock : "geometric", "auto" or Adstock, default "geometric"
        ``"geometric"`` searches the carry-over ``alpha`` in ``[0, 0.9]``; ``"auto"`` adds the
        ``fit_grid`` of every other adstock family (Weibull lag shapes); an ``Adstock``
        instance is used as given (not fitted).
    shape : dict, optional
        Fixed shape parameters of the family (e.g. ``{"s": 2.0}`` for Hill); searched if None.
    n_harmonics : int, default 3
        Yearly Fourier harmonics of the baseline (at most, with ``choose_harmonics``).
    choose_harmonics : bool, default True
        Choose 1 .. ``n_harmonics`` harmonics by an information criterion.
    level_shift : "auto", float or None, default "auto"
        ``"auto"`` adds a baseline level shift where the residuals show a strong one (sup-F
        test); a number puts it at that week index; None never does.
    cv_splits : int, default 4
        Folds of ``TimeSeriesSplit`` (13 test weeks each) that choose the family.
    noise : {"multiplicative", "additive"}, default "multiplicative"
        Multiplicative noise weights each week by ``1 / expected**2``.
    bootstrap : int, default 0
        Draws of the curve kept in ``draws_`` (profile likelihood over the whole grid,
        widened for residual autocorrelation).
    block_weeks : int, default 8
        Residual autocorrelation lags counted by the widening of the draws.
    random_state : int, default 0
        Seed of the bootstrap.
    media_form : {"auto", "additive", "demand"}, default "auto"
        The media term added to the baseline, or scaled by the seasonal demand index; "auto"
        chooses by cross-validated forecast error (see :class:`FitSettings`).
    controls : sequence of str, default ()
        Names of control columns (known events) that follow spend and week in ``X``: columns
        of the baseline, one coefficient each (last in ``baseline_coef_``).

    Attributes
    ----------
    component_ : Component
        The steady-state revenue component (``beta``, saturation, adstock).
    family_, alpha_, k_, beta_, shape_ : fitted nonlinear and linear parameters.
    baseline_coef_ : ndarray
        Intercept, trend, harmonics (and level shift) coefficients.
    baseline_design_ : BaselineDesign
        The baseline's columns (its ``n_harmonics`` is the chosen number).
    level_shift_week_ : float or None
        Week index (of ``X[:, 1]``) where the baseline level shifts.
    cv_scores_ : dict
        Cross-validated relative RMSE of each family.
    draws_ : list of Component
        Bootstrap draws.
    media_form_ : str
        The media form: "additive", "half_demand" or "demand" (baseline ``level_t d_t`` and
        media scaled by ``1 - m + m d_t``, ``m`` 0.5 or 1).
    form_cv_ : dict
        Cross-validated root mean squared (weighted) forecast error of each form.

    Notes
    -----
    ``X`` is ``(n_weeks, 1)`` spend, or ``(n_weeks, 2)`` spend and a week index (consecutive
    integers; the default is ``0..n-1``), or, with ``controls``, ``(n_weeks, 2 + k)``: spend,
    week index and the ``k`` controls (``predict`` needs their values in the weeks it is asked
    about).  ``predict`` continues the carry-over of the weeks seen in ``fit`` that come before
    the weeks it is asked about.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(50, 150, 120)
    >>> y = 200 + 300 * x / (x + 100) * np.exp(rng.normal(0, 0.01, 120))
    >>> est = ChannelResponseRegressor(family="michaelis_menten", adstock="geometric").fit(x[:, None], y)
    >>> bool(abs(est.component_.value(100.0) - 150) < 15)
    True
    """

    def __init__(
        self,
        *,
        family: str = "auto",
        adstock: str | Adstock = "geometric",
        shape: Mapping[str, float] | None = None,
        n_harmonics: int = 3,
        choose_harmonics: bool = True,
        level_shift: str | float | None = "auto",
        cv_splits: int = 4,
        noise: str = "multiplicative",
        bootstrap: int = 0,
        block_weeks: int = 8,
        random_state: int = 0,
        media_form: str = "auto",
        controls: Sequence[str] = (),
    ) -> None:
        self.family = family
        self.adstock = adstock
        self.shape = shape
        self.n_harmonics = n_harmonics
        self.choose_harmonics = choose_harmonics
        self.level_shift = level_shift
        self.cv_splits = cv_splits
        self.noise = noise
        self.bootstrap = bootstrap
        self.block_weeks = block_weeks
        self.random_state = random_state
        self.media_form = media_form
        self.controls = controls

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True  # spend is never negative
        return tags

    def _settings(self) -> FitSettings:
        return FitSettings(
            family=self.family, adstock=self.adstock, shape=self.shape,
            n_harmonics=self.n_harmonics, choose_harmonics=self.choose_harmonics,
            level_shift=self.level_shift,
            cv_splits=self.cv_splits, noise=self.noise, bootstrap=self.bootstrap,
            block_weeks=self.block_weeks, media_form=self.media_form,
        )  # fmt: skip

    def _columns(self, X: FloatArray) -> tuple[FloatArray, FloatArray]:
        k = len(self.controls)
        if k and X.shape[1] != 2 + k:
            raise ValueError(f"X should have {2 + k} columns (spend, week and {k} controls), "
                             f"got {X.shape[1]}")
        if not k and X.shape[1] not in (1, 2):
            raise ValueError(f"X should have 1 (spend) or 2 (spend, week) columns, got {X.shape[1]}")
        if np.any(X[:, 0] < 0):
            raise ValueError("X[:, 0] (spend) should be >= 0")
        t = X[:, 1] if X.shape[1] >= 2 else np.arange(len(X), dtype=float)
        return X[:, 0], t

    def _controls(self, X: FloatArray, t: FloatArray) -> ControlTable | None:
        if not self.controls:
            return None
        return ControlTable.of(list(self.controls), t, X[:, 2:])

    def _design_for(self, X: FloatArray, t: FloatArray) -> BaselineDesign:
        """The fitted baseline design, its controls' table extended by the weeks of ``X``."""
        design: BaselineDesign = self.fit_.design
        if design.controls is None:
            return design
        return design.with_controls(design.controls.extended(t, X[:, 2:]))

    def fit(self, X: ArrayLike, y: ArrayLike) -> ChannelResponseRegressor:
        """Fit the curve and baseline; returns self."""
        Xa, ya = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        Xf = np.asarray(Xa, dtype=float)
        x, t = self._columns(Xf)
        yv = np.asarray(ya, dtype=float)
        order = np.argsort(t, kind="stable")
        fit = fit_arrays(x[order], yv[order], t[order], self._settings(), self.random_state,
                         controls=self._controls(Xf, t))
        self.fit_ = fit
        self.component_ = fit.component
        self.family_ = fit.family
        self.alpha_ = fit.alpha
        self.k_ = fit.k
        self.beta_ = fit.beta
        self.shape_ = dict(fit.shape)
        self.baseline_coef_ = fit.theta
        self.baseline_design_ = fit.design
        self.level_shift_week_ = fit.design.shift_week
        self.cv_scores_ = dict(fit.cv_scores)
        self.draws_ = list(fit.draws)
        self.media_form_ = fit.form
        self.form_cv_ = dict(fit.form_cv)
        return self

    def predict(self, X: ArrayLike) -> FloatArray:
        """Expected revenue of the weeks in ``X`` at their spend."""
        check_is_fitted(self, "fit_")
        Xa = validate_data(self, X, dtype=np.float64, reset=False)
        Xf = np.asarray(Xa, dtype=float)
        x, t = self._columns(Xf)
        order = np.argsort(t, kind="stable")
        out = np.empty(len(t))
        fit = replace(self.fit_, design=self._design_for(Xf, t))
        out[order] = fit.predict(x[order], t[order])
        return out

    def baseline_matrix(self, X: ArrayLike) -> FloatArray:
        """The fitted baseline's columns at the weeks (and control values) of ``X``, in the
        order of ``baseline_coef_``."""
        check_is_fitted(self, "fit_")
        Xa = validate_data(self, X, dtype=np.float64, reset=False)
        Xf = np.asarray(Xa, dtype=float)
        _, t = self._columns(Xf)
        return self._design_for(Xf, t).matrix(t)


# --------------------------------------------------------------------------- channels, panels


def fit_channel(
    spend: ArrayLike,
    revenue: ArrayLike,
    weeks: Any,
    *,
    channel: str = "channel",
    visitors: ArrayLike | None = None,
    extras: Mapping[str, ArrayLike] | None = None,
    settings: FitSettings | None = None,
    seed: int = 0,
    experiments: Sequence[Experiment] = (),
    controls: pd.DataFrame | Mapping[str, ArrayLike] | None = None,
) -> ResponseCurve:
    """Fit one channel's response curve (and visitors curve) from weekly arrays.

    Parameters
    ----------
    spend, revenue : array-like
        Weekly spend and revenue of the channel, in week order.
    weeks : DatetimeIndex or sequence of dates
        The week starts.
    channel : str
        Name kept in the curve.
    visitors : array-like, optional
        Weekly visitors: fitted with the same model so RPV and marginal RPV are known.
    extras : mapping, optional
        ``orders``, ``new_customers``, ``new_customer_revenue``, ``returns`` for the ratios.
    settings : FitSettings, optional
        Fit settings (defaults: family chosen by cross-validation, geometric adstock).
    seed : int
        Seed of the bootstrap.
    experiments : sequence of Experiment
        The channel's lift tests (:mod:`roiste.models.experiments`): measurements of the curve
        in the likelihood.  The diagnostics' ``experiments`` say what each predicted without
        and with them, and how far they moved the marginal ROAS at recent spend.
    controls : DataFrame or mapping, optional
        Known events of the channel's weeks (promotions, holidays: the panel's controls, name
        -> weekly values in week order): columns of the baseline, one coefficient each, added
        in the additive form and times the demand index in the demand-scaled forms.  A
        control that is 0 in every week is left out.  The diagnostics' ``controls`` give each
        one's coefficient (revenue per unit of the control, at demand index 1).

    Returns
    -------
    ResponseCurve
    """
    settings = settings or FitSettings()
    x = np.asarray(spend, dtype=float)
    y = np.asarray(revenue, dtype=float)
    t = week_index(pd.DatetimeIndex(weeks))
    table = control_table(controls, t)
    ratios = revenue_ratios(y, {k: np.asarray(v, dtype=float) for k, v in (extras or {}).items()})
    lift = lift_data(experiments, ratios) if experiments else None
    fit = fit_arrays(x, y, t, settings, seed, lift, controls=table)
    vis = None
    if visitors is not None:
        # visitors only serve RPV: the family is chosen in-sample (no cross-validation)
        vfit = fit_arrays(x, np.asarray(visitors, dtype=float), t,
                           FitSettings(**{**settings.__dict__, "bootstrap": 0, "cv_splits": 0}),
                           controls=table)
        vis = vfit.component
    recent = float(np.nanmean(x[-RECENT_WEEKS:]))
    mean = float(np.nanmean(x))
    diag: dict[str, Any] = {
        "family": fit.family,
        "shape": dict(fit.shape),
        "alpha": fit.alpha,
        "k": fit.k,
        "cv_scores": dict(sorted(fit.cv_scores.items())),
        "r2_train": fit.r2_train,
        "n_harmonics": fit.design.n_harmonics if fit.demand is None else fit.demand.n_harmonics,
        "level_shift_week": None if fit.design.shift_week is None
        else (EPOCH + pd.Timedelta(weeks=fit.design.shift_week)).strftime("%Y-%m-%d"),
        "spend_cv": float(np.nanstd(x) / mean) if mean > 0 else 0.0,
        "n_weeks": len(x),
        "media_form": fit.form,
        "demand_share": fit.share,
        "form_cv": dict(sorted(fit.form_cv.items())),
    }
    # the weekly revenue and its relative noise: what a test of the channel must see through
    level = float(np.nanmean(y[-RATIO_WEEKS:]))
    noise = float(np.sqrt(fit.s2)) if settings.noise == "multiplicative" else (
        float(np.sqrt(fit.s2)) / level if level > 0 else float("nan"))
    diag.update(weekly_revenue=level, noise_sd=noise)
    if table is not None:
        k = len(table.names)
        diag["controls"] = {n: float(c) for n, c in zip(table.names, fit.theta[-k:], strict=True)}
    if lift is not None:
        point = FitSettings(**{**settings.__dict__, "bootstrap": 0})
        alone = fit_arrays(x, y, t, point, seed, controls=table)
        # with several tests, each one's own pull: the fit with that test alone
        each = ([fit_arrays(x, y, t, point, seed, lift.subset([j]), controls=table).component
                 for j in range(len(lift))] if len(lift) > 1 else [fit.component])
        diag["experiments"] = experiment_diagnostics(experiments, lift, alone.component,
                                                     fit.component, float(np.nanmean(x[-RECENT_WEEKS:])),
                                                     each)
        diag["experiments"].update(level=fit.level, level_sd=fit.level_sd,
                                   level_prior_sd=fit.level_prior)
    if fit.demand is not None:
        start, profile = fit.coming_year()
        diag["seasonal_effect"] = {
            "start": (EPOCH + pd.Timedelta(weeks=float(start[0]))).strftime("%Y-%m-%d"),
            "weekly": [float(v) for v in profile / fit.year_scale],
            "year_scale": fit.year_scale,
            "demand_harmonics": list(fit.demand.coef),
        }
    low = float(np.nanmin(x) / mean) if mean > 0 else 0.0
    diag["min_spend_share"] = low
    if diag["spend_cv"] < 0.1:
        diag["warning"] = "spend barely varies: the curve rests on its assumed shape"
    elif low > 0.3:
        diag["warning"] = ("spend never fell below 30 % of its mean: the slope is measured, the "
                           "level of the curve rests on its family")
    if fit.draws:
        unpinned = _identification(diag, fit.draws, fit.component, recent)
        if unpinned:
            diag["warning"] = "; ".join([*filter(None, [diag.get("warning")]), unpinned])
    return ResponseCurve(
        channel=channel, revenue=fit.component, recent_spend=recent, visitors=vis,
        ratios=ratios, draws=tuple(fit.draws), diagnostics=diag,
    )  # fmt: skip


def control_table(controls: pd.DataFrame | Mapping[str, ArrayLike] | None,
                  t: FloatArray) -> ControlTable | None:
    """The controls of weeks ``t`` as a table of the baseline, without those that are 0 in
    every week (None when none is left)."""
    if controls is None:
        return None
    cols = {str(k): np.asarray(v, dtype=float) for k, v in dict(controls.items()).items()}
    for name, v in cols.items():
        if v.shape != t.shape:
            raise CurveError(f"control '{name}' has {v.size} values for {len(t)} weeks")
        if not np.isfinite(v).all():
            raise CurveError(f"control '{name}' holds a value that is not a finite number")
    used = [n for n, v in cols.items() if np.any(v != 0.0)]
    if not used:
        return None
    return ControlTable.of(used, t, np.column_stack([cols[n] for n in used]))


def experiment_diagnostics(experiments: Sequence[Experiment], lift: Any, without: Component,
                           with_: Component, recent: float,
                           each: Sequence[Component] | None = None) -> dict[str, Any]:
    """What a channel's curve rests on: each test, what the fit without and with the tests
    predicted for it (in all-customer revenue), and the marginal ROAS at recent spend both ways;
    with ``each`` (the fit with each test alone), how far each test alone moved it.
    """
    before, after = lift_predictions(without, lift), lift_predictions(with_, lift)
    m0, m1 = float(without.derivative(recent)), float(with_.derivative(recent))
    alone = [float(c.derivative(recent)) for c in (each or [with_] * len(experiments))]
    tests = []
    for j, e in enumerate(experiments):
        tests.append({**e.to_dict(), "label": e.label, "measured": float(lift.delta_y[j]),
                      "measured_sigma": float(lift.sigma[j]),
                      "predicted_without": float(before[j]), "predicted_with": float(after[j]),
                      "z_without": float((lift.delta_y[j] - before[j]) / lift.sigma[j]),
                      "z_with": float((lift.delta_y[j] - after[j]) / lift.sigma[j]),
                      "marginal_roas_alone": alone[j],
                      "marginal_roas_change_alone": alone[j] / m0 - 1.0 if m0 > 0 else float("nan")})
    return {"tests": tests, "curve_without": without.to_dict(),
            "marginal_roas_without": m0, "marginal_roas_with": m1,
            "marginal_roas_change": m1 / m0 - 1.0 if m0 > 0 else float("nan")}


def _identification(diag: dict[str, Any], draws: Sequence[Component], fitted: Component,
                    recent: float) -> str:
    """Record the relative widths of the draws' 90 % bands at recent spend (``level_band``,
    ``slope_band``) and name what the data cannot pin ("" when they pin both)."""
    level, slope = draw_spread(draws, recent, fitted)
    diag["level_band"], diag["slope_band"] = level, slope
    loose = [what for what, width, limit in (("level", level, LEVEL_SPREAD),
                                             ("shape", slope, SLOPE_SPREAD)) if width > limit]
    if not loose:
        return ""
    return (f"the data cannot pin the {' or the '.join(loose)} of the curve: curves that fit "
            f"as well differ by {level:.0%} at recent spend (90 % band of the draws)")


def _channel_seed(seed: int, channel: str) -> int:
    return int(np.random.SeedSequence([seed, zlib.crc32(channel.encode())]).generate_state(1)[0])


def _fit_one(job: dict[str, Any]) -> tuple[ResponseCurve, dict[str, float]]:
    """Fit one channel (and its holdout check); runs in a worker process."""
    settings: FitSettings = job["settings"]
    weeks = job["weeks"]
    controls = job.get("controls")
    curve = fit_channel(job["spend"], job["revenue"], weeks, channel=job["channel"],
                        visitors=job["visitors"], extras=job["extras"], settings=settings,
                        seed=job["seed"], experiments=job.get("experiments", ()),
                        controls=controls)
    stats: dict[str, float] = {}
    y = np.asarray(job["revenue"], dtype=float)
    ok = np.isfinite(y)
    mu_train = float(np.mean(y[ok]))
    stats["sse_train"] = float((1.0 - curve.diagnostics["r2_train"]) * np.sum((y[ok] - mu_train) ** 2))
    stats["sst_train"] = float(np.sum((y[ok] - mu_train) ** 2))
    h = job["holdout"]
    if h > 0:
        x = np.nan_to_num(np.asarray(job["spend"], dtype=float))
        t = week_index(pd.DatetimeIndex(weeks))
        hs = FitSettings(**{**settings.__dict__, "bootstrap": 0})
        # the controls of every week: the forecast of the held-out weeks knows their events
        fit = fit_arrays(x[:-h], y[:-h], t[:-h], hs, controls=control_table(controls, t))
        pred = fit.predict(x[-h:], t[-h:])
        actual = y[-h:]
        m = np.isfinite(actual)
        err = actual[m] - pred[m]
        stats.update(sse_hold=float(err @ err), abs_hold=float(np.abs(err).sum()),
                     sum_hold=float(actual[m].sum()),
                     sst_hold=float(np.sum((actual[m] - actual[m].mean()) ** 2)))
        sst = stats["sst_hold"]
        curve.diagnostics["r2_holdout"] = 1.0 - stats["sse_hold"] / sst if sst > 0 else float("nan")
        curve.diagnostics["wape_holdout"] = stats["abs_hold"] / max(stats["sum_hold"], 1e-300)
    return curve, stats


def fit_long(
    panel: Any,
    *,
    holdout_weeks: int = 0,
    bootstrap: int = 0,
    seed: int = 0,
    progress: bool = True,
    settings: FitSettings | None = None,
    n_jobs: int | None = None,
    experiments: Sequence[Experiment] = (),
    executor: Executor | None = None,
) -> CurveSet:
    """Fit every channel of a long panel (``models.panel.Panel``) into a CurveSet.

    Parameters
    ----------
    panel : Panel
        A long panel (``spend``, ``revenue`` and optional ``extras``, weeks x channels).
    holdout_weeks : int, default 0
        When positive, each channel is also fitted on all but the last ``holdout_weeks`` weeks
        and forecast over them at the actual spend: ``r2_holdout`` and ``wape_holdout``
        (pooled over channels) land in the diagnostics.  The curves use every week.
    bootstrap : int, default 0
        Moving-block bootstrap draws per channel.
    seed : int, default 0
        Seed of the bootstrap; each channel draws from ``(seed, channel name)``.
    progress : bool, default True
        Show a progress bar over channels.
    settings : FitSettings, optional
        Fit settings; ``bootstrap`` here overrides theirs.
    n_jobs : int, optional
        Worker processes (default: up to 2 when there are many channels).  Results do not
        depend on it.
    experiments : sequence of Experiment
        Lift tests (:func:`roiste.models.experiments.read_experiments`); each channel's enter
        its fit (:func:`fit_channel`).  A test of a channel the panel does not have is an error.
        The panel's controls (``read_panel(..., controls=...)``) enter each channel's baseline
        (:func:`fit_channel`); the held-out forecasts know the controls of their weeks.
    executor : Executor, optional
        Where the channels' fits run, one task each (:class:`roiste.models.executor.Executor`;
        default: local processes, ``n_jobs`` of them).  Results do not depend on it.
    """
    if panel.revenue is None:
        raise CurveError(f"{panel.source}: the long fit needs a revenue column")
    base = settings or FitSettings()
    settings = FitSettings(**{**base.__dict__, "bootstrap": int(bootstrap)})
    n = panel.n_weeks if hasattr(panel, "n_weeks") else len(panel.weeks)
    if holdout_weeks < 0 or (holdout_weeks and n - holdout_weeks < MIN_TRAIN_WEEKS):
        raise CurveError(f"{panel.source}: holdout of {holdout_weeks} weeks leaves fewer than "
                         f"{MIN_TRAIN_WEEKS} of the {n} weeks to fit on")
    if experiments:
        check_channels(experiments, list(panel.channels))
    jobs = []
    for c in panel.channels:
        extras = channel_extras(panel, c)
        vis = panel.extras.get("visitors")
        ctrl = panel.channel_controls(c) if hasattr(panel, "channel_controls") else None
        job_controls = {} if ctrl is None else {"controls": ctrl}
        jobs.append({**job_controls,
            "channel": c, "weeks": panel.weeks, "spend": panel.spend[c].to_numpy(dtype=float),
            "revenue": panel.revenue[c].to_numpy(dtype=float),
            "visitors": None if vis is None else vis[c].to_numpy(dtype=float),
            "extras": extras, "settings": settings, "seed": _channel_seed(seed, c),
            "holdout": int(holdout_weeks),
            "experiments": tuple(e for e in experiments if e.channel == c),
        })
    if n_jobs is None:
        n_jobs = min(2, os.cpu_count() or 1) if len(jobs) * (1 + bootstrap / 50) >= 16 else 1
    ex = executor if executor is not None else Executor("local", workers=n_jobs)
    results: list[tuple[ResponseCurve, dict[str, float]]] = ex.map(
        _fit_one, jobs, desc="fitting channels", unit="channel", progress=progress,
        auto_workers=n_jobs)
    curves = [r[0] for r in results]
    stats = [r[1] for r in results]
    diag: dict[str, Any] = {
        "r2_train": 1.0 - sum(s["sse_train"] for s in stats) / max(sum(s["sst_train"] for s in stats), 1e-300),
    }
    if holdout_weeks:
        sst = sum(s["sst_hold"] for s in stats)
        diag["r2_holdout"] = 1.0 - sum(s["sse_hold"] for s in stats) / sst if sst > 0 else float("nan")
        diag["wape_holdout"] = sum(s["abs_hold"] for s in stats) / max(sum(s["sum_hold"] for s in stats), 1e-300)
        diag["holdout_weeks"] = int(holdout_weeks)
    meta = {
        "panel_sha256": panel.sha256,
        "panel_source": os.path.basename(str(panel.source)),
        "layout": "long",
        "weeks": [panel.weeks[0].strftime("%Y-%m-%d"), panel.weeks[-1].strftime("%Y-%m-%d")],
        "fit": {
            "method": "per-channel profiled least squares, family by BIC",
            "family": settings.family,
            "adstock": settings.adstock if isinstance(settings.adstock, str)
            else settings.adstock.to_dict(),
            "n_harmonics": settings.n_harmonics,
            "choose_harmonics": settings.choose_harmonics,
            "level_shift": settings.level_shift,
            "noise": settings.noise,
            "media_form": settings.media_form,
            "bootstrap": int(bootstrap),
            "block_weeks": settings.block_weeks,
            "holdout_weeks": int(holdout_weeks),
            "seed": int(seed),
            "recent_weeks": RECENT_WEEKS,
            "ratio_weeks": RATIO_WEEKS,
        },
    }
    if experiments:
        meta["fit"]["experiments"] = [{**e.to_dict(), "label": e.label} for e in experiments]
    names = getattr(panel, "controls", None)
    if names is not None and names.shape[1]:
        meta["fit"]["controls"] = list(dict.fromkeys(str(n) for n in names.columns.get_level_values(0)))
    return CurveSet(curves, diagnostics=diag, meta=meta)


def fit_panel_file(
    path: str | os.PathLike[str],
    *,
    layout: str = "long",
    target: str | None = None,
    spend: Sequence[str] | None = None,
    controls: Sequence[str] | None = None,
    holdout_weeks: int = 0,
    bootstrap: int = 0,
    seed: int = 0,
    progress: bool = True,
    experiments: Sequence[Experiment] = (),
    date_column: str | None = None,
    executor: Executor | None = None,
) -> CurveSet:
    """Read a panel file and fit it: per channel (long layout) or as a marketing mix (wide).

    A channel whose spend never changes stops the fit with a ``PanelError`` naming it.  When an
    attribution rule produced the panel (``PANEL.attribution.json`` beside it), its hash and
    label go to the curves' meta, so that plans name the rule their revenue stands on.
    ``experiments`` (long layout only) enter the per-channel fits (:func:`fit_long`).
    ``controls`` name control columns in either layout (:func:`models.panel.read_panel`): in
    the long layout they enter each channel's baseline (:func:`fit_channel`).
    ``date_column`` names the week column when it is not ``date`` (:func:`models.panel.read_panel`).
    ``executor`` runs the per-channel fits (:func:`fit_long`), or the wide fit's bootstrap
    refits (:func:`fit_wide`).
    """
    panel = read_panel(path, layout=layout, target=target, spend=spend, controls=controls,
                       date_column=date_column, require_variation=True)
    if layout == "wide" and experiments:
        raise CurveError(f"{path}: experiments pin the per-channel fit of a long panel; the wide "
                         f"(marketing-mix) fit does not read them")
    if layout == "wide":
        curves = fit_wide(panel, holdout_weeks=holdout_weeks, bootstrap=bootstrap, seed=seed,
                          progress=progress, executor=executor)
    else:
        curves = fit_long(panel, holdout_weeks=holdout_weeks, bootstrap=bootstrap, seed=seed,
                          progress=progress, experiments=experiments, executor=executor)
    curves.meta.update(attribution_meta(path))
    return curves


__all__ = [
    "BaselineDesign",
    "ChannelResponseRegressor",
    "ControlTable",
    "FitSettings",
    "channel_extras",
    "control_table",
    "fit_channel",
    "fit_long",
    "fit_panel_file",
    "min_train_weeks",
    "panel_ratios",
    "week_index",
]
