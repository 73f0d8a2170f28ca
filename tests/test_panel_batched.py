"""Long panels read in record batches: the same Panel, warnings and error lines as a whole read.

The oracle for the values is a pandas pivot of the generated rows (not the reader); the oracle
for the messages is the whole-file reader, and each bad file is also checked to name the row
and column where the fault was planted.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import roiste.models.panel as panel_module
from roiste.models.errors import PanelError
from roiste.models.io import file_sha256
from roiste.models.panel import Panel, PanelWarning, read_panel

N_WEEKS, CAMPAIGNS, MARKETS = 30, 7, ("FR", "DE", "ES")
BATCH = 23  # rows per batch: many batches, cut in the middle of weeks


def _frame(seed: int = 3) -> pd.DataFrame:
    """Week-major long rows: campaigns x markets channels, one starting late, with a numeric
    column outside the contract (ignored) and an optional outcome (orders)."""
    rng = np.random.default_rng(seed)
    rows = []
    for w in range(N_WEEKS):
        for c in range(CAMPAIGNS):
            for m in MARKETS:
                if c == 6 and m == "ES" and w < 4:
                    continue  # starts in week 4
                spend = round(float(rng.gamma(2.0, 60.0)), 2)
                rows.append({"date": (pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=w)).strftime("%Y-%m-%d"),
                             "channel": f"camp {c}", "market": m, "spend": spend,
                             "revenue": round(spend * float(rng.uniform(1, 4)), 2),
                             "orders": int(rng.integers(0, 50)), "score": float(rng.normal())})
    return pd.DataFrame(rows)


def _write(df: pd.DataFrame, folder: Path, name: str) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    csv, pq = folder / f"{name}.csv", folder / f"{name}.parquet"
    df.to_csv(csv, index=False)
    df.to_parquet(pq, index=False)
    return csv, pq


def _read(path: Path, chunked: bool) -> tuple[Panel, list[str]]:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        panel = read_panel(path, chunked=chunked, batch_rows=BATCH)
    return panel, [str(w.message) for w in seen if issubclass(w.category, PanelWarning)]


def _error(path: Path, chunked: bool) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(PanelError) as info:
            read_panel(path, chunked=chunked, batch_rows=BATCH)
    return str(info.value)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path, Path]:
    df = _frame()
    csv, pq = _write(df, tmp_path_factory.mktemp("batched"), "panel")
    return df, csv, pq


def _same(a: Panel, b: Panel) -> None:
    assert a.channels == b.channels
    assert a.weeks.equals(b.weeks)
    assert a.spend.equals(b.spend) and a.revenue is not None and b.revenue is not None
    assert a.revenue.equals(b.revenue)
    assert list(a.extras) == list(b.extras)
    assert all(a.extras[k].equals(b.extras[k]) for k in a.extras)


def test_batched_reads_equal_whole_reads_and_the_pivot(files: tuple[pd.DataFrame, Path, Path],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    df, csv, pq = files
    whole = {p: _read(p, chunked=False) for p in (csv, pq)}

    def refuse(*_: Any) -> Any:
        raise AssertionError("the whole-file reader ran on a good file read in batches")

    monkeypatch.setattr(panel_module, "_read_file", refuse)
    batched = {p: _read(p, chunked=True) for p in (csv, pq)}
    key = df["channel"] + "|" + df["market"]
    for name in ("spend", "revenue", "orders"):  # the oracle: pandas' own pivot
        pivot = (df.assign(key=key).pivot(index="date", columns="key", values=name)
                 .reindex(columns=pd.unique(key)).fillna(0.0).astype(float))
        for panel, _ in (*whole.values(), *batched.values()):
            table = panel.spend if name == "spend" else panel.revenue if name == "revenue" else panel.extras[name]
            assert table is not None
            np.testing.assert_array_equal(table.to_numpy(), pivot.to_numpy())
            assert list(table.columns) == list(pivot.columns)
    for p in (csv, pq):
        (a, warn_a), (b, warn_b) = whole[p], batched[p]
        _same(a, b)
        assert (a.source, a.sha256) == (b.source, b.sha256) == (str(p), file_sha256(p))
        assert warn_a == warn_b and len(warn_b) == 2  # 'score' ignored; one channel starts late
        assert "'score'" in warn_b[0] and "'camp 6|ES' from 2024-01-29" in warn_b[1]
    _same(batched[csv][0], batched[pq][0])
    assert batched[csv][0].weeks[0] == pd.Timestamp("2024-01-01")
    assert len(batched[csv][0].channels) == CAMPAIGNS * len(MARKETS)


def _set(row: int, col: str, value: Any) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({col: str if isinstance(value, str) else object})  # one type per column
        df.loc[row, col] = value
        return df
    return change


def _drop(row: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.drop(index=row).reset_index(drop=True)


def _dup(row: int) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: pd.concat([df, df.iloc[[row]]], ignore_index=True)


# (fault, where it shows: the file row and the column, or a phrase) -- row i of the frame is
# file row i + 2; faults sit past the first batches so that a batch reader meets them late
BAD = {
    "text spend": (_set(300, "spend", "12,5x"), "row 302, column 'spend'"),
    "negative revenue": (_set(401, "revenue", -3.0), "row 403, column 'revenue'"),
    "bad date": (_set(250, "date", "2024-13-01"), "row 252, column 'date'"),
    "off-grid date": (_set(500, "date", "2024-03-27"), "row 502, column 'date'"),
    "empty channel": (_set(77, "channel", ""), "row 79, column 'channel'"),
    "duplicate row": (_dup(120), "both hold date"),
    "hole in a channel": (_drop(333), "has no row for week"),
    "empty market": (_set(180, "market", None), "row 182, column 'market'"),
}


@pytest.mark.parametrize("fault", sorted(BAD))
def test_bad_files_give_the_whole_readers_line(fault: str, tmp_path: Path) -> None:
    change, where = BAD[fault]
    df = change(_frame())
    csv, pq = _write(df, tmp_path, "bad")
    for path in (csv, pq):
        line = _error(path, chunked=False)
        assert _error(path, chunked=True) == line
        assert line.startswith(f"{path}: ") and where in line, line


def test_a_text_column_of_numbers_is_ignored_as_by_the_whole_reader(tmp_path: Path) -> None:
    df = _frame().assign(note=lambda d: (d["orders"] * 3).astype(str))  # text, numbers only
    csv, pq = _write(df, tmp_path, "note")
    for path in (csv, pq):
        (a, wa), (b, wb) = _read(path, chunked=False), _read(path, chunked=True)
        _same(a, b)
        assert wa == wb and "'note'" in wb[0]
        assert len(b.channels) == CAMPAIGNS * len(MARKETS)  # 'note' is not part of the key


def test_parquet_timestamps_and_date_column_option(tmp_path: Path) -> None:
    df = _frame().rename(columns={"date": "week_start"})
    df["week_start"] = pd.to_datetime(df["week_start"])
    path = tmp_path / "ts.parquet"
    df.to_parquet(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = read_panel(path, chunked=False, date_column="week_start")
        b = read_panel(path, chunked=True, batch_rows=BATCH, date_column="week_start")
    _same(a, b)
    assert b.n_weeks == N_WEEKS


def test_the_size_threshold_picks_the_batched_path_by_itself(
        files: tuple[pd.DataFrame, Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # Left to choose (chunked=None), a file at or above CHUNKED_BYTES is read in batches and a
    # smaller one whole: each path is proven by making the other one fail.
    _, csv, _ = files
    size = csv.stat().st_size
    whole = read_panel(csv, chunked=False)

    def refuse(*_: Any) -> Any:
        raise AssertionError("the whole-file reader ran on a file at the size threshold")

    with monkeypatch.context() as m:
        m.setattr(panel_module, "CHUNKED_BYTES", size)
        m.setattr(panel_module, "_read_file", refuse)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same(read_panel(csv, batch_rows=BATCH), whole)
    with monkeypatch.context() as m:
        m.setattr(panel_module, "CHUNKED_BYTES", size + 1)

        def no_batches(*_: Any, **__: Any) -> Any:
            raise AssertionError("a file below the threshold was read in batches")

        m.setattr(panel_module, "_read_batched", no_batches)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _same(read_panel(csv, batch_rows=BATCH), whole)
