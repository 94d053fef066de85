"""The ``convexlaw`` command line: one typer app, one module per area.

Each module in ``MODULES`` defines ``register(app)``; imports of heavy libraries stay
inside the commands so that ``convexlaw --help`` starts fast.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from convexlaw.cli.common import OneLineErrors, version

app = typer.Typer(
    name="convexlaw",
    cls=OneLineErrors,
    help="Peak learning rate and loss for long runs, from cheap pilot runs "
    "(the last-iterate SGD bound of Bu, Xu & Mao, ICLR 2026).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"convexlaw {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_show_version,
        is_eager=True)] = False,
) -> None:
    """Peak learning rate and loss for long runs, from cheap pilot runs (the last-iterate
    SGD bound of Bu, Xu & Mao, ICLR 2026)."""


MODULES = ("core", "runs", "fit", "train", "laws", "plan", "schedule", "report", "convexity")

for _name in MODULES:
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as err:  # an area that has not landed yet
        if err.name != f"{__name__}.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    app()
