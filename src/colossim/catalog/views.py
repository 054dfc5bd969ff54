"""Plain-dict views of catalog entries for listings (`colossim catalog`, the HTTP API)."""

from __future__ import annotations

from typing import Any

from colossim.catalog import store
from colossim.errors import unknown_name_error


def summaries(kind: str) -> list[dict[str, Any]]:
    """One short row per entry of a kind: gpus, models, clusters, switches or stacks."""
    if kind == "gpus":
        return [{"name": g.name, "vendor": g.vendor, "bf16_tflops": g.peak_tflops.get("bf16"),
                 "fp8_tflops": g.peak_tflops.get("fp8"), "hbm_gb": g.hbm_gb, "hbm_tbps": g.hbm_bw_tbps,
                 "scaleup_gbps": g.scaleup_unidir_gbps, "domain": g.scaleup_domain, "tdp_w": g.tdp_w,
                 "verified": g.verified} for g in store.gpus()]
    if kind == "models":
        from colossim.scenario.loader import build_model

        rows = []
        for name in store.model_names():
            m = build_model(name)
            rows.append({"name": name, "label": m.name, "layers": m.num_layers, "hidden": m.hidden_size,
                         "heads": m.num_heads, "kv_heads": m.kv_heads,
                         "params_b": round(m.total_params(4096) / 1e9, 2),
                         "active_params_b": round(m.active_params(4096) / 1e9, 2),
                         "moe": f"{m.moe.num_experts}x top-{m.moe.top_k}" if m.moe else None,
                         "published_params_b": m.published_params_b})
        return rows
    if kind == "clusters":
        from colossim.scenario.loader import build_cluster

        rows = []
        for name in store.cluster_names():
            c = build_cluster(name)
            rows.append({"name": name, "label": c.name, "gpu": c.gpu, "num_gpus": c.num_gpus,
                         "gpus_per_node": c.gpus_per_node, "nic_gbps": c.nic_gbps_per_gpu,
                         "fabric": f"{c.fabric.tiers}-tier {c.fabric.switch}, {c.fabric.routing}"})
        return rows
    if kind == "switches":
        return [{"name": s, **{k: v for k, v in store.switch(s).model_dump().items() if k in
                ("vendor", "asic", "technology", "radix_by_port_gbps", "switching_tbps")}}
                for s in store.switch_names()]
    if kind == "stacks":
        from colossim.catalog import stacks

        default = stacks.default_stack()
        rows = []
        for n in stacks.stack_names():
            v = stacks.stack(n).values("bf16")
            rows.append({"name": n, "default": n == default,
                         "attn": v["attention_kernel"], "fp32 grads": v["grad_reduce_in_fp32"],
                         "dp ovl": v["overlap_dp_comm"], "tp ovl": v["tp_overlap"],
                         })
        return rows
    raise ValueError(kind)


def _stack_entry(name: str) -> dict[str, Any]:
    """A software stack with every field's value and the source it comes from."""
    from colossim.catalog import stacks

    st = stacks.stack(name)
    entry: dict[str, Any] = {"name": st.name, "framework": st.framework, "date": st.date, "repo": st.repo,
                             "commit": st.commit}
    for field, body in st.settings.items():
        entry[field] = f"{_plain(body['value'])}  (source: {body['source']})"
    return entry


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):  # by precision
        return ", ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    return str(value)


def find_entry(name: str) -> tuple[str, dict[str, Any]]:
    """The full entry behind a name of any kind (GPU aliases included)."""
    key = name.lower()
    gpus = {g.name: g for g in store.gpus()}
    try:
        g = store.gpu(key)
        return "gpu", g.model_dump()
    except ValueError:
        pass
    if key in store.model_names():
        return "model", store.model_preset(key)
    if key in store.cluster_names():
        return "cluster", store.cluster_preset(key)
    try:
        return "switch", store.switch(key).model_dump()
    except ValueError:
        pass
    from colossim.catalog import stacks

    if key in stacks.stack_names():
        return "stack", _stack_entry(key)
    everything = [*gpus, *store.model_names(), *store.cluster_names(), *store.switch_names(), *stacks.stack_names()]
    raise unknown_name_error("catalog entry", "name", name, everything)
