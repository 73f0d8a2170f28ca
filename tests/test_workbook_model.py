"""``plan.xlsx`` as a model, recalculated by LibreOffice: the spreadsheet engine reproduces
``allocation.csv``, and a changed gross margin or spend gives what roiste's own economics give.

The files are converted by ``soffice --headless`` (Debian's ``libreoffice-calc``, installed by
``scripts/sysdeps.sh``) after openpyxl has dropped every stored formula result, so each
number read back is one LibreOffice computed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import ArrayLike
from openpyxl import Workbook, load_workbook

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import (
    SATURATIONS,
    Exponential,
    FloatArray,
    Geometric,
    Hill,
    Logistic,
    MichaelisMenten,
    Saturation,
)
from roiste.optimizer.economics import ChannelEconomics, channel_margin
from roiste.optimizer.plan import Plan, build_plan
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.report.xlsx import ALLOCATION_SHEET, letters, xlsx_bytes
from roiste.optimizer.runs import run_plan
from roiste.optimizer.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
COL = letters(ALLOCATION_SHEET)
MONEY = ("current_spend", "recommended_spend", "expected_revenue", "revenue_current",
         "expected_net_margin", "net_margin_current")
GROSS_MARGIN_COL = "B"  # the first economics key on the assumptions sheet
TABLE_FAMILY = "algebraic_for_the_sheet_test"
RECALC_ALWAYS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode"
 oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


# ------------------------------------------------------------------ the plans


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    """The demo scenario planned as ``roiste plan scenarios/demo.yaml`` plans it."""
    out = tmp_path_factory.mktemp("demo") / "plan"
    return run_plan(ROOT / "scenarios" / "demo.yaml", out, progress=False), out


def _table_family() -> type[Saturation]:
    """``u / sqrt(1 + 3 u^2)``, ``u = a / k``: a family with no spreadsheet formula."""

    class Algebraic(Saturation):
        lookup_name = TABLE_FAMILY
        param_names = ("k",)

        @staticmethod
        def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
            u = np.maximum(np.asarray(a, dtype=float), 0.0) / p["k"]
            return np.asarray(u / np.sqrt(1.0 + 3.0 * u**2), dtype=float)

        @staticmethod
        def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
            u = np.maximum(np.asarray(a, dtype=float), 0.0) / p["k"]
            return np.asarray((1.0 + 3.0 * u**2) ** -1.5 / p["k"], dtype=float)

    return Algebraic


@pytest.fixture(scope="module")
def table_family() -> Iterator[type[Saturation]]:
    before = dict(SATURATIONS)
    family = _table_family()
    try:
        yield family
    finally:
        SATURATIONS.pop(TABLE_FAMILY, None)
        assert SATURATIONS == before


@pytest.fixture(scope="module")
def known(table_family: type[Saturation],
          tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    """Every family with a formula, one without, every economics key, missing ratios."""
    full = {"revenue_per_order": 80.0, "new_customers_per_revenue": 0.005,
            "new_customer_revenue_share": 0.35}
    shapes: list[tuple[str, Saturation, float, float, dict[str, float]]] = [
        ("hill", Hill(k=2500.0, s=0.7), 9000.0, 1000.0, full),
        ("mm", MichaelisMenten(k=3000.0), 12000.0, 2000.0, full),
        ("exp", Exponential(k=2500.0), 8000.0, 1500.0, {"revenue_per_order": 60.0}),
        ("logistic", Logistic(k=4000.0), 15000.0, 3000.0, full),
        ("table", table_family(k=2000.0), 7000.0, 800.0, full),
    ]
    curves = CurveSet([ResponseCurve(name, Component(beta, sat, Geometric(alpha=0.4)), weekly,
                                     ratios=dict(ratios))
                       for name, sat, beta, weekly, ratios in shapes])
    scenario = Scenario.model_validate({
        "name": "sheet model", "data": "unused.csv", "period_weeks": 4, "steps": 2,
        "economics": {"gross_margin": 0.5, "return_rate": 0.1, "cancellation_rate": 0.05,
                      "cost_per_order": 4.0, "platform_fee_rate": 0.03,
                      "new_customer_value": 20.0, "existing_incrementality": 0.7},
        "channels": {"mm": {"commission_rate": 0.08, "existing_incrementality": 1.0},
                     "logistic": {"gross_margin": 0.4}},
    })
    current = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    plan = build_plan(curves, scenario, current)
    out = tmp_path_factory.mktemp("known") / "plan"
    write_plan(plan, out)
    return plan, out


@pytest.fixture(scope="module")
def revenue_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Path]:
    """Objective revenue without a gross margin (no net margin), a channel at zero spend."""
    curves = CurveSet([
        ResponseCurve("a", Component(9000.0, Hill(k=2500.0, s=1.0), Geometric(alpha=0.4)), 1000.0),
        ResponseCurve("b", Component(5000.0, Exponential(k=2500.0), Geometric(alpha=0.0)), 0.0),
        ResponseCurve("c", Component(7000.0, Exponential(k=1500.0), Geometric(alpha=0.2)), 700.0),
    ])
    scenario = Scenario.model_validate({"name": "revenue", "data": "u.csv", "objective": "revenue"})
    plan = build_plan(curves, scenario, pd.Series({c: curves[c].recent_spend for c in curves.channels}))
    assert plan.net_margin_current is None
    out = tmp_path_factory.mktemp("revenue") / "plan"
    write_plan(plan, out)
    return plan, out


# ------------------------------------------------------------------ LibreOffice


@pytest.fixture(scope="module")
def soffice() -> str:
    path = shutil.which("soffice") or shutil.which("libreoffice")
    if path is None:
        pytest.skip("LibreOffice (soffice) is not installed; scripts/sysdeps.sh installs "
                    "Debian's libreoffice-calc when run as root with apt-get")
    return path


def _without_results(src: Path, dst: Path, edit: Callable[[Workbook], None] | None = None) -> Path:
    """``src`` as openpyxl saves it (formulas kept, stored results dropped), edited."""
    wb = load_workbook(src)
    if edit is not None:
        edit(wb)
    wb.save(dst)
    check = load_workbook(dst, data_only=True)["Allocation"]
    assert check[f"{COL['expected_net_margin']}2"].value is None  # nothing left to read back
    return dst


def _set(sheet: str, ref: str, value: float) -> Callable[[Workbook], None]:
    def edit(wb: Workbook) -> None:
        wb[sheet][ref] = value
    return edit


def _row(plan: Plan, channel: str) -> int:
    return plan.channels.index(channel) + 2


@pytest.fixture(scope="module")
def recalculated(soffice: str, demo: tuple[Plan, Path], known: tuple[Plan, Path],
                 revenue_only: tuple[Plan, Path],
                 tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every variant recalculated by one LibreOffice run: name -> workbook of values."""
    d_plan, d_out = demo
    k_plan, k_out = known
    tmp = tmp_path_factory.mktemp("calc")
    src = tmp / "in"
    src.mkdir()
    meta = _row(d_plan, "social_meta")
    display = _row(d_plan, "display")
    table = _row(k_plan, "table")
    x_display = float(d_plan.allocation["recommended_spend"].iloc[display - 2])
    x_table = float(k_plan.allocation["recommended_spend"].iloc[table - 2])
    files = [
        _without_results(d_out / "plan.xlsx", src / "demo.xlsx"),
        _without_results(d_out / "plan.xlsx", src / "demo_margin.xlsx",
                         _set("Assumptions", f"{GROSS_MARGIN_COL}{meta + 1}", 0.30)),
        _without_results(d_out / "plan.xlsx", src / "demo_default.xlsx",
                         _set("Assumptions", f"{GROSS_MARGIN_COL}2", 0.50)),
        _without_results(d_out / "plan.xlsx", src / "demo_spend.xlsx",
                         _set("Allocation", f"{COL['recommended_spend']}{display}",
                              1.1 * x_display)),
        _without_results(k_out / "plan.xlsx", src / "known.xlsx"),
        _without_results(k_out / "plan.xlsx", src / "known_spend.xlsx",
                         _set("Allocation", f"{COL['recommended_spend']}{table}", 1.3 * x_table)),
        _without_results(revenue_only[1] / "plan.xlsx", src / "revenue.xlsx"),
    ]
    profile = tmp / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(RECALC_ALWAYS)
    dst = tmp / "out"
    cmd = [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile.as_uri()}",
           "--convert-to", "xlsx", "--outdir", str(dst), *map(str, files)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    books = {f.stem: load_workbook(dst / f.name, data_only=True) for f in files}
    return {**books, "x_display": 1.1 * x_display, "x_table": 1.3 * x_table}


def _column(wb: Any, plan: Plan, name: str) -> np.ndarray:
    ws = wb["Allocation"]
    return np.array([ws[f"{COL[name]}{_row(plan, c)}"].value for c in plan.channels], dtype=float)


def _total(wb: Any, plan: Plan, name: str) -> float:
    return float(wb["Allocation"][f"{COL[name]}{len(plan.channels) + 2}"].value)


def _margins(plan: Plan, channel: str, x: ArrayLike, **changes: float) -> np.ndarray:
    """roiste's own net margin of ``channel`` at period spends ``x``, with ``changes`` made
    to its economics."""
    econ = ChannelEconomics.merged(plan.economics[channel], changes)
    return np.asarray(channel_margin(plan.curves, channel, econ, plan.period_weeks, x))


# ------------------------------------------------------------------ tests


def test_stored_results_are_the_plans_numbers_and_stable(demo: tuple[Plan, Path]) -> None:
    """A reader that does not recalculate (openpyxl, pandas) sees allocation.csv."""
    plan, out = demo
    csv = pd.read_csv(out / "allocation.csv")
    wb = load_workbook(out / "plan.xlsx", data_only=True)
    for name in MONEY:
        np.testing.assert_allclose(_column(wb, plan, name), csv[name], rtol=1e-9)
        assert _total(wb, plan, name) == pytest.approx(csv[name].sum(), rel=1e-9)
    assert xlsx_bytes(plan) == (out / "plan.xlsx").read_bytes()


def test_libreoffice_reproduces_allocation_csv(demo: tuple[Plan, Path],
                                               recalculated: dict[str, Any]) -> None:
    plan, out = demo
    csv = pd.read_csv(out / "allocation.csv")
    wb = recalculated["demo"]
    for name in (*MONEY, "roas", "marginal_roas"):
        np.testing.assert_allclose(_column(wb, plan, name), csv[name], rtol=1e-6, err_msg=name)
    for name in MONEY:
        assert _total(wb, plan, name) == pytest.approx(csv[name].sum(), rel=1e-6)
    summary = wb["Summary"]
    assert summary["B9"].value == pytest.approx(plan.net_margin_recommended, rel=1e-6)
    assert summary["B8"].value == pytest.approx(plan.net_margin_current, rel=1e-6)


@pytest.mark.parametrize("name", ["demo", "known", "revenue"])
def test_every_stored_result_is_what_libreoffice_computes(
    name: str, demo: tuple[Plan, Path], known: tuple[Plan, Path],
    revenue_only: tuple[Plan, Path], recalculated: dict[str, Any]
) -> None:
    """Each formula cell's stored result (what roiste wrote) equals LibreOffice's value."""
    out = {"demo": demo, "known": known, "revenue": revenue_only}[name][1]
    formulas = load_workbook(out / "plan.xlsx")
    stored = load_workbook(out / "plan.xlsx", data_only=True)
    calc = recalculated[name]
    n = 0
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if not (isinstance(cell.value, str) and cell.value.startswith("=")):
                    continue
                n += 1
                mine, theirs = stored[ws.title][cell.coordinate].value, calc[ws.title][cell.coordinate].value
                where = (ws.title, cell.coordinate, cell.value)
                if mine in ("", None):
                    assert theirs in ("", None), where
                else:
                    assert theirs == pytest.approx(mine, rel=1e-9, abs=1e-9), where
    assert n > 30


def test_known_plan_every_family_and_key(known: tuple[Plan, Path],
                                         recalculated: dict[str, Any]) -> None:
    """Every family with a spreadsheet formula, and one read from its table, reproduce the
    plan; so do every economics key and the ratios a panel may lack."""
    plan, out = known
    with_formula = {n for n, cls in SATURATIONS.items()
                    if cls.excel_value({p: "1" for p in cls.param_names}, "1") is not None}
    assert with_formula <= {plan.curves[c].family for c in plan.channels}
    for n in with_formula:  # a family with a formula for its value has one for its slope
        cls = SATURATIONS[n]
        assert cls.excel_derivative({p: "1" for p in cls.param_names}, "1") is not None, n
    assert "Curve tables" in load_workbook(out / "plan.xlsx").sheetnames
    csv = pd.read_csv(out / "allocation.csv")
    for name in (*MONEY, "marginal_roas"):
        np.testing.assert_allclose(_column(recalculated["known"], plan, name), csv[name],
                                   rtol=1e-6, err_msg=name)


def test_a_changed_gross_margin_moves_net_margin_as_roiste_computes_it(
    demo: tuple[Plan, Path], recalculated: dict[str, Any]
) -> None:
    plan, _ = demo
    a = plan.allocation.set_index("channel")
    wb = recalculated["demo_margin"]
    for c in plan.channels:
        x = [a.loc[c, "recommended_spend"], a.loc[c, "current_spend"]]
        want = _margins(plan, c, x, gross_margin=0.30) if c == "social_meta" else _margins(plan, c, x)
        r = _row(plan, c)
        got = [wb["Allocation"][f"{COL[n]}{r}"].value
               for n in ("expected_net_margin", "net_margin_current")]
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=c)
    moved = _margins(plan, "social_meta", [a.loc["social_meta", "recommended_spend"]],
                     gross_margin=0.30)[0] - a.loc["social_meta", "expected_net_margin"]
    assert abs(moved) > 1000.0  # the change is no rounding
    assert _total(wb, plan, "expected_net_margin") == pytest.approx(
        plan.net_margin_recommended + moved, rel=1e-6)
    assert _column(wb, plan, "expected_revenue") == pytest.approx(
        a["expected_revenue"].to_numpy(), rel=1e-6)  # revenue does not depend on the margin


def test_a_changed_default_moves_every_channel_that_follows_it(
    demo: tuple[Plan, Path], recalculated: dict[str, Any]
) -> None:
    plan, out = demo
    assumptions = load_workbook(out / "plan.xlsx")["Assumptions"]
    follows = [c for c in plan.channels
               if assumptions[f"{GROSS_MARGIN_COL}{_row(plan, c) + 1}"].value == "=B$2"]
    assert follows == plan.channels  # no channel of the demo has its own gross margin
    a = plan.allocation.set_index("channel")
    got = _column(recalculated["demo_default"], plan, "expected_net_margin")
    want = [_margins(plan, c, [a.loc[c, "recommended_spend"]], gross_margin=0.50)[0]
            for c in plan.channels]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_a_changed_spend_moves_revenue_and_net_margin_on_the_curve(
    demo: tuple[Plan, Path], known: tuple[Plan, Path], recalculated: dict[str, Any]
) -> None:
    plan, _ = demo
    x = recalculated["x_display"]
    wb = recalculated["demo_spend"]
    r = _row(plan, "display")
    revenue = plan.period_weeks * float(plan.curves["display"].response(x / plan.period_weeks))
    cells = {n: wb["Allocation"][f"{COL[n]}{r}"].value
             for n in ("expected_revenue", "expected_net_margin", "roas", "change", "marginal_roas")}
    assert cells["expected_revenue"] == pytest.approx(revenue, rel=1e-6)
    assert cells["expected_net_margin"] == pytest.approx(_margins(plan, "display", [x])[0], rel=1e-6)
    assert cells["roas"] == pytest.approx(revenue / x, rel=1e-6)
    assert cells["marginal_roas"] == pytest.approx(
        float(plan.curves["display"].marginal(x / plan.period_weeks)), rel=1e-6)
    assert cells["change"] == pytest.approx(x - plan.allocation["current_spend"].iloc[r - 2], rel=1e-9)
    old = plan.allocation.set_index("channel").loc["display"]
    assert _total(wb, plan, "expected_revenue") == pytest.approx(
        plan.revenue_recommended - old["expected_revenue"] + revenue, rel=1e-6)
    # a family read from its table: linear interpolation between points a few percent apart
    k_plan, _ = known
    x = recalculated["x_table"]
    curve = k_plan.curves["table"]
    row = recalculated["known_spend"]["Allocation"]
    w = x / k_plan.period_weeks
    got = row[f"{COL['expected_revenue']}{_row(k_plan, 'table')}"].value
    assert got == pytest.approx(k_plan.period_weeks * float(curve.response(w)), rel=1e-3)
    got = row[f"{COL['marginal_roas']}{_row(k_plan, 'table')}"].value
    assert got == pytest.approx(float(curve.marginal(w)), rel=1e-3)
