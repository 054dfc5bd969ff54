"""The FastAPI application: errors, limits, static files; the routes live in ``routes.py``.

Every error is a JSON object shaped like :meth:`ColossimError.to_dict` (``error``,
``field``, ``value``, ``allowed``, ``suggestion``): a user mistake is a 422 naming the
field, in the CLI's words; a request body over the limit is a 413; too many jobs a 429;
an unknown job or catalog entry a 404. A bug is a 500 whose body says only that it was
logged: no traceback leaves the server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from colossim import __version__
from colossim.errors import ColossimError
from colossim.report.present import clean
from colossim.web.inputs import Settings
from colossim.web.jobs import JobManager, TooManyJobs

log = logging.getLogger("colossim.web")
STATIC = Path(__file__).parent / "static"

DESCRIPTION = """The colossim library over HTTP: the same functions as the command line
(estimate, search, scaling, power, cost, catalog, validate) and the dashboard at `/`.

A scenario is sent as `yaml` (the text of a scenario file) or `scenario` (a JSON object with
the same sections; presets by name). Long work (search, scaling) runs as a background job:
`POST /api/jobs/{kind}`, then poll `GET /api/jobs/{id}`; `DELETE` cancels it. Mistakes are
422s that name the field, in the words of the CLI."""


class CleanJSONResponse(JSONResponse):
    """JSON without NaN/Infinity (not JSON): they become null."""

    def render(self, content: Any) -> bytes:
        return json.dumps(clean(content), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_body(message: str, *, field: str | None = None, value: Any = None, allowed: str | None = None,
               suggestion: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": message, "field": field, "value": value, "allowed": allowed, "suggestion": suggestion, **extra}


def _short(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def validation_body(exc: RequestValidationError) -> dict[str, Any]:
    """Pydantic's request errors in ColossimError's shape: the first error, field named."""
    errors = list(exc.errors())
    first: dict[str, Any] = dict(errors[0]) if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
    loc = [str(p) for p in first.get("loc", ())]
    if loc and loc[0] in ("body", "path", "query"):
        loc = loc[1:]
    path = ".".join(loc) or "body"
    kind, msg, value = first.get("type", ""), str(first.get("msg", "")), first.get("input")
    if kind == "missing":
        message = f"{path}: missing (required)"
    elif kind == "extra_forbidden":
        message = f"{path}: unknown field"
    elif kind == "json_invalid":
        path = "body"
        message = f"body: invalid JSON ({first.get('ctx', {}).get('error', msg)})"
    else:
        message = f"{path}: {_short(value)!r} is not allowed; {msg[:1].lower() + msg[1:]}"
    detail = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")), "type": str(e.get("type"))}
              for e in errors[:20]]
    return error_body(message, field=path, value=_short(value), allowed=msg, detail=detail)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (413) before any parsing: the body is read
    up to the limit, then replayed to the application."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        try:
            too_big = declared is not None and int(declared) > self.max_bytes
        except ValueError:
            await self._refuse(send, 400, "content-length: not a number")
            return
        if too_big:
            await self._refuse(send, 413, self._message())
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._refuse(send, 413, self._message())
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self) -> str:
        return (f"request body: larger than this server allows ({self.max_bytes:,} bytes; "
                "`colossim serve --max-body-kb`)")

    async def _refuse(self, send: Send, status: int, message: str) -> None:
        body = json.dumps(error_body(message, field="body")).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application; ``settings`` carries the limits (``colossim serve`` flags)."""
    from colossim.web.routes import build_router

    settings = settings or Settings()
    app = FastAPI(title="colossim", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None,
                  default_response_class=CleanJSONResponse, lifespan=_lifespan)  # no /docs: Swagger UI loads from a CDN
    app.state.settings = settings
    app.state.jobs = JobManager(workers=settings.workers, max_active=settings.max_jobs,
                                max_kept=settings.max_kept_jobs, ttl_s=settings.job_ttl_s)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    if settings.allowed_hosts is not None:  # DNS rebinding: a page elsewhere cannot reach a loopback server
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))

    @app.exception_handler(ColossimError)
    async def _user_error(request: Request, exc: ColossimError) -> JSONResponse:
        return CleanJSONResponse(exc.to_dict(), status_code=422)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return CleanJSONResponse(validation_body(exc), status_code=422)

    @app.exception_handler(TooManyJobs)
    async def _busy(request: Request, exc: TooManyJobs) -> JSONResponse:
        return CleanJSONResponse(error_body(str(exc), field="jobs"), status_code=429)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not parse the body (e.g. JSON nested too deeply)
            return CleanJSONResponse(error_body(f"body: could not be read ({exc.detail})", field="body"),
                                     status_code=422)
        body = exc.detail if isinstance(exc.detail, dict) else error_body(str(exc.detail))
        return CleanJSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RecursionError)
    async def _deep(request: Request, exc: RecursionError) -> JSONResponse:
        return CleanJSONResponse(error_body("body: nested too deeply", field="body"), status_code=422)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        return CleanJSONResponse(error_body("internal error (logged on the server)"), status_code=500)

    app.include_router(build_router())

    @app.get("/", include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        from colossim.report.html import plotly_js_path

        path = plotly_js_path()
        if path is None:
            raise StarletteHTTPException(404, "plotly.min.js: the plotly package is not installed "
                                              "(pip install 'colossim[web]')")
        return FileResponse(path, media_type="application/javascript", headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.jobs.shutdown()  # running jobs stop at their next progress report
