# %% [markdown]
# # A public marketing-mix dataset, end to end
#
# Robyn's simulated weekly data (facebookexperimental/Robyn, MIT license): 208 weeks of revenue
# with five paid channels (`tv_S`, `ooh_S`, `print_S`, `facebook_S`, `search_S`), competitor
# sales, a newsletter and events, in the wide layout (one row per week). The notebook fits the
# marketing-mix model, checks its forecast on weeks it has not seen, looks at each channel's
# saturation and plans the next four weeks.
#
# The file is not part of this repository. It is read from `$ROISTE_DATASETS`, by default
# `../shared/datasets` beside the repository; when it is missing, the next cell says where to
# get it and the notebook stops there.

# %%
import pandas as pd
from IPython.display import display

from roiste.models.fit.mmm import fit_wide
from roiste.models.panel import read_panel
from roiste.optimizer import analysis as an
from roiste.optimizer.report.text import headline

pd.options.display.float_format = "{:,.2f}".format
pd.options.display.max_columns = 30

DATASET = "robyn_dt_simulated_weekly.csv"
SPEND = ["tv_S", "ooh_S", "print_S", "facebook_S", "search_S"]
CONTROLS = ["competitor_sales_B", "newsletter", "events"]
HOLDOUT_WEEKS = 42
PERIOD_WEEKS = 4

path = an.find_dataset(DATASET)
if path is None:
    an.stop_here(an.missing_dataset_message(DATASET))
print(f"reading {path}")

# %% [markdown]
# ## Forecast quality on held-out weeks
#
# The model is fitted on the first 166 weeks and forecasts the last 42 from their actual spend
# and controls. `r2_holdout` is the share of the held-out weeks' variance the forecast explains;
# `wape_holdout` the absolute forecast error as a share of held-out revenue.

# %%
panel = read_panel(path, layout="wide", target="revenue", spend=SPEND, controls=CONTROLS)
held_out = fit_wide(panel, holdout_weeks=HOLDOUT_WEEKS, progress=False)
quality = pd.Series(held_out.diagnostics)[["n_weeks_train", "n_weeks_holdout", "r2_train",
                                           "r2_holdout", "wape_holdout"]]
display(quality)

# %% [markdown]
# ## Fit on every week, with bootstrap bands
#
# For planning, the model is refitted on all 208 weeks. Each bootstrap draw refits the whole
# model on resampled blocks of weeks; five draws keep the notebook quick (use 100 or more
# before deciding anything). The economics are an assumption for illustration: half of each
# unit of revenue is left after the cost of goods.

# %%
scenario = an.scenario_from_dict({
    "name": "Robyn simulated shop, next 4 weeks",
    "data": str(path),
    "layout": "wide",
    "target": "revenue",
    "spend": SPEND,
    "controls": CONTROLS,
    "period_weeks": PERIOD_WEEKS,
    "baseline_weeks": 8,
    "step": 0.15,
    "bootstrap": 5,
    "seed": 1,
    "economics": {"gross_margin": 0.5},
})
what_if = an.WhatIf.from_scenario(scenario)
economics = an.scenario_economics(scenario, what_if.curves.channels)
an.saturation_table(what_if.curves, period_weeks=PERIOD_WEEKS, economics=economics)[
    ["family", "current_spend", "saturation_share", "saturation_spend", "marginal_roas",
     "marginal_roas_low", "marginal_roas_high", "margin_breakeven_spend"]]

# %%
an.plot_curves(what_if.curves, kind="response", period_weeks=PERIOD_WEEKS)

# %% [markdown]
# ## A plan for the next four weeks

# %%
plan = what_if.plan()
print(headline(plan))
plan.allocation[["channel", "current_spend", "recommended_spend", "change_pct",
                 "expected_net_margin", "marginal_roas"]]

# %%
an.plot_curves(plan, kind="marginal")

# %%
an.plot_saturation(plan)

# %%
glide = what_if.plan(steps=3)
an.plot_glide_path(glide)

# %% [markdown]
# ## Does the curve family matter here?
#
# The marketing-mix model uses logistic saturation by default. Refitting the whole model with
# each family (scored by AIC, lower is better) shows how much the facebook channel's
# saturation point depends on that choice.

# %%
families = an.compare_families(panel, "facebook_S", period_weeks=PERIOD_WEEKS)
display(families.table)

# %%
an.plot_family_comparison(families)
