"""The Mailchimp client: the few calls the coupling makes, over a :class:`Transport`.

What it sends (MAILCHIMP.md, "What the library does (decided)"):

- reads: ``GET /ping``; ``GET /lists/{list_id}`` to check the audience; every member through
  ``GET /lists/{list_id}/members`` in pages of 1000 (``count``/``offset``) with ``fields``
  limited to what the coupling compares, once without a status filter and once with
  ``status=archived`` (the filter is the spec's only documented way to list archived members,
  MAILCHIMP.md §2.4), and for members with more than 50 tags ``GET …/members/{hash}/tags``;
- creates and updates: batch subscribe ``POST /lists/{list_id}``, at most 500 members a call,
  ``update_existing: true``, ``sync_tags: false``, ``status_if_new: subscribed``, ``status``
  only when asked (re-adding an archived member), tags to add in the same call;
- tags: ``POST …/members/{hash}/tags`` with ``active``/``inactive`` and ``is_syncing: true``;
- archive: ``DELETE …/members/{hash}``; permanent delete:
  ``POST …/members/{hash}/actions/delete-permanent``;
- address change: ``PATCH …/members/{old hash}`` with the new ``email_address`` (and merge
  fields).

Failures of one member, or of one request of a bulk call, are results
(:class:`MemberResult` with a :class:`FailureDetail`), not exceptions. Only what makes every
request fail raises: a bad key (:class:`~auditcase_mailchimp.AuthenticationError`) and an
unknown audience (:class:`~auditcase_mailchimp.AudienceNotFoundError`). Reads raise on any
failure: a partial read of the audience is worth nothing.

At most ``concurrency`` requests (10 by default, Mailchimp's limit of simultaneous
connections per user) are in flight at once, however many threads call the client.

Logging (``logging.getLogger(__name__)``): counts, list ids and subscriber hashes at INFO and
WARNING; never an e-mail address, a body, or a secret at any level.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from http import HTTPStatus
from types import MappingProxyType
from typing import Any, Final, Self, TypeVar
from urllib.parse import urlencode

import attrs

from ._credentials import ApiKey, OAuthToken, check_base_url
from ._errors import (
    AudienceNotFoundError,
    AuthenticationError,
    ConfigurationError,
    ErrorCategory,
    FieldError,
    InvalidInputError,
    MailchimpAPIError,
    MailchimpError,
    MailchimpServerError,
    NetworkError,
    RateLimitedError,
    UnexpectedResponseError,
)
from ._mailchimp_wire import (
    WireBatchResult,
    WireMember,
    WireMemberPage,
    WireProblem,
    WireTagPage,
    parse_json,
    structure,
)
from ._retry import RetryPolicy
from ._transport import Request, RequestsTransport, Response, Transport

__all__ = [
    "BATCH_LIMIT",
    "MAX_CONCURRENCY",
    "PAGE_SIZE",
    "AddressChange",
    "AudienceMember",
    "FailureDetail",
    "MailchimpClient",
    "MemberOutcome",
    "MemberResult",
    "TagChange",
    "UpsertItem",
    "subscriber_hash",
]

_log = logging.getLogger(__name__)

#: Members per batch-subscribe call (MAILCHIMP.md §5.1).
BATCH_LIMIT: Final = 500
#: Members per page when reading the audience (``count`` maximum, MAILCHIMP.md §2.4).
PAGE_SIZE: Final = 1000
#: Mailchimp's limit of simultaneous connections per user (MAILCHIMP.md §7).
MAX_CONCURRENCY: Final = 10
#: Member responses carry at most this many tags (MAILCHIMP.md §2.5).
TAGS_IN_MEMBER: Final = 50
#: Mailchimp keeps this many UTF-8 bytes of a text merge field (MAILCHIMP.md §7).
MERGE_FIELD_MAX_BYTES: Final = 255
#: What the coupling compares of a member, the ``fields`` of every member read.
MEMBER_FIELDS: Final = (
    "email_address",
    "status",
    "merge_fields.FNAME",
    "merge_fields.LNAME",
    "tags",
    "tags_count",
)
_MAX_ADDRESS: Final = 254

T = TypeVar("T")
R = TypeVar("R")


def subscriber_hash(email_address: str) -> str:
    """Mailchimp's key of a member: the MD5 (hex) of the lower-cased address (MAILCHIMP.md §2.1).

    Args:
        email_address: The address.

    Returns:
        32 hexadecimal digits.
    """
    return hashlib.md5(email_address.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


# --- checking what is handed to the client -----------------------------------------------------


def _check_address(value: object, what: str = "email_address") -> str:
    """The light check Mailchimp's refusal would otherwise come from deep inside a request."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidInputError(f"{what} is empty")
    if any(c.isspace() for c in value):
        raise InvalidInputError(f"{what} contains whitespace")
    if not value.isprintable():
        raise InvalidInputError(f"{what} contains control characters")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or "@" in local:
        raise InvalidInputError(
            f"{what} is not an e-mail address: it needs one '@' between a name and a domain"
        )
    if len(value) > _MAX_ADDRESS:
        raise InvalidInputError(f"{what} is longer than {_MAX_ADDRESS} characters")
    return value


def _check_merge_fields(value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"merge_fields must be a mapping, got {type(value).__name__}")
    checked: dict[str, str] = {}
    for tag, text in value.items():
        if (
            not isinstance(tag, str)
            or not tag
            or not tag.isascii()
            or not tag.replace("_", "").isalnum()
        ):
            raise InvalidInputError(
                f"merge field name {tag!r} is not a merge tag (letters, digits and '_')"
            )
        if not isinstance(text, str):
            raise InvalidInputError(
                f"merge field {tag} must be a string, got {type(text).__name__}"
            )
        size = len(text.encode("utf-8"))
        if size > MERGE_FIELD_MAX_BYTES:
            raise InvalidInputError(
                f"merge field {tag} is {size} bytes long; Mailchimp keeps at most "
                f"{MERGE_FIELD_MAX_BYTES} (cut it before sending)"
            )
        checked[tag] = text
    return MappingProxyType(checked)


def _check_tags(value: object, what: str = "tags") -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInputError(
            f"{what} must be a collection of tag names, not {type(value).__name__}"
        )
    tags = frozenset(value)
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidInputError(
                f"{what}: a tag name must be a string, got {type(tag).__name__}"
            )
        if not tag.strip():
            raise InvalidInputError(f"{what}: a tag name is empty")
    return tags


def _check_bool(_instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{attribute.name} must be True or False, got {value!r}")


def _check_address_field(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    _check_address(value, attribute.name)


def _check_list_id(list_id: object) -> str:
    if not isinstance(list_id, str) or not list_id.strip():
        raise ConfigurationError("the audience (list) id is empty")
    if not list_id.isascii() or not list_id.replace("-", "").replace("_", "").isalnum():
        raise ConfigurationError(
            "the audience (list) id may hold only letters, digits, '-' and '_'"
        )
    return list_id


# --- values in and out -------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class UpsertItem:
    """One member for :meth:`MailchimpClient.batch_upsert`: create it, or update it.

    Sent as ``email_address``, ``status_if_new: subscribed``, the merge fields, the tags to
    add and, only with ``send_status``, ``status: subscribed`` (which re-adds an archived
    member, and is refused for one who unsubscribed, MAILCHIMP.md §8).

    Raises:
        InvalidInputError: The address has a space or no ``@``, a merge field is not text or
            is over 255 UTF-8 bytes, a tag name is empty.
    """

    #: The address, as it should be spelled in Mailchimp.
    email_address: str = attrs.field(validator=_check_address_field)
    #: Merge fields to set (e.g. ``FNAME``); others are left as they are.
    merge_fields: Mapping[str, str] = attrs.field(
        factory=dict, converter=_check_merge_fields, hash=False
    )
    #: Tags to add; existing tags are kept (``sync_tags`` is false).
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=_check_tags)
    #: Send ``status`` ``subscribed``, only to re-add an archived member.
    send_status: bool = attrs.field(default=False, validator=_check_bool)

    def to_wire(self) -> dict[str, Any]:
        """The member's entry in the batch-subscribe body."""
        entry: dict[str, Any] = {"email_address": self.email_address, "status_if_new": "subscribed"}
        if self.send_status:
            entry["status"] = "subscribed"
        if self.merge_fields:
            entry["merge_fields"] = dict(self.merge_fields)
        if self.tags:
            entry["tags"] = sorted(self.tags)
        return entry


@attrs.frozen(kw_only=True)
class TagChange:
    """Tags to set active (``add``) and inactive (``remove``) on one member.

    Raises:
        InvalidInputError: A bad address, an empty tag name, or a tag in both sets.
    """

    email_address: str = attrs.field(validator=_check_address_field)
    add: frozenset[str] = attrs.field(default=frozenset(), converter=_check_tags)
    remove: frozenset[str] = attrs.field(default=frozenset(), converter=_check_tags)

    def __attrs_post_init__(self) -> None:
        """Refuse a tag that is both added and removed."""
        if self.add & self.remove:
            raise InvalidInputError("a tag cannot be both added and removed in one change")


@attrs.frozen(kw_only=True)
class AddressChange:
    """Change a member's address from ``old_email_address`` to ``email_address`` (R5.4).

    Raises:
        InvalidInputError: A bad address or merge field.
    """

    old_email_address: str = attrs.field(validator=_check_address_field)
    email_address: str = attrs.field(validator=_check_address_field)
    merge_fields: Mapping[str, str] = attrs.field(
        factory=dict, converter=_check_merge_fields, hash=False
    )


@attrs.frozen(kw_only=True)
class AudienceMember:
    """A member as read from the audience: what the coupling compares, all tags included."""

    #: The address as Mailchimp spells it.
    email_address: str
    #: ``subscribed``, ``unsubscribed``, ``cleaned``, ``pending``, ``transactional`` or
    #: ``archived``, as Mailchimp reports it.
    status: str
    #: Merge field ``FNAME`` (``""`` when empty).
    first_name: str = ""
    #: Merge field ``LNAME``.
    last_name: str = ""
    #: Every tag of the member.
    tags: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """The address lower-cased, Mailchimp's identity of the member."""
        return self.email_address.lower()


class MemberOutcome(enum.StrEnum):
    """What happened to one member."""

    #: Batch subscribe created the member.
    CREATED = "created"
    #: Batch subscribe updated the member (also when a lost earlier attempt had created it).
    UPDATED = "updated"
    #: The tags were set.
    TAGS_SET = "tags_set"
    #: The member was archived.
    ARCHIVED = "archived"
    #: Archive or permanent delete found no such member, so it is not in the audience.
    ABSENT = "absent"
    #: The member's address was changed.
    ADDRESS_CHANGED = "address_changed"
    #: The member was permanently deleted.
    DELETED = "deleted"
    #: Mailchimp refused, or no answer came; see :attr:`MemberResult.error`.
    FAILED = "failed"


@attrs.frozen(kw_only=True)
class FailureDetail:
    """Why a member's request failed: what the failure overview records (R6.2).

    For a per-address error inside a batch-subscribe answer ``status`` is ``None`` and
    ``title`` holds Mailchimp's error code (``ERROR_GENERIC``, ``ERROR_CONTACT_EXISTS``).
    """

    category: ErrorCategory
    #: Mailchimp's title (or error code); for no answer, ``"Network error"``.
    title: str
    #: The HTTP status, or ``None`` (no answer, or a per-address batch error).
    status: int | None = None
    #: Mailchimp's detail, as it was (it may hold the address).
    detail: str = ""
    #: Per-field errors.
    field_errors: tuple[FieldError, ...] = ()
    #: Mailchimp's ``X-Request-Id``, when there was an answer.
    request_id: str = ""
    #: ``True`` when repeating the request later may succeed.
    retryable: bool = False

    @classmethod
    def from_error(cls, error: MailchimpError) -> FailureDetail:
        """The detail of an exception from a request that failed for one member or chunk."""
        if isinstance(error, MailchimpAPIError):
            return cls(
                category=error.category,
                title=error.title,
                status=error.status,
                detail=error.detail,
                field_errors=error.field_errors,
                request_id=error.request_id,
                retryable=error.retryable,
            )
        title = "Network error" if isinstance(error, NetworkError) else "Unexpected answer"
        return cls(
            category=error.category,
            title=title,
            detail=str(error),
            request_id=error.request_id,
            retryable=error.retryable,
        )


@attrs.frozen(kw_only=True)
class MemberResult:
    """The answer for one member: done (with the status Mailchimp reports) or failed."""

    #: The address the request was about (for an address change, the new one).
    email_address: str
    outcome: MemberOutcome
    #: The member's status as Mailchimp reports it after the request (``""`` when unknown).
    status: str = ""
    #: Why it failed, ``None`` when it did not.
    error: FailureDetail | None = None
    #: For an address change refused because the new address is already in the audience,
    #: the member's status does not allow a change (e.g. ``cleaned``), or the old address is
    #: not in the audience: R5.4 says to update the new address and archive the old one.
    fallback: bool = False

    @property
    def ok(self) -> bool:
        """``True`` when Mailchimp confirmed (an absent member counts as archived)."""
        return self.error is None


def _failed(email_address: str, detail: FailureDetail, *, fallback: bool = False) -> MemberResult:
    return MemberResult(
        email_address=email_address, outcome=MemberOutcome.FAILED, error=detail, fallback=fallback
    )


# --- reading Mailchimp's errors ----------------------------------------------------------------


def classify_refusal(
    title: str, detail: str, field_errors: Sequence[FieldError] = ()
) -> ErrorCategory:
    """The category of a 400-class refusal, or of a per-address batch-subscribe error.

    Args:
        title: The problem's title, or the batch error's ``error_code``.
        detail: The problem's detail, or the batch error's ``error``.
        field_errors: The per-field errors.

    Returns:
        The category (MAILCHIMP.md §6.2).
    """
    t, d = title.lower(), detail.lower()
    if t == "member in compliance state" or "in a compliance state" in d:
        return ErrorCategory.COMPLIANCE_STATE
    if t == "forgotten email not subscribed" or "was permanently deleted" in d:
        return ErrorCategory.PERMANENTLY_DELETED
    if "looks fake or invalid" in d:
        return ErrorCategory.INVALID_ADDRESS
    if t in {"member exists", "error_contact_exists"} or "already a list member" in d:
        return ErrorCategory.MEMBER_EXISTS
    if "merge field" in d or any(
        f.field.startswith("merge_fields") or (f.field and f.field != "email_address")
        for f in field_errors
    ):
        return ErrorCategory.INVALID_MERGE_FIELD
    return ErrorCategory.GENERIC


def _has_body(response: Response) -> bool:
    return bool(response.body.strip())


def _should_retry(response: Response) -> bool:
    """429 and 5xx; a 403 without a body is Mailchimp shedding load (MAILCHIMP.md §6.1)."""
    status = response.status
    return status == 429 or status >= 500 or (status == 403 and not _has_body(response))  # noqa: PLR2004


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def error_from_response(response: Response, *, audience_level: bool) -> MailchimpAPIError:
    """Parse an error answer into the right exception.

    Args:
        response: An answer with a status of 400 or more.
        audience_level: The request was about the audience itself (a 404 then means an
            unknown audience), not about one member (a 404 then means no such member).

    Returns:
        A :class:`MailchimpAPIError` (or subclass) with category, status, title, detail,
        per-field errors and request id.
    """
    request_id = response.header("X-Request-Id") or ""
    problem: WireProblem | None = None
    if _has_body(response):
        try:
            document = json.loads(response.body)
            if isinstance(document, dict):
                problem = structure(document, WireProblem, what="error", request_id=request_id)
        except (ValueError, UnicodeDecodeError, UnexpectedResponseError):
            problem = None  # an HTML page from a proxy or CDN: the status says enough
    status = response.status
    title = (problem.title if problem is not None else "") or _reason(status)
    detail = problem.detail if problem is not None else ""
    fields = tuple(FieldError(e.field, e.message) for e in problem.errors) if problem else ()
    kind: type[MailchimpAPIError] = MailchimpAPIError
    if status == 401 or (status == 403 and problem is not None):  # noqa: PLR2004
        category, kind = ErrorCategory.BAD_KEY, AuthenticationError
    elif status in {403, 429}:
        category, kind = ErrorCategory.RATE_LIMITED, RateLimitedError
    elif status >= 500:  # noqa: PLR2004
        category, kind = ErrorCategory.SERVER_ERROR, MailchimpServerError
    elif status == 404 and audience_level:  # noqa: PLR2004
        category, kind = ErrorCategory.UNKNOWN_AUDIENCE, AudienceNotFoundError
    elif status == 404:  # noqa: PLR2004
        category = ErrorCategory.NOT_FOUND
    else:
        category = classify_refusal(title, detail, fields)
    return kind(
        status=status,
        title=title,
        detail=detail,
        field_errors=fields,
        category=category,
        request_id=request_id,
        type=problem.type if problem is not None else "",
        instance=problem.instance if problem is not None else "",
    )


def _fatal(error: MailchimpAPIError) -> bool:
    """Errors that make every request fail: they raise, even from bulk calls (R6.4)."""
    return error.category in {ErrorCategory.BAD_KEY, ErrorCategory.UNKNOWN_AUDIENCE}


def _member(wire: WireMember, tags: Iterable[str] | None = None) -> AudienceMember:
    def text(name: str) -> str:
        value = wire.merge_fields.get(name, "")
        return value if isinstance(value, str) else "" if value is None else str(value)

    return AudienceMember(
        email_address=wire.email_address,
        status=wire.status,
        first_name=text("FNAME"),
        last_name=text("LNAME"),
        tags=frozenset(t.name for t in wire.tags) if tags is None else frozenset(tags),
    )


@attrs.frozen
class _Answer:
    response: Response
    #: An earlier attempt may have been carried out although its answer was lost (a 5xx or
    #: no answer was retried): the final answer may describe the state after our own change.
    ambiguous: bool


# --- the client --------------------------------------------------------------------------------


class MailchimpClient:
    """Talks to one Mailchimp account through a :class:`Transport`, retrying what is safe.

    Thread-safe: any number of threads may call it; at most ``concurrency`` requests are in
    flight at once. Methods that take many items run them over a thread pool of that size.
    Use it as a context manager, or call :meth:`close`.

    Args:
        credentials: An :class:`ApiKey` or an :class:`OAuthToken`.
        base_url: The API address instead of the credentials' (the fake server, a proxy),
            e.g. ``http://127.0.0.1:8080/3.0``; ``/3.0`` is added when missing. ``http://``
            only for a loopback host.
        concurrency: Requests in flight at most, 1 to 10.
        retry: The retry policy; :class:`RetryPolicy()` by default.
        transport: How requests are sent; by default a :class:`RequestsTransport` with a pool
            of ``concurrency`` connections and the two timeouts. The client closes it.
        connect_timeout: Seconds to wait for a connection (default transport only).
        read_timeout: Seconds to wait for an answer (default transport only).

    Raises:
        ConfigurationError: Credentials of the wrong type, a bad base URL, a concurrency out
            of range, or a bad timeout; nothing was sent.
    """

    def __init__(
        self,
        credentials: ApiKey | OAuthToken,
        *,
        base_url: str | None = None,
        concurrency: int = MAX_CONCURRENCY,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
    ) -> None:
        if not isinstance(credentials, ApiKey | OAuthToken):
            raise ConfigurationError(
                f"credentials must be an ApiKey or an OAuthToken, not {type(credentials).__name__}"
            )
        given: object = concurrency  # checked at run time: callers may pass anything
        if (
            isinstance(given, bool)
            or not isinstance(given, int)
            or not 1 <= given <= MAX_CONCURRENCY
        ):
            raise ConfigurationError(
                f"concurrency must be an integer from 1 to {MAX_CONCURRENCY} "
                f"(Mailchimp allows {MAX_CONCURRENCY} connections at once), got {concurrency!r}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self._credentials = credentials
        self._authorization = credentials.authorization()
        self._base_url = (
            credentials.default_base_url if base_url is None else check_base_url(base_url)
        )
        self._concurrency = concurrency
        self._retry = RetryPolicy() if retry is None else retry
        self._transport: Transport = (
            RequestsTransport(
                pool_size=concurrency, connect_timeout=connect_timeout, read_timeout=read_timeout
            )
            if transport is None
            else transport
        )
        self._slots = threading.BoundedSemaphore(concurrency)

    def __repr__(self) -> str:
        """Show the address, credentials (redacted) and concurrency."""
        return (
            f"MailchimpClient(base_url={self._base_url!r}, credentials={self._credentials!r}, "
            f"concurrency={self._concurrency})"
        )

    @property
    def concurrency(self) -> int:
        """Requests in flight at most."""
        return self._concurrency

    @property
    def base_url(self) -> str:
        """The API address requests go to, ending in ``/3.0``."""
        return self._base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy."""
        return self._retry

    def close(self) -> None:
        """Close the transport and its connections."""
        self._transport.close()

    def __enter__(self) -> Self:
        """Use the client in a ``with`` block; it is closed at the end."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close the client."""
        self.close()

    # --- sending ---------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, query: Mapping[str, Any] | None, body: Any
    ) -> Request:
        url = self._base_url + path
        if query:
            url += "?" + urlencode(query)
        headers: list[tuple[str, str]] = [
            ("Authorization", self._authorization),
            ("Accept", "application/json"),
        ]
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers.append(("Content-Type", "application/json"))
        return Request(method=method, url=url, headers=tuple(headers), body=data)

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> _Answer:
        """Send with retries: 429, 5xx, a 403 without a body and no answer are repeated.

        Every request kind the client sends is safe to repeat (see the comment at each call);
        this method is only ever called for those.

        Raises:
            NetworkError: No answer, after the retries the policy allows.
            ConfigurationError: The request cannot be sent at all.
        """
        request = self._request(method, path, query, body)
        policy = self._retry
        started = policy.clock()
        attempt = 0
        ambiguous = False
        while True:
            attempt += 1
            failure: NetworkError | None = None
            response: Response | None = None
            began = time.perf_counter()
            try:
                with self._slots:
                    response = self._transport.send(request)
            except NetworkError as exc:
                failure = exc
            if response is not None:
                _log.debug(
                    "mailchimp %s %s -> %d in %.3f s",
                    method,
                    path,
                    response.status,
                    time.perf_counter() - began,
                )
                if not _should_retry(response):
                    return _Answer(response, ambiguous)
                wait = policy.wait(attempt, response.header("Retry-After"))
                reason = f"{response.status} {_reason(response.status)}"
                repeatable = True
            else:
                assert failure is not None  # noqa: S101 - one of the two is set
                wait = policy.wait(attempt)
                reason = f"no answer ({type(failure).__name__})"
                repeatable = failure.retryable
            if not (
                repeatable and policy.allows(attempt, elapsed=policy.clock() - started, wait=wait)
            ):
                if attempt > 1:
                    _log.warning(
                        "mailchimp %s %s: %s; giving up after %d attempts",
                        method,
                        path,
                        reason,
                        attempt,
                    )
                if failure is not None:
                    raise failure
                assert response is not None  # noqa: S101 - one of the two is set
                return _Answer(response, ambiguous)
            if response is None or response.status >= 500:  # noqa: PLR2004
                ambiguous = True  # the request may have been carried out
            _log.warning(
                "mailchimp %s %s: %s; retry %d of %d in %.2f s",
                method,
                path,
                reason,
                attempt,
                policy.attempts - 1,
                wait,
            )
            policy.sleep(wait)

    def _get(
        self,
        path: str,
        query: Mapping[str, Any] | None,
        cls: type[T],
        *,
        audience_level: bool,
        what: str,
    ) -> T:
        """GET a document; any failure raises. GET is safe to repeat: it changes nothing."""
        answer = self._send("GET", path, query=query)
        response = answer.response
        if response.status >= 300:  # noqa: PLR2004
            raise error_from_response(response, audience_level=audience_level)
        request_id = response.header("X-Request-Id") or ""
        document = parse_json(response.body, what=what, request_id=request_id)
        return structure(document, cls, what=what, request_id=request_id)

    def _map(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """Run ``function`` over ``items`` on up to ``concurrency`` threads, keeping order."""
        if len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(
            max_workers=min(self._concurrency, len(items)), thread_name_prefix="mailchimp"
        ) as pool:
            futures: list[Future[R]] = [pool.submit(function, item) for item in items]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    # --- checks ----------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that Mailchimp answers and the credentials are accepted (``GET /ping``).

        Raises:
            AuthenticationError: The key or token is refused.
            MailchimpError: Any other failure (no answer, a server error after retries).
        """
        answer = self._send("GET", "/ping")
        if answer.response.status >= 300:  # noqa: PLR2004
            raise error_from_response(answer.response, audience_level=False)

    def check_audience(self, list_id: str) -> None:
        """Check the key and the audience with one request (``GET /lists/{list_id}``).

        Args:
            list_id: The audience id.

        Raises:
            ConfigurationError: The list id is empty or malformed; nothing was sent.
            AuthenticationError: The key or token is refused.
            AudienceNotFoundError: The account has no such audience.
            MailchimpError: Any other failure.
        """
        lid = _check_list_id(list_id)
        answer = self._send("GET", f"/lists/{lid}", query={"fields": "id"})
        if answer.response.status >= 300:  # noqa: PLR2004
            raise error_from_response(answer.response, audience_level=True)

    # --- reading ---------------------------------------------------------------------------

    def read_members(self, list_id: str) -> list[AudienceMember]:
        """Read every member of the audience, every status including ``archived``.

        Pages of 1000 (``count``/``offset``), fetched up to ``concurrency`` at once, with
        ``fields`` limited to address, status, ``FNAME``, ``LNAME``, tags and ``tags_count``.
        Archived members are read with ``status=archived`` (the unfiltered list need not hold
        them); a member met twice is kept once. Members with more than 50 tags get their tags
        from ``GET …/members/{hash}/tags``. Members changing while the read runs may be seen
        before or after the change.

        Args:
            list_id: The audience id.

        Returns:
            The members, unfiltered ones first, in Mailchimp's order.

        Raises:
            ConfigurationError: The list id is empty or malformed; nothing was sent.
            AuthenticationError: The key is refused.
            AudienceNotFoundError: No such audience.
            MailchimpError: Any other failure, after retries: the read is abandoned.
        """
        lid = _check_list_id(list_id)
        fields = ",".join([*(f"members.{f}" for f in MEMBER_FIELDS), "total_items"])

        def page(spec: tuple[str | None, int]) -> WireMemberPage:
            status, offset = spec
            query: dict[str, Any] = {"fields": fields, "count": PAGE_SIZE, "offset": offset}
            if status is not None:
                query["status"] = status
            return self._get(
                f"/lists/{lid}/members",
                query,
                WireMemberPage,
                audience_level=True,
                what="list members",
            )

        firsts = self._map(page, [(None, 0), ("archived", 0)])
        rest = [
            (status, offset)
            for status, first in zip((None, "archived"), firsts, strict=True)
            for offset in range(PAGE_SIZE, first.total_items, PAGE_SIZE)
        ]
        pages = firsts + self._map(page, rest)
        seen: dict[str, WireMember] = {}
        for one in pages:
            for wire in one.members:
                seen.setdefault(wire.email_address.lower(), wire)
        # More than 50 tags: the member response holds only 50 (MAILCHIMP.md §2.5). Any answer
        # with fewer tags than its own tags_count is completed the same way.
        crowded = [w for w in seen.values() if w.tags_count > len(w.tags)]
        full_tags = dict(
            zip(
                (w.email_address.lower() for w in crowded),
                self._map(lambda w: self._all_tags(lid, w.email_address), crowded),
                strict=True,
            )
        )
        members = [_member(wire, full_tags.get(key)) for key, wire in seen.items()]
        _log.info(
            "read %d members of list %s in %d pages (%d with more than %d tags)",
            len(members),
            lid,
            len(pages),
            len(crowded),
            TAGS_IN_MEMBER,
        )
        return members

    def _all_tags(self, list_id: str, email_address: str) -> frozenset[str]:
        path = f"/lists/{list_id}/members/{subscriber_hash(email_address)}/tags"
        names: set[str] = set()
        offset = 0
        while True:
            page = self._get(
                path,
                {"fields": "tags.name,total_items", "count": PAGE_SIZE, "offset": offset},
                WireTagPage,
                audience_level=False,
                what="member tags",
            )
            names.update(t.name for t in page.tags)
            offset += PAGE_SIZE
            if not page.tags or offset >= page.total_items:
                return frozenset(names)

    def member_tags(self, list_id: str, email_address: str) -> frozenset[str]:
        """Every tag of one member (``GET …/members/{hash}/tags``, pages of 1000).

        Args:
            list_id: The audience id.
            email_address: The member's address.

        Returns:
            The tag names.

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: The address is not an address.
            MailchimpAPIError: E.g. 404 (category ``not_found``) for an unknown member.
            MailchimpError: Any other failure.
        """
        lid = _check_list_id(list_id)
        return self._all_tags(lid, _check_address(email_address))

    def get_member(self, list_id: str, email_address: str) -> AudienceMember | None:
        """Read one member, all tags included, or ``None`` when the address is not a member.

        Args:
            list_id: The audience id.
            email_address: The address.

        Returns:
            The member, whatever its status, or ``None`` on a 404.

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: The address is not an address.
            MailchimpError: Any failure other than a 404.
        """
        lid = _check_list_id(list_id)
        address = _check_address(email_address)
        answer = self._send(
            "GET",
            f"/lists/{lid}/members/{subscriber_hash(address)}",
            query={"fields": ",".join(MEMBER_FIELDS)},
        )
        response = answer.response
        if response.status == 404:  # noqa: PLR2004
            return None
        if response.status >= 300:  # noqa: PLR2004
            raise error_from_response(response, audience_level=False)
        request_id = response.header("X-Request-Id") or ""
        wire = structure(
            parse_json(response.body, what="member", request_id=request_id),
            WireMember,
            what="member",
            request_id=request_id,
        )
        tags = self._all_tags(lid, address) if wire.tags_count > len(wire.tags) else None
        return _member(wire, tags)

    # --- creates and updates ---------------------------------------------------------------

    def batch_upsert(self, list_id: str, items: Sequence[UpsertItem]) -> list[MemberResult]:
        """Create or update members through batch subscribe, 500 a call, calls in parallel.

        Each call sends ``update_existing: true`` and ``sync_tags: false``; each member
        ``status_if_new: subscribed``, its merge fields and tags to add, and ``status`` only
        when the item asks (MAILCHIMP.md §5.1).

        Args:
            list_id: The audience id.
            items: The members; no address twice (ignoring case).

        Returns:
            One result per item, in order, ``created`` or ``updated`` with the status
            Mailchimp reports (``archived`` for an archived member updated without
            ``send_status``, ``unsubscribed`` for one who unsubscribed), or ``failed`` with
            the per-address error, or with the error of the whole call (429 or 5xx after
            retries, no answer) for every member of that call.

        Raises:
            ConfigurationError: The list id is empty or malformed; nothing was sent.
            InvalidInputError: An item is not an :class:`UpsertItem`, or an address appears
                twice; nothing was sent.
            AuthenticationError: The key is refused (calls already answered are done).
            AudienceNotFoundError: No such audience.
        """
        lid = _check_list_id(list_id)
        chosen = list(items)
        keys: set[str] = set()
        for item in chosen:
            if not isinstance(item, UpsertItem):
                raise InvalidInputError(
                    f"items must be UpsertItem values, not {type(item).__name__}"
                )
            key = item.email_address.lower()
            if key in keys:
                raise InvalidInputError("an address appears twice among the items (ignoring case)")
            keys.add(key)
        chunks = [chosen[i : i + BATCH_LIMIT] for i in range(0, len(chosen), BATCH_LIMIT)]
        results = self._map(lambda chunk: self._subscribe(lid, chunk), chunks)
        return [result for chunk in results for result in chunk]

    def _subscribe(self, list_id: str, chunk: Sequence[UpsertItem]) -> list[MemberResult]:
        body = {
            "members": [item.to_wire() for item in chunk],
            "update_existing": True,
            "sync_tags": False,
        }
        # Safe to repeat: batch subscribe with update_existing is idempotent by design. A repeat
        # of an attempt that was carried out finds the members present and updates them to the
        # same values: only "created" may come back as "updated". Tags are only ever added
        # (sync_tags false), and status is sent only to re-add an archived member, which a
        # repeat re-adds again.
        try:
            answer = self._send("POST", f"/lists/{list_id}", body=body)
        except NetworkError as exc:
            detail = FailureDetail.from_error(exc)
            _log.warning("batch subscribe to list %s: %d members, no answer", list_id, len(chunk))
            return [_failed(item.email_address, detail) for item in chunk]
        response = answer.response
        request_id = response.header("X-Request-Id") or ""
        if response.status >= 300:  # noqa: PLR2004
            error = error_from_response(response, audience_level=True)
            if _fatal(error):
                raise error
            _log.warning(
                "batch subscribe to list %s: %d members, refused: %s %s",
                list_id,
                len(chunk),
                error.status,
                error.category,
            )
            detail = FailureDetail.from_error(error)
            return [_failed(item.email_address, detail) for item in chunk]
        try:
            result = structure(
                parse_json(response.body, what="batch subscribe", request_id=request_id),
                WireBatchResult,
                what="batch subscribe",
                request_id=request_id,
            )
        except UnexpectedResponseError as exc:
            detail = FailureDetail.from_error(exc)
            return [_failed(item.email_address, detail) for item in chunk]
        answers: dict[str, MemberResult] = {}
        for outcome, wires in (
            (MemberOutcome.CREATED, result.new_members),
            (MemberOutcome.UPDATED, result.updated_members),
        ):
            for wire in wires:
                answers[wire.email_address.lower()] = MemberResult(
                    email_address=wire.email_address, outcome=outcome, status=wire.status
                )
        for refused in result.errors:
            fields = (FieldError(refused.field, refused.field_message),) if refused.field else ()
            title = refused.error_code or "ERROR_GENERIC"
            category = classify_refusal(title, refused.error, fields)
            answers[refused.email_address.lower()] = _failed(
                refused.email_address,
                FailureDetail(
                    category=category,
                    title=title,
                    detail=refused.error,
                    field_errors=fields,
                    request_id=request_id,
                    retryable=category.retryable,
                ),
            )
        missing = FailureDetail(
            category=ErrorCategory.GENERIC,
            title="No answer for this address",
            detail="Mailchimp's batch-subscribe answer does not mention this address",
            request_id=request_id,
        )
        results = [
            _with_address(answers.get(item.email_address.lower()), item.email_address, missing)
            for item in chunk
        ]
        _log.info(
            "batch subscribe to list %s: %d members, %d created, %d updated, %d failed",
            list_id,
            len(chunk),
            sum(r.outcome is MemberOutcome.CREATED for r in results),
            sum(r.outcome is MemberOutcome.UPDATED for r in results),
            sum(not r.ok for r in results),
        )
        return results

    # --- tags ------------------------------------------------------------------------------

    def set_tags(
        self,
        list_id: str,
        email_address: str,
        *,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
    ) -> MemberResult:
        """Set tags active (``add``) and inactive (``remove``) on one member.

        ``POST …/members/{hash}/tags`` with ``is_syncing: true``, so automations do not fire
        because the coupling re-sent a tag. Tags not named are left alone. With nothing to add
        or remove nothing is sent and the result is ``tags_set``.

        Args:
            list_id: The audience id.
            email_address: The member's address.
            add: Tag names to set active.
            remove: Tag names to set inactive.

        Returns:
            ``tags_set``, or ``failed`` (e.g. category ``not_found`` for an unknown member).

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: A bad address, an empty tag name, a tag in both sets.
            AuthenticationError: The key is refused.
        """
        lid = _check_list_id(list_id)
        return self._set_tags(lid, TagChange(email_address=email_address, add=add, remove=remove))

    def set_tags_many(self, list_id: str, changes: Sequence[TagChange]) -> list[MemberResult]:
        """:meth:`set_tags` for many members, up to ``concurrency`` at once.

        Args:
            list_id: The audience id.
            changes: One :class:`TagChange` per member.

        Returns:
            One result per change, in order.

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: A change is not a :class:`TagChange`; nothing was sent.
            AuthenticationError: The key is refused.
        """
        lid = _check_list_id(list_id)
        chosen = _all_of(changes, TagChange, "changes")
        return self._map(lambda change: self._set_tags(lid, change), chosen)

    def _set_tags(self, list_id: str, change: TagChange) -> MemberResult:
        if not (change.add or change.remove):
            return MemberResult(email_address=change.email_address, outcome=MemberOutcome.TAGS_SET)
        body = {
            "tags": [{"name": name, "status": "active"} for name in sorted(change.add)]
            + [{"name": name, "status": "inactive"} for name in sorted(change.remove)],
            "is_syncing": True,
        }
        # Safe to repeat: the call sets each named tag to an absolute state (active or
        # inactive); doing it twice leaves the same tags as doing it once.
        hashed = subscriber_hash(change.email_address)
        return self._member_call(
            "POST",
            f"/lists/{list_id}/members/{hashed}/tags",
            body,
            change.email_address,
            done=MemberOutcome.TAGS_SET,
            what="tags",
        )

    # --- archive and permanent delete ------------------------------------------------------

    def archive(self, list_id: str, email_address: str) -> MemberResult:
        """Archive one member (``DELETE …/members/{hash}``): R4.2's removal, undoable.

        Args:
            list_id: The audience id.
            email_address: The member's address.

        Returns:
            ``archived`` (status ``archived``); ``absent`` when Mailchimp has no such live
            member (404: never there, already archived, or permanently deleted), which counts
            as done; or ``failed``.

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: The address is not an address.
            AuthenticationError: The key is refused.
        """
        lid = _check_list_id(list_id)
        return self._archive(lid, _check_address(email_address))

    def archive_many(self, list_id: str, email_addresses: Sequence[str]) -> list[MemberResult]:
        """:meth:`archive` for many members, up to ``concurrency`` at once.

        Args:
            list_id: The audience id.
            email_addresses: The addresses.

        Returns:
            One result per address, in order.

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: An address is not an address; nothing was sent.
            AuthenticationError: The key is refused.
        """
        lid = _check_list_id(list_id)
        addresses = [_check_address(a) for a in email_addresses]
        return self._map(lambda address: self._archive(lid, address), addresses)

    def _archive(self, list_id: str, email_address: str) -> MemberResult:
        # Safe to repeat: archiving an archived member changes nothing. A repeat whose first
        # attempt was carried out gets a 404 (no live member any more): that is reported as
        # "absent", which counts as archived, as does a member that was never there.
        return self._member_call(
            "DELETE",
            f"/lists/{list_id}/members/{subscriber_hash(email_address)}",
            None,
            email_address,
            done=MemberOutcome.ARCHIVED,
            what="archive",
            status="archived",
            absent_ok=True,
        )

    def delete_permanently(self, list_id: str, email_address: str) -> MemberResult:
        """Permanently delete one member (GDPR erasure, R4.2): it can never be re-imported.

        ``POST …/members/{hash}/actions/delete-permanent``. Only for the explicit erase
        operation, never as part of a sync.

        Args:
            list_id: The audience id.
            email_address: The member's address.

        Returns:
            ``deleted``; ``absent`` when there is no such member (404), which counts as done;
            or ``failed``.

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: The address is not an address.
            AuthenticationError: The key is refused.
        """
        lid = _check_list_id(list_id)
        address = _check_address(email_address)
        # Safe to repeat: a repeat whose first attempt was carried out finds no member (404),
        # reported as "absent", which is the state asked for.
        return self._member_call(
            "POST",
            f"/lists/{lid}/members/{subscriber_hash(address)}/actions/delete-permanent",
            None,
            address,
            done=MemberOutcome.DELETED,
            what="permanent delete",
            absent_ok=True,
        )

    def _member_call(
        self,
        method: str,
        path: str,
        body: Any,
        email_address: str,
        *,
        done: MemberOutcome,
        what: str,
        status: str = "",
        absent_ok: bool = False,
    ) -> MemberResult:
        """One request about one member that answers 204 when done."""
        try:
            answer = self._send(method, path, body=body)
        except NetworkError as exc:
            _log.info("%s of member %s: no answer", what, path.split("/")[4])
            return _failed(email_address, FailureDetail.from_error(exc))
        response = answer.response
        if response.status < 300:  # noqa: PLR2004
            return MemberResult(email_address=email_address, outcome=done, status=status)
        error = error_from_response(response, audience_level=False)
        if error.status == 404 and absent_ok:  # noqa: PLR2004
            return MemberResult(email_address=email_address, outcome=MemberOutcome.ABSENT)
        if _fatal(error):
            raise error
        _log.info(
            "%s of member %s failed: %s %s", what, path.split("/")[4], error.status, error.category
        )
        return _failed(email_address, FailureDetail.from_error(error))

    # --- address changes -------------------------------------------------------------------

    def change_address(
        self,
        list_id: str,
        old_email_address: str,
        new_email_address: str,
        merge_fields: Mapping[str, str] | None = None,
    ) -> MemberResult:
        """Change a member's address, keeping its history (R5.4): ``PATCH`` of the old hash.

        Mailchimp changes addresses of ``subscribed`` members only, and not to an address
        already in the audience (MAILCHIMP.md §2.3). Those refusals, and an old address that
        is not in the audience, come back with :attr:`MemberResult.fallback` set: R5.4 then
        updates the new address and archives the old one.

        Args:
            list_id: The audience id.
            old_email_address: The member's address now.
            new_email_address: The address it should have.
            merge_fields: Merge fields to set in the same request.

        Returns:
            ``address_changed`` with the member's status, or ``failed`` (with ``fallback``
            for the refusals above).

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: A bad address or merge field.
            AuthenticationError: The key is refused.
        """
        lid = _check_list_id(list_id)
        change = AddressChange(
            old_email_address=old_email_address,
            email_address=new_email_address,
            merge_fields=merge_fields,
        )
        return self._change_address(lid, change)

    def change_addresses(
        self, list_id: str, changes: Sequence[AddressChange]
    ) -> list[MemberResult]:
        """:meth:`change_address` for many members, up to ``concurrency`` at once.

        Args:
            list_id: The audience id.
            changes: One :class:`AddressChange` per member.

        Returns:
            One result per change, in order.

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: A change is not an :class:`AddressChange`; nothing was sent.
            AuthenticationError: The key is refused.
        """
        lid = _check_list_id(list_id)
        chosen = _all_of(changes, AddressChange, "changes")
        return self._map(lambda change: self._change_address(lid, change), chosen)

    def _change_address(self, list_id: str, change: AddressChange) -> MemberResult:
        new = change.email_address
        body: dict[str, Any] = {"email_address": new}
        if change.merge_fields:
            body["merge_fields"] = dict(change.merge_fields)
        old_hash = subscriber_hash(change.old_email_address)
        # Repeated only after a 429 (not carried out) or a 5xx / no answer (perhaps carried
        # out). In the second case the old address may be gone because our own first attempt
        # moved it: a 404 is then checked by reading the new address. Found: the change was
        # made. Not found: the honest answer is "old address absent", with the R5.4 fallback.
        try:
            answer = self._send("PATCH", f"/lists/{list_id}/members/{old_hash}", body=body)
        except NetworkError as exc:
            _log.info("address change of member %s: no answer", old_hash)
            return _failed(new, FailureDetail.from_error(exc))
        response = answer.response
        request_id = response.header("X-Request-Id") or ""
        if response.status < 300:  # noqa: PLR2004
            try:
                wire = structure(
                    parse_json(response.body, what="address change", request_id=request_id),
                    WireMember,
                    what="address change",
                    request_id=request_id,
                )
            except UnexpectedResponseError:
                return MemberResult(email_address=new, outcome=MemberOutcome.ADDRESS_CHANGED)
            return MemberResult(
                email_address=new, outcome=MemberOutcome.ADDRESS_CHANGED, status=wire.status
            )
        error = error_from_response(response, audience_level=False)
        if _fatal(error):
            raise error
        if error.category is ErrorCategory.NOT_FOUND and answer.ambiguous:
            try:
                moved = self.get_member(list_id, new)
            except MailchimpError:
                moved = None
            if moved is not None and moved.status != "archived":
                _log.info("address change of member %s: confirmed by reading", old_hash)
                return MemberResult(
                    email_address=new, outcome=MemberOutcome.ADDRESS_CHANGED, status=moved.status
                )
        fallback = error.category in {ErrorCategory.MEMBER_EXISTS, ErrorCategory.NOT_FOUND} or (
            "only update email addresses" in error.detail.lower()
        )
        _log.info(
            "address change of member %s refused: %s %s%s",
            old_hash,
            error.status,
            error.category,
            " (fallback)" if fallback else "",
        )
        return _failed(new, FailureDetail.from_error(error), fallback=fallback)


def _with_address(
    result: MemberResult | None, email_address: str, missing: FailureDetail
) -> MemberResult:
    if result is None:
        return _failed(email_address, missing)
    if result.email_address == email_address:
        return result
    return attrs.evolve(result, email_address=email_address)


def _all_of(items: Sequence[Any], kind: type[T], what: str) -> list[T]:
    chosen = list(items)
    for item in chosen:
        if not isinstance(item, kind):
            raise InvalidInputError(
                f"{what} must be {kind.__name__} values, not {type(item).__name__}"
            )
    return chosen
