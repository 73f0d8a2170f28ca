"""Small file helpers shared by every layer: atomic writes, output checks and content hashes.

Outputs are written through a temporary name next to the target (same file system) and a
rename.  Temporary names carry the writing process's id, ``.NAME.PID.RANDOM.tmp``, so a later
run can tell the leftovers of a killed run (their process is gone) from the work of a run still
going, and removes them (:func:`clean_staging`).  Before any work, :func:`check_output_path`
refuses a target that exists and is not a regular file (or a directory, for directory
outputs): a device, a FIFO, a socket or a symbolic link is never replaced or written through.
Every operating-system error while writing becomes an :class:`OutputError`, one line naming
the path.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from roiste.models.errors import OutputError

#: Leftovers without a process id (older versions) are removed once they are this old.
STALE_SECONDS = 3600.0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()

_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISREG, "a regular file"),
)


def file_kind(mode: int) -> str:
    """Words for the kind of file a ``st_mode`` describes ("a FIFO (named pipe)", ...)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def os_error_line(path: str | os.PathLike[str], exc: OSError, doing: str = "cannot write") -> str:
    """One line for an operating-system error on ``path`` (no traceback, no errno number)."""
    reason = exc.strerror or exc.__class__.__name__
    where = exc.filename if exc.filename not in (None, "") else path
    return f"{os.fspath(where)}: {doing} ({reason})"


def check_output_path(path: str | os.PathLike[str], *, directory: bool = False) -> Path:
    """Refuse an output path before any work when writing it could not end well.

    Parameters
    ----------
    path : path
        Where an output file (or, with ``directory``, an output directory) will be written.
    directory : bool, default False
        The output is a directory.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OutputError
        When ``path`` exists and is a symbolic link, a device, a FIFO or a socket, or a
        directory where a file is wanted (a file where a directory is wanted), or when a part
        of its folder exists and is not a directory.
    """
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(os_error_line(p, exc, "cannot be used as output")) from None
    if st is None:
        _check_folder(p)
        return p
    wanted = stat.S_ISDIR if directory else stat.S_ISREG
    if not wanted(st.st_mode):
        kind = file_kind(st.st_mode)
        if directory:
            raise OutputError(f"{p}: exists and is {kind}, not a directory; not replacing it")
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"{p}: is a directory; give the name of a file to write")
        raise OutputError(f"{p}: exists and is {kind}, not a regular file; not replacing it")
    return p


def _check_folder(p: Path) -> None:
    """The first folder above ``p`` that exists must be a directory."""
    parent = p.parent
    while True:
        try:
            pst = os.stat(parent)
        except FileNotFoundError:
            if parent == parent.parent:
                return
            parent = parent.parent
            continue
        except OSError as exc:
            raise OutputError(os_error_line(parent, exc, "cannot be used as a folder")) from None
        if not stat.S_ISDIR(pst.st_mode):
            raise OutputError(f"{parent}: is {file_kind(pst.st_mode)}, not a folder; cannot write {p}")
        return


def staging_name(target: str | os.PathLike[str], kind: str = "tmp") -> str:
    """A fresh hidden name beside ``target`` for staging it: ``.NAME.PID.RANDOM.KIND``."""
    return f".{Path(target).name}.{os.getpid()}.{secrets.token_hex(4)}.{kind}"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


def clean_staging(target: str | os.PathLike[str]) -> list[Path]:
    """Remove what killed runs left beside ``target``: ``.NAME.PID.RANDOM.tmp|old`` entries
    whose process is gone (and entries without a process id older than an hour).

    Returns
    -------
    list of pathlib.Path
        The entries removed.
    """
    target = Path(os.path.abspath(target))
    pattern = re.compile(
        r"\." + re.escape(target.name) + r"\.(?:(?P<pid>\d+)\.)?[0-9a-zA-Z_]{6,16}\.(?:tmp|old)"
    )
    removed: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m is None:
            continue
        try:
            st = os.lstat(entry)
        except OSError:
            continue
        if m.group("pid") is not None:
            if _pid_alive(int(m.group("pid"))):
                continue
        elif now - st.st_mtime < STALE_SECONDS:
            continue
        try:
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


def input_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as an input file, or None when it can.

    An input must be a regular file (a link to one is fine): a FIFO would block the reader
    until someone writes to it, and a device such as ``/dev/zero`` never ends.

    Examples
    --------
    >>> input_problem("/dev/zero")
    'is a character device, not a regular file'
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "file not found"
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc.__class__.__name__})"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        return f"is {file_kind(st.st_mode)}, not a regular file"
    return None


def require_input(path: str | os.PathLike[str], label: str, error: type[Exception],
                  missing: str) -> None:
    """Raise ``error`` with one line when ``path`` cannot be read as an input file.

    Parameters
    ----------
    path : str or path-like
        The input file.
    label : str
        How the line names the file (its path as the user gave it).
    error : type of Exception
        The error to raise (the reader's own ``RoisteError`` subclass).
    missing : str
        What the line says when the file does not exist (``"rules file not found"``);
        any other problem is :func:`input_problem`'s own words.

    Raises
    ------
    Exception
        ``error("<label>: <missing>")`` or ``error("<label>: <problem>")``.
    """
    problem = input_problem(path)  # a FIFO or a device would block or never end
    if problem == "file not found":
        raise error(f"{label}: {missing}")
    if problem:
        raise error(f"{label}: {problem}")


def read_input_bytes(path: str | os.PathLike[str], max_bytes: int) -> bytes | None:
    """The bytes of a regular file of at most ``max_bytes``; None when it is larger.

    Reads at most ``max_bytes + 1`` bytes, so a file that grows while it is read is caught too.
    The caller checks :func:`input_problem` first.
    """
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


@contextmanager
def output_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn any operating-system error inside the block into one :class:`OutputError` line."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(os_error_line(path, exc)) from None


def _staged_file(path: Path, fill: Callable[[Path], None]) -> None:
    check_output_path(path)
    with output_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_staging(path)
        tmp = path.parent / staging_name(path)
        try:
            fill(tmp)
            os.chmod(tmp, _FILE_MODE)  # mkstemp-like files are 0600; give the usual permissions
            check_output_path(path)  # still not a device or a link at the last moment
            os.replace(tmp, path)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: never half written.

    Raises
    ------
    OutputError
        When ``path`` is not a regular file to replace (see :func:`check_output_path`), or the
        folder or the disk refuses the write (read-only, full, ...).
    """

    def fill(tmp: Path) -> None:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    _staged_file(Path(path), fill)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text atomically (``\\n`` line ends on every platform)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> None:
    """Let ``writer`` fill a temporary path (for libraries that want a file name), then rename.

    The temporary name ends in ``.tmp``; ``writer`` must not choose its format by the suffix.
    """

    def fill(tmp: Path) -> None:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        writer(tmp)

    _staged_file(Path(path), fill)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
