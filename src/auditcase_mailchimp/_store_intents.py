"""The store's part for intents (R7.4): requests about to be sent, cleared with their answer.

An intent is written, in one transaction, before its request goes out; the answer's records
and the clearing of the intent are one transaction (:meth:`IntentLog.answering`). An intent
still open when a run starts belongs to a run that did not finish: the runner settles it
first (:mod:`auditcase_mailchimp._settle`).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from typing import Final

from ._settle import Intent
from ._sqlite_base import Database, chunks, insert_rows
from ._store_members import KINDS, tag_set_json

__all__ = ["IntentLog"]

#: The schema version that records intents.
_INTENTS_SINCE: Final = 3
_COLUMNS: Final = (
    "person_id", "kind", "step", "action", "key", "old_key", "tags_add", "tags_remove", "status",
    "created_at",
)  # fmt: skip


class IntentLog(Database):
    """The open intents of an SQLite coupling store (R7.4)."""

    def record_intents(self, intents: Sequence[Intent]) -> tuple[int, ...]:
        """Record requests about to be sent, in one transaction, before sending them (R7.4).

        Args:
            intents: What each request is about to do.

        Returns:
            The id of each intent, in order, for :meth:`answering`.

        Raises:
            StoreError: The database cannot be written (nothing is written; send nothing).
        """
        now = self._now()
        rows = [
            (
                i.person_id, i.kind.value, i.step, i.action, i.key, i.old_key,
                tag_set_json(i.tags_add), tag_set_json(i.tags_remove), i.status, now,
            )
            for i in intents
        ]  # fmt: skip
        with self._writing() as conn:
            insert_rows(conn, "INSERT INTO intent", _COLUMNS, rows)
            # One transaction under the write lock: the ids are the last ones, in order.
            last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
        return tuple(range(last - len(rows) + 1, last + 1))

    def open_intents(self) -> list[Intent]:
        """Return the intents no answer cleared: requests of an unfinished run, oldest first.

        Returns:
            The open intents, each with its id; none for a database older than schema 3.

        Raises:
            StoreError: The database cannot be read.
        """
        rows = self._rows(
            "SELECT id, person_id, kind, step, action, key, old_key, tags_add, tags_remove,"
            " status FROM intent ORDER BY id",
            since=_INTENTS_SINCE,
        )
        return [
            Intent(
                id=row_id,
                person_id=person_id,
                kind=KINDS[kind],
                step=step,
                action=action,
                key=key,
                old_key=old_key,
                tags_add=frozenset(json.loads(add)),
                tags_remove=frozenset(json.loads(remove)),
                status=status,
            )
            for row_id, person_id, kind, step, action, key, old_key, add, remove, status in rows
        ]

    @contextlib.contextmanager
    def answering(self, intent_ids: Collection[int]) -> Iterator[None]:
        """One transaction for an answer's records and the clearing of its intents (R7.4).

        Every write of the store made inside the block joins the transaction; leaving the
        block clears the intents and commits, an exception rolls all of it back (the intents
        stay open for the next run to settle).

        Args:
            intent_ids: The intents the answer settles (``()`` for none).

        Yields:
            Nothing; write inside the block.

        Raises:
            StoreError: The database cannot be written (nothing is written).
        """
        with self._writing() as conn:
            yield
            for chunk in chunks([str(i) for i in intent_ids]):
                marks = ", ".join("?" * len(chunk))
                conn.execute(f"DELETE FROM intent WHERE id IN ({marks})", chunk)  # noqa: S608 - placeholders only

    def _erase_intents(self, conn: sqlite3.Connection, address: str) -> None:
        """Forget the intents about an erased address (R4.2)."""
        if self.schema_version >= _INTENTS_SINCE:
            conn.execute("DELETE FROM intent WHERE key = ?1 OR old_key = ?1", (address,))
