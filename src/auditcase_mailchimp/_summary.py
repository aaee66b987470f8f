"""The administrator's summary of a sync, and the grouping of problems shared by every output.

One value, :class:`SyncSummary`, holds the facts a sync's summary tells (R9.1): persons read,
linked, pushed and left out, grouped by reason with counts; the plan line as terraform prints
it; the run time; the next command to run. The text of the command line (in Dutch or English,
``_summary_text``), its ``--json`` output and the HTML report are all drawn from these values,
so they tell the same facts. A person appears in one group only, once.

Nothing here sends, reads a file or looks at a clock: the command line passes the run time in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

import attrs

from ._desired import Problem, ProblemCategory
from ._plan import Action, ChangeAddress, UnsubscribedNotice, action_verb
from ._report import SyncReport
from ._source import RowError
from ._store import Failure, FailureInput

__all__ = [
    "NextStep",
    "PersonLine",
    "PlanCounts",
    "ProblemGroup",
    "SyncSummary",
    "address_fault",
    "by_address",
    "conflict_lines",
    "failure_groups",
    "summarise",
    "unsubscribed_lines",
]

#: The longest local part (before the ``@``) and whole address Mailchimp takes (RFC 5321).
_MAX_LOCAL: Final = 64
_MAX_ADDRESS: Final = 254
_SPECIALS: Final = frozenset('()<>[]\\":')
_TLD_MIN: Final = 2

#: Group order: what the administrator fixes in AuditCase first, then Mailchimp's refusals.
_ORDER: Final = (
    "unreadable_row",
    ProblemCategory.NO_ADDRESS.value,
    ProblemCategory.INVALID_ADDRESS.value,
    ProblemCategory.DUPLICATE_ADDRESS.value,
    ProblemCategory.DUPLICATE_PERSON_ID.value,
)


def address_fault(address: str) -> str:  # noqa: C901, PLR0911, PLR0912 - one check per fault
    """Say what is wrong with an address the syntax check refused, as a short code.

    The check itself stays in :func:`~auditcase_mailchimp.is_valid_email_address`; this only
    explains a refusal in words an administrator can act on.

    Args:
        address: The address as AuditCase holds it.

    Returns:
        One of ``empty``, ``space``, ``comma``, ``semicolon``, ``no_at``, ``several_at``,
        ``nothing_before_at``, ``nothing_after_at``, ``accent``, ``no_dot_in_domain``,
        ``dot_misplaced``, ``bad_ending``, ``too_long``, ``bad_character``; ``other`` when none
        of them applies.
    """
    text = address.strip()
    if not text:
        return "empty"
    if any(c.isspace() for c in text):
        return "space"
    if "," in text:
        return "comma"
    if ";" in text:
        return "semicolon"
    if "@" not in text:
        return "no_at"
    if text.count("@") > 1:
        return "several_at"
    local, domain = text.split("@")
    if not local:
        return "nothing_before_at"
    if not domain:
        return "nothing_after_at"
    if not text.isascii():
        return "accent"
    if any(c in _SPECIALS for c in text):
        return "bad_character"
    if "." not in domain:
        return "no_dot_in_domain"
    if ".." in text or local[0] == "." or local[-1] == "." or domain[0] == "." or domain[-1] == ".":
        return "dot_misplaced"
    ending = domain.rsplit(".", 1)[1]
    if len(ending) < _TLD_MIN or not (ending.isalpha() or ending.lower().startswith("xn--")):
        return "bad_ending"
    if len(local) > _MAX_LOCAL or len(text) > _MAX_ADDRESS:
        return "too_long"
    if any(not (c.isalnum() or c in ".-") for c in domain):
        return "bad_character"
    return "other"


@attrs.frozen(kw_only=True)
class PersonLine:
    """One person (or one unreadable row) in a group of the summary or the failure overview."""

    #: The AuditCase person id; ``""`` for a row whose id could not be read.
    person_id: str
    #: ``client_person`` or ``contact_person``; ``""`` when unknown (an unreadable row).
    kind: str = ""
    #: The address involved, ``""`` when there is none.
    email_address: str = ""
    #: Why, as a code: an :func:`address_fault` code for an invalid address, else ``""``.
    reason: str = ""
    #: Mailchimp's words, or the reader's message for an unreadable row.
    detail: str = ""
    #: ``True`` for the one person of a shared address that is pushed (R3.2).
    pushed: bool = False
    #: The entry id in the failure overview, when known (``failures dismiss ID``).
    entry_id: int | None = None
    #: Mailchimp's HTTP status, when there was one.
    status: int | None = None
    #: The line of the export file, for an unreadable row.
    line: int | None = None
    #: The column of the export file, for an unreadable row.
    column: str | None = None


@attrs.frozen(kw_only=True)
class ProblemGroup:
    """Persons left out (or to look at) for one reason, with their count."""

    #: ``unreadable_row``, a problem category (``no_address``...) or a failure category.
    category: str
    #: How many persons (or rows) the group holds.
    count: int
    #: The persons, each once.
    persons: tuple[PersonLine, ...]


@attrs.frozen(kw_only=True)
class PlanCounts:
    """The plan line, as terraform prints it: what is to be created, updated, archived."""

    create: int = 0
    update: int = 0
    archive: int = 0
    change_address: int = 0
    #: Members to release instead of archive (R4.5); not on the plan line, which says archive.
    release: int = 0


@attrs.frozen(kw_only=True)
class NextStep:
    """A command to run next, and why (a code: ``run``, ``fix_in_auditcase``...)."""

    reason: str
    command: str


@attrs.frozen(kw_only=True)
class SyncSummary:
    """The facts of a sync's summary (R9.1), for the text, the JSON and the HTML report."""

    dry_run: bool
    reconcile: bool
    #: Persons the export gave (R1), linked or not.
    persons_read: int
    #: Of those, linked to Mailchimp (R1.2); ``None`` when the runner did not count them.
    persons_linked: int | None
    #: Linked persons whose member was created, updated or moved this run.
    persons_pushed: int
    #: Linked persons not pushed: problems, refusals (this run's and earlier ones).
    persons_left_out: int
    plan_counts: PlanCounts
    created: int
    updated: int
    archived: int
    address_changes: int
    tags_changed: int
    adopted: int
    unchanged: int
    released: int
    skipped_refused: int
    #: Problems found before sending plus unreadable rows, as the text counts them.
    problems: int
    row_errors: int
    failures: int
    unsubscribed: int
    removals_held: bool
    #: A real run would stop before sending: too many removals (R7.5).
    mass_archive_blocked: bool
    #: The problems and failures, grouped by reason; each person in one group, once.
    groups: tuple[ProblemGroup, ...]
    #: Linked persons unsubscribed or cleaned in Mailchimp (R5.3).
    unsubscribed_persons: tuple[PersonLine, ...]
    #: The run time in seconds.
    duration_seconds: float
    next_steps: tuple[NextStep, ...]
    ok: bool
    exit_status: int

    @property
    def persons_not_linked(self) -> int | None:
        """Persons read but not linked to Mailchimp (left alone, R1.2)."""
        if self.persons_linked is None:
            return None
        return max(self.persons_read - self.persons_linked, 0)


def _kind(value: object) -> str:
    return str(getattr(value, "value", value))


def _problem_line(problem: Problem) -> PersonLine:
    reason = (
        address_fault(problem.email_address)
        if problem.category is ProblemCategory.INVALID_ADDRESS
        else ""
    )
    return PersonLine(
        person_id=problem.person_id,
        kind=_kind(problem.kind),
        email_address=problem.email_address,
        reason=reason,
        pushed=problem.pushed,
    )


def _failure_line(failure: FailureInput | Failure) -> PersonLine:
    reason = ""
    if failure.category == ProblemCategory.INVALID_ADDRESS.value:
        reason = address_fault(failure.email_address)
    return PersonLine(
        person_id=failure.person_id,
        kind=_kind(failure.kind),
        email_address=failure.email_address,
        reason=reason,
        detail="" if failure.category in _PROBLEM_CATEGORIES else _failure_detail(failure),
        pushed=failure.category == ProblemCategory.DUPLICATE_ADDRESS.value
        and failure.detail.endswith("this person is pushed"),
        entry_id=failure.id if isinstance(failure, Failure) else None,
        status=failure.status,
    )


_PROBLEM_CATEGORIES: Final = frozenset(c.value for c in ProblemCategory)


def _failure_detail(failure: FailureInput | Failure) -> str:
    """What Mailchimp said, in its own words: the detail (or title), the status, the fields."""
    text = failure.detail or failure.title
    if failure.status is not None:
        text = (
            f"{failure.status} {failure.title}: {text}"
            if failure.detail
            else f"{failure.status} {text}"
        )
    fields = "; ".join(f"{field}: {message}" for field, message in failure.field_errors)
    return f"{text} ({fields})" if fields else text


def _row_line(error: RowError) -> PersonLine:
    return PersonLine(
        person_id=error.person_id or "",
        detail=error.message,
        line=error.line,
        column=error.column,
    )


def _grouped(lines: Iterable[tuple[str, PersonLine]]) -> tuple[ProblemGroup, ...]:
    """Group lines by category, each (person, category, entry) once, in a stable order.

    Two entries of the failure overview about one person (R6.3: refused again after the data
    changed) are two lines, each with its id to dismiss, so the list and its count agree.
    """
    groups: dict[str, dict[tuple[str, str, int | None, int | None], PersonLine]] = {}
    for category, line in lines:
        key = (line.kind, line.person_id, line.line, line.entry_id)
        groups.setdefault(category, {}).setdefault(key, line)
    order = {name: i for i, name in enumerate(_ORDER)}
    result = []
    for category in sorted(groups, key=lambda c: (order.get(c, len(order)), c)):
        persons = tuple(groups[category].values())
        if category == ProblemCategory.DUPLICATE_ADDRESS.value:
            persons = tuple(
                sorted(persons, key=lambda p: (p.email_address.lower(), not p.pushed, p.person_id))
            )
        result.append(ProblemGroup(category=category, count=len(persons), persons=persons))
    return tuple(result)


def conflict_lines(conflicts: Iterable[Problem]) -> tuple[PersonLine, ...]:
    """Turn the duplicate-address problems of a report (R3.2) into person lines.

    Args:
        conflicts: :attr:`~auditcase_mailchimp.Report.conflicts`, or a sync's.

    Returns:
        One line per person, ``pushed`` telling the one pushed.
    """
    return tuple(_problem_line(p) for p in conflicts)


def by_address(lines: Iterable[PersonLine]) -> list[tuple[str, tuple[PersonLine, ...]]]:
    """Group persons that share an address (R3), ignoring case, in the order of the addresses.

    Args:
        lines: The persons, each with its address.

    Returns:
        Per address, the address as first written and its persons in the order given.
    """
    groups: dict[str, list[PersonLine]] = {}
    for line in lines:
        groups.setdefault(line.email_address.lower(), []).append(line)
    return [(persons[0].email_address, tuple(persons)) for _, persons in sorted(groups.items())]


def failure_groups(entries: Sequence[Failure]) -> tuple[ProblemGroup, ...]:
    """Group the entries of the failure overview by category, as the summary does.

    Args:
        entries: Entries from :meth:`~auditcase_mailchimp.SQLiteStore.failures`.

    Returns:
        The groups, what to fix in AuditCase first.
    """
    return _grouped((e.category, _failure_line(e)) for e in entries)


def _notice_line(notice: UnsubscribedNotice) -> PersonLine:
    return PersonLine(
        person_id=notice.person_id,
        kind=_kind(notice.kind),
        email_address=notice.email_address,
        reason=notice.status,
    )


def unsubscribed_lines(notices: Iterable[UnsubscribedNotice]) -> tuple[PersonLine, ...]:
    """Turn R5.3 notices into person lines.

    Args:
        notices: The notices of a report or a sync.

    Returns:
        One line per notice, ``reason`` holding the Mailchimp status.
    """
    return tuple(_notice_line(n) for n in notices)


def _plan_counts(actions: Sequence[Action]) -> PlanCounts:
    verbs = Counter(action_verb(action) for action in actions)
    return PlanCounts(
        create=verbs["create"],
        update=verbs["update"] + verbs["re-add"],
        archive=verbs["archive"],
        change_address=verbs["change_address"],
        release=verbs["release"],
    )


def summarise(
    report: SyncReport,
    *,
    duration_seconds: float,
    command: str,
    db: str = "",
    persons_read: int | None = None,
    fail_on_open_refusals: bool = False,
    open_refusals: int = 0,
) -> SyncSummary:
    """Build the summary of a sync from its report.

    Args:
        report: What the sync did (or would do).
        duration_seconds: How long the run took.
        command: The sync command line to repeat, without credentials (``auditcase-mailchimp
            sync --source ... --list-id ... --db ...``).
        db: The ``--db`` value to put in the other commands it suggests.
        persons_read: The persons read, when the report does not count them itself.
        fail_on_open_refusals: ``sync --fail-on-open-refusals``: open refusals make the exit
            status 1.
        open_refusals: How many refusals stay open in the failure overview.

    Returns:
        The summary; its ``exit_status`` is 0 or 1 as R9.6 says.
    """
    read = report.persons_read or (persons_read or 0)
    linked: int | None = report.persons_linked
    if report.persons_read == 0 and report.persons_linked == 0 and read:
        linked = None  # a runner that does not count linked persons
    lines: list[tuple[str, PersonLine]] = [
        ("unreadable_row", _row_line(e)) for e in report.row_errors
    ]
    lines += [(p.category.value, _problem_line(p)) for p in report.problems]
    lines += [(f.category, _failure_line(f)) for f in report.failures]
    groups = _grouped(lines)
    left_out = {
        (line.kind, line.person_id)
        for group in groups
        if group.category != "unreadable_row"
        for line in group.persons
        if not line.pushed
    }
    root = "auditcase-mailchimp"
    db_flag = f" --db {db}" if db else ""
    steps: list[NextStep] = []
    if report.dry_run and report.mass_archive_blocked:  # R7.5: without the flag it would stop
        steps.append(
            NextStep(reason="carry_out_mass_archive", command=f"{command} --allow-mass-archive")
        )
    elif report.dry_run and report.plan.actions:
        steps.append(NextStep(reason="carry_out", command=command))
    if (report.problems or report.row_errors) and not steps:
        steps.append(NextStep(reason="fix_in_auditcase", command=command))
    if report.failures:
        steps.append(NextStep(reason="read_failures", command=f"{root} failures{db_flag}"))
    if report.skipped_refused:
        steps.append(NextStep(reason="retry_failed", command=f"{command} --retry-failed"))
    if report.unsubscribed:
        steps.append(NextStep(reason="read_report", command=f"{root} report{db_flag}"))
    ok = report.ok and not (fail_on_open_refusals and open_refusals)
    counts: dict[str, Any] = report.counts()  # created, updated, ... as the report has them
    counts["problems"] += counts["row_errors"]  # the text counts unreadable rows as problems
    return SyncSummary(
        dry_run=report.dry_run,
        reconcile=report.reconcile,
        persons_read=read,
        persons_linked=linked,
        persons_pushed=report.created + report.updated + report.address_changes,
        persons_left_out=len(left_out) + report.skipped_refused + _idle(report),
        plan_counts=_plan_counts(report.plan.actions),
        **counts,
        removals_held=report.removals_held,
        mass_archive_blocked=report.mass_archive_blocked,
        groups=groups,
        unsubscribed_persons=unsubscribed_lines(report.unsubscribed),
        duration_seconds=round(duration_seconds, 3),
        next_steps=tuple(steps),
        ok=ok,
        exit_status=0 if ok else 1,
    )


def _idle(report: SyncReport) -> int:
    """Linked persons neither pushed nor up to date nor on a list of problems: R5.3's.

    Those the plan knew (:attr:`SyncReport.unsubscribed_idle`), and, after a real run, each
    address change that ended because the old member turned out unsubscribed (R5.4): planned,
    neither done nor failed.
    """
    if report.dry_run:
        return report.unsubscribed_idle
    moving = {a.person_id for a in report.plan.actions if isinstance(a, ChangeAddress)}
    failed = moving & {f.person_id for f in report.failures}
    return report.unsubscribed_idle + max(len(moving) - report.address_changes - len(failed), 0)
