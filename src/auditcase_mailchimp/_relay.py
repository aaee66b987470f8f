"""Hand requests to a pool of senders, each one's intents recorded first (R7.4).

The executor's one helper for parallel work. This thread records the intents of the next
items while the requests under way are awaited; a sender that gets its answer hands the next
recorded item over itself, at once, so a freed connection is not left idle while this thread
records earlier answers. At most ``concurrency`` requests are under way, and at most
``concurrency`` items wait recorded but not sent; after a stop (Ctrl-C, another phase's
error) or a failed request nothing more is handed over, and the intents of items recorded but
never sent are cleared (nothing was sent for them).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

__all__ = ["Relay"]

S = TypeVar("S")
R = TypeVar("R")


class Relay(Generic[S, R]):
    """Runs ``call`` on each item over ``concurrency`` threads, recording before sending.

    Args:
        call: What a sender does with one item (its request); runs in a pool thread.
        concurrency: Requests under way at most.
        record: Records an item's intents, in this thread, before it may be handed over;
            returns their ids.
        clear: Clears the intents of items recorded but never handed over.
        stop: Once set, nothing more is handed over.
    """

    def __init__(
        self,
        call: Callable[[S], R],
        *,
        concurrency: int,
        record: Callable[[S], tuple[int, ...]],
        clear: Callable[[Sequence[int]], None],
        stop: threading.Event,
    ) -> None:
        self._call = call
        self._concurrency = concurrency
        self._record = record
        self._clear = clear
        self._stop = stop
        # Re-entrant: a future already done runs its callback at once, in the thread adding it.
        self._lock = threading.RLock()
        self._ready: deque[tuple[S, tuple[int, ...]]] = deque()
        #: The items under way, by their future: a sender removes its own when answered.
        self._running: dict[Future[R], tuple[S, tuple[int, ...]]] = {}
        #: Answered items, in the order they finished, not yet yielded.
        self._answered: queue.SimpleQueue[tuple[Future[R], S, tuple[int, ...]]] = (
            queue.SimpleQueue()
        )
        self._unyielded = 0  # handed over, answer not yet yielded
        #: Intents of items handed over but cancelled before a sender took them: never sent.
        self._unsent: list[int] = []
        self._halted = False  # a request raised, or the pool is closing
        self._pool = ThreadPoolExecutor(max_workers=concurrency)

    def run(self, work: Iterable[S]) -> Generator[tuple[S, tuple[int, ...], R], None, None]:
        """Yield each item with its intents' ids and its answer, in the order they finish.

        ``work`` is read as items are recorded, at most ``concurrency`` ahead of the requests
        under way: an item may be made as it is taken (the runner's first steps).

        Raises:
            Exception: What ``call`` raised for an item (no item is handed over after it),
                or what ``record`` raised (nothing more is sent).
        """
        todo = iter(work)
        try:
            self._fill(todo)
            while self._waiting():
                future, item, ids = self._answered.get()
                with self._lock:
                    self._unyielded -= 1
                self._fill(todo)  # the next intents, before this answer is recorded
                yield item, ids, future.result()
        finally:
            with self._lock:
                self._halted = True  # a sender finishing now hands nothing over
            # Waits for the requests under way (their intents stay open unless their answers
            # were recorded) and cancels those handed over but not yet taken by a sender.
            self._pool.shutdown(wait=True, cancel_futures=True)
            with self._lock:
                left = [i for _, ids in self._ready for i in ids] + self._unsent
            if left:  # recorded, never sent: nothing to settle
                self._clear(left)

    def _fill(self, todo: Iterator[S]) -> None:
        """Record the next items, while fewer than the concurrency wait; hand over what fits."""
        while not self._stop.is_set():
            with self._lock:
                if self._halted or len(self._ready) >= self._concurrency:
                    return
            try:
                item = next(todo)  # taken now: made as late as possible
            except StopIteration:
                return
            ids = self._record(item)
            with self._lock:
                self._ready.append((item, ids))
                self._hand_over()

    def _hand_over(self) -> None:
        """Start recorded items while connections are free (the lock is held)."""
        while self._ready and len(self._running) < self._concurrency:
            if self._halted or self._stop.is_set():
                return
            item, ids = self._ready[0]
            future = self._pool.submit(self._call, item)  # raises: the item stays recorded
            self._ready.popleft()
            self._running[future] = (item, ids)
            self._unyielded += 1
            future.add_done_callback(self._done)

    def _done(self, future: Future[R]) -> None:
        """In the sender's thread: hand the next item over at once, then report the answer."""
        with self._lock:
            item, ids = self._running.pop(future)
            try:
                if future.cancelled():  # never taken by a sender: nothing was sent
                    self._halted = True
                    self._unsent.extend(ids)
                elif future.exception() is not None:
                    self._halted = True
                else:
                    with contextlib.suppress(RuntimeError):  # the pool shut down meanwhile
                        self._hand_over()
            finally:  # the consumer waits for every answer: it always gets this one
                self._answered.put((future, item, ids))

    def _waiting(self) -> bool:
        with self._lock:
            return self._unyielded > 0
