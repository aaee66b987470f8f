"""From every AuditCase person to the state the coupling wants: R1, R2.6 and R3. Pure core.

:func:`desired_state` never raises because of one bad person: a person that cannot be pushed
becomes a :class:`Problem` and is *held* (whatever the coupling pushed for them earlier is
left alone: data-quality problems never remove anyone, R2.6).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping

import attrs

from ._errors import InvalidPersonError
from ._mapping import to_member
from ._models import MailchimpMember, Person, PersonKind

__all__ = ["DesiredMember", "DesiredState", "Problem", "ProblemCategory", "desired_state"]


class ProblemCategory(enum.Enum):
    """Why a linked person is not pushed as asked, found before anything is sent (R6.2)."""

    #: Both ``ContactEMailRE`` and ``CompanyEmailREBT`` are empty (R2.6).
    NO_ADDRESS = "no_address"
    #: The address fails the syntax check (R2.6).
    INVALID_ADDRESS = "invalid_address"
    #: Several linked persons resolve to one address (R3.2).
    DUPLICATE_ADDRESS = "duplicate_address"
    #: The source yielded one person id more than once; none of those records is used.
    DUPLICATE_PERSON_ID = "duplicate_person_id"


@attrs.frozen(kw_only=True)
class Problem:
    """A linked person the coupling cannot push as asked; goes to the failure overview (R6).

    The message names the person, never the address; the address is in :attr:`email_address`.
    """

    person_id: str
    kind: PersonKind
    category: ProblemCategory
    message: str
    #: The address involved ("" when there is none).
    email_address: str = ""
    #: For a duplicate address: the ids of the other persons sharing it.
    others: tuple[str, ...] = ()
    #: ``True`` when this person is pushed anyway (the one chosen among duplicates, R3.2).
    pushed: bool = False


@attrs.frozen(kw_only=True)
class DesiredMember:
    """A member the coupling wants in the audience, and the person it stands for."""

    person_id: str
    kind: PersonKind
    member: MailchimpMember


@attrs.frozen(kw_only=True)
class DesiredState:
    """What AuditCase wants the audience to hold, as :func:`desired_state` works it out."""

    #: The members to push, keyed by lower-cased address.
    members: Mapping[str, DesiredMember]
    #: Every problem found, sorted by person id then category.
    problems: tuple[Problem, ...] = ()
    #: Linked persons not pushed because of a problem; the differ leaves their members alone.
    held: frozenset[str] = frozenset()


def _id_order(person_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, before any other id in string order."""
    if person_id.isascii() and person_id.isdigit():
        return (0, int(person_id), person_id)
    return (1, 0, person_id)


def _choose(candidates: list[DesiredMember], owner: str | None) -> DesiredMember:
    """R3.2: the person already pushed to the address; else a client person; else the lowest id."""
    return min(
        candidates,
        key=lambda c: (
            c.person_id != owner,
            c.kind is not PersonKind.CLIENT_PERSON,
            _id_order(c.person_id),
        ),
    )


def _duplicate_problems(candidates: list[DesiredMember], winner: DesiredMember) -> list[Problem]:
    """R3.2: a conflict for every person sharing an address, naming the others."""
    ids = [c.person_id for c in candidates]
    problems = []
    for candidate in candidates:
        pushed = candidate is winner
        others = tuple(sorted((i for i in ids if i != candidate.person_id), key=_id_order))
        verdict = (
            "this person is pushed" if pushed else "this person is not pushed: unlink one of them"
        )
        problems.append(
            Problem(
                person_id=candidate.person_id,
                kind=candidate.kind,
                category=ProblemCategory.DUPLICATE_ADDRESS,
                message=(
                    f"{candidate.kind} {candidate.person_id} shares its e-mail address "
                    f"with {', '.join(others)}; {verdict}"
                ),
                email_address=candidate.member.email_address,
                others=others,
                pushed=pushed,
            )
        )
    return problems


def desired_state(
    persons: Iterable[Person], *, owners: Mapping[str, str] | None = None
) -> DesiredState:
    """Work out the members the coupling wants from every AuditCase person.

    - R1: only linked persons are pushed (both kinds; the type admits no other).
    - R2: each linked person is mapped with :func:`~auditcase_mailchimp.to_member`; a person
      with no address or an invalid one becomes a problem and is held (R2.6).
    - R3: when several linked persons resolve to one address, one is pushed (the owner of the
      address, else a client person, else the lowest id) and every one of them gets a
      ``DUPLICATE_ADDRESS`` problem naming the others; the rest are held.

    Args:
        persons: Every AuditCase person, in any order, linked or not.
        owners: Which person the coupling pushed each address for, keyed by lower-cased
            address (from the coupling database); decides duplicates first (R3.2).

    Returns:
        The desired members, the problems and the held persons. The result does not depend
        on the order of ``persons``.
    """
    owners = owners or {}
    linked: dict[str, Person] = {}
    repeated: dict[str, list[Person]] = {}
    for person in persons:
        if person.linked:
            person_id = person.person_id
            if person_id in linked:
                repeated.setdefault(person_id, [linked[person_id]]).append(person)
            else:
                linked[person_id] = person

    problems: list[Problem] = []
    held: set[str] = set()
    for person_id, records in repeated.items():
        del linked[person_id]
        held.add(person_id)
        problems.extend(
            Problem(
                person_id=person_id,
                kind=record.kind,
                category=ProblemCategory.DUPLICATE_PERSON_ID,
                message=f"person id {person_id} occurs {len(records)} times in the source",
            )
            for record in records
        )

    members: dict[str, DesiredMember] = {}
    shared: dict[str, list[DesiredMember]] = {}
    for person in linked.values():
        try:
            member = to_member(person)
        except InvalidPersonError as error:
            held.add(person.person_id)
            problems.append(
                Problem(
                    person_id=person.person_id,
                    kind=person.kind,
                    category=ProblemCategory(error.category),
                    message=str(error),
                    email_address=error.email_address,
                )
            )
            continue
        key = member.email_address.lower()  # to_member trims: this is address_key()
        wanted = DesiredMember(person_id=person.person_id, kind=person.kind, member=member)
        if key in members:
            shared.setdefault(key, [members[key]]).append(wanted)
        else:
            members[key] = wanted

    for key, candidates in shared.items():
        winner = _choose(candidates, owners.get(key))
        members[key] = winner
        held.update(c.person_id for c in candidates if c is not winner)
        problems.extend(_duplicate_problems(candidates, winner))

    problems.sort(key=lambda p: (_id_order(p.person_id), p.category.value, p.kind.value))
    return DesiredState(members=members, problems=tuple(problems), held=frozenset(held))
