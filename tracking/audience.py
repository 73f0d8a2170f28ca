"""Customer-match audiences from a CRM export: ``roiste customers audience``.

A CRM export (CSV: an ``email`` column, optionally ``phone``; other columns are ignored and
never written) is split into the customers the store knows (``existing``: at least one order
recorded) and those it does not (``new``).  The look-up uses the store's own key, the salted
hash of the trimmed, lower-cased address (:func:`tracking.keys.customer_key`), so the
address itself never reaches the store.

The audience file holds only SHA-256 hex digests of the identifiers, normalised as each
platform documents for its customer-match upload:

``google`` (Google Ads Customer Match)
    E-mail: surrounding white space removed, lower-cased, and for ``gmail.com`` and
    ``googlemail.com`` addresses every period before the ``@`` removed.  Google documents no
    rule for a ``+`` tag, so it is kept.  Phone: E.164, ``+`` then country code and number,
    digits only (``+353871234567``).
``meta`` (Meta custom audiences from a customer list)
    E-mail: surrounding white space removed, lower-cased (no rule for periods or ``+``).
    Phone: symbols, letters and leading zeros removed, country code kept, digits only
    (``353871234567``).

A phone written without a country code (no ``+`` and no ``00``) needs ``phone_country``
(the calling code, e.g. ``353``): its leading zeros (the national trunk prefix) are dropped
and the code is put in front.  The sources of these rules are cited in ``README.md``.

Rows are numbered as every reader of roiste numbers them: the header is row 1, a blank line
keeps its number and holds no customer.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from roiste.tracking.batch import check_regular_file
from roiste.tracking.errors import OrderError, TrackingError
from roiste.tracking.keys import customer_key, email_digest, has_control, normalise_email
from roiste.tracking.store import open_store, sqlite_path

FORMATS = ("google", "meta")
TYPES = ("existing", "new")
#: The header of each platform's audience file.
HEADERS = {"google": ("Email", "Phone"), "meta": ("email", "phone")}
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
_DIGITS = re.compile(r"[0-9]+")
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15  # E.164: at most 15 digits, country code included


def platform_email(raw: object, fmt: str) -> str:
    """An e-mail address normalised as the platform ``fmt`` documents (before hashing).

    Parameters
    ----------
    raw : object
        The address as written in the CRM export.
    fmt : {"google", "meta"}
        The platform.

    Returns
    -------
    str
        Trimmed and lower-cased; for ``google``, the periods before the ``@`` of a
        ``gmail.com`` or ``googlemail.com`` address removed.

    Raises
    ------
    OrderError
        When ``raw`` is not an e-mail address (the message never repeats it).

    Examples
    --------
    >>> platform_email(" John.Smith+Shop@GoogleMail.com ", "google")
    'johnsmith+shop@googlemail.com'
    >>> platform_email(" John.Smith+Shop@GoogleMail.com ", "meta")
    'john.smith+shop@googlemail.com'
    """
    email = normalise_email(raw)
    if fmt == "google":
        local, _, domain = email.rpartition("@")
        if domain in GMAIL_DOMAINS:
            local = local.replace(".", "")
            if not local:
                raise OrderError("email", "not an e-mail address")
            email = f"{local}@{domain}"
    return email


def phone_digits(raw: object, phone_country: str | None = None) -> str:
    """Country code and number of a phone number, digits only.

    Parameters
    ----------
    raw : object
        The number as written: ``+353 87 123 4567``, ``0033 (1) 23-45-67-89``, or a national
        number such as ``087 123 4567`` when ``phone_country`` is given.
    phone_country : str, optional
        The calling code put in front of a number written without one (its leading zeros
        dropped first).

    Returns
    -------
    str
        7 to 15 digits, the first not a zero.

    Raises
    ------
    OrderError
        For a letter or a symbol other than spaces, dots, dashes, slashes and brackets, a number
        without a country code when ``phone_country`` is not given, or a length outside E.164.

    Examples
    --------
    >>> phone_digits("+1 (650) 253-0000")
    '16502530000'
    >>> phone_digits("087 123 4567", "353")
    '353871234567'
    """
    if not isinstance(raw, str):
        raise OrderError("phone", "must be text")
    text = raw.strip()
    if has_control(text):
        raise OrderError("phone", "holds a control character")
    if text.startswith(("+", "00")):
        text = text.replace("(0)", "")  # "+44 (0)20 ...": the national 0 written in brackets
    compact = _PHONE_SEPARATORS.sub("", text)
    if compact.startswith("+"):
        number, international = compact[1:], True
    elif compact.startswith("00"):
        number, international = compact[2:], True
    else:
        number, international = compact, False
    if not _DIGITS.fullmatch(number):
        raise OrderError("phone", "holds characters other than digits, spaces, dots, dashes, "
                                  "slashes and brackets (or a '+' not in front)")
    if not international:
        if phone_country is None:
            raise OrderError("phone", "has no country code: write it +CC... or 00CC..., or give "
                                      "--phone-country")
        number = phone_country + number.lstrip("0")
    if number.startswith("0"):
        raise OrderError("phone", "a country code cannot start with 0")
    if not MIN_PHONE_DIGITS <= len(number) <= MAX_PHONE_DIGITS:
        raise OrderError("phone", f"has {len(number)} digits with its country code; E.164 "
                                  f"numbers have {MIN_PHONE_DIGITS} to {MAX_PHONE_DIGITS}")
    return number


def platform_phone(raw: object, fmt: str, phone_country: str | None = None) -> str:
    """A phone number normalised as the platform ``fmt`` documents (before hashing).

    ``google``: E.164, ``+`` and digits; ``meta``: the same digits without the ``+``.

    Examples
    --------
    >>> platform_phone("+44 20 7031 3000", "google"), platform_phone("+44 20 7031 3000", "meta")
    ('+442070313000', '442070313000')
    """
    digits = phone_digits(raw, phone_country)
    return "+" + digits if fmt == "google" else digits


def sha256_hex(text: str) -> str:
    """Lower-case hex SHA-256 of UTF-8 text (the platforms' hashed identifier)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AudienceSummary:
    """Counts of an audience run; customers are counted once per platform e-mail identity."""

    kind: str
    fmt: str
    rows: int
    customers: int
    existing: int
    new: int
    written: int
    with_phone: int

    def headline(self, out: Path) -> str:
        """One line for the command line (counts only, never an address)."""
        return (
            f"wrote {out}: {self.written} {self.kind} customers for {self.fmt} "
            f"({self.with_phone} with a phone); the export holds {self.customers} customers "
            f"in {self.rows} rows: {self.existing} existing, {self.new} new"
        )


@dataclass(frozen=True)
class Audience:
    """An audience file's text (hashes only) and its counts."""

    text: str
    summary: AudienceSummary


def _column(df: pd.DataFrame, name: str) -> str | None:
    found = [c for c in df.columns if str(c).strip().lower() == name]
    return str(found[0]) if found else None


def read_crm_frame(path: str | os.PathLike[str]) -> tuple[pd.DataFrame, str, str | None]:
    """Read a CRM export (CSV, cells kept as text); returns the frame and its e-mail and phone
    column names (matched without regard to case).  The index holds each row's number."""
    path = Path(path)
    check_regular_file(path)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""],
                         skip_blank_lines=False)
    except Exception as exc:  # any reader failure is bad input here
        raise TrackingError(f"{path}: cannot read the CRM export ({exc.__class__.__name__})") from None
    df.index = pd.RangeIndex(2, len(df) + 2)
    df = df[df.notna().any(axis=1)]
    email_col = _column(df, "email")
    if email_col is None:
        raise TrackingError(f"{path}: row 1: no 'email' column; a CRM export needs one "
                            "(and may have 'phone')")
    if len(df) == 0:
        raise TrackingError(f"{path}: no customers")
    return df, email_col, _column(df, "phone")


def build_audience(
    crm_path: str | os.PathLike[str],
    store_url: str,
    salt: bytes,
    *,
    kind: str,
    fmt: str,
    phone_country: str | None = None,
) -> Audience:
    """The library side of ``roiste customers audience``: read, check, look up, hash.

    Parameters
    ----------
    crm_path : path
        The CRM export (CSV with ``email`` and optionally ``phone``).
    store_url : str
        The customer store (an SQLite file must exist: an empty new store would make every
        customer new).
    salt : bytes
        The store's salt (a store created with another salt is refused).
    kind : {"existing", "new"}
        Which customers the audience holds.
    fmt : {"google", "meta"}
        The platform whose normalisation and header the file follows.
    phone_country : str, optional
        Calling code (digits) for phone numbers written without one.

    Returns
    -------
    Audience
        The file's text (a header, then one row per customer: hashed e-mail, hashed phone or
        empty) and the counts.  A platform identity that several rows share (two spellings of
        one Gmail address) is one customer; it is ``existing`` when any of its rows is known
        to the store, so a ``new`` audience never holds a customer already won.

    Raises
    ------
    TrackingError
        One line naming the file, row and column of the first bad row, or the store's problem.
    """
    if kind not in TYPES:
        raise TrackingError(f"--type must be one of {', '.join(TYPES)}, not {kind!r}")
    if fmt not in FORMATS:
        raise TrackingError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if phone_country is not None and not re.fullmatch(r"[1-9][0-9]{0,2}", phone_country):
        raise TrackingError(f"--phone-country must be a calling code of 1 to 3 digits, "
                            f"not {phone_country!r}")
    src = str(crm_path)
    df, email_col, phone_col = read_crm_frame(crm_path)
    emails = df[email_col].tolist()
    phones = df[phone_col].tolist() if phone_col is not None else [None] * len(df)
    ids: list[str] = []  # platform e-mail hash per identity, in file order
    phone_of: dict[str, str] = {}
    keys_of: dict[str, list[str]] = {}
    for row, email, phone in zip(df.index, emails, phones, strict=True):
        column = email_col
        try:
            if email is None or isinstance(email, float):
                raise OrderError("email", "empty")
            ident = sha256_hex(platform_email(email, fmt))
            key = customer_key(email_digest(email), salt)
            column = phone_col or "phone"
            ph = None if phone is None or isinstance(phone, float) or not str(phone).strip() else (
                sha256_hex(platform_phone(phone, fmt, phone_country)))
        except OrderError as exc:
            raise TrackingError(f"{src}: row {row}, column '{column}': {exc.reason}") from None
        if ident not in keys_of:
            ids.append(ident)
            keys_of[ident] = []
        keys_of[ident].append(key)
        if ph is not None:
            phone_of.setdefault(ident, ph)
    path = sqlite_path(store_url)
    if path is not None and not path.is_file():
        raise TrackingError(f"{store_url}: no such store (an empty store would make every "
                            "customer new)")
    with open_store(store_url, salt) as store:
        known = store.first_purchases(sorted({k for ks in keys_of.values() for k in ks}))
    existing = {i for i in ids if any(k in known for k in keys_of[i])}
    chosen = [i for i in ids if (i in existing) == (kind == "existing")]
    head = ",".join(HEADERS[fmt])
    lines = [head, *(f"{i},{phone_of.get(i, '')}" for i in chosen)]
    summary = AudienceSummary(
        kind=kind, fmt=fmt, rows=len(df), customers=len(ids), existing=len(existing),
        new=len(ids) - len(existing), written=len(chosen),
        with_phone=sum(i in phone_of for i in chosen),
    )
    return Audience("\n".join(lines) + "\n", summary)


__all__ = [
    "FORMATS",
    "TYPES",
    "Audience",
    "AudienceSummary",
    "build_audience",
    "phone_digits",
    "platform_email",
    "platform_phone",
    "read_crm_frame",
    "sha256_hex",
]
