"""Tables of final losses: a CSV with columns ``N``, ``T``, optional ``peak_lr``, ``loss``.

``T`` is the horizon in steps or tokens (one unit for the whole table); ``N`` the model
size (optional: absent means one size); ``peak_lr`` the peak learning rate (absent: every
row is taken as tuned at its optimum, and the tuned-loss law L*(N, T) is fitted). A loss
written ``nan``, ``inf`` or ``diverged`` marks a run that diverged: it is left out of the
fit and reported (it bounds the usable peak LR). Column
names are case-insensitive; other columns are ignored; blank lines and lines starting with
``#`` are skipped. Every problem is reported with the file, the line and the column::

    N,T,peak_lr,loss
    124e6,15000,1e-3,3.083
    124e6,25000,1e-3,3.016

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
>>> _ = open(path, "w").write("N,T,loss\\n1e8,1000,3.5\\n1e8,x,3.4\\n")
>>> read_table(path)
Traceback (most recent call last):
...
convexlaw.laws.table.TableError: ...t.csv line 3, column 'T': 'x' is not a number
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from convexlaw.laws.data import LawData

__all__ = ["TableError", "read_table"]

REQUIRED = ("T", "loss")
OPTIONAL = ("N", "peak_lr")
_EXPECT = "expected columns N, T, loss and optionally peak_lr"


class TableError(ValueError):
    """A malformed table; the message names the file, line, column and what was expected."""


DIVERGED = ("nan", "inf", "+inf", "diverged")


def _number(text: str, where: str, col: str) -> float:
    t = text.strip()
    if col == "loss" and t.lower() in DIVERGED:
        return math.inf  # a diverged run: left out of the fit, kept as a stability bound
    if t == "":
        if col == "peak_lr":
            raise TableError(f"{where}, column 'peak_lr': empty; give the peak LR of every "
                             "row, or drop the column if every row was tuned at its optimum")
        raise TableError(f"{where}, column {col!r}: empty; expected a number")
    try:
        v = float(t)
    except ValueError:
        raise TableError(f"{where}, column {col!r}: {t!r} is not a number") from None
    if not math.isfinite(v):
        raise TableError(f"{where}, column {col!r}: {t!r}; expected a finite number")
    if v <= 0:
        raise TableError(f"{where}, column {col!r}: {t} must be > 0")
    return v


def read_table(path: str | Path) -> LawData:
    """Read and validate a table of final losses into table-mode ``LawData``."""
    p = Path(path)
    if not p.exists():
        raise TableError(f"{p}: no such file")
    if p.is_dir():
        raise TableError(f"{p}: is a directory, expected a CSV file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise TableError(f"{p}: not a UTF-8 text file ({err.reason} at byte {err.start})"
                         ) from None
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines())
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise TableError(f"{p}: the file is empty; {_EXPECT}")
    head_no, head = lines[0]
    header = [h.strip() for h in next(csv.reader([head]))]
    lower = [h.lower() for h in header]
    cols: dict[str, int] = {}
    for want in REQUIRED + OPTIONAL:
        hits = [i for i, h in enumerate(lower) if h == want.lower()]
        if len(hits) > 1:
            raise TableError(f"{p} line {head_no}: column {want!r} appears {len(hits)} times")
        if hits:
            cols[want] = hits[0]
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        found = ", ".join(repr(h) for h in header) or "none"
        raise TableError(f"{p}: missing column {missing[0]!r} (found {found}); {_EXPECT}")
    if len(lines) < 2:
        raise TableError(f"{p}: no data rows after the header")
    values: dict[str, list[float]] = {c: [] for c in cols}
    for line_no, line in lines[1:]:
        fields = next(csv.reader([line]))
        where = f"{p} line {line_no}"
        if len(fields) != len(header):
            raise TableError(f"{where}: {len(fields)} fields, but the header has "
                             f"{len(header)} ({', '.join(header)})")
        for c, j in cols.items():
            values[c].append(_number(fields[j], where, c))
    arr = {c: np.array(v, dtype=np.float64) for c, v in values.items()}
    if not np.isfinite(arr["loss"]).any():
        raise TableError(f"{p}: every row diverged (loss nan/inf/diverged): no finite loss "
                         "to fit")
    return LawData.from_arrays(T=arr["T"], loss=arr["loss"], peak=arr.get("peak_lr"),
                               N=arr.get("N"), source=str(p), diverged="skip")
