"""The fake's refusals: Mailchimp's problem documents, and its rules for addresses.

Every refusal of the fake is a :class:`Problem`, which the server turns into an
``application/problem+json`` document with ``type``, ``title``, ``status``, ``detail`` and
``instance`` (plus ``errors`` for field problems), never a traceback or an HTML page
(MAILCHIMP.md §6.1; the recordings' README items 25 and 26).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

__all__ = [
    "CANNOT_ARCHIVE",
    "FAKE_LOCAL_PARTS",
    "INVALID_RESOURCE",
    "RESERVED_TOP_LEVEL_DOMAINS",
    "Problem",
    "address_problem",
    "bad_request",
    "invalid_resource",
    "looks_fake",
    "member_exists",
    "not_found",
]

#: Local parts (before ``@``, any case) the fake refuses as "looks fake or invalid"
#: (``foo`` as the recordings show for ``foo@example.com``, P169).
FAKE_LOCAL_PARTS: Final = frozenset({"test", "fake", "invalid", "foo"})
#: Top-level domains reserved by RFC 2606/6761 that the fake refuses. ``example.com`` and
#: ``example.nl`` are ordinary domains here and are accepted.
RESERVED_TOP_LEVEL_DOMAINS: Final = frozenset({"invalid", "test", "example", "localhost"})
#: The generic detail of a field-level "Invalid Resource" (MAILCHIMP.md §6.2).
INVALID_RESOURCE: Final = (
    "The resource submitted could not be validated. For field-specific details, see the "
    "'errors' array."
)
#: The 405 detail of a DELETE of a cleaned, pending or archived member (recordings P191).
CANNOT_ARCHIVE: Final = (
    "This list member cannot be removed. Can not archive a contact that is bounced, pending or "
    "archived"
)
_WHITESPACE: Final = re.compile(r"\s")


class Problem(Exception):  # noqa: N818 - named after the problem document it becomes
    """An error answer of the fake: becomes an ``application/problem+json`` document.

    Args:
        status: The HTTP status.
        title: The document's ``title``.
        detail: The document's ``detail``.
        errors: ``(field, message)`` pairs for the ``errors`` array.
        headers: Extra response headers (``Allow``, ``Retry-After``).
        typed: Whether the document has a ``type`` key ("Member Exists" has none, P152).
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
        *,
        typed: bool = True,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})
        self.typed = typed


def not_found() -> Problem:
    """Mailchimp's 404 (MAILCHIMP.md §6.2)."""
    return Problem(404, "Resource Not Found", "The requested resource could not be found.")


def bad_request(detail: str, errors: Iterable[tuple[str, str]] = ()) -> Problem:
    """A 400 "Bad Request" with the reason in ``detail`` (MAILCHIMP.md §6.2)."""
    return Problem(400, "Bad Request", detail, errors)


def invalid_resource(errors: Iterable[tuple[str, str]]) -> Problem:
    """A 400 "Invalid Resource" with field errors (MAILCHIMP.md §6.1)."""
    return Problem(400, "Invalid Resource", INVALID_RESOURCE, errors)


def member_exists(address: str) -> Problem:
    """400 "Member Exists", as recorded: no ``type`` key (recordings P152)."""
    return Problem(
        400,
        "Member Exists",
        f"{address} is already a list member. Use PUT to insert or update list members.",
        typed=False,
    )


def looks_fake(email_address: str) -> bool:
    """The fake's deterministic rule for "… looks fake or invalid" (MAILCHIMP.md §6.2).

    An address is refused when it is not of the form ``local@domain.tld`` (one ``@``, no
    whitespace, an ASCII local part, a domain of at least two non-empty labels), when its local
    part is ``test``, ``fake``, ``invalid`` or ``foo`` (any case), or when its top-level domain
    is one reserved for tests (``.invalid``, ``.test``, ``.example``, ``.localhost``).
    Ordinary addresses under ``example.com`` and ``example.nl`` are accepted.

    Args:
        email_address: The address.

    Returns:
        ``True`` when the fake refuses the address.
    """
    return _malformed(email_address) or _fake(email_address)


def _malformed(email_address: str) -> bool:
    local, at, domain = email_address.rpartition("@")
    if not at or not local or "@" in local or not local.isascii():
        return True
    if _WHITESPACE.search(email_address):
        return True
    labels = domain.split(".")
    return len(labels) < 2 or not all(labels)  # noqa: PLR2004 - name and top-level domain


def _fake(email_address: str) -> bool:
    local, _, domain = email_address.rpartition("@")
    return (
        local.lower() in FAKE_LOCAL_PARTS
        or domain.lower().rsplit(".", 1)[-1] in RESERVED_TOP_LEVEL_DOMAINS
    )


def address_problem(email_address: str) -> str:
    """Why Mailchimp refuses an address, as its ``detail`` says it, or ``""``.

    Without an ``@`` the answer is "Please provide a valid email address." (recordings P167);
    otherwise a malformed or fake-looking address "looks fake or invalid" (P169).

    Args:
        email_address: The address.

    Returns:
        The detail text, empty when the address is accepted.
    """
    if "@" not in email_address:
        return "Please provide a valid email address."
    if looks_fake(email_address):
        return f"{email_address} looks fake or invalid, please enter a real email address."
    return ""
