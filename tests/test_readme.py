"""The README's promises, run as written: every command of "A first look" exits 0 with no
traceback, in a scratch folder holding copies of the files the commands name (so outputs
such as report.html and the sweep's CSV land there, and the user catalog is a temporary
one). The sweep (24 plan searches) is marked slow; the others take seconds."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SLOW = ("colossim sweep ",)  # measured over 20 s on a 2-core machine


def first_look_commands() -> list[str]:
    """The `colossim ...` lines of the code blocks under "## A first look", comments removed."""
    section = README.split("## A first look", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", section, flags=re.S):
        for line in block.splitlines():
            line = line.removeprefix("$ ").strip()
            if line.startswith("colossim "):
                commands.append(re.split(r"\s{2,}#", line, maxsplit=1)[0].strip())
    return commands


COMMANDS = first_look_commands()


def _param(cmd: str):
    marks = [pytest.mark.slow] if cmd.startswith(SLOW) else []
    return pytest.param(cmd, marks=marks, id=cmd[:70])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", root / "examples",
                    ignore=shutil.ignore_patterns("*.csv", "*.png", "*.parquet"))
    shutil.copytree(ROOT / "tests" / "data", root / "tests" / "data")
    return root


def test_the_tour_is_found() -> None:
    assert len(COMMANDS) >= 15
    assert COMMANDS[0] == "colossim estimate examples/grok1-colossus-100k.yaml"


def test_the_first_two_commands_install_and_test() -> None:
    blocks = re.findall(r"\n    (python3\.11 -m venv .*)\n", README)
    assert blocks[0] == ("python3.11 -m venv .venv && .venv/bin/pip install -e . && "
                         ".venv/bin/colossim estimate examples/grok1-colossus-100k.yaml")
    assert blocks[1] == "python3.11 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/pytest"
    assert blocks[0].split("&& .venv/bin/")[-1] == COMMANDS[0]  # the first command is the tour's first


@pytest.mark.parametrize("cmd", [_param(c) for c in COMMANDS])
def test_every_first_look_command_runs(cmd, scratch) -> None:
    env = {**os.environ, "COLOSSIM_HOME": str(scratch / "home"), "COLUMNS": "100",
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    args = shlex.split(cmd)[1:]
    proc = subprocess.run([sys.executable, "-m", "colossim", *args], cwd=scratch, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{cmd}\n{proc.stderr[-2000:]}"
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stdout.strip()
