"""The values the Mailchimp client takes and gives back, and the limits it keeps.

What goes in (:class:`UpsertItem`, :class:`TagChange`, :class:`AddressChange`) is checked when
it is built; what comes out is :class:`AudienceMember` for reads and :class:`MemberResult` (with
a :class:`FailureDetail` when it failed) for writes.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from typing import Final

import attrs

from ._client_checks import check_address_field, check_bool, check_merge_fields, check_tags
from ._errors import (
    ErrorCategory,
    FieldError,
    InvalidInputError,
    MailchimpAPIError,
    MailchimpError,
    NetworkError,
)
from ._validate import new_unchecked, set_unchecked

__all__ = [
    "BATCH_LIMIT",
    "MAX_CONCURRENCY",
    "MEMBER_FIELDS",
    "PAGE_SIZE",
    "TAGS_IN_MEMBER",
    "AddressChange",
    "AudienceMember",
    "FailureDetail",
    "MemberOutcome",
    "MemberResult",
    "TagChange",
    "UpsertItem",
    "subscriber_hash",
    "trusted_upsert",
]

#: Members per batch-subscribe call (MAILCHIMP.md §5.1).
BATCH_LIMIT: Final = 500
#: Members per page when reading the audience (``count`` maximum, MAILCHIMP.md §2.4).
PAGE_SIZE: Final = 1000
#: Mailchimp's limit of simultaneous connections per user (MAILCHIMP.md §7).
MAX_CONCURRENCY: Final = 10
#: Member responses carry at most this many tags (MAILCHIMP.md §2.5).
TAGS_IN_MEMBER: Final = 50
#: Mailchimp keeps this many UTF-8 bytes of a text merge field (MAILCHIMP.md §7).
#: What the coupling compares of a member, the ``fields`` of every member read.
MEMBER_FIELDS: Final = (
    "email_address",
    "status",
    "merge_fields.FNAME",
    "merge_fields.LNAME",
    "tags",
    "tags_count",
)


def subscriber_hash(email_address: str) -> str:
    """Mailchimp's key of a member: the MD5 (hex) of the lower-cased address (MAILCHIMP.md §2.1).

    Args:
        email_address: The address.

    Returns:
        32 hexadecimal digits.
    """
    return hashlib.md5(email_address.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


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
    email_address: str = attrs.field(validator=check_address_field)
    #: Merge fields to set (e.g. ``FNAME``); others are left as they are.
    merge_fields: Mapping[str, str] = attrs.field(
        factory=dict, converter=check_merge_fields, hash=False
    )
    #: Tags to add; existing tags are kept (``sync_tags`` is false).
    tags: frozenset[str] = attrs.field(default=frozenset(), converter=check_tags)
    #: Send ``status`` ``subscribed``, only to re-add an archived member.
    send_status: bool = attrs.field(default=False, validator=check_bool)


def trusted_upsert(
    email_address: str, merge_fields: Mapping[str, str], tags: frozenset[str], *, send_status: bool
) -> UpsertItem:
    """An :class:`UpsertItem` from values the core already checked, skipping its checks.

    For the runner's batch-subscribe path: a plan's entry holds an address the mapping found
    valid (stricter than the item's check), merge fields cut to Mailchimp's limit and the tag
    names of R2. Not for values from outside the library: build :class:`UpsertItem` for those.
    """
    item = new_unchecked(UpsertItem)
    set_unchecked(item, "email_address", email_address)
    set_unchecked(item, "merge_fields", merge_fields)
    set_unchecked(item, "tags", tags)
    set_unchecked(item, "send_status", send_status)
    return item


@attrs.frozen(kw_only=True)
class TagChange:
    """Tags to set active (``add``) and inactive (``remove``) on one member.

    Raises:
        InvalidInputError: A bad address, an empty tag name, or a tag in both sets.
    """

    email_address: str = attrs.field(validator=check_address_field)
    add: frozenset[str] = attrs.field(default=frozenset(), converter=check_tags)
    remove: frozenset[str] = attrs.field(default=frozenset(), converter=check_tags)

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

    old_email_address: str = attrs.field(validator=check_address_field)
    email_address: str = attrs.field(validator=check_address_field)
    merge_fields: Mapping[str, str] = attrs.field(
        factory=dict, converter=check_merge_fields, hash=False
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
    #: Archive or permanent delete found no such member (404), or Mailchimp answered that the
    #: member cannot be removed (405: archived, cleaned or pending): it is out of the audience.
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

    @classmethod
    def failed(
        cls, email_address: str, detail: FailureDetail, *, fallback: bool = False
    ) -> MemberResult:
        """Build the result of a request that failed for one member.

        Args:
            email_address: The address the request was about.
            detail: Why it failed.
            fallback: R5.4's fallback applies (see :attr:`fallback`).

        Returns:
            A ``failed`` result carrying ``detail``.
        """
        return cls(
            email_address=email_address,
            outcome=MemberOutcome.FAILED,
            error=detail,
            fallback=fallback,
        )
