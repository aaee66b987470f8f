"""How a command of the command line ends: the exit status of R9.6 and the error it prints.

An error that stops a command exits 2 when nothing was sent and 3 after requests went out
(the next run settles and finishes the work); Ctrl-C exits 130 before anything was sent.
Under ``--json`` the error is also printed on stdout as one object (``schemas/error.json``).
"""

from __future__ import annotations

import gettext
import os
import sys
from typing import Final

from ._cli_context import (
    EXIT_INTERRUPTED,
    EXIT_STOPPED,
    EXIT_USAGE,
    Context,
    SafeStream,
    UsageError,
)
from ._errors import (
    AudienceMismatchError,
    AudienceNotFoundError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    MailchimpError,
    MassArchiveError,
    SourceError,
    StoreError,
)

__all__ = ["explain", "failed", "finish", "interrupted", "stop"]

_INTERRUPTED: Final = "interrupted"


def finish(code: int, out: SafeStream, err: SafeStream, *, real: bool) -> int:
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


def stop(
    out: SafeStream,
    err: SafeStream,
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
        from ._json_out import ErrorOutput, dumps, error_output  # noqa: PLC0415 - --json only

        error = ErrorOutput(error=code, message=message, exit_status=status)
        out.line(dumps(error_output(error), indent=None))
    return status


def interrupted(ctx: Context, *, as_json: bool) -> int:
    """Ctrl-C: 3 after requests went out (their answers are recorded), 130 before."""
    tr = ctx.tr
    if ctx.sent:
        status = EXIT_STOPPED
        message = tr.ngettext(
            "interrupted (Ctrl-C) after {n} request to Mailchimp: no new requests were sent, "
            "and the answers to the requests under way are recorded in the coupling database. "
            "Run the same command again to finish the work.",
            "interrupted (Ctrl-C) after {n} requests to Mailchimp: no new requests were sent, "
            "and the answers to the requests under way are recorded in the coupling database. "
            "Run the same command again to finish the work.",
            ctx.sent,
        ).format(n=ctx.sent)
    else:
        status = EXIT_INTERRUPTED
        message = tr.gettext("interrupted (Ctrl-C) before anything was sent: nothing changed.")
    return stop(
        ctx.out, ctx.err, tr, code=_INTERRUPTED, message=message, status=status, as_json=as_json
    )


def failed(ctx: Context, error: Exception, *, as_json: bool) -> int:
    """An error that stops a command: 2 when nothing was sent, 3 after requests went out."""
    tr = ctx.tr
    code, message = explain(error, ctx)
    status = EXIT_USAGE
    if ctx.sent:
        code, status = "stopped_after_sending", EXIT_STOPPED
        message = tr.ngettext(
            "stopped after {n} request to Mailchimp: {message}. The next run settles what was "
            "sent and finishes the work.",
            "stopped after {n} requests to Mailchimp: {message}. The next run settles what "
            "was sent and finishes the work.",
            ctx.sent,
        ).format(n=ctx.sent, message=message)
    return stop(ctx.out, ctx.err, tr, code=code, message=message, status=status, as_json=as_json)


def explain(error: Exception, ctx: Context) -> tuple[str, str]:  # noqa: C901, PLR0911 - one per kind
    """The code and message of an error that stops a command, in the administrator's terms."""
    tr = ctx.tr
    if isinstance(error, UsageError):
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
