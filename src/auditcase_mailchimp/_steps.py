"""The rules of carrying a plan out: steps, and what each of Mailchimp's answers leads to.

Pure core, like the planner: values in, a value out; no I/O, no clock. The runner
(:mod:`auditcase_mailchimp._sync`) sends the request a step stands for, turns Mailchimp's answer
into an :class:`Answer`, and asks :func:`after` what follows; this module decides every rule of
that SPEC.md numbers:

- each action starts with one step (:func:`start`) and goes on with the step :func:`after`
  names, until the answer finishes it: a record, a notice, a count, or a failure;
- R5.4's fallbacks when Mailchimp will not move a member: look at the old member first; an
  ``unsubscribed`` one stays and the new address is not added (R5.3); a gone one only moves its
  record; a ``cleaned`` or ``pending`` one is released (R4.5); any other is archived;
- R4.3: a record keeps the status a member had before it was archived (:func:`record_of`);
  a member to archive is read first, so that status is Mailchimp's, not a stale record's, and
  a ``cleaned`` or ``pending`` one is released instead of sent a ``DELETE`` (R4.5);
- R5.3: an answer saying ``unsubscribed`` or ``cleaned`` puts the person on the report;
- the managed-tag arithmetic: tags still to remove stay recorded as managed until Mailchimp
  confirms their removal, so an interrupted run removes them next time (R4.4, R7.2);
- the counting rule (:func:`counted`), once for the plan and for what was done.

The rules of the run around the steps (R8.4's hold, R3.2 for a partial push, R6.3's refused
filter, R7.5's guard...) live in :mod:`auditcase_mailchimp._run_rules`.

Invariants (tested with hypothesis over every answer to every step):

1. Every action ends after at most five steps, with no step taken twice.
2. Every end is recorded: a failure, or a record, notice or count.
3. A record written before the last step keeps every tag still to remove as managed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from ._models import (
    CurrentMember,
    MailchimpMember,
    MemberStatus,
    PersonKind,
    checked_status,
    trusted_record,
)
from ._plan import (
    RELEASED_STATUSES,
    Action,
    Adopt,
    Archive,
    ChangeAddress,
    Release,
    UnsubscribedNotice,
    Upsert,
)

__all__ = [
    "COUNTS",
    "Answer",
    "Archived",
    "Entry",
    "Keep",
    "Look",
    "Move",
    "Moved",
    "Note",
    "Removal",
    "Status",
    "Step",
    "Tags",
    "Then",
    "Write",
    "after",
    "counted",
    "first_step",
    "planned_counts",
    "record_of",
    "start",
]

#: The counters of a run, in the order the summary prints them.
COUNTS: Final = (
    "created",
    "updated",
    "archived",
    "released",
    "address_changes",
    "tags_changed",
    "adopted",
)
_NOTICED: Final = frozenset({MemberStatus.UNSUBSCRIBED, MemberStatus.CLEANED})
_GONE: Final = frozenset({"", MemberStatus.ARCHIVED})
#: Actions that send nothing: only the coupling database changes.
_NOTED: Final = (Adopt, Release)


# --- steps -------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Note:
    """Nothing to send: only the coupling database changes (an adopt, a release)."""

    action: Adopt | Release


@attrs.frozen(kw_only=True)
class Entry:
    """One entry of a batch-subscribe call: create or update one member."""

    action: Upsert | ChangeAddress
    email_address: str
    merge_fields: Mapping[str, str]
    tags: frozenset[str]
    #: Send ``status: subscribed`` (re-adding an archived member).
    send_status: bool = False
    #: For R5.4's fallback, the old member's status as read (``""``: not in the audience);
    #: ``None`` for an ordinary entry.
    old_status: str | None = None


@attrs.frozen(kw_only=True)
class Move:
    """Change a member's address (R5.4)."""

    action: ChangeAddress


@attrs.frozen(kw_only=True)
class Look:
    """Read one member: an old one (R5.4's fallback) or one to archive (R4.3, R4.5).

    The old member is read after Mailchimp would not move it; a member to archive, before its
    ``DELETE`` (the status at archiving, R4.3) and again when Mailchimp answered that
    ``DELETE`` "cannot be removed" (archived, cleaned or pending meanwhile).
    """

    action: ChangeAddress | Archive
    #: For the read after an archive answered "cannot be removed", the status read before
    #: (kept if the member is archived or gone); ``None`` for any other read.
    removed: str | None = None

    @property
    def email_address(self) -> str:
        """The address read: the old one of an address change, or the one to archive."""
        action = self.action
        return (
            action.old_email_address if isinstance(action, ChangeAddress) else action.email_address
        )


@attrs.frozen(kw_only=True)
class Tags:
    """One member-tags call: managed tags to remove, and for an address change, to add."""

    action: Upsert | ChangeAddress
    add: frozenset[str]
    remove: frozenset[str]
    #: The member's status from the earlier answer, for its record.
    status: str
    #: Whether the earlier answer said the member was created (counted as such).
    created: bool = False


@attrs.frozen(kw_only=True)
class Removal:
    """Archive one member (``DELETE``): an unlinked person's, or the old one of R5.4."""

    action: Archive | ChangeAddress
    email_address: str
    #: The member's status before, kept as the status at archiving (R4.3).
    status: str
    #: For R5.4's fallback, the new member's status, for its record after the tags.
    new_status: str = ""


#: One step of carrying an action out.
Step = Note | Entry | Move | Look | Tags | Removal


@attrs.frozen(kw_only=True)
class Answer:
    """Mailchimp's answer to one step, as the rules need it.

    For :class:`Look`, ``status`` is the old member's status, ``""`` when it is not in the
    audience. For :class:`Note`, nothing was sent: the answer is ``Answer()``.
    """

    ok: bool = True
    #: The member's status after the request (``""`` when unknown).
    status: str = ""
    #: A batch-subscribe entry created the member (rather than updating it).
    created: bool = False
    #: An address change was refused in a way R5.4 falls back from.
    fallback: bool = False
    #: An archive was answered "no such member" or "cannot be removed" (404, 405): the member
    #: is out of the audience, but archived, cleaned or pending, which only a read tells (R4.5).
    absent: bool = False


# --- what an answer leads to -------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Keep:
    """Record a member as Mailchimp now holds it."""

    record: CurrentMember


@attrs.frozen(kw_only=True)
class Moved:
    """Move a record to its new address (the member kept its history)."""

    old_email_address: str
    record: CurrentMember


@attrs.frozen(kw_only=True)
class Archived:
    """Mark a record archived or released, keeping the status it had (R4.3, R4.5)."""

    email_address: str
    status: str


@attrs.frozen(kw_only=True)
class Status:
    """Store a status read from Mailchimp."""

    email_address: str
    status: str


#: One write to the coupling database.
Write = Keep | Moved | Archived | Status


@attrs.frozen(kw_only=True)
class Then:
    """What follows an answer: writes and notices now, then a next step or the end.

    The action is finished when :attr:`step` is ``None``: it failed (:attr:`failed` names what
    was attempted; the answer's error goes to the failure overview), or it is done and adds
    :attr:`counts`.
    """

    writes: tuple[Write, ...] = ()
    notices: tuple[UnsubscribedNotice, ...] = ()
    step: Step | None = None
    #: What was attempted, when the answer is a failure: ``create``, ``update``,
    #: ``change_address``, ``tags`` or ``archive``.
    failed: str = ""
    #: The counters the finished action adds.
    counts: tuple[str, ...] = ()
    #: The person's open failures about sending are resolved (R6.3).
    resolves: bool = False


def first_step(action: Action) -> type[Note | Entry | Move | Look | Tags]:
    """The kind of an action's first step, without taking it: the type :func:`start` returns.

    The runner sorts a plan's actions into phases by it, and takes each first step only when
    its request is about to go out (a first sync's first batch leaves after its own 500 steps,
    not after every action's).
    """
    if isinstance(action, _NOTED):
        return Note
    if isinstance(action, ChangeAddress):
        return Move
    if isinstance(action, Archive):
        # R4.3, R5.3: the status the coupling recorded may be stale (unsubscribed or cleaned
        # since); read first, so the status kept at archiving is Mailchimp's (one GET each).
        return Look
    if action.create or action.merge_fields or action.tags_add or action.send_status:
        return Entry
    return Tags  # only managed tags to remove: no batch-subscribe entry needed


def start(action: Action) -> Step:
    """The first step of an action (of the type :func:`first_step` names)."""
    return _STARTS[first_step(action)](action)


def _entry(action: Upsert) -> Entry:
    return Entry(
        action=action,
        email_address=action.email_address,
        merge_fields=action.merge_fields,
        tags=action.tags_add,
        send_status=action.send_status,
    )


def _tags_only(action: Upsert) -> Tags:
    status = action.previous_status or MemberStatus.SUBSCRIBED
    return Tags(action=action, add=frozenset(), remove=action.tags_remove, status=status)


#: How each kind of first step is taken.
_STARTS: Final[Mapping[type, Callable[[Any], Step]]] = {
    Note: lambda action: Note(action=action),
    Move: lambda action: Move(action=action),
    Look: lambda action: Look(action=action),
    Entry: _entry,
    Tags: _tags_only,
}


def after(step: Step, answer: Answer) -> Then:
    """What Mailchimp's answer to one step leads to (the step carries its action).

    Args:
        step: The step that was carried out.
        answer: Mailchimp's answer to it (``Answer()`` for a :class:`Note`).

    Returns:
        The writes and notices, and the next step or the end of the action.
    """
    if isinstance(step, Note):
        return _noted(step.action)
    if answer.ok:
        return _CONFIRMED[type(step)](step, answer)
    if isinstance(step, Move) and answer.fallback:
        return Then(step=Look(action=step.action))
    return Then(failed=_attempt(step))


def _attempt(step: Entry | Move | Look | Tags | Removal) -> str:
    """What a failed step attempted, as the failure overview names it."""
    if isinstance(step, Tags):
        return "tags"
    action = step.action
    if isinstance(action, Archive):
        return "archive"
    if isinstance(step, Removal) or isinstance(action, ChangeAddress):
        return "change_address"
    return "create" if action.create else "update"


def _done(
    action: Action,
    writes: tuple[Write, ...] = (),
    *,
    created: bool | None = None,
    also: tuple[str, ...] = (),
    resolves: bool = True,
    notices: tuple[UnsubscribedNotice, ...] = (),
) -> Then:
    counts = counted(action, created=created) + also
    return Then(writes=writes, notices=notices, counts=counts, resolves=resolves)


def _noted(action: Adopt | Release) -> Then:
    if isinstance(action, Adopt):
        record = record_of(
            action.person_id, action.kind, action.member, managed=action.member.tags,
            status=action.status,
        )  # fmt: skip
        return _done(action, (Keep(record=record),), resolves=False)
    return _done(action, (Archived(email_address=action.email_address, status=action.status),))


def _record(action: Upsert | ChangeAddress, managed: frozenset[str], status: str) -> CurrentMember:
    before = action.previous_status if isinstance(action, Upsert) else None
    return record_of(
        action.person_id, action.kind, action.member, managed=managed, status=status,
        before=before,
    )  # fmt: skip


def _notices(action: Upsert | ChangeAddress, status: str) -> tuple[UnsubscribedNotice, ...]:
    """R5.3: an answer saying the member is unsubscribed or cleaned puts it on the report."""
    if status not in _NOTICED:
        return ()
    return (
        UnsubscribedNotice(
            person_id=action.person_id,
            kind=action.kind,
            email_address=action.email_address,
            status=status,
        ),
    )


def _entered(step: Entry, answer: Answer) -> Then:
    action = step.action
    # Tags still to remove stay recorded as managed until their removal is confirmed.
    managed = action.member.tags | action.tags_remove if action.tags_remove else action.member.tags
    record = _record(action, managed, answer.status)
    notices = _notices(action, answer.status)
    old = step.old_status
    status, created = answer.status, answer.created
    if isinstance(action, Upsert) or old is None:
        return _finish_tags(action, (Keep(record=record),), status, created, notices=notices)
    if old in _GONE:  # an interrupted earlier run moved it: only the record moves
        moved = Moved(old_email_address=action.old_email_address, record=record)
        return _finish_tags(action, (moved,), status, created, notices=notices)
    if old in RELEASED_STATUSES:  # R4.5: a bounced or unconfirmed address is released
        released = Archived(email_address=action.old_email_address, status=old)
        writes = (Keep(record=record), released)
        return _finish_tags(action, writes, status, created, also=("released",), notices=notices)
    removal = Removal(
        action=action, email_address=action.old_email_address, status=old, new_status=status
    )
    return Then(writes=(Keep(record=record),), notices=notices, step=removal)


def _finish_tags(
    action: Upsert | ChangeAddress,
    writes: tuple[Write, ...],
    status: str,
    created: bool,  # noqa: FBT001
    *,
    also: tuple[str, ...] = (),
    notices: tuple[UnsubscribedNotice, ...] = (),
) -> Then:
    """After the entry: remove the managed tags AuditCase no longer wants, or finish."""
    if action.tags_remove:
        tags = Tags(
            action=action, add=frozenset(), remove=action.tags_remove, status=status,
            created=created,
        )  # fmt: skip
        return Then(writes=writes, notices=notices, step=tags, counts=also)
    return _done(action, writes, created=created, also=also, notices=notices)


def _moved(step: Move, answer: Answer) -> Then:
    action = step.action
    managed = (action.member.tags - action.tags_add) | action.tags_remove
    moved = Moved(
        old_email_address=action.old_email_address,
        record=_record(action, managed, answer.status),
    )
    if action.tags_add or action.tags_remove:
        tags = Tags(
            action=action, add=action.tags_add, remove=action.tags_remove, status=answer.status
        )
        return Then(writes=(moved,), step=tags)
    return _done(action, (moved,))


def _looked(step: Look, answer: Answer) -> Then:
    """R5.4 when Mailchimp would not move the member: what the old member's status says."""
    action = step.action
    if isinstance(action, Archive):
        return _looked_out(step, action, answer.status)
    if answer.status == MemberStatus.UNSUBSCRIBED:
        # R5.3: left as it is, the new address not added, the person on the report
        notice = UnsubscribedNotice(
            person_id=action.person_id,
            kind=action.kind,
            email_address=action.old_email_address,
            status=MemberStatus.UNSUBSCRIBED,
        )
        status = Status(email_address=action.old_email_address, status=answer.status)
        return Then(writes=(status,), notices=(notice,))
    member = action.member
    entry = Entry(
        action=action,
        email_address=member.email_address,
        merge_fields={"FNAME": member.first_name, "LNAME": member.last_name},
        tags=member.tags,
        old_status=answer.status,
    )
    return Then(step=entry)


def _looked_out(step: Look, action: Archive, status: str) -> Then:
    """R4.3, R4.5: what the member to archive is in Mailchimp says what to do.

    A ``cleaned`` or ``pending`` member is released with that status (Mailchimp will not
    archive it). An archived or gone one is recorded archived with the status it had before.
    A live one is archived (``DELETE``) with the status read as its status at archiving (R4.3),
    so that re-linking one who unsubscribed never re-subscribes them (R5.3) — unless this read
    follows a ``DELETE`` answered "cannot be removed": then it is a failure.
    """
    if status in RELEASED_STATUSES:
        released = Archived(email_address=action.email_address, status=status)
        return Then(writes=(released,), counts=("released",), resolves=True)
    if status in _GONE:
        kept = action.status if step.removed is None else step.removed
        return _done(action, (Archived(email_address=action.email_address, status=kept),))
    if step.removed is None:
        return Then(step=Removal(action=action, email_address=action.email_address, status=status))
    return Then(failed="archive")


def _tagged(step: Tags, _answer: Answer) -> Then:
    record = _record(step.action, step.action.member.tags, step.status)
    return _done(step.action, (Keep(record=record),), created=step.created)


def _removed(step: Removal, answer: Answer) -> Then:
    action = step.action
    if answer.absent and isinstance(action, Archive):  # R4.5: archived, cleaned or pending?
        return Then(step=Look(action=action, removed=step.status))
    archived = Archived(email_address=step.email_address, status=step.status)  # R4.3
    if isinstance(action, Archive):
        return _done(action, (archived,))
    return _finish_tags(action, (archived,), step.new_status, created=False)


#: What a confirmed step leads to, by the type of step.
_CONFIRMED: Final[Mapping[type, Callable[[Any, Answer], Then]]] = {
    Entry: _entered,
    Move: _moved,
    Look: _looked,
    Tags: _tagged,
    Removal: _removed,
}


# --- counting --------------------------------------------------------------------------------


def counted(action: Action, *, created: bool | None = None) -> tuple[str, ...]:
    """The counters one action adds: the counting rule, for the plan and for what was done.

    An upsert counts as ``created`` or ``updated`` as Mailchimp's answer says (``created``),
    else as planned; ``tags_changed`` counts members that were there already and whose tags
    change (a new member's tags are new).

    Args:
        action: The action.
        created: Whether Mailchimp said the member was created; ``None`` before sending.

    Returns:
        The names of the counters, each to add one.
    """
    if isinstance(action, Upsert):
        new = action.create if created is None else created
        names: tuple[str, ...] = ("created" if new else "updated",)
        if not action.create and (action.tags_add or action.tags_remove):
            names += ("tags_changed",)
        return names
    if isinstance(action, ChangeAddress):
        if action.tags_add or action.tags_remove:
            return ("address_changes", "tags_changed")
        return ("address_changes",)
    if isinstance(action, Archive):
        return ("archived",)
    return ("released",) if isinstance(action, Release) else ("adopted",)


def planned_counts(actions: Iterable[Action]) -> dict[str, int]:
    """Every counter of :data:`COUNTS` for a plan, by the rule of :func:`counted`."""
    counts = dict.fromkeys(COUNTS, 0)
    for action in actions:
        for name in counted(action):
            counts[name] += 1
    return counts


# --- records (R4.3) ----------------------------------------------------------------------------


def record_of(
    person_id: str,
    kind: PersonKind,
    member: MailchimpMember,
    *,
    managed: frozenset[str],
    status: str,
    before: str | None = None,
) -> CurrentMember:
    """The coupling database's record of a member as Mailchimp now holds it.

    ``before`` is the status the coupling last knew; when Mailchimp now reports the member
    archived (archived by hand since), that status is kept as the status at archiving (R4.3),
    so that re-linking never re-subscribes one who had unsubscribed (R5.3).

    Args:
        person_id: The person the member is managed for.
        kind: That person's kind.
        member: The member as AuditCase wants it.
        managed: The tags the coupling set (and may remove).
        status: Mailchimp's status now (``""`` when unknown: ``subscribed``).
        before: The status the coupling last knew.

    Returns:
        The record.

    Raises:
        ValueError: ``status`` is not a Mailchimp status.
    """
    # Every value but Mailchimp's status comes from checked values (the plan's person and
    # member, tags drawn from them): only that status is checked, the rest built as it is.
    status = checked_status(status) if status else MemberStatus.SUBSCRIBED
    at_archive = None
    if status == MemberStatus.ARCHIVED and before not in (None, MemberStatus.ARCHIVED):
        at_archive = before
    return trusted_record(
        member.email_address, member.first_name, member.last_name, managed, status, person_id,
        kind, at_archive,
    )  # fmt: skip
