"""``failures`` (R9.2, R9.3), ``report`` (R9.4) and ``erase`` (R9.5) of the command line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, TextIO

from ._cli_context import (
    EXIT_FAILURES,
    EXIT_OK,
    Context,
    UsageError,
    check_list_id_flag,
    make_client,
    open_existing,
)
from ._client import MemberOutcome
from ._errors import AudienceMismatchError, InvalidInputError
from ._json_out import dumps, failures_output, report_output
from ._store import Failure, Report, SQLiteStore, is_refusal
from ._summary import address_fault, by_address, conflict_lines, unsubscribed_lines
from ._summary_text import fault_text, marked, render_failures, status_text, who

__all__ = ["run_erase", "run_failures", "run_report"]

#: Address faults that no address can have: ``erase`` refuses them before asking.
_DEFINITE_FAULTS: Final = frozenset(
    {"empty", "space", "comma", "semicolon", "no_at", "several_at", "nothing_before_at",
     "nothing_after_at"}
)  # fmt: skip


def run_failures(ctx: Context) -> int:
    """``failures`` and ``failures dismiss``; return the exit status (R9.6)."""
    args, tr = ctx.args, ctx.tr
    dismissing = args.failures_command == "dismiss"
    with open_existing(ctx, args.db, read_only=not dismissing) as store:
        if dismissing:
            found = store.dismiss(args.ids)
            missing = sorted(set(args.ids) - set(found))
            if found:
                ctx.out.line(
                    tr.gettext("dismissed: {ids}").format(
                        ids=", ".join(str(i) for i in sorted(found))
                    )
                )
            if missing:
                ctx.err.line(
                    tr.gettext("no such entry: {ids}").format(
                        ids=", ".join(str(i) for i in missing)
                    )
                )
                return EXIT_FAILURES
            return EXIT_OK
        entries = store.failures(include_closed=args.all)
        if args.html:  # the page shows the open entries, which these hold
            _write_html(ctx, store, Path(args.html), entries, store.load_report())
    refusals = sum(1 for e in entries if e.is_open and is_refusal(e.status, e.category))
    code = EXIT_FAILURES if args.fail_on_open_refusals and refusals else EXIT_OK
    if _printed_json_or_html(ctx, lambda: failures_output(entries)):
        return code
    for line in render_failures(entries, tr, include_closed=args.all):
        ctx.out.line(line)
    return code


def _write_html(
    ctx: Context,
    store: SQLiteStore,
    path: Path,
    entries: Sequence[Failure],
    report: Report,
) -> None:
    """Write the HTML page (``--html``) from what the command has read already."""
    from ._html import render_html  # noqa: PLC0415 - only the HTML commands need it

    page = render_html(
        entries=entries,
        report=report,
        runs=store.runs(),
        generated_at=datetime.now(UTC),
        tr=ctx.tr,
        language=ctx.language,
    )
    path.write_text(page, encoding="utf-8")


def _printed_json_or_html(ctx: Context, document: Callable[[], object]) -> bool:
    """Print the ``--json`` document, or that the ``--html`` page was written; tell if done."""
    if ctx.args.json:
        ctx.out.line(dumps(document()))
        return True
    if ctx.args.html:
        ctx.out.line(ctx.tr.gettext("wrote {path}").format(path=ctx.args.html))
        return True
    return False


def run_report(ctx: Context) -> int:
    """``report``: the persons to look at in AuditCase (R5.3, R3); return the exit status."""
    args, tr = ctx.args, ctx.tr
    with open_existing(ctx, args.db) as store:
        report = store.load_report()
        if args.html:
            _write_html(ctx, store, Path(args.html), store.failures(), report)
    if _printed_json_or_html(ctx, lambda: report_output(report)):
        return EXIT_OK
    ctx.out.line(
        tr.gettext("Unsubscribed or bounced in Mailchimp, still linked in AuditCase (R5.3):")
    )
    for line in unsubscribed_lines(report.unsubscribed):
        ctx.out.line(f"  {who(line, tr)}: {line.email_address} ({status_text(line.reason, tr)})")
    if not report.unsubscribed:
        ctx.out.line("  " + tr.gettext("none"))
    ctx.out.line(
        tr.gettext("Several linked persons with one e-mail address (R3): unlink all but one:")
    )
    for address, persons in by_address(conflict_lines(report.conflicts)):
        ctx.out.line(f"  {address}: {', '.join(marked(p, tr) for p in persons)}")
    if not report.conflicts:
        ctx.out.line("  " + tr.gettext("none"))
    return EXIT_OK


def run_erase(ctx: Context, stdin: TextIO) -> int:
    """``erase``: permanent deletion of one address (R4.2, R9.5); return the exit status."""
    args, tr = ctx.args, ctx.tr
    fault = address_fault(args.email)
    if fault in _DEFINITE_FAULTS:
        raise UsageError(
            tr.gettext("--email {address}: not an e-mail address: {fault}").format(
                address=repr(args.email), fault=fault_text(fault, tr)
            )
        )
    check_list_id_flag(ctx)  # a malformed id is a usage error, not another audience
    db = Path(args.db)
    if db.exists():  # R4.6: erase only from the audience the coupling database belongs to
        with SQLiteStore(db) as store:
            recorded = store.audience_id()
        if recorded is not None and recorded != args.list_id:
            raise AudienceMismatchError(recorded=recorded, given=args.list_id)
    if not args.yes:
        ctx.err.write(
            tr.gettext(
                "Permanently delete {address} from audience {list_id}? This cannot be "
                "undone; Mailchimp will refuse to import the address again. Type 'yes': "
            ).format(address=args.email, list_id=args.list_id)
        )
        ctx.err.flush()
        answer = stdin.readline().strip().lower()
        if answer not in ("yes", "y", "ja", "j"):
            ctx.err.line(tr.gettext("Not confirmed: nothing erased."))
            return EXIT_FAILURES
    with make_client(ctx, args.api_url) as client:
        client.check_audience(args.list_id)  # a bad key or audience: exit 2, nothing erased
        try:
            result = client.delete_permanently(args.list_id, args.email)
        except InvalidInputError as error:
            raise UsageError(
                tr.gettext("--email {address}: {error}").format(
                    address=repr(args.email), error=error
                )
            ) from error
    if result.error is not None:
        ctx.err.line(
            tr.gettext(
                "auditcase-mailchimp: Mailchimp refused the erasure: {title}: {detail}"
            ).format(title=result.error.title, detail=result.error.detail)
        )
        return EXIT_FAILURES
    where = (
        tr.gettext("was not in the audience (nothing to delete there)")
        if result.outcome is MemberOutcome.ABSENT
        else tr.gettext("is permanently deleted from the audience")
    )
    if db.exists():
        with SQLiteStore(db) as store:
            store.forget(args.email)
        ctx.out.line(
            tr.gettext("{address} {where}; the coupling database {db} forgot it.").format(
                address=args.email, where=where, db=db
            )
        )
    else:
        ctx.out.line(
            tr.gettext("{address} {where}; there is no coupling database at {db}.").format(
                address=args.email, where=where, db=db
            )
        )
    return EXIT_OK
