"""The sync runner: source → desired state → current state → plan → Mailchimp → coupling database.

The shell around the pure core. It holds no rules of its own: what to do comes from
:func:`~auditcase_mailchimp.plan_sync`; this module only carries the plan out and records what
Mailchimp confirmed, one transaction per answer, so that a run killed at any moment loses
nothing (R7.2): the next run plans again from what was recorded and finishes the work.

Order of work in a run:

1. read the persons (a source that cannot be read stops the run before anything is sent);
2. work out the desired state (R1-R3) and the current state (the coupling database, or with
   ``reconcile`` a fresh read of the audience joined with it);
3. plan (R4, R5, R7.1), leaving out persons Mailchimp refused before with the same data (R6.3);
4. check the key and the audience with one request, only when there is something to send
   (a bad key or unknown audience stops the run before anything is written, R6.4);
5. carry the plan out: records first (adopt), then creates and updates in batch-subscribe
   calls of at most 500, address changes, tag removals, archives; up to the client's
   concurrency in flight;
6. record problems and failures in the failure overview, resolve what succeeded, save the
   report (R5.3, R3) and the run's counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any, Final

import attrs

from ._client import (
    BATCH_LIMIT,
    AudienceMember,
    FailureDetail,
    MailchimpClient,
    MemberOutcome,
    MemberResult,
    UpsertItem,
    _failed,
)
from ._desired import DesiredState, Problem, ProblemCategory, conflict, desired_state
from ._errors import ErrorCategory, MailchimpError
from ._models import Coupling, CurrentMember, MailchimpMember, Person, PersonKind
from ._plan import Adopt, Archive, ChangeAddress, Plan, UnsubscribedNotice, Upsert, plan_sync
from ._source import ExportFile, PersonSource, RowError
from ._store import CouplingStore, FailureInput, StoreError

__all__ = [
    "Progress",
    "SyncReport",
    "push_persons",
    "sync",
]

_log = logging.getLogger(__name__)

#: ``progress(phase, done, total)``: phases are ``read``, ``plan`` and ``push``.
Progress = Callable[[str, int, int], None]

_PROBLEM_CATEGORIES: Final = frozenset(c.value for c in ProblemCategory)
#: The failure categories of sending (everything but the problems found before sending).
SENDING_CATEGORIES: Final = tuple(category.value for category in ErrorCategory)


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


@attrs.frozen(kw_only=True)
class SyncReport:
    """What a sync did, or with ``dry_run`` would do (R7.3).

    Counts are of members; ``tags_changed`` counts members whose tags changed. ``failures`` are
    this run's refusals and errors from Mailchimp (also in the failure overview); ``problems``
    are found before sending (R2.6, R3); ``row_errors`` are rows of the export file that were
    skipped (R8.4).
    """

    dry_run: bool
    reconcile: bool
    created: int = 0
    updated: int = 0
    archived: int = 0
    address_changes: int = 0
    tags_changed: int = 0
    adopted: int = 0
    unchanged: int = 0
    #: Persons not sent again because Mailchimp refused the same data before (R6.3).
    skipped_refused: int = 0
    problems: tuple[Problem, ...] = ()
    row_errors: tuple[RowError, ...] = ()
    failures: tuple[FailureInput, ...] = ()
    #: Linked persons unsubscribed or cleaned in Mailchimp (R5.3).
    unsubscribed: tuple[UnsubscribedNotice, ...] = ()
    #: The plan that was carried out (or, on a dry run, would be).
    plan: Plan = attrs.field(factory=Plan, repr=False)

    @property
    def conflicts(self) -> tuple[Problem, ...]:
        """The duplicate-address problems (R3.2)."""
        return tuple(p for p in self.problems if p.category is ProblemCategory.DUPLICATE_ADDRESS)

    @property
    def ok(self) -> bool:
        """Tell whether every person was synced.

        ``False`` when there are failures, problems, bad rows, or persons not sent again
        because Mailchimp refused the same data before (R6.3).
        """
        return not (self.failures or self.problems or self.row_errors or self.skipped_refused)

    def counts(self) -> dict[str, int]:
        """The counts as a mapping, in the order the summary prints them."""
        return {
            "created": self.created,
            "updated": self.updated,
            "archived": self.archived,
            "address_changes": self.address_changes,
            "tags_changed": self.tags_changed,
            "adopted": self.adopted,
            "unchanged": self.unchanged,
            "skipped_refused": self.skipped_refused,
            "problems": len(self.problems),
            "row_errors": len(self.row_errors),
            "failures": len(self.failures),
            "unsubscribed": len(self.unsubscribed),
        }

    def to_json(self) -> dict[str, Any]:
        """The summary as one JSON object (``sync --json``, R9.1)."""
        return {
            "dry_run": self.dry_run,
            "reconcile": self.reconcile,
            **self.counts(),
            "ok": self.ok,
            "problem_details": [
                {
                    "person_id": p.person_id,
                    "kind": p.kind.value,
                    "category": p.category.value,
                    "message": p.message,
                }
                for p in self.problems
            ],
            "row_error_details": [str(e) for e in self.row_errors],
            "failure_details": [
                {
                    "person_id": f.person_id,
                    "action": f.action,
                    "category": f.category,
                    "status": f.status,
                    "title": f.title,
                    "detail": f.detail,
                }
                for f in self.failures
            ],
            **({"plan": [_action_json(a) for a in self.plan.actions]} if self.dry_run else {}),
        }


def _action_json(action: Upsert | ChangeAddress | Archive | Adopt) -> dict[str, Any]:
    """One planned action as JSON, for ``sync --dry-run --json`` (R7.3)."""
    data: dict[str, Any] = {
        "person_id": action.person_id,
        "kind": action.kind.value,
        "email_address": action.email_address,
    }
    if isinstance(action, Upsert):
        data["action"] = (
            "create" if action.create else ("re-add" if action.send_status else "update")
        )
    elif isinstance(action, ChangeAddress):
        data["action"] = "change_address"
        data["old_email_address"] = action.old_email_address
    elif isinstance(action, Archive):
        data["action"] = "archive"
    else:
        data["action"] = "record"
    if isinstance(action, Upsert | ChangeAddress):
        data["merge_fields"] = dict(sorted(action.merge_fields.items()))
        data["tags_add"] = sorted(action.tags_add)
        data["tags_remove"] = sorted(action.tags_remove)
    return data


# --- the runner ----------------------------------------------------------------------------------


def sync(
    source: PersonSource,
    *,
    store: CouplingStore,
    client: MailchimpClient,
    list_id: str,
    dry_run: bool = False,
    reconcile: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """Run one sync of every AuditCase person into the audience (R1-R7).

    Args:
        source: Where the persons come from; an :class:`~auditcase_mailchimp.ExportFile` also
            reports its skipped rows, whose persons are then left alone.
        store: The coupling database.
        client: The Mailchimp client.
        list_id: The audience id.
        dry_run: Plan only: nothing is sent and nothing is written, the store included (R7.3).
        reconcile: Read the audience from Mailchimp first and repair any drift; without it the
            run works from the coupling database, and sends nothing when nothing changed.
        retry_failed: Also re-send persons Mailchimp refused before with the same data (R6.3).
        progress: Called with ``(phase, done, total)`` as the run goes.

    Returns:
        The report, with counts, problems, failures, the R5.3 list and the plan.

    Raises:
        SourceError: The source cannot be read at all; nothing was sent or written.
        StoreError: The coupling database cannot be read or written.
        MailchimpError: The key or the audience is wrong (or a read failed for good); nothing
            was written.
        StoreBusyError: Another sync holds the coupling database.
    """
    report = progress or _no_progress
    persons = list(source.persons())
    row_errors = tuple(source.row_errors) if isinstance(source, ExportFile) else ()
    report("read", len(persons), len(persons))
    with _run_lock(store, dry_run=dry_run):
        return _sync_locked(
            persons,
            row_errors,
            store=store,
            client=client,
            list_id=list_id,
            dry_run=dry_run,
            reconcile=reconcile,
            retry_failed=retry_failed,
            progress=report,
        )


@contextlib.contextmanager
def _run_lock(store: CouplingStore, *, dry_run: bool) -> Iterator[None]:
    """Hold the run lock from the first read of the coupling database to the last write.

    A dry run writes nothing: on a read-only database, or when another run holds the lock, it
    reads without it (R7.3).
    """
    if not dry_run:
        with store.lock():
            yield
        return
    if getattr(store, "read_only", False):
        yield
        return
    try:
        lock = store.lock()
        lock.__enter__()
    except StoreError:
        yield
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _sync_locked(
    persons: list[Person],
    row_errors: tuple[RowError, ...],
    *,
    store: CouplingStore,
    client: MailchimpClient,
    list_id: str,
    dry_run: bool,
    reconcile: bool,
    retry_failed: bool,
    progress: Progress,
) -> SyncReport:
    report = progress
    current = _current(store, client, list_id, reconcile=reconcile)
    desired = desired_state(persons, owners=store.owners())
    # R8.4 with R2.6: a bad row is no reason to remove its person. A bad row without a usable
    # id could be anyone, so then nobody is removed for being absent from the source.
    hold = {e.person_id for e in row_errors if e.person_id is not None}
    if any(e.person_id is None for e in row_errors):
        present = {p.person_id for p in persons}
        hold |= {
            m.coupling.person_id
            for m in current
            if m.coupling is not None and m.coupling.person_id not in present
        }
    if hold:
        desired = attrs.evolve(desired, held=desired.held | hold)
    return _run(
        desired,
        current,
        store=store,
        audience=_Audience(client, list_id),
        dry_run=dry_run,
        reconcile=reconcile,
        retry_failed=retry_failed,
        row_errors=row_errors,
        progress=report,
        whole_audience=True,
    )


def push_persons(
    persons: Iterable[Person],
    *,
    store: CouplingStore,
    client: MailchimpClient,
    list_id: str,
    retry_failed: bool = True,
    progress: Progress | None = None,
) -> SyncReport:
    """Push just these persons now, as a plugin does when a person is saved in AuditCase.

    Everyone not in the call is left alone: only the members the coupling manages for these
    persons, and the addresses they want, are planned. A wanted address the coupling manages
    for a person not in the call is a duplicate (R3.2: the person already pushed keeps it).
    The same path as :func:`sync` records the same way and returns the same report.

    Args:
        persons: The persons to push (linked or not: an unlinked one is archived, R4.1).
        store: The coupling database.
        client: The Mailchimp client.
        list_id: The audience id.
        retry_failed: Re-send even data Mailchimp refused before (an explicit save in AuditCase
            is a request to try again); ``True`` by default.
        progress: Called with ``(phase, done, total)``.

    Returns:
        The report for these persons.

    It reads the coupling database's records once per call (about 0.3 s at 10,000 members),
    checks the key and audience with one request when there is something to send, and holds
    the database's run lock while it works, so push from one worker at a time.

    Raises:
        MailchimpError: The key or the audience is wrong; nothing was written.
        StoreBusyError: Another sync or push holds the coupling database.
        StoreError: The coupling database cannot be read or written.
    """
    chosen = list(persons)
    with store.lock():
        return _push_locked(chosen, store, _Audience(client, list_id), retry_failed, progress)


def _push_locked(
    chosen: list[Person],
    store: CouplingStore,
    audience: _Audience,
    retry_failed: bool,  # noqa: FBT001
    progress: Progress | None,
) -> SyncReport:
    ids = {p.person_id for p in chosen}
    everything = store.load_current()
    owners = {
        m.key: m.coupling.person_id
        for m in everything
        if m.coupling is not None and m.status != "archived"
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
        for m in everything
        if (m.coupling is not None and m.coupling.person_id in ids) or m.key in desired.members
    ]
    return _run(
        desired,
        current,
        store=store,
        audience=audience,
        dry_run=False,
        reconcile=False,
        retry_failed=retry_failed,
        row_errors=(),
        progress=progress or _no_progress,
        whole_audience=False,
        given=frozenset(ids),
    )


def _without_taken(desired: DesiredState, taken: Mapping[str, str]) -> DesiredState:
    """R3.2 for a partial push: an address another person holds stays theirs."""
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


def _current(
    store: CouplingStore, client: MailchimpClient, list_id: str, *, reconcile: bool
) -> list[CurrentMember]:
    """The current state: the coupling database, or a fresh read joined with it.

    A member archived in Mailchimp since the coupling last saw it live keeps that last status
    as its status at archiving (R4.3), so re-linking never re-subscribes one who had
    unsubscribed (R5.3).
    """
    recorded = store.load_current()
    if not reconcile:
        return recorded
    known = {m.key: m for m in recorded}
    joined = []
    for read in client.read_members(list_id):
        member = _as_current(read)
        record = known.get(member.key)
        coupling = record.coupling if record is not None else None
        if (
            coupling is not None
            and record is not None
            and member.status == "archived"
            and record.status != "archived"
        ):
            coupling = attrs.evolve(coupling, status_at_archive=record.status)
        joined.append(attrs.evolve(member, coupling=coupling))
    return joined


def _as_current(member: AudienceMember) -> CurrentMember:
    return CurrentMember(
        email_address=member.email_address,
        first_name=member.first_name,
        last_name=member.last_name,
        tags=member.tags,
        status=member.status,
    )


class _Audience:
    """The client and the audience id, for the executor."""

    def __init__(self, client: MailchimpClient, list_id: str) -> None:
        self.client = client
        self.list_id = list_id


def _fingerprint(action: Upsert | ChangeAddress | Archive) -> str:
    """What would be sent for an action, hashed: equal fingerprints, same request (R6.3)."""
    if isinstance(action, Archive):
        body: dict[str, Any] = {"archive": action.key}
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


def _run(
    desired: DesiredState,
    current: list[CurrentMember],
    *,
    store: CouplingStore,
    audience: _Audience,
    dry_run: bool,
    reconcile: bool,
    retry_failed: bool,
    row_errors: tuple[RowError, ...],
    progress: Progress,
    whole_audience: bool,
    given: frozenset[str] = frozenset(),
) -> SyncReport:
    plan = plan_sync(current, desired)
    progress("plan", len(plan.actions), len(plan.actions))
    refused = {} if retry_failed else store.refused()
    actions = []
    skipped_refused = 0
    for action in plan.actions:
        if (
            not isinstance(action, Adopt)
            and refused.get(action.person_id) is not None
            and refused[action.person_id] == _fingerprint(action)
        ):
            skipped_refused += 1  # R6.3: the same refused data is not sent again
            continue
        actions.append(action)
    report = SyncReport(
        dry_run=dry_run,
        reconcile=reconcile,
        unchanged=plan.unchanged,
        skipped_refused=skipped_refused,
        problems=desired.problems,
        row_errors=row_errors,
        unsubscribed=plan.unsubscribed,
        plan=attrs.evolve(plan, actions=tuple(actions)),  # what is (or would be) sent
    )
    report = _with_counts(report, _planned_counts(actions))
    if dry_run:
        return report

    if any(not isinstance(a, Adopt) for a in actions):
        # R6.4: a bad key or audience stops the run here, before anything is written
        audience.client.check_audience(audience.list_id)
    run_id = store.begin_run(dry_run=False, reconcile=reconcile)
    executor = _Executor(store, audience, progress, total=len(actions))
    if reconcile:
        store.update_statuses(
            {m.key: m.status for m in current if m.coupling is not None and m.status}
        )
    executor.execute(actions)
    _record_problems(store, desired, whole_audience=whole_audience, given=given)
    if whole_audience:
        store.save_report(_merged(plan.unsubscribed, executor.notices), report.conflicts)
    report = _with_counts(
        attrs.evolve(
            report,
            failures=tuple(executor.failures),
            unsubscribed=_merged(plan.unsubscribed, executor.notices),
        ),
        executor.done_counts(),
    )
    store.finish_run(
        run_id, report.counts(), outcome="ok" if report.ok else "finished with failures"
    )
    _log.info(
        "sync finished: %s",
        ", ".join(f"{name} {count}" for name, count in report.counts().items()),
    )
    return report


def _merged(
    planned: Iterable[UnsubscribedNotice], learned: Iterable[UnsubscribedNotice]
) -> tuple[UnsubscribedNotice, ...]:
    """The R5.3 list: what the plan knew and what Mailchimp's answers told, once each."""
    unique = {(n.person_id, n.email_address.lower()): n for n in (*planned, *learned)}
    return tuple(sorted(unique.values(), key=lambda n: (n.person_id, n.email_address.lower())))


def _with_counts(report: SyncReport, counts: Mapping[str, int]) -> SyncReport:
    return attrs.evolve(
        report,
        created=counts["created"],
        updated=counts["updated"],
        archived=counts["archived"],
        address_changes=counts["address_changes"],
        tags_changed=counts["tags_changed"],
        adopted=counts["adopted"],
    )


def _planned_counts(actions: Sequence[Upsert | ChangeAddress | Archive | Adopt]) -> dict[str, int]:
    counts = {
        "created": 0,
        "updated": 0,
        "archived": 0,
        "address_changes": 0,
        "tags_changed": 0,
        "adopted": 0,
    }
    for action in actions:
        if isinstance(action, Upsert):
            counts["created" if action.create else "updated"] += 1
            # Tags changed: of members that were there already (a new member's tags are new).
            counts["tags_changed"] += not action.create and bool(
                action.tags_add or action.tags_remove
            )
        elif isinstance(action, ChangeAddress):
            counts["address_changes"] += 1
            counts["tags_changed"] += bool(action.tags_add or action.tags_remove)
        elif isinstance(action, Archive):
            counts["archived"] += 1
        else:
            counts["adopted"] += 1
    return counts


def _record_problems(
    store: CouplingStore,
    desired: DesiredState,
    *,
    whole_audience: bool,
    given: frozenset[str] = frozenset(),
) -> None:
    """Problems found before sending go to the failure overview; vanished ones are resolved."""
    with_problems: dict[str, set[str]] = {}
    for problem in desired.problems:
        store.record_failure(FailureInput.from_problem(problem))
        with_problems.setdefault(problem.person_id, set()).add(problem.category.value)
    asked = set(desired.held) | {p.person_id for p in desired.persons.values()} | set(given)
    for failure in store.failures():
        if failure.category not in _PROBLEM_CATEGORIES:
            continue
        if not whole_audience and failure.person_id not in asked:
            continue  # a partial push says nothing about persons it was not given
        if failure.category not in with_problems.get(failure.person_id, ()):
            store.resolve_failures([failure.person_id], categories=[failure.category])


# --- carrying the plan out --------------------------------------------------------------------


def _record_of(
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
    """
    status = status or "subscribed"
    at_archive = before if status == "archived" and before not in (None, "archived") else None
    return CurrentMember(
        email_address=member.email_address,
        first_name=member.first_name,
        last_name=member.last_name,
        tags=managed,
        status=status,
        coupling=Coupling(
            person_id=person_id, kind=kind, tags=managed, status_at_archive=at_archive
        ),
    )


class _Executor:
    """Sends the plan's requests, up to the client's concurrency, and records each answer."""

    def __init__(
        self, store: CouplingStore, audience: _Audience, progress: Progress, *, total: int
    ) -> None:
        self.store = store
        self.client = audience.client
        self.list_id = audience.list_id
        self.progress = progress
        self.total = total
        self.finished = 0
        self.failures: list[FailureInput] = []
        self.counts = dict.fromkeys(
            ("created", "updated", "archived", "address_changes", "tags_changed", "adopted"), 0
        )
        self._removals: list[tuple[Upsert | ChangeAddress, str]] = []
        #: R5.3 notices learned from Mailchimp's answers in this run.
        self.notices: list[UnsubscribedNotice] = []
        self._failed_ids: set[str] = set()

    def done_counts(self) -> dict[str, int]:
        return dict(self.counts)

    def _tick(self, n: int = 1) -> None:
        self.finished += n
        self.progress("push", self.finished, self.total)

    def _fail(
        self, action: Upsert | ChangeAddress | Archive, result: MemberResult, what: str
    ) -> None:
        error = result.error or FailureDetail(category=ErrorCategory.GENERIC, title="Failed")
        failure = FailureInput(
            person_id=action.person_id,
            kind=action.kind,
            action=what,
            category=error.category.value,
            title=error.title,
            email_address=action.email_address,
            status=error.status,
            detail=error.detail,
            field_errors=tuple((e.field, e.message) for e in error.field_errors),
            fingerprint=_fingerprint(action),
        )
        self.store.record_failure(failure)
        self.failures.append(failure)
        self._failed_ids.add(action.person_id)

    def _succeeded(self, person_ids: Iterable[str]) -> None:
        """R6.3: a later success closes the person's entries about sending.

        Problems found before sending (R2.6, R3) are resolved when they are no longer found,
        by :func:`_record_problems`, not by a success: the pushed one of a duplicate still has
        its conflict.
        """
        # A person with a failure in this run keeps it, whatever else of theirs succeeded.
        ids = [i for i in person_ids if i not in self._failed_ids]
        if ids:
            self.store.resolve_failures(ids, categories=SENDING_CATEGORIES)

    def _parallel(
        self, calls: Iterable[tuple[Any, Callable[[], Any]]]
    ) -> Iterator[tuple[Any, Any]]:
        """Run calls up to the concurrency; yield ``(tag, result)`` in the order they finish."""
        pool = ThreadPoolExecutor(max_workers=self.client.concurrency)
        try:
            futures: dict[Future[Any], Any] = {pool.submit(call): tag for tag, call in calls}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            # Interrupted (Ctrl-C, a store error): the requests not yet started are not sent.
            pool.shutdown(wait=True, cancel_futures=True)

    def execute(self, actions: Sequence[Upsert | ChangeAddress | Archive | Adopt]) -> None:
        adopts = [a for a in actions if isinstance(a, Adopt)]
        upserts = [a for a in actions if isinstance(a, Upsert)]
        changes = [a for a in actions if isinstance(a, ChangeAddress)]
        archives = [a for a in actions if isinstance(a, Archive)]
        if adopts:
            self.store.record_members(
                [
                    _record_of(
                        a.person_id, a.kind, a.member, managed=a.member.tags, status=a.status
                    )
                    for a in adopts
                ]
            )
            self.counts["adopted"] += len(adopts)
            self._tick(len(adopts))
        self._upserts(upserts)
        self._changes(changes)
        self._remove_tags()
        self._archives(archives)

    # creates and updates ------------------------------------------------------------------

    def _upserts(self, upserts: Sequence[Upsert]) -> None:
        sending: list[Upsert] = []
        for action in upserts:
            if action.create or action.merge_fields or action.tags_add or action.send_status:
                sending.append(action)
            else:  # only managed tags to remove: no batch-subscribe entry needed
                self._removals.append((action, action.previous_status or ""))
        chunks = [sending[i : i + BATCH_LIMIT] for i in range(0, len(sending), BATCH_LIMIT)]
        # Each chunk's items are built by the thread that sends it, so the first request does
        # not wait for all of them to be built.
        calls = [(chunk, _bind(self._upsert_chunk, chunk)) for chunk in chunks]
        for chunk, outcomes in self._parallel(calls):
            confirmed = []
            for action, outcome in zip(chunk, outcomes, strict=True):
                if not outcome.ok:
                    self._fail(action, outcome, "create" if action.create else "update")
                    self._tick()
                    continue
                # Tags still to remove stay recorded as managed until their removal is confirmed.
                confirmed.append(
                    _record_of(
                        action.person_id,
                        action.kind,
                        action.member,
                        managed=action.member.tags | action.tags_remove,
                        status=outcome.status,
                        before=action.previous_status,
                    )
                )
                self._notice_status(action, outcome.status)
                if action.tags_remove:
                    self._removals.append((action, outcome.status))
                else:  # Mailchimp says which it was (a lost earlier attempt may have created it)
                    self.counts[_created_or_updated(outcome)] += 1
                    self.counts["tags_changed"] += not action.create and bool(action.tags_add)
                    self._tick()
            if confirmed:
                self.store.record_members(confirmed)  # one transaction per answer
                self._succeeded(r.coupling.person_id for r in confirmed if r.coupling is not None)

    def _upsert_chunk(self, chunk: Sequence[Upsert]) -> list[MemberResult]:
        """One batch-subscribe call of at most 500 members."""
        items = [
            UpsertItem(
                email_address=a.email_address,
                merge_fields=a.merge_fields,
                tags=a.tags_add,
                send_status=a.send_status,
            )
            for a in chunk
        ]
        return self.client.batch_upsert(self.list_id, items)

    def _notice_status(self, action: Upsert | ChangeAddress, status: str) -> None:
        """R5.3: an answer saying the member is unsubscribed or cleaned puts it on the report."""
        if status in ("unsubscribed", "cleaned"):
            self.notices.append(
                UnsubscribedNotice(
                    person_id=action.person_id,
                    kind=action.kind,
                    email_address=action.email_address,
                    status=status,
                )
            )

    # address changes (R5.4) ---------------------------------------------------------------

    def _changes(self, changes: Sequence[ChangeAddress]) -> None:
        calls = [
            (
                a,
                _bind(
                    self.client.change_address,
                    self.list_id,
                    a.old_email_address,
                    a.email_address,
                    a.merge_fields,
                ),
            )
            for a in changes
        ]
        fallbacks: list[ChangeAddress] = []
        for action, outcome in self._parallel(calls):
            if not outcome.ok:
                if outcome.fallback:
                    fallbacks.append(action)
                else:
                    self._fail(action, outcome, "change_address")
                    self._tick()
                continue
            managed = (action.member.tags - action.tags_add) | action.tags_remove
            record = _record_of(
                action.person_id, action.kind, action.member, managed=managed, status=outcome.status
            )
            self.store.record_address_change(action.old_email_address, record)
            if action.tags_add or action.tags_remove:
                self._removals.append((action, outcome.status))
            else:
                self.counts["address_changes"] += 1
                self._succeeded([action.person_id])
                self._tick()
        for action in fallbacks:
            self._fallback(action)

    def _fallback(self, action: ChangeAddress) -> None:
        """R5.4 when Mailchimp would not move the member.

        The old member is looked at first: an ``unsubscribed`` one is left as it is and the new
        address is not added (R5.3); a gone one (an interrupted earlier run moved it) only moves
        its record; otherwise the new address is updated and the old member archived.
        """
        try:
            before = self.client.get_member(self.list_id, action.old_email_address)
        except MailchimpError as error:
            failed = _failed(action.email_address, FailureDetail.from_error(error))
            self._fail(action, failed, "change_address")
            self._tick()
            return
        if before is not None and before.status == "unsubscribed":
            self.store.update_statuses({action.old_email_address.lower(): "unsubscribed"})
            self.notices.append(
                UnsubscribedNotice(
                    person_id=action.person_id,
                    kind=action.kind,
                    email_address=action.old_email_address,
                    status="unsubscribed",
                )
            )
            self._tick()
            return
        item = UpsertItem(
            email_address=action.email_address,
            merge_fields={"FNAME": action.member.first_name, "LNAME": action.member.last_name},
            tags=action.member.tags,
            send_status=False,
        )
        (outcome,) = self.client.batch_upsert(self.list_id, [item])
        if not outcome.ok:
            self._fail(action, outcome, "change_address")
            self._tick()
            return
        # Managed tags to drop stay recorded as managed until their removal is confirmed.
        record = _record_of(
            action.person_id,
            action.kind,
            action.member,
            managed=action.member.tags | action.tags_remove,
            status=outcome.status,
        )
        if before is None or before.status == "archived":
            self.store.record_address_change(action.old_email_address, record)
        else:
            self.store.record_members([record])
            old = self.client.archive(self.list_id, action.old_email_address)
            if not old.ok:
                self._fail(action, old, "archive")
                self._tick()
                return
            self.store.record_archive(action.old_email_address, before.status)  # R4.3
        if action.tags_remove:
            self._removals.append((action, outcome.status))
            return
        self.counts["address_changes"] += 1
        self._succeeded([action.person_id])
        self._tick()

    # tags ---------------------------------------------------------------------------------

    def _remove_tags(self) -> None:
        pending, self._removals = self._removals, []
        calls = []
        for action, status in pending:
            calls.append(((action, status, "remove"), _bind(self._set_tags, action)))
        for (action, status, _), outcome in self._parallel(calls):
            if not outcome.ok:
                self._fail(action, outcome, "tags")
                self._tick()
                continue
            self.store.record_members(
                [
                    _record_of(
                        action.person_id,
                        action.kind,
                        action.member,
                        managed=action.member.tags,
                        status=status,
                    )
                ]
            )
            if isinstance(action, ChangeAddress):
                self.counts["address_changes"] += 1
            else:
                self.counts["created" if action.create else "updated"] += 1
            self.counts["tags_changed"] += not (isinstance(action, Upsert) and action.create)
            self._succeeded([action.person_id])
            self._tick()

    def _set_tags(self, action: Upsert | ChangeAddress) -> MemberResult:
        """One tags call: the removals, and for an address change its additions too."""
        add = action.tags_add if isinstance(action, ChangeAddress) else frozenset()
        return self.client.set_tags(
            self.list_id, action.email_address, add=add, remove=action.tags_remove
        )

    # archives -----------------------------------------------------------------------------

    def _archives(self, archives: Sequence[Archive]) -> None:
        calls = [(a, _bind(self.client.archive, self.list_id, a.email_address)) for a in archives]
        for action, outcome in self._parallel(calls):
            if not outcome.ok:
                self._fail(action, outcome, "archive")
            else:
                self.store.record_archive(action.email_address, action.status)  # R4.3
                self.counts["archived"] += 1
                self._succeeded([action.person_id])
            self._tick()


def _created_or_updated(outcome: MemberResult) -> str:
    return "created" if outcome.outcome is MemberOutcome.CREATED else "updated"


def _bind(function: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    def call() -> Any:
        return function(*args)

    return call
