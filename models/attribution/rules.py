"""An attribution rule: a small frozen config (rule, parameters, lookback, channel grouping).

Its hash is the SHA-256 of its canonical JSON (every default filled in, keys sorted, no
spaces), so the same rule gives the same hash on every machine and run; the hash travels with
the weekly panel the rule produces (``PANEL.attribution.json``) into the curves and the plans.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from roiste.models.errors import AttributionError

__all__ = ["DIRECT", "MARKOV_SPLITS", "RULES", "SCHEMA_VERSION", "AttributionRule", "parse_rule"]

RULES = ("last-click", "first-click", "linear", "position-based", "time-decay", "markov", "shapley")
DIRECT = "(direct)"
#: how ``markov`` shares credit: ``global`` gives each channel its share of the removal effects
#: of the whole chain (ChannelAttribution's ``total_conversion_value``); ``journey`` splits each
#: journey's credit among its own channels by their removal effects
MARKOV_SPLITS = ("global", "journey")
SCHEMA_VERSION = 1
_DEFAULTS: dict[str, dict[str, Any]] = {
    "last-click": {},
    "first-click": {},
    "linear": {},
    "position-based": {"weights": [0.4, 0.2, 0.4]},
    "time-decay": {"half_life_days": 7.0},
    "markov": {"order": 1, "split": "global"},
    "shapley": {"max_exact": 15, "samples": 2000, "seed": 0},
}


def _number(rule: str, key: str, value: Any, *, integer: bool = False, low: float = 0.0) -> Any:
    try:
        if isinstance(value, bool):
            raise ValueError
        out = int(value) if integer else float(value)
        if integer and out != float(value):
            raise ValueError
    except (TypeError, ValueError):
        kind = "an integer" if integer else "a number"
        raise AttributionError(f"rule '{rule}': parameter '{key}' must be {kind}, not {value!r}") from None
    if not out > low or not np.isfinite(out):
        raise AttributionError(f"rule '{rule}': parameter '{key}' must be above {low:g}, not {value!r}")
    return out


@dataclass(frozen=True)
class AttributionRule:
    """An attribution rule: its name, parameters, lookback window and channel grouping.

    Parameters
    ----------
    rule : str
        One of :data:`RULES`.
    params : mapping, default {}
        Parameters of the rule (missing ones take their defaults; unknown ones are errors).
    lookback_days : float, default 30
        Touches older than this before a conversion do not count.
    channel_map : mapping of str to str, default {}
        Raw channel name -> channel credited (e.g. ``"google / cpc": "search"``); names not
        in the map stay as they are.

    Examples
    --------
    >>> r = AttributionRule("position-based")
    >>> r.params["weights"], len(r.config_hash)
    ([0.4, 0.2, 0.4], 64)
    """

    rule: str
    params: Mapping[str, Any] = field(default_factory=dict)
    lookback_days: float = 30.0
    channel_map: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise AttributionError(f"unknown attribution rule '{self.rule}' (known: {', '.join(RULES)})")
        defaults = _DEFAULTS[self.rule]
        unknown = sorted(set(self.params) - set(defaults))
        if unknown:
            known = ", ".join(defaults) or "none"
            raise AttributionError(f"rule '{self.rule}': unknown parameter '{unknown[0]}' (known: {known})")
        params = {**defaults, **dict(self.params)}
        if self.rule == "position-based":
            w = params["weights"]
            if isinstance(w, str):
                w = w.split(",")
            if not isinstance(w, Sequence) or len(w) != 3:
                raise AttributionError("rule 'position-based': 'weights' must be three numbers "
                                       "(first, middle, last)")
            w = [_number(self.rule, "weights", x, low=-1e-300) for x in w]
            if abs(sum(w) - 1.0) > 1e-9:
                raise AttributionError(f"rule 'position-based': weights {w} must add up to 1")
            params["weights"] = w
        elif self.rule == "time-decay":
            params["half_life_days"] = _number(self.rule, "half_life_days", params["half_life_days"])
        elif self.rule == "markov":
            params["order"] = _number(self.rule, "order", params["order"], integer=True)
            if params["split"] not in MARKOV_SPLITS:
                raise AttributionError(f"rule 'markov': parameter 'split' must be one of "
                                       f"{', '.join(MARKOV_SPLITS)}, not {params['split']!r}")
        elif self.rule == "shapley":
            params["max_exact"] = _number(self.rule, "max_exact", params["max_exact"], integer=True)
            params["samples"] = _number(self.rule, "samples", params["samples"], integer=True)
            params["seed"] = _number(self.rule, "seed", params["seed"], integer=True, low=-1)
        object.__setattr__(self, "params", params)
        lookback = _number(self.rule, "lookback_days", self.lookback_days)
        if lookback > 36_500:
            raise AttributionError(f"lookback_days {lookback:g} is more than 100 years")
        object.__setattr__(self, "lookback_days", lookback)
        cmap = {str(k): str(v) for k, v in dict(self.channel_map).items()}
        if any(not v.strip() for v in cmap.values()):
            raise AttributionError("channel_map: a channel is mapped to an empty name")
        object.__setattr__(self, "channel_map", dict(sorted(cmap.items())))

    def to_dict(self) -> dict[str, Any]:
        """The canonical configuration (every default filled in)."""
        return {
            "schema": SCHEMA_VERSION,
            "rule": self.rule,
            "params": dict(sorted(self.params.items())),
            "lookback_days": self.lookback_days,
            "channel_map": dict(self.channel_map),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AttributionRule:
        """Rebuild a rule from :meth:`to_dict` output (or a hand-written config)."""
        unknown = sorted(set(d) - {"schema", "rule", "params", "lookback_days", "channel_map"})
        if unknown:
            raise AttributionError(f"attribution config: unknown key '{unknown[0]}'")
        if "rule" not in d:
            raise AttributionError("attribution config: key 'rule' is missing")
        return cls(str(d["rule"]), d.get("params") or {}, d.get("lookback_days", 30.0),
                   d.get("channel_map") or {})

    @property
    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict`: stable across runs and machines."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode("ascii")).hexdigest()

    @property
    def label(self) -> str:
        """Short display name, e.g. ``time-decay(half_life_days=7)``."""
        if not self.params:
            return self.rule
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.rule}({inner})"


def parse_rule(text: str, *, lookback_days: float = 30.0,
               params: Mapping[str, Any] | None = None,
               channel_map: Mapping[str, str] | None = None) -> AttributionRule:
    """A rule from its command-line name, e.g. ``"time-decay"`` or ``"markov:order=2"``."""
    name, _, rest = text.strip().partition(":")
    p = dict(params or {})
    for item in filter(None, (s.strip() for s in rest.split(";"))):
        key, eq, value = item.partition("=")
        if not eq:
            raise AttributionError(f"rule '{text}': expected key=value after ':', not '{item}'")
        p[key.strip()] = value.strip()
    return AttributionRule(name, p, lookback_days, channel_map or {})
