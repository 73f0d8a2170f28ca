"""The money and customer sections of a scenario: economics, per-channel overrides, customers.

:data:`ECONOMICS` is the one table of the economics keys: for each, its neutral default, what
it measures (rate, share or money) and its meaning.  The ``economics`` section, the per-channel
overrides, the planner's :class:`~roiste.optimizer.economics.ChannelEconomics` and the reports
all take their keys from it.  The ``customers`` section names the tagged orders behind
``new_customer_value: from_cohorts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from roiste.optimizer.scenario.errors import LocatedValueError

_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@dataclass(frozen=True)
class EconomicsKey:
    """One economics key: its neutral default, its kind and what it means.

    Parameters
    ----------
    default : float or None
        The neutral value used when a scenario leaves the key out (None: required by the
        ``net_margin`` objective).
    kind : {"margin", "rate", "money"}
        ``margin``: a share in (0, 1]; ``rate``: a share in [0, 1]; ``money``: an amount >= 0
        in the data's currency.
    meaning : str
        The description shown in the JSON Schema of scenario files.
    """

    default: float | None
    kind: Literal["margin", "rate", "money"]
    meaning: str

    @property
    def bounds(self) -> dict[str, float]:
        """The pydantic bounds of the key (``gt``/``ge``/``le``)."""
        if self.kind == "margin":
            return {"gt": 0.0, "le": 1.0}
        if self.kind == "rate":
            return {"ge": 0.0, "le": 1.0}
        return {"ge": 0.0}

    @property
    def is_share(self) -> bool:
        """Does the key lie in [0, 1] (a margin or a rate)?"""
        return self.kind != "money"


ECONOMICS: dict[str, EconomicsKey] = {
    "gross_margin": EconomicsKey(
        None, "margin",
        "Share of net revenue left after the cost of goods, in (0, 1]. 0.45 keeps 45 of every "
        "100 of revenue. Required for objective net_margin.",
    ),
    "return_rate": EconomicsKey(
        0.0, "rate", "Share of revenue refunded through returns, in [0, 1]."
    ),
    "cancellation_rate": EconomicsKey(
        0.0, "rate",
        "Share of orders lost after the order is placed (cancelled, unpaid, charged back, "
        "churned before delivery), in [0, 1]. A lost order keeps no revenue and no margin and "
        "wins no customer, while its logistics, commission, fees and media were still paid.",
    ),
    "cost_per_order": EconomicsKey(
        0.0, "money", "Logistics and handling cost of one order, in the data's currency."
    ),
    "platform_fee_rate": EconomicsKey(
        0.0, "rate",
        "Fee on media spend paid to platforms or agencies, in [0, 1]: spending 100 costs "
        "100 x (1 + rate).",
    ),
    "commission_rate": EconomicsKey(
        0.0, "rate",
        "Commission on the channel's revenue (affiliates, marketplaces), in [0, 1].",
    ),
    "new_customer_value": EconomicsKey(
        0.0, "money",
        "Future margin credited for each new customer the channel brings, in the data's "
        "currency, or from_cohorts: the lifetime margin after the first order, from the "
        "cohorts of the channel's customers in the tagged orders file named by customers.",
    ),
    "existing_incrementality": EconomicsKey(
        1.0, "rate",
        "Share of existing customers' revenue counted as caused by the ads, in [0, 1]; "
        "new customers' revenue always counts fully.",
    ),
}
"""Every economics key, in the order of the scenario file and the reports."""

ECONOMICS_KEYS = tuple(ECONOMICS)

FROM_COHORTS = "from_cohorts"


def neutral(key: str) -> float:
    """The neutral default of an economics key that has one (every key but gross_margin).

    Examples
    --------
    >>> neutral("existing_incrementality")
    1.0
    """
    default = ECONOMICS[key].default
    if default is None:
        raise KeyError(f"economics key {key!r} has no neutral default")
    return default


def _econ(key: str, override: bool = False) -> Any:
    """The pydantic field of a key: the table's default (None for an override) and meaning."""
    doc = ECONOMICS[key].meaning
    default = None if override else ECONOMICS[key].default
    if override:
        doc = f"Override for this channel. {doc}"
    bounds: dict[str, Any] = dict(ECONOMICS[key].bounds)
    if key == "new_customer_value":  # bounds sit on the number of the union (see the type)
        bounds = {}
    return Field(default=default, description=doc, **bounds)


def _customer_value(v: Any) -> Any:
    """A number >= 0 or ``from_cohorts``, with one message for anything else."""
    if v is None or v == FROM_COHORTS:
        return v
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v or v < 0:
        raise ValueError(
            f"new_customer_value must be a number >= 0 or {FROM_COHORTS}, got {v!r}"
        )
    return float(v)


CustomerValue = Annotated[
    Union[Annotated[float, Field(ge=0.0)], Literal["from_cohorts"]],  # noqa: UP007
    BeforeValidator(_customer_value),
]


class Economics(BaseModel):
    """What a unit of revenue is worth: margin, returns, costs, fees and customer value.

    Every key has a neutral default (rates 0, costs 0, ``existing_incrementality`` 1) except
    ``gross_margin``, which the net-margin objective needs.
    """

    model_config = _CONFIG

    gross_margin: float | None = _econ("gross_margin")
    return_rate: float = _econ("return_rate")
    cancellation_rate: float = _econ("cancellation_rate")
    cost_per_order: float = _econ("cost_per_order")
    platform_fee_rate: float = _econ("platform_fee_rate")
    commission_rate: float = _econ("commission_rate")
    new_customer_value: CustomerValue = _econ("new_customer_value")
    existing_incrementality: float = _econ("existing_incrementality")


class ChannelSpec(BaseModel):
    """Per-channel overrides: lock, period spend limits, and any economics key."""

    model_config = _CONFIG

    locked: bool = Field(default=False, description="Keep the channel at its current spend.")
    min: float | None = Field(
        default=None, ge=0.0, description="Least spend over the whole period (not per week)."
    )
    max: float | None = Field(
        default=None, ge=0.0, description="Most spend over the whole period (not per week)."
    )
    gross_margin: float | None = _econ("gross_margin", override=True)
    return_rate: float | None = _econ("return_rate", override=True)
    cancellation_rate: float | None = _econ("cancellation_rate", override=True)
    cost_per_order: float | None = _econ("cost_per_order", override=True)
    platform_fee_rate: float | None = _econ("platform_fee_rate", override=True)
    commission_rate: float | None = _econ("commission_rate", override=True)
    new_customer_value: CustomerValue | None = _econ("new_customer_value", override=True)
    existing_incrementality: float | None = _econ("existing_incrementality", override=True)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ChannelSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise LocatedValueError(f"min {self.min:,.10g} is above max {self.max:,.10g}", "min")
        return self

    def overrides(self) -> dict[str, float | str]:
        """The economics keys this channel sets, as a dict (``from_cohorts`` kept as written)."""
        return {k: getattr(self, k) for k in ECONOMICS_KEYS if getattr(self, k) is not None}


class Customers(BaseModel):
    """New versus existing customers: the tagged orders that value a new customer."""

    model_config = _CONFIG

    orders: Path = Field(
        description="Tagged orders (CSV or Parquet from `roiste customers tag`), relative to "
        "this file: "
        "order_id, timestamp, value, channel, customer_key, customer_type."
    )
    horizon_months: int = Field(
        default=24, ge=1, description="Months after acquisition counted in a customer's value."
    )
    monthly_discount: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Discount rate per month of future margin."
    )
