"""Where a run keeps the ``/batches`` it submitted and has not read yet (R7.2).

A batch id is recorded before the first poll, so a run killed while Mailchimp works on the
batch is resumed by polling the same batch, not by sending its operations again. The entry is
removed once every result of the batch has been recorded. An SQLite store keeps the ids in its
``pending_batch`` table (schema 4, :class:`~auditcase_mailchimp._store_batches.BatchRecords`);
any other :class:`~auditcase_mailchimp.CouplingStore` keeps them in memory (no resumption).
"""

from __future__ import annotations

from ._store import CouplingStore
from ._store_batches import BatchRecords

__all__ = ["BatchLedger"]


class BatchLedger:
    """The batches submitted to one audience and not yet read."""

    def __init__(self, store: CouplingStore, list_id: str) -> None:
        """Keep the ids in ``store`` (in memory when it is not an SQLite store)."""
        self._records = store if isinstance(store, BatchRecords) else None
        self._list_id = list_id
        self._memory: list[str] = []

    def pending(self) -> list[str]:
        """The ids of this audience's batches not yet read, oldest first."""
        if self._records is None:
            return list(self._memory)
        return self._records.pending_batches(self._list_id)

    def remember(self, batch_id: str) -> None:
        """Record a submitted batch, in one transaction, before it is polled."""
        if self._records is None:
            self._memory.append(batch_id)
        else:
            self._records.remember_batch(self._list_id, batch_id)

    def forget(self, batch_id: str) -> None:
        """Remove a batch whose results are all recorded."""
        if self._records is None:
            if batch_id in self._memory:
                self._memory.remove(batch_id)
        else:
            self._records.forget_batch(batch_id)
