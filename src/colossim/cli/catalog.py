"""`colossim catalog [gpus|models|clusters|switches]` and `colossim catalog show NAME`."""

from __future__ import annotations

import typer

from colossim.cli.common import JSON_OPTION, print_json, user_errors

KINDS = ("gpus", "models", "clusters", "switches")


def register(app: typer.Typer) -> None:
    cat = typer.Typer(help="List the catalog (GPUs, models, clusters, switches) or show one entry.",
                      invoke_without_command=True, no_args_is_help=False)
    app.add_typer(cat, name="catalog")

    @cat.callback()
    def _all(ctx: typer.Context, json_out: bool = JSON_OPTION) -> None:
        """Everything in the catalog, by kind."""
        if ctx.invoked_subcommand is None:
            _list(KINDS, json_out)

    for kind in KINDS:
        _add_lister(cat, kind)

    @cat.command("show")
    @user_errors
    def show(name: str = typer.Argument(..., help="a GPU, model, cluster or switch name"),
             json_out: bool = JSON_OPTION) -> None:
        """Every field of one catalog entry, with its source."""
        from colossim.catalog.views import find_entry

        kind, entry = find_entry(name)
        if json_out:
            print_json({"kind": kind, **entry})
            return
        from colossim.report.text import print_entry

        print_entry(kind, entry)


def _add_lister(cat: typer.Typer, kind: str) -> None:
    @cat.command(kind, help=f"list the {kind} in the catalog")
    def lister(json_out: bool = JSON_OPTION) -> None:
        _list((kind,), json_out)


def _list(kinds: tuple[str, ...], json_out: bool) -> None:
    from colossim.catalog.views import summaries

    tables = {k: summaries(k) for k in kinds}
    if json_out:
        print_json(tables)
        return
    from colossim.report.text import print_catalog

    print_catalog(tables)
