"""Never more requests in flight than the limit (MAILCHIMP.md §7: 10 simultaneous connections).

The fake holds requests until released, so the client's threads pile up at its bound; the
fake counts the most it saw in flight. Events, not sleeps, order the steps.
"""

from __future__ import annotations

import threading

import pytest

from auditcase_mailchimp._client import MailchimpClient, MemberOutcome, UpsertItem
from auditcase_mailchimp.testing import FakeMailchimp

from .conftest import ManualClock, make_client

LIST = "a1b2c3d4e5"


@pytest.mark.parametrize("concurrency", [1, 3, 10])
def test_bulk_calls_never_exceed_the_concurrency(
    fake: FakeMailchimp, clock: ManualClock, concurrency: int
) -> None:
    """archive_many runs up to `concurrency` requests at once, never more (§7)."""
    addresses = [f"p{i}@example.nl" for i in range(3 * concurrency + 2)]
    for address in addresses:
        fake.audience().add(address)
    results = []
    with make_client(fake, clock, concurrency=concurrency) as client:
        fake.hold()
        worker = threading.Thread(
            target=lambda: results.extend(client.archive_many(LIST, addresses))
        )
        worker.start()
        try:
            assert fake.wait_for_in_flight(concurrency)
        finally:
            fake.release()
            worker.join()
    assert [r.outcome for r in results] == [MemberOutcome.ARCHIVED] * len(addresses)
    assert fake.max_in_flight == concurrency
    assert not any(r.fault == "connection_limit" for r in fake.requests)


def test_many_caller_threads_share_one_bound(fake: FakeMailchimp, clock: ManualClock) -> None:
    """Sixteen threads calling one client with concurrency 4 keep 4 in flight at most (§7)."""
    fake.audience().add("jan@example.nl")
    with make_client(fake, clock, concurrency=4) as client:
        fake.hold()
        callers = [
            threading.Thread(
                target=client.set_tags, args=(LIST, "jan@example.nl"), kwargs={"add": {f"t{i}"}}
            )
            for i in range(16)
        ]
        for caller in callers:
            caller.start()
        try:
            assert fake.wait_for_in_flight(4)
        finally:
            fake.release()
            for caller in callers:
                caller.join()
    assert fake.max_in_flight == 4
    member = fake.audience().get("jan@example.nl")
    assert member is not None
    assert len(member.tags) == 16


def test_batch_upsert_chunks_run_in_parallel_within_the_limit(
    fake: FakeMailchimp, clock: ManualClock
) -> None:
    """Twelve chunks of 500 go ten at a time under the default concurrency (§5.1, §7)."""
    items = [UpsertItem(email_address=f"p{i}@example.nl") for i in range(6000)]
    results = []
    with make_client(fake, clock) as client:
        fake.hold()
        worker = threading.Thread(target=lambda: results.extend(client.batch_upsert(LIST, items)))
        worker.start()
        try:
            assert fake.wait_for_in_flight(10)
        finally:
            fake.release()
            worker.join()
    assert len(results) == 6000
    assert all(r.ok for r in results)
    assert fake.max_in_flight == 10
    assert len(fake.requests) == 12


def test_read_members_pages_within_the_limit(fake: FakeMailchimp, clock: ManualClock) -> None:
    """Pages of a large audience are read in parallel, within the concurrency (§2.4, §7)."""
    for i in range(4500):
        fake.audience().add(f"p{i}@example.nl")
    with make_client(fake, clock, concurrency=2) as client:
        members = client.read_members(LIST)
    assert len(members) == 4500
    assert fake.max_in_flight <= 2


def test_client_thread_safety_under_the_default_limit(fake: FakeMailchimp) -> None:
    """Two clients of one account at 5 each stay within Mailchimp's 10 (§7: per user)."""
    clock = ManualClock()
    for i in range(40):
        fake.audience().add(f"p{i}@example.nl")
    outcomes: list[MemberOutcome] = []
    clients: list[MailchimpClient] = [make_client(fake, clock, concurrency=5) for _ in range(2)]
    fake.hold()
    workers = [
        threading.Thread(
            target=lambda c=c, part=part: outcomes.extend(
                r.outcome for r in c.archive_many(LIST, [f"p{i}@example.nl" for i in part])
            )
        )
        for c, part in zip(clients, (range(20), range(20, 40)), strict=True)
    ]
    for worker in workers:
        worker.start()
    try:
        assert fake.wait_for_in_flight(10)
    finally:
        fake.release()
        for worker in workers:
            worker.join()
        for c in clients:
            c.close()
    assert outcomes == [MemberOutcome.ARCHIVED] * 40
    assert fake.max_in_flight == 10
