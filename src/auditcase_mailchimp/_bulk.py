"""The bulk requests: tags through static segments (MAILCHIMP.md §3).

Shell, beside :mod:`auditcase_mailchimp._client`: each function sends one kind of bulk request
through a :class:`~auditcase_mailchimp.MailchimpClient` (its retries, its limit of requests in
flight) and reads the answer into per-address results shaped as a member call's would be, so
the failure overview reads the same whichever way a change was sent.

- :func:`static_tags`: every tag's id, ``GET /lists/{id}/segments?type=static`` in pages of
  1000, once per run;
- :func:`create_tag`: ``POST /lists/{id}/segments`` with ``static_segment: []``;
- :func:`change_segment`: ``POST /lists/{id}/segments/{tag_id}`` with ``members_to_add`` and
  ``members_to_remove`` (at most 500 each); the answer's ``errors`` name the addresses it
  could not change.

Logging: counts and tag ids only, never an address.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Final

from ._answers import error_from_response, is_fatal
from ._client import FailureDetail, MailchimpClient
from ._errors import ErrorCategory, MailchimpAPIError, MailchimpError, UnexpectedResponseError

__all__ = ["change_segment", "create_tag", "find_tag", "segment_failures", "static_tags"]

_log = logging.getLogger(__name__)

_PAGE: Final = 1000
#: A segment answer's error about addresses not on the audience reads as a member call's 404.
_NOT_THERE: Final = ("not on the", "not a member", "does not exist", "not subscribed to")


def _document(client: MailchimpClient, method: str, path: str, **options: Any) -> Any:
    """Send one request; its JSON answer, or the error it raised (fatal ones always raise)."""
    answer = client._send(method, path, **options)  # noqa: SLF001 - the client's own sender
    response = answer.response
    if response.status >= 300:  # noqa: PLR2004
        raise error_from_response(response, audience_level=False)
    try:
        return json.loads(response.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnexpectedResponseError(
            f"the answer to {method} on segments is not JSON",
            request_id=response.header("X-Request-Id") or "",
        ) from exc


def static_tags(client: MailchimpClient, list_id: str) -> dict[str, int]:
    """Every tag of the audience (static segment) with its id, by name.

    Raises:
        MailchimpError: The tags could not be read.
    """
    tags: dict[str, int] = {}
    offset = 0
    while True:
        query = {
            "type": "static",
            "count": _PAGE,
            "offset": offset,
            "fields": "segments.id,segments.name,total_items",
        }
        document = _document(client, "GET", f"/lists/{list_id}/segments", query=query)
        segments = document.get("segments") if isinstance(document, dict) else None
        if not isinstance(segments, list):
            raise UnexpectedResponseError("the answer listing the tags holds no segments")
        for segment in segments:
            if isinstance(segment, dict) and isinstance(segment.get("name"), str):
                tags[segment["name"]] = int(segment["id"])
        offset += _PAGE
        if not segments or offset >= int(document.get("total_items") or 0):
            return tags


def create_tag(client: MailchimpClient, list_id: str, name: str) -> int:
    """Create a tag with no members (``POST …/segments``); its id.

    Repeating it after a lost answer would meet the tag the first attempt made: a refusal is
    therefore checked by reading the tags again.

    Raises:
        MailchimpError: The tag could not be created.
    """
    body = {"name": name, "static_segment": []}
    try:
        document = _document(client, "POST", f"/lists/{list_id}/segments", body=body)
        return int(document["id"])
    except MailchimpError as error:
        if isinstance(error, MailchimpAPIError) and is_fatal(error):
            raise
        found = find_tag(static_tags(client, list_id), name)
        if found is None:
            raise
        return found
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedResponseError("the answer creating a tag holds no id") from exc


def find_tag(tags: dict[str, int], name: str) -> int | None:
    """A tag's id by its name, exact first, else ignoring case; ``None`` when there is none."""
    if name in tags:
        return tags[name]
    lowered = name.lower()
    return next((number for tag, number in tags.items() if tag.lower() == lowered), None)


def segment_failures(document: Any, request_id: str = "") -> dict[str, FailureDetail]:
    """The per-address errors of a segment answer, by lower-cased address.

    An address not on the audience reads as a member-tags call's 404 would (``not_found``);
    any other error as a refusal (``generic``).
    """
    errors = document.get("errors") if isinstance(document, dict) else None
    failures: dict[str, FailureDetail] = {}
    for error in errors if isinstance(errors, list) else []:
        if not isinstance(error, dict):
            continue
        text = str(error.get("error") or "")
        addresses = error.get("email_addresses") or []
        if isinstance(error.get("email_address"), str):
            addresses = [*addresses, error["email_address"]]
        missing = any(part in text.lower() for part in _NOT_THERE)
        detail = FailureDetail(
            category=ErrorCategory.NOT_FOUND if missing else ErrorCategory.GENERIC,
            title="Resource Not Found" if missing else "Bad Request",
            status=404 if missing else 400,
            detail=text,
            request_id=request_id,
        )
        for address in addresses:
            if isinstance(address, str):
                failures[address.lower()] = detail
    return failures


def change_segment(
    client: MailchimpClient,
    list_id: str,
    tag_id: int,
    *,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> dict[str, FailureDetail] | FailureDetail:
    """Add and remove one tag for up to 500 members each, in one request.

    Safe to repeat: it sets the tag on or off for each address named.

    Returns:
        The failures by lower-cased address (empty when all changed), or one failure for
        every address when the request as a whole failed.

    Raises:
        AuthenticationError: The key is refused.
        AudienceNotFoundError: No such audience.
    """
    body = {"members_to_add": list(add), "members_to_remove": list(remove)}
    path = f"/lists/{list_id}/segments/{tag_id}"
    try:
        answer = client._send("POST", path, body=body)  # noqa: SLF001 - the client's own sender
    except MailchimpError as exc:
        return FailureDetail.from_error(exc)
    response = answer.response
    request_id = response.header("X-Request-Id") or ""
    if response.status >= 300:  # noqa: PLR2004
        error = error_from_response(response, audience_level=False)
        if is_fatal(error):
            raise error
        _log.info("segment %s: %s %s", tag_id, error.status, error.category)
        return FailureDetail.from_error(error)
    try:
        document = json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        unexpected = UnexpectedResponseError(
            "the segment answer is not JSON", request_id=request_id
        )
        return FailureDetail.from_error(unexpected)
    failures = segment_failures(document, request_id)
    _log.info(
        "segment %s: %d to add, %d to remove, %d failed", tag_id, len(add), len(remove),
        len(failures),
    )  # fmt: skip
    return failures
