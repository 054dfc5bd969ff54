"""How many processes a parallel step may fork (the plan search, the cross-validation folds)."""

from __future__ import annotations


def default_workers() -> int:
    """Every core this process may use; 1 off the main thread (a server's worker thread must
    not fork) and in a daemonic worker process (which may not have children)."""
    import multiprocessing as mp
    import os
    import threading

    if threading.current_thread() is not threading.main_thread() or mp.current_process().daemon:
        return 1

    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def can_fork() -> bool:
    import multiprocessing as mp

    return "fork" in mp.get_all_start_methods()
