"""The rules of the run around the steps: what a run covers, holds, leaves out and reports.

Pure core, like :mod:`auditcase_mailchimp._steps` and the planner: values in, a value out; no
I/O, no clock. The runner (:mod:`auditcase_mailchimp._sync`) asks these before it plans, before
it sends, and when it reports:

- R8.4 with R2.6: a bad row holds its person; one that names nobody holds every removal
  (:func:`hold`);
- R3.2 for a push of some persons: an address another person holds stays theirs
  (:func:`partial`);
- R4.3 and R4.5 when the audience is read (:func:`joined`);
- R6.3: the fingerprint of what is sent and the refused filter (:func:`without_refused`), and
  which open entries a run resolves (:func:`stale_problems`, :func:`stale_failures`,
  :func:`settled_failures`);
- R6.4: only a plan that sends checks the key and the audience (:func:`sends`);
- R5.3: the report's list (:func:`merged`) and the persons on it nothing is sent for
  (:func:`idle_unsubscribed`);
- R7.5's mass-archive guard (:func:`mass_archive`, :func:`too_many`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Final

import attrs

from ._desired import DesiredState, conflict, desired_state
from ._models import CurrentMember, MemberStatus, Person, recoupled
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
    "Scope",
    "fingerprint",
    "hold",
    "idle_unsubscribed",
    "joined",
    "mass_archive",
    "merged",
    "other_audience",
    "partial",
    "sends",
    "settled_failures",
    "stale_failures",
    "stale_problems",
    "too_many",
    "without_refused",
]

#: R7.5: a plan removing more than this share of the managed members, and at least
#: :data:`_MASS_MINIMUM` of them, stops unless the caller allows it.
_MASS_SHARE: Final = 4
_MASS_MINIMUM: Final = 20


def other_audience(recorded: str | None, given: str) -> str | None:
    """The audience a coupling database belongs to when it is not ``given`` (R4.6).

    Args:
        recorded: The audience id the database recorded, ``None`` when it recorded none yet
            (a new or migrated database: the run records ``given``).
        given: The audience id the run was given.

    Returns:
        The recorded id when the run must stop before anything is sent or written, else
        ``None``.
    """
    return recorded if recorded is not None and recorded != given else None


def sends(actions: Iterable[Action]) -> bool:
    """Tell whether any action sends a request (R6.4: only then are key and audience checked)."""
    return any(not isinstance(action, Adopt | Release) for action in actions)


def joined(read: Iterable[CurrentMember], recorded: Iterable[CurrentMember]) -> list[CurrentMember]:
    """The current state of a reconcile: the audience as read, each with the coupling's record.

    A member archived in Mailchimp since the coupling last saw it live keeps that last status
    as its status at archiving (R4.3). A member the coupling released (R4.5) and that is still
    ``cleaned`` or ``pending`` stays unmanaged: it is not released again every run.

    Args:
        read: Every member of the audience as read (without coupling).
        recorded: The coupling database's records.

    Returns:
        One member per member read, with its coupling where the coupling manages it.
    """
    known = {m.key: m for m in recorded}
    members = []
    for member in read:
        record = known.get(member.key)
        coupling = record.coupling if record is not None else None
        if record is not None and coupling is not None:
            was_archived = record.status == MemberStatus.ARCHIVED
            if member.status == MemberStatus.ARCHIVED and not was_archived:
                coupling = attrs.evolve(coupling, status_at_archive=record.status)
            elif was_archived and member.status in RELEASED_STATUSES:
                coupling = None  # released (R4.5)
        members.append(recoupled(member, coupling))
    return members


# --- what a run covers -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Scope:
    """What a run covers: the whole audience (a sync) or the persons given (a push)."""

    #: The persons given; ``None`` for the whole audience.
    persons: frozenset[str] | None = None

    @property
    def whole(self) -> bool:
        """``True`` for a run over the whole audience (it saves the R5.3/R3 report)."""
        return self.persons is None


def hold(
    desired: DesiredState,
    bad_rows: Iterable[str | None],
    present: Collection[str],
    current: Iterable[CurrentMember],
) -> tuple[DesiredState, bool]:
    """R8.4 with R2.6: a bad row is no reason to remove its person.

    A bad row without a usable id could be anyone, so then nobody is removed for being absent
    from the source.

    Args:
        desired: The desired state from the rows that were read.
        bad_rows: The person id of each bad row (``None`` when it could not be read).
        present: The ids of the persons that were read.
        current: The current state.

    Returns:
        The desired state with those persons held, and whether every removal is held.
    """
    ids = list(bad_rows)
    held = {i for i in ids if i is not None}
    everyone = None in ids
    if everyone:
        held |= {
            m.coupling.person_id
            for m in current
            if m.coupling is not None and m.coupling.person_id not in present
        }
    if held:
        desired = attrs.evolve(desired, held=desired.held | held)
    return desired, everyone


def partial(
    persons: Iterable[Person], everything: Iterable[CurrentMember], *, removed: Iterable[str] = ()
) -> tuple[DesiredState, list[CurrentMember]]:
    """The desired and current state of a push of some persons (R3.2 for a partial push).

    Only the members the coupling manages for these persons, and the addresses they want, are
    planned; an address the coupling manages for a person not in the push stays theirs (the
    person pushed is reported as a duplicate and held).

    Args:
        persons: The persons pushed.
        everything: Every record of the coupling database.
        removed: Ids of persons deleted or unlinked in AuditCase, to remove (R4.1).

    Returns:
        The desired state and the part of the current state the push is about.
    """
    chosen = list(persons)
    ids = {p.person_id for p in chosen} | set(removed)
    records = list(everything)
    owners = {
        m.key: m.coupling.person_id
        for m in records
        if m.coupling is not None and m.status != MemberStatus.ARCHIVED
    }
    desired = desired_state(chosen, owners=owners)
    taken = {
        key: owners[key]
        for key, person in desired.persons.items()
        if owners.get(key, person.person_id) not in (person.person_id, *ids)
    }
    if taken:
        desired = _without_taken(desired, taken)
    current = [
        m
        for m in records
        if (m.coupling is not None and m.coupling.person_id in ids) or m.key in desired.members
    ]
    return desired, current


def _without_taken(desired: DesiredState, taken: Mapping[str, str]) -> DesiredState:
    members = dict(desired.members)
    persons = dict(desired.persons)
    problems = list(desired.problems)
    held = set(desired.held)
    for key, owner in taken.items():
        member, person = members.pop(key), persons.pop(key)
        held.add(person.person_id)
        problems.append(conflict(person, member.email_address, (owner,), pushed=False))
    return DesiredState(
        members=members, persons=persons, problems=tuple(problems), held=frozenset(held)
    )


def stale_problems(
    open_problems: Iterable[tuple[str, str]], desired: DesiredState, scope: Scope
) -> list[tuple[str, str]]:
    """The open problems (R2.6, R3) no longer found, to resolve (R6.3).

    A push says nothing about persons it was not given.

    Args:
        open_problems: ``(person_id, category)`` of each open entry found before sending.
        desired: This run's desired state, with its problems.
        scope: What the run covers.

    Returns:
        The ``(person_id, category)`` pairs to resolve.
    """
    found = {(p.person_id, p.category.value) for p in desired.problems}
    asked: set[str] | None = None
    if scope.persons is not None:
        asked = set(desired.held) | {p.person_id for p in desired.persons.values()}
        asked |= scope.persons
    return [
        (person_id, category)
        for person_id, category in open_problems
        if (asked is None or person_id in asked) and (person_id, category) not in found
    ]


def stale_failures(
    open_ids: Iterable[str], desired: DesiredState, actions: Iterable[Action], scope: Scope
) -> list[str]:
    """The persons whose open failures about sending concern nobody any more, to resolve (R6.3).

    A person who is no longer linked, or no longer in the export, will not be sent anything
    again: once nothing is left to do for them (no action in the plan, not even an archive
    refused before), their entries about sending are resolved, as a vanished problem is. A
    push says nothing about persons it was not given, nor does a run that holds a person.

    Args:
        open_ids: The person id of each open entry about sending.
        desired: This run's desired state.
        actions: The plan's actions, before the refused ones are left out.
        scope: What the run covers.

    Returns:
        The person ids, sorted, each once.
    """
    candidates = set(open_ids)
    if not scope.whole or not candidates:
        return []
    still = {p.person_id for p in desired.persons.values()} | set(desired.held)
    still |= {p.person_id for p in desired.problems}
    still |= {a.person_id for a in actions}
    return sorted(candidates - still)


def settled_failures(
    open_ids: Iterable[str], desired: DesiredState, actions: Iterable[Action]
) -> list[str]:
    """The wanted persons whose failures worth repeating are settled: nothing is left to send.

    A request that failed without an answer, or with a 500-class one, may have been carried
    out (R7.4); the next run reads the member back. When the plan then has nothing to do for
    the person, what they want is in the audience, which is the later success R6.3 speaks of.

    Args:
        open_ids: The person id of each open entry worth repeating (network, 5xx, 429).
        desired: This run's desired state.
        actions: The plan's actions, before the refused ones are left out.

    Returns:
        The person ids, sorted, each once.
    """
    candidates = set(open_ids)
    if not candidates:  # the common case: nothing worth repeating is open
        return []
    wanted = {p.person_id for p in desired.persons.values()}
    acted = {a.person_id for a in actions}
    return sorted((candidates & wanted) - acted)


# --- R6.3: not sending refused data again ------------------------------------------------------


def fingerprint(action: Upsert | ChangeAddress | Archive) -> str:
    """What would be sent for an action, hashed: equal fingerprints, same request (R6.3).

    Args:
        action: An action that sends a request.

    Returns:
        32 hexadecimal digits.
    """
    if isinstance(action, Archive):
        body: dict[str, object] = {"archive": action.key}
    else:
        body = {
            "address": action.key,
            "from": action.old_email_address.lower() if isinstance(action, ChangeAddress) else "",
            "merge_fields": dict(sorted(action.merge_fields.items())),
            "add": sorted(action.tags_add),
            "remove": sorted(action.tags_remove),
            "status": isinstance(action, Upsert) and action.send_status,
        }
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def without_refused(
    actions: Sequence[Action], refused: Mapping[str, str]
) -> tuple[tuple[Action, ...], int]:
    """R6.3: leave out the actions that would send data Mailchimp refused before.

    Args:
        actions: The plan's actions.
        refused: The fingerprint of each person's open refusal, by person id.

    Returns:
        The actions to carry out, and how many were left out.
    """
    if not refused:  # the common case: nothing refused is open
        return tuple(actions), 0
    kept: list[Action] = []
    for action in actions:
        if not isinstance(action, Adopt | Release):
            before = refused.get(action.person_id)
            if before is not None and before == fingerprint(action):
                continue
        kept.append(action)
    return tuple(kept), len(actions) - len(kept)


# --- the run's report ---------------------------------------------------------------------------


def merged(
    planned: Iterable[UnsubscribedNotice], learned: Iterable[UnsubscribedNotice]
) -> tuple[UnsubscribedNotice, ...]:
    """The R5.3 list: what the plan knew and what Mailchimp's answers told, once each."""
    unique = {(n.person_id, n.email_address.lower()): n for n in (*planned, *learned)}
    return tuple(sorted(unique.values(), key=lambda n: (n.person_id, n.email_address.lower())))


def idle_unsubscribed(
    notices: Iterable[UnsubscribedNotice],
    actions: Iterable[Action],
    desired: DesiredState,
    current: Iterable[CurrentMember],
) -> int:
    """R5.3: the linked persons on the report for whom nothing is sent and nothing counted.

    A person whose member is archived (or, after R5.4, not added) because they unsubscribed is
    neither pushed nor up to date: the summary counts them as left out, so that every linked
    person is in one bucket. One whose member is live is counted already (up to date, or
    updated: names and tags still follow AuditCase).

    Args:
        notices: The plan's R5.3 notices.
        actions: The plan's actions, before the refused ones are left out.
        desired: This run's desired state.
        current: The current state.

    Returns:
        How many persons.
    """
    notices = list(notices)
    if not notices:  # the common case: nobody on the R5.3 report
        return 0
    busy = {a.person_id for a in actions}
    wanted = {person.person_id: key for key, person in desired.persons.items()}
    live = {m.key for m in current if m.status != MemberStatus.ARCHIVED}
    idle = {
        n.person_id
        for n in notices
        if n.person_id not in busy and wanted.get(n.person_id) not in live
    }
    return len(idle)


def mass_archive(actions: Sequence[Action], current: Iterable[CurrentMember]) -> tuple[int, int]:
    """R7.5: how many members the plan removes, and how many the coupling manages.

    Args:
        actions: The actions to carry out.
        current: The current state.

    Returns:
        ``(removals, managed)``; the run stops when :func:`too_many` says so.
    """
    removals = sum(1 for a in actions if isinstance(a, Archive | Release))
    managed = sum(
        1 for m in current if m.coupling is not None and m.status != MemberStatus.ARCHIVED
    )
    return removals, managed


def too_many(removals: int, managed: int) -> bool:
    """R7.5: more than a quarter of the managed members, and at least 20."""
    return removals >= _MASS_MINIMUM and removals * _MASS_SHARE > managed
