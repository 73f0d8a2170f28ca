"""Experiments that pin the response curves: the experiments file, the lift term, A/B readouts.

An experiment (a geo or holdout lift test, a conversion-lift study, an A/B test of exposed
against control traffic) measures the steady-state curve directly: moving a channel's weekly
spend from ``x`` to ``x + delta_x`` changed its weekly incremental revenue by ``delta_y``, with
standard error ``sigma``.  The per-channel fit (:mod:`roiste.models.fit.search`) adds each one
as a measurement ``delta_y ~ N(R(x + delta_x) - R(x), sigma**2)`` to its likelihood.

The experiments file is a CSV, one row per test, weekly units::

    channel,x,delta_x,delta_y,sigma,start,end,kind,customer_type
    search,12000,-12000,-30500,2400,2026-03-02,2026-04-27,holdout,all

``start, end`` (ISO dates), ``kind`` (geo, holdout, conversion-lift, ab) and ``customer_type``
(all, new, existing: the revenue the test measured) are optional.  A row that cannot be used
stops the reading with one line naming the file, the row (the header is row 1) and the column.

:func:`readout` turns the counts of an A/B or holdout test (visitors, orders, revenue of the
exposed and the control arm) into the incremental effect with a Welch interval, and into rows
of the experiments file.
"""

from __future__ import annotations

import csv
import io
import math
import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from roiste.models.errors import RoisteError
from roiste.models.io import atomic_write_text, input_problem
from roiste.models.simulate import World
from roiste.models.transforms import FloatArray, Saturation

KINDS = ("geo", "holdout", "conversion-lift", "ab")
CUSTOMER_TYPES = ("all", "new", "existing")
REQUIRED = ("channel", "x", "delta_x", "delta_y", "sigma")
OPTIONAL = ("start", "end", "kind", "customer_type")
COLUMNS = REQUIRED + OPTIONAL
LEVEL = 0.9  # the readout's interval
PRIOR_FLOOR = 0.01  # least prior sd of the level (the panel's curve is never taken as exact)


class ExperimentError(RoisteError):
    """An experiments or readout file that cannot be used as given."""


@dataclass(frozen=True)
class Experiment:
    """One test: weekly spend ``x`` moved by ``delta_x`` changed weekly revenue by ``delta_y``.

    Attributes
    ----------
    channel : str
        The channel tested (as named in the panel).
    x, delta_x : float
        Weekly spend before the change and the change (``x + delta_x >= 0``; ``-x`` for a
        holdout that goes dark).
    delta_y : float
        Measured change in weekly incremental revenue of the customers of ``customer_type``.
    sigma : float
        Standard error of ``delta_y`` (> 0).
    start, end : str or None
        ISO dates of the test.
    kind : str
        ``geo``, ``holdout``, ``conversion-lift`` or ``ab``.
    customer_type : str
        ``all``, ``new`` or ``existing``: whose revenue ``delta_y`` counts.
    label : str
        Where the row came from (``file row N``), shown in diagnostics and reports.
    """

    channel: str
    x: float
    delta_x: float
    delta_y: float
    sigma: float
    start: str | None = None
    end: str | None = None
    kind: str = "geo"
    customer_type: str = "all"
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as written to the experiments file (and to diagnostics)."""
        return {"channel": self.channel, "x": self.x, "delta_x": self.delta_x,
                "delta_y": self.delta_y, "sigma": self.sigma, "start": self.start,
                "end": self.end, "kind": self.kind, "customer_type": self.customer_type}


def _number(src: str, row: int, col: str, text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise ExperimentError(f"{src}: row {row}: column '{col}': {text!r} is not a number") from None
    if not math.isfinite(v):
        raise ExperimentError(f"{src}: row {row}: column '{col}': {text!r} is not a finite number")
    return v


def _one_of(src: str, row: int, col: str, text: str, allowed: Sequence[str]) -> str:
    if text not in allowed:
        raise ExperimentError(f"{src}: row {row}: column '{col}': {text!r} is not one of "
                              f"{', '.join(allowed)}")
    return text


def _date(src: str, row: int, col: str, text: str) -> str | None:
    if not text:
        return None
    try:
        return pd.Timestamp(text).strftime("%Y-%m-%d")
    except (ValueError, TypeError):
        raise ExperimentError(f"{src}: row {row}: column '{col}': {text!r} is not an ISO date") from None


def parse_experiments(text: str, source: str = "experiments") -> list[Experiment]:
    """Read experiment rows from CSV text (see :func:`read_experiments`)."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ExperimentError(f"{source}: row 1: the file is empty (expected columns "
                              f"{', '.join(REQUIRED)})")
    names = [h.strip() for h in header]
    for i, h in enumerate(names):
        if h not in COLUMNS:
            raise ExperimentError(f"{source}: row 1: column '{h}' is unknown; known: "
                                  f"{', '.join(COLUMNS)}")
        if h in names[:i]:
            raise ExperimentError(f"{source}: row 1: column '{h}' appears twice")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ExperimentError(f"{source}: row 1: column '{missing[0]}' is missing (required: "
                              f"{', '.join(REQUIRED)})")
    out: list[Experiment] = []
    for row, fields in enumerate(reader, start=2):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != len(names):
            raise ExperimentError(f"{source}: row {row}: {len(fields)} fields, but the header "
                                  f"has {len(names)}")
        cell = {n: f.strip() for n, f in zip(names, fields, strict=True)}
        for c in REQUIRED:
            if not cell[c]:
                raise ExperimentError(f"{source}: row {row}: column '{c}' is empty")
        x, dx, dy, sigma = (_number(source, row, c, cell[c]) for c in REQUIRED[1:])
        if x < 0:
            raise ExperimentError(f"{source}: row {row}: column 'x': weekly spend {x:g} is negative")
        if dx == 0:
            raise ExperimentError(f"{source}: row {row}: column 'delta_x': a test must change "
                                  f"spend (0 given)")
        if x + dx < -1e-9 * max(x, 1.0):
            raise ExperimentError(f"{source}: row {row}: column 'delta_x': {dx:g} takes spend "
                                  f"below zero (x = {x:g})")
        if sigma <= 0:
            raise ExperimentError(f"{source}: row {row}: column 'sigma': the standard error "
                                  f"must be > 0, got {sigma:g}")
        kind = _one_of(source, row, "kind", cell.get("kind") or "geo", KINDS)
        ctype = _one_of(source, row, "customer_type", cell.get("customer_type") or "all",
                        CUSTOMER_TYPES)
        start = _date(source, row, "start", cell.get("start", ""))
        end = _date(source, row, "end", cell.get("end", ""))
        if start and end and end < start:
            raise ExperimentError(f"{source}: row {row}: column 'end': {end} is before the "
                                  f"start {start}")
        out.append(Experiment(cell["channel"], x, dx, dy, sigma, start, end, kind, ctype,
                              f"{os.path.basename(source)} row {row}"))
    if not out:
        raise ExperimentError(f"{source}: row 2: the file has no experiment rows")
    return out


def read_experiments(path: str | os.PathLike[str]) -> list[Experiment]:
    """Read an experiments file.

    Parameters
    ----------
    path : path-like
        CSV with columns ``channel, x, delta_x, delta_y, sigma`` and optionally
        ``start, end, kind, customer_type`` (weekly units).

    Returns
    -------
    list of Experiment

    Raises
    ------
    ExperimentError
        One line naming the file, the row and the column of the first bad cell.
    """
    problem = input_problem(path)
    if problem == "file not found":
        raise ExperimentError(f"{path}: experiments file not found")
    if problem is not None:
        raise ExperimentError(f"{path}: the experiments file {problem}")
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ExperimentError(f"{path}: experiments file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{path}: cannot read the experiments file ({exc})") from None
    return parse_experiments(text, str(path))


def experiments_csv(experiments: Sequence[Experiment]) -> str:
    """The CSV text of an experiments file holding ``experiments``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for e in experiments:
        d = e.to_dict()
        w.writerow([("" if d[c] is None else repr(float(d[c])) if c in REQUIRED[1:] else d[c])
                    for c in COLUMNS])
    return buf.getvalue()


def write_experiments(experiments: Sequence[Experiment], path: str | os.PathLike[str]) -> None:
    """Write an experiments file at once (atomically)."""
    atomic_write_text(path, experiments_csv(experiments))


def check_channels(experiments: Sequence[Experiment], channels: Sequence[str]) -> None:
    """Every experiment names a channel of the panel (else one line naming its row)."""
    known = set(channels)
    for e in experiments:
        if e.channel not in known:
            raise ExperimentError(f"{e.label}: column 'channel': {e.channel!r} is not a channel "
                                  f"of the panel; known: {', '.join(sorted(known))}")


# --------------------------------------------------------------------------- the lift term


@dataclass(frozen=True)
class LiftData:
    """A channel's experiments in the units of its curve (revenue of all customers).

    ``delta_y`` and ``sigma`` of a test that measured one customer type are divided by that
    type's share of the channel's revenue (``new_customer_revenue_share`` of the panel), on
    the assumption that the mix holds at the margin.
    """

    x: FloatArray
    delta_x: FloatArray
    delta_y: FloatArray
    sigma: FloatArray
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: Sequence[int]) -> LiftData:
        """The experiments at positions ``keep``."""
        k = list(keep)
        return LiftData(self.x[k], self.delta_x[k], self.delta_y[k], self.sigma[k],
                        tuple(self.labels[i] for i in k))


def lift_data(experiments: Sequence[Experiment], ratios: Mapping[str, float] | None = None) -> LiftData:
    """The experiments of one channel as arrays in all-customer revenue (see :class:`LiftData`).

    Raises
    ------
    ExperimentError
        A test of new or existing customers on a channel whose panel has no
        ``new_customer_revenue`` to tell their share.
    """
    ys, ss = [], []
    for e in experiments:
        share = 1.0
        if e.customer_type != "all":
            new = (ratios or {}).get("new_customer_revenue_share")
            if new is None:
                raise ExperimentError(f"{e.label}: column 'customer_type': a test of {e.customer_type} "
                                      f"customers needs the panel's new_customer_revenue to scale "
                                      f"it to the channel's revenue")
            share = float(new) if e.customer_type == "new" else 1.0 - float(new)
            if share <= 0.01:
                raise ExperimentError(f"{e.label}: column 'customer_type': {e.customer_type} "
                                      f"customers bring {share:.1%} of the channel's revenue")
        ys.append(e.delta_y / share)
        ss.append(e.sigma / share)
    return LiftData(np.array([e.x for e in experiments], dtype=float),
                    np.array([e.delta_x for e in experiments], dtype=float),
                    np.asarray(ys, dtype=float), np.asarray(ss, dtype=float),
                    tuple(e.label for e in experiments))


def lift_features(unit: Saturation, k: FloatArray, total_weight: float, lift: LiftData) -> FloatArray:
    """Predicted change of each experiment per unit of ``beta``, for candidates of scale ``k``.

    A candidate's steady-state response is ``beta * unit(total_weight * w / k)``; experiment
    ``j`` predicts ``beta * (unit(T (x_j + dx_j) / k) - unit(T x_j / k))``.

    Returns
    -------
    ndarray
        Shape ``(len(k), len(lift))``.
    """
    k = np.asarray(k, dtype=float)[:, None]
    a0 = total_weight * lift.x[None, :]
    a1 = total_weight * (lift.x + lift.delta_x)[None, :]
    return np.asarray(unit.value(a1 / k) - unit.value(a0 / k), dtype=float)


def level_prior(pred: FloatArray, lift: LiftData) -> float:
    """Prior standard deviation of the level of the panel's curve, from its disagreement with
    the experiments (a random-effects moment estimate, as in meta-analysis).

    Each experiment measures the ratio ``r_j = delta_y_j / pred_j`` of the true curve to the
    panel's best curve with standard error ``s_j = sigma_j / |pred_j|``.  If the panel's level
    is off by a factor ``1 + u``, ``u ~ N(0, tau**2)``, then ``Q = sum_j (r_j - 1)**2 / s_j**2``
    has expectation ``E + tau**2 sum_j 1 / s_j**2``; so ``tau**2 = max(0, (Q - E) / sum_j
    s_j**-2)`` (at least :data:`PRIOR_FLOOR` squared).  A panel the tests agree with within
    their error keeps its level; one they contradict gives way to them.
    """
    pred = np.asarray(pred, dtype=float).ravel()
    if np.any(np.abs(pred) <= 1e-12 * (np.abs(lift.delta_y) + lift.sigma)):
        return 1.0  # the panel's curve predicts no change at all: its level tells nothing
    r, w = lift.delta_y / pred, (pred / lift.sigma) ** 2
    q = float(np.sum(w * (r - 1.0) ** 2))
    return max(math.sqrt(max(q - len(r), 0.0) / float(np.sum(w))), PRIOR_FLOOR)


def calibrate(pred: FloatArray, lift: LiftData, prior_sd: float
              ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The level of each candidate curve that the experiments ask for, and what it costs.

    A candidate fitted to the panel predicts ``pred[c, j]`` for experiment ``j``.  Its curve
    is taken as ``level`` times the panel's, ``level ~ N(1, prior_sd**2)`` a priori
    (:func:`level_prior`: where spend follows the season, the panel confuses the media effect
    with the season and misses its level; how much revenue a change in spend causes is what
    the experiments measure), and ``delta_y_j ~ N(level pred_cj, sigma_j**2)``.

    Parameters
    ----------
    pred : ndarray
        ``(candidates, experiments)`` predicted changes at level 1.
    lift : LiftData
        The measurements.
    prior_sd : float
        Prior standard deviation of the level (:func:`level_prior`).

    Returns
    -------
    level : ndarray
        Posterior mean of the level of each candidate (at least 0).
    level_sd : ndarray
        Its posterior standard deviation.
    cost : ndarray
        ``sum_j ((delta_y_j - level pred_cj) / sigma_j)**2 + ((level - 1) / prior_sd)**2``:
        the chi-square the candidate adds to the fit.
    """
    pred = np.atleast_2d(np.asarray(pred, dtype=float))
    inv = 1.0 / lift.sigma**2
    p0 = 1.0 / prior_sd**2
    a = pred**2 @ inv + p0
    level = np.maximum((pred @ (lift.delta_y * inv) + p0) / a, 0.0)
    resid = (lift.delta_y[None, :] - level[:, None] * pred) / lift.sigma[None, :]
    cost = np.sum(resid**2, axis=1) + (level - 1.0) ** 2 * p0
    return level, 1.0 / np.sqrt(a), cost


def lift_predictions(response: Any, lift: LiftData) -> FloatArray:
    """``R(x + dx) - R(x)`` of a curve (anything with ``value(w)``) at each experiment."""
    return np.asarray(response.value(lift.x + lift.delta_x) - response.value(lift.x), dtype=float)


def lift_test_from_truth(world: World, channel: str, spend_change: float = -1.0, weeks: int = 8,
                         seed: int = 0) -> Experiment:
    """A lift test of a simulated world's channel, measured from its truth with the error a
    real test of ``weeks`` weeks would have.

    The test moves weekly spend from the recent mean ``x`` (last 8 weeks) by
    ``spend_change x`` and measures the true ``R(x + dx) - R(x)`` plus a normal error of
    standard deviation ``sigma = noise Y sqrt(2 / weeks)``: ``Y`` the channel's recent weekly
    revenue, ``noise`` the world's relative weekly noise, test and control each half of the
    market.

    Parameters
    ----------
    world : World
        A world of :mod:`roiste.models.simulate` or :mod:`roiste.models.worlds`.
    channel : str
        The channel tested.
    spend_change : float, default -1
        Relative change of weekly spend (-1: a holdout that goes dark).
    weeks : int, default 8
        Length of the test.
    seed : int
        Seed of the measurement error.
    """
    truth = world.truth[channel]
    sub = world.panel[world.panel["channel"] == channel]
    x = float(sub["spend"].to_numpy(dtype=float)[-8:].mean())
    dx = spend_change * x
    true = float(truth.response(x + dx) - truth.response(x))
    y = float(np.nanmean(sub["revenue"].to_numpy(dtype=float)[-8:]))
    sigma = float(world.noise) * y * math.sqrt(2.0 / weeks)
    rng = np.random.default_rng([seed, zlib.crc32(channel.encode())])
    kind = "holdout" if spend_change == -1.0 else "geo"
    return Experiment(channel, x, dx, true + sigma * float(rng.standard_normal()), sigma,
                      kind=kind, label=f"simulated {kind} of {channel}")


# --------------------------------------------------------------------------- A/B readouts


READOUT_REQUIRED = ("test", "channel", "arm", "visitors", "orders", "revenue", "weeks", "spend")
READOUT_OPTIONAL = ("customer_type", "revenue_sq", "order_value_sd", "kind", "start", "end",
                    "delta_x")
ARMS = ("exposed", "control")


@dataclass(frozen=True)
class Arm:
    """One arm's counts: randomised units (``visitors``), ``orders``, ``revenue`` and the sum
    of squared revenue per unit (``revenue_sq``), over the whole test."""

    visitors: float
    orders: float
    revenue: float
    revenue_sq: float

    @property
    def mean(self) -> float:
        """Revenue per unit."""
        return self.revenue / self.visitors

    @property
    def var(self) -> float:
        """Sample variance (``n - 1``) of revenue per unit."""
        n = self.visitors
        return max(self.revenue_sq - n * self.mean**2, 0.0) / (n - 1.0)

    @property
    def rate(self) -> float:
        """Orders per unit."""
        return self.orders / self.visitors


@dataclass(frozen=True)
class Effect:
    """The incremental effect of one test (per customer type).

    ``diff`` is revenue per unit, exposed minus control, with the Welch standard error ``se``,
    Welch-Satterthwaite degrees of freedom ``df`` and the ``LEVEL`` interval ``low .. high``
    (Student t quantile).  ``rate_diff`` and ``rate_se`` are the same for orders per unit
    (unpooled two-proportion).  ``incrementality`` is ``diff`` over the exposed mean, the share
    of the exposed arm's revenue that the ads cause, with its delta-method standard error.
    """

    test: str
    channel: str
    customer_type: str
    exposed: Arm
    control: Arm
    diff: float
    se: float
    df: float
    low: float
    high: float
    rate_diff: float
    rate_se: float
    incrementality: float
    incrementality_se: float


def welch(exposed: Arm, control: Arm, level: float = LEVEL) -> tuple[float, float, float, float, float]:
    """Welch two-sample difference of revenue per unit: ``(diff, se, df, low, high)``."""
    ve, vc = exposed.var / exposed.visitors, control.var / control.visitors
    se = math.sqrt(ve + vc)
    diff = exposed.mean - control.mean
    if se == 0:
        return diff, 0.0, math.inf, diff, diff
    df = (ve + vc) ** 2 / (ve**2 / (exposed.visitors - 1) + vc**2 / (control.visitors - 1))
    q = float(stats.t.ppf(0.5 + level / 2.0, df))
    return diff, se, df, diff - q * se, diff + q * se


def effect(test: str, channel: str, customer_type: str, exposed: Arm, control: Arm) -> Effect:
    """The incremental effect of a test from its two arms (see :class:`Effect`)."""
    diff, se, df, low, high = welch(exposed, control)
    pe, pc = exposed.rate, control.rate
    rate_se = math.sqrt(pe * (1 - pe) / exposed.visitors + pc * (1 - pc) / control.visitors)
    me, mc = exposed.mean, control.mean
    inc = diff / me if me > 0 else float("nan")
    # d(1 - mc/me): gradient (mc/me^2, -1/me) over the two independent means
    inc_se = math.sqrt((mc / me**2) ** 2 * exposed.var / exposed.visitors
                       + (1 / me) ** 2 * control.var / control.visitors) if me > 0 else float("nan")
    return Effect(test, channel, customer_type, exposed, control, diff, se, df, low, high,
                  pe - pc, rate_se, inc, inc_se)


@dataclass(frozen=True)
class Readout:
    """The effects of a readout file and the experiment rows they give."""

    effects: tuple[Effect, ...]
    experiments: tuple[Experiment, ...]

    def existing_incrementality(self) -> dict[str, tuple[float, float]]:
        """Channel -> (share of existing-customer revenue the ads cause, its standard error),
        from the tests of existing customers."""
        return {e.channel: (e.incrementality, e.incrementality_se) for e in self.effects
                if e.customer_type == "existing"}

    def table(self) -> pd.DataFrame:
        """One row per effect: arms' revenue per unit, difference, interval, incrementality."""
        return pd.DataFrame([{
            "test": e.test, "channel": e.channel, "customer_type": e.customer_type,
            "exposed_rpv": e.exposed.mean, "control_rpv": e.control.mean, "diff": e.diff,
            "se": e.se, "low": e.low, "high": e.high, "conversion_diff": e.rate_diff,
            "incrementality": e.incrementality,
        } for e in self.effects])


def readout(path: str | os.PathLike[str]) -> Readout:
    """Read a readout file (exposed and control counts) and turn it into effects and rows.

    The file is a CSV with one row per test, arm (``exposed`` | ``control``) and customer type:
    ``test, channel, arm, visitors, orders, revenue, weeks, spend`` and optionally
    ``customer_type`` (default all), ``revenue_sq`` (sum over units of squared revenue; else
    ``order_value_sd``, the standard deviation of order values, with at most one order per
    unit), ``kind`` (default ab), ``start``, ``end``, ``delta_x``.  ``visitors`` are the
    randomised units; ``spend`` the channel's weekly spend on the whole audience during the
    test; ``delta_x`` the weekly spend the control arm's treatment removes, scaled to the whole
    audience (default ``-spend``: the control saw no ads).

    An experiment row scales the effect per unit to the whole audience and to a week:
    ``delta_y = -diff * (visitors_exposed + visitors_control) / weeks`` for a control without
    ads (the change from going dark), ``sigma`` likewise from ``se``; with a ``delta_x``,
    ``delta_y`` takes the sign of the change.
    """
    src = str(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ExperimentError(f"{src}: readout file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{src}: cannot read the readout file ({str(exc).strip()})") from None
    cols = [str(c).strip() for c in frame.columns]
    frame.columns = pd.Index(cols)
    for c in cols:
        if c not in READOUT_REQUIRED + READOUT_OPTIONAL:
            raise ExperimentError(f"{src}: row 1: column '{c}' is unknown; known: "
                                  f"{', '.join(READOUT_REQUIRED + READOUT_OPTIONAL)}")
    for c in READOUT_REQUIRED:
        if c not in cols:
            raise ExperimentError(f"{src}: row 1: column '{c}' is missing")
    if frame.empty:
        raise ExperimentError(f"{src}: row 2: the file has no rows")
    arms: dict[tuple[str, str, str], dict[str, Arm]] = {}
    info: dict[tuple[str, str, str], dict[str, Any]] = {}
    for i, rec in enumerate(frame.to_dict("records"), start=2):
        cell = {k: str(v).strip() for k, v in rec.items()}
        for c in ("test", "channel", "arm"):
            if not cell[c]:
                raise ExperimentError(f"{src}: row {i}: column '{c}' is empty")
        _one_of(src, i, "arm", cell["arm"], ARMS)
        ctype = _one_of(src, i, "customer_type", cell.get("customer_type") or "all",
                        CUSTOMER_TYPES)
        num = {c: _number(src, i, c, cell[c]) for c in ("visitors", "orders", "revenue", "weeks",
                                                        "spend")}
        if num["visitors"] < 2:
            raise ExperimentError(f"{src}: row {i}: column 'visitors': an arm needs at least 2 "
                                  f"units, got {num['visitors']:g}")
        for c in ("orders", "revenue", "spend"):
            if num[c] < 0:
                raise ExperimentError(f"{src}: row {i}: column '{c}': {num[c]:g} is negative")
        if num["orders"] > num["visitors"]:
            raise ExperimentError(f"{src}: row {i}: column 'orders': more orders than units")
        if num["weeks"] <= 0:
            raise ExperimentError(f"{src}: row {i}: column 'weeks': must be > 0")
        if cell.get("revenue_sq"):
            sq = _number(src, i, "revenue_sq", cell["revenue_sq"])
        elif cell.get("order_value_sd"):
            sd = _number(src, i, "order_value_sd", cell["order_value_sd"])
            if sd < 0:
                raise ExperimentError(f"{src}: row {i}: column 'order_value_sd': negative")
            aov = num["revenue"] / num["orders"] if num["orders"] > 0 else 0.0
            sq = num["orders"] * (sd**2 + aov**2)
        else:
            raise ExperimentError(f"{src}: row {i}: column 'revenue_sq': empty, and no "
                                  f"order_value_sd either (one is needed for the variance)")
        if sq < num["revenue"] ** 2 / num["visitors"] - 1e-9 * max(sq, 1.0):
            raise ExperimentError(f"{src}: row {i}: column 'revenue_sq': smaller than "
                                  f"revenue**2 / visitors")
        key = (cell["test"], cell["channel"], ctype)
        if cell["arm"] in arms.get(key, {}):
            raise ExperimentError(f"{src}: row {i}: column 'arm': test {cell['test']!r} "
                                  f"({ctype}) has two {cell['arm']} rows")
        arms.setdefault(key, {})[cell["arm"]] = Arm(num["visitors"], num["orders"],
                                                    num["revenue"], sq)
        kind = _one_of(src, i, "kind", cell.get("kind") or "ab", KINDS)
        dx = (_number(src, i, "delta_x", cell["delta_x"]) if cell.get("delta_x")
              else -num["spend"])
        info.setdefault(key, {"weeks": num["weeks"], "spend": num["spend"], "kind": kind,
                              "start": _date(src, i, "start", cell.get("start", "")),
                              "end": _date(src, i, "end", cell.get("end", "")),
                              "delta_x": dx, "row": i})
    effects, rows = [], []
    for key in arms:  # file order
        test, channel, ctype = key
        if set(arms[key]) != set(ARMS):
            missing = next(a for a in ARMS if a not in arms[key])
            raise ExperimentError(f"{src}: row {info[key]['row']}: column 'arm': test {test!r} "
                                  f"({ctype}) has no {missing} row")
        ef = effect(test, channel, ctype, arms[key]["exposed"], arms[key]["control"])
        effects.append(ef)
        inf = info[key]
        n = ef.exposed.visitors + ef.control.visitors
        sign = -1.0 if inf["delta_x"] < 0 else 1.0
        rows.append(Experiment(channel, inf["spend"], inf["delta_x"],
                               sign * ef.diff * n / inf["weeks"], ef.se * n / inf["weeks"],
                               inf["start"], inf["end"], inf["kind"], ctype,
                               f"{os.path.basename(src)} test {test}"))
    for r in rows:
        if r.sigma <= 0:
            raise ExperimentError(f"{src}: {r.label}: the arms show no variance: no standard error")
    return Readout(tuple(effects), tuple(rows))


__all__ = [
    "CUSTOMER_TYPES",
    "KINDS",
    "Arm",
    "Effect",
    "Experiment",
    "ExperimentError",
    "LiftData",
    "Readout",
    "calibrate",
    "check_channels",
    "effect",
    "experiments_csv",
    "level_prior",
    "lift_data",
    "lift_features",
    "lift_predictions",
    "lift_test_from_truth",
    "parse_experiments",
    "read_experiments",
    "readout",
    "welch",
    "write_experiments",
]
