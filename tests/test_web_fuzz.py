"""Property-based fuzz of the HTTP API against its own OpenAPI schema (schemathesis):
whatever the schema admits, valid or not, the server never answers 5xx."""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx`")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from hypothesis import HealthCheck, settings
    from schemathesis.checks import not_a_server_error

    from colossim.report.capabilities import Limits
    from colossim.web.app import create_app
    from colossim.web.inputs import Settings

# Tight limits: a fuzzed scenario that happens to be valid stays quick, and the job limit
# itself is exercised (429s are fine; 5xx are not).
APP = create_app(Settings(limits=Limits(max_candidates=300_000, max_points=4), max_jobs=2, workers=1,
                          max_body_bytes=256 * 1024))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case) -> None:
    case.call_and_validate(checks=[not_a_server_error])


# ---- the scenario gate over HTTP: generated YAML and JSON scenarios ----------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fuzz_strategies import scenarios  # noqa: E402


def _client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

        return TestClient(APP, raise_server_exceptions=False)


CLIENT = _client()


@given(text=scenarios(), route=st.sampled_from(["/api/scenario", "/api/estimate", "/api/power", "/api/cost"]))
@settings(max_examples=30, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_generated_scenarios_get_200_or_one_line_422(text: str, route: str) -> None:
    r = CLIENT.post(route, json={"yaml": text})
    assert r.status_code in (200, 422, 429), (r.status_code, r.text[:500])
    if r.status_code == 422:
        body = r.json()
        assert body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"], body


def test_issue_inputs_over_http() -> None:
    base = "model: llama3-8b\ncluster: {gpu: h100-sxm, num_gpus: 64}\ntraining: {seq_len: 4096, global_batch_size: 64}\n"
    cases = {base + "model: llama3-70b\n": "duplicate key 'model'",
             base.replace("num_gpus: 64", "num_gpus: 64, nic_gbps_per_gpu: 1e-300"): "cluster.nic_gbps_per_gpu",
             base + "parallel: {tp: true}\n": "parallel.tp: true",
             "name: " + "[" * 200 + "]" * 200 + "\n" + base: "nested",
             base + "search: {objectiv: cost}\n": "did you mean 'objective'"}
    for text, words in cases.items():
        r = CLIENT.post("/api/scenario", json={"yaml": text})
        assert r.status_code == 422 and words in r.json()["error"], r.text
