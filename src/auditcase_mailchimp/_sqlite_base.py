"""The SQLite plumbing the store's parts share: opening, one lock, read and write transactions.

Opening creates the file (mode ``0600``) when it is missing and brings its schema up to date
(:mod:`._schema`). A read-only store opens the file with SQLite's ``mode=ro``, and adds
``immutable=1`` when the file or its folder cannot be written (a read-only file system, a
backup mounted read-only): SQLite then needs neither the ``-shm`` file nor any lock, so
``failures``, ``report`` and ``sync --dry-run`` work where nothing can be written.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from . import _schema
from ._errors import StoreError
from ._lock import RunLock
from ._store_values import format_time, utc_now

__all__ = ["IDS_PER_STATEMENT", "Database", "chunks", "insert_rows", "read_only_uri", "rows_in"]

_MEMORY: str = ":memory:"
#: Values per ``IN (…)`` of one statement (SQLite allows 999 parameters in every version).
IDS_PER_STATEMENT: Final = 500


def chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    """``values`` in slices small enough for one statement's parameters."""
    return (values[i : i + IDS_PER_STATEMENT] for i in range(0, len(values), IDS_PER_STATEMENT))


def rows_in(conn: sqlite3.Connection, select: str, values: Sequence[str]) -> list[Any]:
    """The rows of ``select`` for ``values``, one statement per slice of them.

    Args:
        conn: The connection, inside a transaction (all slices read one snapshot).
        select: A query whose one ``{}`` is the list of an ``IN ({})``.
        values: The values of that list, any number of them.

    Returns:
        The rows of every slice, in the order the slices were read.
    """
    rows: list[Any] = []
    for chunk in chunks(values):
        rows += conn.execute(select.format(", ".join("?" * len(chunk))), chunk).fetchall()
    return rows


def insert_rows(
    conn: sqlite3.Connection, insert: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """Insert rows in order, as few statements as SQLite's limit on parameters allows.

    One statement of many rows (``VALUES (…), (…), …``) lets SQLite do its work in one call
    without Python's global lock: ``executemany`` gives the lock up and takes it back for
    every row, and each time it is taken back it may wait up to the interpreter's switch
    interval (5 ms) for a thread running Python. 500 records written so while another thread
    computed took 1.5 s on the benchmark machine, against 20 ms in one statement.

    Args:
        conn: The connection, inside a write transaction.
        insert: ``INSERT INTO table`` or ``INSERT OR REPLACE INTO table``.
        columns: The columns each row fills, in order.
        rows: The rows: each a value per column.
    """
    names = ", ".join(columns)
    row = "(" + ", ".join("?" * len(columns)) + ")"
    per = max(1, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(columns))
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        conn.execute(
            f"{insert} ({names}) VALUES {', '.join([row] * len(part))}",
            [value for values in part for value in values],
        )


def read_only_uri(path: str, *, writable: bool, wal: bool = False) -> str:
    """The SQLite URI that opens a database for reading only.

    Args:
        path: The database file (resolved to an absolute path).
        writable: Whether the file and its folder can be written.
        wal: Whether a ``-wal`` file with content lies beside the database (a run that did not
            finish its last checkpoint): it must be read, so the file is not opened immutable.

    Returns:
        ``file:…?mode=ro``, with ``&immutable=1`` when nothing can be written and there is no
        write-ahead log to read.
    """
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    return uri if writable or wal else uri + "&immutable=1"


def writable(path: str, access: Callable[[str, int], bool] = os.access) -> bool:
    """Whether a file and its folder can be written (``os.access``, so ``EROFS`` counts).

    Args:
        path: The file.
        access: :func:`os.access`, or a stand-in.

    Returns:
        ``True`` when both the file and its folder allow writing.
    """
    resolved = Path(path).resolve()
    return access(str(resolved), os.W_OK) and access(str(resolved.parent), os.W_OK)


def _has_wal(path: str) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except OSError:
        return False


class Database:
    """One connection to the coupling database, shared by the store's parts under one lock.

    Args:
        path: The database file, or ``":memory:"``.
        clock: Returns the current time as an aware datetime; UTC system time by default.
        read_only: Open an existing database for reading only.
        access: :func:`os.access` or a stand-in, to tell whether the file can be written.

    Raises:
        StoreError: The file cannot be opened or created, is not a coupling database, or was
            written by a newer version; read-only, also when it is missing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] | None = None,
        read_only: bool = False,
        access: Callable[[str, int], bool] = os.access,
    ) -> None:
        """Open (and when needed create and migrate) the database at ``path``."""
        self._path = os.fspath(path)
        self._clock = clock if clock is not None else utc_now
        self._read_only = read_only
        self._memory = self._path == _MEMORY
        self._mutex = threading.RLock()
        #: Depth of write transactions open on this connection (an outer one holds the rest).
        self._depth = 0
        self._conn: sqlite3.Connection | None = None
        self._version = 0
        try:
            self._conn = self._open(access)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the coupling database {self._path}: {exc}") from exc
        self._run_lock = RunLock(None if self._memory else self._path, self._path)

    def _open(self, access: Callable[[str, int], bool]) -> sqlite3.Connection:
        if self._read_only:
            if not Path(self._path).is_file():
                raise StoreError(f"no coupling database at {self._path}")
            uri = read_only_uri(
                self._path, writable=writable(self._path, access), wal=_has_wal(self._path)
            )
            conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0
            )
        elif self._memory:
            conn = sqlite3.connect(_MEMORY, isolation_level=None, check_same_thread=False)
        else:
            try:
                os.close(os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600))
            except OSError as exc:
                raise StoreError(
                    f"cannot open the coupling database {self._path}: {exc.strerror or exc}"
                ) from exc
            conn = sqlite3.connect(
                self._path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
        try:
            self._version = _schema.check_file(conn, self._path)
            if self._read_only and self._version == 0:
                raise StoreError(f"{self._path} holds no coupling database yet")  # noqa: TRY301 - closes conn below
            if not self._read_only:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._read_only:
                _schema.migrate(conn)
                self._version = _schema.user_version(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def read_only(self) -> bool:
        """``True`` when the store was opened for reading only."""
        return self._read_only

    @property
    def schema_version(self) -> int:
        """The schema version of the open file (older than the newest only when read-only)."""
        return self._version

    def __repr__(self) -> str:
        """Name the file, never its content."""
        return f"{type(self).__name__}({self._path!r})"

    def __enter__(self) -> Self:
        """Return the store itself; :meth:`close` runs on leaving the block."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()

    def close(self) -> None:
        """Close the connection; calling it again does nothing. Later calls raise StoreError."""
        with self._mutex:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()

    def _now(self) -> str:
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the store's clock must return an aware datetime")
        return format_time(now)

    def _rows(self, sql: str, params: Sequence[object] = (), *, since: int = 1) -> list[Any]:
        """The rows of one query; none from a file older than schema ``since`` (read-only)."""
        if self._version < since:
            return []  # an older file opened read-only: its table does not exist yet
        with self._reading() as conn:
            return conn.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and read from one snapshot; map SQLite errors to StoreError."""
        with self._mutex:
            conn = self._connection()
            try:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot read the coupling database {self._path}: {exc}") from exc

    @contextlib.contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock and run one write transaction: all of it is kept, or none of it."""
        with self._mutex:
            conn = self._connection()
            if self._read_only:
                raise StoreError(f"the coupling database {self._path} is opened read-only")
            if self._depth:  # inside an outer transaction: it commits or rolls back all of it
                yield conn
                return
            try:
                conn.execute("BEGIN IMMEDIATE")
                self._depth += 1
                try:
                    yield conn
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    self._depth -= 1
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                raise StoreError(f"cannot write the coupling database {self._path}: {exc}") from exc

    def _run_starts(self) -> None:
        """A run that writes starts: a part of the store may prepare (nothing by default)."""

    def _run_ends(self) -> None:
        """That run has ended: a part of the store may tidy up (nothing by default).

        It must not raise: the run's own records are written, and tidying up may wait.
        """

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the coupling database {self._path} is closed")
        return self._conn
