"""Typed catalog entries. Every entry carries ``source``, ``date`` and ``verified``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    aliases: list[str] = []
    source: list[str]
    date: str
    verified: bool | str
    notes: str | None = None


class GPUEntry(_Entry):
    vendor: str
    arch: str
    profile: str = Field(description="efficiency profile (efficiency.yaml)")
    peak_tflops: dict[str, float] = Field(description="dense peak TFLOP/s by dtype")
    mamf_tflops: dict[str, float] | None = Field(
        default=None, description="best-shape measured matmul TFLOP/s by dtype (Maximum Achievable Matmul FLOPS)")
    hbm_gb: float
    hbm_exposed_mib: float | None = Field(default=None, description="memory the driver exposes (nvidia-smi memory.total)")
    hbm_bw_tbps: float
    host_link_unidir_gbps: float | None = Field(default=None, description="GB/s one direction to host memory (PCIe/C2C)")
    host_link_shared_by: int = Field(default=1, ge=1, description="GPUs sharing one uplink to the CPU")
    scaleup: str
    scaleup_unidir_gbps: float = Field(description="NVLink/xGMI GB/s per GPU, one direction")
    scaleup_domain: int
    nic_gbps: float = Field(description="default scale-out NIC per GPU, Gb/s")
    tdp_w: float
    price_usd: dict[str, Any] | None = None
    launch: str

    def peak_flops(self, dtype: str) -> float:
        """Dense peak FLOP/s for a dtype; fp8 falls back to bf16 on GPUs without it."""
        if dtype in self.peak_tflops:
            return self.peak_tflops[dtype] * 1e12
        if dtype == "fp8":
            return self.peak_tflops["bf16"] * 1e12
        raise KeyError(dtype)

    @property
    def hbm_bytes(self) -> float:
        """What a process can fill: the driver-exposed MiB where known, else the nominal GB."""
        if self.hbm_exposed_mib is not None:
            return self.hbm_exposed_mib * 2**20
        return self.hbm_gb * 1e9


class SwitchEntry(_Entry):
    vendor: str
    asic: str
    technology: str
    radix_by_port_gbps: dict[int, int]
    switching_tbps: float

    def radix_at(self, port_gbps: float) -> int | None:
        """Ports at this speed, or None if the switch has no such port speed."""
        return self.radix_by_port_gbps.get(int(port_gbps))


class Curve(BaseModel):
    """A piecewise-linear curve in log2(x): efficiency against size."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    x: list[float]
    y: list[float]


class EfficiencyProfile(BaseModel):
    """Achievable fractions of peak for one GPU family, each with its source.

    Fields are physical: a kernel class's sustained fraction of peak, a link's protocol
    efficiency and latency. No field is tuned per validation case.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    gemm_max_fraction: dict[str, float]
    gemm_half_output: float
    gemm_half_k: float
    attention_fwd_fraction: float
    attention_bwd_fraction: float
    # cuDNN's fused flash attention (attention_kernel: cudnn); None: as the flash kernel
    attention_cudnn_fwd_fraction: float | None = None
    attention_cudnn_bwd_fraction: float | None = None
    # key length (tokens) at which a fused attention kernel runs at half the rate above
    # (a causal kernel's diagonal tiles and short key loops: rate x L/(L + half)); 0: no
    # length dependence measured for the family (perf/layer.py attention_core_s)
    attention_fwd_half_seq: float = 0.0
    attention_bwd_half_seq: float = 0.0
    # FlashAttention's own length curve (attention_kernel: flash, flash1) where one is measured;
    # None: the shared curve above
    attention_flash_fwd_half_seq: float | None = None
    attention_flash_bwd_half_seq: float | None = None
    hbm_fraction: float
    scaleup_busbw_fraction: float
    scaleup_latency_s: float
    scaleout_busbw_fraction: float
    scaleout_latency_s: float
    all_to_all_fraction: float
    comm_sm_fraction: float
    kernel_overhead_s: float
    # a GEMM kernel's fixed GPU time (prologue, first loads, epilogue: measured per kernel,
    # CUPTI-timed, in XLA's matmul tables); None: as kernel_overhead_s (perf/layer.py gemm_s)
    gemm_floor_s: float | None = None
    # the GPU the GEMM fractions are stated for: another GPU of the family with a measured
    # MAMF sustains them scaled by its MAMF/peak ratio over this one's (perf/hardware.py)
    reference_gpu: str | None = None
    step_host_s: float = 0.0  # host time between steps: syncs, batch fetch, first launches (perf/step_costs.py)
    # the family's fp8 GEMMs take only the TN layout (Hopper): a tensor-scaled fp8 input that also
    # feeds a GEMM transposed is written twice, row-wise and transposed (perf/layer.py fp8_quantize_bytes)
    fp8_tn_only: bool = False
    # share of an overlapped pipeline exchange's transfer time that stays exposed in the
    # steady state of the schedule (perf/exposure.py pp_p2p); 0: fully hidden
    p2p_exposed_fraction: float = 0.0
    # GPU name -> its sustained GEMM rate over the reference GPU's share of its own peak, for a
    # GPU of the family with no measured MAMF (perf/hardware.py assumed_gemm_ceiling): fitted to
    # that GPU's published runs alone (validation/fit.py fit_gpu_scales); absent: 1, the assumption
    gpu_gemm_scale: dict[str, float] = {}
    # what `colossim validate --cross-validate` measures for this profile's GPU family
    # (runs, cross_validated_mape, mape); None: no published run validates the profile.
    # tests/test_validation.py checks it against the live figures, so it cannot go stale.
    validated: dict[str, float] | None = None
    sources: dict[str, str]
