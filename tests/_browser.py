"""What the browser tests share: Debian's chromium (never `playwright install`), its flags,
and a `colossim serve` on a free loopback port for the length of a test module."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def open_dashboard(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, width: int,
                   height: int) -> Iterator[Any]:
    """A chromium tab on the dashboard, its page errors collected in ``tab.errors``; skips,
    saying why, without playwright or chromium (the server starts only once both exist)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no chromium at {CHROMIUM} (Debian: apt-get install chromium; never `playwright install`)")
    server = request.getfixturevalue("server")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                        args=ARGS, viewport={"width": width, "height": height})
        tab = context.new_page()
        tab.errors = []
        tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        tab.goto(server + "/")
        tab.wait_for_selector("body[data-ready='1']", timeout=30_000)
        yield tab
        context.close()
