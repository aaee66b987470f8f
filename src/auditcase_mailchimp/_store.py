"""The coupling database: which members the coupling manages, the failure overview, the report.

Part of the shell. The sync runner talks to a :class:`CouplingStore`; :class:`SQLiteStore` is the
default, one SQLite file on the standard library's :mod:`sqlite3`. It holds:

- one *coupling record* per managed member, keyed by the lower-cased address (R2.3, R4.4): the
  person, their kind, the names, the tags the coupling set, the status last seen and, for an
  archived member, its status when it was archived (R4.3);
- the *failure overview* (R6.2, R6.3): an entry per failing person and attempt, kept open until a
  later sync succeeds for that person (resolved, never deleted) or the administrator dismisses it;
- the *report* of the last run (R9.4): persons unsubscribed or cleaned in Mailchimp while still
  linked (R5.3), and duplicate addresses (R3);
- the *intents* (R7.4): each request a run is about to send, recorded before it is sent and
  cleared in the same transaction as its answer's records; the next run settles any left open;
- a short history of *runs*, and a *run lock* so two syncs never work on one database at once.

Crash safety (R7.2): every write the runner makes after one Mailchimp answer is one SQLite
transaction, so a crash leaves either all of it or none of it. The file runs in WAL mode with
``synchronous=NORMAL``: a committed transaction survives the crash or kill of the process, which
is what R7.2 is about. Only a power loss or an operating-system crash may lose the last
transactions; the database then still opens, consistent, as it was a moment earlier, and the next
run's plan redoes what those transactions recorded (Mailchimp's batch subscribe is idempotent).

Privacy: the file is created readable and writable by its owner only (``0600``); SQLite gives its
``-wal`` and ``-shm`` files the same mode. Deleted rows are overwritten (``secure_delete``), so
:meth:`SQLiteStore.forget` leaves no copy of an erased address in the file. No call takes an API
key or token, and none is ever stored.

The code is split along these seams: the failure overview's values and rules
(:mod:`._failures`, pure), the report and run values (:mod:`._store_values`), the schema and
its migrations (:mod:`._schema`), the run lock (:mod:`._lock`), and :class:`SQLiteStore`
(:mod:`._sqlite_store`) composed of one part per aggregate. This module holds the
:class:`CouplingStore` protocol, what the sync runner needs of a store, and re-exports the rest
under their old names.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from ._desired import Problem
from ._errors import AudienceMismatchError, StoreBusyError, StoreError
from ._failures import REFUSAL_CATEGORIES, RETRYABLE_CATEGORIES, Failure, FailureInput, is_refusal
from ._models import CurrentMember
from ._plan import UnsubscribedNotice
from ._schema import SCHEMA_VERSION
from ._settle import Intent
from ._sqlite_store import SQLiteStore
from ._store_values import Report, RunRecord

__all__ = [
    "REFUSAL_CATEGORIES",
    "RETRYABLE_CATEGORIES",
    "SCHEMA_VERSION",
    "AudienceMismatchError",
    "CouplingStore",
    "Failure",
    "FailureInput",
    "Report",
    "RunRecord",
    "SQLiteStore",
    "StoreBusyError",
    "StoreError",
    "is_refusal",
]


class CouplingStore(Protocol):
    """What the sync runner needs of the coupling's knowledge; :class:`SQLiteStore` by default.

    An integrator may keep the coupling elsewhere (their own database) by implementing this
    protocol. Each write must be atomic: all of it is kept or none of it (R7.2). Reading the
    failure overview, the report and the runs for people (``failures``, ``report``) is not
    part of it: that is :class:`SQLiteStore`'s own.
    """

    def load_current(self) -> list[CurrentMember]:
        """Every coupling record as a member (archived ones included), ``tags == coupling.tags``."""
        ...

    def load_current_for(
        self, person_ids: Collection[str], keys: Collection[str]
    ) -> list[CurrentMember]:
        """The records of these persons and of these lower-cased addresses (indexed lookups)."""
        ...

    def owners(self) -> dict[str, str]:
        """Lower-cased address to person id of every non-archived record (R3.2)."""
        ...

    def record_members(self, members: Sequence[CurrentMember]) -> None:
        """Insert or replace the records of members Mailchimp confirmed, in one transaction."""
        ...

    def record_address_change(self, old_email_address: str, member: CurrentMember) -> None:
        """Move a record to its new address (R5.4), in one transaction."""
        ...

    def record_archive(self, email_address: str, status_at_archive: str) -> None:
        """Mark a record archived, keeping the status it had (R4.3)."""
        ...

    def update_statuses(self, statuses: Mapping[str, str]) -> None:
        """Store the statuses read from Mailchimp, keyed by lower-cased address."""
        ...

    def forget(self, email_address: str) -> None:
        """Erase every trace of an address (R4.2, R9.5)."""
        ...

    def record_failure(self, failure: FailureInput) -> int:
        """Add a failure, or count it again on the open entry it repeats; return the entry id."""
        ...

    def resolve_failures(
        self, person_ids: Iterable[str], *, categories: Iterable[str] | None = None
    ) -> int:
        """Mark the unresolved failures of these persons resolved (R6.3); return how many."""
        ...

    def failures(
        self, *, include_closed: bool = False, person_ids: Collection[str] | None = None
    ) -> list[Failure]:
        """The open entries, or every entry, ordered by id; only these persons' when given."""
        ...

    def refused(self, *, person_ids: Collection[str] | None = None) -> dict[str, str]:
        """Person id to fingerprint of the unresolved refusals (R6.3); these persons' if given."""
        ...

    def save_report(
        self, notices: Sequence[UnsubscribedNotice], conflicts: Sequence[Problem]
    ) -> None:
        """Replace the stored report (R9.4)."""
        ...

    def begin_run(self, *, dry_run: bool, reconcile: bool) -> int:
        """Record the start of a run; return its id."""
        ...

    def finish_run(self, run_id: int, counts: Mapping[str, int], *, outcome: str) -> None:
        """Record the end of a run."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Hold the run lock; raise :class:`StoreBusyError` at once when another run has it."""
        ...

    def audience_id(self) -> str | None:
        """The audience the database belongs to (R4.6); ``None`` before its first run."""
        ...

    def bind_audience(self, list_id: str) -> None:
        """Record the audience, or raise :class:`AudienceMismatchError` for another one (R4.6)."""
        ...

    def record_intents(self, intents: Sequence[Intent]) -> tuple[int, ...]:
        """Record requests about to be sent, in one transaction; return their ids (R7.4)."""
        ...

    def open_intents(self) -> list[Intent]:
        """The intents no answer cleared (an unfinished run's), oldest first (R7.4)."""
        ...

    def answering(self, intent_ids: Collection[int]) -> AbstractContextManager[None]:
        """One transaction for the writes inside the block and the clearing of the intents."""
        ...
