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

The client only sends: its input checks live in :mod:`._client_checks`, its values in
:mod:`._client_values`, the reading of answers (pure) in :mod:`._answers`, the retry loop beside
:class:`RetryPolicy` in :mod:`._retry`, and request bodies go through the cattrs converter of
:mod:`._mailchimp_wire`.

Logging (``logging.getLogger(__name__)``): counts, list ids and subscriber hashes at INFO and
WARNING; never an e-mail address, a body, or a secret at any level.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._answers import (
    address_change_result,
    batch_results,
    classify_refusal,
    error_from_response,
    is_fatal,
    member_call_result,
    to_audience_member,
)
from ._client_checks import all_of, check_address, check_list_id, instance_of
from ._client_core import ClientCore
from ._client_values import (
    BATCH_LIMIT,
    MAX_CONCURRENCY,
    MEMBER_FIELDS,
    PAGE_SIZE,
    TAGS_IN_MEMBER,
    AddressChange,
    AudienceMember,
    FailureDetail,
    MemberOutcome,
    MemberResult,
    TagChange,
    UpsertItem,
    subscriber_hash,
)
from ._errors import (
    ErrorCategory,
    InvalidInputError,
    MailchimpError,
    NetworkError,
)
from ._mapping import MERGE_FIELD_MAX_BYTES

__all__ = [
    "BATCH_LIMIT",
    "MAX_CONCURRENCY",
    "MERGE_FIELD_MAX_BYTES",
    "PAGE_SIZE",
    "AddressChange",
    "AudienceMember",
    "FailureDetail",
    "MailchimpClient",
    "MemberOutcome",
    "MemberResult",
    "TagChange",
    "UpsertItem",
    "classify_refusal",
    "error_from_response",
    "subscriber_hash",
]

if TYPE_CHECKING:
    from ._mailchimp_wire import WireMember, WireMemberPage, WireSubscribeMember

_log = logging.getLogger(__name__)


def _wire_builder() -> threading.Thread | None:
    """A started thread building the wire formats; ``None`` when they are built (or it failed)."""
    wire = sys.modules.get("auditcase_mailchimp._mailchimp_wire")
    if wire is not None and wire.ready():
        return None
    builder = threading.Thread(target=_build_wire, name="auditcase-mailchimp-wire", daemon=True)
    try:
        builder.start()
    except RuntimeError:  # no thread to be had: the first request builds them
        return None
    return builder


def _build_wire() -> None:
    with contextlib.suppress(Exception):  # the first request builds them, and says what failed
        from ._mailchimp_wire import prepare  # noqa: PLC0415 - not at start-up

        prepare()


def _subscribe_entries(chunk: Sequence[UpsertItem]) -> list[WireSubscribeMember]:
    from ._mailchimp_wire import WireSubscribeMember  # noqa: PLC0415 - not at start-up

    return [
        WireSubscribeMember(
            item.email_address,
            "subscribed",
            "subscribed" if item.send_status else None,
            dict(item.merge_fields),
            sorted(item.tags),
        )
        for item in chunk
    ]


class MailchimpClient(ClientCore):
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
        lid = check_list_id(list_id)
        # While the check is in flight, the wire formats are built (the converter, once per
        # process): the first requests after it need them and go out that much sooner.
        ready = _wire_builder()
        try:
            answer = self._send("GET", f"/lists/{lid}", query={"fields": "id"})
        finally:
            if ready is not None:
                ready.join()
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
        lid = check_list_id(list_id)
        fields = ",".join([*(f"members.{f}" for f in MEMBER_FIELDS), "total_items"])

        def page(spec: tuple[str | None, int]) -> WireMemberPage:
            return self._member_page(lid, spec, fields)

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
        members = [to_audience_member(wire, full_tags.get(key)) for key, wire in seen.items()]
        _log.info(
            "read %d members of list %s in %d pages (%d with more than %d tags)",
            len(members),
            lid,
            len(pages),
            len(crowded),
            TAGS_IN_MEMBER,
        )
        return members

    def _member_page(self, lid: str, page: tuple[str | None, int], fields: str) -> WireMemberPage:
        """One page of the member list: ``page`` is (``status`` filter or ``None``, offset).

        Shared by :meth:`read_members` and the executor's reads before archiving.
        """
        from ._mailchimp_wire import WireMemberPage  # noqa: PLC0415 - not at start-up

        status, offset = page
        query: dict[str, Any] = {"fields": fields, "count": PAGE_SIZE, "offset": offset}
        if status is not None:
            query["status"] = status
        return self._get(
            f"/lists/{lid}/members", query, WireMemberPage, audience_level=True,
            what="list members",
        )  # fmt: skip

    def _all_tags(self, list_id: str, email_address: str) -> frozenset[str]:
        from ._mailchimp_wire import WireTagPage  # noqa: PLC0415 - not at start-up

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
        lid = check_list_id(list_id)
        return self._all_tags(lid, check_address(email_address))

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
        from ._mailchimp_wire import WireMember, parse_json, structure  # noqa: PLC0415 - not at start-up

        lid = check_list_id(list_id)
        address = check_address(email_address)
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
        return to_audience_member(wire, tags)

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
        lid = check_list_id(list_id)
        chosen = all_of(items, UpsertItem, "items")
        keys: set[str] = set()
        for item in chosen:
            key = item.email_address.lower()
            if key in keys:
                raise InvalidInputError("an address appears twice among the items (ignoring case)")
            keys.add(key)
        chunks = [chosen[i : i + BATCH_LIMIT] for i in range(0, len(chosen), BATCH_LIMIT)]
        results = self._map(lambda chunk: self._subscribe(lid, chunk), chunks)
        return [result for chunk in results for result in chunk]

    def _subscribe(self, list_id: str, chunk: Sequence[UpsertItem]) -> list[MemberResult]:
        from ._mailchimp_wire import WireBatchResult, WireSubscribe, structure  # noqa: PLC0415 - not at start-up

        def payload() -> WireSubscribe:
            return WireSubscribe(
                members=_subscribe_entries(chunk), update_existing=True, sync_tags=False
            )

        # Safe to repeat: batch subscribe with update_existing is idempotent by design. A repeat
        # of an attempt that was carried out finds the members present and updates them to the
        # same values: only "created" may come back as "updated". Tags are only ever added
        # (sync_tags false), and status is sent only to re-add an archived member, which a
        # repeat re-adds again.
        try:
            document, request_id = self._document(
                "POST",
                f"/lists/{list_id}",
                body=payload,
                audience_level=True,
                what="batch subscribe",
            )
            result = structure(
                document, WireBatchResult, what="batch subscribe", request_id=request_id
            )
        except MailchimpError as error:
            if is_fatal(error):
                raise
            detail = FailureDetail.from_error(error)
            _log.warning(
                "batch subscribe to list %s: %d members, failed: %s %s",
                list_id,
                len(chunk),
                detail.status or detail.title,
                detail.category,
            )
            return [MemberResult.failed(item.email_address, detail) for item in chunk]
        results = batch_results([item.email_address for item in chunk], result, request_id)
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
        lid = check_list_id(list_id)
        change = TagChange(email_address=email_address, add=add, remove=remove)
        if not (change.add or change.remove):
            return MemberResult(email_address=change.email_address, outcome=MemberOutcome.TAGS_SET)
        from ._mailchimp_wire import WireTags, WireTagStatus  # noqa: PLC0415 - not at start-up

        payload = WireTags(
            tags=[WireTagStatus(name, "active") for name in sorted(change.add)]
            + [WireTagStatus(name, "inactive") for name in sorted(change.remove)],
            is_syncing=True,
        )
        # Safe to repeat: the call sets each named tag to an absolute state (active or
        # inactive); doing it twice leaves the same tags as doing it once.
        hashed = subscriber_hash(change.email_address)
        return self._member_call(
            "POST",
            f"/lists/{lid}/members/{hashed}/tags",
            payload,
            change.email_address,
            done=MemberOutcome.TAGS_SET,
            what="tags",
        )

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
        return self._many(
            list_id,
            changes,
            instance_of(TagChange, "changes"),
            lambda lid, c: self.set_tags(lid, c.email_address, add=c.add, remove=c.remove),
        )

    # --- archive and permanent delete ------------------------------------------------------

    def archive(self, list_id: str, email_address: str) -> MemberResult:
        """Archive one member (``DELETE …/members/{hash}``): R4.2's removal, undoable.

        Args:
            list_id: The audience id.
            email_address: The member's address.

        Returns:
            ``archived`` (status ``archived``); ``absent`` when Mailchimp has no such live
            member (404: never there, or permanently deleted) or answers that it cannot be
            removed (405: already archived, or cleaned or pending, which Mailchimp does not
            archive, R4.5), both of which count as done; or ``failed``.

        Raises:
            ConfigurationError: The list id is empty or malformed.
            InvalidInputError: The address is not an address.
            AuthenticationError: The key is refused.
        """
        lid = check_list_id(list_id)
        address = check_address(email_address)
        # Safe to repeat: archiving an archived member changes nothing. A repeat whose first
        # attempt was carried out gets a 405 "cannot be removed" (or, in older recordings, a
        # 404): that is reported as "absent", which counts as archived, as does a member that
        # was never there, or one Mailchimp will not archive because it is cleaned or pending.
        return self._member_call(
            "DELETE",
            f"/lists/{lid}/members/{subscriber_hash(address)}",
            None,
            address,
            done=MemberOutcome.ARCHIVED,
            what="archive",
            status="archived",
            absent_ok=True,
            removal=True,
        )

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
        return self._many(list_id, email_addresses, check_address, self.archive)

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
        lid = check_list_id(list_id)
        address = check_address(email_address)
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
        payload: Any,
        email_address: str,
        *,
        done: MemberOutcome,
        what: str,
        status: str = "",
        absent_ok: bool = False,
        removal: bool = False,
    ) -> MemberResult:
        """One request about one member that answers 204 when done; see member_call_result."""
        try:
            answer = self._send(method, path, body=payload)
        except NetworkError as exc:
            _log.info("%s of member %s: no answer", what, path.split("/")[4])
            return MemberResult.failed(email_address, FailureDetail.from_error(exc))
        result = member_call_result(
            answer.response,
            email_address,
            done=done,
            status=status,
            absent_ok=absent_ok,
            removal=removal,
        )
        if result.error is not None:
            _log.info(
                "%s of member %s failed: %s %s",
                what,
                path.split("/")[4],
                result.error.status,
                result.error.category,
            )
        return result

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
        lid = check_list_id(list_id)
        change = AddressChange(
            old_email_address=old_email_address,
            email_address=new_email_address,
            merge_fields=merge_fields,
        )
        from ._mailchimp_wire import WireAddressChange  # noqa: PLC0415 - not at start-up

        new = change.email_address
        payload = WireAddressChange(email_address=new, merge_fields=dict(change.merge_fields))
        old_hash = subscriber_hash(change.old_email_address)
        # Repeated only after a 429 (not carried out) or a 5xx / no answer (perhaps carried
        # out). In the second case the old address may be gone because our own first attempt
        # moved it: a 404 is then checked by reading the new address. Found: the change was
        # made. Not found: the honest answer is "old address absent", with the R5.4 fallback.
        try:
            answer = self._send("PATCH", f"/lists/{lid}/members/{old_hash}", body=payload)
        except NetworkError as exc:
            _log.info("address change of member %s: no answer", old_hash)
            return MemberResult.failed(new, FailureDetail.from_error(exc))
        result = address_change_result(answer.response, new)
        error = result.error
        if error is None:
            return result
        if error.category is ErrorCategory.NOT_FOUND and answer.ambiguous:
            try:
                moved = self.get_member(lid, new)
            except MailchimpError:
                moved = None
            if moved is not None and moved.status != "archived":
                _log.info("address change of member %s: confirmed by reading", old_hash)
                return MemberResult(
                    email_address=new, outcome=MemberOutcome.ADDRESS_CHANGED, status=moved.status
                )
        _log.info(
            "address change of member %s refused: %s %s%s",
            old_hash,
            error.status,
            error.category,
            " (fallback)" if result.fallback else "",
        )
        return result

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
        return self._many(
            list_id,
            changes,
            instance_of(AddressChange, "changes"),
            lambda lid, c: self.change_address(
                lid, c.old_email_address, c.email_address, c.merge_fields
            ),
        )
