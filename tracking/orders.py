"""Purchases as the store sees them: an order id, a customer key, a time, a value, a channel.

Both entry points (the batch command and the HTTP endpoint) build their orders here, so that
they validate the same way and give the same keys.  Timestamps are kept as integer microseconds
since the Unix epoch in UTC; a timestamp without a time zone is taken as UTC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from roiste.tracking.errors import OrderError
from roiste.tracking.keys import check_digest, customer_key, email_digest, has_control

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class Order:
    """One purchase, keyed by the salted hash of its buyer's address (never the address)."""

    order_id: str
    key: str
    timestamp_us: int
    value: float
    channel: str


def parse_timestamp(value: object, *, field: str = "timestamp") -> int:
    """Microseconds since the epoch (UTC) of an ISO-8601 string or a datetime.

    Examples
    --------
    >>> parse_timestamp("1970-01-01T00:00:01Z")
    1000000
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise OrderError(field, "not an ISO-8601 date-time") from None
    else:
        raise OrderError(field, "must be an ISO-8601 date-time string")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_timestamp(us: int) -> str:
    """ISO-8601 UTC text of a microsecond timestamp, ``Z`` suffixed, microseconds when nonzero.

    Examples
    --------
    >>> format_timestamp(1_500_000)
    '1970-01-01T00:00:01.500000Z'
    """
    secs, micros = divmod(int(us), 1_000_000)
    dt = datetime.fromtimestamp(secs, tz=UTC).replace(tzinfo=None)
    text = dt.isoformat(timespec="seconds")
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


def _text(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OrderError(field, "must be a non-empty string")
    text = value.strip()
    if len(text) > MAX_TEXT:
        raise OrderError(field, f"longer than {MAX_TEXT} characters")
    if has_control(text):
        raise OrderError(field, "holds a control character")
    return text


def _value(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OrderError("value", "must be a number")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise OrderError("value", "must be a finite number >= 0")
    return v


def make_order(
    *,
    order_id: object,
    value: object,
    timestamp: object,
    channel: object,
    salt: bytes,
    email: object = None,
    email_sha256: object = None,
) -> Order:
    """Validate one purchase and key its buyer; the address is dropped here.

    Exactly one of ``email`` and ``email_sha256`` must be given (``email`` wins when both are).

    Raises
    ------
    OrderError
        Naming the field at fault, never its content when it may hold an address.
    """
    if email is not None:
        digest = email_digest(email)
    elif email_sha256 is not None:
        digest = check_digest(email_sha256)
    else:
        raise OrderError("email", "missing (give an e-mail address in 'email' or its hash in 'email_sha256')")
    return Order(
        order_id=_text(order_id, "order_id"),
        key=customer_key(digest, salt),
        timestamp_us=parse_timestamp(timestamp),
        value=_value(value),
        channel=_text(channel, "channel"),
    )
