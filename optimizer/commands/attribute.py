"""The attribute group: credit conversions to channels under one rule, or compare several.

``roiste attribute TOUCHPOINTS CONVERSIONS ...`` runs the hidden default subcommand ``run``;
``roiste attribute compare ...`` names its subcommand.
"""

from __future__ import annotations

from pathlib import Path

import click

from roiste.models.attribution.credit import parse_rule, write_attribution_panel
from roiste.models.attribution.inputs import read_channel_map
from roiste.models.errors import AttributionError
from roiste.optimizer.commands.options import (
    PATH,
    output_dir,
    output_file,
    quiet_option,
    split_list,
)
from roiste.optimizer.report.attribution import compare_rules


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
                                 help="Rule parameter, e.g. half_life_days=3, weights=0.3,0.4,0.3 or (markov) "
                                      "split=journey.")
channel_map_option = click.option("--channel-map", type=PATH, default=None,
                                  help="YAML or JSON mapping raw channel -> channel credited.")


def _rule_options(params: tuple[str, ...], channel_map: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    p: dict[str, str] = {}
    for item in params:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise AttributionError(f"--param '{item}': expected KEY=VALUE")
        p[key.strip()] = value.strip()
    return p, (read_channel_map(channel_map) if channel_map else {})


@click.group("attribute", cls=_DefaultCommandGroup)
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
@click.option("--out", "out", type=PATH, callback=output_file, required=True, help="Weekly panel to write (CSV or .parquet).")
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
@click.option("--out", "out", type=PATH, callback=output_dir, required=True, help="Directory for compare.csv and compare.html.")
@lookback_option
@channel_map_option
@quiet_option
def attribute_compare(touchpoints: Path, conversions: Path, rules: str, out: Path,
                      lookback_days: float, channel_map: Path | None, quiet: bool) -> None:
    """Credited revenue share per channel under several rules: compare.csv and compare.html."""
    _, cmap = _rule_options((), channel_map)
    parsed = [parse_rule(x, lookback_days=lookback_days, channel_map=cmap)
              for x in (split_list(rules) or [])]
    table = compare_rules(touchpoints, conversions, parsed, out, progress=not quiet)
    click.echo(f"wrote {out / 'compare.csv'} and {out / 'compare.html'}: "
               f"{len(parsed)} rules, {table['channel'].nunique()} channels")
