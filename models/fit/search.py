"""The search behind the per-channel fit: baseline design, candidate grid, profiled scores.

Given a saturation family, its shape, the adstock and the half-saturation spend ``k``, a
channel's model ``revenue_t = baseline_t + beta * saturation(adstock(spend)_t)`` is linear in
the baseline coefficients and ``beta``; so is the demand-scaled form
``revenue_t = level_t d_t + beta (1 - m + m d_t) saturation(...)`` given the demand index
``d_t`` (:mod:`models.fit.baseline`), which :func:`fit_arrays` estimates by alternating least
squares and compares with the additive form by time-series cross-validation.  It scores a whole grid of candidates
with the linear part profiled out (one matrix product), chooses the baseline's harmonics and
the family by information criteria, refines the winner continuously and, when asked, draws curves from the
profile likelihood over the whole grid (:mod:`roiste.models.fit.bands`).  :mod:`roiste.models.fit.channel` wraps it as an estimator and as panel-level functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.signal import lfilter
from sklearn.model_selection import TimeSeriesSplit

from roiste.models.curves import Component
from roiste.models.errors import CurveError
from roiste.models.experiments import LiftData, calibrate, level_prior, lift_features
from roiste.models.fit.bands import form_weights, profile_draws, split_draws, temperature
from roiste.models.fit.baseline import (
    PROFILE_WEEKS,
    BaselineDesign,
    ControlTable,
    DemandIndex,
    demand_ratio,
    media_scale,
)
from roiste.models.fit.limits import RATIO_WEEKS  # noqa: F401  (the fit's ratio window, read here too)
from roiste.models.transforms import (
    ADSTOCKS,
    SATURATIONS,
    Adstock,
    FloatArray,
    Geometric,
    Saturation,
)

IntArray = NDArray[np.intp]
RECENT_WEEKS = 8
K_RELATIVE = np.geomspace(0.05, 20.0, 22)  # half-saturation spend / recent adstocked spend
MAX_ALPHA = 0.9
SHIFT_F = 12.0  # sup-F over positions a level shift must reach (about the 1 % point)
DEMAND_SHARES = {"half_demand": 0.5, "demand": 1.0}  # demand-scaled media forms and their share
SCALED_MARGIN = 0.02  # a demand-scaled media form must forecast this much better to be chosen
DEMAND_ROUNDS = 2  # re-readings of the demand index from the demand-scaled fit's baseline


# --------------------------------------------------------------------------- the grid


Ad = float | Adstock  # a geometric alpha (refined continuously) or a fixed adstock


def adstocked(x: FloatArray, adstock: Adstock) -> FloatArray:
    """Adstock a weekly series that starts from no earlier spend (a linear filter when the
    family is one)."""
    coefficients = adstock.filter_coefficients()
    if coefficients is None:
        return adstock.apply(x)
    return np.asarray(lfilter(*coefficients, x), dtype=float)


def _as_adstock(ad: Ad) -> Adstock:
    return ad if isinstance(ad, Adstock) else Geometric(alpha=float(ad))


def _adstocked(x: FloatArray, ad: Ad) -> FloatArray:
    return adstocked(x, _as_adstock(ad))


def _adstock_grid(setting: str | Adstock) -> list[Ad]:
    """Adstock candidates: geometric alphas, plus the other families' grids with ``"auto"``."""
    if isinstance(setting, Adstock):
        return [setting]
    if setting not in ("geometric", "auto"):
        raise CurveError(f"adstock must be 'auto', 'geometric' or an Adstock, not {setting!r}")
    alphas: list[Ad] = [float(p["alpha"]) for p in Geometric.fit_grid]
    if setting == "geometric":
        return alphas
    return alphas + [
        cls(**p) for _, cls in sorted(ADSTOCKS.items()) if cls is not Geometric for p in cls.fit_grid
    ]


def _shape_grid(family: str) -> list[dict[str, float]]:
    grids: list[dict[str, float]] = [{}]
    for name, values in SATURATIONS[family].fit_shape_grid.items():
        grids = [{**g, name: float(v)} for g in grids for v in values]
    return grids


def _unit(family: str, shape: Mapping[str, float]) -> Saturation:
    """The family at half-saturation spend 1: ``value(a; k) = unit.value(a / k)``."""
    return SATURATIONS[family].from_scale(1.0, **shape)


@dataclass
class _Grid:
    """Candidates (rows of ``Z``): family, shape, adstock alpha and scale ``k``."""

    family: list[str]
    shape: list[dict[str, float]]
    ad: list[Ad]
    k: FloatArray
    log_rel_k: FloatArray  # log(k / recent adstocked spend)
    z: FloatArray  # (candidates, weeks), unweighted saturation features
    ze: FloatArray | None = None  # (candidates, experiments): each test's change per unit beta

    def rows(self, families: Sequence[str]) -> IntArray:
        """Indices of the candidates of the given families."""
        return np.flatnonzero(np.isin(np.asarray(self.family), list(families)))


def _a_ref(a: FloatArray) -> float:
    for v in (a[-RECENT_WEEKS:].mean(), a.mean(), 1.0):
        if v > 0:
            return float(v)
    return 1.0


def _build_grid(
    x: FloatArray,
    families: Sequence[str],
    ads: Sequence[Ad],
    shape: Mapping[str, float] | None,
    lift: LiftData | None = None,
) -> _Grid:
    fams: list[str] = []
    zes: list[FloatArray] = []
    shapes: list[dict[str, float]] = []
    al: list[Ad] = []
    ks: list[FloatArray] = []
    zs: list[FloatArray] = []
    nk = len(K_RELATIVE)
    for ad in ads:
        a = _adstocked(x, ad)
        k = _a_ref(a) * K_RELATIVE
        u = a[None, :] / k[:, None]
        for fam in families:
            for sh in [dict(shape)] if shape is not None else _shape_grid(fam):
                zs.append(_unit(fam, sh).value(u))
                if lift is not None:
                    zes.append(lift_features(_unit(fam, sh), k, _as_adstock(ad).total_weight, lift))
                fams += [fam] * nk
                shapes += [sh] * nk
                al += [ad] * nk
                ks.append(k)
    rel = np.tile(np.log(K_RELATIVE), len(ks))
    return _Grid(fams, shapes, al, np.concatenate(ks), rel, np.vstack(zs),
                 np.vstack(zes) if zes else None)


def _basis(bw: FloatArray) -> FloatArray:
    u, s, _ = np.linalg.svd(bw, full_matrices=False)
    return u[:, s > s[0] * 1e-10] if len(s) and s[0] > 0 else u[:, :0]


def _profile(
    q: FloatArray, zw: FloatArray, yw: FloatArray, cap: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Residual sum of squares and ``0 <= beta <= cap`` of every candidate, linear part profiled out.

    ``zw`` is (candidates, weeks); ``yw`` is (weeks,) or (weeks, draws); ``cap`` (candidates,)
    bounds beta (the response may not exceed the revenue it is part of).
    """
    ry = yw - q @ (q.T @ yw)
    zq = zw @ q
    z2 = np.einsum("cn,cn->c", zw, zw)
    zz = z2 - np.einsum("cp,cp->c", zq, zq)
    zy = zw @ ry
    if zy.ndim == 2:
        zz, z2 = zz[:, None], z2[:, None]
        cap = None if cap is None else cap[:, None]
    ok = (zz > 1e-9 * z2) & (zy > 0)
    safe = np.where(ok, zz, 1.0)
    beta = np.where(ok, zy / safe, 0.0)
    if cap is not None:
        beta = np.minimum(beta, cap)
    gain = 2.0 * beta * zy - beta**2 * np.where(ok, zz, 0.0)
    return np.sum(ry**2, axis=0) - gain, beta


# --------------------------------------------------------------------------- one fit


@dataclass
class ChannelFit:
    """A fitted channel model: enough to predict and to build a curve."""

    family: str
    shape: dict[str, float]
    ad: Ad
    k: float
    beta: float
    theta: FloatArray
    design: BaselineDesign
    t: FloatArray
    x: FloatArray
    rss: float
    cv_scores: dict[str, float] = field(default_factory=dict)
    r2_train: float = float("nan")
    draws: list[Component] = field(default_factory=list)
    form: str = "additive"
    share: float = 0.0  # share of the media effect that scales with demand
    demand: DemandIndex | None = None
    form_cv: dict[str, float] = field(default_factory=dict)
    s2: float = float("nan")  # the panel's noise variance per weighted week
    level: float = 1.0  # the experiments' calibration of the media effect (1 without them)
    level_sd: float = 0.0  # its standard error
    level_prior: float = 0.0  # its prior standard deviation

    def scale_at(self, t: FloatArray) -> FloatArray:
        """Multiplier of the media term at week indices ``t`` (1 in the additive form)."""
        t = np.asarray(t, dtype=float)
        if self.demand is None or self.share == 0.0:
            return np.ones_like(t)
        return media_scale(self.demand.at(t), self.share)

    def coming_year(self) -> tuple[FloatArray, FloatArray]:
        """Week indices and media multipliers of the 52 weeks after the data."""
        t = float(self.t.max()) + np.arange(1.0, PROFILE_WEEKS + 1.0)
        return t, self.scale_at(t)

    @property
    def year_scale(self) -> float:
        """Mean media multiplier over the coming year (:meth:`coming_year`)."""
        return float(np.mean(self.coming_year()[1]))

    @property
    def adstock(self) -> Adstock:
        """The fitted adstock (geometric unless a fixed one was given)."""
        return _as_adstock(self.ad)

    @property
    def alpha(self) -> float | None:
        """Geometric carry-over, or None for a fixed adstock of another family."""
        return None if isinstance(self.ad, Adstock) else float(self.ad)

    @property
    def component(self) -> Component:
        """The steady-state response component: weekly response at a constant spend,
        averaged over the coming year (``beta`` times :attr:`year_scale`)."""
        sat = SATURATIONS[self.family].from_scale(self.k, **self.shape)
        return Component(float(self.beta) * self.year_scale * self.level, sat, self.adstock)

    def effect(self, x: FloatArray, t: FloatArray | None = None) -> FloatArray:
        """Weekly incremental outcome of the spend series ``x`` (carry-over from its start)
        in the weeks ``t`` (needed by the demand-scaled form; default the fitted weeks)."""
        a = _adstocked(x, self.ad)
        scale = self.scale_at(self.t if t is None else t)
        return self.beta * scale * _unit(self.family, self.shape).value(a / self.k)

    def predict(self, x: FloatArray, t: FloatArray) -> FloatArray:
        """Expected revenue at weeks ``t`` with spend ``x`` (history is prepended)."""
        t = np.asarray(t, dtype=float)
        before = self.t < t.min()
        xx = np.concatenate([self.x[before], x])
        tt = np.concatenate([self.t[before], t])
        return self.design.matrix(t) @ self.theta + self.effect(xx, tt)[before.sum():]


@dataclass(frozen=True)
class FitSettings:
    """Settings of the per-channel fit (the parameters of :class:`models.fit.ChannelResponseRegressor`).

    Attributes
    ----------
    family : str, default "auto"
        A registered saturation family, or "auto" (chosen by BIC).
    adstock : str or Adstock, default "geometric"
        "geometric" (alpha searched), "auto" (geometric alphas and the ``fit_grid`` of every
        other registered adstock family) or a fixed Adstock.
    shape : mapping, optional
        Fixed shape parameters of the family; searched when None.
    n_harmonics : int, default 3
        Yearly Fourier harmonics of the baseline (the most, with ``choose_harmonics``).
    choose_harmonics : bool, default True
        Choose 1 .. ``n_harmonics`` harmonics by ``n log(weighted RSS) + 0.5 log n`` per
        coefficient; False keeps ``n_harmonics``.
    level_shift : "auto", float or None, default "auto"
        Baseline level shift: detected, at a given week index, or never.
    cv_splits, cv_test_weeks : int, default 4 and 13
        ``TimeSeriesSplit`` folds and their test length (fewer than 2 folds: in-sample choice).
    noise : {"multiplicative", "additive"}
        Weights ``1 / mu**2`` or equal weights.
    bootstrap, block_weeks : int, default 0 and 8
        Draws from the widened profile likelihood (``bands.py``), and the residual
        autocorrelation lags that the widening counts.
    k_prior_sd : float, optional
        Standard deviation (log scale) of a prior pulling ``k`` toward the recent adstocked
        spend; off by default (it did not help on simulated worlds).
    media_form : {"auto", "additive", "demand"}, default "auto"
        The media term is added to the baseline ("additive"), or multiplied by the demand
        index ``1 - m + m d_t`` (``m`` among :data:`DEMAND_SHARES`, "demand" fixes ``m = 1``);
        "auto" chooses by time-series cross-validated forecast error (additive when the
        cross-validation cannot run).
    """

    family: str = "auto"
    adstock: str | Adstock = "geometric"
    shape: Mapping[str, float] | None = None
    n_harmonics: int = 3
    level_shift: str | float | None = "auto"
    cv_splits: int = 4
    cv_test_weeks: int = 13
    noise: str = "multiplicative"
    bootstrap: int = 0
    block_weeks: int = 8
    k_prior_sd: float | None = None
    choose_harmonics: bool = True
    media_form: str = "auto"

    def families(self) -> list[str]:
        """The families to search."""
        if self.family == "auto":
            return sorted(SATURATIONS)
        if self.family not in SATURATIONS:
            raise CurveError(f"family {self.family!r} is not registered; known: {sorted(SATURATIONS)}")
        return [self.family]


def _weights(y: FloatArray, b: FloatArray, x: FloatArray, valid: FloatArray, noise: str) -> FloatArray:
    w = valid.astype(float)
    if noise == "additive":
        return w
    if noise != "multiplicative":
        raise CurveError(f"noise must be 'multiplicative' or 'additive', not {noise!r}")
    a = _adstocked(x, 0.3)
    xa = np.column_stack([b, a / _a_ref(a)])
    coef = np.linalg.lstsq(xa[valid], y[valid], rcond=None)[0]
    mu = xa @ coef
    floor = 0.1 * max(float(np.mean(y[valid])), 1e-12)
    return w / np.maximum(mu, floor) ** 2


def _solve_theta(bw: FloatArray, yw: FloatArray, zw: FloatArray, beta: float) -> FloatArray:
    return np.asarray(np.linalg.lstsq(bw, yw - beta * zw, rcond=None)[0], dtype=float)


def _detect_shift(
    t: FloatArray, b: FloatArray, sw: FloatArray, zbest: FloatArray, yw: FloatArray
) -> float | None:
    """Week of the strongest level shift in the residuals, if it passes the sup-F test."""
    n = len(t)
    full = np.column_stack([b * sw[:, None], zbest * sw])
    q = _basis(full)
    r = yw - q @ (q.T @ yw)
    rss = float(r @ r)
    lo, hi = max(8, n // 10), min(n - 8, n - n // 10)
    if hi <= lo or rss <= 0:
        return None
    steps = (np.arange(n)[None, :] >= np.arange(lo, hi)[:, None]).astype(float) * sw[None, :]
    rs = steps - (steps @ q) @ q.T
    ss = np.einsum("cn,cn->c", rs, rs)
    gain = np.where(ss > 1e-12, (rs @ r) ** 2 / np.maximum(ss, 1e-300), 0.0)
    j = int(np.argmax(gain))
    dof = max(int(np.count_nonzero(sw)) - q.shape[1] - 1, 1)
    f = gain[j] / max((rss - gain[j]) / dof, 1e-300)
    return float(t[lo + j]) if f > SHIFT_F else None


def _fewer_harmonics(
    design: BaselineDesign, t: FloatArray, prob: _Problem, zw: FloatArray, rel: FloatArray,
    q: FloatArray, obj: FloatArray, beta: FloatArray,
) -> tuple[BaselineDesign, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The baseline with 1 .. ``design.n_harmonics`` harmonics of the smallest information
    criterion ``n log(weighted RSS) + 0.5 log n`` per coefficient (of the best candidate).

    Spare harmonics let the baseline trade seasonality with a season-paced media term; too few
    leave the media term to absorb it.  The penalty, half of BIC's, did best on simulated worlds.
    """
    n = int(np.count_nonzero(prob.w))
    pen = 0.5 * float(np.log(max(n, 2)))

    def crit(o: FloatArray, h: int) -> float:
        return n * float(np.log(max(float(np.min(o)), 1e-300))) + 2 * h * pen

    b0 = design.matrix(t)
    best = (crit(obj, design.n_harmonics), design, b0, q, obj, beta)
    for h in range(1, design.n_harmonics):
        d_h = replace(design, n_harmonics=h)
        b_h = d_h.matrix(t)
        q_h = _basis(b_h * prob.sw[:, None])
        o_h, be_h = prob.score(q_h, zw, slice(None), rel)
        c = crit(o_h, h)
        if c < best[0]:
            best = (c, d_h, b_h, q_h, o_h, be_h)
    return best[1:]


@dataclass
class _Problem:
    """One channel's weighted data and the penalty of its scale prior."""

    x: FloatArray
    y: FloatArray
    w: FloatArray  # regression weights (0 for weeks without an outcome)
    sw: FloatArray  # their square roots
    lam: float = 0.0  # penalty per unit of log(k / recent adstocked spend) squared
    scale: FloatArray | None = None  # media multiplier of each week (None: 1)
    lift: LiftData | None = None  # the channel's experiments
    lift_s2: float | None = None  # RSS units per unit of their chi-square (None: not counted)
    lift_scale: float = 1.0  # steady-state multiplier of the media term (the year's mean scale)
    lift_prior: float = 1.0  # prior sd of the level the experiments calibrate (level_prior)

    def lift_row(self, family: str, shape: Mapping[str, float], ad: Ad, k: float) -> FloatArray | None:
        """Experiment features of one candidate, ``(1, experiments)`` (None without experiments)."""
        if self.lift is None:
            return None
        return lift_features(_unit(family, shape), np.array([k]), _as_adstock(ad).total_weight,
                             self.lift)

    def features(self, family: str, shape: Mapping[str, float], ad: Ad, k: float) -> tuple[FloatArray, float]:
        """Media feature of one candidate (saturation times the scale) and its log relative scale."""
        a = _adstocked(self.x, ad)
        z = _unit(family, shape).value(a / k)
        return z if self.scale is None else z * self.scale, float(np.log(k / _a_ref(a)))

    def score(self, q: FloatArray, zw: FloatArray, rows: slice, rel: FloatArray,
              yw: FloatArray | None = None, ze: FloatArray | None = None
              ) -> tuple[FloatArray, FloatArray]:
        """Penalised RSS and beta of candidates ``zw`` (weighted features) on the weeks ``rows``;
        with ``ze`` (the candidates' experiment features) and experiments counted, each
        candidate's RSS gains ``lift_s2`` times the experiments' chi-square at its calibrated
        level (:func:`roiste.models.experiments.calibrate`)."""
        sw = self.sw[rows]
        yw = self.y[rows] * sw if yw is None else yw
        zr = zw[:, rows]
        zm = zr @ sw  # = sum_t w_t z_t
        cap = np.where(zm > 0, float(self.y[rows] @ self.w[rows]) / np.maximum(zm, 1e-300), np.inf)
        rss, beta = _profile(q, zr, yw, cap)
        if ze is not None and self.lift is not None and self.lift_s2 is not None and rss.ndim == 1:
            _, _, cost = calibrate(beta[:, None] * ze * self.lift_scale, self.lift,
                                   self.lift_prior)
            rss = rss + self.lift_s2 * cost
        pen = self.lam * rel**2
        return rss + (pen[:, None] if rss.ndim == 2 else pen), beta


def _cv_errors(
    grid: _Grid, b: FloatArray, prob: _Problem, splits: int, families: Sequence[str],
    test_weeks: int = 13,
) -> dict[str, FloatArray]:
    """Weighted mean squared forecast error of each family on each ``TimeSeriesSplit`` fold."""
    y, sw = prob.y, prob.sw
    n = len(y)
    test_size = max(4, min(test_weeks, n // 10))
    splits = min(splits, (n - 52) // test_size)
    if splits < 2:
        return {}
    bw = b * sw[:, None]
    zw = grid.z * sw[None, :]
    fam = np.asarray(grid.family)
    err: dict[str, list[float]] = {f: [] for f in families}
    for tr, te in TimeSeriesSplit(n_splits=splits, test_size=test_size).split(y):
        q = _basis(bw[tr])
        if not np.array_equal(tr, np.arange(len(tr))):
            raise AssertionError("TimeSeriesSplit trains on a prefix")
        obj, beta = prob.score(q, zw, slice(0, len(tr)), grid.log_rel_k)
        for f in families:
            idx = np.flatnonzero(fam == f)
            c = int(idx[np.argmin(obj[idx])])
            theta = _solve_theta(bw[tr], y[tr] * sw[tr], grid.z[c, tr] * sw[tr], beta[c])
            pred = b[te] @ theta + beta[c] * grid.z[c, te]
            err[f].append(float(np.mean((sw[te] * (y[te] - pred)) ** 2)))
    return {f: np.asarray(e) for f, e in err.items()}


def _estimate_demand(grid: _Grid, design: BaselineDesign, b: FloatArray, t: FloatArray,
                     prob: _Problem, obj: FloatArray, beta: FloatArray, share: float,
                     n_harmonics: int) -> DemandIndex:
    """The demand index of the form of ``share``, by alternating least squares.

    Start from the additive fit's level and media term; then, ``DEMAND_ROUNDS`` times, read
    each week's demand ratio (:func:`demand_ratio`), fit its log by yearly harmonics, and refit
    the grid with the baseline ``level * d`` and the media scaled by ``1 - m + m d``.
    """
    y, sw = prob.y, prob.sw
    valid = (prob.w > 0).astype(float)
    level_design = design.level()
    lev = level_design.matrix(t)
    c = int(np.argmin(obj))
    theta = _solve_theta(b * sw[:, None], y * sw, grid.z[c] * sw, float(beta[c]))
    # the level's columns: intercept, trend, then (after the harmonics) shift and controls
    keep = [0, 1, *range(2 + 2 * design.n_harmonics, len(theta))]
    level, media = lev @ theta[keep], float(beta[c]) * grid.z[c]
    demand = DemandIndex.from_log(t, np.log(demand_ratio(y, level, media, share)), valid, n_harmonics)
    for _ in range(DEMAND_ROUNDS):
        d = demand.at(t)
        scale = media_scale(d, share)
        bw = lev * (d * sw)[:, None]
        o, be = prob.score(_basis(bw), grid.z * (scale * sw)[None, :], slice(None), grid.log_rel_k)
        c = int(np.argmin(o))
        theta = _solve_theta(bw, y * sw, grid.z[c] * scale * sw, float(be[c]))
        level, media = lev @ theta, float(be[c]) * grid.z[c]
        demand = DemandIndex.from_log(t, np.log(demand_ratio(y, level, media, share)), valid,
                                      n_harmonics)
    return demand


def check_media_form(form: str, where: str = "") -> None:
    """Raise :class:`CurveError` (prefixed by ``where``) unless ``form`` is "auto", "additive"
    or a name of :data:`DEMAND_SHARES`."""
    if form not in ("auto", "additive", *DEMAND_SHARES):
        raise CurveError(f"{where}media_form must be 'auto', 'additive' or one of "
                         f"{', '.join(map(repr, DEMAND_SHARES))}, not {form!r}")


def form_fold_size(n: int, splits: int, test_weeks: int) -> tuple[int, int]:
    """``(folds, weeks per fold)`` of the media forms' cross-validation over ``n`` weeks:
    forecast blocks of ``max(4, min(test_weeks, n // 10))`` weeks, as many as leave at least
    52 training weeks (at most ``splits``)."""
    test_size = max(4, min(test_weeks, n // 10))
    return min(splits, (n - 52) // test_size), test_size


def _cv_forms(grid: _Grid, design: BaselineDesign, b: FloatArray, t: FloatArray,
              prob: _Problem, shares: Mapping[str, float], splits: int, test_weeks: int
              ) -> dict[str, FloatArray]:
    """Weighted mean squared forecast error of the additive form and of each demand-scaled form
    of ``shares`` (its best candidate over all families) on each ``TimeSeriesSplit`` fold.

    Each fold learns everything from its training weeks alone: the baseline's coefficients and,
    for a demand-scaled form, its demand index (:func:`_estimate_demand` on the training weeks),
    so no form forecasts weeks whose seasonal shape it has already seen.
    """
    y, sw = prob.y, prob.sw
    splits, test_size = form_fold_size(len(y), splits, test_weeks)
    if splits < 2:
        return {}
    err: dict[str, list[float]] = {f: [] for f in ["additive", *shares]}
    zw_add = grid.z * sw[None, :]
    for tr, te in TimeSeriesSplit(n_splits=splits, test_size=test_size).split(y):
        n = len(tr)  # the training weeks are the first n
        forms = {"additive": (b, np.ones_like(t))}
        if shares:
            sub = _Problem(prob.x[:n], y[:n], prob.w[:n], sw[:n], lam=prob.lam)
            sub_grid = replace(grid, z=grid.z[:, :n])
            obj, beta = sub.score(_basis(b[:n] * sw[:n, None]), zw_add[:, :n], slice(None),
                                  grid.log_rel_k)
            for f, m in shares.items():
                d = _estimate_demand(sub_grid, design, b[:n], t[:n], sub, obj, beta, m,
                                     design.n_harmonics)
                forms[f] = (design.with_demand(d).matrix(t), media_scale(d.at(t), m))
        for f, (bf, scale) in forms.items():
            bw = bf * sw[:, None]
            z = grid.z * scale[None, :]
            zw = z * sw[None, :]
            obj_f, beta_f = prob.score(_basis(bw[:n]), zw, slice(0, n), grid.log_rel_k)
            c = int(np.argmin(obj_f))
            theta = _solve_theta(bw[:n], y[:n] * sw[:n], zw[c, :n], beta_f[c])
            pred = bf[te] @ theta + beta_f[c] * z[c, te]
            err[f].append(float(np.mean((sw[te] * (y[te] - pred)) ** 2)))
    return {f: np.asarray(e) for f, e in err.items()}


def _choose_form(
    grid: _Grid, design: BaselineDesign, b: FloatArray, t: FloatArray, prob: _Problem,
    obj: FloatArray, beta: FloatArray, settings: FitSettings,
) -> tuple[str, float, DemandIndex | None, dict[str, float]]:
    """The media form: ``(name, demand share, demand index, cross-validated RMSE by form)``.

    "auto" takes the additive form unless a demand-scaled form's root mean squared forecast
    error over the folds is smaller by more than ``SCALED_MARGIN`` (then the best of them);
    additive when the history is too short to cross-validate.
    """
    check_media_form(settings.media_form)
    if settings.media_form == "additive":
        return "additive", 0.0, None, {}
    fixed = settings.media_form != "auto"
    shares = {settings.media_form: DEMAND_SHARES[settings.media_form]} if fixed else DEMAND_SHARES
    demands = {f: _estimate_demand(grid, design, b, t, prob, obj, beta, m, design.n_harmonics)
               for f, m in shares.items()}
    if fixed:
        return settings.media_form, shares[settings.media_form], demands[settings.media_form], {}
    errors = _cv_forms(grid, design, b, t, prob, shares, settings.cv_splits,
                       settings.cv_test_weeks)
    if not errors:
        return "additive", 0.0, None, {}
    cv = {f: float(np.sqrt(e.mean())) for f, e in errors.items()}
    plain = [f for f in cv if shares.get(f, 0.0) == 0.0]
    form = min(sorted(plain), key=lambda f: cv[f])
    scaled = [f for f in cv if f not in plain]
    if scaled:
        best = min(sorted(scaled), key=lambda f: cv[f])
        if cv[best] < (1.0 - SCALED_MARGIN) * cv[form]:
            form = best
    return form, shares.get(form, 0.0), demands.get(form), cv


def _by_bic(grid: _Grid, obj: FloatArray, families: Sequence[str], n: int) -> str:
    """The family with the smallest BIC: ``n log(weighted RSS) + shape parameters x log n``."""
    fam = np.asarray(grid.family)

    def bic(f: str) -> float:
        rss = max(float(np.min(obj[fam == f])), 1e-300)
        return n * float(np.log(rss)) + len(SATURATIONS[f].shape_bounds) * float(np.log(n))

    return min(sorted(families), key=bic)


def _refine(best: dict[str, Any], prob: _Problem, q: FloatArray, fixed_shape: bool) -> dict[str, Any]:
    """Continuous bounded refinement of (log k, alpha, shape) around the grid optimum."""
    fam = best["family"]
    names = [] if fixed_shape else list(SATURATIONS[fam].shape_bounds)
    bounds = [(float(np.log(best["k"] / 4.0)), float(np.log(best["k"] * 4.0)))]
    start = [float(np.log(best["k"]))]
    geometric = not isinstance(best["ad"], Adstock)
    if geometric:
        bounds.append((0.0, MAX_ALPHA))
        start.append(float(best["ad"]))
    for nm in names:
        bounds.append(SATURATIONS[fam].shape_bounds[nm])
        start.append(float(best["shape"][nm]))
    every = slice(None)

    def unpack(p: FloatArray) -> tuple[float, Ad, dict[str, float]]:
        alpha = float(p[1]) if geometric else best["ad"]
        sh = dict(best["shape"])
        sh.update({nm: float(v) for nm, v in zip(names, p[len(p) - len(names):], strict=True)})
        return float(np.exp(p[0])), alpha, sh

    def objective(p: FloatArray) -> float:
        k, alpha, sh = unpack(p)
        z, rel = prob.features(fam, sh, alpha, k)
        return float(prob.score(q, (z * prob.sw)[None, :], every, np.array([rel]),
                                ze=prob.lift_row(fam, sh, alpha, k))[0][0])

    res = minimize(objective, np.array(start), method="Nelder-Mead", bounds=bounds,
                   options={"xatol": 1e-3, "fatol": 1e-7 * max(best["obj"], 1e-300), "maxfev": 300})
    if res.fun >= best["obj"]:
        return best
    k, alpha, sh = unpack(res.x)
    z, rel = prob.features(fam, sh, alpha, k)
    _, beta = prob.score(q, (z * prob.sw)[None, :], every, np.array([rel]),
                         ze=prob.lift_row(fam, sh, alpha, k))
    return {**best, "k": k, "ad": alpha, "shape": sh, "obj": float(res.fun),
            "beta": float(beta[0]), "z": z}


def fit_arrays(
    x: FloatArray, y: FloatArray, t: FloatArray, settings: FitSettings, seed: int | None = None,
    lift: LiftData | None = None, controls: ControlTable | None = None,
) -> ChannelFit:
    """Fit one channel from spend ``x``, outcome ``y`` and week indices ``t``.

    ``controls`` (known events by week, covering ``t`` and any week the fit will later be
    asked to predict) are further columns of the baseline: added to it in the additive form,
    times the demand index in the demand-scaled forms; the media term does not see them.
    ``lift`` (the channel's experiments, :func:`roiste.models.experiments.lift_data`) adds
    each test as a measurement ``delta_y ~ N(R(x + dx) - R(x), sigma**2)`` of the steady-state
    curve to the likelihood once the baseline and the media form are chosen: the grid's scores,
    the family, the refinement and the draws count it, with the curve's level calibrated by
    the tests (:func:`roiste.models.experiments.calibrate`).
    """
    lift = lift if lift is not None and len(lift) else None
    x = np.nan_to_num(np.asarray(x, dtype=float), nan=0.0)
    y = np.asarray(y, dtype=float)
    t = np.asarray(t, dtype=float)
    valid = np.isfinite(y)
    if valid.sum() < 10:
        raise CurveError("fewer than 10 weeks with an outcome: cannot fit a response curve")
    y = np.where(valid, y, 0.0)
    ads = _adstock_grid(settings.adstock)
    families = settings.families()
    shift = settings.level_shift
    controls = controls if controls is not None and controls.names else None
    design = BaselineDesign.for_weeks(
        t, settings.n_harmonics, float(shift) if isinstance(shift, int | float) else None,
        controls,
    )
    b = design.matrix(t)
    w = _weights(y, b, x, valid, settings.noise)
    prob = _Problem(x, y, w, np.sqrt(w))
    grid = _build_grid(x, families, ads, settings.shape, lift)
    every = slice(None)
    q = _basis(b * prob.sw[:, None])
    zw = grid.z * prob.sw[None, :]
    obj, beta = prob.score(q, zw, every, grid.log_rel_k)
    if shift == "auto":
        week = _detect_shift(t, b, prob.sw, grid.z[int(np.argmin(obj))], y * prob.sw)
        if week is not None:
            design = BaselineDesign.for_weeks(t, settings.n_harmonics, week, controls)
            b = design.matrix(t)
            q = _basis(b * prob.sw[:, None])
            obj, beta = prob.score(q, zw, every, grid.log_rel_k)
    if settings.choose_harmonics:
        design, b, q, obj, beta = _fewer_harmonics(design, t, prob, zw, grid.log_rel_k, q, obj,
                                                       beta)
    if settings.noise == "multiplicative":
        # one more round of weights, from the best candidate's expected revenue
        c0 = int(np.argmin(obj))
        bw0 = b * prob.sw[:, None]
        th0 = _solve_theta(bw0, y * prob.sw, grid.z[c0] * prob.sw, float(beta[c0]))
        mu0 = b @ th0 + float(beta[c0]) * grid.z[c0]
        floor = 0.1 * max(float(np.mean(y[valid])), 1e-12)
        w = valid.astype(float) / np.maximum(mu0, floor) ** 2
        prob = _Problem(x, y, w, np.sqrt(w))
        q = _basis(b * prob.sw[:, None])
        zw = grid.z * prob.sw[None, :]
        obj, beta = prob.score(q, zw, every, grid.log_rel_k)
    if settings.k_prior_sd:
        dof = max(int(valid.sum()) - q.shape[1] - 2, 1)
        prob.lam = float(np.min(obj)) / dof / settings.k_prior_sd**2
        obj, beta = prob.score(q, zw, every, grid.log_rel_k)
    form, share, demand, form_cv = _choose_form(grid, design, b, t, prob, obj, beta, settings)
    if demand is not None:
        design = design.with_demand(demand)
        b = design.matrix(t)
        q = _basis(b * prob.sw[:, None])
        prob.scale = media_scale(demand.at(t), share)
        grid = replace(grid, z=grid.z * prob.scale[None, :])
        zw = grid.z * prob.sw[None, :]
        coming = float(t.max()) + np.arange(1.0, PROFILE_WEEKS + 1.0)
        prob.lift_scale = float(np.mean(media_scale(demand.at(coming), share)))
        obj, beta = prob.score(q, zw, every, grid.log_rel_k)
    # the panel's noise variance per (weighted) week: the experiments' chi-square counts
    # s2 RSS units, so that RSS / s2 + chi-square is -2 log-likelihood of both
    s2 = float(np.min(obj)) / max(int(valid.sum()) - q.shape[1] - 3, 1)
    if lift is not None and grid.ze is not None:
        c0 = int(np.argmin(obj))
        prob.lift, prob.lift_s2 = lift, s2
        prob.lift_prior = level_prior(float(beta[c0]) * prob.lift_scale * grid.ze[c0], lift)
        obj, beta = prob.score(q, zw, every, grid.log_rel_k, ze=grid.ze)
    errors = (_cv_errors(grid, b, prob, settings.cv_splits, families, settings.cv_test_weeks)
              if len(families) > 1 else {})
    cv = {f: float(np.sqrt(e.mean())) for f, e in errors.items()}
    # BIC chooses the family (over all of them: on 288 simulated channels it beat choosing
    # among those the cross-validation keeps, 0.068 against 0.070 median error); the
    # cross-validation errors are reported
    family = _by_bic(grid, obj, families, int(valid.sum()))
    rows = grid.rows([family])
    c = int(rows[np.argmin(obj[rows])])
    best: dict[str, Any] = {
        "family": family, "shape": dict(grid.shape[c]), "k": float(grid.k[c]),
        "ad": grid.ad[c],
        "beta": float(beta[c]), "obj": float(obj[c]), "z": grid.z[c],
    }
    best = _refine(best, prob, q, settings.shape is not None)
    bw = b * prob.sw[:, None]
    theta = _solve_theta(bw, y * prob.sw, best["z"] * prob.sw, best["beta"])
    mu = b @ theta + best["beta"] * best["z"]
    resid = (y - mu)[valid]
    fit = ChannelFit(
        family=family, shape=best["shape"], ad=best["ad"], k=best["k"], beta=best["beta"], theta=theta, design=design, t=t, x=x,
        rss=float(np.sum((resid * prob.sw[valid]) ** 2)), cv_scores=cv,
        r2_train=1.0 - float(resid @ resid) / max(float(np.var(y[valid]) * valid.sum()), 1e-300),
        form=form, share=share, demand=demand, form_cv=form_cv, s2=s2,
    )  # fmt: skip
    if lift is not None:
        pred = best["beta"] * prob.lift_scale * prob.lift_row(family, best["shape"], best["ad"], best["k"])
        fit.level, fit.level_sd, _ = (float(v[0]) for v in calibrate(pred, lift, prob.lift_prior))
        fit.level_prior = prob.lift_prior
    if settings.bootstrap > 0:
        # the draws may take any family: the profile likelihood weighs them
        fit.draws = _bootstrap(grid, grid.rows(families), q, prob, mu, valid, settings, seed or 0)
        if fit.demand is not None:  # a draw's beta multiplies the demand scale: average it over the year
            year = fit.year_scale
            fit.draws = [replace(d, beta=d.beta * year) for d in fit.draws]
        if settings.media_form == "auto" and len(form_cv) > 1:
            _, tau = temperature(obj, zw, q, (y - mu) * prob.sw, valid, settings.block_weeks)
            fit.draws = _form_draws(fit, x, np.where(valid, y, np.nan), t, settings, seed or 0,
                                    tau, lift)
    return fit


def _form_draws(fit: ChannelFit, x: FloatArray, y: FloatArray, t: FloatArray,
                settings: FitSettings, seed: int, tau: float, lift: LiftData | None
                ) -> list[Component]:
    """The draws over the media forms: each form that forecast about as well as the chosen one
    (:func:`models.fit.bands.form_weights`) takes its share of the draws, from its own fit."""
    folds, weeks = form_fold_size(len(y), settings.cv_splits, settings.cv_test_weeks)
    weights = form_weights(fit.form_cv, folds * weeks, tau)
    counts = split_draws(weights, settings.bootstrap, fit.form)
    draws = list(fit.draws[:counts.pop(fit.form)])
    for i, (form, n) in enumerate(sorted(counts.items()), start=1):
        other = fit_arrays(x, y, t, replace(settings, media_form=form, bootstrap=n),
                           seed=seed + 7919 * i, lift=lift, controls=fit.design.controls)
        draws += other.draws
    return draws


def _bootstrap(
    grid: _Grid, rows: IntArray, q: FloatArray, prob: _Problem, mu: FloatArray,
    valid: FloatArray, settings: FitSettings, seed: int,
) -> list[Component]:
    """Draws of the curve from the tempered profile likelihood over the candidates ``rows``
    (:func:`models.fit.bands.profile_draws`): a draw may take any curve the data fit about as
    well as the chosen one, so the band shows what the data cannot tell apart.
    """
    sw = prob.sw
    zw = grid.z[rows] * sw[None, :]
    saved = prob.lift_s2
    prob.lift_s2 = None
    obj, beta = prob.score(q, zw, slice(None), grid.log_rel_k[rows])
    zm = zw @ sw
    cap = np.where(zm > 0, float(prob.y @ prob.w) / np.maximum(zm, 1e-300), np.inf)
    fams = [grid.family[int(r)] for r in rows]
    resid, ok = (prob.y - mu) * sw, np.asarray(valid, dtype=bool)
    temper = None
    if prob.lift is not None and grid.ze is not None:
        # the draws temper the panel's likelihood by tau, never the experiments': their
        # chi-square counts s2 tau RSS units, so that the tempered weight keeps each sigma
        temper = temperature(obj, zw, q, resid, ok, settings.block_weeks)
        prob.lift_s2 = temper[0] * temper[1]
        obj, beta = prob.score(q, zw, slice(None), grid.log_rel_k[rows], ze=grid.ze[rows])
    prob.lift_s2 = saved
    picks, betas = profile_draws(obj, beta, zw, q, cap, fams, resid, ok, settings.bootstrap,
                                 settings.block_weeks, seed, temper=temper)
    if prob.lift is not None and grid.ze is not None:
        # each draw's level from its conditional normal given the experiments (its own stream)
        pred = betas[:, None] * prob.lift_scale * grid.ze[rows[picks]]
        level, level_sd, _ = calibrate(pred, prob.lift, prob.lift_prior)
        noise = np.random.default_rng([seed, 1]).standard_normal(len(betas))
        betas = betas * np.maximum(level + level_sd * noise, 0.0)
    draws = []
    adstocks: dict[int, Adstock] = {}
    for c, b in zip(picks, betas, strict=True):
        r = int(rows[int(c)])
        ad = grid.ad[r]
        if id(ad) not in adstocks:
            adstocks[id(ad)] = _as_adstock(ad)
        sat = SATURATIONS[grid.family[r]].from_scale(float(grid.k[r]), **grid.shape[r])
        draws.append(Component(float(b), sat, adstocks[id(ad)]))
    return draws
