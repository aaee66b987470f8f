"""The coupling database, issue 8.4/9.5/11.1: indexed lookups, the audience binding, reading only.

Every test works on a real SQLite file in ``tmp_path``.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditcase_mailchimp import (
    SCHEMA_VERSION,
    AudienceMismatchError,
    ConfigurationError,
    Coupling,
    CurrentMember,
    FailureInput,
    PersonKind,
    SQLiteStore,
    StoreError,
    _schema,
    _sqlite_base,
)

from .test_store import _version_1_database

CLIENT = PersonKind.CLIENT_PERSON


def _member(email_address: str, person_id: str, status: str = "subscribed") -> CurrentMember:
    return CurrentMember(
        email_address=email_address,
        first_name="Jan",
        last_name="Jansen",
        tags=frozenset({"Fiscaal"}),
        status=status,
        coupling=Coupling(person_id=person_id, kind=CLIENT, tags=frozenset({"Fiscaal"})),
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the test's database goes."""
    return tmp_path / "coupling.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[SQLiteStore]:
    """A fresh store, closed afterwards."""
    with SQLiteStore(db) as opened:
        yield opened


# -- load_current_for: a push of one person reads only its records (issue 12.7) ------------------


def test_load_current_for_reads_the_persons_and_addresses_asked(store: SQLiteStore) -> None:
    """Issue 8.4: records of the given persons and of the given addresses (any case), each once."""
    store.record_members(
        [
            _member("Jan@example.nl", "1"),
            _member("jan.privé@example.nl", "1", status="archived"),
            _member("piet@example.nl", "2"),
            _member("kees@example.nl", "3"),
        ]
    )
    found = store.load_current_for(["1", "9"], ["KEES@example.nl", "jan@example.nl"])
    assert [m.key for m in found] == ["jan.privé@example.nl", "jan@example.nl", "kees@example.nl"]
    assert found == [m for m in store.load_current() if m.key in {x.key for x in found}]
    assert store.load_current_for([], []) == []


def test_load_current_for_takes_more_than_one_statement_holds(store: SQLiteStore) -> None:
    """Issue 8.4: more ids than one SQLite statement takes are looked up in slices."""
    store.record_members([_member(f"p{i}@example.nl", str(i)) for i in range(1200)])
    found = store.load_current_for([str(i) for i in range(0, 1200, 2)], [])
    assert len(found) == 600


@pytest.mark.usefixtures("store")
def test_load_current_for_uses_indexes(db: Path) -> None:
    """Issue 12.7: the per-person lookups are index searches, never a scan of the member table."""
    raw = sqlite3.connect(db)
    for column in ("person_id", "key"):
        plan = raw.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM member WHERE {column} IN (?, ?)",  # noqa: S608 - a test's constant
            ("a", "b"),
        ).fetchall()
        text = " ".join(str(row[-1]) for row in plan)
        assert "SEARCH" in text, text
        assert "SCAN" not in text, text
    raw.close()


def _indexes(db: Path) -> set[str]:
    raw = sqlite3.connect(db)
    try:
        rows = raw.execute("SELECT name FROM sqlite_master WHERE type = 'index'").fetchall()
    finally:
        raw.close()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def test_a_first_sync_writes_its_records_before_the_person_index(
    store: SQLiteStore, db: Path
) -> None:
    """Issue 8: into an empty member table, records go in first; the index is built at the end.

    Each answer is its own transaction (R7.2): with the index in place, every answer's records
    would write back most of the index's pages (2 s of system time at 100,000 persons).
    """
    assert "member_person" in _indexes(db)
    with store.lock():
        run = store.begin_run(dry_run=False, reconcile=False)
        assert "member_person" not in _indexes(db)  # set aside while the records go in
        store.record_members([_member(f"p{i}@example.nl", str(i)) for i in range(50)])
        store.finish_run(run, {"created": 50}, outcome="ok")
        assert "member_person" in _indexes(db)  # built once, after the records
    with store.lock():  # a later run finds records: the index stays where it is
        run = store.begin_run(dry_run=False, reconcile=False)
        assert "member_person" in _indexes(db)
        store.finish_run(run, {}, outcome="ok")
    assert len(store.load_current_for(["7"], [])) == 1


def test_the_person_index_is_built_however_the_first_run_ends(store: SQLiteStore, db: Path) -> None:
    """Issue 8: a run that raises, a lookup by person, closing: each builds the index first."""

    def failing_run() -> None:
        with store.lock():
            store.begin_run(dry_run=False, reconcile=False)
            store.record_members([_member("jan@example.nl", "1")])
            raise RuntimeError("the run failed")  # leaving the lock builds it

    with pytest.raises(RuntimeError, match="the run failed"):
        failing_run()
    assert "member_person" in _indexes(db)
    other = db.with_name("other.sqlite3")
    with SQLiteStore(other) as second:
        second.begin_run(dry_run=False, reconcile=False)
        assert "member_person" not in _indexes(other)
        assert second.load_current_for(["1"], []) == []  # a lookup by person builds it first
        assert "member_person" in _indexes(other)
    third = db.with_name("third.sqlite3")
    with SQLiteStore(third) as closing:
        closing.begin_run(dry_run=False, reconcile=False)
    assert "member_person" in _indexes(third)  # closing built it
    with SQLiteStore(third) as dry:
        dry.begin_run(dry_run=True, reconcile=False)  # a dry run writes no records
        assert "member_person" in _indexes(third)


def test_a_database_whose_first_sync_was_killed_gets_its_person_index_back(db: Path) -> None:
    """Issue 8, R7.2: killed before the index was built, the next opening for writing builds it."""
    with SQLiteStore(db) as store:
        store.record_members([_member("jan@example.nl", "1")])
    raw = sqlite3.connect(db)
    raw.execute("DROP INDEX member_person")  # as a first sync killed while writing leaves it
    raw.commit()
    raw.close()
    with SQLiteStore(db, read_only=True) as reader:  # reading changes nothing, and still finds
        assert [m.key for m in reader.load_current_for(["1"], [])] == ["jan@example.nl"]
    assert "member_person" not in _indexes(db)
    with SQLiteStore(db):
        assert "member_person" in _indexes(db)


def test_a_later_run_rebuilds_a_person_index_another_process_left_out(db: Path) -> None:
    """Issue 8: a store opened before another process's first sync was killed repairs it too."""
    with SQLiteStore(db) as worker:  # open all along, as a push-on-save worker is
        worker.record_members([_member("jan@example.nl", "1")])
        raw = sqlite3.connect(db)
        raw.execute("DROP INDEX member_person")  # the other process, killed meanwhile
        raw.commit()
        raw.close()
        with worker.lock():
            run = worker.begin_run(dry_run=False, reconcile=False)  # finds records: repairs
            assert "member_person" in _indexes(db)
            worker.finish_run(run, {}, outcome="ok")


# -- the audience binding (R4.6) ---------------------------------------------------------------


def test_the_first_run_binds_the_audience(store: SQLiteStore, db: Path) -> None:
    """R4.6: a new database records nothing until a run binds it; the binding survives reopening."""
    assert store.audience_id() is None
    store.bind_audience("a1b2c3d4e5")
    store.bind_audience("a1b2c3d4e5")  # the same audience again is fine
    store.close()
    with SQLiteStore(db) as again:
        assert again.audience_id() == "a1b2c3d4e5"
    with SQLiteStore(db, read_only=True) as reader:
        assert reader.audience_id() == "a1b2c3d4e5"


def test_another_audience_is_refused_naming_both(store: SQLiteStore) -> None:
    """R4.6: another audience id on the same database stops, naming both ids; nothing changes."""
    store.bind_audience("a1b2c3d4e5")
    with pytest.raises(AudienceMismatchError) as caught:
        store.bind_audience("ffff000011")
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert (error.recorded, error.given) == ("a1b2c3d4e5", "ffff000011")
    assert "a1b2c3d4e5" in str(error)
    assert "ffff000011" in str(error)
    assert store.audience_id() == "a1b2c3d4e5"


def test_an_empty_audience_id_is_refused(store: SQLiteStore) -> None:
    """R4.6: the binding needs an audience id."""
    with pytest.raises(ValueError, match="empty"):
        store.bind_audience(" ")
    assert store.audience_id() is None


@pytest.mark.usefixtures("store")
def test_a_read_only_store_cannot_bind(db: Path) -> None:
    """R7.3: binding writes, so a read-only store refuses it."""
    with SQLiteStore(db, read_only=True) as reader, pytest.raises(StoreError, match="read-only"):
        reader.bind_audience("a1b2c3d4e5")


# -- the migration from version 1 ------------------------------------------------------------------


def test_a_version_1_database_migrates_and_binds_at_its_next_run(db: Path) -> None:
    """R4.6 migration: a v1 database gains the index and an empty audience; the next run binds."""
    _version_1_database(db)
    with SQLiteStore(db) as store:
        assert store.audience_id() is None  # the migration records nothing
        (member,) = store.load_current_for(["1"], [])
        assert member.email_address == "Jan@example.nl"
        store.bind_audience("a1b2c3d4e5")
        assert store.audience_id() == "a1b2c3d4e5"
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    indexes = {row[1] for row in raw.execute("PRAGMA index_list(member)")}
    assert "member_person" in indexes
    raw.close()


def test_the_status_checks_come_from_one_tuple() -> None:
    """Issue 8.6: the SQL CHECKs list exactly the statuses and kinds the models define."""
    from auditcase_mailchimp import MEMBER_STATUSES  # noqa: PLC0415 - read beside its use

    member_table = _schema.MIGRATIONS[0][0]
    for status in MEMBER_STATUSES:
        assert member_table.count(f"'{status}'") == 2  # status and status_at_archive
    for kind in PersonKind:
        assert f"'{kind.value}'" in member_table


# -- reading only, where nothing can be written (issue 9.5) --------------------------------------


def test_read_only_uri_is_immutable_only_where_nothing_can_be_written() -> None:
    """Issue 9.5: ``mode=ro`` always; ``immutable=1`` when nothing can be written, no WAL waits."""
    uri = _sqlite_base.read_only_uri("/srv/coupling.sqlite3", writable=True)
    assert uri == "file:///srv/coupling.sqlite3?mode=ro"
    uri = _sqlite_base.read_only_uri("/srv/coupling.sqlite3", writable=False)
    assert uri == "file:///srv/coupling.sqlite3?mode=ro&immutable=1"
    uri = _sqlite_base.read_only_uri("/srv/coupling.sqlite3", writable=False, wal=True)
    assert uri == "file:///srv/coupling.sqlite3?mode=ro"


def test_writable_asks_about_the_file_and_its_folder(tmp_path: Path) -> None:
    """Issue 9.5: a file counts as writable only when its folder is writable too (for ``-shm``)."""
    (tmp_path / "coupling.sqlite3").touch()
    path = str(tmp_path / "coupling.sqlite3")
    assert _sqlite_base.writable(path)
    assert not _sqlite_base.writable(path, lambda p, _mode: p != str(tmp_path))
    assert not _sqlite_base.writable(path, lambda p, _mode: p != path)


def _filled(db: Path) -> None:
    with SQLiteStore(db) as store:
        store.record_members([_member("jan@example.nl", "1")])
        store.record_failure(
            FailureInput(person_id="1", kind=CLIENT, action="create", category="generic", title="x")
        )
        store.bind_audience("a1b2c3d4e5")
    # Closing checkpointed the WAL and removed the -wal and -shm files.
    assert not Path(f"{db}-wal").exists()
    assert not Path(f"{db}-shm").exists()


def test_a_file_that_cannot_be_written_is_read_immutable(db: Path) -> None:
    """Issue 9.5: told the file cannot be written, the store reads it creating no -shm or -wal."""
    _filled(db)
    with SQLiteStore(db, read_only=True, access=lambda _path, _mode: False) as reader:
        assert [m.key for m in reader.load_current()] == ["jan@example.nl"]
        assert len(reader.failures()) == 1
        assert reader.load_report().saved_at is None
        assert reader.audience_id() == "a1b2c3d4e5"
        assert not Path(f"{db}-shm").exists()
        assert not Path(f"{db}-wal").exists()


@pytest.mark.skipif(
    not hasattr(os, "fork") or os.geteuid() != 0, reason="needs root to drop to nobody"
)
def test_a_folder_nobody_may_write_is_read_by_an_unprivileged_process() -> None:
    """Issue 9.5: a process that cannot write the folder still reads failures and the report.

    Root bypasses file modes, so the reader is a forked child that drops to ``nobody`` first;
    it opens the database plainly ``mode=ro`` (which needs a ``-shm`` file it cannot create) and
    then as the store opens it.
    """
    folder = Path(tempfile.mkdtemp(prefix="acmc-ro-"))  # under /tmp, which everyone may enter
    try:
        folder.chmod(0o755)
        db = folder / "coupling.sqlite3"
        _filled(db)
        db.chmod(0o644)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe
            os.close(read)
            try:
                os.setgid(65534)
                os.setuid(65534)
                try:
                    plain = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True)
                    plain.execute("SELECT count(*) FROM member").fetchone()
                    verdict = "plain-ok"
                except sqlite3.Error:
                    verdict = "plain-failed"
                with SQLiteStore(db, read_only=True) as reader:
                    verdict += f" {len(reader.load_current())} {len(reader.failures())}"
            except BaseException as error:  # noqa: BLE001 - reported to the parent
                verdict = f"error {type(error).__name__}: {error}"
            os.write(write, verdict.encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read, "rb") as pipe:
            verdict = pipe.read().decode()
        os.waitpid(pid, 0)
        assert verdict == "plain-failed 1 1"
        assert not Path(f"{db}-shm").exists()
    finally:
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()
