"""The executor: carries a plan's steps out against Mailchimp and records each answer.

It holds no rule: what a step is, and what an answer leads to, comes from
:mod:`auditcase_mailchimp._steps`. It only sends the request a step stands for, up to the
client's concurrency, turns the answer into an :class:`~auditcase_mailchimp._steps.Answer`,
and writes what :func:`~auditcase_mailchimp._steps.after` says, one transaction per answer, so
a run killed at any moment loses nothing (R7.2).

One loop of rounds until no step is left. In each round the phases (records, batch entries,
address moves, reads of old members, tag changes, archives) run side by side, the client
keeping at most its concurrency of requests in flight; a step an answer leads to waits for
the next round. Tag changes and, above a threshold, archives and address changes are sent in
bulk by :mod:`auditcase_mailchimp._executor_bulk` (segments, ``/batches``), their answers
recorded 500 at a time; :func:`~auditcase_mailchimp._steps.after` reads every answer the same
whichever way it was sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Final, TypeVar

from ._batch_ledger import BatchLedger
from ._bulk_rules import TAG_CHUNK, TAG_THRESHOLD, TagChangeOf, chunked
from ._client import (
    BATCH_LIMIT,
    FailureDetail,
    MailchimpClient,
    MemberOutcome,
    MemberResult,
    UpsertItem,
)
from ._errors import ErrorCategory, MailchimpError
from ._executor_bulk import BatchSettings, BulkBatches, BulkTags, Stopped
from ._plan import Action, Adopt, Release, UnsubscribedNotice
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
        self._bulk_tags = (
            None if tag_threshold is None else BulkTags(client, list_id, threshold=tag_threshold)
        )
        self._batches = (
            None
            if batches is None
            else BulkBatches(client, list_id, BatchLedger(store, list_id), batches, self._stop)
        )

    def execute(self, actions: Iterable[Action]) -> None:
        """Carry every action out, round by round, until each is finished.

        The phases of one round run side by side (issue 12.4): their steps are about different
        members, and a member's tag change after its address change is a step of the next round.
        The client keeps at most its concurrency of requests in flight, whichever phase sends.
        """
        for action in actions:
            self._queue(start(action))
        while any(self._queues.values()):
            taken = [(phase, self._queues[phase]) for phase in _PHASES]
            self._queues = {phase: [] for phase in _PHASES}
            work = [(phase, steps) for phase, steps in taken if steps]
            if len(work) == 1:
                self._carry(*work[0])
                continue
            with ThreadPoolExecutor(max_workers=len(work)) as phases:
                running = [phases.submit(self._carry, phase, steps) for phase, steps in work]
                try:
                    for future in running:
                        future.result()
                except BaseException:
                    self._stop.set()  # the other phases send nothing more
                    raise
        if self._batches is not None:  # every result of earlier runs' batches is recorded
            self._batches.finish()

    def _queue(self, step: Step) -> None:
        self._queues[type(step)].append(step)

    def _carry(self, phase: type, steps: list[Step]) -> None:
        if phase is Note:  # nothing to send
            self._settle([(step, Answer(), None) for step in steps])
        elif phase is Entry:
            chunks = [steps[i : i + BATCH_LIMIT] for i in range(0, len(steps), BATCH_LIMIT)]
            for chunk, results in self._parallel(chunks, self._subscribe):
                self._settle([(s, _answer(r), r) for s, r in zip(chunk, results, strict=True)])
        elif phase is Tags and self._bulk_tags is not None:  # issue 12: segments, per chunk
            tags = [s for s in steps if isinstance(s, Tags)]
            changes = [
                TagChangeOf(email_address=s.action.email_address, add=s.add, remove=s.remove)
                for s in tags
            ]
            results = self._bulk_tags.results(changes, self._parallel)
            answered = list(zip(tags, results, strict=True))
            for part in chunked(answered, TAG_CHUNK):
                self._settle([(s, _answer(r), r) for s, r in part])
        elif phase in (Move, Removal) and self._batches is not None:  # issue 12.2: /batches
            self._carry_batched(steps)
        else:
            for step, result in self._parallel(steps, self._send):
                self._settle([(step, _answer(result), result)])

    def _carry_batched(self, steps: list[Step]) -> None:
        """Archives or address changes: an earlier run's batch, a new batch, or direct calls."""
        assert self._batches is not None  # noqa: S101 - only called with batches on
        chosen = [s for s in steps if isinstance(s, Move | Removal)]
        answered, rest = self._batches.resumed(chosen)
        batch_id = None
        if len(rest) >= self._batches.settings.threshold:
            sent, batch_id = self._batches.send(rest)
            answered += sent
            rest = []
        for part in chunked(answered, TAG_CHUNK):  # one transaction per chunk (issue 12.3)
            self._settle([(s, _answer(r), r) for s, r in part])
        if batch_id is not None:  # every result recorded: a later run need not read it
            self._batches.ledger.forget(batch_id)
        for step, result in self._parallel(rest, self._send):
            self._settle([(step, _answer(result), result)])

    def _parallel(self, work: Sequence[S], call: Callable[[S], R]) -> Iterator[tuple[S, R]]:
        """Run ``call`` on each item up to the concurrency; yield in the order they finish."""
        pool = ThreadPoolExecutor(max_workers=self.client.concurrency)
        try:
            futures: dict[Future[R], S] = {pool.submit(call, item): item for item in work}
            for future in as_completed(futures):
                if self._stop.is_set():
                    raise Stopped
                yield futures[future], future.result()
        finally:
            # Interrupted (Ctrl-C, a store error): the requests not yet started are not sent.
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

    def _settle(self, answered: Sequence[tuple[Step, Answer, MemberResult | None]]) -> None:
        """Write what the answers lead to: the records of one answer in one transaction."""
        with self._lock:
            self._settle_now(answered)

    def _settle_now(self, answered: Sequence[tuple[Step, Answer, MemberResult | None]]) -> None:
        outcomes = [(step, after(step, answer), result) for step, answer, result in answered]
        keep = [w.record for _, then, _ in outcomes for w in then.writes if isinstance(w, Keep)]
        if keep:
            self.store.record_members(keep)
        for _, then, _ in outcomes:
            for write in then.writes:
                self._write(write)
        resolved = []
        for step, then, result in outcomes:
            self.notices.extend(then.notices)
            for name in then.counts:
                self.counts[name] += 1
            if then.step is not None:
                self._queue(then.step)
                continue
            if then.failed:
                self._fail(step.action, result, then.failed)
            elif then.resolves:
                resolved.append(step.action.person_id)
            self.finished += 1
            self.progress("push", self.finished, self.total)
        # A person with a failure in this run keeps it, whatever else of theirs succeeded.
        ids = [i for i in resolved if i not in self._failed_ids]
        if ids:  # R6.3: a later success closes the person's entries about sending
            self.store.resolve_failures(ids, categories=SENDING_CATEGORIES)

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


def _answer(result: MemberResult) -> Answer:
    return Answer(
        ok=result.ok,
        status=result.status,
        created=result.outcome is MemberOutcome.CREATED,
        fallback=result.fallback,
        absent=result.outcome is MemberOutcome.ABSENT,
    )
