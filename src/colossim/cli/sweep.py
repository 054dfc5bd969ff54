"""`colossim sweep SWEEP.yaml`: a grid of scenarios, each with its plan search."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from colossim.cli.common import (
    JSON_OPTION,
    PLOT_SUFFIXES,
    check_output_path,
    print_json,
    require,
    user_errors,
)
from colossim.errors import field_error


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def sweep(
        sweep_file: Path = typer.Argument(..., help="sweep YAML (base scenario, grid, search options)"),
        executor: str = typer.Option("local", help="local (processes) | ray"),
        address: str = typer.Option(None, help="an existing Ray cluster (default: start a local one)"),
        workers: int = typer.Option(None, help="local processes (default: one per core)"),
        output: Path = typer.Option(None, "--output", "-o", help=".csv or .parquet (default: the sweep's output)"),
        plot: Path = typer.Option(None, help="scaling plot PNG (default: the sweep's plot)"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Run every grid point's plan search; write one tidy row per scenario and a scaling plot."""
        from colossim.search.sweep import load_sweep, points, run_sweep
        from colossim.search.sweep_output import plot_scaling, write_table

        if executor not in ("local", "ray"):
            raise field_error("--executor", executor, "allowed: local, ray", choices=("local", "ray"))
        if workers is not None and workers < 1:
            raise field_error("--workers", workers, "must be >= 1")
        if executor == "ray":
            require("ray", "--executor ray", "ray")
        spec = load_sweep(sweep_file)
        n = len(points(spec))
        base_dir = sweep_file.parent
        out = check_output_path(output or (base_dir / (spec.output or f"{spec.name}.csv")), (".csv", ".parquet"))
        png = plot or (base_dir / spec.plot if spec.plot else None)
        if png is not None:
            check_output_path(png, PLOT_SUFFIXES, "--plot")

        def progress(done: int, total: int) -> None:
            print(f"sweep: {done}/{total} scenarios", file=sys.stderr, flush=True)

        print(f"sweep {spec.name}: {n} scenarios on {executor}", file=sys.stderr)
        rows = run_sweep(spec, executor=executor, workers=workers, address=address, progress=progress)  # type: ignore[arg-type]
        table = write_table(rows, out)
        figure = plot_scaling(rows, png, list(spec.grid)) if png else None
        if json_out:
            print_json({"rows": rows, "output": str(table), "plot": str(figure) if figure else None})
            return
        from colossim.report.search_text import print_sweep

        print_sweep(rows, list(spec.grid), table, figure)
