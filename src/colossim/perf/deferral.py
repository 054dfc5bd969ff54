"""The output layer's weight gradient deferred to the pipeline flush (``training.defer_output_wgrad``).

Megatron-Core's ``defer_embedding_wgrad_compute`` (megatron/core/model_parallel_config.py,
added in f16be74, 2024-04; ``wgrad_deferral_limit`` in dadb970, 2024-07): on the last pipeline
stage the output layer's backward computes only its input gradient and keeps the layer's
input and output gradient; ``finish_embedding_wgrad_compute`` (pipeline_parallel/schedules.py)
runs the kept weight-gradient GEMMs after the stage's last backward, before
``finalize_model_grads``, while the earlier stages still drain. The first
``wgrad_deferral_limit`` micro-batches are deferred (0: all of them;
tensor_parallel/layers.py: a micro-batch is kept while the buffer holds fewer than the limit),
the rest compute their weight gradient in place.

Priced here:
- per micro-batch, the last stage's backward loses the output layer's weight-gradient GEMM
  (one of its three logits GEMMs, perf/layer.py ``logits_s``) for the deferred share k/m of
  the m micro-batches (the stage's mean per-micro-batch time: where the last stage paces the
  pipeline only while it defers, the pace is slightly underestimated);
- after the last stage's final backward, the k deferred GEMMs run while the other stages
  finish the drain: on 1F1B the last rank then idles for the other stages' backward of one
  micro-batch (divided by vpp when interleaved: the last backward through rank pp-1 is its
  first chunk's), and only what exceeds that idle time is exposed;
- memory: the last stage keeps each deferred micro-batch's output gradient (bf16 logits'
  gradient, tokens x vocab / tp) and the layer's input (sequence-parallel shard).

Megatron-Core refuses the option without pipeline parallelism and without gradient-accumulation
fusion (model_parallel_config.py __post_init__): colossim prices it only where pp > 1 and the
schedule is 1F1B (zero-bubble already moves every weight gradient into the drain; DualPipe is
not Megatron's) and the training spec refuses it without gradient-accumulation fusion.
Left out: the all-gather of the kept input under sequence parallelism (pipelined with the
GEMMs in ``drain_embedding_wgrad_compute``; the first one is exposed, a few ms at most).
"""

from __future__ import annotations

import numpy as np

from colossim.perf.layer import ACT_BYTES, Shapes
from colossim.scenario.model import ModelSpec
from colossim.scenario.parallel import SCHEDULE_CODES
from colossim.scenario.training import TrainingSpec

# the schedules the deferral is priced on (with pp > 1): zero-bubble already moves every weight
# gradient into the drain, and DualPipe is not Megatron's
PRICED_SCHEDULES = ("1f1b",)


def deferred_micro_batches(training: TrainingSpec, pp: np.ndarray, schedule: np.ndarray,
                           n_micro: np.ndarray) -> np.ndarray:
    """Micro-batches whose output-layer weight gradient waits for the flush (0 where none)."""
    if not training.defer_output_wgrad:
        return np.zeros(np.shape(pp))
    applies = (pp > 1) & np.isin(schedule, [SCHEDULE_CODES[name] for name in PRICED_SCHEDULES])
    limit = training.wgrad_deferral_limit
    k = n_micro if limit == 0 else np.minimum(n_micro, limit)
    return np.where(applies, k, 0).astype(float)


def per_micro_batch_s(wgrad_gemm_s: np.ndarray, heads: float, deferred: np.ndarray, n_micro: np.ndarray) -> np.ndarray:
    """What the last stage's mean per-micro-batch backward sheds."""
    return heads * wgrad_gemm_s * deferred / np.maximum(n_micro, 1)


def exposed_s(wgrad_gemm_s: np.ndarray, heads: float, deferred: np.ndarray, drain_idle_s: np.ndarray) -> np.ndarray:
    """The deferred GEMMs beyond the last rank's idle time in the drain."""
    return np.maximum(heads * wgrad_gemm_s * deferred - drain_idle_s, 0.0)


def drain_idle_s(first_bwd_s: np.ndarray, middle_bwd_s: np.ndarray, pp: np.ndarray, vpp: np.ndarray) -> np.ndarray:
    """The last rank's wait for stages 0..pp-2 to finish the last micro-batch's backward."""
    return (first_bwd_s + np.maximum(pp - 2, 0) * middle_bwd_s) / vpp


def buffer_bytes(model: ModelSpec, sh: Shapes, tp: np.ndarray, deferred: np.ndarray) -> np.ndarray:
    """The last stage's kept output gradients and inputs of the deferred micro-batches."""
    heads = 1.0 + model.mtp_depth
    per_micro = ACT_BYTES * sh.tokens * (model.vocab_size / tp + model.hidden_size / sh.sp_div)
    return heads * deferred * per_micro
