"""Plans over the uncertainty of the curves: the draws, the risk objectives, each move's evidence.

A fit with ``--bootstrap N`` keeps ``N`` draws of each channel's revenue curve.  Draw ``s`` of
every channel, with the channel's economics, gives a period value ``V_sc`` (the net margin of
channel ``c`` in draw ``s``, its spend included).  :class:`DrawFunctions` evaluates all of them
at once; :class:`MeanFunctions` is their mean, a period model like
:class:`~roiste.optimizer.economics.PeriodFunctions` (the mean of concave functions is
concave, so the certified LP solves ``risk: expected`` unchanged).

Risk objectives (scenario key ``risk``):

* ``point``: the point estimate of the curves (the draws only measure the plan);
* ``expected``: the mean net margin over the draws;
* ``cvar``: the mean of the worst ``level`` share of the draws of the plan's uplift over the
  current allocation (:func:`roiste.optimizer.lp.solve_cvar`), over every draw: a channel
  with S-shaped draws where the plan can go makes it a MILP.

Evidence of a move.  The money of a move comes from somewhere: a raise from the channels the
plan cuts (or from new budget, which costs only its spend, already in ``V``), a cut goes to the
channels the plan raises (or stays unspent, earning nothing).  In draw ``s`` a raise of channel
``c`` is right when ``V_sc(x1) - V_sc(x0)`` beats what its money was worth where it came from,
a cut when the money earns more where it goes (:func:`moves_right`).  ``move_support`` is the
share of draws in which the move is right (1 for an unchanged channel); a move is *supported*
when that share reaches :data:`SUPPORT_THRESHOLD`.  The per-channel changes ``V_sc(x1) -
V_sc(x0)`` add up to the plan's change.  With ``expected`` and ``cvar`` an unsupported move is
not made: the channel is held where it was and the step is solved again, until every move
made is supported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import InfeasibleError
from roiste.optimizer.economics import ChannelEconomics, PeriodFunctions
from roiste.optimizer.lp import AllocationProblem, Solution, concave_on_box, solve, solve_cvar
from roiste.optimizer.scenario import DEFAULT_CVAR_LEVEL, DEFAULT_RISK, RISK_KINDS

FloatArray = NDArray[np.float64]

SUPPORT_THRESHOLD = 0.9
RISK_BOOTSTRAP = 30
"""Bootstrap draws fitted for a risk plan whose scenario fits its own curves."""


class _PeriodOutcomes:
    """The six outcome functions of a period model, each one evaluation by name.

    A subclass says in :meth:`_outcome` how a named function of ``PeriodFunctions`` is
    evaluated at period spends ``x``; the methods below are the LP's ``PeriodModel`` /
    ``DrawModel`` names for it.
    """

    def _outcome(self, method: str, x: ArrayLike) -> FloatArray:
        raise NotImplementedError

    def value(self, x: ArrayLike) -> FloatArray:
        """The period value ``V_c(x_c)`` (per draw where the class has draws)."""
        return self._outcome("value", x)

    def slope(self, x: ArrayLike) -> FloatArray:
        """The marginal period value."""
        return self._outcome("slope", x)

    def revenue(self, x: ArrayLike) -> FloatArray:
        return self._outcome("revenue", x)

    def revenue_slope(self, x: ArrayLike) -> FloatArray:
        return self._outcome("revenue_slope", x)

    def new_customers(self, x: ArrayLike) -> FloatArray:
        return self._outcome("new_customers", x)

    def new_customers_slope(self, x: ArrayLike) -> FloatArray:
        return self._outcome("new_customers_slope", x)


class DrawFunctions(_PeriodOutcomes):
    """Period values of N channels in each of S curve draws, vectorised.

    Channels whose curves have draws use draw ``s`` in row ``s``; the others use their point
    curve in every row, and :attr:`notes` says so.  The optimisation (:meth:`optimisable`,
    :meth:`mean`) uses a channel's draws only when all are concave over the spends the plan
    can reach, otherwise its point curve; the evidence of a move counts every draw.  A draw
    counts as concave over ``[lo, hi]`` when its family is concave, or when its marginal
    revenue falls across the range (an S-shaped curve past its inflection point): checked at
    the lower end and on a grid of :data:`CONCAVITY_GRID` points.  Every method takes period
    spends of shape ``(N,)`` or ``(N, m)`` and returns ``(S, N)`` or ``(S, N, m)``.

    Parameters
    ----------
    curves : CurveSet
        The plan's curves, in the plan's channel order.
    economics : sequence of ChannelEconomics
        One per channel.
    period_weeks : float
    objective : {"net_margin", "revenue"}
    region : pair of arrays (N,), optional
        The period spends the plan can reach per channel (default: from 0 to twice the
        channel's recent spend).

    Attributes
    ----------
    n_draws : int
        ``S``; 0 when no channel has usable draws.
    uncertain : ndarray of bool
        The channels with draws (their rows are their draws).
    optimised : ndarray of bool
        The channels whose draws the optimisation uses (all concave over the region).
    all_concave : ndarray of bool
        The channels whose net-margin value is concave over the region in every draw (the
        S-shaped draws counted).
    notes : list of str
        Plain sentences on the channels whose uncertainty is ignored.
    point_note : str or None
        The sentence a plan optimised on :meth:`optimisable` adds when some channel's draws
        are S-shaped (their point curve stands in for them there).
    """

    def __init__(self, curves: CurveSet, economics: Sequence[ChannelEconomics],
                 period_weeks: float, objective: str = "net_margin",
                 region: tuple[ArrayLike, ArrayLike] | None = None) -> None:
        names = list(curves.channels)
        cs = [curves[c] for c in names]
        self.n = len(names)
        self.notes: list[str] = []
        p = float(period_weeks)
        if region is None:
            lo_r = np.zeros(self.n)
            hi_r = np.array([2.0 * c.recent_spend * p for c in cs])
        else:
            lo_r = np.asarray(region[0], dtype=float)
            hi_r = np.asarray(region[1], dtype=float)
        # weekly spends of the region, per channel
        lo_w, hi_w = lo_r / p, np.maximum(hi_r, lo_r) / p
        no_draws = [c.channel for c in cs if not c.draws]
        counts = [len(c.draws) for c in cs if c.draws]
        self.n_draws = min(counts) if counts else 0
        self.uncertain = np.array([bool(c.draws) for c in cs])
        # revenue concave over the region: every draw the plan uses, and the point curve
        draws_concave = np.array([all(concave_over(d, lo_w[i], hi_w[i])
                                      for d in c.draws[:self.n_draws]) for i, c in enumerate(cs)])
        point_concave = np.array([concave_over(c.revenue, lo_w[i], hi_w[i])
                                  for i, c in enumerate(cs)])
        s_shaped = [c.channel for c, u, d in zip(cs, self.uncertain, draws_concave, strict=True)
                    if u and not d]
        self.optimised = self.uncertain & draws_concave
        if no_draws and self.n_draws:
            self.notes.append(
                f"The plan ignores the uncertainty of {_names(no_draws)}: no bootstrap draws "
                "of these curves, so every draw uses their point estimate.")
        self.point_note = (
            f"The plan is optimised on the point estimate of {_names(s_shaped)} (some "
            "draws of these curves are S-shaped over the spends the plan can reach); the "
            "evidence of their moves counts every draw." if s_shaped and self.n_draws else None)
        if counts and max(counts) > self.n_draws:
            self.notes.append(f"Channels have different numbers of draws; the plan uses the "
                              f"first {self.n_draws} of each.")
        self._s = max(self.n_draws, 1)
        econ = list(economics) * self._s

        def stack(use: NDArray[np.bool_]) -> tuple[PeriodFunctions, list[ResponseCurve]]:
            rows = [replace(c, channel=f"{c.channel}#{s}",
                            revenue=c.draws[s] if u and self.n_draws else c.revenue, draws=())
                    for s in range(self._s) for c, u in zip(cs, use, strict=True)]
            return PeriodFunctions(CurveSet(rows), econ, period_weeks, objective), rows

        self._fn, _ = stack(self.uncertain)
        self._fn_opt = stack(self.optimised)[0] if s_shaped else self._fn
        self.coefficient = self._fn.coefficient.reshape(self._s, self.n)[0]
        # the optimised rows are the draws where all are concave, else the point curve
        self.revenue_concave = np.where(self.optimised, True, point_concave)
        self.concave = self.revenue_concave & (self.coefficient >= 0.0)
        self.all_concave = np.where(self.uncertain, draws_concave, point_concave) & (
            self.coefficient >= 0.0)

    def _call(self, method: str, x: ArrayLike, optimised: bool = False) -> FloatArray:
        X = np.asarray(x, dtype=float)
        flat = X.ndim == 1
        X2 = X[:, None] if flat else X
        fn = self._fn_opt if optimised else self._fn
        out = np.asarray(getattr(fn, method)(np.tile(X2, (self._s, 1))), dtype=float)
        out = out.reshape(self._s, self.n, X2.shape[1])
        return out[:, :, 0] if flat else out

    def optimisable(self) -> OptimisedDraws:
        """The draws the optimisation uses: channels with S-shaped draws at their point curve."""
        return OptimisedDraws(self)

    def _outcome(self, method: str, x: ArrayLike) -> FloatArray:
        """Each draw's ``method`` (e.g. the period value ``V_sc(x_c)``)."""
        return self._call(method, x)

    def mean(self) -> MeanFunctions:
        """The mean over the draws, as a period model for the LP."""
        return MeanFunctions(self)


class OptimisedDraws(_PeriodOutcomes):
    """The rows of :class:`DrawFunctions` the optimisation uses (a ``DrawModel`` of the LP)."""

    def __init__(self, draws: DrawFunctions) -> None:
        self.draws = draws
        self.n_draws = draws.n_draws
        self.n = draws.n

    def _outcome(self, method: str, x: ArrayLike) -> FloatArray:
        return self.draws._call(method, x, optimised=True)


class MeanFunctions(_PeriodOutcomes):
    """The mean over the optimised draws of :class:`DrawFunctions`: the LP's ``PeriodModel``.

    ``concave`` holds where every row's value is concave over the region (then so is the
    mean).
    """

    def __init__(self, draws: DrawFunctions) -> None:
        self.rows = draws.optimisable()
        self.coefficient = draws.coefficient
        self.concave = draws.concave
        self.revenue_concave = draws.revenue_concave

    def _outcome(self, method: str, x: ArrayLike) -> FloatArray:
        return np.asarray(self.rows._outcome(method, x).mean(axis=0), dtype=float)


CONCAVITY_GRID = 257


def concave_over(component: Component, lo: float, hi: float) -> bool:
    """Is a revenue curve concave over weekly spends ``[lo, hi]``?

    True for a concave family; for another (S-shaped, its marginal rising to one peak and
    then falling) when the marginal falls at ``lo`` and across a grid of the range.
    """
    if component.saturation.is_concave:
        return True
    if not hi > lo:
        return True
    w = np.linspace(lo, hi, CONCAVITY_GRID)
    d = np.asarray(component.derivative(w), dtype=float)
    h = max(abs(lo), 1.0) * 1e-7
    d0, d1 = (float(v) for v in np.asarray(component.derivative(np.array([lo, lo + h]))))
    if not (np.all(np.isfinite(d)) and d1 <= d0):
        return False
    return bool(np.all(np.diff(d) <= 1e-12 * np.maximum(np.abs(d[:-1]), 1e-300)))


def _names(channels: Sequence[str]) -> str:
    return ", ".join(channels)


# --------------------------------------------------------------------------- evidence


def unchanged(x_from: FloatArray, x_to: FloatArray, budget: float) -> NDArray[np.bool_]:
    """Channels whose spend did not move (within a millionth of the budget)."""
    return np.asarray(np.abs(x_to - x_from) <= 1e-6 * max(float(budget), 1.0))


def moves_right(change: ArrayLike, x_from: FloatArray, x_to: FloatArray,
                budget: float) -> NDArray[np.bool_]:
    """Which moves are right, given each channel's value change (see the module's text).

    Parameters
    ----------
    change : array (N,) or (S, N)
        ``V_c(x_to) - V_c(x_from)`` per channel (in each draw).
    x_from, x_to : array (N,)
        Period spends before and after.
    budget : float
        Sets the tolerance of an unchanged channel.

    Returns
    -------
    ndarray of bool, the shape of ``change``
        A raise is right when the channel's change beats what its money cost where it came
        from: ``dV_c > p_up dx_c`` with ``p_up`` the value lost per unit taken from the cut
        channels (new budget costs nothing beyond its spend, which ``V`` holds); a cut is
        right when the money earns more where it goes: ``dV_c > p_down dx_c`` with ``p_down``
        the value per unit of the raised channels (money left unspent earns 0).  Unchanged
        channels are right.
    """
    d = np.asarray(change, dtype=float)
    flat = d.ndim == 1
    d2 = d[None, :] if flat else d
    dx = np.asarray(x_to, dtype=float) - np.asarray(x_from, dtype=float)
    same = unchanged(x_from, x_to, budget)
    up, down = (dx > 0) & ~same, (dx < 0) & ~same
    raised, cut = float(dx[up].sum()), float(-dx[down].sum())
    extra = raised - cut  # new budget (> 0) or money left unspent (< 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_up = np.where(cut + max(extra, 0.0) > 0,
                        -d2[:, down].sum(axis=1) / (cut + max(extra, 0.0)), 0.0)
        p_down = np.where(raised + max(-extra, 0.0) > 0,
                          d2[:, up].sum(axis=1) / (raised + max(-extra, 0.0)), 0.0)
    price = np.where(up[None, :], p_up[:, None], np.where(down[None, :], p_down[:, None], 0.0))
    right = (d2 - price * dx[None, :] > 0.0) | same[None, :]
    return right[0] if flat else right


def move_support(draws: DrawFunctions, x_from: FloatArray, x_to: FloatArray,
                 budget: float) -> FloatArray:
    """Per channel, the share of draws in which its move is right (:func:`moves_right`).

    Parameters
    ----------
    draws : DrawFunctions
    x_from, x_to : array (N,)
        Period spends before and after.
    budget : float
        Sets the tolerance of an unchanged channel.

    Returns
    -------
    ndarray (N,)
        In [0, 1]; 1 for an unchanged channel, NaN for a moved channel without draws.
    """
    if not draws.n_draws:
        share = np.full(draws.n, np.nan)
    else:
        change = draws.value(x_to) - draws.value(x_from)
        share = np.mean(moves_right(change, x_from, x_to, budget), axis=0)
        share = np.where(draws.uncertain, share, np.nan)
    return np.where(unchanged(x_from, x_to, budget), 1.0, share)


def uplift_draws(draws: DrawFunctions, x_from: FloatArray, x_to: FloatArray) -> FloatArray:
    """The plan's uplift in each draw: ``sum_c V_sc(x_to) - V_sc(x_from)``."""
    return np.asarray((draws.value(x_to) - draws.value(x_from)).sum(axis=1), dtype=float)


# --------------------------------------------------------------------------- one step


@dataclass(frozen=True)
class RiskStep:
    """A step solved under a risk objective.

    ``solution`` is certified on the objective actually used (``kind``: the scenario's, or
    ``expected`` / ``point`` where it fell back); ``support`` each channel's move support
    from the step's start; ``held`` the channels held at their start for want of support;
    ``start_value`` that objective at the step's start (on the same curves and draws).
    """

    solution: Solution
    kind: str
    support: FloatArray
    held: NDArray[np.bool_]
    notes: tuple[str, ...]
    start_value: float = float("nan")  # the objective at the step's start, as it was solved


def _solve_kind(problem: AllocationProblem, draws: DrawFunctions | None, kind: str,
                level: float, x_start: FloatArray, tol: float, solver: str
                ) -> tuple[Solution, str, list[str], float]:
    """One solve under ``kind``; the kind actually used (after a fallback), why, and that
    objective at ``x_start``.

    Without targets, ``expected`` and ``cvar`` count every draw: a channel whose draws are
    not all concave over its box (S-shaped, or losing money on every sale) makes the scenario
    problem a MILP (:func:`roiste.optimizer.lp.solve_cvar`, at level 1 for ``expected``).
    Targets (ROAS, cost per new customer) hold on the fitted curves, as the reports show
    them: with targets, ``expected`` is the scenario problem at level 1 (the mean uplift),
    whose target rows come from ``problem.functions`` (which must be concave where the plan
    can go, else the plan falls back to the point estimate) and its objective from every draw.
    """
    notes: list[str] = []
    if kind == "point" or draws is None or not draws.n_draws:
        start = float(np.sum(problem.functions.value(x_start)))
        return solve(problem, tol=tol, solver=solver), "point", notes, start
    free = np.asarray(problem.upper, dtype=float) > np.asarray(problem.lower, dtype=float)
    if not problem.targets:
        mean = draws.mean()
        expected = solve(replace(problem, functions=mean), tol=tol, solver=solver)
        shaped = free & ~draws.all_concave
        if kind == "expected" and not (draws.uncertain & ~draws.optimised).any():
            return expected, "expected", notes, float(np.sum(mean.value(x_start)))
        # every draw of every channel: the ones not concave over the box by chords filled
        # in order, a MILP
        res = solve_cvar(problem, draws, level if kind == "cvar" else 1.0, x_start,
                         candidates=(expected.x,), tol=tol, solver=solver,
                         shaped=shaped if shaped.any() else None)
        if kind == "cvar":
            return res.solution, "cvar", notes, 0.0
        # the mean uplift, shifted to the mean net margin
        base = float(np.asarray(draws.value(x_start), dtype=float).sum(axis=1).mean())
        sol = replace(res.solution, value=res.solution.value + base,
                      upper_bound=res.solution.upper_bound + base)
        return sol, "expected", notes, base
    point = solve(problem, tol=tol, solver=solver)
    # the target rows are tangents (outer) and chords (inner) of the fitted curves: those must
    # be concave where the plan can go; the draws of the objective need not be
    point_concave = concave_on_box(problem.functions, np.asarray(problem.lower, dtype=float))[1]
    odd = free & ~point_concave
    if odd.any():
        notes.append(
            f"risk {kind} with targets needs concave fitted curves, and "
            f"{_names([problem.names[int(i)] for i in np.flatnonzero(odd)])} "
            f"{'is' if odd.sum() == 1 else 'are'} not (S-shaped where the plan can go): the "
            "plan is made on the point estimate.")
        return point, "point", notes, float(np.sum(problem.functions.value(x_start)))
    shaped = free & ~draws.all_concave
    res = solve_cvar(problem, draws, level if kind == "cvar" else 1.0, x_start,
                     candidates=(point.x,), tol=tol, solver=solver,
                     shaped=shaped if shaped.any() else None)
    sol = res.solution
    base = 0.0
    if kind == "expected":  # the mean uplift, shifted to the mean net margin
        base = float(np.asarray(draws.value(x_start), dtype=float).sum(axis=1).mean())
        sol = replace(sol, value=sol.value + base, upper_bound=sol.upper_bound + base)
    return sol, kind, notes, base


def solve_step(
    problem: AllocationProblem,
    draws: DrawFunctions | None,
    x_start: ArrayLike,
    *,
    kind: str,
    level: float = DEFAULT_CVAR_LEVEL,
    tol: float = 1e-4,
    solver: str = "CBC",
    threshold: float = SUPPORT_THRESHOLD,
) -> RiskStep:
    """Solve one step under a risk objective; with ``expected`` or ``cvar``, hold unsupported
    moves at their start and solve again until every move made is supported.

    Each round holds the weaker half of the unsupported moves (by support), so that a move
    which only lacked support because of how the others were funded gets another chance.

    Parameters
    ----------
    problem : AllocationProblem
        The step's problem on the point curves (``risk: point`` solves it as it is).
    draws : DrawFunctions or None
        The curves' draws in the problem's channel order.
    x_start : array (N,)
        Where the step starts (the current spend for the first step).
    kind : {"cvar", "expected", "point"}
    level : float
        CVaR level.
    tol, solver
        As in :func:`roiste.optimizer.lp.solve`.
    threshold : float
        Least share of draws that supports a move.

    Returns
    -------
    RiskStep
    """
    x0 = np.asarray(x_start, dtype=float)
    lo0 = np.asarray(problem.lower, dtype=float)
    hi0 = np.asarray(problem.upper, dtype=float)
    hold_at = np.clip(x0, lo0, hi0)
    held = np.zeros(len(x0), dtype=bool)
    sol, used, notes, start = _solve_kind(problem, draws, kind, level, x0, tol, solver)
    enforce = used != "point" and draws is not None and draws.n_draws > 0
    support = _support(draws, x0, sol, problem)
    while enforce:
        bad = ~held & (support < threshold) & ~unchanged(x0, sol.x, problem.budget)
        if not bad.any():
            break
        # hold the weaker half first: once they stay, the money moves differently and a
        # stronger unsupported move may find its support
        bad &= support <= float(np.median(support[bad]))
        trial = held | bad
        held_problem = replace(problem, lower=np.where(trial, hold_at, lo0),
                               upper=np.where(trial, hold_at, hi0))
        try:
            sol2, used2, notes2, start2 = _solve_kind(held_problem, draws, kind, level, x0, tol,
                                                      solver)
        except InfeasibleError:
            notes.append(
                "Holding the moves the draws do not support "
                f"({_names([problem.names[int(i)] for i in np.flatnonzero(bad)])}) leaves no plan "
                "within the constraints, so they are made and marked as not supported.")
            break
        held, sol, used, start = trial, sol2, used2, start2
        notes += [n for n in notes2 if n not in notes]
        support = _support(draws, x0, sol, problem)
    return RiskStep(solution=sol, kind=used, support=support, held=held, notes=tuple(notes),
                    start_value=start)


def _support(draws: DrawFunctions | None, x0: FloatArray, sol: Solution,
             problem: AllocationProblem) -> FloatArray:
    if draws is None or not draws.n_draws:
        n = len(x0)
        return np.where(unchanged(x0, sol.x, problem.budget), 1.0, np.full(n, np.nan))
    return move_support(draws, x0, np.asarray(sol.x, dtype=float), problem.budget)


def describe(kind: str, level: float | None) -> str:
    """``cvar 20 %``, ``expected`` or ``point``: the risk objective in words."""
    if kind == "cvar" and level is not None:
        return f"cvar {level:.0%}"
    return kind


def quantiles(uplift: FloatArray) -> tuple[float | None, float | None, float | None]:
    """P5, P50 and P95 of the uplift over the draws (None without draws)."""
    if uplift.size == 0:
        return None, None, None
    q = np.quantile(uplift, [0.05, 0.5, 0.95])
    return float(q[0]), float(q[1]), float(q[2])


__all__ = [
    "DEFAULT_CVAR_LEVEL",
    "DEFAULT_RISK",
    "RISK_BOOTSTRAP",
    "RISK_KINDS",
    "SUPPORT_THRESHOLD",
    "DrawFunctions",
    "MeanFunctions",
    "OptimisedDraws",
    "RiskStep",
    "describe",
    "move_support",
    "moves_right",
    "quantiles",
    "solve_step",
    "unchanged",
    "uplift_draws",
]
