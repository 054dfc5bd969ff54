"""Models from Hugging Face config.json files (scenario/hf.py), read offline, and the user
catalog they can be imported into."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from colossim.cli import main
from colossim.errors import ColossimError
from colossim.scenario import build_model, load_scenario

HF = Path(__file__).parent / "data" / "hf"

# published totals (active for MoE), billions: model cards and papers
PUBLISHED = {
    "llama3-8b": (8.03, None), "mixtral-8x7b": (46.7, 12.9), "qwen3-30b-a3b": (30.5, 3.3),
    "qwen2-57b-a14b": (57.4, 14.0), "deepseek-v3": (671.0, 37.0), "gemma-7b": (8.54, None),
    "gpt-neox-20b": (20.55, None),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_configs_give_the_published_parameter_counts(name) -> None:
    model = build_model({"hf_config": str(HF / f"{name}.json")})
    total, active = PUBLISHED[name]
    assert model.total_params(2048) / 1e9 == pytest.approx(total, rel=0.01)
    if active is not None:
        assert model.active_params(2048) / 1e9 == pytest.approx(active, rel=0.03)
    assert model.name == name


def test_the_catalog_presets_agree_with_the_configs() -> None:
    for preset, file in (("llama3-8b", "llama3-8b"), ("mixtral-8x7b", "mixtral-8x7b"), ("deepseek-v3", "deepseek-v3")):
        a, b = build_model(preset), build_model({"hf_config": str(HF / f"{file}.json")})
        assert a.total_params(4096) == b.total_params(4096)


def test_fields_beside_hf_config_override_it() -> None:
    m = build_model({"hf_config": str(HF / "deepseek-v3.json"), "num_layers": 8, "name": "tiny",
                     "moe": {"top_k": 4}})
    assert m.num_layers == 8 and m.name == "tiny" and m.moe.top_k == 4 and m.moe.num_experts == 256


def test_a_scenario_with_hf_config_estimates() -> None:
    sc = load_scenario({"model": {"hf_config": str(HF / "mixtral-8x7b.json")},
                        "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
                        "training": {"seq_len": 4096, "global_batch_size": 64}, "parallel": {"tp": 4, "ep": 8}})
    assert sc.model.moe.num_experts == 8


def test_unknown_architectures_name_the_missing_keys(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "mamba", "hidden_size": 768, "vocab_size": 50280}))
    with pytest.raises(ColossimError, match=r"model: hf_config: model_type 'mamba' is not a known architecture.*"
                                            r"missing the keys num_hidden_layers, num_attention_heads, "
                                            r"intermediate_size"):
        load_scenario({"model": {"hf_config": str(path)}, "cluster": {"gpu": "h100-sxm", "num_gpus": 8},
                       "training": {"seq_len": 1024, "global_batch_size": 8}})
    known = json.loads((HF / "mixtral-8x7b.json").read_text())
    del known["num_local_experts"]
    path.write_text(json.dumps(known))
    with pytest.raises(ColossimError, match=r"model_type 'mixtral' is missing the keys num_local_experts"):
        build_model({"hf_config": str(path)})
    with pytest.raises(ColossimError, match="file not found"):
        build_model({"hf_config": str(tmp_path / "nope.json")})


def test_import_hf_adds_a_model_to_the_user_catalog(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLOSSIM_HOME", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        main(["catalog", "import-hf", str(HF / "qwen3-30b-a3b.json"), "--name", "my-qwen"])
    assert exc.value.code in (0, None)
    assert "added model 'my-qwen'" in capsys.readouterr().out
    assert (tmp_path / "models.yaml").is_file()
    sc = load_scenario({"model": "my-qwen", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
                        "training": {"seq_len": 4096, "global_batch_size": 64}, "parallel": {"ep": 8}})
    assert sc.model.moe.num_experts == 128
    with pytest.raises(SystemExit) as exc:
        main(["catalog", "import-hf", str(HF / "qwen3-30b-a3b.json"), "--name", "my-qwen"])
    assert exc.value.code == 2 and "--replace" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["catalog", "import-hf", str(HF / "llama3-8b.json"), "--name", "llama3-8b"])
    assert exc.value.code == 2 and "built-in" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["catalog", "show", "my-qwen"])
    assert "my-qwen" in capsys.readouterr().out


@pytest.mark.parametrize("key, value, shown", [
    ("vocab_size", "x", '"x"'),  # int('x'): a ValueError traceback
    ("hidden_size", [4096], "[4096]"),  # int([4096]): a TypeError traceback
    ("num_hidden_layers", True, "true"),  # int(True): silently a 1-layer model
    ("intermediate_size", 14336.5, "14336.5"),  # int(): silently truncated
    ("num_attention_heads", 1e308, "1e+308"),  # int(1e308): a 309-digit number in the message
    ("vocab_size", float("nan"), "NaN"),  # int(nan): a ValueError traceback
    ("tie_word_embeddings", "no", '"no"'),  # bool('no'): silently tied
])
def test_a_config_field_that_is_not_a_count_is_named(tmp_path, capsys, key, value, shown) -> None:
    config = {**json.loads((HF / "llama3-8b.json").read_text()), key: value}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ColossimError, match=rf"model: hf_config: {key}: {re.escape(shown)} is not allowed; must be"):
        build_model({"hf_config": str(path)})
    with pytest.raises(SystemExit) as exc:
        main(["catalog", "import-hf", str(path), "--name", "bad"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith(f"error: model.hf_config: {key}: {shown}") and "Traceback" not in err


def test_a_config_that_is_not_an_object_or_a_file_is_refused(tmp_path) -> None:
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")  # data.get on a list: an AttributeError traceback
    with pytest.raises(ColossimError, match="must hold a JSON object"):
        build_model({"hf_config": str(path)})
    with pytest.raises(ColossimError, match="is a folder"):
        build_model({"hf_config": str(tmp_path)})
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(ColossimError, match="not UTF-8"):
        build_model({"hf_config": str(path)})
