"""The executor's parallel helper: intents recorded before sending (R7.4), slots refilled at once.

Events, not sleeps, order the steps: each call waits for its own event, so a test decides which
request is answered when, and checks what was recorded and handed over at that moment.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence

import pytest

from auditcase_mailchimp._relay import Relay

_WAIT = 30  # seconds: a bound on a wait that should end at once, not a timing


class _World:
    """Items 0..n-1; a call waits for its item's event; every step is logged in order."""

    def __init__(self, count: int) -> None:
        self.log: list[str] = []
        self.answer = [threading.Event() for _ in range(count)]
        self.started = [threading.Event() for _ in range(count)]
        self.recorded = [threading.Event() for _ in range(count)]
        self.cleared: list[int] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.fail_on: int | None = None
        self.refuse_record: int | None = None
        self.under_way = 0
        self.most_under_way = 0
        #: Per item, how many answers had been given when its intents were recorded.
        self.given_before_record: dict[int, int] = {}
        self._given = 0

    def give(self, item: int) -> None:
        """Let item's request be answered."""
        with self._lock:
            self._given += 1
        self.answer[item].set()

    def call(self, item: int) -> str:
        with self._lock:
            self.log.append(f"send {item}")
            self.under_way += 1
            self.most_under_way = max(self.most_under_way, self.under_way)
        self.started[item].set()
        try:
            assert self.answer[item].wait(_WAIT)
            if item == self.fail_on:
                raise RuntimeError(f"request {item} failed")
            return f"answer {item}"
        finally:
            with self._lock:
                self.under_way -= 1

    def record(self, item: int) -> tuple[int, ...]:
        if item == self.refuse_record:
            raise OSError("database is locked")
        with self._lock:
            self.log.append(f"record {item}")
            self.given_before_record[item] = self._given
        self.recorded[item].set()
        return (100 + item,)

    def clear(self, ids: Sequence[int]) -> None:
        self.cleared.extend(ids)

    def sent(self) -> list[int]:
        return [int(entry.split()[1]) for entry in self.log if entry.startswith("send")]

    def relay(self, concurrency: int) -> Relay[int, str]:
        return Relay(
            self.call, concurrency=concurrency, record=self.record, clear=self.clear,
            stop=self.stop,
        )  # fmt: skip


def test_every_item_is_recorded_before_it_is_sent_and_yielded_as_it_finishes() -> None:
    """R7.4: "record i" comes before "send i"; answers come back in the order they finish."""
    world = _World(4)
    run = world.relay(concurrency=2).run(range(4))
    for item in (1, 0, 3, 2):
        world.answer[item].set()
    got = list(run)
    assert {item for item, _, _ in got} == {0, 1, 2, 3}
    assert all(ids == (100 + item,) and answer == f"answer {item}" for item, ids, answer in got)
    for item in range(4):
        assert world.log.index(f"record {item}") < world.log.index(f"send {item}")
    assert world.cleared == []


class _Consumer(threading.Thread):
    """Takes every answer of a run, in its own thread; keeps what it got and what it raised."""

    def __init__(self, relay: Relay[int, str], work: int | Iterable[int]) -> None:
        super().__init__()
        self._run = relay.run(range(work) if isinstance(work, int) else work)
        self.got: list[int] = []
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.got.extend(item for item, _, _ in self._run)
        except Exception as error:  # noqa: BLE001 - kept for the test to check
            self.error = error

    def finish(self) -> None:
        self.join(_WAIT)
        assert not self.is_alive()


def test_no_more_than_the_concurrency_is_under_way_or_recorded_ahead() -> None:
    """MAILCHIMP.md §7, R7.4: 2 under way at most, and the intents of 2 more recorded ahead.

    With the answers held, items 0-3 are recorded (two sent, two waiting); item 4 is recorded
    only once an answer came, so a run killed while waiting leaves four items to read back.
    """
    world = _World(6)
    consumer = _Consumer(world.relay(concurrency=2), 6)
    assert world.started[0].wait(_WAIT)
    assert world.started[1].wait(_WAIT)
    assert world.recorded[3].wait(_WAIT)  # recorded ahead, waiting for a free slot
    for item in range(6):
        world.give(item)
    consumer.finish()
    assert sorted(consumer.got) == list(range(6))
    assert world.most_under_way == 2
    assert [world.given_before_record[i] for i in range(4)] == [0, 0, 0, 0]
    assert world.given_before_record[4] >= 1
    assert world.given_before_record[5] >= 1


def test_each_item_is_taken_from_the_work_only_when_it_is_recorded() -> None:
    """Issue 8: the runner makes a request's steps as it is about to go out, not all first.

    With 2 under way and 2 recorded ahead, a lazy work of 6 items has given 4 until an answer
    comes; each item is taken just before its intents are recorded.
    """
    world = _World(6)

    def work() -> Iterator[int]:
        for item in range(6):
            world.log.append(f"take {item}")
            yield item

    consumer = _Consumer(world.relay(concurrency=2), work())
    assert world.recorded[3].wait(_WAIT)
    assert world.started[1].wait(_WAIT)
    assert [e for e in world.log if e.startswith("take")] == [f"take {i}" for i in range(4)]
    for item in range(6):
        world.give(item)
    consumer.finish()
    assert sorted(consumer.got) == list(range(6))
    for item in range(6):
        assert world.log.index(f"take {item}") < world.log.index(f"record {item}")


def test_a_sender_hands_the_next_item_over_while_the_consumer_is_busy() -> None:
    """A freed slot is filled at once, not when the consumer has recorded the earlier answer."""
    world = _World(3)
    run = world.relay(concurrency=1).run(range(3))
    world.answer[0].set()
    first = next(run)  # the consumer now "records" answer 0 and does not come back yet
    assert first[0] == 0
    assert not world.started[2].is_set()  # one at a time: item 1 is under way
    world.answer[1].set()  # item 1's sender is freed while the consumer is away
    assert world.started[2].wait(_WAIT)  # item 2 went out without the consumer
    world.answer[2].set()
    assert [item for item, _, _ in run] == [1, 2]


def test_after_a_stop_nothing_more_is_sent_and_unsent_intents_are_cleared() -> None:
    """Ctrl-C: the requests under way are answered and yielded; recorded ones never sent go."""
    world = _World(5)
    consumer = _Consumer(world.relay(concurrency=2), 5)
    assert world.started[0].wait(_WAIT)
    assert world.started[1].wait(_WAIT)
    assert world.recorded[2].wait(_WAIT)
    world.stop.set()
    world.answer[0].set()
    world.answer[1].set()
    consumer.finish()
    assert consumer.error is None
    assert sorted(consumer.got) == [0, 1]
    assert sorted(world.sent()) == [0, 1]
    recorded = {int(entry.split()[1]) for entry in world.log if entry.startswith("record")}
    assert 2 in recorded
    assert sorted(world.cleared) == sorted(100 + i for i in recorded - {0, 1})


def test_a_failed_request_stops_the_handing_over_and_raises() -> None:
    """A request that raised: no item is handed over after it; its error reaches the consumer."""
    world = _World(4)
    world.fail_on = 0
    consumer = _Consumer(world.relay(concurrency=1), 4)
    assert world.started[0].wait(_WAIT)
    assert world.recorded[1].wait(_WAIT)
    world.answer[0].set()
    consumer.finish()
    assert isinstance(consumer.error, RuntimeError)
    assert world.sent() == [0]
    assert world.cleared == [101]  # item 1 was recorded ahead; nothing was sent for it


def test_an_item_whose_intents_cannot_be_recorded_is_not_sent() -> None:
    """R7.4: a database that cannot be written stops the run before that request goes out."""
    world = _World(3)
    world.refuse_record = 1
    for event in world.answer:
        event.set()
    with pytest.raises(OSError, match="locked"):
        list(world.relay(concurrency=2).run(range(3)))
    assert world.sent() == [0]


def test_a_run_closed_early_clears_exactly_the_intents_of_what_was_never_sent() -> None:
    """R7.4: the consumer stops after one answer; whatever was recorded is sent or cleared.

    Items handed over but not yet taken by a sender are cancelled: theirs are cleared too. An
    item that was sent keeps its intents (its answer was not recorded). Repeated, as which
    items are sent before the close depends on the threads.
    """
    for _ in range(20):
        world = _World(6)
        for event in world.answer:
            event.set()
        run = world.relay(concurrency=1).run(range(6))
        next(run)
        run.close()
        recorded = {int(e.split()[1]) for e in world.log if e.startswith("record")}
        sent = set(world.sent())
        cleared = {i - 100 for i in world.cleared}
        assert not cleared & sent
        assert recorded == sent | cleared
