"""Customer keys: salted SHA-256 of normalised e-mail addresses, and the salt they need.

An address is normalised (surrounding white space trimmed, lower-cased) and hashed with plain
SHA-256; that digest is what a tag manager may send instead of the address (``email_sha256``).
The store's key is an HMAC-SHA256 of the digest under a secret salt, so both inputs give the same
key, and a stolen store cannot be joined to a list of addresses without the salt.  The salt comes
from configuration (``ROISTE_SALT`` or a salt file), never from the repository.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

from roiste.tracking.errors import ConfigError, OrderError

SALT_ENV = "ROISTE_SALT"
MIN_SALT_LENGTH = 16
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def has_control(text: str) -> bool:
    """True when ``text`` holds a control or format character (NUL, escape, bidi marks, ...).

    Examples
    --------
    >>> has_control("a\x00b"), has_control("ab")
    (True, False)
    """
    return any(unicodedata.category(c) in ("Cc", "Cf") for c in text)


def normalise_email(raw: object, *, field: str = "email") -> str:
    """Trim and lower-case an e-mail address, checking that it looks like one.

    Parameters
    ----------
    raw : object
        The address as received.
    field : str, default "email"
        Name used in the error message (the address itself is never repeated).

    Returns
    -------
    str
        The normalised address.

    Raises
    ------
    OrderError
        When ``raw`` is not a string of the form ``local@domain.tld``, or holds a control or
        format character (NUL, a line break inside, zero-width or direction marks).

    Examples
    --------
    >>> normalise_email("  Ann.Lee@Example.COM ")
    'ann.lee@example.com'
    """
    if not isinstance(raw, str):
        raise OrderError(field, "must be a string holding an e-mail address")
    email = raw.strip().lower()
    if has_control(email):
        raise OrderError(field, "holds a control character")
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise OrderError(field, "not an e-mail address")
    return email


def email_digest(raw: object, *, field: str = "email") -> str:
    """Hex SHA-256 of the normalised address (what ``email_sha256`` carries)."""
    return hashlib.sha256(normalise_email(raw, field=field).encode("utf-8")).hexdigest()


def check_digest(digest: object, *, field: str = "email_sha256") -> str:
    """Validate a hex SHA-256 digest sent instead of an address; returns it lower-cased."""
    if not isinstance(digest, str):
        raise OrderError(field, "must be a string of 64 hex digits")
    d = digest.strip().lower()
    if not _HEX64.fullmatch(d):
        raise OrderError(field, "not a SHA-256 hex digest (64 hex digits)")
    return d


def customer_key(digest: str, salt: bytes) -> str:
    """The store's key of a customer: HMAC-SHA256 of the address digest under the salt."""
    return hmac.new(salt, digest.encode("ascii"), hashlib.sha256).hexdigest()


def salt_fingerprint(salt: bytes) -> str:
    """A value recorded in the store to refuse a different salt later (it reveals nothing)."""
    return hmac.new(salt, b"roiste customer store salt check", hashlib.sha256).hexdigest()


def load_salt(
    salt_file: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> bytes:
    """Read the secret salt from a file (when given) or from ``ROISTE_SALT``.

    Parameters
    ----------
    salt_file : path, optional
        A file holding the salt; surrounding white space is ignored.
    environ : mapping, optional
        Where to look for ``ROISTE_SALT`` (``os.environ`` by default).

    Returns
    -------
    bytes
        The salt, at least 16 characters long.

    Raises
    ------
    ConfigError
        When no salt is configured, the file cannot be read, or the salt is too short.
    """
    env = os.environ if environ is None else environ
    if salt_file is not None:
        try:
            text = Path(salt_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{salt_file}: cannot read the salt file ({exc.__class__.__name__})") from None
        where = str(salt_file)
    else:
        text = env.get(SALT_ENV, "").strip()
        where = SALT_ENV
        if not text:
            raise ConfigError(
                f"no salt configured: set {SALT_ENV} or pass --salt-file "
                "(a secret kept outside the repository)"
            )
    if len(text) < MIN_SALT_LENGTH:
        raise ConfigError(f"{where}: the salt must be at least {MIN_SALT_LENGTH} characters long")
    return text.encode("utf-8")
