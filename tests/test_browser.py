"""report.html in a real browser: headless Chromium renders it, with the table and the charts."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.transforms import Exponential, Geometric, Hill
from roiste.optimizer.plan import build_plan
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.scenario import Scenario

pytestmark = pytest.mark.browser

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def _chromium() -> str:
    for name in ("/usr/bin/chromium", shutil.which("chromium")):
        if name and Path(name).is_file():
            return name
    pytest.skip("Debian's chromium is not installed (`make test` installs it when run as root)")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    curves = CurveSet(
        [
            ResponseCurve("search", Component(6000.0, Hill(k=1800.0, s=1.0), Geometric(alpha=0.3)),
                          800.0, ratios={"new_customers_per_revenue": 0.004}),
            ResponseCurve("social", Component(15000.0, Exponential(k=4000.0), Geometric(alpha=0.5)),
                          2000.0, ratios={"new_customers_per_revenue": 0.006}),
        ]
    )
    sc = Scenario.model_validate(
        {"name": "Browser test", "data": "unused.csv", "economics": {"gross_margin": 0.5}}
    )
    cur = pd.Series({c: curves[c].recent_spend for c in curves.channels})
    out = tmp_path_factory.mktemp("browser") / "plan"
    write_plan(build_plan(curves, sc, cur), out)
    return out / "report.html"


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    res = _run([f"--screenshot={shot}", "--window-size=1400,3000", report.as_uri()], tmp_path)
    assert shot.is_file(), res.stderr[-2000:]
    img = imread(shot)[..., :3]
    assert img.shape[:2] == (3000, 1400)
    ink = (img.mean(axis=2) < 0.9).mean()  # share of pixels that are not (near) white
    assert ink > 0.02, f"screenshot looks blank ({ink:.4f} of pixels drawn)"
    # the charts are in colour (curves, bars), not just black text
    colourful = (np.ptp(img, axis=2) > 0.2).mean()
    assert colourful > 0.002, colourful


def test_dom_holds_the_table_and_the_chart_images(report: Path, tmp_path: Path) -> None:
    res = _run(["--dump-dom", report.as_uri()], tmp_path)
    dom = res.stdout
    assert "<table" in dom, res.stderr[-2000:]
    assert "Recommendation" in dom and "search" in dom and "social" in dom
    images = re.findall(r'<img[^>]*src="data:image/png;base64,', dom)
    assert len(images) >= 3
    assert "Certified optimality gap" in dom
