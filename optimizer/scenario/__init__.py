"""Scenario files: the pydantic schema, loading, checks against the data, messages.

The modules stack from types up: :mod:`.errors` (reading YAML, explaining validation errors),
:mod:`.economics` (the economics keys and the money sections), :mod:`.schema` (the scenario
and its constraints, loading), :mod:`.cohorts` (new-customer values from tagged orders) and
:mod:`.checks` (checks against the panel, ``roiste validate``).  Import from this package.
"""

from roiste.optimizer.scenario.checks import (
    check_against_data,
    check_plan_inputs,
    check_weeks,
    load_for_data,
    validate_scenario_file,
)
from roiste.optimizer.scenario.cohorts import cohort_customer_values
from roiste.optimizer.scenario.economics import (
    ECONOMICS,
    ECONOMICS_KEYS,
    FROM_COHORTS,
    ChannelSpec,
    Customers,
    Economics,
    EconomicsKey,
    neutral,
)
from roiste.optimizer.scenario.errors import LocatedValueError, explain, read_yaml
from roiste.optimizer.scenario.schema import (
    DEFAULT_CVAR_LEVEL,
    DEFAULT_RISK,
    RISK_KINDS,
    Constraint,
    CostPerNewCustomerConstraint,
    ExistingRoasConstraint,
    NetCacConstraint,
    NewRoasConstraint,
    Period,
    Risk,
    RoasConstraint,
    Scenario,
    ShareConstraint,
    json_schema,
    load_scenario,
)

__all__ = [
    "DEFAULT_CVAR_LEVEL",
    "DEFAULT_RISK",
    "ECONOMICS",
    "ECONOMICS_KEYS",
    "FROM_COHORTS",
    "RISK_KINDS",
    "ChannelSpec",
    "Constraint",
    "CostPerNewCustomerConstraint",
    "Customers",
    "Economics",
    "EconomicsKey",
    "ExistingRoasConstraint",
    "LocatedValueError",
    "NetCacConstraint",
    "NewRoasConstraint",
    "Period",
    "Risk",
    "RoasConstraint",
    "Scenario",
    "ShareConstraint",
    "check_against_data",
    "check_plan_inputs",
    "check_weeks",
    "cohort_customer_values",
    "explain",
    "json_schema",
    "load_for_data",
    "load_scenario",
    "neutral",
    "read_yaml",
    "validate_scenario_file",
]
