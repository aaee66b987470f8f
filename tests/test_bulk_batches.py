"""Archives and address changes through /batches (issue 12.2): as direct calls, and resumable."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditcase_mailchimp import Person, SQLiteStore, desired_state, sync
from auditcase_mailchimp._batch_ledger import BatchLedger
from auditcase_mailchimp._bulk_rules import PollPolicy, operation_id
from auditcase_mailchimp._client import MailchimpClient
from auditcase_mailchimp._credentials import ApiKey
from auditcase_mailchimp._executor import Executor
from auditcase_mailchimp._executor_bulk import BatchSettings, BulkBatches, Stopped, drain_batches
from auditcase_mailchimp._plan import plan_sync
from auditcase_mailchimp._steps import Removal, start
from auditcase_mailchimp.testing import FakeMailchimp, Fault

from .conftest import ManualClock, retry_policy
from .test_openapi_fidelity import assert_valid_requests
from .test_sync import person, write_export

# --- the pure rules -------------------------------------------------------------------------


def test_polls_start_at_five_seconds_back_off_and_stop_at_the_deadline() -> None:
    """MAILCHIMP.md §5.2: poll from about 5 s, backing off up to 60 s, within a deadline."""
    assert PollPolicy(deadline=40).waits() == [5.0, 7.5, 11.25]
    waits = PollPolicy().waits()
    assert max(waits) == 60.0
    assert sum(waits) <= 3600.0
    with pytest.raises(ValueError, match="start"):
        PollPolicy(start=0)


def test_an_operation_id_names_the_person_and_is_the_same_next_run() -> None:
    """Issue 12.2, R7.2: the operation id names the person; a resumed run finds it again."""
    first = operation_id("archive", "17", " Jan@Example.nl")
    assert first == operation_id("archive", "17", "jan@example.nl")
    assert "17" in first
    assert first != operation_id("move", "17", "jan@example.nl")


# --- both paths against the fake -------------------------------------------------------------


def persons(*, changed: bool) -> list[Person]:
    """30 persons; changed: 20 unlinked, 6 moved (one onto a member, one refused), 4 kept."""
    chosen = []
    for i in range(30):
        email, linked = f"p{i}@example.nl", True
        if changed and i < 20:
            linked = False
        if changed and 20 <= i < 26:
            email = f"p{i}.nieuw@example.nl"
        if changed and i == 24:
            email = "bestaand@example.nl"
        if changed and i == 25:
            email = "test@test.com"
        chosen.append(person(str(i), email, linked=linked))
    return chosen


class Setup:
    """A fake and a coupling database after a first sync of :func:`persons`."""

    def __init__(self, fake: FakeMailchimp, folder: Path) -> None:
        """Sync the unchanged persons into ``fake``, with a database in ``folder``."""
        folder.mkdir()
        self.fake = fake
        self.db = folder / "coupling.sqlite3"
        self.sleeps: list[float] = []
        self.client = MailchimpClient(
            ApiKey(fake.api_key), base_url=fake.url, retry=retry_policy(ManualClock())
        )
        source = write_export(folder / "export.jsonl", persons(changed=False))
        with SQLiteStore(self.db) as store:
            sync(source, store=store, client=self.client, list_id=fake.list_id)
        audience = fake.audience()
        audience.clean("p3@example.nl")  # its archive answers 405 "cannot be removed" (R4.5)
        audience.add("bestaand@example.nl")  # R5.4: moving onto it falls back
        fake.clear_log()

    def wait(self, seconds: float) -> None:
        """Instead of sleeping: note the wait and let the fake finish its batches."""
        self.sleeps.append(seconds)
        assert self.fake.batches.wait()

    def carry(self, batches: BatchSettings | None) -> tuple[Any, ...]:
        """Plan the changed persons and carry the plan out; what it led to."""
        with SQLiteStore(self.db) as store:
            current = store.load_current()
            plan = plan_sync(current, desired_state(persons(changed=True), owners=store.owners()))
            store.begin_run(dry_run=False, reconcile=False)
            executor = Executor(
                store,
                self.client,
                self.fake.list_id,
                lambda *_: None,
                total=len(plan.actions),
                batches=batches,
            )
            executor.execute(plan.actions)
            records = sorted(store.load_current(), key=lambda m: m.key)
            pending = BatchLedger(store, self.fake.list_id).pending()
        failures = sorted(
            (f.person_id, f.kind, f.action, f.category, f.title, f.status, f.email_address)
            for f in executor.failures
        )
        members = sorted(
            (m.email_address, m.status, frozenset(m.tags)) for m in self.fake.audience().members()
        )
        notices = sorted(executor.notices, key=str)
        return records, executor.counts, failures, members, notices, pending

    def batch_posts(self) -> int:
        """How many batches were submitted."""
        return sum(1 for r in self.fake.requests if (r.method, r.path) == ("POST", "/3.0/batches"))


@pytest.fixture
def both(fake: FakeMailchimp, tmp_path: Path) -> Iterator[tuple[Setup, Setup]]:
    """Two equal installations on two fakes; every request of both checked against the API."""
    with FakeMailchimp() as other:
        first, second = Setup(fake, tmp_path / "a"), Setup(other, tmp_path / "b")
        yield first, second
        first.client.close()
        second.client.close()
        assert_valid_requests(fake.requests)
        assert_valid_requests(other.requests)


def test_batches_lead_to_the_same_records_counts_and_failures(both: tuple[Setup, Setup]) -> None:
    """Issue 12.2, R4.5, R5.4, R6.2: every operation result is read as a direct call's answer."""
    bulk, direct = both
    by_batches = bulk.carry(BatchSettings(threshold=1, sleep=bulk.wait))
    by_calls = direct.carry(None)
    assert by_batches == by_calls
    _, counts, failures, members, _, pending = by_batches
    assert counts["archived"] == 19
    assert counts["released"] == 1  # p3, read before archiving: cleaned, so released (R4.5)
    assert counts["address_changes"] == 5  # p24's by R5.4's fallback
    assert [f[:3] for f in failures] == [("25", failures[0][1], "change_address")]
    assert ("p3@example.nl", "cleaned", frozenset({"Nieuwsbrief"})) in members
    assert pending == []  # every batch read and recorded
    # reads before archiving (R4.3, R4.5), archives, moves, and for R5.4's fallback the read
    # and the archive of the old member
    assert bulk.batch_posts() == 5
    assert direct.batch_posts() == 0
    assert bulk.sleeps == [5.0] * 5  # one poll each: the fake had finished


def test_an_expired_result_url_is_read_again_from_the_batch(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """MAILCHIMP.md §5.2: response_body_url lasts 10 minutes; the batch is read again for one."""
    setup = Setup(fake, tmp_path / "a")
    try:
        fake.inject(Fault.server_error(500, path_contains="batch-results"))
        _, counts, failures, *_ = setup.carry(BatchSettings(threshold=1, sleep=setup.wait))
        assert (counts["archived"], counts["released"]) == (19, 1)  # p3 read first: cleaned
        assert len(failures) == 1
        results = [r for r in fake.requests if "batch-results" in r.path]
        assert len(results) == 6  # five batches' results; the first fetch failed and was repeated
    finally:
        setup.client.close()


class Killed(BaseException):
    """The process is killed while it waits for a batch."""


def _killed_while_batches_run(setup: Setup) -> list[str]:
    """Carry the changed plan out with the fake's batches held, killed at the first wait.

    Returns:
        The batch ids the killed run left recorded.
    """

    def killed(_seconds: float) -> None:
        raise Killed

    setup.fake.batches.hold()
    with pytest.raises(Killed):
        setup.carry(BatchSettings(threshold=1, sleep=killed))
    with SQLiteStore(setup.db) as store:
        return BatchLedger(store, setup.fake.list_id).pending()


def test_a_killed_run_resumes_by_polling_the_same_batch(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """R7.2, issue 12.2: the batch id is recorded before polling; the next run reads that batch."""
    setup = Setup(fake, tmp_path / "a")
    try:
        pending = _killed_while_batches_run(setup)
        # the moves' and the reads' batches (each archive reads its member first, R4.3, R4.5)
        assert len(pending) == 2
        fake.batches.release()
        fake.clear_log()
        records, counts, failures, members, _, left = setup.carry(
            BatchSettings(threshold=1, sleep=setup.wait)
        )
        gets = [r.path for r in fake.requests if r.method == "GET" and "/batches/" in r.path]
        assert {f"/3.0/batches/{i}" for i in pending} <= set(gets)  # the same batches polled
        # the archives' batch (their reads are taken from the killed run's batch), and for
        # R5.4's fallback the read and the archive of p24's old member; the moves are taken
        # from the killed run's batch
        assert setup.batch_posts() == 3
        direct = [r for r in fake.requests if r.method in {"DELETE", "PATCH"}]
        assert direct == []  # the moves taken from the killed run's batch, nothing sent twice
        assert (counts["archived"], counts["released"]) == (19, 1)  # p3 is cleaned (R4.5)
        assert left == []
        assert ("p0@example.nl", "archived") in {(m[0], m[1]) for m in members}
        assert any(r.key == "p0@example.nl" and r.status == "archived" for r in records)
        assert len(failures) == 1
    finally:
        setup.client.close()


def test_the_phases_of_a_round_overlap_within_ten_requests_in_flight(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """Issue 12.4, MAILCHIMP.md §7: a round's phases go side by side, 10 requests at most."""
    setup = Setup(fake, tmp_path / "a")
    outcome: list[tuple[Any, ...]] = []
    try:
        fake.hold()
        worker = threading.Thread(target=lambda: outcome.append(setup.carry(None)))
        worker.start()
        # one after the other, the round's 6 address changes could not fill 10 connections:
        # only with the 20 archives beside them are 10 requests in flight
        assert fake.wait_for_in_flight(10)
        fake.release()
        worker.join()
        assert fake.max_in_flight == 10
        assert (outcome[0][1]["archived"], outcome[0][1]["released"]) == (19, 1)
    finally:
        fake.release()
        setup.client.close()


def test_a_batch_not_finished_by_the_deadline_is_read_by_the_next_run(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """MAILCHIMP.md §5.2, R7.2: past the deadline the steps fail, retryable; the batch is kept."""
    setup = Setup(fake, tmp_path / "a")
    try:
        fake.batches.hold()
        patient = BatchSettings(
            threshold=1, poll=PollPolicy(deadline=20), sleep=setup.sleeps.append
        )
        _, counts, failures, _, _, pending = setup.carry(patient)
        assert sorted(setup.sleeps) == [5.0, 5.0, 7.5, 7.5]  # two batches polled to the deadline
        assert len(pending) == 2  # the moves' and the archives' batches, for the next run
        assert {f[4] for f in failures} == {"Batch not finished"}
        assert counts["archived"] == 0
        fake.batches.release()
        _, counts, failures, _, _, pending = setup.carry(
            BatchSettings(threshold=1, sleep=setup.wait)
        )
        assert (counts["archived"], counts["released"]) == (19, 1)
        assert pending == []
    finally:
        fake.batches.release()
        setup.client.close()


def test_a_batch_refused_fails_each_of_its_operations(fake: FakeMailchimp, tmp_path: Path) -> None:
    """R6.2: a /batches request refused as a whole is a failure for each person in it."""
    setup = Setup(fake, tmp_path / "a")
    try:
        fake.inject(*[Fault.server_error(500, method="POST", path_contains="/batches")] * 8)
        _, counts, failures, _, _, pending = setup.carry(
            BatchSettings(threshold=1, sleep=setup.wait)
        )
        assert len(failures) == 26  # 20 archives (their reads' batch refused) and 6 moves
        assert {f[3] for f in failures} == {"server_error"}
        assert (counts["archived"], pending) == (0, [])
    finally:
        setup.client.close()


def test_a_stopping_run_stops_waiting_for_its_batch_and_keeps_it(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """R7.2: when the run stops (another phase failed, Ctrl-C) the wait ends; the id is kept."""
    setup = Setup(fake, tmp_path / "a")
    try:
        with SQLiteStore(setup.db) as store:
            plan = plan_sync(
                store.load_current(), desired_state(persons(changed=True), owners=store.owners())
            )
            removals = [s for s in map(start, plan.actions) if isinstance(s, Removal)]
            stop = threading.Event()
            stop.set()
            ledger = BatchLedger(store, fake.list_id)
            batches = BulkBatches(
                setup.client, fake.list_id, ledger, BatchSettings(threshold=1), stop
            )
            with pytest.raises(Stopped):
                batches.send(removals)  # no real wait: the stop is set
            assert len(ledger.pending()) == 1
    finally:
        setup.client.close()


def test_batches_a_killed_run_left_are_awaited_then_forgotten(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """R7.2, R7.4: before settling, a run lets a killed run's batches finish and forgets them.

    Their results are then never taken for requests of a later run with the same operation
    ids; a batch still unfinished at the deadline stays recorded.
    """
    setup = Setup(fake, tmp_path / "a")
    try:
        left = _killed_while_batches_run(setup)
        assert len(left) == 2
        with SQLiteStore(setup.db) as store:
            patient = BatchSettings(poll=PollPolicy(deadline=20), sleep=setup.sleeps.append)
            assert drain_batches(store, setup.client, fake.list_id, patient) == left
            assert BatchLedger(store, fake.list_id).pending() == left  # still unfinished
            fake.batches.release()
            settings = BatchSettings(sleep=setup.wait)
            assert drain_batches(store, setup.client, fake.list_id, settings) == []
            assert BatchLedger(store, fake.list_id).pending() == []
    finally:
        fake.batches.release()
        setup.client.close()
