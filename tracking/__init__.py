"""Collection layer of roiste: the customer store and server-side tagging.

Each purchase is tagged ``new`` or ``existing`` by looking its buyer up in a store keyed by a
salted hash of the normalised e-mail address, and inserting it when absent, in one atomic step.
Raw addresses are never stored or logged.  SQLite (a file) is the default store; PostgreSQL is
reached through a connection URL.

This package imports neither ``models`` nor ``optimizer`` and keeps its import light: pandas,
the web stack and the PostgreSQL driver are imported only by the modules that need them.
"""

from roiste.tracking.errors import ConfigError, OrderError, TrackingError
from roiste.tracking.keys import customer_key, email_digest, load_salt, normalise_email
from roiste.tracking.store import CustomerStore, Order, Tag, open_store

__all__ = [
    "ConfigError",
    "CustomerStore",
    "Order",
    "OrderError",
    "Tag",
    "TrackingError",
    "customer_key",
    "email_digest",
    "load_salt",
    "normalise_email",
    "open_store",
]
