"""Context-parallel attention exchange per layer and micro-batch (``training.cp_comm``).

- ``p2p`` (ring attention; Megatron-Core's default --cp-comm-type p2p, Transformer
  Engine's AttnFuncWithCPAndKVP2P): cp - 1 steps; in each, a rank sends its K/V chunk
  (1/cp of the sequence) to the next rank while it computes its queries against the chunk
  it holds, then merges the partial outputs with the running log-sum-exp (fp32: read the
  accumulator and the step's output, write the accumulator). A step's send hides behind
  its attention only if the attention is longer; each step runs its own kernels (two
  half-chunks for the load-balanced split). The backward sends K/V and their gradients
  (twice the bytes) and accumulates dQ in fp32.
- ``all-gather`` (Llama 3, Dubey et al. 2024 Sec. 3.3.2): K and V are all-gathered before
  attention; only the local chunk's attention can run beside the gather. The backward
  gathers again and reduce-scatters the K/V gradients.

At short sequences the per-step attention is short, so the exchange, the merge traffic
and the kernel launches stay exposed: what makes CP a poor choice below ~16k tokens.
Short chunks also slow the attention kernels themselves: layer.attention_core_s prices
a kernel by the keys it sweeps (the profile's attention_half_seq).
"""

from __future__ import annotations

import numpy as np

from colossim.perf import comm
from colossim.perf.exposure import overlapped
from colossim.perf.layer import ACT_BYTES, LayerTimes, Shapes, head_dims
from colossim.scenario.model import ModelSpec
from colossim.scenario.training import TrainingSpec

MERGE_BYTES_PER_VALUE = 12.0  # fp32 accumulator read + step output read + accumulator write
DQ_BYTES_PER_VALUE = 8.0  # fp32 dQ accumulator read + write


def cp_exposed_s(model: ModelSpec, training: TrainingSpec, sh: Shapes, tp: np.ndarray, cp: np.ndarray,
                 t: LayerTimes, coll: comm.AnalyticCollectives) -> np.ndarray:
    """Exposed CP time of one layer and micro-batch (forward + backward)."""
    hw = coll.hw
    d_qk, d_v = head_dims(model)
    kv_full = ACT_BYTES * sh.tokens * 2 * sh.kv_heads * d_qk * cp  # K and V of the whole sequence
    sm = hw.comm_sm_fraction
    if training.cp_comm == "all-gather":
        gather = coll.all_gather(kv_full, cp, tp, "cp")
        exposed = overlapped(gather, t.attn_core_fwd / cp, sm) + overlapped(2.0 * gather, t.attn_core_bwd / cp, sm)
        return np.where(cp > 1, exposed, 0.0)
    steps = np.maximum(cp - 1, 0)
    send = coll.p2p(kv_full / cp, tp, "cp")
    fwd_step, bwd_step = t.attn_core_fwd / cp, t.attn_core_bwd / cp
    merge = MERGE_BYTES_PER_VALUE * sh.tokens * sh.heads * d_v / hw.hbm_bytes_s
    dq = DQ_BYTES_PER_VALUE * sh.tokens * sh.heads * d_qk / hw.hbm_bytes_s
    launches = 2.0 * hw.kernel_overhead_s
    fwd = overlapped(send, fwd_step, sm) + merge + launches
    bwd = overlapped(2.0 * send, bwd_step, sm) + dq + launches
    return np.where(cp > 1, steps * (fwd + bwd), 0.0)
