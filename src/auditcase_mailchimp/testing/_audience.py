"""The fake's audiences: members in memory, with Mailchimp's rules as MAILCHIMP.md documents them.

Rules kept here and in ``_writes.py`` / ``_segments.py`` (section numbers of MAILCHIMP.md;
P/H = lines of the recordings in ``mailchimp-recordings/``, which win where they disagree):

- A member's key is the MD5 of the lower-cased address (§2.1); paths that accept an address
  accept it too (member GET, PUT, PATCH, DELETE, tags GET).
- The member object carries every key the recordings show, in their order (P192), with
  ``unsubscribe_reason`` only for unsubscribed members (P64).
- Batch subscribe (§5.1): at most 500 members; ``status_if_new`` applies only to new members;
  ``status`` overwrites, except that a member who unsubscribed by themselves or is ``cleaned``
  cannot be made ``subscribed`` or ``pending`` ("Member In Compliance State", §8; a member
  unsubscribed through the API can, as recorded, P70); an ``archived`` member comes back only
  when ``status`` is sent (§4); without ``update_existing`` an existing member is
  ``ERROR_CONTACT_EXISTS``.
- PUT follows the body's address (P100 to P109, P141 to P152, P407); POST creates, brings an
  archived address back with 200 (P8) and answers "Member Exists" otherwise.
- DELETE archives (204); a ``cleaned``, ``pending`` or ``archived`` member answers 405 with
  ``Allow: GET, PUT`` (P191, §4); a GET of an archived member answers 200 ``archived`` (P117).
- A permanently deleted address cannot come back: "Forgotten Email Not Subscribed" (§4).
- Addresses without ``@`` are "Please provide a valid email address." (P167); others that look
  fake or invalid are refused (see :func:`looks_fake`, P169).
- Merge fields: text cut to 255 UTF-8 bytes (§7); number fields take numbers only ("Please
  enter a number", P77) and answer ``""`` when empty (P73); ``""`` clears (P79); unknown merge
  tags are ignored (P12, P25); a required field left empty is "Your merge fields were invalid."
- Member responses carry at most 50 tags, with ``tags_count`` (§2.5). Tags and static segments
  are one thing: a tag is a static segment with the same id (§3).
- An unfiltered member list leaves out ``archived`` members; ``status=archived`` lists them
  (the spec offers the filter; whether the unfiltered list holds them is not documented, §2.4:
  the fake takes the stricter reading, so a client must ask for them).
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from ._problems import FAKE_LOCAL_PARTS, RESERVED_TOP_LEVEL_DOMAINS, Problem, looks_fake, not_found

__all__ = [
    "FAKE_LOCAL_PARTS",
    "RESERVED_TOP_LEVEL_DOMAINS",
    "STATUSES",
    "FakeAudience",
    "FakeMember",
    "Member",
    "MergeField",
    "Problem",
    "format_time",
    "looks_fake",
    "not_found",
    "subscriber_hash",
]

#: Mailchimp keeps this many UTF-8 bytes of a text merge field (MAILCHIMP.md §7).
TEXT_MAX_BYTES: Final = 255
#: Member responses carry at most this many tags (MAILCHIMP.md §2.5).
TAGS_IN_MEMBER: Final = 50
STATUSES: Final = frozenset(
    {"subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"}
)
#: ``unsubscribe_reason`` of a member unsubscribed through the API (recordings P64).
ADMIN_UNSUBSCRIBE: Final = "N/A (Unsubscribed by admin)"
_MEMBER_LINK_RELS: Final = (
    ("self", "GET", ""),
    ("parent", "GET", "parent"),
    ("update", "PATCH", ""),
    ("upsert", "PUT", ""),
    ("delete", "DELETE", ""),
    ("activity", "GET", "/activity"),
    ("goals", "GET", "/goals"),
    ("notes", "GET", "/notes"),
    ("events", "POST", "/events"),
    ("delete_permanent", "POST", "/actions/delete-permanent"),
)


def subscriber_hash(email_address: str) -> str:
    """MD5 (hex) of the lower-cased address: Mailchimp's key of a member (MAILCHIMP.md §2.1)."""
    return hashlib.md5(email_address.lower().encode("utf-8"), usedforsecurity=False).hexdigest()


def format_time(moment: float | None) -> str:
    """A time as Mailchimp writes it (``2021-04-23T14:07:20+00:00``); ``""`` for none (P24)."""
    if moment is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(moment))


@attrs.frozen(kw_only=True)
class FakeMember:
    """A snapshot of one member of a fake audience, for assertions."""

    email_address: str
    status: str
    merge_fields: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    tags: frozenset[str] = frozenset()
    #: Writable fields kept as sent (``vip``, ``language``, ``email_type``, ``location``,
    #: ``interests``).
    vip: bool = False
    language: str = ""

    @property
    def first_name(self) -> str:
        """Merge field ``FNAME``."""
        return str(self.merge_fields.get("FNAME", ""))

    @property
    def last_name(self) -> str:
        """Merge field ``LNAME``."""
        return str(self.merge_fields.get("LNAME", ""))


class Member:
    """A member as the fake holds it (mutable, under the fake's lock)."""

    __slots__ = (
        "admin_unsubscribed",
        "changed_at",
        "contact_id",
        "email_address",
        "email_type",
        "id",
        "interests",
        "language",
        "location",
        "merge_fields",
        "opted_at",
        "permissions",
        "source",
        "status",
        "tags",
        "unique_email_id",
        "vip",
        "web_id",
    )

    def __init__(self, email_address: str, key: str, status: str, web_id: int, now: float) -> None:
        self.email_address = email_address
        self.id = key
        self.status = status
        self.merge_fields: dict[str, Any] = {}
        #: tag name → date added, in the order added.
        self.tags: dict[str, str] = {}
        self.unique_email_id = _unique_email_id(email_address)
        self.contact_id = hashlib.md5(
            b"c" + email_address.lower().encode("utf-8"), usedforsecurity=False
        ).hexdigest()
        self.web_id = web_id
        self.opted_at: float | None = now if status == "subscribed" else None
        self.changed_at = now
        self.email_type = "html"
        self.language = ""
        self.vip = False
        self.location: dict[str, Any] = {"latitude": 0, "longitude": 0}
        self.interests: dict[str, bool] = {}
        #: marketing permission id → enabled (GDPR audiences, recordings P237).
        self.permissions: dict[str, bool] = {}
        self.source = "API - Generic"
        self.admin_unsubscribed = False

    @property
    def last_changed(self) -> str:
        """``last_changed`` as Mailchimp writes it."""
        return format_time(self.changed_at)

    def rename(self, email_address: str, key: str) -> None:
        """Take a new address (its id and unique_email_id follow; web_id and tags stay, P100)."""
        self.email_address = email_address
        self.id = key
        self.unique_email_id = _unique_email_id(email_address)

    def snapshot(self) -> FakeMember:
        """The member as a frozen :class:`FakeMember`."""
        return FakeMember(
            email_address=self.email_address,
            status=self.status,
            merge_fields=dict(self.merge_fields),
            tags=frozenset(self.tags),
            vip=self.vip,
            language=self.language,
        )


def _unique_email_id(email_address: str) -> str:
    lowered = email_address.lower().encode("utf-8")
    return hashlib.md5(b"u" + lowered, usedforsecurity=False).hexdigest()[:10]


@attrs.frozen
class MergeField:
    """One merge field of an audience."""

    tag: str
    type: str = "text"
    required: bool = False
    name: str = ""
    merge_id: int = 0
    default_value: str = ""
    public: bool = True
    options: Mapping[str, Any] = attrs.field(factory=dict, hash=False)
    help_text: str = ""


class FakeAudience:
    """One audience of the fake, in memory.

    Tests use the methods under "looking" and "acting as a person" to look at it and to act
    as a person would in Mailchimp (unsubscribe, add a tag by hand, archive, permanently
    delete, clean). Those take the fake's lock, so they are safe while the server runs. The
    other methods are the server's: they expect the lock to be held.
    """

    def __init__(self, list_id: str, lock: Any, name: str = "AuditCase") -> None:
        self.list_id = list_id
        self.name = name
        #: The API address used in ``_links`` (set by the server when it starts).
        self.links_base = "https://us6.api.mailchimp.com/3.0"
        self.created_at = time.time()
        self._lock = lock
        self._members: dict[str, Member] = {}
        self._forgotten: set[str] = set()
        self._merge_fields: dict[str, MergeField] = {
            "FNAME": MergeField("FNAME", name="First Name", merge_id=1),
            "LNAME": MergeField("LNAME", name="Last Name", merge_id=2),
        }
        self._web_ids = itertools.count(100_000)
        #: The GDPR marketing permissions, text by id (none on an audience without GDPR).
        self.marketing_permissions: dict[str, str] = {}
        self._version = 0
        self._listing: tuple[int, str | None, list[Member]] | None = None
        #: The segment id of each tag, by name (tags and static segments are one thing, §3).
        self.tag_ids: dict[str, int] = {}
        #: Segment id → ``[created_at, updated_at]``.
        self.tag_times: dict[int, list[float]] = {}
        self._segment_ids = itertools.count(1)

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
            now = time.time()
            member = self.new_member(email_address, status, now)
            member.source = "Import"
            member.merge_fields.update({"FNAME": first_name, "LNAME": last_name})
            member.merge_fields.update(merge_fields or {})
            for tag in tags:
                self.add_tag_to(member, tag, now)
            return member.snapshot()

    def set_status(self, email_address: str, status: str) -> None:
        """Set a member's status directly (no compliance rule applies to the person)."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        with self._lock:
            member = self._existing(email_address)
            member.status = status
            member.admin_unsubscribed = False
            self.changed()

    def unsubscribe(self, email_address: str) -> None:
        """The person unsubscribes (MAILCHIMP.md §8): they cannot be subscribed by the API."""
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
            self.forget(key)

    def add_tag(self, email_address: str, name: str) -> None:
        """Add a tag by hand."""
        with self._lock:
            self.add_tag_to(self._existing(email_address), name, time.time())
            self.changed()

    def remove_tag(self, email_address: str, name: str) -> None:
        """Remove a tag by hand."""
        with self._lock:
            self.untag(self._existing(email_address), name, time.time())
            self.changed()

    def set_merge_field(self, email_address: str, tag: str, value: Any) -> None:
        """Change a merge field by hand."""
        with self._lock:
            self._existing(email_address).merge_fields[tag] = value
            self.changed()

    def set_marketing_permissions(self, permissions: Mapping[str, str]) -> None:
        """Make this a GDPR audience: members carry these permissions (id → text), off at first.

        Members then carry ``marketing_permissions`` after ``location``, as recorded (P237).
        """
        with self._lock:
            self.marketing_permissions = dict(permissions)
            self.changed()

    def add_merge_field(
        self,
        tag: str,
        *,
        required: bool = False,
        type: str = "text",  # noqa: A002 - Mailchimp's name
        name: str = "",
    ) -> None:
        """Define a merge field (``FNAME`` and ``LNAME`` exist), or make one required.

        Args:
            tag: The merge tag, e.g. ``PHONE``.
            required: Whether a value is required.
            type: ``text`` (cut to 255 bytes), ``number`` (numbers only) or another of
                Mailchimp's types (kept as text).
            name: The field's label; the tag when empty.
        """
        with self._lock:
            old = self._merge_fields.get(tag)
            merge_id = (
                old.merge_id if old else max(f.merge_id for f in self._merge_fields.values()) + 1
            )
            self._merge_fields[tag] = MergeField(
                tag,
                type=old.type if old and type == "text" else type,
                required=required,
                name=name or (old.name if old else tag),
                merge_id=merge_id,
            )

    # --- internals (the fake's lock held) ----------------------------------------------------

    def changed(self) -> None:
        """Note a change (the member listing is cached per version)."""
        self._version += 1

    def _existing(self, email_address: str) -> Member:
        member = self._members.get(subscriber_hash(email_address))
        if member is None:
            raise KeyError("not a member")
        return member

    def new_member(self, email_address: str, status: str, now: float, key: str = "") -> Member:
        """Create a member (the caller checked that the key is free)."""
        key = key or subscriber_hash(email_address)
        member = Member(email_address, key, status, next(self._web_ids), now)
        self._members[key] = member
        self.changed()
        return member

    def forget(self, key: str) -> None:
        """Remove a member for good; its address can never come back (MAILCHIMP.md §4)."""
        del self._members[key]
        self._forgotten.add(key)
        self.changed()

    def find(self, hash_or_email: str) -> Member | None:
        """The member a path names: by subscriber hash or by address."""
        member = self._members.get(hash_or_email.lower())
        if member is None and "@" in hash_or_email:
            member = self._members.get(subscriber_hash(hash_or_email))
        return member

    def add_tag_to(self, member: Member, name: str, now: float) -> None:
        """Tag a member, creating the tag (a static segment) when it is new."""
        segment = self.tag_id(name, now)
        if name not in member.tags:
            member.tags[name] = format_time(now)
            self.tag_times[segment][1] = now

    def tag_id(self, name: str, now: float) -> int:
        """The segment id of a tag, created when new."""
        segment = self.tag_ids.get(name)
        if segment is None:
            segment = self.tag_ids[name] = next(self._segment_ids)
            self.tag_times[segment] = [now, now]
        return segment

    def untag(self, member: Member, name: str, now: float) -> None:
        """Take a tag off a member."""
        if member.tags.pop(name, None) is not None:
            self.tag_times[self.tag_ids[name]][1] = now

    def rekey(self, member: Member, email_address: str, key: str) -> None:
        """Move a member to a new address (the old hash then 404s, recordings P106)."""
        del self._members[member.id]
        member.rename(email_address, key)
        self._members[key] = member
        self.changed()

    def by_key(self, key: str) -> Member | None:
        """The member with this subscriber hash."""
        return self._members.get(key)

    def is_forgotten_key(self, key: str) -> bool:
        """Whether this subscriber hash was permanently deleted."""
        return key in self._forgotten

    def all_members(self) -> list[Member]:
        """Every member, in the order added."""
        return list(self._members.values())

    def member_json(self, member: Member, *, links: bool = True) -> dict[str, Any]:
        """The member object of MAILCHIMP.md §2.5 with the keys and order the recordings show."""
        merge = dict.fromkeys(self._merge_fields, "")
        merge.update(member.merge_fields)
        document: dict[str, Any] = {
            "id": member.id,
            "email_address": member.email_address,
            "unique_email_id": member.unique_email_id,
            "contact_id": member.contact_id,
            "full_name": f"{merge.get('FNAME', '')} {merge.get('LNAME', '')}".strip(),
            "web_id": member.web_id,
            "email_type": member.email_type,
            "status": member.status,
        }
        if member.status == "unsubscribed":
            document["unsubscribe_reason"] = ADMIN_UNSUBSCRIBE if member.admin_unsubscribed else ""
        document["consents_to_one_to_one_messaging"] = True
        document["merge_fields"] = merge
        if member.interests:
            document["interests"] = dict(member.interests)
        document["stats"] = {"avg_open_rate": 0, "avg_click_rate": 0}
        document["ip_signup"] = ""
        document["timestamp_signup"] = ""
        document["ip_opt"] = ""
        document["timestamp_opt"] = format_time(member.opted_at)
        document["member_rating"] = 2
        document["last_changed"] = member.last_changed
        document["language"] = member.language
        document["vip"] = member.vip
        document["email_client"] = ""
        document["location"] = {
            "latitude": member.location.get("latitude", 0),
            "longitude": member.location.get("longitude", 0),
            "gmtoff": 0,
            "dstoff": 0,
            "country_code": "",
            "timezone": "",
        }
        if self.marketing_permissions:
            document["marketing_permissions"] = [
                {
                    "marketing_permission_id": pid,
                    "text": text,
                    "enabled": member.permissions.get(pid, False),
                }
                for pid, text in self.marketing_permissions.items()
            ]
        document["source"] = member.source
        document["tags_count"] = len(member.tags)
        ids = self.tag_ids
        document["tags"] = [
            {"id": ids[name], "name": name}
            for name in itertools.islice(member.tags, TAGS_IN_MEMBER)
        ]
        document["list_id"] = self.list_id
        if links:
            document["_links"] = self._member_links(member)
        return document

    def _member_links(self, member: Member) -> list[dict[str, str]]:
        collection = f"{self.links_base}/lists/{self.list_id}/members"
        own = f"{collection}/{member.id}"
        return [
            {
                "rel": rel,
                "href": collection if suffix == "parent" else own + suffix,
                "method": method,
            }
            for rel, method, suffix in _MEMBER_LINK_RELS
        ]

    def links(self, path: str, *rels: tuple[str, str]) -> list[dict[str, str]]:
        """``_links`` of a resource: ``(rel, method)`` pairs, all pointing at ``path``."""
        return [{"rel": rel, "href": self.links_base + path, "method": m} for rel, m in rels]

    def listing(self, status: str | None) -> list[Member]:
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

    def list_json(self, *, total_contacts: bool = False) -> dict[str, Any]:
        """The audience for ``GET /lists/{list_id}``, with the keys recorded (P194)."""
        counts = Counter(m.status for m in self._members.values())
        stats: dict[str, Any] = {
            "member_count": counts["subscribed"],
            "total_contacts": len(self._members),
            "unsubscribe_count": counts["unsubscribed"],
            "cleaned_count": counts["cleaned"],
            "member_count_since_send": counts["subscribed"],
            "unsubscribe_count_since_send": counts["unsubscribed"],
            "cleaned_count_since_send": counts["cleaned"],
            "campaign_count": 0,
            "campaign_last_sent": "",
            "merge_field_count": len(self._merge_fields),
            "avg_sub_rate": 0,
            "avg_unsub_rate": 0,
            "target_sub_rate": 0,
            "open_rate": 0,
            "click_rate": 0,
            "last_sub_date": "",
            "last_unsub_date": "",
        }
        if not total_contacts:
            del stats["total_contacts"]
        return {
            "id": self.list_id,
            "web_id": 1,
            "name": self.name,
            "permission_reminder": "You signed up on our website.",
            "use_archive_bar": True,
            "campaign_defaults": {
                "from_name": "AuditCase",
                "from_email": "news@example.com",
                "subject": "",
                "language": "en",
            },
            "notify_on_subscribe": "",
            "notify_on_unsubscribe": "",
            "date_created": format_time(self.created_at),
            "list_rating": 0,
            "email_type_option": False,
            "subscribe_url_short": "",
            "subscribe_url_long": "",
            "beamer_address": "",
            "visibility": "prv",
            "double_optin": False,
            "has_welcome": False,
            "marketing_permissions": bool(self.marketing_permissions),
            "modules": [],
            "stats": stats,
            "_links": self.links(
                f"/lists/{self.list_id}",
                ("self", "GET"),
                ("parent", "GET"),
                ("batch-sub-unsub-members", "POST"),
                ("members", "GET"),
                ("merge-fields", "GET"),
                ("segments", "GET"),
            ),
        }

    def merge_field_json(self, field: MergeField) -> dict[str, Any]:
        """One merge field as ``GET …/merge-fields`` answers it (recordings P3)."""
        return {
            "merge_id": field.merge_id,
            "tag": field.tag,
            "name": field.name or field.tag,
            "type": field.type,
            "required": field.required,
            "default_value": field.default_value,
            "public": field.public,
            "display_order": field.merge_id + 1,
            "options": dict(field.options),
            "help_text": field.help_text,
            "list_id": self.list_id,
            "_links": self.links(
                f"/lists/{self.list_id}/merge-fields/{field.merge_id}", ("self", "GET")
            ),
        }

    def merge_fields_defined(self) -> list[MergeField]:
        """The audience's merge fields, by id."""
        return sorted(self._merge_fields.values(), key=lambda f: f.merge_id)

    def define_merge_field(self, field: MergeField) -> MergeField:
        """``POST …/merge-fields``: a new field with the next id."""
        if field.tag in self._merge_fields:
            raise Problem(
                400, "Invalid Resource", f"A merge field with the tag {field.tag} already exists."
            )
        field = attrs.evolve(
            field, merge_id=max(f.merge_id for f in self._merge_fields.values()) + 1
        )
        self._merge_fields[field.tag] = field
        return field

    def merge_problems(
        self, values: Mapping[str, Any], *, creating: bool, skip_validation: bool
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Check and normalise merge field values (module docs: text, number, unknown tags)."""
        checked: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for tag, value in values.items():
            definition = self._merge_fields.get(tag)
            if definition is None:
                continue  # ignored, as recorded (P12, P25)
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
            if definition.type == "number":
                number = _number(value)
                if number is None:
                    problems.append((tag, "Please enter a number"))
                    continue
                checked[tag] = number
                continue
            checked[tag] = _cut(text)
        if creating and not skip_validation:
            problems += [
                (tag, "Please enter a value")
                for tag, definition in self._merge_fields.items()
                if definition.required and tag not in values
            ]
        return checked, problems


def _number(value: Any) -> Any:
    """A number merge field's value: the number, ``""`` when cleared, ``None`` when not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    if not text:
        return ""
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if number.is_integer() and "." not in text else number


def _cut(text: str) -> str:
    if len(text) * 4 <= TEXT_MAX_BYTES:
        return text
    encoded = text.encode("utf-8")
    if len(encoded) <= TEXT_MAX_BYTES:
        return text
    return encoded[:TEXT_MAX_BYTES].decode("utf-8", errors="ignore")
