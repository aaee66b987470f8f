"""The summary of a sync and the failure overview in words, Dutch or English (R9.1, R9.2).

Everything here turns the values of ``_summary`` into lines of text through a gettext catalog
(``_i18n``); the HTML report uses the same words for its headings and its persons.
"""

from __future__ import annotations

import gettext
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._desired import ProblemCategory
from ._summary import (
    PersonLine,
    PlanCounts,
    ProblemGroup,
    SyncSummary,
    by_address,
    failure_groups,
)

if TYPE_CHECKING:
    from ._store import Failure

__all__ = [
    "fault_text",
    "group_title",
    "kind_label",
    "marked",
    "next_text",
    "plan_line",
    "render_failures",
    "render_group",
    "render_summary",
    "status_text",
    "who",
]


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


def marked(line: PersonLine, tr: gettext.NullTranslations) -> str:
    """:func:`who`, with ``(pushed)`` after the one person of a shared address pushed (R3.2)."""
    return who(line, tr) + (f" ({tr.gettext('pushed')})" if line.pushed else "")


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
        for address, persons in by_address(group.persons):
            names = [entry(p) + marked(p, tr) for p in persons]
            lines.append(f"    {address}: {', '.join(names)}")
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
