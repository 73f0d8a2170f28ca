# %% [markdown]
# # What if? Planning variations of a scenario from Python
#
# `roiste plan scenarios/demo.yaml --out DIR` plans one scenario file. Here the same scenario
# is loaded once (its panel read and its curves fitted) and then planned with different
# economics, step sizes, locks and glide paths, to see how the recommendation moves.
#
# `an.WhatIf.plan(**changes)` validates each variation exactly like a scenario file (a step
# outside 10-20 % is refused unless `allow_large_step` is set) and plans it with the same LP
# and the same certified optimality gap as the command line.
#
# **Units.** Spend and money are per 4-week planning period, in the panel's currency.

# %%
import tempfile
from pathlib import Path

import pandas as pd

from roiste.models.errors import ScenarioError
from roiste.optimizer import analysis as an
from roiste.optimizer.report.compare import compare_plans
from roiste.optimizer.report.output import write_plan
from roiste.optimizer.report.text import headline

pd.options.display.float_format = "{:,.2f}".format
pd.options.display.max_columns = 30

SCENARIO = Path("../scenarios/demo.yaml")

# %% [markdown]
# ## The scenario as written

# %%
what_if = an.WhatIf.from_file(SCENARIO)
base = what_if.plan()
print(headline(base))
base.allocation[["channel", "current_spend", "recommended_spend", "change_pct",
                 "expected_net_margin", "marginal_roas"]]

# %% [markdown]
# Where each channel stands on its curve before and after the plan:

# %%
an.plot_saturation(base)

# %%
an.plot_curves(base, kind="marginal")

# %% [markdown]
# ## Step size
#
# The step is the largest move of a channel in one plan (15 % in the demo scenario). A larger
# step lets the plan go further toward the best allocation, so the expected net margin rises
# with it; each line on the left is one channel's recommended spend.

# %%
by_step = what_if.sweep("step", [0.10, 0.125, 0.15, 0.175, 0.20])
by_step[["net_margin_current", "net_margin_recommended", "net_margin_change", "optimality_gap"]]

# %%
an.plot_sweep(by_step)

# %% [markdown]
# ## Economics
#
# The gross margin sets how much of each unit of revenue is left to pay for the media: with a
# lower margin, a channel needs a higher marginal ROAS to pay its way at the margin. The sweep
# shows which channels the plan moves as the margin changes. Nested keys are written with dots.

# %%
by_margin = what_if.sweep("economics.gross_margin", [0.35, 0.40, 0.45, 0.50, 0.55])
an.plot_sweep(by_margin)

# %% [markdown]
# A variation only changes what it names: here a higher return rate for social media, every
# other economic key as in the file.

# %%
returns = what_if.plan(channels={"social_meta": {"return_rate": 0.30}})
print(headline(returns))

# %% [markdown]
# ## Locks and budget
#
# Lock display at its current spend, and separately plan with a 5 % larger budget.

# %%
locked = what_if.plan(channels={"display": {"locked": True}})
bigger = what_if.plan(budget=round(base.current_total * 1.05, 2))
print(headline(locked))
print(headline(bigger))

# %% [markdown]
# ## A glide path of three steps
#
# Three successive bounded steps: each starts where the previous one ended, so the plan can
# travel further than one step while no channel moves more than 15 % at a time.

# %%
glide = what_if.plan(steps=3)
an.glide_path_table(glide)

# %%
an.plot_glide_path(glide)

# %% [markdown]
# ## Moving spend between two channels at the recommended plan
#
# At the recommended allocation, moving spend between two channels the plan kept apart costs
# net margin within one step (grey band), unless the step bound stopped the plan.

# %%
an.plot_margin_transfer(base, "display", "social_tiktok")

# %% [markdown]
# ## The plans side by side

# %%
plans = {
    "as written": base,
    "step 10 %": what_if.plan(step=0.10),
    "gross margin 35 %": what_if.plan(economics={"gross_margin": 0.35}),
    "display locked": locked,
    "3 steps": glide,
}
an.plan_summary(plans)

# %%
an.plan_table(plans)

# %%
an.plot_plan_comparison(plans)

# %% [markdown]
# ## A variation the scenario rules refuse
#
# Steps outside 10-20 % need `allow_large_step`; the error names the key, as
# `roiste validate` would.

# %%
try:
    what_if.plan(step=0.30)
except ScenarioError as exc:
    print(f"refused: {exc}")
print(headline(what_if.plan(step=0.30, allow_large_step=True)))

# %% [markdown]
# ## The same plans as files
#
# `write_plan` writes what `roiste plan` writes (allocation.csv, summary.json, report.html,
# plan.xlsx) and `compare_plans` is `roiste compare`.

# %%
with tempfile.TemporaryDirectory() as tmp:
    write_plan(base, Path(tmp) / "as-written")
    write_plan(plans["step 10 %"], Path(tmp) / "step-10")
    print(compare_plans(Path(tmp) / "as-written", Path(tmp) / "step-10"))
