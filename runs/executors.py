"""Where runs execute: in this process, in a local process pool, or on a Dask cluster.

One interface: `executor.run(fn, tasks)` submits the tasks and yields a `Completed` for each
as it finishes, in completion order. A task that raises is yielded as a failure with its
error text; the others go on. Tasks are submitted through a bounded window (a few per
worker), so the driver's memory does not grow with the number of tasks, and Ctrl-C has only
that window to cancel. Leaving the `with` block (normally, on error or on Ctrl-C) cancels
what is pending and shuts the pool or cluster down.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import multiprocessing
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from tokenmarket.runs.processes import init_pool_worker, watch_driver

TASKS_PER_WORKER = 4
"""Window of submitted, unfinished tasks per worker: enough to keep every worker busy."""
WORKER_IMPORTS = ("tokenmarket.runs.sweep", "tokenmarket.model.market", "pyarrow.parquet")
"""Imported once per worker before the first task (mesa, pandas, pyarrow take seconds)."""


SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""A worker runs one model at a time: BLAS threads would only compete with the other workers
(about 20% more CPU per run here). Dask's workers start with the same settings."""
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.tick.interval": "1s",
}
"""Dask housekeeping a sweep does not need. The statistical profiler samples every worker
thread every 10 ms (about 12% more CPU per run of this pure-Python model); the system and
memory monitors and the event-loop tick wake every process 10 to 50 times a second (an idle
2-worker cluster took 13% of a core, 4% with these settings). No dashboard runs to show
them. Workers of an external cluster: `DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False`."""


class ExecutorError(RuntimeError):
    """An executor that cannot start (a scheduler that does not answer, ...)."""


@dataclass(frozen=True, slots=True)
class Completed[T]:
    """A finished task: its value, or the error it raised (type, message and traceback)."""

    task: T
    value: Any = None
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        """True when the task returned."""
        return self.error is None


def guarded[T, R](fn: Callable[[T], R], task: T) -> tuple[R | None, str | None, str | None]:
    """Call `fn(task)` where the task runs; an exception comes back as text, not raised.

    Text travels from any worker, where some exceptions cannot be pickled.
    """
    try:
        return fn(task), None, None
    except Exception as err:  # the sweep records every failure of a run and goes on
        return None, f"{type(err).__name__}: {err}", traceback.format_exc()


def default_workers() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


class Executor(Protocol):
    """Runs tasks and yields them as they complete; a context manager owning its workers."""

    description: str

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def run[T](self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Completed[T]]:
        """Yield a `Completed` per task, in completion order."""
        ...


class SerialExecutor:
    """One task after another in this process: the reference the others must match."""

    description = "serial (this process)"

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run[T](self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Completed[T]]:
        """Run each task here, in order."""
        for task in tasks:
            yield Completed(task, *guarded(fn, task))


def _windowed[T, F](
    tasks: Iterable[T],
    window: int,
    submit: Callable[[T], F],
    first_done: Callable[[set[F]], Iterable[F]],
    outcome: Callable[[F, T], Completed[T]],
    cancel: Callable[[list[F]], None],
    retry: Callable[[F, T], bool] = lambda future, task: False,
) -> Iterator[Completed[T]]:
    """Keep at most `window` tasks in flight; yield each as it completes.

    A task for which `retry` says so is submitted again instead (a bystander of a worker
    that died). On any exit (exhausted, Ctrl-C, the consumer stopping) the futures still
    pending are cancelled.
    """
    pending: dict[F, T] = {}
    todo = iter(tasks)
    try:
        while True:
            while len(pending) < window and (task := next(todo, None)) is not None:
                pending[submit(task)] = task
            if not pending:
                return
            for future in first_done(set(pending)):
                task = pending.pop(future)
                if retry(future, task):
                    pending[submit(task)] = task
                else:
                    yield outcome(future, task)
    finally:
        if pending:
            cancel(list(pending))


class ProcessExecutor:
    """A local process pool (concurrent.futures), one task per worker process at a time.

    Workers start by `forkserver` (`spawn` where there is none), never plain `fork`: a fork
    of a process with threads (tqdm's monitor, a Dask client) can deadlock. They run BLAS
    single-threaded (`SINGLE_THREADED`; with `spawn`, only the workers started while the
    pool starts are sure to), and ignore SIGINT, so Ctrl-C reaches the driver only, which
    cancels the pending tasks and stops the workers. A worker exits by itself if the driver
    dies (`processes.init_pool_worker`).

    If a worker dies (out of memory, killed), the pool breaks and fails every task in
    flight; only the task that worker was running is recorded as failed (not retried: a
    run that exhausts memory would take its neighbours down again), and the others run
    again on a fresh pool. Each worker announces the task it starts on a queue, so the
    driver knows which one died with it; a worker ended by SIGTERM cannot be told apart
    from the bystanders the pool terminates itself, so its task runs again too.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self.description = f"{self.workers} local worker processes"
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        self._pool: cf.ProcessPoolExecutor | None = None
        self._started: Any = None
        """The pool's queue of (worker pid, token) for each task a worker starts."""
        self._running: dict[int, int] = {}
        """Worker pid -> token of the last task it started, as read from the queue."""
        self._tokens = itertools.count()
        self._token_of: dict[cf.Future, int] = {}
        self._lost: dict[int, int] = {}
        """Token -> exit status of each task whose worker died (over every pool so far)."""
        self._examined: cf.ProcessPoolExecutor | None = None
        """The last broken pool whose dead workers were looked up."""

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        if self._context.get_start_method() == "forkserver":
            self._context.set_forkserver_preload(list(WORKER_IMPORTS))
        self._started, self._running = self._context.SimpleQueue(), {}
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._context,
            initializer=_init_pool_worker,
            initargs=(os.getpid(), self._started),
        )

    def __enter__(self) -> ProcessExecutor:
        self._pool = self._new_pool()
        try:  # start the workers now (the forkserver imports the model once, for all)
            with _environment(SINGLE_THREADED):
                for future in [self._pool.submit(_import, m) for m in WORKER_IMPORTS]:
                    future.result()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._stop(self._pool)
            self._pool = None
        self._token_of.clear()

    @staticmethod
    def _stop(pool: cf.ProcessPoolExecutor) -> None:
        """Cancel what is queued and end the workers now, without waiting for running tasks."""
        pool.shutdown(wait=False, cancel_futures=True)
        terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
        else:  # the same, by hand, on older Pythons
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.terminate()
        pool.shutdown(wait=True)

    def _submit[T](self, fn: Callable[[T], Any], task: T) -> cf.Future:
        assert self._pool is not None, "use the executor in a `with` block"
        self._drain()  # a full pipe would block the workers
        token = next(self._tokens)
        try:
            future = self._pool.submit(_announced, token, fn, task)
        except cf.process.BrokenProcessPool:
            self._stop(self._pool)
            self._pool = self._new_pool()
            future = self._pool.submit(_announced, token, fn, task)
        self._token_of[future] = token
        return future

    def _dead_workers_tasks(self) -> dict[int, int]:
        """Token -> exit status of each task whose worker died, the current pool's included.

        Looked up once per broken pool, when its first failed task comes back (before it
        is replaced). Workers the pool terminated itself (SIGTERM) are bystanders.
        """
        pool = self._pool
        if getattr(pool, "_broken", False) and self._examined is not pool:
            self._examined = pool
            self._drain()
            for pid, process in (getattr(pool, "_processes", None) or {}).items():
                if process.exitcode not in (None, 0, -signal.SIGTERM) and pid in self._running:
                    self._lost[self._running[pid]] = process.exitcode
        return self._lost

    def _drain(self) -> None:
        """Read the workers' announcements so far."""
        while not self._started.empty():
            pid, token = self._started.get()
            self._running[pid] = token

    def _bystander(self, future: cf.Future, task: Any) -> bool:
        """True for a task failed only because another task's worker died: run it again."""
        if not isinstance(future.exception(), cf.process.BrokenProcessPool):
            return False
        if self._token_of[future] in self._dead_workers_tasks():
            return False
        del self._token_of[future]
        return True

    def _outcome[T](self, future: cf.Future, task: T) -> Completed[T]:
        token = self._token_of.pop(future, None)
        if isinstance(future.exception(), cf.process.BrokenProcessPool):
            status = self._dead_workers_tasks().get(token)
            return Completed(task, None, f"worker failed: its process died (status {status})")
        return _outcome(future, task)

    def run[T](self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Completed[T]]:
        """Run the tasks on the pool, a window of them at a time."""
        return _windowed(
            tasks,
            TASKS_PER_WORKER * self.workers,
            submit=lambda task: self._submit(fn, task),
            first_done=lambda fs: cf.wait(fs, return_when=cf.FIRST_COMPLETED).done,
            outcome=self._outcome,
            cancel=lambda fs: [f.cancel() for f in fs],
            retry=self._bystander,
        )


_STARTED: Any = None
"""In a pool worker: the queue on which it announces each task it starts."""


def _init_pool_worker(driver_pid: int, started: Any) -> None:
    global _STARTED
    _STARTED = started
    init_pool_worker(driver_pid)


def _announced[T, R](
    token: int, fn: Callable[[T], R], task: T
) -> tuple[R | None, str | None, str | None]:
    """In a pool worker: tell the driver this process starts task `token`, then run it."""
    _STARTED.put((os.getpid(), token))
    return guarded(fn, task)


def _outcome[T](future: Any, task: T) -> Completed[T]:
    """The task's result, or the error that reached the driver (a worker that died)."""
    try:
        value, error, trace = future.result()
    except Exception as err:  # the worker, not the task, failed: record it, go on
        return Completed(task, None, f"worker failed: {type(err).__name__}: {err}", None)
    return Completed(task, value, error, trace)


class DaskExecutor:
    """Dask distributed: an embedded LocalCluster of worker processes, or a running cluster.

    Workers of an external cluster must have this package installed (same version): a run
    is executed by importing `tokenmarket` there. Each task has a key naming its run, so
    the Dask dashboard shows which runs are where.
    """

    def __init__(
        self, workers: int | None = None, scheduler: str | None = None, key_prefix: str = "run"
    ) -> None:
        self.workers = None if scheduler else (workers or default_workers())
        self.scheduler = scheduler
        self.key_prefix = key_prefix
        self.description = (
            f"Dask scheduler {scheduler}"
            if scheduler
            else f"Dask LocalCluster, {self.workers} workers"
        )
        self._cluster: Any = None
        self._client: Any = None

    def __enter__(self) -> DaskExecutor:
        import dask
        from distributed import Client, LocalCluster

        try:
            if self.scheduler is None:
                with _sigint_ignored_by_children(), dask.config.set(LOCAL_CLUSTER_CONFIG):
                    self._cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                    )
                self._client = Client(self._cluster)
                for nanny in (True, False):  # the local processes exit if this one dies
                    self._client.run(watch_driver, os.getpid(), nanny=nanny)
            else:
                self._client = Client(self.scheduler)  # waits distributed.comm.timeouts.connect
            self._client.wait_for_workers(1, timeout=60)
            for module in WORKER_IMPORTS:
                self._client.run(_import, module)
        except BaseException as err:
            self.__exit__()
            if isinstance(err, KeyboardInterrupt):
                raise
            where = (
                f"--scheduler: cannot use the Dask scheduler at {self.scheduler}"
                if self.scheduler
                else "--executor dask: cannot start a Dask LocalCluster"
            )
            raise ExecutorError(f"{where}: {type(err).__name__}: {err}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    @property
    def threads(self) -> int:
        """Worker threads across the cluster (one task each at a time)."""
        return max(1, sum(self._client.nthreads().values()))

    def run[T](self, fn: Callable[[T], Any], tasks: Iterable[T]) -> Iterator[Completed[T]]:
        """Submit the tasks to the cluster, a window of them at a time."""
        from distributed import wait

        client = self._client

        def submit(task: T) -> Any:
            key = f"{self.key_prefix}-{getattr(task, 'run_id', id(task))}"
            return client.submit(guarded, fn, task, key=key, pure=False, retries=0)

        return _windowed(
            tasks,
            TASKS_PER_WORKER * self.threads,
            submit=submit,
            first_done=lambda fs: wait(list(fs), return_when="FIRST_COMPLETED").done,
            outcome=_outcome,
            cancel=lambda fs: client.cancel(fs),
        )


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Processes started in this block get `values` in their environment.

    A variable the user set wins; this process's environment is restored after.
    """
    previous = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        os.environ.setdefault(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextlib.contextmanager
def _sigint_ignored_by_children() -> Iterator[None]:
    """Start child processes with SIGINT ignored, so Ctrl-C reaches the driver only.

    An ignored signal stays ignored across exec, and Python then installs no handler of its
    own: Dask's worker processes do not print a KeyboardInterrupt each. (A handler set in
    the child after start would come too late for asyncio's.) Ctrl-C in this short window
    is ignored by the driver too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _import(module: str) -> None:
    """Warm a worker up: import `module` there."""
    __import__(module)


def make_executor(
    kind: str, workers: int | None = None, scheduler: str | None = None, key_prefix: str = "run"
) -> Executor:
    """An executor by name: `serial`, `processes` or `dask` (a scheduler address implies dask)."""
    if scheduler is not None or kind == "dask":
        return DaskExecutor(workers, scheduler, key_prefix)
    if kind == "processes":
        return ProcessExecutor(workers)
    if kind == "serial":
        return SerialExecutor()
    raise ValueError(f"executor: unknown executor {kind!r}; one of serial, processes, dask")
