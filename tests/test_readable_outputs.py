"""Outputs a person reads: the backtest page, the attribution comparison, ``roiste curves``
and ``allocation.csv``: labels instead of raw names, one number format per column, intervals
drawn where the numbers have them, legends beside the bars and not over them."""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from matplotlib.image import imread
from test_plan import current_weekly, hand_curves, scenario

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.simulate import write_world
from roiste.models.transforms import Geometric, MichaelisMenten
from roiste.optimizer.cli import main
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report import text as T
from roiste.optimizer.report.attribution import compare_figure
from roiste.optimizer.report.backtest import FORECAST_COLOR
from roiste.optimizer.report.columns import BACKTEST_FOLDS, BACKTEST_NEW_CUSTOMERS
from roiste.optimizer.report.tables import allocation_csv, column_decimals
from roiste.optimizer.runs import run_backtest

# ------------------------------------------------------------------------ backtest page


@pytest.fixture(scope="module")
def backtest_page(tmp_path_factory: pytest.TempPathFactory) -> str:
    d = tmp_path_factory.mktemp("backtest")
    write_world(d / "panel.csv", seed=3, n_channels=3, n_weeks=64)
    sc = {"name": "readable", "data": "panel.csv", "bootstrap": 5,
          "economics": {"gross_margin": 0.45, "cost_per_order": 4.0, "new_customer_value": 20.0}}
    (d / "scenario.yaml").write_text(yaml.safe_dump(sc), encoding="utf-8")
    run_backtest(d / "scenario.yaml", d / "out", folds=2, progress=False, replan_months=0,
                 bootstrap=5)
    return (d / "out" / "backtest.html").read_text(encoding="utf-8")


def _tables(page: str) -> list[tuple[list[str], list[list[str]]]]:
    """Each table of a page: its header texts and its rows of cell texts."""
    out = []
    for t in re.findall(r"<table.*?</table>", page, re.S):
        head = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", t)]
        rows = [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", r)]
                for r in re.findall(r"<tr[^>]*>(.*?)</tr>", t)]
        out.append((head, [r for r in rows if r]))
    return out


def test_backtest_tables_show_labels_not_column_names(backtest_page: str) -> None:
    tables = {tuple(h): rows for h, rows in _tables(backtest_page) if h}
    folds_head = tuple(c.label for c in BACKTEST_FOLDS.values())  # the world's truth is known
    assert folds_head in tables, list(tables)
    for raw in ("train_weeks", "est_margin_actual", "est_margin_recommended", "fold_start"):
        assert f"<th>{raw}</th>" not in backtest_page
    rows = tables[folds_head]
    weeks = [r[folds_head.index(T.BACKTEST_LABELS["train_weeks"])] for r in rows]
    assert all(re.fullmatch(r"\d+", w) for w in weeks), weeks  # 52, not 52.0
    # each money column in one format: all whole units, or all with cents
    for name in ("actual_spend", "est_margin_actual", "est_margin_recommended", "est_uplift"):
        cells = [r[folds_head.index(T.BACKTEST_LABELS[name])] for r in rows]
        decimals = {len(c.split(".")[1]) if "." in c else 0 for c in cells}
        assert len(decimals) == 1, (name, cells)
    # flags read yes or no
    new_head = tuple(c.label for c in BACKTEST_NEW_CUSTOMERS.values())
    assert new_head in tables
    short = [r[-1] for r in tables[new_head]]
    assert set(short) <= {"yes", "no"}, short
    assert ">False<" not in backtest_page and ">True<" not in backtest_page


def test_backtest_forecast_chart_draws_the_band(backtest_page: str) -> None:
    uri = re.search(r'alt="' + re.escape(T.BACKTEST_ALT_FORECAST) + r'" src="data:image/png;base64,([^"]+)"',
                    backtest_page)
    assert uri, "no forecast chart"
    img = imread(io.BytesIO(base64.b64decode(uri.group(1))), format="png")[..., :3]
    # the band: the forecast's blue at 15 % over white
    blue = np.array([int(FORECAST_COLOR[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    tint = 0.15 * blue + 0.85
    share = (np.abs(img - tint).max(axis=2) < 0.02).mean()
    assert share > 0.01, share
    assert T.BACKTEST_FORECAST_NOTE.format(level=0.8) in html.unescape(backtest_page)


# ------------------------------------------------------------------------ compare chart


def test_compare_legend_stands_beside_the_bars() -> None:
    labels = ["last-click", "markov(order=1,split=global)", "markov(order=1,split=journey)",
              "shapley(max_exact=15,samples=2000,seed=0)"]
    table = pd.DataFrame([{"label": lab, "channel": ch, "share": s}
                          for lab in labels
                          for ch, s in (("search", 0.6), ("social", 0.3), ("email", 0.1))])
    fig = compare_figure(table)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [p.get_window_extent(renderer) for p in ax.patches]
    assert len(bars) == len(labels) * 3
    assert not any(legend.overlaps(b) for b in bars)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    # and the legend is on the figure, not cut off
    assert legend.x1 <= fig.bbox.x1 and legend.y0 >= fig.bbox.y0


# ------------------------------------------------------------------------ roiste curves


def _curves(draws: bool) -> CurveSet:
    rng = np.random.default_rng(0)
    betas = rng.normal(16000.0, 3000.0, 40) if draws else []
    return CurveSet([
        ResponseCurve("big", Component(16000.0, MichaelisMenten(k=9000.0), Geometric(alpha=0.3)),
                      13430.0, draws=tuple(Component(float(b), MichaelisMenten(k=9000.0),
                                                     Geometric(alpha=0.3)) for b in betas)),
        ResponseCurve("small", Component(900.0, MichaelisMenten(k=400.0), Geometric(alpha=0.3)),
                      45.3),
    ])


@pytest.mark.parametrize("draws", [False, True])
def test_curves_command_one_format_per_column(tmp_path: Path, draws: bool) -> None:
    path = tmp_path / "curves.json"
    curves = _curves(draws)
    curves.save(path)
    res = CliRunner().invoke(main, ["curves", str(path)])
    assert res.exit_code == 0, res.output
    table = res.output.split("\n\n")[0].splitlines()
    assert "e+" not in res.output and "e-" not in res.output
    head = table[0]
    assert head.startswith(T.CURVES_TABLE_LABELS["channel"])
    big, small = table[1], table[2]
    # weekly spend: 13,430 and 45 (whole units, as the column holds a value over 100)
    assert " 13,430 " in big and re.search(r"\s45\s", small), (big, small)
    interval = T.CURVES_INTERVAL.format(label=T.CURVES_TABLE_LABELS["weekly_response"], level=0.8)
    if not draws:
        assert interval not in head
        return
    assert interval in head
    lo, hi = curves["big"].response_band([13430.0], level=0.8)
    cell = T.CURVES_INTERVAL_CELL.format(low=f"{lo[0]:,.0f}", high=f"{hi[0]:,.0f}")
    assert cell in big, (cell, big)
    assert lo[0] < float(curves["big"].response(13430.0)) < hi[0]
    # the channel without draws shows no interval
    assert " to " not in small
    assert T.CURVES_INTERVAL_NOTE.format(level=0.8, draws=40) in res.output


# ------------------------------------------------------------------------ allocation.csv


def test_allocation_csv_one_number_of_decimals_per_column_and_full_precision() -> None:
    curves = hand_curves()
    plan = build_plan(curves, scenario(), current_weekly(curves))
    text = allocation_csv(plan)
    assert text == allocation_csv(plan)  # byte-stable
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert "e+" not in text and "e-" not in text
    for col in frame.columns:
        cells = [c for c in frame[col] if c and c not in ("true", "false")]
        if col == "channel" or not cells:
            continue
        decimals = {len(c.split(".")[1]) if "." in c else 0 for c in cells}
        assert len(decimals) == 1, (col, cells)
    # read back, every money value is the plan's to the column's twelfth significant digit
    back = pd.read_csv(io.StringIO(text)).set_index("channel")
    mine = plan.allocation.set_index("channel")
    for col in ("current_spend", "recommended_spend", "lower_bound", "upper_bound",
                "expected_revenue", "expected_net_margin", "net_margin_current"):
        d = column_decimals(mine[col].tolist(), "money")
        assert d >= 2
        scale = mine[col].abs().max()
        np.testing.assert_allclose(back[col], mine[col], rtol=0, atol=0.5 * 10.0 ** -d + 1e-12,
                                   err_msg=col)
        assert 10.0 ** -d <= 1e-11 * scale  # twelve significant digits of the column
    # the spend columns add up to the plan's totals to the cent
    assert back["recommended_spend"].sum() == pytest.approx(plan.allocation["recommended_spend"].sum(),
                                                            abs=0.01)


def test_money_columns_keep_their_precision_on_a_small_spend_scale() -> None:
    assert column_decimals([0.37, 0.2], "money") == 12
    assert column_decimals([949.957243491, 545.695], "money") == 9
    assert column_decimals([2.5e9], "money") == 2
    assert column_decimals([None, float("nan")], "money") == 2
