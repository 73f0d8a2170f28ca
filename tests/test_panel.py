"""The weekly panel: good panels read to the right numbers, bad ones stop with one exact line."""

from __future__ import annotations

import csv
import importlib.util
import re
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from roiste.models.errors import PanelError
from roiste.models.io import file_sha256
from roiste.models.panel import Panel, PanelWarning, panel_from_frame, read_panel
from roiste.optimizer.cli import main

START = date(2024, 1, 1)  # a Monday
HEADER = ["date", "channel", "spend", "revenue"]


def _day(week: int, days: int = 0) -> str:
    return (START + timedelta(weeks=week, days=days)).isoformat()


def _spend(week: int, c: int) -> float:
    return 100.0 + 10 * week + 7 * c + (week * (c + 1)) % 5


def _rows(n_weeks: int = 30, channels: tuple[str, ...] = ("search", "social")) -> list[list[str]]:
    """Week-major rows; (week w, channel c) sits on line 2 + w * len(channels) + c."""
    return [
        [_day(w), ch, f"{_spend(w, c):.2f}", f"{3 * _spend(w, c):.2f}"]
        for w in range(n_weeks)
        for c, ch in enumerate(channels)
    ]


def _write(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


def _line(week: int, c: int, nc: int = 2) -> int:
    return 2 + week * nc + c


def _wide_rows(n_weeks: int = 30) -> list[list[str]]:
    return [
        [_day(w), f"{5000 + 37 * w}", f"{_spend(w, 0):g}", f"{_spend(w, 1):g}",
         "sale" if w == 4 else ("launch" if w == 9 else "na")]
        for w in range(n_weeks)
    ]


WIDE_HEADER = ["week", "revenue", "tv_S", "search_S", "events"]
WIDE = {"layout": "wide", "target": "revenue", "spend": ["tv_S", "search_S"]}


# --- bad panels: each case writes a file and gives the read_panel keywords and the message ---

Case = Callable[[Path], tuple[Path, dict[str, Any], str]]


def _edit(rows: list[list[str]], week: int, c: int, col: int, value: str) -> list[list[str]]:
    rows[_line(week, c) - 2][col] = value
    return rows


def missing_file(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = tmp / "nowhere.csv"
    return p, {}, f"{p}: file not found"


def empty_file(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = tmp / "empty.csv"
    p.write_text("\n  \n")
    return p, {}, f"{p}: file is empty"


def header_only(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "header.csv", [])
    return p, {}, f"{p}: no data rows below the header"


def binary_garbage(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = tmp / "panel.csv"
    p.write_bytes(bytes(range(256)) * 4)
    return p, {}, f"{p}: not a CSV or Parquet file (binary content)"


def latin1_text(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = tmp / "latin1.csv"
    text = "\n".join(",".join(r) for r in [HEADER, *_edit(_rows(), 0, 1, 1, "café")]) + "\n"
    data = text.encode("latin-1")
    p.write_bytes(data)
    offset = data.index("é".encode("latin-1"))
    return p, {}, (f"{p}: not UTF-8 text (byte 0xe9 at offset {offset}); "
                   "save the file as UTF-8 CSV or Parquet")


def csv_named_parquet(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "panel.parquet", _rows())
    return p, {}, f"{p}: not a Parquet file (it does not start with PAR1)"


def ragged_row(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = _rows()
    rows[_line(2, 1) - 2].append("17")
    p = _write(tmp / "ragged.csv", rows)
    return p, {}, f"{p}: row {_line(2, 1)}: 5 fields, but the header has 4"


def unclosed_quote(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "q.csv", _edit(_rows(), 2, 1, 1, '"social'))
    return p, {}, f"{p}: row 7: a quote opens a cell that never closes"


def quote_spans_lines(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "q.csv", _edit(_edit(_rows(), 2, 1, 1, '"social'), 4, 0, 1, 'search"'))
    return p, {}, f"{p}: row 7, column 'channel': a quoted cell spans 4 lines; is a closing quote missing?"


def year_out_of_range(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 3, 0, 0, "2624-01-22"))
    return p, {}, f"{p}: row 8, column 'date': '2624-01-22' is not a date (expected YYYY-MM-DD, years 1900 to 2200)"


def duplicate_header(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "dup.csv", [[*r, "1"] for r in _rows()], [*HEADER, "spend"])
    return p, {}, f"{p}: row 1: column 'spend' appears twice (columns 3 and 5)"


def misspelt_column(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _rows(), ["date", "channel", "spend", "revenu"])
    return p, {}, f"{p}: required column 'revenue' is not in the file; did you mean 'revenu'?"


def missing_column(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _rows(), ["date", "channel", "spend", "sales"])
    return p, {}, (f"{p}: required column 'revenue' is not in the file; "
                   "the columns are: date, channel, spend, sales")


def bad_date(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 3, 0, 0, "2024-13-01"))
    return p, {}, f"{p}: row 8, column 'date': '2024-13-01' is not a date (expected YYYY-MM-DD, years 1900 to 2200)"


def us_date(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 3, 1, 0, "01/22/2024"))
    return p, {}, f"{p}: row 9, column 'date': '01/22/2024' is not a date (expected YYYY-MM-DD, years 1900 to 2200)"


def mixed_weekdays(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = _edit(_edit(_rows(), 5, 0, 0, _day(5, 1)), 5, 1, 0, _day(5, 1))
    p = _write(tmp / "p.csv", rows)
    return p, {}, (f"{p}: row 12, column 'date': 2024-02-06 (Tuesday) is 1 day(s) off the weekly "
                   "grid that starts 2024-01-01 (Monday, row 2); dates must be week starts 7 days apart")


def daily_dates(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = [[(START + timedelta(days=d)).isoformat(), "search", "1", "2"] for d in range(60)]
    p = _write(tmp / "p.csv", rows)
    return p, {}, (f"{p}: row 3, column 'date': 2024-01-02 (Tuesday) is 1 day(s) off the weekly "
                   "grid that starts 2024-01-01 (Monday, row 2); dates must be week starts 7 days apart")


def duplicate_row(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = _rows()
    rows.append(list(rows[_line(3, 0) - 2]))
    p = _write(tmp / "p.csv", rows)
    return p, {}, f"{p}: rows 8 and 62 both hold date 2024-01-22 and channel 'search'"


def text_in_spend(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 2, 1, 2, "12O.5"))
    return p, {}, f"{p}: row 7, column 'spend': '12O.5' is not a number"


def empty_spend(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 2, 1, 2, ""))
    return p, {}, f"{p}: row 7, column 'spend': empty or NaN; a number is required"


def nan_revenue(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 7, 0, 3, "NaN"))
    return p, {}, f"{p}: row 16, column 'revenue': empty or NaN; a number is required"


def inf_revenue(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 2, 1, 3, "inf"))
    return p, {}, f"{p}: row 7, column 'revenue': 'inf' is not a finite number"


def negative_spend(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 2, 1, 2, "-5"))
    return p, {}, f"{p}: row 7, column 'spend': -5.0 is negative; spend must be >= 0"


def negative_revenue(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 10, 0, 3, "-0.5"))
    return p, {}, f"{p}: row 22, column 'revenue': -0.5 is negative; revenue must be >= 0"


def empty_channel(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _edit(_rows(), 2, 1, 1, "  "))
    return p, {}, f"{p}: row 7, column 'channel': empty channel name"


def empty_key_part(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = [[*r, "" if i == 5 else "FR"] for i, r in enumerate(_rows())]
    p = _write(tmp / "p.csv", rows, [*HEADER, "market"])
    return p, {}, (f"{p}: row 7, column 'market': empty market (part of the channel key; a "
                   "column of events is named in controls, --controls)")


def gap_all_channels(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = [r for r in _rows() if r[0] not in (_day(10), _day(11))]
    p = _write(tmp / "p.csv", rows)
    return p, {}, (f"{p}: no rows at all for 2 week(s) between 2024-01-01 and {_day(29)}: "
                   f"{_day(10)}, {_day(11)}")


def channel_hole(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = [r for r in _rows() if not (r[0] == _day(12) and r[1] == "social")]
    p = _write(tmp / "p.csv", rows)
    return p, {}, (f"{p}: channel 'social' has no row for week {_day(12)} although other channels "
                   "do; add the week (with spend 0 if the channel did not run)")


def channel_stops_early(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = [r for r in _rows() if not (r[1] == "search" and r[0] >= _day(27))]
    p = _write(tmp / "p.csv", rows)
    return p, {}, (f"{p}: channel 'search' has no row for week {_day(27)} although other channels "
                   "do; add the week (with spend 0 if the channel did not run)")


def too_short(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _rows(n_weeks=20))
    return p, {}, f"{p}: 20 weeks of history (2024-01-01 .. {_day(19)}); at least 26 are needed"


def constant_spend(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = [[d, ch, "50" if ch == "social" else s, r] for d, ch, s, r in _rows()]
    p = _write(tmp / "p.csv", rows)
    return p, {"require_variation": True}, (
        f"{p}: channel 'social': spend is 50 every week, so its response curve cannot be "
        "identified; drop the channel or add weeks where its spend varies")


def zero_spend(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = [[d, ch, "0" if ch == "search" else s, r] for d, ch, s, r in _rows()]
    p = _write(tmp / "p.csv", rows)
    return p, {"require_variation": True}, (
        f"{p}: channel 'search': spend is zero every week, so its response curve cannot be "
        "identified; drop the channel or add weeks where its spend varies")


def wide_target_absent(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "w.csv", _wide_rows(), WIDE_HEADER)
    return p, {**WIDE, "target": "sales"}, (
        f"{p}: target column 'sales' is not in the file; "
        "the columns are: week, revenue, tv_S, search_S, events")


def wide_spend_absent(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "w.csv", _wide_rows(), WIDE_HEADER)
    return p, {**WIDE, "spend": ["tv_s", "search_S"]}, (
        f"{p}: spend column 'tv_s' is not in the file; did you mean 'tv_S'?")


def wide_control_absent(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "w.csv", _wide_rows(), WIDE_HEADER)
    return p, {**WIDE, "controls": ["event"]}, (
        f"{p}: control column 'event' is not in the file; did you mean 'events'?")


def wide_no_spend(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "w.csv", _wide_rows(), WIDE_HEADER)
    return p, {**WIDE, "spend": []}, (
        f"{p}: the wide layout needs spend columns (--spend); "
        "numeric columns are: revenue, tv_S, search_S")


def wide_duplicate_week(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = _wide_rows()
    rows.insert(6, list(rows[3]))
    p = _write(tmp / "w.csv", rows, WIDE_HEADER)
    return p, WIDE, f"{p}: rows 5 and 8 both hold week {_day(3)}"


def wide_text_in_control(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    rows = [[*r, "n/a" if i == 12 else str(i % 7)] for i, r in enumerate(_wide_rows())]
    p = _write(tmp / "w.csv", rows, [*WIDE_HEADER, "price"])
    return p, {**WIDE, "controls": ["price"]}, (
        f"{p}: row 14, column 'price': empty or NaN; a number is required")


def wide_no_target(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "w.csv", _wide_rows(), WIDE_HEADER)
    return p, {**WIDE, "target": None}, f"{p}: the wide layout needs a target column (--target)"


def wide_names_on_long(tmp: Path) -> tuple[Path, dict[str, Any], str]:
    p = _write(tmp / "p.csv", _rows())
    return p, {"spend": ["spend"]}, (f"{p}: target and spend name columns of the wide layout; "
                                     "pass layout 'wide' (--layout wide) or leave them out")


BAD = [
    missing_file, empty_file, header_only, binary_garbage, latin1_text, csv_named_parquet,
    ragged_row, unclosed_quote, quote_spans_lines, year_out_of_range, duplicate_header, misspelt_column, missing_column, bad_date, us_date,
    mixed_weekdays, daily_dates, duplicate_row, text_in_spend, empty_spend, nan_revenue,
    inf_revenue, negative_spend, negative_revenue, empty_channel, empty_key_part,
    gap_all_channels, channel_hole, channel_stops_early, too_short, constant_spend, zero_spend,
    wide_target_absent, wide_spend_absent, wide_control_absent, wide_no_spend,
    wide_duplicate_week, wide_text_in_control, wide_no_target, wide_names_on_long,
]


@pytest.mark.parametrize("case", BAD, ids=[c.__name__ for c in BAD])
def test_bad_panel_stops_with_one_exact_line(case: Case, tmp_path: Path) -> None:
    path, kwargs, expected = case(tmp_path)
    with pytest.raises(PanelError) as info:
        read_panel(path, **kwargs)
    assert str(info.value) == expected
    assert "\n" not in str(info.value)


def test_broken_parquet_is_named(tmp_path: Path) -> None:
    p = tmp_path / "broken.parquet"
    p.write_bytes(b"PAR1" + bytes(range(200)) + b"PAR1")
    with pytest.raises(PanelError, match=rf"^{re.escape(str(p))}: cannot read as Parquet \(.+\)$"):
        read_panel(p)


def test_unknown_layout(tmp_path: Path) -> None:
    p = _write(tmp_path / "p.csv", _rows())
    with pytest.raises(PanelError, match=r": layout must be 'long' or 'wide', not 'tall'$"):
        read_panel(p, layout="tall")


def test_frame_errors_count_rows_like_a_csv() -> None:
    df = pd.DataFrame(_rows(), columns=HEADER)
    df.loc[4, "spend"] = "-3"
    with pytest.raises(PanelError) as info:
        panel_from_frame(df, source="world")
    assert str(info.value) == "world: row 6, column 'spend': -3 is negative; spend must be >= 0"


CLI_CASES = [c for c in BAD if c not in (too_short, wide_no_target, wide_names_on_long)]


@pytest.mark.skipif(importlib.util.find_spec("roiste.models.fit.channel") is None,
                    reason="roiste.models.fit.channel (used by `roiste fit`) is not written yet")
@pytest.mark.parametrize("case", CLI_CASES, ids=[c.__name__ for c in CLI_CASES])
def test_fit_command_exits_2_with_one_line(case: Case, tmp_path: Path) -> None:
    path, kwargs, expected = case(tmp_path)
    args = ["fit", str(path), "--out", str(tmp_path / "x.json"), "--quiet"]
    if kwargs.get("layout") == "wide":
        args += ["--layout", "wide", "--target", kwargs["target"],
                 "--spend", ",".join(kwargs["spend"]) or ","]
        if kwargs.get("controls"):
            args += ["--controls", ",".join(kwargs["controls"])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [f"error: {expected}"]
    assert not (tmp_path / "x.json").exists()


# --- good panels --------------------------------------------------------------------------


def test_long_panel_values_and_order(tmp_path: Path) -> None:
    p = _write(tmp_path / "p.csv", _rows(channels=("search", "social", "display")))
    panel = read_panel(p)
    assert panel.layout == "long" and panel.source == str(p)
    assert panel.sha256 == file_sha256(p)
    assert panel.channels == ["search", "social", "display"]
    assert panel.n_weeks == 30 and panel.weeks[0] == pd.Timestamp("2024-01-01")
    assert (np.diff(panel.weeks.asi8) == 7 * 86400 * 10**9).all()
    expected = np.array([[_spend(w, c) for c in range(3)] for w in range(30)])
    np.testing.assert_allclose(panel.spend.to_numpy(), expected)
    assert panel.revenue is not None
    np.testing.assert_allclose(panel.revenue.to_numpy(), 3 * expected)
    assert panel.extras == {} and panel.target is None and panel.controls is None


def test_rows_in_any_order_and_blank_lines(tmp_path: Path) -> None:
    rows = _rows()
    p = tmp_path / "p.csv"
    shuffled = [rows[i] for i in np.random.default_rng(0).permutation(len(rows))]
    p.write_text("\n".join(",".join(r) for r in [HEADER, *shuffled[:9], [], *shuffled[9:]]) + "\n\n")
    a, b = read_panel(p), read_panel(_write(tmp_path / "q.csv", rows))
    pd.testing.assert_frame_equal(a.spend[b.channels], b.spend)
    # a blank line still counts: the bad row after it keeps its line number
    lines = p.read_text().splitlines()
    lines[20] = lines[20].replace(lines[20].split(",")[2], "x", 1)
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(PanelError, match=r": row 21, column 'spend': 'x' is not a number$"):
        read_panel(p)


def test_extra_key_columns_and_optional_outcomes(tmp_path: Path) -> None:
    header = ["date", "channel", "market", "segment", "spend", "revenue", "orders", "likes"]
    rows = []
    for w in range(30):
        for i, (ch, market, seg) in enumerate([("search", "FR", "brand"), ("search", "DE", "brand"),
                                               ("social", "FR", "prospect")]):
            rows.append([_day(w), ch, market, seg, f"{_spend(w, i)}", f"{2 * _spend(w, i)}",
                         str(w + i), str(99 * w)])
    p = _write(tmp_path / "p.csv", rows, header)
    with pytest.warns(PanelWarning, match=r"column\(s\) 'likes' are empty or numeric"):
        panel = read_panel(p)
    assert panel.channels == ["search|FR|brand", "search|DE|brand", "social|FR|prospect"]
    assert set(panel.extras) == {"orders"}
    np.testing.assert_array_equal(panel.extras["orders"]["search|DE|brand"], np.arange(30) + 1)
    np.testing.assert_allclose(panel.spend["social|FR|prospect"], [_spend(w, 2) for w in range(30)])


def test_parquet_reads_like_csv(tmp_path: Path) -> None:
    rows = _rows()
    csv_panel = read_panel(_write(tmp_path / "p.csv", rows))
    df = pd.DataFrame(rows, columns=HEADER)
    df["date"] = pd.to_datetime(df["date"])
    df[["spend", "revenue"]] = df[["spend", "revenue"]].astype(float)
    path = tmp_path / "p.parquet"
    df.to_parquet(path)
    panel = read_panel(path)
    assert panel.sha256 == file_sha256(path)
    pd.testing.assert_frame_equal(panel.spend, csv_panel.spend)
    assert panel.revenue is not None and csv_panel.revenue is not None
    pd.testing.assert_frame_equal(panel.revenue, csv_panel.revenue)
    # the same frame in memory gives the same panel
    pd.testing.assert_frame_equal(panel_from_frame(df).spend, panel.spend)


def test_semicolon_csv(tmp_path: Path) -> None:
    p = tmp_path / "p.csv"
    p.write_text("\n".join(";".join(r) for r in [HEADER, *_rows()]) + "\n")
    assert read_panel(p).channels == ["search", "social"]


def test_late_channel_is_filled_with_zero_and_warned(tmp_path: Path) -> None:
    rows = _rows() + [[_day(w), "tiktok", "40", "90"] for w in range(6, 30)]
    p = _write(tmp_path / "p.csv", rows)
    with pytest.warns(PanelWarning) as record:
        panel = read_panel(p)
    assert [str(w.message) for w in record] == [
        f"{p}: 1 channel(s) start after 2024-01-01 ('tiktok' from {_day(6)}); "
        "their earlier weeks count as zero spend and revenue"]
    assert panel.channels[-1] == "tiktok"
    assert panel.revenue is not None
    assert (panel.spend["tiktok"].iloc[:6] == 0).all() and (panel.revenue["tiktok"].iloc[:6] == 0).all()
    assert (panel.spend["tiktok"].iloc[6:] == 40).all()


def test_wide_panel_with_text_control(tmp_path: Path) -> None:
    rows = _wide_rows()
    rows = rows[15:] + rows[:15]  # any row order
    p = _write(tmp_path / "w.csv", rows, WIDE_HEADER)
    panel = read_panel(p, **WIDE, controls=["events"])
    assert panel.layout == "wide" and panel.channels == ["tv_S", "search_S"]
    assert panel.revenue is None and panel.target is not None and panel.controls is not None
    np.testing.assert_allclose(panel.target, [5000 + 37 * w for w in range(30)])
    np.testing.assert_allclose(panel.spend["search_S"], [_spend(w, 1) for w in range(30)])
    assert list(panel.controls.columns) == ["events=launch", "events=sale"]
    assert panel.controls["events=sale"].to_numpy().nonzero()[0].tolist() == [4]
    assert panel.controls["events=launch"].to_numpy().nonzero()[0].tolist() == [9]


def _raw_columns(path: Path) -> dict[str, list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {k: [r[k] for r in rows] for k in rows[0]}


@pytest.mark.public_data
def test_robyn_weekly_file(public_dataset: Callable[[str], Path]) -> None:
    path = public_dataset("robyn_dt_simulated_weekly.csv")
    spend = ["tv_S", "ooh_S", "print_S", "facebook_S", "search_S"]
    panel = read_panel(path, layout="wide", target="revenue", spend=spend,
                       controls=["competitor_sales_B", "events"])
    raw = _raw_columns(path)
    assert panel.n_weeks == 208
    assert (panel.weeks[0], panel.weeks[-1]) == (pd.Timestamp("2015-11-23"), pd.Timestamp("2019-11-11"))
    assert panel.controls is not None and panel.target is not None
    assert list(panel.controls.columns) == ["competitor_sales_B", "events=event1", "events=event2"]
    for level in ("event1", "event2"):
        weeks = [pd.Timestamp(d) for d, e in zip(raw["DATE"], raw["events"], strict=True) if e == level]
        assert panel.controls.index[panel.controls[f"events={level}"] == 1].tolist() == weeks
    np.testing.assert_allclose(panel.spend["facebook_S"], [float(v) for v in raw["facebook_S"]])
    np.testing.assert_allclose(panel.target, [float(v) for v in raw["revenue"]])
    assert panel.recent_spend(4)["tv_S"] == pytest.approx(np.mean([float(v) for v in raw["tv_S"][-4:]]))


@pytest.mark.public_data
def test_pymc_and_mmm_stan_files(public_dataset: Callable[[str], Path]) -> None:
    path = public_dataset("pymc_mmm_example.csv")
    panel = read_panel(path, layout="wide", target="y", spend=["x1", "x2"],
                       controls=["event_1", "event_2", "t"], require_variation=True)
    raw = _raw_columns(path)
    assert panel.n_weeks == 179 and panel.weeks[0] == pd.Timestamp("2018-04-02")
    assert panel.controls is not None and list(panel.controls.columns) == ["event_1", "event_2", "t"]
    np.testing.assert_allclose(panel.spend["x1"], [float(v) for v in raw["x1"]])
    stan = public_dataset("mmm_stan.csv")
    mdsp = [c for c in _raw_columns(stan) if c.startswith("mdsp_")]
    panel = read_panel(stan, layout="wide", target="sales", spend=mdsp)
    assert panel.n_weeks == 209 and panel.weeks[0] == pd.Timestamp("2014-08-03")  # wk_strt_dt


def test_recent_spend_head_tail_slice(tmp_path: Path) -> None:
    panel = read_panel(_write(tmp_path / "p.csv", _rows()))
    expected = [np.mean([_spend(w, c) for w in range(22, 30)]) for c in range(2)]
    np.testing.assert_allclose(panel.recent_spend(8).to_numpy(), expected)
    assert panel.recent_spend(8).index.tolist() == ["search", "social"]
    head, tail = panel.head(26), panel.tail(4)
    assert isinstance(head, Panel) and head.n_weeks == 26 and tail.n_weeks == 4
    assert head.weeks[-1] + pd.Timedelta(weeks=1) == tail.weeks[0]
    assert tail.revenue is not None and tail.revenue.index.equals(tail.weeks)
    by_date = panel.slice("2024-02-01", _day(10))  # first week start on/after Feb 1 is week 5
    assert by_date.weeks[0] == pd.Timestamp(_day(5)) and by_date.n_weeks == 5
    pd.testing.assert_frame_equal(panel.slice(5, 10).spend, by_date.spend)
    assert panel.slice(-3).n_weeks == 3 and panel.slice(stop=-3).n_weeks == 27
    assert panel.sha256 == tail.sha256 and panel.source == tail.source
    with pytest.raises(PanelError, match=r"asked for 31 weeks, but the panel has 30 "):
        panel.recent_spend(31)
    with pytest.raises(PanelError, match=r"no weeks in the requested range$"):
        panel.slice("2030-01-01")


def test_min_weeks_is_adjustable(tmp_path: Path) -> None:
    p = _write(tmp_path / "p.csv", _rows(n_weeks=8))
    assert read_panel(p, min_weeks=8).n_weeks == 8


@pytest.mark.parametrize("variant", ["categorical", "arrow_strings", "date_index", "time_zone", "date_objects"])
def test_parquet_column_types(variant: str, tmp_path: Path) -> None:
    weeks = pd.date_range("2024-01-01", periods=26, freq="7D")
    df = pd.DataFrame({"date": np.repeat(weeks, 2), "channel": ["a", "b"] * 26,
                       "market": pd.Categorical(["FR", "DE"] * 26),
                       "spend": np.arange(52.0), "revenue": np.arange(52.0) * 2})
    frame = {
        "categorical": df,
        "arrow_strings": df.astype({"channel": "string[pyarrow]", "market": "string[pyarrow]"}),
        "date_index": df.set_index("date"),
        "time_zone": df.assign(date=df["date"].dt.tz_localize("Europe/Paris")),  # 23:00 UTC the day before
        "date_objects": df.assign(date=df["date"].dt.date),
    }[variant]
    frame.to_parquet(tmp_path / "p.parquet")
    panel = read_panel(tmp_path / "p.parquet")
    assert panel.channels == ["a|FR", "b|DE"]
    assert panel.weeks.equals(pd.DatetimeIndex(weeks, name="week"))
    np.testing.assert_array_equal(panel.spend["b|DE"], np.arange(1.0, 52.0, 2))


def test_corrupted_bytes_give_a_panel_or_one_line(tmp_path: Path) -> None:
    """Random byte edits of a good file: either it still reads, or one PanelError line."""
    base = (_write(tmp_path / "good.csv", _rows())).read_bytes()
    rng = np.random.default_rng(7)
    alphabet = b'",;\n\r \t-.0123456789eEabcxNn|\xe9\x00'
    outcomes = {"read": 0, "error": 0}
    for t in range(300):
        b = bytearray(base)
        for _ in range(int(rng.integers(1, 6))):
            i = int(rng.integers(len(b)))
            op = rng.random()
            if op < 0.5:
                b[i] = alphabet[int(rng.integers(len(alphabet)))]
            elif op < 0.75:
                del b[i:i + int(rng.integers(1, 30))]
            else:
                j = int(rng.integers(len(b)))
                b[i:i] = b[j:j + int(rng.integers(1, 40))]
        p = tmp_path / f"f{t}.csv"
        p.write_bytes(bytes(b))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PanelWarning)
                read_panel(p, min_weeks=3, require_variation=bool(t % 2))
            outcomes["read"] += 1
        except PanelError as exc:
            msg = str(exc)
            assert msg.startswith(f"{p}: ") and "\n" not in msg and "\r" not in msg
            outcomes["error"] += 1
    assert outcomes["read"] >= 5 and outcomes["error"] >= 200
