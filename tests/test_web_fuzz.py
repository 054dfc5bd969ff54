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
