"""The fake's wire: replies, problem documents, injected faults, the request log.

Every refusal becomes a problem document here (``application/problem+json`` with ``type``,
``title``, ``status``, ``detail``, ``instance`` and ``errors`` for field problems, the
``X-Request-Id`` header and the ``Link`` to its schema; MAILCHIMP.md §6.1).
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

import attrs

from ._problems import Problem
from ._routes import NO_BODY

__all__ = [
    "OVERRIDABLE",
    "TRIGGERED_ERRORS",
    "Fault",
    "FaultKind",
    "Incoming",
    "LoggedRequest",
    "Reply",
    "fault_reply",
    "json_reply",
    "problem_reply",
    "triggered",
]

_ERROR_TYPE: Final = "https://mailchimp.com/developer/marketing/docs/errors/"
_LINK: Final = (
    "<https://us6.api.mailchimp.com/schema/3.0/Definitions/ProblemDetailDocument.json>; "
    'rel="describedBy"'
)
_JSON: Final = "application/json; charset=utf-8"
#: ``X-Trigger-Error`` names and the problem each forces (MAILCHIMP.md §6.1, §6.2).
TRIGGERED_ERRORS: Final = {
    "BadRequest": (400, "Bad Request", "The fake answered as X-Trigger-Error asked."),
    "InvalidAction": (400, "Invalid Action", "The action is not valid for this resource."),
    "InvalidResource": (400, "Invalid Resource", "The resource submitted could not be validated."),
    "JSONParseError": (400, "JSON Parse Exception", "We encountered an unspecified JSON error."),
    "APIKeyMissing": (401, "API Key Missing", "Your request did not include an API key."),
    "APIKeyInvalid": (
        401,
        "API Key Invalid",
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
    ),
    "Forbidden": (403, "Forbidden", "You are not permitted to access this resource."),
    "UserDisabled": (403, "User Disabled", "This account has been disabled."),
    "WrongDatacenter": (403, "Wrong Datacenter", "The API key belongs to another data centre."),
    "ResourceNotFound": (404, "Resource Not Found", "The requested resource could not be found."),
    "MethodNotAllowed": (405, "Method Not Allowed", "The requested method is not allowed."),
    "ResourceNestingTooDeep": (414, "Resource Nesting Too Deep", "Too many path segments."),
    "InvalidMethodOverride": (
        422,
        "Invalid Method Override",
        "X-HTTP-Method-Override is allowed only on POST requests.",
    ),
    "UpgradeRequired": (426, "Upgrade Required", "Use HTTPS with TLS 1.2 or newer."),
    "TooManyRequests": (
        429,
        "Too Many Requests",
        "You have exceeded the limit of 10 simultaneous connections.",
    ),
    "InternalServerError": (
        500,
        "Internal Server Error",
        (
            "A deep, internal error has occurred during the processing of your request. "
            "Please contact support."
        ),
    ),
}
OVERRIDABLE: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class FaultKind(enum.StrEnum):
    """What an injected fault does."""

    #: 429 "Too Many Requests", with or without ``Retry-After``, with or without a body.
    RATE_LIMITED = "rate_limited"
    #: A 500-class answer (500 with a problem document, 503 with an HTML page).
    SERVER_ERROR = "server_error"
    #: The connection is closed without an answer.
    DROPPED_CONNECTION = "dropped_connection"
    #: The answer comes late (then normally).
    SLOW = "slow"


@attrs.frozen(kw_only=True)
class Fault:
    """One injected fault; build with the class methods. ``method``/``path_contains`` match.

    With ``after_processing`` the request is carried out first and the answer then lost
    (a 5xx or a dropped connection): the case where a repeat meets its own earlier effect.
    """

    kind: FaultKind
    status: int = 0
    retry_after: str | None = None
    with_body: bool = True
    seconds: float = 0.0
    after_processing: bool = False
    #: Only requests with this method (any when ``None``).
    method: str | None = None
    #: Only requests whose path holds this text (any when ``None``).
    path_contains: str | None = None

    @classmethod
    def rate_limited(
        cls,
        *,
        retry_after: str | None = None,
        with_body: bool = True,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> Fault:
        """429, optionally with ``Retry-After`` (seconds or an HTTP date) and without a body."""
        return cls(
            kind=FaultKind.RATE_LIMITED,
            status=429,
            retry_after=retry_after,
            with_body=with_body,
            method=method,
            path_contains=path_contains,
        )

    @classmethod
    def server_error(
        cls,
        status: int = 500,
        *,
        after_processing: bool = False,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> Fault:
        """A 500-class answer: 500 with a problem document, others with an HTML page."""
        return cls(
            kind=FaultKind.SERVER_ERROR,
            status=status,
            after_processing=after_processing,
            method=method,
            path_contains=path_contains,
        )

    @classmethod
    def dropped_connection(
        cls,
        *,
        after_processing: bool = False,
        method: str | None = None,
        path_contains: str | None = None,
    ) -> Fault:
        """The connection is closed without an answer."""
        return cls(
            kind=FaultKind.DROPPED_CONNECTION,
            after_processing=after_processing,
            method=method,
            path_contains=path_contains,
        )

    @classmethod
    def slow(
        cls, seconds: float, *, method: str | None = None, path_contains: str | None = None
    ) -> Fault:
        """The answer comes ``seconds`` late (cut short when the fake stops)."""
        return cls(kind=FaultKind.SLOW, seconds=seconds, method=method, path_contains=path_contains)

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return (self.method is None or self.method == method) and (
            self.path_contains is None or self.path_contains in path
        )


@attrs.frozen(kw_only=True)
class LoggedRequest:
    """One request as the fake received it, and the status it answered (0: no answer)."""

    method: str
    #: The path without the query, e.g. ``/3.0/lists/a1b2c3d4e5/members``.
    path: str
    #: Each query parameter's first value.
    query: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    #: The parsed JSON body; the raw text when it is not JSON; ``None`` without a body.
    body: Any = attrs.field(default=None, hash=False)
    #: ``time.time()`` when the request arrived.
    timestamp: float = 0.0
    status: int = 0
    request_id: str = ""
    #: The injected fault, if any (:class:`FaultKind` value, or ``connection_limit``).
    fault: str = ""


@attrs.define(kw_only=True)
class Incoming:
    """One request as the fake reads it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    request_id: str
    arrived: float = attrs.field(factory=time.time)
    body: Any = None
    parse_error: str = ""


@attrs.frozen
class Reply:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def problem_reply(problem: Problem, request_id: str) -> Reply:
    document: dict[str, Any] = {"type": _ERROR_TYPE} if problem.typed else {}
    document |= {
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": request_id,
    }
    if problem.errors:
        document["errors"] = [{"field": f, "message": m} for f, m in problem.errors]
    headers = [
        ("Content-Type", "application/problem+json; charset=utf-8"),
        ("Link", _LINK),
        ("X-Request-Id", request_id),
        *problem.headers.items(),
    ]
    return Reply(problem.status, tuple(headers), json.dumps(document).encode("utf-8"))


def json_reply(status: int, document: Any, request_id: str) -> Reply:
    headers = (("Content-Type", _JSON), ("X-Request-Id", request_id))
    if document is NO_BODY:  # 204: no body, the JSON content type as recorded (P15)
        return Reply(status, headers, b"")
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Reply(status, headers, body)


def fault_reply(fault: Fault, request_id: str) -> Reply:
    if fault.kind is FaultKind.RATE_LIMITED:
        extra = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
        if not fault.with_body:
            headers = [("X-Request-Id", request_id), *extra.items()]
            return Reply(429, tuple(headers), b"")
        problem = Problem(
            429,
            "Too Many Requests",
            "You have exceeded the limit of 10 simultaneous connections.",
            headers=extra,
        )
        return problem_reply(problem, request_id)
    if fault.status == 500:  # noqa: PLR2004
        problem = Problem(
            500,
            "Internal Server Error",
            "A deep, internal error has occurred during the processing of your request. "
            "Please contact support.",
        )
        return problem_reply(problem, request_id)
    phrase = HTTPStatus(fault.status).phrase
    page = f"<html><body><h1>{fault.status} {phrase}</h1></body></html>".encode("ascii")
    return Reply(fault.status, (("Content-Type", "text/html"),), page)


def triggered(name: str) -> Problem:
    """The problem ``X-Trigger-Error: name`` forces (MAILCHIMP.md §6.1)."""
    known = TRIGGERED_ERRORS.get(name)
    if known is None:
        return Problem(
            400,
            "Bad Request",
            f"X-Trigger-Error names no error the fake knows: {name!r}. Known: "
            + ", ".join(sorted(TRIGGERED_ERRORS)),
        )
    status, title, detail = known
    return Problem(status, title, detail)
