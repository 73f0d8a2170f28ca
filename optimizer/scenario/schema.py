"""Scenario files: the plan request that finance reviews, as a frozen pydantic model.

A scenario is a YAML file (read with a safe loader: plain YAML, no Python objects) that names
the weekly panel, the planning period, the budget, the step rule, the economics that turn
revenue into net margin, per-channel overrides and extra constraints.  Paths are relative to
the scenario file.  Every problem becomes a :class:`~models.errors.ScenarioError` in one line,
``<file>: <message> (at channels -> tv -> max)``.

This module holds the types and the loading: :func:`load_scenario` reads and checks the file on
its own, and :func:`json_schema` describes the file for editors.  The checks that need the
panel live in :mod:`optimizer.scenario.checks`.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from roiste.models.errors import ScenarioError
from roiste.models.io import input_problem
from roiste.optimizer.scenario.economics import (
    FROM_COHORTS,
    ChannelSpec,
    Customers,
    Economics,
)
from roiste.optimizer.scenario.errors import LocatedValueError, explain, read_yaml

_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _unique(values: list[str] | None, what: str) -> list[str] | None:
    if values is not None:
        seen: set[str] = set()
        for v in values:
            if v in seen:
                raise ValueError(f"{what} {v!r} is listed twice")
            seen.add(v)
    return values


ChannelList = Annotated[list[str], Field(min_length=1)]


class _ConstraintBase(BaseModel):
    """What every constraint shares: an optional name, and channels named once each."""

    model_config = _CONFIG

    @field_validator("channels", check_fields=False)
    @classmethod
    def _channels_once(cls, v: list[str] | None) -> list[str] | None:
        return _unique(v, "channel")


def _name_field() -> Any:
    return Field(
        default=None, min_length=1, description="Name shown in reports and infeasibility messages."
    )


class ShareConstraint(_ConstraintBase):
    """Spend on a group of channels as a share of total spend: at most and/or at least."""

    model_config = ConfigDict(
        **_CONFIG,
        json_schema_extra={"anyOf": [{"required": ["max_share"]}, {"required": ["min_share"]}]},
    )

    channels: ChannelList = Field(description="The channels whose spend is summed.")
    max_share: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Their spend is at most this share of all spend."
    )
    min_share: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Their spend is at least this share of all spend."
    )
    name: str | None = _name_field()

    @model_validator(mode="after")
    def _a_bound_and_in_order(self) -> ShareConstraint:
        if self.max_share is None and self.min_share is None:
            raise ValueError("a share constraint needs max_share, min_share or both")
        if self.max_share is not None and self.min_share is not None:
            if self.min_share > self.max_share:
                raise ValueError(
                    f"min_share {self.min_share:g} is above max_share {self.max_share:g}"
                )
        return self

    @property
    def kind(self) -> str:
        """``"share"``."""
        return "share"

    def describe(self) -> str:
        """Human wording, e.g. ``social_meta + social_tiktok at most 40 % of total spend``."""
        group = " + ".join(self.channels)
        parts = []
        if self.min_share is not None:
            parts.append(f"at least {100 * self.min_share:g} %")
        if self.max_share is not None:
            parts.append(f"at most {100 * self.max_share:g} %")
        return f"{group} {' and '.join(parts)} of total spend"


class RoasConstraint(_ConstraintBase):
    """Blended return on ad spend: revenue of the channels >= target_roas x their spend."""

    model_config = _CONFIG

    target_roas: float = Field(
        gt=0.0, description="Least revenue per unit of spend, e.g. 3 = 300 of revenue per 100."
    )
    channels: ChannelList | None = Field(
        default=None, description="The channels counted; all if omitted."
    )
    name: str | None = _name_field()

    @property
    def kind(self) -> str:
        """``"roas"``."""
        return "roas"

    def describe(self) -> str:
        """Human wording, e.g. ``revenue of all channels at least 3 x their spend``."""
        group = " + ".join(self.channels) if self.channels else "all channels"
        return f"revenue of {group} at least {self.target_roas:g} x their spend"


class CostPerNewCustomerConstraint(_ConstraintBase):
    """Spend per new customer: spend of the channels <= target x new customers they bring."""

    model_config = _CONFIG

    max_cost_per_new_customer: float = Field(
        gt=0.0, description="Most spend per new customer, in the data's currency."
    )
    channels: ChannelList | None = Field(
        default=None, description="The channels counted; all if omitted."
    )
    name: str | None = _name_field()

    @property
    def kind(self) -> str:
        """``"cost_per_new_customer"``."""
        return "cost_per_new_customer"

    def describe(self) -> str:
        """Human wording, e.g. ``spend of all channels at most 45 per new customer``."""
        group = " + ".join(self.channels) if self.channels else "all channels"
        return f"spend of {group} at most {self.max_cost_per_new_customer:,.10g} per new customer"


class ExistingRoasConstraint(_ConstraintBase):
    """ROAS on existing customers: their revenue >= target x spend of the channels.

    Existing-customer revenue is the channels' revenue times ``1 - new_customer_revenue_share``
    (a ratio of the panel), so the panel needs a ``new_customer_revenue`` column.
    """

    model_config = _CONFIG

    target_roas_existing: float = Field(
        gt=0.0,
        description="Least existing-customer revenue per unit of spend, e.g. 2 = 200 of "
        "revenue from returning customers per 100 spent.",
    )
    channels: ChannelList | None = Field(
        default=None, description="The channels counted; all if omitted."
    )
    name: str | None = _name_field()

    @property
    def kind(self) -> str:
        """``"roas_existing"``."""
        return "roas_existing"

    def describe(self) -> str:
        """Human wording, e.g. ``existing-customer revenue of all channels at least 2 x ...``."""
        group = " + ".join(self.channels) if self.channels else "all channels"
        return (
            f"existing-customer revenue of {group} at least {self.target_roas_existing:g} x "
            "their spend"
        )


class NewRoasConstraint(_ConstraintBase):
    """ROAS on new customers: their revenue >= target x spend of the channels.

    New-customer revenue is the channels' revenue times ``new_customer_revenue_share`` (a
    ratio of the panel), so the panel needs a ``new_customer_revenue`` column.
    """

    model_config = _CONFIG

    target_roas_new: float = Field(
        gt=0.0,
        description="Least new-customer revenue per unit of spend, e.g. 1.5 = 150 of revenue "
        "from first-time customers per 100 spent.",
    )
    channels: ChannelList | None = Field(
        default=None, description="The channels counted; all if omitted."
    )
    name: str | None = _name_field()

    @property
    def kind(self) -> str:
        """``"roas_new"``."""
        return "roas_new"

    def describe(self) -> str:
        """Human wording, e.g. ``new-customer revenue of all channels at least 1.5 x ...``."""
        group = " + ".join(self.channels) if self.channels else "all channels"
        return f"new-customer revenue of {group} at least {self.target_roas_new:g} x their spend"


class NetCacConstraint(_ConstraintBase):
    """Net CAC of a group: what its new customers cost, all in, at most a target each.

    Net CAC is (spend x (1 + platform fee) + commission + logistics + the margin lost to
    returns and cancellations) / new customers over the channels of the group; the panel needs
    a ``new_customers`` column (and ``orders`` when ``cost_per_order`` is set).
    """

    model_config = _CONFIG

    max_cac_net: float = Field(
        gt=0.0,
        description="Most net acquisition cost per new customer, in the data's currency: "
        "spend, fees, commissions, logistics, and margin lost to returns and cancellations.",
    )
    channels: ChannelList | None = Field(
        default=None, description="The channels counted; all if omitted."
    )
    name: str | None = _name_field()

    @property
    def kind(self) -> str:
        """``"cac_net"``."""
        return "cac_net"

    def describe(self) -> str:
        """Human wording, e.g. ``net CAC of all channels at most 80 per new customer``."""
        group = " + ".join(self.channels) if self.channels else "all channels"
        return f"net CAC of {group} at most {self.max_cac_net:,.10g} per new customer"


_CONSTRAINT_KINDS: dict[str, type[BaseModel]] = {
    "target_roas": RoasConstraint,
    "target_roas_existing": ExistingRoasConstraint,
    "target_roas_new": NewRoasConstraint,
    "max_cac_net": NetCacConstraint,
    "max_cost_per_new_customer": CostPerNewCustomerConstraint,
    "max_share": ShareConstraint,
    "min_share": ShareConstraint,
}


def _constraint_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return type(value).__name__
    if isinstance(value, dict):
        for key, model in _CONSTRAINT_KINDS.items():
            if key in value:
                return model.__name__
    return None


Constraint = Annotated[
    Union[  # noqa: UP007 (tagged members need the Union spelling)
        Annotated[ShareConstraint, Tag("ShareConstraint")],
        Annotated[RoasConstraint, Tag("RoasConstraint")],
        Annotated[CostPerNewCustomerConstraint, Tag("CostPerNewCustomerConstraint")],
        Annotated[ExistingRoasConstraint, Tag("ExistingRoasConstraint")],
        Annotated[NewRoasConstraint, Tag("NewRoasConstraint")],
        Annotated[NetCacConstraint, Tag("NetCacConstraint")],
    ],
    Discriminator(
        _constraint_kind,
        custom_error_type="constraint_kind",
        custom_error_message=(
            "a constraint needs one of max_share / min_share (with channels), target_roas, "
            "target_roas_existing, target_roas_new, max_cost_per_new_customer or max_cac_net"
        ),
    ),
]

RISK_KINDS = ("cvar", "expected", "point")
DEFAULT_RISK: Literal["cvar", "expected", "point"] = "cvar"
DEFAULT_CVAR_LEVEL = 0.2


class Risk(BaseModel):
    """How the plan treats the uncertainty of the curves (their bootstrap draws).

    Written as a word (``risk: cvar``) or a mapping (``risk: {kind: cvar, level: 0.2}``).
    """

    model_config = _CONFIG

    kind: Literal["cvar", "expected", "point"] = Field(
        default=DEFAULT_RISK,
        description="cvar: maximise the mean uplift of the worst `level` share of the curve "
        "draws; expected: maximise the mean net margin over the draws; point: plan on the "
        "fitted curves alone. With cvar and expected a move the draws do not support is not "
        "made.",
    )
    level: float | None = Field(
        default=None, gt=0.0, le=1.0,
        description=f"cvar only: the share of worst draws averaged (default {DEFAULT_CVAR_LEVEL}).",
    )

    @model_validator(mode="before")
    @classmethod
    def _word(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _level_for_cvar(self) -> Risk:
        if self.level is not None and self.kind != "cvar":
            raise ValueError(f"level is for kind: cvar only, not {self.kind}")
        return self

    @property
    def cvar_level(self) -> float:
        """The CVaR level (the default when none is written)."""
        return DEFAULT_CVAR_LEVEL if self.level is None else float(self.level)


class Period(BaseModel):
    """The planning period week by week: spend per channel and week of the period.

    ``start`` is the Monday (or the panel's weekday) of the first week, after the panel's last
    week; each week's effectiveness comes from the curves' seasonal index, the adstock carried
    in from the panel's last weeks enters the first weeks, and the carry-over the period's
    spend leaves for the weeks after it counts when ``value_carryover`` is true.
    """

    model_config = _CONFIG

    start: date = Field(description="First day of the period's first week (ISO date), after "
                        "the panel's last week.")
    weeks: int = Field(ge=1, le=52, description="Weeks in the period (replaces period_weeks).")
    value_carryover: bool = Field(
        default=True,
        description="Count the revenue that the period's spend earns after the period through "
        "its carry-over (the spend then continuing at its current weekly level).",
    )
    max_weekly_change: float | None = Field(
        default=None, gt=0.0, le=10.0,
        description="Largest relative change of a channel's spend from one week to the next "
        "(0.3 = at most 30 % up or down).",
    )
    weekly_min: dict[str, float] = Field(
        default_factory=dict,
        description="Least spend of a channel in every week of the period, by channel name.",
    )
    weekly_max: dict[str, float] = Field(
        default_factory=dict,
        description="Most spend of a channel in every week of the period, by channel name.",
    )

    @field_validator("weekly_min", "weekly_max")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        for name, value in v.items():
            if value < 0:
                raise ValueError(f"{name}: a weekly spend limit must be >= 0, got {value:g}")
        return v

    @model_validator(mode="after")
    def _min_not_above_max(self) -> Period:
        for name, low in self.weekly_min.items():
            high = self.weekly_max.get(name)
            if high is not None and low > high:
                raise ValueError(f"weekly_min {low:,.10g} of {name} is above its weekly_max "
                                 f"{high:,.10g}")
        return self


# Field declaration order matters: a field validator sees the fields declared before it.


class Scenario(BaseModel):
    """A scenario file: what to plan, with which data, budget, step rule and economics."""

    model_config = ConfigDict(**_CONFIG, title="roiste scenario")

    name: str = Field(min_length=1, description="Name of the plan, shown in every report.")
    data: Path = Field(description="The weekly panel (CSV or Parquet), relative to this file.")
    layout: Literal["long", "wide"] = Field(
        default="long",
        description="long: one row per (date, channel); wide: one row per week, one spend "
        "column per channel (marketing-mix layout).",
    )
    target: str | None = Field(
        default=None, validate_default=True, description="Wide layout only: the target column."
    )
    spend: list[str] | None = Field(
        default=None,
        validate_default=True,
        description="Wide layout only: one spend column per channel.",
    )
    controls: list[str] | None = Field(
        default=None,
        description="Optional: control columns (events, holidays, prices, ...); text columns "
        "become name=level indicators (an empty cell is no event).  Long layout: one value per "
        "row, columns of each channel's baseline.",
    )
    date_column: str | None = Field(
        default=None,
        min_length=1,
        description="The panel's week column when it is not named date (e.g. time); the "
        "command line's --date-column overrides it.",
    )
    curves: Path | None = Field(
        default=None,
        description="A fitted curves JSON (from `roiste fit`), relative to the scenario file; "
        "if omitted, curves are fitted from the data.",
    )
    experiments: Path | None = Field(
        default=None,
        description="Lift tests (CSV: channel, x, delta_x, delta_y, sigma, ...; weekly units), "
        "relative to the scenario file: measurements of the curves that the fit honours. "
        "Not with curves (fit those with `roiste fit --experiments`).",
    )
    period: Period | None = Field(
        default=None,
        description="A plan week by week: {start: DATE, weeks: N} (+ value_carryover, "
        "max_weekly_change, weekly_min, weekly_max); period_weeks then follows weeks.",
    )
    period_weeks: int = Field(default=4, ge=1, description="Weeks in the planning period.")
    baseline_weeks: int = Field(
        default=8,
        ge=1,
        description="Current spend = mean weekly spend of the last N weeks x period_weeks.",
    )
    budget: float | None = Field(
        default=None,
        gt=0.0,
        description="Total spend for the whole period; omit to keep the current total.",
    )
    allow_underspend: bool = Field(
        default=False,
        description="Treat the budget as a cap (spend at most) instead of an exact total.",
    )
    allow_large_step: bool = Field(
        default=False, description="Allow a step outside 0.10 .. 0.20 (any value in (0, 1])."
    )
    step: float = Field(
        default=0.15,
        gt=0.0,
        le=1.0,
        description="Largest relative move of a channel per step: 0.15 = at most 15 % up or "
        "down. Within 0.10 .. 0.20 unless allow_large_step is true.",
    )
    steps: int = Field(
        default=1,
        ge=1,
        le=24,  # 24 steps of 10-20 % already move a channel by a factor of 10 to 80
        description="Number of successive bounded steps (a glide path of plans), at most 24.",
    )
    objective: Literal["net_margin", "revenue"] = Field(
        default="net_margin", description="What the plan maximises."
    )
    tolerance: float = Field(
        default=1e-4,
        gt=0.0,
        le=0.01,
        description="Certified optimality gap the plan must reach (relative; 1e-4 = 0.01 %).",
    )
    solver: Literal["CBC", "HiGHS"] = Field(default="CBC", description="Solver used through PuLP.")
    seed: int = Field(default=0, description="Random seed: same inputs and seed, same plan.")
    bootstrap: int = Field(
        default=0,
        ge=0,
        description="Bootstrap draws when fitting curves (0: none), for uncertainty bands.",
    )
    holdout_weeks: int = Field(
        default=0, ge=0, description="Last weeks held out when fitting, to measure forecast error."
    )
    executor: Literal["local", "dask"] | None = Field(
        default=None,
        description="Where the per-channel fits and backtest folds run: local (this machine's "
        "processes, the default) or dask (a dask.distributed cluster); the results are the "
        "same. --executor overrides it.",
    )
    scheduler: str | None = Field(
        default=None,
        description="Address of a running Dask scheduler (tcp://host:8786) for executor dask; "
        "without it a cluster is started on this machine. --scheduler overrides it.",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes: local ones, or those of the Dask cluster started for the "
        "run. --workers overrides it.",
    )
    risk: Risk = Field(
        default_factory=Risk,
        description="Plans over the uncertainty of the curves: cvar (default, level 0.2), "
        "expected or point; a word or {kind: cvar, level: 0.2}. A plan that fits its own "
        "curves draws 30 bootstrap curves for it unless bootstrap is written.",
    )
    customers: Customers | None = Field(
        default=None,
        description="Tagged orders for new_customer_value: from_cohorts (lifetime value per "
        "acquisition channel).",
    )
    economics: Economics = Field(
        default_factory=Economics,
        validate_default=True,
        description="Economics of every channel (see each key).",
    )
    channels: dict[str, ChannelSpec] = Field(
        default_factory=dict,
        description="Per-channel overrides by channel name: locked, min, max, economics keys.",
    )
    constraints: list[Constraint] = Field(
        default_factory=list,
        description="Extra linear constraints: share of spend, blended ROAS, ROAS on "
        "existing customers, ROAS on new customers, cost per new customer, net CAC.",
    )

    _source: Path | None = PrivateAttr(default=None)
    _written: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _period_weeks_from_period(cls, raw: Any) -> Any:
        period = raw.get("period") if isinstance(raw, dict) else None
        if not isinstance(period, dict) or "weeks" not in period:
            return raw
        weeks = period["weeks"]
        if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
            return raw  # the period's own check names the problem
        if "period_weeks" not in raw:
            return {**raw, "period_weeks": weeks}
        if raw["period_weeks"] != weeks:
            raise LocatedValueError(
                f"period_weeks {raw['period_weeks']!r} and period.weeks {weeks!r} disagree; "
                "write period.weeks alone", "period_weeks")
        return raw

    @field_validator("target")
    @classmethod
    def _target_for_wide(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _wide_only(v, info, "target", "the target column")

    @field_validator("spend")
    @classmethod
    def _spend_for_wide(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        v = _wide_only(v, info, "spend", "a list of spend columns, one per channel")
        if v is not None and not v:
            raise ValueError("layout: wide needs at least one spend column")
        if v is not None and info.data.get("target") in v:
            raise ValueError(f"the target column {info.data['target']!r} is also a spend column")
        return _unique(v, "spend column")

    @field_validator("controls")
    @classmethod
    def _controls_named(cls, v: list[str] | None, info: ValidationInfo) -> list[str] | None:
        for c in v or []:
            if c in (info.data.get("spend") or []) or c == info.data.get("target"):
                raise ValueError(f"control column {c!r} is also the target or a spend column")
        return _unique(v, "control column")

    @field_validator("step")
    @classmethod
    def _step_in_band(cls, v: float, info: ValidationInfo) -> float:
        if not info.data.get("allow_large_step", False) and not 0.10 <= v <= 0.20:
            raise ValueError(
                f"step {v:g} is outside 0.10 .. 0.20 (a channel moves at most 10-20 % per "
                "step); set allow_large_step: true to allow any step in (0, 1]"
            )
        return v

    @field_validator("economics")
    @classmethod
    def _margin_for_net_margin(cls, v: Economics, info: ValidationInfo) -> Economics:
        if info.data.get("objective", "net_margin") == "net_margin" and v.gross_margin is None:
            raise LocatedValueError(
                "objective net_margin needs economics: gross_margin (the share of revenue left "
                "after cost of goods); set it, or use objective: revenue",
                "gross_margin",
            )
        return v

    @field_validator("constraints")
    @classmethod
    def _unique_names(cls, v: list[Any]) -> list[Any]:
        _unique([c.name for c in v if c.name is not None], "constraint name")
        return v

    @model_validator(mode="after")
    def _cohorts_need_orders(self) -> Scenario:
        if self.customers is None:
            places: list[tuple[str, ...]] = (
                [("economics",)] if self.economics.new_customer_value == FROM_COHORTS else []
            )
            places += [
                ("channels", c) for c, spec in self.channels.items()
                if spec.new_customer_value == FROM_COHORTS
            ]
            if places:
                raise LocatedValueError(
                    "new_customer_value: from_cohorts needs customers: orders (the tagged "
                    "orders file whose cohorts value a new customer)",
                    *places[0], "new_customer_value",
                )
        return self

    def uses_cohorts(self) -> bool:
        """Does any channel take its new-customer value from the cohorts?"""
        return self.economics.new_customer_value == FROM_COHORTS or any(
            s.new_customer_value == FROM_COHORTS for s in self.channels.values()
        )

    @property
    def source(self) -> Path | None:
        """The scenario file this was loaded from (as given), or None."""
        return self._source

    def written(self, key: str) -> str:
        """A path key (``data``, ``curves``, ``customers.orders``) as written, for messages."""
        if key in self._written:
            return self._written[key]
        if key == "customers.orders":
            return str(self.customers.orders) if self.customers is not None else ""
        return str(getattr(self, key))

    def channel(self, name: str) -> ChannelSpec:
        """The overrides of a channel (an empty spec when it has none)."""
        return self.channels.get(name) or ChannelSpec()

    def economics_for(self, channel: str) -> Economics:
        """The economics of one channel: the scenario's, updated by the channel's overrides."""
        merged = self.economics.model_dump()
        merged.update(self.channel(channel).overrides())
        return Economics(**merged)

    def fit_draws(self, risk_draws: int) -> int:
        """Bootstrap draws for curves the plan fits: ``bootstrap`` when written, otherwise
        ``risk_draws`` for a plan over the draws and 0 for ``risk: point``."""
        if "bootstrap" in self.model_fields_set:
            return int(self.bootstrap)
        return 0 if self.risk.kind == "point" else int(risk_draws)

    def period_budget(self, current_total: float) -> float:
        """The period budget: the scenario's, or the current total when it keeps it."""
        return float(self.budget) if self.budget is not None else float(current_total)


def _wide_only(v: Any, info: ValidationInfo, key: str, what: str) -> Any:
    if info.data.get("layout") == "wide" and v is None:
        raise ValueError(f"layout: wide needs {key}: {what}")
    if info.data.get("layout", "long") == "long" and v is not None:
        raise ValueError(f"{key} is only for layout: wide")
    return v


# --------------------------------------------------------------------------- reading


def _resolve(
    raw: dict[str, Any], key: str, base: Path, what: str, label: str, at: str | None = None
) -> str | None:
    value = raw.get(key)
    at = at or key
    if value is None or not isinstance(value, str):
        return None  # missing or mistyped: the model reports it
    if not value.strip():
        raise ScenarioError(f"{label}: {key} is empty (at {at})")
    resolved = (base / os.path.expanduser(value)).resolve()
    problem = input_problem(resolved)
    if problem == "file not found":
        raise ScenarioError(
            f"{label}: {what} not found: {value} (resolved to {resolved}) (at {at})"
        )
    if problem is not None:  # a FIFO would block its reader, a device never ends
        raise ScenarioError(f"{label}: {what} {value} {problem} (at {at})")
    raw[key] = str(resolved)
    return value


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and check a scenario file on its own (without reading the panel).

    Parameters
    ----------
    path : str or path-like
        The YAML scenario file.

    Returns
    -------
    Scenario
        Frozen; ``data`` and ``curves`` are absolute paths, ``scenario.written("data")`` is
        the path as written and ``scenario.source`` the file.

    Raises
    ------
    ScenarioError
        One line naming the file, the problem and where it is (``at channels -> tv -> max``).
    """
    path = Path(path)
    label = str(path)
    raw = read_yaml(path, label)
    if raw is None:
        raise ScenarioError(f"{label}: the file is empty; a scenario needs at least name and data")
    if not isinstance(raw, dict):
        raise ScenarioError(
            f"{label}: a scenario is a mapping of keys (name: ..., data: ...), "
            f"not a {type(raw).__name__}"
        )
    raw = dict(raw)
    base = path.resolve().parent
    try:
        # Structure first: an unknown or misspelled key explains more than a missing file.
        Scenario.model_validate({**raw, "data": "-", "curves": None, "experiments": None})
    except ValidationError as exc:
        errors = [e for e in exc.errors()
                  if e["loc"] not in (("data",), ("curves",), ("experiments",))]
        if errors:
            raise ScenarioError(f"{label}: {explain(Scenario, errors)}") from None
    written = {"data": _resolve(raw, "data", base, "data file", label)}
    written["curves"] = _resolve(raw, "curves", base, "curves file", label)
    written["experiments"] = _resolve(raw, "experiments", base, "experiments file", label)
    if written["experiments"] is not None and written["curves"] is not None:
        raise ScenarioError(f"{label}: experiments enter the fit, but curves names curves already "
                            f"fitted; fit them with `roiste fit --experiments` (at experiments)")
    if isinstance(raw.get("customers"), dict):
        customers = dict(raw["customers"])
        orders = _resolve(
            customers, "orders", base, "tagged orders file", label, "customers -> orders"
        )
        if orders is not None:
            raw["customers"] = customers
            written["customers.orders"] = orders
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{label}: {explain(Scenario, exc.errors())}") from None
    scenario._source = path
    scenario._written = {k: v for k, v in written.items() if v is not None}
    return scenario


# --------------------------------------------------------------------------- schema


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of scenario files, with a description of every key."""
    schema = Scenario.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "description": Scenario.__doc__,
        **schema,
    }


__all__ = [
    "DEFAULT_CVAR_LEVEL",
    "DEFAULT_RISK",
    "RISK_KINDS",
    "Constraint",
    "CostPerNewCustomerConstraint",
    "ExistingRoasConstraint",
    "NetCacConstraint",
    "NewRoasConstraint",
    "Period",
    "Risk",
    "RoasConstraint",
    "Scenario",
    "ShareConstraint",
    "json_schema",
    "load_scenario",
]
