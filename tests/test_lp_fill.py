"""The LP on the pieces where only the budget couples the channels: filled by slope, as CBC.

Each model here is an LP whose rows are the budget and the pieces' boxes; the fill in falling
order of slope must give CBC's objective, allocation and budget dual on the same pieces, and
a problem with a share or target row must still go to the solver.
"""

from __future__ import annotations

import numpy as np
import pytest
from lp_worlds import random_model

from roiste.models.errors import RoisteError
from roiste.optimizer.lp import AllocationProblem, ShareConstraint, TargetConstraint, prepare, solve
from roiste.optimizer.lp.model import budget_only, fill_pieces, solve_pieces
from roiste.optimizer.lp.pieces import Pieces


def _random_pieces(rng: np.random.Generator, n: int, concave: bool) -> tuple[Pieces, np.ndarray]:
    """Up to five pieces per channel with random lengths and slopes (falling when concave)."""
    counts = rng.integers(1, 6, n)
    channel = np.repeat(np.arange(n), counts)
    length = rng.uniform(10.0, 500.0, len(channel))
    slopes = rng.normal(0.3, 1.0, len(channel))
    if concave:  # falling within each channel
        order = np.lexsort((-slopes, channel))
        slopes = slopes[order]
    revenue = rng.uniform(0.5, 3.0, len(channel))  # a target's rows read revenue's pieces
    p = Pieces(channel=channel, length=length, slopes={"value": slopes, "revenue": revenue},
               offset={"value": rng.uniform(-100.0, 100.0, n), "revenue": np.full(n, 50.0)},
               ordered=np.zeros(len(channel), dtype=bool))
    lo = rng.uniform(0.0, 1000.0, n)
    return p, lo


def _problem(p: Pieces, lo: np.ndarray, budget: float, mode: str, **kw: object) -> AllocationProblem:
    hi = lo + np.bincount(p.channel, weights=p.length, minlength=len(lo))
    return AllocationProblem([f"c{i}" for i in range(len(lo))], lo, hi, random_model(
        np.random.default_rng(0), len(lo)), budget, budget_mode=mode, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("mode", ["equal", "at_most"])
def test_fill_equals_cbc_on_random_pieces(seed: int, mode: str) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    p, lo = _random_pieces(rng, n, concave=bool(seed % 2))
    room = float(p.length.sum())
    budget = float(lo.sum()) + rng.uniform(0.05, 0.95) * room
    problem = _problem(p, lo, budget, mode)
    prep = prepare(problem)
    assert budget_only(p, prep)
    filled = fill_pieces(p, prep, problem)
    cbc, _ = solve_pieces(p, prep, problem, solver="CBC", time_limit=None, msg=False,
                          mip_gap=1e-6, fill=False)
    assert filled.filled and not cbc.filled
    assert cbc.status == filled.status == "Optimal"
    scale = max(abs(cbc.objective), 1.0)
    assert filled.objective == pytest.approx(cbc.objective, rel=1e-9, abs=1e-9 * scale)
    np.testing.assert_allclose(filled.x, cbc.x, rtol=0, atol=1e-9 * budget)
    # the dual: the slope where the budget runs out (CBC's solution file holds 8 digits)
    assert cbc.dual is not None and filled.dual is not None
    assert filled.dual == pytest.approx(cbc.dual, rel=1e-7, abs=1e-12)
    if mode == "at_most" and filled.x.sum() < budget - 1e-9 * budget:
        # budget left over: every piece of positive slope is full, no other piece filled
        assert filled.dual == 0.0
        best = float(p.offset["value"].sum() + np.maximum(p.slopes["value"], 0.0) @ p.length)
        assert filled.objective == pytest.approx(best, rel=1e-12)


def test_fill_by_hand() -> None:
    # two channels, pieces (slope, length): a = (3, 10), (1, 10); b = (2, 5), (-1, 5)
    p = Pieces(channel=np.array([0, 0, 1, 1]), length=np.array([10.0, 10.0, 5.0, 5.0]),
               slopes={"value": np.array([3.0, 1.0, 2.0, -1.0])},
               offset={"value": np.array([0.0, 0.0])}, ordered=np.zeros(4, dtype=bool))
    lo = np.array([0.0, 0.0])
    # a budget of 20: 10 at slope 3, 5 at slope 2, then 5 of a's slope-1 piece
    res = fill_pieces(p, prepare(_problem(p, lo, 20.0, "equal")), _problem(p, lo, 20.0, "equal"))
    assert res.x.tolist() == [15.0, 5.0]
    assert res.objective == 30.0 + 10.0 + 5.0
    assert res.dual == 1.0
    # 28 must be spent: b's negative piece takes the last 3
    pr = _problem(p, lo, 28.0, "equal")
    res = fill_pieces(p, prepare(pr), pr)
    assert res.x.tolist() == [20.0, 8.0] and res.dual == -1.0
    assert res.objective == 30.0 + 10.0 + 10.0 - 3.0
    # at most 28: the negative piece stays empty and the budget's price is 0
    pr = _problem(p, lo, 28.0, "at_most")
    res = fill_pieces(p, prepare(pr), pr)
    assert res.x.tolist() == [20.0, 5.0] and res.dual == 0.0
    # more than the boxes hold (which the preparation refuses first): infeasible, as the LP
    prep = prepare(_problem(p, lo, 30.0, "equal"))
    assert fill_pieces(p, prep, _problem(p, lo, 31.0, "equal")).status == "Infeasible"


def test_other_rows_go_to_the_solver() -> None:
    rng = np.random.default_rng(3)
    p, lo = _random_pieces(rng, 20, concave=True)
    budget = float(lo.sum()) + 0.5 * float(p.length.sum())
    share = ShareConstraint("first", [f"c{i}" for i in range(5)], max_share=0.3)
    target = TargetConstraint("roas", "min_roas", 0.1)
    for kw in ({"shares": [share]}, {"targets": [target]}):
        problem = _problem(p, lo, budget, "equal", **kw)
        prep = prepare(problem)
        assert not budget_only(p, prep)
        res, _ = solve_pieces(p, prep, problem, solver="CBC", time_limit=None, msg=False,
                              mip_gap=1e-6)
        assert not res.filled
        # the rows left out (as the explanation of a conflict does): a knapsack again
        skip = frozenset({"share_max_0", "target_0"})
        assert budget_only(p, prep, skip)
        res, _ = solve_pieces(p, prep, problem, solver="CBC", time_limit=None, msg=False,
                              mip_gap=1e-6, skip=skip)
        assert res.filled


def test_solve_fills_budget_only_plans_and_solves_the_rest() -> None:
    rng = np.random.default_rng(7)
    n = 40
    model = random_model(rng, n)
    x0 = rng.uniform(500, 5000, n)
    lo, hi = 0.85 * x0, 1.15 * x0
    budget = float(x0.sum()) * 1.03
    names = [f"c{i}" for i in range(n)]
    plain = solve(AllocationProblem(names, lo, hi, model, budget))
    assert plain.filled and plain.status == "optimal" and plain.gap <= 1e-4
    x_opt, lam = model.optimum(lo, hi, budget)
    opt = float(model.value(x_opt).sum())
    assert plain.value <= opt + 1e-8 * budget <= plain.upper_bound + 2e-8 * budget
    assert plain.shadow_price == pytest.approx(lam, abs=1e-3 * max(1.0, abs(lam)))
    # a share cap that binds: the LP decides, and the cap holds
    first = [f"c{i}" for i in range(10)]
    cap = 0.9 * float(x_opt[:10].sum()) / budget
    capped = solve(AllocationProblem(names, lo, hi, model, budget,
                                     shares=[ShareConstraint("first", first, max_share=cap)]))
    assert not capped.filled and capped.status == "optimal"
    assert capped.x[:10].sum() <= cap * capped.x.sum() + 1e-6 * budget
    assert capped.value < plain.value


def test_unknown_solver_is_refused_on_the_filled_path() -> None:
    rng = np.random.default_rng(1)
    model = random_model(rng, 4)
    with pytest.raises(RoisteError, match="is not available"):
        solve(AllocationProblem(list("abcd"), np.full(4, 100.0), np.full(4, 200.0), model, 600.0),
              solver="GUROBI_X")
