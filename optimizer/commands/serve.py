"""``roiste serve``: the tagging endpoint, and the options it shares with ``customers tag``.

Kept apart from the batch tagger so that starting a server (and restarting one that died)
imports the store and the web framework, not pandas and the estimation layer.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from roiste.models.io import input_problem
from roiste.optimizer.commands.options import PATH
from roiste.tracking.errors import ConfigError, TrackingError
from roiste.tracking.keys import load_salt
from roiste.tracking.store import open_store

SERVE_EXTRA = "roiste serve needs the serve extra: pip install 'roiste[serve]'"
SERVE_PACKAGES = frozenset({"fastapi", "starlette", "uvicorn"})

store_option = click.option(
    "--store", "store_url", required=True, help="sqlite:///PATH (default kind) or postgresql://..."
)


def _salt_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Refuse, before any work, a salt file that is not a regular file (a FIFO would block)."""
    if value is not None:
        problem = input_problem(value)
        if problem:
            raise ConfigError(f"{value}: cannot read the salt file ({problem})")
    return value


salt_option = click.option(
    "--salt-file", type=PATH, default=None, callback=_salt_file,
    help="File holding the salt (default: env ROISTE_SALT).",
)
durable_option = click.option(
    "--durable", is_flag=True, help="SQLite: fsync every commit (survives a power cut; slower)."
)


@click.command()
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
    try:
        # fastapi and uvicorn come with the optional `serve` extra
        from roiste.tracking import server
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in SERVE_PACKAGES:
            raise
        raise TrackingError(SERVE_EXTRA) from None
    if importlib.util.find_spec("uvicorn") is None:
        raise TrackingError(SERVE_EXTRA)
    token = server.load_token()
    salt = load_salt(salt_file)
    store = open_store(store_url, salt, synchronous="FULL" if durable else "NORMAL")
    click.echo(f"serving {store.url} on http://{host}:{port}", err=True)
    server.serve(store, token=token, salt=salt, host=host, port=port, log_level=log_level,
                 access_log=access_log)
