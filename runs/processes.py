"""Process trees that end with their owner: sweep workers, Dask helpers, the app's server.

A killed sweep driver (kill -9, out of memory) runs no cleanup, and its pool workers do not
notice: they share the task pipe among themselves, hold the forkserver's keep-alive pipe and
the resource tracker's pipe, so workers, forkserver and tracker all lived on for minutes
(issue 16). Each worker and Dask process here runs a watchdog thread that polls the driver
and exits when it is gone; with the workers gone, the forkserver and the resource tracker
see their pipes close and exit too. On Linux, a worker also asks the kernel for SIGKILL when
its parent (the forkserver) dies (`PR_SET_PDEATHSIG`).

SIGTERM (what `kill`, systemd and container runtimes send) is turned into the Ctrl-C path,
so the code that stops children on Ctrl-C (the app's `solara run` server, a sweep's pool)
runs for it too.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType

POLL_SECONDS = 1.0
"""How often a watchdog looks for its driver: the longest an orphan outlives it."""
ORPHAN_EXIT_STATUS = 70
"""Exit status of a process that found its driver gone (EX_SOFTWARE)."""
PR_SET_PDEATHSIG = 1
"""prctl option from <linux/prctl.h>: a signal to this process when its parent dies."""


def die_with_parent(signum: int = signal.SIGKILL) -> bool:
    """Ask Linux to send `signum` when the parent process dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0


def is_alive(pid: int) -> bool:
    """True while process `pid` runs (a zombie, dead but not yet reaped, is not alive)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def watch_driver(driver_pid: int) -> None:
    """Start a daemon thread that ends this process, and its children, once the driver died."""

    def watch() -> None:
        import psutil

        while is_alive(driver_pid):
            time.sleep(POLL_SECONDS)
        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
        os._exit(ORPHAN_EXIT_STATUS)

    threading.Thread(target=watch, name="watch-driver", daemon=True).start()


def init_pool_worker(driver_pid: int) -> None:
    """Pool-worker initializer: Ctrl-C is the driver's alone; die with the forkserver or driver."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    watch_driver(driver_pid)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt in the main thread (as Ctrl-C does)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
