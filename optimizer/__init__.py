"""Decision layer of roiste: scenarios in, plans, backtests and reports out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roiste")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
