"""Plan reports: the workbook's live formulas, the self-contained HTML page, charts, compare."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from matplotlib.collections import PolyCollection
from openpyxl import load_workbook

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import RoisteError
from roiste.models.transforms import Exponential, Geometric, Hill
from roiste.optimizer.cli import main
from roiste.optimizer.plan import Plan, build_plan
from roiste.optimizer.report import charts
from roiste.optimizer.report.compare import compare_plans
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.report.tables import allocation_csv, format_cell
from roiste.optimizer.report.xlsx import xlsx_bytes
from roiste.optimizer.scenario import Scenario

CHANNELS = ("search & brand", "social", "display <tv>")


def _curves() -> CurveSet:
    ratios = {"revenue_per_order": 75.0, "new_customers_per_revenue": 0.004,
              "new_customer_revenue_share": 0.4}
    draws = tuple(
        Component(6000.0 * f, Hill(k=1800.0 * f, s=1.0), Geometric(alpha=0.3)) for f in (0.9, 1.0, 1.1)
    )
    return CurveSet(
        [
            ResponseCurve(CHANNELS[0], Component(6000.0, Hill(k=1800.0, s=1.0), Geometric(alpha=0.3)),
                          800.0, Component(2000.0, Exponential(k=2000.0), Geometric(alpha=0.3)),
                          ratios, draws),
            ResponseCurve(CHANNELS[1], Component(15000.0, Exponential(k=4000.0), Geometric(alpha=0.5)),
                          2000.0, Component(7000.0, Exponential(k=5000.0), Geometric(alpha=0.5)),
                          ratios),
            ResponseCurve(CHANNELS[2], Component(9000.0, Hill(k=6000.0, s=1.0), Geometric(alpha=0.1)),
                          2600.0, Component(4000.0, Exponential(k=7000.0), Geometric(alpha=0.1)),
                          ratios),
        ]
    )


def _plan(**kw: Any) -> Plan:
    curves = _curves()
    raw: dict[str, Any] = {
        "name": "Report test",
        "data": "unused.csv",
        "economics": {"gross_margin": 0.5, "return_rate": 0.1, "cost_per_order": 5.0,
                      "new_customer_value": 25.0},
        "channels": {CHANNELS[1]: {"commission_rate": 0.05}},
    }
    raw.update(kw)
    cur = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    return build_plan(curves, Scenario.model_validate(raw), cur,
                      data_hash="d" * 64, scenario_hash="5" * 64, curves_hash="c" * 64)


@pytest.fixture(scope="module")
def plan_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    plan = _plan(steps=2, channels={CHANNELS[1]: {"commission_rate": 0.05}, CHANNELS[2]: {"locked": True}})
    out = tmp_path_factory.mktemp("report") / "plan"
    write_plan(plan, out)
    return plan, out


# ------------------------------------------------------------------------------- Excel


def test_workbook_formulas_reference_the_right_cells(plan_dir: tuple[Plan, Path]) -> None:
    """The formulas name the right cells, and each formula cell stores the plan's figure (the
    recalculation itself: tests/test_workbook_model.py, in LibreOffice)."""
    plan, out = plan_dir
    wb = load_workbook(out / "plan.xlsx")
    stored = load_workbook(out / "plan.xlsx", data_only=True)
    assert wb.sheetnames[:2] == ["Allocation", "Summary"]
    assert {"Marginals", "Customers", "Glide path", "Assumptions", "Curves"} <= set(wb.sheetnames)
    ws, vs = wb["Allocation"], stored["Allocation"]
    headers = [c.value for c in ws[1]]
    assert headers[:5] == ["Channel", "Current spend", "Recommended spend", "Change", "Change %"]
    assert headers[7:13] == ["Expected revenue", "Revenue at current", "Expected net margin",
                             "Net margin at current", "Net margin change", "ROAS"]
    n = len(plan.channels)
    t = n + 2
    a = plan.allocation
    for i, c in enumerate(plan.channels):
        r = i + 2
        assert ws[f"A{r}"].value == c
        assert ws[f"D{r}"].value == f"=C{r}-B{r}"
        assert ws[f"J{r}"].value == f"=Assumptions!$J${r + 1}*H{r}-Assumptions!$K${r + 1}*C{r}"
        assert ws[f"K{r}"].value == f"=Assumptions!$J${r + 1}*I{r}-Assumptions!$K${r + 1}*B{r}"
        assert ws[f"L{r}"].value == f"=J{r}-K{r}"
        assert f"C{r}/Assumptions!$B$" in ws[f"H{r}"].value and f"Curves!$D${r}" in ws[f"H{r}"].value
        assert vs[f"D{r}"].value == pytest.approx(
            a["recommended_spend"].iloc[i] - a["current_spend"].iloc[i], rel=1e-12, abs=1e-9
        )
        assert vs[f"E{r}"].value == pytest.approx(a["change_pct"].iloc[i] / 100, rel=1e-9, abs=1e-12)
        for col, name in (("H", "expected_revenue"), ("I", "revenue_current"),
                          ("J", "expected_net_margin"), ("K", "net_margin_current"), ("M", "roas")):
            assert vs[f"{col}{r}"].value == pytest.approx(a[name].iloc[i], rel=1e-12), (col, c)
    assert ws[f"A{t}"].value == "total"
    assert ws[f"B{t}"].value == f"=SUM(B2:B{t - 1})" and ws[f"J{t}"].value == f"=SUM(J2:J{t - 1})"
    assert vs[f"B{t}"].value == pytest.approx(plan.current_total, rel=1e-12)
    assert vs[f"C{t}"].value == pytest.approx(a["recommended_spend"].sum(), rel=1e-12)
    assert vs[f"J{t}"].value == pytest.approx(plan.net_margin_recommended, rel=1e-9)
    assert vs[f"K{t}"].value == pytest.approx(plan.net_margin_current, rel=1e-9)
    assert ws["B2"].number_format == "#,##0.00" and ws["E2"].number_format == "0.0%"
    summary = wb["Summary"]
    assert summary["A8"].value == "Net margin at current"
    assert summary["B8"].value == f"=Allocation!K{t}"
    assert summary["B9"].value == f"=Allocation!J{t}"
    assert summary["B10"].value == "=B9-B8"
    assert stored["Summary"]["B10"].value == pytest.approx(plan.net_margin_change, rel=1e-9)
    glide = wb["Glide path"]
    assert glide["C2"].value.startswith("=SUM(F2:")
    assert sum(glide.cell(row=4, column=6 + j).value for j in range(n)) == pytest.approx(
        plan.steps[-1].total_spend
    )
    assert stored["Glide path"]["C4"].value == pytest.approx(plan.steps[-1].total_spend)
    assumptions = wb["Assumptions"]
    assert assumptions["B2"].value == 0.5  # scenario-wide gross margin
    col = 1 + 1 + list(plan.base_economics).index("commission_rate")
    assert assumptions.cell(row=4, column=col).value == 0.05  # the override of the 2nd channel
    letter = assumptions.cell(row=3, column=col).column_letter
    assert assumptions.cell(row=3, column=col).value == f"={letter}$2"  # follows the default


def test_workbook_bytes_are_stable(plan_dir: tuple[Plan, Path]) -> None:
    plan, out = plan_dir
    again = xlsx_bytes(plan)
    assert again == (out / "plan.xlsx").read_bytes()
    core = zipfile.ZipFile(io.BytesIO(again)).read("docProps/core.xml").decode()
    assert "2000-01-01T00:00:00Z" in core


# ------------------------------------------------------------------------------- HTML


def test_html_is_one_self_contained_file(plan_dir: tuple[Plan, Path]) -> None:
    plan, out = plan_dir
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<link" not in page and "<script" not in page and "url(" not in page
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', page)
    assert len(srcs) >= 4  # curves, marginal ROAS, margin bridge, glide path
    for src in srcs:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    for c in CHANNELS:
        assert c.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in page
    assert "display <tv>" not in page  # escaped, never raw markup
    assert "display &lt;tv&gt; (locked)" in page
    assert f"{plan.optimality_gap:.2e}" in page
    assert "d" * 64 in page and "5" * 64 in page
    assert plan.version in page
    for label in ("Gross margin", "Return rate", "Cost per order", "Future margin per new customer"):
        assert label in page
    assert "Margin bridge" in page and "Glide path" in page and "Net CAC" in page
    # no clock time on the page a plan writes (the timings are in timings.json)
    assert f"Generated by roiste {plan.version}; the timings of the run are in timings.json." in page
    assert not re.search(r"\d\d:\d\d:\d\d", page)


def test_csv_cells_have_a_fixed_format(plan_dir: tuple[Plan, Path]) -> None:
    plan, out = plan_dir
    assert (out / "allocation.csv").read_text() == allocation_csv(plan)
    assert format_cell(1234.5, "money") == "1234.5"
    assert format_cell(0.85 * 545.7, "money") == "463.845"  # a bound keeps its exact value
    assert format_cell(1e-14, "money") == "1e-14"
    assert format_cell(-0.0, "money") == "0"
    assert format_cell(float("nan"), "ratio") == ""
    assert format_cell(1 / 3, "ratio") == "0.333333"
    assert format_cell(True, "ratio") == "true"


# ------------------------------------------------------------------------------- charts


def test_response_chart_draws_band_box_saturation_and_points() -> None:
    curve = _curves()[CHANNELS[0]]
    fig = charts.new_figure(4, 3)
    ax = fig.add_subplot(1, 1, 1)
    charts.response_curve(ax, curve, 4, current=14000.0, recommended=16000.0, bounds=(11900.0, 16100.0))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["allowed range", "90% bootstrap band"]
    assert any(isinstance(c, PolyCollection) for c in ax.collections)
    sat = next(ln for ln in ax.get_lines() if ln.get_label() == "saturation point (80%)")
    assert sat.get_xdata()[0] == pytest.approx(curve.saturation_spend(0.8) * 4)
    assert float(curve.saturation_share(sat.get_xdata()[0] / 4)) == pytest.approx(0.8)
    rec = next(ln for ln in ax.get_lines() if ln.get_label() == "recommended")
    assert rec.get_ydata()[0] == pytest.approx(4 * float(curve.response(4000.0)))
    assert ax.get_xlabel() == "Period spend (currency)" and "revenue" in ax.get_ylabel()
    assert charts.png_bytes(fig) == charts.png_bytes(fig)  # no timestamp in the PNG


def test_margin_bridge_ends_at_the_sum() -> None:
    fig = charts.new_figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    charts.margin_bridge(ax, ["a", "b"], [100.0, -40.0], 1000.0)
    bars = ax.patches
    assert len(bars) == 4
    assert bars[-1].get_height() == pytest.approx(1060.0)
    assert bars[2].get_y() == pytest.approx(1060.0) and bars[2].get_height() == pytest.approx(40.0)


# ------------------------------------------------------------------------------- compare


def test_compare_two_plans(plan_dir: tuple[Plan, Path], tmp_path: Path) -> None:
    plan_a, dir_a = plan_dir
    plan_b = _plan(budget=plan_a.current_total * 1.05, name="More budget")
    dir_b = write_plan(plan_b, tmp_path / "b")
    text = compare_plans(dir_a, dir_b)
    lines = text.splitlines()
    assert "Report test" in lines[0] and "More budget" in lines[0]
    for c in CHANNELS:
        assert any(line.startswith(c) for line in lines)
    total = next(line for line in lines if line.startswith("total")).split()
    sa = pd.read_csv(dir_a / "allocation.csv")["recommended_spend"].sum()
    sb = pd.read_csv(dir_b / "allocation.csv")["recommended_spend"].sum()
    assert float(total[1].replace(",", "")) == pytest.approx(sa, abs=0.01)
    assert float(total[2].replace(",", "")) == pytest.approx(sb, abs=0.01)
    assert float(total[3].replace(",", "")) == pytest.approx(sb - sa, abs=0.02)
    result = CliRunner().invoke(main, ["compare", str(dir_a), str(dir_b)])
    assert result.exit_code == 0 and result.output.strip() == text


def test_compare_rejects_missing_and_broken_dirs(plan_dir: tuple[Plan, Path], tmp_path: Path) -> None:
    _, good = plan_dir
    with pytest.raises(RoisteError, match="no such directory"):
        compare_plans(good, tmp_path / "nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "allocation.csv").write_text("channel,spend\na,1\n")
    with pytest.raises(RoisteError, match=r"missing summary\.json"):
        compare_plans(good, broken)
    (broken / "summary.json").write_text("{}")
    with pytest.raises(RoisteError, match=r"allocation.csv: missing column\(s\)"):
        compare_plans(broken, good)
    result = CliRunner().invoke(main, ["compare", str(good), str(broken)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert np.isfinite(plan_dir[0].optimality_gap)


def test_bridge_groups_small_moves_and_keeps_the_total() -> None:
    from roiste.optimizer.report.html import MAX_BRIDGE_BARS, bridge_bars

    names = [f"c{i}" for i in range(40)]
    deltas = np.linspace(-50.0, 80.0, 40)
    labels, bars = bridge_bars(names, deltas)
    assert len(bars) == MAX_BRIDGE_BARS and labels[-1] == "26 other channels"
    assert sum(bars) == pytest.approx(deltas.sum())
    assert "c39" in labels and "c0" in labels  # the largest moves keep their own bar


# ------------------------------------------------------------------------------- registry, templates


def test_every_output_column_is_registered_once(plan_dir: tuple[Plan, Path]) -> None:
    from roiste.optimizer.report.columns import ALLOCATION, allocation_column
    from roiste.optimizer.report.tables import allocation_columns
    from roiste.optimizer.report.xlsx import ALLOCATION_SHEET

    plan, _ = plan_dir
    for name in allocation_columns(plan):
        col = allocation_column(name)
        assert col.rounding in ("money", "count", "ratio") and col.label
    # a workbook formula only names columns of the allocation sheet (directly, or the revenue
    # at one of its spends) and the channel's cells of the assumptions sheet
    from roiste.optimizer.report.sheetmodel import CHANNEL_CELLS

    for col in ALLOCATION.values():
        if col.formula:
            fields = re.findall(r"\{(\w+)(?:\[(\w+)\])?\}", col.formula)
            assert fields, col.name
            for name, key in fields:
                if name == "assumption":
                    assert key in CHANNEL_CELLS, col.name
                elif key:
                    assert name in ("revenue", "marginal") and key in ALLOCATION_SHEET, col.name
                else:
                    assert name in ALLOCATION_SHEET, col.name
    with pytest.raises(KeyError, match="unknown allocation column"):
        allocation_column("spend")


def test_templates_escape_and_refuse_undefined_names() -> None:
    import jinja2

    from roiste.optimizer.report.pages import render, stylesheet

    page = render("base.html.j2", title="<b>x</b> & y", css=stylesheet("style.css"))
    assert "<title>&lt;b&gt;x&lt;/b&gt; &amp; y</title>" in page
    assert 'font-family: "DejaVu Sans"' in page  # the style sheet is inlined as it is
    with pytest.raises(jinja2.UndefinedError):
        render("base.html.j2", css="")
