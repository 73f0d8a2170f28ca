"""The analysis API of the notebooks, against closed forms, the LP's optimum and the CLI.

Curves with known parameters give exact oracles (Michaelis-Menten saturation with geometric
adstock: saturation points and marginal-ROAS crossings in closed form); plans of the demo
scenario check the what-if layer against ``roiste plan`` and against optimality; every figure
is rendered to PNG and checked for content, axis labels and legends.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread
from scipy.optimize import brentq

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import CurveError, ScenarioError
from roiste.models.experiments import Experiment
from roiste.models.fit.channel import fit_long
from roiste.models.panel import panel_from_frame
from roiste.models.transforms import Geometric, MichaelisMenten
from roiste.optimizer import analysis as an
from roiste.optimizer.economics import ChannelEconomics
from roiste.optimizer.report.charts import png_bytes

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo.yaml"
PANEL = ROOT / "scenarios" / "data" / "demo_panel.csv"
P = 4

# --------------------------------------------------------------------------- a known curve set
# channel "a": beta 1000, k 500 (adstocked), alpha 0.5 (total weight 2); "b": beta 30000, k 4000.
DRAW_BETAS = (800.0, 900.0, 1000.0, 1100.0, 1200.0)


def _mm(beta: float, k: float, alpha: float) -> Component:
    return Component(beta, MichaelisMenten(k=k), Geometric(alpha=alpha))


@pytest.fixture(scope="module")
def known() -> CurveSet:
    a = ResponseCurve(
        "a", _mm(1000.0, 500.0, 0.5), recent_spend=200.0,
        visitors=_mm(400.0, 300.0, 0.5),
        draws=tuple(_mm(b, 500.0, 0.5) for b in DRAW_BETAS),
    )
    b = ResponseCurve("b", _mm(30000.0, 4000.0, 0.0), recent_spend=4000.0)
    return CurveSet([a, b])


def _R(beta: float, k: float, t: float, w: np.ndarray) -> np.ndarray:
    return beta * t * w / (t * w + k)


def _dR(beta: float, k: float, t: float, w: np.ndarray) -> np.ndarray:
    return beta * t * k / (t * w + k) ** 2


def test_curve_frame_is_the_closed_form_with_bands(known: CurveSet) -> None:
    x = np.array([0.0, 100.0, 800.0, 2000.0, 6000.0])
    f = an.curve_frame(known, "a", period_weeks=P, spend=x, level=0.9)
    w = x / P
    np.testing.assert_allclose(f["revenue"], P * _R(1000, 500, 2, w), rtol=1e-12)
    np.testing.assert_allclose(f["marginal_roas"], _dR(1000, 500, 2, w), rtol=1e-12)
    # the 5 % / 95 % quantiles of five betas 800..1200 (linear interpolation): 820 and 1180
    np.testing.assert_allclose(f["revenue_low"], P * _R(820, 500, 2, w), rtol=1e-12)
    np.testing.assert_allclose(f["revenue_high"], P * _R(1180, 500, 2, w), rtol=1e-12)
    np.testing.assert_allclose(f["marginal_roas_low"], _dR(820, 500, 2, w), rtol=1e-12)
    np.testing.assert_allclose(f["marginal_roas_high"], _dR(1180, 500, 2, w), rtol=1e-12)
    v = _R(400, 300, 2, w[1:])
    np.testing.assert_allclose(f["rpv"].iloc[1:], _R(1000, 500, 2, w[1:]) / v, rtol=1e-12)
    np.testing.assert_allclose(f["marginal_rpv"], _dR(1000, 500, 2, w) / _dR(400, 300, 2, w),
                               rtol=1e-12)
    # without draws the band collapses onto the curve
    g = an.curve_frame(known, "b", period_weeks=P, spend=x)
    np.testing.assert_allclose(g["revenue_low"], g["revenue"])
    assert "rpv" not in g


def test_saturation_points_in_closed_form(known: CurveSet) -> None:
    econ = ChannelEconomics(gross_margin=0.5, platform_fee_rate=0.1)
    t = an.saturation_table(known, period_weeks=P, economics=econ, share=0.8, level=0.9)
    # share s of the maximum at adstocked a = k s / (1 - s); weekly w = a / total weight
    assert t.at["a", "saturation_spend"] == pytest.approx(P * 500 * 4 / 2, rel=1e-9)
    assert t.at["b", "saturation_spend"] == pytest.approx(P * 4000 * 4, rel=1e-9)
    # marginal ROAS r at t w = sqrt(beta t k / r) - k
    def cross(beta: float, k: float, tw: float, r: float) -> float:
        return P * (math.sqrt(beta * tw * k / r) - k) / tw

    assert t.at["a", "roas_1_spend"] == pytest.approx(cross(1000, 500, 2, 1.0), rel=1e-6)
    assert t.at["b", "roas_1_spend"] == pytest.approx(cross(30000, 4000, 1, 1.0), rel=1e-6)
    # net margin break-even: marginal ROAS (1 + fee) / gross margin = 2.2
    assert t.at["a", "margin_breakeven_roas"] == pytest.approx(2.2)
    assert t.at["a", "margin_breakeven_spend"] == pytest.approx(cross(1000, 500, 2, 2.2), rel=1e-6)
    w = 200.0
    assert t.at["a", "current_spend"] == pytest.approx(P * w)
    assert t.at["a", "saturation_share"] == pytest.approx(2 * w / (2 * w + 500))
    assert t.at["a", "marginal_roas"] == pytest.approx(float(_dR(1000, 500, 2, np.array(w))))
    # draws share k, so the saturation spend is certain; the ROAS-1 crossing moves with beta
    assert t.at["a", "saturation_spend_low"] == pytest.approx(t.at["a", "saturation_spend"])
    assert t.at["a", "roas_1_spend_low"] == pytest.approx(cross(800, 500, 2, 1.0), rel=1e-6)
    assert t.at["a", "roas_1_spend_high"] == pytest.approx(cross(1200, 500, 2, 1.0), rel=1e-6)
    assert math.isnan(t.at["b", "saturation_spend_low"])  # no draws for b
    assert t.at["a", "rpv"] == pytest.approx(float(_R(1000, 500, 2, np.array(w))
                                                   / _R(400, 300, 2, np.array(w))))


def test_margin_transfer_matches_the_formula_and_finds_equal_slopes(known: CurveSet) -> None:
    econ = ChannelEconomics(gross_margin=0.5)
    xa, xb = known["a"].recent_spend * P, known["b"].recent_spend * P
    d = np.linspace(-0.9 * xb, 0.9 * xa, 4001)
    f = an.margin_transfer(known, "a", "b", period_weeks=P, economics=econ, amounts=d)
    va = P * 0.5 * (_R(1000, 500, 2, (xa - d) / P) - _R(1000, 500, 2, np.array(xa / P)))
    vb = P * 0.5 * (_R(30000, 4000, 1, (xb + d) / P) - _R(30000, 4000, 1, np.array(xb / P)))
    np.testing.assert_allclose(f["net_margin_change"], va + vb, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(f["from_spend"] + f["to_spend"], xa + xb)
    best = brentq(lambda m: _dR(1000, 500, 2, np.array((xa - m) / P))
                  - _dR(30000, 4000, 1, np.array((xb + m) / P)), d[0], d[-1])
    assert abs(f.attrs["best_move"] - best) <= d[1] - d[0]
    with pytest.raises(ScenarioError, match="gross_margin"):
        an.margin_transfer(known, "a", "b", period_weeks=P)
    with pytest.raises(CurveError, match="two different channels"):
        an.margin_transfer(known, "a", "a", period_weeks=P, economics=econ)


# --------------------------------------------------------------------------- the demo scenario


@pytest.fixture(scope="module")
def demo_curves() -> CurveSet:
    from roiste.models.panel import read_panel

    return fit_long(read_panel(PANEL), bootstrap=4, seed=3, progress=False)


@pytest.fixture(scope="module")
def what_if(demo_curves: CurveSet) -> an.WhatIf:
    return an.WhatIf.from_file(DEMO, curves=demo_curves)


@pytest.fixture(scope="module")
def base(what_if: an.WhatIf):
    return what_if.plan()


@pytest.fixture(scope="module")
def glide(what_if: an.WhatIf):
    return what_if.plan(steps=3)


def test_what_if_plans_like_the_command_line(what_if, base, demo_curves, tmp_path) -> None:
    from roiste.optimizer.runs import run_plan

    curves_file = tmp_path / "curves.json"
    demo_curves.save(curves_file)
    text = DEMO.read_text().replace("data: data/demo_panel.csv",
                                    f"data: {PANEL}\ncurves: {curves_file}")
    scenario = tmp_path / "demo.yaml"
    scenario.write_text(text)
    run_plan(scenario, tmp_path / "plan", progress=False)
    alloc = pd.read_csv(tmp_path / "plan" / "allocation.csv").set_index("channel")
    mine = base.allocation.set_index("channel")
    np.testing.assert_allclose(mine.loc[alloc.index, "recommended_spend"],
                               alloc["recommended_spend"], atol=0.006)  # the CSV has cents
    # current spend: the mean of the panel's last 8 weeks, times the period, from the raw CSV
    raw = pd.read_csv(PANEL)
    last = sorted(raw["date"].unique())[-8:]
    expected = raw[raw["date"].isin(last)].groupby("channel")["spend"].mean() * P
    np.testing.assert_allclose(mine.loc[expected.index, "current_spend"], expected, rtol=1e-9)


def test_recommended_plan_admits_no_better_pairwise_move(base) -> None:
    """No move between two channels inside their boxes beats the certified optimum.

    Moves into a social channel from another group would break the scenario's cap on the
    social share (binding in this plan), so they are left out.
    """
    a = base.allocation.set_index("channel")
    tol = base.optimality_gap * abs(base.objective_recommended) + 1e-6 * abs(
        base.objective_recommended)
    social = {"social_meta", "social_tiktok"}
    checked = 0
    for src in base.channels:
        for dst in base.channels:
            if src == dst or (dst in social and src not in social):
                continue
            room_src = a.at[src, "recommended_spend"] - a.at[src, "lower_bound"]
            room_dst = a.at[dst, "upper_bound"] - a.at[dst, "recommended_spend"]
            top = min(room_src, room_dst)
            if top <= 1e-6:
                continue
            f = an.margin_transfer(base, src, dst, amounts=np.linspace(0.0, top, 201))
            assert f["net_margin_change"].max() <= tol, (src, dst, f["net_margin_change"].max())
            checked += 1
    assert checked >= 5
    # the same check finds the gains the plan took, at the current allocation
    gains = an.margin_transfer(base, "display", "search_generic", at="current")
    assert gains.attrs["best_change"] > 100 * tol


def test_glide_path_table_climbs_in_bounded_steps(glide, base) -> None:
    g = an.glide_path_table(glide)
    assert list(g.index) == [0, 1, 2, 3]
    spend = g[glide.channels].to_numpy()
    np.testing.assert_allclose(spend[0], base.allocation["current_spend"])
    np.testing.assert_allclose(spend.sum(axis=1), g["budget"], rtol=1e-6)
    change = np.abs(spend[1:] / spend[:-1] - 1.0)
    assert change.max() <= 0.15 + 1e-6
    margins = g["net_margin"].to_numpy(dtype=float)
    assert np.all(np.diff(margins) >= -1e-6 * abs(margins[-1]))  # each box holds the last point
    assert margins[-1] == pytest.approx(glide.net_margin_recommended)


def test_scenario_variations_are_validated_and_merged(what_if) -> None:
    s = what_if.scenario
    t = an.scenario_with(s, economics={"gross_margin": 0.4},
                         channels={"display": {"max": 200000.0}})
    assert t.economics.gross_margin == 0.4
    assert t.economics.return_rate == s.economics.return_rate  # untouched keys kept
    assert t.channels["search_brand"] == s.channels["search_brand"]
    assert t.channels["display"].max == 200000.0
    assert t.data == s.data and s.economics.gross_margin == 0.45  # the original is unchanged
    u = an.scenario_with(s, channels={"social_meta": None})
    assert "social_meta" not in u.channels
    with pytest.raises(ScenarioError, match=r"step 0.3 is outside .*allow_large_step.*\(at step\)"):
        what_if.plan(step=0.3)
    with pytest.raises(ScenarioError, match="'data' changes the data"):
        what_if.plan(data="other.csv")
    with pytest.raises(ScenarioError, match=r"Unknown key 'budgte' .*Did you mean 'budget'\?"):
        what_if.plan(budgte=1.0)


def test_smaller_step_stays_in_its_box_and_sweeps_are_monotone(what_if) -> None:
    p = what_if.plan(step=0.10)
    assert np.abs(p.allocation["change_pct"]).max() <= 10.0 + 1e-6
    sw = what_if.sweep("step", [0.10, 0.15, 0.20])
    assert list(sw.index) == [0.10, 0.15, 0.20]
    assert sw.loc[0.10, "net_margin_recommended"] == pytest.approx(p.net_margin_recommended)
    # a wider box holds the narrower one's optimum: net margin cannot fall (up to the gap)
    m = sw["net_margin_recommended"].to_numpy()
    assert np.all(np.diff(m) >= -2e-4 * abs(m).max())
    np.testing.assert_allclose(sw[what_if.curves.channels].sum(axis=1), sw["budget"], rtol=1e-6)
    gm = what_if.sweep("economics.gross_margin", [0.40, 0.50])
    assert gm.loc[0.50, "net_margin_current"] > gm.loc[0.40, "net_margin_current"]


def test_plan_table_and_summary(base, glide) -> None:
    plans = {"one step": base, "three steps": glide}
    t = an.plan_table(plans)
    assert list(t.columns) == ["current", "one step", "three steps"]
    assert t.loc["total", "one step"] == pytest.approx(base.allocation["recommended_spend"].sum())
    assert t.loc["total", "current"] == pytest.approx(base.current_total)
    s = an.plan_summary(plans)
    assert s.loc["three steps", "steps"] == 3
    assert s.loc["one step", "net_margin_change"] == pytest.approx(
        base.net_margin_recommended - base.net_margin_current)


# --------------------------------------------------------------------------- families


@pytest.fixture(scope="module")
def known_world():
    """One channel whose revenue is baseline + Michaelis-Menten of spend (k 2000, beta 9000)."""
    rng = np.random.default_rng(11)
    n = 156
    spend = rng.uniform(200.0, 6000.0, n)
    revenue = (5000.0 + 9000.0 * spend / (spend + 2000.0)) * np.exp(rng.normal(0, 0.01, n))
    weeks = pd.date_range("2022-01-03", periods=n, freq="7D")
    df = pd.DataFrame({"date": weeks.strftime("%Y-%m-%d"), "channel": "c", "spend": spend,
                       "revenue": revenue})
    return panel_from_frame(df)


def test_family_comparison_recovers_the_true_family(known_world) -> None:
    cmp = an.compare_families(known_world, "c", period_weeks=P)
    t = cmp.table
    assert set(t.index) == {"exponential", "hill", "logistic", "michaelis_menten"}
    assert all(cmp.curves[f].family == f for f in t.index)
    assert t["selected"].sum() == 1 and t.loc[cmp.selected, "selected"]
    # the true family fits the held-out folds best (hill contains it: shape 1)
    assert t.loc["michaelis_menten", "score"] <= t["score"].min() * 1.02
    mm = cmp.curves["michaelis_menten"]
    true_sat = P * 2000.0 * 4  # 80 % of the maximum at 4 k
    assert t.loc["michaelis_menten", "saturation_spend"] == pytest.approx(true_sat, rel=0.08)
    assert mm.max_response == pytest.approx(9000.0, rel=0.08)
    with pytest.raises(CurveError, match="not registered"):
        an.compare_families(known_world, "c", families=["gompertz"])


# --------------------------------------------------------------------------- datasets


def test_datasets_dir_and_missing_message(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv("ROISTE_DATASETS", str(tmp_path))
    assert an.datasets_dir() == tmp_path
    assert an.find_dataset("robyn_dt_simulated_weekly.csv") is None
    msg = an.missing_dataset_message("robyn_dt_simulated_weekly.csv")
    assert str(tmp_path) in msg and "facebookexperimental/Robyn" in msg
    (tmp_path / "robyn_dt_simulated_weekly.csv").write_text("x\n")
    assert an.find_dataset("robyn_dt_simulated_weekly.csv") == tmp_path / "robyn_dt_simulated_weekly.csv"
    monkeypatch.delenv("ROISTE_DATASETS")
    assert an.datasets_dir() == ROOT.parent / "shared" / "datasets"
    with pytest.raises(SystemExit) as exc:  # outside IPython: a clean exit
        an.stop_here("stopping")
    assert exc.value.code == 0 and "stopping" in capsys.readouterr().out


# --------------------------------------------------------------------------- figures


def _series(ax) -> list[str]:
    labels = [h.get_label() for h in (*ax.get_lines(), *ax.collections, *ax.containers,
                                      *ax.patches)]
    return [str(lab) for lab in labels if lab and not str(lab).startswith("_")]


def _check_figure(fig: Figure, path: Path, grid: bool = False) -> None:
    path.write_bytes(png_bytes(fig))
    img = imread(path)
    assert img.shape[0] > 200 and img.shape[1] > 300
    assert float(img[..., :3].std()) > 0.05, f"{path.name} looks blank"
    assert float((img[..., :3] < 0.5).mean()) > 0.002, f"{path.name} has almost no ink"
    axes = [a for a in fig.axes if a.get_visible()]
    legends = [a for a in axes if a.get_legend() is not None] + list(fig.legends)
    for ax in axes:
        twin = any(o is not ax and o.get_shared_x_axes().joined(ax, o) for o in axes)
        assert ax.get_ylabel().strip(), f"{path.name}: an axes without y label"
        assert twin or ax.get_xlabel().strip(), f"{path.name}: an axes without x label"
        if len(_series(ax)) >= 2:
            ok = ax.get_legend() is not None or (twin and legends) or (grid and legends)
            assert ok, f"{path.name}: several series {_series(ax)} and no legend"
    spend_axes = [a.get_xlabel() for a in axes if "Spend" in a.get_xlabel()]
    assert all("weeks" in s and "currency" in s for s in spend_axes), spend_axes


FIGURES = {
    "response_curves": lambda c: an.plot_response(c["curves"], "display", period_weeks=P),
    "response_plan": lambda c: an.plot_response(c["base"], "search_generic"),
    "marginal_roas": lambda c: an.plot_marginal_roas(c["curves"], "display", period_weeks=P,
                                                     economics=c["econ"]),
    "marginal_roas_plan": lambda c: an.plot_marginal_roas(c["base"], "social_tiktok"),
    "curves_response": lambda c: an.plot_curves(c["base"], kind="response"),
    "curves_marginal": lambda c: an.plot_curves(c["curves"], kind="marginal", economics=c["econ"]),
    "marginal_rpv": lambda c: an.plot_marginal_rpv(c["base"], "search_generic"),
    "saturation": lambda c: an.plot_saturation(c["curves"], period_weeks=P),
    "saturation_plan": lambda c: an.plot_saturation(c["base"]),
    "margin_transfer": lambda c: an.plot_margin_transfer(c["base"], "display", "search_generic"),
    "glide_path": lambda c: an.plot_glide_path(c["glide"]),
    "plan_comparison": lambda c: an.plot_plan_comparison({"one": c["base"], "three": c["glide"]}),
    "sweep": lambda c: an.plot_sweep(c["sweep"]),
    "families": lambda c: an.plot_family_comparison(c["families"]),
    "experiment": lambda c: an.plot_experiment({"fitted": c["curves"]}, "display", [_holdout(c)]),
}


@pytest.fixture(scope="module")
def figure_inputs(demo_curves, what_if, base, glide, known_world) -> dict:
    return {
        "curves": demo_curves, "base": base, "glide": glide,
        "econ": an.scenario_economics(what_if.scenario, demo_curves.channels),
        "sweep": what_if.sweep("step", [0.10, 0.20]),
        "families": an.compare_families(known_world, "c", period_weeks=P,
                                        families=["logistic", "michaelis_menten"]),
    }


def _holdout(c: dict) -> Experiment:
    """A holdout of display that measured 90 % of what its fitted curve says spend earns."""
    x = float(c["curves"]["display"].recent_spend)
    dy = -0.9 * float(c["curves"]["display"].response(x))
    return Experiment("display", x, -x, dy, 0.05 * abs(dy), kind="holdout")


def test_every_plot_function_is_exercised() -> None:
    public = {n for n in an.__all__ if n.startswith("plot_")}
    used = {"plot_response", "plot_marginal_roas", "plot_curves", "plot_marginal_rpv",
            "plot_saturation", "plot_margin_transfer", "plot_glide_path",
            "plot_plan_comparison", "plot_sweep", "plot_family_comparison",
            "plot_experiment",
            "plot_attribution_shares"}  # the last in tests/test_analysis_attribution.py
    assert public == used


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_png_has_content_labels_and_legend(name, figure_inputs, tmp_path) -> None:
    fig = FIGURES[name](figure_inputs)
    assert isinstance(fig, Figure)
    _check_figure(fig, tmp_path / f"{name}.png", grid=name.startswith("curves_"))


def test_plan_figures_mark_current_and_recommended(figure_inputs) -> None:
    fig = an.plot_response(figure_inputs["base"], "display")
    labels = set(_series(fig.axes[0]))
    assert {"current", "recommended", "allowed range"} <= labels
    marks = {str(ln.get_label()): ln for ln in fig.axes[0].get_lines()}
    a = figure_inputs["base"].allocation.set_index("channel")
    assert marks["recommended"].get_xdata()[0] == pytest.approx(a.at["display", "recommended_spend"])
    assert marks["current"].get_xdata()[0] == pytest.approx(a.at["display", "current_spend"])
    fig = an.plot_marginal_roas(figure_inputs["base"], "display")
    assert any(lab.startswith("net margin break-even") for lab in _series(fig.axes[0]))
    assert any("bootstrap band" in lab for lab in _series(fig.axes[0]))
    with pytest.raises(CurveError, match="no visitors"):
        an.plot_marginal_rpv(CurveSet([figure_inputs["families"].curves["logistic"]]), "c")
