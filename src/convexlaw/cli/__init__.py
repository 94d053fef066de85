"""The ``convexlaw`` command line: one typer app, one module per area.

Each module in ``MODULES`` defines ``register(app)``; imports of heavy libraries stay
inside the commands so that ``convexlaw --help`` starts fast. ``convexlaw CMD`` builds an
app with only CMD's module (``COMMANDS``): typer reads the signature of every registered
command at each start (≈ 65 ms for all of them here), which a run of one command need not
pay. ``app`` (for tests and scripts) has every command.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated, Any

import typer

from convexlaw.cli.common import OneLineErrors, version

MODULES = ("core", "runs", "fit", "train", "laws", "plan", "schedule", "report", "convexity")
# every top-level command or group → the module that registers it (checked by a test)
COMMANDS = {"schedules": "core", "bound": "core", "exam": "core", "runs": "runs",
            "fit": "fit", "predict": "fit", "compare": "fit", "train": "train",
            "sweep": "train", "laws": "laws", "plan": "plan", "demo": "plan",
            "schedule": "schedule", "report": "report", "convexity": "convexity"}


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"convexlaw {version()}")
        raise typer.Exit()


def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", callback=_show_version,
        is_eager=True)] = False,
) -> None:
    """Peak learning rate and loss for long runs, from cheap pilot runs (the last-iterate
    SGD bound of Bu, Xu & Mao, ICLR 2026)."""


def make_app(modules: tuple[str, ...] = MODULES) -> typer.Typer:
    """The ``convexlaw`` app with the commands of ``modules``."""
    new = typer.Typer(
        name="convexlaw",
        cls=OneLineErrors,
        help="Peak learning rate and loss for long runs, from cheap pilot runs "
        "(the last-iterate SGD bound of Bu, Xu & Mao, ICLR 2026).",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_show_locals=False,
    )
    new.callback()(_root)
    for name in modules:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as err:  # an area that has not landed yet
            if err.name != f"{__name__}.{name}":
                raise
            continue
        module.register(new)
    return new


def __getattr__(name: str) -> Any:
    if name == "app":  # built on first use: ``main`` does not need every command
        globals()["app"] = built = make_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    words = [a for a in sys.argv[1:] if not a.startswith("-")]
    module = COMMANDS.get(words[0]) if words and words[0] == sys.argv[1] else None
    make_app((module,) if module else MODULES)()
