"""`colossim network` and `colossim estimate --network`: output, JSON, plot, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from colossim.cli import main

SMALL = {"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 512, "fabric": {"switch": "qm9700", "tiers": 2}},
         "training": {"seq_len": 4096, "global_batch_size": 256}, "parallel": {"tp": 8, "pp": 2}}


def write(tmp_path: Path, body: dict, name: str = "s.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return str(path)


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_has_the_documented_fields(tmp_path, capsys):
    code, out, _ = run(capsys, "network", write(tmp_path, SMALL), "--collective", "all-reduce", "--group", "dp",
                       "--size", "512MB", "--routing", "ecmp", "--seed", "5", "--json")
    assert code == 0
    d = json.loads(out)
    for key in ("time_s", "algbw_gbps", "busbw_gbps", "throughput_fraction", "num_flows", "link_utilization",
                "busbw_per_nic_gbps", "hottest_links", "phases", "seed", "routing", "fabric"):
        assert key in d
    assert set(d["link_utilization"]) == {"nic", "leaf-spine", "nvlink"}
    assert d["seed"] == 5 and d["size_bytes"] == 512e6
    assert d["fabric"]["switches_per_tier"] == [16, 8]
    assert d["incast"]["time_s"] == 0.0 and d["routing_model"] == "ecmp-hash"  # rings: no incast term


def test_json_reports_the_all_to_all_incast(tmp_path, capsys):
    code, out, _ = run(capsys, "network", write(tmp_path, SMALL), "--collective", "all-to-all", "--group", "dp",
                       "--size", "1GiB", "--routing", "adaptive", "--seed", "1", "--json")
    assert code == 0
    d = json.loads(out)
    inc = d["incast"]
    for key in ("time_s", "share", "fan_in", "fan_out", "burst_bytes", "peak_senders", "queue_bytes", "xoff_bytes",
                "pause_s", "hol_throughput", "receivers", "reaction_s"):
        assert key in inc
    assert d["routing_model"] == "adaptive-spray" and inc["fan_in"] > 1
    assert d["throughput_fraction"] == pytest.approx(1.0 - inc["share"])


def test_table_report_and_plot(tmp_path, capsys):
    png = tmp_path / "util.png"
    code, out, _ = run(capsys, "network", write(tmp_path, SMALL), "--collective", "all-to-all", "--group", "dp",
                       "--size", "64MiB", "--node-order", "random", "--plot", str(png))
    assert code == 0
    for text in ("fabric", "switches leaf 16, spine 8", "busbw per NIC", "link utilization", "phases", "hottest links"):
        assert text in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_inventory_only(tmp_path, capsys):
    code, out, _ = run(capsys, "network", write(tmp_path, SMALL), "--inventory", "--json")
    d = json.loads(out)
    assert code == 0 and d["switches_per_tier"] == [16, 8] and d["optical_transceivers"] > 0


@pytest.mark.parametrize("args,message", [
    (("--group", "ddp"), "--group: 'ddp' is not allowed"),
    (("--collective", "broadcast"), "--collective: 'broadcast' is not allowed"),
    (("--size", "1 GiBs"), "--size: '1 GiBs' is not allowed"),
    (("--size", "-4KB"), "--size"),
    # 1e308 bytes gave an 8e290 s collective and a 1e20 one an overflow warning; half a byte passed too
    (("--size", "1e308"), "--size: 1e+308 is not allowed; bytes per rank: 1 B to 1 PB"),
    (("--size", "2000TB"), "bytes per rank: 1 B to 1 PB"),
    (("--size", "0.5"), "--size: 0.5 is not allowed; bytes per rank: 1 B to 1 PB"),
    (("--routing", "ecnp"), "did you mean 'ecmp'"),
    (("--node-order", "sorted"), "network.placement.node_order"),
    (("--flows-per-pair", "0"), "network.flows_per_pair"),
    (("--fail", "spine"), "kind:index"),
    (("--fail", "spine:999"), "spine:999 does not exist"),
    (("--plot", "out.txt"), "--plot"),
])
def test_mistakes_exit_2_with_one_line(tmp_path, capsys, args, message):
    code, out, err = run(capsys, "network", write(tmp_path, SMALL), *args)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.startswith("error: ")


def test_network_section_is_validated(tmp_path, capsys):
    body = {**SMALL, "network": {"routing": "ecmp", "flows_per_pair": 4, "colour": "red"}}
    code, _, err = run(capsys, "network", write(tmp_path, body))
    assert code == 2 and "network.colour" in err


def test_a_second_jobs_size_has_the_same_bound(tmp_path, capsys):
    body = {**SMALL, "parallel": {"tp": 8, "pp": 2, "dp": 8}, "network": {"second_job": {"parallel": {"tp": 8}, "size": "5000TiB"}}}
    code, _, err = run(capsys, "network", write(tmp_path, body))
    assert code == 2 and "network.second_job.size" in err and "1 B to 1 PB" in err, err


def test_failures_report_a_slowdown(tmp_path, capsys):
    code, out, _ = run(capsys, "network", write(tmp_path, SMALL), "--fail", "spine:0", "--fail", "leaf-spine:3",
                       "--json")
    d = json.loads(out)
    assert code == 0 and d["failures"] == ["spine 0 failed", "leaf-spine cable 3 failed"]
    assert d["slowdown"] >= 1.0 and d["healthy_time_s"] > 0


def test_second_job_reports_both(tmp_path, capsys):
    body = {**SMALL, "cluster": {**SMALL["cluster"], "num_gpus": 1024}, "parallel": {"tp": 8, "pp": 2, "dp": 32},
            "network": {"routing": "ecmp", "placement": {"node_order": "interleaved"},
                        "second_job": {"parallel": {"tp": 8}, "size": "256MiB"}}}
    code, out, _ = run(capsys, "network", write(tmp_path, body), "--json")
    d = json.loads(out)
    assert code == 0 and len(d["jobs"]) == 2 and d["jobs"][1]["gpus"] == 512
    assert all(j["slowdown"] >= 1.0 for j in d["jobs"])
    code, out, _ = run(capsys, "network", write(tmp_path, body))
    assert "two jobs on one fabric" in out and "links both jobs cross" in out
    full = {**body, "parallel": {"tp": 8, "pp": 2}}  # dp fills the cluster: no room left
    code, _, err = run(capsys, "network", write(tmp_path, full))
    assert code == 2 and "leaving none for a second job" in err


def test_estimate_with_flow_collectives(tmp_path, capsys):
    path = write(tmp_path, SMALL)
    _, analytic, _ = run(capsys, "estimate", path, "--json")
    code, flow, _ = run(capsys, "estimate", path, "--network", "flow", "--json")
    assert code == 0
    assert json.loads(flow)["step_time_s"] == pytest.approx(json.loads(analytic)["step_time_s"], rel=0.02)
    code, _, err = run(capsys, "estimate", path, "--network", "flwo")
    assert code == 2 and "did you mean 'flow'" in err


def test_failed_spine_reports_the_reroute(tmp_path, capsys):
    code, out, _ = run(capsys, "network", write(tmp_path, SMALL), "--fail", "spine:0", "--json")
    d = json.loads(out)
    assert code == 0 and d["routing_model"] in ("adaptive-spray", "ecmp-hash")
    assert "failed link(s) carried traffic" in d["reroute"] and ("slower" in d["reroute"] or "no slowdown" in d["reroute"])
    assert d["per_job"][0]["throughput_fraction"] == d["throughput_fraction"] and d["algorithm"]
