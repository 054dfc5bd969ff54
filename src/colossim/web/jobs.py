"""Background jobs for long work (searches, scaling curves, Monte Carlo): a small thread pool.

A job runs one function ``work(progress) -> dict`` on a worker thread; the dict's keys join
the job's JSON once it is done (the API's ``result`` and ``section``). The function reports
``progress(done, total)`` (the library's progress callback); the same callback raises
:class:`Cancelled` once the job is cancelled, so a search stops at its next chunk. At most
``max_active`` jobs are queued or running at once (more is refused, not queued without
end); finished jobs are kept ``ttl_s`` seconds (and at most ``max_kept``) for the page to
fetch, then forgotten. Everything stays in this process: a restart forgets every job.

Synchronous heavy routes (``/api/report``) run through the same pool and
budget with :meth:`JobManager.run`: they wait (up to ``wait_s``) for a free slot rather than
being refused at once, run on a worker thread, and are forgotten as soon as they return,
so their results (a report is megabytes) are not kept. Once no job is running, the memory
the work used is handed back to the system (``gc`` and glibc's ``malloc_trim``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from colossim.errors import ColossimError

log = logging.getLogger("colossim.web")

Work = Callable[[Callable[[int, int], None]], dict[str, Any]]
ACTIVE = ("queued", "running")


class Cancelled(Exception):
    """Raised inside a job's progress callback once the job is cancelled."""


class TooManyJobs(Exception):
    """More jobs than the server allows are queued or running."""


@dataclass
class Job:
    id: str
    kind: str
    status: str = "queued"  # queued | running | done | failed | cancelled
    done: int = 0
    total: int = 0
    created_s: float = field(default_factory=time.time)
    started_s: float | None = None
    finished_s: float | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    ended: threading.Event = field(default_factory=threading.Event, repr=False)
    exception: BaseException | None = field(default=None, repr=False)

    def progress(self, done: int, total: int) -> None:
        if self.cancel.is_set():
            raise Cancelled
        self.done, self.total = int(done), int(total)

    def to_dict(self, *, with_result: bool = True) -> dict[str, Any]:
        fraction = (self.done / self.total if self.total else 0.0) if self.status != "done" else 1.0
        out: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "status": self.status,
            "progress": {"done": self.done, "total": self.total, "fraction": min(max(fraction, 0.0), 1.0)},
            "created_s": self.created_s, "started_s": self.started_s, "finished_s": self.finished_s,
            "elapsed_s": None if self.started_s is None else (self.finished_s or time.time()) - self.started_s,
            "error": self.error,
        }
        if with_result:
            out.update(self.result or {"result": None})
        return out


class JobManager:
    def __init__(self, workers: int = 2, max_active: int = 4, max_kept: int = 64, ttl_s: float = 3600.0) -> None:
        self.max_active = max_active
        self.max_kept = max_kept
        self.ttl_s = ttl_s
        self._jobs: dict[str, Job] = {}
        self.workers = workers
        self._lock = threading.Lock()
        self._slots = threading.Condition(self._lock)
        self._pool: ThreadPoolExecutor | None = None  # started with the first job, again after a shutdown

    def submit(self, kind: str, work: Work, *, wait_s: float = 0.0) -> Job:
        """Queue ``work``; refused (TooManyJobs) when ``max_active`` jobs are queued or running
        and none ends within ``wait_s`` seconds."""
        deadline = time.monotonic() + wait_s
        with self._slots:
            while True:
                self._prune()
                active = sum(1 for j in self._jobs.values() if j.status in ACTIVE)
                left = deadline - time.monotonic()
                if active < self.max_active:
                    break
                if left <= 0:
                    raise TooManyJobs(f"{active} jobs are already queued or running (at most {self.max_active}: "
                                      "`colossim serve --max-jobs`); wait for one to finish or cancel one")
                self._slots.wait(left)
            job = Job(id=uuid.uuid4().hex, kind=kind)
            self._jobs[job.id] = job
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="colossim-job")
            self._pool.submit(self._run, job, work)
        return job

    def run(self, kind: str, work: Work, *, wait_s: float = 60.0) -> dict[str, Any]:
        """Run ``work`` through the queue and wait for it (a synchronous route); the job is
        forgotten once it returns. Its ColossimError is raised here (a 422)."""
        job = self.submit(kind, work, wait_s=wait_s)
        job.ended.wait()
        with self._lock:
            self._jobs.pop(job.id, None)
        if job.status == "done" and job.result is not None:
            result, job.result = job.result, None
            return result
        if isinstance(job.exception, ColossimError):
            raise job.exception
        if job.status == "cancelled":
            raise ColossimError("the server is stopping; the work was cancelled", field="jobs")
        raise RuntimeError(f"job {job.id} ({kind}) failed (logged)")

    def _run(self, job: Job, work: Work) -> None:
        if job.cancel.is_set():
            self._finish(job, "cancelled")
            return
        job.status, job.started_s = "running", time.time()
        try:
            result = work(job.progress)
        except Cancelled:
            self._finish(job, "cancelled")
        except ColossimError as exc:
            job.exception = exc
            self._finish(job, "failed", error=exc.to_dict())
        except Exception:  # a bug: logged here, never shown to the client as a traceback
            log.exception("job %s (%s) failed", job.id, job.kind)
            self._finish(job, "failed", error={"error": "internal error (logged on the server)", "field": None,
                                               "value": None, "allowed": None, "suggestion": None})
        else:
            job.result = result
            self._finish(job, "done")

    def _finish(self, job: Job, status: str, error: dict[str, Any] | None = None) -> None:
        job.error = error
        job.finished_s = time.time()
        with self._slots:
            job.status = status
            idle = not any(j.status == "running" for j in self._jobs.values())
            self._slots.notify_all()
        job.ended.set()
        if idle:
            release_memory()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._prune()
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            self._prune()
            return sorted(self._jobs.values(), key=lambda j: j.created_s)

    def cancel(self, job_id: str) -> Job | None:
        """Cancel a queued or running job (it stops at its next progress report); forget a
        finished one. None when there is no such job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status in ACTIVE:
                job.cancel.set()
                if job.status == "queued":
                    job.status = "cancelled"
                    job.finished_s = time.time()
                    job.ended.set()
                    self._slots.notify_all()
            else:
                del self._jobs[job_id]
            return job

    def _prune(self) -> None:
        now = time.time()
        finished = [j for j in self._jobs.values() if j.status not in ACTIVE]
        for j in finished:
            if j.finished_s is not None and now - j.finished_s > self.ttl_s:
                del self._jobs[j.id]
        finished = sorted((j for j in self._jobs.values() if j.status not in ACTIVE), key=lambda j: j.created_s)
        for j in finished[: max(len(finished) - self.max_kept, 0)]:
            del self._jobs[j.id]

    def shutdown(self) -> None:
        """Cancel every job and stop the threads (the server is stopping)."""
        with self._lock:
            for j in self._jobs.values():
                if j.status in ACTIVE:
                    j.cancel.set()
                if j.status == "queued":  # its future is dropped below: it never runs
                    j.status, j.finished_s = "cancelled", time.time()
                    j.ended.set()
            self._slots.notify_all()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def release_memory() -> None:
    """Hand freed memory back to the system: collect cycles (figures, arrays), then ask
    glibc to return its free heap pages (Linux; elsewhere only the collection)."""
    gc.collect()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL("libc.so.6").malloc_trim(0)
