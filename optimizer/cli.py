"""The ``roiste`` command line: thin commands that parse, call one library function and print.

Every ``RoisteError`` (bad input, impossible request) becomes one line on stderr and exit
code 2 here, in one place.  Anything else is a bug and is allowed to trace back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from roiste.models.errors import RoisteError
from roiste.tracking.errors import TrackingError

PATH = click.Path(path_type=Path)
EXISTING = click.Path(path_type=Path, exists=False)


class _RoisteGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (RoisteError, TrackingError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


def _split(cols: str | None) -> list[str] | None:
    if cols is None:
        return None
    return [c.strip() for c in cols.split(",") if c.strip()]


quiet_option = click.option("--quiet", is_flag=True, help="No progress bars.")
seed_option = click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
force_option = click.option("--force", is_flag=True, help="Replace an existing output directory.")


@click.group(cls=_RoisteGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="roiste")
def main() -> None:
    """roiste: where the next unit of marketing spend earns the most net margin."""


@main.command()
@click.option("--out", "out", type=PATH, required=True, help="Panel CSV to write.")
@seed_option
@click.option("--channels", "n_channels", type=click.IntRange(1, 10_000), default=6, show_default=True)
@click.option("--weeks", "n_weeks", type=click.IntRange(20, 2_000), default=156, show_default=True)
def simulate(out: Path, seed: int, n_channels: int, n_weeks: int) -> None:
    """Write a simulated weekly panel and its known truth (PANEL.truth.json)."""
    from roiste.models.simulate import write_world

    write_world(out, seed=seed, n_channels=n_channels, n_weeks=n_weeks)
    click.echo(f"wrote {out} and {out}.truth.json")


@main.command()
@click.argument("panel", type=PATH)
@click.option("--out", "out", type=PATH, required=True, help="Curves JSON to write.")
@click.option("--layout", type=click.Choice(["long", "wide"]), default="long", show_default=True)
@click.option("--target", default=None, help="Wide layout: the target column.")
@click.option("--spend", default=None, help="Wide layout: spend columns, comma-separated.")
@click.option("--controls", default=None, help="Wide layout: control columns, comma-separated.")
@click.option("--holdout-weeks", type=click.IntRange(0, None), default=0, show_default=True)
@click.option("--bootstrap", type=click.IntRange(0, None), default=0, show_default=True)
@seed_option
@quiet_option
def fit(
    panel: Path,
    out: Path,
    layout: str,
    target: str | None,
    spend: str | None,
    controls: str | None,
    holdout_weeks: int,
    bootstrap: int,
    seed: int,
    quiet: bool,
) -> None:
    """Fit a response curve per channel and save them as one JSON file."""
    from roiste.models.fit.channel import fit_panel_file

    curves = fit_panel_file(
        panel,
        layout=layout,
        target=target,
        spend=_split(spend),
        controls=_split(controls),
        holdout_weeks=holdout_weeks,
        bootstrap=bootstrap,
        seed=seed,
        progress=not quiet,
    )
    curves.save(out)
    d = curves.diagnostics
    quality = ", ".join(f"{k}={d[k]:.3f}" for k in ("r2_train", "r2_holdout", "wape_holdout") if k in d)
    click.echo(f"wrote {out}: {len(curves)} channels" + (f" ({quality})" if quality else ""))


@main.command("curves")
@click.argument("curves_path", metavar="CURVES", type=PATH)
def curves_cmd(curves_path: Path) -> None:
    """Per-channel table: recent spend, ROAS, marginal ROAS, RPV, saturation."""
    from roiste.models.curves import CurveSet

    table = CurveSet.load(curves_path).summary_table()
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))


@main.command()
@click.argument("scenarios", nargs=-1, required=True, type=PATH)
def validate(scenarios: tuple[Path, ...]) -> None:
    """Check scenario files (and the data they name) without planning.

    Every file is checked: one line each, "ok" on stdout or the problem on stderr; the exit
    code is 2 when any file fails.
    """
    from roiste.optimizer.scenario.schema import validate_scenario_file

    failed = 0
    for s in scenarios:
        try:
            click.echo(validate_scenario_file(s))
        except RoisteError as exc:
            click.echo(f"error: {exc}", err=True)
            failed += 1
    if failed:
        click.get_current_context().exit(2)


@main.command()
@click.argument("scenario", type=PATH)
@click.option("--out", "out", type=PATH, required=True, help="Output directory.")
@force_option
@quiet_option
def plan(scenario: Path, out: Path, force: bool, quiet: bool) -> None:
    """Plan the next period: allocation.csv, summary.json, curves.json, report.html, plan.xlsx."""
    from roiste.optimizer.plan import run_plan

    result = run_plan(scenario, out, force=force, progress=not quiet)
    click.echo(result.headline())
    click.echo(f"report: {out / 'report.html'}")


@main.command()
@click.argument("plan_a", type=PATH)
@click.argument("plan_b", type=PATH)
def compare(plan_a: Path, plan_b: Path) -> None:
    """Two plans side by side: spend and net margin per channel and in total."""
    from roiste.optimizer.report.compare import compare_plans

    click.echo(compare_plans(plan_a, plan_b))


@main.command()
def schema() -> None:
    """Print the JSON Schema of scenario files."""
    import json

    from roiste.optimizer.scenario.schema import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


@main.command()
@click.option("--out", "out", type=PATH, default=Path("demo-output"), show_default=True)
@force_option
@quiet_option
def demo(out: Path, force: bool, quiet: bool) -> None:
    """Simulate, fit, plan and report on the bundled demo world."""
    from roiste.optimizer.demo import run_demo

    report = run_demo(out, force=force, progress=not quiet)
    click.echo(f"report: {report}")


@main.command()
@click.argument("scenario", type=PATH)
@click.option("--out", "out", type=PATH, required=True, help="Output directory.")
@click.option("--folds", type=click.IntRange(1, None), default=None, help="Number of folds.")
@click.option("--horizon-weeks", type=click.IntRange(1, None), default=4, show_default=True)
@click.option("--cohorts", type=PATH, default=None,
              help="Cohort table: acquisition_month, channel, customers, month_1, month_2, ...")
@force_option
@quiet_option
def backtest(
    scenario: Path, out: Path, folds: int | None, horizon_weeks: int, cohorts: Path | None,
    force: bool, quiet: bool,
) -> None:
    """Walk forward over past months: forecast error, coverage, and what the plans would have earned."""
    from roiste.optimizer.backtest.walk import run_backtest

    result = run_backtest(
        scenario, out, folds=folds, horizon_weeks=horizon_weeks, force=force, progress=not quiet,
        cohorts=cohorts,
    )
    for s in result.summary["skipped"]:
        click.echo(f"skipped fold {s['fold_start']}: {s['reason']}", err=True)
    click.echo(result.headline())


@main.group()
def customers() -> None:
    """New versus existing customers: tag orders against the customer store."""


store_option = click.option(
    "--store", "store_url", required=True, help="sqlite:///PATH (default kind) or postgresql://..."
)
salt_option = click.option(
    "--salt-file", type=PATH, default=None, help="File holding the salt (default: env ROISTE_SALT)."
)
durable_option = click.option(
    "--durable", is_flag=True, help="SQLite: fsync every commit (survives a power cut; slower)."
)


@customers.command("tag")
@click.argument("orders", type=PATH)
@store_option
@click.option("--out", "out", type=PATH, required=True, help="Tagged orders (CSV or Parquet).")
@salt_option
@click.option("--chunk-size", type=click.IntRange(1, None), default=500, show_default=True,
              help="Orders per store transaction.")
@durable_option
@quiet_option
def customers_tag(
    orders: Path,
    store_url: str,
    out: Path,
    salt_file: Path | None,
    chunk_size: int,
    durable: bool,
    quiet: bool,
) -> None:
    """Tag each order new or existing, in chronological order; re-running changes nothing."""
    from roiste.tracking.batch import tag_file
    from roiste.tracking.keys import load_salt

    summary = tag_file(
        orders,
        store_url,
        out,
        load_salt(salt_file),
        chunk_size=chunk_size,
        progress=not quiet,
        synchronous="FULL" if durable else "NORMAL",
    )
    click.echo(summary.headline(out))


@main.command()
@store_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@salt_option
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              default="info", show_default=True)
@click.option("--access-log", is_flag=True, help="Log every request line (never bodies).")
@durable_option
def serve(
    store_url: str,
    host: str,
    port: int,
    salt_file: Path | None,
    log_level: str,
    access_log: bool,
    durable: bool,
) -> None:
    """Serve POST /v1/purchases (bearer token from env ROISTE_TOKEN), /health, /openapi.json."""
    from roiste.tracking.keys import load_salt
    from roiste.tracking.server import load_token
    from roiste.tracking.server import serve as run_server
    from roiste.tracking.store import open_store

    token = load_token()
    salt = load_salt(salt_file)
    store = open_store(store_url, salt, synchronous="FULL" if durable else "NORMAL")
    click.echo(f"serving {store.url} on http://{host}:{port}", err=True)
    run_server(store, token=token, salt=salt, host=host, port=port, log_level=log_level,
               access_log=access_log)


@main.command()
@click.argument("panel", type=PATH)
@click.option("--rules", "rules", type=PATH, required=True, help="Alert rules (YAML).")
@click.option("--plan", "plan_dir", type=PATH, default=None, help="A plan directory to compare with.")
@click.option("--out", "out", type=PATH, required=True, help="Output directory.")
@click.option("--no-notify", is_flag=True, help="Write the outputs but send no notification.")
@force_option
@quiet_option
def monitor(panel: Path, rules: Path, plan_dir: Path | None, out: Path, no_notify: bool,
            force: bool, quiet: bool) -> None:
    """Weekly KPIs and alerts: dashboard.html, kpis.csv, alerts.json, draft scenarios.

    Exit code 1 when a notification could not be delivered after its retries.
    """
    from roiste.optimizer.monitor.watch import run_monitor

    result = run_monitor(panel, rules, out, plan_dir=plan_dir, force=force,
                         notify=not no_notify, progress=not quiet)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(result.headline())
    click.echo(f"dashboard: {out / 'dashboard.html'}")
    failed = result.failed_deliveries
    for d in failed:
        click.echo(f"error: {d.target} delivery failed after {d.attempts} attempt(s): {d.error}",
                   err=True)
    if failed:
        click.get_current_context().exit(1)


class _DefaultCommandGroup(click.Group):
    """A group whose first argument, when it names no subcommand, goes to a default command."""

    default_command = "run"

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "TOUCHPOINTS CONVERSIONS --rule RULE --out PANEL ...")
        formatter.write_usage(ctx.command_path, "compare TOUCHPOINTS CONVERSIONS --rules A,B --out DIR")

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        # the default command's help and errors read "roiste attribute TOUCHPOINTS ..."
        return ("" if name == self.default_command else name), cmd, rest


class _DefaultContext(click.Context):
    @property
    def command_path(self) -> str:
        return super().command_path.rstrip()


class _DefaultCommand(click.Command):
    context_class = _DefaultContext


lookback_option = click.option("--lookback-days", type=click.FloatRange(0, None, min_open=True),
                               default=30.0, show_default=True,
                               help="Touches older than this before a conversion do not count.")
rule_param_option = click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
                                 help="Rule parameter, e.g. half_life_days=3 or weights=0.3,0.4,0.3.")
channel_map_option = click.option("--channel-map", type=PATH, default=None,
                                  help="YAML or JSON mapping raw channel -> channel credited.")


def _rule_options(params: tuple[str, ...], channel_map: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    from roiste.models.attribution.inputs import read_channel_map
    from roiste.models.errors import AttributionError

    p: dict[str, str] = {}
    for item in params:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise AttributionError(f"--param '{item}': expected KEY=VALUE")
        p[key.strip()] = value.strip()
    return p, (read_channel_map(channel_map) if channel_map else {})


@main.group("attribute", cls=_DefaultCommandGroup)
def attribute_group() -> None:
    """Credit conversions to channels along touchpoint paths.

    The first form writes the weekly panel one rule credits (see
    'roiste attribute TOUCHPOINTS --help' for its options); 'compare' puts several rules side
    by side.  Rules: last-click, first-click, linear, position-based, time-decay, markov,
    shapley.  (A touchpoints file named 'compare' is given as ./compare.)
    """


@attribute_group.command("run", hidden=True, cls=_DefaultCommand)
@click.argument("touchpoints", type=PATH)
@click.argument("conversions", type=PATH)
@click.option("--rule", required=True, help="Attribution rule, e.g. position-based.")
@click.option("--out", "out", type=PATH, required=True, help="Weekly panel to write (CSV or .parquet).")
@click.option("--spend", type=PATH, default=None, help="Spend file: date (or week), channel, spend.")
@lookback_option
@rule_param_option
@channel_map_option
@click.option("--keep-direct", is_flag=True,
              help="Keep the '(direct)' channel (conversions without a touch) in the panel.")
@quiet_option
def attribute_run(touchpoints: Path, conversions: Path, rule: str, out: Path, spend: Path | None,
                  lookback_days: float, params: tuple[str, ...], channel_map: Path | None,
                  keep_direct: bool, quiet: bool) -> None:
    """Write the weekly panel one rule credits (and PANEL.attribution.json beside it)."""
    from roiste.models.attribution.credit import parse_rule, write_attribution_panel

    p, cmap = _rule_options(params, channel_map)
    r = parse_rule(rule, lookback_days=lookback_days, params=p, channel_map=cmap)
    result = write_attribution_panel(touchpoints, conversions, r, out, spend=spend,
                                     keep_direct=keep_direct, progress=not quiet)
    d = result.details
    click.echo(f"wrote {out}: {len(result.channels)} channels, revenue {d['revenue']:,.2f} from "
               f"{d['conversions']} conversions ({d['direct_conversions']} direct); "
               f"rule {r.label}, hash {r.config_hash[:12]}")


@attribute_group.command("compare")
@click.argument("touchpoints", type=PATH)
@click.argument("conversions", type=PATH)
@click.option("--rules", required=True, help="Comma-separated rules, e.g. last-click,linear,markov.")
@click.option("--out", "out", type=PATH, required=True, help="Directory for compare.csv and compare.html.")
@lookback_option
@channel_map_option
@quiet_option
def attribute_compare(touchpoints: Path, conversions: Path, rules: str, out: Path,
                      lookback_days: float, channel_map: Path | None, quiet: bool) -> None:
    """Credited revenue share per channel under several rules: compare.csv and compare.html."""
    from roiste.models.attribution.compare import compare_rules
    from roiste.models.attribution.credit import parse_rule

    _, cmap = _rule_options((), channel_map)
    parsed = [parse_rule(x, lookback_days=lookback_days, channel_map=cmap)
              for x in (_split(rules) or [])]
    table = compare_rules(touchpoints, conversions, parsed, out, progress=not quiet)
    click.echo(f"wrote {out / 'compare.csv'} and {out / 'compare.html'}: "
               f"{len(parsed)} rules, {table['channel'].nunique()} channels")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
