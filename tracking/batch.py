"""Tag a file of orders as new or existing customers: ``roiste customers tag``.

Orders (CSV or Parquet: ``order_id, timestamp, value, channel`` and ``email`` or
``email_sha256``) are validated first -- a bad row stops the run before anything is recorded,
naming the file, row and column -- then tagged in chronological order (ties keep file order),
a transaction per chunk.  The store remembers each order id with its answer, so a run that was
killed can simply be run again: the orders already recorded get their first answer back and the
rest are tagged, and a run repeated on the same file changes nothing.

The output keeps the input's columns and rows, drops ``email`` and ``email_sha256`` (no address
or unsalted hash leaves this step), and adds ``customer_key`` (the salted key),
``customer_type`` (``new`` | ``existing``) and ``first_purchase_at`` (ISO-8601 UTC).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from roiste.tracking.errors import OrderError, TrackingError
from roiste.tracking.orders import Order, make_order
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


def read_orders_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read an orders file as it is (CSV cells kept as text), checking its columns."""
    path = Path(path)
    kind = _suffix(path)
    if not path.is_file():
        raise TrackingError(f"{path}: no such file")
    try:
        if kind == "csv":
            df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        else:
            df = pd.read_parquet(path)
    except Exception as exc:  # any reader failure is bad input here
        raise TrackingError(f"{path}: cannot read orders ({exc.__class__.__name__})") from None
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


def orders_from_frame(df: pd.DataFrame, salt: bytes, *, source: str = "orders") -> list[Order]:
    """Validate and key every row; the error names the source, row (1-based) and column."""
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
            raise TrackingError(f"{source}: row {i + 1}, column '{exc.field}': {exc.reason}") from None
    return out


def _atomic_write(path: Path, writer: Callable[[Path], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        writer(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def tag_orders(
    orders: list[Order],
    store_url: str,
    salt: bytes,
    *,
    chunk_size: int = 500,
    progress: bool = True,
    synchronous: str = "NORMAL",
) -> list[Tag]:
    """Tag orders in chronological order (stable), a transaction per chunk.

    Returns
    -------
    list of Tag
        One answer per order, in the order of ``orders`` (not the chronological one).
    """
    if chunk_size < 1:
        raise TrackingError(f"chunk size must be >= 1, not {chunk_size}")
    order_idx = sorted(range(len(orders)), key=lambda i: orders[i].timestamp_us)
    tags: list[Tag | None] = [None] * len(orders)
    with (
        open_store(store_url, salt, synchronous=synchronous) as store,
        tqdm(total=len(orders), unit="order", disable=not progress, desc="tagging") as bar,
    ):
        for start in range(0, len(order_idx), chunk_size):
            idx = order_idx[start : start + chunk_size]
            for i, tag in zip(idx, store.tag_many([orders[i] for i in idx]), strict=True):
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

    Returns
    -------
    TagSummary
    """
    orders_path, out_path = Path(orders_path), Path(out_path)
    out_kind = _suffix(out_path)
    df = read_orders_frame(orders_path)
    orders = orders_from_frame(df, salt, source=str(orders_path))
    tags = tag_orders(
        orders, store_url, salt, chunk_size=chunk_size, progress=progress, synchronous=synchronous
    )
    out = df.drop(columns=[c for c in EMAIL_COLUMNS if c in df.columns])
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
