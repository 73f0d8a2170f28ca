"""A plan week by week: spend per channel and week, certified like every plan.

Channel ``c`` spends ``x[c, s]`` in week ``s`` of a period of ``T`` weeks.  Its adstock in week
``t`` (of the period, or of the ``L`` weeks after it whose carry-over is valued) is linear in
the spends::

    a[c, t] = carry[c, t] + sum_s lag[c, t - s] * x[c, s]

``carry`` holds what the cell has without the period's spend: the adstock carried in from the
weeks before the period and, after it, the adstock of the spend that continues then.  The
value of the plan is ``sum_{c, t} effect[c, t] * S_c(a[c, t]) - sum_c spend_cost[c] * sum_s
x[c, s]`` with ``S_c`` the channel's saturation, concave in adstock, and ``effect >= 0`` (money
per unit of saturation in that week: the margin coefficient times the response's scale times
the week's seasonal index).

Each cell's ``S_c`` is bounded from above by its tangents: the LP over them is one no plan can
beat (the upper bound).  Its plan meets every linear row, so its exact value is achievable (the
lower bound); tangents are added at the plan's adstock where they overstate it, round after
round, until the certified gap (:func:`.solve.relative_gap`) falls below the tolerance.  One
adstock and one epigraph variable per cell keep the rows short: the LP grows with the cells
and the tangents, not with the lags.  With CBC the model goes through PuLP; with HiGHS it is
held in highspy as arrays and re-solved from its last basis as the tangents come in.

An S-shaped saturation (convex below its inflection point) keeps tangents in the cells whose
adstock cannot fall below the point; the other cells are bounded by chords below it, filled in
order by binaries: the model is then a MILP, built anew each round as breakpoints are added.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pulp
from numpy.typing import NDArray

from roiste.models.errors import InfeasibleError
from roiste.optimizer.lp.model import get_solver, solver_key
from roiste.optimizer.lp.problem import FloatArray
from roiste.optimizer.lp.solve import relative_gap


class Saturations(Protocol):
    """The channels' saturations, vectorised: rows are channels, columns any points."""

    def value(self, a: FloatArray) -> FloatArray: ...
    def slope(self, a: FloatArray) -> FloatArray: ...


@dataclass(frozen=True)
class WeeklyProblem:
    """Maximise the plan's value over spend per channel and week.

    Parameters
    ----------
    names : sequence of str
        Channel names (``N``).
    saturations : Saturations
        ``S_c`` of each channel (increasing), rows in the order of ``names``: concave, or
        S-shaped with its inflection point (the adstock from which it is concave) given by
        the object's ``concave_from`` (N,).
    effect : ndarray (N, H)
        Money per unit of ``S_c`` in cell ``(c, t)``, ``t < T`` the period's weeks and
        ``T <= t < H`` the weeks after it whose carry-over is valued (``>= 0``).
    lags : ndarray (N, H)
        Adstock weight of a spend ``l`` weeks later (``lags[:, 0]`` is usually 1).
    carry : ndarray (N, H)
        Each cell's adstock without the period's spend.
    spend_cost : ndarray (N,)
        Money per unit of spend (``1 + platform fee``; 0 for the revenue objective).
    weeks : int
        ``T``, the weeks of the period.
    total_lower, total_upper : ndarray (N,)
        The box of each channel's period total (the step box).
    week_lower, week_upper : ndarray (N, T)
        Each week's spend limits.
    budget : float
        The period budget.
    budget_mode : {"equal", "at_most"}
    max_change : float or None
        Largest relative change of a channel's spend from one week of the period to the next.
    shares : sequence of (mask, min_share, max_share)
        Groups of channels (boolean masks) whose period spend is at least / at most a share of
        all spend (None: no such bound).
    """

    names: Sequence[str]
    saturations: Saturations
    effect: FloatArray
    lags: FloatArray
    carry: FloatArray
    spend_cost: FloatArray
    weeks: int
    total_lower: FloatArray
    total_upper: FloatArray
    week_lower: FloatArray
    week_upper: FloatArray
    budget: float
    budget_mode: Literal["equal", "at_most"] = "equal"
    max_change: float | None = None
    shares: Sequence[tuple[Any, float | None, float | None]] = ()

    @property
    def horizon(self) -> int:
        """``H``: the period's weeks and the valued weeks after it."""
        return int(self.effect.shape[1])

    def adstock(self, x: FloatArray) -> FloatArray:
        """``a[c, t]`` of spends ``x`` (N, T), shape (N, H)."""
        h = self.effect.shape[1]
        a = self.carry.copy()
        for s in range(self.weeks):
            a[:, s:] += self.lags[:, : h - s] * x[:, s : s + 1]
        return a

    def cell_values(self, x: FloatArray) -> FloatArray:
        """``effect * S(a)`` per cell (N, H): the value before the cost of spend."""
        return self.effect * self.saturations.value(self.adstock(x))

    def value(self, x: FloatArray) -> float:
        """The plan's value at spends ``x`` (N, T)."""
        return float(self.cell_values(x).sum() - np.sum(self.spend_cost[:, None] * x))


@dataclass(frozen=True)
class WeeklySolution:
    """A certified weekly plan: ``value <= optimum <= upper_bound``.

    ``x`` is spend per channel and week (N, T); ``gap`` the certified relative gap; ``status``
    ``"optimal"`` (gap within the tolerance) or ``"gap_above_tolerance"``.
    """

    x: FloatArray
    value: float
    upper_bound: float
    gap: float
    status: str
    solver: str
    iterations: int
    n_breakpoints: int
    build_seconds: float
    solve_seconds: float
    n_binaries: int = 0


def _box(problem: WeeklyProblem, cap: float | None = None) -> tuple[FloatArray, FloatArray]:
    """The adstock each cell can reach: from every week at its least to every week at its most
    (no more than ``cap`` a week, when given)."""
    lo_w = np.maximum(problem.week_lower, 0.0)
    hi_w = np.minimum(problem.week_upper, problem.total_upper[:, None])
    if cap is not None:
        hi_w = np.minimum(hi_w, cap)
    return problem.adstock(lo_w), problem.adstock(hi_w)


class _CutModel:
    """The tangent LP, kept between rounds: cuts are added, never removed.

    Variables: ``x`` per channel and week, the adstock ``a`` and the epigraph ``r`` per valued
    cell.  Rows: ``a - sum lag x = carry`` per cell, ``r - S'(p) a <= S(p) - S'(p) p`` per
    tangent point ``p`` (concave ``S``: every tangent lies above it), the period totals, the
    week-to-week changes and the budget.
    """

    def __init__(self, problem: WeeklyProblem) -> None:
        n = problem.effect.shape[0]
        T = problem.weeks
        self.problem = problem
        self.prob = pulp.LpProblem("weekly", pulp.LpMaximize)
        add = self.prob.add_variable
        self.x = [[add(f"x_{c}_{t}", float(problem.week_lower[c, t]),
                       float(problem.week_upper[c, t])) for t in range(T)]
                  for c in range(n)]
        self.cells = np.argwhere(problem.effect > 0)
        self.a: dict[tuple[int, int], Any] = {}
        self.r: dict[tuple[int, int], Any] = {}
        obj: list[tuple[Any, float]] = []
        for c in range(n):
            f = float(problem.spend_cost[c])
            if f:
                obj += [(self.x[c][t], -f) for t in range(T)]
        lags = problem.lags
        for c, t in self.cells.tolist():
            a = add(f"a_{c}_{t}")
            r = add(f"r_{c}_{t}")
            self.a[c, t], self.r[c, t] = a, r
            obj.append((r, float(problem.effect[c, t])))
            terms = [(a, 1.0)] + [(self.x[c][u], -float(lags[c, t - u]))
                                  for u in range(min(t + 1, T)) if lags[c, t - u] != 0.0]
            self.prob.addConstraint(pulp.LpConstraint(
                pulp.LpAffineExpression(terms), pulp.LpConstraintEQ,
                rhs=float(problem.carry[c, t])), f"ad_{c}_{t}")
        self.prob.setObjective(pulp.LpAffineExpression(obj))
        for c in range(n):
            tot = pulp.LpAffineExpression([(self.x[c][t], 1.0) for t in range(T)])
            self.prob.addConstraint(pulp.LpConstraint(
                tot, pulp.LpConstraintGE, rhs=float(problem.total_lower[c])), f"tlo_{c}")
            self.prob.addConstraint(pulp.LpConstraint(
                tot, pulp.LpConstraintLE, rhs=float(problem.total_upper[c])), f"thi_{c}")
            g = problem.max_change
            for t in range(1, T) if g is not None else ():
                assert g is not None
                self.prob.addConstraint(pulp.LpConstraint(
                    pulp.LpAffineExpression([(self.x[c][t], 1.0), (self.x[c][t - 1], -(1.0 + g))]),
                    pulp.LpConstraintLE, rhs=0.0), f"up_{c}_{t}")
                self.prob.addConstraint(pulp.LpConstraint(
                    pulp.LpAffineExpression([(self.x[c][t], 1.0), (self.x[c][t - 1], -(1.0 - g))]),
                    pulp.LpConstraintGE, rhs=0.0), f"down_{c}_{t}")
        allx = pulp.LpAffineExpression([(v, 1.0) for row in self.x for v in row])
        sense = pulp.LpConstraintEQ if problem.budget_mode == "equal" else pulp.LpConstraintLE
        self.prob.addConstraint(pulp.LpConstraint(allx, sense, rhs=float(problem.budget)), "budget")
        for i, (coef, lo_s, _up) in enumerate(_share_rows(problem)):
            expr = pulp.LpAffineExpression([(self.x[c][t], float(coef[c])) for c in range(n)
                                            for t in range(T) if coef[c] != 0.0])
            sense = pulp.LpConstraintGE if lo_s == 0.0 else pulp.LpConstraintLE
            self.prob.addConstraint(pulp.LpConstraint(expr, sense, rhs=0.0), f"share_{i}")
        self.n_cuts = 0

    def add_tangents(self, points: FloatArray) -> int:
        """Tangents at ``points`` (N, H, k; NaN: none) of the valued cells; returns how many."""
        n, k = points.shape[0], points.shape[2]
        sat = self.problem.saturations
        filled = np.where(np.isfinite(points), points, 1.0).reshape(n, -1)
        val = np.asarray(sat.value(filled), dtype=float).reshape(points.shape)
        slope = np.asarray(sat.slope(filled), dtype=float).reshape(points.shape)
        added = 0
        for c, t in self.cells.tolist():
            for j in range(k):
                p, sl = points[c, t, j], slope[c, t, j]
                if not (np.isfinite(p) and np.isfinite(sl)):
                    continue
                self.prob.addConstraint(pulp.LpConstraint(
                    pulp.LpAffineExpression([(self.r[c, t], 1.0), (self.a[c, t], -float(sl))]),
                    pulp.LpConstraintLE, rhs=float(val[c, t, j] - sl * p)), f"cut{self.n_cuts}")
                self.n_cuts += 1
                added += 1
        return added

    def solve(self, solver: str, msg: bool) -> tuple[FloatArray, FloatArray, FloatArray, float,
                                                      str, float]:
        """``(x, a, r, objective, status, seconds)`` of the LP with the cuts so far."""
        ts = time.perf_counter()
        self.prob.solve(get_solver(solver, msg=msg))
        took = time.perf_counter() - ts
        x, a, r, obj = _read_values(self, self.cells, self.problem.effect.shape)
        return x, a, r, obj, pulp.LpStatus[self.prob.status], took


def _read_values(model: Any, cells: NDArray[np.int_], shape: tuple[int, int]
                 ) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """Spend, adstock and response per channel and week, and the objective, of a solved PuLP
    model with variables ``x``, ``a``, ``r`` (``a`` and ``r`` only on ``cells``)."""
    x = np.array([[v.value() or 0.0 for v in row] for row in model.x], dtype=float)
    a = np.full(shape, np.nan)
    r = np.full(shape, np.nan)
    for c, t in cells.tolist():
        a[c, t] = model.a[c, t].value() or 0.0
        r[c, t] = model.r[c, t].value() or 0.0
    return x, a, r, float(pulp.value(model.prob.objective) or 0.0)


class _HighsModel:
    """The same tangent LP held in HiGHS (highspy) as arrays: the cuts of a round are added
    to the solved model, which HiGHS re-solves from its last basis."""

    def __init__(self, problem: WeeklyProblem, alo: FloatArray, ahi: FloatArray) -> None:
        # highspy is optional (the HiGHS solver): loaded only when HiGHS is chosen
        import highspy

        self.hs = highspy
        n = problem.effect.shape[0]
        T = problem.weeks
        self.problem = problem
        self.cells = np.argwhere(problem.effect > 0)
        m = len(self.cells)
        self.nx, self.m = n * T, m
        inf = highspy.kHighsInf
        hi = highspy.Highs()
        hi.setOptionValue("output_flag", False)
        costs = np.concatenate([np.repeat(-problem.spend_cost, T), np.zeros(m),
                                problem.effect[self.cells[:, 0], self.cells[:, 1]]])
        lower = np.concatenate([problem.week_lower.reshape(-1),
                                alo[self.cells[:, 0], self.cells[:, 1]], np.full(m, -inf)])
        upper = np.concatenate([problem.week_upper.reshape(-1),
                                ahi[self.cells[:, 0], self.cells[:, 1]], np.full(m, inf)])
        ncol = self.nx + 2 * m
        hi.addCols(ncol, costs, lower, upper, 0, np.zeros(ncol, dtype=np.int32),
                   np.zeros(0, dtype=np.int32), np.zeros(0))
        rows: list[tuple[float, float, list[int], list[float]]] = []
        for k, (c, t) in enumerate(self.cells.tolist()):
            us = [u for u in range(min(t + 1, T)) if problem.lags[c, t - u] != 0.0]
            rows.append((float(problem.carry[c, t]), float(problem.carry[c, t]),
                         [self.nx + k] + [c * T + u for u in us],
                         [1.0] + [-float(problem.lags[c, t - u]) for u in us]))
        for c in range(n):
            rows.append((float(problem.total_lower[c]), float(problem.total_upper[c]),
                         [c * T + t for t in range(T)], [1.0] * T))
            g = problem.max_change
            for t in range(1, T) if g is not None else ():
                assert g is not None
                rows.append((-inf, 0.0, [c * T + t, c * T + t - 1], [1.0, -(1.0 + g)]))
                rows.append((0.0, inf, [c * T + t, c * T + t - 1], [1.0, -(1.0 - g)]))
        budget = float(problem.budget)
        rows.append((budget if problem.budget_mode == "equal" else -inf, budget,
                     list(range(self.nx)), [1.0] * self.nx))
        for coef, lo_s, up_s in _share_rows(problem):
            cols = [c * T + t for c in range(n) for t in range(T) if coef[c] != 0.0]
            rows.append((-inf if lo_s is None else lo_s, inf if up_s is None else up_s, cols,
                         [float(coef[c // T]) for c in cols]))
        self._add_rows(hi, rows)
        hi.changeObjectiveSense(highspy.ObjSense.kMaximize)
        self.highs = hi
        self.n_cuts = 0

    @staticmethod
    def _add_rows(hi: Any, rows: list[tuple[float, float, list[int], list[float]]]) -> None:
        lo = np.array([r[0] for r in rows], dtype=float)
        up = np.array([r[1] for r in rows], dtype=float)
        lengths = np.array([len(r[2]) for r in rows], dtype=np.int32)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int32)
        idx = np.array([i for r in rows for i in r[2]], dtype=np.int32)
        val = np.array([v for r in rows for v in r[3]], dtype=float)
        hi.addRows(len(rows), lo, up, len(idx), starts, idx, val)

    def add_tangents(self, points: FloatArray) -> int:
        """Tangents at ``points`` (N, H, k; NaN: none) of the valued cells; returns how many."""
        n = points.shape[0]
        sat = self.problem.saturations
        filled = np.where(np.isfinite(points), points, 1.0).reshape(n, -1)
        val = np.asarray(sat.value(filled), dtype=float).reshape(points.shape)
        slope = np.asarray(sat.slope(filled), dtype=float).reshape(points.shape)
        pc = points[self.cells[:, 0], self.cells[:, 1]]  # (m, k)
        vc = val[self.cells[:, 0], self.cells[:, 1]]
        sc = slope[self.cells[:, 0], self.cells[:, 1]]
        ok = np.isfinite(pc) & np.isfinite(sc)
        cell, j = np.nonzero(ok)
        if len(cell) == 0:
            return 0
        s = sc[cell, j]
        up = vc[cell, j] - s * pc[cell, j]
        cnt = len(cell)
        idx = np.stack([self.nx + self.m + cell, self.nx + cell], axis=1).reshape(-1)
        coef = np.stack([np.ones(cnt), -s], axis=1).reshape(-1)
        self.highs.addRows(cnt, np.full(cnt, -self.hs.kHighsInf), up, 2 * cnt,
                           np.arange(0, 2 * cnt, 2, dtype=np.int32), idx.astype(np.int32), coef)
        self.n_cuts += cnt
        return cnt

    def solve(self, solver: str, msg: bool) -> tuple[FloatArray, FloatArray, FloatArray, float,
                                                      str, float]:
        """``(x, a, r, objective, status, seconds)`` of the LP with the cuts so far."""
        ts = time.perf_counter()
        self.highs.setOptionValue("output_flag", bool(msg))
        self.highs.run()
        took = time.perf_counter() - ts
        status = self.highs.modelStatusToString(self.highs.getModelStatus())
        n, h = self.problem.effect.shape
        col = np.asarray(self.highs.getSolution().col_value, dtype=float)
        if status != "Optimal" or len(col) < self.nx + 2 * self.m:
            return (np.zeros((n, self.problem.weeks)), np.zeros((n, h)), np.zeros((n, h)),
                    -math.inf, "Infeasible" if "nfeasible" in status else status, took)
        x = col[: self.nx].reshape(n, self.problem.weeks)
        a = np.full((n, h), np.nan)
        r = np.full((n, h), np.nan)
        a[self.cells[:, 0], self.cells[:, 1]] = col[self.nx : self.nx + self.m]
        r[self.cells[:, 0], self.cells[:, 1]] = col[self.nx + self.m :]
        obj = float(self.highs.getInfo().objective_function_value)
        return x, a, r, obj, "Optimal", took


class _PieceModel:
    """The weekly model when some cells' saturation is S-shaped on their box: a MILP.

    A cell whose adstock can fall below its saturation's inflection point ``p`` (an S-shape:
    convex below ``p``, concave above) is bounded from above by a piecewise-linear function
    ``g >= S`` on its box ``[lo, hi]``: chords between breakpoints on ``[lo, min(p, hi)]``
    (above a convex function) and, beyond ``p``, the tangents of the concave part.  ``g``'s
    slopes rise, then fall: binaries fill the rising pieces in order (the incremental
    formulation), so the MILP's optimum is at least the true one.  Its plan valued exactly is
    achievable.  Breakpoints (and tangents) are added at the plan's adstock where ``g``
    overstates it, and the MILP is built anew each round (the pieces change).  The other
    cells keep their tangent cuts.
    """

    def __init__(self, problem: WeeklyProblem, s_cells: NDArray[np.bool_], start: FloatArray,
                 alo: FloatArray, ahi: FloatArray) -> None:
        self.problem = problem
        self.s_cells = s_cells
        self.start = start
        self.alo, self.ahi = alo, ahi
        self.cells = np.argwhere(problem.effect > 0)
        self.tangents: list[FloatArray] = []
        self.bps: dict[tuple[int, int], list[float]] = {}
        self.upper: dict[tuple[int, int], list[float]] = {}
        for c, t in np.argwhere(s_cells).tolist():
            lo, hi = float(alo[c, t]), float(ahi[c, t])
            pe = min(float(start[c]), hi)
            self.bps[c, t] = sorted({*np.linspace(lo, pe, 5).tolist()}) if pe > lo else [lo]
            self.upper[c, t] = [pe, 0.5 * (pe + hi), hi] if hi > pe else []
        self.n_cuts = 0
        self.n_binaries = 0

    def add_tangents(self, points: FloatArray) -> int:
        """Tangents at ``points`` (N, H, k; NaN: none): cuts of the concave cells, and of the
        concave part (clipped to ``[p, hi]``) of the S-shaped ones."""
        pts = np.where(self.s_cells[..., None], np.nan, points)
        self.tangents.append(pts)
        added = int(np.isfinite(pts[self.cells[:, 0], self.cells[:, 1]]).sum())
        for (c, t), up in self.upper.items():
            if not up:
                continue
            pe, hi = up[0], float(self.ahi[c, t])
            new = [float(v) for v in np.clip(points[c, t], pe, hi) if np.isfinite(v)]
            up.extend(new)
            added += len(new)
        self.n_cuts += added
        return added

    def add_breakpoints(self, a: FloatArray) -> int:
        """Breakpoints at ``a`` (N, H; NaN: none) of the S-shaped cells' convex parts."""
        added = 0
        for (c, t), b in self.bps.items():
            v = float(a[c, t])
            if not np.isfinite(v) or not b[0] < v < b[-1]:
                continue
            width = max(b[-1] - b[0], 1e-12)
            if min(abs(v - u) for u in b) > 1e-9 * width:
                b.append(v)
                b.sort()
                added += 1
        return added

    def _build(self) -> tuple[_CutModel, int]:
        model = _CutModel(self.problem)
        for pts in self.tangents:
            model.add_tangents(pts)
        sat = self.problem.saturations
        n = self.problem.effect.shape[0]
        prob = model.prob
        binaries = 0
        for (c, t), b in self.bps.items():
            lo, hi = float(self.alo[c, t]), float(self.ahi[c, t])
            bv, _ = _row_values(sat, n, c, b)
            lengths = np.diff(b)
            slopes = np.diff(bv) / np.where(lengths > 0, lengths, 1.0)
            pieces = [prob.add_variable(f"d_{c}_{t}_{j}", 0.0, float(lengths[j]))
                      for j in range(len(lengths))]
            terms: list[tuple[Any, float]] = [(model.r[c, t], 1.0)]
            terms += [(d, -float(s)) for d, s in zip(pieces, slopes, strict=True)]
            up = self.upper[c, t]
            lens = [float(v) for v in lengths]
            if up:
                pe = up[0]
                dc = prob.add_variable(f"dc_{c}_{t}", 0.0, hi - pe)
                q = prob.add_variable(f"q_{c}_{t}")
                pieces.append(dc)
                lens.append(hi - pe)
                terms.append((q, -1.0))
                uv, us = _row_values(sat, n, c, up)
                spe = float(_row_values(sat, n, c, [pe])[0][0])
                for k, (u, vu, su) in enumerate(zip(up, uv, us, strict=True)):
                    if not np.isfinite(su):
                        continue
                    prob.addConstraint(pulp.LpConstraint(
                        pulp.LpAffineExpression([(q, 1.0), (dc, -float(su))]),
                        pulp.LpConstraintLE, rhs=float(vu - spe + su * (pe - u))),
                        f"q_{c}_{t}_{k}")
            if not pieces:  # a box of one point (up to rounding): its value at the top
                prob.addConstraint(pulp.LpConstraint(
                    pulp.LpAffineExpression(terms), pulp.LpConstraintLE,
                    rhs=float(_row_values(sat, n, c, [hi])[0][0])), f"g_{c}_{t}")
                continue
            prob.addConstraint(pulp.LpConstraint(
                pulp.LpAffineExpression(terms), pulp.LpConstraintLE, rhs=float(bv[0])),
                f"g_{c}_{t}")
            prob.addConstraint(pulp.LpConstraint(
                pulp.LpAffineExpression([(model.a[c, t], 1.0)] + [(d, -1.0) for d in pieces]),
                pulp.LpConstraintEQ, rhs=lo), f"fill_{c}_{t}")
            # the rising pieces (the chords) fill in order: piece j + 1 only once j is full
            for j in range(min(len(lengths), len(pieces) - 1)):
                y = prob.add_variable(f"y_{c}_{t}_{j}", cat="Binary")
                binaries += 1
                prob.addConstraint(pieces[j] - float(lens[j]) * y >= 0, f"full_{c}_{t}_{j}")
                prob.addConstraint(pieces[j + 1] - float(lens[j + 1]) * y <= 0,
                                   f"then_{c}_{t}_{j}")
        return model, binaries

    def solve(self, solver: str, msg: bool, mip_gap: float) -> tuple[
            FloatArray, FloatArray, FloatArray, float, str, float, float]:
        """``(x, a, r, objective, status, seconds, bound)`` of the MILP: ``bound`` is what
        the solver proved no plan of the pieces exceeds."""
        model, self.n_binaries = self._build()
        ts = time.perf_counter()
        with warnings.catch_warnings():
            # PuLP 3.3 announces its 4.0 renames (PULP_CBC_CMD -> COIN_CMD) on every solve
            warnings.simplefilter("ignore", DeprecationWarning)
            model.prob.solve(get_solver(solver, msg=msg, gap=mip_gap))
        took = time.perf_counter() - ts
        x, a, r, obj = _read_values(model, self.cells, self.problem.effect.shape)
        status = pulp.LpStatus[model.prob.status]
        proven = status == "Optimal" and model.prob.sol_status == pulp.LpSolutionOptimal
        if not proven:
            return x, a, r, obj, status if status != "Optimal" else "Not Solved", took, math.inf
        # the solver stops within mip_gap of its objective (relative, as CBC and HiGHS count it)
        bound = obj + mip_gap * abs(obj) / (1.0 - mip_gap)
        if solver_key(solver) == "HiGHS" and self.n_binaries:
            # HiGHS minimises the negated objective PuLP gives it: its dual bound, negated
            db = -float(model.prob.solverModel.getInfo().mip_dual_bound)
            if math.isfinite(db):
                bound = max(obj, db)
        return x, a, r, obj, status, took, bound


def _share_rows(problem: WeeklyProblem) -> list[tuple[FloatArray, float | None, float | None]]:
    """Per share bound, the coefficient of each channel's weekly spend in a row that is
    ``>= 0`` (``(0, None)``: at least a share) or ``<= 0`` (``(None, 0)``: at most)."""
    out: list[tuple[FloatArray, float | None, float | None]] = []
    for mask, low, high in problem.shares:
        m = np.asarray(mask, dtype=float)
        if low is not None:
            out.append((m - float(low), 0.0, None))
        if high is not None:
            out.append((m - float(high), None, 0.0))
    return out


def _repair(problem: WeeklyProblem, x: FloatArray) -> FloatArray:
    """The solver's spends within each week's limits (it meets rows to about 1e-9)."""
    return np.clip(x, problem.week_lower, problem.week_upper)


NEW_SPREAD = (0.99, 1.0, 1.01)
"""Tangent points added around a cell's adstock in the LP's plan, as multiples of it."""
REF_SPREAD = (0.6, 0.85, 1.0, 1.15, 1.4)
"""First tangent points of a cell, as multiples of its adstock at the reference plan."""


def _initial_points(alo: FloatArray, ahi: FloatArray, a_ref: FloatArray) -> FloatArray:
    """Each cell's first tangent points: the ends and the middle of its box, and the
    reference's adstock times :data:`REF_SPREAD` (where the optimum is expected)."""
    ends = np.stack([alo, 0.5 * (alo + ahi), ahi], axis=-1)
    near = np.clip(a_ref[..., None] * np.asarray(REF_SPREAD), alo[..., None], ahi[..., None])
    return np.concatenate([ends, near], axis=-1)


def solve_weekly(
    problem: WeeklyProblem,
    *,
    tol: float = 1e-4,
    solver: str = "CBC",
    msg: bool = False,
    max_rounds: int = 30,
    x_ref: FloatArray | None = None,
) -> WeeklySolution:
    """Optimise spend per channel and week and certify it: ``value <= optimum <= upper_bound``.

    The LP over tangents of every cell's saturation bounds the optimum from above; its plan
    meets every linear row, so its exact value bounds the optimum from below (so does the plan
    of the same totals spent evenly, the better of the two is kept).  Each round adds
    the tangent at the plan's adstock of every cell where the tangents overstate the value by
    more than a share of the tolerance, until the certified gap is within ``tol``.

    An S-shaped saturation (``concave_from`` above 0) is concave on a cell's box when the box's
    least adstock is at or above its inflection point: that cell keeps its tangents.  Cells
    whose adstock can lie below it are bounded by chords there and tangents above, with
    binaries filling the chords in order (:class:`_PieceModel`, a MILP through PuLP whatever
    the solver); breakpoints are added where the chords overstate the plan.

    Parameters
    ----------
    problem : WeeklyProblem
    tol : float, default=1e-4
        Target certified relative gap (:func:`roiste.optimizer.lp.solve.relative_gap`).
    solver : str, default="CBC"
        ``"CBC"`` or ``"HiGHS"`` through PuLP.
    msg : bool
        Show the solver's log.
    max_rounds : int, default=30
        Rounds of tangents added.
    x_ref : ndarray (N, T), optional
        A plan near the expected optimum (the current weekly spend): tangents start there.

    Raises
    ------
    InfeasibleError
        When no weekly plan meets the limits; the message names the first conflict found.
    """
    _check(problem)
    start = concave_from(problem)
    alo, ahi = _box(problem)
    s_cells = _s_cells(problem, start, alo)
    if s_cells.any():
        alo, ahi = _box(problem, cap=float(problem.budget))
    ref = problem.adstock(x_ref) if x_ref is not None else 0.5 * (alo + ahi)
    points = _initial_points(alo, ahi, ref)
    _check_concave(problem, points, start <= 0.0)
    tb = time.perf_counter()
    get_solver(solver)  # available? (and HiGHS's banner kept off the output)
    model: _CutModel | _HighsModel | _PieceModel
    if s_cells.any():
        model = _PieceModel(problem, s_cells, start, alo, ahi)
    elif solver_key(solver) == "HiGHS":
        model = _HighsModel(problem, alo, ahi)
    else:
        model = _CutModel(problem)
    model.add_tangents(points)
    build_s = time.perf_counter() - tb
    solve_s = 0.0
    best_x: FloatArray | None = None
    best_lb, best_ub = -math.inf, math.inf
    status = "gap_above_tolerance"
    scale = max(float(problem.budget), float(np.sum(problem.total_upper)) * 1e-3)
    rounds = 0
    gap = math.inf
    for _ in range(max_rounds):
        rounds += 1
        if isinstance(model, _PieceModel):
            # the MILP stops early while the certified gap is wide, closer as it closes
            x, _, r, _, st, took, ub = model.solve(
                solver, msg, max(MIP_GAP * tol, min(1e-2, MIP_GAP * gap)))
        else:
            x, _, r, ub, st, took = model.solve(solver, msg)
        solve_s += took
        if st == "Infeasible":
            raise InfeasibleError(_conflict(problem))
        if st != "Optimal":
            raise InfeasibleError(f"the weekly plan's LP ended {st}; no plan is certified")
        xc = _repair(problem, x)
        # the same totals spent evenly meet every row too (when the weekly limits allow them)
        even = np.repeat(xc.mean(axis=1, keepdims=True), problem.weeks, axis=1)
        fits = bool(np.all(even >= problem.week_lower - 1e-9)
                    and np.all(even <= problem.week_upper + 1e-9))
        for cand in (xc, _repair(problem, even)) if fits else (xc,):
            v = problem.value(cand)
            if v > best_lb:
                best_lb, best_x = v, cand
        best_ub = min(best_ub, ub + 1e-9 * max(abs(ub), scale))
        gap = relative_gap(best_lb, best_ub, scale)
        if gap <= tol:
            status = "optimal"
            break
        tb = time.perf_counter()
        # where the tangents overstate the LP plan's value most: a tangent at its adstock
        a_now = problem.adstock(xc)
        over = problem.effect * (np.nan_to_num(r) - problem.saturations.value(a_now))
        over = np.where(problem.effect > 0, over, 0.0)
        # (a share of the gap's own denominator, :func:`.solve.relative_gap`)
        floor = max(abs(best_ub), abs(best_lb), 0.01 * scale)
        need = over > 0.05 * tol * floor / max(len(model.cells), 1)
        a_in = np.clip(a_now, alo, ahi)
        if isinstance(model, _PieceModel):
            # below an S-shape's inflection point a breakpoint (chords are exact there); the
            # best plan's adstock too, near which the optimum is expected
            assert best_x is not None
            a_best = np.clip(problem.adstock(best_x), alo, ahi)
            for pts, want in ((a_in, need), (a_best, s_cells)):
                convex = s_cells & (pts < start[:, None])
                for f in NEW_SPREAD:
                    model.add_breakpoints(np.where(want & convex, pts * f, np.nan))
            model.add_tangents(np.where(s_cells & (a_best >= start[:, None]), a_best,
                                        np.nan)[..., None])
            convex = s_cells & (a_in < start[:, None])
            need &= ~convex
        at = np.where(need, a_in, np.nan)[..., None]
        model.add_tangents(np.clip(at * np.asarray(NEW_SPREAD), alo[..., None], ahi[..., None]))
        build_s += time.perf_counter() - tb
    assert best_x is not None
    return WeeklySolution(
        x=best_x, value=best_lb, upper_bound=max(best_ub, best_lb),
        gap=relative_gap(best_lb, best_ub, scale), status=status, solver=solver_key(solver),
        iterations=rounds, n_breakpoints=model.n_cuts,
        build_seconds=build_s, solve_seconds=solve_s,
        n_binaries=model.n_binaries if isinstance(model, _PieceModel) else 0,
    )


MIP_GAP = 0.1
"""The MILP's relative stopping gap, as a share of the certified gap of the round before (at
most 1e-2, at least this share of the plan's tolerance)."""


def concave_from(problem: WeeklyProblem) -> FloatArray:
    """Each channel's adstock from which its saturation is concave (0: concave throughout).

    The saturations' ``concave_from`` when they give it (an S-shape's inflection point, or
    ``inf`` where it is not known), zeros otherwise.
    """
    n = problem.effect.shape[0]
    start = getattr(problem.saturations, "concave_from", None)
    if start is None:
        return np.zeros(n)
    out = np.asarray(start, dtype=float).reshape(n)
    return np.where(np.isnan(out), np.inf, out)


def _s_cells(problem: WeeklyProblem, start: FloatArray, alo: FloatArray) -> NDArray[np.bool_]:
    """The valued cells whose adstock can lie below their saturation's inflection point.

    The box test of a one-period plan (:func:`roiste.optimizer.lp.problem.concave_on_box`)
    cell by cell: a cell whose least adstock (carried in, plus every week at its least spend)
    is at or above the point is concave on its box and keeps tangent cuts.
    """
    above = alo >= start[:, None] * (1.0 + 1e-12)
    cells = (problem.effect > 0) & (start[:, None] > 0.0) & ~above
    bad = np.flatnonzero(cells.any(axis=1) & ~np.isfinite(start))
    if len(bad):
        raise ValueError(f"{problem.names[bad[0]]}: the saturation is not concave in adstock "
                         "and its inflection point is not known; the weekly plan needs it")
    neg = np.flatnonzero(cells.any(axis=1) & (problem.week_lower < 0).any(axis=1))
    if len(neg):
        raise ValueError(f"{problem.names[neg[0]]}: an S-shaped channel's weekly spend must be "
                         ">= 0 in the weekly plan")
    return np.asarray(cells, dtype=bool)


def _check_concave(problem: WeeklyProblem, points: FloatArray,
                   rows: NDArray[np.bool_] | None = None) -> None:
    """Refuse saturations whose slope rises between breakpoints: the bounds need concavity
    (of the channels ``rows``, those said to be concave throughout; all by default)."""
    n = points.shape[0]
    keep = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    flat = np.where(keep[:, None], points.reshape(n, -1), 1.0)
    order = np.argsort(flat, axis=1)
    a = np.take_along_axis(flat, order, 1)
    s = np.asarray(problem.saturations.slope(a), dtype=float)
    s = np.where(np.isfinite(s), s, np.inf)
    rises = np.diff(s, axis=1) > 1e-9 * np.maximum(np.abs(s[:, :-1]), 1e-12)
    rises &= np.diff(a, axis=1) > 0
    bad = np.flatnonzero(rises.any(axis=1))
    if len(bad):
        raise ValueError(f"{problem.names[bad[0]]}: the saturation is not concave in adstock; "
                         "the weekly plan needs concave saturations")


def _check(problem: WeeklyProblem) -> None:
    n, h = problem.effect.shape
    T = problem.weeks
    for name, arr, shape in (("lags", problem.lags, (n, h)), ("carry", problem.carry, (n, h)),
                             ("week_lower", problem.week_lower, (n, T)),
                             ("week_upper", problem.week_upper, (n, T))):
        if np.shape(arr) != shape:
            raise ValueError(f"WeeklyProblem.{name} must have shape {shape}, got {np.shape(arr)}")
    if not 1 <= T <= h:
        raise ValueError(f"WeeklyProblem.weeks must lie in [1, {h}], got {T}")
    if np.any(problem.effect < 0) or not np.all(np.isfinite(problem.effect)):
        raise ValueError("WeeklyProblem.effect must be finite and >= 0")
    if np.any(problem.week_upper < problem.week_lower - 1e-9):
        c, t = np.argwhere(problem.week_upper < problem.week_lower - 1e-9)[0]
        raise InfeasibleError(
            f"{problem.names[c]}: week {t + 1}'s least spend {problem.week_lower[c, t]:,.2f} "
            f"exceeds its most {problem.week_upper[c, t]:,.2f}")


def _conflict(problem: WeeklyProblem) -> str:
    """One line naming what leaves no weekly plan."""
    lo_w = problem.week_lower.sum(axis=1)
    hi_w = problem.week_upper.sum(axis=1)
    for c, nm in enumerate(problem.names):
        if lo_w[c] > problem.total_upper[c] + 1e-6:
            return (f"{nm}: the weekly minimums add up to {lo_w[c]:,.2f}, above the period's "
                    f"most {problem.total_upper[c]:,.2f}")
        if hi_w[c] < problem.total_lower[c] - 1e-6:
            return (f"{nm}: the weekly maximums add up to {hi_w[c]:,.2f}, below the period's "
                    f"least {problem.total_lower[c]:,.2f}")
    least = np.maximum(lo_w, problem.total_lower)
    most = np.minimum(hi_w, problem.total_upper)
    for mask, low, high in problem.shares:
        m = np.asarray(mask, dtype=bool)
        group = " + ".join(str(problem.names[int(i)]) for i in np.flatnonzero(m))
        # what the group can take, and must take, of an exact budget beside the others
        can = min(float(most[m].sum()), problem.budget - float(least[~m].sum()))
        must = max(float(least[m].sum()), problem.budget - float(most[~m].sum()))
        if low is not None and problem.budget_mode == "equal":
            need = float(low) * problem.budget
            if can < need - 1e-6:
                return (f"the share constraint {group} >= {low:g} needs {need:,.2f} of the budget "
                        f"{problem.budget:,.2f}, but the group can take at most {can:,.2f}")
        if high is not None and problem.budget_mode == "equal" and (
                must > float(high) * problem.budget + 1e-6):
            return (f"the share constraint {group} <= {high:g} allows {high * problem.budget:,.2f}"
                    f" of the budget {problem.budget:,.2f}, but the group must take at least "
                    f"{must:,.2f}")
    lo_t = float(least.sum())
    hi_t = float(most.sum())
    if lo_t > problem.budget + 1e-6:
        return (f"the channels' least period spend {lo_t:,.2f} exceeds the budget "
                f"{problem.budget:,.2f}")
    if problem.budget_mode == "equal" and hi_t < problem.budget - 1e-6:
        return (f"the channels' most period spend {hi_t:,.2f} falls short of the budget "
                f"{problem.budget:,.2f}")
    return ("the weekly limits, the largest week-to-week change, the share constraints and the "
            "period's limits leave no plan; loosen the weekly minimums/maximums, "
            "max_weekly_change or the constraints")


def _row_values(sat: Saturations, n: int, c: int, v: Sequence[float]) -> tuple[FloatArray,
                                                                               FloatArray]:
    """``S_c`` and ``S_c'`` at the points ``v`` of channel ``c`` alone."""
    pts = np.ones((n, len(v)))
    pts[c] = v
    return (np.asarray(sat.value(pts), dtype=float)[c],
            np.asarray(sat.slope(pts), dtype=float)[c])
