"""What every training step pays once, outside the micro-batch loop.

:func:`once_per_step_s` is the step's ``optimizer`` term: everything between the last
micro-batch's backward pass and the next step's first forward pass, per GPU.

1. **Optimizer pass** (:func:`colossim.perf.exposure.optimizer_s`): a memory-bound pass
   over the GPU's optimizer shard (gradient norm, clip scaling, fused Adam, the fp32 master
   weights copied back to the bf16 model weights: 46 bytes per parameter) plus zeroing and
   scaling of the local main-gradient buffer.
2. **fp32 master gradients**: where the main gradient is kept in the training dtype
   (``grad_reduce_in_fp32`` off), Megatron's Float16OptimizerWithFloat16Params copies it
   into the fp32 master gradient first (``_copy_model_grads_to_main_grads``): read 2, write
   4 bytes per parameter of the shard.
3. **Kernel chains**: a fused optimizer (apex/TE ``multi_tensor_applier``) launches one
   kernel per group of tensors (apex's depth-to-max-tensors: 110 for the one-list L2 norm,
   64 for the two-list scale, 36 for Adam's four lists); an unfused one launches about
   ``UNFUSED_KERNELS_PER_TENSOR`` kernels per parameter tensor (torch.optim's per-tensor
   Adam: exp_avg, exp_avg_sq, sqrt, add, div, addcdiv, plus the norm and the scale).
   Each launch costs the GPU family's per-kernel overhead (more when the host cannot
   run ahead: ``launch_blocking``).
4. **Model-parallel reductions of scalars**: the global gradient norm is all-reduced over
   the model-parallel group (tensor x pipeline; every rank with a distributed optimizer:
   Megatron's ``clip_grad_norm_fp32``), fp16 loss scaling all-reduces the found-inf flag
   over the same group, and the loss is averaged over the data-parallel group for
   logging. Each is a 4-byte all-reduce: pure latency, 2(k-1) NVLink steps + 2 log2(nodes)
   network steps (perf/comm.py).
5. **Host synchronisation and data loading**: the step ends in host reads (the loss and
   the gradient norm for logging, the fp16 skip decision), so the GPU queue drains; the next
   step starts when the host has fetched the batch, broadcast it over the tensor-parallel
   group (Megatron ``broadcast_data``) and issued the first kernels again. The host part is
   the GPU family's ``step_host_s`` (efficiency profile: fitted once per family inside
   bounds from published traces), the broadcast is priced like any collective.

The latency tail of the gradient buckets (the last bucket's reduction can overlap
nothing) is priced in :func:`colossim.perf.exposure.dp_exposed` from
:func:`bucket_params`. Left out: learning-rate schedule and logging kernels (microseconds),
checkpoint writes (colossim.reliability prices them), data-loader stalls (assumed hidden
by its worker processes).
"""

from __future__ import annotations

import numpy as np

from colossim.perf import comm, experts, exposure
from colossim.perf.hardware import Hardware
from colossim.scenario.training import TrainingSpec

# apex/csrc multi_tensor_apply.cuh: depth_to_max_tensors = {110, 64, 48, 36, 30}
FUSED_TENSORS_PER_LAUNCH = {"norm": 110.0, "scale": 64.0, "adam": 36.0}
UNFUSED_KERNELS_PER_TENSOR = 10.0
MASTER_GRAD_COPY_BYTES = 6.0  # read the bf16/fp16 main gradient (2), write the fp32 master gradient (4)
SCALAR_ALL_REDUCES_MP = 1.0  # the gradient norm (clip_grad_norm_fp32)
SCALAR_ALL_REDUCES_FP16 = 1.0  # the found-inf flag of dynamic loss scaling
TOKEN_BYTES = 8.0  # int64 token ids; labels, loss mask and position ids double that


def param_tensors(n_layers: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Parameter tensors a stage holds: per layer as in exposure.PARAM_TENSORS_PER_LAYER,
    plus the embedding (and position embedding) and the final norm and output layer."""
    return n_layers * exposure.PARAM_TENSORS_PER_LAYER + np.where(first, 2.0, 0.0) + np.where(last, 3.0, 0.0)


def optimizer_kernels(tensors: np.ndarray, training: TrainingSpec) -> np.ndarray:
    if training.optimizer == "unfused":
        return tensors * UNFUSED_KERNELS_PER_TENSOR
    return np.sum([np.ceil(tensors / per) for per in FUSED_TENSORS_PER_LAUNCH.values()], axis=0)


def scalar_syncs_s(training: TrainingSpec, tp, pp, cp, dp, zero, coll: comm.AnalyticCollectives) -> np.ndarray:
    """Latency of the step's scalar all-reduces (norm, found-inf, loss)."""
    one = np.ones_like(tp)
    mp = tp * pp
    world = tp * pp * cp * dp
    norm_group = np.where(zero >= 1, world, mp)
    count = SCALAR_ALL_REDUCES_MP + (SCALAR_ALL_REDUCES_FP16 if training.precision == "fp16" else 0.0)
    norm = count * coll.all_reduce(4.0 * one, norm_group, one, "dp")
    loss = coll.all_reduce(4.0 * one, dp * cp, tp, "dp")
    return norm + loss


def batch_broadcast_s(training: TrainingSpec, tp, mbs, n_micro, coll: comm.AnalyticCollectives) -> np.ndarray:
    """Megatron's broadcast_data: tensor-parallel rank 0 sends each micro-batch's tokens,
    labels, loss mask and position ids to the other ranks of its group."""
    size = 4.0 * TOKEN_BYTES * training.seq_len * mbs
    return n_micro * coll.all_reduce(size, tp, np.ones_like(tp), "tp") * 0.5


def once_per_step_s(training: TrainingSpec, hw: Hardware, coll: comm.AnalyticCollectives, dense_p, expert_p,
                    tensors, tp, pp, cp, dp, ep, zero, mbs, n_micro,
                    optimizer_pass_s: np.ndarray | None = None, etp: np.ndarray | None = None) -> np.ndarray:
    """The step's ``optimizer`` term: items 1-5 of the module docstring.

    ``optimizer_pass_s`` replaces item 1 where the optimizer runs elsewhere (host offload,
    perf/offload.py)."""
    dp_cp = dp * cp
    edp = experts.expert_dp(tp, cp, dp, ep, etp)
    opt = (exposure.optimizer_s(dense_p, expert_p, dp_cp, ep, zero, training, hw, edp)
           if optimizer_pass_s is None else optimizer_pass_s)
    shard = np.where(zero >= 1, dense_p / dp_cp + expert_p / edp, dense_p + expert_p)
    master = 0.0 if training.grad_reduce_in_fp32 else MASTER_GRAD_COPY_BYTES * shard / hw.hbm_bytes_s
    kernels = optimizer_kernels(tensors, training) * hw.kernel_overhead_s
    syncs = scalar_syncs_s(training, tp, pp, cp, dp, zero, coll)
    data = batch_broadcast_s(training, tp, mbs, n_micro, coll)
    return opt + master + kernels + syncs + data + hw.step_host_s


# Megatron-Core's DistributedDataParallel when bucket_size is unset (distributed_data_parallel.py
# at 307dcf3, line 57): max(40,000,000, 1,000,000 x data-parallel size) parameters, "larger DP
# sizes need larger buckets" so that each rank's NCCL ring chunk stays bandwidth-bound. The size
# is the data-parallel group's without context parallelism (get_data_parallel_world_size()).
MCORE_BUCKET_MIN_PARAMS = 4.0e7
MCORE_BUCKET_PARAMS_PER_DP_RANK = 1.0e6


def megatron_core_bucket_params(dp: np.ndarray | int) -> np.ndarray:
    """Megatron-Core's bucket when ``--ddp-bucket-size`` is unset, at data-parallel size ``dp``."""
    return np.maximum(MCORE_BUCKET_MIN_PARAMS, MCORE_BUCKET_PARAMS_PER_DP_RANK * np.asarray(dp, dtype=float))


def bucket_params(training: TrainingSpec, layer_params: np.ndarray, dp: np.ndarray | int = 1) -> np.ndarray:
    """Parameters in the last gradient bucket (the one whose reduction nothing hides).
    At 100k GPUs Megatron-Core's default bucket holds over 10 billion parameters: the
    whole reduction of most models is one bucket, and nothing hides it."""
    ones = np.ones_like(layer_params, dtype=float)
    if training.dp_bucket_params is None:  # FSDP: one transformer block at a time
        return np.asarray(layer_params, dtype=float)
    if training.dp_bucket_params == "megatron-core":
        return megatron_core_bucket_params(dp) * ones
    return np.minimum(training.dp_bucket_params, 1e30) * ones
