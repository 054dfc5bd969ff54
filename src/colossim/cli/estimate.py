"""`colossim estimate SCENARIO.yaml`: one plan's step time, throughput and memory."""

from __future__ import annotations

from pathlib import Path

import typer

from colossim.cli.common import JSON_OPTION, print_json, scenario_path, user_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def estimate(
        scenario: Path = typer.Argument(..., help="scenario YAML file"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Predict one training step: time breakdown, MFU, tokens/s, memory per GPU, days to train."""
        from colossim.api import estimate as run_estimate
        from colossim.api import load_scenario

        sc = load_scenario(scenario_path(scenario))
        est = run_estimate(sc)
        if json_out:
            print_json(est.to_dict())
            return
        from colossim.report.text import print_estimate

        print_estimate(sc, est)
