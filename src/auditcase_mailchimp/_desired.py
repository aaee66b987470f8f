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

__all__ = ["DesiredState", "Problem", "ProblemCategory", "desired_state"]


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
    #: The ids of the other persons sharing the address, for a duplicate address.
    others: tuple[str, ...] = ()
    #: ``True`` when this person is pushed anyway (the one chosen among duplicates, R3.2).
    pushed: bool = False


@attrs.frozen(kw_only=True)
class DesiredState:
    """What AuditCase wants the audience to hold, as :func:`desired_state` works it out.

    ``members`` and ``persons`` share their keys: ``persons[key]`` is the AuditCase person the
    member ``members[key]`` stands for. (Two plain mappings rather than a pair object per
    member: a large sync holds a million of them, and every object costs.)
    """

    #: The members to push, keyed by lower-cased address.
    members: Mapping[str, MailchimpMember]
    #: The person each member stands for, under the same key.
    persons: Mapping[str, Person]
    #: Every problem found, sorted by person id then category.
    problems: tuple[Problem, ...] = ()
    #: Linked persons not pushed because of a problem; the differ leaves their members alone.
    held: frozenset[str] = frozenset()


def _id_order(person_id: str) -> tuple[int, int, str]:
    """Numeric ids in numeric order, before any other id in string order."""
    if person_id.isascii() and person_id.isdigit():
        return (0, int(person_id), person_id)
    return (1, 0, person_id)


_Candidate = tuple[Person, MailchimpMember]


def _choose(candidates: list[_Candidate], owner: str | None) -> _Candidate:
    """R3.2: the person already pushed to the address; else a client person; else the lowest id."""
    return min(
        candidates,
        key=lambda c: (
            c[0].person_id != owner,
            c[0].kind is not PersonKind.CLIENT_PERSON,
            _id_order(c[0].person_id),
        ),
    )


def conflict(
    person: Person, email_address: str, others: tuple[str, ...], *, pushed: bool
) -> Problem:
    """R3.2: the conflict of one person sharing ``email_address`` with ``others``."""
    verdict = "this person is pushed" if pushed else "this person is not pushed: unlink one of them"
    return Problem(
        person_id=person.person_id,
        kind=person.kind,
        category=ProblemCategory.DUPLICATE_ADDRESS,
        message=(
            f"{person.kind} {person.person_id} shares its e-mail address "
            f"with {', '.join(others)}; {verdict}"
        ),
        email_address=email_address,
        others=others,
        pushed=pushed,
    )


def _duplicate_problems(candidates: list[_Candidate], winner: _Candidate) -> list[Problem]:
    """R3.2: a conflict for every person sharing an address, naming the others."""
    ids = [person.person_id for person, _ in candidates]
    return [
        conflict(
            candidate,
            member.email_address,
            tuple(sorted((i for i in ids if i != candidate.person_id), key=_id_order)),
            pushed=candidate is winner[0],
        )
        for candidate, member in candidates
    ]


def _drop_repeated(
    repeated: dict[str, list[PersonKind]],
    *,
    members: dict[str, MailchimpMember],
    persons: dict[str, Person],
    shared: dict[str, list[_Candidate]],
    problems: list[Problem],
    held: set[str],
) -> None:
    """A person id the source yields more than once: none of its records is used or removed."""
    for key in [k for k, p in persons.items() if p.person_id in repeated]:
        del persons[key], members[key]
    for key, candidates in list(shared.items()):
        kept = [c for c in candidates if c[0].person_id not in repeated]
        if len(kept) > 1:
            shared[key] = kept
        else:
            del shared[key]
            if kept:
                persons[key], members[key] = kept[0]
    problems[:] = [p for p in problems if p.person_id not in repeated]
    for person_id, kinds in repeated.items():
        held.add(person_id)
        problems.extend(
            Problem(
                person_id=person_id,
                kind=kind,
                category=ProblemCategory.DUPLICATE_PERSON_ID,
                message=f"person id {person_id} occurs {len(kinds)} times in the source",
            )
            for kind in kinds
        )


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
    problems: list[Problem] = []
    held: set[str] = set()
    seen: dict[str, PersonKind] = {}
    repeated: dict[str, list[PersonKind]] = {}
    members: dict[str, MailchimpMember] = {}
    by_key: dict[str, Person] = {}
    shared: dict[str, list[_Candidate]] = {}
    for person in persons:
        if not person.linked:
            continue
        person_id = person.person_id
        if person_id in seen:
            repeated.setdefault(person_id, [seen[person_id]]).append(person.kind)
            continue
        seen[person_id] = person.kind
        try:
            member = to_member(person)
        except InvalidPersonError as error:
            held.add(person_id)
            problems.append(
                Problem(
                    person_id=person_id,
                    kind=person.kind,
                    category=ProblemCategory(error.category),
                    message=str(error),
                    email_address=error.email_address,
                )
            )
            continue
        # address_key(), as to_member trims and checks for ASCII; an address already in lower
        # case is its own key, not a second copy of it (a large sync holds a million)
        address = member.email_address
        key = address if address.islower() else address.lower()
        if key in members:
            shared.setdefault(key, [(by_key[key], members[key])]).append((person, member))
        else:
            members[key] = member
            by_key[key] = person

    if repeated:
        _drop_repeated(
            repeated, members=members, persons=by_key, shared=shared, problems=problems, held=held
        )

    for key, candidates in shared.items():
        winner = _choose(candidates, owners.get(key))
        by_key[key], members[key] = winner
        held.update(p.person_id for p, _ in candidates if p is not winner[0])
        problems.extend(_duplicate_problems(candidates, winner))

    problems.sort(key=lambda p: (_id_order(p.person_id), p.category.value, p.kind.value))
    return DesiredState(
        members=members, persons=by_key, problems=tuple(problems), held=frozenset(held)
    )
