"""What is trained: the transformer architecture and its parameter count.

Parameter counts follow the layer shapes directly (Megatron-LM SC'21 Eq. 2 is the
special case of a GPT with biases, LayerNorm, learned positions and a 4h FFN):
attention projections, (gated) FFN or mixture of experts, norms, embeddings and the
output layer. What is left out: rotary or ALiBi tables (no parameters), MTP heads
(DeepSeek-V3's 14B multi-token-prediction module is not part of its published 671B).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, model_validator

Activation = Literal["gelu", "relu", "squared_relu", "swiglu", "geglu"]
GATED_ACTIVATIONS = ("swiglu", "geglu")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class MoESpec(_Strict):
    """Mixture of experts in the FFN of every layer after ``first_dense_layers``."""

    num_experts: PositiveInt = Field(description="routed experts per MoE layer")
    top_k: PositiveInt = Field(description="routed experts each token visits")
    expert_ffn_hidden_size: PositiveInt | None = Field(
        default=None, description="FFN width of one expert (default: the model's ffn_hidden_size)"
    )
    num_shared_experts: int = Field(default=0, ge=0, description="always-active experts (DeepSeek)")
    shared_expert_ffn_hidden_size: PositiveInt | None = Field(
        default=None, description="FFN width of a shared expert (default: expert_ffn_hidden_size)"
    )
    first_dense_layers: int = Field(default=0, ge=0, description="leading layers with a dense FFN")
    capacity_factor: float | None = Field(
        default=None, gt=0, description="token capacity per expert (None: dropless routing)"
    )
    max_nodes_per_token: PositiveInt | None = Field(
        default=None,
        description=(
            "node-limited routing: each token goes to experts on at most this many nodes and crosses the NIC "
            "once per node (DeepSeek-V3: 4; its config's topk_group). None: every routed copy travels on its own"
        ),
    )

    @model_validator(mode="after")
    def _top_k_fits(self) -> MoESpec:
        if self.top_k > self.num_experts:
            raise ValueError(f"top_k ({self.top_k}) cannot exceed num_experts ({self.num_experts})")
        return self


class MLASpec(_Strict):
    """Multi-head latent attention (DeepSeek-V2/V3): low-rank compressed Q and KV."""

    q_lora_rank: PositiveInt | None = Field(default=None, description="query compression rank (None: full-rank Q)")
    kv_lora_rank: PositiveInt = Field(description="key/value compression rank")
    qk_nope_head_dim: PositiveInt = Field(description="per-head query/key dimension without RoPE")
    qk_rope_head_dim: PositiveInt = Field(description="per-head decoupled RoPE dimension")
    v_head_dim: PositiveInt = Field(description="per-head value dimension")


class ModelSpec(_Strict):
    """A decoder-only transformer. Field names are the scenario file's."""

    name: str = Field(default="custom", description="a label for reports")
    num_layers: PositiveInt = Field(le=100_000)
    hidden_size: PositiveInt = Field(le=1 << 22)
    num_heads: PositiveInt = Field(le=1 << 16)
    num_kv_heads: PositiveInt | None = Field(default=None, description="GQA/MQA groups (default: num_heads, i.e. MHA)")
    head_dim: PositiveInt | None = Field(default=None, description="default: hidden_size / num_heads")
    ffn_hidden_size: PositiveInt = Field(le=1 << 24)
    ffn_activation: Activation = "gelu"
    vocab_size: PositiveInt = Field(le=1 << 26)
    tied_embeddings: bool = False
    moe: MoESpec | None = None
    mla: MLASpec | None = None
    linear_bias: bool = Field(default=False, description="biases in the linear layers (GPT-2/3, BLOOM)")
    norm: Literal["layernorm", "rmsnorm"] = "rmsnorm"
    position_embedding: Literal["rope", "learned", "alibi"] = "rope"
    max_position_embeddings: PositiveInt | None = Field(
        default=None, description="rows of a learned position table (default: the training seq_len)"
    )
    embedding_norm: bool = Field(default=False, description="a norm after the word embedding (BLOOM)")
    parallel_block: bool = Field(default=False, description="attention and FFN in parallel (PaLM, GPT-J)")
    published_params_b: float | None = Field(default=None, description="the published parameter count, in billions")
    mtp_depth: int = Field(
        default=0, ge=0, le=16,
        description=(
            "multi-token-prediction modules trained beside the model (DeepSeek-V3: 1), each one more transformer "
            "layer and one more pass through the shared output head on the last pipeline stage; "
            "not counted in the parameter total or the MFU numerator"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _from_hf_config(cls, data: Any) -> Any:
        """``hf_config: path/to/config.json``: the fields come from a Hugging Face config."""
        if isinstance(data, dict) and "hf_config" in data:
            from colossim.errors import ColossimError
            from colossim.scenario.hf import fields_from_hf

            try:
                return fields_from_hf(data)
            except ColossimError as exc:  # the loader prefixes "model: "
                raise ValueError(str(exc).removeprefix("model.")) from None
        return data

    @model_validator(mode="after")
    def _check_shapes(self) -> ModelSpec:
        kv = self.num_kv_heads or self.num_heads
        if self.num_heads % kv:
            raise ValueError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({kv})"
            )
        if self.head_dim is None and self.mla is None and self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_heads ({self.num_heads}) "
                "unless head_dim is given"
            )
        if self.moe is not None and self.moe.first_dense_layers > self.num_layers:
            raise ValueError("moe.first_dense_layers cannot exceed num_layers")
        return self

    # ---- derived shapes -------------------------------------------------------------
    @property
    def kv_heads(self) -> int:
        return self.num_kv_heads or self.num_heads

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads

    @property
    def is_gated(self) -> bool:
        return self.ffn_activation in GATED_ACTIVATIONS

    @property
    def num_moe_layers(self) -> int:
        return 0 if self.moe is None else self.num_layers - self.moe.first_dense_layers

    @property
    def num_dense_layers(self) -> int:
        return self.num_layers - self.num_moe_layers

    @property
    def expert_ffn(self) -> int:
        assert self.moe is not None
        return self.moe.expert_ffn_hidden_size or self.ffn_hidden_size

    @property
    def shared_expert_ffn(self) -> int:
        assert self.moe is not None
        return self.moe.shared_expert_ffn_hidden_size or self.expert_ffn

    # ---- parameter counts -------------------------------------------------------------
    def attention_params(self, *, biases: bool = True) -> int:
        """Q, K, V and output projections (plus biases and MLA's norms unless ``biases=False``:
        the matmul weights alone, which is what FLOP counts use)."""
        h = self.hidden_size
        if self.mla is not None:
            m, a = self.mla, self.num_heads
            qk = m.qk_nope_head_dim + m.qk_rope_head_dim
            norm = 1 if biases else 0
            q = h * a * qk if m.q_lora_rank is None else h * m.q_lora_rank + norm * m.q_lora_rank + m.q_lora_rank * a * qk
            kv = h * (m.kv_lora_rank + m.qk_rope_head_dim) + norm * m.kv_lora_rank
            kv += m.kv_lora_rank * a * (m.qk_nope_head_dim + m.v_head_dim)
            return q + kv + a * m.v_head_dim * h
        q_out = self.num_heads * self.dim_head
        kv_out = 2 * self.kv_heads * self.dim_head
        weights = h * (q_out + kv_out) + q_out * h
        bias = (q_out + kv_out + h) if self.linear_bias and biases else 0
        return weights + bias

    def ffn_params(self, width: int, *, biases: bool = True) -> int:
        """One dense FFN (or one expert) of the given width."""
        h = self.hidden_size
        matrices = 3 if self.is_gated else 2
        up_out = (2 if self.is_gated else 1) * width
        bias = (up_out + h) if self.linear_bias and biases else 0
        return matrices * h * width + bias

    def norm_params_per_layer(self) -> int:
        per_norm = 2 * self.hidden_size if self.norm == "layernorm" else self.hidden_size
        return (1 if self.parallel_block else 2) * per_norm

    def router_params(self) -> int:
        return 0 if self.moe is None else self.hidden_size * self.moe.num_experts

    def moe_ffn_params(self, *, active: bool, biases: bool = True) -> int:
        """FFN parameters of one MoE layer: all experts, or those one token uses."""
        assert self.moe is not None
        routed = self.moe.top_k if active else self.moe.num_experts
        shared = self.moe.num_shared_experts * self.ffn_params(self.shared_expert_ffn, biases=biases)
        return routed * self.ffn_params(self.expert_ffn, biases=biases) + shared + self.router_params()

    def layer_params(self, *, moe_layer: bool, active: bool = False) -> int:
        ffn = self.moe_ffn_params(active=active) if moe_layer else self.ffn_params(self.ffn_hidden_size)
        return self.attention_params() + ffn + self.norm_params_per_layer()

    def embedding_params(self, seq_len: int | None = None) -> int:
        """Word embedding, learned positions, the final norm and (if untied) the output layer."""
        h = self.hidden_size
        n = self.vocab_size * h
        if self.position_embedding == "learned":
            rows = self.max_position_embeddings or seq_len
            if rows is None:
                raise ValueError("a learned position table needs max_position_embeddings or a seq_len")
            n += rows * h
        n += 2 * h if self.norm == "layernorm" else h  # final norm
        if self.embedding_norm:
            n += 2 * h if self.norm == "layernorm" else h
        if not self.tied_embeddings:
            n += self.vocab_size * h
        return n

    def total_params(self, seq_len: int | None = None) -> int:
        dense = self.num_dense_layers * self.layer_params(moe_layer=False)
        moe = self.num_moe_layers * self.layer_params(moe_layer=True) if self.moe else 0
        return dense + moe + self.embedding_params(seq_len)

    def active_params(self, seq_len: int | None = None) -> int:
        """Parameters one token passes through (equals total_params for dense models)."""
        dense = self.num_dense_layers * self.layer_params(moe_layer=False)
        moe = self.num_moe_layers * self.layer_params(moe_layer=True, active=True) if self.moe else 0
        return dense + moe + self.embedding_params(seq_len)
