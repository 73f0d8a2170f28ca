"""Read and check the inputs of attribution: touchpoints, conversions and spend.

* touchpoints: ``customer_id, timestamp, channel`` (+ optional ``campaign, cost``)
* conversions: ``order_id, customer_id, timestamp, revenue`` (+ optional ``new_customer``)
* spend: ``date`` (or ``week``), ``channel``, ``spend``

CSV (comma, UTF-8) or Parquet (recognised by its first bytes).  Files are read by pyarrow
into columnar arrays: ten million touchpoints take a few seconds and about 0.5 GB.  Every
problem raises :class:`~models.errors.AttributionError` with one line naming the file, the row
(the header is row 1) and the column.  Identifiers are text (``"007"`` is not ``7``).
Timestamps are ISO 8601; those with a zone are converted to UTC, those without are kept as
they are.  An empty ``cost`` counts as 0.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as _compute
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import yaml

from roiste.models.errors import AttributionError
from roiste.models.io import input_problem, read_input_bytes, require_input
from roiste.models.yamlsafe import MAX_YAML_BYTES, parse_yaml, yaml_problem

__all__ = ["Inputs", "inputs_from_frames", "read_channel_map", "read_inputs", "read_spend", "read_table"]

TOUCH_COLUMNS = ("customer_id", "timestamp", "channel")
CONVERSION_COLUMNS = ("order_id", "customer_id", "timestamp", "revenue")
_TEXT = ("customer_id", "order_id", "channel", "campaign", "timestamp", "date", "week")
pc: Any = _compute  # functions generated at import time: unknown to type checkers
_TRUE = {"1", "true", "t", "yes", "y", "new"}
_FALSE = {"0", "false", "f", "no", "n", "existing", "returning"}


@dataclass
class Inputs:
    """Touchpoints and conversions as integer-coded arrays, ready for the rules.

    Customers are coded over both files (``customer_names[code]``, in order of appearance),
    channels over the touchpoints (``channel_names[code]``, sorted).  Timestamps are int64 nanoseconds.
    Conversion revenue is held in whole cents.
    """

    t_cust: np.ndarray
    t_ts: np.ndarray
    t_ch: np.ndarray
    t_cost: np.ndarray | None
    channel_names: list[str]
    c_cust: np.ndarray
    c_ts: np.ndarray
    c_cents: np.ndarray
    c_new: np.ndarray | None
    order_ids: pa.ChunkedArray
    customer_names: pa.Array


def _row(i: int) -> int:
    return int(i) + 2


def read_table(path: str | os.PathLike[str], what: str) -> pa.Table:
    """A CSV or Parquet file as an arrow table (identifier and time columns kept as text)."""
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise AttributionError(f"{src}: {what} file not found")
    if path.is_dir():
        raise AttributionError(f"{src}: is a directory, not a {what} file")
    problem = input_problem(path)  # a FIFO or a device would block the reader or never end
    if problem:
        raise AttributionError(f"{src}: {problem}")
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if not head.strip():
        raise AttributionError(f"{src}: {what} file is empty")
    try:
        if head[:4] == b"PAR1":
            table = pq.read_table(path)
        elif b"\x00" in head:
            raise AttributionError(f"{src}: not a CSV or Parquet file (binary content)")
        else:
            first = head.decode("utf-8-sig", errors="replace").splitlines()[0]
            names = [n.strip() for n in next(csv.reader([first]))]
            for i, n in enumerate(names):
                if n in names[:i]:
                    raise AttributionError(f"{src}: row 1: column '{n}' appears twice")
            types = {n: pa.string() for n in names if n in _TEXT}
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
            )
    except AttributionError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AttributionError(f"{src}: cannot read the {what} file ({line})") from None
    if table.num_rows == 0:
        raise AttributionError(f"{src}: no data rows below the header")
    return table


def _require(table: pa.Table, cols: tuple[str, ...], src: str) -> None:
    for c in cols:
        if c not in table.column_names:
            have = ", ".join(table.column_names)
            raise AttributionError(f"{src}: column '{c}' is missing (columns: {have})")


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _text(table: pa.Table, col: str, src: str) -> pa.ChunkedArray:
    arr = table.column(col)
    if pa.types.is_floating(arr.type):
        vals = arr.to_numpy(zero_copy_only=False)
        bad = ~np.isfinite(vals) | (vals != np.round(vals))
        if bad.any():
            i = _first_bad(bad)
            raise AttributionError(f"{src}: row {_row(i)}, column '{col}': '{vals[i]}' is not an identifier")
        arr = pc.cast(arr, pa.int64())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = pc.cast(arr, pa.string())
    stripped = pc.utf8_trim_whitespace(arr)
    empty = pc.fill_null(pc.equal(stripped, ""), True).to_numpy(zero_copy_only=False)
    if empty.any():
        raise AttributionError(f"{src}: row {_row(_first_bad(empty))}, column '{col}': empty")
    return stripped


def _timestamps(table: pa.Table, col: str, src: str) -> np.ndarray:
    arr = table.column(col)
    if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
        arr = pc.cast(arr, pa.timestamp("ns", tz="UTC")).cast(pa.timestamp("ns"))
    elif pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("ns"))
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        try:
            arr = pc.cast(pc.utf8_trim_whitespace(arr), pa.timestamp("ns"))
        except pa.ArrowInvalid:
            text = arr.to_pandas()
            parsed = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
            bad = (parsed.isna() & text.notna()).to_numpy()
            if bad.any():
                i = _first_bad(bad)
                raise AttributionError(f"{src}: row {_row(i)}, column '{col}': "
                                       f"'{text.iloc[i]}' is not an ISO 8601 timestamp") from None
            arr = pa.chunked_array([pa.array(parsed.dt.tz_localize(None), pa.timestamp("ns"))])
    else:
        raise AttributionError(f"{src}: column '{col}' holds {arr.type}, not timestamps "
                               "(write them as ISO 8601 text, e.g. 2024-03-01T14:05:00)")
    missing = arr.is_null().to_numpy(zero_copy_only=False)
    if missing.any():
        raise AttributionError(f"{src}: row {_row(_first_bad(missing))}, column '{col}': empty")
    return arr.cast(pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)


def _numbers(table: pa.Table, col: str, src: str, *, null_as_zero: bool = False) -> np.ndarray:
    arr = table.column(col)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        text = arr.to_pandas()
        vals = pd.to_numeric(text.str.strip(), errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(vals) & text.notna().to_numpy() & (text.str.strip() != "").to_numpy()
        if bad.any():
            i = _first_bad(bad)
            raise AttributionError(f"{src}: row {_row(i)}, column '{col}': '{text.iloc[i]}' is not a number")
    elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_null(arr.type):
        vals = pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False).astype(float)
    else:
        raise AttributionError(f"{src}: column '{col}' holds {arr.type}, not numbers")
    missing = np.isnan(vals)
    if missing.any():
        if not null_as_zero:
            raise AttributionError(f"{src}: row {_row(_first_bad(missing))}, column '{col}': empty")
        vals = np.where(missing, 0.0, vals)
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        i = _first_bad(bad)
        raise AttributionError(f"{src}: row {_row(i)}, column '{col}': {vals[i]:g} is not a number >= 0")
    return vals


def _flags(table: pa.Table, col: str, src: str) -> np.ndarray:
    arr = table.column(col)
    if pa.types.is_boolean(arr.type):
        out = arr.to_numpy(zero_copy_only=False)
        if arr.null_count:
            i = _first_bad(arr.is_null().to_numpy(zero_copy_only=False))
            raise AttributionError(f"{src}: row {_row(i)}, column '{col}': empty")
        return out.astype(bool)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))).to_pandas()
    yes, no = text.isin(list(_TRUE)).to_numpy(), text.isin(list(_FALSE)).to_numpy()
    bad = ~(yes | no)
    if bad.any():
        i = _first_bad(bad)
        raise AttributionError(f"{src}: row {_row(i)}, column '{col}': '{text.iloc[i]}' is not "
                               "true/false (1/0, yes/no, new/existing)")
    return yes


def _codes(arr: pa.ChunkedArray, *, sort: bool = True) -> tuple[np.ndarray, pa.Array]:
    """Dense integer codes of the values, and the values; in sorted order when ``sort``."""
    enc = arr.combine_chunks().dictionary_encode()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    if not sort:
        return codes, enc.dictionary
    order = pc.array_sort_indices(enc.dictionary).to_numpy().astype(np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], enc.dictionary.take(pa.array(order))


def _from_tables(tp: pa.Table, cv: pa.Table, tsrc: str, csrc: str) -> Inputs:
    _require(tp, TOUCH_COLUMNS, tsrc)
    _require(cv, CONVERSION_COLUMNS, csrc)
    t_cust_s = _text(tp, "customer_id", tsrc)
    t_ts = _timestamps(tp, "timestamp", tsrc)
    t_ch, channels = _codes(_text(tp, "channel", tsrc))
    t_cost = _numbers(tp, "cost", tsrc, null_as_zero=True) if "cost" in tp.column_names else None
    order_ids = _text(cv, "order_id", csrc)
    c_cust_s = _text(cv, "customer_id", csrc)
    c_ts = _timestamps(cv, "timestamp", csrc)
    revenue = _numbers(cv, "revenue", csrc)
    c_new = _flags(cv, "new_customer", csrc) if "new_customer" in cv.column_names else None
    oid, oid_names = _codes(order_ids, sort=False)
    if len(oid_names) < len(oid):
        order = np.lexsort((np.arange(len(oid)), oid))
        dup = np.flatnonzero(oid[order][1:] == oid[order][:-1])
        # the first repeat in file order, and the row it repeats
        k = dup[np.argmin(order[dup + 1])]
        i, j = int(order[k]), int(order[k + 1])
        raise AttributionError(f"{csrc}: rows {_row(i)} and {_row(j)} both hold order_id "
                               f"'{oid_names[oid[j]].as_py()}'")
    both = pa.chunked_array(t_cust_s.chunks + c_cust_s.chunks, type=pa.string())
    cust, customer_names = _codes(both, sort=False)
    n_t = len(t_ts)
    return Inputs(
        t_cust=cust[:n_t], t_ts=t_ts, t_ch=t_ch, t_cost=t_cost, channel_names=channels.to_pylist(),
        c_cust=cust[n_t:], c_ts=c_ts, c_cents=np.round(revenue * 100.0).astype(np.int64),
        c_new=c_new, order_ids=order_ids, customer_names=customer_names,
    )


def read_inputs(touchpoints: str | os.PathLike[str], conversions: str | os.PathLike[str]) -> Inputs:
    """Read and check a touchpoints file and a conversions file (CSV or Parquet).

    Raises
    ------
    AttributionError
        One line naming the file, the row and the column at fault.
    """
    tp = read_table(touchpoints, "touchpoints")
    cv = read_table(conversions, "conversions")
    return _from_tables(tp, cv, str(touchpoints), str(conversions))


def inputs_from_frames(touchpoints: pd.DataFrame, conversions: pd.DataFrame) -> Inputs:
    """Check two DataFrames as if they were the files (rows counted as in a CSV file)."""
    tp = _frame_table(touchpoints)
    cv = _frame_table(conversions)
    if cv.num_rows == 0:
        raise AttributionError("<conversions>: no data rows")
    return _from_tables(tp, cv, "<touchpoints>", "<conversions>")


def _frame_table(frame: pd.DataFrame) -> pa.Table:
    frame = frame.reset_index(drop=True)
    for c in ("customer_id", "order_id", "channel", "campaign"):
        if c in frame.columns and frame[c].dtype == object:
            frame[c] = frame[c].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    empty = {c: pa.string() for c in frame.columns if len(frame) == 0}
    schema = pa.schema([(c, empty[c]) for c in frame.columns]) if empty else None
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def read_spend(path: str | os.PathLike[str], channel_map: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Spend per week and channel: ``week`` (its Monday), ``channel`` (mapped), ``spend`` (summed)."""
    src = str(path)
    table = read_table(path, "spend")
    date_col = "date" if "date" in table.column_names else "week"
    _require(table, (date_col, "channel", "spend"), src)
    ts = _timestamps(table, date_col, src)
    channel = _text(table, "channel", src).to_numpy(zero_copy_only=False)
    spend = _numbers(table, "spend", src)
    cmap = dict(channel_map or {})
    days = np.floor_divide(ts, 86_400 * 10**9)
    monday = days - (days + 3) % 7
    frame = pd.DataFrame({
        "week": pd.to_datetime(monday, unit="D"),
        "channel": [cmap.get(c, c) for c in channel],
        "spend": spend,
    })
    return frame.groupby(["week", "channel"], sort=True)["spend"].sum().reset_index()


def read_channel_map(path: str | os.PathLike[str]) -> dict[str, str]:
    """A channel grouping from a YAML or JSON file: ``{raw channel: channel credited}``.

    Read as scenario files are: a regular file of at most
    :data:`models.yamlsafe.MAX_YAML_BYTES`, plain YAML with alias expansion bounded and keys
    written twice refused (:func:`models.yamlsafe.parse_yaml`).

    Raises
    ------
    AttributionError
        One line naming the file (and the line and column of a YAML problem).
    """
    src = str(path)
    require_input(path, src, AttributionError, "channel map file not found")
    try:
        raw = read_input_bytes(path, MAX_YAML_BYTES)
        if raw is None:
            raise AttributionError(f"{src}: larger than {MAX_YAML_BYTES // 1024} KiB; a channel "
                                   "map is a page of 'raw channel: channel' lines")
        data = parse_yaml(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise AttributionError(f"{src}: not a UTF-8 text file") from None
    except OSError as exc:
        raise AttributionError(f"{src}: cannot read the channel map ({exc.strerror or exc})") from None
    except yaml.MarkedYAMLError as exc:
        raise AttributionError(f"{src}: {yaml_problem(exc, 'channel maps')}") from None
    except yaml.YAMLError as exc:
        raise AttributionError(f"{src}: YAML error: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise AttributionError(f"{src}: a channel map is a mapping 'raw channel: channel'")
    for k, v in data.items():
        if not isinstance(v, str | int) or not str(v).strip():
            raise AttributionError(f"{src}: key '{k}': map it to a channel name")
    return {str(k): str(v).strip() for k, v in data.items()}
