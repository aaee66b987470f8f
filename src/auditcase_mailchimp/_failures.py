"""The failure overview's values and rules (R6.2, R6.3): pure, no database.

:class:`FailureInput` is a failure as the runner reports it; :class:`Failure` an entry as the
store keeps it; :func:`is_refusal` tells a refusal (not re-sent until what would be sent
changes, R6.3) from a failure worth repeating.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import attrs

from ._desired import Problem, ProblemCategory
from ._errors import ErrorCategory
from ._models import PersonKind
from ._store_values import parse_optional_time, parse_time
from ._validate import check_non_blank, check_str

__all__ = [
    "REFUSAL_CATEGORIES",
    "RETRYABLE_CATEGORIES",
    "Failure",
    "FailureInput",
    "failure_from_row",
    "field_errors_json",
    "is_refusal",
]

#: Failure categories for which Mailchimp refused what was sent (besides any 400-class status
#: other than 429): such a person is not re-sent until what would be sent changes (R6.3).
#: ``generic`` is Mailchimp's refusal without a finer reason (e.g. ``ERROR_GENERIC`` in a
#: batch-subscribe answer).
REFUSAL_CATEGORIES: Final = frozenset(
    {
        ErrorCategory.COMPLIANCE_STATE.value,
        ErrorCategory.PERMANENTLY_DELETED.value,
        ErrorCategory.INVALID_ADDRESS.value,
        ErrorCategory.INVALID_MERGE_FIELD.value,
        ErrorCategory.GENERIC.value,
    }
)
#: Failure categories worth repeating: never a refusal, whatever the status (R6.3).
RETRYABLE_CATEGORIES: Final = frozenset(
    category.value for category in ErrorCategory if category.retryable
)

_TOO_MANY_REQUESTS: Final = 429
_PROBLEM_TITLES: Final = {
    ProblemCategory.NO_ADDRESS: "No e-mail address",
    ProblemCategory.INVALID_ADDRESS: "Invalid e-mail address",
    ProblemCategory.DUPLICATE_ADDRESS: "Duplicate e-mail address",
    ProblemCategory.DUPLICATE_PERSON_ID: "Duplicate person id",
}


def _optional_str(_instance: object, attribute: attrs.Attribute[str | None], value: object) -> None:
    if value is not None and value.__class__ is not str:
        raise TypeError(f"{attribute.name!r} must be a str or None, got {value!r}")


def _http_status(_instance: object, attribute: attrs.Attribute[int | None], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name!r} must be an int or None, got {value!r}")
    if value not in range(100, 600):
        raise ValueError(f"{attribute.name!r} must be an HTTP status (100-599), got {value!r}")


def _kind(_instance: object, attribute: attrs.Attribute[PersonKind], value: object) -> None:
    if not isinstance(value, PersonKind):
        raise TypeError(f"{attribute.name!r} must be a PersonKind, got {value!r}")


def _to_field_errors(
    value: Iterable[tuple[str, str] | Mapping[str, str]],
) -> tuple[tuple[str, str], ...]:
    """Accept ``(field, message)`` pairs or Mailchimp's ``{"field", "message"}`` objects."""
    if isinstance(value, str | bytes | Mapping):
        raise TypeError("'field_errors' must be a sequence of (field, message) pairs")
    errors: list[tuple[str, str]] = []
    for item in value:
        if isinstance(item, Mapping):
            field, message = item.get("field", ""), item.get("message", "")
        else:
            field, message = item
        if field.__class__ is not str or message.__class__ is not str:
            raise TypeError("'field_errors' must hold str fields and messages")
        errors.append((field, message))
    return tuple(errors)


def field_errors_json(errors: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """Per-field errors as Mailchimp's ``{"field", "message"}`` objects."""
    return [{"field": field, "message": message} for field, message in errors]


@attrs.frozen(kw_only=True)
class FailureInput:
    """One failure as the runner reports it, before the store adds its bookkeeping (R6.2).

    Raises:
        TypeError: A field has the wrong type; the message names the field.
        ValueError: ``person_id``, ``action`` or ``category`` is empty, or ``status`` is not an
            HTTP status.
    """

    #: The AuditCase person the failure is about.
    person_id: str = attrs.field(validator=check_non_blank)
    #: That person's kind.
    kind: PersonKind = attrs.field(validator=_kind)
    #: What was attempted, e.g. ``create``, ``update``, ``change_address``, ``archive``,
    #: ``tags``, or ``map`` for a problem found before sending.
    action: str = attrs.field(validator=check_non_blank)
    #: The library's category, e.g. ``invalid_merge_field`` or ``network`` (see the how-to
    #: guide "Read the failure overview" for the list and what each means).
    category: str = attrs.field(validator=check_non_blank)
    #: Mailchimp's error title, or for a batch-subscribe error its ``error_code``, or the
    #: library's own short title.
    title: str = attrs.field(validator=check_str)
    #: The address involved ("" when there is none).
    email_address: str = attrs.field(default="", validator=check_str)
    #: Mailchimp's HTTP status; ``None`` before sending, for a network failure and for a
    #: per-address error inside a batch-subscribe answer.
    status: int | None = attrs.field(default=None, validator=_http_status)
    #: Mailchimp's detail, or the library's own message.
    detail: str = attrs.field(default="", validator=check_str)
    #: Mailchimp's per-field errors as ``(field, message)`` pairs; ``{"field", "message"}``
    #: mappings are accepted too.
    field_errors: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_to_field_errors)
    #: What was sent, in a form the runner chooses (e.g. a hash); an open entry with the same
    #: fingerprint is the same failure again (R6.3). Never the API key.
    fingerprint: str | None = attrs.field(default=None, validator=_optional_str)

    @classmethod
    def from_problem(cls, problem: Problem, *, action: str = "map") -> FailureInput:
        """Turn a problem found before sending (R2.6, R3.2) into a failure to record.

        Args:
            problem: A problem from :func:`~auditcase_mailchimp.desired_state`.
            action: What was attempted; ``map`` by default.

        Returns:
            The failure with the problem's category and message and no HTTP status.
        """
        return cls(
            person_id=problem.person_id,
            kind=problem.kind,
            action=action,
            category=problem.category.value,
            title=_PROBLEM_TITLES.get(problem.category, problem.category.value),
            detail=problem.message,
            email_address=problem.email_address,
        )


@attrs.frozen(kw_only=True)
class Failure:
    """One entry of the failure overview as stored (R6.2), with the store's bookkeeping.

    The fields of :class:`FailureInput`, and when it was first and last seen, how often, and
    whether it is resolved or dismissed. An entry is *open* while it is neither.
    """

    #: The entry's id, for ``auditcase-mailchimp failures dismiss ID``.
    id: int
    person_id: str
    kind: PersonKind
    action: str
    category: str
    title: str
    email_address: str
    status: int | None
    detail: str
    field_errors: tuple[tuple[str, str], ...]
    fingerprint: str | None
    #: When the failure was first recorded (UTC).
    first_seen: datetime
    #: When it was last recorded (UTC).
    last_seen: datetime
    #: How many times it was recorded while open.
    attempts: int
    #: ``True`` once a later sync succeeded for the person (R6.3).
    resolved: bool
    resolved_at: datetime | None
    #: ``True`` once the administrator dismissed the entry.
    dismissed: bool
    dismissed_at: datetime | None

    @property
    def is_open(self) -> bool:
        """``True`` while the entry is neither resolved nor dismissed."""
        return not (self.resolved or self.dismissed)

    def to_json(self) -> dict[str, Any]:
        """Return the entry as a JSON object: the fields of SPEC.md R9.2 and a few more.

        Times are ISO 8601 strings in UTC (``2026-03-01T02:00:13Z``); ``status`` is ``null``
        when there was no HTTP status; ``field_errors`` is a list of ``{"field", "message"}``.
        The fingerprint is bookkeeping and left out.
        """
        from ._json_out import json_object  # noqa: PLC0415 - the one converter, in the shell

        return json_object(self)


def failure_from_row(row: tuple[Any, ...]) -> Failure:
    """Build an entry from a row of the ``failure`` table, in its column order."""
    (
        id_,
        person_id,
        kind,
        action,
        category,
        title,
        email_address,
        status,
        detail,
        field_errors,
        fingerprint,
        first_seen,
        last_seen,
        attempts,
        resolved,
        resolved_at,
        dismissed,
        dismissed_at,
    ) = row
    return Failure(
        id=id_,
        person_id=person_id,
        kind=PersonKind(kind),
        action=action,
        category=category,
        title=title,
        email_address=email_address,
        status=status,
        detail=detail,
        field_errors=tuple((e["field"], e["message"]) for e in json.loads(field_errors)),
        fingerprint=fingerprint,
        first_seen=parse_time(first_seen),
        last_seen=parse_time(last_seen),
        attempts=attempts,
        resolved=bool(resolved),
        resolved_at=parse_optional_time(resolved_at),
        dismissed=bool(dismissed),
        dismissed_at=parse_optional_time(dismissed_at),
    )


def is_refusal(status: int | None, category: str) -> bool:
    """Tell whether a failure means Mailchimp refused what was sent (R6.3).

    A refusal has a 400-class status other than 429 (too many requests), or no status and a
    category in :data:`REFUSAL_CATEGORIES` (a per-address error in a batch-subscribe answer).
    A 429, a 500-class status and a category in :data:`RETRYABLE_CATEGORIES` never are.

    Args:
        status: The HTTP status, ``None`` when there was none.
        category: The failure's category.

    Returns:
        ``True`` for a refusal: the person is not re-sent until what would be sent changes.
    """
    if category in RETRYABLE_CATEGORIES:
        return False
    if status is None:
        return category in REFUSAL_CATEGORIES
    return status in range(400, 500) and status != _TOO_MANY_REQUESTS
