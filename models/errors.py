"""Errors of roiste that describe bad input (the command line turns them into exit code 2)."""

from __future__ import annotations


class RoisteError(Exception):
    """Bad input or an impossible request, explained in one line.

    The message names the file, row, column or key at fault.  The command line prints it on
    stderr and exits with code 2; anything that is not a ``RoisteError`` is a bug.
    """


class PanelError(RoisteError):
    """A weekly panel that cannot be read or does not meet the data contract."""


class CurveError(RoisteError):
    """A curves file that cannot be read, or a curve that cannot be identified from data."""


class ScenarioError(RoisteError):
    """A scenario file that does not validate."""


class InfeasibleError(RoisteError):
    """Constraints that no allocation can meet; the message names the conflict."""


class AttributionError(RoisteError):
    """Touchpoints, conversions or an attribution rule that cannot be used as given."""


class OutputError(RoisteError):
    """An output that cannot be written: a path that is not a regular file or directory of
    ours (a device, a FIFO, a socket, a symbolic link), a read-only folder, a full disk."""
