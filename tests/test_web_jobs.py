"""The background job manager: progress, cancellation, the job limit, failures, forgetting."""

from __future__ import annotations

import threading
import time

import pytest

from colossim.errors import ColossimError
from colossim.web.jobs import JobManager, TooManyJobs


def wait(manager: JobManager, job_id: str, timeout_s: float = 10.0):
    end = time.time() + timeout_s
    while time.time() < end:
        job = manager.get(job_id)
        if job is not None and job.status not in ("queued", "running"):
            return job
        time.sleep(0.01)
    raise AssertionError("job did not finish")


def slow(gate: threading.Event):
    """Work that reports progress until the gate opens (or the job is cancelled)."""

    def work(progress):
        for i in range(10_000):
            progress(i, 10_000)
            if gate.wait(0.01):
                return {"result": {"steps": i}}
        return {"result": None}

    return work


@pytest.fixture
def manager():
    m = JobManager(workers=1, max_active=2, max_kept=3, ttl_s=60)
    yield m
    m.shutdown()


def test_progress_and_result(manager) -> None:
    gate = threading.Event()
    job = manager.submit("demo", slow(gate))
    while manager.get(job.id).done == 0:
        time.sleep(0.01)
    running = manager.get(job.id).to_dict()
    assert running["status"] == "running" and 0 < running["progress"]["fraction"] < 1 and running["result"] is None
    gate.set()
    done = wait(manager, job.id).to_dict()
    assert done["status"] == "done" and done["progress"]["fraction"] == 1.0 and done["result"]["steps"] >= 1
    assert "result" not in wait(manager, job.id).to_dict(with_result=False)


def test_cancel_running_and_queued(manager) -> None:
    first = manager.submit("a", slow(threading.Event()))
    queued = manager.submit("b", slow(threading.Event()))  # one worker: waits behind the first
    assert manager.cancel(queued.id).status == "cancelled"
    manager.cancel(first.id)
    assert wait(manager, first.id).status == "cancelled"
    assert wait(manager, queued.id).status == "cancelled"
    assert manager.cancel(first.id) is not None and manager.get(first.id) is None  # finished: forgotten
    assert manager.cancel("nope") is None


def test_job_limit(manager) -> None:
    gates = [threading.Event(), threading.Event()]
    jobs = [manager.submit("a", slow(g)) for g in gates]
    with pytest.raises(TooManyJobs, match="at most 2"):
        manager.submit("c", slow(threading.Event()))
    gates[0].set()
    wait(manager, jobs[0].id)
    assert manager.submit("c", lambda progress: {}).status in ("queued", "running", "done")  # a slot is free again
    gates[1].set()


def test_failures_are_reported_without_tracebacks(manager) -> None:
    def user_mistake(progress):
        raise ColossimError("options.top: 0 is not allowed; must be >= 1", field="options.top", value=0)

    def bug(progress):
        raise ZeroDivisionError("secret internals")

    mistake = wait(manager, manager.submit("a", user_mistake).id)
    assert mistake.status == "failed" and mistake.error["field"] == "options.top"
    crashed = wait(manager, manager.submit("b", bug).id)
    assert crashed.status == "failed" and "secret" not in str(crashed.to_dict())


def test_finished_jobs_are_forgotten(manager) -> None:
    ids = [manager.submit("k", lambda progress: {}).id for _ in range(2)]
    for i in ids:
        wait(manager, i)
    ids += [manager.submit("k", lambda progress: {}).id for _ in range(2)]
    for i in ids[2:]:
        wait(manager, i)
    assert len(manager.list()) == 3 and manager.get(ids[0]) is None  # at most max_kept
    manager.ttl_s = 0.0
    time.sleep(0.01)
    assert manager.list() == []


def test_restarts_after_shutdown(manager) -> None:
    manager.shutdown()
    assert wait(manager, manager.submit("k", lambda progress: {"result": 1}).id).status == "done"
