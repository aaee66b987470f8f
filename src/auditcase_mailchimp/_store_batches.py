"""The store's part for the ``/batches`` a run submitted and has not read yet (R7.2).

A batch id is recorded before its first poll and removed once every result of the batch has
been recorded, so a run killed while Mailchimp works on the batch is resumed by polling the
same batch, not by sending its operations again. The ids name no person and no address.
"""

from __future__ import annotations

from typing import Final

from ._sqlite_base import Database

__all__ = ["BatchRecords"]

#: The schema version that records pending batches.
_BATCHES_SINCE: Final = 4


class BatchRecords(Database):
    """The pending batches of an SQLite coupling store, per audience."""

    def pending_batches(self, list_id: str) -> list[str]:
        """Return the ids of the audience's batches not yet read, oldest first.

        Args:
            list_id: The audience (list) id.

        Returns:
            The batch ids; none for a database older than schema 4 (opened read-only).

        Raises:
            StoreError: The database cannot be read.
        """
        rows = self._rows(
            "SELECT id FROM pending_batch WHERE list_id = ? ORDER BY submitted_at, id",
            (list_id,),
            since=_BATCHES_SINCE,
        )
        return [str(row[0]) for row in rows]

    def remember_batch(self, list_id: str, batch_id: str) -> None:
        """Record a submitted batch, in one transaction, before it is polled.

        Args:
            list_id: The audience (list) id the batch works on.
            batch_id: Mailchimp's id of the batch.

        Raises:
            StoreError: The database cannot be written (then do not wait for the batch).
        """
        now = self._now()
        with self._writing() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO pending_batch (id, list_id, submitted_at) VALUES (?, ?, ?)",
                (batch_id, list_id, now),
            )

    def forget_batch(self, batch_id: str) -> None:
        """Remove a batch whose results are all recorded.

        Args:
            batch_id: Mailchimp's id of the batch; an unknown id changes nothing.

        Raises:
            StoreError: The database cannot be written.
        """
        with self._writing() as conn:
            conn.execute("DELETE FROM pending_batch WHERE id = ?", (batch_id,))
