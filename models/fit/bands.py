"""The uncertainty of the per-channel fit: draws from the profile likelihood over the grid.

The search of :mod:`models.fit.search` scores every candidate (family, shape, adstock, scale
``k``) of its grid with the linear part profiled out.  The draws take candidates in proportion
to their profile likelihood, ``exp(-(RSS_c - RSS_min) / (2 tau s^2))``, every family with the
same prior mass, and each draw's ``beta`` from its conditional normal (kept between zero and
its cap).  Where the data cannot tell curves apart (spend that never goes low, a flat
likelihood over ``k`` and ``beta``), the draws spread over all of them instead of sitting on
the one the search chose: the band is wide and says so.

``tau`` widens the likelihood for what the model does not describe: the long-run variance of
the media feature times the residual (a Bartlett sandwich over ``lags`` weeks) over its
independent-noise value, times :data:`TEMPER`.  The moving-block residual bootstrap this
replaces re-searched data made from the fitted curve, so its draws sat around that curve even
where the data fitted others as well; its bands covered 0.44-0.89 of the truth on the worlds
of :mod:`models.worlds`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from roiste.models.curves import Component
from roiste.models.transforms import FloatArray

TEMPER = 2.0  # likelihood temperature over the sandwich: 90 % bands cover >= 0.8 on most worlds
LEVEL_SPREAD = 0.5  # 90 % band of the response at recent spend wider than this share of the fit
SLOPE_SPREAD = 1.0  # the same for the marginal response


def sandwich_ratio(feature: FloatArray, resid: FloatArray, lags: int) -> float:
    """Long-run over independent-noise variance of ``feature * resid`` (Bartlett), at least 1.

    Parameters
    ----------
    feature : ndarray
        The weighted media feature with the baseline projected out.
    resid : ndarray
        The weighted residuals of the fit.
    lags : int
        Autocorrelation lags counted (the Bartlett kernel's bandwidth).
    """
    u = np.asarray(feature, dtype=float) * np.asarray(resid, dtype=float)
    v0 = float(u @ u)
    if v0 <= 0:
        return 1.0
    s = v0
    for h in range(1, min(lags, len(u) - 1) + 1):
        s += 2.0 * (1.0 - h / (lags + 1.0)) * float(u[:-h] @ u[h:])
    return max(1.0, s / v0)


def temperature(obj: FloatArray, zw: FloatArray, q: FloatArray, resid: FloatArray,
                valid: np.ndarray, lags: int) -> tuple[float, float]:
    """The noise variance per weighted week ``s2`` and the temperature ``tau`` of the draws.

    ``s2`` is the best candidate's RSS over its degrees of freedom; ``tau`` is :data:`TEMPER`
    times the sandwich ratio of its media feature (baseline projected out) and the residuals.
    """
    dof = max(int(np.count_nonzero(valid)) - q.shape[1] - 3, 1)
    best = int(np.argmin(obj))
    s2 = max(float(obj[best]) / dof, 1e-300)
    zb = zw[best] - q @ (zw @ q)[best]  # the same product as the draws' (same bits)
    return s2, TEMPER * sandwich_ratio(zb[valid], resid[valid], lags)


def profile_draws(
    obj: FloatArray, beta: FloatArray, zw: FloatArray, q: FloatArray, cap: FloatArray,
    families: Sequence[str], resid: FloatArray, valid: np.ndarray, n_draws: int, lags: int,
    seed: int, temper: tuple[float, float] | None = None,
) -> tuple[np.ndarray, FloatArray]:
    """Candidates and ``beta`` of ``n_draws`` draws from the tempered profile likelihood.

    Parameters
    ----------
    obj, beta : ndarray
        Profiled weighted RSS and ``beta`` of every candidate (shape ``(candidates,)``).
    zw : ndarray
        The candidates' weighted features, ``(candidates, weeks)``.
    q : ndarray
        Orthonormal basis of the weighted baseline, ``(weeks, columns)``.
    cap : ndarray
        Largest ``beta`` of each candidate.
    families : sequence of str
        The family of each candidate (each family gets the same prior mass).
    resid : ndarray
        Weighted residuals of the fit.
    valid : ndarray of bool
        Weeks with an outcome.
    n_draws, lags, seed : int
        Draws, sandwich lags and the seed.
    temper : (float, float), optional
        ``(s2, tau)`` of :func:`temperature`, when ``obj`` holds more than the panel's RSS
        (the experiments' chi-square times ``s2 tau``, untempered by the division).

    Returns
    -------
    rows : ndarray of int
        The candidate of each draw.
    betas : ndarray
        Its ``beta``.
    """
    rng = np.random.default_rng(seed)
    best = int(np.argmin(obj))
    s2, tau = temper or temperature(obj, zw, q, resid, valid, lags)
    zq = zw @ q
    zz = np.einsum("cn,cn->c", zw, zw) - np.einsum("cp,cp->c", zq, zq)
    fam = np.asarray(families)
    names = sorted(set(fam.tolist()))
    prior = np.zeros(len(fam))
    for f in names:
        sel = fam == f
        prior[sel] = -np.log(len(names) * sel.sum())
    logw = -(obj - obj[best]) / (2.0 * s2 * tau) + prior
    p = np.exp(logw - logw.max())
    rows = rng.choice(len(fam), size=n_draws, p=p / p.sum())
    sd = np.sqrt(tau * s2 / np.maximum(zz[rows], 1e-300))
    betas = np.clip(beta[rows] + sd * rng.standard_normal(n_draws), 0.0, cap[rows])
    return rows, betas


def draw_spread(draws: Sequence[Component], w: float, fitted: Component, level: float = 0.9
                ) -> tuple[float, float]:
    """Width of the draws' ``level`` band of the response and of the marginal response at
    weekly spend ``w``, each relative to the fitted value (0 without draws)."""
    if not draws:
        return 0.0, 0.0
    q = (1.0 - level) / 2.0
    out = []
    for values, ref in (([float(d.value(w)) for d in draws], float(fitted.value(w))),
                        ([float(d.derivative(w)) for d in draws], float(fitted.derivative(w)))):
        lo, hi = np.quantile(values, [q, 1.0 - q])
        out.append(float((hi - lo) / ref) if ref > 0 else float("inf"))
    return out[0], out[1]


def form_weights(cv: dict[str, float], test_weeks: int, tau: float) -> dict[str, float]:
    """Weights of the media forms from their cross-validated forecast errors.

    A form whose forecasts miss by a root mean squared error ``r_f`` over ``test_weeks``
    held-out weeks has the Gaussian log-likelihood ``-test_weeks log(r_f)`` (up to a constant);
    tempered by ``tau`` like the draws' likelihood (neighbouring weeks are not independent),
    the forms weigh ``exp(-test_weeks log(r_f / r_best) / tau)``.  Forms that forecast about
    as well as the chosen one keep a share of the draws, so the band shows that the data cannot
    tell them apart; a form that forecasts clearly worse gets almost none.

    Parameters
    ----------
    cv : dict
        Form -> cross-validated root mean squared (weighted) forecast error.
    test_weeks : int
        Held-out weeks over all folds.
    tau : float
        Temperature (:func:`temperature`), at least 1.

    Returns
    -------
    dict
        Form -> weight, summing to 1 (sorted by form name).
    """
    finite = {f: r for f, r in sorted(cv.items()) if np.isfinite(r) and r > 0}
    if not finite:
        return {}
    best = min(finite.values())
    logw = {f: -test_weeks * float(np.log(r / best)) / max(tau, 1.0) for f, r in finite.items()}
    w = {f: float(np.exp(v)) for f, v in logw.items()}
    total = sum(w.values())
    return {f: v / total for f, v in w.items()}


def split_draws(weights: dict[str, float], n_draws: int, chosen: str) -> dict[str, int]:
    """Draws per form in proportion to ``weights`` (largest remainders; the rest to ``chosen``).

    A form gets draws only when its share rounds to at least one; ``chosen`` keeps the others.
    """
    raw = {f: w * n_draws for f, w in weights.items() if f != chosen}
    out = {f: int(np.floor(v)) for f, v in raw.items()}
    left = n_draws - sum(out.values()) - int(np.floor(weights.get(chosen, 0.0) * n_draws))
    for f in sorted(raw, key=lambda f: (-(raw[f] - out[f]), f))[:max(left, 0)]:
        if raw[f] - out[f] >= 0.5:
            out[f] += 1
    out = {f: n for f, n in out.items() if n > 0}
    out[chosen] = n_draws - sum(out.values())
    return out
