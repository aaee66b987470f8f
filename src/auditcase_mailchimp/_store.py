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
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, Self

import attrs

from ._desired import Problem, ProblemCategory
from ._errors import AuditCaseMailchimpError
from ._models import MEMBER_STATUSES, Coupling, CurrentMember, PersonKind, address_key
from ._plan import UnsubscribedNotice

if TYPE_CHECKING:
    from types import TracebackType

__all__ = [
    "REFUSAL_CATEGORIES",
    "RETRYABLE_CATEGORIES",
    "SCHEMA_VERSION",
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

_log = logging.getLogger(__name__)

#: Failure categories for which Mailchimp refused what was sent (besides any 400-class status
#: other than 429): such a person is not re-sent until what would be sent changes (R6.3).
#: ``generic`` is Mailchimp's refusal without a finer reason (e.g. ``ERROR_GENERIC`` in a
#: batch-subscribe answer).
REFUSAL_CATEGORIES: Final = frozenset(
    {
        "compliance_state",
        "permanently_deleted",
        "invalid_address_mailchimp",
        "invalid_merge_field",
        "generic",
    }
)
#: Failure categories worth repeating: never a refusal, whatever the status (R6.3).
RETRYABLE_CATEGORIES: Final = frozenset({"rate_limited", "server_error", "network"})

_APPLICATION_ID: Final = 0x41434D43  # "ACMC": marks the file as a coupling database

#: The schema, one migration step per version: step ``n`` takes ``user_version`` from ``n`` to
#: ``n + 1``. Steps are only ever appended; a released step is never changed.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # version 1
        """
        CREATE TABLE member (
            key TEXT PRIMARY KEY NOT NULL CHECK (typeof(key) = 'text' AND key <> ''),
            email_address TEXT NOT NULL
                CHECK (typeof(email_address) = 'text' AND email_address <> ''),
            person_id TEXT NOT NULL CHECK (typeof(person_id) = 'text' AND person_id <> ''),
            kind TEXT NOT NULL CHECK (kind IN ('client_person', 'contact_person')),
            first_name TEXT NOT NULL CHECK (typeof(first_name) = 'text'),
            last_name TEXT NOT NULL CHECK (typeof(last_name) = 'text'),
            tags TEXT NOT NULL CHECK (typeof(tags) = 'text'),
            status TEXT NOT NULL CHECK (status IN (
                'archived', 'cleaned', 'pending', 'subscribed', 'transactional', 'unsubscribed'
            )),
            status_at_archive TEXT CHECK (status_at_archive IS NULL OR status_at_archive IN (
                'archived', 'cleaned', 'pending', 'subscribed', 'transactional', 'unsubscribed'
            )),
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID
        """,
        """
        CREATE TABLE failure (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            person_id TEXT NOT NULL CHECK (typeof(person_id) = 'text' AND person_id <> ''),
            kind TEXT NOT NULL CHECK (kind IN ('client_person', 'contact_person')),
            email_address TEXT NOT NULL DEFAULT '',
            action TEXT NOT NULL,
            category TEXT NOT NULL,
            status INTEGER CHECK (status IS NULL OR typeof(status) = 'integer'),
            title TEXT NOT NULL,
            detail TEXT NOT NULL,
            field_errors TEXT NOT NULL DEFAULT '[]',
            fingerprint TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1,
            resolved INTEGER NOT NULL DEFAULT 0 CHECK (resolved IN (0, 1)),
            resolved_at TEXT,
            dismissed INTEGER NOT NULL DEFAULT 0 CHECK (dismissed IN (0, 1)),
            dismissed_at TEXT
        )
        """,
        "CREATE INDEX failure_unresolved ON failure (person_id) WHERE resolved = 0",
        """
        CREATE TABLE report_unsubscribed (
            position INTEGER PRIMARY KEY,
            person_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('client_person', 'contact_person')),
            email_address TEXT NOT NULL,
            status TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE report_conflict (
            position INTEGER PRIMARY KEY,
            person_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('client_person', 'contact_person')),
            category TEXT NOT NULL,
            message TEXT NOT NULL,
            email_address TEXT NOT NULL,
            others TEXT NOT NULL,
            pushed INTEGER NOT NULL CHECK (pushed IN (0, 1))
        )
        """,
        """
        CREATE TABLE report_info (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            saved_at TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE run (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
            reconcile INTEGER NOT NULL CHECK (reconcile IN (0, 1)),
            outcome TEXT,
            counts TEXT
        )
        """,
    ),
)

#: The schema version this library writes.
SCHEMA_VERSION: Final = len(_MIGRATIONS)

_KINDS: Final = {kind.value: kind for kind in PersonKind}
_PROBLEM_TITLES: Final = {
    ProblemCategory.NO_ADDRESS: "No e-mail address",
    ProblemCategory.INVALID_ADDRESS: "Invalid e-mail address",
    ProblemCategory.DUPLICATE_ADDRESS: "Duplicate e-mail address",
    ProblemCategory.DUPLICATE_PERSON_ID: "Duplicate person id",
}
_ERASED: Final = "[erased]"
_TOO_MANY_REQUESTS: Final = 429
#: Person ids per statement of :meth:`SQLiteStore.resolve_failures` (SQLite allows 999
#: parameters in every version).
_IDS_PER_STATEMENT: Final = 500


class StoreError(AuditCaseMailchimpError):
    """The coupling database cannot be opened, read or written.

    Raised for a path that cannot be opened, a file that is not a coupling database, a database
    written by a newer version of the library, and any SQLite error (kept as ``__cause__``).
    A failed write changed nothing: each write is one transaction.
    """


class StoreBusyError(StoreError):
    """Another sync holds the run lock of the same database file.

    Attributes:
        path: The database file.
        pid: The process id of the holder, ``None`` when it could not be read.
    """

    def __init__(self, path: str, pid: int | None) -> None:
        """Build the error naming the database and the holding process."""
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"another sync is running against {path} ({holder})")
        self.path = path
        self.pid = pid


# ----------------------------------------------------------------------------------------------
# Values


def _non_blank(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value.__class__ is not str:
        raise TypeError(f"{attribute.name!r} must be a str, got {value!r}")
    if not value.strip():
        raise ValueError(f"{attribute.name!r} must not be empty")


def _str(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value.__class__ is not str:
        raise TypeError(f"{attribute.name!r} must be a str, got {value!r}")


def _optional_str(_instance: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and value.__class__ is not str:
        raise TypeError(f"{attribute.name!r} must be a str or None, got {value!r}")


def _http_status(_instance: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name!r} must be an int or None, got {value!r}")
    if value not in range(100, 600):
        raise ValueError(f"{attribute.name!r} must be an HTTP status (100-599), got {value!r}")


def _kind(_instance: object, attribute: attrs.Attribute[PersonKind], value: object) -> None:
    if not isinstance(value, PersonKind):
        raise TypeError(f"{attribute.name!r} must be a PersonKind, got {value!r}")


def _to_field_errors(
    value: Iterable[tuple[str, str] | Mapping[str, str]],
) -> tuple[tuple[str, str], ...]:
    """Accept ``(field, message)`` pairs or Mailchimp's ``{"field", "message"}`` objects."""
    if isinstance(value, str | bytes | Mapping):
        raise TypeError("'field_errors' must be a sequence of (field, message) pairs")
    errors: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, Mapping):
            field, message = item.get("field", ""), item.get("message", "")
        else:
            field, message = item
        if field.__class__ is not str or message.__class__ is not str:
            raise TypeError("'field_errors' must hold str fields and messages")
        errors.append((field, message))
    return tuple(errors)


def _field_errors_json(errors: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"field": field, "message": message} for field, message in errors]


def _json_time(moment: datetime | None) -> str | None:
    return None if moment is None else _format_time(moment)


@attrs.frozen(kw_only=True)
class FailureInput:
    """One failure as the runner reports it, before the store adds its bookkeeping (R6.2).

    Raises:
        TypeError: A field has the wrong type; the message names the field.
        ValueError: ``person_id``, ``action`` or ``category`` is empty, or ``status`` is not an
            HTTP status.
    """

    #: The AuditCase person the failure is about.
    person_id: str = attrs.field(validator=_non_blank)
    #: That person's kind.
    kind: PersonKind = attrs.field(validator=_kind)
    #: What was attempted, e.g. ``create``, ``update``, ``change_address``, ``archive``,
    #: ``tags``, or ``map`` for a problem found before sending.
    action: str = attrs.field(validator=_non_blank)
    #: The library's category, e.g. ``invalid_merge_field`` or ``network`` (see the how-to
    #: guide "Read the failure overview" for the list and what each means).
    category: str = attrs.field(validator=_non_blank)
    #: Mailchimp's error title, or for a batch-subscribe error its ``error_code``, or the
    #: library's own short title.
    title: str = attrs.field(validator=_str)
    #: The address involved ("" when there is none).
    email_address: str = attrs.field(default="", validator=_str)
    #: Mailchimp's HTTP status; ``None`` before sending, for a network failure and for a
    #: per-address error inside a batch-subscribe answer.
    status: int | None = attrs.field(default=None, validator=_http_status)
    #: Mailchimp's detail, or the library's own message.
    detail: str = attrs.field(default="", validator=_str)
    #: Mailchimp's per-field errors as ``(field, message)`` pairs; ``{"field", "message"}``
    #: mappings are accepted too.
    field_errors: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_to_field_errors)
    #: What was sent, in a form the runner chooses (e.g. a hash); an open entry with the same
    #: fingerprint is the same failure again (R6.3). Never the API key.
    fingerprint: str | None = attrs.field(default=None, validator=_optional_str)

    @classmethod
    def from_problem(cls, problem: Problem, *, action: str = "map") -> FailureInput:
        """Turn a problem found before sending (R2.6, R3.2) into a failure to record.

        Args:
            problem: A problem from :func:`~auditcase_mailchimp.desired_state`.
            action: What was attempted; ``map`` by default.

        Returns:
            The failure with the problem's category and message and no HTTP status.
        """
        return cls(
            person_id=problem.person_id,
            kind=problem.kind,
            action=action,
            category=problem.category.value,
            title=_PROBLEM_TITLES.get(problem.category, problem.category.value),
            detail=problem.message,
            email_address=problem.email_address,
        )


@attrs.frozen(kw_only=True)
class Failure:
    """One entry of the failure overview as stored (R6.2), with the store's bookkeeping.

    The fields of :class:`FailureInput`, and when it was first and last seen, how often, and
    whether it is resolved or dismissed. An entry is *open* while it is neither.
    """

    #: The entry's id, for ``auditcase-mailchimp failures dismiss ID``.
    id: int
    person_id: str
    kind: PersonKind
    action: str
    category: str
    title: str
    email_address: str
    status: int | None
    detail: str
    field_errors: tuple[tuple[str, str], ...]
    fingerprint: str | None
    #: When the failure was first recorded (UTC).
    first_seen: datetime
    #: When it was last recorded (UTC).
    last_seen: datetime
    #: How many times it was recorded while open.
    attempts: int
    #: ``True`` once a later sync succeeded for the person (R6.3).
    resolved: bool
    resolved_at: datetime | None
    #: ``True`` once the administrator dismissed the entry.
    dismissed: bool
    dismissed_at: datetime | None

    @property
    def is_open(self) -> bool:
        """``True`` while the entry is neither resolved nor dismissed."""
        return not (self.resolved or self.dismissed)

    def to_json(self) -> dict[str, Any]:
        """Return the entry as a JSON object: the fields of SPEC.md R9.2 and a few more.

        Times are ISO 8601 strings in UTC (``2026-03-01T02:00:13Z``); ``status`` is ``null``
        when there was no HTTP status; ``field_errors`` is a list of ``{"field", "message"}``.
        The fingerprint is bookkeeping and left out.
        """
        return {
            "id": self.id,
            "person_id": self.person_id,
            "kind": self.kind.value,
            "email_address": self.email_address,
            "action": self.action,
            "category": self.category,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "field_errors": _field_errors_json(self.field_errors),
            "first_seen": _format_time(self.first_seen),
            "last_seen": _format_time(self.last_seen),
            "attempts": self.attempts,
            "resolved": self.resolved,
            "resolved_at": _json_time(self.resolved_at),
            "dismissed": self.dismissed,
            "dismissed_at": _json_time(self.dismissed_at),
        }


@attrs.frozen(kw_only=True)
class Report:
    """The persons to look at in AuditCase, as the last sync saw them (R9.4)."""

    #: Linked persons unsubscribed or cleaned in Mailchimp (R5.3).
    unsubscribed: tuple[UnsubscribedNotice, ...] = ()
    #: Duplicate addresses (R3.2), every person involved, each naming the others.
    conflicts: tuple[Problem, ...] = ()
    #: When the report was saved; ``None`` when no sync has saved one yet.
    saved_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON object with ``saved_at``, ``unsubscribed``, ``conflicts``."""
        return {
            "saved_at": _json_time(self.saved_at),
            "unsubscribed": [
                {
                    "person_id": notice.person_id,
                    "kind": notice.kind.value,
                    "email_address": notice.email_address,
                    "status": notice.status,
                }
                for notice in self.unsubscribed
            ],
            "conflicts": [
                {
                    "person_id": problem.person_id,
                    "kind": problem.kind.value,
                    "email_address": problem.email_address,
                    "category": problem.category.value,
                    "message": problem.message,
                    "others": list(problem.others),
                    "pushed": problem.pushed,
                }
                for problem in self.conflicts
            ],
        }


@attrs.frozen(kw_only=True)
class RunRecord:
    """One sync run as recorded by :meth:`SQLiteStore.begin_run` and ``finish_run``.

    A run with ``finished_at`` ``None`` is running, or was interrupted (R7.2).
    """

    id: int
    started_at: datetime
    finished_at: datetime | None
    dry_run: bool
    reconcile: bool
    #: What the runner said when it finished (e.g. ``ok``, ``failures``, ``error``).
    outcome: str | None
    #: The summary counts the runner passed (``created``, ``updated``, ...).
    counts: Mapping[str, int] = attrs.field(factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        """Return the run as a JSON object; times as ISO 8601 strings in UTC."""
        return {
            "id": self.id,
            "started_at": _format_time(self.started_at),
            "finished_at": _json_time(self.finished_at),
            "dry_run": self.dry_run,
            "reconcile": self.reconcile,
            "outcome": self.outcome,
            "counts": dict(self.counts),
        }


# ----------------------------------------------------------------------------------------------
# The protocol


class CouplingStore(Protocol):
    """Where the sync runner keeps the coupling's knowledge; :class:`SQLiteStore` by default.

    An integrator may keep the coupling elsewhere (their own database) by implementing this
    protocol. Each write must be atomic: all of it is kept or none of it (R7.2).
    """

    def load_current(self) -> list[CurrentMember]:
        """Every coupling record as a member (archived ones included), ``tags == coupling.tags``."""
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

    def dismiss(self, ids: Iterable[int]) -> list[int]:
        """Dismiss entries; return the ids that exist."""
        ...

    def failures(self, *, include_closed: bool = False) -> list[Failure]:
        """The open entries, or every entry, ordered by id."""
        ...

    def refused(self) -> dict[str, str]:
        """Person id to fingerprint of the unresolved refusals (R6.3)."""
        ...

    def save_report(
        self, notices: Sequence[UnsubscribedNotice], conflicts: Sequence[Problem]
    ) -> None:
        """Replace the stored report (R9.4)."""
        ...

    def load_report(self) -> Report:
        """The stored report."""
        ...

    def begin_run(self, *, dry_run: bool, reconcile: bool) -> int:
        """Record the start of a run; return its id."""
        ...

    def finish_run(self, run_id: int, counts: Mapping[str, int], *, outcome: str) -> None:
        """Record the end of a run."""
        ...

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first."""
        ...

    def lock(self) -> AbstractContextManager[None]:
        """Hold the run lock; raise :class:`StoreBusyError` at once when another run has it."""
        ...

    def close(self) -> None:
        """Release the store's resources."""
        ...


# ----------------------------------------------------------------------------------------------
# Helpers


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _parse_optional_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _tags_json(tags: Iterable[str]) -> str:
    return json.dumps(sorted(tags), ensure_ascii=False, separators=(",", ":"))


@functools.lru_cache(maxsize=4096)
def _tag_set_json(tags: frozenset[str]) -> str:
    """:func:`_tags_json` of a tag set; cached, as members share a few sets."""
    return _tags_json(tags)


def _check_status(status: object, what: str) -> str:
    if not isinstance(status, str) or status not in MEMBER_STATUSES:
        raise ValueError(f"{what} must be one of {sorted(MEMBER_STATUSES)}, got {status!r}")
    return status


def _member_row(member: CurrentMember, now: str) -> tuple[object, ...]:
    if not isinstance(member, CurrentMember):
        raise TypeError(f"expected a CurrentMember, got {member!r}")
    coupling = member.coupling
    if coupling is None:
        raise ValueError("a member recorded in the coupling database needs its coupling")
    return (
        member.key,
        member.email_address,
        coupling.person_id,
        coupling.kind.value,
        member.first_name,
        member.last_name,
        _tag_set_json(coupling.tags),
        member.status,
        coupling.status_at_archive,
        now,
    )


_INSERT_MEMBER: Final = (
    "INSERT OR REPLACE INTO member (key, email_address, person_id, kind, first_name, last_name,"
    " tags, status, status_at_archive, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SELECT_ALL_FAILURES: Final = (
    "SELECT id, person_id, kind, action, category, title, email_address, status, detail,"
    " field_errors, fingerprint, first_seen, last_seen, attempts, resolved, resolved_at,"
    " dismissed, dismissed_at FROM failure ORDER BY id"
)
_SELECT_OPEN_FAILURES: Final = (
    "SELECT id, person_id, kind, action, category, title, email_address, status, detail,"
    " field_errors, fingerprint, first_seen, last_seen, attempts, resolved, resolved_at,"
    " dismissed, dismissed_at FROM failure WHERE resolved = 0 AND dismissed = 0 ORDER BY id"
)

_REPORT_ADDRESSES: Final = (
    (
        "SELECT position, email_address FROM report_unsubscribed",
        "DELETE FROM report_unsubscribed WHERE position = ?",
    ),
    (
        "SELECT position, email_address FROM report_conflict",
        "DELETE FROM report_conflict WHERE position = ?",
    ),
)

_new = object.__new__
_set = object.__setattr__


def _failure(row: tuple[Any, ...]) -> Failure:
    (
        id_,
        person_id,
        kind,
        action,
        category,
        title,
        email_address,
        status,
        detail,
        field_errors,
        fingerprint,
        first_seen,
        last_seen,
        attempts,
        resolved,
        resolved_at,
        dismissed,
        dismissed_at,
    ) = row
    return Failure(
        id=id_,
        person_id=person_id,
        kind=PersonKind(kind),
        action=action,
        category=category,
        title=title,
        email_address=email_address,
        status=status,
        detail=detail,
        field_errors=tuple((e["field"], e["message"]) for e in json.loads(field_errors)),
        fingerprint=fingerprint,
        first_seen=_parse_time(first_seen),
        last_seen=_parse_time(last_seen),
        attempts=attempts,
        resolved=bool(resolved),
        resolved_at=_parse_optional_time(resolved_at),
        dismissed=bool(dismissed),
        dismissed_at=_parse_optional_time(dismissed_at),
    )


def is_refusal(status: int | None, category: str) -> bool:
    """Tell whether a failure means Mailchimp refused what was sent (R6.3).

    A refusal has a 400-class status other than 429 (too many requests), or no status and a
    category in :data:`REFUSAL_CATEGORIES` (a per-address error in a batch-subscribe answer).
    A 429, a 500-class status and a category in :data:`RETRYABLE_CATEGORIES` never are.

    Args:
        status: The HTTP status, ``None`` when there was none.
        category: The failure's category.

    Returns:
        ``True`` for a refusal: the person is not re-sent until what would be sent changes.
    """
    if category in RETRYABLE_CATEGORIES:
        return False
    if status is None:
        return category in REFUSAL_CATEGORIES
    return status in range(400, 500) and status != _TOO_MANY_REQUESTS


def _erase(text: str, key: str) -> str:
    """Replace every spelling (any case) of the address ``key`` in ``text``."""
    return re.sub(re.escape(key), _ERASED, text, flags=re.IGNORECASE)


# The run lock: an advisory lock on a side file, released by the OS when the holder dies.
if sys.platform == "win32":  # pragma: no cover - the lock is exercised on POSIX only
    import msvcrt

    _WINDOWS_LOCK_OFFSET: Final = 1 << 20  # beyond the pid, so a waiting run can read it

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def _write_pid(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode("ascii"))


# ----------------------------------------------------------------------------------------------
# The SQLite store


class SQLiteStore:
    """The coupling database in one SQLite file; the default :class:`CouplingStore`.

    Opening creates the file (mode ``0600``) when it is missing and brings its schema up to
    :data:`SCHEMA_VERSION`, each migration step in its own transaction. The connection uses WAL
    with ``synchronous=NORMAL`` (see the module documentation for why that is crash-safe for
    R7.2), ``foreign_keys=ON`` and ``secure_delete=ON``.

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
            every write raises :class:`StoreError`.

    Raises:
        StoreError: The file cannot be opened or created, is not a coupling database, or was
            written by a newer version of the library (its schema is newer than
            :data:`SCHEMA_VERSION`); with ``read_only``, also when the file is missing or its
            schema is older (open it for writing once to upgrade it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], datetime] | None = None,
        read_only: bool = False,
    ) -> None:
        """Open (and when needed create and migrate) the database at ``path``."""
        self._path = os.fspath(path)
        self._clock = clock if clock is not None else _utc_now
        self._read_only = read_only
        self._memory = self._path == ":memory:"
        self._mutex = threading.RLock()
        self._memory_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = self._open()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the coupling database {self._path}: {exc}") from exc

    # -- opening ---------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self._read_only:
            if not Path(self._path).is_file():
                raise StoreError(f"no coupling database at {self._path}")
            uri = Path(self._path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10.0
            )
        elif self._memory:
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
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
            self._check_file(conn)
            if not self._read_only:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._read_only:
                self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _check_file(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        if application_id not in (0, _APPLICATION_ID) or (application_id == 0 and has_tables):
            raise StoreError(f"{self._path} is an SQLite database but not a coupling database")
        known = len(_MIGRATIONS)
        if version > known:
            raise StoreError(
                f"the coupling database {self._path} has schema version {version}, written by a "
                f"newer version of auditcase-mailchimp; this version knows schema versions up "
                f"to {known}: upgrade auditcase-mailchimp"
            )
        if self._read_only and version < known:
            raise StoreError(
                f"the coupling database {self._path} has schema version {version}, older than "
                f"{known}: open it for writing once (run a sync) to upgrade it"
            )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        while True:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Read again inside the write lock: another process may have migrated meanwhile.
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version >= len(_MIGRATIONS):
                    conn.execute("COMMIT")
                    return
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
                if version == 0:
                    conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            _log.info("store.migrated", extra={"schema_version": version + 1})

    # -- plumbing --------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    @property
    def read_only(self) -> bool:
        """``True`` when the store was opened for reading only."""
        return self._read_only

    def __repr__(self) -> str:
        """Name the file, never its content."""
        return f"SQLiteStore({self._path!r})"

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
        return _format_time(now)

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
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                raise StoreError(f"cannot write the coupling database {self._path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the coupling database {self._path} is closed")
        return self._conn

    # -- coupling records ------------------------------------------------------------------

    def load_current(self) -> list[CurrentMember]:
        """Return every coupling record as a :class:`~auditcase_mailchimp.CurrentMember`.

        Archived members are included (status ``archived``, their ``status_at_archive`` on the
        coupling). Each member's ``tags`` equal ``coupling.tags``: the database knows only the
        tags the coupling set. Ordered by lower-cased address.

        Returns:
            One member per record, each with its :class:`~auditcase_mailchimp.Coupling`.

        Raises:
            StoreError: The database cannot be read.
        """
        # The rows passed the schema's checks when written: build the frozen values directly,
        # skipping their validators. (The garbage collector is left alone: switching it off is
        # a process-wide act a library has no business doing in its host's program.)
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT email_address, first_name, last_name, tags, status, person_id, kind,"
                " status_at_archive FROM member ORDER BY key"
            ).fetchall()
        return self._members(rows)

    def _members(self, rows: list[Any]) -> list[CurrentMember]:
        tag_sets: dict[str, frozenset[str]] = {}
        kinds = _KINDS
        members: list[CurrentMember] = []
        append = members.append
        try:
            for email, first, last, tags_json, status, person_id, kind, at_archive in rows:
                tags = tag_sets.get(tags_json)
                if tags is None:
                    tags = tag_sets[tags_json] = frozenset(json.loads(tags_json))
                coupling = _new(Coupling)
                _set(coupling, "person_id", person_id)
                _set(coupling, "kind", kinds[kind])
                _set(coupling, "tags", tags)
                _set(coupling, "status_at_archive", at_archive)
                member = _new(CurrentMember)
                _set(member, "email_address", email)
                _set(member, "first_name", first)
                _set(member, "last_name", last)
                _set(member, "tags", tags)
                _set(member, "status", status)
                _set(member, "coupling", coupling)
                append(member)
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"the coupling database {self._path} holds a bad record") from exc
        return members

    def owners(self) -> dict[str, str]:
        """Return which person each address is pushed for (R3.2): non-archived records only.

        Returns:
            Lower-cased address to person id.

        Raises:
            StoreError: The database cannot be read.
        """
        with self._reading() as conn:
            return dict(
                conn.execute("SELECT key, person_id FROM member WHERE status <> 'archived'")
            )

    def record_members(self, members: Sequence[CurrentMember]) -> None:
        """Insert or replace the records of members Mailchimp confirmed, in one transaction.

        Each member's ``coupling`` gives the person, kind and the tags the coupling set (the
        member's own ``tags`` are not stored); ``status_at_archive`` is stored as the coupling
        gives it, so ``None`` clears it. One Mailchimp answer (up to 500 members of a batch
        subscribe) is one call, so a crash keeps all of its records or none (R7.2).

        Args:
            members: The members as Mailchimp confirmed them, each with its coupling.

        Raises:
            ValueError: A member has no coupling (nothing is written).
            StoreError: The database cannot be written (nothing is written).
        """
        now = self._now()
        rows = [_member_row(member, now) for member in members]
        with self._writing() as conn:
            conn.executemany(_INSERT_MEMBER, rows)

    def record_address_change(self, old_email_address: str, member: CurrentMember) -> None:
        """Move a record from its old address to the new one (R5.4), in one transaction.

        Args:
            old_email_address: The member's address before the change, any case.
            member: The member at its new address, with its coupling.

        Raises:
            ValueError: ``member`` has no coupling (nothing is written).
            StoreError: The database cannot be written (nothing is written).
        """
        now = self._now()
        row = _member_row(member, now)
        with self._writing() as conn:
            conn.execute("DELETE FROM member WHERE key = ?", (address_key(old_email_address),))
            conn.execute(_INSERT_MEMBER, row)

    def record_archive(self, email_address: str, status_at_archive: str) -> None:
        """Mark a record archived (R4.2), keeping the status it had then (R4.3).

        A record that does not exist is left absent: the coupling archives only members it
        recorded (R4.4).

        Args:
            email_address: The archived member's address, any case.
            status_at_archive: The member's status just before it was archived.

        Raises:
            ValueError: ``status_at_archive`` is not a Mailchimp status.
            StoreError: The database cannot be written.
        """
        _check_status(status_at_archive, "status_at_archive")
        now = self._now()
        with self._writing() as conn:
            conn.execute(
                "UPDATE member SET status = 'archived', status_at_archive = ?, updated_at = ?"
                " WHERE key = ?",
                (status_at_archive, now, address_key(email_address)),
            )

    def update_statuses(self, statuses: Mapping[str, str]) -> None:
        """Store the statuses read from Mailchimp (a reconcile, or batch answers), one transaction.

        Addresses without a record are ignored. A member found ``archived`` that was not archived
        by the coupling keeps its last seen status as ``status_at_archive`` (R4.3: re-linking
        never re-subscribes someone who had unsubscribed); a member no longer archived loses its
        ``status_at_archive``.

        Args:
            statuses: Lower-cased address to Mailchimp status.

        Raises:
            ValueError: A status is not a Mailchimp status (nothing is written).
            StoreError: The database cannot be written (nothing is written).
        """
        now = self._now()
        rows = [
            (_check_status(status, "a status"), now, address_key(key))
            for key, status in statuses.items()
        ]
        with self._writing() as conn:
            conn.executemany(
                "UPDATE member SET"
                " status_at_archive = CASE"
                "  WHEN ?1 <> 'archived' THEN NULL"
                "  WHEN status = 'archived' THEN status_at_archive"
                "  ELSE status END,"
                " status = ?1, updated_at = ?2"
                " WHERE key = ?3 AND status IS NOT ?1",
                rows,
            )

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
            rows = conn.execute(
                "SELECT id, email_address, title, detail, field_errors FROM failure"
            ).fetchall()
            for id_, address, title, detail, field_errors in rows:
                texts = (address, title, detail, field_errors)
                if not any(re.search(re.escape(key), t, re.IGNORECASE) for t in texts):
                    continue
                errors = [
                    {"field": e["field"], "message": _erase(e["message"], key)}
                    for e in json.loads(field_errors)
                ]
                conn.execute(
                    "UPDATE failure SET email_address = ?, title = ?, detail = ?,"
                    " field_errors = ?, fingerprint = NULL WHERE id = ?",
                    (
                        "" if address_key(address) == key else _erase(address, key),
                        _erase(title, key),
                        _erase(detail, key),
                        json.dumps(errors, ensure_ascii=False),
                        id_,
                    ),
                )
            for select, delete in _REPORT_ADDRESSES:
                positions = [
                    (position,)
                    for position, address in conn.execute(select).fetchall()
                    if address_key(address) == key
                ]
                conn.executemany(delete, positions)
        with self._mutex, contextlib.suppress(sqlite3.Error):
            self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")

    # -- the failure overview --------------------------------------------------------------

    def record_failure(self, failure: FailureInput) -> int:
        """Add a failure to the overview (R6.1, R6.2), or count it again (R6.3).

        When an unresolved entry exists for the same person, action, category, title and
        fingerprint, its ``attempts`` and ``last_seen`` go up and its status, detail, per-field
        errors, kind and address are refreshed, so a repeated or resumed run never doubles an
        entry. A dismissed entry stays dismissed when the same failure comes again: the
        administrator has seen it (R6.3); only a success, or a change, opens a new one.

        Args:
            failure: What failed.

        Returns:
            The id of the entry, new or existing.

        Raises:
            TypeError: ``failure`` is not a :class:`FailureInput`.
            StoreError: The database cannot be written (nothing is written).
        """
        if not isinstance(failure, FailureInput):
            raise TypeError(f"expected a FailureInput, got {failure!r}")
        now = self._now()
        field_errors = json.dumps(_field_errors_json(failure.field_errors), ensure_ascii=False)
        with self._writing() as conn:
            row = conn.execute(
                "SELECT id FROM failure WHERE person_id = ? AND action = ? AND category = ?"
                " AND title = ? AND fingerprint IS ? AND resolved = 0"
                " ORDER BY id DESC LIMIT 1",
                (
                    failure.person_id,
                    failure.action,
                    failure.category,
                    failure.title,
                    failure.fingerprint,
                ),
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE failure SET attempts = attempts + 1, last_seen = ?, kind = ?,"
                    " email_address = ?, status = ?, detail = ?, field_errors = ? WHERE id = ?",
                    (
                        now,
                        failure.kind.value,
                        failure.email_address,
                        failure.status,
                        failure.detail,
                        field_errors,
                        row[0],
                    ),
                )
                return int(row[0])
            cursor = conn.execute(
                "INSERT INTO failure (person_id, kind, email_address, action, category, status,"
                " title, detail, field_errors, fingerprint, first_seen, last_seen)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    failure.person_id,
                    failure.kind.value,
                    failure.email_address,
                    failure.action,
                    failure.category,
                    failure.status,
                    failure.title,
                    failure.detail,
                    field_errors,
                    failure.fingerprint,
                    now,
                    now,
                ),
            )
            return int(cursor.lastrowid)  # type: ignore[arg-type]  # set after an INSERT

    def resolve_failures(
        self, person_ids: Iterable[str], *, categories: Iterable[str] | None = None
    ) -> int:
        """Mark the unresolved entries of these persons resolved, now (R6.3); never delete them.

        Call it when a sync succeeded for a person. Dismissed entries that are not yet resolved
        are resolved too, so they stop holding the person back (see :meth:`refused`).

        Args:
            person_ids: The persons a sync just succeeded for.
            categories: Resolve only entries of these categories (e.g. the pre-send problems
                once the person maps cleanly); all categories by default.

        Returns:
            How many entries were marked resolved.

        Raises:
            StoreError: The database cannot be written (nothing is changed).
        """
        now = self._now()
        ids = list(dict.fromkeys(person_ids))
        chosen = [] if categories is None else sorted(set(categories))
        if not ids or (categories is not None and not chosen):
            return 0
        # One statement per 500 persons: a sync calls this after every answer.
        only = f" AND category IN ({', '.join('?' * len(chosen))})" if chosen else ""
        resolved = 0
        with self._writing() as conn:
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                batch = ids[start : start + _IDS_PER_STATEMENT]
                resolved += conn.execute(
                    "UPDATE failure SET resolved = 1, resolved_at = ? WHERE resolved = 0"  # noqa: S608 - placeholders only
                    f" AND person_id IN ({', '.join('?' * len(batch))}){only}",
                    [now, *batch, *chosen],
                ).rowcount
        return resolved

    def dismiss(self, ids: Iterable[int]) -> list[int]:
        """Dismiss entries: they leave the open list (the administrator has seen them).

        A dismissed refusal still holds the person back until what would be sent changes
        (R6.3); ``sync --retry-failed`` re-sends it.

        Args:
            ids: Entry ids, as ``failures`` shows them.

        Returns:
            The ids that exist, in the order given, each once; the others are unknown.

        Raises:
            TypeError: An id is not an int.
            StoreError: The database cannot be written (nothing is changed).
        """
        wanted = list(dict.fromkeys(ids))
        for id_ in wanted:
            if id_.__class__ is not int:
                raise TypeError(f"a failure id must be an int, got {id_!r}")
        now = self._now()
        found: list[int] = []
        with self._writing() as conn:
            for id_ in wanted:
                if conn.execute("SELECT 1 FROM failure WHERE id = ?", (id_,)).fetchone():
                    found.append(id_)
                    conn.execute(
                        "UPDATE failure SET dismissed = 1, dismissed_at = ?"
                        " WHERE id = ? AND dismissed = 0",
                        (now, id_),
                    )
        return found

    def failures(self, *, include_closed: bool = False) -> list[Failure]:
        """Return the failure overview (R6.2), ordered by id.

        Args:
            include_closed: Also return resolved and dismissed entries (``failures --all``).

        Returns:
            The open entries, or every entry.

        Raises:
            StoreError: The database cannot be read.
        """
        with self._reading() as conn:
            rows = conn.execute(
                _SELECT_ALL_FAILURES if include_closed else _SELECT_OPEN_FAILURES
            ).fetchall()
        return [_failure(row) for row in rows]

    def refused(self) -> dict[str, str]:
        """Return the persons Mailchimp refused and what was sent then (R6.3).

        A refusal is an unresolved entry for which :func:`is_refusal` holds: a 400-class
        status other than 429, or no status and a category in :data:`REFUSAL_CATEGORIES`;
        never a category in :data:`RETRYABLE_CATEGORIES`. Dismissed refusals count too:
        dismissing hides an entry, it does not ask for a re-send (``sync --retry-failed``
        does). Entries without a
        fingerprint are left out: without one nobody can tell whether the data changed.
        The runner does not re-send a person whose fingerprint is still the same.

        Returns:
            Person id to the fingerprint of their latest refusal.

        Raises:
            StoreError: The database cannot be read.
        """
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT person_id, fingerprint, status, category FROM failure"
                " WHERE resolved = 0 AND fingerprint IS NOT NULL ORDER BY id"
            ).fetchall()
        return {
            person_id: fingerprint
            for person_id, fingerprint, status, category in rows
            if is_refusal(status, category)
        }

    # -- the report ------------------------------------------------------------------------

    def save_report(
        self, notices: Sequence[UnsubscribedNotice], conflicts: Sequence[Problem]
    ) -> None:
        """Replace the stored report with the last run's (R9.4), in one transaction.

        Args:
            notices: Linked persons unsubscribed or cleaned in Mailchimp (R5.3).
            conflicts: The duplicate-address problems (R3.2); other problems are stored as
                given, with their category.

        Raises:
            StoreError: The database cannot be written (the old report stays).
        """
        now = self._now()
        notice_rows = [(n.person_id, n.kind.value, n.email_address, n.status) for n in notices]
        conflict_rows = [
            (
                p.person_id,
                p.kind.value,
                p.category.value,
                p.message,
                p.email_address,
                json.dumps(list(p.others), ensure_ascii=False),
                int(p.pushed),
            )
            for p in conflicts
        ]
        with self._writing() as conn:
            conn.execute("DELETE FROM report_unsubscribed")
            conn.execute("DELETE FROM report_conflict")
            conn.executemany(
                "INSERT INTO report_unsubscribed (person_id, kind, email_address, status)"
                " VALUES (?, ?, ?, ?)",
                notice_rows,
            )
            conn.executemany(
                "INSERT INTO report_conflict (person_id, kind, category, message, email_address,"
                " others, pushed) VALUES (?, ?, ?, ?, ?, ?, ?)",
                conflict_rows,
            )
            conn.execute("INSERT OR REPLACE INTO report_info (id, saved_at) VALUES (1, ?)", (now,))

    def load_report(self) -> Report:
        """Return the stored report, in the order it was saved.

        Returns:
            The report; empty, with ``saved_at`` ``None``, when none was saved yet.

        Raises:
            StoreError: The database cannot be read.
        """
        with self._reading() as conn:
            notices = conn.execute(
                "SELECT person_id, kind, email_address, status FROM report_unsubscribed"
                " ORDER BY position"
            ).fetchall()
            conflicts = conn.execute(
                "SELECT person_id, kind, category, message, email_address, others, pushed"
                " FROM report_conflict ORDER BY position"
            ).fetchall()
            saved = conn.execute("SELECT saved_at FROM report_info WHERE id = 1").fetchone()
        try:
            return Report(
                unsubscribed=tuple(
                    UnsubscribedNotice(
                        person_id=person_id,
                        kind=PersonKind(kind),
                        email_address=email_address,
                        status=status,
                    )
                    for person_id, kind, email_address, status in notices
                ),
                conflicts=tuple(
                    Problem(
                        person_id=person_id,
                        kind=PersonKind(kind),
                        category=ProblemCategory(category),
                        message=message,
                        email_address=email_address,
                        others=tuple(json.loads(others)),
                        pushed=bool(pushed),
                    )
                    for person_id, kind, category, message, email_address, others, pushed in (
                        conflicts
                    )
                ),
                saved_at=None if saved is None else _parse_time(saved[0]),
            )
        except ValueError as exc:
            raise StoreError(f"the coupling database {self._path} holds a bad report") from exc

    # -- runs ------------------------------------------------------------------------------

    def begin_run(self, *, dry_run: bool, reconcile: bool) -> int:
        """Record that a run starts now.

        Args:
            dry_run: The run is a dry run.
            reconcile: The run reads the audience from Mailchimp first.

        Returns:
            The run's id, for :meth:`finish_run`.

        Raises:
            StoreError: The database cannot be written.
        """
        now = self._now()
        with self._writing() as conn:
            cursor = conn.execute(
                "INSERT INTO run (started_at, dry_run, reconcile) VALUES (?, ?, ?)",
                (now, int(dry_run), int(reconcile)),
            )
            return int(cursor.lastrowid)  # type: ignore[arg-type]  # set after an INSERT

    def finish_run(self, run_id: int, counts: Mapping[str, int], *, outcome: str) -> None:
        """Record that a run finished now, with its summary counts and outcome.

        Args:
            run_id: The id :meth:`begin_run` returned.
            counts: The summary counts (``created``, ``updated``, ``archived``, ...).
            outcome: A word for how it ended, e.g. ``ok``, ``failures`` or ``error``.

        Raises:
            TypeError: A count is not an int.
            StoreError: The database cannot be written, or there is no such run.
        """
        for name, count in counts.items():
            if name.__class__ is not str or count.__class__ is not int:
                raise TypeError(f"counts must map str to int, got {name!r}: {count!r}")
        now = self._now()
        with self._writing() as conn:
            cursor = conn.execute(
                "UPDATE run SET finished_at = ?, outcome = ?, counts = ? WHERE id = ?",
                (now, outcome, json.dumps(dict(counts), sort_keys=True), run_id),
            )
            if cursor.rowcount != 1:
                raise StoreError(f"no run {run_id} in the coupling database {self._path}")

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """Return the latest runs, newest first.

        Args:
            limit: How many runs at most.

        Returns:
            The runs; an interrupted run has ``finished_at`` ``None``.

        Raises:
            StoreError: The database cannot be read.
        """
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT id, started_at, finished_at, dry_run, reconcile, outcome, counts"
                " FROM run ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            RunRecord(
                id=id_,
                started_at=_parse_time(started_at),
                finished_at=_parse_optional_time(finished_at),
                dry_run=bool(dry_run),
                reconcile=bool(reconcile),
                outcome=outcome,
                counts=json.loads(counts) if counts is not None else {},
            )
            for id_, started_at, finished_at, dry_run, reconcile, outcome, counts in rows
        ]

    # -- the run lock ----------------------------------------------------------------------

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
        if self._memory:
            if not self._memory_lock.acquire(blocking=False):
                raise StoreBusyError(self._path, os.getpid())
            try:
                yield
            finally:
                self._memory_lock.release()
            return
        lock_path = f"{self._path}.lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot open the lock file {lock_path}: {exc.strerror or exc}"
            ) from exc
        try:
            if not _try_lock(fd):
                raise StoreBusyError(self._path, _read_pid(fd))
            try:
                _write_pid(fd)
                yield
            finally:
                os.ftruncate(fd, 0)
                _unlock(fd)
        finally:
            os.close(fd)
