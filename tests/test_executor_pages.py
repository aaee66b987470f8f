"""The reads before archiving from the audience's pages (issue 12.2): as a read of each member."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditcase_mailchimp import SQLiteStore, desired_state, subscriber_hash
from auditcase_mailchimp._bulk_rules import PollPolicy
from auditcase_mailchimp._errors import AudienceNotFoundError
from auditcase_mailchimp._executor import Executor
from auditcase_mailchimp._executor_bulk import BatchSettings, Stopped
from auditcase_mailchimp._executor_pages import PagedReads, pages_cheaper
from auditcase_mailchimp._plan import plan_sync
from auditcase_mailchimp._steps import Look, start
from auditcase_mailchimp.testing import FakeMailchimp, Fault

from . import test_bulk_batches
from .test_bulk_batches import Setup, persons


def paged(setup: Setup | None = None) -> BatchSettings:
    """The pages for any number of reads; with ``setup``, /batches for every kind (else none)."""
    if setup is None:
        return BatchSettings(threshold=10_000, page_threshold=1)
    return BatchSettings(threshold=1, page_threshold=1, sleep=setup.wait)


def list_reads(fake: FakeMailchimp) -> list[tuple[str, str]]:
    """The member-list pages read: ``(status filter, offset)``."""
    return [
        (r.query.get("status", ""), r.query.get("offset", ""))
        for r in fake.requests
        if r.method == "GET" and r.path == f"/3.0/lists/{fake.list_id}/members"
    ]


def member_reads(fake: FakeMailchimp) -> set[str]:
    """The members read one by one (their hashes)."""
    prefix = f"/3.0/lists/{fake.list_id}/members/"
    return {
        r.path.removeprefix(prefix)
        for r in fake.requests
        if r.method == "GET" and r.path.startswith(prefix) and "/tags" not in r.path
    }


def batched_reads(fake: FakeMailchimp) -> int:
    """How many GET operations went through /batches."""
    return sum(
        1
        for r in fake.requests
        if (r.method, r.path) == ("POST", "/3.0/batches")
        for op in r.body["operations"]
        if op["method"] == "GET"
    )


#: Two equal installations on two fakes, every request checked against the API.
both = test_bulk_batches.both


def test_the_cost_model_chooses_the_pages_only_when_they_finish_sooner() -> None:
    """Issue 12.2: pages of 1,000 vs one read each (by /batches, or directly), in the model."""
    poll = PollPolicy()
    # 20,000 unlinks, 1,000 of them met on the first page: 19 pages beat a batch of 19,000
    assert pages_cheaper(19_000, 19, concurrency=10, batched=True, poll=poll)
    # a batch is seen finished at its first poll (5 s) at the earliest: 2 pages are sooner
    assert pages_cheaper(2_000, 2, concurrency=10, batched=True, poll=poll)
    # 100 pages (10 s) lose to a batch of 3,000 reads seen at 5 s
    assert not pages_cheaper(3_000, 100, concurrency=10, batched=True, poll=poll)
    # directly: 1,000 reads take 100 rounds of 21 ms (2.1 s); 2 pages 1.02 s, 20 pages 2.04 s
    assert pages_cheaper(1_000, 2, concurrency=10, batched=False, poll=poll)
    assert not pages_cheaper(900, 20, concurrency=10, batched=False, poll=poll)


def test_paged_reads_lead_to_the_same_records_counts_and_failures(
    both: tuple[Setup, Setup],
) -> None:
    """Issue 12.2, R4.3, R4.5, R5.4: a read from the pages is a read of that member."""
    via_pages, direct = both
    by_pages = via_pages.carry(paged(via_pages))
    by_calls = direct.carry(None)
    assert by_pages == by_calls
    assert (by_pages[1]["archived"], by_pages[1]["released"]) == (19, 1)  # p3 cleaned: released
    assert batched_reads(via_pages.fake) == 0  # no read went through /batches ...
    assert member_reads(via_pages.fake) == set()  # ... nor one by one: every member was met
    # the first pages (unfiltered and archived) in the first round; again for the read of
    # R5.4's fallback in a later round
    assert sorted(list_reads(via_pages.fake)) == [("", "0")] * 2 + [("archived", "0")] * 2


def test_an_unlinked_member_keeps_mailchimps_status_and_a_released_one_is_never_deleted(
    both: tuple[Setup, Setup],
) -> None:
    """R4.3, R5.3, R4.5 through the pages: unsubscribed kept at archiving; cleaned, pending kept."""
    via_pages, direct = both
    for setup in (via_pages, direct):
        audience = setup.fake.audience()
        audience.unsubscribe("p1@example.nl")  # in Mailchimp, after the coupling recorded it
        audience.set_status("p2@example.nl", "pending")  # and p3 is cleaned (Setup)
        setup.fake.clear_log()
    result = via_pages.carry(paged())
    assert result == direct.carry(None)
    records, counts, _, members, *_ = result
    by_key = {r.key: r for r in records}
    assert by_key["p1@example.nl"].status == "archived"
    assert by_key["p1@example.nl"].coupling.status_at_archive == "unsubscribed"  # R4.3, R5.3
    deleted = {r.path.rsplit("/", 1)[-1] for r in via_pages.fake.requests if r.method == "DELETE"}
    assert subscriber_hash("p1@example.nl") in deleted
    for kept in ("p2@example.nl", "p3@example.nl"):  # R4.5: released, never deleted
        assert subscriber_hash(kept) not in deleted
    statuses = {m[0]: m[1] for m in members}
    assert statuses["p1@example.nl"] == "archived"
    assert (statuses["p2@example.nl"], statuses["p3@example.nl"]) == ("pending", "cleaned")
    assert counts["released"] == 2
    assert member_reads(via_pages.fake) == set()  # every status came from the pages


def test_a_member_not_in_the_pages_is_read_on_its_own(both: tuple[Setup, Setup]) -> None:
    """Issue 12.2: "not in the audience" is only ever the answer about that one address."""
    via_pages, direct = both
    for setup in (via_pages, direct):
        setup.fake.audience().delete_permanently("p5@example.nl")
        setup.fake.clear_log()
    assert via_pages.carry(paged()) == direct.carry(None)
    assert member_reads(via_pages.fake) == {subscriber_hash("p5@example.nl")}


def test_pages_that_cannot_be_read_leave_the_reads_to_each_member(
    both: tuple[Setup, Setup],
) -> None:
    """Issue 12.2, R6.2: a page failing after the retries fails no one; its members are read."""
    via_pages, direct = both
    via_pages.fake.inject(*[Fault.server_error(500, method="GET", path_contains="/members")] * 8)
    assert via_pages.carry(paged(via_pages)) == direct.carry(None)
    assert batched_reads(via_pages.fake) == 20  # the first round's reads, as without the pages


def test_a_large_audience_is_not_read_for_a_few_reads(fake: FakeMailchimp, tmp_path: Path) -> None:
    """Issue 12.2: past the first pages, the rest only when they finish sooner than the reads."""
    audience = fake.audience()
    for i in range(2_500):  # other members of the audience, before the coupled ones
        audience.add(f"other{i}@example.nl")
    setup = Setup(fake, tmp_path / "a")
    try:
        setup.carry(paged())
        # 20 reads directly (42 ms) beat two more pages (1.02 s): the first pages only
        first_round = [p for p in list_reads(fake) if p[1] != "0"]
        assert first_round == []
        assert len(member_reads(fake)) == 21  # the 20 unlinked, and p24's old member (R5.4)
    finally:
        setup.client.close()


def test_a_stopping_run_reads_no_pages_and_answers_no_read(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """R7.2: once the run stops (Ctrl-C, another phase failed) no page goes out, no read ends."""
    setup = Setup(fake, tmp_path / "a")
    try:
        with SQLiteStore(setup.db) as store:
            plan = plan_sync(
                store.load_current(), desired_state(persons(changed=True), owners=store.owners())
            )
            looks = [s for s in map(start, plan.actions) if isinstance(s, Look)]
            executor = Executor(store, setup.client, fake.list_id, lambda *_: None, total=0)
            executor._stop.set()
            reads = PagedReads(setup.client, fake.list_id, threshold=1, poll=PollPolicy())
            with pytest.raises(Stopped):
                reads.answer(looks, executor._plain_parallel, batched=True)
        assert len(looks) == 20
        assert list_reads(fake) == []
    finally:
        setup.client.close()


def test_a_large_audience_is_read_whole_when_that_beats_a_batch_of_reads(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """Issue 12.2: the rest of the pages (about 1 s) beat a batch of reads seen at 5 s at best."""
    for i in range(2_500):  # other members of the audience, before the coupled ones
        fake.audience().add(f"other{i}@example.nl")
    setup = Setup(fake, tmp_path / "a")
    try:
        _, counts, *_ = setup.carry(paged(setup))
        # every page, in the round of the archives' reads and in that of R5.4's fallback read
        assert sorted(list_reads(fake)) == sorted(
            [("", "0"), ("", "1000"), ("", "2000"), ("archived", "0")] * 2
        )
        assert batched_reads(fake) == 0
        assert member_reads(fake) == set()
        assert (counts["archived"], counts["released"]) == (19, 1)
    finally:
        setup.client.close()


def test_an_audience_gone_while_its_pages_are_read_stops_the_run(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """R6.4: an answer that fails every request (no such audience) raises, as a direct read's."""
    setup = Setup(fake, tmp_path / "a")
    try:
        fake.inject(Fault.server_error(404, method="GET", path_contains="/members"))
        with pytest.raises(AudienceNotFoundError):
            setup.carry(paged())
    finally:
        setup.client.close()
