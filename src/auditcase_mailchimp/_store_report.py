"""The store's parts for the last run's report (R9.4) and the history of runs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Final

from ._desired import Problem, ProblemCategory
from ._errors import StoreError
from ._models import PersonKind, address_key
from ._plan import UnsubscribedNotice
from ._sqlite_base import Database
from ._store_values import Report, RunRecord, parse_optional_time, parse_time

__all__ = ["ReportAndRuns"]

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


class ReportAndRuns(Database):
    """The report and the runs of a :class:`~auditcase_mailchimp.SQLiteStore`."""

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
                saved_at=None if saved is None else parse_time(saved[0]),
            )
        except ValueError as exc:
            raise StoreError(f"the coupling database {self._path} holds a bad report") from exc

    # -- runs ------------------------------------------------------------------------------

    def begin_run(self, *, dry_run: bool, reconcile: bool) -> int:
        """Record that a run starts now.

        Args:
            dry_run: The run is a dry run.
            reconcile: The run reads the audience from Mailchimp first.

        A run that is not a dry run and finds no coupling records (a first sync) writes them
        without the index on the person, which is built when the run ends (:meth:`finish_run`,
        leaving :meth:`~auditcase_mailchimp.SQLiteStore.lock`, a lookup by person or
        :meth:`~auditcase_mailchimp.SQLiteStore.close`, whichever comes first): its records go
        in a few hundred at a time, one transaction per answer (R7.2), and each would otherwise
        write back most of the index.

        Returns:
            The run's id, for :meth:`finish_run`.

        Raises:
            StoreError: The database cannot be written.
        """
        if not dry_run:
            self._run_starts()
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
        self._run_ends()

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """Return the latest runs, newest first.

        Args:
            limit: How many runs at most.

        Returns:
            The runs; an interrupted run has ``finished_at`` ``None``.

        Raises:
            StoreError: The database cannot be read.
        """
        rows = self._rows(
            "SELECT id, started_at, finished_at, dry_run, reconcile, outcome, counts"
            " FROM run ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [
            RunRecord(
                id=id_,
                started_at=parse_time(started_at),
                finished_at=parse_optional_time(finished_at),
                dry_run=bool(dry_run),
                reconcile=bool(reconcile),
                outcome=outcome,
                counts=json.loads(counts) if counts is not None else {},
            )
            for id_, started_at, finished_at, dry_run, reconcile, outcome, counts in rows
        ]

    def _erase_report(self, conn: sqlite3.Connection, erased: str) -> None:
        """Delete the report's lines about an erased address (R9.5)."""
        for select, delete in _REPORT_ADDRESSES:
            positions = [
                (position,)
                for position, address in conn.execute(select).fetchall()
                if address_key(address) == erased
            ]
            conn.executemany(delete, positions)
