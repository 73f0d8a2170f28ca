"""Adstock (carry-over) and saturation (diminishing returns) families, each in one registry.

A family is a small class with a ``lookup_name``; defining the class registers it.  A family
owns its maths (a saturation's value and first derivative, vectorised over arrays of spend and
of parameters, and where it has one its value as a spreadsheet formula; an adstock's lag
weights), the grids the fits search it on, and rebuilds from
``{"lookup_name": ..., **params}``.  Nothing outside this module names a family, so nothing
else changes when one is added.

Saturation functions take *adstocked* weekly spend ``a >= 0`` (data currency) and return a
number in ``[0, 1)``: the share of the channel's maximum weekly response reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]
Bounds = Mapping[str, tuple[float, float]]  # parameter -> (low, high)
Grid = Mapping[str, tuple[float, ...]]  # parameter -> values tried

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


def _geometric_grid(lo: float, hi: float, points: int) -> tuple[float, ...]:
    return tuple(float(v) for v in np.geomspace(lo, hi, points))


class Saturation(_Family):
    """Base class of saturation families; subclasses register themselves by ``lookup_name``.

    A family is one class: its ``param_names`` (the half-saturation spend is ``k``; the others
    are *shape* parameters), its value and derivative as static methods over parameter arrays
    (:meth:`value_at`, :meth:`derivative_at`), and what the fits, the simulator and the planner
    need to know about it (the class attributes below).  Nothing outside this module names a
    family.

    Attributes
    ----------
    shape_bounds : mapping of str to (float, float)
        Bounds of each shape parameter for fitting (the continuous refinements stay inside).
    fit_shape_grid : mapping of str to tuple of float
        Shape values the per-channel fit tries (every combination); one per bounded parameter.
    mmm_shape_grid : mapping of str to tuple of float
        Shape values the marketing-mix coordinate search tries.
    simulation_shape_ranges : mapping of str to tuple of (float, float)
        Ranges the simulator draws a shape parameter from (one range picked at random, then a
        uniform draw in it).
    can_be_s_shaped : bool
        Some parameters make the value convex, then concave (see :attr:`is_concave`).
    """

    shape_bounds: ClassVar[Bounds] = {}
    fit_shape_grid: ClassVar[Grid] = {}
    mmm_shape_grid: ClassVar[Grid] = {}
    simulation_shape_ranges: ClassVar[Mapping[str, tuple[tuple[float, float], ...]]] = {}
    can_be_s_shaped: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("lookup_name")
        if name is None:
            return
        if name in SATURATIONS:
            raise ValueError(f"saturation family {name!r} is registered twice")
        shape = [p for p in cls.param_names if p != "k"]
        for attr in ("shape_bounds", "fit_shape_grid", "mmm_shape_grid",
                     "simulation_shape_ranges"):
            unknown = sorted(set(getattr(cls, attr)) - set(shape))
            if unknown:
                raise ValueError(f"saturation family {name!r}: {attr} names {unknown}, which are "
                                 f"not shape parameters {shape}")
        if set(cls.fit_shape_grid) != set(cls.shape_bounds):
            raise ValueError(f"saturation family {name!r}: fit_shape_grid and shape_bounds must "
                             "name the same parameters")
        SATURATIONS[name] = cls

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        """The value at adstocked spend ``a`` with parameters ``p``.

        Each parameter is a float or an array that broadcasts against ``a`` (one row of
        parameters per row of spends, say), so that many channels of a family are evaluated
        in one call.
        """
        raise NotImplementedError

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        """The derivative in ``a`` of :meth:`value_at` (same broadcasting)."""
        raise NotImplementedError

    @staticmethod
    def excel_value(p: Mapping[str, str], a: str) -> str | None:
        """:meth:`value_at` as a spreadsheet expression (Excel and LibreOffice), or None.

        ``a`` and each ``p[name]`` are spreadsheet expressions (a cell reference, or a
        parenthesised expression) of the adstocked spend and of the parameters; the result is
        one parenthesised expression that computes what :meth:`value_at` does.  A family with
        no closed form in spreadsheet functions keeps the default, None: a workbook then
        tabulates its response instead.
        """
        return None

    @staticmethod
    def excel_derivative(p: Mapping[str, str], a: str) -> str | None:
        """:meth:`derivative_at` as a spreadsheet expression, or None (as :meth:`excel_value`).

        Where the derivative is unbounded (at ``a = 0`` for some shapes) the expression gives
        the empty text.
        """
        return None

    def value(self, a: ArrayLike) -> FloatArray:
        """The share of the maximum response reached at adstocked spend ``a``."""
        return self.value_at(self.params, a)

    def derivative(self, a: ArrayLike) -> FloatArray:
        """The derivative of :meth:`value` in ``a``."""
        return self.derivative_at(self.params, a)

    @classmethod
    def stack_params(cls, members: Sequence[Saturation]) -> dict[str, FloatArray]:
        """The parameters of several members of the family as columns of shape ``(n, 1)``.

        They broadcast against spends of shape ``(n, m)``: row ``i`` is member ``i``.
        """
        return {p: np.array([s.params[p] for s in members])[:, None] for p in cls.param_names}

    @property
    def is_concave(self) -> bool:
        """True when the value is concave on ``a >= 0`` (no S-shape)."""
        return not self.can_be_s_shaped

    @property
    def concave_from(self) -> float:
        """The adstocked spend from which the value is concave: 0 for a concave value, its
        inflection point for an S-shape, ``inf`` where the family does not know it."""
        return 0.0 if self.is_concave else float(np.inf)

    @property
    def scale(self) -> float:
        """The adstocked spend at which half the maximum response is reached."""
        return float(self.params["k"])

    @classmethod
    def from_scale(cls, scale: float, **shape: float) -> Saturation:
        """Build the family with the given half-saturation spend (and shape parameters)."""
        return cls(k=scale, **shape)


class Hill(Saturation):
    """``a**s / (a**s + k**s)``; concave for ``s <= 1``, S-shaped for ``s > 1``."""

    lookup_name = "hill"
    param_names = ("k", "s")
    shape_bounds: ClassVar[Bounds] = {"s": (0.5, 3.0)}
    fit_shape_grid: ClassVar[Grid] = {"s": _geometric_grid(0.5, 3.0, 6)}
    mmm_shape_grid: ClassVar[Grid] = {"s": (0.75, 1.0, 1.5, 2.5)}
    simulation_shape_ranges: ClassVar[Mapping[str, tuple[tuple[float, float], ...]]] = {
        "s": ((0.6, 1.0), (1.0, 2.5))}
    can_be_s_shaped = True

    def _check(self) -> None:
        if not (self.params["k"] > 0 and self.params["s"] > 0):
            raise ValueError(f"hill needs k > 0 and s > 0, got {self.params}")

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        r = (a / p["k"]) ** p["s"]
        return r / (1.0 + r)

    @staticmethod
    def excel_value(p: Mapping[str, str], a: str) -> str | None:
        r = f"(MAX({a},0)/{p['k']})^{p['s']}"
        return f"({r}/(1+{r}))"

    @staticmethod
    def excel_derivative(p: Mapping[str, str], a: str) -> str | None:
        k, s = p["k"], p["s"]
        r = f"(MAX({a},0)/{k})^{s}"
        at_zero = f'IF({s}=1,1/{k},IF({s}<1,"",0))'
        return f"IF(MAX({a},0)=0,{at_zero},{s}*{r}/(MAX({a},0)*(1+{r})^2))"

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        k, s = p["k"], p["s"]
        a = np.maximum(_as_array(a), 0.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = (a / k) ** s
            d = s * r / (a * (1.0 + r) ** 2)
        # at a = 0: 1/k for s = 1, unbounded below 1, flat above
        at_zero = np.where(s == 1.0, 1.0 / k, np.where(s < 1.0, np.inf, 0.0))
        return np.asarray(np.where(a == 0, at_zero, d), dtype=float)

    @property
    def is_concave(self) -> bool:
        return self.params["s"] <= 1.0 + 1e-12

    @property
    def concave_from(self) -> float:
        """``k ((s - 1) / (s + 1))^(1/s)`` for ``s > 1``: the second derivative
        ``s r (s - 1 - (s + 1) r) / (a^2 (1 + r)^3)`` (``r = (a / k)^s``) is negative above it."""
        k, s = float(self.params["k"]), float(self.params["s"])
        if self.is_concave:
            return 0.0
        return k * ((s - 1.0) / (s + 1.0)) ** (1.0 / s)


class MichaelisMenten(Saturation):
    """``a / (a + k)``: the Hill family with shape 1."""

    lookup_name = "michaelis_menten"
    param_names = ("k",)

    def _check(self) -> None:
        if not self.params["k"] > 0:
            raise ValueError(f"michaelis_menten needs k > 0, got {self.params}")

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        return a / (a + p["k"])

    @staticmethod
    def excel_value(p: Mapping[str, str], a: str) -> str | None:
        return f"(MAX({a},0)/(MAX({a},0)+{p['k']}))"

    @staticmethod
    def excel_derivative(p: Mapping[str, str], a: str) -> str | None:
        return f"({p['k']}/(MAX({a},0)+{p['k']})^2)"

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        k = p["k"]
        return k / (a + k) ** 2


class Exponential(Saturation):
    """``1 - exp(-a ln2 / k)``: half the maximum at ``a = k``."""

    lookup_name = "exponential"
    param_names = ("k",)

    def _check(self) -> None:
        if not self.params["k"] > 0:
            raise ValueError(f"exponential needs k > 0, got {self.params}")

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        return -np.expm1(-np.log(2.0) * a / p["k"])

    @staticmethod
    def excel_value(p: Mapping[str, str], a: str) -> str | None:
        return f"(1-EXP(-LN(2)*MAX({a},0)/{p['k']}))"

    @staticmethod
    def excel_derivative(p: Mapping[str, str], a: str) -> str | None:
        c = f"(LN(2)/{p['k']})"
        return f"({c}*EXP(-{c}*MAX({a},0)))"

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        a = np.maximum(_as_array(a), 0.0)
        c = np.log(2.0) / p["k"]
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

    @staticmethod
    def value_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        lam = np.log(3.0) / p["k"]
        return np.tanh(0.5 * lam * np.maximum(_as_array(a), 0.0))

    @staticmethod
    def excel_value(p: Mapping[str, str], a: str) -> str | None:
        return f"TANH(0.5*(LN(3)/{p['k']})*MAX({a},0))"

    @staticmethod
    def excel_derivative(p: Mapping[str, str], a: str) -> str | None:
        lam = f"(LN(3)/{p['k']})"
        x = f"(0.5*{lam}*MAX({a},0))"
        # sech^2 is 0 to double precision long before COSH overflows
        return f"IF({x}>350,0,0.5*{lam}/COSH({x})^2)"

    @staticmethod
    def derivative_at(p: Mapping[str, Any], a: ArrayLike) -> FloatArray:
        lam = np.log(3.0) / p["k"]
        # sech^2; cosh overflows to inf where the derivative is 0 to double precision
        with np.errstate(over="ignore"):
            return 0.5 * lam / np.cosh(0.5 * lam * np.maximum(_as_array(a), 0.0)) ** 2


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

    Attributes
    ----------
    max_lag : int
        Longest lag of the truncated weights.
    fit_grid : tuple of dict
        Parameters the per-channel fit tries with ``adstock="auto"``.
    mmm_grid : tuple of dict
        Parameters the marketing-mix coordinate search tries (empty: not searchable there).
    mmm_bounds : mapping of str to (float, float)
        Bounds of the marketing-mix refinement of each parameter.
    """

    max_lag: ClassVar[int] = 52
    fit_grid: ClassVar[tuple[Mapping[str, float], ...]] = ()
    mmm_grid: ClassVar[tuple[Mapping[str, float], ...]] = ()
    mmm_bounds: ClassVar[Bounds] = {}

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

    def filter_coefficients(self) -> tuple[list[float], list[float]] | None:
        """The adstock as a recursive linear filter ``(b, a)``, when it is one.

        In the convention of ``scipy.signal.lfilter``: ``lfilter(b, a, x)`` equals
        ``apply(x)``, only faster.  None when the family is no such filter.
        """
        return None


class Geometric(Adstock):
    """``w_l = alpha**l``; ``a_t = x_t + alpha a_{t-1}``; a constant spend settles at ``x/(1-alpha)``."""

    lookup_name = "geometric"
    param_names = ("alpha",)
    fit_grid = tuple({"alpha": a} for a in np.round(np.arange(0.0, 0.81, 0.1), 2))
    mmm_grid = tuple({"alpha": a} for a in np.round(np.linspace(0.0, 0.9, 10), 2))
    mmm_bounds: ClassVar[Bounds] = {"alpha": (0.0, 0.95)}

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

    def filter_coefficients(self) -> tuple[list[float], list[float]] | None:
        """``a_t - alpha a_{t-1} = x_t``."""
        return [1.0], [1.0, -self.params["alpha"]]


class Weibull(Adstock):
    """Weibull survival weights ``w_l = exp(-(l / scale)**shape)``, truncated at ``max_lag``.

    Shape below 1 decays fast then lingers; above 1 the effect holds for a while, then drops.
    """

    lookup_name = "weibull"
    param_names = ("shape", "scale")
    max_lag = 26
    fit_grid = tuple({"shape": s, "scale": c} for s in (0.7, 1.5, 3.0) for c in (1.0, 2.0, 4.0))
    mmm_grid = tuple(
        {"shape": s, "scale": c} for s in (0.5, 1.0, 2.0, 4.0) for c in (0.5, 1.0, 2.0, 4.0, 8.0)
    )
    mmm_bounds: ClassVar[Bounds] = {"shape": (0.3, 6.0), "scale": (0.2, 12.0)}

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
