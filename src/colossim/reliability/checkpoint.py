"""Checkpoint size, save and load time, and the checkpoint-interval policies.

Size (what we count): per parameter, the 2-byte bf16/fp16 weights the step model keeps
(``perf.layer.ACT_BYTES``) plus the 12 bytes of fp32 master weights, Adam momentum and
variance (``perf.memory.OPTIMIZER_BYTES_PER_PARAM``): 14 bytes. Gradients are not saved
(they are rebuilt by the next step); fp8 copies are re-derived from the master weights;
RNG, data-loader and scheduler state are kilobytes. The 1T-parameter Megatron GPT gives
1.008e12 x 14 = 14.1 TB against the 13.8 TB measured (Narayanan et al. SC'21 section 5.10).

Time: ``size / bandwidth`` for the job's aggregate storage bandwidth. Left out: metadata
and file-open costs, storage shared with other jobs, per-server NIC limits for small jobs,
and the background write slowing training in asynchronous mode.

Interval policies (one signature: ``(delta_s, mttf_s, restart_s) -> seconds of training``):

- Young 1974 ("A first order approximation to the optimum checkpoint interval", CACM
  17(9)): ``tau = sqrt(2 delta M)``; first order in delta/M, ignores restart time and
  failures during checkpoints or restarts.
- Daly 2006 ("A higher order estimate of the optimum checkpoint interval for restart
  dumps", FGCS 22(3)), the higher-order estimate: ``tau = sqrt(2 delta M) [1 + sqrt(delta/2M)/3 +
  (delta/2M)/9] - delta`` for delta < 2M, else ``M``; exponential failures, failures may
  strike during checkpoints and restarts.
- ``daly_exact``: the minimum of Daly's complete model of the expected wall time,
  ``T(tau) = M e^(R/M) (e^((tau+delta)/M) - 1) W / tau``, found numerically.
- ``simulate``: the best interval of the Monte Carlo simulation itself
  (:func:`colossim.reliability.analysis.simulated_interval`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from colossim.errors import unknown_name_error
from colossim.perf.layer import ACT_BYTES
from colossim.perf.memory import OPTIMIZER_BYTES_PER_PARAM
from colossim.reliability.failures import figure, load_reliability_data

TB = 1e12
GB = 1e9
DEFAULT_BYTES_PER_PARAM = float(ACT_BYTES) + OPTIMIZER_BYTES_PER_PARAM  # 2 + 12 = 14


def checkpoint_bytes(num_params: float, bytes_per_param: float = DEFAULT_BYTES_PER_PARAM) -> float:
    """Bytes of one full checkpoint (weights + fp32 master + Adam moments)."""
    return float(num_params) * bytes_per_param


def storage_names() -> list[str]:
    return list(load_reliability_data("storage.yaml")["storage"])


def storage_preset(name: str, field: str = "reliability.checkpoint.storage") -> tuple[float, float]:
    """(save, load) aggregate bandwidth of a storage preset, bytes/s."""
    presets = load_reliability_data("storage.yaml")["storage"]
    entry = presets.get(name.lower())
    if entry is None:
        raise unknown_name_error("storage preset", field, name, presets)
    return figure(entry["save_tbps"]) * TB, figure(entry["load_tbps"]) * TB


def async_blocking_s(per_gpu_bytes: float) -> float:
    """Training pause of an asynchronous save: the device-to-host copy of each GPU's shard
    (all GPUs in parallel) plus a fixed planning and synchronization cost."""
    a = load_reliability_data("storage.yaml")["async"]
    return figure(a["staging_overhead_s"]) + per_gpu_bytes / (figure(a["staging_gbps_per_gpu"]) * GB)


def young_interval(delta_s: float, mttf_s: float, restart_s: float = 0.0) -> float:
    """Young 1974: the first-order optimum, ``sqrt(2 delta M)``."""
    return math.sqrt(2.0 * delta_s * mttf_s)


def daly_interval(delta_s: float, mttf_s: float, restart_s: float = 0.0) -> float:
    """Daly 2006: the higher-order optimum (``M`` once delta >= 2M)."""
    if delta_s >= 2.0 * mttf_s:
        return mttf_s
    x = delta_s / (2.0 * mttf_s)
    return math.sqrt(2.0 * delta_s * mttf_s) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - delta_s


def daly_expected_wall_s(work_s: float, interval_s: float, delta_s: float, mttf_s: float,
                         restart_s: float) -> float:
    """Daly 2006, the complete model: expected wall time to do ``work_s`` of computation with
    exponential failures of mean ``mttf_s``, a checkpoint of ``delta_s`` after every
    ``interval_s`` of work, and a restart of ``restart_s`` after each failure (failures may
    strike anywhere, restarts included). Overflows to inf when failures outrun progress."""
    m = mttf_s
    try:
        return m * math.exp(restart_s / m) * math.expm1((interval_s + delta_s) / m) * work_s / interval_s
    except OverflowError:
        return math.inf


def daly_exact_interval(delta_s: float, mttf_s: float, restart_s: float = 0.0) -> float:
    """The interval minimizing :func:`daly_expected_wall_s` (golden-section search on log tau)."""
    lo, hi = math.log(max(delta_s, 1e-3) * 1e-3 + 1e-6), math.log(mttf_s * 10.0)
    g = (math.sqrt(5.0) - 1.0) / 2.0

    def f(log_tau: float) -> float:
        return daly_expected_wall_s(1.0, math.exp(log_tau), delta_s, mttf_s, restart_s)

    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(200):
        if f(c) < f(d):
            b = d
        else:
            a = c
        c, d = b - g * (b - a), a + g * (b - a)
        if b - a < 1e-9:
            break
    return math.exp((a + b) / 2.0)


IntervalPolicy = Callable[[float, float, float], float]
ANALYTIC_POLICIES: dict[str, IntervalPolicy] = {
    "young": young_interval,
    "daly": daly_interval,
    "daly_exact": daly_exact_interval,
}
