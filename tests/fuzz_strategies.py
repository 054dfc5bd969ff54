"""Hypothesis strategies shared by the fuzz suites (tests/test_fuzz_*.py, test_web_fuzz.py):
scenarios (valid, at the edge, malformed) and flag values."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

BASE: dict[str, Any] = {
    "model": "llama3-8b",
    "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
    "training": {"seq_len": 4096, "global_batch_size": 64, "total_tokens": 1.0e10},
    "parallel": {"tp": 2, "pp": 2},
}
NUMBERS = st.one_of(
    st.sampled_from(["0", "-1", "1", "inf", "-inf", "nan", "1e308", "1e-300", "1e9", "9" * 30, "abc", "", "2.5",
                     "true", "0x10", "1_000"]),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "llama3-8", "h100", "1e-300", ".inf", "tru", "bf16", "flash", "x" * 300]),
    st.lists(st.integers(-5, 5), max_size=3), st.dictionaries(st.sampled_from(["a", "preset", "gpu"]),
                                                              st.integers(0, 9), max_size=2),
)
PATHS = [("model",), ("cluster",), ("training",), ("parallel",), ("name",), ("model", "num_layers"),
         ("cluster", "num_gpus"), ("cluster", "gpu"), ("cluster", "nic_gbps_per_gpu"), ("cluster", "gpus_per_node"),
         ("cluster", "fabric"), ("training", "seq_len"), ("training", "global_batch_size"),
         ("training", "total_tokens"), ("training", "precision"), ("training", "zero_stage"), ("parallel", "tp"),
         ("parallel", "dp"), ("parallel", "ep"), ("power",), ("cost",), ("reliability",), ("search",), ("network",),
         ("bogus",), ("reliability", "run_days"), ("power", "pue"), ("cost", "total_tokens"),
         ("search", "objective"), ("reliability", "replications")]


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in tree.items()}
    node = out
    for part in path[:-1]:
        child = node.get(part)
        node[part] = {"preset": child} if isinstance(child, str) else dict(child) if isinstance(child, dict) else {}
        node = node[part]
    node[path[-1]] = value
    return out


@st.composite
def scenarios(draw: Any) -> str:
    """YAML text: the base scenario with a few fields replaced, or raw malformed text."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(["", "[]", "- a", "a: [", "model: {", "\t", "x: *y", "&a [*a]",
                                     "model: a\nmodel: b", "{" * 500 + "}" * 500, "? [a]\n: 1"]))
    tree = BASE
    for _ in range(draw(st.integers(1, 3))):
        tree = _set(tree, draw(st.sampled_from(PATHS)), draw(VALUES))
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
