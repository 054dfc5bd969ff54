"""The HTTP API: thin adapters from requests to the library (no model arithmetic here).

One ``POST /api/{name}`` per quick capability and one ``POST /api/jobs/{name}`` per
capability (quick or long) are generated from :func:`colossim.report.capabilities.available`,
so a capability that lands later gets its routes, its OpenAPI schema and its dashboard
panel from its registry entry alone. Responses carry the command's ``--json`` object as
``result`` and its presentation (headline numbers, Plotly figures, tables) as ``section``.
"""

# no `from __future__ import annotations`: FastAPI reads the request models generated in
# closures below from the annotations, which must therefore be real objects.

from typing import Any, Literal

import yaml
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import Field, create_model
from starlette.exceptions import HTTPException

from colossim import __version__
from colossim.errors import ColossimError
from colossim.report import capabilities
from colossim.report.capabilities import Capability, Context
from colossim.web import presets
from colossim.web.app import CleanJSONResponse
from colossim.web.inputs import ScenarioInput, read_scenario

KINDS = ("gpus", "models", "clusters", "switches")
ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"description": "a mistake in the request, naming the field (the CLI's words)"},
    413: {"description": "request body over the server's limit"},
}
JOB_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 429: {"description": "too many jobs queued or running"}}

api_router = APIRouter(prefix="/api")


def _envelope(cap: Capability, result: dict[str, Any]) -> dict[str, Any]:
    return {"kind": cap.name, "result": result, "section": cap.present(result).to_dict()}


def _context(request: Request, cap: Capability, body: Any) -> Context:
    """Scenario and options read and checked against the server's budget, before any work."""
    scenario, raw = read_scenario(body, request.app.state.settings.limits)
    ctx = Context(scenario=scenario, raw=raw, options=body.options)
    cap.check(ctx, request.app.state.settings.limits)
    return ctx


def _run_queued(request: Request, kind: str, work: Any) -> dict[str, Any]:
    """A synchronous route's work through the job queue and its budget (at most ``workers``
    at once, ``max_jobs`` queued; waits up to ``queue_wait_s`` for a slot, then a 429)."""
    settings = request.app.state.settings
    return request.app.state.jobs.run(kind, work, wait_s=settings.queue_wait_s)


def _add_capability(router: APIRouter, cap: Capability) -> None:
    model = create_model(f"{cap.name.title()}Request", __base__=ScenarioInput,
                         options=(cap.options, Field(default_factory=cap.options,
                                                     description=f"the options of `colossim {cap.name}`")))

    if not cap.long:
        def run_now(request: Request, body: model) -> dict[str, Any]:  # quick: estimate, power, cost
            return _envelope(cap, cap.execute(_context(request, cap, body)))

        router.add_api_route(f"/{cap.name}", run_now, methods=["POST"], summary=f"{cap.title} (synchronous)",
                             responses=ERRORS, name=f"run_{cap.name}", tags=["capabilities"])

    def start_job(request: Request, body: model) -> JSONResponse:
        ctx = _context(request, cap, body)

        def work(progress: Any) -> dict[str, Any]:
            ctx.progress = progress
            return _envelope(cap, cap.execute(ctx))

        job = request.app.state.jobs.submit(cap.name, work)
        return CleanJSONResponse(job.to_dict(), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})

    router.add_api_route(f"/jobs/{cap.name}", start_job, methods=["POST"], status_code=202,
                         summary=f"{cap.title} as a background job (poll GET /api/jobs/{{id}})",
                         responses=JOB_ERRORS, name=f"job_{cap.name}", tags=["jobs"])


@api_router.get("/health", tags=["server"])
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@api_router.get("/capabilities", tags=["server"])
def list_capabilities() -> list[dict[str, Any]]:
    """What this server can run (the installed subsystems), with each one's routes and options."""
    return [{"name": c.name, "title": c.title, "long": c.long, "route": None if c.long else f"/api/{c.name}",
             "job_route": f"/api/jobs/{c.name}", "options": c.options.model_json_schema()}
            for c in capabilities.available().values()]


@api_router.get("/presets", tags=["scenario"])
def list_presets() -> list[dict[str, Any]]:
    """Ready-made scenarios for the dashboard (id, name, scenario mapping, YAML text)."""
    return presets.listing()


@api_router.post("/scenario", tags=["scenario"], responses=ERRORS)
def check_scenario(request: Request, body: ScenarioInput) -> dict[str, Any]:
    """Validate a scenario: the resolved form (every default filled in) or a 422 naming the field."""
    scenario, raw = read_scenario(body, request.app.state.settings.limits)
    return {"name": scenario.name, "scenario": scenario.to_dict(), "dp_was_inferred": scenario.dp_was_inferred,
            "yaml": yaml.safe_dump(raw, sort_keys=False, width=100)}


@api_router.get("/catalog", tags=["catalog"])
def catalog_all() -> dict[str, list[dict[str, Any]]]:
    """Every catalog listing, as `colossim catalog --json`."""
    from colossim.catalog.views import summaries

    return {k: summaries(k) for k in KINDS}


@api_router.get("/catalog/{kind}", tags=["catalog"], responses=ERRORS)
def catalog_kind(kind: Literal["gpus", "models", "clusters", "switches"]) -> list[dict[str, Any]]:
    """One listing, as `colossim catalog KIND --json`."""
    from colossim.catalog.views import summaries

    return summaries(kind)


@api_router.get("/catalog/entry/{name}", tags=["catalog"], responses={404: {"description": "no such entry"}})
def catalog_entry(name: str) -> Any:
    """Every field of one entry with its source, as `colossim catalog show NAME --json`."""
    from colossim.catalog.views import find_entry
    try:
        kind, entry = find_entry(name)
    except ColossimError as exc:  # an unknown name: 404, with the CLI's message and suggestion
        return CleanJSONResponse(exc.to_dict(), status_code=404)
    return {"kind": kind, **entry}


@api_router.get("/validate", tags=["capabilities"], responses=ERRORS)
def validate(case: str | None = Query(None, max_length=200, description="only this case family"),
             unknowns: bool = Query(False, description="also the error range each run's conventions span "
                                                        "(`colossim validate --unknowns`)")) -> dict[str, Any]:
    """Replay the published runs, as `colossim validate --json` (result) with its presentation."""
    from colossim.errors import field_error
    from colossim.report.present import present_validation
    from colossim.validation.runs import case_names, mape
    from colossim.validation.runs import validate as run_validate

    if case is not None and case not in case_names():
        raise field_error("case", case, f"allowed: {', '.join(case_names())}", choices=case_names())
    rows = run_validate(case, unknowns=unknowns)
    result = {"rows": [r.to_dict() for r in rows], "cases": len(rows), "mape": mape(rows),
              "max_abs_error": max(abs(r.error) for r in rows)}
    if unknowns:
        from colossim.validation.unknowns import unknowns_summary

        result["unknowns"] = unknowns_summary(rows)
    return {"kind": "validate", "result": result, "section": present_validation(result).to_dict()}


class ReportRequest(ScenarioInput):
    search: bool = Field(False, description="include the best plans from a plan search")
    top: int = Field(5, ge=1, le=50, description="plans in the search table")
    scaling: bool = Field(True, description="include the fixed-plan scaling curve")
    charts: Literal["plotly", "svg"] = Field("plotly", description="plotly: interactive (~5 MB); svg: static, small")


@api_router.post("/report", tags=["report"], response_class=HTMLResponse, responses=ERRORS)
def report(request: Request, body: ReportRequest) -> HTMLResponse:
    """The self-contained HTML report of `colossim report` for this scenario (nothing is written on the server)."""
    from colossim.report.document import build_report, default_parts
    from colossim.report.html import render_html

    scenario, raw = read_scenario(body, request.app.state.settings.limits)
    parts = default_parts(search=body.search, scaling=body.scaling, top=body.top)
    skipped = []
    for name, given in list(parts.items()):  # a part over the budget (or failing) is left out, and said so
        cap = capabilities.get(name)
        try:
            cap.check(Context(scenario, raw, capabilities.validate_options(cap, given)),
                      request.app.state.settings.limits)
        except ColossimError as exc:
            if name == "estimate":
                raise
            skipped.append(f"{cap.title}: {exc}")
            del parts[name]

    def work(progress: Any) -> dict[str, Any]:
        doc = build_report(scenario, raw, parts)
        doc.errors[:0] = skipped
        return {"html": render_html(doc, body.charts)}

    html = _run_queued(request, "report", work)["html"]
    return HTMLResponse(html, headers={"Content-Disposition": 'attachment; filename="colossim-report.html"'})


@api_router.get("/jobs", tags=["jobs"])
def list_jobs(request: Request) -> list[dict[str, Any]]:
    """Jobs queued, running or kept (results left out: fetch one job for its result)."""
    return [j.to_dict(with_result=False) for j in request.app.state.jobs.list()]


def _job_or_404(job: Any, job_id: str) -> Any:
    if job is None:
        raise HTTPException(404, f"job {job_id!r}: no such job (finished jobs are kept for a while, then forgotten)")
    return job


@api_router.get("/jobs/{job_id}", tags=["jobs"], responses={404: {"description": "no such job"}})
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    """A job's status and progress; once done, its ``result`` and ``section``; once failed, its ``error``."""
    return _job_or_404(request.app.state.jobs.get(job_id), job_id).to_dict()


@api_router.delete("/jobs/{job_id}", tags=["jobs"], responses={404: {"description": "no such job"}})
def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    """Cancel a queued or running job (it stops within a moment); forget a finished one."""
    return _job_or_404(request.app.state.jobs.cancel(job_id), job_id).to_dict(with_result=False)


RESERVED = {"health", "capabilities", "presets", "scenario", "catalog", "validate", "report", "jobs"}


def build_router() -> APIRouter:
    """The fixed routes plus two per installed capability (looked up now, at app creation)."""
    router = APIRouter()
    router.include_router(api_router)
    caps = APIRouter(prefix="/api")
    for cap in capabilities.available().values():
        assert cap.name not in RESERVED, f"capability name {cap.name!r} clashes with a route"
        _add_capability(caps, cap)
    router.include_router(caps)
    return router
