"""Every piece of text the reports show, in one place (English; money in data currency).

The plan's report and workbook first, then the monitor's dashboard, the backtest's page and
the comparison of attribution rules.  Templates receive these strings through their context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from roiste.optimizer.plan import Plan


def money(v: float) -> str:
    """Money for people: whole units with separators, cents below 100."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"

TITLE = "Budget plan: {name}"
SUBTITLE = (
    "Planning period of {weeks} weeks. Spend and money are for the whole period, in the "
    "data's currency; response curves are fitted per week and scaled to the period."
)

HEADLINE = (
    "{name}: {what} {current} -> {recommended} ({delta}{delta_pct}) over {weeks} weeks "
    "at a budget of {budget}; certified gap {gap}, {status} ({solver})"
)
HEADLINE_PCT = ", {pct:+.1%}"
HEADLINE_NET_MARGIN = "net margin"
HEADLINE_REVENUE = "revenue (no gross margin given, so no net margin)"


def headline(plan: Plan) -> str:
    """One line for the command line: margin before and after, budget, gap, status."""
    cur, rec, what = plan.net_margin_current, plan.net_margin_recommended, HEADLINE_NET_MARGIN
    if cur is None or rec is None:  # revenue objective without a gross margin
        cur, rec = plan.objective_current, plan.objective_recommended
        what = HEADLINE_REVENUE
    delta = rec - cur
    # a change in per cent only on a positive base: on a negative or zero one it misleads
    pct = HEADLINE_PCT.format(pct=delta / cur) if cur > 0 else ""
    return HEADLINE.format(
        name=plan.name,
        what=what,
        current=money(cur),
        recommended=money(rec),
        delta=("+" if delta >= 0 else "-") + money(abs(delta)),
        delta_pct=pct,
        weeks=plan.period_weeks,
        budget=money(plan.budget),
        gap=f"{plan.optimality_gap:.2e}",
        status=plan.status,
        solver=plan.solver,
    )


def budget_lines(plan: Plan) -> list[str]:
    """The spend-less / spend-more sentences shown under the headline (empty when none)."""
    return list(plan.budget_notes)


SECTION_RECOMMENDATION = "Recommendation"
RECOMMENDATION_INTRO = (
    "Current spend is the mean weekly spend of the last {baseline} weeks, times {weeks}. "
    "Each channel may move by at most {step:.0%} per step, within its own minimum and maximum; "
    "expected revenue and net margin are the incremental effect of the channel at the "
    "recommended spend."
)

SECTION_CURVES = "Response curves"
CURVES_INTRO = (
    "Expected incremental revenue over the period against period spend. The shaded strip is "
    "the 90% band of the bootstrap refits (when the fit drew them), the grey box the range "
    "the plan was allowed to use, the dotted line the spend at which the channel reaches 80% "
    "of its maximum response (its saturation point)."
)
CURVES_TRUNCATED = "Showing the {shown} largest channels by recommended spend out of {total}."

SECTION_MARGINAL = "Marginal returns before and after"
MARGINAL_INTRO = (
    "Marginal ROAS is the revenue of the next unit of spend; marginal net margin is what the "
    "next unit of spend adds to net margin after costs and the spend itself. At the optimum, "
    "channels that are not at a bound share the same marginal net margin (the budget's "
    "shadow price)."
)
MARGINAL_CHART_NOTE = "Marginal ROAS against period spend; markers at current and recommended spend."

SECTION_CUSTOMERS = "Visitors and new customers"
CUSTOMERS_INTRO = (
    "RPV is incremental revenue per incremental visitor. Net CAC is spend plus platform fees, "
    "commissions, logistics (cost per order x orders) and the margin lost to returns and to "
    "orders cancelled after ordering, per new customer; cost per new customer is spend alone "
    "per new customer."
)
SECTION_DECISION = "Decision rules: net CAC and the cost of the next order"
DECISION_INTRO = (
    "Marginal CPA is the spend that brings the next order (average order value / marginal "
    "ROAS); marginal cost per new customer the spend that brings the next new customer. The "
    "next unit of spend earns zero net margin where marginal ROAS equals the break-even "
    "marginal ROAS (1 + platform fee) / k, with k the net margin per unit of revenue before "
    "media; equivalently where marginal CPA equals the break-even CPA k x average order value "
    "/ (1 + fee), and where marginal RPV / marginal CPA equals marginal RPV / break-even CPA. "
    "A channel earns on its next unit of spend while its marginal CPA is below the break-even "
    "CPA (its marginal RPV / marginal CPA above the break-even ratio)."
)
CUSTOMERS_MISSING = "The panel had neither visitors nor new customers: nothing to show here."

SECTION_BRIDGE = "Margin bridge"
BRIDGE_INTRO = (
    "How the period's net margin moves from the current plan to the recommended one, channel "
    "by channel (only what the plan can change: incremental revenue net of costs and spend)."
)
BRIDGE_OBJECTIVE_REVENUE = (
    "This plan maximised revenue; the bridge still shows net margin under the scenario's "
    "economics."
)

SECTION_GLIDE = "Glide path"
GLIDE_INTRO = (
    "The budget moves in {n} bounded steps, each around the previous step's plan; the budget "
    "goes from the current total to the target in equal increments. Net margin after each step:"
)

SECTION_NOTES = "Notes"

SECTION_EVIDENCE = "Evidence of each move"
EVIDENCE_INTRO = (
    "The plan is chosen on {draws} draws of the curves (bootstrap refits), with the risk "
    "objective {risk}. The money of a move comes from somewhere: a raise is right in a draw "
    "when the channel earns more with the money than the channels the plan cuts earned with it "
    "(new budget costs only its spend); a cut is right when the money earns more in the "
    "channels the plan raises (money left unspent earns nothing). A channel's move support is "
    "the share of draws in which its move is right (1 for an unchanged channel). A move is "
    "supported from {threshold:.0%} on{held_rule}"
)
SUPPORTED_WORDS = {True: "yes", False: "no", None: "no draws"}
HELD_CHANNEL = "{channel} (held: its move was not supported)"
RISK_OBJECTIVES: dict[str, str] = {
    "point": "the objective on the fitted curves",
    "expected": "the mean over the curve draws",
    "cvar": "the mean uplift over the current plan in the worst {level:.0%} of the curve draws",
}
EVIDENCE_HELD_RULE = "; a move below that is not made: the channel stays at its current spend."
EVIDENCE_NO_HOLD = "."
EVIDENCE_UPLIFT = (
    "Net margin uplift of the plan over the draws: P5 {p05}, median {p50}, P95 {p95}."
)
EVIDENCE_NO_DRAWS = (
    "The curves have no bootstrap draws, so the plan is made on their point estimate and no "
    "move carries evidence (fit with --bootstrap N to have them)."
)

SECTION_ASSUMPTIONS = "Economic assumptions"
ASSUMPTIONS_INTRO = (
    "Every rate and value the net margin uses, per channel after the scenario's overrides."
)
SETTINGS_TITLE = "Planning settings"
CONSTRAINTS_TITLE = "Extra constraints"
NO_CONSTRAINTS = "No extra constraints."

SECTION_TARGETS = "Targets and constraints"
TARGETS_INTRO = (
    "Each constraint of the scenario at the recommended spend: the figure it reaches, its "
    "limit, whether the plan sits at the limit, and what it costs. The cost is the {objective} "
    "the plan would add without the constraint: the plan is solved again without it under the "
    "same rules, and both solves are certified, so the true cost lies in the range shown."
)
TARGETS_PATH = "For a glide path the cost is summed over its steps."
CONSTRAINT_LABELS: dict[str, str] = {
    "name": "Constraint",
    "rule": "Rule",
    "achieved": "Reached",
    "limit": "Limit",
    "binding": "Binds",
    "cost": "Cost",
    "cost_low": "Cost at least",
    "cost_high": "Cost at most",
}
BINDING = {True: "yes", False: "no"}

SECTION_EXPERIMENTS = "Experiments and what to test next"
EXPERIMENTS_INTRO = (
    "Lift tests measure a curve directly: moving a channel's weekly spend by the tested change "
    "moved its weekly revenue by the measured amount (all customers, with its standard error). "
    "The fit counts each test in its likelihood; the table shows what the curve predicted for "
    "the test without and with the tests, and the marginal ROAS at recent spend both ways."
)
EXPERIMENTS_NONE = (
    "No curve of this plan rests on an experiment: each is what the weekly history shows, and "
    "where spend follows the season that history confuses the season with the media."
)
TEST_NEXT_INTRO = (
    "What to test next: the {objective} per period a plan would gain by knowing each channel's "
    "curve exactly (the expected value of perfect information over the {draws} curve draws: "
    "the mean over draws of the best value of the channel's spend within +-{span:.0%} of "
    "current, money moved to or from the other channels at their marginal value, less the "
    "best value of the mean), highest first; the spend change a test should make, the value "
    "of its information at {test_weeks} weeks, the weekly revenue change it would measure and "
    "the weeks it needs for a {precision:.0%} standard error."
)
EXPERIMENT_LABELS: dict[str, str] = {
    "channel": "Channel",
    "test": "Test",
    "kind": "Kind",
    "x": "Weekly spend tested",
    "delta_x": "Spend change",
    "measured": "Measured revenue change",
    "sigma": "Standard error",
    "predicted_without": "Predicted without tests",
    "predicted_with": "Predicted with tests",
    "marginal_roas_without": "Marginal ROAS without tests",
    "marginal_roas_with": "Marginal ROAS with tests",
    "marginal_roas_change": "Marginal ROAS change",
    "marginal_roas_change_alone": "Change by this test alone",
}
TEST_NEXT_LABELS: dict[str, str] = {
    "rank": "Rank",
    "channel": "Channel",
    "value_of_knowing": "Value of knowing the curve",
    "test_spend_change": "Test spend change",
    "test_value": "Value of the test",
    "test_effect": "Weekly revenue change to measure",
    "weeks_needed": "Weeks needed",
}
#: headers of ``roiste curves``' channel table
CURVES_TABLE_LABELS: dict[str, str] = {
    "channel": "Channel",
    "family": "Family",
    "recent_weekly_spend": "Weekly spend (recent)",
    "weekly_response": "Weekly revenue",
    "roas": "ROAS",
    "marginal_roas": "Marginal ROAS",
    "saturation_share": "Saturation",
    "spend_at_marginal_roas_1": "Weekly spend at marginal ROAS 1",
    "rpv": "RPV",
    "marginal_rpv": "Marginal RPV",
}
CURVES_INTERVAL = "{label} {level:.0%} interval"
CURVES_INTERVAL_CELL = "{low} to {high}"
CURVES_INTERVAL_NOTE = (
    "intervals: the central {level:.0%} of the curves' {draws} bootstrap draws at the recent spend"
)
CURVES_EXPERIMENTS = (
    "experiments (weekly revenue change: measured, predicted without and with the tests)"
)
CURVES_TEST_NEXT = "what to test next (value of knowing each curve exactly, in {unit})"
SHEET_EXPERIMENTS = "Experiments"
SHEET_TEST_NEXT = "Test next"
OBJECTIVE_WORDS = {"net_margin": "net margin", "revenue": "revenue"}
RISK_OBJECTIVE_WORDS = {
    "expected": "expected {objective} over the curve draws",
    "cvar": "mean {objective} uplift of the worst draws (CVaR)",
}
GLIDE_TOGETHER = (
    "The steps are solved together: every channel moves one way from the current spend to the "
    "last step ({moves}), and the path maximises the {objective} summed over the steps, what "
    "the plan earns along the way: {value}, at most {upper} on any such path (certified gap "
    "{gap}). Each step's gap certifies it with the steps before and after it held."
)
GLIDE_TOGETHER_CVAR = (
    "The steps are solved together: every channel moves one way from the current spend to the "
    "last step ({moves}), and the path maximises the mean over the worst {level} of the curve "
    "draws of its {objective} uplift summed over the steps (CVaR): {value}, at most {upper} on "
    "any such path (certified gap {gap}). Each step's figure is its share of that CVaR, its gap "
    "certifies it with the steps before and after it held."
)
GLIDE_MOVES = {"up": "up", "down": "down", "unchanged": "unchanged"}

SECTION_PROOF = "Optimality and provenance"
PROOF_INTRO = (
    "The recommended plan is achievable on the response curves; the upper bound is a value "
    "no plan within the same constraints can beat. Their relative difference is the certified "
    "optimality gap."
)

FOOTER = "Generated by roiste {version} on {timestamp}."
# the page a plan writes: no clock time, so that a rerun writes the same bytes
FOOTER_STABLE = "Generated by roiste {version}; the timings of the run are in timings.json."

KPI_BOXES: dict[str, str] = {
    "budget": "Budget for the period",
    "current_total": "Current total",
    "net_margin_current": "Net margin now",
    "net_margin_recommended": "Net margin planned",
    "net_margin_change": "Change",
    "optimality_gap": "Certified gap",
    "best_budget": "Best budget within the bounds",
}
CHART_ALT_RESPONSE = "response curves per channel"
CHART_ALT_MARGINAL = "marginal ROAS per channel"
CHART_ALT_BRIDGE = "margin bridge"
CHART_ALT_GLIDE = "glide path"
ECONOMICS_CHANNEL = "Channel"
ECONOMICS_DEFAULT = "(scenario default)"
TIMINGS_HEAD = ("timing", "seconds")

ECONOMICS_LABELS: dict[str, str] = {
    "gross_margin": "Gross margin (share of net revenue)",
    "return_rate": "Return rate (share of revenue refunded)",
    "cancellation_rate": "Cancellation rate (share of orders lost after ordering)",
    "cost_per_order": "Cost per order (logistics, handling)",
    "platform_fee_rate": "Platform fee (share of spend)",
    "commission_rate": "Commission (share of revenue)",
    "new_customer_value": "Future margin per new customer",
    "existing_incrementality": "Share of existing-customer revenue caused by ads",
}

SETTING_LABELS: dict[str, str] = {
    "objective": "Objective",
    "period_weeks": "Planning period (weeks)",
    "baseline_weeks": "Baseline (weeks averaged for current spend)",
    "budget": "Budget for the period",
    "current_total": "Current total for the period",
    "budget_mode": "Budget rule",
    "step": "Maximum move per step",
    "steps": "Steps",
    "tolerance": "Gap tolerance",
    "solver": "Solver",
}

BUDGET_MODES = {"equal": "spend exactly the budget", "at_most": "spend at most the budget"}

# -- the workbook as a model (sheets Assumptions, Curves, Curve tables)
ECONOMICS_CHANNEL = "Channel"
MODEL_MARGIN_PER_REVENUE = "Net margin per unit of revenue (formula)"
MODEL_SPEND_COST = "Cost per unit of spend (formula)"
MODEL_NOTES_TITLE = "How the workbook computes"
MODEL_NOTES = (
    "Blue headers are formulas; every other number on this sheet is an input you may change.",
    "A channel cell that shows the scenario default is linked to it: change the default and "
    "the channel follows; type a number to give the channel its own value.",
    "Allocation: revenue = the channel's curve (sheet Curves) at spend / period weeks, times "
    "the period weeks; net margin = net margin per unit of revenue x revenue - cost per unit "
    "of spend x spend.",
    "Net margin per unit of revenue = gross margin x (1 - return rate) x (1 - cancellation "
    "rate) x (new-customer share + (1 - that share) x share of existing-customer revenue "
    "caused by ads) - commission - cost per order / revenue per order + future margin per new "
    "customer x (1 - cancellation rate) x new customers per unit of revenue.",
    "Change a spend on the Allocation sheet, or an assumption here, and revenue, net margin, "
    "marginal ROAS (the curve's slope) and the totals follow. Move support and the other "
    "sheets' figures stay those of the plan as roiste solved it.",
)
CURVES_HEAD: dict[str, str] = {
    "channel": "Channel",
    "family": "Saturation family",
    "formula": "Saturation formula",
    "beta": "Maximum weekly revenue",
    "weight": "Carry-over weight",
    "revenue_per_order": "Revenue per order",
    "new_customers_per_revenue": "New customers per unit of revenue",
    "new_customer_revenue_share": "New-customer share of revenue",
}
CURVES_PARAM = "Saturation {name}"
CURVES_NOTES = (
    "Weekly revenue at a constant weekly spend w = maximum weekly revenue x saturation(w x "
    "carry-over weight).",
    "Saturation formula: the family's own, in spreadsheet syntax; a is the adstocked weekly "
    "spend, k the adstocked weekly spend at half the maximum.",
    "The ratios come from the panel; an empty ratio is one the panel did not have.",
)
CURVES_TABLE_FORMULA = "table (sheet Curve tables)"
CURVES_TABLED = ("Read from sheet Curve tables by linear interpolation (the family has no "
                 "spreadsheet formula): {channels}")
TABLE_SPEND = "{channel}: weekly spend"
TABLE_REVENUE = "{channel}: weekly revenue"
TABLE_MARGINAL = "{channel}: marginal ROAS"

COLUMN_LABELS: dict[str, str] = {
    "channel": "Channel",
    "current_spend": "Current spend",
    "recommended_spend": "Recommended spend",
    "change": "Change",
    "change_pct": "Change %",
    "lower_bound": "Lower bound",
    "upper_bound": "Upper bound",
    "expected_revenue": "Expected revenue",
    "expected_net_margin": "Expected net margin",
    "revenue_current": "Revenue at current",
    "net_margin_current": "Net margin at current",
    "roas": "ROAS",
    "roas_current": "ROAS at current",
    "marginal_roas": "Marginal ROAS",
    "marginal_roas_current": "Marginal ROAS at current",
    "marginal_net_margin_current": "Marginal net margin at current",
    "marginal_net_margin_recommended": "Marginal net margin at recommended",
    "rpv": "RPV",
    "rpv_current": "RPV at current",
    "marginal_rpv": "Marginal RPV",
    "marginal_rpv_current": "Marginal RPV at current",
    "cac_net": "Net CAC",
    "cac_net_current": "Net CAC at current",
    "new_customers": "New customers",
    "new_customers_current": "New customers at current",
    "cost_per_new_customer": "Cost per new customer",
    "cost_per_new_customer_current": "Cost per new customer at current",
    "marginal_cpa": "Marginal CPA (spend for the next order)",
    "marginal_cpa_current": "Marginal CPA at current",
    "marginal_cost_per_new_customer": "Marginal cost per new customer",
    "marginal_cost_per_new_customer_current": "Marginal cost per new customer at current",
    "mrpv_over_mcpa": "Marginal RPV / marginal CPA",
    "mrpv_over_mcpa_current": "Marginal RPV / marginal CPA at current",
    "break_even_marginal_roas": "Break-even marginal ROAS",
    "break_even_cpa": "Break-even marginal CPA",
    "break_even_mrpv_over_mcpa": "Break-even marginal RPV / marginal CPA",
    "break_even_mrpv_over_mcpa_current": "Break-even marginal RPV / marginal CPA at current",
    "saturation_spend": "Saturation point (period spend)",
    "locked": "Locked",
    "step": "Step",
    "budget": "Budget of the step",
    "spend": "Total spend",
    "margin": "Net margin after the step",
    "gap": "Certified gap",
    "status": "Solver status",
    "margin_change": "Net margin change",
    "move_support": "Move support (share of draws)",
    "supported": "Supported by the data",
}

SUMMARY_LABELS: dict[str, str] = {
    "scenario": "Scenario",
    "objective": "Objective",
    "period_weeks": "Planning period (weeks)",
    "baseline_weeks": "Baseline (weeks averaged for current spend)",
    "budget": "Budget for the period",
    "budget_mode": "Budget rule",
    "current_total": "Current total spend",
    "recommended_total": "Recommended total spend",
    "step": "Maximum move per step",
    "channels": "Channels",
    "net_margin_current": "Net margin at current",
    "net_margin_recommended": "Net margin recommended",
    "net_margin_change": "Net margin change",
    "net_margin_change_pct": "Net margin change %",
    "revenue_current": "Revenue at current",
    "revenue_recommended": "Revenue recommended",
    "objective_current": "Objective at current",
    "objective_recommended": "Objective recommended",
    "upper_bound": "Upper bound (no plan beats it)",
    "optimality_gap": "Certified optimality gap",
    "shadow_price": "Budget shadow price",
    "solver": "Solver",
    "status": "Status",
    "tolerance": "Gap tolerance",
    "version": "roiste version",
    "total_spend": "Total spend of the step",
    "net_margin": "Net margin after the step",
    "objective_value": "Objective after the step",
    "best_budget": "Best budget within the bounds",
    "net_margin_at_best_budget": "Net margin at the best budget",
    "best_budget_gap": "Certified gap of the best budget",
    "risk": "Risk objective",
    "risk_level": "CVaR level (share of worst draws)",
    "draws": "Curve draws",
    "support_threshold": "Least move support that counts as supported",
    "uplift_p05": "Net margin uplift, P5 over the draws",
    "uplift_p50": "Net margin uplift, P50 over the draws",
    "uplift_p95": "Net margin uplift, P95 over the draws",
}
SUMMARY_SHEET_HEAD = ("Item", "Value")
SUMMARY_HASH = "{name} SHA-256"
SUMMARY_ATTRIBUTION_HASH = "attribution hash"
GLIDE_SHEET_HEAD = ("Step", "Budget", "Total spend", "Net margin", "Gap")

PROOF_LABELS: dict[str, str] = {
    "status": "Solver status",
    "solver": "Solver",
    "risk": "Objective certified",
    "objective_value": "Objective at the plan",
    "upper_bound": "Upper bound (no plan beats it)",
    "optimality_gap": "Certified optimality gap",
    "shadow_price": "Budget shadow price (objective per extra unit of budget)",
    "n_breakpoints": "Breakpoints",
    "milp": "Mixed-integer (S-shaped curves)",
    "runtime": "Runtime (build + solve, seconds)",
    "data": "Data (SHA-256)",
    "scenario": "Scenario (SHA-256)",
    "curves": "Curves (SHA-256)",
    "attribution": "Attribution (hash)",
    "version": "roiste version",
    "fit": "Fit of the curves",
}
LOCKED_CHANNEL = "{channel} (locked)"

AXIS_PERIOD_SPEND = "Period spend (currency)"
AXIS_PERIOD_REVENUE = "Period revenue (currency)"
AXIS_MARGINAL_ROAS = "Marginal ROAS (per unit)"
AXIS_NET_MARGIN = "Period net margin (currency)"
AXIS_STEP = "Step"
LEGEND_CURVE = "expected response"
LEGEND_BAND = "90% bootstrap band"
LEGEND_BOX = "allowed range"
LEGEND_CURRENT = "current"
LEGEND_RECOMMENDED = "recommended"
LEGEND_SATURATION = "saturation point (80%)"
LEGEND_BREAKEVEN = "marginal ROAS 1"
BRIDGE_START = "current"
BRIDGE_END = "recommended"
BRIDGE_OTHERS = "{n} other channels"
GLIDE_MARGIN = "net margin after step"
GLIDE_BUDGET = "budget of step"

COMPARE_HEADER = "{a} vs {b}"
COMPARE_TOTAL = "total"
COMPARE_COLUMNS = ("channel", "spend A", "spend B", "change", "margin A", "margin B", "change")
COMPARE_MARGIN_LINE = "net margin (recommended): {a} vs {b} ({delta:+,.2f})"

# --------------------------------------------------------------------- monitor dashboard

DASHBOARD_TITLE = "Weekly monitor: {name}"
DASHBOARD_LEAD = "Week of {last} ({n_weeks} weeks from {first}), panel {source}."
DASHBOARD_LEAD_PLAN = " Compared with the plan '{plan}'{start}."
DASHBOARD_PLAN_START = ", which applies from {date}"
DASHBOARD_ALERTS = "Alerts"
DASHBOARD_NO_ALERT = "No alert is active in the week of {last}."
DASHBOARD_ALERTS_INTRO = (
    "Each alert is a rule that still holds in the latest week. The draft scenario beside it "
    "moves part of the channel's budget toward the channels that earn more at the margin; "
    "review it, then run roiste plan on it."
)
DASHBOARD_ALERT_COLUMNS = ("Channel", "KPI", "Since", "Weeks", "Change", "What happened",
                           "Draft scenario")
DASHBOARD_DRAFT_MOVES = "moves {amount} to {recipients}"
DASHBOARD_NO_RECIPIENT = "none"
DASHBOARD_NOTIFY = "Notifications"
DASHBOARD_DELIVERY = "{target}: {status} ({alerts} alert(s), {attempts} attempt(s))"
DASHBOARD_KPIS = "KPIs in the week of {last}"
DASHBOARD_KPIS_INTRO = (
    "Each cell: the week's value; its change against the {recent} weeks before{plan} (green: "
    "good news, red: bad news); the last {spark} weeks as a line (red: the series has an "
    "alert on that KPI)."
)
DASHBOARD_KPIS_PLAN = " and against the plan's expectation"
DASHBOARD_SERIES = "Series"
DASHBOARD_VS_RECENT = "recent"
DASHBOARD_VS_PLAN = "plan"
DASHBOARD_SPARK_LABEL = "last {n} weeks"
DASHBOARD_HISTORY = "Earlier episodes"
DASHBOARD_HISTORY_INTRO = (
    "Spells during which a rule held and that have ended (latest first, at most 30)."
)
DASHBOARD_HISTORY_COLUMNS = ("Channel", "KPI", "Since", "Until", "Change", "Rule")
DASHBOARD_NOTES = "Notes"
DASHBOARD_FOOTER = "roiste {version} monitor."

KPI_LABELS: dict[str, str] = {
    "spend": "Spend",
    "revenue": "Revenue",
    "roas": "ROAS",
    "net_cac": "Net CAC",
    "cost_per_new_customer": "Cost / new customer",
    "rpv": "Revenue / visitor",
    "aov": "Avg order value",
    "return_rate": "Return rate",
    "cpc": "Cost / click",
    "cpm": "Cost / 1,000 impressions",
    "ctr": "Click-through rate",
    "conversion_rate": "Orders / visitor",
    "net_revenue": "Revenue after returns",
    "net_roas": "ROAS after returns",
    "net_orders": "Orders after returns",
    "net_conversion_rate": "Orders after returns / visitor",
}
# the dashboard's KPI tables: a title and the KPIs of each (only those the panel holds)
DASHBOARD_KPI_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Spend and return", ("spend", "revenue", "roas", "net_revenue", "net_roas")),
    ("Acquisition", ("net_cac", "cost_per_new_customer", "cpc", "cpm")),
    ("Funnel and basket", ("ctr", "conversion_rate", "rpv", "aov", "return_rate")),
    ("After returns", ("net_orders", "net_conversion_rate")),
)
DASHBOARD_NO_SPEND = "no spend"
DASHBOARD_STATED_RATE = ("When nothing changes, this rule raises {rate} false alarm(s) a year "
                         "on this series.")
DASHBOARD_STATED_RATE_NIL = ("When nothing changes, this rule's false alarms on this series are "
                             "too rare to measure (under one in 7,000 years).")
DASHBOARD_RETURNS_COMPLETE = "returns {pct} complete"
DASHBOARD_NO_OVERLAP = (" No week of the panel is in the plan's period (it starts {date}); the "
                        "latest {n} week(s) are compared with the weekly KPIs the plan expects.")
DASHBOARD_SIGNALS = "Weak signals"
DASHBOARD_SIGNALS_INTRO = (
    "Signals that move before the margin does: cost per click and per thousand impressions, "
    "click-through and conversion rates, revenue and orders after returns, and recent cohorts "
    "at equal "
    "age. Each with its last weeks (or acquisition weeks) and the draft scenario its alert "
    "suggests.")
DASHBOARD_SIGNAL_COLUMNS = ("Signal", "Series", "Latest", "Change", "Last weeks", "Draft scenario")
DASHBOARD_COHORT_SIGNAL = "margin / new customer at {age} days"
DASHBOARD_COHORT_NOTE = "acquisition week {week}; earlier cohorts at the same age {ref}"
DASHBOARD_IMPLIED_VALUE = "new_customer_value {old} -> {new}"
DASHBOARD_NO_DRAFT = "no draft (no plan value or gross margin known)"
DASHBOARD_DRAFT_REFUSED = "no draft: a plan could not run on it ({reason})"

# --------------------------------------------------------------------- backtest page

BACKTEST_TITLE = "Backtest: {name}"
BACKTEST_LEAD = (
    "{folds} folds of {weeks} weeks; each fold is forecast and planned from the weeks before "
    "it only. Money is per fold. {rule}."
)
BACKTEST_WAPE = "WAPE (week x channel cells)"
BACKTEST_BIAS = "bias"
BACKTEST_COVERAGE = "coverage of the {level:.0%} intervals"
BACKTEST_UPLIFT = "cumulative estimated uplift"
BACKTEST_UPLIFT_VALUE = "{value} ({level:.0%} interval {lower} .. {upper})"
BACKTEST_FORECAST = "Forecast against actual"
BACKTEST_EARNED = "What the plans would have earned"
BACKTEST_EARNED_NOTE = (
    "Valued with curves fitted after the fact on every week; the band is the spread of their "
    "bootstrap draws."
)
BACKTEST_FOLDS = "Folds"
BACKTEST_SKIPPED = "Skipped folds"
BACKTEST_REPLAN = "Replanning the simulated world month by month"
BACKTEST_REPLAN_NOTE = "True margins from the simulation's own curves."
BACKTEST_NEW_CUSTOMERS = "New customers against the forecast"
BACKTEST_NEW_CUSTOMERS_NOTE = (
    "Over every fold: new customers the fold's fit expected at the spend actually spent "
    "(forecast revenue times the new-customer share of the weeks before) against those won; "
    "short = more than 20 % below."
)
BACKTEST_COHORTS = "New-customer cohorts"
BACKTEST_COHORTS_NOTE = (
    "Value per customer over {months} months after acquisition against the "
    "new_customer_value assumed when planning; flagged: {flagged}."
)
BACKTEST_NONE_FLAGGED = "none"
BACKTEST_FOOTER = "roiste {version}"
BACKTEST_ALT_FORECAST = "forecast against actual revenue per fold"
BACKTEST_ALT_UPLIFT = "cumulative uplift of the plans"
BACKTEST_ALT_REPLAN = "true margin month by month under replanning"
BACKTEST_LEGEND_FORECAST = "forecast (each fold)"
BACKTEST_LEGEND_ACTUAL = "actual"
BACKTEST_AXIS_REVENUE = "weekly revenue, all channels"
BACKTEST_LEGEND_BAND = "90% band (bootstrap)"
BACKTEST_LEGEND_ESTIMATED = "estimated (after the fact)"
BACKTEST_LEGEND_TRUE = "true (simulation)"
BACKTEST_AXIS_UPLIFT = "cumulative {value} uplift"
BACKTEST_LEGEND_REPLANNED = "replanned every month"
BACKTEST_LEGEND_KEPT = "allocation kept as it was"
BACKTEST_AXIS_MONTH = "month"
BACKTEST_AXIS_TRUE_MARGIN = "true margin of the month"
BACKTEST_LEGEND_FORECAST_BAND = "{level:.0%} bands of the channels' forecasts, added"
BACKTEST_FORECAST_NOTE = (
    "Each fold's forecast of the weekly revenue of all channels, made from the weeks before "
    "the fold; the band adds up the channels' {level:.0%} bands week by week (wider than a "
    "band of the total when the channels' errors are independent)."
)
BACKTEST_FOLDS_NOTE = "Money is for the fold's weeks, in the data's currency."
#: headers of the backtest's tables (with their units)
BACKTEST_LABELS: dict[str, str] = {
    "start": "Fold starts",
    "fold_start": "Fold starts",
    "train_weeks": "Weeks fitted on",
    "wape": "WAPE",
    "bias": "Bias",
    "coverage": "Week x channel cells inside the band",
    "actual_spend": "Spend, actual",
    "est_margin_actual": "Net margin at actual spend (est.)",
    "est_margin_recommended": "Net margin at recommended spend (est.)",
    "est_uplift": "Uplift (est.)",
    "true_uplift": "Uplift (true, simulation)",
    "reason": "Why skipped",
    "channel": "Channel",
    "forecast": "New customers, forecast",
    "actual": "New customers, won",
    "ratio": "Won / forecast",
    "short": "Short (> 20 % below)",
    "assumed_value": "Value per customer, assumed",
    "realised_value": "Value per customer, realised",
    "complete_cohorts": "Complete cohorts",
    "disappoints": "Disappoints",
}

# --------------------------------------------------------------------- attribution rules

ATTRIBUTION_TITLE = "Attribution rules compared"
ATTRIBUTION_INTRO = "Share of the converted revenue each rule credits to each channel."
ATTRIBUTION_ALT = "credited revenue share by channel and rule"
ATTRIBUTION_CHANNEL = "Channel"
ATTRIBUTION_RULES = "Rules and their hashes"
ATTRIBUTION_SHARES = "Credited revenue share by channel and rule"
ATTRIBUTION_LEGEND_TITLE = "rule"
ATTRIBUTION_AXIS = "share of credited revenue (%)"
ATTRIBUTION_CHART_TITLE = "Credited revenue share by channel and rule"

# --------------------------------------------------------------------- cart recovery plan

RECOVERY_TITLE = "Cart recovery plan: {name}"
RECOVERY_LEAD = (
    "{segments} segments, {carts} abandoned carts. Net margin counts only what a reminder "
    "causes: the control group's own recovery rate is subtracted, and the incentive is paid on "
    "every recovered cart that uses it."
)
RECOVERY_HEADLINE = (
    "{name}: net margin caused {value}, incentives {spend} of {budget}; certified gap {gap} "
    "(bound {bound}), {status} ({solver})"
)
RECOVERY_NET_MARGIN = "Net margin caused"
RECOVERY_SPEND = "Incentives spent / budget"
RECOVERY_ORDERS = "Recovered orders caused"
RECOVERY_BOUND = "Upper bound (no plan does better)"
RECOVERY_LP_BOUND = "Bound of the LP with shares of segments"
RECOVERY_GAP = "Certified gap"
RECOVERY_BUDGET_DUAL = "Net margin of one more unit of incentive budget (shares of segments)"
RECOVERY_CAP = "Messages per customer, at most"
RECOVERY_ASSIGNMENT = "Assignment"
RECOVERY_WHOLE = "each segment gets one reminder"
RECOVERY_SPLIT = "a segment may be split between reminders"
RECOVERY_RATES_FROM = "Recovery rates from"
RECOVERY_SOLVER = "Solver, status"
RECOVERY_INPUTS = "Inputs (SHA-256)"
RECOVERY_PLAN = "Plan"
RECOVERY_PLAN_NOTE = "One row per segment and the reminder its carts get (share of the segment)."
RECOVERY_OPTIONS = "Every reminder of every segment"
RECOVERY_OPTIONS_NOTE = (
    "value per cart = (rate - control rate) x (basket margin + new-customer value for new "
    "customers) - rate x incentive x basket - messages x cost per message."
)
RECOVERY_FOOTER = "roiste {version}"
RECOVERY_TOTAL = "Total"
RECOVERY_SHEET_PLAN = "Plan"
RECOVERY_SHEET_OPTIONS = "Options"
RECOVERY_SHEET_SUMMARY = "Summary"
RECOVERY_LABELS: dict[str, str] = {
    "segment": "Segment",
    "customer_type": "Customers",
    "basket_value": "Basket value",
    "margin": "Gross margin",
    "hours": "Hours since abandonment",
    "carts": "Abandoned carts",
    "reminder": "Reminder",
    "incentive": "Incentive",
    "share": "Share of segment",
    "carts_assigned": "Carts",
    "recovery_rate": "Recovery rate",
    "control_rate": "Control rate",
    "uplift": "Rate caused",
    "orders_caused": "Orders caused",
    "incentive_spend": "Incentives",
    "messages_per_customer": "Messages per customer",
    "value_per_cart": "Net margin per cart",
    "net_margin": "Net margin caused",
}


WEEK_LABELS: dict[str, str] = {
    "week": "Week",
    "channel": "Channel",
    "spend": "Spend in the week",
    "expected_revenue": "Expected revenue",
    "expected_net_margin": "Expected net margin",
}
"""Headers of the weekly plan (``allocation_weeks.csv``, report and workbook)."""

SECTION_FLIGHTING = "Week by week"
FLIGHTING_INTRO = (
    "The plan spends week by week over {weeks} weeks from {start}: each week's effectiveness "
    "follows the curves' seasonal index where they carry one, the first weeks earn from the "
    "adstock carried in, and the carry-over after the period {carryover}. The weekly plan "
    "earns {weekly} of {what}, its totals spread evenly {flat}, the current weekly spend "
    "{current}; certified gap {gap}."
)
FLIGHTING_CARRY = {True: "is valued", False: "is not valued"}
CHART_ALT_FLIGHTING = "spend per week and channel"
FLIGHTING_WEEK_AXIS = "week starting"
FLIGHTING_SPEND_AXIS = "spend in the week"
SHEET_WEEKS = "Weeks"
