"""How it trains: batch, precision, memory savers, and the run's software behaviour.

The software behaviour (attention kernel, dropout, overlaps, gradient precision, optimizer
implementation, bucket size) comes from a named software stack (``stack``, catalog/data/
stacks.yaml, each value with its source); a field set in the scenario overrides the stack's.
"""

from __future__ import annotations

import math
from typing import Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from colossim.catalog import stacks
from colossim.errors import field_error, unknown_name_error

Precision = Literal["bf16", "fp16", "fp8"]
Recompute = Literal["none", "selective", "full"]
RECOMPUTE_CODES: dict[str, int] = {"none": 0, "selective": 1, "full": 2}
FP8Recipe = Literal["delayed", "current", "mxfp8", "blockwise"]
RecomputeModule = Literal["core_attn", "layernorm", "mla_up_proj", "moe_act", "alternate_mm"]


class OffloadSpec(BaseModel):
    """What lives in host memory (ZeRO-Offload, Ren et al. 2021; activation offloading)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    optimizer: bool = Field(default=False, description="fp32 master weights and Adam states on the CPU (CPU Adam)")
    activations: bool = Field(default=False, description="stored activations copied to host memory and back")


class TrainingSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    # Upper bounds keep every count inside int64 arithmetic with room to spare.
    seq_len: PositiveInt = Field(le=1 << 24, description="tokens per sequence")
    global_batch_size: PositiveInt = Field(le=1 << 32, description="sequences per optimizer step")
    micro_batch_size: PositiveInt = Field(default=1, le=1 << 20, description="sequences per forward/backward pass")
    precision: Precision = Field(default="bf16", description="GEMM precision; fp8 keeps bf16 master weights")
    recompute: Recompute = Field(default="none", description="activation recomputation")
    recompute_modules: tuple[RecomputeModule, ...] = Field(
        default=("core_attn",),
        description=(
            "what selective recompute re-runs (Megatron-Core --recompute-modules): core_attn (the attention core), "
            "layernorm (norm outputs), mla_up_proj (MLA's Q/K/V up-projections), moe_act (the expert activation "
            "function), alternate_mm (torchtitan's op-level selective checkpointing: the layer keeps its input, "
            "the attention kernel's output and every other matmul's output; the rest re-runs). DeepSeek-V3: "
            "[layernorm, mla_up_proj, moe_act]; torchtitan selective_ac_option 'op': [alternate_mm]"
        ),
    )
    zero_stage: int = Field(default=1, ge=0, le=3, description="0 none, 1 optimizer, 2 +gradients, 3 +weights (FSDP)")
    total_tokens: PositiveFloat | None = Field(default=None, le=1e18, description="tokens to train (gives days to train)")
    goodput: float | None = Field(default=None, gt=0, le=1, description=(
        "useful fraction of wall time for days to train, energy and cost (default: the reliability model's ETTR)"))
    stack: str = Field(
        default_factory=stacks.default_stack,
        description="software stack whose documented defaults fill the fields below (see `colossim catalog stacks`)",
    )
    attention_kernel: Literal["flash", "flash1", "cudnn", "unfused"] = Field(
        default="flash",
        description=("flash: fused IO-aware attention (FlashAttention-2 class: Dao's kernels, PyTorch SDPA's flash backend); "
                     "flash1: FlashAttention v1 (Transformer Engine 0.x), half the flash class's rate; "
                     "cudnn: cuDNN's fused flash attention (Transformer Engine's choice on Hopper); "
                     "unfused: explicit QK^T, softmax, AV (Megatron before 2023)"),
    )
    dropout: bool = Field(default=False, description="dropout layers (GPT-2/3-era training)")
    overlap_dp_comm: bool = Field(default=True, description="overlap gradient reduction / parameter gathering with compute")
    tp_overlap: Literal["none", "backward", "forward", "full"] = Field(
        default="backward",
        description=(
            "tensor-parallel collectives hidden behind GEMMs: none (Megatron-LM 2021), backward (the input-gradient "
            "all-reduce/all-gather runs beside the weight-gradient GEMM: Megatron-LM's default since 2022), forward "
            "(the forward's collectives run chunked beside its GEMMs, the backward's synchronously: PyTorch async TP, "
            "torchtitan 2024), full (forward and backward, chunked: Transformer Engine userbuffers)"
        ),
    )
    tp_overlap_rs_sms: float = Field(
        default=16.0, gt=0, le=64,
        description=(
            "tp_overlap full: SMs of the two forward reduce-scatter overlaps (proj_fprop, fc2_fprop), their mean; "
            "a ring_exchange slot counts 1 (Transformer Engine userbuffers; its default 16: pipeline)"
        ),
    )
    tp_overlap_bulk_sms: float = Field(
        default=16.0, gt=0, le=64,
        description=(
            "tp_overlap full: SMs of the four bulk overlaps beside the column-parallel backward GEMMs "
            "(qkv/fc1 dgrad and wgrad), their mean (Transformer Engine's default 16)"
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
    defer_output_wgrad: bool = Field(
        default=False,
        description=(
            "the output layer's weight-gradient GEMMs of the last pipeline stage wait for the pipeline flush and "
            "fill its drain (Megatron-Core defer_embedding_wgrad_compute; needs gradient-accumulation fusion; "
            "priced where pp > 1 on 1F1B)"
        ),
    )
    wgrad_deferral_limit: int = Field(
        default=0, ge=0, le=1 << 20,
        description="defer_output_wgrad: how many micro-batches defer (the first ones; 0: all; Megatron-Core's)",
    )

    reshard_after_forward: bool = Field(
        default=True,
        description=(
            "ZeRO-3/FSDP frees gathered weights after each forward and gathers them again per micro-batch; "
            "false keeps them gathered for the whole step (FSDP2 reshard_after_forward=False): one gather per step"
        ),
    )
    offload: OffloadSpec = Field(default_factory=OffloadSpec, description="optimizer states / activations in host memory")
    ep_overlap: bool = Field(
        default=False,
        description=(
            "expert all-to-all runs beside another micro-batch's compute (Megatron-Core "
            "--overlap-moe-expert-parallel-comm); the dualpipe schedule always does"
        ),
    )
    cp_comm: Literal["p2p", "all-gather"] = Field(
        default="p2p",
        description=(
            "context-parallel K/V exchange: p2p (ring attention, Megatron-Core's default --cp-comm-type) or "
            "all-gather (Llama 3)"
        ),
    )
    moe_dispatch_dtype: Literal["bf16", "fp8"] = Field(
        default="bf16", description="dtype of the forward MoE dispatch (DeepSeek-V3 sends it in fp8)"
    )

    activation_cache_dtype: Literal["bf16", "fp8"] = Field(
        default="bf16",
        description=(
            "dtype of the Linear inputs kept for the backward (a stack field); fp8 (with precision fp8): DeepSeek-V3 "
            "caches them in fp8 for its fp8 weight-gradient GEMMs (the attention output projection's input in 12-bit "
            "E5M6), Transformer Engine 2.x keeps an fp8 Linear's quantized input"
        ),
    )

    fp8_recipe: FP8Recipe = Field(
        default="delayed",
        description=(
            "how fp8 GEMM inputs are scaled (a stack field; precision fp8 only): delayed (Transformer Engine's "
            "DelayedScaling: the scale from an amax history, the amax taken in the casting pass), current "
            "(per-tensor current scaling: an amax pass before the cast; TE Float8CurrentScaling, torchao dynamic "
            "tensorwise), mxfp8 (Blackwell MXFP8: an E8M0 scale per 32 elements, row- and column-wise copies in "
            "one pass), blockwise (DeepSeek-V3's 1x128 / 128x128 tiles, scaled online)"
        ),
    )

    optimizer: Literal["fused", "unfused"] = Field(
        default="fused",
        description="fused: multi-tensor Adam, norm and scaling kernels (apex/TE FusedAdam); unfused: one kernel chain per tensor",
    )
    dp_bucket_params: PositiveFloat | Literal["megatron-core"] | None = Field(
        default="megatron-core",
        description=(
            "parameters per gradient-reduction bucket (the last one cannot overlap); null: one layer (FSDP); "
            "megatron-core: Megatron-Core's default when bucket_size is unset, max(40M, 1M x data-parallel size)"
        ),
    )

    optimizer_state_dtype: Literal["fp32", "bf16"] = Field(
        default="fp32",
        description="dtype of Adam's first and second moments; the master weights stay fp32 (DeepSeek-V3: bf16)",
    )
    cross_entropy: Literal["fp32", "inplace"] = Field(
        default="fp32",
        description=(
            "fp32: logits cast to fp32, the fp32 softmax kept for the backward (Megatron, PyTorch); inplace: one "
            "kernel converts bf16 logits on the fly and overwrites them with their gradient (DeepSeek's HAI-LLM, "
            "Transformer Engine's parallel_cross_entropy): less memory and less HBM traffic"
        ),
    )
    param_gather_dtype: Literal["bf16", "fp8"] = Field(
        default="bf16",
        description=(
            "dtype of the data-parallel parameter all-gathers (distributed optimizer, FSDP); fp8 (with precision "
            "fp8): Megatron-Core --fp8-param-gather / NeMo fp8_params, the transformer layers' weights gathered as "
            "fp8, half the bytes (a stack field)"
        ),
    )
    elementwise_kernels: Literal["fused", "eager"] = Field(
        default="fused",
        description=(
            "fused: one kernel per norm, activation and RoPE (apex/TE/jit fusions, torch.compile); eager: PyTorch "
            "eager composite ops (RMSNorm, SwiGLU, complex RoPE as chains of kernels, each through HBM)"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _fill_from_stack(cls, data: Any) -> Any:
        """Every software field the scenario leaves out takes the stack's value."""
        if not isinstance(data, dict):
            return data
        name = data.get("stack", stacks.default_stack())
        if not isinstance(name, str) or name.lower() not in stacks.stack_names():
            return data  # the field validator reports it
        precision = data.get("precision", "bf16")
        # an unknown precision takes bf16's defaults here so that the field validator names it
        values = stacks.stack(name).values(precision if precision in get_args(Precision) else "bf16")
        return {**values, **data, "stack": name.lower()}

    @model_validator(mode="after")
    def _fp8_cache_needs_fp8(self) -> TrainingSpec:
        if self.activation_cache_dtype == "fp8" and self.precision != "fp8":
            raise ValueError(f"activation_cache_dtype fp8 needs precision fp8 (got {self.precision!r}): "
                             "the cached fp8 inputs feed fp8 weight-gradient GEMMs")
        if self.defer_output_wgrad and not self.grad_accumulation_fusion:
            raise ValueError("defer_output_wgrad needs grad_accumulation_fusion: Megatron-Core refuses it without "
                             "(the deferred GEMMs accumulate into the fp32 main gradient)")
        if self.param_gather_dtype == "fp8" and self.precision != "fp8":
            raise ValueError(f"param_gather_dtype fp8 needs precision fp8 (got {self.precision!r}): "
                             "only fp8 GEMMs consume fp8 weights")
        return self

    @field_validator("dp_bucket_params", mode="before")
    @classmethod
    def _bucket(cls, value: Any) -> Any:
        """One message for every wrong bucket (not pydantic's per-branch union errors)."""
        allowed = "a positive number of parameters, null (one layer: FSDP) or 'megatron-core' (max(40M, 1M x dp))"
        if isinstance(value, str) and value != "megatron-core":
            try:  # YAML 1.1 reads 4.0e7 (no exponent sign) as a string
                value = float(value)
            except ValueError:
                raise field_error("training.dp_bucket_params", value, allowed, choices=["megatron-core"]) from None
        if isinstance(value, bool) or (isinstance(value, int | float) and not (math.isfinite(value) and value > 0)):
            raise field_error("training.dp_bucket_params", value, allowed)
        return value

    @field_validator("stack")
    @classmethod
    def _known_stack(cls, name: str) -> str:
        if name.lower() not in stacks.stack_names():
            raise unknown_name_error("software stack", "training.stack", name, stacks.stack_names())
        return name.lower()

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.global_batch_size
