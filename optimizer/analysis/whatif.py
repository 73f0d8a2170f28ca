"""What-if planning from Python: change a scenario's economics, step or budget and re-plan.

:class:`WhatIf` reads a scenario's panel and curves once (fitting them when the scenario names
no curves file) and then plans any variation of the scenario in memory, the same way
``roiste plan`` does: :func:`scenario_with` validates every variation exactly like a scenario
file, so an out-of-band step or an unknown key stops with one clear line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from roiste.models.curves import CurveSet
from roiste.models.errors import ScenarioError
from roiste.models.fit.channel import fit_panel_file
from roiste.models.panel import Panel, read_panel
from roiste.optimizer.plan import Plan, build_plan
from roiste.optimizer.scenario import Scenario, check_against_data, explain, load_scenario

# Keys that change the data or the fitted curves: a what-if keeps them (build a new WhatIf).
FIT_KEYS = ("data", "layout", "target", "spend", "controls", "date_column", "curves", "seed",
            "bootstrap", "holdout_weeks")
_NESTED = ("economics", "channels")


def _merge(base: dict[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``changes``: mappings merge key by key, ``None`` removes a key."""
    out = dict(base)
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def scenario_from_dict(values: Mapping[str, Any], *, label: str = "scenario") -> Scenario:
    """Validate a scenario given as a mapping (paths as given, not resolved against a file).

    Raises
    ------
    ScenarioError
        One line naming the problem and where it is, as for a scenario file.
    """
    try:
        return Scenario.model_validate(dict(values))
    except ValidationError as exc:
        raise ScenarioError(f"{label}: {explain(Scenario, exc.errors())}") from None


def scenario_with(scenario: Scenario, **changes: Any) -> Scenario:
    """A copy of ``scenario`` with ``changes``, validated like a scenario file.

    ``economics`` and ``channels`` merge into the scenario's own (``economics={"return_rate":
    0.12}`` keeps the other economics; ``channels={"tv": {"locked": True}}`` keeps the other
    channels' overrides); a value of ``None`` removes a key.  Unlike
    ``Scenario.model_copy(update=...)``, the result is checked: ``step=0.3`` without
    ``allow_large_step=True`` raises.

    Examples
    --------
    >>> s = scenario_from_dict({"name": "x", "data": "panel.csv",
    ...                         "economics": {"gross_margin": 0.4, "return_rate": 0.1}})
    >>> t = scenario_with(s, step=0.1, economics={"gross_margin": 0.5})
    >>> (t.step, t.economics.gross_margin, t.economics.return_rate)
    (0.1, 0.5, 0.1)
    """
    raw = scenario.model_dump(exclude_unset=True, mode="python")
    for key in _NESTED:
        if key in changes and key in raw and changes[key] is not None:
            changes = {**changes, key: _merge(raw[key], changes[key])}
    updated = {k: v for k, v in {**raw, **changes}.items() if v is not None}
    new = scenario_from_dict(updated, label=f"what-if on {scenario.name!r}")
    new._source = scenario._source
    new._written = dict(scenario._written)
    return new


def _nested(key: str, value: Any) -> dict[str, Any]:
    """``"economics.gross_margin", 0.4`` -> ``{"economics": {"gross_margin": 0.4}}``."""
    out: Any = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return dict(out)


@dataclass
class WhatIf:
    """A scenario with its panel and curves, ready to plan variations of it.

    Parameters
    ----------
    scenario : Scenario
    panel : models.panel.Panel
        The scenario's panel (current spend is read from its last ``baseline_weeks`` weeks).
    curves : CurveSet
        The response curves every variation plans with.

    Examples
    --------
    >>> wi = WhatIf.from_file("scenarios/demo.yaml")          # doctest: +SKIP
    >>> wi.plan(step=0.10).net_margin_change                   # doctest: +SKIP
    >>> wi.sweep("economics.gross_margin", [0.35, 0.45, 0.55])  # doctest: +SKIP
    """

    scenario: Scenario
    panel: Panel
    curves: CurveSet

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *,
                  curves: CurveSet | str | os.PathLike[str] | None = None,
                  progress: bool = False) -> WhatIf:
        """Load a scenario file, read its panel and load or fit its curves."""
        return cls.from_scenario(load_scenario(path), curves=curves, progress=progress)

    @classmethod
    def from_scenario(cls, scenario: Scenario, *,
                      curves: CurveSet | str | os.PathLike[str] | None = None,
                      progress: bool = False) -> WhatIf:
        """Read the scenario's panel; curves given, from the scenario's file, or fitted.

        Fitting uses the scenario's ``seed``, ``bootstrap`` and ``holdout_weeks``, as
        ``roiste plan`` does.
        """
        kw: dict[str, Any] = {"layout": scenario.layout, "target": scenario.target,
                              "spend": scenario.spend, "controls": scenario.controls,
                              "date_column": scenario.date_column}
        panel = read_panel(scenario.data, **kw)
        if isinstance(curves, CurveSet):
            cs = curves
        elif curves is not None or scenario.curves is not None:
            cs = CurveSet.load(Path(curves if curves is not None else str(scenario.curves)))
        else:
            cs = fit_panel_file(scenario.data, **kw, holdout_weeks=int(scenario.holdout_weeks),
                                bootstrap=int(scenario.bootstrap), seed=int(scenario.seed),
                                progress=progress)
        return cls(scenario=scenario, panel=panel, curves=cs)

    def current_weekly(self, scenario: Scenario | None = None) -> pd.Series:
        """Current weekly spend per channel: the mean of the last ``baseline_weeks`` weeks."""
        s = scenario or self.scenario
        return self.panel.recent_spend(int(s.baseline_weeks)).astype(float)

    def variant(self, **changes: Any) -> Scenario:
        """The scenario with ``changes`` (see :func:`scenario_with`), checked against the data."""
        fixed = [k for k in changes if k in FIT_KEYS]
        if fixed:
            raise ScenarioError(
                f"what-if: {fixed[0]!r} changes the data or the fitted curves; build a new "
                "WhatIf from a scenario with it instead"
            )
        s = scenario_with(self.scenario, **changes) if changes else self.scenario
        cur = self.current_weekly(s) * int(s.period_weeks)
        check_against_data(s, [str(c) for c in self.panel.channels], float(cur.sum()),
                           {str(c): float(v) for c, v in cur.items()}, n_weeks=self.panel.n_weeks)
        return s

    def plan(self, **changes: Any) -> Plan:
        """Plan the scenario with ``changes`` (none: the scenario as it is).

        Examples: ``plan(step=0.1)``, ``plan(steps=3)``, ``plan(budget=250_000)``,
        ``plan(economics={"gross_margin": 0.4})``, ``plan(channels={"tv": {"locked": True}})``.
        """
        s = self.variant(**changes)
        return build_plan(self.curves, s, self.current_weekly(s), data_hash=str(self.panel.sha256))

    def sweep(self, key: str, values: Sequence[Any], **fixed: Any) -> pd.DataFrame:
        """Plan once per value of one key and tabulate how the plan moves.

        Parameters
        ----------
        key : str
            A scenario key, dotted for nested ones: ``"step"``, ``"budget"``,
            ``"economics.gross_margin"``, ``"channels.display.max"``.
        values : sequence
        **fixed
            Changes applied to every plan of the sweep (``allow_large_step=True``, ...).

        Returns
        -------
        pandas.DataFrame
            Indexed by the values: ``budget``, ``net_margin_current``,
            ``net_margin_recommended``, ``net_margin_change``, ``optimality_gap``, then the
            recommended period spend of every channel.
        """
        rows = []
        for value in values:
            changes = _merge(dict(fixed), _nested(key, value))
            plan = self.plan(**changes)
            row: dict[str, Any] = {
                key: value,
                "budget": plan.budget,
                "net_margin_current": plan.net_margin_current,
                "net_margin_recommended": plan.net_margin_recommended,
                "net_margin_change": plan.net_margin_change,
                "optimality_gap": plan.optimality_gap,
            }
            row.update(zip(plan.channels,
                           plan.allocation["recommended_spend"].to_numpy(dtype=float),
                           strict=True))
            rows.append(row)
        out = pd.DataFrame(rows).set_index(key)
        out.attrs["channels"] = [str(c) for c in self.panel.channels]
        return out


# --------------------------------------------------------------------------- plans side by side


def plan_table(plans: Mapping[str, Plan]) -> pd.DataFrame:
    """Recommended period spend per channel in each plan, beside the current spend.

    Rows are the channels of the first plan (then any others) and ``total``; columns are
    ``current`` (of the first plan) and one per plan name.
    """
    if not plans:
        raise ValueError("plan_table needs at least one plan")
    first = next(iter(plans.values()))
    channels = list(first.channels)
    for p in plans.values():
        channels += [c for c in p.channels if c not in channels]
    cols = {"current": first.allocation.set_index("channel")["current_spend"]}
    for name, p in plans.items():
        cols[name] = p.allocation.set_index("channel")["recommended_spend"]
    out = pd.DataFrame(cols).reindex(channels)
    out.loc["total"] = out.sum(axis=0, min_count=1)
    out.index.name = "channel"
    return out


def plan_summary(plans: Mapping[str, Plan]) -> pd.DataFrame:
    """One row per plan: budget, step, steps, net margin before and after, gap and status."""
    rows = []
    for name, p in plans.items():
        cur, rec = p.net_margin_current, p.net_margin_recommended
        rows.append({
            "plan": name, "budget": p.budget, "step": p.step, "steps": len(p.steps),
            "net_margin_current": cur, "net_margin_recommended": rec,
            "net_margin_change": p.net_margin_change,
            "change_pct": (100.0 * (rec - cur) / abs(cur)) if cur and rec is not None else np.nan,
            "optimality_gap": p.optimality_gap, "status": p.status,
        })
    return pd.DataFrame(rows).set_index("plan")


__all__ = [
    "FIT_KEYS",
    "WhatIf",
    "plan_summary",
    "plan_table",
    "scenario_from_dict",
    "scenario_with",
]
