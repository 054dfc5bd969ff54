"""`colossim serve`: the dashboard at / and the HTTP JSON API under /api (extra `colossim[web]`)."""

from __future__ import annotations

import ipaddress
import socket
import sys

import typer

from colossim.cli.common import user_errors
from colossim.errors import ColossimError, field_error


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "[::1]")


def loopback_hosts(host: str) -> tuple[str, ...]:
    """The Host headers a loopback server answers: its loopback names only, so a web page on
    another site cannot reach it through DNS rebinding (Starlette's TrustedHostMiddleware)."""
    return tuple(dict.fromkeys((*LOOPBACK_NAMES, host, f"[{host}]" if ":" in host else host)))


def check_bind(host: str, port: int) -> None:
    """The address exists on this machine and the port is free, before the server starts."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise field_error("--host", host, f"not an address of this machine ({getattr(exc, 'strerror', exc)})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise field_error("--port", port, f"cannot listen on {host}:{port} ({exc.strerror})") from None


def warn_public(host: str, port: int) -> None:
    """Say loudly that the server is reachable from other machines (and has no login)."""
    bar = "!" * 78
    print(f"{bar}\n!! WARNING: binding to {host}:{port}, not to 127.0.0.1: anyone who can reach this\n"
          "!! machine on that port can use the dashboard and API and run simulations on it.\n"
          "!! There is no authentication. Use --host 127.0.0.1 unless you mean it.\n"
          f"{bar}", file=sys.stderr, flush=True)


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="address to bind; 0.0.0.0 exposes the server to the network"),
        port: int = typer.Option(8000, "--port", help="TCP port"),
        max_jobs: int = typer.Option(4, "--max-jobs", help="background jobs queued or running at once"),
        workers: int = typer.Option(2, "--workers", help="background jobs running at once (threads)"),
        max_candidates: int = typer.Option(100_000_000, "--max-candidates",
                                           help="largest plan space one search (or searched scaling curve) may enumerate"),
        max_points: int = typer.Option(16, "--max-points", help="most cluster sizes in one scaling curve"),
        max_gpus: int = typer.Option(1 << 20, "--max-gpus", help="largest cluster (num_gpus) a request may simulate"),
        max_global_batch: int = typer.Option(1 << 24, "--max-global-batch", help="largest training.global_batch_size"),
        max_failures: int = typer.Option(20_000_000, "--max-failures",
                                         help="Monte Carlo budget: failures simulated, summed over replications and sizes"),
        max_flows: int = typer.Option(2_000_000, "--max-flows",
                                      help="network twin budget: flows one collective simulation may route"),
        max_body_kb: int = typer.Option(1024, "--max-body-kb", help="largest request body, kB"),
        job_ttl_s: float = typer.Option(3600.0, "--job-ttl-s", help="how long finished jobs are kept, s"),
        log_level: str = typer.Option("info", "--log-level", help="critical | error | warning | info | debug"),
    ) -> None:
        """Serve the dashboard (http://HOST:PORT/) and the JSON API (/api, schema at /openapi.json)."""
        for flag, value in (("--max-jobs", max_jobs), ("--workers", workers), ("--max-candidates", max_candidates),
                            ("--max-points", max_points), ("--max-body-kb", max_body_kb), ("--max-gpus", max_gpus),
                            ("--max-global-batch", max_global_batch), ("--max-failures", max_failures),
                            ("--max-flows", max_flows)):
            if value < 1:
                raise field_error(flag, value, "must be >= 1")
        if not 0 < port < 65536:
            raise field_error("--port", port, "must be between 1 and 65535")
        if not job_ttl_s > 0:
            raise field_error("--job-ttl-s", job_ttl_s, "must be > 0")
        levels = ("critical", "error", "warning", "info", "debug")
        if log_level not in levels:
            raise field_error("--log-level", log_level, f"allowed: {', '.join(levels)}", choices=levels)
        try:
            import uvicorn

            from colossim.web.app import create_app
        except ImportError as exc:
            raise ColossimError(f"colossim serve needs the web extra ({exc.name} is missing): "
                                "pip install 'colossim[web]'", field="serve") from None
        from colossim.report.capabilities import Limits
        from colossim.web.inputs import Settings

        limits = Limits(max_candidates=max_candidates, max_points=max_points, max_gpus=max_gpus,
                        max_global_batch=max_global_batch, max_failures=max_failures, max_flows=max_flows)
        settings = Settings(limits=limits,
                            max_body_bytes=max_body_kb * 1024, max_jobs=max_jobs, workers=workers, job_ttl_s=job_ttl_s,
                            allowed_hosts=loopback_hosts(host) if is_loopback(host) else None)
        check_bind(host, port)
        if not is_loopback(host):
            warn_public(host, port)
        shown = f"[{host}]" if ":" in host else host
        print(f"colossim dashboard: http://{shown}:{port}/  (API schema: /openapi.json; Ctrl+C stops)",
              file=sys.stderr, flush=True)
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level)
