"""`colossim calibrate`: fit an efficiency profile to your own nccl-tests and GEMM-sweep outputs."""

from __future__ import annotations

from pathlib import Path

import typer

from colossim.cli.common import JSON_OPTION, check_output_path, print_json, user_errors


def _read(path: Path, flag: str) -> str:
    """A measurement file through the input gate: a file (not a folder), at most its size, UTF-8."""
    from colossim import gate

    return gate.read_text(path, flag)


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def calibrate(
        gpu: str = typer.Option(..., "--gpu", help="GPU catalog name the measurements were taken on (e.g. h100)"),
        all_reduce: list[Path] = typer.Option([], "--all-reduce", help="all_reduce_perf output (one node and/or several)"),
        all_gather: list[Path] = typer.Option([], "--all-gather", help="all_gather_perf output"),
        alltoall: list[Path] = typer.Option([], "--alltoall", help="alltoall_perf output"),
        gemm: Path = typer.Option(None, "--gemm", help="GEMM sweep CSV (benchmarks/gpu/gemm_sweep.py)"),
        output: Path = typer.Option(None, "--output", "-o", help="write the profile YAML here"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Fit an efficiency profile (GEMM curve, NVLink/NIC busbw and latency, all-to-all) and write it as YAML;
        use it with `cluster.efficiency_profile: PATH` in a scenario."""
        from colossim.calibration.measurements import parse_gemm_csv, parse_nccl_tests
        from colossim.calibration.profile import FIT_MIN_DIM, fit_points, fit_profile, to_yaml
        from colossim.errors import ColossimError

        if output is not None:  # before the work: a folder or an unwritable place is refused now
            check_output_path(output, (".yaml", ".yml"), "--output")
        runs, sources = [], {}
        for kind, paths in (("all_reduce", all_reduce), ("all_gather", all_gather), ("alltoall", alltoall)):
            for p in paths:
                run = parse_nccl_tests(_read(p, f"--{kind.replace('_', '-')}"), str(p), kind)
                runs.append(run)
                sources[f"{kind}_{'multi' if run.nodes > 1 else 'single'}_node"] = (
                    f"{p.name}: nccl-tests {kind}_perf, {run.ranks} ranks on {run.nodes} node(s)")
        sweep = None
        if gemm is not None:
            sweep = parse_gemm_csv(_read(gemm, "--gemm"), str(gemm))
            fitted = int(fit_points(sweep).sum())
            sources["gemm"] = (f"{gemm.name}: {len(sweep.m)} GEMM shapes, {fitted} of them fitted (m, n, k >= "
                               f"{FIT_MIN_DIM} where there are enough; benchmarks/gpu/gemm_sweep.py)")
        if not runs and sweep is None:
            raise ColossimError("calibrate: give at least one of --all-reduce, --all-gather, --alltoall, --gemm",
                                field="calibrate")
        body = fit_profile(gpu, runs, sweep, sources)
        if output is not None:
            from colossim import atomic

            atomic.write_text(output, to_yaml(body), "--output")
        if json_out:
            print_json(body)
            return
        print(to_yaml(body), end="")
        if output is not None:
            print(f"# written to {output}")
