"""The push-on-save worker of the how-to (examples/push_worker.py) against the real fake Mailchimp.

Every error class a push can meet is injected for real: faults of the fake on 127.0.0.1, an
endpoint nobody listens on, a run lock held by a "sync", a lock file that cannot be opened,
refused credentials. The worker's back-off and the client's retries never wait for real (an
injected ``sleep``), so the tests take no time; they check that the queue is kept and drains
once the cause is gone, and that nothing is lost.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from auditcase_mailchimp import (
    ApiKey,
    CouplingStore,
    MailchimpClient,
    Person,
    PersonKind,
    RetryPolicy,
    SQLiteStore,
    SyncReport,
    remove_persons,
)
from auditcase_mailchimp.testing import FakeMailchimp, Fault

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "push_worker.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("push_worker", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["push_worker"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


push_worker = _load()
NO_WAIT = RetryPolicy(attempts=3, initial_wait=0.0, jitter=0.0, sleep=lambda _s: None)
#: The worker's back-off, without jitter: 1, 2, 4, 8, 8, … seconds.
BACKOFF = RetryPolicy(initial_wait=1.0, max_wait=8.0, jitter=0.0)


def person(n: int, **fields: Any) -> Person:
    """A linked client person with an ordinary address."""
    values: dict[str, Any] = {
        "person_id": str(10000 + n),
        "kind": PersonKind.CLIENT_PERSON,
        "christian_name": "Jan",
        "surname": f"Jansen {n}",
        "contact_email": f"jan.jansen.{n}@example.nl",
        "linked": True,
    }
    values.update(fields)
    return Person(**values)


def client_for(url: str, key: str) -> MailchimpClient:
    """A client whose own retries do not wait."""
    return MailchimpClient(ApiKey(key), base_url=url, retry=NO_WAIT)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A coupling database in a file, as a plugin has."""
    with SQLiteStore(tmp_path / "coupling.sqlite3") as opened:
        yield opened


@pytest.fixture
def client(fake: FakeMailchimp) -> Iterator[MailchimpClient]:
    """A client on the fake."""
    with client_for(fake.url, fake.api_key) as opened:
        yield opened


@pytest.fixture
def worker(fake: FakeMailchimp, store: SQLiteStore, client: MailchimpClient) -> Any:
    """A worker on the fake, driven round by round with ``push_pending``."""
    return push_worker.PushWorker(store=store, client=client, list_id=fake.list_id, backoff=BACKOFF)


def statuses(fake: FakeMailchimp) -> dict[str, str]:
    """Every member's status by address."""
    return {m.email_address: m.status for m in fake.audience().members()}


def drain(worker: Any, rounds: int = 10) -> list[float]:
    """Run rounds until one goes well; return the back-offs asked for on the way."""
    waits: list[float] = []
    for _ in range(rounds):
        wait = worker.push_pending()
        if not wait:
            return waits
        waits.append(wait)
    pytest.fail(f"the queue did not drain in {rounds} rounds: {worker.queued}")


def test_saves_are_pushed_and_the_queue_drains(worker: Any, fake: FakeMailchimp) -> None:
    """A saved linked person becomes a subscribed member (R1, R2); the queue empties."""
    worker.person_saved(person(1))
    worker.person_saved(person(2))
    assert worker.queued == ["10001", "10002"]
    assert worker.push_pending() == 0.0
    assert worker.queued == []
    assert statuses(fake) == {
        "jan.jansen.1@example.nl": "subscribed",
        "jan.jansen.2@example.nl": "subscribed",
    }


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.dropped_connection(method="GET"), "NetworkError"),
        (Fault.server_error(503, method="GET"), "MailchimpServerError"),
        (Fault.server_error(500, method="GET"), "MailchimpServerError"),
        (Fault.rate_limited(method="GET"), "RateLimitedError"),
        (Fault.rate_limited(with_body=False, method="GET"), "RateLimitedError"),
    ],
)
def test_an_outage_keeps_the_queue_until_mailchimp_answers(
    worker: Any, fake: FakeMailchimp, fault: Fault, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    """No answer, 5xx, 429 (after the client's retries): saves wait, back off, then go (R6.4)."""
    worker.person_saved(person(1))
    fake.inject(*[fault] * 6)  # two rounds of three attempts each
    assert drain(worker) == [1.0, 2.0]
    assert worker.queued == []
    assert statuses(fake) == {"jan.jansen.1@example.nl": "subscribed"}
    assert f"push failed ({error}: " in caplog.text


def test_a_failure_worth_repeating_in_the_answer_keeps_that_person(
    worker: Any, fake: FakeMailchimp
) -> None:
    """A batch subscribe lost to 503s fails per person (retryable): the save stays queued."""
    worker.person_saved(person(1))
    fake.inject(*[Fault.server_error(503, method="POST")] * 3)
    assert worker.push_pending() == 1.0
    assert worker.queued == ["10001"]
    assert statuses(fake) == {}
    assert worker.push_pending() == 0.0
    assert statuses(fake) == {"jan.jansen.1@example.nl": "subscribed"}


def test_an_unreachable_endpoint_keeps_the_queue(store: SQLiteStore) -> None:
    """No one listens on the port: NetworkError each round; the fake starts there: it drains."""
    with socket.socket() as probe:  # a port that was free: closed once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/3.0"
    with client_for(url, "0123456789abcdef0123456789abcdef-us6") as client:
        worker = push_worker.PushWorker(
            store=store, client=client, list_id="a1b2c3d4e5", backoff=BACKOFF
        )
        worker.person_saved(person(1))
        worker.person_saved(person(2))
        waits = [worker.push_pending() for _ in range(5)]
        assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped at max_wait
        assert worker.queued == ["10001", "10002"]
        with FakeMailchimp(port=port) as fake:
            assert worker.push_pending() == 0.0
            assert worker.queued == []
            assert set(statuses(fake)) == {"jan.jansen.1@example.nl", "jan.jansen.2@example.nl"}


def test_a_running_sync_makes_the_saves_wait(
    worker: Any, fake: FakeMailchimp, tmp_path: Path
) -> None:
    """StoreBusyError (the nightly sync holds the run lock): nothing is sent, saves wait."""
    worker.person_saved(person(1))
    with SQLiteStore(tmp_path / "coupling.sqlite3") as sync_store, sync_store.lock():
        assert worker.push_pending() == 1.0
        assert worker.push_pending() == 2.0
    assert worker.queued == ["10001"]
    assert fake.requests == []
    assert worker.push_pending() == 0.0
    assert statuses(fake) == {"jan.jansen.1@example.nl": "subscribed"}


def test_a_database_that_cannot_be_written_keeps_the_queue(
    worker: Any, fake: FakeMailchimp, tmp_path: Path
) -> None:
    """StoreError (the lock file cannot be opened): saves wait until the database works again."""
    worker.person_saved(person(1))
    blocker = tmp_path / "coupling.sqlite3.lock"
    blocker.mkdir()  # a directory where the lock file should be: opening it fails
    assert worker.push_pending() == 1.0
    assert worker.queued == ["10001"]
    blocker.rmdir()
    assert worker.push_pending() == 0.0
    assert statuses(fake) == {"jan.jansen.1@example.nl": "subscribed"}


def test_refused_credentials_stop_pushing_but_keep_the_queue(
    fake: FakeMailchimp, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """AuthenticationError: the worker says so, sends nothing more, keeps queueing; resumes."""
    wrong = client_for(fake.url, "ffffffffffffffffffffffffffffffff-us6")
    worker = push_worker.PushWorker(store=store, client=wrong, list_id=fake.list_id)
    worker.person_saved(person(1))
    assert worker.push_pending() == 0.0
    assert worker.stopped is not None
    assert "API Key Invalid" in worker.stopped
    assert any("pushing stopped, 1 saves kept" in r.getMessage() for r in caplog.records)
    assert fake.api_key not in caplog.text
    sent = len(fake.requests)
    worker.person_saved(person(2))
    assert worker.push_pending() == 0.0  # stopped: nothing is tried
    assert len(fake.requests) == sent
    assert worker.queued == ["10001", "10002"]
    with client_for(fake.url, fake.api_key) as right:
        worker.resume(right)
        assert worker.stopped is None
        assert worker.push_pending() == 0.0
    wrong.close()
    assert worker.queued == []
    assert len(statuses(fake)) == 2


def test_an_unknown_audience_stops_pushing_but_keeps_the_queue(
    fake: FakeMailchimp, store: SQLiteStore, client: MailchimpClient
) -> None:
    """AudienceNotFoundError: a wrong list id in the settings stops pushing, queue kept."""
    worker = push_worker.PushWorker(store=store, client=client, list_id="0000000000")
    worker.person_saved(person(1))
    assert worker.push_pending() == 0.0
    assert worker.stopped is not None
    assert worker.queued == ["10001"]
    worker.list_id = fake.list_id
    worker.resume()
    assert worker.push_pending() == 0.0
    assert worker.queued == []


def test_a_malformed_audience_id_stops_pushing_but_keeps_the_queue(
    fake: FakeMailchimp, store: SQLiteStore, client: MailchimpClient
) -> None:
    """ConfigurationError (settings that can never work): pushing stops, nothing is sent."""
    worker = push_worker.PushWorker(store=store, client=client, list_id="not an id!")
    worker.person_saved(person(1))
    assert worker.push_pending() == 0.0
    assert worker.stopped is not None
    assert "list" in worker.stopped
    assert worker.queued == ["10001"]
    assert fake.requests == []


def test_a_refusal_is_not_retried(worker: Any, store: SQLiteStore) -> None:
    """A 400-class refusal goes to the failure overview (R6.1) and leaves the queue (R6.3)."""
    worker.person_saved(person(1, contact_email="test@example.nl"))  # "looks fake"
    worker.person_saved(person(2, contact_email=""))  # no address: a problem (R2.6)
    assert worker.push_pending() == 0.0
    assert worker.queued == []
    open_entries = {(f.person_id, f.category) for f in store.failures()}
    assert open_entries == {("10001", "invalid_address_mailchimp"), ("10002", "no_address")}


def test_a_deleted_person_is_archived(worker: Any, fake: FakeMailchimp) -> None:
    """person_deleted archives the member now (R4.1), with the stand-in remove by default."""
    worker.person_saved(person(1))
    worker.person_saved(person(2))
    worker.push_pending()
    worker.person_deleted("10001")
    assert worker.push_pending() == 0.0
    assert statuses(fake) == {
        "jan.jansen.1@example.nl": "archived",
        "jan.jansen.2@example.nl": "subscribed",
    }


def test_the_remove_callable_gets_the_deleted_ids(
    fake: FakeMailchimp, store: SQLiteStore, client: MailchimpClient
) -> None:
    """A remove callable given to the worker (remove_persons, R4.1) is called with the ids."""
    calls: list[list[str]] = []

    def remove(
        person_ids: Iterable[str], /, *, store: CouplingStore, client: MailchimpClient, list_id: str
    ) -> SyncReport:
        calls.append(list(person_ids))
        report: SyncReport = remove_persons(calls[-1], store=store, client=client, list_id=list_id)
        return report

    worker = push_worker.PushWorker(store=store, client=client, list_id=fake.list_id, remove=remove)
    worker.person_saved(person(1))
    worker.push_pending()
    worker.person_deleted("10001")
    worker.person_deleted("10009")  # never pushed: nothing to archive, no error
    assert worker.push_pending() == 0.0
    assert calls == [["10001", "10009"]]
    assert statuses(fake) == {"jan.jansen.1@example.nl": "archived"}


def test_an_unexpected_error_is_survived(
    fake: FakeMailchimp, store: SQLiteStore, client: MailchimpClient
) -> None:
    """Whatever a callable raises, the worker logs it, keeps the queue and tries again."""
    failing = [False, True]  # the first call raises, the second works

    def remove(
        person_ids: Iterable[str], /, *, store: CouplingStore, client: MailchimpClient, list_id: str
    ) -> SyncReport:
        if failing.pop():
            raise RuntimeError("the plugin's own bug")
        report: SyncReport = remove_persons(person_ids, store=store, client=client, list_id=list_id)
        return report

    worker = push_worker.PushWorker(
        store=store, client=client, list_id=fake.list_id, remove=remove, backoff=BACKOFF
    )
    worker.person_deleted("10001")
    assert worker.push_pending() == 1.0
    assert worker.queued == ["10001"]
    assert worker.push_pending() == 0.0
    assert worker.queued == []


def test_the_latest_save_wins(worker: Any, fake: FakeMailchimp) -> None:
    """Two saves of one person while queued: only the later record is pushed."""
    worker.person_saved(person(1, surname="Old"))
    worker.person_saved(person(1, surname="New"))
    assert worker.queued == ["10001"]
    worker.push_pending()
    member = fake.audience().get("jan.jansen.1@example.nl")
    assert member is not None
    assert member.last_name == "New"


def test_a_save_during_a_push_is_not_lost(worker: Any, fake: FakeMailchimp) -> None:
    """A save that arrives while the earlier one is in flight stays queued and goes next."""
    worker.person_saved(person(1, surname="First"))
    fake.hold()
    pushing = threading.Thread(target=worker.push_pending)
    pushing.start()
    assert fake.wait_for_in_flight(1)
    worker.person_saved(person(1, surname="Second"))
    fake.release()
    pushing.join()
    assert worker.queued == ["10001"]
    assert worker.push_pending() == 0.0
    member = fake.audience().get("jan.jansen.1@example.nl")
    assert member is not None
    assert member.last_name == "Second"


def test_the_thread_rides_out_an_outage(
    fake: FakeMailchimp, store: SQLiteStore, client: MailchimpClient
) -> None:
    """The worker thread backs off (injected sleep), keeps the queue, and drains it after."""
    waits: list[float] = []
    worker = push_worker.PushWorker(
        store=store, client=client, list_id=fake.list_id, backoff=BACKOFF, sleep=waits.append
    )
    fake.inject(*[Fault.server_error(503, method="GET")] * 9)  # three rounds fail
    for n in range(1, 4):
        worker.person_saved(person(n))
    worker.start()
    assert worker.wait_until_idle(timeout=30)
    worker.person_deleted("10002")
    assert worker.wait_until_idle(timeout=30)
    assert worker.close(timeout=30) == []
    assert waits == [1.0, 2.0, 4.0]
    assert statuses(fake) == {
        "jan.jansen.1@example.nl": "subscribed",
        "jan.jansen.2@example.nl": "archived",
        "jan.jansen.3@example.nl": "subscribed",
    }


def test_close_returns_what_is_left(
    fake: FakeMailchimp, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """Closing while pushing is stopped returns (and logs) the saves still queued."""
    with client_for(fake.url, "ffffffffffffffffffffffffffffffff-us6") as wrong:
        worker = push_worker.PushWorker(store=store, client=wrong, list_id=fake.list_id)
        worker.start()
        worker.person_saved(person(1))
        assert worker.wait_until_idle(timeout=30)
        assert worker.stopped is not None
        assert worker.close(timeout=30) == ["10001"]
    assert any("1 saves not pushed" in r.getMessage() for r in caplog.records)


def test_person_from_record_fills_every_field() -> None:
    """An AuditCase record maps to a Person field by field, linked included (R1.2, R2)."""
    record = {
        "PersonId": 10001,
        "PersonKind": "contactpersoon",
        "PersonInitialsRE": "J.",
        "PersonChristianNameRE": None,
        "PersonNameRE": "de Vries",
        "ContactEMailRE": "jan@example.nl",
        "CompanyEmailREBT": None,
        "CorrespondenceGroupRE": ["Nieuwsbrief"],
        "KoppelenMetMailChimp": True,
        "MailingenOntvangen": False,
        "UitsluitenVoorCorrespondentie": True,
    }
    assert push_worker.person_from_record(record) == Person(
        person_id="10001",
        kind=PersonKind.CONTACT_PERSON,
        initials="J.",
        surname="de Vries",
        contact_email="jan@example.nl",
        correspondence_groups=("Nieuwsbrief",),
        receives_mailings=False,
        excluded_from_correspondence=True,
        linked=True,
    )


def test_the_demonstration_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """``python examples/push_worker.py`` shows the outage ridden out and nothing lost."""
    push_worker.main()
    out = capsys.readouterr().out
    assert "left in the queue: []" in out
    assert "jan.jansen.2@example.nl: archived" in out


def test_nothing_is_lost_under_random_faults(store: SQLiteStore) -> None:
    """A third of all requests fail at random (429, 5xx, dropped): every save still lands (R7.2)."""
    with (
        FakeMailchimp(fault_rate=0.35, seed=10) as fake,
        client_for(fake.url, fake.api_key) as client,
    ):
        worker = push_worker.PushWorker(
            store=store, client=client, list_id=fake.list_id, backoff=BACKOFF, batch_size=5
        )
        for n in range(1, 21):
            worker.person_saved(person(n))
        worker.person_saved(person(3, surname="Renamed"))
        rounds = 0
        while worker.queued and rounds < 100:
            worker.push_pending()
            rounds += 1
        assert worker.queued == []
        members = {m.email_address: m for m in fake.audience().members()}
        assert len(members) == 20
        assert {m.status for m in members.values()} == {"subscribed"}
        assert members["jan.jansen.3@example.nl"].last_name == "Renamed"
        assert any(r.fault for r in fake.requests)


def test_the_worker_logs_no_addresses(
    worker: Any, fake: FakeMailchimp, caplog: pytest.LogCaptureFixture
) -> None:
    """Refusals, problems and outages are logged by person id, never by address (house rule)."""
    caplog.set_level("INFO")
    fake.inject(*[Fault.server_error(503, method="GET")] * 3)
    worker.person_saved(person(1, contact_email="test@example.nl"))
    worker.person_saved(person(2, contact_email="jan@@example.nl"))
    drain(worker)
    logged = [r.getMessage() for r in caplog.records if r.name == "auditcase_plugin.mailchimp"]
    assert any("10001" in line for line in logged)
    assert any("10002" in line for line in logged)
    assert not any("@" in line for line in logged)
