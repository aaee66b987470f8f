"""The coupling database's schema and its migrations, one step per version.

Step ``n`` of :data:`MIGRATIONS` takes ``PRAGMA user_version`` from ``n`` to ``n + 1``, in one
transaction. Steps are only ever appended; a released step is never changed (a test pins the
text of each). The value lists of the ``CHECK`` constraints are built from the one place that
defines them (:data:`~auditcase_mailchimp.MEMBER_STATUSES`,
:class:`~auditcase_mailchimp.PersonKind`), spelled exactly as they were when the step was
released.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Iterable
from typing import Final

from ._errors import StoreError
from ._models import MEMBER_STATUSES, PersonKind
from ._settle import STEPS

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "check_file",
    "migrate",
    "user_version",
]

_log = logging.getLogger(__name__)

#: Marks the file as a coupling database ("ACMC").
APPLICATION_ID: Final = 0x41434D43


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


_KINDS_SQL: Final = _sql_list(kind.value for kind in PersonKind)
_STATUSES_SQL: Final = _sql_list(sorted(MEMBER_STATUSES))
_STEPS_SQL: Final = _sql_list(STEPS)

_VERSION_1: Final = (
    f"""
        CREATE TABLE member (
            key TEXT PRIMARY KEY NOT NULL CHECK (typeof(key) = 'text' AND key <> ''),
            email_address TEXT NOT NULL
                CHECK (typeof(email_address) = 'text' AND email_address <> ''),
            person_id TEXT NOT NULL CHECK (typeof(person_id) = 'text' AND person_id <> ''),
            kind TEXT NOT NULL CHECK (kind IN ({_KINDS_SQL})),
            first_name TEXT NOT NULL CHECK (typeof(first_name) = 'text'),
            last_name TEXT NOT NULL CHECK (typeof(last_name) = 'text'),
            tags TEXT NOT NULL CHECK (typeof(tags) = 'text'),
            status TEXT NOT NULL CHECK (status IN (
                {_STATUSES_SQL}
            )),
            status_at_archive TEXT CHECK (status_at_archive IS NULL OR status_at_archive IN (
                {_STATUSES_SQL}
            )),
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID
        """,
    f"""
        CREATE TABLE failure (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            person_id TEXT NOT NULL CHECK (typeof(person_id) = 'text' AND person_id <> ''),
            kind TEXT NOT NULL CHECK (kind IN ({_KINDS_SQL})),
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
    f"""
        CREATE TABLE report_unsubscribed (
            position INTEGER PRIMARY KEY,
            person_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({_KINDS_SQL})),
            email_address TEXT NOT NULL,
            status TEXT NOT NULL
        )
        """,
    f"""
        CREATE TABLE report_conflict (
            position INTEGER PRIMARY KEY,
            person_id TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ({_KINDS_SQL})),
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
)

#: The index on the person (schema 2). A run into an empty member table (a first sync) drops
#: it and builds it once its records are written (:mod:`._store_members`); opening a database
#: for writing builds it again if a run was killed meanwhile.
PERSON_INDEX: Final = "CREATE INDEX IF NOT EXISTS member_person ON member (person_id)"

#: Version 2: per-person lookups without a table scan (a push of one person reads only its
#: records, issue 12), and the audience the database belongs to (R4.6). An existing database
#: gets an empty ``audience``: its next run records the id it syncs. (Released: the index is
#: :data:`PERSON_INDEX`, written here as it was released.)
_VERSION_2: Final = (
    "CREATE INDEX member_person ON member (person_id)",
    """
        CREATE TABLE audience (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            list_id TEXT NOT NULL CHECK (typeof(list_id) = 'text' AND list_id <> ''),
            bound_at TEXT NOT NULL
        )
        """,
)

#: Version 3: the requests a run is about to send (R7.4), recorded before sending and cleared
#: with the answer's records; a run that finds some left open settles them first. An existing
#: database gets an empty table: nothing is open.
_VERSION_3: Final = (
    f"""
        CREATE TABLE intent (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            person_id TEXT NOT NULL CHECK (typeof(person_id) = 'text' AND person_id <> ''),
            kind TEXT NOT NULL CHECK (kind IN ({_KINDS_SQL})),
            step TEXT NOT NULL CHECK (step IN ({_STEPS_SQL})),
            action TEXT NOT NULL,
            key TEXT NOT NULL CHECK (typeof(key) = 'text' AND key <> ''),
            old_key TEXT NOT NULL DEFAULT '',
            tags_add TEXT NOT NULL DEFAULT '[]',
            tags_remove TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )
        """,
)

#: Version 4: the ``/batches`` a run submitted and has not read yet (R7.2): a run killed while
#: Mailchimp works on a batch polls the same batch again instead of sending its operations
#: twice. ``IF NOT EXISTS``: a schema-3 database written before this step may hold the table
#: already (the batch ledger created it on first use); its entries stay.
_VERSION_4: Final = (
    """
        CREATE TABLE IF NOT EXISTS pending_batch (
            id TEXT PRIMARY KEY NOT NULL CHECK (typeof(id) = 'text' AND id <> ''),
            list_id TEXT NOT NULL,
            submitted_at TEXT NOT NULL
        )
        """,
)

#: The schema, one migration step per version.
MIGRATIONS: tuple[tuple[str, ...], ...] = (_VERSION_1, _VERSION_2, _VERSION_3, _VERSION_4)

#: The schema version this library writes.
SCHEMA_VERSION: Final = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    """The schema version of an open database (0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_file(
    conn: sqlite3.Connection, path: str, *, migrations: tuple[tuple[str, ...], ...] | None = None
) -> int:
    """Check that an open database is a coupling database this version can use.

    Args:
        conn: The connection.
        path: The file, for messages.
        migrations: The steps this version knows; :data:`MIGRATIONS` by default.

    Returns:
        The database's schema version.

    Raises:
        StoreError: Not a coupling database, or written by a newer version of the library.
    """
    version = user_version(conn)
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    if application_id not in (0, APPLICATION_ID) or (application_id == 0 and has_tables):
        raise StoreError(f"{path} is an SQLite database but not a coupling database")
    known = len(MIGRATIONS if migrations is None else migrations)
    if version > known:
        raise StoreError(
            f"the coupling database {path} has schema version {version}, written by a "
            f"newer version of auditcase-mailchimp; this version knows schema versions up "
            f"to {known}: upgrade auditcase-mailchimp"
        )
    return version


def migrate(
    conn: sqlite3.Connection, *, migrations: tuple[tuple[str, ...], ...] | None = None
) -> None:
    """Bring the schema up to date, each step in its own transaction.

    Args:
        conn: A connection in autocommit mode (``isolation_level=None``).
        migrations: The steps to apply; :data:`MIGRATIONS` by default.

    Raises:
        sqlite3.Error: A step failed; it was rolled back, earlier steps stay.
    """
    steps = MIGRATIONS if migrations is None else migrations
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again inside the write lock: another process may have migrated meanwhile.
            version = user_version(conn)
            if version >= len(steps):
                if steps is MIGRATIONS:  # a first sync killed before it built the index
                    conn.execute(PERSON_INDEX)
                conn.execute("COMMIT")
                return
            for statement in steps[version]:
                conn.execute(statement)
            if version == 0:
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        _log.info("store.migrated", extra={"schema_version": version + 1})
