"""Reading Mailchimp's answers: pure functions from a response (or a parsed answer) to a result.

No I/O here: each function takes a :class:`~auditcase_mailchimp.Response` or a parsed wire
value and returns an exception value, a :class:`~auditcase_mailchimp.MemberResult` or a list of
them, so every answer Mailchimp can give is tested with values (``tests/test_client_answers.py``).

- :func:`should_retry`: which answers are repeated (429, 5xx, a 403 without a body);
- :func:`error_from_response` and :func:`classify_refusal`: an error answer as an exception of
  the right class and :class:`~auditcase_mailchimp.ErrorCategory` (MAILCHIMP.md §6);
- :func:`member_call_result`: the answer to a request about one member (tags, archive, delete),
  where an archive answered 204, 404 or 405 "cannot be removed" means the member is out (R4.5);
- :func:`address_change_result`: the answer to an address change, with R5.4's fallback;
- :func:`batch_results`: a batch-subscribe answer as one result per address sent, an address
  the answer does not mention being a failure worth repeating, not a refusal (R6.3).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Final

import attrs

from ._client_values import AudienceMember, FailureDetail, MemberOutcome, MemberResult
from ._errors import (
    AudienceNotFoundError,
    AuthenticationError,
    ErrorCategory,
    FieldError,
    MailchimpAPIError,
    MailchimpServerError,
    RateLimitedError,
    UnexpectedResponseError,
)
from ._transport import Response

if TYPE_CHECKING:
    from ._mailchimp_wire import WireBatchResult, WireMember, WireProblem

__all__ = [
    "CANNOT_BE_REMOVED",
    "address_change_fallback",
    "address_change_result",
    "batch_results",
    "classify_refusal",
    "error_from_response",
    "has_body",
    "is_fatal",
    "is_out",
    "member_call_result",
    "missing_from_batch",
    "reason",
    "should_retry",
    "status_in",
    "to_audience_member",
]

#: Mailchimp's detail when a DELETE meets a member that is archived, cleaned or pending
#: (MAILCHIMP.md §4; worded "...cannot be removed.  Please contact support." until April 2021).
CANNOT_BE_REMOVED: Final = "cannot be removed"
_METHOD_NOT_ALLOWED: Final = 405
_NOT_FOUND: Final = 404


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


def has_body(response: Response) -> bool:
    """Whether the answer has a body other than white space."""
    return bool(response.body.strip())


def should_retry(response: Response) -> bool:
    """429 and 5xx; a 403 without a body is Mailchimp shedding load (MAILCHIMP.md §6.1)."""
    status = response.status
    return status == 429 or status >= 500 or (status == 403 and not has_body(response))  # noqa: PLR2004


def reason(status: int) -> str:
    """The HTTP reason phrase of a status, e.g. ``Too Many Requests``."""
    from http import HTTPStatus  # noqa: PLC0415 - only for error answers; keeps start-up short

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
    from ._mailchimp_wire import WireProblem, structure  # noqa: PLC0415 - not at start-up

    problem: WireProblem | None = None
    if has_body(response):
        try:
            document = json.loads(response.body)
            if isinstance(document, dict):
                problem = structure(document, WireProblem, what="error", request_id=request_id)
        except (ValueError, UnicodeDecodeError, UnexpectedResponseError):
            problem = None  # an HTML page from a proxy or CDN: the status says enough
    status = response.status
    title = (problem.title if problem is not None else "") or reason(status)
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


def is_fatal(error: Exception) -> bool:
    """Errors that make every request fail: they raise, even from bulk calls (R6.4)."""
    return isinstance(error, MailchimpAPIError) and error.category in {
        ErrorCategory.BAD_KEY,
        ErrorCategory.UNKNOWN_AUDIENCE,
    }


def to_audience_member(wire: WireMember, tags: Iterable[str] | None = None) -> AudienceMember:
    """A member read from Mailchimp, with ``tags`` instead of the answer's when given."""

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


def is_out(error: MailchimpAPIError) -> bool:
    """Whether an error answer to an archive says the member is out of the audience (R4.5).

    A 404 (no such live member) and a 405 "cannot be removed" (the member is archived already,
    or cleaned or pending, which Mailchimp does not archive) both do.
    """
    if error.status == _NOT_FOUND:
        return True
    return error.status == _METHOD_NOT_ALLOWED and CANNOT_BE_REMOVED in error.detail.lower()


def member_call_result(
    response: Response,
    email_address: str,
    *,
    done: MemberOutcome,
    status: str = "",
    absent_ok: bool = False,
    removal: bool = False,
) -> MemberResult:
    """The result of a request about one member that answers 204 when done.

    Args:
        response: The answer.
        email_address: The member's address.
        done: The outcome of a success.
        status: The member's status after a success (``archived`` for an archive).
        absent_ok: A 404 counts as done (``absent``): the member is not there.
        removal: The request archives the member: a 405 "cannot be removed" counts as done
            (``absent``) too, as Mailchimp refuses to archive a member already archived,
            cleaned or pending (R4.5, MAILCHIMP.md §4).

    Returns:
        ``done``, ``absent`` or ``failed`` with the error's detail.

    Raises:
        AuthenticationError: The key is refused: every request would fail.
        AudienceNotFoundError: No such audience.
    """
    if response.status < 300:  # noqa: PLR2004
        return MemberResult(email_address=email_address, outcome=done, status=status)
    error = error_from_response(response, audience_level=False)
    if (absent_ok and error.status == _NOT_FOUND) or (removal and is_out(error)):
        return MemberResult(email_address=email_address, outcome=MemberOutcome.ABSENT)
    if is_fatal(error):
        raise error
    return MemberResult.failed(email_address, FailureDetail.from_error(error))


def missing_from_batch(request_id: str = "") -> FailureDetail:
    """Why an address the batch-subscribe answer does not mention failed: worth repeating.

    Mailchimp did not say what it did with the address, so nothing was refused: the failure is
    retryable (category ``server_error``), and R6.3 does not hold the person back next run.
    """
    return FailureDetail(
        category=ErrorCategory.SERVER_ERROR,
        title="No answer for this address",
        detail="Mailchimp's batch-subscribe answer does not mention this address",
        request_id=request_id,
        retryable=True,
    )


def batch_results(
    addresses: Sequence[str], result: WireBatchResult, request_id: str = ""
) -> list[MemberResult]:
    """One result per address sent in a batch subscribe, in the order sent.

    Args:
        addresses: The addresses of the call, as sent.
        result: The parsed answer.
        request_id: The answer's ``X-Request-Id``.

    Returns:
        ``created`` or ``updated`` with Mailchimp's status, ``failed`` with the per-address
        error (a refusal; the title is Mailchimp's error code), or ``failed`` and retryable
        for an address the answer leaves out.
    """
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
        answers[refused.email_address.lower()] = MemberResult.failed(
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
    missing = missing_from_batch(request_id)
    results: list[MemberResult] = []
    for address in addresses:
        answer = answers.get(address.lower())
        if answer is None:
            results.append(MemberResult.failed(address, missing))
        elif answer.email_address != address:
            results.append(attrs.evolve(answer, email_address=address))
        else:
            results.append(answer)
    return results


def address_change_fallback(error: MailchimpAPIError) -> bool:
    """Whether a refused address change calls for R5.4's fallback (update new, archive old).

    It does when the new address is already a member, the old one is not in the audience, or
    the member's status does not allow a change (Mailchimp changes ``subscribed`` members only).
    """
    return error.category in {ErrorCategory.MEMBER_EXISTS, ErrorCategory.NOT_FOUND} or (
        "only update email addresses" in error.detail.lower()
    )


def status_in(response: Response) -> str:
    """The member status an answer names, ``""`` when it names none (or is not JSON)."""
    try:
        document = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return ""
    status = document.get("status") if isinstance(document, dict) else None
    return status if isinstance(status, str) else ""


def address_change_result(response: Response, email_address: str) -> MemberResult:
    """The result of an address change (``PATCH`` of the old member), direct or in a batch.

    Args:
        response: The answer.
        email_address: The new address.

    Returns:
        ``address_changed`` with the status the answer names, or ``failed`` with
        :attr:`~MemberResult.fallback` set for the refusals R5.4 falls back on
        (:func:`address_change_fallback`).

    Raises:
        AuthenticationError: The key is refused.
        AudienceNotFoundError: No such audience.
    """
    if response.status < 300:  # noqa: PLR2004
        return MemberResult(
            email_address=email_address,
            outcome=MemberOutcome.ADDRESS_CHANGED,
            status=status_in(response),
        )
    error = error_from_response(response, audience_level=False)
    if is_fatal(error):
        raise error
    return MemberResult.failed(
        email_address, FailureDetail.from_error(error), fallback=address_change_fallback(error)
    )
