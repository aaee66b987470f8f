"""The rules of sending in bulk: which tag changes go through segments, and in what calls.

Pure core, like :mod:`auditcase_mailchimp._steps`: values in, a value out; no I/O, no clock.
Bulk sending changes only *how* a plan is sent, never *what* is decided (issue 12): the steps
and :func:`~auditcase_mailchimp._steps.after` stay as they are; this module only groups the
requests and hands each step one result.

- Tag changes of existing members (MAILCHIMP.md §3): a tag that this round adds to or removes
  from at least :data:`TAG_THRESHOLD` members goes through the static-segment endpoint
  (``POST /lists/{id}/segments/{tag_id}``), at most :data:`TAG_CHUNK` addresses to add and as
  many to remove per call; the other tags of a step stay in its own member-tags call
  (:func:`tag_work`).
- A step with several parts (its own call and some segment calls) succeeds when every part
  does; else it fails with its first failure (:func:`first_failures`).
- Archives and address changes (MAILCHIMP.md §5.2): a round with at least
  :data:`BATCH_THRESHOLD` of one kind goes as one ``/batches`` request, each operation's
  ``operation_id`` naming the person (:func:`operation_id`); the batch is polled as Mailchimp
  advises, from about 5 s, backing off, up to a deadline (:class:`PollPolicy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Final, TypeVar

import attrs

__all__ = [
    "BATCH_THRESHOLD",
    "TAG_CHUNK",
    "TAG_THRESHOLD",
    "PollPolicy",
    "SegmentCall",
    "TagChangeOf",
    "TagWork",
    "chunked",
    "first_failures",
    "in_chunks",
    "operation_id",
    "tag_work",
]

#: Addresses to add, and to remove, per segment call (Mailchimp's limit, MAILCHIMP.md §3).
TAG_CHUNK: Final = 500
#: A tag changed for fewer members than this in one round keeps the member-tags calls: up to
#: 10 of them go out in one round of parallel requests (22-28 ms under the benchmark's latency
#: model) and finish before the read of the tag ids plus a segment call (43 ms); from 11 on
#: they need a second round (46 ms and more) and the segment call wins in time and requests
#: (measured in ``docs/explanation/performance.md``).
TAG_THRESHOLD: Final = 11

#: A round with at least this many archives, or address changes, sends them as one
#: ``/batches`` request. Below it direct calls finish sooner: ten at a time they take about
#: 2.5 ms each under the benchmark's latency model, so 2,000 of them about 5 s, the first poll
#: of a batch (measured in ``docs/explanation/performance.md``).
BATCH_THRESHOLD: Final = 2000

T = TypeVar("T")
F = TypeVar("F")


@attrs.frozen(kw_only=True)
class TagChangeOf:
    """The tag change of one step: the member's address, the tags to add and to remove."""

    email_address: str
    add: frozenset[str]
    remove: frozenset[str]


@attrs.frozen(kw_only=True)
class SegmentCall:
    """One call of the static-segment endpoint for one tag: ``(step index, address)`` pairs."""

    tag: str
    add: tuple[tuple[int, str], ...] = ()
    remove: tuple[tuple[int, str], ...] = ()


@attrs.frozen(kw_only=True)
class TagWork:
    """How one round's tag changes are sent."""

    #: The member-tags calls still needed: ``(step index, change)``, with only the tags that
    #: do not go through a segment.
    direct: tuple[tuple[int, TagChangeOf], ...]
    #: The segment calls, by tag (sorted) and chunk.
    segments: tuple[SegmentCall, ...]

    @property
    def tags(self) -> frozenset[str]:
        """The tags sent through segments (their ids are needed)."""
        return frozenset(call.tag for call in self.segments)

    @property
    def added(self) -> frozenset[str]:
        """The tags that segment calls add to members (a missing one is created first)."""
        return frozenset(call.tag for call in self.segments if call.add)


def chunked(items: Iterable[T], size: int) -> list[list[T]]:
    """``items`` in consecutive lists of at most ``size`` (none for no items)."""
    return list(in_chunks(items, size))


def in_chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """:func:`chunked`, each list made only when it is taken (``items`` read as far as that)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def tag_work(
    changes: Sequence[TagChangeOf], *, threshold: int = TAG_THRESHOLD, chunk: int = TAG_CHUNK
) -> TagWork:
    """Group one round's tag changes by tag: segment calls for busy tags, member calls else.

    Args:
        changes: One change per step, in the order of the steps.
        threshold: A tag changed for at least this many members goes through segments.
        chunk: At most this many addresses to add, and to remove, per segment call.

    Returns:
        The member calls (with the remaining tags of each step) and the segment calls.
    """
    users: dict[str, int] = {}
    for change in changes:
        for tag in change.add | change.remove:
            users[tag] = users.get(tag, 0) + 1
    bulk = {tag for tag, count in users.items() if count >= threshold}
    direct: list[tuple[int, TagChangeOf]] = []
    adds: dict[str, list[tuple[int, str]]] = {tag: [] for tag in bulk}
    removes: dict[str, list[tuple[int, str]]] = {tag: [] for tag in bulk}
    for index, change in enumerate(changes):
        rest = attrs.evolve(change, add=change.add - bulk, remove=change.remove - bulk)
        if rest.add or rest.remove:
            direct.append((index, rest))
        for tag in change.add & bulk:
            adds[tag].append((index, change.email_address))
        for tag in change.remove & bulk:
            removes[tag].append((index, change.email_address))
    calls: list[SegmentCall] = []
    for tag in sorted(bulk):
        add_parts, remove_parts = chunked(adds[tag], chunk), chunked(removes[tag], chunk)
        calls.extend(
            SegmentCall(
                tag=tag,
                add=tuple(add_parts[number]) if number < len(add_parts) else (),
                remove=tuple(remove_parts[number]) if number < len(remove_parts) else (),
            )
            for number in range(max(len(add_parts), len(remove_parts)))
        )
    return TagWork(direct=tuple(direct), segments=tuple(calls))


def first_failures(count: int, failures: Iterable[tuple[int, F]]) -> list[F | None]:
    """Each step's first failure among its parts, ``None`` for a step whose parts all succeeded.

    Args:
        count: The number of steps.
        failures: ``(step index, failure)`` for each failed part, in the order they count.

    Returns:
        One entry per step.
    """
    found: list[F | None] = [None] * count
    for index, failure in failures:
        if found[index] is None:
            found[index] = failure
    return found


def operation_id(what: str, person_id: str, email_address: str) -> str:
    """The ``operation_id`` of a batch operation: what it does, for whom, to which address.

    Equal for the same operation of a later run, so a resumed run finds a killed run's result.
    """
    return f"{what} {email_address.strip().lower()} person {person_id}"


@attrs.frozen(kw_only=True)
class PollPolicy:
    """How a batch is polled (MAILCHIMP.md §5.2): start about 5 s, back off, give up at last."""

    #: The wait before the first poll, in seconds (more than 0).
    start: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    #: Each wait is this many times the one before ...
    factor: float = 1.5
    #: ... up to this many seconds.
    longest: float = 60.0
    #: No poll is started later than this many seconds after the batch was submitted.
    deadline: float = 3600.0

    def waits(self) -> list[float]:
        """The waits before each poll, their sum within the deadline."""
        waits: list[float] = []
        wait, total = self.start, 0.0
        while total + wait <= self.deadline:
            waits.append(wait)
            total += wait
            wait = min(wait * self.factor, self.longest)
        return waits
