"""R7.4: intents in the coupling database, and a run settling those an unfinished run left."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
import pytest

from auditcase_mailchimp import (
    SCHEMA_VERSION,
    ApiKey,
    CurrentMember,
    MailchimpClient,
    PersonKind,
    SQLiteStore,
    StoreError,
    _schema,
    desired_state,
    plan_sync,
)
from auditcase_mailchimp import _executor as executor_module
from auditcase_mailchimp import _steps as steps
from auditcase_mailchimp._executor import Executor
from auditcase_mailchimp._plan import Action
from auditcase_mailchimp._settle import Intent
from auditcase_mailchimp._steps import Step
from auditcase_mailchimp.testing import FakeMailchimp

from .test_store import _member
from .test_sync import BASE, World, person, write_export

CLIENT = PersonKind.CLIENT_PERSON


def _intent(key: str, step: str = "entry", **fields: object) -> Intent:
    values: dict[str, object] = {"person_id": "7", "kind": CLIENT, "step": step,
                                 "action": "create", "key": key}  # fmt: skip
    values.update(fields)
    return Intent(**values)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the test's database goes."""
    return tmp_path / "coupling.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[SQLiteStore]:
    """A fresh store."""
    with SQLiteStore(db) as opened:
        yield opened


@pytest.fixture
def world(fake: FakeMailchimp, tmp_path: Path) -> Iterator[World]:
    """A fresh installation on a fresh fake."""
    here = World(fake, tmp_path)
    yield here
    here.client.close()


# --- the store -----------------------------------------------------------------------------------


def test_intents_stay_open_until_an_answer_clears_them(store: SQLiteStore) -> None:
    """R7.4: recorded before sending; the answer's records and the clearing are kept together."""
    tags = frozenset({"BTW"})
    ids = store.record_intents([_intent("a@x.nl", tags_add=tags), _intent("b@x.nl")])
    assert [i.id for i in store.open_intents()] == list(ids)
    assert store.open_intents()[0].tags_add == tags
    with store.answering(ids[:1]):
        store.record_members([_member("a@x.nl", "7")])
    assert [i.key for i in store.open_intents()] == ["b@x.nl"]
    assert [m.key for m in store.load_current()] == ["a@x.nl"]


def test_a_failed_answer_keeps_its_intent_and_writes_nothing(store: SQLiteStore) -> None:
    """R7.4: one transaction: when recording the answer fails, the intent stays open."""
    ids = store.record_intents([_intent("a@x.nl")])
    unmanaged = attrs.evolve(_member("b@x.nl"), coupling=None)
    with pytest.raises(ValueError, match="coupling"), store.answering(ids):
        _two_writes(store, [_member("a@x.nl", "7")], [unmanaged])
    assert [i.id for i in store.open_intents()] == list(ids)
    assert store.load_current() == []


def _two_writes(store: SQLiteStore, *batches: list[CurrentMember]) -> None:
    for batch in batches:
        store.record_members(batch)


def test_erasing_an_address_forgets_its_intents(store: SQLiteStore) -> None:
    """R4.2, R9.5: no intent keeps an erased address."""
    store.record_intents([_intent("a@x.nl"), _intent("b@x.nl", "move", old_key="a@x.nl"),
                          _intent("c@x.nl")])  # fmt: skip
    store.forget("A@x.nl")
    assert [i.key for i in store.open_intents()] == ["c@x.nl"]


def test_a_version_2_database_migrates_to_schema_3(db: Path) -> None:
    """R7.4 migration: an older database opens, gains the intent table, nothing open."""
    raw = sqlite3.connect(db, isolation_level=None)
    _schema.migrate(raw, migrations=_schema.MIGRATIONS[:2])
    raw.close()
    with SQLiteStore(db, read_only=True) as old:
        assert old.schema_version == 2
        assert old.open_intents() == []  # read-only: nothing to migrate, nothing open
        with pytest.raises(StoreError):
            old.record_intents([_intent("a@x.nl")])
    with SQLiteStore(db) as store:
        assert store.schema_version == SCHEMA_VERSION >= 3
        assert store.open_intents() == []


# --- the executor records before sending ---------------------------------------------------------


def test_each_request_is_recorded_before_it_is_sent(world: World) -> None:
    """R7.4: while a batch is in flight its entries are open intents; none after the answer."""
    actions = plan_sync([], desired_state(BASE)).actions
    with SQLiteStore(world.db) as store:
        executor = Executor(store, world.client, world.fake.list_id, _quiet, total=len(actions))
        world.fake.hold()
        thread = threading.Thread(target=executor.execute, args=(actions,))
        thread.start()
        try:
            assert world.fake.wait_for_in_flight(1)
            opened = store.open_intents()
        finally:
            world.fake.release()
            thread.join(timeout=30)
        assert store.open_intents() == []
    assert {i.key for i in opened} == {m.key for m in desired_state(BASE).members.values()}
    assert {i.action for i in opened} == {"create"}


class _Watched(SQLiteStore):
    """The real store, noting how many intents were recorded before the fake let answers go."""

    released = False
    before_release = 0

    def record_intents(self, intents: Sequence[Intent]) -> tuple[int, ...]:
        if not self.released:
            self.before_release += len(intents)
        return super().record_intents(intents)


def test_intents_are_recorded_at_most_one_wave_ahead(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R7.4: while the first requests are held, the next ones' intents are recorded, no more.

    With a concurrency of 2, two batch-subscribe calls are under way and the intents of two
    more are recorded ahead; a run killed now leaves those four calls' members to read back,
    not the whole plan's. Released, every intent is cleared and every member created. The
    first steps of the other two calls are not taken yet either (issue 8).
    """
    persons = [person(str(i), f"p{i}@example.nl") for i in range(100, 3100)]  # 6 calls of 500
    actions = plan_sync([], desired_state(persons)).actions
    taken: list[object] = []

    def start(action: Action) -> Step:
        taken.append(action)
        return steps.start(action)

    monkeypatch.setattr(executor_module, "start", start)
    client = MailchimpClient(ApiKey(world.fake.api_key), base_url=world.fake.url, concurrency=2)
    with client, _Watched(world.db) as store:
        executor = Executor(store, client, world.fake.list_id, _quiet, total=len(actions))
        world.fake.hold()
        thread = threading.Thread(target=executor.execute, args=(actions,))
        thread.start()
        try:
            assert world.fake.wait_for_in_flight(2)
            deadline = time.monotonic() + 30
            while len(store.open_intents()) < 2000:  # the two held, two more ahead
                assert time.monotonic() < deadline
                time.sleep(0.001)  # polling the database, not timing the code under test
            held_members = len(world.fake.audience().members())
            taken_while_held = len(taken)
        finally:
            store.released = True
            world.fake.release()
            thread.join(timeout=60)
        assert not thread.is_alive()
        assert store.open_intents() == []
    assert store.before_release == 2000  # four calls of 500, not the plan's 3,000
    assert taken_while_held == 2000  # their steps only
    assert len(taken) == 3000
    assert held_members == 0
    assert len(world.fake.audience().members()) == 3000


def _quiet(_phase: str, _done: int, _total: int) -> None:
    return None


# --- settling, in the runner ---------------------------------------------------------------------


def test_a_member_created_by_a_killed_run_and_no_longer_wanted_is_archived(world: World) -> None:
    """R7.4, R4.1: the open intent is settled as a managed record; the plan archives it."""
    world.sync(BASE)
    # The killed run had sent person 7's entry, and Mailchimp carried it out.
    world.fake.audience().add("zeven@example.nl", first_name="Zeven", tags=["Nieuwsbrief"])
    with SQLiteStore(world.db) as store:
        store.record_intents([_intent("zeven@example.nl", tags_add=frozenset({"Nieuwsbrief"}))])
    world.fake.clear_log()
    report = world.sync(BASE)  # person 7 is not in the export any more
    assert report.archived == 1
    assert world.members()["zeven@example.nl"].status == "archived"
    gets = [r.path for r in world.fake.requests if r.method == "GET"]
    assert any(path.endswith("/members/" + _hash("zeven@example.nl")) for path in gets)
    with SQLiteStore(world.db) as store:
        assert store.open_intents() == []
        (record,) = store.load_current_for(["7"], [])
        assert record.status == "archived"
        assert record.coupling is not None
        assert record.coupling.status_at_archive == "subscribed"


def test_a_reverted_address_move_is_moved_back(world: World) -> None:
    """R7.4, R5.4: a move the killed run made is recorded; the export's old address returns."""
    world.sync(BASE)
    audience = world.fake.audience()
    members_before = len(audience.members())
    # The killed run moved jan@ to jan.nieuw@ before its answer was recorded.
    with SQLiteStore(world.db) as store:
        store.record_intents(
            [_intent("jan.nieuw@example.nl", "move", person_id="1", action="change_address",
                     old_key="jan@example.nl")]
        )  # fmt: skip
    world.client.change_address(world.fake.list_id, "jan@example.nl", "jan.nieuw@example.nl")
    report = world.sync(BASE)  # the export still (again) says jan@
    assert report.address_changes == 1
    live = {k: m for k, m in world.members().items() if m.status != "archived"}
    assert "jan@example.nl" in live
    assert "jan.nieuw@example.nl" not in live
    assert len(audience.members()) == members_before
    assert world.sync(BASE).plan.actions == ()


def test_an_archive_the_killed_run_made_keeps_the_status_at_archive(world: World) -> None:
    """R7.4, R4.3: an archive that happened is recorded archived, with the status it had."""
    world.sync(BASE)
    world.fake.audience().unsubscribe("piet@example.nl")
    world.sync(BASE, reconcile=True)
    with SQLiteStore(world.db) as store:
        store.record_intents([_intent("piet@example.nl", "archive", person_id="2",
                                      action="archive", status="unsubscribed")])  # fmt: skip
    world.client.archive(world.fake.list_id, "piet@example.nl")
    others = [p for p in BASE if p.person_id != "2"]
    report = world.sync(others)
    assert report.archived == 0  # already done: nothing sent again
    with SQLiteStore(world.db) as store:
        (record,) = store.load_current_for(["2"], [])
    assert record.status == "archived"
    assert record.coupling is not None
    assert record.coupling.status_at_archive == "unsubscribed"
    world.sync(BASE)  # re-linked: never re-subscribed (R5.3)
    assert world.members()["piet@example.nl"].status != "subscribed"


def test_many_open_intents_are_read_back_in_pages(world: World) -> None:
    """R7.4: as cheaply as the API allows: many addresses read as the audience's pages."""
    world.sync(BASE)
    intents = [_intent(f"p{i}@example.nl", person_id=str(100 + i)) for i in range(25)]
    with SQLiteStore(world.db) as store:
        store.record_intents(intents)
    world.fake.clear_log()
    world.sync(BASE)
    gets = [r for r in world.fake.requests if r.method == "GET"]
    assert not any("/members/" in r.path for r in gets)
    assert any(r.path.endswith("/members") for r in gets)


def test_push_persons_settles_first_too(world: World) -> None:
    """R7.4: a push of one person settles the open intents before it plans."""
    from auditcase_mailchimp import push_persons  # noqa: PLC0415 - next to its one use

    world.sync(BASE)
    world.fake.audience().add("zeven@example.nl", first_name="Zeven")
    with SQLiteStore(world.db) as store:
        store.record_intents([_intent("zeven@example.nl")])
        unlinked = person("7", "zeven@example.nl", linked=False)
        push_persons([unlinked], store=store, client=world.client, list_id=world.fake.list_id)
        assert store.open_intents() == []
    assert world.members()["zeven@example.nl"].status == "archived"


def _hash(address: str) -> str:
    import hashlib  # noqa: PLC0415 - beside its one use

    return hashlib.md5(address.lower().encode()).hexdigest()  # noqa: S324 - Mailchimp's hash


# --- Ctrl-C and progress ------------------------------------------------------------------------


def test_ctrl_c_records_the_answers_of_the_requests_in_flight(tmp_path: Path) -> None:
    """Issue 9.2, R7.4: Ctrl-C sends nothing new; every answer under way is recorded first."""
    source = tmp_path / "export.jsonl"
    write_export(source, [person(str(i), f"p{i}@example.nl") for i in range(1, 12001)])
    db = tmp_path / "coupling.sqlite3"
    with FakeMailchimp() as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
        env["MAILCHIMP_API_KEY"] = fake.api_key
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "auditcase_mailchimp", "sync", "--source", str(source),
             "--list-id", fake.list_id, "--api-url", fake.url, "--db", str(db)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not [r for r in fake.requests if r.method == "POST"]:  # one batch answered
                assert time.monotonic() < deadline
                assert process.poll() is None
                time.sleep(0.001)  # polling the fake's log, not timing the code under test
            fake.hold()
            assert fake.wait_for_in_flight(5, timeout=30)  # batches held in flight
            process.send_signal(signal.SIGINT)
        finally:
            fake.release()
        _, err = process.communicate(timeout=60)
        live = {m.email_address.lower() for m in fake.audience().members()}
    assert process.returncode == 3
    text = err.decode()
    assert "no new requests were sent" in text
    assert "the answers to the requests under way are recorded" in text
    assert 0 < len(live) < 12000
    with SQLiteStore(db) as store:
        assert store.open_intents() == []
        assert {m.key for m in store.load_current()} == live  # no answer was dropped


def test_progress_counts_what_is_committed(world: World) -> None:
    """Issue 9.5: each ``push`` step of progress is already recorded, seen from another reader."""
    persons = [person(str(i), f"p{i}@example.nl") for i in range(100, 1300)]
    seen: list[tuple[int, int]] = []
    world.sync(BASE)  # the database exists for the reader

    with SQLiteStore(world.db, read_only=True) as reader:

        def progress(phase: str, done: int, _total: int) -> None:
            if phase == "push" and done % 100 == 0:
                live = [m for m in reader.load_current() if m.key[1].isdigit()]
                seen.append((done, len(live)))

        world.sync([*BASE, *persons], progress=progress)
    assert len(seen) == 12
    assert all(recorded >= done for done, recorded in seen)


def test_a_dry_run_plans_as_settling_would_leave_it_and_writes_nothing(world: World) -> None:
    """R7.3, R7.4: the dry run reads the open intents back and plans on that; nothing recorded."""
    world.sync(BASE)
    world.fake.audience().add("zeven@example.nl", first_name="Zeven")
    with SQLiteStore(world.db) as store:
        store.record_intents([_intent("zeven@example.nl")])
    report = world.sync(BASE, dry_run=True)
    assert report.archived == 1
    with SQLiteStore(world.db) as store:
        assert len(store.open_intents()) == 1
        assert store.load_current_for(["7"], []) == []
    assert world.members()["zeven@example.nl"].status == "subscribed"


def test_remove_persons_settles_first_too(world: World) -> None:
    """R7.4: an archive the killed run made is settled first; remove_persons does not repeat it."""
    from auditcase_mailchimp import remove_persons  # noqa: PLC0415 - next to its one use

    world.sync(BASE)
    world.client.archive(world.fake.list_id, "piet@example.nl")  # done, answer lost
    with SQLiteStore(world.db) as store:
        store.record_intents(
            [_intent("piet@example.nl", "archive", person_id="2", status="subscribed")]
        )
        world.fake.clear_log()
        report = remove_persons(["2"], store=store, client=world.client, list_id=world.fake.list_id)
        assert store.open_intents() == []
        (record,) = store.load_current_for(["2"], [])
    assert report.archived == 0
    assert [r.method for r in world.fake.requests] == ["GET"]  # the read back, nothing sent
    assert record.status == "archived"
