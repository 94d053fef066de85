"""Shared pieces of the CLI modules: one console, one-line errors, the common options.

Every command spells the horizon ``--steps/-T`` (whole numbers, ``4e4`` accepted), takes
``--db`` with the same default (``$CONVEXLAW_DB`` or ``./convexlaw.db``) and ``--json``.
Parser errors (a bad number, a missing option) print ONE line and exit 2, like the
errors the commands raise themselves.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from convexlaw.jsonable import plain

# piped or captured output is not squeezed to 80 columns: tables keep every column whole
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)


def abort(message: str, code: int = 2) -> NoReturn:
    """Print a one-line error (no traceback) and exit with ``code``."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def warn(message: str) -> None:
    """A one-line warning on stderr."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    """Print ``obj`` as JSON on stdout (numpy values converted; inf and NaN as null)."""
    typer.echo(json.dumps(plain(obj, finite=True), indent=2, ensure_ascii=False))


# ---------------------------------------------------------------- one-line parser errors
try:  # typer >= 0.22 vendors its own click
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer on the click package
    from click import exceptions as _cx  # type: ignore[no-redef]


def _message(err: Exception) -> str:
    """A parser error's text, with the offending input named when typer left it out."""
    text = err.format_message() if hasattr(err, "format_message") else str(err)
    text = text.replace("Value error, ", "")
    cause = err.__cause__
    if cause is not None and hasattr(cause, "errors"):
        errors = cause.errors()
        if errors and errors[0].get("type") != "value_error" and "input" in errors[0]:
            text += f" (got {errors[0]['input']!r})"
    return text


class OneLineErrors(TyperGroup):
    """The top-level group: usage errors become ``error: ...`` on one line (exit 2).

    Typer draws parser errors in a framed box with the usage above it; scripts and people
    both read a single line better, and it matches the commands' own errors.
    """

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except _cx.NoArgsIsHelpError as err:
            err.show()
            sys.exit(0)
        except _cx.ClickException as err:
            hint = ""
            ctx = getattr(err, "ctx", None)
            if isinstance(err, _cx.UsageError) and ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            err_console.print(f"[bold red]error:[/] {escape(_message(err))}{escape(hint)}",
                              highlight=False, soft_wrap=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            err_console.print("aborted", highlight=False)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


# ---------------------------------------------------------------- value parsers
def parse_steps(value: Any, minimum: int = 1) -> int:
    """A whole number of steps: ``40000``, ``4e4`` and ``40_000`` all mean 40000."""
    if isinstance(value, int) and not isinstance(value, bool):
        x: float = value
    else:
        try:
            x = float(str(value).replace("_", ""))
        except ValueError:
            raise ValueError(f"{value!r} is not a number of steps; expected a whole number "
                             f">= {minimum} such as 40000 or 4e4") from None
    if not (math.isfinite(x) and x == int(x)):
        raise ValueError(f"{value!r} is not a whole number of steps; expected an integer "
                         f">= {minimum} such as 40000 or 4e4")
    if int(x) < minimum:
        raise ValueError(f"{value!r} is below {minimum}; expected a whole number of steps "
                         f">= {minimum}")
    return int(x)


def number_parser(minimum: float | None = None, strict: bool = False) -> Any:
    """A parser of finite floats, bounded below by ``minimum`` (exclusive if ``strict``)."""
    expected = "a finite number" + ("" if minimum is None else
                                    f" {'>' if strict else '>='} {minimum:g}")

    def parse(value: Any) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{value!r} is not a number; expected {expected}") from None
        if not math.isfinite(x):
            raise ValueError(f"{value!r} is not finite; expected {expected}")
        if minimum is not None and (x < minimum or (strict and x == minimum)):
            raise ValueError(f"{value!r} is out of range; expected {expected}")
        return x

    return parse


def steps_option(help: str = "Horizon T (optimizer updates), e.g. 40000 or 4e4.",
                 minimum: int = 1) -> Any:
    """The horizon option, spelled ``--steps/-T`` in every command."""
    return typer.Option("--steps", "-T", help=help,
                        parser=lambda v: parse_steps(v, minimum), metavar="INTEGER")


def number_option(*names: str, help: str, minimum: float | None = None,
                  strict: bool = False) -> Any:
    """A finite-float option: NaN, inf and values below ``minimum`` are one-line errors."""
    return typer.Option(*names, help=help, parser=number_parser(minimum, strict),
                        metavar="FLOAT")


DbOpt = Annotated[Path | None, typer.Option(
    "--db", help="Run store file (default: $CONVEXLAW_DB or ./convexlaw.db).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


def open_store(db: Path | None, *, must_exist: bool = True) -> Any:
    """The run store at ``db`` (default path when None); one-line errors otherwise."""
    from convexlaw.runs import RunStore, RunStoreError, default_db_path

    path = db if db is not None else default_db_path()
    if must_exist and not path.is_file():
        what = "it is a folder" if path.is_dir() else "no such file"
        abort(f"no run store at {path} ({what}); import runs first (convexlaw runs import "
              f"FILES --db {path}) or train them (convexlaw train/sweep --db {path})")
    try:
        return RunStore(path)
    except RunStoreError as err:
        abort(str(err))


# ---------------------------------------------------------------- memory
# Memory per step of the horizon: the growth of the peak RSS (/usr/bin/time -f %M) between
# two horizons, rounded up — `bound` 41 B between T = 1e6 and 1e7 (a handful of float64
# arrays of length T), 413 B at every step (the expansion arrays of the fast sum, for
# --plot); `plan` 1.8 kB between 1e5 and 1e6 (curve-model predictions at the target).
# Helper "speed" is making the every-step sum stream: re-measure these when it lands.
BYTES_PER_STEP = {"bound": 64, "bound at every step": 480, "plan": 2400}


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable; else physical RAM)."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    import os

    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def _gb(n: float) -> str:
    return f"{n / 1e12:.3g} TB" if n >= 1e12 else f"{n / 1e9:.3g} GB"


def _sci(n: float) -> str:
    """2.4e8 rather than 2.4e+08."""
    mant, _, exp = f"{n:.2g}".partition("e")
    return f"{mant}e{int(exp)}" if exp else mant


def check_memory(steps: int, what: str, option: str = "--steps") -> None:
    """Refuse up front a horizon whose arrays cannot fit in memory (one line, exit 2)."""
    per = BYTES_PER_STEP[what]
    need = per * steps
    have = available_memory()
    if need > 0.8 * have:
        fits = int(0.8 * have / per)
        abort(f"{option} {steps}: the {what} needs about {_gb(need)} ({per} bytes per step), "
              f"more than the {_gb(have)} of memory available; the largest horizon that fits "
              f"is about {_sci(fits)} steps")


# ---------------------------------------------------------------- progress
@contextlib.contextmanager
def working(description: str, disable: bool = False) -> Iterator[Any]:
    """A live line on stderr (spinner, what is being done, elapsed time) for work whose
    length is not known in advance; gone when the work ends, and never drawn into a pipe
    or a log (a blank line there would break one-line errors)."""
    if disable or not err_console.is_terminal:  # nothing drawn: rich.progress not loaded
        yield lambda text: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(text: str) -> None:
            bar.update(task, description=text)

        yield update


def version() -> str:
    """The version of convexlaw (defined once, in ``convexlaw/_version.py``)."""
    from convexlaw import __version__

    return __version__
