"""dashboard.html in a real browser: headless Chromium renders the alerts and the KPI table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.image import imread
from test_browser import _run
from test_monitor_drift import inject_drift

from roiste.models.simulate import simulate_world
from roiste.optimizer.runs import run_monitor

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("dash")
    world = simulate_world(1, n_channels=4, n_weeks=156, patterns=("steady",))
    panel = inject_drift(world, "social_meta", 120)
    panel = panel[panel["date"].isin(sorted(panel["date"].unique())[:126])]
    panel.to_csv(d / "panel.csv", index=False)
    (d / "rules.yml").write_text(yaml.safe_dump({"name": "Browser check", "rules": [
        {"name": "ROAS down", "kpi": "roas", "threshold": {"below": 0.15},
         "durability": {"weeks_in_a_row": 3}}]}))
    run_monitor(d / "panel.csv", d / "rules.yml", d / "out", progress=False)
    return d / "out" / "dashboard.html"


def test_dom_shows_the_alert_above_the_kpi_table(dashboard: Path, tmp_path: Path) -> None:
    res = _run(["--dump-dom", dashboard.as_uri()], tmp_path)
    dom = res.stdout
    assert '<table id="alerts"' in dom, res.stderr[-2000:]
    assert dom.index('id="alerts"') < dom.index('id="kpi-table"')
    alerts = dom[dom.index('id="alerts"'):dom.index("</table>", dom.index('id="alerts"'))]
    assert "social_meta" in alerts and "draft-01-social_meta.yml" in alerts
    tables = re.findall(r'<table id="kpi-table[^"]*".*?</table>', dom, re.S)
    assert len(tables) >= 2
    for table in tables:
        # one row per channel and one for all channels, each with a sparkline per KPI
        assert len(re.findall(r"<tr class=\"level-", table)) == 5
        n_kpis = len(re.findall(r"<th>", table)) - 1
        assert 1 <= n_kpis <= 5
        assert len(re.findall(r"<svg class=\"spark\"", table)) == 5 * n_kpis


def test_every_table_fits_a_1000_pixel_window(dashboard: Path, tmp_path: Path) -> None:
    """The page's width as laid out by the browser: nothing runs past the window."""
    page = tmp_path / "measured.html"
    page.write_text(dashboard.read_text(encoding="utf-8").replace(
        "</body>", "<script>document.body.setAttribute('data-width', "
        "document.documentElement.scrollWidth);</script></body>"), encoding="utf-8")
    res = _run(["--window-size=1000,800", "--dump-dom", page.as_uri()], tmp_path)
    width = re.search(r'data-width="(\d+)"', res.stdout)
    assert width, res.stderr[-2000:]
    assert int(width.group(1)) <= 1000, width.group(1)


def test_screenshot_shows_the_page_drawn(dashboard: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    res = _run([f"--screenshot={shot}", "--window-size=1400,1200", dashboard.as_uri()], tmp_path)
    assert shot.is_file(), res.stderr[-2000:]
    img = imread(shot)[..., :3]
    assert img.shape[:2] == (1200, 1400)
    assert (img.mean(axis=2) < 0.9).mean() > 0.02  # text and lines, not a blank page
    # the alert row's red tint (#fef2f2) is on screen above the fold
    tint = (np.abs(img - np.array([0xFE, 0xF2, 0xF2]) / 255.0).max(axis=2) < 0.01).mean()
    assert tint > 0.005, tint
    # the red sparkline of the alerted series is drawn
    red = ((img[..., 0] > 0.6) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)).mean()
    assert red > 0.00002, red
