"""The command line of SPEC.md R9: ``auditcase-mailchimp sync | failures | report | erase``.

Exit status (R9.6): 0 when every person was synced; 1 when the run finished with failures or
problems; 2 for a usage error, a bad API key, an unknown audience or an unreadable source
(nothing sent). The API key comes only from ``MAILCHIMP_API_KEY`` (or an OAuth token from
``MAILCHIMP_ACCESS_TOKEN`` with ``--api-url``), never from a flag, and is never printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TextIO

from ._client import MailchimpClient, MemberOutcome
from ._credentials import ApiKey, OAuthToken
from ._errors import AudienceNotFoundError, AuditCaseMailchimpError, AuthenticationError
from ._plan import Action, Archive, ChangeAddress, Plan, Release, Upsert
from ._source import ExportFile
from ._store import SQLiteStore
from ._sync import SyncReport, sync
from ._version import __version__

__all__ = ["main"]

DEFAULT_DB: Final = "auditcase-mailchimp.sqlite3"
EXIT_OK: Final = 0
EXIT_FAILURES: Final = 1
EXIT_USAGE: Final = 2


class _UsageError(Exception):
    """A mistake in how the command was called; exit status 2."""


def _entry_id(text: str) -> int:
    """An entry id as argparse reads it: a whole number that SQLite can hold."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an entry id: {text!r}") from None
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"not an entry id: {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditcase-mailchimp",
        description="Keep a Mailchimp audience in step with the persons of AuditCase.",
        epilog="The API key is read from MAILCHIMP_API_KEY (or an OAuth token from "
        "MAILCHIMP_ACCESS_TOKEN with --api-url), never from a flag.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("sync", help="sync the persons of an export into the audience")
    run.add_argument(
        "--source", required=True, metavar="FILE", help="AuditCase export (.csv, .jsonl)"
    )
    run.add_argument("--list-id", required=True, metavar="ID", help="the Mailchimp audience id")
    run.add_argument(
        "--db", default=DEFAULT_DB, metavar="PATH", help=f"coupling database ({DEFAULT_DB})"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="print the plan; write nothing anywhere"
    )
    run.add_argument(
        "--reconcile", action="store_true", help="read the audience first, repair drift"
    )
    run.add_argument(
        "--retry-failed", action="store_true", help="re-send persons Mailchimp refused"
    )
    run.add_argument(
        "--api-url", metavar="URL", help="API address instead of the key's data centre"
    )
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    failures = commands.add_parser("failures", help="the failure overview (open entries)")
    failures.add_argument("--db", default=DEFAULT_DB, metavar="PATH")
    failures.add_argument("--all", action="store_true", help="every entry, also resolved ones")
    failures.add_argument("--json", action="store_true", help="print a JSON array")
    failure_commands = failures.add_subparsers(dest="failures_command", metavar="dismiss")
    dismiss = failure_commands.add_parser("dismiss", help="dismiss entries by id")
    dismiss.add_argument("ids", nargs="+", type=_entry_id, metavar="ID")
    dismiss.add_argument("--db", default=argparse.SUPPRESS, metavar="PATH")

    report = commands.add_parser("report", help="persons to look at in AuditCase (R5.3, R3)")
    report.add_argument("--db", default=DEFAULT_DB, metavar="PATH")
    report.add_argument("--json", action="store_true")

    erase = commands.add_parser("erase", help="permanently delete one address (GDPR erasure)")
    erase.add_argument("--email", required=True, metavar="ADDRESS")
    erase.add_argument("--list-id", required=True, metavar="ID")
    erase.add_argument("--db", default=DEFAULT_DB, metavar="PATH")
    erase.add_argument("--api-url", metavar="URL")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """Run the command line; return the exit status (R9.6).

    Args:
        argv: The arguments (without the program name); ``sys.argv[1:]`` when ``None``.
        stdout: Where results go; ``sys.stdout`` when ``None``.
        stderr: Where progress and errors go; ``sys.stderr`` when ``None``.
        stdin: Where the erase confirmation is read; ``sys.stdin`` when ``None``.
        environ: The environment to take the key from; ``os.environ`` when ``None``.

    Returns:
        0, 1 or 2 as R9.6 says.
    """
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse prints its own usage message
        return int(exit_.code or 0) and EXIT_USAGE
    env = dict(os.environ if environ is None else environ)
    commands: dict[str, Callable[[], int]] = {
        "sync": lambda: _sync(args, env, out, err),
        "failures": lambda: _failures(args, out, err),
        "report": lambda: _report(args, out),
        "erase": lambda: _erase(args, env, out, err, stdin or sys.stdin),
    }
    try:
        return commands[args.command]()
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except (_UsageError, AuditCaseMailchimpError) as error:
        # Configuration, an unreadable source, a busy or broken database, a bad key or an
        # unknown audience: nothing was sent (R9.6). Messages never hold the key.
        print(f"auditcase-mailchimp: error: {_explain(error, args)}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("auditcase-mailchimp: interrupted; what Mailchimp confirmed is recorded", file=err)
        return 130


def _explain(error: Exception, args: argparse.Namespace) -> str:
    """The message for an error that stops a command, in the administrator's terms."""
    if isinstance(error, AudienceNotFoundError):
        list_id = getattr(args, "list_id", "")
        return f"the account has no audience {list_id!r} (Mailchimp said: {error})"
    if isinstance(error, AuthenticationError):
        return (
            "Mailchimp refused the credentials (check MAILCHIMP_API_KEY and its data centre, "
            f"or --api-url): {error}"
        )
    return str(error)


def _client(api_url: str | None, env: dict[str, str]) -> MailchimpClient:
    """The client, with the key (or OAuth token) from the environment, never from a flag."""
    key = env.get("MAILCHIMP_API_KEY", "").strip()
    token = env.get("MAILCHIMP_ACCESS_TOKEN", "").strip()
    if key and token:
        raise _UsageError("set MAILCHIMP_API_KEY or MAILCHIMP_ACCESS_TOKEN, not both")
    if key:
        return MailchimpClient(ApiKey(key), base_url=api_url)
    if token:
        if not api_url:
            raise _UsageError(
                "MAILCHIMP_ACCESS_TOKEN needs --api-url, the account's API endpoint "
                "(api_endpoint in Mailchimp's OAuth metadata, e.g. https://us6.api.mailchimp.com)"
            )
        return MailchimpClient(OAuthToken(token, api_endpoint=api_url))
    raise _UsageError(
        "no credentials: set MAILCHIMP_API_KEY (or MAILCHIMP_ACCESS_TOKEN with --api-url)"
    )


# --- sync ------------------------------------------------------------------------------------


def _sync(args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO) -> int:
    source = ExportFile(args.source)
    client = _client(args.api_url, env)  # credentials first: a usage error creates no file
    db = Path(args.db)
    new_file = not db.exists()
    if not args.dry_run:
        store = SQLiteStore(db)
    elif not new_file:
        store = SQLiteStore(db, read_only=True)  # R7.3: a dry run writes nothing anywhere
    else:
        store = SQLiteStore(":memory:")  # nor creates the file
    progress = _Progress(err)
    try:
        with store, client:
            report = sync(
                source,
                store=store,
                client=client,
                list_id=args.list_id,
                dry_run=args.dry_run,
                reconcile=args.reconcile,
                retry_failed=args.retry_failed,
                progress=progress,
            )
    except AuditCaseMailchimpError:
        if new_file and not args.dry_run and db.exists():
            with SQLiteStore(db, read_only=True) as check:
                untouched = not check.runs()
            if untouched:  # stopped before anything was written: leave no empty file behind
                _remove_database(db)
        raise
    finally:
        progress.close()
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False), file=out)
    else:
        if args.dry_run:
            _print_plan(report.plan, out)
        _print_summary(report, out)
    return EXIT_OK if report.ok else EXIT_FAILURES


def _remove_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _print_plan(plan: Plan, out: TextIO) -> None:
    print("Plan (dry run: nothing is sent, nothing is written):", file=out)
    for action in plan.actions:
        print(f"  {_describe(action)}", file=out)
    if not plan.actions:
        print("  nothing to do", file=out)


def _describe(action: Action) -> str:
    who = f"({action.kind} {action.person_id})"
    if isinstance(action, Upsert):
        verb = "create" if action.create else ("re-add" if action.send_status else "update")
        return f"{verb:<8} {action.email_address} {who}{_changes(action)}"
    if isinstance(action, ChangeAddress):
        return (
            f"{'move':<8} {action.old_email_address} -> {action.email_address} {who}"
            f"{_changes(action)}"
        )
    if isinstance(action, Archive):
        return f"{'archive':<8} {action.email_address} {who}"
    if isinstance(action, Release):  # R4.5
        return f"{'release':<8} {action.email_address} {who} ({action.status}: not archived)"
    return f"{'record':<8} {action.email_address} {who} (already as wanted)"


def _changes(action: Upsert | ChangeAddress) -> str:
    parts = [f"{name}={value!r}" for name, value in sorted(action.merge_fields.items())]
    parts += [f"+tag {tag!r}" for tag in sorted(action.tags_add)]
    parts += [f"-tag {tag!r}" for tag in sorted(action.tags_remove)]
    return f": {', '.join(parts)}" if parts else ""


def _print_summary(report: SyncReport, out: TextIO) -> None:
    title = "Dry run" if report.dry_run else "Sync"
    counts = report.counts()
    print(
        f"{title}: created {counts['created']}, updated {counts['updated']}, "
        f"archived {counts['archived']}, address changes {counts['address_changes']}, "
        f"tags changed {counts['tags_changed']}, unchanged {counts['unchanged']}, "
        f"problems {counts['problems'] + counts['row_errors']}, failures {counts['failures']}",
        file=out,
    )
    if report.skipped_refused:
        print(
            f"  {report.skipped_refused} refused before with the same data, not sent again "
            "(use --retry-failed to re-send)",
            file=out,
        )
    for error in report.row_errors:
        print(f"  source: {error}", file=out)
    for problem in report.problems:
        print(f"  problem: {problem.message}", file=out)
    for failure in report.failures:
        status = f"{failure.status} " if failure.status is not None else ""
        print(
            f"  failed: {failure.action} for {failure.kind} {failure.person_id}: "
            f"{status}{failure.title}: {failure.detail}",
            file=out,
        )
    for notice in report.unsubscribed:
        print(
            f"  {notice.status} in Mailchimp, still linked in AuditCase: "
            f"{notice.kind} {notice.person_id} ({notice.email_address})",
            file=out,
        )


class _Progress:
    """A progress bar on a terminal; plain lines, at most one per phase per second, otherwise."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.clock = clock
        self.last: dict[str, float] = {}
        self.drawn = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = self.clock()
        finished = done >= total
        if not finished and now - self.last.get(phase, -10.0) < (0.1 if self.tty else 1.0):
            return
        self.last[phase] = now
        if self.tty:
            width = 30
            filled = width if total == 0 else int(width * done / total)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r{phase:<5} [{bar}] {done}/{total}")
            self.drawn = True
            if finished:
                self.stream.write("\n")
                self.drawn = False
        else:
            self.stream.write(f"{phase}: {done}/{total}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


# --- failures, report --------------------------------------------------------------------------


def _open_existing(path: str, *, read_only: bool = True) -> SQLiteStore:
    if not Path(path).exists():
        raise _UsageError(f"no coupling database at {path} (run a sync first, or pass --db)")
    return SQLiteStore(path, read_only=read_only)


def _failures(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _open_existing(args.db, read_only=args.failures_command != "dismiss") as store:
        if args.failures_command == "dismiss":
            found = store.dismiss(args.ids)
            missing = sorted(set(args.ids) - set(found))
            if found:
                print(f"dismissed: {', '.join(str(i) for i in sorted(found))}", file=out)
            if missing:
                print(f"no such entry: {', '.join(str(i) for i in missing)}", file=err)
                return EXIT_FAILURES
            return EXIT_OK
        entries = store.failures(include_closed=args.all)
    if args.json:
        print(json.dumps([e.to_json() for e in entries], ensure_ascii=False, indent=2), file=out)
        return EXIT_OK
    if not entries:
        print(
            "No open entries in the failure overview." if not args.all else "No entries.", file=out
        )
        return EXIT_OK
    for entry in entries:
        data = entry.to_json()
        state = (
            "resolved" if data["resolved"] else ("dismissed" if data.get("dismissed") else "open")
        )
        status = f"{data['status']} " if data["status"] is not None else ""
        print(
            f"#{data['id']} [{state}] {data['kind']} {data['person_id']} "
            f"{data['email_address'] or '-'}: {data['action']} {data['category']}: "
            f"{status}{data['title']}",
            file=out,
        )
        if data["detail"]:
            print(f"    {data['detail']}", file=out)
        for field_error in data["field_errors"]:
            print(f"    {field_error['field']}: {field_error['message']}", file=out)
        print(
            f"    first seen {data['first_seen']}, last seen {data['last_seen']}, "
            f"attempts {data['attempts']}",
            file=out,
        )
    return EXIT_OK


def _report(args: argparse.Namespace, out: TextIO) -> int:
    with _open_existing(args.db) as store:
        report = store.load_report()
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2), file=out)
        return EXIT_OK
    print("Unsubscribed or cleaned in Mailchimp, still linked in AuditCase (R5.3):", file=out)
    for notice in report.unsubscribed:
        print(
            f"  {notice.kind} {notice.person_id}: {notice.email_address} ({notice.status})",
            file=out,
        )
    if not report.unsubscribed:
        print("  none", file=out)
    print("Several linked persons with one address (R3): unlink all but one:", file=out)
    for problem in report.conflicts:
        print(f"  {problem.message}", file=out)
    if not report.conflicts:
        print("  none", file=out)
    return EXIT_OK


# --- erase ----------------------------------------------------------------------------------------


def _erase(
    args: argparse.Namespace, env: dict[str, str], out: TextIO, err: TextIO, stdin: TextIO
) -> int:
    if not args.yes:
        err.write(
            f"Permanently delete {args.email} from audience {args.list_id}? This cannot be "
            "undone; Mailchimp will refuse to import the address again. Type 'yes': "
        )
        err.flush()
        answer = stdin.readline().strip().lower()
        if answer not in ("yes", "y", "ja", "j"):
            print("Not confirmed: nothing erased.", file=err)
            return EXIT_FAILURES
    with _client(args.api_url, env) as client:
        client.check_audience(args.list_id)  # a bad key or audience: exit 2, nothing erased
        result = client.delete_permanently(args.list_id, args.email)
    if result.error is not None:
        print(
            f"auditcase-mailchimp: Mailchimp refused the erasure: {result.error.title}: "
            f"{result.error.detail}",
            file=err,
        )
        return EXIT_FAILURES
    where = (
        "was not in the audience (nothing to delete there)"
        if result.outcome is MemberOutcome.ABSENT
        else "is permanently deleted from the audience"
    )
    db = Path(args.db)
    if db.exists():
        with SQLiteStore(db) as store:
            store.forget(args.email)
        print(f"{args.email} {where}; the coupling database {db} forgot it.", file=out)
    else:
        print(f"{args.email} {where}; there is no coupling database at {db}.", file=out)
    return EXIT_OK
