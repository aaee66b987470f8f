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
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, TextIO

from ._cli_context import DEFAULT_DB, EXIT_USAGE, Context, SafeStream, UsageError
from ._cli_exit import failed, finish, interrupted, stop
from ._errors import AuditCaseMailchimpError
from ._i18n import LANGUAGES, detect_language, translations
from ._version import __version__

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing and exiting on a mistake."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


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
    out = SafeStream(stdout or sys.stdout)
    err = SafeStream(stderr or sys.stderr)
    env = dict(os.environ if environ is None else environ)
    wants_json = "--json" in arguments
    try:
        args = _parser().parse_args(arguments)
    except UsageError as error:
        language = _argv_language(arguments)
        tr = translations(language if language in LANGUAGES else detect_language(env))
        code = stop(
            out, err, tr, code="usage", message=str(error), status=EXIT_USAGE, as_json=wants_json
        )
        return finish(code, out, err, real=stdout is None)
    except SystemExit as exit_:  # --help and --version print and exit 0
        return int(exit_.code or 0)
    language = getattr(args, "lang", None) or detect_language(env)
    ctx = Context(args, env, out, err, translations(language), language)
    as_json = bool(getattr(args, "json", False))
    try:
        code = _run(args.command, ctx, stdin or sys.stdin)
    except KeyboardInterrupt:
        code = interrupted(ctx, as_json=as_json)
    except (UsageError, AuditCaseMailchimpError, OSError) as error:
        code = failed(ctx, error, as_json=as_json)
    return finish(code, out, err, real=stdout is None)


def _run(command: str, ctx: Context, stdin: TextIO) -> int:
    """Run one command, imported only now: ``--help`` loads none of them (issue 12.5)."""
    if command == "sync":
        from ._cli_sync import run_sync  # noqa: PLC0415 - loads the runner, store and client

        return run_sync(ctx)
    from ._cli_overview import run_erase, run_failures, run_report  # noqa: PLC0415 - the store

    if command == "erase":
        return run_erase(ctx, stdin)
    return run_failures(ctx) if command == "failures" else run_report(ctx)
