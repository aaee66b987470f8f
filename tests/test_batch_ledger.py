"""The batches a run submitted and has not read yet (R7.2): schema 4 and the ledger over it.

Every test works on a real SQLite file in ``tmp_path``, written the way each earlier version of
the library wrote it.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from auditcase_mailchimp import SCHEMA_VERSION, CouplingStore, SQLiteStore, StoreError, _schema
from auditcase_mailchimp._batch_ledger import BatchLedger

from .test_store import _version_1_database

#: The table as the batch ledger created it on first use before schema 4 (same text, so the
#: test shows what such a database holds).
_LEDGER_BEFORE_SCHEMA_4 = """
    CREATE TABLE IF NOT EXISTS pending_batch (
        id TEXT PRIMARY KEY NOT NULL CHECK (typeof(id) = 'text' AND id <> ''),
        list_id TEXT NOT NULL,
        submitted_at TEXT NOT NULL
    )
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the test's database goes."""
    return tmp_path / "coupling.sqlite3"


def _database_at(db: Path, version: int) -> None:
    """Write an empty database at an older schema ``version``, as that version wrote it."""
    raw = sqlite3.connect(db, isolation_level=None)
    _schema.migrate(raw, migrations=_schema.MIGRATIONS[:version])
    raw.close()


def _version(db: Path) -> int:
    raw = sqlite3.connect(db)
    try:
        return int(raw.execute("PRAGMA user_version").fetchone()[0])
    finally:
        raw.close()


def test_a_new_database_has_the_table_from_its_migrations(db: Path) -> None:
    """R7.2: the ledger's table is part of the schema, created by a migration step."""
    with SQLiteStore(db) as store:
        assert store.schema_version == SCHEMA_VERSION == 4
    raw = sqlite3.connect(db)
    names = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    raw.close()
    assert "pending_batch" in names


def test_a_schema_3_database_holding_the_ledger_table_migrates_and_keeps_it(db: Path) -> None:
    """R7.2: a database whose ledger made the table before schema 4 migrates; its ids stay."""
    _database_at(db, 3)
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute(_LEDGER_BEFORE_SCHEMA_4)
    raw.execute(
        "INSERT INTO pending_batch VALUES ('b-old', 'list1', '2026-01-01T00:00:00Z'),"
        " ('b-other', 'list2', '2026-01-01T00:00:01Z')"
    )
    raw.close()
    with SQLiteStore(db) as store:
        assert store.schema_version == SCHEMA_VERSION
        ledger = BatchLedger(store, "list1")
        assert ledger.pending() == ["b-old"]  # a killed run's batch is polled again
        ledger.remember("b-new")
        ledger.forget("b-old")
        assert ledger.pending() == ["b-new"]
        assert BatchLedger(store, "list2").pending() == ["b-other"]
    assert _version(db) == SCHEMA_VERSION


@pytest.mark.parametrize("version", [1, 2, 3])
def test_an_older_database_without_the_table_migrates(db: Path, version: int) -> None:
    """R7.2: schema 1, 2 and 3 databases gain the ledger's table, with nothing pending."""
    if version == 1:
        _version_1_database(db)  # with a member and a failure, as version 1 wrote them
    else:
        _database_at(db, version)
    with SQLiteStore(db) as store:
        ledger = BatchLedger(store, "list1")
        assert ledger.pending() == []
        ledger.remember("b1")
        ledger.remember("b2")
        assert ledger.pending() == ["b1", "b2"]
        if version == 1:
            assert [m.key for m in store.load_current()] == ["jan@example.nl"]
    assert _version(db) == SCHEMA_VERSION


def test_an_older_database_read_only_has_nothing_pending_and_stays_as_it_is(db: Path) -> None:
    """R7.3: a read-only store of schema 3 reads no batches and writes none; nothing migrates."""
    _database_at(db, 3)
    with SQLiteStore(db, read_only=True) as reader:
        ledger = BatchLedger(reader, "list1")
        assert ledger.pending() == []
        with pytest.raises(StoreError, match="read-only"):
            ledger.remember("b1")
    assert _version(db) == 3


def test_the_ids_outlive_the_store_and_are_kept_per_audience(db: Path) -> None:
    """R7.2: an id recorded before polling is there for the next run, oldest first."""
    times = iter(datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in (3, 2, 1))
    with SQLiteStore(db, clock=lambda: next(times)) as store:
        BatchLedger(store, "list1").remember("b-late")
        BatchLedger(store, "list2").remember("b-elsewhere")
        BatchLedger(store, "list1").remember("b-early")
    with SQLiteStore(db) as store:
        assert BatchLedger(store, "list1").pending() == ["b-early", "b-late"]
        BatchLedger(store, "list1").forget("unknown")  # changes nothing
        assert BatchLedger(store, "list2").pending() == ["b-elsewhere"]


def test_another_store_keeps_the_ids_in_memory() -> None:
    """R7.2: a store that is not SQLite keeps the ids for the run only (no resumption)."""
    ledger = BatchLedger(cast("CouplingStore", object()), "list1")
    ledger.remember("b1")
    ledger.remember("b2")
    ledger.forget("b1")
    ledger.forget("unknown")
    assert ledger.pending() == ["b2"]
    assert BatchLedger(cast("CouplingStore", object()), "list1").pending() == []
