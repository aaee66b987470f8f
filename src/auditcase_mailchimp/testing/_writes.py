"""The fake's member writes: batch subscribe, PUT, POST, PATCH, DELETE, tags (the lock held).

The rules are listed in ``_audience.py``'s docstring; each function names the MAILCHIMP.md
section or the recorded exchanges (P/H lines) it follows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ._audience import FakeAudience, Member, subscriber_hash
from ._problems import (
    CANNOT_ARCHIVE,
    Problem,
    address_problem,
    bad_request,
    invalid_resource,
    member_exists,
)

__all__ = [
    "MAX_BATCH_MEMBERS",
    "archive_member",
    "batch_subscribe",
    "create_member",
    "delete_member_permanently",
    "patch_member",
    "put_member",
    "set_member_tags",
    "tags_json",
]

#: Batch subscribe takes at most this many members per call (MAILCHIMP.md §5.1, §7).
MAX_BATCH_MEMBERS: Final = 500
_SUBSCRIBING: Final = frozenset({"subscribed", "pending"})
#: Members a DELETE cannot archive: 405 (recordings P191, MAILCHIMP.md §4).
_NOT_ARCHIVABLE: Final = frozenset({"cleaned", "pending", "archived"})


def _compliance(address: str) -> str:
    return (
        f"{address} is in a compliance state due to unsubscribe, bounce, or compliance review "
        "and cannot be subscribed."
    )


def _forgotten(address: str) -> str:
    return (
        f"{address} was permanently deleted and cannot be re-imported. "
        "The contact must re-subscribe to get back on the list."
    )


def _in_compliance(member: Member, status: str | None) -> bool:
    """Whether ``status`` would subscribe one who cannot be (§8; admin unsubscribes can, P70)."""
    if status not in _SUBSCRIBING:
        return False
    if member.status == "cleaned":
        return True
    return member.status == "unsubscribed" and not member.admin_unsubscribed


def _set_status(member: Member, status: str, now: float, *, reopt: bool = True) -> None:
    if status == member.status:
        return
    if status == "subscribed" and (reopt or member.opted_at is None):
        member.opted_at = now
    member.admin_unsubscribed = status == "unsubscribed"
    member.status = status


def _apply_fields(
    audience: FakeAudience,
    member: Member,
    body: Mapping[str, Any],
    merge: Mapping[str, Any],
    now: float,
) -> None:
    """Keep every writable field the request sends (``vip``, ``language``, ``email_type``, …)."""
    member.merge_fields.update(merge)
    for name in ("email_type", "language", "vip"):
        if name in body and body[name] is not None:
            setattr(member, name, body[name])
    location = body.get("location")
    if isinstance(location, Mapping):
        member.location.update({k: location[k] for k in ("latitude", "longitude") if k in location})
    interests = body.get("interests")
    if isinstance(interests, Mapping):
        member.interests.update(interests)
    for permission in body.get("marketing_permissions") or ():
        pid = permission.get("marketing_permission_id")
        if pid in audience.marketing_permissions and "enabled" in permission:
            member.permissions[pid] = bool(permission["enabled"])
    for tag in body.get("tags") or ():
        audience.add_tag_to(member, tag, now)
    member.changed_at = now
    audience.changed()


def _checked_merge(
    audience: FakeAudience, body: Mapping[str, Any], *, creating: bool, skip: bool
) -> dict[str, Any]:
    merge, problems = audience.merge_problems(
        body.get("merge_fields") or {}, creating=creating, skip_validation=skip
    )
    if problems:
        raise Problem(400, "Invalid Resource", "Your merge fields were invalid.", problems)
    return merge


def _check_address(audience: FakeAudience, address: str) -> str:
    problem = address_problem(address)
    if problem:
        raise Problem(400, "Invalid Resource", problem)
    key = subscriber_hash(address)
    if audience.is_forgotten_key(key):
        raise Problem(400, "Forgotten Email Not Subscribed", _forgotten(address))
    return key


# --- batch subscribe ----------------------------------------------------------------------------


@attrs.define
class _Batch:
    """One batch-subscribe call's options and answers."""

    now: float
    update_existing: bool
    sync_tags: bool
    skip_merge_validation: bool
    new: list[dict[str, Any]] = attrs.field(factory=list)
    updated: list[dict[str, Any]] = attrs.field(factory=list)
    errors: list[dict[str, Any]] = attrs.field(factory=list)

    def refuse(
        self,
        address: str,
        error: str,
        *,
        code: str = "ERROR_GENERIC",
        field: str = "",
        message: str = "",
    ) -> None:
        self.errors.append(
            {
                "email_address": address,
                "error": error,
                "error_code": code,
                "field": field,
                "field_message": message,
            }
        )


def batch_subscribe(
    audience: FakeAudience,
    body: Mapping[str, Any],
    *,
    skip_merge_validation: bool,
    skip_duplicate_check: bool,
) -> dict[str, Any]:
    """``POST /lists/{list_id}``: at most 500 members, per-address results (MAILCHIMP.md §5.1)."""
    if len(body["members"]) > MAX_BATCH_MEMBERS:
        raise bad_request(
            f"A batch subscribe takes at most {MAX_BATCH_MEMBERS} members; "
            f"this one has {len(body['members'])}.",
            [("members", f"At most {MAX_BATCH_MEMBERS} items")],
        )
    batch = _Batch(
        now=time.time(),
        update_existing=bool(body.get("update_existing", False)),
        sync_tags=bool(body.get("sync_tags", False)),
        skip_merge_validation=skip_merge_validation,
    )
    seen: set[str] = set()
    for item in body["members"]:
        address: str = item["email_address"]
        key = subscriber_hash(address)
        if key in seen:
            if not skip_duplicate_check:
                batch.refuse(address, f"{address} is in this request more than once")
            continue
        seen.add(key)
        _subscribe_one(audience, batch, item, key)
    return {
        "new_members": batch.new,
        "updated_members": batch.updated,
        "errors": batch.errors,
        "total_created": len(batch.new),
        "total_updated": len(batch.updated),
        "error_count": len(batch.errors),
        "_links": audience.links(f"/lists/{audience.list_id}", ("parent", "GET")),
    }


def _subscribe_one(
    audience: FakeAudience, batch: _Batch, item: Mapping[str, Any], key: str
) -> None:
    address: str = item["email_address"]
    refusal = address_problem(address) or (
        _forgotten(address) if audience.is_forgotten_key(key) else ""
    )
    if refusal:
        batch.refuse(address, refusal)
        return
    member = audience.by_key(key)
    merge, problems = audience.merge_problems(
        item.get("merge_fields") or {},
        creating=member is None,
        skip_validation=batch.skip_merge_validation,
    )
    if problems:
        field, message = problems[0]
        batch.refuse(address, "Your merge fields were invalid.", field=field, message=message)
        return
    if member is None:
        member = audience.new_member(
            address, item.get("status") or item["status_if_new"], batch.now, key
        )
        _apply_fields(audience, member, item, merge, batch.now)
        batch.new.append(audience.member_json(member))
        return
    if not batch.update_existing:
        batch.refuse(
            address,
            f"{address} is already a list member, do you want to update? please provide "
            "update_existing:true in the request body",
            code="ERROR_CONTACT_EXISTS",
        )
        return
    status = item.get("status")
    if _in_compliance(member, status):
        batch.refuse(address, _compliance(address))
        return
    if status is not None:
        _set_status(member, status, batch.now)
    if batch.sync_tags:
        member.tags.clear()
    _apply_fields(audience, member, item, merge, batch.now)
    batch.updated.append(audience.member_json(member))


# --- single members -----------------------------------------------------------------------------


def put_member(
    audience: FakeAudience, path_key: str, body: Mapping[str, Any], *, skip_merge_validation: bool
) -> dict[str, Any]:
    """``PUT …/members/{hash}``: upsert, following the body's address (recordings P100 to P152).

    - without an address, the path's member is updated (P25); absent, that is a 400;
    - the path's member absent: the address's member is created (P407), an archived one comes
      back (P142), any other answers "Member Exists" (P152);
    - the path's member present: its address changes to a new one (P100), another member's
      address is "already in this list" (P109).
    """
    now = time.time()
    path_member = audience.find(path_key)
    address = body.get("email_address")
    if address is None:
        if path_member is None:
            raise invalid_resource([("", "Required fields were not provided: email_address")])
        return _update(audience, path_member, body, now, skip=skip_merge_validation, reopt=False)
    key = _check_address(audience, address)
    other = audience.by_key(key)
    if path_member is None:
        if other is None:
            status = body.get("status") or body.get("status_if_new")
            if status is None:
                raise invalid_resource([("", "Required fields were not provided: status_if_new")])
            merge = _checked_merge(audience, body, creating=True, skip=skip_merge_validation)
            member = audience.new_member(address, status, now, key)
            _apply_fields(audience, member, body, merge, now)
            return audience.member_json(member)
        if other.status != "archived":
            raise member_exists(address)
        return _update(audience, other, body, now, skip=skip_merge_validation, reopt=True)
    if other is not None and other is not path_member:
        raise invalid_resource(
            [
                (
                    "email address",
                    f'"{address}" is already in this list with a status of "subscribed".',
                )
            ]
        )
    if other is None:  # the address changes
        _check_renamable(path_member)
        audience.rekey(path_member, address, key)
    else:
        path_member.email_address = address
    return _update(audience, path_member, body, now, skip=skip_merge_validation, reopt=False)


def _update(
    audience: FakeAudience,
    member: Member,
    body: Mapping[str, Any],
    now: float,
    *,
    skip: bool,
    reopt: bool,
) -> dict[str, Any]:
    """An update of an existing member by PUT or POST: ``status`` applies, not ``status_if_new``."""
    merge = _checked_merge(audience, body, creating=False, skip=skip)
    status = body.get("status")
    if _in_compliance(member, status):
        raise Problem(400, "Member In Compliance State", _compliance(member.email_address))
    if status is not None:
        _set_status(member, status, now, reopt=reopt)
    _apply_fields(audience, member, body, merge, now)
    return audience.member_json(member)


def _check_renamable(member: Member) -> None:
    if member.status != "subscribed":
        raise Problem(
            400,
            "Invalid Resource",
            f'This member\'s status is "{member.status}." You can only update email '
            'addresses for members with a status of "subscribed."',
        )


def create_member(
    audience: FakeAudience, body: Mapping[str, Any], *, skip_merge_validation: bool
) -> dict[str, Any]:
    """``POST …/members``: create; an archived address comes back with 200 (P8), else exists."""
    now = time.time()
    address: str = body["email_address"]
    key = _check_address(audience, address)
    member = audience.by_key(key)
    if member is None:
        merge = _checked_merge(audience, body, creating=True, skip=skip_merge_validation)
        member = audience.new_member(address, body["status"], now, key)
        _apply_fields(audience, member, body, merge, now)
        return audience.member_json(member)
    if member.status != "archived":
        raise member_exists(address)
    return _update(audience, member, body, now, skip=skip_merge_validation, reopt=True)


def patch_member(
    audience: FakeAudience, member: Member, body: Mapping[str, Any], *, skip_merge_validation: bool
) -> dict[str, Any]:
    """``PATCH …/members/{hash}``: partial update, address change (MAILCHIMP.md §2.3)."""
    now = time.time()
    new_address = body.get("email_address")
    old_key = member.id
    new_key = old_key if new_address is None else subscriber_hash(new_address)
    if new_address is not None and new_key != old_key:
        _check_renamable(member)
        _check_address(audience, new_address)
        if audience.by_key(new_key) is not None:
            raise member_exists(new_address)
    merge = _checked_merge(audience, body, creating=False, skip=skip_merge_validation)
    status = body.get("status")
    if _in_compliance(member, status):
        raise Problem(400, "Member In Compliance State", _compliance(member.email_address))
    if new_address is not None:
        if new_key != old_key:
            audience.rekey(member, new_address, new_key)
        member.email_address = new_address
    if status is not None:
        _set_status(member, status, now)
    _apply_fields(audience, member, body, merge, now)
    return audience.member_json(member)


def archive_member(audience: FakeAudience, member: Member) -> None:
    """``DELETE …/members/{hash}``: archive; cleaned, pending or archived: 405 (P191, §4)."""
    if member.status in _NOT_ARCHIVABLE:
        raise Problem(405, "Method Not Allowed", CANNOT_ARCHIVE, headers={"Allow": "GET, PUT"})
    member.status = "archived"
    member.changed_at = time.time()
    audience.changed()


def delete_member_permanently(audience: FakeAudience, member: Member) -> None:
    """``POST …/actions/delete-permanent``: gone for good (MAILCHIMP.md §4)."""
    audience.forget(member.id)


def set_member_tags(
    audience: FakeAudience, member: Member, tags: Iterable[Mapping[str, Any]]
) -> None:
    """``POST …/members/{hash}/tags``: each named tag active or inactive; 204 (P9, P47)."""
    now = time.time()
    tags = list(tags)
    if any(not tag["name"].strip() for tag in tags):
        raise invalid_resource([("tags.name", "Tag name cannot be blank")])
    for tag in tags:
        if tag["status"] == "active":
            audience.add_tag_to(member, tag["name"], now)
        else:
            audience.untag(member, tag["name"], now)
    member.changed_at = now
    audience.changed()


def tags_json(audience: FakeAudience, member: Member, count: int, offset: int) -> dict[str, Any]:
    """``GET …/members/{hash}/tags``: a page of ``{id, name, date_added}``."""
    names = list(member.tags.items())[offset : offset + count]
    return {
        "tags": [
            {"id": audience.tag_ids[name], "name": name, "date_added": added}
            for name, added in names
        ],
        "total_items": len(member.tags),
        "_links": audience.links(
            f"/lists/{audience.list_id}/members/{member.id}/tags", ("self", "GET")
        ),
    }
