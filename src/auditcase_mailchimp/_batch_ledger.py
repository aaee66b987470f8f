"""Where the coupling database keeps the ``/batches`` a run submitted and has not read yet.

A batch id is recorded before the first poll, so a run killed while Mailchimp works on the
batch is resumed by polling the same batch, not by sending its operations again (R7.2). The
entry is removed once every result of the batch has been recorded.

The table (``pending_batch``: id, audience, time submitted) is created the first time a batch
is recorded, in the same transaction, so databases of earlier versions need no migration step
and no schema version is spent on it. A store that is not a
:class:`~auditcase_mailchimp.SQLiteStore` keeps the ids in memory (no resumption).
"""

from __future__ import annotations

import sqlite3
from typing import Final

from ._sqlite_base import Database
from ._store import CouplingStore

__all__ = ["BatchLedger"]

_TABLE: Final = """
    CREATE TABLE IF NOT EXISTS pending_batch (
        id TEXT PRIMARY KEY NOT NULL CHECK (typeof(id) = 'text' AND id <> ''),
        list_id TEXT NOT NULL,
        submitted_at TEXT NOT NULL
    )
"""


def _has_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pending_batch'"
    ).fetchone()
    return row is not None


class BatchLedger:
    """The batches submitted to one audience and not yet read, in the coupling database."""

    def __init__(self, store: CouplingStore, list_id: str) -> None:
        """Keep the ids in ``store`` (in memory when it is not an SQLite store)."""
        self._db = store if isinstance(store, Database) else None
        self._list_id = list_id
        self._memory: list[str] = []

    def pending(self) -> list[str]:
        """The ids of this audience's batches not yet read, oldest first."""
        if self._db is None:
            return list(self._memory)
        with self._db._reading() as conn:  # noqa: SLF001 - the store's own transaction
            if not _has_table(conn):
                return []
            rows = conn.execute(
                "SELECT id FROM pending_batch WHERE list_id = ? ORDER BY submitted_at, id",
                (self._list_id,),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def remember(self, batch_id: str) -> None:
        """Record a submitted batch, in one transaction, before it is polled."""
        if self._db is None:
            self._memory.append(batch_id)
            return
        now = self._db._now()  # noqa: SLF001 - the store's clock
        with self._db._writing() as conn:  # noqa: SLF001 - the store's own transaction
            conn.execute(_TABLE)
            conn.execute(
                "INSERT OR REPLACE INTO pending_batch (id, list_id, submitted_at) VALUES (?, ?, ?)",
                (batch_id, self._list_id, now),
            )

    def forget(self, batch_id: str) -> None:
        """Remove a batch whose results are all recorded."""
        if self._db is None:
            if batch_id in self._memory:
                self._memory.remove(batch_id)
            return
        with self._db._writing() as conn:  # noqa: SLF001 - the store's own transaction
            if _has_table(conn):
                conn.execute("DELETE FROM pending_batch WHERE id = ?", (batch_id,))
