"""Commands of the customer store: tag orders new or existing, build customer-match audiences
(the endpoint: ``serve.py``)."""

from __future__ import annotations

from pathlib import Path

import click

from roiste.models.io import atomic_write_text, input_problem
from roiste.optimizer.commands.options import PATH, output_file, quiet_option
from roiste.optimizer.commands.serve import durable_option, salt_option, store_option
from roiste.tracking.audience import FORMATS, TYPES, build_audience
from roiste.tracking.batch import tag_file
from roiste.tracking.errors import TrackingError
from roiste.tracking.keys import load_salt


@click.group()
def customers() -> None:
    """New versus existing customers: tag orders against the customer store."""


@customers.command("tag")
@click.argument("orders", type=PATH)
@store_option
@click.option("--out", "out", type=PATH, callback=output_file, required=True, help="Tagged orders (CSV or Parquet).")
@salt_option
@click.option("--chunk-size", type=click.IntRange(1, None), default=500, show_default=True,
              help="Orders per store transaction.")
@click.option("--keep", "keep", multiple=True, metavar="COLUMN",
              help="Also write this input column (repeatable; never one that looks like an address).")
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
    keep: tuple[str, ...],
) -> None:
    """Tag each order new or existing, in chronological order; re-running changes nothing.

    The output has order_id, timestamp, value, channel, the columns named with --keep, and
    customer_key, customer_type, first_purchase_at; no address leaves this step.
    """
    summary = tag_file(
        orders,
        store_url,
        out,
        load_salt(salt_file),
        chunk_size=chunk_size,
        progress=not quiet,
        synchronous="FULL" if durable else "NORMAL",
        keep=[name.strip() for item in keep for name in item.split(",") if name.strip()],
    )
    click.echo(summary.headline(out))


@customers.command("audience")
@click.argument("crm", type=PATH)
@store_option
@click.option("--type", "kind", type=click.Choice(TYPES), required=True,
              help="existing: customers the store knows; new: those it does not.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="The platform whose customer-match normalisation the file follows.")
@click.option("--out", "out", type=PATH, callback=output_file, required=True,
              help="Audience CSV to write (hashed identifiers only).")
@click.option("--phone-country", default=None, metavar="CODE",
              help="Calling code (e.g. 353) for phone numbers written without one.")
@salt_option
def customers_audience(
    crm: Path,
    store_url: str,
    kind: str,
    fmt: str,
    out: Path,
    phone_country: str | None,
    salt_file: Path | None,
) -> None:
    """Hashed customer-match audience of a CRM export: customers the store knows, or not.

    CRM is a CSV with an email column and optionally a phone column.  Each address is looked
    up by the store's own salted key; the file holds SHA-256 hashes of the e-mail (and phone)
    normalised as the platform documents, never an address.
    """
    problem = input_problem(crm)
    if problem:
        raise TrackingError(f"{crm}: {problem}")
    audience = build_audience(crm, store_url, load_salt(salt_file), kind=kind, fmt=fmt,
                              phone_country=phone_country)
    atomic_write_text(out, audience.text)
    click.echo(audience.summary.headline(out))
