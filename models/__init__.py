"""Estimation layer of roiste: weekly panels in, response curves out.

The curve classes load on first use, so that ``roiste.models.io`` and ``roiste.models.errors``
stay light for the tagging server (no pandas at its start).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from roiste.models.errors import CurveError, PanelError, RoisteError

if TYPE_CHECKING:
    from roiste.models.curves import Component, CurveSet, ResponseCurve

_LAZY = {"Component": "roiste.models.curves", "CurveSet": "roiste.models.curves",
         "ResponseCurve": "roiste.models.curves"}

__all__ = ["Component", "CurveError", "CurveSet", "PanelError", "ResponseCurve", "RoisteError"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'roiste.models' has no attribute {name!r}")
