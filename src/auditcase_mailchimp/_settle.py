"""R7.4: intents before sending, and settling those an unfinished run left open.

Pure core: values in, a value out; no I/O, no clock. The executor records an :class:`Intent`
for each request it is about to send (:func:`intent_of`) and clears it with the answer's
records. A run that finds intents left open (the process was killed, the machine lost power)
reads back exactly those members and asks :func:`settle` what to record, before it plans:

- a member an open entry or tag change may have created or changed, and that Mailchimp holds
  live, is recorded as managed for the intent's person, with Mailchimp's names and status;
  the tags it holds that the coupling set before, or that the intent added or was removing,
  are managed (so an unwanted member is archived by the plan, R4.1, and an unwanted tag
  removed, R4.4);
- an address move Mailchimp carried out (the new address live, the old one gone) moves the
  record to the new address (R5.4);
- an archive Mailchimp carried out (the member archived or gone) marks the record archived,
  keeping its status at archive (R4.3);
- anything Mailchimp did not carry out leaves the records as they are: the plan sends it
  again.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from ._models import Coupling, CurrentMember, MemberStatus, PersonKind, address_key
from ._plan import ChangeAddress, Upsert
from ._steps import Archived, Entry, Keep, Look, Move, Moved, Note, Step, Tags

__all__ = [
    "STEPS",
    "Intent",
    "IntentStep",
    "Settled",
    "intent_keys",
    "intent_of",
    "read_in_pages",
    "settle",
]


class IntentStep(enum.StrEnum):
    """The kind of request an intent stands for; equal to its plain string value."""

    #: A batch-subscribe entry.
    ENTRY = "entry"
    #: An address change.
    MOVE = "move"
    #: A member-tags call.
    TAGS = "tags"
    #: An archive (``DELETE``).
    ARCHIVE = "archive"


#: The kinds of request, as the coupling database's ``CHECK`` on ``intent.step`` lists them.
STEPS: Final = tuple(step.value for step in IntentStep)
#: Per-address reads cost about this share of a page of the audience read (1000 members).
_PAGE_COST: Final = 10
_PAGE: Final = 1000

#: Steps that send nothing to change: a note and a read.
_SILENT: Final = (Note, Look)
_NONE: Final[frozenset[str]] = frozenset()

#: What settling records: a record kept, moved or archived.
Settled = Keep | Moved | Archived


@attrs.frozen(kw_only=True)
class Intent:
    """A request the coupling was about to send, recorded before sending it (R7.4)."""

    #: The person the request is for.
    person_id: str
    #: That person's kind.
    kind: PersonKind
    #: ``entry`` (a batch-subscribe entry), ``move`` (an address change), ``tags`` or
    #: ``archive``.
    step: str
    #: The attempt as the failure overview names it (``create``, ``update``,
    #: ``change_address``, ``tags`` or ``archive``).
    action: str
    #: The lower-cased address the request is about (the new one of a move).
    key: str
    #: For an address change, the lower-cased old address; ``""`` otherwise.
    old_key: str = ""
    #: Tags the request sets.
    tags_add: frozenset[str] = frozenset()
    #: Managed tags the request removes.
    tags_remove: frozenset[str] = frozenset()
    #: For an archive, the member's status before it (kept at archive, R4.3); else ``""``.
    status: str = ""
    #: The database's id of the intent (``0`` before it is recorded).
    id: int = 0


def intent_of(step: Step) -> Intent | None:
    """The intent of the request a step sends; ``None`` for a step that changes nothing.

    Args:
        step: The step about to be carried out.

    Returns:
        The intent, or ``None`` for a :class:`~auditcase_mailchimp._steps.Note` (nothing is
        sent) and a :class:`~auditcase_mailchimp._steps.Look` (a read).
    """
    if isinstance(step, _SILENT):
        return None
    action = step.action
    old = address_key(action.old_email_address) if isinstance(action, ChangeAddress) else ""
    add: frozenset[str] = _NONE
    remove: frozenset[str] = _NONE
    status = ""
    if isinstance(step, Entry):
        what, key, add = IntentStep.ENTRY, address_key(step.email_address), step.tags
        if old:
            attempt = "change_address"
        else:
            attempt = "create" if isinstance(action, Upsert) and action.create else "update"
    elif isinstance(step, Move):
        what, attempt, key = IntentStep.MOVE, "change_address", action.key
    elif isinstance(step, Tags):
        what, attempt, key, add, remove = IntentStep.TAGS, "tags", action.key, step.add, step.remove
    else:
        what, key, status = IntentStep.ARCHIVE, address_key(step.email_address), step.status
        attempt, old = ("change_address" if old else "archive"), ""
    return Intent(
        person_id=action.person_id, kind=action.kind, step=what, action=attempt, key=key,
        old_key=old, tags_add=add, tags_remove=remove, status=status,
    )  # fmt: skip


def intent_keys(intents: Iterable[Intent]) -> list[str]:
    """The lower-cased addresses to read back to settle these intents, each once, in order."""
    keys: dict[str, None] = {}
    for intent in intents:
        keys[intent.key] = None
        if intent.old_key:
            keys[intent.old_key] = None
    return list(keys)


def read_in_pages(keys: int, records: int) -> bool:
    """Whether reading the whole audience in pages is cheaper than reading each address.

    Args:
        keys: How many addresses are to be read back.
        records: How many records the coupling database holds (the audience's size, roughly).

    Returns:
        ``True`` when the pages are fewer requests than the addresses, at
        :data:`_PAGE_COST` address reads per page (live and archived pages both).
    """
    pages = 2 * (records // _PAGE + 1)
    return keys > pages * _PAGE_COST


def _live(member: CurrentMember | None) -> bool:
    return member is not None and member.status != MemberStatus.ARCHIVED


def settle(
    intents: Iterable[Intent],
    read: Mapping[str, CurrentMember | None],
    records: Mapping[str, CurrentMember],
) -> list[Settled]:
    """What to record of the open intents of an unfinished run, from what Mailchimp holds.

    Args:
        intents: The open intents, in the order they were recorded.
        read: Each address of :func:`intent_keys`, lower-cased, to the member Mailchimp holds
            there (``None``: not in the audience).
        records: The coupling database's records of those addresses, by lower-cased address.

    Returns:
        The writes, in order: records kept, moved or archived.
    """
    known = dict(records)
    writes: list[Settled] = []
    for intent in intents:
        write = _settled(intent, read, known)
        if write is None:
            continue
        writes.append(write)
        if isinstance(write, Moved):
            known.pop(intent.old_key, None)
        if isinstance(write, Keep | Moved):
            known[intent.key] = write.record
    return writes


def _settled(
    intent: Intent,
    read: Mapping[str, CurrentMember | None],
    known: Mapping[str, CurrentMember],
) -> Settled | None:
    held = read.get(intent.key)
    if intent.step == IntentStep.ARCHIVE:
        if held is None or held.status == MemberStatus.ARCHIVED:
            return Archived(email_address=intent.key, status=intent.status)  # R4.3
        return None
    if held is None or not _live(held):
        return None  # not carried out: the plan sends it again
    if intent.step == IntentStep.MOVE:
        if read.get(intent.old_key) is not None:
            return None  # not moved (R5.4's fallback follows in the next run's plan)
        before = known.get(intent.old_key)
        record = _record(intent, held, before.tags if before is not None else frozenset())
        return Moved(old_email_address=intent.old_key, record=record)
    before = known.get(intent.key)
    managed = before.tags if before is not None else frozenset()
    return Keep(record=_record(intent, held, managed | intent.tags_add | intent.tags_remove))


def _record(intent: Intent, held: CurrentMember, managed: frozenset[str]) -> CurrentMember:
    """The record of a member as Mailchimp holds it: the managed tags it still carries."""
    tags = managed & held.tags
    return CurrentMember(
        email_address=held.email_address,
        first_name=held.first_name,
        last_name=held.last_name,
        tags=tags,
        status=held.status,
        coupling=Coupling(person_id=intent.person_id, kind=intent.kind, tags=tags),
    )


def applied(current: Iterable[CurrentMember], writes: Iterable[Settled]) -> list[CurrentMember]:
    """The records as they would be after :func:`settle`'s writes (a dry run writes nothing).

    Args:
        current: The coupling database's records.
        writes: What :func:`settle` says to record.

    Returns:
        The records with the writes applied, ordered by lower-cased address.
    """
    records = {m.key: m for m in current}
    for write in writes:
        if isinstance(write, Keep):
            records[write.record.key] = write.record
        elif isinstance(write, Moved):
            records.pop(address_key(write.old_email_address), None)
            records[write.record.key] = write.record
        else:
            record = records.get(address_key(write.email_address))
            if record is not None and record.coupling is not None:
                coupling = attrs.evolve(record.coupling, status_at_archive=write.status)
                records[record.key] = attrs.evolve(
                    record, status=MemberStatus.ARCHIVED, coupling=coupling
                )
    return [records[key] for key in sorted(records)]
