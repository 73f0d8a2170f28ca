"""The recovery file (``RECOVERY.yaml``): abandoned carts by segment, reminders, their rates.

Read with the scenario files' bounded safe loader and validated by pydantic; every problem is
one line naming the key (``... (at segments -> 2 -> margin)``).  Recovery rates come from the
file (``recovery:`` per segment) or from an A/B readout in the format of ``roiste experiment
readout`` (``readout:``, a path relative to the file), never from both for one segment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from roiste.models.errors import ScenarioError
from roiste.models.experiments import ExperimentError, readout
from roiste.models.io import input_problem
from roiste.optimizer.scenario import LocatedValueError, explain, read_yaml

NONE = "none"
SOLVERS = ("CBC", "HiGHS")


class Reminder(BaseModel):
    """A reminder a segment may receive (``none``, the control, is always available)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80, description="Name, as in the rates and the readout.")
    messages: int = Field(default=1, ge=0, le=20, description="Messages it sends per abandoned cart.")
    incentive: float = Field(default=0.0, ge=0.0, lt=1.0,
                             description="Discount on the basket when the cart is recovered (0.10 = 10 %).")
    cost_per_message: float = Field(default=0.0, ge=0.0, allow_inf_nan=False,
                                    description="Sending cost of one message.")

    @model_validator(mode="after")
    def _not_none(self) -> Reminder:
        if self.name == NONE:
            raise ValueError(f"'{NONE}' is the control (no reminder) and is always available; "
                             "do not list it")
        return self


class Segment(BaseModel):
    """Abandoned carts alike in basket value, margin, customer type and timing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    customer: Literal["new", "existing"] = Field(description="New or existing customers.")
    basket_value: float = Field(gt=0, allow_inf_nan=False, description="Average basket value.")
    margin: float = Field(gt=0, le=1, description="Gross margin rate of the basket.")
    hours: float = Field(ge=0, allow_inf_nan=False,
                         description="Hours since abandonment when the reminder goes out.")
    carts: float = Field(gt=0, allow_inf_nan=False, description="Abandoned carts in the period.")
    carts_per_customer: float = Field(default=1.0, ge=1.0, allow_inf_nan=False,
                                      description="Carts per customer of the segment in the period.")
    recovery: dict[str, float] | None = Field(
        default=None, description="Share of carts recovered per reminder, 'none' (control) included.")

    @model_validator(mode="after")
    def _rates(self) -> Segment:
        for k, v in (self.recovery or {}).items():
            if not 0.0 <= v <= 1.0:
                raise LocatedValueError(f"{v!r} is not a share between 0 and 1", "recovery", k)
        if self.recovery is not None and NONE not in self.recovery:
            raise LocatedValueError(f"the control's rate '{NONE}' is missing", "recovery")
        return self


class RecoveryFile(BaseModel):
    """Everything ``roiste recovery plan`` reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    budget: float = Field(ge=0, allow_inf_nan=False,
                          description="Incentive budget for the period (discounts given).")
    max_messages_per_customer: float = Field(
        ge=0, allow_inf_nan=False, description="Cap on messages per customer in the period.")
    new_customer_value: float = Field(
        default=0.0, ge=0, allow_inf_nan=False,
        description="Future margin credited per recovered cart of a new customer.")
    whole_segments: bool = Field(
        default=True, description="Each segment gets one reminder (false: shares of a segment).")
    readout: str | None = Field(default=None, description="A/B readout counts (CSV), relative to this file.")
    solver: Literal["CBC", "HiGHS"] = "CBC"
    reminders: list[Reminder] = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)

    @model_validator(mode="after")
    def _names(self) -> RecoveryFile:
        seen: set[str] = set()
        for i, r in enumerate(self.reminders):
            if r.name in seen:
                raise LocatedValueError(f"reminder {r.name!r} is listed twice", "reminders", str(i), "name")
            seen.add(r.name)
        segs: set[str] = set()
        for i, s in enumerate(self.segments):
            if s.name in segs:
                raise LocatedValueError(f"segment {s.name!r} is listed twice", "segments", str(i), "name")
            segs.add(s.name)
            for k in s.recovery or {}:
                if k != NONE and k not in seen:
                    raise LocatedValueError(
                        f"{k!r} is not a reminder of the file (known: {', '.join(sorted(seen))})",
                        "segments", str(i), "recovery", k)
        return self


@dataclass(frozen=True)
class Rates:
    """Recovery rates of one segment: the control's and those of the reminders measured."""

    control: float
    reminders: dict[str, float]
    source: str


@dataclass(frozen=True)
class Recovery:
    """A validated recovery file with each segment's rates resolved."""

    spec: RecoveryFile
    rates: dict[str, Rates]
    source: Path
    readout_path: Path | None


def _readout_rates(spec: RecoveryFile, path: Path, label: str) -> dict[str, Rates]:
    """Segment -> rates from an A/B readout: ``test`` names the segment, ``channel`` the
    reminder, the exposed arm's orders per unit its rate, the pooled control arms the control's."""
    try:
        result = readout(path)
    except ExperimentError as exc:
        raise ScenarioError(str(exc)) from None
    reminders = {r.name for r in spec.reminders}
    segments = {s.name: s for s in spec.segments}
    control: dict[str, list[float]] = {}
    exposed: dict[str, dict[str, float]] = {}
    for e in result.effects:
        seg = segments.get(e.test)
        where = f"{label}: test {e.test!r}"
        if seg is None:
            raise ScenarioError(f"{where}: no segment of that name in the recovery file")
        if e.channel not in reminders:
            raise ScenarioError(f"{where}: channel {e.channel!r} is not a reminder of the "
                                f"recovery file (known: {', '.join(sorted(reminders))})")
        if e.customer_type not in ("all", seg.customer):
            raise ScenarioError(f"{where}: customer_type {e.customer_type!r}, but the segment "
                                f"holds {seg.customer} customers")
        if seg.recovery is not None:
            raise ScenarioError(f"{where}: the segment also has recovery rates in the file; "
                                "give them in one place")
        if e.channel in exposed.get(e.test, {}):
            raise ScenarioError(f"{where}: reminder {e.channel!r} read out twice")
        exposed.setdefault(e.test, {})[e.channel] = e.exposed.rate
        c = control.setdefault(e.test, [0.0, 0.0])
        c[0] += e.control.orders
        c[1] += e.control.visitors
    return {s: Rates(control[s][0] / control[s][1], exposed[s], "readout") for s in exposed}


def load_recovery(path: str | os.PathLike[str]) -> Recovery:
    """Read and validate a recovery file; every problem is one :class:`ScenarioError` line.

    Parameters
    ----------
    path : path
        The YAML file.

    Returns
    -------
    Recovery
        The file and each segment's rates (from the file or the readout it names).
    """
    p = Path(path)
    label = str(path)
    raw = read_yaml(p, label)
    if not isinstance(raw, dict):
        raise ScenarioError(f"{label}: a recovery file is a mapping of keys (name, budget, ...)")
    try:
        spec = RecoveryFile.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(f"{label}: {explain(RecoveryFile, exc.errors())}") from None
    rates: dict[str, Rates] = {}
    readout_path: Path | None = None
    if spec.readout is not None:
        readout_path = (p.parent / os.path.expanduser(spec.readout)).resolve()
        problem = input_problem(readout_path)
        if problem:
            raise ScenarioError(f"{label}: readout {spec.readout}: {problem} (at readout)")
        rates.update(_readout_rates(spec, readout_path, spec.readout))
    for i, s in enumerate(spec.segments):
        if s.recovery is not None:
            rest = {k: v for k, v in s.recovery.items() if k != NONE}
            rates[s.name] = Rates(s.recovery[NONE], rest, "file")
        elif s.name not in rates:
            raise ScenarioError(f"{label}: segment {s.name!r} has no recovery rates: give "
                                "'recovery' or a readout test of that name (at segments -> "
                                f"{i} -> recovery)")
    return Recovery(spec, rates, p, readout_path)


def recovery_schema() -> dict[str, Any]:
    """JSON Schema of recovery files."""
    return RecoveryFile.model_json_schema()
