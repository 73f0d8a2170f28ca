"""Plans over the uncertainty of the curves, scored against the truth of simulated worlds.

    .venv/bin/python benchmarks/bench_risk.py [n_worlds_per_family] [draws] [first_seed]
    .venv/bin/python benchmarks/bench_risk.py speed

Each world (:func:`roiste.models.worlds.draw_world`, every process family, seeds from
``first_seed``, 100 by default) is fitted per
channel with bootstrap draws, then planned with ``risk: point``, ``expected`` and ``cvar``
(level 0.2) on the demo's economics, one step of 15 %, the budget kept.  Every plan is valued
on the world's true curves: its true uplift over the current allocation, and its capture of
the achievable true uplift (the uplift of the plan made on the true curves themselves).  Each
moved channel's move support is paired with whether the move is right on the truth (the test
of the draws, :func:`roiste.optimizer.risk.moves_right`, on the true curves), which calibrates
the support threshold.

Prints one table per risk objective and the calibration by support band.  ``speed`` times
``build_plan`` under each risk objective on synthetic curves with draws (channels x draws:
6 x 50, 30 x 30, 100 x 30, 300 x 30), and under ``cvar`` on curves whose draws are partly
S-shaped over the step (6, 30, 100, 300 channels x 30 draws).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.fit.channel import fit_long
from roiste.models.panel import panel_from_frame
from roiste.models.transforms import Geometric, Hill
from roiste.models.worlds import PROCESS_FAMILIES, draw_world
from roiste.optimizer.context import PlanContext
from roiste.optimizer.plan import build_plan
from roiste.optimizer.risk import moves_right
from roiste.optimizer.scenario import Scenario

FAMILIES = tuple(PROCESS_FAMILIES)
ECONOMICS = {"gross_margin": 0.45, "return_rate": 0.10, "cost_per_order": 7.5,
             "new_customer_value": 35.0, "existing_incrementality": 0.8}
RISKS = ("point", "expected", "cvar")


def scenario(risk: str) -> Scenario:
    """The scenario every world is planned with."""
    return Scenario.model_validate({"name": f"risk {risk}", "data": "unused.csv", "step": 0.15,
                                    "economics": ECONOMICS, "risk": risk})


@dataclass
class Score:
    family: str
    seed: int
    risk: str
    true_uplift: float
    achievable: float
    moves: list[tuple[float, bool, bool]]  # (support, supported, right on the truth)

    @property
    def capture(self) -> float:
        return self.true_uplift / self.achievable if self.achievable > 0 else float("nan")


def score_world(family: str, seed: int, draws: int, n_channels: int = 5) -> list[Score]:
    """Fit one world, plan it under every risk objective, value the plans on its truth."""
    world = draw_world(seed, family, n_channels=n_channels)
    # fitted without the promotion calendar (a world's control column), as measured before
    panel = panel_from_frame(world.panel.drop(columns="promotion", errors="ignore"))
    curves = fit_long(panel, bootstrap=draws, seed=seed, progress=False, n_jobs=1)
    current = panel.recent_spend(8).astype(float)
    truth_sc = scenario("point")
    truth_ctx = PlanContext.create(world.truth, truth_sc, current)
    assert truth_ctx.margin_functions is not None
    v_true = truth_ctx.margin_functions.value
    x0 = truth_ctx.x0
    best = build_plan(world.truth, truth_sc, current)
    x_best = best.allocation["recommended_spend"].to_numpy(dtype=float)
    achievable = float(np.sum(v_true(x_best) - v_true(x0)))
    out = []
    for risk in RISKS:
        plan = build_plan(curves, scenario(risk), current)
        a = plan.allocation
        x1 = a["recommended_spend"].to_numpy(dtype=float)
        right = moves_right(v_true(x1) - v_true(x0), x0, x1, plan.budget)
        moved = np.abs(x1 - x0) > 1e-6 * plan.budget
        moves = [(float(a["move_support"].iloc[i]), bool(a["supported"].iloc[i]), bool(right[i]))
                 for i in np.flatnonzero(moved) if np.isfinite(a["move_support"].iloc[i])]
        out.append(Score(family, seed, risk, float(np.sum(v_true(x1) - v_true(x0))),
                         achievable, moves))
    return out


def main(per_family: int = 3, draws: int = 30, first_seed: int = 100) -> None:
    t0 = time.perf_counter()
    scores: list[Score] = []
    for family in FAMILIES:
        for seed in range(first_seed, first_seed + per_family):
            scores += score_world(family, seed, draws)
            print(f"  {family} seed {seed}: {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for risk in RISKS:
        sc = [s for s in scores if s.risk == risk]
        caps = np.array([s.capture for s in sc if s.achievable > 0])
        moves = [m for s in sc for m in s.moves]
        sup = [m for m in moves if m[1]]
        rows.append({
            "risk": risk,
            "worlds": len(sc),
            "negative true uplift": sum(s.true_uplift < 0 for s in sc),
            "min capture": float(np.min(caps)),
            "median capture": float(np.median(caps)),
            "moves": len(moves),
            "supported moves": len(sup),
            "supported right": float(np.mean([m[2] for m in sup])) if sup else float("nan"),
            "all moves right": float(np.mean([m[2] for m in moves])) if moves else float("nan"),
        })
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    moves = [m for s in scores if s.risk == "point" for m in s.moves]
    bands = [(0.0, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 0.95), (0.95, 1.01)]
    cal = []
    for lo, hi in bands:
        sel = [m for m in moves if lo <= m[0] < hi]
        cal.append({"support": f"[{lo:.2f}, {min(hi, 1.0):.2f}]", "moves": len(sel),
                    "right": float(np.mean([m[2] for m in sel])) if sel else float("nan")})
    print("calibration of the point plan's moves (support band -> share right on the truth)")
    print(pd.DataFrame(cal).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    worst = min((s for s in scores if s.risk == "cvar" and s.achievable > 0),
                key=lambda s: s.capture)
    print(f"worst cvar capture: {worst.family} seed {worst.seed}: {worst.capture:.3f} "
          f"({worst.true_uplift:,.0f} of {worst.achievable:,.0f})")
    print(f"total {time.perf_counter() - t0:.0f} s")


def synthetic_curves(n: int, s: int, shape: float = 1.0) -> CurveSet:
    """``n`` Hill curves (shape ``shape``, carry-over 0.3) with ``s`` lognormal draws of their
    level and scale each, recent spend at 0.8 of the half-saturation spend; seed 0.  With shape
    2 the inflection lies at 0.58 of the half-saturation spend: the point curves are concave
    over a 15 % step, some draws are not."""
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        beta, k = rng.uniform(2e3, 2e4), rng.uniform(200.0, 2000.0)
        draws = tuple(Component(beta * f, Hill(k=k * g, s=shape), Geometric(alpha=0.3))
                      for f, g in rng.lognormal(0.0, 0.2, (s, 2)))
        out.append(ResponseCurve(f"c{i}", Component(beta, Hill(k=k, s=shape),
                                                    Geometric(alpha=0.3)),
                                 recent_spend=0.8 * k, draws=draws))
    return CurveSet(out)


def speed() -> None:
    """Seconds of ``build_plan`` per risk objective, synthetic Hill curves with draws
    (shape 1; and shape 2 under ``cvar``, some draws S-shaped over the step).

    ``lp build s`` is the time spent building the LPs, ``lp solve s`` the rest of the solves
    (the solver with PuLP's file round trip, the certificate's evaluations)."""
    rows = []
    cases = [(n, s, 1.0, RISKS) for n, s in ((6, 50), (30, 30), (100, 30), (300, 30))]
    # draws S-shaped over the step (cvar over every draw is then a MILP)
    cases += [(n, 30, 2.0, ("cvar",)) for n in (6, 30, 100, 300)]
    for n, s, shape, risks in cases:
        cs = synthetic_curves(n, s, shape)
        current = pd.Series([cs[c].recent_spend for c in cs], index=cs.channels)
        for risk in risks:
            sc = Scenario.model_validate({"name": "s", "data": "x.csv", "risk": risk,
                                          "economics": {"gross_margin": 0.5}})
            t0 = time.perf_counter()
            plan = build_plan(cs, sc, current)
            rows.append({"channels": n, "draws": s, "hill shape": shape, "risk": risk,
                         "seconds": time.perf_counter() - t0, "gap": plan.optimality_gap,
                         "lp build s": plan.timings.get("build_seconds", float("nan")),
                         "lp solve s": plan.timings.get("solve_seconds", float("nan"))})
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3g}"))


if __name__ == "__main__":
    if sys.argv[1:] == ["speed"]:
        speed()
    else:
        main(*[int(a) for a in sys.argv[1:]])
