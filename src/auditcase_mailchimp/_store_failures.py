"""The store's part for the failure overview (R6.2, R6.3): record, resolve, dismiss, read."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection, Iterable
from typing import Any, Final

from ._failures import Failure, FailureInput, failure_from_row, field_errors_json, is_refusal
from ._models import address_key
from ._sqlite_base import Database, chunks, rows_in

__all__ = ["FailureLog", "erase"]

_ERASED: Final = "[erased]"
_FAILURE_COLUMNS: Final = (
    "id, person_id, kind, action, category, title, email_address, status, detail,"
    " field_errors, fingerprint, first_seen, last_seen, attempts, resolved, resolved_at,"
    " dismissed, dismissed_at"
)


def erase(text: str, key: str) -> str:
    """Replace every spelling (any case) of the address ``key`` in ``text``."""
    return re.sub(re.escape(key), _ERASED, text, flags=re.IGNORECASE)


class FailureLog(Database):
    """The failure overview of a :class:`~auditcase_mailchimp.SQLiteStore`."""

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
        field_errors = json.dumps(field_errors_json(failure.field_errors), ensure_ascii=False)
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
            for batch in chunks(ids):
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

    def failures(
        self, *, include_closed: bool = False, person_ids: Collection[str] | None = None
    ) -> list[Failure]:
        """Return the failure overview (R6.2), ordered by id.

        Args:
            include_closed: Also return resolved and dismissed entries (``failures --all``).
            person_ids: Only the entries of these persons (a push reads its own persons'
                open entries through an index); every person's by default.

        Returns:
            The open entries, or every entry.

        Raises:
            StoreError: The database cannot be read.
        """
        where = "1" if include_closed else "resolved = 0 AND dismissed = 0"
        return [
            failure_from_row(row) for row in self._failure_rows(_FAILURE_COLUMNS, where, person_ids)
        ]

    def refused(self, *, person_ids: Collection[str] | None = None) -> dict[str, str]:
        """Return the persons Mailchimp refused and what was sent then (R6.3).

        A refusal is an unresolved entry for which :func:`is_refusal` holds: a 400-class
        status other than 429, or no status and a category in :data:`REFUSAL_CATEGORIES`;
        never a category in :data:`RETRYABLE_CATEGORIES`. Dismissed refusals count too:
        dismissing hides an entry, it does not ask for a re-send (``sync --retry-failed``
        does). Entries without a
        fingerprint are left out: without one nobody can tell whether the data changed.
        The runner does not re-send a person whose fingerprint is still the same.

        Args:
            person_ids: Only these persons' refusals (read through an index); every person's
                by default.

        Returns:
            Person id to the fingerprint of their latest refusal.

        Raises:
            StoreError: The database cannot be read.
        """
        rows = self._failure_rows(
            "id, person_id, fingerprint, status, category",
            "resolved = 0 AND fingerprint IS NOT NULL",
            person_ids,
        )
        return {
            person_id: fingerprint
            for _id, person_id, fingerprint, status, category in rows
            if is_refusal(status, category)
        }

    def _failure_rows(
        self, columns: str, where: str, person_ids: Collection[str] | None
    ) -> list[Any]:
        """The rows (``id`` first) of the entries ``where`` holds, of these persons; by id."""
        select = f"SELECT {columns} FROM failure WHERE {where}"  # noqa: S608 - constant text
        if person_ids is None:
            return self._rows(f"{select} ORDER BY id")
        with self._reading() as conn:
            rows = rows_in(conn, select + " AND person_id IN ({})", sorted(set(person_ids)))
        return sorted(rows, key=lambda row: int(row[0]))

    def _erase_failures(self, conn: sqlite3.Connection, erased: str) -> None:
        """Blank an erased address in every entry, keeping the entries (R9.5)."""
        rows = conn.execute(
            "SELECT id, email_address, title, detail, field_errors FROM failure"
        ).fetchall()
        for id_, address, title, detail, field_errors in rows:
            texts = (address, title, detail, field_errors)
            if not any(re.search(re.escape(erased), t, re.IGNORECASE) for t in texts):
                continue
            errors = [
                {"field": e["field"], "message": erase(e["message"], erased)}
                for e in json.loads(field_errors)
            ]
            conn.execute(
                "UPDATE failure SET email_address = ?, title = ?, detail = ?,"
                " field_errors = ?, fingerprint = NULL WHERE id = ?",
                (
                    "" if address_key(address) == erased else erase(address, erased),
                    erase(title, erased),
                    erase(detail, erased),
                    json.dumps(errors, ensure_ascii=False),
                    id_,
                ),
            )
