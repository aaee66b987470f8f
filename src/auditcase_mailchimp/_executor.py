"""The executor: carries a plan's steps out against Mailchimp and records each answer.

It holds no rule: what a step is, and what an answer leads to, comes from
:mod:`auditcase_mailchimp._steps`. It only sends the request a step stands for, up to the
client's concurrency, turns the answer into an :class:`~auditcase_mailchimp._steps.Answer`,
and writes what :func:`~auditcase_mailchimp._steps.after` says, one transaction per answer, so
a run killed at any moment loses nothing (R7.2). Before it hands a request to a sender it records
the request's intent (R7.4, :mod:`auditcase_mailchimp._settle`); the answer's records clear it
in the same transaction. Ctrl-C hands nothing more over, records the answers under way, then
raises :class:`KeyboardInterrupt`.

One loop of rounds until no step is left. In each round the phases (records, batch entries,
address moves, reads of old members, tag changes, archives) run side by side, the client
keeping at most its concurrency of requests in flight; a step an answer leads to waits for
the next round. Tag changes and, above a threshold, archives and address changes are sent in
bulk by :mod:`auditcase_mailchimp._executor_bulk` (segments, ``/batches``), their answers
recorded 500 at a time; many reads before archiving are answered from the audience's pages
by :mod:`auditcase_mailchimp._executor_pages` where that is quicker.
:func:`~auditcase_mailchimp._steps.after` reads every answer the same whichever way it was sent.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_EXCEPTION,
    ThreadPoolExecutor,
    wait,
)
from types import FrameType
from typing import Final, TypeVar

from ._batch_ledger import BatchLedger
from ._bulk_rules import TAG_CHUNK, TAG_THRESHOLD, TagChangeOf, chunked, in_chunks
from ._client import (
    BATCH_LIMIT,
    FailureDetail,
    MailchimpClient,
    MemberOutcome,
    MemberResult,
)
from ._client_values import trusted_upsert
from ._errors import ErrorCategory, MailchimpError
from ._executor_bulk import BatchSettings, BulkBatches, BulkTags, Stopped
from ._executor_pages import PagedReads
from ._plan import Action, Adopt, Release, UnsubscribedNotice
from ._relay import Relay
from ._run_rules import fingerprint
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
    first_step,
    start,
)
from ._store import CouplingStore, FailureInput, StoreError

__all__ = ["SENDING_CATEGORIES", "Executor", "Progress", "record_write"]

#: ``progress(phase, done, total)``: phases are ``read``, ``plan`` and ``push``.
Progress = Callable[[str, int, int], None]

#: The failure categories of sending (everything but the problems found before sending).
SENDING_CATEGORIES: Final = tuple(category.value for category in ErrorCategory)
#: The phases, in the order each round carries them out.
_PHASES: Final = (Note, Entry, Move, Look, Tags, Removal)

_BATCHES: Final = BatchSettings()

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
        tag_threshold: int | None = TAG_THRESHOLD,
        batches: BatchSettings | None = _BATCHES,
    ) -> None:
        """Work on ``store`` and the audience ``list_id``; ``total`` actions to finish.

        A tag changed for ``tag_threshold`` members or more in one round goes through
        segments (``None``: every tag change member by member); archives and address changes
        go through ``/batches`` as ``batches`` says (``None``: always direct calls).
        """
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
        #: Held while one answer is written: phases of a round settle from their own threads.
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._queues: dict[type, list[Step]] = {phase: [] for phase in _PHASES}
        #: Set by a sender whose batch-subscribe entries carry tags (they may create tags).
        self._tags_entered = False
        self._bulk_tags = (
            None if tag_threshold is None else BulkTags(client, list_id, threshold=tag_threshold)
        )
        self._batches = (
            None
            if batches is None
            else BulkBatches(client, list_id, BatchLedger(store, list_id), batches, self._stop)
        )
        self._pages = (
            None
            if batches is None or batches.page_threshold is None
            else PagedReads(client, list_id, threshold=batches.page_threshold, poll=batches.poll)
        )

    def execute(self, actions: Iterable[Action]) -> None:
        """Carry every action out, round by round, until each is finished.

        The phases of one round run side by side (issue 12.4): their steps are about different
        members, and a member's tag change after its address change is a step of the next round.
        The client keeps at most its concurrency of requests in flight, whichever phase sends.

        Raises:
            KeyboardInterrupt: Ctrl-C: no new request was sent after it, and the answers of
                the requests under way were recorded first.
        """
        # Each phase takes its first steps when it starts, and the batch-subscribe phase a
        # call's entries as the call is about to go out (issue 8: a first sync's first call
        # leaves after its own 500 entries are taken, not after every action's first step).
        firsts: dict[type, list[Action]] = {}
        for action in actions:
            firsts.setdefault(first_step(action), []).append(action)
        work: list[tuple[type, Iterable[Step]]] = [
            (phase, map(start, firsts[phase])) for phase in _PHASES if phase in firsts
        ]
        with self._interruptible():
            while work and not self._stop.is_set():
                self._round(work)
                if self._tags_entered and self._bulk_tags is not None:
                    self._bulk_tags.forget()  # the next round's tag ids include the new ones
                self._tags_entered = False
                taken, self._queues = self._queues, {phase: [] for phase in _PHASES}
                work = [(phase, taken[phase]) for phase in _PHASES if taken[phase]]
        if self._stop.is_set():  # only Ctrl-C sets it without an error of its own
            raise KeyboardInterrupt
        if self._batches is not None:  # every result of earlier runs' batches is recorded
            self._batches.finish()

    def _round(self, work: Sequence[tuple[type, Iterable[Step]]]) -> None:
        """One round: its phases side by side; the first real error stops the others."""
        if len(work) == 1:
            with contextlib.suppress(Stopped):  # Ctrl-C while a batch was awaited
                self._carry(*work[0])
            return
        errors: list[BaseException] = []
        with ThreadPoolExecutor(max_workers=len(work)) as phases:
            running = [phases.submit(self._carry, phase, steps) for phase, steps in work]
            done, _ = wait(running, return_when=FIRST_EXCEPTION)
            if any(future.exception() is not None for future in done):
                self._stop.set()  # at once: the other phases hand nothing more over
            for future in running:
                try:
                    future.result()
                except BaseException as error:  # noqa: BLE001 - re-raised below, first real one
                    self._stop.set()  # the other phases hand nothing more over
                    errors.append(error)
        real = [error for error in errors if not isinstance(error, Stopped)]
        if real:
            raise real[0]

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
            self._stop.set()
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)

    def _queue(self, step: Step) -> None:
        self._queues[type(step)].append(step)

    def _carry(self, phase: type, steps: Iterable[Step]) -> None:
        if phase is Entry:  # each call's steps taken as the call is about to go out
            chunks = in_chunks(steps, BATCH_LIMIT)
            with contextlib.closing(self._parallel(chunks, self._subscribe, _same)) as answers:
                for chunk, ids, results in answers:
                    answered = [(s, _answer(r), r) for s, r in zip(chunk, results, strict=True)]
                    self._settle(answered, ids)
            return
        steps = list(steps)
        if phase is Note:  # nothing to send
            self._settle([(step, Answer(), None) for step in steps])
        elif phase is Tags and self._bulk_tags is not None:  # issue 12: segments, per chunk
            tags = [s for s in steps if isinstance(s, Tags)]
            intents = self._intend(tags)  # R7.4 holds for bulk requests too
            changes = [
                TagChangeOf(email_address=s.action.email_address, add=s.add, remove=s.remove)
                for s in tags
            ]
            results = self._bulk_tags.results(changes, self._plain_parallel)
            self._settle_chunks(list(zip(tags, results, strict=True)), intents)
        elif phase in (Move, Look, Removal) and self._batches is not None:  # 12.2: /batches
            self._carry_batched(steps)
        else:
            self._carry_direct(steps)

    def _carry_direct(self, steps: Sequence[Step]) -> None:
        """One request per step, up to the concurrency; each answer recorded as it comes."""
        with contextlib.closing(self._parallel(steps, self._send, _one)) as answers:
            for step, ids, result in answers:
                self._settle([(step, _answer(result), result)], ids)

    def _carry_batched(self, steps: Sequence[Step]) -> None:
        """Archives, reads or moves: an earlier run's batch, a new batch, or direct calls."""
        assert self._batches is not None  # noqa: S101 - only called with batches on
        chosen = [s for s in steps if isinstance(s, Move | Look | Removal)]
        answered, rest = self._batches.resumed(chosen)
        self._settle_chunks(answered, {})
        threshold = self._batches.settings.threshold
        looks = [s for s in rest if isinstance(s, Look)]
        if looks and self._pages is not None:  # the audience's pages, where they cost less
            read, left = self._pages.answer(
                looks, self._plain_parallel, batched=len(looks) >= threshold
            )
            self._settle_chunks(read, {})
            rest = [s for s in rest if not isinstance(s, Look)] + list(left)
        if len(rest) >= threshold:
            intents = self._intend(rest)  # R7.4: recorded before the batch is sent
            sent, batch_id = self._batches.send(rest)
            self._settle_chunks(sent, intents)
            if batch_id is not None:  # every result recorded: a later run need not read it
                self._batches.ledger.forget(batch_id)
            return
        self._carry_direct(rest)

    def _intend(self, steps: Sequence[Step]) -> dict[int, tuple[int, ...]]:
        """R7.4 for steps sent in bulk: their intents, recorded now; the ids per step."""
        intents = [(step, intent_of(step)) for step in steps]
        wanted = [intent for _, intent in intents if intent is not None]
        if not wanted:
            return {}
        with self._lock:
            ids = iter(self.store.record_intents(wanted))
        return {id(step): (next(ids),) for step, intent in intents if intent is not None}

    def _settle_chunks(
        self, answered: Sequence[tuple[S, MemberResult]], intents: dict[int, tuple[int, ...]]
    ) -> None:
        """Record bulk answers 500 at a time (issue 12.3), each chunk with its intents."""
        for part in chunked(answered, TAG_CHUNK):
            ids = [i for step, _ in part for i in intents.get(id(step), ())]
            self._settle([(s, _answer(r), r) for s, r in part if isinstance(s, Step)], ids)

    def _plain_parallel(self, work: Sequence[S], call: Callable[[S], R]) -> Iterator[tuple[S, R]]:
        """:meth:`_parallel` for requests whose intents the caller recorded (bulk)."""
        with contextlib.closing(self._parallel(work, call, _no_steps)) as answers:
            for item, _ids, result in answers:
                yield item, result

    def _parallel(
        self, work: Iterable[S], call: Callable[[S], R], steps: Callable[[S], Sequence[Step]]
    ) -> Generator[tuple[S, tuple[int, ...], R], None, None]:
        """Run ``call`` on each item up to the concurrency; yield in the order they finish.

        R7.4: the intents of an item's steps are recorded before it is handed to a sender, by
        this thread, one transaction per request, while the requests under way are awaited; a
        sender that gets its answer hands the next recorded item over itself, so the next
        requests go out before earlier answers are recorded. Nothing is handed over after
        Ctrl-C, after another phase failed or after a request raised; intents recorded for
        items never sent are cleared (:class:`~auditcase_mailchimp._relay.Relay`). Yields each
        item with its intents' ids and its answer.
        """

        def record(item: S) -> tuple[int, ...]:
            intents = [i for i in map(intent_of, steps(item)) if i is not None]
            if not intents:
                return ()
            with self._lock:
                return self.store.record_intents(intents)

        def clear(ids: Sequence[int]) -> None:
            with contextlib.suppress(StoreError), self._lock, self.store.answering(ids):
                pass  # nothing was sent: the intents go, nothing is written

        relay = Relay(
            call, concurrency=self.client.concurrency, record=record, clear=clear, stop=self._stop
        )
        return relay.run(work)

    # the requests ----------------------------------------------------------------------------

    def _subscribe(self, chunk: Sequence[Step]) -> list[MemberResult]:
        """One batch-subscribe call of at most 500 entries, built by the thread that sends it.

        The answers' outcomes are worked out by the runner as it records them, not here: worked
        out here, the answers waiting to be recorded in a first sync of 100,000 held five times
        the objects, and the sync took 15.5 s of CPU against 12.6 s (the garbage collector's
        full passes 4.0 s against 2.9 s).
        """
        # The plan's entries hold checked values: the items skip the checks (issue 8: one
        # sync builds a million of them).
        items = [
            trusted_upsert(s.email_address, s.merge_fields, s.tags, send_status=s.send_status)
            for s in chunk
            if isinstance(s, Entry)
        ]
        if not self._tags_entered and any(item.tags for item in items):
            self._tags_entered = True
        return self.client.batch_upsert(self.list_id, items)

    def _send(self, step: Step) -> MemberResult:
        """The one request of a move, a read of an old member, a tag change or an archive."""
        if isinstance(step, Move):
            action = step.action
            return self.client.change_address(
                self.list_id, action.old_email_address, action.email_address, action.merge_fields
            )
        if isinstance(step, Look):
            address = step.email_address
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

        The records of one answer and the clearing of its intents (R7.4) are one transaction;
        phases of a round settle from their own threads, one at a time.
        """
        outcomes = [(step, after(step, answer), result) for step, answer, result in answered]
        if any(_maybe_done(result) for _, _, result in outcomes):
            # R7.4: no answer, or a 5xx: Mailchimp may have carried the request out. Its intent
            # stays open, so the next run reads the member back before it plans.
            intents = ()
        with self._lock:
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
                if not isinstance(write, Keep):  # recorded together above
                    record_write(self.store, write)
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


def record_write(store: CouplingStore, write: Write) -> None:
    """Record one write an answer (or a settled intent, R7.4) leads to."""
    if isinstance(write, Keep):
        store.record_members([write.record])
    elif isinstance(write, Moved):
        store.record_address_change(write.old_email_address, write.record)
    elif isinstance(write, Archived):
        store.record_archive(write.email_address, write.status)
    else:
        store.update_statuses({write.email_address.lower(): write.status})


#: Failures after which a request may still have been carried out (MAILCHIMP.md §6, §7).
_AMBIGUOUS: Final = frozenset({ErrorCategory.SERVER_ERROR, ErrorCategory.NETWORK})


def _maybe_done(result: MemberResult | None) -> bool:
    """Whether a failed request may have been carried out all the same (R7.4)."""
    error = None if result is None or result.ok else result.error
    return error is not None and error.category in _AMBIGUOUS


def _one(step: Step) -> Sequence[Step]:
    return (step,)


def _same(steps: list[Step]) -> Sequence[Step]:
    return steps


def _no_steps(_item: object) -> Sequence[Step]:
    return ()


def _answer(result: MemberResult) -> Answer:
    return Answer(
        ok=result.ok,
        status=result.status,
        created=result.outcome is MemberOutcome.CREATED,
        fallback=result.fallback,
        absent=result.outcome is MemberOutcome.ABSENT,
    )
