"""`colossim sweep SWEEP.yaml`: a grid of scenarios, each with its plan search.

Everything is checked before the first point runs (the file, grid keys and values, the
objective, the output paths). The table is rewritten (atomically) after every finished
point, so Ctrl+C (or a kill) keeps the points already done, and ``--resume`` runs only the
points the table does not hold yet.
"""

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
        resume: bool = typer.Option(False, "--resume", help="keep the rows the output already holds; run the rest"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Run every grid point's plan search; write one tidy row per scenario and a scaling plot."""
        from colossim.search.sweep import load_sweep, match_rows, points, run_sweep
        from colossim.search.sweep_output import (
            check_table_path,
            plot_scaling,
            read_table,
            write_table,
        )

        if executor not in ("local", "ray"):
            raise field_error("--executor", executor, "allowed: local, ray", choices=("local", "ray"))
        from colossim import gate

        gate.check_field("options.workers", workers, "--workers")
        if executor == "ray":
            require("ray", "--executor ray", "ray")
        spec = load_sweep(sweep_file)
        base_dir = sweep_file.parent
        out = check_table_path(output or (base_dir / (spec.output or f"{spec.name}.csv")))  # suffix, folder, pyarrow
        png = plot or (base_dir / spec.plot if spec.plot else None)
        if png is not None:
            check_output_path(png, PLOT_SUFFIXES, "--plot")
        n = len(points(spec))
        done = read_table(out) if resume else []

        def progress(finished: int, total: int) -> None:
            print(f"sweep: {finished}/{total} scenarios", file=sys.stderr, flush=True)

        kept: list[dict] = []

        def save(rows: list[dict]) -> None:
            kept[:] = rows
            write_table(rows, out)

        held = len(match_rows(points(spec), done, list(spec.grid)))
        print(f"sweep {spec.name}: {n} scenarios on {executor}"
              + (f"; resuming: {held} already in {out} ({len(done) - held} rows of other points dropped)"
                 if resume else ""), file=sys.stderr, flush=True)
        try:
            rows = run_sweep(spec, executor=executor, workers=workers, address=address,  # type: ignore[arg-type]
                             progress=progress, done=done, on_row=save)
        except KeyboardInterrupt:
            print(f"sweep interrupted: {len(kept)} of {n} scenarios kept in {out}; "
                  f"`colossim sweep {sweep_file} -o {out} --resume` runs the rest", file=sys.stderr, flush=True)
            raise typer.Exit(code=130) from None
        table = write_table(rows, out)
        figure = plot_scaling(rows, png, list(spec.grid)) if png else None
        if json_out:
            print_json({"rows": rows, "output": str(table), "plot": str(figure) if figure else None})
            return
        from colossim.report.search_text import print_sweep

        print_sweep(rows, list(spec.grid), table, figure)
