"""`colossim validate`: replay published runs, predicted against measured step time."""

from __future__ import annotations

from typing import Any

import typer

from colossim.cli.common import JSON_OPTION, print_json, user_errors
from colossim.errors import field_error


def register(app: typer.Typer) -> None:
    @app.command()
    @user_errors
    def validate(
        case: str = typer.Option(None, "--case", help="only this case family (e.g. megatron_sc21_table1)"),
        cross_validate: bool = typer.Option(
            False, "--cross-validate",
            help="also refit each GPU family's profile with each case family left out and predict that family",
        ),
        unknowns: bool = typer.Option(
            False, "--unknowns",
            help="also replay each run over every admissible value of the knobs its source leaves out "
                 "(its conventions) and report the error range they span",
        ),
        json_out: bool = JSON_OPTION,
    ) -> None:
        """Replay the published training runs and report the error of each and the MAPE."""
        from colossim.validation.runs import case_names, cross_validated_mape, family_summary, mape
        from colossim.validation.runs import validate as run_validate

        if case is not None and case not in case_names():
            raise field_error("--case", case, f"allowed: {', '.join(case_names())}", choices=case_names())
        rows = run_validate(case, cross_validate=cross_validate, unknowns=unknowns)
        summary: dict[str, Any] = {"cases": len(rows), "mape": mape(rows), "max_abs_error": max(abs(r.error) for r in rows)}
        if unknowns:
            from colossim.validation.unknowns import unknowns_summary

            summary["unknowns"] = unknowns_summary(rows)
        if cross_validate:
            summary["cross_validated_mape"] = cross_validated_mape(rows)
            summary["cross_validated_max_abs_error"] = max(abs(r.cross_validated_error or 0.0) for r in rows)
        families = family_summary(rows)
        if json_out:
            print_json({"rows": [r.to_dict() for r in rows], **summary, "families": families})
            return
        from colossim.report.text import console, print_unknowns, print_validation

        print_validation(rows, summary)
        if unknowns:
            print_unknowns(rows, summary["unknowns"])
        if cross_validate:
            con = console()
            con.print(f"cross-validated (leave one case family out): MAPE {summary['cross_validated_mape']:.2%}, "
                      f"worst {summary['cross_validated_max_abs_error']:.2%}")
            for f in families:
                con.print(f"  {f['case']:32s} {f['runs']:2d} runs  in-sample {f['mape']:6.2%}  "
                          f"CV {f['cross_validated_mape']:6.2%}")
