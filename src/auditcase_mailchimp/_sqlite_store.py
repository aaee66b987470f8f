"""The default coupling store: one SQLite file, composed of its parts.

:class:`SQLiteStore` joins the parts that each own some tables: the coupling records and the
audience binding (:mod:`._store_members`), the failure overview (:mod:`._store_failures`), the
report and the runs (:mod:`._store_report`), the intents (:mod:`._store_intents`), the
batches not yet read (:mod:`._store_batches`), over the shared connection
(:mod:`._sqlite_base`), the schema (:mod:`._schema`) and the run lock (:mod:`._lock`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from ._models import address_key
from ._store_batches import BatchRecords
from ._store_failures import FailureLog
from ._store_intents import IntentLog
from ._store_members import MemberRecords
from ._store_report import ReportAndRuns

__all__ = ["SQLiteStore"]


class SQLiteStore(MemberRecords, FailureLog, ReportAndRuns, IntentLog, BatchRecords):
    """The coupling database in one SQLite file; the default coupling store.

    Opening creates the file (mode ``0600``) when it is missing and brings its schema up to
    :data:`~auditcase_mailchimp.SCHEMA_VERSION`, each migration step in its own transaction.
    The connection uses WAL with ``synchronous=NORMAL`` (crash-safe for R7.2, see the
    store's documentation), ``foreign_keys=ON`` and ``secure_delete=ON``.

    Every write is one transaction. The store may be used from any thread: the connection is
    opened with ``check_same_thread=False`` and every call holds the store's lock, so calls from
    several threads are serialised. Several processes may read at once; a second *sync* is kept
    out by :meth:`lock`.

    Args:
        path: The database file; ``":memory:"`` for a private database in memory that
            vanishes on :meth:`close` (tests, and a dry run without a database file).
        clock: Returns the current time as an aware :class:`~datetime.datetime`; the system
            clock in UTC by default. Tests pass a fixed clock.
        read_only: Open an existing database for reading only (for a dry run, R7.3, and the
            ``failures`` and ``report`` commands): nothing is created, migrated or written, and
            every write raises :class:`~auditcase_mailchimp.StoreError`. A file that cannot
            be written (a read-only file system) is opened ``immutable``, so no ``-shm`` file
            is needed.
        access: Tells whether a path may be written, as :func:`os.access` does (the default);
            a read-only store opens a file it cannot write ``immutable``.

    Raises:
        StoreError: The file cannot be opened or created, is not a coupling database, or was
            written by a newer version of the library (its schema is newer than
            :data:`~auditcase_mailchimp.SCHEMA_VERSION`); with ``read_only``, also when the
            file is missing or holds no coupling database yet.
    """

    def forget(self, email_address: str) -> None:
        """Erase every trace of an address after a permanent deletion (R4.2, R9.5; GDPR).

        Deletes the coupling record; in the failure overview the entries keep their person id,
        category and history, but the address is blanked and every spelling of it in their
        title, detail and per-field errors replaced by ``[erased]``, and their fingerprint is
        cleared; the report's lines about the address are deleted. Deleted content is
        overwritten in the file (``secure_delete``) and the WAL is checkpointed, so no copy is
        left behind.

        Args:
            email_address: The erased address, any case.

        Raises:
            StoreError: The database cannot be written (nothing is changed).
        """
        key = address_key(email_address)
        if not key:
            return
        with self._writing() as conn:
            conn.execute("DELETE FROM member WHERE key = ?", (key,))
            self._erase_failures(conn, key)
            self._erase_report(conn, key)
            self._erase_intents(conn, key)
        with self._mutex, contextlib.suppress(sqlite3.Error):
            self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run lock for a whole sync; a second sync on the same file is refused at once.

        The lock is an advisory lock (``flock``) on the side file ``<path>.lock`` (mode
        ``0600``), which holds the holder's pid. The operating system releases it when the
        holder ends, even by ``SIGKILL``, so a crashed run never blocks the next one (R7.2).
        Read-only commands need no lock. A store in memory has nothing to share with other
        processes: its lock only keeps a second ``lock()`` of the same store out.

        Yields:
            Nothing; the lock is held inside the ``with`` block.

        Raises:
            StoreBusyError: Another process (or another ``lock()`` in this one) holds the lock.
            StoreError: The lock file cannot be opened.
        """
        with self._run_lock.hold():
            try:
                yield
            finally:  # the run is over, however it ended
                self._run_ends()

    def close(self) -> None:
        """Close the connection (building the index on the person first, if it was set aside)."""
        self._build_person_index()
        super().close()
