"""The fake's audiences: members in memory, with Mailchimp's rules as MAILCHIMP.md documents them.

Rules kept (section numbers of MAILCHIMP.md):

- A member's key is the MD5 of the lower-cased address (§2.1); paths that accept an address
  accept it too (member GET, PATCH, DELETE, tags GET).
- Batch subscribe (§5.1): ``status_if_new`` applies only to new members; ``status`` overwrites,
  except that a member who is ``unsubscribed`` or ``cleaned`` cannot be made ``subscribed`` or
  ``pending`` ("Member In Compliance State", §8); an ``archived`` member comes back only when
  ``status`` is sent (§4); tags are added (``sync_tags: false``) or replace all tags
  (``sync_tags: true``); without ``update_existing`` an existing member is
  ``ERROR_CONTACT_EXISTS``. Per-address errors use ``ERROR_GENERIC`` otherwise.
- A permanently deleted address cannot come back: "Forgotten Email Not Subscribed" (§4).
- Addresses that look fake or invalid are refused (see :func:`looks_fake`).
- Text merge fields are cut to 255 UTF-8 bytes (§7); a required merge field left empty, an
  unknown merge tag, or an object for a text field is "Your merge fields were invalid."
- Member responses carry at most 50 tags, with ``tags_count`` (§2.5).
- An address change (PATCH with ``email_address``) is allowed for ``subscribed`` members only,
  and not to an address already in the audience or permanently deleted (§2.3).
- DELETE archives; a DELETE of a member that is already archived, or absent, is a 404.
  ``delete-permanent`` removes the member and remembers the address as forgotten (§4).
- An unfiltered member list leaves out ``archived`` members; ``status=archived`` lists them
  (the spec offers the filter; whether the unfiltered list holds them is not documented, §2.4:
  the fake takes the stricter reading, so a client must ask for them).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

__all__ = [
    "FAKE_LOCAL_PARTS",
    "RESERVED_TOP_LEVEL_DOMAINS",
    "FakeAudience",
    "FakeMember",
    "Problem",
    "looks_fake",
    "subscriber_hash",
]

#: Local parts (before ``@``, any case) the fake refuses as "looks fake or invalid".
FAKE_LOCAL_PARTS: Final = frozenset({"test", "fake", "invalid"})
#: Top-level domains reserved by RFC 2606/6761 that the fake refuses. ``example.com`` and
#: ``example.nl`` are ordinary domains here and are accepted.
RESERVED_TOP_LEVEL_DOMAINS: Final = frozenset({"invalid", "test", "example", "localhost"})
#: Mailchimp keeps this many UTF-8 bytes of a text merge field (MAILCHIMP.md §7).
TEXT_MAX_BYTES: Final = 255
#: Member responses carry at most this many tags (MAILCHIMP.md §2.5).
TAGS_IN_MEMBER: Final = 50
STATUSES: Final = frozenset(
    {"subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"}
)
_WHITESPACE: Final = re.compile(r"\s")
_NO_RESUBSCRIBE: Final = frozenset({"unsubscribed", "cleaned"})
_SUBSCRIBING: Final = frozenset({"subscribed", "pending"})


def subscriber_hash(email_address: str) -> str:
    """MD5 (hex) of the lower-cased address: Mailchimp's key of a member (MAILCHIMP.md §2.1)."""
    return hashlib.md5(email_address.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def looks_fake(email_address: str) -> bool:
    """The fake's deterministic rule for "… looks fake or invalid" (MAILCHIMP.md §6.2).

    An address is refused when it is not of the form ``local@domain.tld`` (one ``@``, no
    whitespace, an ASCII local part, a domain of at least two non-empty labels), when its local
    part is ``test``, ``fake`` or ``invalid`` (any case), or when its top-level domain is one
    reserved for tests (``.invalid``, ``.test``, ``.example``, ``.localhost``).
    Ordinary addresses under ``example.com`` and ``example.nl`` are accepted.

    Args:
        email_address: The address.

    Returns:
        ``True`` when the fake refuses the address.
    """
    local, at, domain = email_address.rpartition("@")
    if not at or not local or "@" in local or not local.isascii():
        return True
    if _WHITESPACE.search(email_address):
        return True
    labels = domain.lower().split(".")
    if len(labels) < 2 or not all(labels):  # noqa: PLR2004 - name and top-level domain
        return True
    return local.lower() in FAKE_LOCAL_PARTS or labels[-1] in RESERVED_TOP_LEVEL_DOMAINS


class Problem(Exception):  # noqa: N818 - named after the problem document it becomes
    """An error answer of the fake: becomes an ``application/problem+json`` document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: Iterable[tuple[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = tuple(errors)
        self.headers = dict(headers or {})


def not_found() -> Problem:
    """Mailchimp's 404 (MAILCHIMP.md §6.2)."""
    return Problem(404, "Resource Not Found", "The requested resource could not be found.")


def _compliance(address: str) -> str:
    return (
        f"{address} is in a compliance state due to unsubscribe, bounce, or compliance review "
        "and cannot be subscribed."
    )


@attrs.define
class _Batch:
    """One batch-subscribe call's options and answers."""

    now: str
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


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def _cut(text: str) -> str:
    if len(text) * 4 <= TEXT_MAX_BYTES:
        return text
    encoded = text.encode("utf-8")
    if len(encoded) <= TEXT_MAX_BYTES:
        return text
    return encoded[:TEXT_MAX_BYTES].decode("utf-8", errors="ignore")


@attrs.frozen(kw_only=True)
class FakeMember:
    """A snapshot of one member of a fake audience, for assertions."""

    email_address: str
    status: str
    merge_fields: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    tags: frozenset[str] = frozenset()

    @property
    def first_name(self) -> str:
        """Merge field ``FNAME``."""
        return str(self.merge_fields.get("FNAME", ""))

    @property
    def last_name(self) -> str:
        """Merge field ``LNAME``."""
        return str(self.merge_fields.get("LNAME", ""))


class _Member:
    """A member as the fake holds it (mutable, under the fake's lock)."""

    __slots__ = (
        "contact_id",
        "email_address",
        "id",
        "last_changed",
        "merge_fields",
        "status",
        "tags",
        "timestamp_opt",
        "unique_email_id",
        "web_id",
    )

    def __init__(self, email_address: str, key: str, status: str, web_id: int, now: str) -> None:
        self.email_address = email_address
        self.id = key
        self.status = status
        self.merge_fields: dict[str, Any] = {}
        #: tag name → date added, in the order added.
        self.tags: dict[str, str] = {}
        lowered = email_address.lower().encode("utf-8")
        self.unique_email_id = hashlib.md5(b"u" + lowered, usedforsecurity=False).hexdigest()[:10]
        self.contact_id = hashlib.md5(b"c" + lowered, usedforsecurity=False).hexdigest()
        self.web_id = web_id
        self.timestamp_opt = now if status == "subscribed" else ""
        self.last_changed = now

    def snapshot(self) -> FakeMember:
        return FakeMember(
            email_address=self.email_address,
            status=self.status,
            merge_fields=dict(self.merge_fields),
            tags=frozenset(self.tags),
        )


#: The member fields the fake does not track, as a new member has them.
_MEMBER_CONSTANTS: Final[dict[str, Any]] = {
    "email_type": "html",
    "consents_to_one_to_one_messaging": True,
    "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
    "ip_signup": "",
    "timestamp_signup": "",
    "ip_opt": "",
    "member_rating": 2,
    "language": "",
    "vip": False,
    "email_client": "",
    "source": "API - Generic",
}


@attrs.frozen
class _MergeField:
    tag: str
    type: str = "text"
    required: bool = False


class FakeAudience:
    """One audience of the fake, in memory.

    Tests use the methods under "looking" and "acting as a person" to look at it and to act
    as a person would in Mailchimp (unsubscribe, add a tag by hand, archive, permanently
    delete, clean). Those take the fake's lock, so they are safe while the server runs. The
    methods under "endpoints" are the server's: they expect the lock to be held.
    """

    def __init__(self, list_id: str, lock: Any, name: str = "AuditCase") -> None:
        self.list_id = list_id
        self.name = name
        self._lock = lock
        self._members: dict[str, _Member] = {}
        self._forgotten: set[str] = set()
        self._tag_ids: dict[str, int] = {}
        self._merge_fields: dict[str, _MergeField] = {
            "FNAME": _MergeField("FNAME"),
            "LNAME": _MergeField("LNAME"),
        }
        self._web_ids = itertools.count(100_000)
        self._version = 0
        self._listing: tuple[int, str | None, list[_Member]] | None = None

    def __repr__(self) -> str:
        """Show the id and the size."""
        return f"FakeAudience(list_id={self.list_id!r}, members={len(self._members)})"

    # --- looking ---------------------------------------------------------------------------

    def __len__(self) -> int:
        """Members of every status, archived included."""
        return len(self._members)

    def __contains__(self, email_address: object) -> bool:
        """Whether the address is a member (any status, archived included)."""
        return isinstance(email_address, str) and self.get(email_address) is not None

    def get(self, email_address: str) -> FakeMember | None:
        """The member with this address (any case), or ``None``."""
        with self._lock:
            member = self._members.get(subscriber_hash(email_address))
            return None if member is None else member.snapshot()

    def members(self, status: str | None = None) -> list[FakeMember]:
        """Every member (or those with ``status``), in the order they were added."""
        with self._lock:
            return [
                m.snapshot() for m in self._members.values() if status is None or m.status == status
            ]

    def statuses(self) -> dict[str, int]:
        """How many members have each status."""
        with self._lock:
            return dict(Counter(m.status for m in self._members.values()))

    def is_forgotten(self, email_address: str) -> bool:
        """Whether the address was permanently deleted."""
        with self._lock:
            return subscriber_hash(email_address) in self._forgotten

    # --- acting as a person in Mailchimp -----------------------------------------------------

    def add(
        self,
        email_address: str,
        *,
        status: str = "subscribed",
        first_name: str = "",
        last_name: str = "",
        merge_fields: Mapping[str, Any] | None = None,
        tags: Iterable[str] = (),
    ) -> FakeMember:
        """Put a member in the audience directly, as an import in Mailchimp's web app would.

        Raises:
            ValueError: The address is already a member, or the status is unknown.
        """
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            key = subscriber_hash(email_address)
            if key in self._members:
                raise ValueError("already a member")
            member = self._new_member(email_address, status, _now())
            member.merge_fields.update({"FNAME": first_name, "LNAME": last_name})
            member.merge_fields.update(merge_fields or {})
            for tag in tags:
                self._add_tag(member, tag, _now())
            return member.snapshot()

    def set_status(self, email_address: str, status: str) -> None:
        """Set a member's status directly (no compliance rule applies to the person)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            self._existing(email_address).status = status
            self._changed()

    def unsubscribe(self, email_address: str) -> None:
        """The person unsubscribes (MAILCHIMP.md §8)."""
        self.set_status(email_address, "unsubscribed")

    def clean(self, email_address: str) -> None:
        """The address bounces hard: status ``cleaned``."""
        self.set_status(email_address, "cleaned")

    def archive(self, email_address: str) -> None:
        """Archive the member by hand."""
        self.set_status(email_address, "archived")

    def delete_permanently(self, email_address: str) -> None:
        """Permanently delete the member: the address can never be re-imported (MAILCHIMP.md §4)."""
        with self._lock:
            key = subscriber_hash(email_address)
            if key not in self._members:
                raise KeyError("not a member")
            self._forget(key)

    def add_tag(self, email_address: str, name: str) -> None:
        """Add a tag by hand."""
        with self._lock:
            self._add_tag(self._existing(email_address), name, _now())
            self._changed()

    def remove_tag(self, email_address: str, name: str) -> None:
        """Remove a tag by hand."""
        with self._lock:
            self._existing(email_address).tags.pop(name, None)
            self._changed()

    def set_merge_field(self, email_address: str, tag: str, value: Any) -> None:
        """Change a merge field by hand."""
        with self._lock:
            self._existing(email_address).merge_fields[tag] = value
            self._changed()

    def add_merge_field(self, tag: str, *, required: bool = False) -> None:
        """Define a text merge field (``FNAME`` and ``LNAME`` exist), or make one required."""
        with self._lock:
            self._merge_fields[tag] = _MergeField(tag, required=required)

    # --- internals (the fake's lock held) ----------------------------------------------------

    def _changed(self) -> None:
        self._version += 1

    def _existing(self, email_address: str) -> _Member:
        member = self._members.get(subscriber_hash(email_address))
        if member is None:
            raise KeyError("not a member")
        return member

    def _new_member(self, email_address: str, status: str, now: str, key: str = "") -> _Member:
        key = key or subscriber_hash(email_address)
        member = _Member(email_address, key, status, next(self._web_ids), now)
        self._members[key] = member
        self._changed()
        return member

    def _forget(self, key: str) -> None:
        """Remove a member for good; its address can never come back (MAILCHIMP.md §4)."""
        del self._members[key]
        self._forgotten.add(key)
        self._changed()

    def _add_tag(self, member: _Member, name: str, now: str) -> None:
        if name not in self._tag_ids:
            self._tag_ids[name] = len(self._tag_ids) + 1
        member.tags.setdefault(name, now)

    def find(self, hash_or_email: str) -> _Member | None:
        """The member a path names: by subscriber hash or by address."""
        member = self._members.get(hash_or_email.lower())
        if member is None and "@" in hash_or_email:
            member = self._members.get(subscriber_hash(hash_or_email))
        return member

    def member_json(self, member: _Member) -> dict[str, Any]:
        """The member object of MAILCHIMP.md §2.5 (the fields the fake keeps)."""
        merge = dict.fromkeys(self._merge_fields, "")
        merge.update(member.merge_fields)
        document = _MEMBER_CONSTANTS.copy()
        document["id"] = member.id
        document["email_address"] = member.email_address
        document["unique_email_id"] = member.unique_email_id
        document["contact_id"] = member.contact_id
        document["full_name"] = f"{merge.get('FNAME', '')} {merge.get('LNAME', '')}".strip()
        document["web_id"] = member.web_id
        document["status"] = member.status
        document["merge_fields"] = merge
        document["timestamp_opt"] = member.timestamp_opt
        document["last_changed"] = member.last_changed
        document["tags_count"] = len(member.tags)
        ids = self._tag_ids
        document["tags"] = [
            {"id": ids[name], "name": name}
            for name in itertools.islice(member.tags, TAGS_IN_MEMBER)
        ]
        document["list_id"] = self.list_id
        return document

    def listing(self, status: str | None) -> list[_Member]:
        """Members for ``GET …/members``: unfiltered leaves out archived ones (see module docs)."""
        cached = self._listing
        if cached is not None and cached[0] == self._version and cached[1] == status:
            return cached[2]
        if status is None:
            chosen = [m for m in self._members.values() if m.status != "archived"]
        else:
            chosen = [m for m in self._members.values() if m.status == status]
        self._listing = (self._version, status, chosen)
        return chosen

    def list_json(self) -> dict[str, Any]:
        """The audience for ``GET /lists/{list_id}``."""
        counts = Counter(m.status for m in self._members.values())
        return {
            "id": self.list_id,
            "web_id": 1,
            "name": self.name,
            "stats": {
                "member_count": counts["subscribed"],
                "unsubscribe_count": counts["unsubscribed"],
                "cleaned_count": counts["cleaned"],
                "total_contacts": len(self._members),
            },
        }

    def _merge_problems(
        self, values: Mapping[str, Any], *, creating: bool, skip_validation: bool
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Check and normalise merge field values: text cut to 255 bytes (MAILCHIMP.md §7)."""
        checked: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for tag, value in values.items():
            definition = self._merge_fields.get(tag)
            if definition is None:
                problems.append((tag, "This merge field does not exist."))
                continue
            if isinstance(value, dict | list):
                problems.append((tag, "Data did not match any of the schemas described in anyOf."))
                continue
            text = (
                value
                if isinstance(value, str)
                else str(value).lower()
                if isinstance(value, bool)
                else str(value)
            )
            if definition.required and not skip_validation and not text.strip():
                problems.append((tag, "Please enter a value"))
                continue
            checked[tag] = _cut(text)
        if creating and not skip_validation:
            problems += [
                (tag, "Please enter a value")
                for tag, definition in self._merge_fields.items()
                if definition.required and tag not in values
            ]
        return checked, problems

    # --- endpoints (the fake's lock held) ----------------------------------------------------

    def batch_subscribe(
        self, body: Mapping[str, Any], *, skip_merge_validation: bool, skip_duplicate_check: bool
    ) -> dict[str, Any]:
        """``POST /lists/{list_id}``: per-address results (MAILCHIMP.md §5.1)."""
        batch = _Batch(
            now=_now(),
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
            self._subscribe_one(batch, item, key)
        return {
            "new_members": batch.new,
            "updated_members": batch.updated,
            "errors": batch.errors,
            "total_created": len(batch.new),
            "total_updated": len(batch.updated),
            "error_count": len(batch.errors),
        }

    def _refusal(self, address: str, key: str) -> str:
        """Why an address cannot be (re-)added at all, or ``""``."""
        if looks_fake(address):
            return f"{address} looks fake or invalid, please enter a real email address."
        if key in self._forgotten:
            return (
                f"{address} was permanently deleted and cannot be re-imported. "
                "The contact must re-subscribe to get back on the list."
            )
        return ""

    def _subscribe_one(self, batch: _Batch, item: Mapping[str, Any], key: str) -> None:
        address: str = item["email_address"]
        refusal = self._refusal(address, key)
        if refusal:
            batch.refuse(address, refusal)
            return
        member = self._members.get(key)
        status = item.get("status")
        merge, problems = self._merge_problems(
            item.get("merge_fields", {}),
            creating=member is None,
            skip_validation=batch.skip_merge_validation,
        )
        if problems:
            field, message = problems[0]
            batch.refuse(address, "Your merge fields were invalid.", field=field, message=message)
            return
        if member is None:
            member = self._new_member(address, status or item["status_if_new"], batch.now, key)
            member.merge_fields.update(merge)
            for tag in item.get("tags", ()):
                self._add_tag(member, tag, batch.now)
            batch.new.append(self.member_json(member))
            return
        self._update_one(batch, item, member, merge)

    def _update_one(
        self, batch: _Batch, item: Mapping[str, Any], member: _Member, merge: Mapping[str, Any]
    ) -> None:
        address: str = item["email_address"]
        status = item.get("status")
        if not batch.update_existing:
            batch.refuse(
                address,
                f"{address} is already a list member, do you want to update? please provide "
                "update_existing:true in the request body",
                code="ERROR_CONTACT_EXISTS",
            )
            return
        if status is not None and member.status in _NO_RESUBSCRIBE and status in _SUBSCRIBING:
            batch.refuse(address, _compliance(address))
            return
        if status is not None and status != member.status:
            member.status = status
            if status == "subscribed":
                member.timestamp_opt = batch.now
        member.merge_fields.update(merge)
        if batch.sync_tags:
            member.tags.clear()
        for tag in item.get("tags", ()):
            self._add_tag(member, tag, batch.now)
        member.last_changed = batch.now
        self._changed()
        batch.updated.append(self.member_json(member))

    def patch_member(
        self, member: _Member, body: Mapping[str, Any], *, skip_merge_validation: bool
    ) -> dict[str, Any]:
        """``PATCH …/members/{hash}``: partial update, address change (MAILCHIMP.md §2.3)."""
        now = _now()
        new_address = body.get("email_address")
        old_key = subscriber_hash(member.email_address)
        new_key = old_key if new_address is None else subscriber_hash(new_address)
        if new_address is not None and new_key != old_key:
            self._check_new_address(member, new_address, new_key)
        merge, problems = self._merge_problems(
            body.get("merge_fields", {}), creating=False, skip_validation=skip_merge_validation
        )
        if problems:
            raise Problem(400, "Invalid Resource", "Your merge fields were invalid.", problems)
        status = body.get("status")
        if status is not None and member.status in _NO_RESUBSCRIBE and status in _SUBSCRIBING:
            raise Problem(
                400,
                "Member In Compliance State",
                _compliance(member.email_address),
            )
        if new_address is not None:
            if new_key != old_key:
                del self._members[old_key]
                self._members[new_key] = member
            member.email_address = new_address
            member.id = new_key
        if status is not None:
            member.status = status
        member.merge_fields.update(merge)
        member.last_changed = now
        self._changed()
        return self.member_json(member)

    def _check_new_address(self, member: _Member, new_address: str, new_key: str) -> None:
        """Refuse an address change Mailchimp refuses (MAILCHIMP.md §2.3)."""
        if member.status != "subscribed":
            raise Problem(
                400,
                "Invalid Resource",
                f'This member\'s status is "{member.status}." You can only update email '
                'addresses for members with a status of "subscribed."',
            )
        if looks_fake(new_address):
            raise Problem(
                400,
                "Invalid Resource",
                f"{new_address} looks fake or invalid, please enter a real email address.",
            )
        if new_key in self._forgotten:
            raise Problem(
                400,
                "Forgotten Email Not Subscribed",
                f"{new_address} was permanently deleted and cannot be re-imported. "
                "The contact must re-subscribe to get back on the list.",
            )
        if new_key in self._members:
            raise Problem(
                400,
                "Member Exists",
                f"{new_address} is already a list member. Use PUT to insert or update "
                "list members.",
            )

    def archive_member(self, member: _Member) -> None:
        """``DELETE …/members/{hash}``: archive; an archived member is a 404 (module docs)."""
        if member.status == "archived":
            raise not_found()
        member.status = "archived"
        member.last_changed = _now()
        self._changed()

    def delete_member_permanently(self, member: _Member) -> None:
        """``POST …/actions/delete-permanent``."""
        self._forget(subscriber_hash(member.email_address))

    def set_member_tags(self, member: _Member, tags: Iterable[Mapping[str, Any]]) -> None:
        """``POST …/members/{hash}/tags``: each named tag active or inactive."""
        now = _now()
        tags = list(tags)
        for tag in tags:
            name = tag["name"]
            if not name.strip():
                raise Problem(
                    400,
                    "Invalid Resource",
                    "The resource submitted could not be validated. For field-specific "
                    "details, see the 'errors' array.",
                    [("tags.name", "Tag name cannot be blank")],
                )
        for tag in tags:
            if tag["status"] == "active":
                self._add_tag(member, tag["name"], now)
            else:
                member.tags.pop(tag["name"], None)
        member.last_changed = now
        self._changed()

    def tags_json(self, member: _Member, count: int, offset: int) -> dict[str, Any]:
        """``GET …/members/{hash}/tags``: a page of ``{id, name, date_added}``."""
        names = list(member.tags.items())[offset : offset + count]
        return {
            "tags": [
                {"id": self._tag_ids[name], "name": name, "date_added": added}
                for name, added in names
            ],
            "total_items": len(member.tags),
        }
