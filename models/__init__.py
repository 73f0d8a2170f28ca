"""Estimation layer of roiste: weekly panels in, response curves out."""

from roiste.models.curves import Component, CurveSet, ResponseCurve
from roiste.models.errors import CurveError, PanelError, RoisteError

__all__ = ["Component", "CurveError", "CurveSet", "PanelError", "ResponseCurve", "RoisteError"]
