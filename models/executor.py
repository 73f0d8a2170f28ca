"""Where the many small jobs of a run execute: this machine's processes or a Dask cluster.

Per-channel fits (each with its bootstrap draws) and backtest folds are independent tasks;
each carries its own seed (drawn from the run's seed and the task's name, never from the
worker), and runs numpy's BLAS on one thread, so a task's result is the same bytes wherever it
runs.  :meth:`Executor.map` returns the results in the order of the tasks.

* ``local``: the machine's cores, one process each (``workers`` processes; one: in this
  process); a progress bar counts the finished tasks.
* ``dask``: the tasks go to a ``dask.distributed`` scheduler: the one at ``scheduler``
  (``tcp://host:8786``), or a cluster of ``workers`` processes started on this machine for the
  run.  Every worker needs roiste installed at the same version (the tasks are roiste's own
  functions) with the ``dask`` extra.  The address of the scheduler's dashboard is printed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from roiste.models.errors import ScenarioError

EXECUTORS = ("local", "dask")
T = TypeVar("T")


def run_task(fn: Callable[[Any], T], job: Any) -> T:
    """One task as every executor runs it: numpy's BLAS on one thread (results do not depend
    on how many threads a worker has).

    Parameters
    ----------
    fn : callable
        A module-level function (a worker imports it by name).
    job : object
        Its one argument.

    Returns
    -------
    object
        ``fn(job)``.
    """
    with threadpool_limits(limits=1):
        return fn(job)


@dataclass(frozen=True)
class Executor:
    """Where tasks run (see the module's description).

    Parameters
    ----------
    kind : {"local", "dask"}
    scheduler : str, optional
        ``dask``: the address of a running scheduler; without it a cluster of ``workers``
        processes is started on this machine for the run.  Not for ``local``.
    workers : int, optional
        Processes: ``local`` (default: the caller's choice for the job's size, at most the
        cores) or the ``dask`` cluster started for the run (default: the cores).
    timeout : float, default 10
        ``dask``: seconds to wait for the scheduler at ``scheduler``.
    """

    kind: str = "local"
    scheduler: str | None = None
    workers: int | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ScenarioError(f"executor: {self.kind!r} is not one of {', '.join(EXECUTORS)}")
        if self.workers is not None and (isinstance(self.workers, bool) or int(self.workers) < 1):
            raise ScenarioError(f"workers: must be a whole number >= 1, got {self.workers!r}")
        if self.scheduler is not None and self.kind != "dask":
            raise ScenarioError("scheduler: an address is for executor dask")
        if self.scheduler is not None and not str(self.scheduler).strip():
            raise ScenarioError("scheduler: the address is empty")

    def map(self, fn: Callable[[Any], T], jobs: Sequence[Any], *, desc: str, unit: str,
            progress: bool = True, auto_workers: int = 1) -> list[T]:
        """``[fn(job) for job in jobs]``, each job a task of this executor.

        Parameters
        ----------
        fn : callable
            A module-level function of one argument.
        jobs : sequence
            The tasks' arguments (picklable).
        desc, unit : str
            The progress bar's words.
        progress : bool, default True
            Show a progress bar (and, for ``dask``, the dashboard's address).
        auto_workers : int, default 1
            ``local`` processes when ``workers`` is not set (the caller's choice for the
            job's size).

        Returns
        -------
        list
            The results in the order of ``jobs``.
        """
        if self.kind == "dask":
            return _dask_map(self, fn, jobs, desc=desc, unit=unit, progress=progress)
        n = int(self.workers) if self.workers is not None else int(auto_workers)
        n = max(1, min(n, len(jobs)))
        bar = tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress)
        out: list[T] = []
        try:
            if n == 1:
                for job in jobs:
                    out.append(run_task(fn, job))
                    bar.update()
            else:
                runner = Parallel(n_jobs=n, return_as="generator", batch_size=1)
                for res in runner(delayed(run_task)(fn, job) for job in jobs):
                    out.append(res)
                    bar.update()
        finally:
            bar.close()
        return out


def choose_executor(kind: str | None = None, scheduler: str | None = None,
                    workers: int | None = None) -> Executor:
    """The executor of a run from its settings (the command line's, else the scenario's).

    Parameters
    ----------
    kind : {"local", "dask"}, optional
        Default ``dask`` when a scheduler is given, else ``local``.
    scheduler : str, optional
        A Dask scheduler's address.
    workers : int, optional
        Processes (see :class:`Executor`).

    Returns
    -------
    Executor

    Raises
    ------
    ScenarioError
        On an unknown kind, a scheduler for ``local`` or workers below 1.
    """
    if kind is None:
        kind = "dask" if scheduler else "local"
    return Executor(kind, scheduler, None if workers is None else int(workers))


def _dask_map(ex: Executor, fn: Callable[[Any], T], jobs: Sequence[Any], *, desc: str,
              unit: str, progress: bool) -> list[T]:
    with _client(ex, progress) as client:
        # dask.distributed is the optional `dask` extra: loaded only for this executor
        from distributed import as_completed

        futures = [client.submit(run_task, fn, job, pure=False) for job in jobs]
        bar = tqdm(total=len(jobs), desc=desc, unit=unit, disable=not progress)
        try:
            for _ in as_completed(futures):
                bar.update()
        finally:
            bar.close()
        return list(client.gather(futures))


@contextmanager
def _client(ex: Executor, progress: bool) -> Iterator[Any]:
    try:
        # dask.distributed is the optional `dask` extra: loaded only for this executor
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ScenarioError("executor dask needs dask.distributed: pip install "
                            "'roiste[dask]' (on this machine and on every worker)") from exc
    cluster = None
    try:
        if ex.scheduler is not None:
            client = Client(str(ex.scheduler), timeout=f"{float(ex.timeout)}s")
        else:
            cluster = LocalCluster(n_workers=ex.workers or os.cpu_count() or 1,
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=40)
            client = Client(cluster)
    except (OSError, TimeoutError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        raise ScenarioError(f"scheduler {ex.scheduler!r}: cannot connect ({exc})") from exc
    try:
        if progress:
            print(f"dask dashboard: {client.dashboard_link}", file=sys.stderr, flush=True)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = ["EXECUTORS", "Executor", "choose_executor", "run_task"]
