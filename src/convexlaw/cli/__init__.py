"""The ``convexlaw`` command line: one typer app, one module per area.

Each module in ``MODULES`` defines ``register(app)``; imports of heavy libraries stay
inside the commands so that ``convexlaw --help`` starts fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="convexlaw",
    help="Peak learning rate and loss for long runs, from cheap pilot runs "
    "(the last-iterate SGD bound of Bu, Xu & Mao, ICLR 2026).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

MODULES = ("core", "runs", "fit", "train", "laws", "plan", "schedule")

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
