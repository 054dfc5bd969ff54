"""Running a sweep's points: in this process, on local worker processes, or on Ray.

Workers ignore Ctrl+C (SIGINT reaches the whole process group) and die with their parent
(Linux ``PR_SET_PDEATHSIG``), so only the parent handles an interruption: it terminates and
reaps every worker, drops the queued points and lets KeyboardInterrupt propagate; each
finished row has already been handed to ``finished``. A SIGTERM is handled the same way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any

from colossim.errors import ColossimError

Task = tuple[int, tuple[Any, ...]]
IN_WORKER = False  # set in sweep worker processes: their plan searches run in one process (no nested pools)
Finished = Callable[[int, dict[str, Any]], None]


def run_tasks(tasks: list[Task], finished: Finished, *, executor: str = "local", workers: int | None = None,
              address: str | None = None) -> None:
    if not tasks:
        return
    with _sigterm_as_interrupt():
        if executor == "ray":
            _run_ray(tasks, finished, address)
        elif (workers or os.cpu_count() or 1) == 1 or len(tasks) == 1:
            _run_here(tasks, finished)
        else:
            _run_pool(tasks, finished, workers or os.cpu_count() or 1)


def _run_here(tasks: list[Task], finished: Finished) -> None:
    from colossim.search.sweep import run_point

    for i, args in tasks:
        finished(i, run_point(*args))


def _worker_init() -> None:
    global IN_WORKER
    IN_WORKER = True
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the parent's handler came with the fork
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _indexed(task: Task) -> tuple[int, dict[str, Any]]:
    from colossim.search.sweep import run_point

    i, args = task
    return i, run_point(*args)


def _run_pool(tasks: list[Task], finished: Finished, workers: int) -> None:
    import multiprocessing as mp

    pool = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn").Pool(
        min(workers, len(tasks)), initializer=_worker_init)
    try:
        for i, row in pool.imap_unordered(_indexed, tasks, chunksize=1):
            finished(i, row)
    except BaseException:
        pool.terminate()  # SIGTERM to every worker, then reaped
        pool.join()
        raise
    pool.close()
    pool.join()


def _run_ray(tasks: list[Task], finished: Finished, address: str | None) -> None:
    try:
        import ray
    except ImportError:
        raise ColossimError("--executor ray needs Ray: pip install 'colossim[ray]'", field="--executor") from None
    from colossim.search.sweep import run_point

    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
        started = True
    refs: dict[Any, int] = {}
    try:
        remote = ray.remote(run_point)
        refs = {remote.remote(*args): i for i, args in tasks}
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                finished(refs[ref], ray.get(ref))
    except BaseException:
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the sweep as Ctrl+C does (workers reaped, finished rows kept)."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
