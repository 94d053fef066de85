"""Tables of logged rows from files: CSV/TSV, JSONL rows and Parquet.

Every reader turns its file into a :class:`Table` (columns of raw cells with the line or
row each came from; TensorBoard's is ``convexlaw.runs.tb``), which
:func:`~convexlaw.runs.tables.run_from_table` then checks and turns into a run. Empty
cells are "not logged at this step".
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["CHUNK", "Column", "Table", "read_delimited", "read_jsonl_rows", "read_parquet"]


@dataclass
class Column:
    """One parsed column: float64 ``values`` (NaN where a cell is empty), ``present``
    (a cell was given) and ``bad`` (index of the first cell that is not a number, or -1)."""

    values: np.ndarray
    present: np.ndarray
    bad: int = -1

    @property
    def numeric(self) -> bool:
        """The first non-empty cell is a number (a text column is not a curve)."""
        first = np.flatnonzero(self.present)
        return self.bad < 0 or (first.size > 0 and self.bad != int(first[0]))


def _cell_number(cell: Any) -> float | None:
    """A cell as a float; None when it is empty; ValueError when it is not a number."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return None
    if isinstance(cell, bool):
        raise ValueError(cell)
    return float(cell)


def _parse_cells(cells: list[Any]) -> Column:
    """Parse raw cells; fast path for all-numeric columns, cell by cell otherwise."""
    n = len(cells)
    try:
        if not all(isinstance(c, str) for c in cells) or any(not c for c in cells):
            raise ValueError
        values = np.array(cells, dtype=np.float64)
        return Column(values, np.ones(n, dtype=bool))
    except (ValueError, TypeError):
        pass
    values = np.full(n, np.nan)
    present = np.zeros(n, dtype=bool)
    bad = -1
    for i, cell in enumerate(cells):
        try:
            x = _cell_number(cell)
        except (TypeError, ValueError):
            present[i] = True
            bad = i if bad < 0 else bad
            continue
        if x is not None:
            values[i], present[i] = x, True
    return Column(values, present, bad)


@dataclass
class Table:
    """Parsed columns of one file: ``cols[name].values[i]`` came from ``where(i)``
    ("line 7", "row 3", "step 100"); ``raw(name, i)`` is the cell as written."""

    path: Path
    fmt: str
    cols: dict[str, Column]
    lines: np.ndarray | range
    unit: str = "line"
    notes: list[str] = field(default_factory=list)
    cells: dict[str, list[Any]] | None = field(default=None, repr=False)

    @classmethod
    def from_cells(cls, path: Path, fmt: str, cells: dict[str, list[Any]],
                   lines: Any, unit: str = "line") -> Table:
        return cls(path, fmt, {k: _parse_cells(v) for k, v in cells.items()},
                   np.asarray(lines, dtype=np.int64), unit, cells=cells)

    def __len__(self) -> int:
        return len(self.lines)

    def where(self, i: int) -> str:
        return f"{self.unit} {int(self.lines[i])}"

    def raw(self, col: str, i: int) -> Any:
        if self.cells is not None:
            return self.cells[col][i]
        return _reread_cell(self.path, col, int(self.lines[i]))

    def find(self, names: tuple[str, ...]) -> str | None:
        lower = {c.lower(): c for c in self.cols}
        return next((lower[n] for n in names if n in lower), None)



CHUNK = 65536  # rows parsed at a time: memory stays ~ the parsed columns, not the text


def _delimiter(first: str) -> str:
    return "\t" if "\t" in first else (";" if ";" in first and "," not in first else ",")


def _open_text(path: Path) -> Any:
    return path.open(encoding="utf-8-sig", newline="")


def _reread_cell(path: Path, col: str, line: int) -> str:
    """The cell of ``col`` on data line ``line`` (for error messages only)."""
    with _open_text(path) as fh:
        header: list[str] = []
        delim = ","
        for number, text in enumerate(fh, start=1):
            if not header:
                if text.strip():
                    delim = _delimiter(text)
                    header = [h.strip() for h in next(csv.reader([text], delimiter=delim))]
            elif number == line:
                return next(csv.reader([text], delimiter=delim))[header.index(col)].strip()
    return "?"


def read_delimited(path: Path) -> Table:
    """CSV or TSV (delimiter sniffed: tab, comma or semicolon) with a header row.

    Read in chunks of rows straight into float64 columns, so a 5-million-row log needs
    about the memory of its numbers, not of its text.
    """
    try:
        with _open_text(path) as fh:
            return _read_delimited(path, fh)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not a text file ({err.reason} at byte {err.start})") from None


def _count_lines(path: Path) -> int:
    """Lines in a file (a last line without a newline counts), read in binary blocks."""
    n, last = 0, b"\n"
    with path.open("rb") as fh:
        while block := fh.read(1 << 24):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def _read_delimited(path: Path, fh: Any) -> Table:
    header_line, first = next(((i, ln) for i, ln in enumerate(fh, start=1) if ln.strip()),
                              (0, ""))
    if not header_line:
        raise ValueError(f"{path}: empty file; expected a header row such as 'step,lr,loss' "
                         "and data rows")
    delim = _delimiter(first)
    raw_header = next(csv.reader([first], delimiter=delim))
    header = [h.strip() for h in raw_header]
    if any(not h for h in header):
        raise ValueError(f"{path}: line {header_line}: empty column name in header "
                         f"{raw_header!r}")
    dup = {h for h in header if header.count(h) > 1}
    if dup:
        raise ValueError(f"{path}: line {header_line}: column {sorted(dup)[0]!r} appears "
                         "twice in the header")
    # the columns are allocated once, at their final size: no copies, no fragments
    cap = max(_count_lines(path) - header_line, 0)
    values = {h: np.empty(cap) for h in header}
    present = {h: np.empty(cap, dtype=bool) for h in header}
    lines = np.empty(cap, dtype=np.int64)
    bad = dict.fromkeys(header, -1)
    n = 0
    chunk: list[str] = []
    numbers: list[int] = []

    def flush() -> None:
        nonlocal n
        if not chunk:
            return
        parsed, kept = _parse_chunk(path, chunk, numbers, header, delim)
        m = len(kept)
        for h, c in zip(header, parsed, strict=True):
            if c.bad >= 0 and bad[h] < 0:
                bad[h] = n + c.bad
            values[h][n:n + m] = c.values
            present[h][n:n + m] = c.present
        lines[n:n + m] = kept
        n += m
        chunk.clear()
        numbers.clear()

    for line, text in enumerate(fh, start=header_line + 1):
        if text.strip():
            chunk.append(text)
            numbers.append(line)
            if len(chunk) >= CHUNK:
                flush()
    flush()
    if not n:
        raise ValueError(f"{path}: header {delim.join(header)!r} but no data rows")
    cols = {h: Column(values[h][:n], present[h][:n], bad[h]) for h in header}
    contiguous = lines[n - 1] - lines[0] == n - 1  # no blank lines: no array needed
    where: Any = range(int(lines[0]), int(lines[0]) + n) if contiguous else lines[:n]
    return Table(path, "tsv" if delim == "\t" else "csv", cols, where)


def _parse_chunk(path: Path, chunk: list[str], numbers: list[int], header: list[str],
                 delim: str) -> tuple[list[Column], list[int]]:
    """Columns of a chunk of data lines and the lines kept (rows of blank cells are
    skipped); numpy's parser when every cell is a number."""
    n = len(chunk)
    if not any('"' in t for t in chunk):
        try:
            block = np.loadtxt(chunk, delimiter=delim, dtype=np.float64, ndmin=2,
                               comments=None)
            if block.shape == (n, len(header)):
                ok = np.ones(n, dtype=bool)
                return [Column(block[:, j].copy(), ok) for j in range(len(header))], numbers
        except ValueError:
            pass  # empty cells, text or a ragged row: the careful path below says which
    rows = list(csv.reader(chunk, delimiter=delim))
    if len(rows) != n:
        raise ValueError(f"{path}: a quoted field spans several lines (near line {numbers[0]});"
                         " expected one row per line")
    kept_rows, kept = [], []
    for row, line in zip(rows, numbers, strict=True):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line}: {len(row)} fields, expected {len(header)} "
                             f"({delim.join(header)!r})")
        kept_rows.append(row)
        kept.append(line)
    if not kept_rows:
        empty = Column(np.empty(0), np.empty(0, dtype=bool))
        return [empty] * len(header), kept
    return [_parse_cells([c.strip() for c in col]) for col in zip(*kept_rows, strict=True)], kept


def read_jsonl_rows(path: Path, rows: list[tuple[int, dict]]) -> Table:
    """JSONL rows (already parsed, with line numbers) as a table; missing keys are empty."""
    keys: dict[str, None] = {}
    for _, obj in rows:
        keys.update(dict.fromkeys(obj))
    cols = {k: [obj.get(k, "") for _, obj in rows] for k in keys}
    return Table.from_cells(path, "jsonl", cols, [i for i, _ in rows])


def read_parquet(path: Path) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"{path}: reading Parquet needs pyarrow (pip install "
                         "'convexlaw[io]')") from None
    try:
        data = pq.read_table(path).to_pydict()
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise ValueError(f"{path}: not a readable Parquet file ({err})") from None
    n = len(next(iter(data.values()), []))
    if n == 0:
        raise ValueError(f"{path}: empty Parquet table; expected rows with step, lr, loss")
    cols = {k: ["" if v is None else v for v in vals] for k, vals in data.items()}
    return Table.from_cells(path, "parquet", cols, np.arange(1, n + 1), unit="row")
