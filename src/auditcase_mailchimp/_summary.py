"""The administrator's summary of a sync, and the grouping of problems shared by every output.

One value, :class:`SyncSummary`, holds the facts a sync's summary tells (R9.1): persons read,
linked, pushed and left out, grouped by reason with counts; the plan line as terraform prints
it; the run time; the next command to run. The text of the command line (in Dutch or English,
see ``_i18n``), its ``--json`` output and the HTML report are all drawn from these values, so
they tell the same facts. A person appears in one group only, once.

Nothing here sends, reads a file or looks at a clock: the command line passes the run time in.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable, Sequence
from typing import Final

import attrs

from ._desired import Problem, ProblemCategory
from ._plan import Action, Archive, ChangeAddress, Release, UnsubscribedNotice, Upsert
from ._source import RowError
from ._store import Failure, FailureInput
from ._sync import SyncReport

__all__ = [
    "NextStep",
    "PersonLine",
    "PlanCounts",
    "ProblemGroup",
    "SyncSummary",
    "address_fault",
    "failure_groups",
    "render_failures",
    "render_summary",
    "summarise",
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
    create = update = archive = change = release = 0
    for action in actions:
        if isinstance(action, Upsert):
            if action.create:
                create += 1
            else:
                update += 1
        elif isinstance(action, ChangeAddress):
            change += 1
        elif isinstance(action, Archive):
            archive += 1
        elif isinstance(action, Release):
            release += 1
    return PlanCounts(
        create=create, update=update, archive=archive, change_address=change, release=release
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
    return SyncSummary(
        dry_run=report.dry_run,
        reconcile=report.reconcile,
        persons_read=read,
        persons_linked=linked,
        persons_pushed=report.created + report.updated + report.address_changes,
        persons_left_out=len(left_out) + report.skipped_refused + _idle(report),
        plan_counts=_plan_counts(report.plan.actions),
        created=report.created,
        updated=report.updated,
        archived=report.archived,
        address_changes=report.address_changes,
        tags_changed=report.tags_changed,
        adopted=report.adopted,
        unchanged=report.unchanged,
        released=report.released,
        skipped_refused=report.skipped_refused,
        problems=len(report.problems) + len(report.row_errors),
        row_errors=len(report.row_errors),
        failures=len(report.failures),
        unsubscribed=len(report.unsubscribed),
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


# --- text ---------------------------------------------------------------------------------------


def kind_label(kind: str, tr: gettext.NullTranslations) -> str:
    """The kind of person in the administrator's words: ``client`` or ``contact person``."""
    if kind == "client_person":
        return tr.gettext("client")
    if kind == "contact_person":
        return tr.gettext("contact person")
    return tr.gettext("person")


def who(line: PersonLine, tr: gettext.NullTranslations) -> str:
    """``client 10011``, or ``line 7, column PersonId`` for an unreadable row."""
    if line.line is not None:
        where = tr.gettext("line {line}").format(line=line.line)
        if line.column:
            where += ", " + tr.gettext("column {column}").format(column=line.column)
        if line.person_id:
            where += ", " + tr.gettext("person {id}").format(id=line.person_id)
        return where
    return f"{kind_label(line.kind, tr)} {line.person_id}"


def fault_text(code: str, tr: gettext.NullTranslations) -> str:
    """What an :func:`address_fault` code means, in words."""
    texts = {
        "empty": tr.gettext("the address is empty"),
        "space": tr.gettext("has a space in it"),
        "comma": tr.gettext("has a comma in it (a comma instead of a dot, or two addresses?)"),
        "semicolon": tr.gettext("has a ; in it (two addresses in one field?)"),
        "no_at": tr.gettext("has no @"),
        "several_at": tr.gettext("has more than one @"),
        "nothing_before_at": tr.gettext("has nothing before the @"),
        "nothing_after_at": tr.gettext("has nothing after the @"),
        "accent": tr.gettext("has a letter with an accent or another special character"),
        "bad_character": tr.gettext("has a character an address cannot hold"),
        "no_dot_in_domain": tr.gettext("has no dot after the @ (.nl, .com... is missing)"),
        "dot_misplaced": tr.gettext("has a dot at the start or end, or two dots in a row"),
        "bad_ending": tr.gettext("does not end in a valid domain ending such as .nl or .com"),
        "too_long": tr.gettext("is too long"),
    }
    return texts.get(code, tr.gettext("is not a valid address"))


def group_title(category: str, count: int, tr: gettext.NullTranslations) -> str:
    """The heading of a group: what is wrong and what to do, with the count."""
    titles = {
        "unreadable_row": tr.ngettext(
            "{n} row of the export could not be read (fix the file or the row in AuditCase)",
            "{n} rows of the export could not be read (fix the file or the rows in AuditCase)",
            count,
        ),
        "no_address": tr.ngettext(
            "{n} person without an e-mail address (fill in ContactEMailRE or CompanyEmailREBT)",
            "{n} persons without an e-mail address (fill in ContactEMailRE or CompanyEmailREBT)",
            count,
        ),
        "invalid_address": tr.ngettext(
            "{n} person whose e-mail address is not valid (correct it in AuditCase)",
            "{n} persons whose e-mail address is not valid (correct it in AuditCase)",
            count,
        ),
        "duplicate_address": tr.ngettext(
            "{n} person shares an e-mail address with another linked person "
            "(one per address is pushed; unlink the others, R3)",
            "{n} persons share an e-mail address with another linked person "
            "(one per address is pushed; unlink the others, R3)",
            count,
        ),
        "duplicate_person_id": tr.ngettext(
            "{n} person id appears more than once in the export (none of those rows is used)",
            "{n} person ids appear more than once in the export (none of those rows is used)",
            count,
        ),
        "compliance_state": tr.ngettext(
            "{n} person unsubscribed or bounced in Mailchimp: "
            "Mailchimp will not sign them up again",
            "{n} persons unsubscribed or bounced in Mailchimp: "
            "Mailchimp will not sign them up again",
            count,
        ),
        "permanently_deleted": tr.ngettext(
            "{n} person was permanently deleted from Mailchimp and cannot be added again",
            "{n} persons were permanently deleted from Mailchimp and cannot be added again",
            count,
        ),
        "invalid_address_mailchimp": tr.ngettext(
            "{n} address Mailchimp does not accept (looks fake or invalid)",
            "{n} addresses Mailchimp does not accept (look fake or invalid)",
            count,
        ),
        "invalid_merge_field": tr.ngettext(
            "{n} person whose name Mailchimp refused",
            "{n} persons whose name Mailchimp refused",
            count,
        ),
        "member_exists": tr.ngettext(
            "{n} address already in the audience as another member",
            "{n} addresses already in the audience as other members",
            count,
        ),
        "not_found": tr.ngettext(
            "{n} member not found in the audience",
            "{n} members not found in the audience",
            count,
        ),
        "rate_limited": tr.ngettext(
            "{n} person not sent: Mailchimp was busy (tried again next run)",
            "{n} persons not sent: Mailchimp was busy (tried again next run)",
            count,
        ),
        "server_error": tr.ngettext(
            "{n} person not sent: Mailchimp had a server error (tried again next run)",
            "{n} persons not sent: Mailchimp had a server error (tried again next run)",
            count,
        ),
        "network": tr.ngettext(
            "{n} person not sent: no answer from Mailchimp (tried again next run)",
            "{n} persons not sent: no answer from Mailchimp (tried again next run)",
            count,
        ),
    }
    title = titles.get(category)
    if title is None:
        title = tr.ngettext(
            "{n} person Mailchimp refused ({category})",
            "{n} persons Mailchimp refused ({category})",
            count,
        )
    return title.format(n=count, category=category)


def render_group(group: ProblemGroup, tr: gettext.NullTranslations, *, ids: bool) -> list[str]:
    """The lines of one group: its heading, then each person once.

    Args:
        group: The group.
        tr: The catalog.
        ids: Show the entry id of the failure overview (``failures``) before each person.

    Returns:
        The lines, without line ends.
    """
    lines = [f"  {group_title(group.category, group.count, tr)}:"]

    def entry(line: PersonLine) -> str:
        return f"#{line.entry_id} " if ids and line.entry_id is not None else ""

    if group.category == ProblemCategory.DUPLICATE_ADDRESS.value:
        by_address: dict[str, list[PersonLine]] = {}
        for line in group.persons:
            by_address.setdefault(line.email_address.lower(), []).append(line)
        for persons in by_address.values():
            names = [
                entry(p) + who(p, tr) + (" (" + tr.gettext("pushed") + ")" if p.pushed else "")
                for p in persons
            ]
            lines.append(f"    {persons[0].email_address}: {', '.join(names)}")
    elif group.category == ProblemCategory.NO_ADDRESS.value and not ids:
        lines.extend(_wrapped([who(p, tr) for p in group.persons]))
    else:
        for line in group.persons:
            text = f"    {entry(line)}{who(line, tr)}"
            if line.email_address:
                text += f"  {line.email_address}"
            if line.reason:
                text += f": {fault_text(line.reason, tr)}"
            elif line.detail:
                text += f": {line.detail}"
            lines.append(text)
    return lines


def _wrapped(items: list[str], width: int = 96) -> list[str]:
    lines: list[str] = []
    current = ""
    for item in items:
        candidate = f"{current}, {item}" if current else item
        if current and len(candidate) + 4 > width:
            lines.append(f"    {current},")
            current = item
        else:
            current = candidate
    if current:
        lines.append(f"    {current}")
    return lines


def _seconds(value: float, tr: gettext.NullTranslations) -> str:
    if value < 10:  # noqa: PLR2004 - short runs get hundredths
        whole, fraction = f"{value:.2f}".split(".")
        # the decimal sign is the language's: 0.05 s in English, 0,05 s in Dutch
        return tr.gettext("{whole}.{fraction} s").format(whole=whole, fraction=fraction)
    if value < 60:  # noqa: PLR2004 - a minute
        return tr.gettext("{s:.0f} s").format(s=value)
    minutes, seconds = divmod(round(value), 60)
    return tr.gettext("{m} min {s} s").format(m=minutes, s=seconds)


def plan_line(counts: PlanCounts, tr: gettext.NullTranslations) -> str:
    """``Plan: 3 to create, 5 to update, 1 to archive.`` (address changes when there are any)."""
    parts = [
        tr.gettext("{n} to create").format(n=counts.create),
        tr.gettext("{n} to update").format(n=counts.update),
        tr.gettext("{n} to archive").format(n=counts.archive),
    ]
    if counts.change_address:
        parts.append(tr.gettext("{n} to change address").format(n=counts.change_address))
    return tr.gettext("Plan: {parts}.").format(parts=", ".join(parts))


def _removal_notes(summary: SyncSummary, tr: gettext.NullTranslations) -> list[str]:
    """What the run did or would do instead of archiving: releases (R4.5), guards (R7.5, R8.4)."""
    notes: list[str] = []
    if summary.released:
        notes.append(
            tr.ngettext(
                "{n} bounced or pending member released instead of archived (R4.5).",
                "{n} bounced or pending members released instead of archived (R4.5).",
                summary.released,
            ).format(n=summary.released)
        )
    if summary.mass_archive_blocked:
        notes.append(
            tr.gettext(
                "A real run would stop here: it would archive more than a quarter of the members "
                "the coupling manages (R7.5). Check the export; if the removals are wanted, run "
                "with --allow-mass-archive."
            )
        )
    if summary.removals_held:
        notes.append(
            tr.gettext(
                "Nobody was archived: a row of the export could not be read with certainty, "
                "so removals wait for a clean export (R8.4)."
            )
        )
    return notes


def _read_line(summary: SyncSummary, tr: gettext.NullTranslations) -> str:
    """Persons read, linked and not linked, and what became of the members of the latter."""
    read = tr.ngettext(
        "{n} person read from the export", "{n} persons read from the export", summary.persons_read
    ).format(n=summary.persons_read)
    if summary.persons_linked is not None:
        # Archive and Release actions remove the members of persons unlinked or gone (R4.1)
        removing = summary.plan_counts.archive + summary.plan_counts.release
        if not removing:
            text = tr.gettext(": {linked} linked to Mailchimp, {unlinked} not linked (left alone)")
        elif summary.dry_run:
            text = tr.gettext(
                ": {linked} linked to Mailchimp, {unlinked} not linked (not pushed; the members "
                "of persons unlinked or gone from the export would be archived, see below)"
            )
        else:
            text = tr.gettext(
                ": {linked} linked to Mailchimp, {unlinked} not linked (not pushed; the members "
                "of persons unlinked or gone from the export are archived, see below)"
            )
        read += text.format(linked=summary.persons_linked, unlinked=summary.persons_not_linked)
    return read + "."


def render_summary(summary: SyncSummary, tr: gettext.NullTranslations) -> list[str]:
    """The summary of a sync in plain words (R9.1), in the catalog's language.

    Args:
        summary: The summary.
        tr: The catalog (Dutch or English).

    Returns:
        The lines to print, without line ends.
    """
    lines: list[str] = []
    took = _seconds(summary.duration_seconds, tr)
    if summary.dry_run:
        lines.append(
            tr.gettext("Dry run ({took}): nothing was sent and nothing was written.").format(
                took=took
            )
        )
    else:
        lines.append(tr.gettext("Sync finished in {took}.").format(took=took))
    lines.append(_read_line(summary, tr))
    linked_line = (
        tr.gettext(
            "Linked persons: {pushed} to push, {unchanged} already up to date, "
            "{left_out} left out (see below)."
        )
        if summary.dry_run
        else tr.gettext(
            "Linked persons: {pushed} pushed, {unchanged} already up to date, "
            "{left_out} left out (see below)."
        )
    )
    lines.append(
        linked_line.format(
            pushed=summary.persons_pushed,
            unchanged=summary.unchanged + summary.adopted,
            left_out=summary.persons_left_out,
        )
    )
    lines.append(plan_line(summary.plan_counts, tr))
    if not summary.dry_run:
        done = tr.gettext(
            "Done: {created} created, {updated} updated, {archived} archived, "
            "{moved} address changes, {tags} with changed tags."
        ).format(
            created=summary.created,
            updated=summary.updated,
            archived=summary.archived,
            moved=summary.address_changes,
            tags=summary.tags_changed,
        )
        lines.append(done)
    lines.extend(_removal_notes(summary, tr))
    if summary.groups or summary.skipped_refused:
        lines.append("")
        to_fix = summary.problems + summary.failures + summary.skipped_refused
        lines.append(
            tr.ngettext("{n} problem to fix:", "{n} problems to fix:", to_fix).format(n=to_fix)
        )
        for group in summary.groups:
            lines.extend(render_group(group, tr, ids=False))
        if summary.skipped_refused:
            lines.append(
                "  "
                + tr.ngettext(
                    "{n} person refused by Mailchimp before with the same data, not sent again",
                    "{n} persons refused by Mailchimp before with the same data, not sent again",
                    summary.skipped_refused,
                ).format(n=summary.skipped_refused)
            )
    if summary.unsubscribed_persons:
        lines.append("")
        lines.append(
            tr.ngettext(
                "{n} person unsubscribed or bounced in Mailchimp, still linked in AuditCase "
                "(R5.3; apply it in AuditCase):",
                "{n} persons unsubscribed or bounced in Mailchimp, still linked in AuditCase "
                "(R5.3; apply it in AuditCase):",
                len(summary.unsubscribed_persons),
            ).format(n=len(summary.unsubscribed_persons))
        )
        lines.extend(
            f"    {who(p, tr)}  {p.email_address} ({status_text(p.reason, tr)})"
            for p in summary.unsubscribed_persons
        )
    if summary.next_steps:
        lines.append("")
        lines.append(tr.gettext("Next:"))
        for step in summary.next_steps:
            lines.append(f"  {next_text(step.reason, tr)}")
            lines.append(f"    {step.command}")
    return lines


def status_text(status: str, tr: gettext.NullTranslations) -> str:
    """A Mailchimp status in words."""
    if status == "unsubscribed":
        return tr.gettext("unsubscribed")
    if status == "cleaned":
        return tr.gettext("cleaned: the address bounced")
    return status


def next_text(reason: str, tr: gettext.NullTranslations) -> str:
    """Why to run the next command."""
    texts = {
        "carry_out": tr.gettext("Carry the plan out: run the same command without --dry-run"),
        "carry_out_mass_archive": tr.gettext(
            "Check the export first; if the removals are wanted, carry the plan out without "
            "--dry-run and with --allow-mass-archive"
        ),
        "fix_in_auditcase": tr.gettext(
            "Fix the persons above in AuditCase, export again, then run"
        ),
        "read_failures": tr.gettext("Read what Mailchimp refused, with entry ids to dismiss"),
        "retry_failed": tr.gettext("After fixing the refused persons, send them again"),
        "read_report": tr.gettext("List the persons to look at in AuditCase"),
        "run_again": tr.gettext("Run the same command again to finish the work"),
    }
    return texts.get(reason, reason)


def render_failures(
    entries: Sequence[Failure], tr: gettext.NullTranslations, *, include_closed: bool
) -> list[str]:
    """The failure overview grouped by category, each person once, with entry ids (R9.2).

    Args:
        entries: The entries to show.
        tr: The catalog.
        include_closed: ``failures --all``: resolved and dismissed entries are shown too.

    Returns:
        The lines to print.
    """
    if not entries:
        return [
            tr.gettext("No entries.")
            if include_closed
            else tr.gettext("No open entries in the failure overview.")
        ]
    lines = [
        tr.ngettext(
            "{n} entry in the failure overview:",
            "{n} entries in the failure overview:",
            len(entries),
        ).format(n=len(entries))
    ]
    if include_closed:
        open_entries = [e for e in entries if e.is_open]
        closed = [e for e in entries if not e.is_open]
        for group in failure_groups(open_entries):
            lines.extend(render_group(group, tr, ids=True))
        if closed:
            lines.append(tr.gettext("Resolved or dismissed:"))
            for group in failure_groups(closed):
                lines.extend(render_group(group, tr, ids=True))
    else:
        for group in failure_groups(entries):
            lines.extend(render_group(group, tr, ids=True))
    lines.append("")
    lines.append(
        tr.gettext(
            "Fix these in AuditCase; the next sync resolves an entry when it succeeds. "
            "To dismiss an entry: auditcase-mailchimp failures dismiss ID"
        )
    )
    return lines
