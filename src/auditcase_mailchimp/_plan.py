"""The differ: from what the audience holds and what AuditCase wants to a plan of actions.

Pure core: values in, a value out; no I/O, no clock, no randomness.

Invariants — what :func:`plan_sync` may never do, whatever its input:

1. Never archive a member the coupling does not manage (``coupling is None``) (R4.4), and
   never archive a ``cleaned`` or ``pending`` one: Mailchimp refuses that, so such a member is
   *released* instead (:class:`Release`, R4.5).
2. Never remove a tag the coupling did not set (not in ``coupling.tags``) (R4.4).
3. Never send ``status`` to a member whose status is ``unsubscribed`` or ``cleaned``, and never
   re-add an archived member that the coupling knows was ``unsubscribed`` or ``cleaned`` when
   it was archived (``coupling.status_at_archive``); such persons are listed in
   :attr:`Plan.unsubscribed` instead (R5.3). (An archived member whose earlier status nobody
   recorded is re-added; Mailchimp itself refuses one in a compliance state.)
4. Never touch a member of a *held* person (one with a data-quality problem) unless another
   person now wants its address (R2.6).
5. Emit at most one action per address (an address change counts for both its addresses).
6. Plan nothing when nothing differs (R7.1): planning a state against itself, or against the
   result of applying the plan, gives an empty plan.
7. Give the same plan whatever the order of the input.

The managed data of a member are its merge fields ``FNAME`` and ``LNAME``, the tags the
coupling sets and, when the coupling creates or re-adds a member, its status ``subscribed``.
The status of an existing member is never changed (R2.5, R5.3). A tag AuditCase wants is one
the coupling pushes, so it is managed from then on, even if the member already had it.

Tags are compared ignoring case, as R2.4 makes groups equal ignoring case one tag: a tag the
member has in another spelling is not added again, and a managed tag is never removed while
AuditCase wants it in any spelling (Mailchimp may treat tag names case-insensitively, so
removing the old spelling could remove the tag).

Address changes (R5.4): when person P wants address N and the coupling manages an old member
O of P that nobody wants any more,

- N absent and O ``subscribed``: :class:`ChangeAddress` O → N (the member keeps its history);
- N already a member (or archived): N is updated (:class:`Upsert`) and O archived;
- O ``cleaned`` or ``pending``: N created and O released (R4.5; a bounced address is of no use);
- O ``transactional``: N created and O archived;
- O ``unsubscribed``: O is left as it is, N is not added (only updated when it already is a
  live member), and P is listed in :attr:`Plan.unsubscribed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final, TypeVar

import attrs

from ._desired import DesiredState
from ._models import CurrentMember, MailchimpMember, MemberStatus, Person, PersonKind

__all__ = [
    "Action",
    "Adopt",
    "Archive",
    "ChangeAddress",
    "Plan",
    "Release",
    "UnsubscribedNotice",
    "Upsert",
    "action_verb",
    "plan_sync",
]

#: Statuses the coupling never overrides (R5.3).
_NO_RESUBSCRIBE: Final = frozenset({MemberStatus.UNSUBSCRIBED, MemberStatus.CLEANED})
#: Statuses Mailchimp refuses to archive: such members are released instead (R4.5).
RELEASED_STATUSES: Final = frozenset({MemberStatus.CLEANED, MemberStatus.PENDING})
_SUBSCRIBED: Final = MemberStatus.SUBSCRIBED
_ARCHIVED: Final = MemberStatus.ARCHIVED


@attrs.frozen(kw_only=True)
class _ForMember:
    """What every action about a member AuditCase wants has: whose, and the member as wanted."""

    #: The AuditCase person the action is for.
    person_id: str
    #: That person's kind.
    kind: PersonKind
    #: The member as AuditCase wants it (for an address change, the new address included).
    member: MailchimpMember

    @property
    def key(self) -> str:
        """The lower-cased address the action is about (the new one of an address change)."""
        return self.member.key

    @property
    def email_address(self) -> str:
        """The address the action is about, as AuditCase spells it (the new one of a move)."""
        return self.member.email_address


@attrs.frozen(kw_only=True)
class _Changes(_ForMember):
    """What an action that sends changes to a member sends besides the address."""

    #: The merge fields to send (``FNAME``/``LNAME``), only those that change.
    merge_fields: Mapping[str, str] = attrs.field(factory=dict)
    #: Tags to add.
    tags_add: frozenset[str] = frozenset()
    #: Tags the coupling set earlier and AuditCase no longer wants.
    tags_remove: frozenset[str] = frozenset()


@attrs.frozen(kw_only=True)
class Upsert(_Changes):
    """Create or update one member through batch subscribe, and remove managed tags.

    ``merge_fields`` holds only the fields that change (both on a create); ``tags_add`` travel
    in the batch-subscribe call; ``tags_remove`` need a member-tags call.
    """

    #: ``True`` when the address is not in the audience yet.
    create: bool
    #: ``True`` when the status ``subscribed`` must be sent, to re-add an archived member.
    send_status: bool = False
    #: The member's status before the action (``None`` on a create).
    previous_status: str | None = None


@attrs.frozen(kw_only=True)
class ChangeAddress(_Changes):
    """Change a managed member's address (R5.4), then update its merge fields and tags."""

    #: The member's address now.
    old_email_address: str


@attrs.frozen(kw_only=True)
class _Removal:
    """A managed member nobody wants any more: whose, where, and its status before (R4.3)."""

    #: The AuditCase person the member was managed for.
    person_id: str
    #: That person's kind.
    kind: PersonKind
    #: The member's address.
    email_address: str
    #: The member's status before, kept by the coupling database as its status at removal.
    status: str

    @property
    def key(self) -> str:
        """The lower-cased address."""
        return self.email_address.strip().lower()


@attrs.frozen(kw_only=True)
class Archive(_Removal):
    """Archive a managed member whose person is unlinked or gone (R4.1, R4.2)."""


@attrs.frozen(kw_only=True)
class Adopt(_ForMember):
    """Record in the coupling database that a member already as wanted is managed for a person.

    Sends nothing to Mailchimp: the audience already holds exactly what AuditCase wants, but
    the coupling's record of the member (its person, or the tags it set) must change.
    """

    #: The member's status in the audience, kept in the record (an adopted member may be
    #: ``unsubscribed``, which the R5.3 report must go on showing).
    status: str = MemberStatus.SUBSCRIBED


@attrs.frozen(kw_only=True)
class Release(_Removal):
    """Stop managing a ``cleaned`` or ``pending`` member nobody wants any more (R4.5).

    Sends nothing: Mailchimp refuses to archive such a member, and it receives no campaigns
    anyway (``cleaned``) or none until it confirms (``pending``). The coupling database keeps
    its status as the status at removal (R4.3), so re-linking never re-subscribes it.
    """


#: One action of a plan.
Action = Upsert | ChangeAddress | Archive | Adopt | Release


def action_verb(action: Action) -> str:
    """What an action does, in one word, as ``sync --dry-run --json`` and the summary say (R7.3).

    Args:
        action: An action of a plan.

    Returns:
        ``create``, ``re-add`` (an archived member subscribed again), ``update``,
        ``change_address``, ``archive``, ``release`` (R4.5) or ``record`` (an adopt: nothing
        sent).
    """
    if isinstance(action, Upsert):
        if action.create:
            return "create"
        return "re-add" if action.send_status else "update"
    if isinstance(action, ChangeAddress):
        return "change_address"
    if isinstance(action, Archive):
        return "archive"
    return "release" if isinstance(action, Release) else "record"


@attrs.frozen(kw_only=True)
class UnsubscribedNotice:
    """A linked person whose member is ``unsubscribed`` or ``cleaned`` in Mailchimp (R5.3).

    The administrator applies it in AuditCase by hand; the coupling never re-subscribes.
    """

    person_id: str
    kind: PersonKind
    email_address: str
    #: ``unsubscribed`` or ``cleaned``; for an archived member, its status when archived.
    status: str


@attrs.frozen(kw_only=True)
class Plan:
    """What a sync must do, in a deterministic order (by address)."""

    actions: tuple[Action, ...] = ()
    #: Linked persons unsubscribed or cleaned in Mailchimp (R5.3), by person id.
    unsubscribed: tuple[UnsubscribedNotice, ...] = ()
    #: Desired members the audience already holds as wanted.
    unchanged: int = 0

    def __bool__(self) -> bool:
        """A plan is true when it has an action."""
        return bool(self.actions)

    def count(self, kind: type[Action]) -> int:
        """Count the actions of one type, e.g. ``plan.count(Archive)``."""
        return sum(1 for action in self.actions if type(action) is kind)


def _differences(
    want: MailchimpMember, have: CurrentMember
) -> tuple[dict[str, str], frozenset[str], frozenset[str]]:
    merge_fields: dict[str, str] = {}
    if have.first_name != want.first_name:
        merge_fields["FNAME"] = want.first_name
    if have.last_name != want.last_name:
        merge_fields["LNAME"] = want.last_name
    managed = have.coupling.tags if have.coupling is not None else frozenset()
    wanted = {tag.casefold() for tag in want.tags}
    present = {tag.casefold() for tag in have.tags}
    tags_add = frozenset(tag for tag in want.tags if tag.casefold() not in present)
    tags_remove = frozenset(tag for tag in managed & have.tags if tag.casefold() not in wanted)
    return merge_fields, tags_add, tags_remove


def plan_sync(current: Iterable[CurrentMember], desired: DesiredState) -> Plan:
    """Plan the actions that bring the audience to what AuditCase wants.

    See the module documentation for the invariants and the address-change rules.

    Args:
        current: What the audience holds, each member with the coupling's record of it (see
            :class:`~auditcase_mailchimp.CurrentMember` for the two ways to build it).
        desired: What AuditCase wants, from :func:`~auditcase_mailchimp.desired_state`.

    Returns:
        The plan, with its actions sorted by address, the R5.3 list and the count of
        unchanged members.

    Raises:
        ValueError: ``current`` holds two members whose addresses are equal ignoring case.
    """
    want = desired.members
    draft = _Draft()
    have: dict[str, CurrentMember] = {}
    # Live members the coupling manages at an address nobody wants any more, by person: the
    # candidates for an address change (R5.4) and, failing that, for archiving (R4.1).
    olds: dict[str, list[str]] = {}
    for member in current:
        key = member.email_address.strip().lower()  # address_key(), inlined
        if key in have:
            raise ValueError("current holds two members for one address (equal ignoring case)")
        have[key] = member
        if key not in want:
            coupling = member.coupling
            if coupling is not None and member.status != _ARCHIVED:
                olds.setdefault(coupling.person_id, []).append(key)

    persons = desired.persons
    for key, target in want.items():
        person = persons[key]
        found = have.get(key)
        if olds:
            person_olds = olds.get(person.person_id)
            if person_olds and _moved(
                draft, person, target, found, [(o, have[o]) for o in sorted(person_olds)]
            ):
                continue
        if found is None:
            draft.actions.append(_create(person, target))
            continue
        coupling = found.coupling
        if (  # the common case, decided inline: a million of these per large sync
            found.status == _SUBSCRIBED
            and found.first_name == target.first_name
            and found.last_name == target.last_name
            and found.tags == target.tags
            and coupling is not None
            and coupling.person_id == person.person_id
            and coupling.tags == target.tags
            and coupling.kind is person.kind
            and coupling.status_at_archive is None
        ):
            draft.unchanged += 1
        else:
            _update(draft, person, target, found)

    _archive_orphans(draft, olds, have, desired.held)

    draft.actions.sort(key=_sort_key)
    draft.notices.sort(key=lambda n: (n.person_id, n.email_address.lower()))
    return Plan(
        actions=tuple(draft.actions), unsubscribed=tuple(draft.notices), unchanged=draft.unchanged
    )


def _sort_key(action: Action) -> str:
    """``action.key``, but the address itself when it is already its own key (no new string)."""
    address = action.email_address.strip()
    return address if address.isascii() and address.islower() else address.lower()


class _Draft:
    """The plan while it is being worked out."""

    __slots__ = ("actions", "consumed", "notices", "unchanged")

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.notices: list[UnsubscribedNotice] = []
        self.consumed: set[str] = set()  # old addresses an address change has dealt with
        self.unchanged = 0


def _archive_orphans(
    draft: _Draft,
    olds: Mapping[str, list[str]],
    have: Mapping[str, CurrentMember],
    held: frozenset[str],
) -> None:
    """R4.1: archive the managed members nobody wants, except a held person's (R2.6).

    A ``cleaned`` or ``pending`` one is released instead (R4.5).
    """
    for person_id, keys in olds.items():
        if person_id in held:
            continue
        for key in keys:
            if key not in draft.consumed:
                member = have[key]
                coupling = member.coupling
                assert coupling is not None  # noqa: S101 - olds hold managed members only
                removal = Release if member.status in RELEASED_STATUSES else Archive
                draft.actions.append(
                    removal(
                        person_id=person_id,
                        kind=coupling.kind,
                        email_address=member.email_address,
                        status=member.status,
                    )
                )


def _moved(
    draft: _Draft,
    person: Person,
    target: MailchimpMember,
    member: CurrentMember | None,
    olds: list[tuple[str, CurrentMember]],
) -> bool:
    """R5.4 for a person whose coupling manages live members at old addresses (sorted by key).

    Returns ``True`` when the wanted address is dealt with (changed to, or not to be added).
    Old members not dealt with here are archived by the final pass.
    """
    needs_adding = member is None or member.status == _ARCHIVED
    unsubscribed = [(key, old) for key, old in olds if old.status == MemberStatus.UNSUBSCRIBED]
    for key, old in unsubscribed:
        draft.consumed.add(key)
        draft.notices.append(_notice(person, old.email_address, MemberStatus.UNSUBSCRIBED))
    if unsubscribed:
        return needs_adding  # nobody who unsubscribed is signed up again elsewhere
    subscribed = [(key, old) for key, old in olds if old.status == _SUBSCRIBED]
    if member is None and subscribed:
        key, old = subscribed[0]
        draft.consumed.add(key)
        draft.actions.append(_change_address(person, target, old))
        return True
    return False


def _create(person: Person, member: MailchimpMember) -> Upsert:
    return Upsert(
        person_id=person.person_id,
        kind=person.kind,
        member=member,
        create=True,
        merge_fields={"FNAME": member.first_name, "LNAME": member.last_name},
        tags_add=member.tags,
    )


def _update(draft: _Draft, person: Person, target: MailchimpMember, member: CurrentMember) -> None:
    """Plan what an existing member needs: nothing, a record (Adopt) or an Upsert."""
    revive = member.status == _ARCHIVED
    if revive:
        before = member.coupling.status_at_archive if member.coupling is not None else None
        if before in _NO_RESUBSCRIBE:
            draft.notices.append(_notice(person, member.email_address, before))
            return
        if before == MemberStatus.PENDING:
            # Released while pending (R4.5), so still pending in Mailchimp: its consent is
            # awaited, and sending ``subscribed`` would skip the confirmation.
            member = attrs.evolve(member, status=MemberStatus.PENDING)
            revive = False
    elif member.status in _NO_RESUBSCRIBE:
        draft.notices.append(_notice(person, member.email_address, member.status))
    if (
        not revive
        and member.first_name == target.first_name
        and member.last_name == target.last_name
        and member.tags == target.tags
    ):  # the common case, decided without building the differences
        _keep(draft, person, target, member)
        return
    differences = _differences(target, member)
    if any(differences) or revive:
        upsert = _sending(
            Upsert, person, target, differences, create=False, send_status=revive,
            previous_status=member.status,
        )  # fmt: skip
        draft.actions.append(upsert)
    else:
        _keep(draft, person, target, member)


def _keep(draft: _Draft, person: Person, target: MailchimpMember, member: CurrentMember) -> None:
    """The audience holds what is wanted: count it, or record it if the record differs."""
    if _coupled_as(member, person, target):
        draft.unchanged += 1
    else:
        draft.actions.append(
            Adopt(person_id=person.person_id, kind=person.kind, member=target, status=member.status)
        )


def _coupled_as(member: CurrentMember, person: Person, target: MailchimpMember) -> bool:
    """Tell whether the coupling's record of ``member`` already says ``person`` and ``target``."""
    coupling = member.coupling
    return (
        coupling is not None
        and coupling.person_id == person.person_id
        and coupling.kind is person.kind
        and coupling.tags == target.tags
        and coupling.status_at_archive is None
    )


def _notice(person: Person, email_address: str, status: str) -> UnsubscribedNotice:
    return UnsubscribedNotice(
        person_id=person.person_id, kind=person.kind, email_address=email_address, status=status
    )


def _change_address(person: Person, target: MailchimpMember, old: CurrentMember) -> ChangeAddress:
    differences = _differences(target, old)
    return _sending(ChangeAddress, person, target, differences, old_email_address=old.email_address)


_Sending = TypeVar("_Sending", Upsert, ChangeAddress)


def _sending(
    action: type[_Sending],
    person: Person,
    target: MailchimpMember,
    differences: tuple[dict[str, str], frozenset[str], frozenset[str]],
    **fields: Any,
) -> _Sending:
    """An action sending the differences (merge fields, tags to add, to remove) to a member."""
    merge_fields, tags_add, tags_remove = differences
    return action(
        person_id=person.person_id,
        kind=person.kind,
        member=target,
        merge_fields=merge_fields,
        tags_add=tags_add,
        tags_remove=tags_remove,
        **fields,
    )
