"""The sync runner: source → desired state → current state → plan → Mailchimp → coupling database.

The shell around the pure core; it holds no rule of its own. Order of work in a run, all of it
under the coupling database's run lock (one critical section, so a push cannot slip in between
a plan and its writes):

1. read the persons (a source that cannot be read stops the run before anything is sent);
2. take the run lock, then work out the desired state (R1-R3, with R8.4's hold) and the current
   state (the coupling database, or with ``reconcile`` a fresh read of the audience joined
   with it, :func:`~auditcase_mailchimp._run_rules.joined`);
3. plan (R4, R5, R7.1), leaving out persons Mailchimp refused before with the same data (R6.3),
   and stop when the plan removes too many members (R7.5);
4. check the key and the audience with one request, only when there is something to send
   (a bad key or unknown audience stops the run before anything is written, R6.4);
5. carry the plan out with the executor (:mod:`auditcase_mailchimp._executor`), which asks
   :mod:`auditcase_mailchimp._steps` what each answer leads to; it records each request's
   intent before sending it and clears it with the answer's records (R7.4), and a run that
   finds intents left open by an unfinished run settles them first, right after taking the
   lock (:mod:`auditcase_mailchimp._recover`);
6. record problems in the failure overview, resolve what vanished, save the report (R5.3, R3)
   and the run's counts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from ._client import MailchimpClient
from ._client_checks import check_list_id
from ._desired import DesiredState, ProblemCategory, desired_state
from ._errors import AudienceMismatchError, MassArchiveError
from ._executor import SENDING_CATEGORIES, Executor, Progress
from ._executor_bulk import BatchSettings, drain_batches
from ._failures import RETRYABLE_CATEGORIES
from ._models import CurrentMember, Person, address_key
from ._plan import Action, plan_sync
from ._recover import as_current, settle_open
from ._report import SyncReport
from ._run_rules import (
    Scope,
    hold,
    idle_unsubscribed,
    joined,
    mass_archive,
    merged,
    other_audience,
    partial,
    sends,
    settled_failures,
    stale_failures,
    stale_problems,
    too_many,
    without_refused,
)
from ._settle import applied
from ._source import ExportFile, PersonSource
from ._steps import planned_counts
from ._store import CouplingStore, FailureInput, StoreError

__all__ = [
    "Progress",
    "SyncReport",
    "push_persons",
    "remove_persons",
    "sync",
]

_log = logging.getLogger(__name__)

_PROBLEM_CATEGORIES = frozenset(c.value for c in ProblemCategory)


def _no_progress(_phase: str, _done: int, _total: int) -> None:
    return None


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
    allow_mass_archive: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """Run one sync of every AuditCase person into the audience (R1-R7).

    Args:
        source: Where the persons come from; an :class:`~auditcase_mailchimp.ExportFile` also
            reports its skipped rows, whose persons are then left alone (R8.4).
        store: The coupling database.
        client: The Mailchimp client.
        list_id: The audience id.
        dry_run: Plan only: nothing is sent and nothing is written, the store included (R7.3).
        reconcile: Read the audience from Mailchimp first and repair any drift; without it the
            run works from the coupling database, and sends nothing when nothing changed.
        retry_failed: Also re-send persons Mailchimp refused before with the same data (R6.3).
        allow_mass_archive: Go ahead even when the plan removes more than a quarter of the
            members the coupling manages (and at least 20) (R7.5).
        progress: Called with ``(phase, done, total)`` as the run goes.

    Returns:
        The report, with counts, problems, failures, the R5.3 list and the plan.

    Raises:
        SourceError: The source cannot be read at all; nothing was sent or written.
        StoreError: The coupling database cannot be read or written.
        MailchimpError: The key or the audience is wrong (or a read failed for good); nothing
            was written.
        MassArchiveError: The plan removes too many members and ``allow_mass_archive`` is
            false; nothing was sent or written (R7.5). A dry run does not raise: its report
            says :attr:`SyncReport.mass_archive_blocked`.
        AudienceMismatchError: The coupling database belongs to another audience (R4.6);
            nothing was sent or written.
        StoreBusyError: Another sync or push holds the coupling database.
    """
    report = progress or _no_progress
    persons = list(source.persons())
    row_errors = tuple(source.row_errors) if isinstance(source, ExportFile) else ()
    report("read", len(persons), len(persons))
    with _run_lock(store, dry_run=dry_run):
        _check_bound(store, list_id)
        # R7.4: what an unfinished run may have done is recorded first (a dry run only reads)
        if not dry_run:
            _drain(store, client, list_id)
        settled = settle_open(store, client, list_id, dry_run=dry_run)
        records = store.load_current()
        if dry_run and settled:
            records = applied(records, settled)
        if reconcile:
            read = [as_current(m) for m in client.read_members(list_id)]
            current = joined(read, records)
        else:
            current = records
        desired = desired_state(persons, owners=store.owners())
        bad_rows = [e.person_id for e in row_errors]
        # the ids read are needed only when a bad row has none (R8.4): a million-id set else
        present = {p.person_id for p in persons} if None in bad_rows else frozenset[str]()
        desired, held = hold(desired, bad_rows, present, current)
        del present
        start = _started(
            persons, dry_run=dry_run, reconcile=reconcile, removals_held=held, row_errors=row_errors
        )
        del persons  # from here on the desired state holds the persons it needs
        return _run(
            desired,
            current,
            start,
            run=_Run(store=store, client=client, list_id=list_id, progress=report),
            retry_failed=retry_failed,
            allow_mass_archive=allow_mass_archive,
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

    It reads only the records of these persons and of the addresses they use (indexed
    lookups, so its cost does not grow with the database), checks the key and audience with
    one request when there is something to send, and holds the database's run lock while it
    reads and works, so push from one worker at a time.

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

    Raises:
        MailchimpError: The key or the audience is wrong; nothing was written.
        AudienceMismatchError: The coupling database belongs to another audience (R4.6);
            nothing was sent or written.
        StoreBusyError: Another sync or push holds the coupling database.
        StoreError: The coupling database cannot be read or written.
    """
    run = _Run(store=store, client=client, list_id=list_id, progress=progress or _no_progress)
    return _push(list(persons), (), run, retry_failed=retry_failed)


def remove_persons(
    person_ids: Iterable[str],
    *,
    store: CouplingStore,
    client: MailchimpClient,
    list_id: str,
    progress: Progress | None = None,
) -> SyncReport:
    """Remove the members of persons deleted or unlinked in AuditCase, now (R4.1).

    Each member the coupling manages for these persons is archived (R4.2, keeping its status,
    R4.3), or released when Mailchimp refuses to archive it (``cleaned``, ``pending``; R4.5).
    Members the coupling does not manage are never touched (R4.4); everyone else is left alone.

    Args:
        person_ids: AuditCase ids of the persons deleted or unlinked.
        store: The coupling database.
        client: The Mailchimp client.
        list_id: The audience id.
        progress: Called with ``(phase, done, total)``.

    Returns:
        The report, whose ``archived`` and ``released`` count what was removed.

    Raises:
        MailchimpError: The key or the audience is wrong; nothing was written.
        AudienceMismatchError: The coupling database belongs to another audience (R4.6);
            nothing was sent or written.
        StoreBusyError: Another sync or push holds the coupling database.
        StoreError: The coupling database cannot be read or written.
    """
    ids = [str(i) for i in person_ids]
    run = _Run(store=store, client=client, list_id=list_id, progress=progress or _no_progress)
    return _push([], ids, run, retry_failed=True)


def _push(
    persons: list[Person],
    removed: Collection[str],
    run: _Run,
    *,
    retry_failed: bool,
) -> SyncReport:
    with run.store.lock():
        _check_bound(run.store, run.list_id)
        _drain(run.store, run.client, run.list_id)
        settle_open(run.store, run.client, run.list_id)  # R7.4, before planning
        # Indexed lookups of just these persons and the addresses they may want (issue 12.7).
        keys = {
            address_key(address)
            for person in persons
            for address in (person.contact_email, person.company_email)
            if address.strip()
        }
        ids = {p.person_id for p in persons} | set(removed)
        records = run.store.load_current_for(ids, keys)
        desired, current = partial(persons, records, removed=removed)
        given = frozenset(ids)
        start = _started(persons, dry_run=False, reconcile=False)
        return _run(
            desired,
            current,
            start,
            run=attrs.evolve(run, scope=Scope(persons=given)),
            retry_failed=retry_failed,
            allow_mass_archive=True,
        )


def _started(persons: Sequence[Person], **fields: Any) -> SyncReport:
    """The report as a run starts: the persons read and, of those, the linked ones."""
    linked = sum(1 for p in persons if p.linked)
    return SyncReport(persons_read=len(persons), persons_linked=linked, **fields)


def _drain(store: CouplingStore, client: MailchimpClient, list_id: str) -> None:
    """Let the ``/batches`` a killed run left finish, so settling reads what they did (R7.4)."""
    unfinished = drain_batches(store, client, list_id, BatchSettings())
    if unfinished:
        _log.warning(
            "%d batch(es) of an earlier run are still unfinished at Mailchimp after the poll "
            "deadline; the next run waits for them again",
            len(unfinished),
        )


def _check_bound(store: CouplingStore, list_id: str) -> None:
    """R4.6: a coupling database recorded for another audience stops the run before anything.

    Raises:
        ConfigurationError: The list id is empty or malformed (no audience to compare).
        AudienceMismatchError: The database belongs to another audience.
    """
    check_list_id(list_id)
    other = other_audience(store.audience_id(), list_id)
    if other is not None:
        raise AudienceMismatchError(recorded=other, given=list_id)


@contextlib.contextmanager
def _run_lock(store: CouplingStore, *, dry_run: bool) -> Iterator[None]:
    """Hold the run lock from the first read of the coupling database to the last write.

    A dry run writes nothing: on a read-only database, or when another run holds the lock, it
    reads without it (R7.3).
    """
    with contextlib.ExitStack() as held:
        if not dry_run:
            held.enter_context(store.lock())
        elif not getattr(store, "read_only", False):
            with contextlib.suppress(StoreError):
                held.enter_context(store.lock())
        yield


@attrs.frozen(kw_only=True)
class _Run:
    """Where a run works and what it covers."""

    store: CouplingStore
    client: MailchimpClient
    list_id: str
    progress: Progress
    scope: Scope = attrs.field(factory=Scope)


def _run(
    desired: DesiredState,
    current: list[CurrentMember],
    report: SyncReport,
    *,
    run: _Run,
    retry_failed: bool,
    allow_mass_archive: bool,
) -> SyncReport:
    store = run.store
    plan = plan_sync(current, desired)
    run.progress("plan", len(plan.actions), len(plan.actions))
    if retry_failed:
        refused = {}
    elif run.scope.whole:  # asked as before: a store of one's own need not take person_ids
        refused = store.refused()
    else:
        refused = store.refused(person_ids=run.scope.persons)
    actions, skipped = without_refused(plan.actions, refused)
    removals, managed = mass_archive(actions, current)
    blocked = not allow_mass_archive and too_many(removals, managed)
    report = _counted(
        attrs.evolve(
            report,
            unchanged=plan.unchanged,
            skipped_refused=skipped,
            problems=desired.problems,
            unsubscribed=plan.unsubscribed,
            unsubscribed_idle=idle_unsubscribed(plan.unsubscribed, plan.actions, desired, current),
            mass_archive_blocked=blocked,
            plan=attrs.evolve(plan, actions=actions),  # what is (or would be) sent
        ),
        planned_counts(actions),
    )
    if report.dry_run:
        return report
    confirmed = report.reconcile  # reading the audience confirmed it exists
    if sends(actions):
        # R6.4: a bad key or audience stops the run here, before anything is written; it is
        # said first, so that --allow-mass-archive is never the advice for a wrong key
        run.client.check_audience(run.list_id)
        confirmed = True
    if blocked:
        raise MassArchiveError(count=removals, managed=managed)
    if confirmed:  # R4.6: the audience exists; the database is its own
        store.bind_audience(run.list_id)
    run_id = store.begin_run(dry_run=False, reconcile=report.reconcile)
    executor = Executor(store, run.client, run.list_id, run.progress, total=len(actions))
    if report.reconcile:
        store.update_statuses({m.key: m.status for m in current if m.coupling is not None})
    executor.execute(actions)
    _update_overview(store, desired, plan.actions, run.scope)
    unsubscribed = merged(plan.unsubscribed, executor.notices)
    if run.scope.whole:
        store.save_report(unsubscribed, report.conflicts)
    report = _counted(
        attrs.evolve(report, failures=tuple(executor.failures), unsubscribed=unsubscribed),
        executor.counts,
    )
    store.finish_run(
        run_id, report.counts(), outcome="ok" if report.ok else "finished with failures"
    )
    _log.info(
        "sync finished: %s",
        ", ".join(f"{name} {count}" for name, count in report.counts().items()),
    )
    return report


def _counted(report: SyncReport, counts: Mapping[str, int]) -> SyncReport:
    """The report with the counters of :data:`~auditcase_mailchimp._steps.COUNTS` set."""
    changes: dict[str, Any] = dict(counts)
    return attrs.evolve(report, **changes)


def _update_overview(
    store: CouplingStore, desired: DesiredState, actions: Sequence[Action], scope: Scope
) -> None:
    """After sending: record the problems, resolve what no longer holds (R6.1, R6.3)."""
    for problem in desired.problems:  # found before sending, into the failure overview
        store.record_failure(FailureInput.from_problem(problem))
    # The open ones, read once for the three rules below; a push reads its persons' only.
    # a whole run asks as before: a store of one's own need not take person_ids
    entries = store.failures() if scope.whole else store.failures(person_ids=scope.persons)
    found = [(f.person_id, f.category) for f in entries if f.category in _PROBLEM_CATEGORIES]
    for person_id, category in stale_problems(found, desired, scope):
        store.resolve_failures([person_id], categories=[category])  # vanished problems
    open_ids = [f.person_id for f in entries if f.category in SENDING_CATEGORIES]
    gone = stale_failures(open_ids, desired, actions, scope)
    if gone:  # R6.3: unlinked or gone, nothing left to send for them
        store.resolve_failures(gone, categories=SENDING_CATEGORIES)
    retryable = [f.person_id for f in entries if f.category in RETRYABLE_CATEGORIES]
    done = settled_failures(retryable, desired, actions)
    if done:  # R6.3, R7.4: found carried out after all; in the audience as wanted
        store.resolve_failures(done, categories=sorted(RETRYABLE_CATEGORIES))
