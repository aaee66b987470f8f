"""The executor's bulk phases: one round's tag changes through static segments.

Shell, beside :mod:`auditcase_mailchimp._executor`. It decides nothing: which tags go through
segments, and in which calls, comes from :mod:`auditcase_mailchimp._bulk_rules`; what each
step's result leads to stays with :func:`~auditcase_mailchimp._steps.after`. It only sends
the calls (up to the client's concurrency) and hands every step one
:class:`~auditcase_mailchimp.MemberResult`, shaped as its member-tags call's would be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ._answers import is_fatal
from ._bulk import change_segment, create_tag, find_tag, static_tags
from ._bulk_rules import TAG_THRESHOLD, SegmentCall, TagChangeOf, first_failures, tag_work
from ._client import FailureDetail, MailchimpClient, MemberOutcome, MemberResult
from ._errors import MailchimpAPIError, MailchimpError
from ._steps import Tags

__all__ = ["BulkTags"]

#: One request's failures: ``(step index, failure)``.
_Found = list[tuple[int, FailureDetail]]
#: A numbered request to send.
_Job = tuple[int, Callable[[], _Found]]
#: Runs a call on each item up to the concurrency, yielding ``(item, result)`` as they finish.
Parallel = Callable[[Sequence[_Job], Callable[[_Job], _Found]], Iterator[tuple[_Job, _Found]]]


class BulkTags:
    """Sends a round's tag changes: segment calls for busy tags, member calls for the rest.

    The tag ids are read once per run (the first round that needs them).
    """

    def __init__(
        self, client: MailchimpClient, list_id: str, *, threshold: int = TAG_THRESHOLD
    ) -> None:
        """Work on ``list_id``: tags changed for ``threshold`` members or more use segments."""
        self.client = client
        self.list_id = list_id
        self.threshold = threshold
        self._ids: dict[str, int] | None = None

    def results(self, steps: Sequence[Tags], parallel: Parallel) -> list[MemberResult]:
        """One result per step, in order: ``tags_set`` or ``failed`` with its first failure."""
        changes = [
            TagChangeOf(email_address=s.action.email_address, add=s.add, remove=s.remove)
            for s in steps
        ]
        work = tag_work(changes, threshold=self.threshold)
        jobs: list[Callable[[], _Found]] = []
        direct = list(work.direct)
        if work.segments:
            try:
                ids = self._tag_ids(work.added)
            except MailchimpError as error:
                if isinstance(error, MailchimpAPIError) and is_fatal(error):
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
        ordered = [f for number in sorted(found) for f in found[number]]
        firsts = first_failures(len(steps), ordered)
        return [
            MemberResult(email_address=change.email_address, outcome=MemberOutcome.TAGS_SET)
            if failure is None
            else MemberResult.failed(change.email_address, failure)
            for change, failure in zip(changes, firsts, strict=True)
        ]

    def _tag_ids(self, added: frozenset[str]) -> dict[str, int | FailureDetail]:
        """The id of each tag; tags to add that do not exist yet are created first."""
        if self._ids is None:
            self._ids = static_tags(self.client, self.list_id)
        ids: dict[str, int | FailureDetail] = dict(self._ids)
        for name in sorted(added):
            if find_tag(self._ids, name) is None:
                try:
                    self._ids[name] = ids[name] = create_tag(self.client, self.list_id, name)
                except MailchimpError as error:
                    if isinstance(error, MailchimpAPIError) and is_fatal(error):
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
            known = ids.get(call.tag)
            if known is None:
                known = next((v for k, v in ids.items() if k.lower() == call.tag.lower()), None)
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
