"""R7.2, R7.4: a request whose answer never came, or that a stop kept from being sent, is not done.

Found by an adversarial trial: a bulk tag round stopped by Ctrl-C recorded the tag changes it
never sent, and a request answered 500 or not at all (which Mailchimp may have carried out)
cleared its intent, so the next run did not read the member back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

import pytest

from auditcase_mailchimp import SQLiteStore
from auditcase_mailchimp._bulk_rules import TagChangeOf
from auditcase_mailchimp._executor_bulk import BulkTags, Stopped
from auditcase_mailchimp.testing import FakeMailchimp, Fault

from .test_sync import World, person, world

__all__ = ["world"]  # the fixture, shared with test_sync

S = TypeVar("S")
R = TypeVar("R")


def test_a_stopped_tag_round_records_nothing_it_did_not_send(world: World) -> None:
    """R7.2, R7.4: when a stop leaves segment calls unsent, the round is not reported done."""
    world.sync([person(str(i), f"p{i}@example.nl") for i in range(12)])
    both = frozenset({"Fiscaal", "BTW"})  # two tags for 12 members each: segment calls
    merged = [
        TagChangeOf(email_address=f"p{i}@example.nl", add=both, remove=frozenset())
        for i in range(12)
    ]

    def first_only(work: Sequence[S], call: Callable[[S], R]) -> Iterator[tuple[S, R]]:
        yield work[0], call(work[0])  # then the run stops: nothing more is handed over

    bulk = BulkTags(world.client, world.fake.list_id, threshold=11)
    with pytest.raises(Stopped):
        bulk.results(merged, first_only)


def test_an_entry_answered_500_after_processing_is_read_back_next_run(world: World) -> None:
    """R7.4: a batch subscribe Mailchimp carried out but answered 500 leaves its intents open."""
    base = [person(str(i), f"p{i}@example.nl") for i in range(10)]
    world.sync(base)
    added = [person(str(i), f"p{i}@example.nl") for i in range(10, 15)]
    world.fake.inject(
        *[Fault.server_error(500, after_processing=True, method="POST")] * 4  # every attempt
    )
    report = world.sync(base + added)
    assert len(report.failures) == 5
    assert len(world.fake.audience().members(status="subscribed")) == 15  # done all the same
    with SQLiteStore(world.db) as store:
        assert len(store.open_intents()) == 5  # possibly done: kept for the next run
    world.sync(base)  # the five are no longer wanted
    statuses = {k: m.status for k, m in world.members().items()}
    assert [statuses[f"p{i}@example.nl"] for i in range(10, 15)] == ["archived"] * 5
    with SQLiteStore(world.db) as store:
        assert store.open_intents() == []


def test_an_archive_whose_answer_was_lost_is_read_back_next_run(
    world: World, fake: FakeMailchimp
) -> None:
    """R7.4: a DELETE carried out but never answered is settled, so re-linking re-adds it."""
    everyone = [person(str(i), f"p{i}@example.nl") for i in range(4)]
    world.sync(everyone)
    fake.inject(*[Fault.dropped_connection(after_processing=True, method="DELETE")] * 4)
    report = world.sync(everyone[:3])
    assert [f.action for f in report.failures] == ["archive"]
    assert world.members()["p3@example.nl"].status == "archived"  # done all the same
    world.sync(everyone)  # linked again
    assert world.members()["p3@example.nl"].status == "subscribed"


def test_a_request_found_done_when_settled_closes_its_failure(world: World) -> None:
    """R6.3, R7.4: when the next run finds the request was carried out, its entry is resolved."""
    base = [person(str(i), f"p{i}@example.nl") for i in range(3)]
    world.sync(base)
    added = [person("9", "p9@example.nl")]
    world.fake.inject(*[Fault.server_error(500, after_processing=True, method="POST")] * 4)
    assert len(world.sync(base + added).failures) == 1
    again = world.sync(base + added)
    assert again.failures == ()
    with SQLiteStore(world.db) as store:
        assert [f.person_id for f in store.failures()] == []
