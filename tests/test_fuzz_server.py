"""The server under load: parallel SVG reports and searches on a real (uvicorn) server,
through the job queue and its budget; memory returns after the work; the Host header is
checked on a loopback server (DNS rebinding)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("matplotlib")
uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

from colossim.cli.serve import loopback_hosts  # noqa: E402
from colossim.report.capabilities import Limits  # noqa: E402
from colossim.web.app import create_app  # noqa: E402
from colossim.web.inputs import EXAMPLE, Settings  # noqa: E402

REPORT = {"scenario": EXAMPLE, "charts": "svg", "search": False, "scaling": False}


def _rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(limits=Limits(max_candidates=2_000_000), workers=4, max_jobs=6, queue_wait_s=120.0,
                        allowed_hosts=loopback_hosts("127.0.0.1"))
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.monotonic() + 30
    while not srv.started and time.monotonic() < end:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


def _report(url: str) -> tuple[int, int]:
    r = httpx.post(f"{url}/api/report", json=REPORT, timeout=300)
    return r.status_code, len(r.content)


def _search(url: str) -> str:
    r = httpx.post(f"{url}/api/jobs/search", json={"scenario": EXAMPLE, "options": {"top": 3}}, timeout=60)
    if r.status_code == 429:
        return "busy"
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    end = time.monotonic() + 300
    while time.monotonic() < end:
        status = httpx.get(f"{url}/api/jobs/{job}", timeout=60).json()["status"]
        if status not in ("queued", "running"):
            return str(status)
        time.sleep(0.2)
    return "timeout"


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_parallel_svg_reports_and_searches(server: str) -> None:
    assert _report(server)[0] == 200  # warm: matplotlib and the catalog loaded once
    start = _rss_mb()
    with ThreadPoolExecutor(20) as pool:
        reports = [pool.submit(_report, server) for _ in range(16)]
        searches = [pool.submit(_search, server) for _ in range(4)]
        got: list[Any] = [f.result() for f in reports]
        found = [f.result() for f in searches]
    assert [code for code, _ in got] == [200] * 16, got
    assert all(size > 10_000 for _, size in got)
    assert all(s in ("done", "busy") for s in found), found
    jobs = httpx.get(f"{server}/api/jobs", timeout=30).json()
    assert all(j["kind"] != "report" for j in jobs), "a synchronous report's result was kept"
    time.sleep(0.5)
    end = _rss_mb()
    assert end <= 2 * start, f"memory {start:.0f} MB -> {end:.0f} MB"


def test_host_header_checked_on_loopback(server: str) -> None:
    assert httpx.get(f"{server}/api/health", timeout=30).status_code == 200
    assert httpx.get(f"{server}/api/health", headers={"Host": "localhost:8000"}, timeout=30).status_code == 200
    evil = httpx.get(f"{server}/api/health", headers={"Host": "attacker.example"}, timeout=30)
    assert evil.status_code == 400


def test_no_host_check_when_public() -> None:
    from fastapi.testclient import TestClient

    client = TestClient(create_app(Settings()))
    assert client.get("/api/health", headers={"Host": "anything.example"}).status_code == 200
