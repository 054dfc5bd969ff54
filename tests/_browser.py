"""What the browser tests share: Debian's chromium (never `playwright install`), its flags,
and a `colossim serve` on a free loopback port for the length of a test module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

CHROMIUM = os.environ.get("COLOSSIM_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve() -> Iterator[str]:
    """Start `colossim serve`, yield its URL once /api/health answers, stop it afterwards."""
    pytest.importorskip("fastapi", reason="the web extra (fastapi) is not installed")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "colossim", "serve", "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/api/health", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"colossim serve exited: {proc.stderr.read() if proc.stderr else ''}")
                time.sleep(0.1)
        else:
            pytest.fail("colossim serve did not answer within 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
