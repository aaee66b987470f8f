"""The coupling database (issue 4): records, failure overview (R6), report (R9.4), runs, lock.

Every test works on a real SQLite file in ``tmp_path``; processes that hold the lock or crash are
real processes, killed with SIGKILL.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditcase_mailchimp import (
    MEMBER_STATUSES,
    SCHEMA_VERSION,
    Coupling,
    CouplingStore,
    CurrentMember,
    FailureInput,
    PersonKind,
    Problem,
    ProblemCategory,
    Report,
    SQLiteStore,
    StoreBusyError,
    StoreError,
    UnsubscribedNotice,
    _schema,
    is_refusal,
)

CLIENT = PersonKind.CLIENT_PERSON
CONTACT = PersonKind.CONTACT_PERSON
START = datetime(2026, 3, 1, 2, 0, 13, tzinfo=UTC)
#: The keys SPEC.md R9.2 requires of every entry of ``failures --json``.
R92_KEYS = {
    "id",
    "person_id",
    "email_address",
    "action",
    "category",
    "status",
    "title",
    "detail",
    "field_errors",
    "first_seen",
    "last_seen",
    "attempts",
    "resolved",
}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        """Start at START."""
        self.now = START

    def __call__(self) -> datetime:
        """Tell the time."""
        return self.now

    def advance(self, seconds: int) -> None:
        """Move the time forward."""
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    """A clock standing at START."""
    return Clock()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the test's database goes."""
    return tmp_path / "coupling.sqlite3"


@pytest.fixture
def store(db: Path, clock: Clock) -> Iterator[SQLiteStore]:
    """A fresh store on the test clock, closed afterwards."""
    with SQLiteStore(db, clock=clock) as opened:
        yield opened


def _member(
    email_address: str,
    person_id: str = "1",
    *,
    kind: PersonKind = CLIENT,
    tags: frozenset[str] = frozenset(),
    status: str = "subscribed",
    status_at_archive: str | None = None,
    first_name: str = "Jan",
    last_name: str = "Jansen",
) -> CurrentMember:
    return CurrentMember(
        email_address=email_address,
        first_name=first_name,
        last_name=last_name,
        tags=tags,
        status=status,
        coupling=Coupling(
            person_id=person_id, kind=kind, tags=tags, status_at_archive=status_at_archive
        ),
    )


def _failure(person_id: str = "1", **overrides: Any) -> FailureInput:
    fields: dict[str, Any] = {
        "person_id": person_id,
        "kind": CLIENT,
        "action": "create",
        "category": "invalid_merge_field",
        "title": "Invalid Resource",
        "email_address": f"p{person_id}@example.nl",
        "status": 400,
        "detail": "Your merge fields were invalid.",
        "field_errors": [{"field": "FNAME", "message": "Value too long"}],
        "fingerprint": "fp-1",
    }
    fields.update(overrides)
    return FailureInput(**fields)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _as_store(store: SQLiteStore) -> CouplingStore:
    """Type-checked, never run for its result: SQLiteStore satisfies the protocol."""
    return store


# -- coupling records ----------------------------------------------------------------------------


def test_load_current_returns_what_was_recorded(store: SQLiteStore) -> None:
    """Recorded members come back as CurrentMember with their Coupling, ordered by address."""
    members = [
        _member("piet@example.nl", "2", kind=CONTACT, tags=frozenset({"Fiscaal"})),
        _member("anna@example.nl", "1", tags=frozenset({"Mailingen-ontvangen-nee", "BTW"})),
    ]
    store.record_members(members)
    assert store.load_current() == sorted(members, key=lambda m: m.key)
    assert _as_store(store) is store


def test_only_the_tags_the_coupling_set_are_stored(store: SQLiteStore) -> None:
    """R4.4: a record knows only the coupling's tags; loaded members have tags == coupling.tags."""
    member = CurrentMember(
        email_address="jan@example.nl",
        tags=frozenset({"VIP", "Fiscaal"}),
        coupling=Coupling(person_id="1", kind=CLIENT, tags=frozenset({"Fiscaal"})),
    )
    store.record_members([member])
    (loaded,) = store.load_current()
    assert loaded.tags == frozenset({"Fiscaal"})
    assert loaded.coupling == member.coupling


def test_records_are_keyed_by_the_lower_cased_address(store: SQLiteStore) -> None:
    """R2.3: addresses equal ignoring case are one record; the latest spelling is kept."""
    store.record_members([_member("Jan@Example.NL")])
    store.record_members([_member("jan@example.nl", last_name="de Vries")])
    (loaded,) = store.load_current()
    assert loaded.email_address == "jan@example.nl"
    assert loaded.last_name == "de Vries"


def test_a_member_without_coupling_is_refused_and_nothing_is_written(store: SQLiteStore) -> None:
    """R4.4, R7.2: the coupling database holds managed members only; a bad batch writes nothing."""
    with pytest.raises(ValueError, match="coupling"):
        store.record_members([_member("a@example.nl"), CurrentMember(email_address="b@example.nl")])
    assert store.load_current() == []


def test_owners_are_the_non_archived_records(store: SQLiteStore) -> None:
    """R3.2: the owner of an address is the person it is pushed for; archived ones own nothing."""
    store.record_members(
        [_member("Jan@example.nl", "1"), _member("piet@example.nl", "2", status="archived")]
    )
    assert store.owners() == {"jan@example.nl": "1"}


def test_an_address_change_moves_the_record(store: SQLiteStore) -> None:
    """R5.4: the old address's record is replaced by the new one, same person, one transaction."""
    store.record_members([_member("old@example.nl", "7", tags=frozenset({"Fiscaal"}))])
    new = _member("New@example.nl", "7", tags=frozenset({"Fiscaal"}))
    store.record_address_change("OLD@example.nl", new)
    assert store.load_current() == [new]
    assert store.owners() == {"new@example.nl": "7"}


def test_archiving_keeps_the_status_it_had(store: SQLiteStore) -> None:
    """R4.3: an archived record keeps the member's status at archiving, for re-linking (R5.3)."""
    store.record_members([_member("jan@example.nl", status="unsubscribed")])
    store.record_archive("JAN@example.nl", "unsubscribed")
    (loaded,) = store.load_current()
    assert loaded.status == "archived"
    assert loaded.coupling is not None
    assert loaded.coupling.status_at_archive == "unsubscribed"
    assert store.owners() == {}


def test_re_recording_an_archived_member_clears_its_status_at_archive(
    store: SQLiteStore,
) -> None:
    """R4.3: a member re-added (status subscribed, no status_at_archive given) is live again."""
    store.record_members([_member("jan@example.nl")])
    store.record_archive("jan@example.nl", "subscribed")
    store.record_members([_member("jan@example.nl")])
    (loaded,) = store.load_current()
    assert loaded.status == "subscribed"
    assert loaded.coupling is not None
    assert loaded.coupling.status_at_archive is None


def test_archiving_an_unknown_address_or_with_a_bad_status(store: SQLiteStore) -> None:
    """R4.4: archiving a member without record records nothing; a non-status is refused."""
    store.record_archive("nobody@example.nl", "subscribed")
    assert store.load_current() == []
    with pytest.raises(ValueError, match="status_at_archive"):
        store.record_archive("nobody@example.nl", "gone")


def test_update_statuses_stores_what_mailchimp_says(store: SQLiteStore) -> None:
    """R5.3: statuses read from Mailchimp are kept; addresses without a record are ignored."""
    store.record_members([_member("jan@example.nl", "1"), _member("piet@example.nl", "2")])
    store.update_statuses({"jan@example.nl": "unsubscribed", "other@example.nl": "cleaned"})
    statuses = {m.key: m.status for m in store.load_current()}
    assert statuses == {"jan@example.nl": "unsubscribed", "piet@example.nl": "subscribed"}
    with pytest.raises(ValueError, match="status"):
        store.update_statuses({"jan@example.nl": "gone"})


def test_a_member_archived_in_mailchimp_keeps_its_last_status(store: SQLiteStore) -> None:
    """R4.3, R5.3: archived by hand, an unsubscribed member keeps ``unsubscribed`` as its memory."""
    store.record_members([_member("jan@example.nl", status="unsubscribed")])
    store.update_statuses({"jan@example.nl": "archived"})
    store.update_statuses({"jan@example.nl": "archived"})  # seen again: memory unchanged
    (loaded,) = store.load_current()
    assert (loaded.status, loaded.coupling) == (
        "archived",
        Coupling(person_id="1", kind=CLIENT, status_at_archive="unsubscribed"),
    )
    store.update_statuses({"jan@example.nl": "subscribed"})  # re-added in Mailchimp
    (loaded,) = store.load_current()
    assert loaded.coupling is not None
    assert loaded.coupling.status_at_archive is None


def test_forget_erases_every_trace_of_the_address(store: SQLiteStore, db: Path) -> None:
    """R4.2, R9.5 (GDPR): record, failure entries, report and the file's free pages lose it."""
    secret = "erase.me@example.nl"  # noqa: S105 - an address, not a password
    store.record_members([_member("Erase.Me@example.nl", "5"), _member("keep@example.nl", "6")])
    failure_id = store.record_failure(
        _failure(
            "5",
            email_address="Erase.Me@example.nl",
            detail="ERASE.ME@example.nl is in a compliance state",
            field_errors=[("email_address", "erase.me@example.nl looks fake")],
        )
    )
    store.save_report(
        [UnsubscribedNotice(person_id="5", kind=CLIENT, email_address=secret, status="cleaned")],
        [],
    )
    other_id = store.record_failure(_failure("6", email_address="keep@example.nl"))
    store.forget("   ")  # nothing to forget
    store.forget(" Erase.Me@Example.nl ")
    assert [m.key for m in store.load_current()] == ["keep@example.nl"]
    entry, other = store.failures()
    assert (other.id, other.email_address, other.fingerprint) == (
        other_id,
        "keep@example.nl",
        "fp-1",
    )
    assert entry.id == failure_id
    assert entry.email_address == ""
    assert entry.detail == "[erased] is in a compliance state"
    assert entry.field_errors == (("email_address", "[erased] looks fake"),)
    assert entry.fingerprint is None
    assert store.load_report().unsubscribed == ()
    store.close()
    for path in db.parent.iterdir():
        assert secret.encode() not in path.read_bytes().lower(), path.name


# -- the failure overview ------------------------------------------------------------------------


def test_a_failure_is_recorded_with_everything_r6_2_asks(store: SQLiteStore) -> None:
    """R6.2: id, time, person and kind, address, action, status, title, detail, field errors."""
    failure_id = store.record_failure(_failure("3", kind=CONTACT))
    (entry,) = store.failures()
    assert entry.id == failure_id
    assert (entry.person_id, entry.kind, entry.email_address) == ("3", CONTACT, "p3@example.nl")
    assert (entry.action, entry.category, entry.status) == ("create", "invalid_merge_field", 400)
    assert (entry.title, entry.detail) == ("Invalid Resource", "Your merge fields were invalid.")
    assert entry.field_errors == (("FNAME", "Value too long"),)
    assert (entry.first_seen, entry.last_seen, entry.attempts) == (START, START, 1)
    assert entry.is_open
    assert not entry.resolved
    assert not entry.dismissed


def test_a_repeated_failure_is_counted_not_doubled(store: SQLiteStore, clock: Clock) -> None:
    """R6.3, R7.2: the same open failure again bumps attempts and last_seen, refreshes detail."""
    first = store.record_failure(_failure())
    clock.advance(60)
    again = store.record_failure(_failure(detail="Still invalid.", status=422))
    assert again == first
    (entry,) = store.failures()
    assert (entry.attempts, entry.first_seen, entry.last_seen) == (
        2,
        START,
        START + timedelta(seconds=60),
    )
    assert (entry.detail, entry.status) == ("Still invalid.", 422)


@pytest.mark.parametrize(
    "change",
    [
        {"fingerprint": "fp-2"},
        {"fingerprint": None},
        {"title": "Member In Compliance State"},
        {"category": "compliance_state"},
        {"action": "update"},
        {"person_id": "2"},
    ],
)
def test_a_different_failure_is_a_new_entry(store: SQLiteStore, change: dict[str, Any]) -> None:
    """R6.3: a failure differing in person, action, category, title or fingerprint is new."""
    first = store.record_failure(_failure())
    assert store.record_failure(_failure(**change)) != first
    assert len(store.failures()) == 2


def test_a_failure_after_resolution_is_new_and_a_dismissal_sticks(store: SQLiteStore) -> None:
    """R6.3, R9.3: a resolved entry stays history; a dismissed one absorbs the same failure."""
    first = store.record_failure(_failure())
    store.resolve_failures(["1"])
    second = store.record_failure(_failure())
    assert first != second
    store.dismiss([second])
    third = store.record_failure(_failure())
    assert third == second  # the administrator dismissed it: it does not come back
    assert store.failures() == []
    (dismissed,) = [f for f in store.failures(include_closed=True) if f.id == second]
    assert dismissed.attempts == 2


def test_failure_json_has_the_fields_of_r9_2(store: SQLiteStore) -> None:
    """R9.2: ``failures --json`` objects carry the required keys, JSON types, UTC ISO times."""
    store.record_failure(_failure())
    store.record_failure(
        _failure("2", action="archive", category="network", status=None, field_errors=())
    )
    documents = [json.loads(json.dumps(f.to_json())) for f in store.failures()]
    for document in documents:
        assert R92_KEYS | {"kind", "dismissed"} <= document.keys()
        assert document["first_seen"] == "2026-03-01T02:00:13Z"
        assert document["resolved"] is False
    assert documents[0]["status"] == 400
    assert documents[0]["field_errors"] == [{"field": "FNAME", "message": "Value too long"}]
    assert documents[1]["status"] is None
    assert documents[1]["field_errors"] == []


def test_resolving_marks_entries_without_deleting_them(store: SQLiteStore, clock: Clock) -> None:
    """R6.3: a later success resolves the person's entries (resolved_at set), kept as history."""
    store.record_failure(_failure("1"))
    store.record_failure(_failure("1", category="no_address", action="map", status=None))
    store.record_failure(_failure("2"))
    clock.advance(3600)
    assert store.resolve_failures(["1", "1"]) == 2
    assert [f.person_id for f in store.failures()] == ["2"]
    closed = [f for f in store.failures(include_closed=True) if f.resolved]
    assert len(closed) == 2
    assert {f.resolved_at for f in closed} == {START + timedelta(hours=1)}
    assert store.resolve_failures(["1"]) == 0
    assert store.resolve_failures([]) == 0


def test_resolving_only_some_categories(store: SQLiteStore) -> None:
    """R6.3: the runner can resolve only the pre-send problems of a person that now maps."""
    store.record_failure(_failure("1", category="no_address", action="map", status=None))
    store.record_failure(_failure("1"))
    assert store.resolve_failures(["1"], categories=["no_address", "invalid_address"]) == 1
    assert [f.category for f in store.failures()] == ["invalid_merge_field"]
    assert store.resolve_failures(["1"], categories=[]) == 0


def test_dismiss_returns_the_ids_that_exist(store: SQLiteStore, clock: Clock) -> None:
    """R9.3: dismissed entries leave the open list, stay in the full one; unknown ids are named."""
    first = store.record_failure(_failure("1"))
    second = store.record_failure(_failure("2"))
    clock.advance(5)
    assert store.dismiss([second, 999, second]) == [second]
    assert [f.id for f in store.failures()] == [first]
    dismissed = [f for f in store.failures(include_closed=True) if f.dismissed]
    assert [(f.id, f.dismissed_at) for f in dismissed] == [(second, START + timedelta(seconds=5))]
    with pytest.raises(TypeError, match="int"):
        store.dismiss(["1"])  # type: ignore[list-item]  # what a careless caller might pass


def test_refused_lists_what_mailchimp_refused(store: SQLiteStore) -> None:
    """R6.3: 400-class refusals (not 429), by status or category, with the fingerprint sent."""
    store.record_failure(_failure("1", fingerprint="a"))
    store.record_failure(
        _failure("2", category="compliance_state", status=None, title="ERROR_GENERIC")
    )
    store.record_failure(_failure("3", category="rate_limited", status=429))
    store.record_failure(_failure("4", category="server_error", status=503))
    store.record_failure(_failure("5", category="network", status=None))
    store.record_failure(_failure("6", category="no_address", status=None, action="map"))
    store.record_failure(_failure("7", fingerprint=None))
    store.record_failure(_failure("8"))
    store.resolve_failures(["8"])
    assert store.refused() == {"1": "a", "2": "fp-1"}


def test_the_failures_of_some_persons_are_read_by_index(store: SQLiteStore, db: Path) -> None:
    """Issue 8.4, R6.3: a push reads only its persons' entries, in id order, in slices of 500."""
    for i in range(1200):
        store.record_failure(_failure(str(i % 600), fingerprint=f"f{i}", title=f"t{i}"))
    store.dismiss([1])
    store.resolve_failures(["2"])
    asked = [str(i) for i in range(600, 0, -1)]  # more than one statement takes, any order
    entries = store.failures(person_ids=asked)
    assert [e.id for e in entries] == [e.id for e in store.failures() if e.person_id in asked]
    assert len(entries) == 2 * 599 - 2  # person 0 not asked; 1's first dismissed; 2 resolved
    assert store.refused(person_ids=["1", "2", "3", "9999"]) == {"1": "f601", "3": "f603"}
    assert store.refused(person_ids=[]) == {}
    assert {e.person_id for e in store.failures(include_closed=True, person_ids=["2"])} == {"2"}
    raw = sqlite3.connect(db)
    plan = raw.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM failure WHERE resolved = 0 AND dismissed = 0"
        " AND person_id IN (?, ?)",
        ("1", "2"),
    ).fetchall()
    raw.close()
    assert "SCAN" not in " ".join(str(row[-1]) for row in plan)


def test_a_dismissed_refusal_still_holds_the_person_back(store: SQLiteStore) -> None:
    """R6.3: dismissing hides an entry; the same data is still not re-sent (--retry-failed is)."""
    failure_id = store.record_failure(_failure("1", fingerprint="a"))
    store.dismiss([failure_id])
    assert store.refused() == {"1": "a"}
    store.record_failure(_failure("1", fingerprint="b"))  # the data changed, refused again
    assert store.refused() == {"1": "b"}
    store.resolve_failures(["1"])  # then a sync succeeded
    assert store.refused() == {}


@pytest.mark.parametrize(
    ("status", "category", "refusal"),
    [
        (400, "generic", True),
        (404, "invalid_merge_field", True),
        (None, "permanently_deleted", True),
        (None, "invalid_address_mailchimp", True),
        (None, "generic", True),
        (429, "rate_limited", False),
        (429, "generic", False),
        (500, "generic", False),
        (400, "compliance_state", True),
        (400, "network", False),
        (500, "server_error", False),
        (None, "duplicate_address", False),
        (None, "no_address", False),
    ],
)
def test_is_refusal(status: int | None, category: str, refusal: bool) -> None:  # noqa: FBT001
    """R6.3: which failures count as Mailchimp refusing what was sent."""
    assert is_refusal(status, category) is refusal


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"status": 99}, ValueError),
        ({"status": True}, TypeError),
        ({"status": "400"}, TypeError),
        ({"person_id": " "}, ValueError),
        ({"person_id": 1}, TypeError),
        ({"title": None}, TypeError),
        ({"category": ""}, ValueError),
        ({"kind": "client_person"}, TypeError),
        ({"field_errors": "FNAME"}, TypeError),
        ({"field_errors": [("FNAME", 3)]}, TypeError),
        ({"fingerprint": 3}, TypeError),
    ],
)
def test_a_bad_failure_is_refused_when_built(overrides: dict[str, Any], error: type) -> None:
    """R6.2: a FailureInput with a wrong field cannot exist; the message names the field."""
    with pytest.raises(error):
        _failure(**overrides)


def test_a_problem_becomes_a_failure(store: SQLiteStore) -> None:
    """R6.2: a problem found before sending is stored with the library's category and message."""
    problem = Problem(
        person_id="4",
        kind=CONTACT,
        category=ProblemCategory.INVALID_ADDRESS,
        message="contact person 4 has an invalid e-mail address",
        email_address="x@y",
    )
    store.record_failure(FailureInput.from_problem(problem))
    (entry,) = store.failures()
    assert (entry.action, entry.category, entry.status, entry.title) == (
        "map",
        "invalid_address",
        None,
        "Invalid e-mail address",
    )
    assert (entry.detail, entry.email_address) == (problem.message, "x@y")


# -- the report ----------------------------------------------------------------------------------


def test_the_report_round_trips_and_is_replaced(store: SQLiteStore, clock: Clock) -> None:
    """R9.4, R5.3, R3.2: the last run's notices and duplicate addresses come back as saved."""
    assert store.load_report() == Report()
    notices = [
        UnsubscribedNotice(person_id="2", kind=CLIENT, email_address="b@x.nl", status="cleaned"),
        UnsubscribedNotice(
            person_id="1", kind=CONTACT, email_address="a@x.nl", status="unsubscribed"
        ),
    ]
    conflicts = [
        Problem(
            person_id=person_id,
            kind=CONTACT,
            category=ProblemCategory.DUPLICATE_ADDRESS,
            message=f"contact person {person_id} shares its e-mail address with {other}",
            email_address="info@x.nl",
            others=(other,),
            pushed=person_id == "3",
        )
        for person_id, other in (("3", "4"), ("4", "3"))
    ]
    store.save_report(notices, conflicts)
    report = store.load_report()
    assert report == Report(unsubscribed=tuple(notices), conflicts=tuple(conflicts), saved_at=START)
    document = json.loads(json.dumps(report.to_json()))
    assert document["saved_at"] == "2026-03-01T02:00:13Z"
    assert document["unsubscribed"][0] == {
        "person_id": "2",
        "kind": "client_person",
        "email_address": "b@x.nl",
        "status": "cleaned",
    }
    assert document["conflicts"][0]["others"] == ["4"]
    assert document["conflicts"][0]["pushed"] is True
    clock.advance(86400)
    store.save_report(notices[:1], [])
    assert store.load_report() == Report(
        unsubscribed=tuple(notices[:1]), saved_at=START + timedelta(days=1)
    )


# -- runs ----------------------------------------------------------------------------------------


def test_runs_are_recorded_newest_first(store: SQLiteStore, clock: Clock) -> None:
    """R7.2, R9.1: a run's start, end, counts and outcome; an interrupted run has no end."""
    first = store.begin_run(dry_run=False, reconcile=True)
    clock.advance(30)
    store.finish_run(first, {"created": 3, "updated": 1}, outcome="ok")
    second = store.begin_run(dry_run=True, reconcile=False)
    latest, earlier = store.runs()
    assert (latest.id, latest.finished_at, latest.outcome, latest.dry_run) == (
        second,
        None,
        None,
        True,
    )
    assert earlier.counts == {"created": 3, "updated": 1}
    assert earlier.to_json() == {
        "id": first,
        "started_at": "2026-03-01T02:00:13Z",
        "finished_at": "2026-03-01T02:00:43Z",
        "dry_run": False,
        "reconcile": True,
        "outcome": "ok",
        "counts": {"created": 3, "updated": 1},
    }
    assert [r.id for r in store.runs(limit=1)] == [second]
    with pytest.raises(StoreError, match="no run 99"):
        store.finish_run(99, {}, outcome="ok")
    with pytest.raises(TypeError, match="counts"):
        store.finish_run(second, {"created": 1.5}, outcome="ok")  # type: ignore[dict-item]  # wrong on purpose


# -- the file: schema, migrations, modes, errors -------------------------------------------------


def test_the_schema_and_pragmas(store: SQLiteStore, db: Path) -> None:
    """R7.2: WAL, synchronous=NORMAL, foreign keys, secure delete, the current schema version."""
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA synchronous").fetchone() == (1,)
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA secure_delete").fetchone() == (1,)
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    raw.close()


def test_released_migration_steps_never_change() -> None:
    """Migrations: a released step is frozen; change the schema by appending a step."""
    digests = [hashlib.sha256("\n".join(step).encode()).hexdigest() for step in _schema.MIGRATIONS]
    assert digests[: len(_RELEASED_DIGESTS)] == _RELEASED_DIGESTS


#: One digest per step: version 1 (records, failures, report, runs), 2 (audience, per-person
#: index), 3 (intents, R7.4), 4 (pending batches, R7.2).
_RELEASED_DIGESTS = [
    "41f866d2803b63e783eec467e277792d627b57bc90e9edb61951bf6a29a8c83c",
    "3e4c935cabae44c4c8192e528f043b61183264c438aa1194488b1cb19d92bcea",
    "ebbe2ea8fe263b3a8430cdc137b99e32b171b8b552b0f1fa9981845c0943ce9c",
    "2d98f1035aeafd4c57625a2711d561e06d73683a9f62c9314bab92f07f2c9c10",
]


def _version_1_database(path: Path) -> None:
    """Write a version-1 database with one member and one failure, as version 1 wrote them."""
    raw = sqlite3.connect(path, isolation_level=None)
    for statement in _schema.MIGRATIONS[0]:
        raw.execute(statement)
    raw.execute("PRAGMA application_id = 1094929731")
    raw.execute("PRAGMA user_version = 1")
    raw.execute(
        "INSERT INTO member VALUES ('jan@example.nl', 'Jan@example.nl', '1', 'client_person',"
        " 'Jan', 'Jansen', '[\"Fiscaal\"]', 'subscribed', NULL, '2025-01-01T00:00:00Z')"
    )
    raw.execute(
        "INSERT INTO failure (person_id, kind, email_address, action, category, status, title,"
        " detail, first_seen, last_seen) VALUES ('2', 'contact_person', 'p@x.nl', 'create',"
        " 'generic', 400, 'Invalid Resource', 'bad', '2025-01-01T00:00:00Z',"
        " '2025-01-01T00:00:00Z')"
    )
    raw.close()


def test_a_version_1_database_opens(db: Path) -> None:
    """Migrations: a database written by the first version opens and reads."""
    _version_1_database(db)
    with SQLiteStore(db) as store:
        (member,) = store.load_current()
        assert (member.email_address, member.tags) == ("Jan@example.nl", frozenset({"Fiscaal"}))
        assert [f.category for f in store.failures()] == ["generic"]


def test_migration_steps_apply_in_order(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migrations: an older database is brought up to date step by step, keeping its data."""
    _version_1_database(db)
    steps = (*_schema.MIGRATIONS, ("ALTER TABLE member ADD COLUMN note TEXT",))
    monkeypatch.setattr(_schema, "MIGRATIONS", steps)
    with SQLiteStore(db) as store:
        assert len(store.load_current()) == 1
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone() == (len(steps),)
    assert "note" in [row[1] for row in raw.execute("PRAGMA table_info(member)")]
    raw.close()


def test_a_failing_migration_step_changes_nothing(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migrations, R7.2: each step is one transaction; a failing step leaves the old version."""
    _version_1_database(db)
    steps = (
        *_schema.MIGRATIONS,
        ("ALTER TABLE member ADD COLUMN note TEXT", "THIS IS NOT SQL"),
    )
    monkeypatch.setattr(_schema, "MIGRATIONS", steps)
    with pytest.raises(StoreError, match="syntax error"):
        SQLiteStore(db)
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone() == (len(steps) - 1,)
    assert "note" not in [row[1] for row in raw.execute("PRAGMA table_info(member)")]
    raw.close()


def test_a_newer_database_is_refused(db: Path) -> None:
    """Migrations: a database from a newer version of the library is refused, clearly."""
    SQLiteStore(db).close()
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer version of auditcase-mailchimp"):
        SQLiteStore(db)


def test_other_files_are_refused(tmp_path: Path) -> None:
    """A file that is not a coupling database is refused, never changed."""
    foreign = tmp_path / "foreign.sqlite3"
    raw = sqlite3.connect(foreign)
    raw.execute("CREATE TABLE x (y)")
    raw.close()
    with pytest.raises(StoreError, match="not a coupling database"):
        SQLiteStore(foreign)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database at all, not even close" * 100)
    with pytest.raises(StoreError, match="cannot open the coupling database"):
        SQLiteStore(garbage)


@pytest.mark.parametrize("where", ["missing/dir/db.sqlite3", "."])
def test_a_path_that_cannot_be_opened(tmp_path: Path, where: str) -> None:
    """A path that cannot be opened (missing directory, a directory) raises StoreError."""
    with pytest.raises(StoreError, match="cannot open the coupling database"):
        SQLiteStore(tmp_path / where)


def test_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    """Privacy: the database, its -wal and -shm files and the lock file are created 0600."""
    old_umask = os.umask(0o022)
    try:
        db = tmp_path / "private.sqlite3"
        with SQLiteStore(db) as store, store.lock():
            store.record_members([_member("jan@example.nl")])
            names = {p.name: _mode(p) for p in tmp_path.iterdir()}
    finally:
        os.umask(old_umask)
    assert names == {
        "private.sqlite3": 0o600,
        "private.sqlite3-wal": 0o600,
        "private.sqlite3-shm": 0o600,
        "private.sqlite3.lock": 0o600,
    }


def test_no_call_takes_an_api_key() -> None:
    """Privacy: nothing in the store's API takes a key or token, so none can be stored."""
    for name, function in inspect.getmembers(SQLiteStore, inspect.isfunction):
        parameters = inspect.signature(function).parameters
        # ``keys`` (load_current_for) are lower-cased addresses, not API keys.
        secret = [p for p in parameters if ("key" in p and p != "keys") or "token" in p]
        assert not secret, name


# -- reading only, threads, closing, the clock ---------------------------------------------------


def test_read_only_reads_and_never_writes(db: Path, clock: Clock) -> None:
    """R7.3: a read-only store creates nothing, reads alongside a writer and refuses writes."""
    with pytest.raises(StoreError, match="no coupling database"):
        SQLiteStore(db, read_only=True)
    assert not db.exists()
    with SQLiteStore(db, clock=clock) as writer:
        writer.record_members([_member("jan@example.nl")])
        writer.record_failure(_failure())
        with SQLiteStore(db, read_only=True) as reader:
            assert reader.read_only
            assert [m.key for m in reader.load_current()] == ["jan@example.nl"]
            assert len(reader.failures()) == 1
            writer.record_members([_member("piet@example.nl", "2")])
            assert len(reader.load_current()) == 2
            with pytest.raises(StoreError, match="read-only"):
                reader.record_members([_member("x@example.nl")])


def test_a_store_in_memory_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """R7.3: ``:memory:`` (a dry run without a database) works and creates no file at all."""
    monkeypatch.chdir(tmp_path)
    with SQLiteStore(":memory:") as store:
        store.record_members([_member("jan@example.nl")])
        assert [m.key for m in store.load_current()] == ["jan@example.nl"]
        with store.lock(), pytest.raises(StoreBusyError), store.lock():
            pytest.fail("the lock was taken twice")
        with store.lock():
            pass
    assert list(tmp_path.iterdir()) == []


def test_the_store_can_be_used_from_other_threads(store: SQLiteStore) -> None:
    """Thread-safety: calls from several threads are serialised on one connection."""
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            for i in range(20):
                store.record_members([_member(f"t{thread}-{i}@example.nl", f"{thread}-{i}")])
                store.record_failure(_failure(f"{thread}-{i}"))
                store.load_current()
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.load_current()) == 80
    assert len(store.failures()) == 80


def test_wrong_arguments_are_refused(store: SQLiteStore) -> None:
    """Only CurrentMember and FailureInput values are stored; anything else is a TypeError."""
    with pytest.raises(TypeError, match="CurrentMember"):
        store.record_members([{"email_address": "jan@example.nl"}])  # type: ignore[list-item]  # wrong on purpose
    with pytest.raises(TypeError, match="FailureInput"):
        store.record_failure({"person_id": "1"})  # type: ignore[arg-type]  # wrong on purpose


def test_sqlite_errors_become_store_errors(store: SQLiteStore, db: Path) -> None:
    """Users only see our exceptions: SQLite's errors are StoreError, with the cause kept."""
    store.record_members([_member("jan@example.nl")])
    raw = sqlite3.connect(db, isolation_level=None)
    raw.execute("UPDATE member SET tags = 'not json'")
    raw.execute("DROP TABLE failure")
    raw.execute("DROP TABLE run")
    raw.close()
    with pytest.raises(StoreError, match="bad record"):
        store.load_current()
    with pytest.raises(StoreError, match="cannot read") as caught:
        store.failures()
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    with pytest.raises(StoreError, match="cannot write"):
        store.begin_run(dry_run=False, reconcile=False)


def test_read_only_reads_an_older_schema_as_it_is(db: Path) -> None:
    """Issue 9.5: a read-only store cannot upgrade; it reads an older database unchanged."""
    _version_1_database(db)
    with SQLiteStore(db, read_only=True) as reader:
        assert [m.key for m in reader.load_current()] == ["jan@example.nl"]
        assert reader.audience_id() is None
    raw = sqlite3.connect(db)
    assert raw.execute("PRAGMA user_version").fetchone() == (1,)
    raw.close()


def test_read_only_refuses_a_file_without_a_database(db: Path) -> None:
    """R7.3: a read-only store never creates a database; an empty file holds none."""
    db.touch()
    with pytest.raises(StoreError, match="no coupling database yet"):
        SQLiteStore(db, read_only=True)


def test_a_lock_file_that_cannot_be_opened(store: SQLiteStore, db: Path) -> None:
    """The run lock: a lock file that cannot be opened raises StoreError, naming it."""
    (db.parent / f"{db.name}.lock").mkdir()
    with pytest.raises(StoreError, match="cannot open the lock file"), store.lock():
        pytest.fail("locked without a lock file")


def test_a_closed_store_refuses_calls(db: Path) -> None:
    """A closed store raises StoreError; closing twice is harmless."""
    store = SQLiteStore(db)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.load_current()
    assert repr(store) == f"SQLiteStore({str(db)!r})"
    assert store.path == str(db)


def test_the_clock_must_be_aware(db: Path) -> None:
    """Times are UTC: a clock returning naive datetimes is refused."""
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - naive on purpose
    with SQLiteStore(db, clock=lambda: naive) as store, pytest.raises(ValueError, match="aware"):
        store.record_failure(_failure())


# -- the run lock and crashes (other processes) --------------------------------------------------

_HOLD_LOCK = """
import sys
from auditcase_mailchimp import SQLiteStore
store = SQLiteStore(sys.argv[1])
with store.lock():
    print("locked", flush=True)
    sys.stdin.read()
"""

_RECORD_THEN_WAIT = """
import sys
from auditcase_mailchimp import Coupling, CurrentMember, PersonKind
from auditcase_mailchimp import SQLiteStore
store = SQLiteStore(sys.argv[1])
members = [
    CurrentMember(
        email_address=f"p{i}@example.nl",
        coupling=Coupling(person_id=str(i), kind=PersonKind.CLIENT_PERSON),
    )
    for i in range(500)
]
store.record_members(members)
conn = store._conn
conn.execute("BEGIN IMMEDIATE")
conn.execute("DELETE FROM member")
conn.execute(
    "INSERT INTO member VALUES ('x@example.nl', 'x@example.nl', '9', 'client_person',"
    " '', '', '[]', 'subscribed', NULL, '2026-01-01T00:00:00Z')"
)
print("inside a transaction", flush=True)
sys.stdin.read()
"""


def _child(script: str, db: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter running our own script
        [sys.executable, "-c", script, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _kill(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


def test_a_second_lock_in_the_same_process_is_refused(store: SQLiteStore, db: Path) -> None:
    """R7.2: two syncs never run against one database; the lock is free again afterwards."""
    with store.lock(), SQLiteStore(db) as other:
        with pytest.raises(StoreBusyError) as caught, other.lock():
            pytest.fail("the lock was taken twice")
        assert caught.value.pid == os.getpid()
        assert str(caught.value) == (f"another sync is running against {db} (pid {os.getpid()})")
    with store.lock():
        pass


def test_the_lock_refuses_another_process_until_it_is_killed(store: SQLiteStore, db: Path) -> None:
    """R7.2: a sync in another process holds the lock; SIGKILL releases it at once."""
    child = _child(_HOLD_LOCK, db)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "locked\n"
        with pytest.raises(StoreBusyError, match=f"pid {child.pid}"), store.lock():
            pytest.fail("the lock was taken while another process held it")
    finally:
        _kill(child)
    with store.lock():
        assert (db.parent / f"{db.name}.lock").read_text() == f"{os.getpid()}\n"


def test_a_killed_process_loses_only_its_open_transaction(store: SQLiteStore, db: Path) -> None:
    """R7.2: what a killed run committed is kept; its unfinished transaction leaves no trace."""
    child = _child(_RECORD_THEN_WAIT, db)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "inside a transaction\n"
    finally:
        _kill(child)
    current = store.load_current()
    assert len(current) == 500
    assert "x@example.nl" not in {m.key for m in current}
    conn = store._conn
    assert conn is not None
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# -- the round trip, as a property ---------------------------------------------------------------

_locals = st.sampled_from(["jan", "Piet", "anna.de.vries", "INFO", "k+nieuws", "ëva"])
_domains = st.sampled_from(["example.nl", "Example.COM", "x.org"])
_texts = st.text(max_size=20)
_members = st.builds(
    _member,
    email_address=st.builds("{}@{}".format, _locals, _domains),
    person_id=st.text(min_size=1, max_size=8).filter(str.strip),
    kind=st.sampled_from(PersonKind),
    tags=st.frozensets(_texts, max_size=4),
    status=st.sampled_from(sorted(MEMBER_STATUSES)),
    status_at_archive=st.none() | st.sampled_from(sorted(MEMBER_STATUSES)),
    first_name=_texts,
    last_name=_texts,
)


@settings(max_examples=60)
@given(
    batches=st.lists(
        st.lists(_members, max_size=6, unique_by=lambda m: m.key), min_size=1, max_size=3
    )
)
def test_load_current_round_trips_what_was_recorded(
    tmp_path_factory: pytest.TempPathFactory, batches: list[list[CurrentMember]]
) -> None:
    """R7.2: after any sequence of confirmed batches, load_current is the latest record per key."""
    expected: dict[str, CurrentMember] = {}
    with SQLiteStore(tmp_path_factory.mktemp("prop") / "db.sqlite3") as store:
        for batch in batches:
            store.record_members(batch)
            expected.update((m.key, m) for m in batch)
        assert store.load_current() == sorted(expected.values(), key=lambda m: m.key)
        assert store.owners() == {
            key: m.coupling.person_id
            for key, m in expected.items()
            if m.coupling is not None and m.status != "archived"
        }


# --- many rows in one statement (issue 8) ------------------------------------------------------


@settings(max_examples=40)
@given(
    rows=st.lists(st.tuples(st.text(), st.none() | st.text()), max_size=60),
    limit=st.integers(min_value=2, max_value=40),
)
def test_rows_are_inserted_in_order_however_the_parameter_limit_splits_them(
    rows: list[tuple[str, str | None]], limit: int
) -> None:
    """insert_rows: every row, in order, as text (NUL, quotes, emoji) or NULL, over any limit.

    A low limit on parameters makes several statements of one call; the ids a run hands out
    for its intents rely on the rows going in in order, in one transaction.
    """
    from auditcase_mailchimp._sqlite_base import insert_rows  # noqa: PLC0415 - private helper

    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT NOT NULL, b TEXT)")
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)
    conn.execute("BEGIN")
    insert_rows(conn, "INSERT INTO t", ("a", "b"), rows)
    last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
    conn.execute("COMMIT")
    stored = conn.execute("SELECT id, a, b FROM t ORDER BY id").fetchall()
    assert [(a, b) for _, a, b in stored] == rows
    assert [i for i, _, _ in stored] == list(range(last - len(rows) + 1, last + 1))


def test_many_records_go_in_together_and_read_back_whole(store: SQLiteStore) -> None:
    """Issue 8: a batch answer's 500 records and intents, one call each, read back whole."""
    members = [
        _member(f"lid{i}@example.nl", person_id=str(i), tags=frozenset({"Ü\x00", "a'b"}))
        for i in range(500)
    ]
    store.record_members(members)
    assert store.load_current() == sorted(members, key=lambda m: m.key)
