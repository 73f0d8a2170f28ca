"""Every HTML page in a real browser: a screenshot each, checked for overflow and legibility.

Headless Chromium opens a copy of each page (plan report, backtest, monitor dashboard,
attribution comparison) with a small script appended that measures the page as laid out and
writes the measures into the DOM, which ``--dump-dom`` returns.  The criteria:

- **No horizontal overflow**: at a 1280 px wide window the document is no wider than the
  window, or every element that sticks out sits inside a container that scrolls sideways.
- **No clipped text in tables**: no table cell's content is wider than the cell.
- **Legible text**: every visible text has a computed font size of at least 10 px (text in
  an inline SVG counted at the size the SVG is drawn).
- **Legible charts**: every chart image is shown at 80 % of its own size or more, so the
  charts' smallest text (8 pt at 100 dpi, 11 px) stays above 9 px on screen.

The screenshots stay in the test's temporary directory (``<page>.png``).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure
from matplotlib.image import imread
from test_browser import _run
from test_monitor_drift import inject_drift

from roiste.models.attribution.credit import AttributionRule
from roiste.models.attribution.journeys import write_journeys
from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.simulate import simulate_world, write_world
from roiste.models.transforms import Exponential, Geometric, Hill
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.attribution import compare_rules
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.runs import run_backtest, run_monitor
from roiste.optimizer.scenario import Scenario

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 900
MIN_FONT_PX = 10.0
MIN_CHART_SCALE = 0.8

MEASURE = """
<script>
window.addEventListener("load", function () {
  const vw = document.documentElement.clientWidth;
  const scrolls = (el) => {
    for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
      const ox = getComputedStyle(p).overflowX;
      if (ox === "auto" || ox === "scroll") return true;
    }
    return false;
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (typeof el.className === "string" && el.className ? "." + el.className.split(" ")[0] : "");
  const outside = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (el.getBoundingClientRect().right > vw + 1 && !scrolls(el)) outside.push(name(el));
  }
  const clipped = [];
  for (const el of document.querySelectorAll("td, th")) {
    if (el.scrollWidth > el.clientWidth + 1) clipped.push(name(el) + ": " + el.textContent.slice(0, 40));
  }
  // an SVG drawn at another size than its viewBox scales its text too
  const svgScale = (el) => {
    const svg = el.closest("svg");
    if (!svg || !svg.viewBox || !svg.viewBox.baseVal || !svg.viewBox.baseVal.width) return 1;
    return svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  };
  let minFont = 1e9, minWhere = "";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.trim()) continue;
    const el = node.parentElement;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.visibility === "hidden" || el.getClientRects().length === 0) continue;
    const size = parseFloat(cs.fontSize) * svgScale(el);
    if (size < minFont) { minFont = size; minWhere = name(el) + ": " + node.textContent.trim().slice(0, 40); }
  }
  const charts = [...document.images].map((im) => ({
    alt: im.alt, natural: im.naturalWidth, shown: im.getBoundingClientRect().width }));
  const svgs = document.querySelectorAll("svg").length;
  const out = { viewport: vw, scroll_width: document.documentElement.scrollWidth,
    outside: outside.slice(0, 20), clipped: clipped.slice(0, 20), min_font: minFont,
    min_font_where: minWhere, charts: charts, svgs: svgs };
  const pre = document.createElement("pre");
  pre.id = "page-measures";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


# --------------------------------------------------------------------------- the pages


def _plan_report(d: Path) -> Path:
    curves = CurveSet([
        ResponseCurve("search", Component(6000.0, Hill(k=1800.0, s=1.0), Geometric(alpha=0.3)),
                      800.0, ratios={"new_customers_per_revenue": 0.004}),
        ResponseCurve("social", Component(15000.0, Exponential(k=4000.0), Geometric(alpha=0.5)),
                      2000.0, ratios={"new_customers_per_revenue": 0.006}),
    ])
    sc = Scenario.model_validate(
        {"name": "Browser pages", "data": "unused.csv", "economics": {"gross_margin": 0.5}})
    cur = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    write_plan(build_plan(curves, sc, cur), d / "plan")
    return d / "plan" / "report.html"


def _backtest(d: Path) -> Path:
    write_world(d / "panel.csv", seed=3, n_channels=3, n_weeks=64)
    sc = {"name": "Browser backtest", "data": "panel.csv", "bootstrap": 10,
          "economics": {"gross_margin": 0.45, "cost_per_order": 4.0, "new_customer_value": 20.0}}
    (d / "scenario.yaml").write_text(yaml.safe_dump(sc), encoding="utf-8")
    run_backtest(d / "scenario.yaml", d / "backtest", folds=2, progress=False, replan_months=2,
                 bootstrap=5)
    return d / "backtest" / "backtest.html"


def _dashboard(d: Path) -> Path:
    world = simulate_world(1, n_channels=4, n_weeks=156, patterns=("steady",))
    panel = inject_drift(world, "social_meta", 120)
    panel = panel[panel["date"].isin(sorted(panel["date"].unique())[:126])]
    panel.to_csv(d / "panel.csv", index=False)
    (d / "rules.yml").write_text(yaml.safe_dump({"name": "Browser pages", "rules": [
        {"name": "ROAS down", "kpi": "roas", "threshold": {"below": 0.15},
         "durability": {"weeks_in_a_row": 3}}]}))
    run_monitor(d / "panel.csv", d / "rules.yml", d / "monitor", progress=False)
    return d / "monitor" / "dashboard.html"


def _compare(d: Path) -> Path:
    files = write_journeys(d / "journeys", seed=5, n_weeks=3, users_per_week=600)
    rules = [AttributionRule("last-click"), AttributionRule("linear"),
             AttributionRule("markov"), AttributionRule("markov", {"split": "journey"})]
    compare_rules(files["touchpoints"], files["conversions"], rules, d / "compare")
    return d / "compare" / "compare.html"


BUILDERS = {"plan": _plan_report, "backtest": _backtest, "monitor": _dashboard,
            "compare": _compare}


def _measure(html: Path, d: Path) -> dict[str, Any]:
    """The measures of the script above on a copy of ``html`` laid out in the browser."""
    probe = html.with_name(f"{html.stem}.measured.html")
    text = html.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", MEASURE + "</body>", 1), encoding="utf-8")
    res = _run([f"--window-size={WIDTH},{HEIGHT}", "--dump-dom", probe.as_uri()], d)
    found = re.search(r'<pre id="page-measures">(.*?)</pre>', res.stdout, re.S)
    assert found, res.stderr[-2000:]
    out: dict[str, Any] = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                                     .replace("&lt;", "<").replace("&gt;", ">"))
    return out


def test_the_measures_see_a_page_that_overflows_and_small_text(tmp_path: Path) -> None:
    """The checks can fail: a table wider than the window, a cell too narrow for its word,
    8 px text and a chart squeezed to half its size are all seen."""
    page = tmp_path / "bad.html"
    png = tmp_path / "c.png"
    fig = Figure(figsize=(4, 2), dpi=100)
    fig.savefig(png)
    page.write_text(
        "<!DOCTYPE html><html><body>"
        '<table id="wide" style="width:2000px"><tr><td>wide</td></tr></table>'
        '<table><tr><td style="max-width:20px;overflow:hidden">unbreakablewordthatdoesnotfit</td>'
        "</tr></table>"
        '<p style="font-size:8px">tiny</p>'
        f'<img alt="half" src="data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}" '
        'style="width:200px">'
        "</body></html>", encoding="utf-8")
    m = _measure(page, tmp_path)
    assert m["scroll_width"] > m["viewport"]
    assert any(o.startswith("table#wide") for o in m["outside"]), m["outside"]
    assert m["clipped"] and "unbreakable" in m["clipped"][0]
    assert m["min_font"] == pytest.approx(8.0)
    assert m["charts"][0]["shown"] / m["charts"][0]["natural"] == pytest.approx(0.5)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def page(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One page built by roiste, its screenshot and its measures in the browser."""
    name = str(request.param)
    d = tmp_path_factory.mktemp(f"page-{name}")
    html = BUILDERS[name](d)
    shot = d / f"{name}.png"
    res = _run([f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", html.as_uri()], d)
    assert shot.is_file(), res.stderr[-2000:]
    return {"name": name, "shot": shot, "measures": _measure(html, d)}


# --------------------------------------------------------------------------- the checks


def test_screenshot_shows_the_page_drawn(page: dict[str, Any]) -> None:
    img = imread(page["shot"])[..., :3]
    assert img.shape[:2] == (HEIGHT, WIDTH)
    ink = (img.mean(axis=2) < 0.9).mean()
    assert ink > 0.02, f"{page['name']}: screenshot looks blank ({ink:.4f} of pixels drawn)"


def test_no_horizontal_overflow(page: dict[str, Any]) -> None:
    m = page["measures"]
    assert m["viewport"] == pytest.approx(WIDTH, abs=20)  # the window (less a scroll bar)
    assert m["scroll_width"] <= m["viewport"], (page["name"], m["scroll_width"], m["outside"])
    assert not m["outside"], (page["name"], m["outside"])


def test_no_text_clipped_in_table_cells(page: dict[str, Any]) -> None:
    assert not page["measures"]["clipped"], (page["name"], page["measures"]["clipped"])


def test_text_is_at_least_ten_pixels(page: dict[str, Any]) -> None:
    m = page["measures"]
    assert m["min_font"] >= MIN_FONT_PX, (page["name"], m["min_font"], m["min_font_where"])


def test_charts_are_shown_near_their_own_size(page: dict[str, Any]) -> None:
    charts = page["measures"]["charts"]
    assert all(c["natural"] > 0 for c in charts), charts  # every image loaded
    if not charts:  # drawn as inline SVG: its text is measured with the page's text
        assert page["measures"]["svgs"] > 0, f"{page['name']}: no chart on the page"
        return
    scale = {c["alt"]: c["shown"] / c["natural"] for c in charts}
    assert min(scale.values()) >= MIN_CHART_SCALE, (page["name"], scale)
    assert np.isfinite(list(scale.values())).all()
