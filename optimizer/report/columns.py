"""One registry of the columns the reports show: name, label, unit, format, total, formula.

Every table of numbers a report writes takes its columns from here: ``allocation.csv`` and the
rounding of ``summary.json`` (:mod:`~roiste.optimizer.report.tables`), the HTML tables
(:mod:`~roiste.optimizer.report.html`, ``dashboard``, ``backtest``), the workbook
(:mod:`~roiste.optimizer.report.xlsx`) and the comparison of two plans.

A :class:`Column` knows

- its ``unit`` (money for the period, money per customer, ratio, share, count, ...), which
  also fixes how the CSV and JSON outputs round it (:attr:`Unit.rounding`);
- its display format ``fmt`` in the HTML tables (``money``, ``cents``, ``ratio``, ``pct``,
  ``share``, ``count``, ``gap``, ``int``, ``flag`` (yes or no), ``date``, ``text``), from which the workbook's number format
  follows (:data:`EXCEL_FORMATS`);
- whether a total row adds it up (``summable``);
- its Excel ``formula`` where the workbook computes it: a template whose ``{name}`` fields
  are other columns of the same row, ``{revenue[name]}`` (``{marginal[name]}``) the channel's
  period revenue (marginal ROAS) at the spend in column ``name`` (its curve's formula), ``{assumption[name]}`` a cell of the channel on
  the assumptions sheet (:data:`~roiste.optimizer.report.sheetmodel.CHANNEL_CELLS`); in the
  summary sheet, other summary rows, ``{total[name]}`` the allocation sheet's total of a
  column and ``{setting[name]}`` a planning setting on the assumptions sheet.  A summable
  column is added up in a total row; another column with a formula of the row's own cells is
  computed there.

Labels are the report's words and come from :mod:`~roiste.optimizer.report.text`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from roiste.optimizer.report import text as T

MONEY_FMT = "#,##0.00"
RATIO_FMT = "0.000"
PCT_FMT = "0.0%"
COUNT_FMT = "#,##0.0"
GAP_FMT = "0.00E+00"

EXCEL_FORMATS: dict[str, str] = {
    "text": "@",
    "money": MONEY_FMT,
    "cents": MONEY_FMT,
    "ratio": RATIO_FMT,
    "pct": PCT_FMT,
    "share": PCT_FMT,
    "count": COUNT_FMT,
    "gap": GAP_FMT,
    "int": "0",
    "flag": "@",
    "date": "@",
    "whole": "#,##0",
}


@dataclass(frozen=True)
class Unit:
    """What a number measures, and how the CSV and JSON outputs round it.

    Parameters
    ----------
    name : str
        The unit in words.
    rounding : {"money", "count", "ratio"}
        ``money``: twelve significant digits; ``count``: two decimals; ``ratio``: six
        significant digits (see :func:`roiste.optimizer.report.tables.round_value`).
    """

    name: str
    rounding: str


MONEY = Unit("money for the period", "money")
MONEY_PER_CUSTOMER = Unit("money per customer", "money")
MONEY_PER_VISITOR = Unit("money per visitor", "ratio")
MONEY_PER_CLICK = Unit("money per click", "ratio")
MONEY_PER_THOUSAND = Unit("money per thousand impressions", "ratio")
MONEY_PER_UNIT = Unit("money per unit (order, customer)", "money")
RATIO = Unit("ratio", "ratio")
SHARE = Unit("share", "ratio")
PERCENT = Unit("percent", "count")
COUNT = Unit("count", "count")
WEEKS = Unit("weeks", "count")
FLAG = Unit("yes or no", "ratio")
TEXT = Unit("text", "ratio")


@dataclass(frozen=True)
class Column:
    """One column of a report table (see the module's description).

    Parameters
    ----------
    name : str
        The key in the data (CSV header, JSON key, data frame column).
    label : str
        The header people read.
    unit : Unit
    fmt : str, default "ratio"
        The display format of the HTML tables; the workbook's number format follows from it.
    summable : bool, default False
        Whether a total row adds the column up.
    formula : str, optional
        The workbook's formula template, where the workbook computes the column.
    """

    name: str
    label: str
    unit: Unit
    fmt: str = "ratio"
    summable: bool = False
    formula: str | None = None

    @property
    def rounding(self) -> str:
        """How the CSV and JSON outputs round the column: ``money``, ``count`` or ``ratio``."""
        return self.unit.rounding

    @property
    def excel_format(self) -> str:
        """The workbook's number format."""
        return EXCEL_FORMATS[self.fmt]


def _registry(columns: Iterable[Column]) -> dict[str, Column]:
    out: dict[str, Column] = {}
    for c in columns:
        if c.name in out:
            raise ValueError(f"column {c.name!r} registered twice")
        out[c.name] = c
    return out


def _col(name: str, unit: Unit, fmt: str, *, summable: bool = False, formula: str | None = None,
         label: str | None = None) -> Column:
    return Column(name, T.COLUMN_LABELS[name] if label is None else label, unit, fmt, summable,
                  formula)


# ------------------------------------------------------------------------ allocation.csv

CONTRACT_COLUMNS = (
    "channel",
    "current_spend",
    "recommended_spend",
    "change_pct",
    "lower_bound",
    "upper_bound",
    "expected_revenue",
    "expected_net_margin",
    "roas",
    "marginal_roas",
)
OPTIONAL_COLUMNS = (
    "rpv",
    "marginal_rpv",
    "cac_net",
    "new_customers",
    "marginal_cpa",
    "marginal_cost_per_new_customer",
    "mrpv_over_mcpa",
)
EXTRA_COLUMNS = (
    "locked",
    "revenue_current",
    "net_margin_current",
    "roas_current",
    "marginal_roas_current",
    "marginal_net_margin_current",
    "marginal_net_margin_recommended",
    "rpv_current",
    "marginal_rpv_current",
    "cac_net_current",
    "new_customers_current",
    "cost_per_new_customer",
    "cost_per_new_customer_current",
    "marginal_cpa_current",
    "marginal_cost_per_new_customer_current",
    "mrpv_over_mcpa_current",
    "break_even_marginal_roas",
    "break_even_cpa",
    "break_even_mrpv_over_mcpa",
    "break_even_mrpv_over_mcpa_current",
    "saturation_spend",
)
EVIDENCE_COLUMNS = ("move_support", "supported")
STEP_SPEND_PREFIX = "spend_step_"

ALLOCATION: dict[str, Column] = _registry([
    _col("channel", TEXT, "text"),
    _col("current_spend", MONEY, "money", summable=True),
    _col("recommended_spend", MONEY, "money", summable=True),
    _col("change", MONEY, "money", formula="={recommended_spend}-{current_spend}"),
    _col("change_pct", PERCENT, "pct", formula='=IF({current_spend}=0,"",{change}/{current_spend})'),
    _col("lower_bound", MONEY, "money", summable=True),
    _col("upper_bound", MONEY, "money", summable=True),
    _col("expected_revenue", MONEY, "money", summable=True,
         formula="={revenue[recommended_spend]}"),
    _col("expected_net_margin", MONEY, "money", summable=True,
         formula="={assumption[margin_per_revenue]}*{expected_revenue}"
                 "-{assumption[spend_cost]}*{recommended_spend}"),
    _col("revenue_current", MONEY, "money", summable=True, formula="={revenue[current_spend]}"),
    _col("net_margin_current", MONEY, "money", summable=True,
         formula="={assumption[margin_per_revenue]}*{revenue_current}"
                 "-{assumption[spend_cost]}*{current_spend}"),
    _col("margin_change", MONEY, "money",
         formula="={expected_net_margin}-{net_margin_current}"),
    _col("roas", RATIO, "ratio", formula='=IF({recommended_spend}=0,"",{expected_revenue}/{recommended_spend})'),
    _col("roas_current", RATIO, "ratio"),
    _col("marginal_roas", RATIO, "ratio", formula="={marginal[recommended_spend]}"),
    _col("marginal_roas_current", RATIO, "ratio"),
    _col("marginal_net_margin_current", RATIO, "ratio"),
    _col("marginal_net_margin_recommended", RATIO, "ratio"),
    _col("rpv", MONEY_PER_VISITOR, "ratio"),
    _col("rpv_current", MONEY_PER_VISITOR, "ratio"),
    _col("marginal_rpv", MONEY_PER_VISITOR, "ratio"),
    _col("marginal_rpv_current", MONEY_PER_VISITOR, "ratio"),
    _col("cac_net", MONEY_PER_CUSTOMER, "money"),
    _col("cac_net_current", MONEY_PER_CUSTOMER, "money"),
    _col("new_customers", COUNT, "count", summable=True),
    _col("new_customers_current", COUNT, "count", summable=True),
    _col("cost_per_new_customer", MONEY_PER_CUSTOMER, "money"),
    _col("cost_per_new_customer_current", MONEY_PER_CUSTOMER, "money"),
    _col("marginal_cpa", MONEY_PER_UNIT, "money"),
    _col("marginal_cpa_current", MONEY_PER_UNIT, "money"),
    _col("marginal_cost_per_new_customer", MONEY_PER_CUSTOMER, "money"),
    _col("marginal_cost_per_new_customer_current", MONEY_PER_CUSTOMER, "money"),
    _col("mrpv_over_mcpa", RATIO, "ratio"),
    _col("mrpv_over_mcpa_current", RATIO, "ratio"),
    _col("break_even_marginal_roas", RATIO, "ratio"),
    _col("break_even_cpa", MONEY_PER_UNIT, "money"),
    _col("break_even_mrpv_over_mcpa", RATIO, "ratio"),
    _col("break_even_mrpv_over_mcpa_current", RATIO, "ratio"),
    _col("saturation_spend", MONEY, "money"),
    _col("locked", FLAG, "text"),
    _col("move_support", SHARE, "share"),
    _col("supported", FLAG, "text"),
])


def allocation_column(name: str) -> Column:
    """The registered allocation column ``name``; ``spend_step_N`` is money for the period."""
    if name in ALLOCATION:
        return ALLOCATION[name]
    if name.startswith(STEP_SPEND_PREFIX):
        return Column(name, name, MONEY, "money", summable=True)
    raise KeyError(f"unknown allocation column {name!r}")


def money_columns(names: Iterable[str]) -> list[Column]:
    """Columns of money for the period named as they are (a channel per column, say)."""
    return [Column(str(n), str(n), MONEY, "money", summable=True) for n in names]


# ------------------------------------------------------------------------ glide path (steps)

STEPS: dict[str, Column] = _registry([
    _col("step", COUNT, "text"),
    _col("budget", MONEY, "money"),
    _col("spend", MONEY, "money"),
    _col("margin", MONEY, "money"),
    _col("gap", RATIO, "gap"),
    _col("status", TEXT, "text"),
])


# ------------------------------------------------------------------------ experiments

WEEKLY_MONEY = Unit("money per week", "money")

EXPERIMENTS: dict[str, Column] = _registry(
    Column(name, T.EXPERIMENT_LABELS[name], unit, fmt) for name, unit, fmt in (
        ("channel", TEXT, "text"),
        ("test", TEXT, "text"),
        ("kind", TEXT, "text"),
        ("x", WEEKLY_MONEY, "money"),
        ("delta_x", WEEKLY_MONEY, "money"),
        ("measured", WEEKLY_MONEY, "money"),
        ("sigma", WEEKLY_MONEY, "money"),
        ("predicted_without", WEEKLY_MONEY, "money"),
        ("predicted_with", WEEKLY_MONEY, "money"),
        ("marginal_roas_without", RATIO, "ratio"),
        ("marginal_roas_with", RATIO, "ratio"),
        ("marginal_roas_change", PERCENT, "pct"),
        ("marginal_roas_change_alone", PERCENT, "pct"),
    )
)
"""The tests each curve rests on (report section and workbook sheet)."""

TEST_NEXT: dict[str, Column] = _registry(
    Column(name, T.TEST_NEXT_LABELS[name], unit, fmt) for name, unit, fmt in (
        ("rank", COUNT, "int"),
        ("channel", TEXT, "text"),
        ("value_of_knowing", MONEY, "money"),
        ("test_spend_change", PERCENT, "pct"),
        ("test_value", MONEY, "money"),
        ("test_effect", WEEKLY_MONEY, "money"),
        ("weeks_needed", WEEKS, "int"),
    )
)
"""What to test next, ranked by the value of knowing each curve (report and workbook)."""


# ------------------------------------------------------------------------ roiste curves

CURVES_TABLE: dict[str, Column] = _registry(
    Column(name, T.CURVES_TABLE_LABELS[name], unit, fmt) for name, unit, fmt in (
        ("channel", TEXT, "text"),
        ("family", TEXT, "text"),
        ("recent_weekly_spend", WEEKLY_MONEY, "money"),
        ("weekly_response", WEEKLY_MONEY, "money"),
        ("roas", RATIO, "ratio"),
        ("marginal_roas", RATIO, "ratio"),
        ("saturation_share", SHARE, "share"),
        ("spend_at_marginal_roas_1", WEEKLY_MONEY, "money"),
        ("rpv", MONEY_PER_VISITOR, "ratio"),
        ("marginal_rpv", MONEY_PER_VISITOR, "ratio"),
    )
)
"""The channel table of ``roiste curves`` (weekly figures at the recent spend)."""


# ------------------------------------------------------------------------ constraints

CONSTRAINTS: dict[str, Column] = _registry(
    Column(name, T.CONSTRAINT_LABELS[name], unit, fmt) for name, unit, fmt in (
        ("name", TEXT, "text"),
        ("rule", TEXT, "text"),
        ("achieved", RATIO, "ratio"),
        ("limit", RATIO, "ratio"),
        ("binding", FLAG, "text"),
        ("cost", MONEY, "money"),
        ("cost_low", MONEY, "money"),
        ("cost_high", MONEY, "money"),
    )
)
"""The columns of the constraints' table (report and workbook); a share's figure and limit
are shown as percentages."""


# ------------------------------------------------------------------------ summary fields

SUMMARY: dict[str, Column] = _registry(
    Column(name, T.SUMMARY_LABELS[name], unit, fmt, False, formula)
    for name, unit, fmt, formula in (
        ("scenario", TEXT, "text", None),
        ("objective", TEXT, "text", None),
        ("period_weeks", WEEKS, "int", "={setting[period_weeks]}"),
        ("baseline_weeks", WEEKS, "int", None),
        ("budget", MONEY, "money", "={setting[budget]}"),
        ("budget_mode", TEXT, "text", None),
        ("current_total", MONEY, "money", "=Allocation!{total[current_spend]}"),
        ("recommended_total", MONEY, "money", "=Allocation!{total[recommended_spend]}"),
        ("step", SHARE, "share", None),
        ("channels", COUNT, "int", None),
        ("net_margin_current", MONEY, "money", "=Allocation!{total[net_margin_current]}"),
        ("net_margin_recommended", MONEY, "money", "=Allocation!{total[expected_net_margin]}"),
        ("net_margin_change", MONEY, "money", "={net_margin_recommended}-{net_margin_current}"),
        ("net_margin_change_pct", SHARE, "pct",
         '=IF({net_margin_current}<=0,"",{net_margin_change}/{net_margin_current})'),
        ("best_budget", MONEY, "money", None),
        ("net_margin_at_best_budget", MONEY, "money", None),
        ("best_budget_gap", RATIO, "gap", None),
        ("risk", TEXT, "text", None),
        ("risk_level", SHARE, "share", None),
        ("draws", COUNT, "int", None),
        ("support_threshold", SHARE, "share", None),
        ("uplift_p05", MONEY, "money", None),
        ("uplift_p50", MONEY, "money", None),
        ("uplift_p95", MONEY, "money", None),
        ("revenue_current", MONEY, "money", None),
        ("revenue_recommended", MONEY, "money", None),
        ("objective_current", MONEY, "money", None),
        ("objective_recommended", MONEY, "money", None),
        ("upper_bound", MONEY, "money", None),
        ("optimality_gap", RATIO, "gap", None),
        ("shadow_price", RATIO, "ratio", None),
        ("solver", TEXT, "text", None),
        ("status", TEXT, "text", None),
        ("tolerance", RATIO, "gap", None),
        ("version", TEXT, "text", None),
        ("total_spend", MONEY, "money", None),
        ("net_margin", MONEY, "money", None),
        ("objective_value", MONEY, "money", None),
    )
)
SUMMARY_SHEET = (
    "scenario",
    "objective",
    "period_weeks",
    "budget",
    "current_total",
    "recommended_total",
    "net_margin_current",
    "net_margin_recommended",
    "net_margin_change",
    "net_margin_change_pct",
    "best_budget",
    "net_margin_at_best_budget",
    "risk",
    "uplift_p05",
    "uplift_p50",
    "uplift_p95",
    "optimality_gap",
    "solver",
    "status",
    "shadow_price",
    "version",
)
"""The rows of the workbook's summary sheet, in order."""


# ------------------------------------------------------------------------ economics

ECONOMICS: dict[str, Column] = _registry(
    Column(k, T.ECONOMICS_LABELS[k], MONEY_PER_UNIT if k in ("cost_per_order", "new_customer_value")
           else SHARE, "cents" if k in ("cost_per_order", "new_customer_value") else "ratio")
    for k in T.ECONOMICS_LABELS
)


def json_rounding(key: str, inherited: str) -> str:
    """How ``summary.json`` rounds the value under ``key``: as its unit for a summary field or
    an economics key, otherwise as the object that holds it."""
    col = SUMMARY.get(key) or ECONOMICS.get(key)
    return inherited if col is None else col.rounding


# ------------------------------------------------------------------------ backtest

def _backtest(name: str, unit: Unit, fmt: str) -> Column:
    return Column(name, T.BACKTEST_LABELS[name], unit, fmt)


BACKTEST_FOLDS: dict[str, Column] = _registry(
    _backtest(n, unit, fmt) for n, unit, fmt in (
        ("start", TEXT, "date"),
        ("train_weeks", WEEKS, "int"),
        ("wape", SHARE, "share"),
        ("bias", SHARE, "share"),
        ("coverage", SHARE, "share"),
        ("actual_spend", MONEY, "money"),
        ("est_margin_actual", MONEY, "money"),
        ("est_margin_recommended", MONEY, "money"),
        ("est_uplift", MONEY, "money"),
        ("true_uplift", MONEY, "money"),
    )
)
BACKTEST_SKIPPED: dict[str, Column] = _registry(
    [_backtest("fold_start", TEXT, "date"), _backtest("train_weeks", WEEKS, "int"),
     _backtest("reason", TEXT, "text")]
)
BACKTEST_NEW_CUSTOMERS: dict[str, Column] = _registry(
    _backtest(n, unit, fmt) for n, unit, fmt in (
        ("channel", TEXT, "text"),
        ("forecast", COUNT, "count"),
        ("actual", COUNT, "count"),
        ("ratio", RATIO, "ratio"),
        ("short", FLAG, "flag"),
    )
)
BACKTEST_COHORTS: dict[str, Column] = _registry(
    _backtest(n, unit, fmt) for n, unit, fmt in (
        ("channel", TEXT, "text"),
        ("assumed_value", MONEY_PER_CUSTOMER, "cents"),
        ("realised_value", MONEY_PER_CUSTOMER, "cents"),
        ("complete_cohorts", COUNT, "int"),
        ("disappoints", FLAG, "flag"),
    )
)


# ------------------------------------------------------------------------ weekly plan

ALLOCATION_WEEKS: dict[str, Column] = _registry(
    Column(k, T.WEEK_LABELS[k], unit, fmt, summable) for k, unit, fmt, summable in (
        ("week", TEXT, "text", False),
        ("channel", TEXT, "text", False),
        ("spend", WEEKLY_MONEY, "money", True),
        ("expected_revenue", WEEKLY_MONEY, "money", True),
        ("expected_net_margin", WEEKLY_MONEY, "money", True),
    )
)
"""``allocation_weeks.csv``: a plan with ``period``, one row per week and channel."""


# ------------------------------------------------------------------------ monitor KPIs

KPIS: dict[str, Column] = _registry(
    Column(k, T.KPI_LABELS[k], unit, fmt) for k, unit, fmt in (
        ("spend", MONEY, "money"),
        ("revenue", MONEY, "money"),
        ("roas", RATIO, "ratio"),
        ("net_cac", MONEY_PER_CUSTOMER, "cents"),
        ("cost_per_new_customer", MONEY_PER_CUSTOMER, "cents"),
        ("rpv", MONEY_PER_VISITOR, "cents"),
        ("aov", MONEY_PER_CUSTOMER, "cents"),
        ("return_rate", SHARE, "share"),
        ("cpc", MONEY_PER_CLICK, "cents"),
        ("cpm", MONEY_PER_THOUSAND, "cents"),
        ("ctr", SHARE, "share"),
        ("conversion_rate", SHARE, "share"),
        ("net_revenue", MONEY, "money"),
        ("net_roas", RATIO, "ratio"),
        ("net_orders", COUNT, "count"),
        ("net_conversion_rate", SHARE, "share"),
    )
)


def pick(group: Mapping[str, Column], names: Iterable[str]) -> list[Column]:
    """The columns ``names`` of ``group``, in the order given."""
    return [group[n] for n in names]


# ------------------------------------------------------------------------ cart recovery

RECOVERY_PLAN: dict[str, Column] = _registry(
    Column(n, T.RECOVERY_LABELS[n], unit, fmt, summable, formula) for n, unit, fmt, summable, formula in (
        ("segment", TEXT, "text", False, None),
        ("customer_type", TEXT, "text", False, None),
        ("basket_value", MONEY_PER_UNIT, "cents", False, None),
        ("margin", SHARE, "share", False, None),
        ("hours", COUNT, "count", False, None),
        ("carts", COUNT, "count", False, None),
        ("reminder", TEXT, "text", False, None),
        ("share", SHARE, "share", False, None),
        ("carts_assigned", COUNT, "count", True, "={carts}*{share}"),
        ("recovery_rate", SHARE, "share", False, None),
        ("control_rate", SHARE, "share", False, None),
        ("orders_caused", COUNT, "count", True, "={carts_assigned}*({recovery_rate}-{control_rate})"),
        ("incentive_spend", MONEY, "money", True, None),
        ("messages_per_customer", COUNT, "count", False, None),
        ("net_margin", MONEY, "money", True, None),
    )
)
RECOVERY_OPTIONS: dict[str, Column] = _registry(
    Column(n, T.RECOVERY_LABELS[n], unit, fmt) for n, unit, fmt in (
        ("segment", TEXT, "text"),
        ("customer_type", TEXT, "text"),
        ("reminder", TEXT, "text"),
        ("incentive", SHARE, "share"),
        ("recovery_rate", SHARE, "share"),
        ("control_rate", SHARE, "share"),
        ("uplift", SHARE, "share"),
        ("value_per_cart", MONEY_PER_UNIT, "cents"),
        ("messages_per_customer", COUNT, "count"),
        ("share", SHARE, "share"),
    )
)
