"""`colossim validate`: replay published runs, predicted against measured step time."""

from __future__ import annotations

import typer

from colossim.cli.common import JSON_OPTION, print_json, user_errors
from colossim.errors import field_error


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def validate(
        case: str = typer.Option(None, "--case", help="only this case family (e.g. megatron_sc21_table1)"),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Replay the published training runs and report the error of each and the MAPE."""
        from colossim.validation.runs import case_names, mape
        from colossim.validation.runs import validate as run_validate

        if case is not None and case not in case_names():
            raise field_error("--case", case, f"allowed: {', '.join(case_names())}", choices=case_names())
        rows = run_validate(case)
        summary = {"cases": len(rows), "mape": mape(rows), "max_abs_error": max(abs(r.error) for r in rows)}
        if json_out:
            print_json({"rows": [r.to_dict() for r in rows], **summary})
            return
        from colossim.report.text import print_validation

        print_validation(rows, summary)
