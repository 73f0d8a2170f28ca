"""Alert rules of the weekly monitor: a YAML file checked like a scenario file.

A rules file names, for each rule, a KPI, the channels it watches (names or globs), a
threshold (absolute, relative to the plan, or relative to the KPI's own recent level) and a
durability rule: ``weeks_in_a_row: N``, or a one-sided CUSUM or EWMA control chart whose
limit is calibrated for a stated in-control average run length (``arl0``: on average one false
alarm every ``arl0`` weeks per watched series when nothing changes).  A ``notify:`` section
configures e-mail and webhook delivery, with secrets read from environment variables named in
the file; a ``draft:`` section tunes the draft scenarios written with each alert.

Every problem is a :class:`MonitorError` in one line naming the file and the key, as
``roiste validate`` does for scenarios.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from roiste.models.errors import RoisteError, ScenarioError
from roiste.models.io import require_input
from roiste.optimizer.scenario import explain, read_yaml

__all__ = [
    "KPIS",
    "NEEDS",
    "NO_PLAN",
    "CohortWatch",
    "Cusum",
    "Draft",
    "Durability",
    "EmailConfig",
    "Ewma",
    "MonitorEconomics",
    "MonitorError",
    "Notify",
    "Rule",
    "Rules",
    "Threshold",
    "WebhookConfig",
    "load_rules",
]

KPIS: dict[str, str] = {
    "spend": "media spend",
    "revenue": "revenue credited to the channel",
    "roas": "revenue per unit of spend",
    "net_cac": "spend, fees, commissions, logistics, returns and lost orders per new "
               "customer (the plan's cac_net)",
    "cost_per_new_customer": "spend per new customer",
    "rpv": "revenue per visitor",
    "aov": "average order value (revenue per order)",
    "return_rate": "refunded revenue as a share of revenue",
    "cpc": "spend per click",
    "cpm": "spend per thousand impressions",
    "ctr": "clicks per impression",
    "conversion_rate": "orders per visitor",
    "net_revenue": "revenue after returns (weeks whose returns are still arriving are left out)",
    "net_roas": "revenue after returns per unit of spend (same weeks as net_revenue)",
    "net_orders": "orders less returned orders (same weeks as net_revenue)",
    "net_conversion_rate": "orders less returned orders per visitor (same weeks as net_revenue)",
}
KpiName = Literal[
    "spend", "revenue", "roas", "net_cac", "cost_per_new_customer", "rpv", "aov", "return_rate",
    "cpc", "cpm", "ctr", "conversion_rate", "net_revenue", "net_roas", "net_orders",
    "net_conversion_rate",
]
# KPIs that need a panel column beyond spend and revenue
NEEDS: dict[str, tuple[str, ...]] = {
    "net_cac": ("new_customers",), "cost_per_new_customer": ("new_customers",),
    "rpv": ("visitors",), "aov": ("orders",), "return_rate": ("returns",),
    "cpc": ("clicks",), "cpm": ("impressions",), "ctr": ("clicks", "impressions"),
    "conversion_rate": ("orders", "visitors"), "net_revenue": ("returns",),
    "net_roas": ("returns",), "net_orders": ("orders", "returned_orders"),
    "net_conversion_rate": ("orders", "returned_orders", "visitors"),
}

# KPIs a plan has no expectation of (baskets, returns, the auction and the funnel)
NO_PLAN = ("aov", "return_rate", "cpc", "cpm", "ctr", "conversion_rate", "net_revenue", "net_roas",
           "net_orders", "net_conversion_rate")

_CONFIG = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class MonitorError(RoisteError):
    """A rules file, plan directory or monitor request that cannot be used as given."""


class Threshold(BaseModel):
    """The line a KPI must cross: one of ``above`` / ``below``, and what it is relative to."""

    model_config = _CONFIG

    relative_to: Literal["recent", "plan", "absolute"] = Field(
        default="recent",
        description="recent: the KPI's own mean over the baseline weeks before; plan: the "
        "plan's expectation; absolute: the number itself.",
    )
    above: float | None = Field(
        default=None, ge=0.0,
        description="Alert when the KPI is above the line: a value (absolute) or a share "
        "(0.2 = 20 % above the recent level or the plan).",
    )
    below: float | None = Field(
        default=None, ge=0.0,
        description="Alert when the KPI is below the line: a value (absolute) or a share "
        "(0.2 = 20 % below the recent level or the plan), under 1.",
    )
    level: Literal["auto", "trend", "mean", "year_over_year"] = Field(
        default="auto",
        description="How the KPI's recent level is read from the baseline weeks (log scale). "
        "auto: year_over_year when the series holds a year plus the baseline weeks, else "
        "trend (for relative_to plan or absolute: trend); "
        "trend: their straight line carried forward (a seasonal slope is not a change); mean: "
        "their mean; year_over_year (relative_to recent only): the change against the same "
        "week a year before, against its mean over the baseline weeks (any seasonality "
        "cancels). N-weeks-in-a-row rules freeze the level at the week a run starts, read "
        "from the baseline weeks that end N weeks before it (a change's first weeks never "
        "raise the level they are compared with).",
    )
    baseline_weeks: int = Field(
        default=8, ge=4, le=104,
        description="Weeks before each week that give the recent level (and, for control "
        "charts, the week-to-week spread).",
    )

    @model_validator(mode="after")
    def _one_side(self) -> Threshold:
        if (self.above is None) == (self.below is None):
            raise ValueError("a threshold needs exactly one of above or below")
        if self.level == "year_over_year" and self.relative_to != "recent":  # auto falls back
            raise ValueError("level year_over_year needs relative_to: recent")
        if self.relative_to != "absolute" and self.below is not None and self.below >= 1.0:
            raise ValueError(f"below {self.below:g} relative to {self.relative_to} must be under 1 "
                             "(0.2 = 20 % below)")
        return self

    def level_for(self, n_weeks: int) -> str:
        """The level used on a series of ``n_weeks`` weeks (``auto`` resolved)."""
        if self.level != "auto":
            return self.level
        if self.relative_to == "recent" and n_weeks >= 52 + self.baseline_weeks + 4:
            return "year_over_year"
        return "trend"

    @property
    def direction(self) -> str:
        """``"above"`` or ``"below"``."""
        return "above" if self.above is not None else "below"

    @property
    def value(self) -> float:
        """The number given with ``above`` or ``below``."""
        return float(self.above if self.above is not None else self.below)  # type: ignore[arg-type]


class Cusum(BaseModel):
    """One-sided CUSUM on the standardised log KPI; the limit is set from ``arl0``."""

    model_config = _CONFIG

    arl0: float = Field(
        ge=20, le=5000,
        description="In-control average run length in weeks: one false alarm per this many "
        "weeks and series on average.",
    )
    k: float = Field(
        default=0.5, gt=0.0, le=3.0,
        description="Allowance in standard deviations (half the shift the chart is tuned for).",
    )


class Ewma(BaseModel):
    """One-sided EWMA of the standardised log KPI; the limit is set from ``arl0``."""

    model_config = ConfigDict(**_CONFIG, populate_by_name=True)

    arl0: float = Field(
        ge=20, le=5000, description="In-control average run length in weeks (see cusum)."
    )
    lam: float = Field(
        default=0.2, gt=0.0, le=1.0, alias="lambda",
        description="Weight of the newest week (smaller: longer memory).",
    )


class Durability(BaseModel):
    """When a crossing becomes an alert: N weeks in a row, or a control chart."""

    model_config = _CONFIG

    weeks_in_a_row: int | None = Field(
        default=None, ge=1, le=52, description="Alert after this many weeks beyond the line in a row."
    )
    cusum: Cusum | None = None
    ewma: Ewma | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Durability:
        given = [k for k in ("weeks_in_a_row", "cusum", "ewma") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("durability needs exactly one of weeks_in_a_row, cusum or ewma"
                             + (f" (got {', '.join(given)})" if given else ""))
        return self

    @property
    def kind(self) -> str:
        """``"weeks_in_a_row"``, ``"cusum"`` or ``"ewma"``."""
        return next(k for k in ("weeks_in_a_row", "cusum", "ewma") if getattr(self, k) is not None)

    def describe(self) -> str:
        """Human wording of the rule."""
        if self.weeks_in_a_row is not None:
            return f"{self.weeks_in_a_row} week(s) in a row"
        if self.cusum is not None:
            return f"CUSUM (k {self.cusum.k:g}), one false alarm per {self.cusum.arl0:g} weeks"
        assert self.ewma is not None
        return f"EWMA (lambda {self.ewma.lam:g}), one false alarm per {self.ewma.arl0:g} weeks"


class Rule(BaseModel):
    """One alert rule."""

    model_config = _CONFIG

    name: str = Field(min_length=1, description="Shown in alerts and notifications.")
    kpi: KpiName = Field(description="The KPI watched: " + ", ".join(KPIS) + ".")
    channels: list[str] = Field(
        default_factory=lambda: ["*"], min_length=1,
        description="Channel names or globs (search_*); campaign keys read channel|campaign.",
    )
    level: Literal["channel", "campaign", "both"] = Field(
        default="channel",
        description="Watch channel totals, campaign rows (panels with a campaign key), or both.",
    )
    threshold: Threshold
    durability: Durability

    @model_validator(mode="after")
    def _plan_kpis(self) -> Rule:
        if self.threshold.relative_to == "plan" and self.kpi in NO_PLAN:
            raise ValueError(f"a plan has no expectation for {self.kpi}; use relative_to "
                             "recent or absolute")
        return self


class MonitorEconomics(BaseModel):
    """Costs that turn spend into net acquisition cost: the plan's economics keys.

    A key given here applies to every channel; a key left out comes from the rules' draft
    scenario (its channel's override, else its ``economics``), else its neutral default.
    """

    model_config = _CONFIG

    platform_fee_rate: float | None = Field(default=None, ge=0.0, le=1.0,
                                            description="Fee on media spend (agency, platform).")
    commission_rate: float | None = Field(default=None, ge=0.0, le=1.0,
                                          description="Commission on the channel's revenue.")
    cost_per_order: float | None = Field(
        default=None, ge=0.0, description="Logistics and handling of one order (needs the "
        "panel's orders column).")
    gross_margin: float | None = Field(
        default=None, gt=0.0, le=1.0,
        description="Share of revenue left after the cost of goods: values the margin lost to "
        "returns and lost orders, as the plan's cac_net does.")
    return_rate: float | None = Field(default=None, ge=0.0, le=1.0,
                                      description="Share of revenue refunded (with gross_margin).")
    cancellation_rate: float | None = Field(
        default=None, ge=0.0, le=1.0,
        description="Share of orders lost after they are placed (with gross_margin).")
    return_cost_rate: float = Field(
        default=1.0, ge=0.0, le=1.0,
        description="Without a gross_margin only: share of the panel's refunded revenue counted "
        "as a cost of acquiring the customers (1: the whole refund).",
    )


class Draft(BaseModel):
    """How the draft scenario written with each alert moves budget."""

    model_config = _CONFIG

    move: float = Field(default=0.15, ge=0.10, le=0.20,
                        description="Share of the alerted channel's budget moved (0.10 .. 0.20).")
    recipients: int = Field(default=2, ge=1, le=20,
                            description="Channels with the best marginal net margin that receive it.")
    scenario: Path | None = Field(
        default=None,
        description="A scenario file whose keys (economics, period_weeks, ...) the drafts "
        "start from; relative to the rules file.",
    )
    period_weeks: int = Field(default=4, ge=1, description="Weeks in the drafts' period "
                              "(when no scenario or plan gives it).")
    baseline_weeks: int = Field(default=8, ge=1, description="Weeks that give current spend "
                                "(when no scenario or plan gives it).")


class EmailConfig(BaseModel):
    """E-mail over SMTP with STARTTLS; user and password come from environment variables."""

    model_config = ConfigDict(**_CONFIG, populate_by_name=True)

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    sender: str = Field(alias="from", min_length=3, description="The From address.")
    to: list[str] = Field(min_length=1, description="Recipients.")
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    username_env: str | None = Field(default="ROISTE_SMTP_USER",
                                     description="Environment variable holding the user name.")
    password_env: str | None = Field(default="ROISTE_SMTP_PASSWORD",
                                     description="Environment variable holding the password.")
    cafile: Path | None = Field(default=None, description="CA bundle to trust (relative to the "
                                "rules file); the system's by default.")
    timeout_seconds: float = Field(default=20.0, gt=0.0, le=300.0)


class WebhookConfig(BaseModel):
    """A JSON POST of each alert, as chat tools accept."""

    model_config = _CONFIG

    url: str = Field(pattern=r"^https?://", description="http(s) URL that receives the POST.")
    token_env: str | None = Field(default=None, description="Environment variable holding a "
                                  "bearer token sent as the Authorization header.")
    timeout_seconds: float = Field(default=10.0, gt=0.0, le=300.0)


class Notify(BaseModel):
    """Where alerts go, how often a failed delivery is retried, where sent alerts are kept."""

    model_config = _CONFIG

    email: EmailConfig | None = None
    webhook: WebhookConfig | None = None
    state: Path = Field(default=Path("monitor-state.sqlite"),
                        description="SQLite file of alerts already sent, relative to the rules file.")
    retries: int = Field(default=3, ge=0, le=10, description="Retries after a failed delivery.")
    backoff_seconds: float = Field(default=2.0, ge=0.0, le=600.0,
                                   description="Wait before the first retry; doubles each time.")


class CohortWatch(BaseModel):
    """Recent cohorts at equal age: margin per new customer after each age, per acquisition
    week and channel, against the earlier cohorts at the same age (``roiste monitor --orders``)."""

    model_config = _CONFIG

    ages_days: list[int] = Field(
        default_factory=lambda: [30, 60, 90], min_length=1, max_length=6,
        description="Ages in days at which each acquisition week's margin per new customer is "
        "compared (a cohort is judged at an age once every customer of it has reached it).",
    )
    below: float = Field(
        default=0.10, gt=0.0, lt=1.0,
        description="Alert when recent cohorts are this share below the earlier cohorts at the "
        "same age (0.1 = 10 % below).",
    )
    weeks_in_a_row: int = Field(
        default=3, ge=1, le=26,
        description="Consecutive acquisition weeks below the line before an alert.",
    )
    baseline_weeks: int = Field(
        default=12, ge=4, le=104,
        description="Earlier acquisition weeks whose mean value at the same age is the reference "
        "(frozen when a run starts, ending weeks_in_a_row weeks before it).",
    )
    gross_margin: float | None = Field(
        default=None, gt=0.0, le=1.0,
        description="Margin per unit of order value; from the draft scenario when omitted, "
        "else 1 (order value).",
    )
    return_rate: float | None = Field(default=None, ge=0.0, lt=1.0,
                                      description="Share of order value returned (as gross_margin).")
    cost_per_order: float | None = Field(default=None, ge=0.0,
                                         description="Logistics per order (as gross_margin).")
    new_customer_value: float | None = Field(
        default=None, ge=0.0,
        description="The plan's future margin per new customer; from the draft scenario when "
        "omitted. An alert gives the value the recent cohorts imply.",
    )
    min_customers: int = Field(
        default=20, ge=1,
        description="Acquisition weeks of a channel with fewer new customers are not judged.",
    )

    @model_validator(mode="after")
    def _ages(self) -> CohortWatch:
        if any(a < 1 or a > 730 for a in self.ages_days) or len(set(self.ages_days)) != len(self.ages_days):
            raise ValueError("ages_days are distinct days between 1 and 730")
        return self


class Rules(BaseModel):
    """A rules file."""

    model_config = ConfigDict(**_CONFIG, title="roiste monitor rules")

    name: str = Field(default="Weekly monitor", min_length=1, description="Title of the dashboard.")
    recent_weeks: int = Field(default=4, ge=1, le=52, description="The latest week is compared "
                              "with the mean of this many weeks before it.")
    plan_start: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}$",
                                   description="First week the plan applies (ISO date); found "
                                   "from the plan's current spend when omitted.")
    economics: MonitorEconomics = Field(default_factory=MonitorEconomics)
    draft: Draft = Field(default_factory=Draft)
    return_weeks: int = Field(default=4, ge=0, le=26,
                              description="Weeks it takes returns to arrive: a week's net_revenue, "
                              "net_roas, net_orders and net_conversion_rate are final this many "
                              "weeks after it.")
    cohorts: CohortWatch = Field(default_factory=CohortWatch,
                                 description="Recent cohorts at equal age (with --orders).")
    rules: list[Rule] = Field(min_length=1)
    notify: Notify | None = None

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_names(self) -> Rules:
        seen: set[str] = set()
        for i, r in enumerate(self.rules):
            if r.name in seen:
                raise ValueError(f"rule name {r.name!r} is used twice (at rules -> {i} -> name)")
            seen.add(r.name)
        return self

    @property
    def source(self) -> Path | None:
        """The rules file this was loaded from."""
        return self._source

    def resolve(self, p: Path) -> Path:
        """A path of the file, relative to the rules file's folder."""
        base = self._source.resolve().parent if self._source is not None else Path.cwd()
        return (base / os.path.expanduser(p)).resolve()


def load_rules(path: str | os.PathLike[str]) -> Rules:
    """Read and check a rules file.

    Parameters
    ----------
    path : str or path-like
        The YAML rules file.

    Returns
    -------
    Rules

    Raises
    ------
    MonitorError
        One line: the file, the problem and where it is (``at rules -> 0 -> kpi``).
    """
    path = Path(path)
    label = str(path)
    require_input(path, label, MonitorError, "rules file not found")
    try:
        raw = read_yaml(path, label)
    except ScenarioError as exc:
        raise MonitorError(str(exc)) from None
    if not isinstance(raw, dict):
        raise MonitorError(f"{label}: a rules file is a mapping with at least 'rules:' "
                           f"(a list of rules), not {'nothing' if raw is None else type(raw).__name__}")
    try:
        rules = Rules.model_validate(raw)
    except ValidationError as exc:
        hint = ""
        for err in exc.errors():
            if err["type"] == "literal_error" and err["loc"][-1:] == ("kpi",):
                typed = str(err["input"]).lower()
                within = [k for k in KPIS if typed and typed in k]  # cac -> net_cac, not cpc
                close = within[:1] or difflib.get_close_matches(typed, list(KPIS), n=1,
                                                                cutoff=0.4)
                hint = f". Did you mean {close[0]!r}?" if close else ""
                break
        raise MonitorError(f"{label}: {explain(Rules, exc.errors())}{hint}") from None
    rules._source = path
    for key, p in (("draft -> scenario", rules.draft.scenario),
                   ("notify -> email -> cafile",
                    rules.notify.email.cafile if rules.notify and rules.notify.email else None)):
        if p is not None and not rules.resolve(p).is_file():
            raise MonitorError(f"{label}: file not found: {p} (resolved to {rules.resolve(p)}) "
                               f"(at {key})")
    return rules
