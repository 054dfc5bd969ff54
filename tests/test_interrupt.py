"""Interruption: Ctrl+C (or SIGTERM, or a kill) during the README sweep stops it within 2 s,
reaps every worker, keeps the finished points; ``--resume`` runs only the rest; outputs are
written atomically."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from colossim.atomic import atomic_path, write_text
from colossim.errors import ColossimError

ROOT = Path(__file__).resolve().parents[1]
README_SWEEP = ROOT / "examples" / "sweep-colossus-scaling.yaml"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _leftovers(marker: str) -> list[int]:
    """Processes whose command line names ``marker`` (the sweep's workers are forks of it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _start(out: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "colossim", "sweep", str(README_SWEEP), "-o", str(out),
                             "--plot", str(out.with_suffix(".png")), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_rows(proc: subprocess.Popen[str], out: Path, timeout_s: float = 240.0) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if out.exists() and len(_rows(out)) >= 1:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no sweep row within the timeout")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_readme_sweep_within_2s(tmp_path: Path, sig: signal.Signals) -> None:
    out = tmp_path / "scaling.csv"
    proc = _start(out)
    _wait_for_rows(proc, out)
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    elapsed = time.monotonic() - sent
    assert elapsed < 2.0, f"exited {elapsed:.2f} s after the signal"
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "sweep interrupted" in err and "--resume" in err
    rows = _rows(out)
    assert 1 <= len(rows) < 24 and all(r["status"] for r in rows)
    time.sleep(0.3)
    assert _leftovers(str(out)) == [], "worker processes left behind"
    assert not list(tmp_path.glob(".*.tmp*")), "a temporary file left behind"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_sweep(tmp_path: Path) -> None:
    out = tmp_path / "killed.csv"
    proc = _start(out)
    _wait_for_rows(proc, out)
    proc.kill()
    proc.communicate(timeout=10)
    end = time.monotonic() + 3.0
    while _leftovers(str(out)) and time.monotonic() < end:
        time.sleep(0.1)
    assert _leftovers(str(out)) == []
    assert len(_rows(out)) >= 1  # the table is whole: it was renamed into place


TINY = {
    "name": "tiny",
    "base": {"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
             "training": {"seq_len": 4096, "global_batch_size": 128}},
    "grid": {"cluster.num_gpus": [16, 32, 64], "cluster.gpu": ["h100-sxm"]},
    "search": {"objective": "throughput", "max": {"pp": 2}},
}


def test_resume_runs_only_the_missing_points(tmp_path: Path) -> None:
    from colossim.cli import main

    sweep = tmp_path / "tiny.yaml"
    sweep.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "tiny.csv"
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(sweep), "-o", str(out), "--workers", "1", "--json"])
    assert done.value.code in (0, None)
    full = _rows(out)
    assert len(full) == 3
    with out.open("w", newline="", encoding="utf-8") as fh:  # as if interrupted after the first two points
        w = csv.DictWriter(fh, fieldnames=list(full[0]))
        w.writeheader()
        w.writerows(full[:2])
    r = subprocess.run([sys.executable, "-m", "colossim", "sweep", str(sweep), "-o", str(out), "--workers", "1",
                        "--resume", "--json"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 0, r.stderr
    assert "sweep: 3/3" in r.stderr and "sweep: 1/3" not in r.stderr  # only the missing point ran
    resumed = _rows(out)
    assert [row["cluster.num_gpus"] for row in resumed] == ["16", "32", "64"]
    assert resumed[:2] == full[:2] and resumed[2]["tokens_per_s"] == full[2]["tokens_per_s"]


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]
    write_text(target, "new\n")
    assert target.read_text() == "new\n" and oct(target.stat().st_mode & 0o777) != "0o600"
    with pytest.raises(ColossimError, match="cannot write"):
        write_text("/proc/nope/x.csv", "x")
