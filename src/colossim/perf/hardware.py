"""Scalar hardware rates for one scenario: peaks, achievable fractions, link speeds.

Resolved once per scenario from the catalog (GPU entry + efficiency profile + cluster),
so the vectorized step model reads plain floats.
"""

from __future__ import annotations

from dataclasses import dataclass

from colossim import catalog
from colossim.errors import ColossimError
from colossim.scenario.cluster import ClusterSpec
from colossim.scenario.training import TrainingSpec

# Fraction of a multi-tier fabric's bandwidth that per-flow ECMP hashing delivers when
# every leaf hashes as many flows as it has uplinks: the expected share of uplinks that
# carry at least one flow, 1 - (1 - 1/n)^n -> 1 - 1/e = 0.632 (balls into bins). NVIDIA
# quotes ~60% for standard Ethernet at Colossus scale (hardware.md 5.3). The network twin
# (colossim.network) simulates this instead of assuming it.
ECMP_FABRIC_FRACTION = 0.632

# Host time to issue one kernel when the GPU cannot run ahead of the CPU
# (CUDA_LAUNCH_BLOCKING=1): PyTorch eager dispatch ~10 us plus cudaLaunchKernel ~5 us and
# the synchronisation round trip (PyTorch profiler traces of eager-mode training).
HOST_LAUNCH_S = 20e-6

# Achievable share of a PCIe x16 link's raw rate for large pinned copies (cudaMemcpyAsync):
# 128b/130b encoding and TLP headers leave ~85% (bandwidthTest: ~26 GB/s on Gen4, ~55 GB/s on Gen5)
HOST_LINK_FRACTION = 0.85


@dataclass(frozen=True, slots=True)
class Hardware:
    gemm_flops: float  # achievable GEMM FLOP/s in the training precision (peak x sustained fraction)
    gemm_flops_bf16: float  # for GEMMs that stay in bf16 under fp8 training (attention, logits)
    peak_flops: float  # dense peak in the training precision (the MFU denominator)
    attn_fwd_flops: float
    attn_bwd_flops: float
    attn_fwd_half_seq: float  # key length at which the fused attention kernel runs at half attn_fwd_flops
    attn_bwd_half_seq: float
    hbm_bytes_s: float  # achievable HBM bandwidth
    hbm_capacity: float
    kernel_overhead_s: float
    gemm_floor_s: float  # fixed GPU time of one GEMM kernel (profile gemm_floor_s, else kernel_overhead_s)
    gemm_half_output: float  # output elements (m*n) at which a GEMM runs at half its peak rate
    gemm_half_k: float  # reduction length at which a GEMM runs at half its peak rate
    scaleup_bytes_s: float  # NVLink busbw per GPU (ring collectives)
    scaleup_latency_s: float
    scaleout_bytes_s: float  # NIC busbw per GPU
    scaleout_latency_s: float
    all_to_all_fraction: float
    comm_sm_fraction: float  # compute lost while an NVLink-speed collective runs hidden beside it
    comm_sm_fraction_scaleout: float  # the same for a NIC-speed collective (fewer SMs drive fewer bytes/s)
    gpus_per_node: int
    leaf_span_gpus: int  # GPUs reachable without leaving a leaf switch (rail-aware)
    pod_gpus: int
    pod_oversubscription: float
    ecmp_fraction: float  # 1.0 under adaptive routing
    host_bytes_s: float = 0.0  # host-link bandwidth per GPU with every GPU copying at once (0: unknown)
    step_host_s: float = 0.0  # host time between steps (perf/step_costs.py, item 5)
    p2p_exposed_fraction: float = 0.0  # share of an overlapped pipeline exchange left exposed (perf/exposure.py pp_p2p)
    fp8_tn_only: bool = False  # fp8 GEMMs in the TN layout only (Hopper): transposed fp8 copies (perf/layer.py)


def resolve_hardware(cluster: ClusterSpec, training: TrainingSpec,
                     profile: catalog.EfficiencyProfile | None = None) -> Hardware:
    """``profile`` replaces the GPU family's catalog profile (calibration tries candidates)."""
    gpu = catalog.gpu(cluster.gpu)
    if profile is None and cluster.efficiency_profile:
        from colossim.calibration.profile import load_profile

        profile = load_profile(cluster.efficiency_profile, gpu.profile)
    prof = profile or catalog.efficiency_profile(gpu.profile)
    dtype = "fp16" if training.precision == "fp16" else training.precision
    half = "fp16" if training.precision == "fp16" else "bf16"
    attn_fwd, attn_bwd = _attention_fractions(prof, training)
    attn_fwd_half, attn_bwd_half = _attention_half_seqs(prof, training)
    launch = HOST_LAUNCH_S if training.launch_blocking else 0.0
    sw = catalog.switch(cluster.fabric.switch)
    port = cluster.fabric.port_gbps or cluster.nic_gbps_per_gpu
    radix = cluster.fabric.switch_radix or sw.radix_at(port) or max(sw.radix_by_port_gbps.values())
    down_ports = radix // 2 if cluster.fabric.tiers > 1 else radix
    leaf_span = down_ports * cluster.gpus_per_node if cluster.fabric.rail_optimized else down_ports
    return Hardware(
        gemm_flops=_gemm_flops(gpu, prof, dtype),
        gemm_flops_bf16=_gemm_flops(gpu, prof, half),
        peak_flops=gpu.peak_flops(dtype),
        attn_fwd_flops=gpu.peak_flops(half) * attn_fwd,
        attn_bwd_flops=gpu.peak_flops(half) * attn_bwd,
        attn_fwd_half_seq=attn_fwd_half,
        attn_bwd_half_seq=attn_bwd_half,
        hbm_bytes_s=gpu.hbm_bw_tbps * 1e12 * prof.hbm_fraction,
        hbm_capacity=gpu.hbm_bytes,
        kernel_overhead_s=prof.kernel_overhead_s + launch,
        gemm_floor_s=(prof.kernel_overhead_s if prof.gemm_floor_s is None else prof.gemm_floor_s) + launch,
        gemm_half_output=prof.gemm_half_output,
        gemm_half_k=prof.gemm_half_k,
        scaleup_bytes_s=cluster.scaleup_gbps_per_gpu * 1e9 * prof.scaleup_busbw_fraction,
        scaleup_latency_s=prof.scaleup_latency_s,
        scaleout_bytes_s=cluster.nic_gbps_per_gpu / 8 * 1e9 * prof.scaleout_busbw_fraction,
        scaleout_latency_s=prof.scaleout_latency_s,
        all_to_all_fraction=prof.all_to_all_fraction,
        comm_sm_fraction=prof.comm_sm_fraction,
        # SMs a collective occupies scale with the bytes per second it moves (NCCL: ~one SM
        # per channel, each channel moving a few tens of GB/s)
        comm_sm_fraction_scaleout=prof.comm_sm_fraction * min(
            1.0, cluster.nic_gbps_per_gpu / 8 * prof.scaleout_busbw_fraction
            / (cluster.scaleup_gbps_per_gpu * prof.scaleup_busbw_fraction)),
        gpus_per_node=cluster.gpus_per_node,
        leaf_span_gpus=leaf_span,
        pod_gpus=cluster.fabric.pod_gpus or cluster.num_gpus,
        pod_oversubscription=cluster.fabric.top_oversubscription,
        ecmp_fraction=ECMP_FABRIC_FRACTION if cluster.fabric.routing == "ecmp" and cluster.fabric.tiers > 1 else 1.0,
        host_bytes_s=_host_bytes_s(gpu, training),
        step_host_s=prof.step_host_s,
        p2p_exposed_fraction=prof.p2p_exposed_fraction,
        fp8_tn_only=prof.fp8_tn_only,
    )


def _gemm_flops(gpu: catalog.GPUEntry, prof: catalog.EfficiencyProfile, dtype: str) -> float:
    """Sustained large-GEMM FLOP/s in ``dtype``: peak x the family's fraction (bf16's where the
    dtype has none) x the GPU's MAMF scaling."""
    fraction = prof.gemm_max_fraction.get(dtype, prof.gemm_max_fraction["bf16"])
    return gpu.peak_flops(dtype) * fraction * mamf_scale(gpu, prof, dtype) * fitted_gemm_scale(gpu, prof)


def fitted_gemm_scale(gpu: catalog.GPUEntry, prof: catalog.EfficiencyProfile) -> float:
    """What ``gpu``'s published runs say its GEMMs sustain over the reference's share of its own
    peak, where its ceiling is an assumption (:func:`assumed_gemm_ceiling`); 1 elsewhere, and
    where no run on it is published (the profile's ``gpu_gemm_scale``, validation/fit.py)."""
    return prof.gpu_gemm_scale.get(gpu.name, 1.0) if assumed_gemm_ceiling(gpu, prof) else 1.0


def assumed_gemm_ceiling(gpu: catalog.GPUEntry, prof: catalog.EfficiencyProfile) -> bool:
    """Whether ``gpu``'s GEMM ceiling is an assumption: it has no measured MAMF and its dense
    peaks differ from the profile's reference GPU's, so :func:`mamf_scale` can only price it at
    the reference's share of its own peak (GB300; the 500 W H100, whose peak is interpolated),
    times the scale that GPU's own published runs fit (:func:`fitted_gemm_scale`), if any.
    Not so for the reference itself, a GPU with a measured MAMF, or the same silicon at the same
    clocks (H800 against H100)."""
    if prof.reference_gpu is None or gpu.name == prof.reference_gpu or gpu.mamf_tflops is not None:
        return False
    ref = catalog.gpu(prof.reference_gpu)
    return any(gpu.peak_flops(d) != ref.peak_flops(d) for d in ("bf16", "fp8"))


def mamf_scale(gpu: catalog.GPUEntry, prof: catalog.EfficiencyProfile, dtype: str) -> float:
    """How much more (or less) of its peak ``gpu`` sustains in GEMMs than the profile's
    reference GPU: the ratio of their best-shape MAMF shares of peak. Siblings of one family
    differ here (GB200 sustains 0.723 of its 5 PFLOP/s FP8 peak where B200 sustains 0.763 of
    its 4.5: the same dies at a clock its power cap allows, not 11% faster). 1 where either GPU
    has no measured MAMF for the dtype (fp16 reads bf16's)."""
    if gpu.mamf_tflops is None or prof.reference_gpu is None or gpu.name == prof.reference_gpu:
        return 1.0
    ref = catalog.gpu(prof.reference_gpu)
    key = "bf16" if dtype == "fp16" else dtype
    if ref.mamf_tflops is None or key not in gpu.mamf_tflops or key not in ref.mamf_tflops:
        return 1.0
    share = gpu.mamf_tflops[key] * 1e12 / gpu.peak_flops(key)
    return share / (ref.mamf_tflops[key] * 1e12 / ref.peak_flops(key))


# FlashAttention v1 against the FlashAttention-2 class: "around 2x speedup compared to
# FlashAttention" (Dao 2023, arXiv:2307.08691, abstract; measured on A100, forward + backward).
# Left out: how the ratio moves with head dimension and sequence length, and on H100.
FLASH1_RATE = 0.5


def _attention_fractions(prof: catalog.EfficiencyProfile, training: TrainingSpec) -> tuple[float, float]:
    """Forward and backward fractions of peak the fused attention kernel reaches: the
    profile's flash (FlashAttention-2 class) figures, cuDNN's where the profile has them, or
    FlashAttention v1's (``flash1``: FLASH1_RATE of the flash class)."""
    if training.attention_kernel == "flash1":
        return prof.attention_fwd_fraction * FLASH1_RATE, prof.attention_bwd_fraction * FLASH1_RATE
    if training.attention_kernel == "cudnn":
        fwd = prof.attention_cudnn_fwd_fraction or prof.attention_fwd_fraction
        bwd = prof.attention_cudnn_bwd_fraction or prof.attention_bwd_fraction
        return fwd, bwd
    return prof.attention_fwd_fraction, prof.attention_bwd_fraction


# the FlashAttention-class kernels (v2 and v1), which share FlashAttention's own length curve
FLASH_ATTENTION_KERNELS = ("flash", "flash1")


def _attention_half_seqs(prof: catalog.EfficiencyProfile, training: TrainingSpec) -> tuple[float, float]:
    """The key lengths at which the fused attention kernel runs at half its rate: FlashAttention's
    own curve for ``flash``/``flash1`` where the profile measures one (FlashAttention v1 is
    assumed to share FlashAttention-2's shape), else the shared (cuDNN) curve."""
    fwd, bwd = prof.attention_fwd_half_seq, prof.attention_bwd_half_seq
    if training.attention_kernel in FLASH_ATTENTION_KERNELS:
        fwd = fwd if prof.attention_flash_fwd_half_seq is None else prof.attention_flash_fwd_half_seq
        bwd = bwd if prof.attention_flash_bwd_half_seq is None else prof.attention_flash_bwd_half_seq
    return fwd, bwd


def _host_bytes_s(gpu: catalog.GPUEntry, training: TrainingSpec) -> float:
    if gpu.host_link_unidir_gbps is None:
        if training.offload.optimizer or training.offload.activations:
            raise ColossimError(
                f"training.offload needs the GPU's host link, but catalog GPU {gpu.name!r} has no host_link_unidir_gbps; "
                "turn offload off or add the field to the GPU entry",
                field="training.offload", value=training.offload.model_dump(), allowed="a GPU with host_link_unidir_gbps")
        return 0.0
    return gpu.host_link_unidir_gbps * 1e9 * HOST_LINK_FRACTION / gpu.host_link_shared_by
