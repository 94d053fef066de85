"""The SQLite file under a run store: the schema, a connection per process and thread,
one write transaction at a time, and SQLite's write errors as messages that say what to do
(the layout of the tables: ``convexlaw.runs.store``)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Self

__all__ = ["SCHEMA_VERSION", "RunStoreError", "RunStoreReadOnlyError", "SQLiteFile",
           "Transaction"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    T           INTEGER NOT NULL,
    peak_lr     REAL,
    schedule    TEXT,
    warmup      INTEGER,
    N           REAL,
    optimizer   TEXT,
    batch_size  INTEGER,
    seed        INTEGER,
    status      TEXT NOT NULL,
    tags        TEXT NOT NULL,
    kinds       TEXT NOT NULL,
    n_points    INTEGER NOT NULL,
    final_loss  REAL,
    lrs         BLOB NOT NULL,
    updated     REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_name ON runs(name);
CREATE TABLE IF NOT EXISTS curves (
    run_id  TEXT NOT NULL,
    kind    TEXT NOT NULL,
    n       INTEGER NOT NULL,
    steps   BLOB NOT NULL,
    vals    BLOB NOT NULL,
    PRIMARY KEY (run_id, kind)
);
"""


class RunStoreError(RuntimeError):
    """The store file cannot be used (not a run store, newer schema, locked...)."""


class RunStoreReadOnlyError(RunStoreError):
    """The store can be read but not written (file or folder permissions, read-only disk)."""


def _write_error(path: Path, err: sqlite3.Error) -> RunStoreError:
    """A failed write as a message that says what to do about it."""
    text = str(err)
    if "readonly" in text or "read-only" in text:
        return RunStoreReadOnlyError(
            f"the run store {path} is read-only ({text}): nothing was written; make the file "
            "and its folder writable, or give another --db")
    if "locked" in text or "busy" in text:
        return RunStoreError(f"the run store {path} is locked by another process ({text}); "
                             "nothing was written; retry when it has finished")
    if "full" in text:
        return RunStoreError(f"the disk holding {path} is full ({text}); nothing was written")
    return RunStoreError(f"cannot write to the run store {path}: {text}")


class Transaction:
    """One write transaction; SQLite's write errors become RunStoreError."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self.conn, self.path = conn, path

    def __enter__(self) -> sqlite3.Connection:
        # IMMEDIATE takes the write lock up front: no lock upgrade, no deadlock
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise _write_error(self.path, err) from None
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
            except sqlite3.OperationalError as err:
                self.conn.execute("ROLLBACK")
                raise _write_error(self.path, err) from None
            return
        self.conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise _write_error(self.path, exc) from None


class SQLiteFile:
    """The connection side of a :class:`~convexlaw.runs.store.RunStore` (its base class):
    ``path`` and ``timeout`` are set by the store, ``_local`` holds one connection per
    (process, thread), re-opened after ``fork``."""

    path: Path
    timeout: float
    _local: threading.local

    # ------------------------------------------------------------------ connection
    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        if self.path.is_dir():
            raise RunStoreError(f"{self.path} is a directory; expected a run-store file")
        if not self.path.parent.exists():
            raise RunStoreError(f"cannot create run store {self.path}: folder "
                                f"{self.path.parent} does not exist")
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            self._open(conn)
        except (sqlite3.DatabaseError, RunStoreError) as err:
            if conn is not None:
                conn.close()
            if isinstance(err, RunStoreError):
                raise
            if "not a database" in str(err) or "malformed" in str(err):
                raise RunStoreError(f"{self.path} is not a convexlaw run store (not an SQLite "
                                    f"database: {err})") from None
            raise RunStoreError(f"cannot open run store {self.path}: {err}") from None
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def _open(self, conn: sqlite3.Connection) -> None:
        """WAL mode and the schema, retried while another process holds the lock: switching
        a new file to WAL takes an exclusive lock for which SQLite does not always call its
        busy handler (writers opening a new store at once saw "database is locked")."""
        deadline = time.monotonic() + self.timeout
        pause = 0.01
        while True:
            try:
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError as err:  # a read-only store can still be read
                    if "readonly" not in str(err):
                        raise
                conn.execute("PRAGMA synchronous=FULL")
                self._init_schema(conn)
                return
            except (sqlite3.OperationalError, RunStoreError) as err:
                text = str(err)
                if ("locked" not in text and "busy" not in text) \
                        or time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)
                pause = min(2 * pause, 0.5)

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "schema_version" not in tables:
            raise RunStoreError(f"{self.path} is an SQLite database but not a convexlaw run "
                                f"store (tables: {', '.join(sorted(tables))})")
        if "schema_version" in tables:
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            version = row[0] if row else None
            if version is not None and version > SCHEMA_VERSION:
                raise RunStoreError(
                    f"{self.path} has run-store schema version {version}, newer than this "
                    f"convexlaw supports ({SCHEMA_VERSION}); upgrade convexlaw to read it")
            if version == SCHEMA_VERSION:
                return
        with Transaction(conn, self.path) as c:
            # statement by statement: executescript would commit outside our transaction
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            if c.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
                c.execute("INSERT INTO schema_version(version) VALUES (?)", (SCHEMA_VERSION,))

    def _transaction(self) -> Transaction:
        return Transaction(self._connect(), self.path)

    def close(self) -> None:
        """Close this thread's connection (it reopens on the next use)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
