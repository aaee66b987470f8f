"""Tags as static segments (MAILCHIMP.md §3): tag-search and the segment endpoints (lock held).

In Mailchimp "static segments are now known as tags": a tag and a static segment are one
thing, with one id. A tag added to a member (``POST …/members/{hash}/tags``, batch subscribe)
is a static segment here, and a member added to a static segment carries its tag. Saved
(condition-based) segments are not served: creating one is refused with a 400.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ._audience import FakeAudience, Member, format_time, subscriber_hash
from ._problems import Problem, bad_request, not_found

__all__ = [
    "MAX_SEGMENT_CHANGES",
    "add_segment_member",
    "change_segment",
    "create_segment",
    "delete_segment",
    "remove_segment_member",
    "segment_json",
    "segment_members",
    "segment_name",
    "segments",
    "tag_search",
    "update_segment",
]

#: ``members_to_add`` and ``members_to_remove`` take at most this many addresses each (§3).
MAX_SEGMENT_CHANGES: Final = 500
_DEFAULT_VISIBLE: Final = frozenset({"subscribed", "pending"})


def segment_name(audience: FakeAudience, segment_id: str) -> str:
    """The tag of a segment id in a path, or a 404."""
    for name, number in audience.tag_ids.items():
        if str(number) == segment_id:
            return name
    raise not_found()


def _visible(include: Mapping[str, bool]) -> frozenset[str]:
    extra = {status for status, wanted in include.items() if wanted}
    return _DEFAULT_VISIBLE | extra


def _tagged(audience: FakeAudience, name: str, statuses: Iterable[str]) -> list[Member]:
    wanted = frozenset(statuses)
    return [m for m in audience.all_members() if name in m.tags and m.status in wanted]


def segment_json(
    audience: FakeAudience, name: str, include: Mapping[str, bool] | None = None
) -> dict[str, Any]:
    """A static segment (a tag) as ``GET …/segments/{id}`` answers it."""
    number = audience.tag_ids[name]
    created, updated = audience.tag_times[number]
    return {
        "id": number,
        "name": name,
        "member_count": len(_tagged(audience, name, _visible(include or {}))),
        "type": "static",
        "created_at": format_time(created),
        "updated_at": format_time(updated),
        "list_id": audience.list_id,
        "_links": audience.links(
            f"/lists/{audience.list_id}/segments/{number}", ("self", "GET"), ("update", "PATCH")
        ),
    }


def segments(
    audience: FakeAudience, kind: str | None, include: Mapping[str, bool]
) -> list[dict[str, Any]]:
    """``GET …/segments``: every tag (static segment); ``type`` filters (none are saved)."""
    if kind not in {None, "static"}:
        return []
    return [segment_json(audience, name, include) for name in audience.tag_ids]


def tag_search(audience: FakeAudience, prefix: str | None) -> dict[str, Any]:
    """``GET …/tag-search``: tags whose name starts with ``name`` (any case), all without it."""
    lowered = (prefix or "").lower()
    found = [
        {"id": number, "name": name}
        for name, number in audience.tag_ids.items()
        if name.lower().startswith(lowered)
    ]
    return {"tags": found, "total_items": len(found)}


def _refuse_saved(body: Mapping[str, Any]) -> None:
    if "options" in body:
        raise bad_request(
            "The fake Mailchimp serves static segments (tags) only; "
            "saved segments with options are not implemented."
        )


def create_segment(audience: FakeAudience, body: Mapping[str, Any]) -> dict[str, Any]:
    """``POST …/segments`` with ``name`` and ``static_segment``: a tag on those members."""
    _refuse_saved(body)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise Problem(
            400,
            "Invalid Resource",
            "The resource submitted could not be validated. For field-specific details, see "
            "the 'errors' array.",
            [("name", "This value should not be blank.")],
        )
    if "static_segment" not in body:
        raise bad_request("Provide static_segment (a list of addresses) to create a tag.")
    if name in audience.tag_ids:
        raise bad_request(f"A tag named {name!r} exists already in this audience.")
    now = time.time()
    audience.tag_id(name, now)
    _set_members(audience, name, body["static_segment"], now)
    return segment_json(audience, name)


def _set_members(audience: FakeAudience, name: str, addresses: Iterable[str], now: float) -> None:
    """Make exactly these addresses (those on the audience; others are ignored) carry the tag."""
    keys = {subscriber_hash(a) for a in addresses}
    for member in audience.all_members():
        if member.id in keys:
            audience.add_tag_to(member, name, now)
        else:
            audience.untag(member, name, now)
    audience.changed()


def update_segment(
    audience: FakeAudience, segment_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """``PATCH …/segments/{id}``: rename, and with ``static_segment`` replace the members."""
    _refuse_saved(body)
    name = segment_name(audience, segment_id)
    now = time.time()
    new_name = body.get("name", name)
    if new_name != name:
        if new_name in audience.tag_ids:
            raise bad_request(f"A tag named {new_name!r} exists already in this audience.")
        number = audience.tag_ids.pop(name)
        audience.tag_ids[new_name] = number
        for member in audience.all_members():
            if name in member.tags:
                member.tags = {
                    (new_name if t == name else t): added for t, added in member.tags.items()
                }
        name = new_name
    if "static_segment" in body:
        _set_members(audience, name, body["static_segment"], now)
    audience.tag_times[audience.tag_ids[name]][1] = now
    audience.changed()
    return segment_json(audience, name)


def delete_segment(audience: FakeAudience, segment_id: str) -> None:
    """``DELETE …/segments/{id}``: the tag is gone from every member."""
    name = segment_name(audience, segment_id)
    now = time.time()
    for member in audience.all_members():
        audience.untag(member, name, now)
    number = audience.tag_ids.pop(name)
    del audience.tag_times[number]
    audience.changed()


def change_segment(
    audience: FakeAudience, segment_id: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """``POST …/segments/{id}``: ``members_to_add`` / ``members_to_remove``, 500 each (§3)."""
    name = segment_name(audience, segment_id)
    adding = list(body.get("members_to_add") or [])
    removing = list(body.get("members_to_remove") or [])
    too_many = [
        (field, f"At most {MAX_SEGMENT_CHANGES} items")
        for field, items in (("members_to_add", adding), ("members_to_remove", removing))
        if len(items) > MAX_SEGMENT_CHANGES
    ]
    if too_many:
        raise bad_request(
            f"members_to_add and members_to_remove take at most {MAX_SEGMENT_CHANGES} "
            "addresses each.",
            too_many,
        )
    now = time.time()
    added: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    missing: list[str] = []
    for address in adding:
        member = audience.by_key(subscriber_hash(address))
        if member is None:
            missing.append(address)
        elif name not in member.tags:
            audience.add_tag_to(member, name, now)
            added.append(audience.member_json(member))
    for address in removing:
        member = audience.by_key(subscriber_hash(address))
        if member is None:
            missing.append(address)
        elif name in member.tags:
            audience.untag(member, name, now)
            removed.append(audience.member_json(member))
    audience.changed()
    errors = (
        [{"email_addresses": missing, "error": "These addresses are not on the audience."}]
        if missing
        else []
    )
    return {
        "members_added": added,
        "members_removed": removed,
        "errors": errors,
        "total_added": len(added),
        "total_removed": len(removed),
        "error_count": len(missing),
        "_links": audience.links(
            f"/lists/{audience.list_id}/segments/{segment_id}", ("parent", "GET")
        ),
    }


def segment_members(
    audience: FakeAudience, segment_id: str, include: Mapping[str, bool]
) -> list[Member]:
    """``GET …/segments/{id}/members``: the tag's members (subscribed and pending by default)."""
    return _tagged(audience, segment_name(audience, segment_id), _visible(include))


def add_segment_member(
    audience: FakeAudience, segment_id: str, email_address: str
) -> dict[str, Any]:
    """``POST …/segments/{id}/members``: tag one member; 404 when not on the audience."""
    name = segment_name(audience, segment_id)
    member = audience.by_key(subscriber_hash(email_address))
    if member is None:
        raise not_found()
    audience.add_tag_to(member, name, time.time())
    audience.changed()
    return audience.member_json(member)


def remove_segment_member(audience: FakeAudience, segment_id: str, key: str) -> None:
    """``DELETE …/segments/{id}/members/{hash}``: untag one member; 404 when it has no tag."""
    name = segment_name(audience, segment_id)
    member = audience.find(key)
    if member is None or name not in member.tags:
        raise not_found()
    audience.untag(member, name, time.time())
    audience.changed()
