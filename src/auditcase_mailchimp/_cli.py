"""The command line of SPEC.md R9: ``auditcase-mailchimp sync | failures | report | erase``.

Exit status (R9.6): 0 when every person was synced; 1 when the run finished with failures or
problems (or, with ``--fail-on-open-refusals``, while a refusal stays open); 2 for a usage
error, a bad API key, an unknown audience, an unreadable source or database (nothing sent);
3 when a run stopped after requests had gone out (a database error, Mailchimp failing every
request, or Ctrl-C): the next run settles and finishes the work; 130 for Ctrl-C before
anything was sent. The API key comes only from ``MAILCHIMP_API_KEY`` (or an OAuth token from
``MAILCHIMP_ACCESS_TOKEN`` with ``--api-url``), never from a flag, and is never printed.

Messages are Dutch where the locale is Dutch, English otherwise (``--lang`` decides). A
closed output (``| head -1``) never stops a sync: writes that fail are dropped, the work and
the exit status stand.
"""

from __future__ import annotations

import argparse
import errno
import gettext
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, NoReturn, TextIO

import attrs

from ._client import MailchimpClient, MemberOutcome
from ._client_checks import check_list_id
from ._credentials import ApiKey, OAuthToken
from ._errors import (
    AudienceMismatchError,
    AudienceNotFoundError,
    AuditCaseMailchimpError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    MailchimpError,
    MassArchiveError,
    SourceError,
)
from ._i18n import LANGUAGES, detect_language, translations
from ._json_out import (
    ErrorOutput,
    dumps,
    error_output,
    failures_output,
    report_output,
    sync_output,
)
from ._plan import Action, Archive, ChangeAddress, Plan, Release, Upsert
from ._source import SUFFIXES, ExportFile
from ._store import SQLiteStore, StoreError, is_refusal
from ._summary import address_fault, fault_text, render_failures, render_summary, summarise
from ._sync import sync
from ._transport import Request, RequestsTransport, Response, Transport
from ._version import __version__

__all__ = ["main"]

DEFAULT_DB: Final = "auditcase-mailchimp.sqlite3"
EXIT_OK: Final = 0
EXIT_FAILURES: Final = 1
EXIT_USAGE: Final = 2
#: A run stopped after requests had gone out to Mailchimp; the next run finishes the work.
EXIT_STOPPED: Final = 3
#: Ctrl-C before anything was sent (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED: Final = 130
_DEFINITE_FAULTS: Final = frozenset(
    {"empty", "space", "comma", "semicolon", "no_at", "several_at", "nothing_before_at",
     "nothing_after_at"}
)  # fmt: skip


class _UsageError(Exception):
    """A mistake in how the command was called; exit status 2."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing and exiting on a mistake."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see {self.prog} --help)")


class _SafeStream:
    """A text stream whose failed writes are dropped: a closed pipe never stops the work."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.broken = False

    def isatty(self) -> bool:
        try:
            return self.stream.isatty()
        except (OSError, ValueError):
            return False

    def write(self, text: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(text)
        except BrokenPipeError:
            self.broken = True
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.EINVAL):
                raise
            self.broken = True
        except ValueError:  # closed
            self.broken = True

    def flush(self) -> None:
        if self.broken:
            return
        try:
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            self.broken = True
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.EINVAL):
                raise
            self.broken = True

    def line(self, text: str = "") -> None:
        self.write(f"{text}\n")


class _CountingTransport:
    """The default transport, counting the requests that change something in Mailchimp."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.writes = 0
        self._lock = threading.Lock()

    def send(self, request: Request) -> Response:
        if request.method != "GET":
            with self._lock:
                self.writes += 1
        return self.inner.send(request)

    def close(self) -> None:
        self.inner.close()


@attrs.define
class _Context:
    """What every command needs: its arguments, streams, language and what was sent."""

    args: argparse.Namespace
    env: dict[str, str]
    out: _SafeStream
    err: _SafeStream
    tr: gettext.NullTranslations
    transport: _CountingTransport | None = None

    @property
    def sent(self) -> int:
        return 0 if self.transport is None else self.transport.writes


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
    common = _Parser(add_help=False)
    common.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=argparse.SUPPRESS,
        help="language of the messages (default: nl where LC_ALL, LC_MESSAGES or LANG is "
        "Dutch, en otherwise)",
    )
    parser = _Parser(
        prog="auditcase-mailchimp",
        description="Keep a Mailchimp audience in step with the persons of AuditCase.",
        epilog="The API key is read from MAILCHIMP_API_KEY (or an OAuth token from "
        "MAILCHIMP_ACCESS_TOKEN with --api-url), never from a flag.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    run = commands.add_parser(
        "sync", help="sync the persons of an export into the audience", parents=[common]
    )
    run.add_argument(
        "--source", required=True, metavar="FILE", help="AuditCase export (.csv, .jsonl)"
    )
    run.add_argument(
        "--format",
        choices=("csv", "jsonl"),
        help="the export's format, when its name does not end in .csv or .jsonl",
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
        "--allow-mass-archive",
        action="store_true",
        help="go ahead when more than a quarter of the managed members would be archived (R7.5)",
    )
    run.add_argument(
        "--fail-on-open-refusals",
        action="store_true",
        help="exit 1 while the failure overview holds an open refusal (for cron jobs)",
    )
    run.add_argument(
        "--api-url", metavar="URL", help="API address instead of the key's data centre"
    )
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    failures = commands.add_parser(
        "failures", help="the failure overview (open entries)", parents=[common]
    )
    failures.add_argument("--db", default=DEFAULT_DB, metavar="PATH")
    failures.add_argument("--all", action="store_true", help="every entry, also resolved ones")
    failures.add_argument("--json", action="store_true", help="print a JSON array")
    failures.add_argument("--html", metavar="FILE", help="write the HTML report page to FILE")
    failures.add_argument(
        "--fail-on-open-refusals",
        action="store_true",
        help="exit 1 while an open entry is a refusal by Mailchimp (for cron jobs)",
    )
    failure_commands = failures.add_subparsers(
        dest="failures_command", metavar="dismiss", parser_class=_Parser
    )
    dismiss = failure_commands.add_parser("dismiss", help="dismiss entries by id", parents=[common])
    dismiss.add_argument("ids", nargs="+", type=_entry_id, metavar="ID")
    dismiss.add_argument("--db", default=argparse.SUPPRESS, metavar="PATH")

    report = commands.add_parser(
        "report", help="persons to look at in AuditCase (R5.3, R3)", parents=[common]
    )
    report.add_argument("--db", default=DEFAULT_DB, metavar="PATH")
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.add_argument("--html", metavar="FILE", help="write the HTML report page to FILE")

    erase = commands.add_parser(
        "erase", help="permanently delete one address (GDPR erasure)", parents=[common]
    )
    erase.add_argument("--email", required=True, metavar="ADDRESS")
    erase.add_argument("--list-id", required=True, metavar="ID")
    erase.add_argument("--db", default=DEFAULT_DB, metavar="PATH")
    erase.add_argument("--api-url", metavar="URL")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def _argv_language(argv: Sequence[str]) -> str | None:
    """``--lang`` as given, for messages about arguments that could not be parsed."""
    for index, arg in enumerate(argv):
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
        if arg == "--lang" and index + 1 < len(argv):
            return argv[index + 1]
    return None


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
        environ: The environment to take the key and the locale from; ``os.environ`` when
            ``None``.

    Returns:
        0, 1, 2, 3 or 130, as the module docs say.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    out = _SafeStream(stdout or sys.stdout)
    err = _SafeStream(stderr or sys.stderr)
    env = dict(os.environ if environ is None else environ)
    wants_json = "--json" in arguments
    try:
        args = _parser().parse_args(arguments)
    except _UsageError as error:
        language = _argv_language(arguments)
        tr = translations(language if language in LANGUAGES else detect_language(env))
        code = _stop(
            out, err, tr, code="usage", message=str(error), status=EXIT_USAGE, as_json=wants_json
        )
        return _finish(code, out, err, real=stdout is None)
    except SystemExit as exit_:  # --help and --version print and exit 0
        return int(exit_.code or 0)
    language = getattr(args, "lang", None) or detect_language(env)
    ctx = _Context(args, env, out, err, translations(language))
    commands: dict[str, Callable[[], int]] = {
        "sync": lambda: _sync(ctx),
        "failures": lambda: _failures(ctx),
        "report": lambda: _report(ctx),
        "erase": lambda: _erase(ctx, stdin or sys.stdin),
    }
    as_json = bool(getattr(args, "json", False))
    try:
        code = commands[args.command]()
    except KeyboardInterrupt:
        code = _interrupted(ctx, as_json=as_json)
    except (_UsageError, AuditCaseMailchimpError, OSError) as error:
        code = _failed(ctx, error, as_json=as_json)
    return _finish(code, out, err, real=stdout is None)


def _finish(code: int, out: _SafeStream, err: _SafeStream, *, real: bool) -> int:
    """Flush; when the real stdout was closed early, point it at /dev/null for the exit."""
    out.flush()
    err.flush()
    if real and out.broken:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # pragma: no cover - stdout without a descriptor
            pass
        finally:
            os.close(devnull)
    return code


def _stop(
    out: _SafeStream,
    err: _SafeStream,
    tr: gettext.NullTranslations,
    *,
    code: str,
    message: str,
    status: int,
    as_json: bool,
) -> int:
    """Print an error that stops a command: to stderr, and as JSON on stdout with --json."""
    err.line(tr.gettext("auditcase-mailchimp: error: {message}").format(message=message))
    if as_json:
        out.line(
            dumps(
                error_output(ErrorOutput(error=code, message=message, exit_status=status)),
                indent=None,
            )
        )
    return status


def _interrupted(ctx: _Context, *, as_json: bool) -> int:
    tr = ctx.tr
    if ctx.sent:
        message = tr.ngettext(
            "interrupted (Ctrl-C) after {n} request to Mailchimp: no new requests were sent, "
            "and the answers to the requests under way are recorded in the coupling database. "
            "Run the same command again to finish the work.",
            "interrupted (Ctrl-C) after {n} requests to Mailchimp: no new requests were sent, "
            "and the answers to the requests under way are recorded in the coupling database. "
            "Run the same command again to finish the work.",
            ctx.sent,
        ).format(n=ctx.sent)
        return _stop(
            ctx.out,
            ctx.err,
            tr,
            code="interrupted",
            message=message,
            status=EXIT_STOPPED,
            as_json=as_json,
        )
    message = tr.gettext("interrupted (Ctrl-C) before anything was sent: nothing changed.")
    return _stop(
        ctx.out,
        ctx.err,
        tr,
        code="interrupted",
        message=message,
        status=EXIT_INTERRUPTED,
        as_json=as_json,
    )


def _failed(ctx: _Context, error: Exception, *, as_json: bool) -> int:
    """An error that stops a command: 2 when nothing was sent, 3 after requests went out."""
    tr = ctx.tr
    code, message = _explain(error, ctx)
    if ctx.sent:
        message = tr.ngettext(
            "stopped after {n} request to Mailchimp: {message}. The next run settles what was "
            "sent and finishes the work.",
            "stopped after {n} requests to Mailchimp: {message}. The next run settles what "
            "was sent and finishes the work.",
            ctx.sent,
        ).format(n=ctx.sent, message=message)
        return _stop(
            ctx.out,
            ctx.err,
            tr,
            code="stopped_after_sending",
            message=message,
            status=EXIT_STOPPED,
            as_json=as_json,
        )
    return _stop(
        ctx.out, ctx.err, tr, code=code, message=message, status=EXIT_USAGE, as_json=as_json
    )


def _explain(error: Exception, ctx: _Context) -> tuple[str, str]:  # noqa: C901, PLR0911 - one per kind
    """The code and message of an error that stops a command, in the administrator's terms."""
    tr = ctx.tr
    if isinstance(error, _UsageError):
        return "usage", str(error)
    if isinstance(error, AudienceNotFoundError):
        list_id = getattr(ctx.args, "list_id", "")
        return "audience", tr.gettext(
            "the account has no audience {list_id} (check --list-id; Mailchimp said: {error})"
        ).format(list_id=repr(list_id), error=error)
    if isinstance(error, AuthenticationError):
        return "credentials", tr.gettext(
            "Mailchimp refused the credentials (check MAILCHIMP_API_KEY and its data centre, "
            "or --api-url): {error}"
        ).format(error=error)
    if isinstance(error, SourceError):
        return "source", _flagged(str(error), getattr(ctx.args, "source", ""), "--source")
    if isinstance(error, StoreError):
        return "database", _flagged(str(error), getattr(ctx.args, "db", ""), "--db")
    if isinstance(error, MassArchiveError):  # R7.5: stopped before anything was sent
        return "mass_archive", tr.gettext(
            "the sync would archive {count} of the {managed} members the coupling manages "
            "(more than a quarter); nothing was sent. Check the export; if the removals are "
            "wanted, run again with --allow-mass-archive"
        ).format(count=error.count, managed=error.managed)
    if isinstance(error, AudienceMismatchError):  # R4.6: stopped before anything was sent
        return "audience", tr.gettext(
            "the coupling database (--db) belongs to audience {recorded}, not {given} "
            "(--list-id); nothing was sent. Use --list-id {recorded}, or another --db for "
            "audience {given}"
        ).format(recorded=error.recorded, given=error.given)
    if isinstance(error, ConfigurationError | InvalidInputError):
        return "usage", str(error)
    if isinstance(error, MailchimpError):
        return "mailchimp", str(error)
    if isinstance(error, OSError):
        where = error.filename or ""
        reason = error.strerror or str(error)
        return "system", f"{where}: {reason}" if where else reason
    return "internal", str(error)


def _flagged(message: str, path: str, flag: str) -> str:
    """Name the flag a path came from: ``/x.csv (--source): cannot be read``."""
    if path and path in message:
        return message.replace(path, f"{path} ({flag})", 1)
    return f"{flag} {path}: {message}" if path else message


def _client(ctx: _Context, api_url: str | None) -> MailchimpClient:
    """The client, with the key (or OAuth token) from the environment, never from a flag."""
    env, tr = ctx.env, ctx.tr
    key = env.get("MAILCHIMP_API_KEY", "").strip()
    token = env.get("MAILCHIMP_ACCESS_TOKEN", "").strip()
    if key and token:
        raise _UsageError(tr.gettext("set MAILCHIMP_API_KEY or MAILCHIMP_ACCESS_TOKEN, not both"))
    if not key and not token:
        raise _UsageError(
            tr.gettext(
                "no credentials: set MAILCHIMP_API_KEY (or MAILCHIMP_ACCESS_TOKEN with --api-url)"
            )
        )
    if token and not api_url:
        raise _UsageError(
            tr.gettext(
                "MAILCHIMP_ACCESS_TOKEN needs --api-url, the account's API endpoint "
                "(api_endpoint in Mailchimp's OAuth metadata, e.g. https://us6.api.mailchimp.com)"
            )
        )
    credentials = ApiKey(key) if key else OAuthToken(token, api_endpoint=api_url or "")
    ctx.transport = _CountingTransport(RequestsTransport())
    return MailchimpClient(credentials, base_url=api_url if key else None, transport=ctx.transport)


# --- sync ------------------------------------------------------------------------------------


def _source(ctx: _Context) -> ExportFile:
    """The export, its format from ``--format`` or the file name (never a Python argument)."""
    path = Path(ctx.args.source)
    given: Literal["csv", "jsonl"] | None = ctx.args.format
    file_format = given or SUFFIXES.get(path.suffix.lower())
    if file_format is None:
        raise _UsageError(
            ctx.tr.gettext(
                "--source {name}: cannot tell the file's format from its name; name it .csv or "
                ".jsonl, or add --format csv (or --format jsonl)"
            ).format(name=path.name)
        )
    return ExportFile(path, file_format=file_format)


def _command_line(args: argparse.Namespace) -> str:
    """The sync command to run again, with the flags given (never the credentials)."""
    parts = ["auditcase-mailchimp", "sync", "--source", _quote(args.source)]
    if args.format:
        parts += ["--format", args.format]
    parts += ["--list-id", _quote(args.list_id)]
    if args.db != DEFAULT_DB:
        parts += ["--db", _quote(args.db)]
    if args.api_url:
        parts += ["--api-url", _quote(args.api_url)]
    if args.reconcile:
        parts.append("--reconcile")
    return " ".join(parts)


def _quote(text: str) -> str:
    safe = all(c.isalnum() or c in "-_./:@=+," for c in text)
    return text if safe and text else "'" + text.replace("'", "'\\''") + "'"


def _list_id(ctx: _Context) -> None:
    """A ``--list-id`` that cannot be an audience id is a usage error naming the flag (R9.6)."""
    try:
        check_list_id(ctx.args.list_id)
    except ConfigurationError as error:
        raise _UsageError(
            ctx.tr.gettext(
                "--list-id {id}: not an audience id: it may hold only letters, digits, - and _"
            ).format(id=repr(ctx.args.list_id))
        ) from error


def _sync(ctx: _Context) -> int:  # noqa: C901, PLR0912 - one run, told in order
    args, tr = ctx.args, ctx.tr
    _list_id(ctx)
    source = _source(ctx)
    client = _client(ctx, args.api_url)  # credentials first: a usage error creates no file
    db = Path(args.db)
    new_file = not db.exists()
    if not args.dry_run:
        store = SQLiteStore(db)
    elif not new_file:
        store = SQLiteStore(db, read_only=True)  # R7.3: a dry run writes nothing anywhere
    else:
        store = SQLiteStore(":memory:")  # nor creates the file
    progress = _Progress(ctx.err, tr)
    started = time.monotonic()
    open_refusals = 0
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
                allow_mass_archive=args.allow_mass_archive,
                progress=progress,
            )
            if args.fail_on_open_refusals:
                open_refusals = sum(
                    1 for entry in store.failures() if is_refusal(entry.status, entry.category)
                )
    except AuditCaseMailchimpError:
        if new_file and not args.dry_run and db.exists() and not ctx.sent:
            with SQLiteStore(db, read_only=True) as check:
                untouched = not check.runs()
            if untouched:  # stopped before anything was written: leave no empty file behind
                _remove_database(db)
        raise
    finally:
        progress.close()
    summary = summarise(
        report,
        duration_seconds=time.monotonic() - started,
        command=_command_line(args),
        db=_quote(args.db) if args.db != DEFAULT_DB else "",
        persons_read=progress.totals.get("read"),
        fail_on_open_refusals=args.fail_on_open_refusals,
        open_refusals=open_refusals,
    )
    if args.json:
        ctx.out.line(dumps(sync_output(summary, report), indent=None))
    else:
        if args.dry_run:
            _print_plan(report.plan, ctx)
        for line in render_summary(summary, tr):
            ctx.out.line(line)
        if args.fail_on_open_refusals and open_refusals:
            ctx.out.line(
                tr.ngettext(
                    "{n} refusal stays open in the failure overview (--fail-on-open-refusals).",
                    "{n} refusals stay open in the failure overview (--fail-on-open-refusals).",
                    open_refusals,
                ).format(n=open_refusals)
            )
    return summary.exit_status


def _remove_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def _print_plan(plan: Plan, ctx: _Context) -> None:
    ctx.out.line(ctx.tr.gettext("Plan (dry run: nothing is sent, nothing is written):"))
    for action in plan.actions:
        ctx.out.line(f"  {_describe(action, ctx.tr)}")
    if not plan.actions:
        ctx.out.line("  " + ctx.tr.gettext("nothing to do"))


def _describe(action: Action, tr: gettext.NullTranslations) -> str:
    kind = (
        tr.gettext("client")
        if action.kind.value == "client_person"
        else tr.gettext("contact person")
    )
    who = f"({kind} {action.person_id})"
    if isinstance(action, Upsert):
        verb = (
            tr.gettext("create")
            if action.create
            else (tr.gettext("re-add") if action.send_status else tr.gettext("update"))
        )
        return f"{verb:<8} {action.email_address} {who}{_changes(action)}"
    if isinstance(action, ChangeAddress):
        return (
            f"{tr.gettext('move'):<8} {action.old_email_address} -> {action.email_address} {who}"
            f"{_changes(action)}"
        )
    if isinstance(action, Archive):
        return f"{tr.gettext('archive'):<8} {action.email_address} {who}"
    if isinstance(action, Release):  # R4.5: cleaned or pending members are released
        return (
            f"{tr.gettext('release'):<8} {action.email_address} {who} "
            f"({action.status}: {tr.gettext('not archived')})"
        )
    return (
        f"{tr.gettext('record'):<8} {action.email_address} {who} "
        f"({tr.gettext('already as wanted')})"
    )


def _changes(action: Upsert | ChangeAddress) -> str:
    parts = [f"{name}={value!r}" for name, value in sorted(action.merge_fields.items())]
    parts += [f"+tag {tag!r}" for tag in sorted(action.tags_add)]
    parts += [f"-tag {tag!r}" for tag in sorted(action.tags_remove)]
    return f": {', '.join(parts)}" if parts else ""


class _Progress:
    """A progress bar with rate and time left on a terminal; silent anywhere else."""

    def __init__(
        self,
        stream: _SafeStream,
        tr: gettext.NullTranslations,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tr = tr
        self.tty = stream.isatty()
        self.clock = clock
        self.started: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.totals: dict[str, int] = {}
        self.drawn = False

    def _name(self, phase: str) -> str:
        names = {
            "read": self.tr.gettext("reading"),
            "plan": self.tr.gettext("planning"),
            "push": self.tr.gettext("sending"),
        }
        return names.get(phase, phase)

    def __call__(self, phase: str, done: int, total: int) -> None:
        self.totals[phase] = total
        if not self.tty:
            return
        now = self.clock()
        start = self.started.setdefault(phase, now)
        finished = done >= total
        if not finished and now - self.last.get(phase, -10.0) < 0.1:  # noqa: PLR2004 - 10/s
            return
        self.last[phase] = now
        width = 24
        filled = width if total == 0 else int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        text = f"\r{self._name(phase):<10} [{bar}] {done}/{total}"
        elapsed = now - start
        if done and elapsed > 0:
            rate = done / elapsed
            text += "  " + self.tr.gettext("{rate:.0f}/s").format(rate=rate)
            if not finished:
                left = round((total - done) / rate)
                text += "  " + self.tr.gettext("{m}:{s:02d} left").format(m=left // 60, s=left % 60)
            else:
                text += "  " + self.tr.gettext("done in {s:.1f} s").format(s=elapsed)
        self.stream.write(f"{text}\033[K")
        self.drawn = True
        if finished:
            self.stream.write("\n")
            self.drawn = False
        self.stream.flush()

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False


# --- failures, report --------------------------------------------------------------------------


def _open_existing(ctx: _Context, path: str, *, read_only: bool = True) -> SQLiteStore:
    if not Path(path).exists():
        raise _UsageError(
            ctx.tr.gettext(
                "no coupling database at {path} (run a sync first, or pass --db)"
            ).format(path=path)
        )
    return SQLiteStore(path, read_only=read_only)


def _failures(ctx: _Context) -> int:
    args, tr = ctx.args, ctx.tr
    dismissing = args.failures_command == "dismiss"
    with _open_existing(ctx, args.db, read_only=not dismissing) as store:
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
        if args.html:
            _write_html(ctx, store, Path(args.html))
    refusals = sum(1 for e in entries if e.is_open and is_refusal(e.status, e.category))
    code = EXIT_FAILURES if args.fail_on_open_refusals and refusals else EXIT_OK
    if args.json:
        ctx.out.line(dumps(failures_output(entries)))
        return code
    if args.html:
        ctx.out.line(tr.gettext("wrote {path}").format(path=args.html))
        return code
    for line in render_failures(entries, tr, include_closed=args.all):
        ctx.out.line(line)
    return code


def _write_html(ctx: _Context, store: SQLiteStore, path: Path) -> None:
    from ._html import render_html  # noqa: PLC0415 - only the HTML commands need it

    language = "nl" if ctx.tr.gettext("client") != "client" else "en"
    page = render_html(
        entries=store.failures(),
        report=store.load_report(),
        runs=store.runs(),
        generated_at=datetime.now(UTC),
        tr=ctx.tr,
        language=language,
    )
    path.write_text(page, encoding="utf-8")


def _report(ctx: _Context) -> int:
    args, tr = ctx.args, ctx.tr
    with _open_existing(ctx, args.db) as store:
        report = store.load_report()
        if args.html:
            _write_html(ctx, store, Path(args.html))
    if args.json:
        ctx.out.line(dumps(report_output(report)))
        return EXIT_OK
    if args.html:
        ctx.out.line(tr.gettext("wrote {path}").format(path=args.html))
        return EXIT_OK
    from ._summary import kind_label, status_text  # noqa: PLC0415 - small helpers

    ctx.out.line(
        tr.gettext("Unsubscribed or bounced in Mailchimp, still linked in AuditCase (R5.3):")
    )
    for notice in report.unsubscribed:
        ctx.out.line(
            f"  {kind_label(notice.kind.value, tr)} {notice.person_id}: {notice.email_address} "
            f"({status_text(notice.status, tr)})"
        )
    if not report.unsubscribed:
        ctx.out.line("  " + tr.gettext("none"))
    ctx.out.line(
        tr.gettext("Several linked persons with one e-mail address (R3): unlink all but one:")
    )
    by_address: dict[str, list[str]] = {}
    shown: dict[str, str] = {}
    for problem in report.conflicts:
        key = problem.email_address.lower()
        shown.setdefault(key, problem.email_address)
        label = f"{kind_label(problem.kind.value, tr)} {problem.person_id}"
        if problem.pushed:
            label += f" ({tr.gettext('pushed')})"
        by_address.setdefault(key, []).append(label)
    for key, labels in sorted(by_address.items()):
        ctx.out.line(f"  {shown[key]}: {', '.join(labels)}")
    if not report.conflicts:
        ctx.out.line("  " + tr.gettext("none"))
    return EXIT_OK


# --- erase ----------------------------------------------------------------------------------------


def _erase(ctx: _Context, stdin: TextIO) -> int:
    args, tr = ctx.args, ctx.tr
    fault = address_fault(args.email)
    if fault in _DEFINITE_FAULTS:
        raise _UsageError(
            tr.gettext("--email {address}: not an e-mail address: {fault}").format(
                address=repr(args.email), fault=fault_text(fault, tr)
            )
        )
    _list_id(ctx)  # a malformed id is a usage error, not another audience
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
    with _client(ctx, args.api_url) as client:
        client.check_audience(args.list_id)  # a bad key or audience: exit 2, nothing erased
        try:
            result = client.delete_permanently(args.list_id, args.email)
        except InvalidInputError as error:
            raise _UsageError(
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
