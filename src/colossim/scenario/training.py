"""How it trains: batch, precision, memory savers, and the run's software behaviour."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt

Precision = Literal["bf16", "fp16", "fp8"]
Recompute = Literal["none", "selective", "full"]
RECOMPUTE_CODES: dict[str, int] = {"none": 0, "selective": 1, "full": 2}


class TrainingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # Upper bounds keep every count inside int64 arithmetic with room to spare.
    seq_len: PositiveInt = Field(le=1 << 24, description="tokens per sequence")
    global_batch_size: PositiveInt = Field(le=1 << 32, description="sequences per optimizer step")
    micro_batch_size: PositiveInt = Field(default=1, le=1 << 20, description="sequences per forward/backward pass")
    precision: Precision = Field(default="bf16", description="GEMM precision; fp8 keeps bf16 master weights")
    recompute: Recompute = Field(default="none", description="activation recomputation")
    zero_stage: int = Field(default=1, ge=0, le=3, description="0 none, 1 optimizer, 2 +gradients, 3 +weights (FSDP)")
    total_tokens: PositiveFloat | None = Field(default=None, le=1e18, description="tokens to train (gives days to train)")
    goodput: float | None = Field(default=None, gt=0, le=1, description=(
        "useful fraction of wall time for days to train, energy and cost (default: the reliability model's ETTR)"))
    attention_kernel: Literal["flash", "unfused"] = Field(
        default="flash",
        description="flash: fused IO-aware attention (FlashAttention, cuDNN); unfused: explicit QK^T, softmax, AV (Megatron before 2023)",
    )
    dropout: bool = Field(default=False, description="dropout layers (GPT-2/3-era training)")
    overlap_dp_comm: bool = Field(default=True, description="overlap gradient reduction / parameter gathering with compute")
    tp_overlap: Literal["none", "backward", "full"] = Field(
        default="backward",
        description=(
            "tensor-parallel collectives hidden behind GEMMs: none (Megatron-LM 2021), backward (the input-gradient "
            "all-reduce/all-gather runs beside the weight-gradient GEMM: Megatron-LM's default since 2022), full "
            "(forward too, chunked: Transformer Engine userbuffers, async TP)"
        ),
    )
    overlap_pp_comm: bool = Field(default=True, description="asynchronous pipeline send/receive")
    pipeline_p2p_batched: bool = Field(
        default=True,
        description=(
            "a pipeline exchange sends and receives at once (Megatron batch_isend_irecv); false: the send and "
            "the receive run one after the other (DeepSpeed PipelineEngine's blocking send/recv instructions)"
        ),
    )
    launch_blocking: bool = Field(
        default=False, description="CUDA_LAUNCH_BLOCKING=1: every kernel waits for the host to launch it (no run-ahead)"
    )
    grad_reduce_in_fp32: bool = Field(default=False, description="reduce gradients in fp32 (4 bytes) rather than the training dtype")
    grad_accumulation_fusion: bool = Field(
        default=True,
        description=(
            "the weight-gradient GEMM accumulates straight into the main gradient buffer (Megatron-LM's "
            "--gradient-accumulation-fusion, 2022 on; Transformer Engine); false: a separate add per parameter "
            "and micro-batch (Megatron-LM 2021, Megatron-DeepSpeed)"
        ),
    )

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.global_batch_size
