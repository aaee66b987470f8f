"""The store's part for coupling records: one record per managed member (R2.3, R4.3, R4.4).

Also the audience the database belongs to (R4.6): one coupling database serves one audience.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from ._errors import AudienceMismatchError, StoreError
from ._models import MEMBER_STATUSES, CurrentMember, PersonKind, address_key, trusted_record
from ._schema import PERSON_INDEX
from ._sqlite_base import Database, insert_rows, rows_in

__all__ = ["MemberRecords"]

KINDS: Final = {kind.value: kind for kind in PersonKind}
_COLUMNS: Final = (
    "email_address, first_name, last_name, tags, status, person_id, kind, status_at_archive"
)
_MEMBER_COLUMNS: Final = (
    "key", "email_address", "person_id", "kind", "first_name", "last_name", "tags", "status",
    "status_at_archive", "updated_at",
)  # fmt: skip
#: The schema version that records the audience.
_AUDIENCE_SINCE: Final = 2
#: The schema version that added the index on the person.
_PERSON_INDEX_SINCE: Final = 2


@functools.lru_cache(maxsize=4096)
def tag_set_json(tags: frozenset[str]) -> str:
    """A tag set as stored: a sorted JSON array; cached, as members share a few sets."""
    return json.dumps(sorted(tags), ensure_ascii=False, separators=(",", ":"))


def check_status(status: object, what: str) -> str:
    """Return ``status`` when it is a Mailchimp status; raise ``ValueError`` naming ``what``."""
    if not isinstance(status, str) or status not in MEMBER_STATUSES:
        raise ValueError(f"{what} must be one of {sorted(MEMBER_STATUSES)}, got {status!r}")
    return status


def member_row(member: CurrentMember, now: str) -> tuple[str | None, ...]:
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
        tag_set_json(coupling.tags),
        member.status,
        coupling.status_at_archive,
        now,
    )


class MemberRecords(Database):
    """The coupling records and the audience binding of an SQLite coupling store.

    A run into an empty member table (a first sync) writes its records without the index on
    the person and builds the index once, after them (:meth:`_run_starts`): each
    answer is its own transaction (R7.2), and its 500 records would go into the index at 500
    scattered places, some 400 index pages written again for every answer (at 100,000
    persons, 2 s of system time and 2 to 3 s of the run).
    """

    #: The index on the person was dropped for a first sync and is not built yet.
    _person_index_aside = False

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
        # The rows passed the schema's checks when written: the frozen values are built
        # directly, skipping their validators.
        return self._members(self._rows(f"SELECT {_COLUMNS} FROM member ORDER BY key"))  # noqa: S608 - constant columns

    def load_current_for(
        self, person_ids: Collection[str], keys: Collection[str]
    ) -> list[CurrentMember]:
        """Return the records of some persons and some addresses: indexed lookups, no scan.

        For a push of a few persons (issue 12): the records whose person is in ``person_ids``
        and those whose lower-cased address is in ``keys``, each once, ordered by address, built
        as :meth:`load_current` builds them.

        Args:
            person_ids: AuditCase person ids.
            keys: Addresses, any case (they are lower-cased).

        Returns:
            The matching records as members, archived ones included.

        Raises:
            StoreError: The database cannot be read.
        """
        self._build_person_index()
        ids = list(dict.fromkeys(person_ids))
        lowered = list(dict.fromkeys(address_key(key) for key in keys))
        select = f"SELECT key, {_COLUMNS} FROM member WHERE "  # noqa: S608 - constant columns
        with self._reading() as conn:  # one snapshot for both lookups, placeholders only
            found = rows_in(conn, select + "person_id IN ({})", ids)
            found += rows_in(conn, select + "key IN ({})", lowered)
        rows = {key: row for key, *row in found}
        return self._members([rows[key] for key in sorted(rows)])

    def _run_starts(self) -> None:
        """Drop the index on the person when the member table is empty (a first sync starts).

        :meth:`_build_person_index` builds it again: the store calls it when the run ends
        (finished, failed or not), before a lookup by person, and on closing; a database
        opened for writing gets it back if the process was killed first, and so does a later
        run that finds records (the index of a first sync killed in another process).
        """
        with self._writing() as conn:
            if self.schema_version < _PERSON_INDEX_SINCE:
                return
            # the smallest key: one step down the table's own b-tree, whatever its size
            if conn.execute("SELECT min(key) FROM member").fetchone()[0] is None:
                conn.execute("DROP INDEX IF EXISTS member_person")
                self._person_index_aside = True
            else:
                conn.execute(PERSON_INDEX)  # nothing to do unless a first sync was killed

    def _run_ends(self) -> None:
        """The run has ended: build the index on the person if it was set aside."""
        self._build_person_index()

    def _build_person_index(self) -> None:
        """Build the index on the person if a first sync set it aside (one sort of the table).

        Not inside another transaction: a rollback of it would drop the index again. A build
        that fails is left for later (the next call, or the next opening for writing): a
        lookup by person works without the index, and the run's records are all written.
        """
        with self._mutex:  # the flag is read and cleared by one thread at a time
            if not self._person_index_aside or self._depth:
                return
            with contextlib.suppress(StoreError):
                with self._writing() as conn:
                    conn.execute(PERSON_INDEX)
                self._person_index_aside = False

    def _members(self, rows: list[Any]) -> list[CurrentMember]:
        tag_sets: dict[str, frozenset[str]] = {}
        kinds = KINDS
        members: list[CurrentMember] = []
        append = members.append
        try:
            for email, first, last, tags_json, status, person_id, kind, at_archive in rows:
                tags = tag_sets.get(tags_json)
                if tags is None:
                    tags = tag_sets[tags_json] = frozenset(json.loads(tags_json))
                append(
                    trusted_record(
                        email, first, last, tags, status, person_id, kinds[kind], at_archive
                    )
                )
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
        return dict(self._rows("SELECT key, person_id FROM member WHERE status <> 'archived'"))

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
        rows = [member_row(member, now) for member in members]
        with self._writing() as conn:
            insert_rows(
                conn,
                "INSERT OR REPLACE INTO member",
                _MEMBER_COLUMNS,
                rows,
            )

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
        row = member_row(member, now)
        with self._writing() as conn:
            conn.execute("DELETE FROM member WHERE key = ?", (address_key(old_email_address),))
            insert_rows(conn, "INSERT OR REPLACE INTO member", _MEMBER_COLUMNS, [row])

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
        check_status(status_at_archive, "status_at_archive")
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
            (check_status(status, "a status"), now, address_key(key))
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

    def audience_id(self) -> str | None:
        """Return the audience the database belongs to (R4.6), or ``None`` before its first run.

        Returns:
            The recorded audience (list) id; ``None`` for a new database, and for one written
            before the library recorded it (its next run records it).

        Raises:
            StoreError: The database cannot be read.
        """
        rows = self._rows("SELECT list_id FROM audience WHERE id = 1", since=_AUDIENCE_SINCE)
        return str(rows[0][0]) if rows else None

    def bind_audience(self, list_id: str) -> None:
        """Record the audience the database belongs to, or check it is the one recorded (R4.6).

        Call it before anything is sent: the first run binds the database to its audience;
        every later run must give the same id.

        Args:
            list_id: The audience (list) id of this run.

        Raises:
            AudienceMismatchError: Another audience is recorded; nothing is written.
            ValueError: ``list_id`` is empty.
            StoreError: The database cannot be written.
        """
        if not list_id.strip():
            raise ValueError("the audience (list) id is empty")
        now = self._now()
        with self._writing() as conn:
            row = conn.execute("SELECT list_id FROM audience WHERE id = 1").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO audience (id, list_id, bound_at) VALUES (1, ?, ?)", (list_id, now)
                )
                return
        if row[0] != list_id:
            raise AudienceMismatchError(recorded=row[0], given=list_id)
