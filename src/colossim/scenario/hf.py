"""Models from Hugging Face ``config.json`` files, read offline.

``model: {hf_config: path/to/config.json}`` in a scenario (other model fields beside it
override what the file says) and ``colossim catalog import-hf`` both come here. The file's
``model_type`` picks the reading:

- Llama-style dense decoders (llama, mistral, qwen2, qwen3, gemma, gemma2, ...): SwiGLU
  (GeGLU for Gemma), RMSNorm, RoPE, grouped-query attention;
- mixtral: ``num_local_experts`` experts of ``intermediate_size``, ``num_experts_per_tok``;
- qwen2_moe / qwen3_moe: ``num_experts`` of ``moe_intermediate_size`` (plus one shared
  expert of ``shared_expert_intermediate_size`` in Qwen2-MoE);
- deepseek_v2 / deepseek_v3: multi-head latent attention (``q_lora_rank``, ``kv_lora_rank``,
  ...), ``n_routed_experts`` + ``n_shared_experts``, the first ``first_k_dense_replace``
  layers dense;
- gpt_neox: LayerNorm, biases, GELU, parallel attention and FFN (``use_parallel_residual``).

Left out (no effect on the step model's shapes, or not representable): attention-only
biases (Qwen2's q/k/v biases), sliding windows, multi-token-prediction heads (DeepSeek-V3's
MTP module, as in its published 671B), Qwen2-MoE's shared-expert gate (``hidden_size``
parameters a layer), GPT-NeoX's second LayerNorm in a parallel block. An architecture not
listed is read Llama-style when it has the keys for it; otherwise the error names the keys
it is missing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from colossim.errors import ColossimError

DENSE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
LLAMA_STYLE = ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "phi3",
               "granite", "internlm2", "yi", "starcoder2")
MOE_KEYS = {
    "mixtral": ("num_local_experts", "num_experts_per_tok"),
    "qwen2_moe": ("num_experts", "num_experts_per_tok", "moe_intermediate_size", "shared_expert_intermediate_size"),
    "qwen3_moe": ("num_experts", "num_experts_per_tok", "moe_intermediate_size"),
    "deepseek_v2": ("n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", "kv_lora_rank",
                    "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"),
    "deepseek_v3": ("n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", "kv_lora_rank",
                    "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"),
}
KNOWN = (*LLAMA_STYLE, *MOE_KEYS, "gpt_neox")
FIELD = "model.hf_config"


def read_config(path: str | Path) -> dict[str, Any]:
    """The parsed ``config.json`` (a mapping), or a one-line error: read through the input gate
    (a file, at most its size, UTF-8); the fields colossim reads are checked by :func:`_int`."""
    from colossim import gate

    p = Path(path)
    if not p.exists():
        raise ColossimError(f"{FIELD}: file not found: {p}", field=FIELD, value=str(p))
    text = gate.read_text(p, FIELD)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ColossimError(f"{FIELD}: {p} is not JSON ({exc})", field=FIELD, value=str(p)) from None
    except RecursionError:
        raise ColossimError(f"{FIELD}: {p} is nested too deeply", field=FIELD, value=str(p)) from None
    if not isinstance(data, dict):
        raise ColossimError(f"{FIELD}: {p} must hold a JSON object", field=FIELD, value=str(p))
    if isinstance(data.get("text_config"), dict):  # multimodal wrappers keep the decoder here
        data = {**data["text_config"], "model_type": data["text_config"].get("model_type", data.get("model_type"))}
    return data


def _int(c: dict[str, Any], key: str, default: Any = None) -> int:
    """A count from the config: a whole number (``4096`` or ``4096.0``) within 2**53, never
    true/false, NaN, a list or text (int() read ``true`` as 1 and failed on the rest with a
    traceback)."""
    value = c.get(key, default)
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole or abs(value) > 2**53:
        raise ColossimError(f"{FIELD}: {key}: {_shown(value)} is not allowed; must be a whole number",
                            field=f"{FIELD}.{key}", value=value, allowed="a whole number")
    return int(value)


def _shown(value: Any) -> str:
    """A config value as the JSON file writes it (true, NaN, "x")."""
    return json.dumps(value)[:80]


def _flag(c: dict[str, Any], key: str, default: bool) -> bool:
    value = c.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ColossimError(f"{FIELD}: {key}: {_shown(value)} is not allowed; must be true or false",
                            field=f"{FIELD}.{key}", value=value, allowed="true or false")
    return value


def model_fields(config: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    """ModelSpec fields from a Hugging Face config mapping."""
    kind = str(config.get("model_type") or "")
    needed = DENSE_KEYS + MOE_KEYS.get(kind, ())
    if kind == "deepseek_v3" or kind == "deepseek_v2":
        needed = tuple(k for k in needed if k != "intermediate_size") + ("intermediate_size",)
    missing = [k for k in needed if config.get(k) is None]
    if missing:
        what = f"model_type {kind!r}" if kind in KNOWN else (
            f"model_type {kind!r} is not a known architecture (known: {', '.join(KNOWN)}); read Llama-style, it")
        raise ColossimError(f"{FIELD}: {what} is missing the keys {', '.join(missing)}", field=FIELD,
                            value=kind, allowed=", ".join(needed))
    c = config
    label = name or str(c.get("_name_or_path") or (c.get("architectures") or [kind])[0])
    out: dict[str, Any] = {
        "name": label,
        "num_layers": _int(c, "num_hidden_layers"),
        "hidden_size": _int(c, "hidden_size"),
        "num_heads": _int(c, "num_attention_heads"),
        "num_kv_heads": _int(c, "num_key_value_heads") if c.get("num_key_value_heads") else _int(c, "num_attention_heads"),
        "ffn_hidden_size": _int(c, "intermediate_size"),
        "vocab_size": _int(c, "vocab_size"),
        "tied_embeddings": _flag(c, "tie_word_embeddings", kind.startswith("gemma")),
        "ffn_activation": "geglu" if kind.startswith("gemma") else "swiglu",
        "norm": "rmsnorm",
        "position_embedding": "rope",
    }
    if c.get("head_dim"):
        out["head_dim"] = _int(c, "head_dim")
    if kind == "gpt_neox":
        out.update(ffn_activation="gelu", norm="layernorm", linear_bias=True,
                   parallel_block=_flag(c, "use_parallel_residual", True), num_kv_heads=out["num_heads"])
    elif kind == "mixtral":
        out["moe"] = {"num_experts": _int(c, "num_local_experts"), "top_k": _int(c, "num_experts_per_tok")}
    elif kind in ("qwen2_moe", "qwen3_moe"):
        out["moe"] = _qwen_moe(c, kind)
    elif kind in ("deepseek_v2", "deepseek_v3"):
        out["moe"] = {"num_experts": _int(c, "n_routed_experts"), "top_k": _int(c, "num_experts_per_tok"),
                      "expert_ffn_hidden_size": _int(c, "moe_intermediate_size"),
                      "num_shared_experts": _int(c, "n_shared_experts") if c.get("n_shared_experts") else 0,
                      "first_dense_layers": _int(c, "first_k_dense_replace") if c.get("first_k_dense_replace") else 0}
        out["mla"] = {"q_lora_rank": c.get("q_lora_rank"), "kv_lora_rank": _int(c, "kv_lora_rank"),
                      "qk_nope_head_dim": _int(c, "qk_nope_head_dim"), "qk_rope_head_dim": _int(c, "qk_rope_head_dim"),
                      "v_head_dim": _int(c, "v_head_dim")}
        out.pop("head_dim", None)
    return out


def _qwen_moe(c: dict[str, Any], kind: str) -> dict[str, Any]:
    step = _int(c, "decoder_sparse_step") if c.get("decoder_sparse_step") else 1
    layers = c.get("mlp_only_layers") or []
    if not isinstance(layers, list):
        raise ColossimError(f"{FIELD}: mlp_only_layers: {_shown(layers)} is not allowed; must be a list of layer numbers",
                            field=f"{FIELD}.mlp_only_layers", value=layers, allowed="a list of layer numbers")
    dense = sorted(_int({"mlp_only_layers": i}, "mlp_only_layers") for i in layers)
    if step != 1 or dense != list(range(len(dense))):
        raise ColossimError(f"{FIELD}: decoder_sparse_step {step} and mlp_only_layers {dense} put dense layers "
                            "between MoE layers; colossim models leading dense layers only (moe.first_dense_layers)",
                            field=FIELD, value=kind)
    moe: dict[str, Any] = {"num_experts": _int(c, "num_experts"), "top_k": _int(c, "num_experts_per_tok"),
                           "expert_ffn_hidden_size": _int(c, "moe_intermediate_size"), "first_dense_layers": len(dense)}
    if kind == "qwen2_moe" and c.get("shared_expert_intermediate_size"):
        moe.update(num_shared_experts=1, shared_expert_ffn_hidden_size=_int(c, "shared_expert_intermediate_size"))
    return moe


def default_name(path: str | Path) -> str:
    """A label from the path: the folder of a ``config.json`` (a Hub snapshot is named after
    its model), else the file's stem."""
    p = Path(path)
    return (p.absolute().parent.name or p.stem) if p.name == "config.json" else p.stem


def fields_from_hf(body: dict[str, Any]) -> dict[str, Any]:
    """A ``model:`` mapping with ``hf_config``: the file's fields, the mapping's own on top."""
    rest = {k: v for k, v in body.items() if k != "hf_config"}
    path = body["hf_config"]
    if not isinstance(path, (str, Path)):
        raise ColossimError(f"{FIELD}: {path!r} is not allowed; give the path of a config.json", field=FIELD,
                            value=path)
    fields = model_fields(read_config(path), name=default_name(path))
    for key in ("moe", "mla"):
        if isinstance(rest.get(key), dict) and isinstance(fields.get(key), dict):
            rest[key] = {**fields[key], **rest[key]}
    return {**fields, **rest}
