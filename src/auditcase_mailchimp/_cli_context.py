"""What every command of the command line shares: exit codes, streams, the context, credentials.

This module is imported by ``--help`` and ``--version`` too, so it imports nothing heavy at the
top: the client, ``requests`` and the SQLite store are loaded by the functions that use them.
"""

from __future__ import annotations

import argparse
import errno
import gettext
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

import attrs

if TYPE_CHECKING:
    from ._client import MailchimpClient
    from ._store import SQLiteStore
    from ._transport import Request, Response, Transport

__all__ = [
    "DEFAULT_DB",
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "Context",
    "CountingTransport",
    "SafeStream",
    "UsageError",
    "check_list_id_flag",
    "make_client",
    "open_existing",
    "quote",
]

DEFAULT_DB: Final = "auditcase-mailchimp.sqlite3"
EXIT_OK: Final = 0
EXIT_FAILURES: Final = 1
EXIT_USAGE: Final = 2
#: A run stopped after requests had gone out to Mailchimp; the next run finishes the work.
EXIT_STOPPED: Final = 3
#: Ctrl-C before anything was sent (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED: Final = 130


class UsageError(Exception):
    """A mistake in how the command was called; exit status 2."""


class SafeStream:
    """A text stream whose failed writes are dropped: a closed pipe never stops the work."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.broken = False

    def isatty(self) -> bool:
        """Tell whether the stream is a terminal (``False`` for a closed one)."""
        try:
            return self.stream.isatty()
        except (OSError, ValueError):
            return False

    def write(self, text: str) -> None:
        """Write, or drop the text once the reader has gone."""
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
        """Flush, or note that the reader has gone."""
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
        """Write one line."""
        self.write(f"{text}\n")


class CountingTransport:
    """The default transport, counting the requests that change something in Mailchimp."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.writes = 0
        self._lock = threading.Lock()

    def send(self, request: Request) -> Response:
        """Send through the inner transport, counting every request but a GET."""
        if request.method != "GET":
            with self._lock:
                self.writes += 1
        return self.inner.send(request)

    def close(self) -> None:
        """Close the inner transport."""
        self.inner.close()


@attrs.define
class Context:
    """What every command needs: its arguments, streams, language and what was sent."""

    args: argparse.Namespace
    env: dict[str, str]
    out: SafeStream
    err: SafeStream
    tr: gettext.NullTranslations
    #: The language of the messages (``nl`` or ``en``), for the HTML page's ``lang``.
    language: str
    transport: CountingTransport | None = None

    @property
    def sent(self) -> int:
        """The requests that changed something in Mailchimp so far."""
        return 0 if self.transport is None else self.transport.writes


def quote(text: str) -> str:
    """Quote a value for a shell command line, only where it needs it."""
    safe = all(c.isalnum() or c in "-_./:@=+," for c in text)
    return text if safe and text else "'" + text.replace("'", "'\\''") + "'"


def check_list_id_flag(ctx: Context) -> None:
    """A ``--list-id`` that cannot be an audience id is a usage error naming the flag (R9.6)."""
    from ._client_checks import check_list_id  # noqa: PLC0415 - not needed by --help
    from ._errors import ConfigurationError  # noqa: PLC0415

    try:
        check_list_id(ctx.args.list_id)
    except ConfigurationError as error:
        raise UsageError(
            ctx.tr.gettext(
                "--list-id {id}: not an audience id: it may hold only letters, digits, - and _"
            ).format(id=repr(ctx.args.list_id))
        ) from error


def make_client(ctx: Context, api_url: str | None) -> MailchimpClient:
    """The client, with the key (or OAuth token) from the environment, never from a flag."""
    env, tr = ctx.env, ctx.tr
    key = env.get("MAILCHIMP_API_KEY", "").strip()
    token = env.get("MAILCHIMP_ACCESS_TOKEN", "").strip()
    if key and token:
        raise UsageError(tr.gettext("set MAILCHIMP_API_KEY or MAILCHIMP_ACCESS_TOKEN, not both"))
    if not key and not token:
        raise UsageError(
            tr.gettext(
                "no credentials: set MAILCHIMP_API_KEY (or MAILCHIMP_ACCESS_TOKEN with --api-url)"
            )
        )
    if token and not api_url:
        raise UsageError(
            tr.gettext(
                "MAILCHIMP_ACCESS_TOKEN needs --api-url, the account's API endpoint "
                "(api_endpoint in Mailchimp's OAuth metadata, e.g. https://us6.api.mailchimp.com)"
            )
        )
    from ._client import MailchimpClient  # noqa: PLC0415 - loaded when a command sends
    from ._credentials import ApiKey, OAuthToken  # noqa: PLC0415
    from ._transport import RequestsTransport  # noqa: PLC0415

    credentials = ApiKey(key) if key else OAuthToken(token, api_endpoint=api_url or "")
    ctx.transport = CountingTransport(RequestsTransport())
    return MailchimpClient(credentials, base_url=api_url if key else None, transport=ctx.transport)


def open_existing(ctx: Context, path: str, *, read_only: bool = True) -> SQLiteStore:
    """Open a coupling database that must exist already (``failures``, ``report``)."""
    if not Path(path).exists():
        raise UsageError(
            ctx.tr.gettext(
                "no coupling database at {path} (run a sync first, or pass --db)"
            ).format(path=path)
        )
    from ._store import SQLiteStore  # noqa: PLC0415 - loaded when a command reads it

    return SQLiteStore(path, read_only=read_only)
