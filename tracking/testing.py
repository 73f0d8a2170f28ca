"""A throwaway PostgreSQL server for tests and benchmarks (Debian's ``postgresql`` binaries).

:class:`TemporaryPostgres` runs ``initdb`` in a fresh temporary directory and starts the server
listening on a unix socket in that directory only (no TCP port).  PostgreSQL refuses to run as
root, so under root the cluster belongs to the ``postgres`` system user and the commands run
through ``runuser``.  fsync is off: the cluster is thrown away at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType


def find_pg_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: newest /usr/lib/postgresql/<ver>/bin or PATH."""
    candidates = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    if candidates:
        best = max(candidates, key=lambda c: int(Path(c).parts[-3]) if Path(c).parts[-3].isdigit() else 0)
        return Path(best).parent
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def why_not_available() -> str | None:
    """None when a temporary server can be started here, else the reason in one line."""
    if find_pg_bin() is None:
        return "PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql"
    if os.geteuid() == 0:
        try:
            import pwd  # POSIX only; this helper runs the test server as `postgres`

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no 'postgres' user to own the cluster"
        if shutil.which("runuser") is None:
            return "running as root and no runuser to drop privileges"
    return None


class TemporaryPostgres:
    """Start a private PostgreSQL server; ``url`` is its libpq connection URL.

    Examples
    --------
    >>> with TemporaryPostgres() as pg:  # doctest: +SKIP
    ...     store = open_store(pg.url, salt)
    """

    def __init__(self) -> None:
        self.bin = find_pg_bin()
        self.dir: Path | None = None
        self.url = ""

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise RuntimeError(f"{Path(args[0]).name} failed: {' | '.join(tail)}")

    def start(self) -> TemporaryPostgres:
        """initdb and start the server; returns self."""
        reason = why_not_available()
        if reason or self.bin is None:
            raise RuntimeError(reason or "PostgreSQL binaries not found")
        self.dir = Path(tempfile.mkdtemp(prefix="roiste-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = self.dir / "data"
        self._run(
            str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )
        opts = (
            f"-k {self.dir} -c listen_addresses='' -F -c max_connections=40 "
            "-c shared_buffers=32MB -c full_page_writes=off -c synchronous_commit=off"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(self.dir / "server.log"),
            "-w", "-t", "60", "start",
        )
        self.url = f"postgresql://postgres@/postgres?host={self.dir}"
        return self

    def restart(self) -> None:
        """Restart the server (every open connection is lost)."""
        if self.dir is None or self.bin is None:
            raise RuntimeError("the server is not running")
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast", "-w",
            "-l", str(self.dir / "server.log"), "restart",
        )

    def new_database(self, name: str) -> str:
        """Create an empty database on this server and return its URL."""
        import psycopg  # the `serve` extra (PostgreSQL store)

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@/{name}?host={self.dir}"

    def new_schema(self, name: str) -> str:
        """Create an empty schema in the default database; the URL puts it on the search path.

        Much faster than a new database (no copy of a template), and how teams that share one
        database keep roiste's tables apart.
        """
        import psycopg  # the `serve` extra (PostgreSQL store)

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url}&options=-csearch_path%3D{name}"

    def stop(self) -> None:
        """Stop the server and delete its directory (idempotent)."""
        if self.dir is None or self.bin is None:
            return
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        except (RuntimeError, subprocess.SubprocessError):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
