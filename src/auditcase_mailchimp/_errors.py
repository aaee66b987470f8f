"""The exception hierarchy: one root, split by who is at fault. Every exception lives here.

::

    AuditCaseMailchimpError
    ├── ConfigurationError (ValueError)   the caller's configuration; nothing was sent
    │   └── AudienceMismatchError          the database belongs to another audience (R4.6)
    ├── SourceError (ValueError)           the AuditCase data handed to the library
    │   ├── InvalidPersonError             a linked person cannot be mapped (R2.6)
    │   └── UnreadableSourceError          the export cannot be read (defined in ``_export_rows``)
    ├── InvalidInputError (ValueError)     a value handed to the client cannot be sent
    ├── StoreError                         the coupling database cannot be opened, read, written
    │   └── StoreBusyError                 another sync holds the run lock
    ├── MailchimpError                     talking to Mailchimp failed (with an ErrorCategory)
    │   ├── NetworkError                   no answer
    │   │   └── NetworkTimeoutError
    │   ├── UnexpectedResponseError        a success answer the client cannot read
    │   └── MailchimpAPIError              an error answer (Mailchimp's problem document)
    │       ├── AuthenticationError        401, or 403 with a body
    │       ├── AudienceNotFoundError      404 on the audience
    │       ├── RateLimitedError           429, or 403 without a body
    │       └── MailchimpServerError       500-class
    └── MassArchiveError                   a plan would archive too many members (R7.5)

Only the reader's :class:`~auditcase_mailchimp.UnreadableSourceError` lives elsewhere, beside
the reader in ``_export_rows``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Final, NamedTuple

__all__ = [
    "AudienceMismatchError",
    "AudienceNotFoundError",
    "AuditCaseMailchimpError",
    "AuthenticationError",
    "ConfigurationError",
    "ErrorCategory",
    "FieldError",
    "InvalidInputError",
    "InvalidPersonError",
    "MailchimpAPIError",
    "MailchimpError",
    "MailchimpServerError",
    "NetworkError",
    "NetworkTimeoutError",
    "RateLimitedError",
    "SourceError",
    "StoreBusyError",
    "StoreError",
    "UnexpectedResponseError",
]


class AuditCaseMailchimpError(Exception):
    """The root of every exception this library raises on purpose."""


class ConfigurationError(AuditCaseMailchimpError, ValueError):
    """The caller's configuration is unusable; raised before anything is sent."""


class AudienceMismatchError(ConfigurationError):
    """The coupling database belongs to another audience than the one given (R4.6).

    One coupling database serves one audience: the first sync records its id, and a run with
    another ``--list-id`` stops before anything is sent.

    Attributes:
        recorded: The audience id the database was bound to.
        given: The audience id this run was given.
    """

    def __init__(self, recorded: str, given: str) -> None:
        """Build the error naming both audience ids."""
        super().__init__(
            f"the coupling database belongs to audience {recorded}, not {given}: use "
            f"--list-id {recorded}, or another database (--db) for audience {given}"
        )
        self.recorded = recorded
        self.given = given


class SourceError(AuditCaseMailchimpError, ValueError):
    """The AuditCase data handed to the library is unusable."""


class InvalidPersonError(SourceError):
    """A linked person cannot be mapped to a Mailchimp member (SPEC.md R2.6).

    The message names the person and the reason, never the e-mail address itself, so
    the exception is safe to log; the address is kept on :attr:`email_address`.

    Attributes:
        person_id: The AuditCase id of the person.
        kind: The person's kind (a :class:`~auditcase_mailchimp.PersonKind`).
        category: ``"no_address"`` or ``"invalid_address"``.
        email_address: The address that was found (empty when there was none).
    """

    def __init__(
        self, person_id: str, kind: object, category: str, message: str, email_address: str = ""
    ) -> None:
        super().__init__(message)
        self.person_id = person_id
        self.kind = kind
        self.category = category
        self.email_address = email_address


# --- the coupling database -----------------------------------------------------------------------


class StoreError(AuditCaseMailchimpError):
    """The coupling database cannot be opened, read or written.

    Raised for a path that cannot be opened, a file that is not a coupling database, a database
    written by a newer version of the library, and any SQLite error (kept as ``__cause__``).
    A failed write changed nothing: each write is one transaction.
    """


class StoreBusyError(StoreError):
    """Another sync holds the run lock of the same database file.

    Attributes:
        path: The database file.
        pid: The process id of the holder, ``None`` when it could not be read.
    """

    def __init__(self, path: str, pid: int | None) -> None:
        """Build the error naming the database and the holding process."""
        holder = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(f"another sync is running against {path} ({holder})")
        self.path = path
        self.pid = pid


# --- talking to Mailchimp (issue 3) ------------------------------------------------------------


class ErrorCategory(enum.StrEnum):
    """What went wrong, as finely as the failure overview must tell it apart (SPEC.md R6.2).

    The values are the ``category`` strings of the failure overview. Only
    :attr:`RATE_LIMITED`, :attr:`SERVER_ERROR` and :attr:`NETWORK` are worth repeating.
    """

    #: 400 "Member In Compliance State" (unsubscribed, bounced, under compliance review).
    COMPLIANCE_STATE = "compliance_state"
    #: 400 "Forgotten Email Not Subscribed", the address was permanently deleted.
    PERMANENTLY_DELETED = "permanently_deleted"
    #: 400 "… looks fake or invalid, please enter a real email address."
    INVALID_ADDRESS = "invalid_address_mailchimp"
    #: A merge field value was refused (``errors`` / ``field`` name it).
    INVALID_MERGE_FIELD = "invalid_merge_field"
    #: 400 "Member Exists" or ``ERROR_CONTACT_EXISTS``, the address is already a member.
    MEMBER_EXISTS = "member_exists"
    #: 404 on a member, the address is not in the audience.
    NOT_FOUND = "not_found"
    #: 429, or a 403 without a body (Mailchimp's answer under heavy load, MAILCHIMP.md §6.1).
    RATE_LIMITED = "rate_limited"
    #: A 500-class answer.
    SERVER_ERROR = "server_error"
    #: No answer at all (connection refused or dropped, timeout, DNS, TLS).
    NETWORK = "network"
    #: 401 "API Key Invalid", or a 403 with a body (the key or its user cannot do this).
    BAD_KEY = "bad_key"
    #: 404 on the audience itself, the list id is wrong.
    UNKNOWN_AUDIENCE = "unknown_audience"
    #: Any other refusal; read the title and detail.
    GENERIC = "generic"

    @property
    def retryable(self) -> bool:
        """``True`` for the categories worth repeating: rate limited, server error, network."""
        return self in _RETRYABLE


_RETRYABLE: Final = frozenset(
    {ErrorCategory.RATE_LIMITED, ErrorCategory.SERVER_ERROR, ErrorCategory.NETWORK}
)


class FieldError(NamedTuple):
    """One entry of a problem document's ``errors`` array: which field, and what is wrong."""

    #: The field, e.g. ``merge_fields.FNAME`` or ``email_address``; empty for the whole body.
    field: str
    #: Mailchimp's message about it.
    message: str


_ADDRESS_LIKE: Final = re.compile(r"[^\s@<>\"']+@[^\s@<>\"']+")


def redact_addresses(text: str) -> str:
    """Replace every e-mail address in a text by ``<address>``, for messages that may be logged.

    Args:
        text: A text from Mailchimp, e.g. a problem document's ``detail``.

    Returns:
        The text without e-mail addresses.
    """
    return _ADDRESS_LIKE.sub("<address>", text)


class InvalidInputError(AuditCaseMailchimpError, ValueError):
    """A value handed to the Mailchimp client cannot be sent; raised before anything is sent.

    For example an address with a space or without ``@``, a merge field over 255 bytes, or an
    empty tag name. The message says what is wrong without repeating the address.
    """


class MailchimpError(AuditCaseMailchimpError):
    """Talking to Mailchimp failed: no answer (:class:`NetworkError`) or an error answer.

    Messages never hold the API key or token, nor an e-mail address.

    Attributes:
        category: The :class:`ErrorCategory` of the failure.
        retryable: ``True`` when repeating the same request may succeed.
        request_id: Mailchimp's ``X-Request-Id`` of the answer (empty without an answer).
    """

    def __init__(
        self,
        message: str,
        *,
        category: ErrorCategory,
        retryable: bool | None = None,
        request_id: str = "",
    ) -> None:
        super().__init__(message)
        self.category = category
        self.retryable = category.retryable if retryable is None else retryable
        self.request_id = request_id


class NetworkError(MailchimpError):
    """No answer from Mailchimp: the connection failed, was dropped or timed out.

    ``retryable`` is ``False`` only for failures that repeating cannot cure, such as a TLS
    certificate that does not verify.
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message, category=ErrorCategory.NETWORK, retryable=retryable)


class NetworkTimeoutError(NetworkError):
    """Connecting to Mailchimp, or waiting for its answer, took longer than the timeout."""


class UnexpectedResponseError(MailchimpError):
    """Mailchimp answered with success but in a form the client cannot read.

    Attributes:
        problems: What was wrong, one message per place (from ``cattrs.transform_error``).
    """

    def __init__(self, message: str, *, problems: Iterable[str] = (), request_id: str = "") -> None:
        super().__init__(
            message, category=ErrorCategory.GENERIC, retryable=False, request_id=request_id
        )
        self.problems = tuple(problems)


class MailchimpAPIError(MailchimpError):
    """Mailchimp answered with an error: its problem document, parsed (MAILCHIMP.md §6).

    The message is ``"<status> <title>: <detail>"`` with e-mail addresses replaced by
    ``<address>``, so it is safe to log; :attr:`detail` keeps Mailchimp's text as it was.

    Attributes:
        status: The HTTP status.
        title: The problem's ``title``, e.g. ``"Member In Compliance State"`` (for an answer
            without a body, the HTTP reason, e.g. ``"Too Many Requests"``).
        detail: The problem's ``detail``.
        field_errors: The problem's ``errors`` array, as :class:`FieldError` pairs.
        type: The problem's ``type`` (a documentation URL).
        instance: The problem's ``instance`` (an id of this occurrence).
    """

    def __init__(
        self,
        *,
        status: int,
        title: str,
        detail: str = "",
        field_errors: Iterable[FieldError] = (),
        category: ErrorCategory,
        retryable: bool | None = None,
        request_id: str = "",
        type: str = "",  # noqa: A002 - the problem document's field name
        instance: str = "",
    ) -> None:
        message = f"{status} {title}"
        if detail:
            message += f": {redact_addresses(detail)}"
        if request_id:
            message += f" (request {request_id})"
        super().__init__(message, category=category, retryable=retryable, request_id=request_id)
        self.status = status
        self.title = title
        self.detail = detail
        self.field_errors = tuple(field_errors)
        self.type = type
        self.instance = instance


class AuthenticationError(MailchimpAPIError):
    """401 "API Key Invalid" (or missing), or a 403 with a body: every request would fail."""


class AudienceNotFoundError(MailchimpAPIError):
    """404 on the audience: the list id is wrong, or the key's account has no such audience."""


class RateLimitedError(MailchimpAPIError):
    """429 (or a 403 without a body): too many requests or connections, even after retries."""


class MailchimpServerError(MailchimpAPIError):
    """A 500-class answer, even after retries."""


class MassArchiveError(AuditCaseMailchimpError):
    """A sync would remove too many members at once and was stopped before sending (R7.5).

    Raised when the plan archives (or releases) more than a quarter of the members the
    coupling manages, and at least 20, unless the caller allows it (``allow_mass_archive``,
    ``--allow-mass-archive``). Nothing was sent or written.

    Attributes:
        count: The members the plan would remove.
        managed: The members the coupling manages.
    """

    def __init__(self, *, count: int, managed: int) -> None:
        """Name the count and the managed members."""
        super().__init__(
            f"the sync would archive {count} of the {managed} members the coupling manages; "
            "check the export, then run again with --allow-mass-archive (Python: "
            "allow_mass_archive=True) if that is intended"
        )
        self.count = count
        self.managed = managed
