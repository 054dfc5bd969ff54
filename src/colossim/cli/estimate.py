"""`colossim estimate SCENARIO.yaml`: one plan's step time, throughput and memory."""

from __future__ import annotations

from pathlib import Path

import typer

from colossim.cli.common import JSON_OPTION, load_planned, print_json, user_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def estimate(
        scenario: Path = typer.Argument(..., help="scenario YAML file"),
        network: str = typer.Option("analytic", "--network",
                                    help="collective costs: analytic (alpha-beta) or flow (simulated on the built "
                                         "fabric for the DP, EP, PP and CP groups)"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Predict one training step: time breakdown, MFU, tokens/s, memory per GPU, days to train."""
        from colossim.api import estimate as run_estimate
        from colossim.errors import field_error

        if network not in ("analytic", "flow"):
            raise field_error("--network", network, "allowed: analytic, flow", choices=("analytic", "flow"))
        sc = load_planned(scenario)
        collectives = None
        if network == "flow":
            from colossim.network.flow_compare import ComparingCollectives

            collectives = ComparingCollectives(sc)
        est = run_estimate(sc, collectives=collectives)
        from colossim.api import estimate_record

        flow = None
        if collectives is not None:
            analytic = run_estimate(sc)
            flow = {**collectives.comparison(), "step_time_analytic_s": analytic.step_time_s,
                    "step_time_flow_s": est.step_time_s}
        out = estimate_record(sc, est, flow)
        if json_out:
            print_json(out)
            return
        from colossim.report.text import print_estimate

        print_estimate(sc, est, out["time_to_train"], flow)
