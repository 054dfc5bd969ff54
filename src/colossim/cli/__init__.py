"""The `colossim` command line: a thin layer over the library.

Each command lives in its own module with a ``register(app)`` function; heavy imports
(rich, matplotlib, ray, the web server) happen inside the command bodies. Every user
mistake is a ColossimError: printed as one line on stderr, exit code 2, no traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

import typer

from colossim.errors import ColossimError

# Command modules in help order; a module not (yet) present is skipped.
COMMAND_MODULES = ("estimate", "search", "sweep", "network", "power", "cost", "reliability", "buildout", "report",
                   "serve", "validate", "calibrate", "catalog")


def build_app() -> typer.Typer:
    app = typer.Typer(
        name="colossim",
        help="A digital twin of Colossus-class AI supercomputers: how fast, how big, how costly, how reliable.",
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    @app.callback()
    def _root(version: bool = typer.Option(False, "--version", help="print the version and exit",
                                           is_eager=True, callback=_print_version)) -> None:
        """A digital twin of Colossus-class AI supercomputers: how fast, how big, how costly, how reliable."""

    for name in COMMAND_MODULES:
        if importlib.util.find_spec(f"colossim.cli.{name}") is not None:
            importlib.import_module(f"colossim.cli.{name}").register(app)
    return app


def _print_version(value: bool) -> None:
    if value:
        from colossim import __version__

        print(f"colossim {__version__}")
        raise typer.Exit()


def main(argv: list[str] | None = None) -> None:
    app = build_app()
    try:
        app(args=argv, prog_name="colossim", standalone_mode=True)
    except ColossimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
