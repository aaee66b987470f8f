"""The reads before archiving from the audience's pages, when that costs less (issue 12.2).

Shell, beside :mod:`auditcase_mailchimp._executor_bulk`. Every archive first reads its member
(a :class:`~auditcase_mailchimp._steps.Look`: the status at archiving is Mailchimp's, R4.3,
R4.5, R5.3). Many reads at once cost less as the audience's member list, ``count=1000`` a page
and only address and status, than as one read per member (by ``/batches`` or directly). The
first page of each list (unfiltered, and ``status=archived``: the unfiltered list need not
hold archived members, MAILCHIMP.md §2.4) tells how many pages there are; the rest are read
only when, under the latency model, that finishes sooner than the reads per member
(:func:`pages_cheaper`).

A read answers exactly as a read of the one member would: a member met in a page has the
status shown there. A member not met, or met with two statuses (it changed while the pages
were read), is read on its own as before, so "not in the audience" is only ever Mailchimp's
answer about that one address, never a member slipping between two pages.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Final

from ._answers import is_fatal
from ._bulk_rules import PollPolicy
from ._client import PAGE_SIZE, MailchimpClient, MemberOutcome, MemberResult
from ._errors import MailchimpError
from ._executor_bulk import Stopped
from ._models import MemberStatus, address_key
from ._steps import Look

if TYPE_CHECKING:
    from ._mailchimp_wire import WireMemberPage

__all__ = ["PagedReads", "pages_cheaper"]

#: The latency model the choice is made under (the benchmark's): seconds per request, and
#: per member named in it; a page counts as naming all its members.
REQUEST_SECONDS: Final = 0.020
MEMBER_SECONDS: Final = 0.001
_FIELDS: Final = "members.email_address,members.status,total_items"

#: A page to read: its ``status`` filter (``None``: unfiltered) and offset.
_Page = tuple[str | None, int]
#: Runs a call on each item up to the concurrency, yielding ``(item, result)`` as they finish.
Parallel = Callable[
    [Sequence[_Page], Callable[[_Page], "WireMemberPage | None"]],
    Iterator[tuple[_Page, "WireMemberPage | None"]],
]


def pages_cheaper(
    reads: int, pages: int, *, concurrency: int, batched: bool, poll: PollPolicy
) -> bool:
    """Whether reading ``pages`` more pages finishes before ``reads`` reads of one member each.

    Under the latency model, pages of 1,000 members each go ``concurrency`` at a time; the
    reads go the way they would otherwise: one ``/batches`` request, whose operations take
    their time and whose end is seen at a poll (then its results are fetched), or one
    request each, ``concurrency`` at a time.

    Args:
        reads: The reads of one member still to make.
        pages: The pages still to read.
        concurrency: Requests in flight at once.
        batched: Whether the reads would go through ``/batches``.
        poll: How a batch is polled.

    Returns:
        ``True`` when the pages finish sooner.
    """
    paged = math.ceil(pages / concurrency) * (REQUEST_SECONDS + PAGE_SIZE * MEMBER_SECONDS)
    if batched:
        work = REQUEST_SECONDS + reads * MEMBER_SECONDS
        seen = next((t for t in accumulate(poll.waits()) if t >= work), work)
        each = seen + REQUEST_SECONDS
    else:
        each = math.ceil(reads / concurrency) * (REQUEST_SECONDS + MEMBER_SECONDS)
    return paged < each


class PagedReads:
    """Answers a round's reads of members from the audience's pages, where that costs less."""

    def __init__(
        self,
        client: MailchimpClient,
        list_id: str,
        *,
        threshold: int,
        poll: PollPolicy,
    ) -> None:
        """Read ``list_id``'s pages for ``threshold`` reads or more in a round."""
        self.client = client
        self.list_id = list_id
        self.threshold = threshold
        self.poll = poll

    def answer(
        self, looks: Sequence[Look], parallel: Parallel, *, batched: bool
    ) -> tuple[list[tuple[Look, MemberResult]], list[Look]]:
        """The reads the pages answer, each as a read of that member would; the rest.

        Args:
            looks: The round's reads.
            parallel: Runs the page reads up to the concurrency (stops with the run).
            batched: Whether the reads left would go through ``/batches`` (for the choice).

        Returns:
            The answered reads with their results, and the reads to make one by one.

        Raises:
            Stopped: The run stopped while the pages were read.
            AuthenticationError: The key is refused.
            AudienceNotFoundError: No such audience.
        """
        if len(looks) < self.threshold:
            return [], list(looks)
        statuses: dict[str, str] = {}
        changed: set[str] = set()
        firsts: list[_Page] = [(None, 0), (MemberStatus.ARCHIVED, 0)]
        read = self._read(parallel, firsts, statuses, changed)
        rest: list[_Page] = []
        for status, _ in firsts:
            first = read[status, 0]
            total = 0 if first is None else first.total_items  # unread: one by one
            rest += [(status, offset) for offset in range(PAGE_SIZE, total, PAGE_SIZE)]
        unread = sum(1 for look in looks if _key(look) not in statuses)
        if rest and unread and self._cheaper(unread, len(rest), batched=batched):
            self._read(parallel, rest, statuses, changed)
        answered, left = [], []
        for look in looks:
            key = _key(look)
            if key in statuses and key not in changed:
                found = MemberResult(
                    email_address=look.email_address,
                    outcome=MemberOutcome.UPDATED,
                    status=statuses[key],
                )
                answered.append((look, found))
            else:
                left.append(look)
        return answered, left

    def _cheaper(self, reads: int, pages: int, *, batched: bool) -> bool:
        return pages_cheaper(
            reads,
            pages,
            concurrency=self.client.concurrency,
            batched=batched,
            poll=self.poll,
        )

    def _read(
        self,
        parallel: Parallel,
        pages: Sequence[_Page],
        statuses: dict[str, str],
        changed: set[str],
    ) -> dict[_Page, WireMemberPage | None]:
        """Read ``pages`` into ``statuses``; a member met with two statuses goes to ``changed``.

        A page that cannot be read (after the client's retries) is left out: its members are
        then read one by one.
        """
        read = dict(parallel(pages, self._page))
        if len(read) < len(pages):  # stopping: what was read is not the whole audience
            raise Stopped
        for page in read.values():
            for member in page.members if page is not None else ():
                key = address_key(member.email_address)
                if statuses.setdefault(key, member.status) != member.status:
                    changed.add(key)
        return read

    def _page(self, page: _Page) -> WireMemberPage | None:
        try:
            return self.client._member_page(self.list_id, page, _FIELDS)  # noqa: SLF001
        except MailchimpError as error:
            if is_fatal(error):
                raise
            return None


def _key(look: Look) -> str:
    return address_key(look.email_address)
