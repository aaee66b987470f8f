"""The executor: carries a plan's steps out against Mailchimp and records each answer.

It holds no rule: what a step is, and what an answer leads to, comes from
:mod:`auditcase_mailchimp._steps`. It only sends the request a step stands for, up to the
client's concurrency, turns the answer into an :class:`~auditcase_mailchimp._steps.Answer`,
and writes what :func:`~auditcase_mailchimp._steps.after` says, one transaction per answer, so
a run killed at any moment loses nothing (R7.2). Before it hands a request to a sender it records
the request's intent (R7.4, :mod:`auditcase_mailchimp._settle`); the answer's records clear it
in the same transaction. Ctrl-C hands nothing more over, records the answers under way, then
raises :class:`KeyboardInterrupt`.

One loop over the phases, in a fixed order (records, batch entries, address moves, reads of
old members, tag changes, archives), again and again until no step is left: a step an answer
leads to waits for its phase in the next round.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import FrameType
from typing import Final, TypeVar

from ._client import (
    BATCH_LIMIT,
    FailureDetail,
    MailchimpClient,
    MemberOutcome,
    MemberResult,
    UpsertItem,
)
from ._errors import ErrorCategory, MailchimpError
from ._plan import Action, Adopt, Release, UnsubscribedNotice
from ._settle import intent_of
from ._steps import (
    COUNTS,
    Answer,
    Archived,
    Entry,
    Keep,
    Look,
    Move,
    Moved,
    Note,
    Removal,
    Step,
    Tags,
    Then,
    Write,
    after,
    fingerprint,
    start,
)
from ._store import CouplingStore, FailureInput

__all__ = ["SENDING_CATEGORIES", "Executor", "Progress"]

#: ``progress(phase, done, total)``: phases are ``read``, ``plan`` and ``push``.
Progress = Callable[[str, int, int], None]

#: The failure categories of sending (everything but the problems found before sending).
SENDING_CATEGORIES: Final = tuple(category.value for category in ErrorCategory)
#: The phases, in the order each round carries them out.
_PHASES: Final = (Note, Entry, Move, Look, Tags, Removal)

S = TypeVar("S")
R = TypeVar("R")


class Executor:
    """Sends the steps' requests, up to the client's concurrency, and records each answer."""

    def __init__(
        self,
        store: CouplingStore,
        client: MailchimpClient,
        list_id: str,
        progress: Progress,
        *,
        total: int,
    ) -> None:
        """Work on ``store`` and the audience ``list_id``; ``total`` actions to finish."""
        self.store = store
        self.client = client
        self.list_id = list_id
        self.progress = progress
        self.total = total
        self.finished = 0
        self.failures: list[FailureInput] = []
        self.counts = dict.fromkeys(COUNTS, 0)
        #: R5.3 notices learned from Mailchimp's answers in this run.
        self.notices: list[UnsubscribedNotice] = []
        self._failed_ids: set[str] = set()
        self._queues: dict[type, list[Step]] = {phase: [] for phase in _PHASES}
        #: Set by Ctrl-C: no new request is sent; the answers under way are still recorded.
        self._stopping = threading.Event()

    def execute(self, actions: Iterable[Action]) -> None:
        """Carry every action out, phase by phase, until each is finished.

        Raises:
            KeyboardInterrupt: Ctrl-C: no new request was sent after it, and the answers of
                the requests under way were recorded first.
        """
        for action in actions:
            self._queue(start(action))
        with self._interruptible():
            while any(self._queues.values()) and not self._stopping.is_set():
                for phase in _PHASES:
                    steps, self._queues[phase] = self._queues[phase], []
                    if steps and not self._stopping.is_set():
                        self._carry(phase, steps)
        if self._stopping.is_set():
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """Ctrl-C (a first SIGINT) stops sending instead of abandoning the answers under way.

        Only where Python's own handler is in place, in the main thread; a second Ctrl-C
        interrupts at once.
        """
        main = threading.current_thread() is threading.main_thread()
        if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            yield
            return

        def stop(_signum: int, _frame: FrameType | None) -> None:
            self._stopping.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def _queue(self, step: Step) -> None:
        self._queues[type(step)].append(step)

    def _carry(self, phase: type, steps: list[Step]) -> None:
        if phase is Note:  # nothing to send
            self._settle([(step, Answer(), None) for step in steps])
        elif phase is Entry:
            chunks = [steps[i : i + BATCH_LIMIT] for i in range(0, len(steps), BATCH_LIMIT)]
            for chunk, ids, results in self._parallel(chunks, self._subscribe, list):
                answered = [(s, _answer(r), r) for s, r in zip(chunk, results, strict=True)]
                self._settle(answered, ids)
        else:
            for step, ids, result in self._parallel(steps, self._send, _one):
                self._settle([(step, _answer(result), result)], ids)

    def _parallel(
        self, work: Sequence[S], call: Callable[[S], R], steps: Callable[[S], Sequence[Step]]
    ) -> Iterator[tuple[S, tuple[int, ...], R]]:
        """Run ``call`` on each item up to the concurrency; yield in the order they finish.

        R7.4: the intents of an item's steps are recorded just before it is handed to a
        sender, by this thread, one transaction per request; an item is handed over only while
        fewer than the concurrency are under way, and none after Ctrl-C. Yields each item with
        its intents' ids and its answer.
        """
        pool = ThreadPoolExecutor(max_workers=self.client.concurrency)
        todo = deque(work)
        running: dict[Future[R], tuple[S, tuple[int, ...]]] = {}

        def hand_over() -> None:
            if not todo or self._stopping.is_set():
                return
            item = todo.popleft()
            intents = [i for i in (intent_of(step) for step in steps(item)) if i is not None]
            ids = self.store.record_intents(intents) if intents else ()
            running[pool.submit(call, item)] = (item, ids)

        try:
            for _ in range(self.client.concurrency):
                hand_over()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    item, ids = running.pop(future)
                    answer = future.result()
                    hand_over()  # the next request goes out while this answer is recorded
                    yield item, ids, answer
        finally:
            # Interrupted (a store error, a second Ctrl-C): nothing more is handed over.
            pool.shutdown(wait=True, cancel_futures=True)

    # the requests ----------------------------------------------------------------------------

    def _subscribe(self, chunk: Sequence[Step]) -> list[MemberResult]:
        """One batch-subscribe call of at most 500 entries, built by the thread that sends it."""
        items = [
            UpsertItem(
                email_address=s.email_address,
                merge_fields=s.merge_fields,
                tags=s.tags,
                send_status=s.send_status,
            )
            for s in chunk
            if isinstance(s, Entry)
        ]
        return self.client.batch_upsert(self.list_id, items)

    def _send(self, step: Step) -> MemberResult:
        """The one request of a move, a read of an old member, a tag change or an archive."""
        if isinstance(step, Move):
            action = step.action
            return self.client.change_address(
                self.list_id, action.old_email_address, action.email_address, action.merge_fields
            )
        if isinstance(step, Look):
            address = step.action.old_email_address
            try:
                found = self.client.get_member(self.list_id, address)
            except MailchimpError as error:
                return MemberResult.failed(
                    step.action.email_address, FailureDetail.from_error(error)
                )
            status = found.status if found is not None else ""
            return MemberResult(email_address=address, outcome=MemberOutcome.UPDATED, status=status)
        if isinstance(step, Tags):
            return self.client.set_tags(
                self.list_id, step.action.email_address, add=step.add, remove=step.remove
            )
        assert isinstance(step, Removal)  # noqa: S101 - entries and notes never get here
        return self.client.archive(self.list_id, step.email_address)

    # the answers -----------------------------------------------------------------------------

    def _settle(
        self,
        answered: Sequence[tuple[Step, Answer, MemberResult | None]],
        intents: Sequence[int] = (),
    ) -> None:
        """Record what the answers lead to, then count: progress counts what is recorded.

        The records of one answer and the clearing of its intents (R7.4) are one transaction.
        """
        outcomes = [(step, after(step, answer), result) for step, answer, result in answered]
        with self.store.answering(intents):
            finished = self._record(outcomes)
        for _, then, _ in outcomes:
            self.notices.extend(then.notices)
            for name in then.counts:
                self.counts[name] += 1
            if then.step is not None:
                self._queue(then.step)
        for _ in range(finished):  # recorded: now it counts (issue 9.5)
            self.finished += 1
            self.progress("push", self.finished, self.total)

    def _record(self, outcomes: Sequence[tuple[Step, Then, MemberResult | None]]) -> int:
        """Write the records and failures of some answers; return how many actions finished."""
        keep = [w.record for _, then, _ in outcomes for w in then.writes if isinstance(w, Keep)]
        if keep:
            self.store.record_members(keep)
        for _, then, _ in outcomes:
            for write in then.writes:
                self._write(write)
        resolved = []
        finished = 0
        for step, then, result in outcomes:
            if then.step is not None:
                continue
            if then.failed:
                self._fail(step.action, result, then.failed)
            elif then.resolves:
                resolved.append(step.action.person_id)
            finished += 1
        # A person with a failure in this run keeps it, whatever else of theirs succeeded.
        ids = [i for i in resolved if i not in self._failed_ids]
        if ids:  # R6.3: a later success closes the person's entries about sending
            self.store.resolve_failures(ids, categories=SENDING_CATEGORIES)
        return finished

    def _write(self, write: Write) -> None:
        if isinstance(write, Moved):
            self.store.record_address_change(write.old_email_address, write.record)
        elif isinstance(write, Archived):
            self.store.record_archive(write.email_address, write.status)
        elif not isinstance(write, Keep):
            self.store.update_statuses({write.email_address.lower(): write.status})

    def _fail(self, action: Action, result: MemberResult | None, what: str) -> None:
        assert not isinstance(action, Adopt | Release)  # noqa: S101 - they send nothing
        error = result.error if result is not None else None
        error = error or FailureDetail(category=ErrorCategory.GENERIC, title="Failed")
        failure = FailureInput(
            person_id=action.person_id,
            kind=action.kind,
            action=what,
            category=error.category.value,
            title=error.title,
            email_address=action.email_address,
            status=error.status,
            detail=error.detail,
            field_errors=tuple((e.field, e.message) for e in error.field_errors),
            fingerprint=fingerprint(action),
        )
        self.store.record_failure(failure)
        self.failures.append(failure)
        self._failed_ids.add(action.person_id)


def _one(step: Step) -> Sequence[Step]:
    return (step,)


def _answer(result: MemberResult) -> Answer:
    return Answer(
        ok=result.ok,
        status=result.status,
        created=result.outcome is MemberOutcome.CREATED,
        fallback=result.fallback,
    )
