# %% [markdown]
# # Where does each channel saturate?
#
# This notebook fits one response curve per channel on the demo shop's weekly panel
# (`scenarios/data/demo_panel.csv`: 6 channels, 156 weeks, simulated, so the true curves are
# known) and looks at each channel in turn: how revenue grows with spend, where the growth
# flattens out, what the next unit of spend earns, and how much of that depends on the choice
# of curve family.
#
# Every number and figure comes from `optimizer.analysis`, the same functions that draw
# `report.html`; nothing here is computed in the notebook itself.
#
# **Units.** Spend and money are per 4-week planning period, in the panel's currency. A
# *saturation point* is the spend at which a channel reaches 80 % of the most revenue it could
# ever bring; *marginal ROAS* is the revenue the next unit of spend brings.

# %%
from pathlib import Path

import pandas as pd
from IPython.display import display

from roiste.models.curves import CurveSet
from roiste.models.fit.channel import fit_long
from roiste.models.panel import read_panel
from roiste.optimizer import analysis as an
from roiste.optimizer.scenario import load_scenario

pd.options.display.float_format = "{:,.2f}".format
pd.options.display.max_columns = 30

PANEL = Path("../scenarios/data/demo_panel.csv")
SCENARIO = Path("../scenarios/demo.yaml")
PERIOD_WEEKS = 4

# %% [markdown]
# ## Fit the curves
#
# `fit_long` fits each channel on its own: a baseline (trend, seasons) plus
# `beta * saturation(adstock(spend))`, with the saturation family chosen by time-series
# cross-validation. A few bootstrap draws give the uncertainty bands below; they are kept
# small here so that the notebook runs in seconds. Use 100 or more before deciding anything.

# %%
panel = read_panel(PANEL)
curves = fit_long(panel, bootstrap=8, seed=7, progress=False)
curves.summary_table()

# %% [markdown]
# ## Saturation points
#
# The economics of the demo scenario (gross margin, returns, cost per order, value of a new
# customer) turn revenue into net margin. With them, the table also gives the marginal ROAS at
# which one more unit of spend stops adding net margin (`margin_breakeven_roas`) and the spend
# where the channel gets there (`margin_breakeven_spend`; 0 when even the first unit does not
# pay). `_low` and `_high` columns are the 90 % bootstrap interval.

# %%
scenario = load_scenario(SCENARIO)
economics = an.scenario_economics(scenario, curves.channels)
saturation = an.saturation_table(curves, period_weeks=PERIOD_WEEKS, economics=economics)
saturation[["family", "current_spend", "saturation_share", "saturation_spend",
            "saturation_spend_low", "saturation_spend_high", "marginal_roas",
            "margin_breakeven_roas", "margin_breakeven_spend"]]

# %% [markdown]
# How far along its curve each channel is today. Wide intervals mean the history never reached
# spend levels that would pin the saturation point down.

# %%
an.plot_saturation(curves, period_weeks=PERIOD_WEEKS)

# %% [markdown]
# ## Every channel's curve
#
# Revenue per period against spend per period, with the bootstrap band, the saturation point
# and the current spend (the mean of the last 8 weeks).

# %%
an.plot_curves(curves, kind="response", period_weeks=PERIOD_WEEKS)

# %% [markdown]
# The marginal ROAS of each channel. Below the dashed line (marginal ROAS 1) the next unit of
# spend brings back less revenue than it costs; below the red line it loses net margin.

# %%
an.plot_curves(curves, kind="marginal", period_weeks=PERIOD_WEEKS, economics=economics)

# %% [markdown]
# ## One channel in detail

# %%
CHANNEL = "search_generic"
an.plot_response(curves, CHANNEL, period_weeks=PERIOD_WEEKS)

# %%
an.plot_marginal_roas(curves, CHANNEL, period_weeks=PERIOD_WEEKS, economics=economics)

# %% [markdown]
# The numbers behind both figures, every twentieth point of the spend grid:

# %%
an.curve_frame(curves, CHANNEL, period_weeks=PERIOD_WEEKS).iloc[::20]

# %% [markdown]
# ### Revenue per visitor
#
# The panel counts visitors, so the fit also learns how visitors grow with spend. Revenue per
# visitor (RPV) is the average; marginal RPV is what the extra visitors bought by the next unit
# of spend are worth. A falling marginal RPV means extra spend buys less valuable traffic.

# %%
an.plot_marginal_rpv(curves, CHANNEL, period_weeks=PERIOD_WEEKS)

# %% [markdown]
# ## Moving spend between two channels
#
# What happens to net margin when part of one channel's budget goes to another, the total
# unchanged. The best move is where both channels' marginal net margins are equal.

# %%
moves = an.margin_transfer(curves, "display", "search_generic", period_weeks=PERIOD_WEEKS,
                           economics=economics)
print(f"best move: {moves.attrs['best_move']:+,.0f} from display to search_generic, "
      f"net margin {moves.attrs['best_change']:+,.0f} per period")
an.plot_margin_transfer(curves, "display", "search_generic", period_weeks=PERIOD_WEEKS,
                        economics=economics)

# %% [markdown]
# ## Does the curve family matter?
#
# The families fit the weeks seen about equally well (`score`: cross-validated relative error,
# lower is better), yet they can place the saturation point very differently: the history
# rarely reaches the spend where they part ways.

# %%
comparison = an.compare_families(panel, "social_meta", period_weeks=PERIOD_WEEKS)
display(comparison.table)

# %%
an.plot_family_comparison(comparison)

# %% [markdown]
# ## Against the truth
#
# The demo world is simulated, so its true curves are known (`demo_panel.csv.truth.json`).
# Fitted and true saturation points and marginal ROAS at current spend, side by side:

# %%
truth = CurveSet.load(PANEL.with_name(PANEL.name + ".truth.json"))
an.truth_table(curves, truth, period_weeks=PERIOD_WEEKS)
