# %% [markdown]
# # Experiments: a lift test pins a curve the weekly history got wrong
#
# Where planners pace spend to the season, weekly history moves spend and demand together:
# the fit cannot tell how much of the seasonal revenue the media caused. A lift test can. This
# notebook takes a simulated shop whose spend follows the season, so its true curves are known:
#
# 1. fit the curves from the weekly history alone and find the channel the fit gets most wrong;
# 2. run **one lift test** on it (a holdout that goes dark for 8 weeks), measured from the
#    world's truth with the error such a test has;
# 3. refit with the test: the corrected curve, and how far the test moved its marginal ROAS;
# 4. plan both ways and value the two plans under the true curves;
# 5. rank the channels by what knowing their curve would be worth: what to test next.
#
# The command line does the same: `roiste fit PANEL --experiments experiments.csv`, the
# scenario key `experiments:`, `roiste experiment readout` for A/B counts and `roiste curves`.
#
# **Units.** Spend, revenue and tests are weekly; plans and their values are per 4-week period.

# %%
import tempfile
from pathlib import Path

import pandas as pd
from IPython.display import display

from roiste.models.experiments import lift_test_from_truth, read_experiments, write_experiments
from roiste.models.fit.channel import fit_long
from roiste.models.panel import panel_from_frame
from roiste.models.worlds import draw_world
from roiste.optimizer import analysis as an
from roiste.optimizer.plan import build_plan

pd.options.display.float_format = "{:,.3f}".format
pd.options.display.max_columns = 30

work_dir = tempfile.TemporaryDirectory(prefix="roiste-experiments-")
WORK = Path(work_dir.name)

# %% [markdown]
# ## A shop whose spend follows the season
#
# `draw_world(1, "paced_demand")`: six channels, spend paced to a strong season, and media that
# works better in peak weeks. The world knows its true curves (`world.truth`).

# %%
world = draw_world(1, "paced_demand")
panel = panel_from_frame(world.panel, source="paced world")
curves = fit_long(panel, progress=False)
errors = an.curve_errors({"without tests": curves}, world.truth)
errors.sort_values("without tests", ascending=False)

# %% [markdown]
# The worst relative error of each curve over 0.5-1.5 x current spend. The channel the history
# misleads most:

# %%
channel = errors["without tests"].idxmax()
print(channel)

# %% [markdown]
# ## One lift test
#
# A holdout: the channel goes dark in half the market for 8 weeks. It measures the weekly
# revenue the channel's current spend brings, with a standard error from the shop's weekly
# noise (`lift_test_from_truth`). The test is written to the experiments file and read back,
# as `roiste fit --experiments` reads it.

# %%
test = lift_test_from_truth(world, channel, spend_change=-1.0, weeks=8, seed=1)
write_experiments([test], WORK / "experiments.csv")
tests = read_experiments(WORK / "experiments.csv")
pd.DataFrame([t.to_dict() for t in tests])

# %% [markdown]
# ## The corrected curve
#
# The fit counts the test in its likelihood. The table says what the curve predicted for the
# test without and with it, and how far the test moved the marginal ROAS at current spend.
# A few curve draws (`bootstrap`) serve the last section; use 100 or more before deciding.

# %%
corrected = fit_long(panel, progress=False, experiments=tests, bootstrap=20, seed=3)
an.experiments_table(corrected)

# %%
an.curve_errors({"without tests": curves, "with one test": corrected}, world.truth).loc[[channel]]

# %%
curve_sets = {"truth": world.truth, "without tests": curves, "with one test": corrected}
an.plot_experiment(curve_sets, channel, tests)

# %% [markdown]
# ## The better plan
#
# One planning step (budget held, each channel moves at most 15 %, net margin at a gross
# margin of 40 %) on the curves without and with the test, and on the true curves; each plan's
# move valued as it expects and under the truth.

# %%
scenario = an.scenario_from_dict({"name": "paced shop", "data": "unused.csv", "step": 0.15,
                                  "risk": "point", "economics": {"gross_margin": 0.4}})
current = world.spend.iloc[-8:].mean()
plans = {"without tests": build_plan(curves, scenario, current),
         "with one test": build_plan(corrected, scenario, current),
         "on the true curves": build_plan(world.truth, scenario, current)}
outcome = an.plans_on_truth(plans, world.truth)
outcome["share of the achievable"] = outcome["true_change"] / outcome.loc["on the true curves",
                                                                          "true_change"]
display(outcome)

# %% [markdown]
# ## What to test next
#
# From the curve draws, each channel's value of perfect information: what a plan would gain
# by knowing the curve exactly (here in weekly revenue, without a scenario's economics), the
# spend change a test should make and the weeks it needs for a 10 % standard error. The
# channel just tested has little left to learn.

# %%
table, unit = an.test_next_table(corrected)
print(unit)
display(table)
