"""Adstock (carry-over) and saturation (diminishing returns) families, each in one registry.

A family is a small class with a ``lookup_name``; defining the class registers it.  A family
knows its value and first derivative, vectorised over numpy arrays, and rebuilds from
``{"lookup_name": ..., **params}``.  Nothing outside this module needs to change when a family
is added.

Saturation functions take *adstocked* weekly spend ``a >= 0`` (data currency) and return a
number in ``[0, 1)``: the share of the channel's maximum weekly response reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

SATURATIONS: dict[str, type[Saturation]] = {}
ADSTOCKS: dict[str, type[Adstock]] = {}


def _as_array(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=float)


class _Family:
    """Shared machinery: named parameters, a registry, dict round-trip."""

    lookup_name: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]] = ()
    _registry: ClassVar[dict[str, Any]]

    def __init__(self, **params: float) -> None:
        missing = [p for p in self.param_names if p not in params]
        extra = [p for p in params if p not in self.param_names]
        if missing or extra:
            raise ValueError(
                f"{self.lookup_name}: expected parameters {list(self.param_names)}, "
                f"got {sorted(params)}"
            )
        self.params: dict[str, float] = {p: float(params[p]) for p in self.param_names}
        self._check()

    def _check(self) -> None:
        """Raise ValueError on parameters outside the family's domain."""

    def __getattr__(self, name: str) -> float:
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return float(params[name])
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"lookup_name": self.lookup_name, **self.params}

    def with_params(self, **changes: float) -> _Family:
        return type(self)(**{**self.params, **changes})

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v:.6g}" for k, v in self.params.items())
        return f"{type(self).__name__}({inner})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.params == other.params

    def __hash__(self) -> int:
        return hash((self.lookup_name, tuple(self.params.items())))


# --------------------------------------------------------------------------- saturation


class Saturation(_Family):
    """Base class of saturation families; subclasses register themselves by ``lookup_name``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("lookup_name")
        if name is None:
            return
        if name in SATURATIONS:
            raise ValueError(f"saturation family {name!r} is registered twice")
        SATURATIONS[name] = cls

    def value(self, a: ArrayLike) -> FloatArray:
        raise NotImplementedError

    def derivative(self, a: ArrayLike) -> FloatArray:
        raise NotImplementedError

    @property
    def is_concave(self) -> bool:
        """True when the value is concave on ``a >= 0`` (no S-shape)."""
        return True

    @property
    def scale(self) -> float:
        """The adstocked spend at which half the maximum response is reached."""
        return float(self.params["k"])

    @classmethod
    def from_scale(cls, scale: float, **shape: float) -> Saturation:
        """Build the family with the given half-saturation spend (and shape parameters)."""
        return cls(k=scale, **shape)

    @classmethod
    def shape_bounds(cls) -> dict[str, tuple[float, float]]:
        """Bounds of the shape parameters (everything but the scale) for fitting."""
        return {}


class Hill(Saturation):
    """``a**s / (a**s + k**s)``; concave for ``s <= 1``, S-shaped for ``s > 1``."""

    lookup_name = "hill"
    param_names = ("k", "s")

    def _check(self) -> None:
        if not (self.params["k"] > 0 and self.params["s"] > 0):
            raise ValueError(f"hill needs k > 0 and s > 0, got {self.params}")

    def value(self, a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        k, s = self.params["k"], self.params["s"]
        r = (a / k) ** s
        return r / (1.0 + r)

    def derivative(self, a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        k, s = self.params["k"], self.params["s"]
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (a / k) ** s
            d = s * r / (a * (1.0 + r) ** 2)
        if s == 1.0:
            d = np.where(a == 0, 1.0 / k, d)
        elif s < 1.0:
            d = np.where(a == 0, np.inf, d)
        else:
            d = np.where(a == 0, 0.0, d)
        return np.asarray(d, dtype=float)

    @property
    def is_concave(self) -> bool:
        return self.params["s"] <= 1.0 + 1e-12

    @classmethod
    def shape_bounds(cls) -> dict[str, tuple[float, float]]:
        return {"s": (0.5, 3.0)}


class MichaelisMenten(Saturation):
    """``a / (a + k)``: the Hill family with shape 1."""

    lookup_name = "michaelis_menten"
    param_names = ("k",)

    def _check(self) -> None:
        if not self.params["k"] > 0:
            raise ValueError(f"michaelis_menten needs k > 0, got {self.params}")

    def value(self, a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        return a / (a + self.params["k"])

    def derivative(self, a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        k = self.params["k"]
        return k / (a + k) ** 2


class Exponential(Saturation):
    """``1 - exp(-a ln2 / k)``: half the maximum at ``a = k``."""

    lookup_name = "exponential"
    param_names = ("k",)

    def _check(self) -> None:
        if not self.params["k"] > 0:
            raise ValueError(f"exponential needs k > 0, got {self.params}")

    def value(self, a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        return -np.expm1(-np.log(2.0) * a / self.params["k"])

    def derivative(self, a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        c = np.log(2.0) / self.params["k"]
        return c * np.exp(-c * a)


class Logistic(Saturation):
    """``(1 - exp(-lam a)) / (1 + exp(-lam a)) = tanh(lam a / 2)`` with ``lam = ln 3 / k``.

    The logistic saturation of marketing-mix practice, parameterised by its half-saturation
    spend ``k`` (``tanh(x) = 1/2`` at ``x = ln(3)/2``).
    """

    lookup_name = "logistic"
    param_names = ("k",)

    def _check(self) -> None:
        if not self.params["k"] > 0:
            raise ValueError(f"logistic needs k > 0, got {self.params}")

    @property
    def lam(self) -> float:
        return float(np.log(3.0) / self.params["k"])

    def value(self, a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        return np.tanh(0.5 * self.lam * a)

    def derivative(self, a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        lam = self.lam
        # sech^2 written with exp(-|z|) so that a very large spend gives 0 without overflow
        e = np.exp(-lam * a)
        return 2.0 * lam * e / (1.0 + e) ** 2


def saturation_from_dict(d: Mapping[str, Any]) -> Saturation:
    """Rebuild a saturation from ``{"lookup_name": ..., **params}``."""
    d = dict(d)
    name = d.pop("lookup_name", None)
    if name not in SATURATIONS:
        raise ValueError(f"unknown saturation family {name!r}; known: {sorted(SATURATIONS)}")
    return SATURATIONS[name](**d)


# --------------------------------------------------------------------------- adstock


class Adstock(_Family):
    """Base class of carry-over families.

    An adstock is a set of lag weights ``w_0 = 1, w_1, ..., w_L``; the adstocked spend of week t
    is ``sum_l w_l x_{t-l}``.  A constant spend ``x`` settles at ``x * total_weight``.
    """

    max_lag: ClassVar[int] = 52

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("lookup_name")
        if name is None:
            return
        if name in ADSTOCKS:
            raise ValueError(f"adstock family {name!r} is registered twice")
        ADSTOCKS[name] = cls

    def weights(self, n_lags: int | None = None) -> FloatArray:
        raise NotImplementedError

    @property
    def total_weight(self) -> float:
        """Steady-state multiplier: adstocked spend of a constant spend of 1."""
        return float(self.weights().sum())

    def apply(self, x: ArrayLike, initial: float | None = None) -> FloatArray:
        """Adstock a weekly series (last axis is time).

        ``initial`` is the weekly spend assumed before the first week (default: none).
        """
        x = _as_array(x)
        w = self.weights()
        n = x.shape[-1]
        if initial is not None and initial > 0:
            pad = np.full((*x.shape[:-1], len(w) - 1), float(initial))
            xx = np.concatenate([pad, x], axis=-1)
        else:
            xx = x
        out = np.zeros_like(xx)
        for lag, wl in enumerate(w):
            if lag >= xx.shape[-1]:
                break
            if lag == 0:
                out += wl * xx
            else:
                out[..., lag:] += wl * xx[..., :-lag]
        return out[..., -n:]


class Geometric(Adstock):
    """``w_l = alpha**l``; ``a_t = x_t + alpha a_{t-1}``; a constant spend settles at ``x/(1-alpha)``."""

    lookup_name = "geometric"
    param_names = ("alpha",)

    def _check(self) -> None:
        if not 0.0 <= self.params["alpha"] < 1.0:
            raise ValueError(f"geometric adstock needs 0 <= alpha < 1, got {self.params}")

    def weights(self, n_lags: int | None = None) -> FloatArray:
        alpha = self.params["alpha"]
        if n_lags is None:
            # enough lags that the tail left out is below 1e-9 of the total
            n_lags = 1 if alpha == 0 else int(min(520, np.ceil(np.log(1e-9) / np.log(alpha))))
        return alpha ** np.arange(n_lags, dtype=float)

    @property
    def total_weight(self) -> float:
        return 1.0 / (1.0 - self.params["alpha"])

    def apply(self, x: ArrayLike, initial: float | None = None) -> FloatArray:
        x = _as_array(x)
        alpha = self.params["alpha"]
        out = np.empty_like(x)
        prev = np.zeros(x.shape[:-1])
        if initial is not None and initial > 0:
            prev = prev + initial * self.total_weight
        for t in range(x.shape[-1]):
            prev = x[..., t] + alpha * prev
            out[..., t] = prev
        return out


class Weibull(Adstock):
    """Weibull survival weights ``w_l = exp(-(l / scale)**shape)``, truncated at ``max_lag``.

    Shape below 1 decays fast then lingers; above 1 the effect holds for a while, then drops.
    """

    lookup_name = "weibull"
    param_names = ("shape", "scale")
    max_lag = 26

    def _check(self) -> None:
        if not (self.params["shape"] > 0 and self.params["scale"] > 0):
            raise ValueError(f"weibull adstock needs shape > 0 and scale > 0, got {self.params}")

    def weights(self, n_lags: int | None = None) -> FloatArray:
        n = self.max_lag + 1 if n_lags is None else n_lags
        lags = np.arange(n, dtype=float)
        return np.exp(-((lags / self.params["scale"]) ** self.params["shape"]))


def adstock_from_dict(d: Mapping[str, Any]) -> Adstock:
    """Rebuild an adstock from ``{"lookup_name": ..., **params}``."""
    d = dict(d)
    name = d.pop("lookup_name", None)
    if name not in ADSTOCKS:
        raise ValueError(f"unknown adstock family {name!r}; known: {sorted(ADSTOCKS)}")
    return ADSTOCKS[name](**d)
