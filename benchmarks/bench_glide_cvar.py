"""Glide paths under CVaR against the expected path (run by hand).

    .venv/bin/python benchmarks/bench_glide_cvar.py [channels:steps:draws ...]

Synthetic Hill curves with lognormal draws of their level and scale (as in
``bench_risk.py speed``), the budget kept, steps of 15 %, CVaR level 0.2.  For each size:
the seconds of the expected path (:func:`roiste.optimizer.lp.solve_path` on the mean over
the draws, its candidate), of the CVaR path (:func:`roiste.optimizer.lp.solve_path_cvar`)
and of its per-step certificates (:func:`roiste.optimizer.lp.certify_steps_cvar`); the CVaR
path's gap, rounds and breakpoints; the CVaR of the summed uplift of both paths, and the
expected uplift the CVaR path gives up.  Then a constraint priced as ``build_plan`` prices it:
a cap that binds (the share of the channels the CVaR path raises, held between today's share,
by default, and the CVaR path's: ``SQUEEZE`` in the environment, 1 to 0), the path solved with
it, then re-solved without it from the capped path and the expected path ("price s"), against
the re-solve from the expected path alone (the CVaR path's own time, "cvar s").  Then
``build_plan`` end to end under each risk.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from roiste.optimizer.context import PlanContext
from roiste.optimizer.glide import static_bounds
from roiste.optimizer.lp import (
    PathProblem,
    ShareConstraint,
    certify_steps_cvar,
    cvar,
    solve_path,
    solve_path_cvar,
)
from roiste.optimizer.plan import build_plan
from roiste.optimizer.scenario import Scenario
from roiste.optimizer.steps import step_budgets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_risk import synthetic_curves  # the same synthetic curves as its speed mode

LEVEL = 0.2
SQUEEZE = float(os.environ.get("SQUEEZE", "1"))
"""How far the priced cap holds the raised channels' share back: 0 none, 1 at today's."""


def scenario(steps: int, risk: str) -> Scenario:
    return Scenario.model_validate({
        "name": "bench", "data": "unused.csv", "steps": steps, "step": 0.15,
        "risk": {"kind": "cvar", "level": LEVEL} if risk == "cvar" else risk,
        "economics": {"gross_margin": 0.45, "return_rate": 0.08}})


def bench(n: int, steps: int, s: int) -> dict[str, float]:
    cs = synthetic_curves(n, s)
    current = pd.Series([cs[c].recent_spend for c in cs], index=cs.channels)
    ctx = PlanContext.create(cs, scenario(steps, "cvar"), current)
    assert ctx.draws is not None
    budgets = step_budgets(ctx.current_total, ctx.budget, steps)
    lows, highs, _ = static_bounds(ctx, steps)
    problem = PathProblem(ctx.channels, ctx.x0, lows, highs, ctx.step, ctx.draws.mean(), budgets)
    rows = ctx.draws.optimisable()
    t0 = time.perf_counter()
    expected = solve_path(problem, tol=1e-4)
    t1 = time.perf_counter()
    res = solve_path_cvar(problem, rows, LEVEL, candidates=(expected.x,), tol=1e-4)
    t2 = time.perf_counter()
    cert = certify_steps_cvar(problem, res, rows, LEVEL, tol=1e-4)
    t3 = time.perf_counter()
    ups = res.path.directions > 0
    shares = [float(x[ups].sum() / x.sum()) for x in (ctx.x0, res.path.x[-1])]
    cap = ShareConstraint("cap", ups, max_share=SQUEEZE * shares[0] + (1 - SQUEEZE) * shares[1])
    capped_problem = replace(problem, shares=[cap])
    capped = solve_path_cvar(capped_problem, rows, LEVEL,
                             candidates=(solve_path(capped_problem, tol=1e-4).x,), tol=1e-4)
    t4 = time.perf_counter()
    priced = solve_path_cvar(problem, rows, LEVEL, candidates=(expected.x, capped.path.x),
                             tol=1e-4)
    t5 = time.perf_counter()
    base = rows.value(ctx.x0).sum(axis=1)
    u_exp = sum(rows.value(xk).sum(axis=1) - base for xk in expected.x)
    out = {"expected_s": t1 - t0, "cvar_s": t2 - t1, "certify_s": t3 - t2,
           "gap": res.path.gap, "rounds": res.path.iterations,
           "breakpoints": res.path.n_breakpoints,
           "step_gap": max(st.gap for st in cert.path.steps),
           "cvar_of_cvar": res.path.value, "cvar_of_expected": cvar(u_exp, LEVEL),
           "mean_given_up": float(u_exp.mean() - res.uplift.mean()),
           "price_s": t5 - t4, "price_gain": res.path.value - capped.path.value,
           "price_diff": priced.path.value - res.path.value}
    for risk in ("point", "expected", "cvar"):
        t = time.perf_counter()
        plan = build_plan(cs, scenario(steps, risk), current)
        out[f"plan_{risk}_s"] = time.perf_counter() - t
        out[f"plan_{risk}_risk"] = plan.risk  # type: ignore[assignment]
    return out


def main() -> None:
    sizes = [tuple(int(v) for v in a.split(":")) for a in sys.argv[1:]] or [
        (6, 3, 30), (20, 3, 30), (50, 3, 30)]
    print(f"{'size':>10} {'exp s':>6} {'cvar s':>7} {'cert s':>7} {'gap':>8} {'rounds':>6} "
          f"{'step gap':>8} {'CVaR cvar':>10} {'CVaR exp':>10} {'mean given up':>13} "
          f"{'price s':>7} {'cost':>6} {'re-solve diff':>13} {'plan pt/exp/cvar s':>20}")
    for n, steps, s in sizes:
        r = bench(n, steps, s)
        print(f"{n:>3}x{steps}x{s:<4} {r['expected_s']:>6.2f} {r['cvar_s']:>7.2f} "
              f"{r['certify_s']:>7.2f} {r['gap']:>8.1e} {r['rounds']:>6.0f} {r['step_gap']:>8.1e} "
              f"{r['cvar_of_cvar']:>10.0f} {r['cvar_of_expected']:>10.0f} "
              f"{r['mean_given_up']:>13.0f} {r['price_s']:>7.2f} {r['price_gain']:>6.0f} "
              f"{r['price_diff']:>13.2f} "
              f"{r['plan_point_s']:>6.1f}/{r['plan_expected_s']:.1f}/{r['plan_cvar_s']:.1f}"
              f" ({r['plan_cvar_risk']})", flush=True)


if __name__ == "__main__":
    main()
