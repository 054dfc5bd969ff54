"""The HTTP API: every route with good and bad input; errors are 422s naming the field, in the
CLI's words; limits (body size, job count, search budget) hold; no route reads files."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import warnings

import pytest

from colossim.cli import main

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")

with warnings.catch_warnings():  # starlette's TestClient warns about httpx at import
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient  # noqa: E402

from colossim.report import capabilities  # noqa: E402
from colossim.report.capabilities import Limits  # noqa: E402
from colossim.web.app import create_app  # noqa: E402
from colossim.web.inputs import Settings  # noqa: E402

SMALL = {"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": 64},
         "training": {"seq_len": 4096, "global_batch_size": 64}, "parallel": {"tp": 2, "pp": 2, "dp": 16}}
ERROR_KEYS = {"error", "field", "value", "allowed", "suggestion"}


@pytest.fixture(scope="module")
def client():
    settings = Settings(limits=Limits(max_candidates=5_000_000, max_points=8), max_body_bytes=64 * 1024)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def wait(client: TestClient, job_id: str, timeout_s: float = 60.0) -> dict:
    end = time.time() + timeout_s
    while time.time() < end:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running after {timeout_s} s")


def unprocessable(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) >= ERROR_KEYS and body["field"] == field, body
    return body


def cli_error(tmp_path, text: str, capsys) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        main(["estimate", str(path)])
    assert exc.value.code == 2
    return capsys.readouterr().err.strip().removeprefix("error: ")


# ---- server, presets, scenario ------------------------------------------------------------


def test_health_capabilities_openapi(client) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    caps = {c["name"]: c for c in client.get("/api/capabilities").json()}
    assert {"estimate", "search", "scaling"} <= set(caps)
    assert caps["search"]["long"] and caps["search"]["route"] is None
    assert caps["estimate"]["route"] == "/api/estimate" and "properties" in caps["search"]["options"]
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/estimate", "/api/jobs/search", "/api/jobs/{job_id}", "/api/catalog/{kind}", "/api/report",
                 "/api/validate", "/api/scenario"):
        assert path in paths
    assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN


def test_presets_are_valid_scenarios(client) -> None:
    presets = client.get("/api/presets").json()
    assert len(presets) >= 3
    for p in presets:
        assert client.post("/api/scenario", json={"scenario": p["scenario"]}).status_code == 200
        assert client.post("/api/scenario", json={"yaml": p["yaml"]}).json()["name"] == p["name"]


def test_scenario_resolves_defaults(client) -> None:
    out = client.post("/api/scenario", json={"scenario": {**SMALL, "parallel": {"tp": 2}}}).json()
    assert out["dp_was_inferred"] and out["scenario"]["parallel"]["dp"] == 32
    assert out["scenario"]["cluster"]["gpus_per_node"] == 8 and "model: llama3-8b" in out["yaml"]


@pytest.mark.parametrize("text", [
    "model: llama3-8x\ncluster: {gpu: h100-sxm, num_gpus: 64}\ntraining: {seq_len: 4096, global_batch_size: 64}\n",
    "model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\ntraining: {seq_len: -1, global_batch_size: 64}\n",
    "model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\ntraining: {seq_len: 4096, global_batch_size: 64}\n"
    "parallel: {tp: 3}\n",
    "model: llama3-8b\ntraining: [1, 2\n",
    "model: llama3-8b\n",
    # a precision no stack has defaults for (was a KeyError: a 500 here, a traceback in the CLI)
    "model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\ntraining: {seq_len: 4096, global_batch_size: 64, "
    "precision: fp4}\n",
])
def test_yaml_errors_read_as_the_cli(client, tmp_path, capsys, text) -> None:
    body = client.post("/api/estimate", json={"yaml": text}).json()
    assert body["error"] == cli_error(tmp_path, text, capsys)
    assert body["field"]


def test_json_errors_name_the_field(client) -> None:
    body = unprocessable(client.post("/api/estimate", json={"scenario": {**SMALL, "model": "llama3-8x"}}), "model")
    assert body["suggestion"] == "llama3-8b"
    unprocessable(client.post("/api/estimate", json={"scenario": {**SMALL, "trainin": {}}}), "scenario")
    unprocessable(client.post("/api/estimate", json={"scenario": {**SMALL, "cluster": {"gpu": "h100-sxm", "num_gpus": 0}}}),
                  "cluster.num_gpus")
    unprocessable(client.post("/api/estimate", json={"scenario": {**SMALL, "training": {"seq_len": 4096}}}),
                  "training.global_batch_size")
    body = unprocessable(client.post("/api/estimate", json={"scenario": {
        **SMALL, "training": {"seq_len": 4096, "global_batch_size": 64, "precision": "fp4"}}}), "training.precision")
    assert body["suggestion"] == "fp8"


def test_scenario_given_once(client) -> None:
    assert "neither" in unprocessable(client.post("/api/estimate", json={}), "scenario")["error"]
    assert "both" in unprocessable(client.post("/api/estimate", json={"scenario": SMALL, "yaml": "x"}), "scenario")["error"]
    unprocessable(client.post("/api/estimate", json={"scenario": SMALL, "extra": 1}), "extra")
    unprocessable(client.post("/api/estimate", json={"scenario": "llama3-8b"}), "scenario")


def test_no_route_reads_files(client, tmp_path) -> None:
    path = tmp_path / "real.yaml"
    path.write_text(json.dumps(SMALL))
    for text in (str(path), "/etc/passwd", "/etc/passwd.yaml"):
        body = unprocessable(client.post("/api/estimate", json={"yaml": text}), "scenario")
        assert "must be a mapping" in body["error"] and "root" not in body["error"]


def test_yaml_bombs_and_nesting_are_refused(client) -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True))
    assert "aliases" in unprocessable(client.post("/api/estimate", json={"yaml": laughs}), "scenario")["error"]
    assert "nested" in unprocessable(client.post("/api/estimate", json={"yaml": "[" * 50_000}), "scenario")["error"]
    deep = b'{"scenario": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    assert client.post("/api/estimate", content=deep, headers={"content-type": "application/json"}).status_code == 422


def test_malformed_and_oversized_bodies(client) -> None:
    bad = client.post("/api/estimate", content=b"{nope", headers={"content-type": "application/json"})
    unprocessable(bad, "body")
    nan = b'{"scenario": {"model": "llama3-8b", "cluster": {"gpu": "h100-sxm", "num_gpus": NaN}, "training": {}}}'
    assert client.post("/api/estimate", content=nan, headers={"content-type": "application/json"}).status_code == 422
    big = client.post("/api/estimate", json={"yaml": "#" * 70_000})
    assert big.status_code == 413 and big.json()["field"] == "body"


# ---- capabilities ---------------------------------------------------------------------------


def test_estimate_matches_the_cli(client, flagship_path, capsys) -> None:
    out = client.post("/api/estimate", json={"yaml": flagship_path.read_text()}).json()
    with pytest.raises(SystemExit):
        main(["estimate", str(flagship_path), "--json"])
    assert out["result"] == json.loads(capsys.readouterr().out)
    section = out["section"]
    assert section["kind"] == "estimate" and section["kpis"]
    ids = [f["id"] for f in section["figures"]]
    assert ids == ["step_breakdown", "memory_per_gpu"]
    memory = section["figures"][1]
    assert memory["layout"]["shapes"][0]["y0"] == out["result"]["hbm_per_gpu_gb"]


def test_unknown_options_are_refused(client) -> None:
    unprocessable(client.post("/api/estimate", json={"scenario": SMALL, "options": {"x": 1}}), "options.x")
    unprocessable(client.post("/api/jobs/search", json={"scenario": SMALL, "options": {"top": 0}}), "options.top")


def _energy(client) -> bool:
    return "power" in {c["name"] for c in client.get("/api/capabilities").json()}


def test_power_and_cost(client, flagship_path) -> None:
    if not _energy(client):
        pytest.skip("colossim.energy is not installed")
    text = flagship_path.read_text()
    power = client.post("/api/power", json={"yaml": text, "options": {"budget_mw": 100}}).json()
    assert power["result"]["budget"]["fits"] is False and power["section"]["figures"][0]["id"] == "power_components"
    body = unprocessable(client.post("/api/power", json={"yaml": text, "options": {"pue": "liqid"}}), "options.pue")
    assert body["suggestion"] == "liquid"
    unprocessable(client.post("/api/power", json={"yaml": text, "options": {"budget_mw": -1}}), "options.budget_mw")
    unprocessable(client.post("/api/power", json={"yaml": text, "options": {"basis": "mean"}}), "options.basis")
    cost = client.post("/api/cost", json={"yaml": text, "options": {"no_capex": True}}).json()
    assert cost["result"]["include_capex"] is False and cost["result"]["cost_usd"] > 0
    unprocessable(client.post("/api/cost", json={"yaml": text, "options": {"electricity": "texass"}}),
                  "options.electricity")
    unprocessable(client.post("/api/cost", json={"yaml": text, "options": {"gpu_hours": -5}}), "options.gpu_hours")


# ---- jobs -----------------------------------------------------------------------------------


def test_search_job(client) -> None:
    start = client.post("/api/jobs/search", json={"scenario": SMALL, "options": {"top": 3, "fix": {"tp": 2}}})
    assert start.status_code == 202 and start.headers["location"] == f"/api/jobs/{start.json()['id']}"
    job = wait(client, start.json()["id"])
    assert job["status"] == "done" and job["progress"]["fraction"] == 1.0
    plans = job["result"]["plans"]
    assert len(plans) == 3 and all(p["plan"]["tp"] == 2 for p in plans)
    assert job["section"]["tables"][0]["title"] == "best plans"
    assert job["id"] in [j["id"] for j in client.get("/api/jobs").json()]
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 200  # finished: forgotten
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404


def test_search_refused_before_work(client, flagship_path) -> None:
    body = unprocessable(client.post("/api/jobs/search", json={"yaml": flagship_path.read_text()}), "options")
    assert "candidate plans" in body["error"] and "--max-candidates" in body["error"]
    body = unprocessable(client.post("/api/jobs/search", json={"scenario": SMALL, "options": {"objective": "speed"}}),
                         "options.objective")
    assert "throughput" in body["allowed"]
    unprocessable(client.post("/api/jobs/search", json={"scenario": SMALL, "options": {"fix": {"tq": 2}}}), "options.fix")


def test_scaling_job(client) -> None:
    start = client.post("/api/jobs/scaling", json={"scenario": SMALL, "options": {"num_gpus": [16, 32, 64]}})
    job = wait(client, start.json()["id"])
    rows = job["result"]["rows"]
    assert [r["num_gpus"] for r in rows] == [16, 32, 64] and all(r["status"] == "ok" for r in rows)
    assert [f["id"] for f in job["section"]["figures"]] == ["scaling_throughput", "scaling_mfu"]
    many = {"num_gpus": list(range(8, 8 * 12, 8))}
    unprocessable(client.post("/api/jobs/scaling", json={"scenario": SMALL, "options": many}), "options.num_gpus")
    searched = client.post("/api/jobs/scaling", json={"scenario": SMALL, "options": {"plan": "searched",
                                                                                      "num_gpus": [32, 64]}})
    job = wait(client, searched.json()["id"])
    assert job["status"] == "done" and job["result"]["rows"][1]["mfu"] >= job["result"]["rows"][0]["mfu"] * 0.5


def test_reliability_and_goodput(client, flagship_path) -> None:
    if "reliability" not in {c["name"] for c in client.get("/api/capabilities").json()}:
        pytest.skip("colossim.reliability is not installed")
    text = flagship_path.read_text()
    job = wait(client, client.post("/api/jobs/reliability", json={"yaml": text, "options": {"replications": 50,
                                                                                          "seed": 3}}).json()["id"])
    assert job["status"] == "done" and job["result"]["seed"] == 3 and 0 < job["result"]["ettr"]["mean"] < 1
    assert [f["id"] for f in job["section"]["figures"]] == ["time_share", "lost_gpu_hours"]
    sweep = client.post("/api/jobs/goodput", json={"yaml": text, "options": {"sizes": [1024, 16384, 131072],
                                                                            "replications": 40}})
    job = wait(client, sweep.json()["id"])
    ettr = [r["ettr"]["mean"] for r in job["result"]["sizes"]]
    assert ettr[0] > ettr[-1] and job["section"]["figures"][0]["id"] == "goodput_scale"
    unprocessable(client.post("/api/jobs/reliability", json={"yaml": text, "options": {"replications": 0}}),
                  "options.replications")
    body = unprocessable(client.post("/api/jobs/reliability", json={"yaml": text, "options": {"recovery": "meta"}}),
                         "options.recovery")
    assert "meta-llama3" in body["error"]
    body = unprocessable(client.post("/api/jobs/reliability", json={"yaml": text, "options": {
        "replications": 100_000, "run_days": 365}}), "options.replications")
    assert "--max-failures" in body["error"]
    unprocessable(client.post("/api/jobs/goodput", json={"yaml": text, "options": {"sizes": [0]}}), "options.sizes")
    unprocessable(client.post("/api/jobs/goodput", json={"yaml": text, "options": {"sizes": [2**30]}}),
                  "options.sizes")


def test_reliability_target_ettr_through_the_api(client, flagship_path) -> None:
    """The API answers `--target-ettr` and `--technique` as the CLI does (reliability.whatif.goal)."""
    if "reliability" not in {c["name"] for c in client.get("/api/capabilities").json()}:
        pytest.skip("colossim.reliability is not installed")
    text = flagship_path.read_text()
    job = wait(client, client.post("/api/jobs/reliability", json={"yaml": text, "options": {
        "replications": 40, "target_ettr": 0.9}}).json()["id"])
    assert job["status"] == "done"
    target = job["result"]["target"]
    assert target["ettr"] == 0.9 and "combined" in target and "max_recovery_s" in target
    job = wait(client, client.post("/api/jobs/reliability", json={"yaml": text, "options": {
        "replications": 40, "technique": "all"}}).json()["id"])
    assert {row["technique"] for row in job["result"]["techniques"]} >= {"baseline", "in-memory"}
    unprocessable(client.post("/api/jobs/reliability", json={"yaml": text, "options": {"target_ettr": 1.5}}),
                  "options.target_ettr")
    body = unprocessable(client.post("/api/jobs/reliability", json={"yaml": text, "options": {"technique": "gemini"}}),
                         "options.technique")
    assert "in-memory" in body["error"]


@pytest.fixture(scope="module")
def default_client():
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("name", sorted(capabilities.available()))
def test_every_capability_runs_on_a_preset(default_client, name) -> None:
    """A capability that plugs in later is exercised here with no new test: as a job (and
    synchronously when quick), on the quick preset with the default limits, giving a result
    and a presentable section."""
    client = default_client
    cap = capabilities.get(name)
    preset = next(p for p in client.get("/api/presets").json() if p["id"] == "llama3-8b-64")
    start = client.post(f"/api/jobs/{name}", json={"scenario": preset["scenario"]})
    assert start.status_code == 202, start.text
    job = wait(client, start.json()["id"])
    assert job["status"] == "done", job["error"]
    assert job["result"] and job["section"]["kind"] == name and job["section"]["title"]
    for fig in job["section"]["figures"]:
        assert fig["id"] and fig["data"] and "layout" in fig
    if not cap.long:
        out = client.post(f"/api/{name}", json={"scenario": preset["scenario"]}).json()
        assert set(out) == {"kind", "result", "section"}


def test_quick_capabilities_run_as_jobs_too(client) -> None:
    job = wait(client, client.post("/api/jobs/estimate", json={"scenario": SMALL}).json()["id"])
    assert job["status"] == "done" and job["result"]["gpus_used"] == 64


def test_cancel_and_job_limit(flagship_path) -> None:
    settings = Settings(max_jobs=1, workers=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        first = c.post("/api/jobs/search", json={"yaml": flagship_path.read_text()}).json()
        busy = c.post("/api/jobs/search", json={"scenario": SMALL})
        assert busy.status_code == 429 and busy.json()["field"] == "jobs"
        end = time.time() + 30
        while c.get(f"/api/jobs/{first['id']}").json()["progress"]["done"] == 0 and time.time() < end:
            time.sleep(0.05)
        assert c.delete(f"/api/jobs/{first['id']}").status_code == 200
        job = wait(c, first["id"], 30)
        assert job["status"] == "cancelled" and job["result"] is None
        assert c.post("/api/jobs/search", json={"scenario": SMALL}).status_code == 202  # the slot is free again


def test_unknown_jobs(client) -> None:
    assert client.get("/api/jobs/nope").status_code == 404
    assert client.delete("/api/jobs/nope").json()["error"].startswith("job 'nope'")


# ---- catalog, validate, report, static -------------------------------------------------------


def test_catalog(client) -> None:
    everything = client.get("/api/catalog").json()
    assert {"gpus", "models", "clusters", "switches"} == set(everything)
    assert client.get("/api/catalog/models").json() == everything["models"]
    unprocessable(client.get("/api/catalog/gpuz"), "kind")
    assert client.get("/api/catalog/entry/h100").json()["kind"] == "gpu"
    missing = client.get("/api/catalog/entry/colossus-100")
    assert missing.status_code == 404 and missing.json()["suggestion"] == "colossus-100k"


def test_validate(client) -> None:
    out = client.get("/api/validate").json()
    assert out["result"]["cases"] == len(out["result"]["rows"]) > 10 and out["section"]["figures"]
    assert unprocessable(client.get("/api/validate", params={"case": "nope"}), "case")["allowed"]
    ranged = client.get("/api/validate", params={"case": "mtnlg_530b_selene", "unknowns": "true"}).json()["result"]
    assert ranged["unknowns"]["with_unknowns"]["runs"] == 3 and "error_range" in ranged["rows"][0]["unknowns"]


def test_report(client) -> None:
    page = client.post("/api/report", json={"scenario": SMALL, "charts": "svg", "scaling": False})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<svg" in page.text and "Step estimate" in page.text and "<script" not in page.text
    if "reliability" in {c["name"] for c in client.get("/api/capabilities").json()}:
        assert "Not included" in page.text and "run_days" in page.text  # SMALL has no total_tokens
    unprocessable(client.post("/api/report", json={"scenario": SMALL, "charts": "png"}), "charts")
    unprocessable(client.post("/api/report", json={"scenario": {**SMALL, "model": "x"}}), "model")


def test_dashboard_and_static(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "static/dashboard.js" in page.text
    assert 'src="http' not in page.text and 'href="http' not in page.text  # nothing from the network
    assert client.get("/static/dashboard.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/%2e%2e/app.py").status_code == 404
    plotly = client.get("/static/vendor/plotly.min.js")
    assert plotly.status_code == (200 if importlib.util.find_spec("plotly") else 404)


# ---- serve and imports ----------------------------------------------------------------------


def test_web_is_not_imported_by_the_core() -> None:
    code = ("import sys, colossim, colossim.api, colossim.cli; colossim.cli.build_app();"
            "bad = [m for m in sys.modules if m.startswith(('fastapi', 'uvicorn', 'starlette', 'plotly', 'colossim.web'))];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_serve_binds_loopback_and_warns_elsewhere(monkeypatch, capsys) -> None:
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "8123"])
    assert exc.value.code == 0 and calls[-1]["host"] == "127.0.0.1" and "WARNING" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--host", "0.0.0.0"])
    assert calls[-1]["host"] == "0.0.0.0" and "WARNING: binding to 0.0.0.0" in capsys.readouterr().err
    for argv in (["serve", "--port", "0"], ["serve", "--max-jobs", "0"], ["serve", "--log-level", "loud"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
