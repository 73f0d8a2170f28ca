"""Exploration of saturation points: the numbers and figures behind the notebooks and reports.

One import gives the whole API::

    from roiste.optimizer import analysis as an
    an.saturation_table(curves, period_weeks=4)     # where each channel saturates
    an.plot_response(curves, "search")              # its curve, band, current spend
    an.WhatIf.from_file("scenarios/demo.yaml").plan(step=0.10)

Functions take a :class:`~models.curves.CurveSet` (current spend = recent weekly spend x
``period_weeks``) or a :class:`~optimizer.plan.Plan` (its own period, current and recommended
spend, bounds and economics).  Spend and money are per planning period in the data's currency.

- :mod:`optimizer.analysis.curves`: curves on a spend grid with bootstrap bands, saturation
  points, marginal RPV, moving spend between two channels, the glide path.
- :mod:`optimizer.analysis.families`: one channel under every saturation family.
- :mod:`optimizer.analysis.whatif`: scenario variations planned in memory, plans compared.
- :mod:`optimizer.analysis.figures`: the figures, drawn with :mod:`optimizer.report.charts`.
- :mod:`optimizer.analysis.experiments`: the tests each curve rests on, what to test next.
- :mod:`optimizer.analysis.datasets`: public datasets outside the repository.
- :mod:`optimizer.analysis.attribution`: attribution rules against simulated journeys with
  known causes, and plans fitted from each rule valued under the true response.
"""

from roiste.optimizer.analysis.attribution import (
    JourneyStudy,
    attribution_shares,
    plot_attribution_shares,
    rule_names,
    rule_plan_trials,
    share_distance,
    true_plan_outcome,
)
from roiste.optimizer.analysis.curves import (
    View,
    curve_frame,
    glide_path_table,
    margin_breakeven,
    margin_transfer,
    marginal_band,
    saturation_table,
    scenario_economics,
    spend_grid,
    truth_table,
    view,
)
from roiste.optimizer.analysis.datasets import (
    datasets_dir,
    find_dataset,
    missing_dataset_message,
    stop_here,
)
from roiste.optimizer.analysis.experiments import (
    curve_errors,
    experiments_table,
    plans_on_truth,
    plot_experiment,
    test_next_table,
)
from roiste.optimizer.analysis.families import FamilyComparison, compare_families
from roiste.optimizer.analysis.figures import (
    plot_curves,
    plot_family_comparison,
    plot_glide_path,
    plot_margin_transfer,
    plot_marginal_roas,
    plot_marginal_rpv,
    plot_plan_comparison,
    plot_response,
    plot_saturation,
    plot_sweep,
)
from roiste.optimizer.analysis.whatif import (
    WhatIf,
    plan_summary,
    plan_table,
    scenario_from_dict,
    scenario_with,
)
from roiste.optimizer.economics import ChannelEconomics
from roiste.optimizer.report.charts import png_bytes

__all__ = [
    "ChannelEconomics",
    "FamilyComparison",
    "JourneyStudy",
    "View",
    "WhatIf",
    "attribution_shares",
    "compare_families",
    "curve_errors",
    "curve_frame",
    "datasets_dir",
    "experiments_table",
    "find_dataset",
    "glide_path_table",
    "margin_breakeven",
    "margin_transfer",
    "marginal_band",
    "missing_dataset_message",
    "plan_summary",
    "plan_table",
    "plans_on_truth",
    "plot_attribution_shares",
    "plot_curves",
    "plot_experiment",
    "plot_family_comparison",
    "plot_glide_path",
    "plot_margin_transfer",
    "plot_marginal_roas",
    "plot_marginal_rpv",
    "plot_plan_comparison",
    "plot_response",
    "plot_saturation",
    "plot_sweep",
    "png_bytes",
    "rule_names",
    "rule_plan_trials",
    "saturation_table",
    "scenario_economics",
    "scenario_from_dict",
    "scenario_with",
    "share_distance",
    "spend_grid",
    "stop_here",
    "test_next_table",
    "true_plan_outcome",
    "truth_table",
    "view",
]
