"""The executor's bulk phases: tag changes through segments, archives and moves by /batches.

Shell, beside :mod:`auditcase_mailchimp._executor`. It decides nothing: which tags go through
segments, and in which calls, comes from :mod:`auditcase_mailchimp._bulk_rules`; what each
step's result leads to stays with :func:`~auditcase_mailchimp._steps.after`. It only sends
the calls (up to the client's concurrency) and hands every step one
:class:`~auditcase_mailchimp.MemberResult`, shaped as its member-tags call's would be.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._answers import error_from_response, is_fatal, member_call_result
from ._batch_ledger import BatchLedger
from ._bulk import (
    address_change_result,
    batch_results,
    batch_state,
    change_segment,
    create_tag,
    find_tag,
    operation_response,
    static_tags,
    status_in,
    submit_batch,
)
from ._bulk_rules import (
    BATCH_THRESHOLD,
    TAG_THRESHOLD,
    PollPolicy,
    SegmentCall,
    TagChangeOf,
    first_failures,
    operation_id,
    tag_work,
)
from ._client import FailureDetail, MailchimpClient, MemberOutcome, MemberResult, subscriber_hash
from ._errors import ErrorCategory, MailchimpAPIError, MailchimpError
from ._steps import Look, Move, Removal

if TYPE_CHECKING:
    from ._store import CouplingStore
    from ._transport import Response

#: The steps ``/batches`` carries: address changes, reads of members, archives.
Batched = Move | Look | Removal

__all__ = ["PAGE_THRESHOLD", "BatchSettings", "BulkBatches", "BulkTags", "Stopped"]

#: One request's failures: ``(step index, failure)``.
_Found = list[tuple[int, FailureDetail]]
#: A numbered request to send.
_Job = tuple[int, Callable[[], _Found]]
#: Runs a call on each item up to the concurrency, yielding ``(item, result)`` as they finish.
Parallel = Callable[[Sequence[_Job], Callable[[_Job], _Found]], Iterator[tuple[_Job, _Found]]]


class BulkTags:
    """Sends a round's tag changes: segment calls for busy tags, member calls for the rest.

    The tag ids are read by the first round that needs them, and again after :meth:`forget`
    or when a tag to add is not among them.
    """

    def __init__(
        self, client: MailchimpClient, list_id: str, *, threshold: int = TAG_THRESHOLD
    ) -> None:
        """Work on ``list_id``: tags changed for ``threshold`` members or more use segments."""
        self.client = client
        self.list_id = list_id
        self.threshold = threshold
        self._ids: dict[str, int] | None = None

    def results(self, changes: Sequence[TagChangeOf], parallel: Parallel) -> list[MemberResult]:
        """One result per change, in order: ``tags_set`` or ``failed`` with its first failure."""
        work = tag_work(changes, threshold=self.threshold)
        jobs: list[Callable[[], _Found]] = []
        direct = list(work.direct)
        if work.segments:
            try:
                ids = self._tag_ids(work.added)
            except MailchimpError as error:
                if is_fatal(error):
                    raise
                ids = None  # the tags cannot be read: every change goes member by member
            if ids is None:
                direct = list(enumerate(changes))
            else:
                jobs += [self._segment_job(call, ids) for call in work.segments]
        jobs = [self._direct_job(index, change) for index, change in direct] + jobs
        found: dict[int, _Found] = {}
        numbered = list(enumerate(jobs))
        for (number, _job), failures in parallel(numbered, lambda item: item[1]()):
            found[number] = failures
        if len(found) < len(jobs):  # stopping: a change not sent is not done (R7.2, R7.4)
            raise Stopped
        ordered = [f for number in sorted(found) for f in found[number]]
        firsts = first_failures(len(changes), ordered)
        return [
            MemberResult(email_address=change.email_address, outcome=MemberOutcome.TAGS_SET)
            if failure is None
            else MemberResult.failed(change.email_address, failure)
            for change, failure in zip(changes, firsts, strict=True)
        ]

    def forget(self) -> None:
        """Read the tag ids again when next needed.

        The runner calls it after a round whose batch-subscribe entries carried tags: they
        create the tags they carry, perhaps after that round's read. Reading again whether or
        not the read came after them keeps a run's requests the same from one try to the next.
        """
        self._ids = None

    def _tag_ids(self, added: frozenset[str]) -> dict[str, int | FailureDetail]:
        """The id of each tag; tags to add that do not exist yet are created first."""
        # read once per run, and again when a tag to add is missing: batch-subscribe entries
        # create the tags they carry, perhaps since the last read
        if self._ids is None or any(find_tag(self._ids, name) is None for name in added):
            self._ids = static_tags(self.client, self.list_id)
        ids: dict[str, int | FailureDetail] = dict(self._ids)
        for name in sorted(added):
            if find_tag(self._ids, name) is None:
                try:
                    self._ids[name] = ids[name] = create_tag(self.client, self.list_id, name)
                except MailchimpError as error:
                    if is_fatal(error):
                        raise
                    ids[name] = FailureDetail.from_error(error)
        return ids

    def _direct_job(self, index: int, change: TagChangeOf) -> Callable[[], _Found]:
        def job() -> _Found:
            result = self.client.set_tags(
                self.list_id, change.email_address, add=change.add, remove=change.remove
            )
            return [] if result.error is None else [(index, result.error)]

        return job

    def _segment_job(
        self, call: SegmentCall, ids: dict[str, int | FailureDetail]
    ) -> Callable[[], _Found]:
        def job() -> _Found:
            known = find_tag(ids, call.tag)
            every = [*call.add, *call.remove]
            if known is None:  # no such tag: nobody carries it, nothing to remove
                return []
            if isinstance(known, FailureDetail):  # the tag could not be created
                return [(index, known) for index, _ in call.add]
            answer = change_segment(
                self.client,
                self.list_id,
                known,
                add=[address for _, address in call.add],
                remove=[address for _, address in call.remove],
            )
            if isinstance(answer, FailureDetail):
                return [(index, answer) for index, _ in every]
            return [
                (index, answer[address.lower()])
                for index, address in every
                if address.lower() in answer
            ]

        return job


# --- archives and address changes through /batches (issue 12.2) ----------------------------------


#: Reads of members in one round from which the audience's pages are tried: below it, reading
#: each member is about as quick as the two first pages alone under the latency model.
PAGE_THRESHOLD: Final = 1000


@attrs.frozen(kw_only=True)
class BatchSettings:
    """When and how archives and address changes go through ``/batches``."""

    #: A round with at least this many of one kind goes as one batch.
    threshold: int = BATCH_THRESHOLD
    poll: PollPolicy = attrs.field(factory=PollPolicy)
    #: Waits between polls; ``None``: wait on the clock, cut short when the run stops (tests
    #: pass one that waits for the fake instead).
    sleep: Callable[[float], None] | None = None
    #: A round with at least this many reads of members tries the audience's pages first
    #: (:mod:`auditcase_mailchimp._executor_pages`); ``None``: never.
    page_threshold: int | None = PAGE_THRESHOLD


class Stopped(Exception):  # noqa: N818 - not an error: another part of the run failed first
    """The run is stopping (another phase failed, or Ctrl-C): nothing more is sent or awaited."""


#: What a batch result can fail with when it is missing or the batch never finished.
_NOT_FINISHED: Final = FailureDetail(
    category=ErrorCategory.SERVER_ERROR,
    title="Batch not finished",
    detail="Mailchimp had not finished the batch by the deadline; the next run reads it",
    retryable=True,
)
_NO_RESULT: Final = FailureDetail(
    category=ErrorCategory.SERVER_ERROR,
    title="No answer for this operation",
    detail="The batch's results do not mention this operation",
    retryable=True,
)
_GONE: Final = 404
#: Times the results are fetched, each after reading the batch for a fresh URL.
_FETCHES: Final = 3


class BulkBatches:
    """Sends a round's archives or address changes as one ``/batches`` request and reads it.

    A batch id is recorded in the coupling database before the first poll; a later run finds
    it there, polls the same batch and takes its results for the same operations instead of
    sending them again (R7.2).
    """

    def __init__(
        self,
        client: MailchimpClient,
        list_id: str,
        ledger: BatchLedger,
        settings: BatchSettings,
        stop: threading.Event | None = None,
    ) -> None:
        """Work on ``list_id``, recording batch ids in ``ledger``; ``stop`` ends the waits."""
        self.client = client
        self._stop = stop or threading.Event()
        self.list_id = list_id
        self.ledger = ledger
        self.settings = settings
        self._resumed: dict[str, dict[str, Any]] | None = None
        self._read: list[str] = []
        self._lock = threading.Lock()

    @staticmethod
    def operation_id(step: Batched) -> str:
        """The operation id of a step (:func:`~auditcase_mailchimp._bulk_rules.operation_id`)."""
        if isinstance(step, Move):
            action = step.action
            return operation_id("move", action.person_id, action.old_email_address)
        if isinstance(step, Look):
            return operation_id("read", step.action.person_id, step.email_address)
        return operation_id("archive", step.action.person_id, step.email_address)

    def resumed(
        self, steps: Sequence[Batched]
    ) -> tuple[list[tuple[Batched, MemberResult]], list[Batched]]:
        """The steps a batch of an earlier run carried out, with their results; the rest."""
        with self._lock:  # the address changes and the archives of a round ask at once
            if self._resumed is None:
                self._resumed = {}
                for batch_id in self.ledger.pending():
                    results = self._wait_and_read(batch_id)
                    if results is not None:  # unfinished still: it stays for a later run
                        self._resumed.update(results)
                        self._read.append(batch_id)
            keys = [self.operation_id(step) for step in steps]
            found = {key: self._resumed.pop(key, None) for key in keys}
        done, rest = [], []
        for step, key in zip(steps, keys, strict=True):
            result = found[key]
            if result is None:
                rest.append(step)
            else:
                done.append((step, self._result(step, result)))
        return done, rest

    def drain(self) -> list[str]:
        """Wait for the batches earlier runs left, then forget them (R7.2, R7.4).

        Called under the run lock before the open intents are settled: once a batch has
        finished, reading its members back tells what it did, so its results are never taken
        for requests of a later run (an operation id names a person and an address, the same
        in every run). A batch Mailchimp no longer knows is forgotten too.

        Returns:
            The ids of the batches still unfinished at the deadline; they stay recorded.
        """
        unfinished = []
        for batch_id in self.ledger.pending():
            if self._finished_now(batch_id) or self._poll(batch_id) is not None:
                self.ledger.forget(batch_id)
            else:
                unfinished.append(batch_id)
        return unfinished

    def _finished_now(self, batch_id: str) -> bool:
        """One look before the first wait: a killed run's batch has usually finished."""
        try:
            state = batch_state(self.client, batch_id)
        except MailchimpAPIError as error:
            if is_fatal(error):
                raise
            return error.status == _GONE
        except MailchimpError:
            return False
        return state.get("status") == "finished"

    def finish(self) -> None:
        """Forget earlier runs' batches: their results are recorded (or not needed) by now."""
        for batch_id in self._read:
            self.ledger.forget(batch_id)
        self._read = []

    def send(
        self, steps: Sequence[Batched]
    ) -> tuple[list[tuple[Batched, MemberResult]], str | None]:
        """Send the steps as one batch, wait for it, and read each step's result.

        Returns:
            Each step's result, and the batch id to forget once they are recorded (``None``
            when there is nothing to forget: not sent, or not finished and kept for next run).
        """
        operations = [self._operation(step) for step in steps]
        try:
            batch_id = submit_batch(self.client, operations)
        except MailchimpError as error:
            if is_fatal(error):
                raise
            detail = FailureDetail.from_error(error)
            return [(step, self._failed(step, detail)) for step in steps], None
        self.ledger.remember(batch_id)  # before polling: a killed run polls the same batch
        results = self._wait_and_read(batch_id)
        if results is None:  # not finished by the deadline: it stays recorded for next run
            return [(step, self._failed(step, _NOT_FINISHED)) for step in steps], None
        answered = [
            (step, self._result(step, results.get(self.operation_id(step)))) for step in steps
        ]
        return answered, batch_id

    # --- internals ---------------------------------------------------------------------------

    def _operation(self, step: Batched) -> dict[str, Any]:
        if isinstance(step, Move):
            action = step.action
            body = {
                "email_address": action.email_address,
                "merge_fields": dict(action.merge_fields),
            }
            old = subscriber_hash(action.old_email_address)
            return {
                "method": "PATCH",
                "path": f"/lists/{self.list_id}/members/{old}",
                "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
                "operation_id": self.operation_id(step),
            }
        return {
            "method": "GET" if isinstance(step, Look) else "DELETE",
            "path": f"/lists/{self.list_id}/members/{subscriber_hash(step.email_address)}",
            "operation_id": self.operation_id(step),
        }

    @staticmethod
    def _address(step: Batched) -> str:
        return step.action.email_address if isinstance(step, Move) else step.email_address

    def _failed(self, step: Batched, detail: FailureDetail) -> MemberResult:
        return MemberResult.failed(self._address(step), detail)

    def _result(self, step: Batched, result: Mapping[str, Any] | None) -> MemberResult:
        """An operation's result read as the direct request's answer would be."""
        if result is None:
            return self._failed(step, _NO_RESULT)
        response = operation_response(result)
        if isinstance(step, Move):
            return address_change_result(response, step.action.email_address)
        if isinstance(step, Look):
            return read_result(response, step)
        return member_call_result(
            response,
            step.email_address,
            done=MemberOutcome.ARCHIVED,
            status="archived",
            absent_ok=True,
            removal=True,
        )

    def _wait_and_read(self, batch_id: str) -> dict[str, dict[str, Any]] | None:
        """Poll until the batch is finished; its results by operation id (``None``: not yet)."""
        state = self._poll(batch_id)
        if state is None:
            return None
        for _ in range(_FETCHES):
            url = str((state or {}).get("response_body_url") or "")
            try:
                results = batch_results(self.client, url) if url else None
            except MailchimpError:
                results = None
            if results is not None:
                return {str(r.get("operation_id")): r for r in results if r.get("operation_id")}
            try:  # the URL expires after 10 minutes: read the batch again for a fresh one
                state = batch_state(self.client, batch_id)
            except MailchimpError:
                state = {}
        return {}

    def _poll(self, batch_id: str) -> dict[str, Any] | None:
        """The finished batch (``{}`` when it is gone), or ``None`` after the deadline."""
        for wait in self.settings.poll.waits():
            if self.settings.sleep is None:
                self._stop.wait(wait)
            else:
                self.settings.sleep(wait)
            if self._stop.is_set():  # the batch stays recorded: the next run reads it
                raise Stopped
            try:
                state = batch_state(self.client, batch_id)
            except MailchimpAPIError as error:
                if is_fatal(error):
                    raise
                if error.status == _GONE:  # older than 7 days, or stopped: nothing to take
                    return {}
                continue
            except MailchimpError:
                continue
            if state.get("status") == "finished":
                return state
        return None


def read_result(response: Response, step: Look) -> MemberResult:
    """A read of a member (``GET``), as the direct call's answer reads: its status, or none.

    A member Mailchimp does not know (404) has no status (``""``), as a direct read's ``None``.

    Raises:
        AuthenticationError: The key is refused.
        AudienceNotFoundError: No such audience.
    """
    if response.status < 300:  # noqa: PLR2004
        return MemberResult(
            email_address=step.email_address,
            outcome=MemberOutcome.UPDATED,
            status=status_in(response),
        )
    if response.status == 404:  # noqa: PLR2004
        return MemberResult(email_address=step.email_address, outcome=MemberOutcome.UPDATED)
    error = error_from_response(response, audience_level=False)
    if is_fatal(error):
        raise error
    return MemberResult.failed(step.action.email_address, FailureDetail.from_error(error))


def drain_batches(
    store: CouplingStore, client: MailchimpClient, list_id: str, settings: BatchSettings
) -> list[str]:
    """Wait for the ``/batches`` earlier runs left on ``list_id`` and forget them.

    See :meth:`BulkBatches.drain`; call it under the run lock, before settling open intents.

    Returns:
        The ids of the batches still unfinished at the poll deadline (they stay recorded).
    """
    return BulkBatches(client, list_id, BatchLedger(store, list_id), settings).drain()
