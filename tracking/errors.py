"""Errors of the customer store that describe bad input or bad configuration.

``tracking`` sits beside ``models`` and imports neither it nor ``optimizer``, so it has its own
error family.  The command line treats a ``TrackingError`` like a ``RoisteError``: one line on
stderr and exit code 2.
"""

from __future__ import annotations


class TrackingError(Exception):
    """Bad input or configuration of the customer store, explained in one line.

    The message names the file, row, column, field or setting at fault and never contains an
    e-mail address.
    """


class ConfigError(TrackingError):
    """A missing or unusable salt, token or store URL."""


class OrderError(TrackingError):
    """An order that does not meet the data contract (missing field, not an e-mail, ...).

    Parameters
    ----------
    field : str
        The field (or column) at fault.
    reason : str
        What is wrong with it, without repeating its content.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"field '{field}': {reason}")
        self.field = field
        self.reason = reason


class StoreError(TrackingError):
    """A store that cannot be opened or used (unreachable server, locked file, other salt)."""
