"""Commands that estimate: simulate a panel, fit response curves, show the curves."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.models.curves import CurveSet
from roiste.models.fit.channel import fit_panel_file
from roiste.models.simulate import write_world
from roiste.optimizer.commands.options import PATH, quiet_option, seed_option, split_list


@click.command()
@click.option("--out", "out", type=PATH, required=True, help="Panel CSV to write.")
@seed_option
@click.option("--channels", "n_channels", type=click.IntRange(1, 10_000), default=6, show_default=True)
@click.option("--weeks", "n_weeks", type=click.IntRange(20, 2_000), default=156, show_default=True)
def simulate(out: Path, seed: int, n_channels: int, n_weeks: int) -> None:
    """Write a simulated weekly panel and its known truth (PANEL.truth.json)."""
    write_world(out, seed=seed, n_channels=n_channels, n_weeks=n_weeks)
    click.echo(f"wrote {out} and {out}.truth.json")


@click.command()
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
    curves = fit_panel_file(
        panel,
        layout=layout,
        target=target,
        spend=split_list(spend),
        controls=split_list(controls),
        holdout_weeks=holdout_weeks,
        bootstrap=bootstrap,
        seed=seed,
        progress=not quiet,
    )
    curves.save(out)
    d = curves.diagnostics
    quality = ", ".join(f"{k}={d[k]:.3f}" for k in ("r2_train", "r2_holdout", "wape_holdout") if k in d)
    click.echo(f"wrote {out}: {len(curves)} channels" + (f" ({quality})" if quality else ""))
    for warning in d.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)


@click.command("curves")
@click.argument("curves_path", metavar="CURVES", type=PATH)
def curves_cmd(curves_path: Path) -> None:
    """Per-channel table: recent spend, ROAS, marginal ROAS, RPV, saturation."""
    table = CurveSet.load(curves_path).summary_table()
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
