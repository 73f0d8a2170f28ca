"""How far a marketing-mix fit can be trusted: its penalty chosen out of sample, and its warnings.

:func:`choose_penalty` picks the ridge penalty of the linear coefficients by time-series
cross-validation: at each penalty of a grid the adstock and saturation are searched on all
training weeks, then the coefficients are solved again on each fold's earlier weeks and scored
on the weeks that follow them.  :func:`decomposition_warnings` turns a fitted decomposition into
sentences naming what is implausible about it (media above the target, ROAS far outside the
panel's range, a forecast worse than the mean, coefficients at their bounds) and which channels
the data cannot identify (spend that never falls low).  :func:`choose_media_form` chooses
between media added to the baseline and media scaled by a seasonal demand index by
time-series cross-validated forecast error, each fold reading its own index.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import TimeSeriesSplit

from roiste.models.curves import Component
from roiste.models.executor import Executor
from roiste.models.fit.baseline import DemandIndex, demand_ratio
from roiste.models.fit.search import (
    DEMAND_SHARES,
    SCALED_MARGIN,
    check_media_form,
    form_fold_size,
)
from roiste.models.transforms import FloatArray

PENALTY_GRID = (1e-5, 1e-4, 1e-3, 1e-2)
CV_FOLDS = 5
LOW_SPEND_SHARE = 0.3  # the per-channel fit's threshold: spend never below 30 % of its mean
ROAS_FACTOR = 5.0  # ROAS above 5 x the panel's target per unit of total spend is implausible
PENALTY_CHOICE = (f"time-series cross-validation: mean squared error of {CV_FOLDS} contiguous blocks "
                  "of weeks left out in turn (adstock and saturation searched on all training weeks, "
                  "coefficients re-solved without the block)")
BOUND_TOL = 1e-3  # relative distance to a bound that counts as "at the bound"
FORM_ROUNDS = 1  # re-readings of the demand index from the demand-scaled fit
# a demand-scaled form must forecast this much better: wider than the per-channel fit's
# SCALED_MARGIN, since one index shared by all channels also stands in for the wide additive
# baseline's exp-shaped season (on additive-media worlds it won by 2-4 % at no gain in curves)
FORM_MARGIN = max(SCALED_MARGIN, 0.05)
FORM_SPLITS, FORM_TEST_WEEKS = 4, 13  # forward folds of the media forms, as the per-channel fit
FORM_CHOICE = (f"time-series cross-validation: root mean squared forecast error of up to {FORM_SPLITS} "
               "forward folds (each fold reads its demand index from its own training weeks); a "
               f"demand-scaled form must forecast {FORM_MARGIN:.0%} better than the additive one")

__all__ = [
    "CV_FOLDS",
    "FORM_CHOICE",
    "FORM_MARGIN",
    "LOW_SPEND_SHARE",
    "PENALTY_CHOICE",
    "PENALTY_GRID",
    "ROAS_FACTOR",
    "FitSummary",
    "MediaForm",
    "WeakChannelWarning",
    "block_bootstrap",
    "choose_media_form",
    "choose_penalty",
    "decomposition_warnings",
    "form_folds",
    "low_spend_warning",
    "read_demand",
    "time_series_folds",
]


class WeakChannelWarning(UserWarning):
    """A channel whose spend barely varies: its curve is weakly identified."""


class LinearRefit(Protocol):
    """A fitted model whose linear coefficients can be solved again on a prefix of the weeks."""

    def fit(self, X: Any, y: Any) -> Any: ...

    def refit_linear(self, X: Any, y: Any, rows: Any, ridge: float) -> FloatArray: ...


def time_series_folds(n: int, n_folds: int, min_train: int) -> list[tuple[int, int]]:
    """Contiguous blocks of weeks, ``(start, end)``, each left out in turn.

    The ``n`` weeks are cut into ``n_folds`` consecutive blocks (blocked cross-validation of a
    time series: a block is forecast from the weeks before and after it, so the trend is
    interpolated, not extrapolated).  Blocks that would leave fewer than ``min_train`` weeks to
    fit on are dropped.
    """
    edges = np.linspace(0, n, n_folds + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges) if n - (b - a) >= min_train]


def choose_penalty(
    make_model: Callable[[float], LinearRefit],
    X: FloatArray,
    y: FloatArray,
    grid: Sequence[float] = PENALTY_GRID,
    n_folds: int = CV_FOLDS,
    min_train: int = 26,
) -> tuple[LinearRefit, float, dict[float, float]]:
    """The penalty of ``grid`` with the smallest cross-validated error, and its fitted model.

    For each penalty ``make_model(penalty)`` is fitted on all rows (the adstock and saturation
    search sees every training week); then for each block of :func:`time_series_folds` its
    coefficients are solved again without the block's weeks and the block is predicted.  The
    score is the mean squared error over all left-out weeks.  Without a usable fold the
    middle penalty of the grid is kept.

    Returns
    -------
    model, penalty, scores
        The model fitted at the chosen penalty, the penalty, and ``{penalty: score}``.
    """
    folds = time_series_folds(len(y), n_folds, min_train)
    fitted: dict[float, LinearRefit] = {}
    scores: dict[float, float] = {}
    for r in grid:
        m = make_model(r)
        m.fit(X, y)
        fitted[r] = m
        if not folds:
            continue
        sse = 0.0
        for a, b in folds:
            keep = np.ones(len(y), dtype=bool)
            keep[a:b] = False
            pred = m.refit_linear(X, y, keep, r)[a:b]
            sse += float(((y[a:b] - pred) ** 2).sum())
        scores[r] = sse / sum(b - a for a, b in folds)
    if scores:
        best = min(scores, key=lambda r: (scores[r], r))
    else:
        best = list(grid)[len(grid) // 2]
    return fitted[best], best, scores


class FormModel(Protocol):
    """A fitted marketing-mix model whose coefficients can be re-solved under another index."""

    demand_share: float

    def refit_coef(self, X: Any, y: Any, rows: Any, ridge: float,
                   demand: DemandIndex | None = None) -> tuple[FloatArray, FloatArray]: ...

    def level_and_media(self, X: Any, coef: FloatArray | None = None) -> tuple[FloatArray, FloatArray]: ...


@dataclass
class MediaForm:
    """The chosen media form of a marketing-mix fit and its evidence.

    Attributes
    ----------
    name : str
        "additive", or a demand-scaled form of :data:`~models.fit.search.DEMAND_SHARES`.
    share : float
        ``m``: the share of the media effect that scales with demand (0 when additive).
    demand : DemandIndex or None
        The index read from all training weeks (None when additive).
    model : Any
        The fitted model of the form.
    cv : dict
        Cross-validated root mean squared forecast error of every form tried.
    """

    name: str
    share: float
    demand: DemandIndex | None
    model: Any
    cv: dict[str, float] = field(default_factory=dict)


def form_folds(n: int, splits: int = FORM_SPLITS, test_weeks: int = FORM_TEST_WEEKS) -> list[tuple[int, int]]:
    """Forward folds ``(training weeks, end of the forecast weeks)`` of ``n`` weeks.

    ``TimeSeriesSplit`` as the per-channel fit runs it (:func:`~models.fit.search.form_fold_size`);
    none when fewer than 2 fit.
    """
    k, size = form_fold_size(n, splits, test_weeks)
    if k < 2:
        return []
    return [(len(tr), int(te[-1]) + 1)
            for tr, te in TimeSeriesSplit(n_splits=k, test_size=size).split(np.zeros(n))]


def read_demand(t: FloatArray, y: FloatArray, level: FloatArray, media: FloatArray, share: float,
                n_harmonics: int) -> DemandIndex:
    """The demand index whose log best fits each week's demand ratio
    (:func:`~models.fit.baseline.demand_ratio`) at week indices ``t``."""
    ratio = demand_ratio(np.asarray(y, dtype=float), level, media, share)
    return DemandIndex.from_log(np.asarray(t, dtype=float), np.log(ratio), np.ones(len(ratio)), n_harmonics)


def _fold_demand(additive: FormModel, scaled: FormModel, X: FloatArray, y: FloatArray,
                 rows: np.ndarray, ridge: float, t: FloatArray, n_harmonics: int) -> DemandIndex:
    """The index of ``scaled``'s form read from the weeks ``rows`` alone."""
    share = scaled.demand_share
    _, b = additive.refit_coef(X, y, rows, ridge)
    level, media = additive.level_and_media(X, b)
    demand = read_demand(t[rows], y[rows], level[rows], media[rows], share, n_harmonics)
    for _ in range(FORM_ROUNDS):
        _, b = scaled.refit_coef(X, y, rows, ridge, demand)
        level, media = scaled.level_and_media(X, b)
        demand = read_demand(t[rows], y[rows], level[rows], media[rows], share, n_harmonics)
    return demand


def choose_media_form(
    additive: FormModel,
    fit_scaled: Callable[[float, DemandIndex], FormModel],
    X: FloatArray,
    y: FloatArray,
    t: FloatArray,
    ridge: float,
    n_harmonics: int,
    form: str = "auto",
) -> MediaForm:
    """The media form of a marketing-mix fit: additive or scaled by a seasonal demand index.

    For each share ``m`` of :data:`~models.fit.search.DEMAND_SHARES` the index is read from the
    additive fit (:meth:`level_and_media`, :func:`read_demand`), the model of that form is fitted
    (``fit_scaled(m, index)``, hyperparameters searched again), the index read again from it and
    the model fitted once more.  The forms are then compared on :func:`form_folds`: each fold
    re-solves every form's coefficients on its training weeks (hyperparameters as fitted), a
    demand-scaled form with an index read from those weeks only (from the additive fit, then
    from its own), and forecasts the fold's weeks.  "auto" keeps the additive form unless a
    demand-scaled one's error is smaller by more than :data:`FORM_MARGIN`; a form of
    ``DEMAND_SHARES`` named by ``form`` is taken without cross-validation.

    Parameters
    ----------
    additive : model
        The fitted additive model.
    fit_scaled : callable
        ``(share, demand index) -> fitted model`` of the demand-scaled form.
    X, y : ndarray
        The training weeks.
    t : ndarray
        Their week indices on the index's calendar.
    ridge : float
        Penalty of the re-solved coefficients.
    n_harmonics : int
        Yearly harmonics of the index.
    form : str, default "auto"
        "auto", "additive" or a name of ``DEMAND_SHARES``.
    """
    check_media_form(form)
    folds = form_folds(len(y))
    if form == "additive" or (form == "auto" and not folds):
        return MediaForm("additive", 0.0, None, additive)
    shares = {form: DEMAND_SHARES[form]} if form != "auto" else dict(DEMAND_SHARES)
    level, media = additive.level_and_media(X)
    fitted: dict[str, tuple[DemandIndex, FormModel]] = {}
    for name, m in shares.items():
        demand = read_demand(t, y, level, media, m, n_harmonics)
        for _ in range(FORM_ROUNDS):
            lev, med = fit_scaled(m, demand).level_and_media(X)
            demand = read_demand(t, y, lev, med, m, n_harmonics)
        fitted[name] = (demand, fit_scaled(m, demand))
    if form != "auto":
        demand, model = fitted[form]
        return MediaForm(form, shares[form], demand, model)
    err: dict[str, list[float]] = {f: [] for f in ["additive", *shares]}
    for n_tr, end in folds:
        rows = np.arange(len(y)) < n_tr
        D, b = additive.refit_coef(X, y, rows, ridge)
        err["additive"].append(float(np.mean((y[n_tr:end] - (D @ b)[n_tr:end]) ** 2)))
        for name in shares:
            model = fitted[name][1]
            d = _fold_demand(additive, model, X, y, rows, ridge, t, n_harmonics)
            D, b = model.refit_coef(X, y, rows, ridge, d)
            err[name].append(float(np.mean((y[n_tr:end] - (D @ b)[n_tr:end]) ** 2)))
    cv = {f: float(np.sqrt(np.mean(e))) for f, e in err.items()}
    best = min(sorted(shares), key=lambda f: cv[f])
    if cv[best] < (1.0 - FORM_MARGIN) * cv["additive"]:
        demand, model = fitted[best]
        return MediaForm(best, shares[best], demand, model, cv)
    return MediaForm("additive", 0.0, None, additive, cv)


def low_spend_warning(channel: str, spend: FloatArray) -> dict[str, str]:
    """``{"warning": sentence}`` for a channel whose spend never falls low, else ``{}``."""
    sentence = _low_spend_sentence(channel, spend)
    return {"warning": sentence} if sentence else {}


def _low_spend_sentence(channel: str, spend: FloatArray) -> str | None:
    mean = float(spend.mean())
    if mean <= 0:
        return None
    low = float(spend.min()) / mean
    if low <= LOW_SPEND_SHARE:
        return None
    return (f"{channel}: spend never fell below 30 % of its mean (lowest week {low:.0%}): its "
            "contribution is told apart from the baseline only by the curve's shape, so its "
            "ROAS rests on the saturation family; weeks of low or no spend would measure it")


@dataclass
class FitSummary:
    """What :func:`decomposition_warnings` checks of one fit (training weeks unless said)."""

    channels: list[str]
    spend: FloatArray  # weeks x channels
    target: FloatArray
    contribution: FloatArray  # per channel, over the training weeks
    coef_media: FloatArray
    k_mult: FloatArray  # half-saturation spend as multiples of mean adstocked spend
    k_bounds: tuple[float, float]
    intercept: float
    positive_intercept: bool = True
    r2_holdout: float | None = None
    holdout: FloatArray | None = None  # actual target of the held-out weeks
    holdout_pred: FloatArray | None = None
    weak: list[int] = field(default_factory=list)


def decomposition_warnings(s: FitSummary) -> list[str]:
    """Sentences naming what is implausible or unidentified in a fitted decomposition.

    Checks, in order: channels whose spend never falls below 30 % of its mean; media credited
    with more than the whole target; a channel's ROAS above 5 times the panel's target per
    unit of total spend; a negative holdout R2 (with the held-out and training noise levels
    that explain it); the intercept at its bound 0; media coefficients at 0 and saturation
    scales at the edge of their search range.  When a check of the decomposition itself
    fails, a first sentence says that the curves should not be planned on.
    """
    out: list[str] = []
    for c, ch in enumerate(s.channels):
        if c not in s.weak:
            w = _low_spend_sentence(ch, s.spend[:, c])
            if w:
                out.append(w)
    implausible: list[str] = []
    total_y = float(s.target.sum())
    media = float(s.contribution.sum())
    if total_y > 0 and media > total_y:
        implausible.append(f"media are credited with {media / total_y:.0%} of the target over the "
                           "training weeks, more than all of it")
    spend_total = s.spend.sum(axis=0)
    if spend_total.sum() > 0 and total_y > 0:
        ratio = total_y / float(spend_total.sum())
        for c, ch in enumerate(s.channels):
            roas = float(s.contribution[c] / spend_total[c]) if spend_total[c] > 0 else 0.0
            if roas > ROAS_FACTOR * ratio:
                implausible.append(f"{ch}: ROAS {roas:.3g} is more than {ROAS_FACTOR:g} times the "
                                   f"panel's target per unit of all spend ({ratio:.3g})")
    if s.r2_holdout is not None and s.r2_holdout < 0:
        implausible.append(_holdout_sentence(s))
    if s.positive_intercept and s.intercept <= BOUND_TOL * max(abs(float(s.target.mean())), 1e-300):
        implausible.append("the intercept is at its bound 0: media and controls claim the whole "
                           "level of the target")
    for c, ch in enumerate(s.channels):
        if s.coef_media[c] <= 0:
            out.append(f"{ch}: coefficient at its bound 0: no effect of its spend is found")
            continue
        lo, hi = s.k_bounds
        if s.k_mult[c] <= lo * (1 + BOUND_TOL):
            out.append(f"{ch}: half-saturation spend at the lower edge of its range ({lo:g} x mean "
                       "adstocked spend): the curve is saturated over almost all observed spend")
        elif s.k_mult[c] >= hi * (1 - BOUND_TOL):
            out.append(f"{ch}: half-saturation spend at the upper edge of its range ({hi:g} x mean "
                       "adstocked spend): the data show no saturation, the curve's bend is assumed")
    if implausible:
        out.insert(0, "the decomposition is implausible, do not plan on these curves: "
                   + "; ".join(implausible))
    return out


def _holdout_sentence(s: FitSummary) -> str:
    r2 = float(s.r2_holdout if s.r2_holdout is not None else float("nan"))
    text = f"holdout R2 {r2:.2f} < 0: the forecast of the held-out weeks is worse than their own mean"
    if s.holdout is not None and s.holdout_pred is not None and len(s.holdout) > 1:
        act, pred = s.holdout, s.holdout_pred
        level = max(abs(float(act.mean())), 1e-300)
        sd = float(act.std()) / level
        rmse = float(np.sqrt(((act - pred) ** 2).mean())) / level
        bias = float((pred - act).mean()) / level
        text += (f" (they vary by {sd:.1%} of their mean, the forecast misses by {rmse:.1%}, "
                 f"{bias:+.1%} on average)")
    return text


def block_bootstrap(model: Any, X: FloatArray, y: FloatArray, n_draws: int, seed: int,
                    progress: bool, block_weeks: int = 8,
                    executor: Executor | None = None) -> list[list[Component]]:
    """Refit a whole marketing-mix model on moving-block bootstrap resamples of the weeks.

    A resample is expressed as week weights (how often each week was drawn), so adstock still
    runs over the real sequence of weeks; each draw searches its own adstock and saturation.
    The resamples are drawn here, in order, from ``seed``; each refit is one task of
    ``executor`` (default: in this process), so the draws are the same whichever runs them.
    Returns one list of components (one per channel) per draw.
    """
    n = len(y)
    block = min(block_weeks, n)
    rng = np.random.default_rng(seed)
    jobs = []
    for _ in range(n_draws):
        starts = rng.integers(0, n - block + 1, size=-(-n // block))
        idx = (starts[:, None] + np.arange(block)).ravel()[:n]
        jobs.append((model, X, y, np.bincount(idx, minlength=n).astype(float)))
    ex = executor if executor is not None else Executor("local", workers=1)
    return ex.map(_refit, jobs, desc="bootstrap", unit="draw", progress=progress)


def _refit(job: tuple[Any, FloatArray, FloatArray, FloatArray]) -> list[Component]:
    """One bootstrap draw: the model refitted with the resample's week weights."""
    model, X, y, weights = job
    m = clone(model).set_params(progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakChannelWarning)
        m.fit(X, y, sample_weight=weights)
    # the steady-state week averages the coming year's media multiplier (1 when additive)
    return [Component(float(b) * m.year_scale_, sat, ad) for b, sat, ad
            in zip(m.coef_media_, m.saturations_, m.adstocks_, strict=True)]
