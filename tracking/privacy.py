"""Which columns of an orders file look like a way to reach a person (and so never leave the tag step).

A column is taken for an address when its **name** holds one of the words of
:data:`ADDRESS_WORDS` (the name is cut into words at every character that is not a letter or a
digit and at lower-to-upper case changes, so ``billingEmail``, ``ship_to_street`` and
``Phone No`` are caught and ``hotel`` or ``channel`` are not; any name containing ``email`` or
``phone`` is caught whole), or when a **value** in it looks like an e-mail address
(``something@domain.tld``) or an international phone number (``+`` or ``00``, then at least
7 digits, spaces, dots, dashes or brackets between them).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Words of a column name that mark an address, a phone number or a street.
ADDRESS_WORDS = frozenset(
    {
        "email", "mail", "phone", "telephone", "tel", "mobile", "cell", "fax", "msisdn",
        "address", "addr", "street", "postcode", "zip", "zipcode", "postal", "ip",
    }
)
_ALWAYS = ("email", "phone")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_PHONE = re.compile(r"(?:\+|00)\s*\d(?:[\s().-]*\d){6,}")
_WORD_CUT = re.compile(r"[^0-9A-Za-z]+|(?<=[a-z0-9])(?=[A-Z])")


def name_words(name: str) -> list[str]:
    """The lower-case words of a column name.

    Examples
    --------
    >>> name_words("billingEmail_2")
    ['billing', 'email', '2']
    """
    return [w.lower() for w in _WORD_CUT.split(name) if w]


def address_reason(name: str, values: Iterable[object] = ()) -> str | None:
    """Why the column ``name`` looks like an address, or None when it does not.

    Parameters
    ----------
    name : str
        The column's name.
    values : iterable
        Its cells (only text cells are looked at).

    Returns
    -------
    str or None
        A short reason that never repeats a value.

    Examples
    --------
    >>> address_reason("billing_email")
    "its name holds the word 'email'"
    >>> address_reason("market", ["IE", "+353 1 234 5678"])
    'a value looks like a phone number'
    >>> address_reason("market", ["IE", "FR"]) is None
    True
    """
    lowered = name.lower()
    for word in _ALWAYS:
        if word in lowered:
            return f"its name holds the word '{word}'"
    for word in name_words(name):
        if word in ADDRESS_WORDS:
            return f"its name holds the word '{word}'"
    for value in values:
        if not isinstance(value, str):
            continue
        if _EMAIL.search(value):
            return "a value looks like an e-mail address"
        if _PHONE.search(value):
            return "a value looks like a phone number"
    return None
