"""Reading measurements: nccl-tests outputs and GEMM-sweep CSVs (benchmarks/gpu/gemm_sweep.py).

Both parsers take the file's text (the caller reads it) and raise a ColossimError naming
the file, line and column of the first malformed value.

nccl-tests (NVIDIA/nccl-tests, ``all_reduce_perf``, ``all_gather_perf``, ``alltoall_perf``):
comment lines start with ``#``; ``#  Rank  N Group ... on HOST device ...`` lines name the
ranks and their hosts; each data row is ``size count type redop [root] time algbw busbw
#wrong time algbw busbw #wrong`` (out-of-place, then in-place; ``root`` since nccl-tests
2.11). Sizes in bytes, times in microseconds, bandwidths in GB/s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from colossim.errors import ColossimError

COLLECTIVES = ("all_reduce", "all_gather", "alltoall")
_RANK = re.compile(r"^#\s*Rank\s+\d+\s+Group\s+\d+\s+Pid\s+\d+\s+on\s+(\S+)")
GEMM_COLUMNS = ("m", "n", "k", "dtype", "tflops")


@dataclass(frozen=True, slots=True)
class NcclRun:
    collective: str  # all_reduce | all_gather | alltoall
    ranks: int
    nodes: int
    size_bytes: np.ndarray
    time_s: np.ndarray  # out-of-place
    busbw_bytes_s: np.ndarray


@dataclass(frozen=True, slots=True)
class GemmSweep:
    m: np.ndarray
    n: np.ndarray
    k: np.ndarray
    dtype: np.ndarray  # str
    flops_s: np.ndarray


def _bad(path: str, line: int, column: int, message: str) -> ColossimError:
    return ColossimError(f"{path}:{line}:{column}: {message}", field=path, value=f"line {line}, column {column}")


def _number(token: str, path: str, line: int, column: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise _bad(path, line, column, f"{what}: expected a number, got {token!r}") from None
    if not np.isfinite(value) or value < 0:
        raise _bad(path, line, column, f"{what}: expected a finite non-negative number, got {token!r}")
    return value


def parse_nccl_tests(text: str, path: str, collective: str) -> NcclRun:
    """One nccl-tests output; ``collective`` says which test wrote it."""
    if collective not in COLLECTIVES:
        raise ColossimError(f"{path}: unknown collective {collective!r}; allowed: {', '.join(COLLECTIVES)}")
    hosts: list[str] = []
    size, time, bus = [], [], []
    for i, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            m = _RANK.match(line)
            if m:
                hosts.append(m.group(1))
            continue
        found = list(re.finditer(r"\S+", raw))
        tokens = [f.group(0) for f in found]
        cols = [f.start() + 1 for f in found]
        if len(tokens) not in (12, 13):
            raise _bad(path, i, 1, f"expected 12 or 13 columns (size count type redop [root] time algbw busbw "
                                   f"#wrong time algbw busbw #wrong), got {len(tokens)}")
        off = len(tokens) - 12  # 1 with the root column
        # the reduction column says which test wrote the file: all_reduce_perf reduces (sum, ...),
        # all_gather_perf and alltoall_perf print none; a file given under the wrong flag is refused
        if (tokens[3] == "none") == (collective == "all_reduce"):
            raise _bad(path, i, cols[3], f"redop {tokens[3]!r}: not an {collective}_perf output (all_reduce_perf "
                                         "reduces, e.g. sum; all_gather_perf and alltoall_perf print none)")
        size.append(_number(tokens[0], path, i, cols[0], "size"))
        if size[-1] <= 0:
            raise _bad(path, i, cols[0], f"size: expected bytes > 0, got {tokens[0]!r}")
        time.append(_number(tokens[4 + off], path, i, cols[4 + off], "time") * 1e-6)
        if time[-1] <= 0:  # no collective takes no time: a rounded or corrupted row
            raise _bad(path, i, cols[4 + off], f"time: expected microseconds > 0, got {tokens[4 + off]!r}")
        bus.append(_number(tokens[6 + off], path, i, cols[6 + off], "busbw") * 1e9)
    if not size:
        raise ColossimError(f"{path}: no data rows (is this an nccl-tests output?)", field=path)
    ranks = max(len(hosts), 1)
    return NcclRun(collective=collective, ranks=ranks, nodes=max(len(set(hosts)), 1), size_bytes=np.array(size),
                   time_s=np.array(time), busbw_bytes_s=np.array(bus))


def parse_gemm_csv(text: str, path: str) -> GemmSweep:
    """A CSV with header ``m,n,k,dtype,tflops`` (benchmarks/gpu/gemm_sweep.py)."""
    lines = text.splitlines()
    if not lines or [h.strip() for h in lines[0].split(",")] != list(GEMM_COLUMNS):
        got = lines[0] if lines else ""
        raise _bad(path, 1, 1, f"expected the header {','.join(GEMM_COLUMNS)}, got {got!r}")
    rows: list[tuple[float, float, float, str, float]] = []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(GEMM_COLUMNS):
            raise _bad(path, i, 1, f"expected {len(GEMM_COLUMNS)} comma-separated values, got {len(cells)}")
        starts = [sum(len(c) + 1 for c in cells[:j]) + 1 for j in range(len(cells))]
        m, n, k = (_number(cells[j].strip(), path, i, starts[j], GEMM_COLUMNS[j]) for j in range(3))
        dtype = cells[3].strip()
        if dtype not in ("bf16", "fp16", "fp8", "tf32", "fp32"):
            raise _bad(path, i, starts[3], f"dtype: expected bf16, fp16, fp8, tf32 or fp32, got {dtype!r}")
        tflops = _number(cells[4].strip(), path, i, starts[4], "tflops")
        if min(m, n, k) < 1 or tflops <= 0:
            raise _bad(path, i, 1, "m, n, k must be >= 1 and tflops > 0")
        rows.append((m, n, k, dtype, tflops))
    if not rows:
        raise ColossimError(f"{path}: no data rows", field=path)
    m_a, n_a, k_a, d_a, t_a = zip(*rows, strict=True)
    return GemmSweep(m=np.array(m_a), n=np.array(n_a), k=np.array(k_a), dtype=np.array(d_a),
                     flops_s=np.array(t_a) * 1e12)
