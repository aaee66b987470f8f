"""The bulk requests: tags through static segments (MAILCHIMP.md §3).

Shell, beside :mod:`auditcase_mailchimp._client`: each function sends one kind of bulk request
through a :class:`~auditcase_mailchimp.MailchimpClient` (its retries, its limit of requests in
flight) and reads the answer into per-address results shaped as a member call's would be, so
the failure overview reads the same whichever way a change was sent.

- :func:`static_tags`: every tag's id, ``GET /lists/{id}/segments?type=static`` in pages of
  1000, once per run and again after batch-subscribe entries that carry tags;
- :func:`create_tag`: ``POST /lists/{id}/segments`` with ``static_segment: []``;
- :func:`change_segment`: ``POST /lists/{id}/segments/{tag_id}`` with ``members_to_add`` and
  ``members_to_remove`` (at most 500 each); the answer's ``errors`` name the addresses it
  could not change;
- ``/batches`` (§5.2): :func:`submit_batch`, :func:`batch_state` (a poll) and
  :func:`batch_results` (the gzipped tar at ``response_body_url``); each operation's result
  is read by the same functions as the direct request's answer (:func:`operation_response`
  makes it an answer; :mod:`auditcase_mailchimp._answers` reads it: ``address_change_result``
  and ``status_in``, re-exported here, and ``member_call_result``).

Logging: counts and tag ids only, never an address.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._answers import address_change_result, is_fatal, status_in
from ._client import FailureDetail, MailchimpClient
from ._errors import ErrorCategory, MailchimpError, UnexpectedResponseError

if TYPE_CHECKING:
    from ._transport import Response

__all__ = [
    "address_change_result",
    "batch_results",
    "batch_state",
    "change_segment",
    "create_tag",
    "find_tag",
    "operation_response",
    "segment_failures",
    "static_tags",
    "status_in",
    "submit_batch",
]

T = TypeVar("T")

_log = logging.getLogger(__name__)

_PAGE: Final = 1000
#: A segment answer's error about addresses not on the audience reads as a member call's 404.
_NOT_THERE: Final = ("not on the", "not a member", "does not exist", "not subscribed to")


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
        document, _ = client._document(  # noqa: SLF001 - the client's one path for a JSON answer
            "GET", f"/lists/{list_id}/segments", query=query, what="the tags"
        )
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
        document, _ = client._document(  # noqa: SLF001 - the client's one path for a JSON answer
            "POST", f"/lists/{list_id}/segments", body=body, what="creating a tag"
        )
        return int(document["id"])
    except MailchimpError as error:
        if is_fatal(error):
            raise
        found = find_tag(static_tags(client, list_id), name)
        if found is None:
            raise
        return found
    except (KeyError, TypeError, ValueError) as exc:
        raise UnexpectedResponseError("the answer creating a tag holds no id") from exc


def find_tag(tags: Mapping[str, T], name: str) -> T | None:
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
    try:
        document, request_id = client._document(  # noqa: SLF001 - the client's one path
            "POST", f"/lists/{list_id}/segments/{tag_id}", body=body, what="a segment change"
        )
    except MailchimpError as error:
        if is_fatal(error):
            raise
        detail = FailureDetail.from_error(error)
        _log.info("segment %s: %s %s", tag_id, detail.status, detail.category)
        return detail
    failures = segment_failures(document, request_id)
    _log.info(
        "segment %s: %d to add, %d to remove, %d failed", tag_id, len(add), len(remove),
        len(failures),
    )  # fmt: skip
    return failures


# --- /batches (MAILCHIMP.md §5.2) ---------------------------------------------------------------


def submit_batch(client: MailchimpClient, operations: Sequence[Mapping[str, Any]]) -> str:
    """``POST /batches`` with these operations; the batch id.

    Raises:
        MailchimpError: The batch was not accepted.
    """
    document, _ = client._document(  # noqa: SLF001 - the client's one path for a JSON answer
        "POST", "/batches", body={"operations": list(operations)}, what="a batch"
    )
    batch_id = document.get("id") if isinstance(document, dict) else None
    if not isinstance(batch_id, str) or not batch_id:
        raise UnexpectedResponseError("the answer to a batch holds no id")
    _log.info("batch %s: %d operations submitted", batch_id, len(operations))
    return batch_id


def batch_state(client: MailchimpClient, batch_id: str) -> dict[str, Any]:
    """``GET /batches/{batch_id}``: its status and, once finished, ``response_body_url``.

    Raises:
        MailchimpError: The batch could not be read (a 404: it is gone).
    """
    document, _ = client._document(  # noqa: SLF001 - the client's one path for a JSON answer
        "GET", f"/batches/{batch_id}", what="a batch's state"
    )
    if not isinstance(document, dict):
        raise UnexpectedResponseError("the answer about a batch is not an object")
    return document


def batch_results(client: MailchimpClient, url: str) -> list[dict[str, Any]]:
    """The results of a finished batch: the gzipped tar at ``response_body_url``, read whole.

    The URL is signed and needs no key: the request goes without the ``Authorization`` header,
    so the key never leaves for another host.

    Raises:
        UnexpectedResponseError: The archive could not be fetched or read.
    """
    from ._transport import Request  # noqa: PLC0415 - only for batches

    try:
        with client._slots:  # noqa: SLF001 - one of the requests in flight
            response = client._transport.send(Request(method="GET", url=url))  # noqa: SLF001
    except MailchimpError as exc:
        raise UnexpectedResponseError("the batch results could not be fetched") from exc
    if response.status >= 300:  # noqa: PLR2004
        raise UnexpectedResponseError(f"the batch results answered {response.status}")
    results: list[dict[str, Any]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(response.body), mode="r:gz") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                items = json.loads(handle.read())
                if isinstance(items, list):
                    results += [item for item in items if isinstance(item, dict)]
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise UnexpectedResponseError("the batch results are not a readable archive") from exc
    return results


def operation_response(result: Mapping[str, Any]) -> Response:
    """One operation's result as the answer a direct request would have had."""
    from ._transport import Response  # noqa: PLC0415 - only for batches

    text = result.get("response")
    status = result.get("status_code")
    return Response(
        status=status if isinstance(status, int) else 500,
        body=text.encode("utf-8") if isinstance(text, str) else b"",
    )
