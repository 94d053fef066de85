"""Shared helpers of the CLI modules: one console, clean errors, JSON output."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from convexlaw.jsonable import plain

console = Console()
err_console = Console(stderr=True)


def abort(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error (no traceback) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (numpy values converted; inf and NaN as null)."""
    typer.echo(json.dumps(plain(obj, finite=True), indent=2, ensure_ascii=False))
