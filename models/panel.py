"""The weekly panel: read a CSV or Parquet file, check it against the data contract, hold it.

Two layouts (DESIGN.md, "The weekly panel"):

* **long**: one row per (date, channel) with ``date, channel, spend, revenue`` and optionally
  ``visitors, orders, new_customers, new_customer_revenue, returns, clicks, impressions,
  returned_orders``.
  Extra text columns (market, segment, ...) become part of the channel key
  ``"channel|market|segment"``.
* **wide** (marketing-mix): one row per week; the caller names the ``target`` column, the
  ``spend`` columns (one channel each, named by its column) and optional ``controls``.

Both layouts take ``controls``: columns of known events or conditions (promotions, holidays,
prices).  A column of numbers is used as it is; a text column becomes one 0/1 indicator per
level, named ``column=level`` (an empty cell is no event).  In the long layout a control is
read per row (date x channel) and is never part of the channel key.

Every problem raises :class:`~models.errors.PanelError` with one line naming the file, the row
and the column.  Rows are counted as a spreadsheet shows them: the header is row 1, so row
``n`` of a CSV file is its line ``n`` (quoted fields that span lines shift the count).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

from roiste.models.errors import PanelError
from roiste.models.io import file_sha256, input_problem

__all__ = ["BATCH_ROWS", "CHUNKED_BYTES", "OPTIONAL", "REQUIRED", "Panel", "PanelWarning",
           "panel_from_frame", "read_panel"]

REQUIRED = ("date", "channel", "spend", "revenue")
OPTIONAL = ("visitors", "orders", "new_customers", "new_customer_revenue", "returns", "clicks",
            "impressions", "returned_orders")
NA_TOKENS = frozenset({"", "na", "n/a", "nan", "none", "null", "<na>", "nat"})
_DATE_NAME = re.compile(r"date|week|(?:^|[^a-z])(?:wk|dt|day)(?:[^a-z]|$)")
_SPEND_NAME = re.compile(r"^(?:spend|cost|mdsp)_|_(?:spend|cost|s)$", re.IGNORECASE)
_Rows = slice  # the builtin, before Panel.slice shadows it in the class body
#: A long panel file of at least this many bytes is read in record batches (``chunked=None``).
CHUNKED_BYTES = 64 * 2**20
#: Rows per record batch when a long panel is read in batches.
BATCH_ROWS = 1 << 20


class PanelWarning(UserWarning):
    """A panel that reads, but with a choice the user should know about."""


@dataclass(frozen=True, eq=False)
class Panel:
    """A validated weekly panel: weeks x channels, with no gaps and weekly spacing.

    Attributes
    ----------
    layout : str
        ``"long"`` or ``"wide"``.
    source : str
        The path as given (``"<frame>"`` for in-memory data).
    sha256 : str
        Hex SHA-256 of the file's bytes (of the frame's contents for in-memory data).
    weeks : pandas.DatetimeIndex
        Sorted week starts, 7 days apart.
    channels : list of str
        Channel keys: order of first appearance (long) or of the spend columns (wide).
    spend : pandas.DataFrame
        Weekly spend, weeks x channels, float, >= 0.
    revenue : pandas.DataFrame or None
        Long layout: weekly revenue per channel.  Wide layout: None.
    extras : dict of str to pandas.DataFrame
        Long layout: the optional outcome columns present (visitors, orders, ...).
    target : pandas.Series or None
        Wide layout: the target per week.
    controls : pandas.DataFrame or None
        Numeric controls, text controls turned into ``name=level`` indicators.  Wide layout:
        weeks x controls.  Long layout: weeks x (control, channel) (a two-level column index),
        0 in the weeks before a channel's first row; :meth:`channel_controls` gives one
        channel's.
    """

    layout: str
    source: str
    sha256: str
    weeks: pd.DatetimeIndex
    channels: list[str]
    spend: pd.DataFrame
    revenue: pd.DataFrame | None = None
    extras: dict[str, pd.DataFrame] = field(default_factory=dict)
    target: pd.Series | None = None
    controls: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if not self.spend.index.equals(self.weeks) or list(self.spend.columns) != self.channels:
            raise ValueError("Panel.spend must be indexed by weeks and hold one column per channel")

    @property
    def n_weeks(self) -> int:
        """Number of weeks in the panel."""
        return len(self.weeks)

    def channel_controls(self, channel: str) -> pd.DataFrame | None:
        """The controls of one channel, weeks x control names (None without controls).

        Long layout: the channel's own values; wide layout: the controls every channel shares.
        """
        if self.controls is None or self.controls.shape[1] == 0:
            return None
        if self.layout != "long":
            return self.controls
        out = pd.DataFrame(self.controls.xs(channel, axis=1, level="channel"))
        return out.set_axis(pd.Index(list(out.columns), name="control"), axis=1)

    def recent_spend(self, n_weeks: int) -> pd.Series:
        """Mean weekly spend per channel over the last ``n_weeks`` weeks."""
        return self.tail(n_weeks).spend.mean(axis=0).rename("recent_spend")

    def head(self, n_weeks: int) -> Panel:
        """The same panel restricted to its first ``n_weeks`` weeks."""
        self._check_count(n_weeks)
        return self._take(slice(0, n_weeks))

    def tail(self, n_weeks: int) -> Panel:
        """The same panel restricted to its last ``n_weeks`` weeks."""
        self._check_count(n_weeks)
        return self._take(slice(self.n_weeks - n_weeks, self.n_weeks))

    def slice(self, start: Any = None, stop: Any = None) -> Panel:
        """The same panel restricted to weeks ``start <= week < stop``.

        ``start`` and ``stop`` are positions (int, negative counts from the end, like Python
        slices) or dates (a week start on or after the date); None means open-ended.
        """
        return self._take(slice(self._position(start, 0), self._position(stop, self.n_weeks)))

    def _position(self, x: Any, default: int) -> int:
        if x is None:
            return default
        if isinstance(x, int | np.integer):
            return int(x)
        return int(self.weeks.searchsorted(pd.Timestamp(x)))

    def _check_count(self, n: int) -> None:
        if not 1 <= n <= self.n_weeks:
            raise PanelError(
                f"{self.source}: asked for {n} weeks, but the panel has {self.n_weeks} "
                f"({_day(self.weeks[0])} .. {_day(self.weeks[-1])})"
            )

    def _take(self, rows: _Rows) -> Panel:
        weeks = self.weeks[rows]
        if len(weeks) == 0:
            raise PanelError(f"{self.source}: no weeks in the requested range")
        return replace(
            self,
            weeks=weeks,
            spend=self.spend.iloc[rows],
            revenue=None if self.revenue is None else self.revenue.iloc[rows],
            extras={k: v.iloc[rows] for k, v in self.extras.items()},
            target=None if self.target is None else self.target.iloc[rows],
            controls=None if self.controls is None else self.controls.iloc[rows],
        )


def read_panel(
    path: str | os.PathLike[str],
    *,
    layout: str = "long",
    target: str | None = None,
    spend: Sequence[str] | None = None,
    controls: Sequence[str] | None = None,
    date_column: str | None = None,
    min_weeks: int = 26,
    require_variation: bool = False,
    chunked: bool | None = None,
    batch_rows: int = BATCH_ROWS,
) -> Panel:
    """Read and validate a weekly panel file (CSV or Parquet).

    Parameters
    ----------
    path : str or path-like
        The panel file; Parquet is recognised by its magic bytes, anything else is read as
        UTF-8 CSV (comma, semicolon or tab separated).
    layout : {"long", "wide"}, default "long"
        Long: one row per (date, channel).  Wide: one row per week.
    target : str, optional
        Wide layout: the target column (required there).
    spend : sequence of str, optional
        Wide layout: the spend columns, one per channel (required there).
    controls : sequence of str, optional
        Control columns (events, holidays, prices): numbers as they are, text columns become
        ``name=level`` indicators (an empty cell is no event).  Long layout: one value per
        row (date x channel), usually the same for every channel of a date.
    date_column : str, optional
        The date column; by default ``date``, or (wide) the first column named like a date
        (``DATE``, ``date_week``, ``wk_strt_dt``) whose first value is a date.
    min_weeks : int, default 26
        Fewest weeks of history accepted.
    require_variation : bool, default False
        Reject channels whose spend never changes (no curve can be identified from them).
    chunked : bool, optional
        Long layout: read the file in record batches of ``batch_rows`` rows, holding only the
        columns the panel needs, never the whole file as text.  By default a file of at least
        :data:`CHUNKED_BYTES` bytes is read so.  The panel is the one the whole-file reader
        builds; a file with any problem is handed to the whole-file reader, so the message is
        the same one.
    batch_rows : int, default :data:`BATCH_ROWS`
        Rows per batch when reading in batches (Parquet; CSV batches are cut by size).

    Returns
    -------
    Panel

    Raises
    ------
    PanelError
        One line naming the file, row and column at fault.
    """
    source = str(path)
    if layout == "long" and not (target or spend or controls) and _batched(Path(path), chunked):
        found = _read_batched(Path(path), source, date_column, max(1, batch_rows))
        if found is not None:
            panel, notes = found
            for note in notes:
                warnings.warn(note, PanelWarning, stacklevel=2)
            return _checked(panel, source, min_weeks, require_variation)
    frame, sha = _read_file(Path(path), source)
    return _build(frame, source, sha, layout, target, spend, controls, date_column,
                  min_weeks, require_variation)


def panel_from_frame(
    df: pd.DataFrame,
    *,
    source: str = "<frame>",
    layout: str = "long",
    target: str | None = None,
    spend: Sequence[str] | None = None,
    controls: Sequence[str] | None = None,
    date_column: str | None = None,
    min_weeks: int = 26,
    require_variation: bool = False,
) -> Panel:
    """Validate an in-memory DataFrame as :func:`read_panel` validates a file.

    Rows in messages are counted as if the frame were written to CSV (header is row 1).
    """
    frame = _tidy(df)
    h = hashlib.sha256("\x1f".join(frame.columns).encode("utf-8"))
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return _build(frame, source, h.hexdigest(), layout, target, spend, controls, date_column,
                  min_weeks, require_variation)


# --- reading files ------------------------------------------------------------------------


def _read_file(path: Path, src: str) -> tuple[pd.DataFrame, str]:
    if not path.exists():
        raise PanelError(f"{src}: file not found")
    if path.is_dir():
        raise PanelError(f"{src}: is a directory, not a panel file")
    problem = input_problem(path)  # a FIFO or a device would block or never end
    if problem:
        raise PanelError(f"{src}: {problem}")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if not data.strip():
        raise PanelError(f"{src}: file is empty")
    if data[:4] == b"PAR1":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several unrelated types on a broken file
            raise PanelError(f"{src}: cannot read as Parquet ({_first_line(exc)})") from None
        frame = _tidy(frame)
    elif path.suffix.lower() in (".parquet", ".pq"):
        raise PanelError(f"{src}: not a Parquet file (it does not start with PAR1)")
    elif b"\x00" in data[:65536]:
        raise PanelError(f"{src}: not a CSV or Parquet file (binary content)")
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise PanelError(
                f"{src}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                "save the file as UTF-8 CSV or Parquet"
            ) from None
        frame = _read_csv(text, src)
    if frame.empty:
        raise PanelError(f"{src}: no data rows below the header")
    return frame, sha


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Stripped string column names; an index becomes a column; rows numbered from 2."""
    frame = df if isinstance(df.index, pd.RangeIndex) else df.reset_index()
    frame = frame.set_axis([str(c).strip() for c in frame.columns], axis=1)
    return frame.set_axis(pd.RangeIndex(2, len(frame) + 2), axis=0)


def _read_csv(text: str, src: str) -> pd.DataFrame:
    # the header ends at the first line break of any kind (pandas' reader takes a lone CR
    # for one too)
    first = re.split(r"\r\n|\r|\n", text.lstrip("\r\n"), maxsplit=1)[0]
    sep = next((s for s in (",", ";", "\t") if s in first), ",")
    try:
        names = [h.strip() for h in next(csv.reader([first], delimiter=sep))]
    except csv.Error as exc:
        raise PanelError(f"{src}: row 1: cannot read the header ({exc})") from None
    for i, name in enumerate(names):
        if name in names[:i]:
            raise PanelError(f"{src}: row 1: column '{_show(name)}' appears twice "
                             f"(columns {names.index(name) + 1} and {i + 1})")
    # keys and dates stay text (channel "001" is not the number 1); numbers are parsed by C
    text_cols = {n for n in names if n.lower() in ("date", "channel") or _looks_like_date(n)}
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, header=0, names=names,
                            dtype=dict.fromkeys(text_cols, str), keep_default_na=False,
                            na_values=[""], skip_blank_lines=False, low_memory=False)
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        msg = _first_line(exc)
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise PanelError(f"{src}: row {m[2]}: {m[3]} fields, but the header has {m[1]}") from None
        m = re.search(r"EOF inside string starting at row (\d+)", msg)
        if m:
            raise PanelError(f"{src}: row {int(m[1]) + 1}: a quote opens a cell that never "
                             "closes") from None
        raise PanelError(f"{src}: not a readable CSV file ({msg})") from None
    frame.index = pd.RangeIndex(2, len(frame) + 2)
    if '"' in text:  # a quote left open swallows the lines after it into one cell
        for col in frame.select_dtypes(include="object").columns:
            multi = frame[col].str.contains("\n", regex=False, na=False).to_numpy()
            if multi.any():
                i = int(multi.argmax())
                reader = csv.reader(io.StringIO(text), delimiter=sep)
                start = 1
                for _ in range(i + 1):  # the header, then the records before the bad one
                    next(reader)
                    start = reader.line_num + 1
                lines = frame[col].iloc[i].count("\n") + 1
                raise _at(src, start, col, f"a quoted cell spans {lines} lines; "
                          "is a closing quote missing?")
    return frame[frame.notna().any(axis=1)]  # blank lines keep their numbers but hold no row


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _looks_like_date(name: str) -> bool:
    return _DATE_NAME.search(name.lower()) is not None


# --- checking columns ---------------------------------------------------------------------


def _at(src: str, row: Any, col: str, what: str) -> PanelError:
    return PanelError(f"{src}: row {row}, column '{_show(col)}': {what}")


def _show(value: Any) -> str:
    """A cell as it can appear inside a one-line message."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text if len(text) <= 40 else text[:37] + "..."


def _absent(src: str, name: str, columns: Sequence[str], role: str) -> PanelError:
    lower = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
    hint = (f"did you mean '{_show(lower[close[0]])}'?" if close else "the columns are: "
            + ", ".join(_show(c) for c in list(columns)[:12]) + (" ..." if len(columns) > 12 else ""))
    return PanelError(f"{src}: {role} column '{_show(name)}' is not in the file; {hint}")


def _holds_dates(s: pd.Series) -> bool:
    """Does the column's first non-empty cell hold a date?"""
    s = s.dropna()
    return bool(is_datetime64_any_dtype(s)
                or (len(s) and _parse_day(str(s.iloc[0]).strip()) is not pd.NaT))


def _no_date(src: str, frame: pd.DataFrame) -> PanelError:
    """No ``date`` column: name a column that holds dates, if one does."""
    dated = [c for c in frame.columns if _holds_dates(frame[c])]
    if not dated:
        return _absent(src, "date", list(frame.columns), "required")
    col = _show(dated[0])
    return PanelError(f"{src}: required column 'date' is not in the file; column '{col}' holds "
                      f"dates: name it with date_column: {col} (--date-column {col})")


def _wide_hint(frame: pd.DataFrame) -> str | None:
    """How to read a file without a channel column that looks like one row per week."""
    if "channel" in {c.lower() for c in frame.columns}:
        return None
    numeric = [c for c in frame.columns if _share_numeric(frame[c])[0] == 1.0]
    if len(numeric) < 2:
        return None
    spends = [c for c in numeric if _SPEND_NAME.search(c)]
    dated = [c for c in frame.columns if _holds_dates(frame[c])]
    if dated and frame[dated[0]].duplicated().any():
        return None  # several rows a week: a long file with its channel column named otherwise
    if not dated and not spends:
        return None
    how = "read it with layout: wide (--layout wide), naming its target and spend columns"
    if not spends:
        return f"a file of one row per week is read as wide: {how}"
    shown = ", ".join(_show(c) for c in spends[:4]) + (" ..." if len(spends) > 4 else "")
    return f"it looks like a wide file (one row per week, spend columns {shown}): {how}"


def _long_hint(columns: Sequence[str]) -> str:
    """A hint for a wide read of a file that holds the long layout's columns."""
    if {"channel", "spend", "revenue"} <= {c.lower() for c in columns}:
        return ("; the file has channel, spend and revenue columns: it looks like a long file "
                "(one row per week and channel), read without layout: wide, target and spend")
    return ""


def _factor(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and stripped text of the distinct values (an empty cell has the last, "", entry)."""
    codes, uniq = pd.factorize(s, use_na_sentinel=True)
    text = np.array([str(u).strip() for u in uniq] + [""], dtype=object)
    return np.where(codes < 0, len(uniq), codes), text


def _as_text(s: pd.Series) -> pd.Series:
    codes, text = _factor(s)
    return pd.Series(text[codes], index=s.index)


def _text(frame: pd.DataFrame, col: str, src: str, what: str) -> pd.Series:
    """Stripped text of a key column; an empty cell is an error."""
    raw = _as_text(frame[col])
    empty = (raw == "").to_numpy()
    if empty.any():
        raise _at(src, frame.index[int(empty.argmax())], col, what)
    return raw


def _parse_numbers(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Values, a mask of missing cells, and the stripped text (None for numeric columns)."""
    if is_bool_dtype(s) or is_numeric_dtype(s):
        vals = s.to_numpy(dtype=float, na_value=np.nan)
        return vals, np.isnan(vals), None
    codes, text = _factor(s)  # parse each distinct value once
    num = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    na = np.isnan(num) & np.array([t.lower() in NA_TOKENS for t in text], dtype=bool)
    return num[codes], na[codes], text[codes]


def _numbers(frame: pd.DataFrame, col: str, src: str, *, nonneg: bool = True) -> np.ndarray:
    """A complete, finite numeric column (>= 0 when ``nonneg``)."""
    vals, missing, raw = _parse_numbers(frame[col])
    shown = raw if raw is not None else frame[col].to_numpy()
    bad = np.isnan(vals) & ~missing
    if bad.any():
        i = int(bad.argmax())
        raise _at(src, frame.index[i], col, f"'{_show(shown[i])}' is not a number")
    if missing.any():
        raise _at(src, frame.index[int(missing.argmax())], col, "empty or NaN; a number is required")
    inf = np.isinf(vals)
    if inf.any():
        i = int(inf.argmax())
        raise _at(src, frame.index[i], col, f"'{_show(shown[i])}' is not a finite number")
    if nonneg and (vals < 0).any():
        i = int((vals < 0).argmax())
        raise _at(src, frame.index[i], col, f"{shown[i]} is negative; {col} must be >= 0")
    return vals


def _share_numeric(s: pd.Series) -> tuple[float, int]:
    """Share of non-missing cells that hold numbers, and how many cells are non-missing."""
    vals, missing, _ = _parse_numbers(s)
    n = int((~missing).sum())
    return (float((~np.isnan(vals)).sum()) / n if n else 0.0), n


def _dates(frame: pd.DataFrame, col: str, src: str) -> np.ndarray:
    s = frame[col]
    if is_datetime64_any_dtype(s):
        try:
            dt = pd.DatetimeIndex(s).as_unit("ns")
        except (OverflowError, ValueError):
            raise PanelError(f"{src}: column '{col}' holds dates outside the years 1678 to 2261") from None
        dt = dt.tz_localize(None) if dt.tz is not None else dt  # keep the local day
        if np.asarray(dt.isna()).any():
            raise _at(src, frame.index[int(np.argmax(dt.isna()))], col, "empty date")
        return np.asarray(dt.normalize(), dtype="datetime64[ns]")
    codes, text = _factor(s)
    parsed = pd.DatetimeIndex([_parse_day(u) for u in text], dtype="datetime64[ns]")
    bad = np.asarray(parsed.isna())[codes]
    if bad.any():
        i = int(bad.argmax())
        value = text[codes[i]]
        what = ("empty date" if not value else
                f"'{_show(value)}' is not a date (expected YYYY-MM-DD, years 1900 to 2200)")
        raise _at(src, frame.index[i], col, what)
    return np.asarray(parsed.normalize(), dtype="datetime64[ns]")[codes]


def _parse_day(value: str) -> Any:  # a Timestamp, or NaT
    if not value or not value[:4].isdigit():
        return pd.NaT
    try:
        ts = pd.Timestamp(value)
    except (ValueError, OverflowError):
        return pd.NaT
    if not 1900 <= ts.year <= 2200:  # also keeps every week inside pandas' nanosecond range
        return pd.NaT
    return ts.tz_localize(None) if ts.tzinfo is not None else ts


def _grid(dates: np.ndarray, rows: pd.Index, col: str, src: str) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Week starts from the first to the last date, and each row's week position."""
    start = dates.min()
    days = (dates - start) // np.timedelta64(1, "D")
    off = days % 7 != 0
    if off.any():
        i, j = int(off.argmax()), int(dates.argmin())
        raise _at(src, rows[i], col,
                  f"{_day(dates[i])} ({_weekday(dates[i])}) is {days[i] % 7} day(s) off the "
                  f"weekly grid that starts {_day(start)} ({_weekday(start)}, row {rows[j]}); "
                  "dates must be week starts 7 days apart")
    pos = (days // 7).astype(np.int64)
    weeks = pd.date_range(pd.Timestamp(start), periods=int(pos.max()) + 1, freq="7D", name="week")
    seen = np.zeros(len(weeks), dtype=bool)
    seen[pos] = True
    if not seen.all():
        gone = weeks[~seen]
        shown = ", ".join(_day(d) for d in gone[:5]) + (" ..." if len(gone) > 5 else "")
        raise PanelError(f"{src}: no rows at all for {len(gone)} week(s) between "
                         f"{_day(weeks[0])} and {_day(weeks[-1])}: {shown}")
    return weeks, pos


def _duplicates(codes: np.ndarray, rows: pd.Index, src: str, describe: Any) -> None:
    dup = pd.Series(codes).duplicated().to_numpy()
    if dup.any():
        i = int(dup.argmax())
        j = int((codes == codes[i]).argmax())
        raise PanelError(f"{src}: rows {rows[j]} and {rows[i]} both hold {describe(i)}")


def _day(d: Any) -> str:
    return pd.Timestamp(d).strftime("%Y-%m-%d")


def _late_start(src: str, channels: Any, weeks: pd.DatetimeIndex, first: np.ndarray) -> str | None:
    """The note on channels whose first row comes after the panel's first week (None: none)."""
    late = np.flatnonzero(first > 0)
    if not len(late):
        return None
    shown = ", ".join(f"'{_show(channels[c])}' from {_day(weeks[first[c]])}" for c in late[:5])
    return (f"{src}: {len(late)} channel(s) start after {_day(weeks[0])} ({shown}"
            f"{' ...' if len(late) > 5 else ''}); their earlier weeks count as zero "
            "spend and revenue")


def _weekday(d: Any) -> str:
    return str(pd.Timestamp(d).day_name())


# --- the two layouts ----------------------------------------------------------------------


def _build(frame: pd.DataFrame, src: str, sha: str, layout: str, target: str | None,
           spend: Sequence[str] | None, controls: Sequence[str] | None,
           date_column: str | None, min_weeks: int, require_variation: bool) -> Panel:
    if layout == "long":
        if target or spend:
            raise PanelError(f"{src}: target and spend name columns of the wide layout; pass "
                             "layout 'wide' (--layout wide) or leave them out")
        panel = _long(frame, src, sha, date_column, controls)
    elif layout == "wide":
        panel = _wide(frame, src, sha, target, spend, controls, date_column)
    else:
        raise PanelError(f"{src}: layout must be 'long' or 'wide', not '{layout}'")
    return _checked(panel, src, min_weeks, require_variation)


def _checked(panel: Panel, src: str, min_weeks: int, require_variation: bool) -> Panel:
    """The checks on a built panel: enough weeks, and (when asked) spend that varies."""
    if panel.n_weeks < min_weeks:
        raise PanelError(f"{src}: {panel.n_weeks} weeks of history "
                         f"({_day(panel.weeks[0])} .. {_day(panel.weeks[-1])}); "
                         f"at least {min_weeks} are needed")
    if require_variation:
        values = panel.spend.to_numpy()
        flat = np.ptp(values, axis=0) == 0
        if flat.any():
            c = int(flat.argmax())
            level = "zero" if values[0, c] == 0 else f"{values[0, c]:g}"
            raise PanelError(f"{src}: channel '{_show(panel.channels[c])}': spend is {level} every week, "
                             "so its response curve cannot be identified; drop the channel or "
                             "add weeks where its spend varies")
    return panel


def _date_column(frame: pd.DataFrame, src: str, date_column: str | None, wide: bool) -> str:
    columns = list(frame.columns)
    if date_column is not None:
        if date_column not in columns:
            raise _absent(src, date_column, columns, "date")
        return date_column
    lower = {c.lower(): c for c in columns}
    if "date" in lower:
        return lower["date"]
    hinted = [c for c in columns if _looks_like_date(c)] if wide else []
    for col in hinted:  # the first that holds dates: wk_strt_dt, not a later seas_week_40
        if _holds_dates(frame[col]):
            return col
    if hinted:
        return hinted[0]
    raise _no_date(src, frame)


def _long(frame: pd.DataFrame, src: str, sha: str, date_column: str | None,
          controls: Sequence[str] | None = None) -> Panel:
    wide = _wide_hint(frame)  # a wide file read as long: say so before naming its date
    if wide is not None:
        raise PanelError(f"{src}: required column 'channel' is not in the file; {wide}")
    date_col = _date_column(frame, src, date_column, wide=False)
    lower = {c.lower(): c for c in frame.columns}
    for name in REQUIRED[1:]:
        if name not in lower:
            raise _absent(src, name, list(frame.columns), "required")
    ch_col, sp_col, rv_col = lower["channel"], lower["spend"], lower["revenue"]
    contract = {date_col, ch_col, sp_col, rv_col}
    controls = list(controls or [])
    for i, col in enumerate(controls):
        if not col:
            raise PanelError(f"{src}: an empty name among the control columns")
        if col not in frame.columns:
            raise _absent(src, col, list(frame.columns), "control")
        if col in controls[:i]:
            raise PanelError(f"{src}: control column '{_show(col)}' is named twice")
        if col in contract or col.lower() in OPTIONAL:
            raise PanelError(f"{src}: column '{_show(col)}' is part of the panel contract "
                             "(date, channel, spend, revenue and the outcome columns); it "
                             "cannot be a control")
    optional: list[tuple[str, str]] = []
    keys: list[str] = []
    ignored: list[str] = []
    for col in frame.columns:
        if col in contract or col in controls:
            continue
        share, n = _share_numeric(frame[col])
        if col.lower() in OPTIONAL:
            if n == 0:
                ignored.append(col)
            else:
                optional.append((col.lower(), col))
        elif n == 0 or share == 1.0:
            ignored.append(col)
        else:
            keys.append(col)
    if ignored:
        warnings.warn(f"{src}: column(s) {', '.join(map(repr, ignored))} are empty or numeric and "
                      "not part of the panel contract; ignored", PanelWarning, stacklevel=4)

    dates = _dates(frame, date_col, src)
    key = _text(frame, ch_col, src, "empty channel name")
    for col in keys:
        key = key + "|" + _text(frame, col, src, f"empty {col} (part of the channel key; a "
                                "column of events is named in controls, --controls)")
    values = {"spend": _numbers(frame, sp_col, src), "revenue": _numbers(frame, rv_col, src)}
    for name, col in optional:
        values[name] = _numbers(frame, col, src)
    weeks, pos = _grid(dates, frame.index, date_col, src)
    ccode, channels = pd.factorize(key, sort=False)
    nw, nc = len(weeks), len(channels)
    cell = pos * nc + ccode
    _duplicates(cell, frame.index, src,
                lambda i: f"date {_day(dates[i])} and channel '{_show(channels[ccode[i]])}'")

    present = np.zeros((nw, nc), dtype=bool)
    present[pos, ccode] = True
    first = present.argmax(axis=0)
    hole = (np.arange(nw)[:, None] >= first[None, :]) & ~present
    if hole.any():
        c = int(hole.any(axis=0).argmax())
        raise PanelError(f"{src}: channel '{_show(channels[c])}' has no row for week "
                         f"{_day(weeks[hole[:, c].argmax()])} although other channels do; "
                         "add the week (with spend 0 if the channel did not run)")
    late = _late_start(src, channels, weeks, first)
    if late:
        warnings.warn(late, PanelWarning, stacklevel=4)

    names = pd.Index(list(channels), name="channel")

    def table(vals: np.ndarray) -> pd.DataFrame:
        out = np.zeros((nw, nc))
        out[pos, ccode] = vals
        return pd.DataFrame(out, index=weeks, columns=names)

    tables = {name: table(v) for name, v in values.items()}
    ctrl = None
    if controls:
        found = _control_values(frame, controls, src)
        cols = pd.MultiIndex.from_product([list(found), list(names)], names=["control", "channel"])
        data = np.column_stack([table(v).to_numpy() for v in found.values()]) if found else \
            np.zeros((nw, 0))
        ctrl = pd.DataFrame(data, index=weeks, columns=cols)
    return Panel("long", src, sha, weeks, list(names), tables.pop("spend"),
                 revenue=tables.pop("revenue"), extras=tables, controls=ctrl)


def _control_values(frame: pd.DataFrame, controls: Sequence[str], src: str) -> dict[str, np.ndarray]:
    """Each control's values per row: a column of numbers as it is (every cell a number), a
    text column as one 0/1 indicator per level, ``name=level`` (an empty cell is no event)."""
    out: dict[str, np.ndarray] = {}
    for col in controls:
        share, n = _share_numeric(frame[col])
        if n and share >= 0.5:
            out[col] = _numbers(frame, col, src, nonneg=False)
            continue
        level = _as_text(frame[col])
        levels = sorted(set(level) - {v for v in set(level) if v.lower() in NA_TOKENS})
        if not levels:
            warnings.warn(f"{src}: control '{col}' holds no level besides empty/'na'; ignored",
                          PanelWarning, stacklevel=5)
        for lv in levels:
            out[f"{col}={lv}"] = (level == lv).to_numpy(dtype=float)
    return out


def _wide(frame: pd.DataFrame, src: str, sha: str, target: str | None,
          spend: Sequence[str] | None, controls: Sequence[str] | None,
          date_column: str | None) -> Panel:
    columns = list(frame.columns)
    if not spend:
        numeric = [c for c in columns if _share_numeric(frame[c])[0] == 1.0]
        raise PanelError(f"{src}: the wide layout needs spend columns (--spend); numeric "
                         f"columns are: {', '.join(numeric[:12])}{' ...' if len(numeric) > 12 else ''}")
    if target is None:
        raise PanelError(f"{src}: the wide layout needs a target column (--target)")
    spend, controls = list(spend), list(controls or [])
    named = [(target, "target")] + [(c, "spend") for c in spend] + [(c, "control") for c in controls]
    seen: dict[str, str] = {}
    for col, role in named:
        if not col:
            raise PanelError(f"{src}: an empty name among the {role} columns")
        if col not in columns:
            raise PanelError(f"{_absent(src, col, columns, role)}{_long_hint(columns)}")
        if col in seen:
            raise PanelError(f"{src}: column '{col}' is named twice (as {seen[col]} and {role})")
        seen[col] = role
    date_col = _date_column(frame, src, date_column, wide=True)
    if date_col in seen:
        raise PanelError(f"{src}: column '{date_col}' is the date column and cannot be {seen[date_col]}")

    dates = _dates(frame, date_col, src)
    y = _numbers(frame, target, src, nonneg=False)
    x = np.column_stack([_numbers(frame, c, src) for c in spend])
    ctrl_cols = _control_values(frame, controls, src)
    weeks, pos = _grid(dates, frame.index, date_col, src)
    _duplicates(pos, frame.index, src, lambda i: f"week {_day(dates[i])}")

    order = np.argsort(pos, kind="stable")
    spend_df = pd.DataFrame(x[order], index=weeks, columns=pd.Index(spend, name="channel"))
    ctrl = pd.DataFrame({k: v[order] for k, v in ctrl_cols.items()}, index=weeks,
                        columns=pd.Index(list(ctrl_cols), name="control"), dtype=float)
    return Panel("wide", src, sha, weeks, list(spend), spend_df,
                 target=pd.Series(y[order], index=weeks, name=target), controls=ctrl)


# --- long panels read in record batches ---------------------------------------------------


class _Whole(Exception):
    """Something the batched reader leaves to the whole-file reader, which words it exactly."""


def _batched(path: Path, chunked: bool | None) -> bool:
    """Read this file in batches?  Never a file the whole-file reader must refuse first."""
    if chunked is False or not path.is_file() or input_problem(path):
        return False
    return chunked is True or path.stat().st_size >= CHUNKED_BYTES


def _read_batched(path: Path, src: str, date_column: str | None,
                  batch_rows: int) -> tuple[Panel, list[str]] | None:
    """The long panel and its warnings, read batch by batch; None leaves the file to
    :func:`_read_file`, which names the problem (every check below has its twin there)."""
    try:
        return _scan(path, src, date_column, batch_rows)
    except (_Whole, PanelError, pa.ArrowException, ValueError, TypeError, OSError, UnicodeError):
        return None


def _is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _arrow_factor(cells: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_factor` of an Arrow column: text columns are encoded by Arrow, so a batch's
    strings never become Python objects, only its distinct values do."""
    if pa.types.is_dictionary(cells.type) and _is_text(cells.type.value_type):
        enc = cells  # a categorical column: Arrow holds its distinct values already
    elif _is_text(cells.type):
        enc = cells.dictionary_encode()
    else:
        return _factor(cells.to_pandas())
    uniq = enc.dictionary.to_pylist()
    codes = enc.indices.fill_null(len(uniq)).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, np.array([u.strip() for u in uniq] + [""], dtype=object)


def _numeric_type(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t))


def _batches(path: Path, batch_rows: int) -> tuple[list[str], dict[str, bool], Any]:
    """Stripped column names, which hold numbers by type, and a factory of batch iterators
    (given the columns to read, in file order) yielding record batches."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    if not head.strip():
        raise _Whole
    if head[:4] == b"PAR1":
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
        meta = schema.pandas_metadata or {}
        if any(isinstance(c, str) for c in meta.get("index_columns", [])):
            raise _Whole  # an index saved by pandas: the whole-file reader restores it
        raw = [str(n) for n in schema.names]
        names = [n.strip() for n in raw]
        numeric = {n: _numeric_type(schema.field(i).type) for i, n in enumerate(names)}
        by_name = dict(zip(names, raw, strict=True))

        def parquet(columns: list[str]) -> Any:
            yield from pf.iter_batches(batch_size=batch_rows, columns=[by_name[c] for c in columns])

        if len(set(names)) != len(names):
            raise _Whole
        return names, numeric, parquet
    if path.suffix.lower() in (".parquet", ".pq") or b"\x00" in head or head[:1] in b"\r\n":
        raise _Whole
    first = head.split(b"\n", 1)
    if len(first) < 2:
        raise _Whole
    line = first[0].decode("utf-8-sig").rstrip("\r")
    sep = next((s for s in (",", ";", "\t") if s in line), ",")
    names = [h.strip() for h in next(csv.reader([line], delimiter=sep))]
    if len(set(names)) != len(names):
        raise _Whole
    text_cols = [n for n in names if n.lower() in ("date", "channel") or _looks_like_date(n)]
    # blocks of about batch_rows rows (64 bytes a row), at least 4 KB, at most 64 MB
    read = pacsv.ReadOptions(column_names=names, skip_rows=1,
                             block_size=min(64 << 20, max(4096, 64 * batch_rows)))
    parse = pacsv.ParseOptions(delimiter=sep)
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(text_cols, pa.string()),
                                   null_values=[""], strings_can_be_null=False)
    with pacsv.open_csv(path, read_options=read, parse_options=parse,
                        convert_options=convert) as reader:
        numeric = {f.name: _numeric_type(f.type) for f in reader.schema}

    def text(columns: list[str]) -> Any:
        opts = pacsv.ConvertOptions(column_types=dict.fromkeys(text_cols, pa.string()),
                                    null_values=[""], strings_can_be_null=False,
                                    include_columns=columns)
        with pacsv.open_csv(path, read_options=read, parse_options=parse,
                            convert_options=opts) as reader:
            yield from reader

    return names, numeric, text


def _scan(path: Path, src: str, date_column: str | None,
          batch_rows: int) -> tuple[Panel, list[str]]:
    """Build the long panel from batches: key codes, week days and values per row are kept
    as compact arrays; text lives one batch at a time."""
    names, numeric, batches = _batches(path, batch_rows)
    lower = {c.lower(): c for c in names}
    if date_column is not None:
        if date_column not in names:
            raise _Whole
        date_col = date_column
    elif "date" in lower:
        date_col = lower["date"]
    else:
        raise _Whole
    if any(name not in lower for name in REQUIRED[1:]):
        raise _Whole
    ch_col, sp_col, rv_col = lower["channel"], lower["spend"], lower["revenue"]
    contract = {date_col, ch_col, sp_col, rv_col}
    measured = [("spend", sp_col), ("revenue", rv_col)]
    keys: list[str] = []
    ignored: list[str] = []
    for col in names:
        if col in contract:
            continue
        if col.lower() in OPTIONAL:
            measured.append((col.lower(), col))  # an empty one fails below: left to the whole reader
        elif numeric[col]:
            ignored.append(col)  # numbers in every cell, or none: never part of the key
        else:
            keys.append(col)  # unless it holds numbers only (checked on the way)
    columns = [c for c in names if c in contract or c in keys or c in dict(measured).values()]

    key_index: dict[str, int] = {}
    day_parts: list[np.ndarray] = []
    code_parts: list[np.ndarray] = []
    value_parts: dict[str, list[np.ndarray]] = {name: [] for name, _ in measured}
    counts = {col: [0, 0] for col in keys}  # non-missing cells, cells that hold numbers
    row = 2
    for batch in batches(columns):
        cells = dict(zip(columns, batch.columns, strict=True))
        rows = pd.RangeIndex(row, row + batch.num_rows)
        row += batch.num_rows

        def frame(col: str, cells: dict[str, Any] = cells, rows: pd.RangeIndex = rows) -> pd.DataFrame:
            return pd.DataFrame({col: cells[col].to_pandas()}).set_axis(rows, axis=0)

        if _is_text(cells[date_col].type) or pa.types.is_dictionary(cells[date_col].type):
            codes, text = _arrow_factor(cells[date_col])
            parsed = pd.DatetimeIndex([_parse_day(u) for u in text], dtype="datetime64[ns]")
            if np.asarray(parsed.isna())[codes].any():
                raise _Whole
            days = np.asarray(parsed.normalize(), dtype="datetime64[ns]")[codes]
        else:
            days = _dates(frame(date_col), date_col, src)
        day_parts.append(days.astype("datetime64[D]").astype(np.int64).astype(np.int32))
        comp: np.ndarray | None = None
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        for col in (ch_col, *keys):
            codes, text = _arrow_factor(cells[col])
            if np.isin(codes, np.flatnonzero(text == "")).any():
                raise _Whole  # an empty key cell
            if col in counts:
                vals, missing, _ = _parse_numbers(pd.Series(text))
                seen = np.bincount(codes, minlength=len(text))
                counts[col][0] += int(seen[~missing].sum())
                counts[col][1] += int(seen[~np.isnan(vals)].sum())
            parts.append((codes, text))
            comp = codes.astype(np.int64) if comp is None else comp * len(text) + codes
            comp = pd.factorize(comp, sort=False)[0]  # dense, in order of first appearance
        assert comp is not None
        first = np.unique(comp, return_index=True)[1]
        label = parts[0][1][parts[0][0][first]]
        for codes, text in parts[1:]:
            label = label + "|" + text[codes[first]]
        lookup = np.array([key_index.setdefault(u, len(key_index)) for u in label], dtype=np.int32)
        code_parts.append(lookup[comp])
        for name, col in measured:
            value_parts[name].append(_numbers(frame(col), col, src))
    if not day_parts or any(n == 0 or k == n for n, k in counts.values()):
        raise _Whole

    day = np.concatenate(day_parts)
    del day_parts
    start = int(day.min())
    if ((day - start) % 7 != 0).any():
        raise _Whole
    cell = ((day - start) // 7).astype(np.int64)
    del day
    nw, nc = int(cell.max()) + 1, len(key_index)
    cell *= nc
    cell += np.concatenate(code_parts)
    del code_parts
    seen = np.bincount(cell, minlength=nw * nc).reshape(nw, nc)
    present = seen > 0
    if (seen > 1).any() or not present.any(axis=1).all():
        raise _Whole  # two rows for one cell, or a week without rows
    del seen
    first = present.argmax(axis=0)
    if ((np.arange(nw)[:, None] >= first[None, :]) & ~present).any():
        raise _Whole  # a hole in a channel's weeks
    weeks = pd.date_range(pd.Timestamp(np.datetime64(start, "D").astype("datetime64[ns]")),
                          periods=nw, freq="7D", name="week")
    channels = pd.Index(list(key_index), name="channel")

    notes: list[str] = []
    if ignored:
        notes.append(f"{src}: column(s) {', '.join(map(repr, ignored))} are empty or numeric and "
                     "not part of the panel contract; ignored")
    late = _late_start(src, channels, weeks, first)
    if late:
        notes.append(late)

    tables: dict[str, pd.DataFrame] = {}
    for name, chunks in value_parts.items():
        out = np.zeros(nw * nc)
        at = 0
        for chunk in chunks:
            out[cell[at:at + len(chunk)]] = chunk
            at += len(chunk)
        chunks.clear()
        tables[name] = pd.DataFrame(out.reshape(nw, nc), index=weeks, columns=channels)
    panel = Panel("long", src, file_sha256(path), weeks, list(channels), tables.pop("spend"),
                  revenue=tables.pop("revenue"), extras=tables)
    return panel, notes
