"""Shared helpers of the CLI modules: one console, clean errors, JSON output."""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def abort(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error (no traceback) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return f if math.isfinite(f) else None  # JSON has no inf/NaN
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (numpy values converted; inf and NaN as null)."""
    typer.echo(json.dumps(_plain(obj), indent=2, ensure_ascii=False))
