"""`colossim catalog [gpus|models|clusters|switches|stacks]` and `colossim catalog show NAME`."""

from __future__ import annotations

from pathlib import Path

import typer

from colossim.cli.common import JSON_OPTION, print_json, user_errors

KINDS = ("gpus", "models", "clusters", "switches", "stacks")


def register(app: typer.Typer) -> None:
    cat = typer.Typer(help="List the catalog (GPUs, models, clusters, switches, software stacks) or show one entry.",
                      invoke_without_command=True, no_args_is_help=False)
    app.add_typer(cat, name="catalog")

    @cat.callback()
    def _all(ctx: typer.Context, json_out: bool = JSON_OPTION) -> None:
        """Everything in the catalog, by kind."""
        if ctx.invoked_subcommand is None:
            _list(KINDS, json_out)

    for kind in KINDS:
        _add_lister(cat, kind)
    _add_import(cat)

    @cat.command("show")
    @user_errors
    def show(name: str = typer.Argument(..., help="a GPU, model, cluster, switch or software stack name"),
             json_out: bool = JSON_OPTION) -> None:
        """Every field of one catalog entry, with its source."""
        from colossim.catalog.views import find_entry

        kind, entry = find_entry(name)
        if json_out:
            print_json({"kind": kind, **entry})
            return
        from colossim.report.text import print_entry

        print_entry(kind, entry)


def _add_import(cat: typer.Typer) -> None:
    @cat.command("import-hf")
    @user_errors
    def import_hf(config: Path = typer.Argument(..., help="a Hugging Face config.json"),
                  name: str = typer.Option(..., "--name", help="the preset name to use in scenarios (model: NAME)"),
                  replace: bool = typer.Option(False, "--replace", help="overwrite a user preset of that name"),
                  json_out: bool = JSON_OPTION) -> None:
        """Add a model from a Hugging Face config.json to your user catalog ($COLOSSIM_HOME or
        ~/.config/colossim/models.yaml); then `model: NAME` works in any scenario."""
        import datetime

        from colossim.catalog import store
        from colossim.scenario.hf import model_fields, read_config
        from colossim.scenario.loader import build_model

        fields = model_fields(read_config(config), name=name)
        model = build_model(fields)  # validated now, not when first used
        entry = {**model.model_dump(exclude_none=True), "source": f"Hugging Face config {config.resolve()}",
                 "imported": datetime.date.today().isoformat()}
        path = store.add_user_model(name, entry, replace=replace)
        params = model.total_params(4096)
        if json_out:
            print_json({"name": name.lower(), "catalog": str(path), "params": params,
                        "active_params": model.active_params(4096), "model": entry})
            return
        from colossim.report.present import fmt_count

        active = f" ({fmt_count(model.active_params(4096))} active)" if model.moe else ""
        print(f"added model {name.lower()!r} to {path}: {fmt_count(params)} parameters{active}, "
              f"{model.num_layers} layers, hidden {model.hidden_size:,}; use it as `model: {name.lower()}`")


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
