"""Tag a file of orders as new or existing customers: ``roiste customers tag``.

Orders (CSV or Parquet: ``order_id, timestamp, value, channel`` and ``email`` or
``email_sha256``) are validated first -- a bad row stops the run before anything is recorded,
naming the file, row and column -- then tagged in chronological order (equal times by order
id, the store's own rule), a transaction per chunk.  An order id given twice for two customers,
in the file or against the store, is such a bad row.  The store remembers each order id with its answer, so a run that was
killed can simply be run again: the orders already recorded get their first answer back and the
rest are tagged, and a run repeated on the same file changes nothing.

The output keeps the input's rows and only the columns ``order_id, timestamp, value, channel``
(plus those the user names with ``--keep``, never one that looks like an address: see
:mod:`tracking.privacy`), so no address or unsalted hash leaves this step, and adds
``customer_key`` (the salted key), ``customer_type`` (``new`` | ``existing``) and
``first_purchase_at`` (ISO-8601 UTC).
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from roiste.tracking.errors import OrderError, TrackingError
from roiste.tracking.orders import Order, make_order
from roiste.tracking.privacy import address_reason
from roiste.tracking.store import Tag, open_store

REQUIRED = ("order_id", "timestamp", "value", "channel")
EMAIL_COLUMNS = ("email", "email_sha256")
OUTPUT_COLUMNS = ("customer_key", "customer_type", "first_purchase_at")


@dataclass(frozen=True)
class TagSummary:
    """Counts of a tagging run."""

    orders: int
    new: int
    existing: int
    replayed: int

    def headline(self, out: Path) -> str:
        """One line for the command line."""
        return (
            f"wrote {out}: {self.orders} orders, {self.new} from new customers, "
            f"{self.existing} from existing ones ({self.replayed} already in the store)"
        )


def _suffix(path: Path) -> str:
    s = path.suffix.lower()
    if s in (".parquet", ".pq"):
        return "parquet"
    if s == ".csv":
        return "csv"
    raise TrackingError(f"{path}: unknown file type '{path.suffix}' (use .csv or .parquet)")


def check_regular_file(path: Path) -> None:
    """Refuse a missing file, one that cannot be read, or one that is not a regular file (a
    FIFO or a device would block the reader or never end), in one line naming it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise TrackingError(f"{path}: no such file") from None
    except OSError as exc:
        raise TrackingError(f"{path}: cannot read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else (
            "a device or a socket")
        raise TrackingError(f"{path}: is {kind}, not a regular file")


def read_orders_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an orders file as it is (CSV cells kept as text), checking its columns.

    The index holds each order's row number as the panel reader counts rows: the header is
    row 1, so row ``n`` of a CSV file is its line ``n``; blank lines keep their numbers but
    hold no order.
    """
    path = Path(path)
    kind = _suffix(path)
    check_regular_file(path)
    try:
        if kind == "csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                             skip_blank_lines=False)
        else:
            df = pd.read_parquet(path)
    except Exception as exc:  # any reader failure is bad input here
        raise TrackingError(f"{path}: cannot read orders ({exc.__class__.__name__})") from None
    # rows as the panel reader counts them: the header is row 1, a blank line keeps its number
    # but holds no order
    df.index = pd.RangeIndex(2, len(df) + 2)
    if kind == "csv":
        df = df[df.notna().any(axis=1)]
    missing = [c for c in REQUIRED if c not in df.columns]
    if not any(c in df.columns for c in EMAIL_COLUMNS):
        missing.append("email or email_sha256")
    if missing:
        raise TrackingError(
            f"{path}: missing column(s) {', '.join(repr(m) for m in missing)}; orders need "
            "order_id, timestamp, value, channel and email or email_sha256"
        )
    taken = [c for c in OUTPUT_COLUMNS if c in df.columns]
    if taken:
        raise TrackingError(f"{path}: column '{taken[0]}' is already present (tagged twice?)")
    if len(df) == 0:
        raise TrackingError(f"{path}: no orders")
    return df


def kept_columns(df: pd.DataFrame, keep: Sequence[str], *, source: str = "orders") -> list[str]:
    """The columns written out: the required ones and ``keep``, in the file's order.

    Raises
    ------
    TrackingError
        For a name in ``keep`` that is not a column, is an address column, or looks like one
        (:func:`tracking.privacy.address_reason`).
    """
    for name in keep:
        if name in EMAIL_COLUMNS:
            raise TrackingError(f"{source}: column '{name}' holds addresses and cannot be kept")
        if name not in df.columns:
            raise TrackingError(f"{source}: --keep names column '{name}', which the file does not have")
        reason = address_reason(name, df[name].tolist())
        if reason:
            raise TrackingError(
                f"{source}: column '{name}' cannot be kept: it looks like an address ({reason})"
            )
    wanted = set(REQUIRED) | set(keep)
    return [c for c in df.columns if c in wanted]


def _cell(v: Any) -> Any:
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, str | datetime):
        return v.item()  # numpy scalars
    return v


def _number(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v  # make_order names it
    return v


def row_numbers(df: pd.DataFrame) -> list[int]:
    """Each row's number in messages: the header is row 1.

    A frame from :func:`read_orders_frame` carries its numbers in its index; any other frame
    (a default ``RangeIndex`` from 0) is numbered as if written to CSV: position + 2.
    """
    idx = df.index
    if isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1:
        return list(range(2, len(df) + 2))
    return [int(v) for v in idx]


def orders_from_frame(df: pd.DataFrame, salt: bytes, *, source: str = "orders") -> list[Order]:
    """Validate and key every row; the error names the source, row and column.

    Rows are numbered by :func:`row_numbers` (the header is row 1).
    """
    rows = row_numbers(df)
    cols = {c: [_cell(v) for v in df[c].tolist()] for c in (*REQUIRED, *EMAIL_COLUMNS) if c in df}
    n = len(df)
    email = cols.get("email", [None] * n)
    digest = cols.get("email_sha256", [None] * n)
    out: list[Order] = []
    for i in range(n):
        try:
            out.append(
                make_order(
                    order_id=cols["order_id"][i],
                    value=_number(cols["value"][i]),
                    timestamp=cols["timestamp"][i],
                    channel=cols["channel"][i],
                    salt=salt,
                    email=email[i],
                    email_sha256=digest[i] if email[i] is None else None,
                )
            )
        except OrderError as exc:
            raise TrackingError(f"{source}: row {rows[i]}, column '{exc.field}': {exc.reason}") from None
    owner: dict[str, tuple[str, int]] = {}
    for i, o in enumerate(out):
        key, row = owner.setdefault(o.order_id, (o.key, rows[i]))
        if key != o.key:
            raise TrackingError(
                f"{source}: row {rows[i]}, column 'order_id': the same order id as row {row} "
                "with another customer"
            )
    return out


def check_output(path: Path) -> None:
    """Refuse an output that exists and is not a regular file (a directory, a device, a FIFO,
    a socket, a symbolic link): it is never replaced or written through."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise TrackingError(f"{path}: cannot be used as output ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "a directory" if stat.S_ISDIR(mode) else (
            "a device, a FIFO or a socket")
        raise TrackingError(f"{path}: exists and is {kind}, not a regular file; not replacing it")


def _atomic_write(path: Path, writer: Callable[[Path], None]) -> None:
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
        os.close(fd)
        writer(Path(tmp))
        check_output(path)
        os.replace(tmp, path)
    except OSError as exc:  # a read-only folder, a full disk: one line
        raise TrackingError(f"{exc.filename or path}: cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def tag_orders(
    orders: list[Order],
    store_url: str,
    salt: bytes,
    *,
    chunk_size: int = 500,
    progress: bool = True,
    synchronous: str = "NORMAL",
    source: str = "orders",
    rows: Sequence[int] | None = None,
) -> list[Tag]:
    """Tag orders in chronological order (stable), a transaction per chunk.

    An order id already recorded for another customer stops the run before anything is recorded;
    the message names ``rows[i]`` (default: ``i + 2``, the header being row 1).

    Returns
    -------
    list of Tag
        One answer per order, in the order of ``orders`` (not the chronological one).
    """
    if chunk_size < 1:
        raise TrackingError(f"chunk size must be >= 1, not {chunk_size}")
    row = list(rows) if rows is not None else list(range(2, len(orders) + 2))
    order_idx = sorted(range(len(orders)), key=lambda i: (orders[i].timestamp_us, orders[i].order_id))
    tags: list[Tag | None] = [None] * len(orders)
    with (
        open_store(store_url, salt, synchronous=synchronous) as store,
        tqdm(total=len(orders), unit="order", disable=not progress, desc="tagging") as bar,
    ):
        recorded = store.recorded_keys([o.order_id for o in orders])
        for i, o in enumerate(orders):
            if recorded.get(o.order_id, o.key) != o.key:
                raise TrackingError(
                    f"{source}: row {row[i]}, column 'order_id': already recorded in the store "
                    "for another customer"
                )
        for start in range(0, len(order_idx), chunk_size):
            idx = order_idx[start : start + chunk_size]
            for i, tag in zip(idx, store.tag_many([orders[i] for i in idx]), strict=True):
                if tag.conflict:  # recorded by another client since the check above
                    raise TrackingError(
                        f"{source}: row {row[i]}, column 'order_id': already recorded in the "
                        "store for another customer"
                    )
                tags[i] = tag
            bar.update(len(idx))
    return [t for t in tags if t is not None]


def tag_file(
    orders_path: str | os.PathLike[str],
    store_url: str,
    out_path: str | os.PathLike[str],
    salt: bytes,
    *,
    chunk_size: int = 500,
    progress: bool = True,
    synchronous: str = "NORMAL",
    keep: Sequence[str] = (),
) -> TagSummary:
    """Read, validate, tag and write: the library side of ``roiste customers tag``.

    Parameters
    ----------
    orders_path : path
        CSV or Parquet orders.
    store_url : str
        The customer store (see :func:`tracking.store.open_store`).
    out_path : path
        Tagged output, CSV or Parquet by its suffix, written atomically.
    salt : bytes
        The secret salt.
    chunk_size : int, default 500
        Orders per transaction.
    progress : bool, default True
        Show a progress bar.
    synchronous : {"NORMAL", "FULL"}, default "NORMAL"
        SQLite durability (see :class:`tracking.store.SQLiteStore`).
    keep : sequence of str, default ()
        Further input columns to write out (a market, a segment); a column that looks like an
        address is refused.

    Returns
    -------
    TagSummary
    """
    orders_path, out_path = Path(orders_path), Path(out_path)
    out_kind = _suffix(out_path)
    check_output(out_path)
    df = read_orders_frame(orders_path)
    columns = kept_columns(df, keep, source=str(orders_path))
    orders = orders_from_frame(df, salt, source=str(orders_path))
    tags = tag_orders(
        orders, store_url, salt, chunk_size=chunk_size, progress=progress, synchronous=synchronous,
        source=str(orders_path), rows=row_numbers(df),
    )
    out = df[columns].copy()
    out["customer_key"] = [o.key for o in orders]
    out["customer_type"] = [t.customer_type for t in tags]
    out["first_purchase_at"] = [t.first_purchase_at for t in tags]
    if out_kind == "csv":
        _atomic_write(out_path, lambda p: out.to_csv(p, index=False, lineterminator="\n"))
    else:
        _atomic_write(out_path, lambda p: out.to_parquet(p, index=False))
    n_new = sum(t.customer_type == "new" for t in tags)
    return TagSummary(
        orders=len(tags),
        new=n_new,
        existing=len(tags) - n_new,
        replayed=sum(t.replayed for t in tags),
    )
