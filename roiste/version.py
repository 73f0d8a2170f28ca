"""The installed version of roiste (``0+unknown`` in a source tree that was not installed)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("roiste")
except PackageNotFoundError:  # a source tree that was not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
