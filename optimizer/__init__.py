"""Decision layer of roiste: scenarios in, plans, backtests and reports out."""

from roiste.version import __version__

__all__ = ["__version__"]
