"""Durability rules of the monitor: N weeks in a row, one-sided CUSUM and EWMA charts.

A KPI series is watched on the log scale (KPIs are positive ratios: a 20 % rise and a 20 %
fall are symmetric there).  Each week ``t`` is standardised against the ``B`` weeks before
it: ``e_t = s * (y_t - c_t) / sd_t`` where ``c_t`` is the line and ``s`` is +1 for "above",
-1 for "below".  With ``level: trend`` (the default) the recent level is the straight line
through those weeks carried one week forward and ``sd_t`` the spread around it, so a seasonal
slope is not mistaken for a change; with ``level: mean`` they are the weeks' mean and
standard deviation.  The line is the recent level shifted by the relative threshold, or the
log of the plan's or the absolute value.  With ``level: year_over_year`` the chart watches
the change of the log KPI against the same week a year (52 weeks) before, against its mean
over the baseline weeks: seasonality of any shape cancels, at the price of a noisier series
(its variance doubles) and a year of history before the first alert.

Because ``e_t`` does not change when the series is shifted or scaled, its in-control law
(independent normal weeks at the line) is the same for every channel.  The chart limit that
gives a stated in-control average run length ``arl0`` is therefore found once, by simulating
that law (:func:`calibrate`, seeded: the same limit every time), and holds for any channel
whose weeks are independent around a slowly moving level.  Autocorrelated weeks (spend that
wanders through a saturating curve) make false alarms more frequent than stated.

An N-weeks-in-a-row rule relative to recent compares a run that starts in week ``s`` with
the level of the ``B`` weeks that end N weeks before ``s``, frozen for the whole run
(:func:`reference_lag`), so a change's own first weeks never raise the level it is measured
against.  Its false-alarm rate is stated per series (:func:`stated_rate`): with the mean
level, the rule's in-control law depends only on the threshold in units of the series' weekly
noise (:func:`weekly_noise`), and is simulated once for a grid of such thresholds.

An *episode* is a spell out of control: for the charts it starts when the statistic crosses
the limit and ends when it returns to zero; its start ("since") is the most likely start of
a shift of unknown size between the week the statistic last stood at zero and the alarm.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from roiste.optimizer.monitor.rules import Durability, Threshold

__all__ = [
    "Episode",
    "calibrate",
    "chart_statistic",
    "episodes",
    "reference_lag",
    "standardised",
    "stated_rate",
    "weekly_noise",
]

_CAL_PATHS = 3000
_RATE_PATHS = 1000
_RATE_WEEKS = 400
_RATE_Z = np.round(np.arange(0.0, 6.0001, 0.05), 2)  # thresholds in noise units (log-linear between)
_CAL_SEED = 20260101
_MIN_VALID = 3
YEAR = 52


@dataclass(frozen=True)
class Episode:
    """A spell during which a rule holds (positions are week indices of the series).

    Attributes
    ----------
    since : int
        First week of the change (run start, or the week after the statistic was last zero).
    fired : int
        Week the rule fired.
    until : int
        Last week of the spell (the series' last week when still ongoing).
    ongoing : bool
        Whether the spell lasts to the last week of the series.
    """

    since: int
    fired: int
    until: int
    ongoing: bool


def _trailing(y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample sd of the ``window`` values before each position (NaN where too few)."""
    n = y.shape[-1]
    ok = np.isfinite(y)
    v = np.where(ok, y, 0.0)
    pad = [(0, 0)] * (y.ndim - 1) + [(1, 0)]
    c1 = np.pad(np.cumsum(v, axis=-1), pad)
    c2 = np.pad(np.cumsum(v * v, axis=-1), pad)
    cn = np.pad(np.cumsum(ok, axis=-1), pad)
    hi = np.arange(n)
    lo = np.maximum(hi - window, 0)
    cnt = cn[..., hi] - cn[..., lo]
    s1 = c1[..., hi] - c1[..., lo]
    s2 = c2[..., hi] - c2[..., lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / cnt
        var = (s2 - cnt * mean * mean) / (cnt - 1)
    enough = (cnt >= max(_MIN_VALID, window // 2)) & (hi >= window)
    sd = np.sqrt(np.maximum(var, 0.0))
    return np.where(enough, mean, np.nan), np.where(enough & (sd > 0), sd, np.nan)


def _trailing_trend(y: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Straight line through the ``window`` values before each position, carried one week
    forward, and the residual sd of that fit (NaN where too few values)."""
    n = y.shape[-1]
    ok = np.isfinite(y)
    t = np.broadcast_to(np.arange(n, dtype=float), y.shape)
    v = np.where(ok, y, 0.0)
    w = ok.astype(float)
    pad = [(0, 0)] * (y.ndim - 1) + [(1, 0)]
    sums = [np.pad(np.cumsum(a, axis=-1), pad) for a in (w, w * t, w * t * t, v, v * t, v * v)]
    hi = np.arange(n)
    lo = np.maximum(hi - window, 0)
    c, st, stt, sy, sty, syy = (a[..., hi] - a[..., lo] for a in sums)
    with np.errstate(invalid="ignore", divide="ignore"):
        tbar, ybar = st / c, sy / c
        sxx = stt - c * tbar * tbar
        sxy = sty - c * tbar * ybar
        b = sxy / sxx
        pred = ybar + b * (hi - tbar)
        rss = syy - c * ybar * ybar - b * sxy
        sd = np.sqrt(np.maximum(rss, 0.0) / (c - 2))
    enough = (c >= max(_MIN_VALID + 1, window // 2)) & (hi >= window) & (sxx > 0)
    return np.where(enough, pred, np.nan), np.where(enough & (sd > 0), sd, np.nan)


def _log(x: np.ndarray) -> np.ndarray:
    """Log of a positive KPI; zero (no revenue at all) is floored, undefined weeks are NaN."""
    x = np.asarray(x, dtype=float)
    pos = x[np.isfinite(x) & (x > 0)]
    floor = 1e-3 * float(np.median(pos)) if len(pos) else 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(x) & (x >= 0), np.log(np.maximum(x, floor)), np.nan)


def standardised(
    values: np.ndarray, threshold: Threshold, line: np.ndarray | float | None = None
) -> np.ndarray:
    """``e_t``: how far each week lies beyond the line, in the series' own standard deviations.

    Parameters
    ----------
    values : ndarray
        The KPI per week (NaN where undefined).
    threshold : Threshold
        Direction, what the line is relative to, and the baseline window.
    line : float or ndarray, optional
        The plan's expectation (``relative_to: plan``), per week or constant.
    """
    y = _log(values)
    level = threshold.level_for(y.shape[-1])
    if level == "year_over_year":
        y = np.concatenate([np.full((*y.shape[:-1], min(YEAR, y.shape[-1])), np.nan),
                            y[..., YEAR:] - y[..., :-YEAR]], axis=-1)
        mean, sd = _trailing(y, threshold.baseline_weeks)
    elif level == "trend":
        mean, sd = _trailing_trend(y, threshold.baseline_weeks)
    else:
        mean, sd = _trailing(y, threshold.baseline_weeks)
    sign = 1.0 if threshold.direction == "above" else -1.0
    r = threshold.value
    if threshold.relative_to == "recent":
        c = mean + np.log1p(r) if sign > 0 else mean + np.log(max(1.0 - r, 1e-12))
    elif threshold.relative_to == "absolute":
        c = np.full_like(y, np.log(max(r, 1e-300)))
    else:
        ln = np.broadcast_to(np.asarray(np.nan if line is None else line, dtype=float), y.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            base = np.where(ln > 0, np.log(ln), np.nan)
        c = base + np.log1p(r) if sign > 0 else base + np.log(max(1.0 - r, 1e-12))
    return np.asarray(sign * (y - c) / sd, dtype=float)


def chart_statistic(e: np.ndarray, durability: Durability) -> np.ndarray:
    """The CUSUM ``S_t = max(0, S_{t-1} + e_t - k)`` or EWMA ``Z_t`` path (NaN weeks hold it)."""
    e = np.asarray(e, dtype=float)
    out = np.zeros(e.shape)
    s = np.zeros(e.shape[:-1])
    if durability.cusum is not None:
        k = durability.cusum.k
        for t in range(e.shape[-1]):
            et = e[..., t]
            s = np.where(np.isfinite(et), np.maximum(0.0, s + et - k), s)
            out[..., t] = s
    elif durability.ewma is not None:
        lam = durability.ewma.lam
        for t in range(e.shape[-1]):
            et = e[..., t]
            s = np.where(np.isfinite(et), (1.0 - lam) * s + lam * et, s)
            out[..., t] = s
    else:
        raise ValueError("chart_statistic needs a cusum or ewma durability rule")
    return out


@functools.lru_cache(maxsize=64)
def _calibrate(kind: str, param: float, arl0: float, window: int, centred: bool,
               level: str) -> float:
    rng = np.random.default_rng(_CAL_SEED)
    horizon = int(min(max(6 * arl0, 200), 12000))
    hgrid = np.linspace(0.0, 40.0 if kind == "cusum" else 4.0, 4001)
    th = Threshold.model_construct(relative_to="recent" if centred else "plan", above=0.0,
                                   below=None, baseline_weeks=window, level=level)
    dur = Durability.model_validate(
        {"cusum": {"arl0": arl0, "k": param}} if kind == "cusum"
        else {"ewma": {"arl0": arl0, "lambda": param}}
    )
    total = np.zeros(len(hgrid))
    warmup = window + (YEAR if level == "year_over_year" else 0)  # weeks before the first e_t
    chunk = max(50, 400_000 // (warmup + horizon))
    done = 0
    while done < _CAL_PATHS:
        m = min(chunk, _CAL_PATHS - done)
        y = np.exp(rng.standard_normal((m, warmup + horizon)))
        e = standardised(y, th, line=None if centred else 1.0)[:, warmup:]
        runmax = np.maximum.accumulate(chart_statistic(e, dur), axis=1)
        # first passage over h: weeks with runmax <= h, plus one (censored at the horizon)
        for row in runmax:
            total += np.minimum(np.searchsorted(row, hgrid, side="right") + 1, horizon)
        done += m
    arl = total / _CAL_PATHS
    j = int(np.searchsorted(arl, arl0))
    if j == 0:
        return float(hgrid[0])
    if j >= len(hgrid):
        return float(hgrid[-1])
    a0, a1 = np.log(arl[j - 1]), np.log(arl[j])
    w = 0.0 if a1 == a0 else (np.log(arl0) - a0) / (a1 - a0)
    return float(hgrid[j - 1] + w * (hgrid[j] - hgrid[j - 1]))


def calibrate(durability: Durability, window: int, *, centred: bool = True,
              level: str = "trend") -> float:
    """The chart limit ``h`` that gives the rule's stated in-control average run length.

    Parameters
    ----------
    durability : Durability
        A CUSUM or EWMA rule (``arl0`` and ``k`` or ``lambda``).
    window : int
        Baseline weeks that estimate the spread (and, when ``centred``, the level).
    centred : bool, default True
        Whether the level is the series' own recent level (``relative_to: recent``) or given
        (plan, absolute).
    level : {"trend", "mean"}, default "trend"
        How the recent level and spread are estimated (see :class:`Threshold`).

    Returns
    -------
    float
        ``h``: the rule fires when the statistic exceeds it.  Seeded Monte Carlo over
        independent normal weeks (3000 paths of 6 x ``arl0`` weeks, at most 12000), cached per setting.
    """
    if durability.cusum is not None:
        return _calibrate("cusum", durability.cusum.k, durability.cusum.arl0, window, centred,
                          level)
    if durability.ewma is not None:
        return _calibrate("ewma", durability.ewma.lam, durability.ewma.arl0, window, centred,
                          level)
    raise ValueError("calibrate needs a cusum or ewma durability rule")


def _runs(beyond: np.ndarray, n_weeks: int) -> list[Episode]:
    out: list[Episode] = []
    t, n = 0, len(beyond)
    while t < n:
        if not beyond[t]:
            t += 1
            continue
        s = t
        while t < n and beyond[t]:
            t += 1
        if t - s >= n_weeks:
            out.append(Episode(s, s + n_weeks - 1, t - 1, t == n))
    return out


def _reference(y: np.ndarray, s: int, window: int, level: str) -> tuple[float, float, int]:
    """The recent level of the ``window`` weeks before week ``s``: ``(intercept, slope, lag)``
    in log units, so the reference of week ``t`` is ``intercept + slope * (t - s) + y[t - lag]``
    (lag 0: no term)."""
    lo = max(0, s - window)
    t = np.arange(lo, s, dtype=float)
    if level == "year_over_year":
        if lo < YEAR:
            return np.nan, 0.0, YEAR
        d = y[lo:s] - y[lo - YEAR:s - YEAR]
        ok = np.isfinite(d)
        return (float(d[ok].mean()) if ok.sum() >= _MIN_VALID else np.nan), 0.0, YEAR
    if s <= 0:
        return np.nan, 0.0, 0
    v = y[lo:s]
    ok = np.isfinite(v)
    if ok.sum() < max(_MIN_VALID, window // 2) or s < window:
        return np.nan, 0.0, 0
    if level == "trend" and ok.sum() >= _MIN_VALID + 1:
        b, a = np.polyfit(t[ok] - s, v[ok], 1)
        return float(a), float(b), 0
    return float(v[ok].mean()), 0.0, 0


def reference_lag(durability: Durability) -> int:
    """Weeks between the end of a rule's baseline window and the week it is compared from.

    An N-weeks-in-a-row rule compares a run starting in week ``s`` with the ``baseline_weeks``
    that end N weeks before ``s``, frozen for the whole run: a run that starts within N weeks of
    a change is measured against weeks before the change, so the change's own first weeks
    cannot raise the level it is compared with.  Control charts use no lag (0).
    """
    return int(durability.weeks_in_a_row or 0)


def _in_a_row(values: np.ndarray, threshold: Threshold, n_weeks: int,
              line: np.ndarray | float | None) -> list[Episode]:
    """Runs beyond the line; a recent level is frozen at the week the run starts, from the
    baseline weeks that end ``n_weeks`` before it (see :func:`reference_lag`)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    up = threshold.direction == "above"
    r = threshold.value
    if threshold.relative_to != "recent":
        if threshold.relative_to == "absolute":
            ref = np.full(n, r)
        else:
            base = np.broadcast_to(np.asarray(np.nan if line is None else line, dtype=float), (n,))
            ref = base * (1.0 + r) if up else base * (1.0 - r)
        with np.errstate(invalid="ignore"):
            beyond = np.isfinite(x) & np.isfinite(ref) & ((x > ref) if up else (x < ref))
        return _runs(beyond, n_weeks)
    y = _log(x)
    level = threshold.level_for(n)
    shift = float(np.log1p(r)) if up else float(np.log(max(1.0 - r, 1e-12)))
    lag = n_weeks

    def beyond_at(t: int, ref: tuple[float, float, int], origin: int) -> bool:
        a, b, season = ref
        past = 0.0 if season == 0 else (y[t - season] if t >= season else np.nan)
        line_t = a + b * (t - origin) + past + shift
        if not (np.isfinite(line_t) and np.isfinite(y[t])):
            return False
        return bool(y[t] > line_t) if up else bool(y[t] < line_t)

    out: list[Episode] = []
    t = 0
    while t < n:
        frozen = _reference(y, t - lag, threshold.baseline_weeks, level)
        if not beyond_at(t, frozen, t - lag):
            t += 1
            continue
        s = t
        while t < n and beyond_at(t, frozen, s - lag):
            t += 1
        if t - s >= n_weeks:
            out.append(Episode(s, s + n_weeks - 1, t - 1, t == n))
    return out


def weekly_noise(values: np.ndarray) -> float:
    """Robust week-to-week standard deviation of the log KPI (NaN with fewer than 8 weeks):
    the median absolute change between consecutive weeks, over ``0.6745 sqrt(2)``, so level
    shifts and single odd weeks barely move it."""
    y = _log(np.asarray(values, dtype=float))
    d = np.diff(y)
    d = d[np.isfinite(d)]
    if len(d) < 7:
        return float("nan")
    return float(np.median(np.abs(d)) / (0.6745 * np.sqrt(2.0)))


@functools.lru_cache(maxsize=64)
def _in_a_row_rates(n_weeks: int, window: int) -> np.ndarray:
    """Alarms per week of "``n_weeks`` weeks in a row more than ``z`` standard deviations above
    the mean of ``window`` weeks, frozen at the run's start and ending ``n_weeks`` before it",
    over independent standard normal weeks, for every ``z`` of :data:`_RATE_Z` (seeded Monte
    Carlo, all thresholds on the same weeks)."""
    rng = np.random.default_rng(_CAL_SEED)
    lag = n_weeks
    warm = window + lag
    y = rng.standard_normal((_RATE_PATHS, warm + _RATE_WEEKS))
    c = np.pad(np.cumsum(y, axis=1), [(0, 0), (1, 0)])
    z = _RATE_Z[None, :]
    shape = (_RATE_PATHS, len(_RATE_Z))
    fired = np.zeros(len(_RATE_Z))
    in_run = np.zeros(shape, dtype=bool)
    frozen = np.zeros(shape)
    length = np.zeros(shape, dtype=np.int32)
    for t in range(warm, warm + _RATE_WEEKS):
        ref = ((c[:, t - lag] - c[:, t - lag - window]) / window)[:, None]
        yt = y[:, t, None]
        cont = in_run & (yt > frozen + z)
        start = ~cont & (yt > ref + z)
        frozen = np.where(start, ref, frozen)
        length = np.where(cont, length + 1, start.astype(np.int32))
        in_run = cont | start
        fired += np.count_nonzero(in_run & (length == n_weeks), axis=0)
    return fired / (_RATE_PATHS * _RATE_WEEKS)


def stated_rate(values: np.ndarray, threshold: Threshold, durability: Durability) -> float | None:
    """False alarms per week that a rule states for a series when nothing changes.

    A control chart states ``1 / arl0``.  An N-weeks-in-a-row rule relative to the series' own
    mean level states the rate of its runs over independent normal weeks whose spread is the
    series' :func:`weekly_noise` (simulated once for thresholds of 0 to 6 noise units in steps
    of 0.05, interpolated in between; resolution one alarm in 400,000 weeks).  None where no rate is stated (a plan's or an absolute line,
    a trend or a year-over-year level).
    """
    if durability.cusum is not None:
        return 1.0 / durability.cusum.arl0
    if durability.ewma is not None:
        return 1.0 / durability.ewma.arl0
    x = np.asarray(values, dtype=float)
    if threshold.relative_to != "recent" or threshold.level_for(len(x)) != "mean":
        return None
    sigma = weekly_noise(x)
    if not (np.isfinite(sigma) and sigma > 0):
        return None
    r = threshold.value
    shift = np.log1p(r) if threshold.direction == "above" else -np.log(max(1.0 - r, 1e-12))
    z = float(shift / sigma)
    rates = _in_a_row_rates(int(durability.weeks_in_a_row or 1), threshold.baseline_weeks)
    if z >= _RATE_Z[-1]:
        return float(rates[-1])
    j = int(np.searchsorted(_RATE_Z, z, side="right")) - 1
    a, b = float(rates[j]), float(rates[j + 1])
    w = (z - _RATE_Z[j]) / (_RATE_Z[j + 1] - _RATE_Z[j])
    if a > 0 and b > 0:
        return float(np.exp((1 - w) * np.log(a) + w * np.log(b)))
    return float((1 - w) * a + w * b)


def episodes(
    values: np.ndarray,
    threshold: Threshold,
    durability: Durability,
    line: np.ndarray | float | None = None,
) -> list[Episode]:
    """Every spell during which the rule holds over a KPI series.

    Parameters
    ----------
    values : ndarray
        The KPI per week.
    threshold, durability : Threshold, Durability
        The rule.
    line : float or ndarray, optional
        The plan's expectation, for ``relative_to: plan``.

    Returns
    -------
    list of Episode
        In time order.

    Examples
    --------
    >>> from optimizer.monitor_rules import Durability, Threshold
    >>> th = Threshold(relative_to="absolute", above=10.0)
    >>> x = [5, 11, 12, 13, 4, 11]
    >>> [(e.since, e.fired) for e in episodes(x, th, Durability(weeks_in_a_row=3))]
    [(1, 3)]
    """
    x = np.asarray(values, dtype=float)
    if durability.weeks_in_a_row is not None:
        return _in_a_row(x, threshold, durability.weeks_in_a_row, line)
    e = standardised(x, threshold, line)
    stat = chart_statistic(e, durability)
    h = calibrate(durability, threshold.baseline_weeks, centred=threshold.relative_to == "recent",
                  level=threshold.level_for(len(x)))
    out: list[Episode] = []
    n = len(stat)
    t = 0
    while t < n:
        if stat[t] <= h:
            t += 1
            continue
        fired = t
        s = fired
        while s > 0 and stat[s - 1] > 0:
            s -= 1
        while t < n and stat[t] > 0:
            t += 1
        out.append(Episode(_change_point(e, s, fired), fired, t - 1, t == n))
    return out


def _change_point(e: np.ndarray, start: int, fired: int) -> int:
    """Most likely first week of a shift of unknown size in ``e[start..fired]``: the ``tau``
    that maximises ``(sum of e from tau to fired)^2 / weeks`` among positive sums."""
    seg = np.nan_to_num(e[start:fired + 1], nan=0.0)
    tail = np.cumsum(seg[::-1])[::-1]  # sum from each week to the firing week
    weeks = np.arange(len(seg), 0, -1, dtype=float)
    score = np.where(tail > 0, tail * tail / weeks, -np.inf)
    return start + int(np.argmax(score))
