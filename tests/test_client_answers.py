"""Reading Mailchimp's answers, with values only: no server, no transport (issue 8.5).

Every answer below is a :class:`Response` value; where the recordings show one, its status,
title, detail and headers are copied from ``mailchimp-recordings`` (line numbers given).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from auditcase_mailchimp import (
    AudienceNotFoundError,
    AuthenticationError,
    ErrorCategory,
    FailureDetail,
    FieldError,
    MailchimpServerError,
    MemberOutcome,
    MemberResult,
    RateLimitedError,
    is_refusal,
)
from auditcase_mailchimp._answers import (
    address_change_fallback,
    address_change_result,
    batch_results,
    classify_refusal,
    error_from_response,
    is_out,
    member_call_result,
    reason,
    should_retry,
)
from auditcase_mailchimp._mailchimp_wire import (
    WireAddressChange,
    WireBatchResult,
    WireSubscribe,
    WireSubscribeMember,
    WireTags,
    WireTagStatus,
    body,
    structure,
)
from auditcase_mailchimp._transport import Response

PROBLEM_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
#: DELETE of a member that is archived, cleaned or pending (grouparoo-nock.jsonl P16).
CANNOT_ARCHIVE = (
    "This list member cannot be removed. Can not archive a contact that is bounced, pending or "
    "archived"
)
#: The same 405 before April 2021 (grouparoo-nock.jsonl P1), with its two spaces.
CANNOT_ARCHIVE_2021 = "This list member cannot be removed.  Please contact support."


def _problem(status: int, title: str, detail: str = "", **extra: Any) -> Response:
    document = {"type": PROBLEM_TYPE, "title": title, "status": status, "detail": detail}
    document.update(extra)
    return Response(
        status=status,
        headers=(
            ("Content-Type", "application/problem+json; charset=utf-8"),
            ("X-Request-Id", "req-1"),
            *((("Allow", "GET, PUT"),) if status == 405 else ()),
        ),
        body=json.dumps(document).encode(),
    )


# --- which answers are repeated ----------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "repeat"),
    [
        (Response(status=200), False),
        (Response(status=204), False),
        (_problem(400, "Invalid Resource"), False),
        (_problem(404, "Resource Not Found"), False),
        (_problem(405, "Method Not Allowed", CANNOT_ARCHIVE), False),
        (Response(status=429), True),
        (_problem(500, "Internal Server Error"), True),
        (Response(status=503, body=b"<html>busy</html>"), True),
        (Response(status=403, body=b" "), True),
        (_problem(403, "Forbidden"), False),
    ],
)
def test_which_answers_are_repeated(response: Response, *, repeat: bool) -> None:
    """MAILCHIMP.md §6.1, §7: 429, 5xx and a 403 without a body are repeated; nothing else."""
    assert should_retry(response) is repeat


# --- error answers as exceptions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "audience_level", "kind", "category"),
    [
        (_problem(401, "API Key Invalid"), False, AuthenticationError, ErrorCategory.BAD_KEY),
        (_problem(403, "Forbidden"), False, AuthenticationError, ErrorCategory.BAD_KEY),
        (Response(status=403), False, RateLimitedError, ErrorCategory.RATE_LIMITED),
        (Response(status=429), False, RateLimitedError, ErrorCategory.RATE_LIMITED),
        (Response(status=502), False, MailchimpServerError, ErrorCategory.SERVER_ERROR),
        (
            _problem(404, "Resource Not Found"),
            True,
            AudienceNotFoundError,
            ErrorCategory.UNKNOWN_AUDIENCE,
        ),
        (_problem(404, "Resource Not Found"), False, None, ErrorCategory.NOT_FOUND),
        (
            _problem(400, "Member In Compliance State"),
            False,
            None,
            ErrorCategory.COMPLIANCE_STATE,
        ),
        (
            _problem(400, "Forgotten Email Not Subscribed", "x@y.nl was permanently deleted"),
            False,
            None,
            ErrorCategory.PERMANENTLY_DELETED,
        ),
        (_problem(400, "Member Exists"), False, None, ErrorCategory.MEMBER_EXISTS),
        (_problem(405, "Method Not Allowed", CANNOT_ARCHIVE), False, None, ErrorCategory.GENERIC),
        (
            Response(status=400, body=b"<html>proxy</html>"),
            False,
            None,
            ErrorCategory.GENERIC,
        ),
    ],
)
def test_error_answers_become_the_right_exception(
    response: Response, *, audience_level: bool, kind: type | None, category: ErrorCategory
) -> None:
    """MAILCHIMP.md §6: status and problem document decide the class and the category."""
    error = error_from_response(response, audience_level=audience_level)
    if kind is not None:
        assert type(error) is kind
    assert error.category is category
    assert error.status == response.status


def test_an_error_keeps_the_problem_document() -> None:
    """R6.2: title, detail, per-field errors, type, instance and request id are all kept."""
    response = _problem(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated.",
        instance="abc",
        errors=[{"field": "merge_fields.FNAME", "message": "Bad"}],
    )
    error = error_from_response(response, audience_level=False)
    assert (error.title, error.instance, error.request_id) == ("Invalid Resource", "abc", "req-1")
    assert error.field_errors == (FieldError("merge_fields.FNAME", "Bad"),)
    assert error.category is ErrorCategory.INVALID_MERGE_FIELD


@pytest.mark.parametrize(
    ("title", "detail", "fields", "category"),
    [
        ("ERROR_CONTACT_EXISTS", "", (), ErrorCategory.MEMBER_EXISTS),
        (
            "ERROR_GENERIC",
            "x looks fake or invalid, please enter",
            (),
            ErrorCategory.INVALID_ADDRESS,
        ),
        ("ERROR_GENERIC", "x is in a compliance state", (), ErrorCategory.COMPLIANCE_STATE),
        (
            "ERROR_GENERIC",
            "",
            (FieldError("FNAME", "too long"),),
            ErrorCategory.INVALID_MERGE_FIELD,
        ),
        ("ERROR_GENERIC", "", (FieldError("email_address", "bad"),), ErrorCategory.GENERIC),
    ],
)
def test_refusals_are_classified(
    title: str, detail: str, fields: tuple[FieldError, ...], category: ErrorCategory
) -> None:
    """MAILCHIMP.md §6.2: a refusal's title, detail and fields give its category."""
    assert classify_refusal(title, detail, fields) is category


# --- one member's answer: archive (R4.5) -------------------------------------------------------


def _archive(response: Response) -> MemberResult:
    return member_call_result(
        response,
        "jan@example.nl",
        done=MemberOutcome.ARCHIVED,
        status="archived",
        absent_ok=True,
        removal=True,
    )


@pytest.mark.parametrize(
    ("response", "outcome"),
    [
        (Response(status=204), MemberOutcome.ARCHIVED),
        (_problem(404, "Resource Not Found"), MemberOutcome.ABSENT),
        (_problem(405, "Method Not Allowed", CANNOT_ARCHIVE), MemberOutcome.ABSENT),
        (_problem(405, "Method Not Allowed", CANNOT_ARCHIVE_2021), MemberOutcome.ABSENT),
    ],
)
def test_an_archive_answered_204_404_or_405_means_the_member_is_out(
    response: Response, outcome: MemberOutcome
) -> None:
    """R4.5: DELETE answered 204, 404 or 405 "cannot be removed" is done, never a failure."""
    result = _archive(response)
    assert result.ok
    assert result.outcome is outcome


def test_another_405_is_a_failure() -> None:
    """R4.5: only the "cannot be removed" 405 confirms the member is out."""
    result = _archive(_problem(405, "Method Not Allowed", "The method is not allowed."))
    assert not result.ok
    assert result.error is not None
    assert result.error.status == 405


def test_405_is_a_failure_where_it_is_no_removal() -> None:
    """R4.5: the 405 rule is for archives; a tag call answered 405 failed."""
    result = member_call_result(
        _problem(405, "Method Not Allowed", CANNOT_ARCHIVE),
        "jan@example.nl",
        done=MemberOutcome.TAGS_SET,
    )
    assert result.outcome is MemberOutcome.FAILED


@pytest.mark.parametrize(
    "response", [_problem(401, "API Key Invalid"), _problem(404, "Resource Not Found")]
)
def test_a_fatal_answer_raises(response: Response) -> None:
    """R6.4: a refused key raises even from one member's call; a 404 without absent_ok fails."""
    if response.status == 401:
        with pytest.raises(AuthenticationError):
            _archive(response)
    else:
        result = member_call_result(response, "a@b.nl", done=MemberOutcome.TAGS_SET)
        assert result.error is not None
        assert result.error.category is ErrorCategory.NOT_FOUND


# --- batch-subscribe answers ------------------------------------------------------------------


def _answer(document: dict[str, Any]) -> WireBatchResult:
    return structure(document, WireBatchResult, what="batch subscribe")


def test_batch_answers_map_to_one_result_per_address_in_order() -> None:
    """MAILCHIMP.md §5.1: created, updated and refused addresses, in the order sent, as spelled."""
    answer = _answer(
        {
            "new_members": [{"email_address": "a@example.nl", "status": "subscribed"}],
            "updated_members": [{"email_address": "b@example.nl", "status": "unsubscribed"}],
            "errors": [
                {
                    "email_address": "c@example.nl",
                    "error": "c@example.nl looks fake or invalid, please enter a real email",
                    "error_code": "ERROR_GENERIC",
                }
            ],
        }
    )
    results = batch_results(["c@example.nl", "B@example.nl", "a@example.nl"], answer, "req-9")
    assert [r.email_address for r in results] == ["c@example.nl", "B@example.nl", "a@example.nl"]
    assert [r.outcome for r in results] == [
        MemberOutcome.FAILED,
        MemberOutcome.UPDATED,
        MemberOutcome.CREATED,
    ]
    assert results[1].status == "unsubscribed"
    error = results[0].error
    assert error is not None
    assert (error.category, error.title, error.status) == (
        ErrorCategory.INVALID_ADDRESS,
        "ERROR_GENERIC",
        None,
    )
    assert is_refusal(error.status, error.category.value)


def test_an_address_missing_from_the_answer_is_worth_repeating() -> None:
    """Issue 9.5, R6.3: an address the answer leaves out is a retryable failure, not a refusal."""
    (result,) = batch_results(["gone@example.nl"], _answer({}), "req-9")
    error = result.error
    assert error is not None
    assert error.retryable
    assert error.category.retryable
    assert not is_refusal(error.status, error.category.value)


# --- address changes, results -------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "fallback"),
    [
        (_problem(400, "Member Exists"), True),
        (_problem(404, "Resource Not Found"), True),
        (
            _problem(400, "Invalid Resource", "You can only update email addresses of subscribed"),
            True,
        ),
        (_problem(400, "Member In Compliance State"), False),
    ],
)
def test_which_refused_address_changes_fall_back(response: Response, *, fallback: bool) -> None:
    """R5.4: an existing new address, an absent old one or a status that forbids it fall back."""
    assert address_change_fallback(error_from_response(response, audience_level=False)) is fallback


def test_an_address_change_answer_reads_the_same_direct_or_in_a_batch() -> None:
    """R5.4: one reading of a PATCH's answer: the status it names, or a failure with fallback."""
    moved = Response(status=200, body=json.dumps({"status": "subscribed", "id": "x"}).encode())
    assert address_change_result(moved, "new@example.nl") == MemberResult(
        email_address="new@example.nl", outcome=MemberOutcome.ADDRESS_CHANGED, status="subscribed"
    )
    unreadable = address_change_result(Response(status=200, body=b"<html>"), "new@example.nl")
    assert (unreadable.outcome, unreadable.status) == (MemberOutcome.ADDRESS_CHANGED, "")
    refused = address_change_result(_problem(400, "Member Exists"), "new@example.nl")
    assert refused.error is not None
    assert (refused.outcome, refused.fallback, refused.error.category) == (
        MemberOutcome.FAILED,
        True,
        ErrorCategory.MEMBER_EXISTS,
    )
    with pytest.raises(AuthenticationError):
        address_change_result(_problem(401, "API Key Invalid"), "new@example.nl")


def test_member_result_failed_is_public() -> None:
    """Issue 8.5: the runner builds a failed result with a public classmethod."""
    detail = FailureDetail(category=ErrorCategory.NETWORK, title="Network error", retryable=True)
    result = MemberResult.failed("a@example.nl", detail, fallback=True)
    assert (result.outcome, result.error, result.fallback, result.ok) == (
        MemberOutcome.FAILED,
        detail,
        True,
        False,
    )


# --- request bodies through the converter ------------------------------------------------


def test_request_bodies_leave_out_empty_optional_keys() -> None:
    """Issue 8.6, MAILCHIMP.md §5.1/§3/§2.3: bodies as Mailchimp names them, nothing empty."""
    subscribe = WireSubscribe(
        members=[
            WireSubscribeMember(email_address="a@example.nl", status_if_new="subscribed"),
            WireSubscribeMember(
                email_address="b@example.nl",
                status_if_new="subscribed",
                status="subscribed",
                merge_fields={"FNAME": "Jan"},
                tags=["Fiscaal"],
            ),
        ],
        update_existing=True,
        sync_tags=False,
    )
    assert body(subscribe) == {
        "members": [
            {"email_address": "a@example.nl", "status_if_new": "subscribed"},
            {
                "email_address": "b@example.nl",
                "status_if_new": "subscribed",
                "status": "subscribed",
                "merge_fields": {"FNAME": "Jan"},
                "tags": ["Fiscaal"],
            },
        ],
        "update_existing": True,
        "sync_tags": False,
    }
    tags = WireTags(
        tags=[WireTagStatus("A", "active"), WireTagStatus("B", "inactive")], is_syncing=True
    )
    assert body(tags) == {
        "tags": [{"name": "A", "status": "active"}, {"name": "B", "status": "inactive"}],
        "is_syncing": True,
    }
    assert body(WireAddressChange(email_address="n@example.nl")) == {
        "email_address": "n@example.nl"
    }


def test_is_out_reads_404_and_the_405_of_an_archive() -> None:
    """R4.5: a 404 and a 405 "cannot be removed" both say the member is out; others do not."""
    assert is_out(error_from_response(_problem(404, "Resource Not Found"), audience_level=False))
    assert is_out(
        error_from_response(
            _problem(405, "Method Not Allowed", CANNOT_ARCHIVE), audience_level=False
        )
    )
    assert not is_out(
        error_from_response(_problem(405, "Method Not Allowed"), audience_level=False)
    )
    assert not is_out(error_from_response(_problem(400, "Invalid Resource"), audience_level=False))


def test_an_unknown_status_gets_a_readable_title() -> None:
    """MAILCHIMP.md §6.1: an answer without a body and with an unknown status is still named."""
    assert reason(599) == "HTTP 599"
    error = error_from_response(Response(status=599), audience_level=False)
    assert error.title == "HTTP 599"
