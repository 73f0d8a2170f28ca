"""Response curves: what a channel earns per week at a constant weekly spend.

``ResponseCurve.response(w)`` is the steady-state expected weekly incremental revenue at a
constant weekly spend ``w`` (data currency per week); ``marginal(w)`` is its derivative, the
marginal ROAS.  A ``CurveSet`` holds one curve per channel with the fit's diagnostics and saves
to one JSON file with a schema version.  A set with more than :data:`SIDECAR_DRAWS` bootstrap
draws keeps their numbers in a sidecar array next to the JSON (``curves.json`` ->
``curves.draws.npy``, little-endian float64 in NumPy's ``.npy`` format), which the JSON names
with its SHA-256; :meth:`CurveSet.load` reads it back and refuses a missing or altered one.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from roiste.models.errors import CurveError
from roiste.models.io import atomic_write_bytes, require_input
from roiste.models.transforms import (
    Adstock,
    FloatArray,
    Saturation,
    adstock_from_dict,
    saturation_from_dict,
)

SCHEMA_VERSION = 1
#: A curve set with more bootstrap draws than this (all channels together) keeps them in a
#: sidecar array file; at about 200 bytes of JSON a draw, the JSON alone would pass 2 MB.
SIDECAR_DRAWS = 10_000
DRAWS_SUFFIX = ".draws.npy"


@dataclass(frozen=True)
class Component:
    """``beta * saturation(adstock_total * w)``: one outcome's steady-state response."""

    beta: float
    saturation: Saturation
    adstock: Adstock

    def value(self, w: ArrayLike) -> FloatArray:
        t = self.adstock.total_weight
        return self.beta * self.saturation.value(np.asarray(w, dtype=float) * t)

    def derivative(self, w: ArrayLike) -> FloatArray:
        t = self.adstock.total_weight
        return self.beta * t * self.saturation.derivative(np.asarray(w, dtype=float) * t)

    def to_dict(self) -> dict[str, Any]:
        return {
            "beta": self.beta,
            "saturation": self.saturation.to_dict(),
            "adstock": self.adstock.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Component:
        return cls(
            beta=float(d["beta"]),
            saturation=saturation_from_dict(d["saturation"]),
            adstock=adstock_from_dict(d["adstock"]),
        )


@dataclass(frozen=True)
class ResponseCurve:
    """One channel's fitted response.

    Parameters
    ----------
    channel : str
        Channel key (with market/segment parts joined by ``|`` when the panel has them).
    revenue : Component
        Weekly incremental revenue at a constant weekly spend.
    recent_spend : float
        Mean weekly spend over the panel's last weeks (the "current" point).
    visitors : Component or None
        Weekly incremental visitors, when the panel has them.
    ratios : dict
        Panel averages that turn revenue into other outcomes: ``revenue_per_order``,
        ``new_customers_per_revenue``, ``new_customer_revenue_share``, ``return_share``.
    draws : list of Component
        Bootstrap draws of the revenue component (may be empty).
    diagnostics : dict
        Per-channel fit diagnostics.
    """

    channel: str
    revenue: Component
    recent_spend: float = 0.0
    visitors: Component | None = None
    ratios: dict[str, float] = field(default_factory=dict)
    draws: tuple[Component, ...] = ()
    diagnostics: dict[str, Any] = field(default_factory=dict)

    # -- the revenue curve ---------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.revenue.saturation.lookup_name

    @property
    def is_concave(self) -> bool:
        return self.revenue.saturation.is_concave

    @property
    def max_response(self) -> float:
        """The weekly revenue the channel approaches at unlimited spend."""
        return self.revenue.beta

    def response(self, w: ArrayLike) -> FloatArray:
        """Steady-state weekly incremental revenue at constant weekly spend ``w``."""
        return self.revenue.value(w)

    def marginal(self, w: ArrayLike) -> FloatArray:
        """Marginal ROAS: derivative of :meth:`response` at weekly spend ``w``."""
        return self.revenue.derivative(w)

    def roas(self, w: ArrayLike) -> FloatArray:
        w = np.asarray(w, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(w > 0, self.response(w) / w, self.marginal(0.0))

    def saturation_share(self, w: ArrayLike) -> FloatArray:
        """Share of the channel's maximum weekly response reached at weekly spend ``w``."""
        return self.response(w) / self.revenue.beta if self.revenue.beta > 0 else np.zeros_like(
            np.asarray(w, dtype=float)
        )

    def spend_at_marginal(self, target: float, upper: float | None = None) -> float:
        """Weekly spend at which marginal ROAS falls to ``target`` (on the falling side).

        Returns 0 when marginal ROAS is below ``target`` everywhere past the peak, and
        ``inf`` when it never falls that low below ``upper`` (default: 1e4 x recent spend).
        """
        hi = upper if upper is not None else max(self.recent_spend, 1.0) * 1e4
        grid = np.geomspace(max(hi, 1.0) * 1e-9, hi, 4001)
        m = self.marginal(grid)
        peak = int(np.argmax(m))
        if m[peak] < target:
            return 0.0
        below = np.nonzero(m[peak:] < target)[0]
        if len(below) == 0:
            return math.inf
        j = peak + int(below[0])
        lo_w, hi_w = grid[j - 1] if j > 0 else 0.0, grid[j]
        for _ in range(100):
            mid = 0.5 * (lo_w + hi_w)
            if self.marginal(mid) >= target:
                lo_w = mid
            else:
                hi_w = mid
        return float(0.5 * (lo_w + hi_w))

    def saturation_spend(self, share: float = 0.8) -> float:
        """Weekly spend at which ``share`` of the maximum response is reached."""
        if not 0 < share < 1:
            raise ValueError("share must lie in (0, 1)")
        lo, hi = 0.0, max(self.recent_spend, 1.0)
        while self.saturation_share(hi) < share:
            hi *= 2.0
            if hi > 1e15:
                return math.inf
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if self.saturation_share(mid) < share:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    # -- uncertainty ----------------------------------------------------------------------
    def response_draws(self, w: ArrayLike) -> FloatArray:
        """Responses of the bootstrap draws, shape ``(n_draws, len(w))`` (empty when none)."""
        w = np.atleast_1d(np.asarray(w, dtype=float))
        if not self.draws:
            return np.empty((0, len(w)))
        return np.vstack([d.value(w) for d in self.draws])

    def response_band(self, w: ArrayLike, level: float = 0.9) -> tuple[FloatArray, FloatArray]:
        """Pointwise ``level`` interval of the response over the bootstrap draws."""
        d = self.response_draws(w)
        if d.shape[0] == 0:
            r = np.atleast_1d(self.response(w))
            return r, r
        q = (1.0 - level) / 2.0
        return np.quantile(d, q, axis=0), np.quantile(d, 1.0 - q, axis=0)

    # -- visitors, orders, customers --------------------------------------------------------
    @property
    def has_visitors(self) -> bool:
        return self.visitors is not None

    def visitors_at(self, w: ArrayLike) -> FloatArray:
        if self.visitors is None:
            raise CurveError(f"channel {self.channel!r}: the panel had no visitors")
        return self.visitors.value(w)

    def marginal_visitors(self, w: ArrayLike) -> FloatArray:
        if self.visitors is None:
            raise CurveError(f"channel {self.channel!r}: the panel had no visitors")
        return self.visitors.derivative(w)

    def rpv(self, w: ArrayLike) -> FloatArray:
        """Incremental revenue per incremental visitor at weekly spend ``w``."""
        v = self.visitors_at(w)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(v > 0, self.response(w) / v, np.nan)

    def marginal_rpv(self, w: ArrayLike) -> FloatArray:
        """Extra revenue per extra visitor when spend rises a little above ``w``."""
        w = np.asarray(w, dtype=float)
        mv = self.marginal_visitors(w)
        # where the visitor curve is flat (a millionth of its average visitors per unit of spend)
        # one more visitor costs an unbounded amount: the ratio says nothing, so it is NaN
        with np.errstate(divide="ignore", invalid="ignore"):
            avg = np.where(w > 0, self.visitors_at(w) / w, self.marginal_visitors(0.0))
            return np.where(mv > 1e-6 * avg, self.marginal(w) / mv, np.nan)

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "channel": self.channel,
            "revenue": self.revenue.to_dict(),
            "recent_spend": self.recent_spend,
            "ratios": dict(sorted(self.ratios.items())),
            "diagnostics": self.diagnostics,
        }
        if self.visitors is not None:
            out["visitors"] = self.visitors.to_dict()
        if self.draws:
            out["draws"] = [d.to_dict() for d in self.draws]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ResponseCurve:
        return cls(
            channel=str(d["channel"]),
            revenue=Component.from_dict(d["revenue"]),
            recent_spend=float(d.get("recent_spend", 0.0)),
            visitors=Component.from_dict(d["visitors"]) if d.get("visitors") else None,
            ratios={k: float(v) for k, v in dict(d.get("ratios", {})).items()},
            draws=tuple(Component.from_dict(x) for x in d.get("draws", [])),
            diagnostics=dict(d.get("diagnostics", {})),
        )


class CurveSet(Mapping[str, ResponseCurve]):
    """One response curve per channel, with the fit's diagnostics and metadata.

    Examples
    --------
    >>> from models.transforms import Geometric, Hill
    >>> c = ResponseCurve("search", Component(1000.0, Hill(k=500.0, s=1.0), Geometric(alpha=0.0)))
    >>> cs = CurveSet([c])
    >>> float(cs["search"].response(500.0))
    500.0
    """

    def __init__(
        self,
        curves: Sequence[ResponseCurve],
        diagnostics: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._curves: dict[str, ResponseCurve] = {}
        for c in curves:
            if c.channel in self._curves:
                raise CurveError(f"channel {c.channel!r} appears twice in the curve set")
            self._curves[c.channel] = c
        self.diagnostics: dict[str, Any] = dict(diagnostics or {})
        self.meta: dict[str, Any] = dict(meta or {})

    @property
    def channels(self) -> list[str]:
        return list(self._curves)

    def __getitem__(self, channel: str) -> ResponseCurve:
        try:
            return self._curves[channel]
        except KeyError:
            raise KeyError(f"no curve for channel {channel!r}; known: {self.channels}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._curves)

    def __len__(self) -> int:
        return len(self._curves)

    def subset(self, channels: Sequence[str]) -> CurveSet:
        return CurveSet([self[c] for c in channels], self.diagnostics, self.meta)

    # -- files -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "meta": self.meta,
            "diagnostics": self.diagnostics,
            "channels": [c.to_dict() for c in self._curves.values()],
        }

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), indent=2, sort_keys=True, allow_nan=False) + "\n"

    def to_files(self, name: str = "curves.json") -> dict[str, bytes]:
        """The files of the curve set saved as ``name``: the draws' sidecar (when the set has
        more than :data:`SIDECAR_DRAWS` draws) first, then the JSON that names it."""
        return _files(self.to_dict(), name)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the curve set's JSON file (and its draws' sidecar, when large), each
        atomically and deterministically; the sidecar goes first, so the JSON never names
        draws that are not there yet."""
        folder = Path(path).parent
        for name, data in self.to_files(Path(path).name).items():
            atomic_write_bytes(folder / name, data)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "<dict>") -> CurveSet:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise CurveError(
                f"{source}: schema_version {version!r} is not supported (expected {SCHEMA_VERSION})"
            )
        try:
            curves = [ResponseCurve.from_dict(c) for c in d["channels"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise CurveError(f"{source}: malformed curve entry: {exc}") from None
        return cls(curves, d.get("diagnostics", {}), d.get("meta", {}))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CurveSet:
        """Read a curve set written by :meth:`save`."""
        require_input(path, str(path), CurveError, "no such curves file")
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise CurveError(f"{path}: no such curves file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CurveError(f"{path}: not a curves JSON file ({exc})") from None
        if not isinstance(data, dict):
            raise CurveError(f"{path}: not a curves JSON file (top level is not an object)")
        return cls.from_dict(_with_draws(data, Path(path)), source=str(path))

    # -- tables ----------------------------------------------------------------------------
    def summary_table(self, level: float | None = None) -> pd.DataFrame:
        """Per channel: recent weekly spend, ROAS, marginal ROAS, RPV, saturation, break-even.

        Parameters
        ----------
        level : float, optional
            With a level (e.g. 0.8) and curves that carry bootstrap draws, the columns
            ``weekly_response``, ``roas`` and ``marginal_roas`` get ``_low`` and ``_high``
            companions: the central ``level`` interval of the draws at the recent spend (empty
            for a channel without draws).
        """
        rows = []
        with_draws = level is not None and any(c.draws for c in self._curves.values())
        for c in self._curves.values():
            w = c.recent_spend
            row: dict[str, Any] = {
                "channel": c.channel,
                "family": c.family,
                "recent_weekly_spend": w,
                "weekly_response": float(c.response(w)),
                "roas": float(c.roas(w)),
                "marginal_roas": float(c.marginal(w)),
                "saturation_share": float(c.saturation_share(w)),
                "spend_at_marginal_roas_1": c.spend_at_marginal(1.0),
            }
            if with_draws and level is not None:
                q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
                resp = np.array([float(d.value(w)) for d in c.draws])
                draws = {
                    "weekly_response": resp,
                    "roas": resp / w if w > 0 else np.array([float(d.derivative(0.0))
                                                             for d in c.draws]),
                    "marginal_roas": np.array([float(d.derivative(w)) for d in c.draws]),
                }
                for name, values in draws.items():
                    lo, hi = np.quantile(values, q) if len(values) else (np.nan, np.nan)
                    row[f"{name}_low"], row[f"{name}_high"] = float(lo), float(hi)
            if c.has_visitors:
                row["rpv"] = float(c.rpv(w))
                row["marginal_rpv"] = float(c.marginal_rpv(w))
            rows.append(row)
        return pd.DataFrame(rows)


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None so that the JSON stays standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.floating):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_finite(v) for v in obj.tolist()]
    return obj


# -- the draws' sidecar ---------------------------------------------------------------------


def draws_file_name(name: str) -> str:
    """The sidecar of a curves file: ``curves.json`` -> ``curves.draws.npy``."""
    stem = name[:-5] if name.lower().endswith(".json") else name
    return stem + DRAWS_SUFFIX


def curves_files(text: str, name: str = "curves.json") -> dict[str, bytes]:
    """The files a curves JSON text (:meth:`CurveSet.to_json`) is saved as under ``name``:
    the text itself when its draws stay in line."""
    return _split(json.loads(text), name) or {name: text.encode("utf-8")}


def copy_curves_files(src: str | os.PathLike[str], name: str = "curves.json") -> dict[str, bytes]:
    """The files that copy the curves file ``src`` (and its sidecar) under the name ``name``.

    The JSON keeps its bytes when its sidecar is already named for ``name``; otherwise only the
    sidecar's name inside it changes.  The sidecar is checked against its SHA-256 first.

    Raises
    ------
    CurveError
        The sidecar is missing or altered, or the file is not a curves file.
    """
    path = Path(src)
    data = path.read_bytes()
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CurveError(f"{path}: not a curves JSON file ({exc})") from None
    ref = doc.get("draws_file") if isinstance(doc, dict) else None
    if not isinstance(ref, dict):
        return {name: data}
    side = _sidecar_bytes(ref, path)
    target = draws_file_name(name)
    if ref.get("name") != target:
        doc["draws_file"] = {**ref, "name": target}
        data = _dump(doc).encode("utf-8")
    return {target: side, name: data}


def _dump(doc: Any) -> str:
    return json.dumps(_finite(doc), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _files(doc: dict[str, Any], name: str) -> dict[str, bytes]:
    return _split(doc, name) or {name: _dump(doc).encode("utf-8")}


def _split(doc: dict[str, Any], name: str) -> dict[str, bytes] | None:
    """The sidecar and the JSON of a curves document with many draws (None for few)."""
    channels = list(doc.get("channels", []))
    if sum(len(c.get("draws") or ()) for c in channels) <= SIDECAR_DRAWS:
        return None
    layouts: dict[tuple[str, str, tuple[str, ...]], int] = {}
    values: list[float] = []
    out = []
    for c in channels:
        if not c.get("draws"):
            out.append(c)
            continue
        where = {"start": len(values), "count": len(c["draws"])}
        for d in c["draws"]:
            sat, ad = dict(d["saturation"]), dict(d["adstock"])
            sname, aname = str(sat.pop("lookup_name")), str(ad.pop("lookup_name"))
            fields = ("beta", *(f"saturation.{k}" for k in sat), *(f"adstock.{k}" for k in ad))
            code = layouts.setdefault((sname, aname, fields), len(layouts))
            values += [float(code), float(d["beta"]), *map(float, sat.values()), *map(float, ad.values())]
        out.append({**{k: v for k, v in c.items() if k != "draws"}, "draws_in_file": where})
    buf = io.BytesIO()
    np.save(buf, np.array(values, dtype="<f8"), allow_pickle=False)
    side = buf.getvalue()
    ref: dict[str, Any] = {"name": draws_file_name(name), "sha256": hashlib.sha256(side).hexdigest(),
           "values": len(values), "format": "npy <f8",
           "layouts": [{"saturation": sn, "adstock": an, "fields": list(f)} for sn, an, f in layouts]}
    return {str(ref["name"]): side,
            name: _dump({**doc, "channels": out, "draws_file": ref}).encode("utf-8")}


def _sidecar_bytes(ref: Mapping[str, Any], path: Path) -> bytes:
    """The sidecar's bytes, checked against the SHA-256 the curves file records."""
    name = ref.get("name")
    if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
        raise CurveError(f"{path}: draws_file.name must be a file name next to the curves file")
    side = path.parent / name
    if not side.is_file():
        raise CurveError(f"{path}: its draws file {side} is missing; keep it next to the curves file")
    data = side.read_bytes()
    if hashlib.sha256(data).hexdigest() != ref.get("sha256"):
        raise CurveError(f"{path}: its draws file {side} does not match the SHA-256 the curves "
                         "file records (altered, or from another fit)")
    return data


def _with_draws(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """The document with the sidecar's draws put back in line (unchanged without a sidecar)."""
    ref = doc.get("draws_file")
    if ref is None:
        return doc
    if not isinstance(ref, dict):
        raise CurveError(f"{path}: draws_file must be an object (name, sha256, values)")
    data = _sidecar_bytes(ref, path)
    try:
        values = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise CurveError(f"{path}: its draws file is not a NumPy array file ({exc})") from None
    if values.dtype != np.dtype("<f8") or values.ndim != 1 or values.size != ref.get("values"):
        raise CurveError(f"{path}: its draws file does not hold the {ref.get('values')} float64 "
                         "values the curves file records")
    flat = values.tolist()
    try:
        layouts = [(str(x["saturation"]), str(x["adstock"]), [str(f) for f in x["fields"]])
                   for x in ref.get("layouts", [])]
        for _, _, fields in layouts:
            if fields[:1] != ["beta"] or not all(f.startswith(("saturation.", "adstock."))
                                                  for f in fields[1:]):
                raise ValueError(f"unknown draw fields {fields}")
    except (KeyError, TypeError, ValueError) as exc:
        raise CurveError(f"{path}: malformed draws_file.layouts ({exc})") from None
    channels = []
    for c in doc.get("channels", []):
        at = c.get("draws_in_file") if isinstance(c, dict) else None
        if at is None:
            channels.append(c)
            continue
        draws = []
        try:
            pos = int(at["start"])
            for _ in range(int(at["count"])):
                code = flat[pos]
                if not (0 <= pos and code == int(code) and 0 <= code < len(layouts)):
                    raise ValueError(f"no draw layout at value {pos}")
                sname, aname, fields = layouts[int(code)]
                row = flat[pos + 1:pos + 1 + len(fields)]
                if len(row) < len(fields):
                    raise ValueError(f"value {pos}: the draws file ends inside a draw")
                sat: dict[str, Any] = {"lookup_name": sname}
                ad: dict[str, Any] = {"lookup_name": aname}
                for f, v in zip(fields[1:], row[1:], strict=True):
                    part, _, key = f.partition(".")
                    (sat if part == "saturation" else ad)[key] = v
                draws.append({"beta": row[0], "saturation": sat, "adstock": ad})
                pos += 1 + len(fields)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CurveError(f"{path}: channel {c.get('channel')!r}: malformed draws_in_file ({exc})") from None
        channels.append({**{k: v for k, v in c.items() if k != "draws_in_file"}, "draws": draws})
    return {**{k: v for k, v in doc.items() if k != "draws_file"}, "channels": channels}
