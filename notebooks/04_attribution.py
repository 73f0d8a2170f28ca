# %% [markdown]
# # Attribution: from journeys to a plan, and what the rule does to the budget
#
# The revenue of each channel in the weekly panel is credited by an attribution rule. This
# notebook follows one simulated shop from its customers' journeys to a plan:
#
# 1. simulate journeys whose **true causes are known** (each conversion was caused by one
#    channel, or by nothing at all);
# 2. attribute them with **every rule** and hold the credited revenue shares against the truth;
# 3. write the **weekly panel** of one rule, with the sidecar that names the rule by its hash;
# 4. **fit** the response curves and **plan** a scenario written in Python; the plan's summary
#    names the rule it stands on;
# 5. plan from **two rules**, last click and Shapley, and value both plans under the world's
#    true response.
#
# Everything is computed by `roiste` itself (`models.attribution`, `optimizer.analysis`); the
# command line does the same with `roiste attribute` and `roiste plan`.
#
# **Units.** Spend and money are per 4-week planning period in the data's currency, except in
# the weekly panel (per week).

# %%
import json
import tempfile
from pathlib import Path

import pandas as pd

from roiste.models.attribution.credit import RULES, AttributionRule
from roiste.optimizer import analysis as an
from roiste.optimizer.report.attribution import compare_rules
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.report.text import headline

pd.options.display.float_format = "{:,.3f}".format
pd.options.display.max_columns = 30

work_dir = tempfile.TemporaryDirectory(prefix="roiste-attribution-")
WORK = Path(work_dir.name)

# %% [markdown]
# ## A simulated shop whose true causes are known
#
# 52 weekly cohorts of 4,000 users. Five channels touch them: video and social open journeys
# and raise the chance of converting the most; search comes later; email is cheap and
# effective; retargeting closes journeys, reaches many users but adds little. A user converts
# with probability *baseline + the lift of every channel that touched them*, so the revenue
# each channel causes is known, and so is its true response to spend.

# %%
study = an.JourneyStudy.simulate(WORK / "journeys", seed=0, n_weeks=52, users_per_week=4000)
print({name: path.name for name, path in study.files.items()})
study.world.truth.round(2)

# %% [markdown]
# The first rows of the two files `roiste attribute` reads:

# %%
study.world.touchpoints.head()

# %%
study.world.conversions.head()

# %% [markdown]
# ## Every rule against the truth
#
# Each rule splits the revenue of every conversion among the channels of its journey (30-day
# lookback). Conversions with no touch go to `(direct)` and are left out of the shares below,
# as they are left out of the panel. The distance is the share of revenue a rule puts in the
# wrong channel (total variation: 0 is the truth).

# %%
rules = [AttributionRule(rule) for rule in RULES]
shares = an.attribution_shares(study.inputs(), rules, truth=study.world.true_shares())
shares.round(3)

# %%
an.share_distance(shares).to_frame()

# %%
an.plot_attribution_shares(shares)

# %% [markdown]
# Last click gives retargeting, which closes journeys, several times the revenue it causes and
# starves video, which opens them; first click does the opposite. The data-driven rules use the
# journeys that did not convert as well: Shapley values over channel sets come closest to the
# truth here.
#
# `roiste attribute compare` writes the same comparison (without the truth, which real data
# does not have) as a CSV file and an HTML page:

# %%
table = compare_rules(study.files["touchpoints"], study.files["conversions"], rules,
                      WORK / "compare")
print(sorted(p.name for p in (WORK / "compare").iterdir()))
table.pivot(index="channel", columns="label", values="share")

# %% [markdown]
# ## The weekly panel of one rule, and its hash
#
# The panel is the long weekly layout the fitter reads (revenue, orders and new customers
# credited per week and channel, spend from the spend file). Beside it,
# `PANEL.attribution.json` holds the rule, its parameters and its hash: the SHA-256 of the
# rule's canonical configuration, the same on every machine.

# %%
shapley = AttributionRule("shapley")
panel_path = study.write_panel(shapley, WORK / "panel-shapley.csv")
panel = pd.read_csv(panel_path)
panel.head(10)

# %%
sidecar = json.loads(Path(f"{panel_path}.attribution.json").read_text())
print("rule:", sidecar["rule"])
print("attribution hash:", sidecar["attribution_hash"])
print("revenue in the panel:", sidecar["totals"]["panel_revenue"],
      "| credited to (direct):", sidecar["totals"]["direct_revenue"])

# %% [markdown]
# ## Fit and plan a scenario written in Python
#
# The scenario is a plain mapping, validated exactly like a scenario file (`scenario_from_dict`
# inside `JourneyStudy.what_if`, which also points `data` at the rule's panel): 4-week
# period, current spend from the last 8 weeks, each channel moves at most 15 %, net margin at
# a 50 % gross margin. The curves are fitted from the panel when the `WhatIf` is built.

# %%
SCENARIO = {
    "period_weeks": 4,
    "baseline_weeks": 8,
    "step": 0.15,
    "objective": "net_margin",
    "economics": {"gross_margin": 0.5},
}
what_if = an.WhatIf.from_scenario(an.scenario_from_dict(
    {"name": "plan from shapley", "data": str(panel_path), **SCENARIO}))
what_if.curves.summary_table()

# %%
an.plot_curves(what_if.curves, kind="response", period_weeks=4)

# %%
plan = what_if.plan()
print(headline(plan))
plan.allocation[["channel", "current_spend", "recommended_spend", "change_pct",
                 "expected_net_margin", "marginal_roas"]]

# %% [markdown]
# The rule's hash travelled from the sidecar into the curves and the plan: `summary.json`
# (and the report) names the attribution the plan stands on.

# %%
write_plan(plan, WORK / "plan-shapley")
summary = json.loads((WORK / "plan-shapley" / "summary.json").read_text())
print("attribution in summary.json:", summary["inputs"]["attribution"])
print("the Shapley rule's hash:    ", shapley.config_hash)
print("same rule:", summary["inputs"]["attribution"] == shapley.config_hash)

# %% [markdown]
# ## Two rules, two plans
#
# The same journeys, the same spend, the same scenario: only the rule that credits the revenue
# changes. Each rule's panel is written, fitted and planned.

# %%
plans = {
    "last-click": study.what_if(AttributionRule("last-click"), SCENARIO).plan(),
    "shapley": plan,
}
an.plan_summary(plans)

# %%
an.plan_table(plans)

# %%
an.plot_plan_comparison(plans)

# %% [markdown]
# Each plan expects a gain from its own curves. The world's true response says what the
# move would really earn (net margin per 4 weeks, channels' caused revenue only):

# %%
an.true_plan_outcome(plans, study)

# %% [markdown]
# One world is one draw: the weekly fits are noisy, and a plan can land well or badly by
# chance. The same comparison over five more worlds, each with its own journeys:

# %%
trials = an.rule_plan_trials([AttributionRule("last-click"), shapley], SCENARIO,
                             seeds=[1, 2, 3, 4, 5], out_dir=WORK / "trials",
                             n_weeks=52, users_per_week=4000)
trials.pivot(index="seed", columns="rule", values=["expected_change", "true_change"])

# %%
trials.groupby("rule")[["expected_change", "true_change"]].mean()

# %% [markdown]
# ## What it means for the budget
#
# - Under last click, retargeting looks like a bargain: it is credited with the revenue of the
#   journeys it closes, several times what it causes, and video with far less. Curves fitted
#   on that revenue steer the budget by channels' credit, not by what they cause.
# - The plans fitted from last click promise the larger gain and keep the least of it under
#   the true response; Shapley's shares are close to the true causes, and its plans'
#   promises are closer to what the world gives back. Any single world is noisy (the weekly
#   fits are, and each channel moves at most 15 %), so the pattern is read over several.
# - A plan is only as right as the revenue its curves were fitted on. The attribution hash in
#   every plan's summary says which rule that revenue came from: plans fitted from different
#   rules should be compared knowingly, never mixed.

# %% [markdown]
# The files of this notebook were written to a temporary folder; it goes away here.

# %%
work_dir.cleanup()
