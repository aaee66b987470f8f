"""The fake's route table: every operation it serves, with the query parameters it honours.

:data:`ROUTES` is the one place that says what the fake serves; the server dispatches through
it, ``scripts/fake_coverage.py`` prints the served / not served table of
``docs/reference/testing.md`` from it, and ``/batches`` operations run through it too.
A spec parameter of a served operation that a route does not honour is refused with a 400,
never accepted and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Final

import attrs

from . import _segments as segs
from . import _writes as writes
from ._audience import FakeAudience, Member, MergeField, subscriber_hash
from ._problems import bad_request, not_found
from ._query import MEMBER_FILTERS, filter_members, flag, moment, page, shape

if TYPE_CHECKING:
    from ._server import FakeMailchimp

__all__ = [
    "NO_BODY",
    "ROUTES",
    "Call",
    "Route",
    "match",
    "refuse_unhonoured",
    "shaped",
    "spec_template",
]

#: A handler's answer for "204, no body".
NO_BODY: Final = object()
_FIELDS: Final = frozenset({"fields", "exclude_fields"})
_PAGED: Final = _FIELDS | {"count", "offset"}
_INCLUDE: Final = frozenset({"include_cleaned", "include_transactional", "include_unsubscribed"})


@attrs.define
class Call:
    """One request as a handler sees it (the fake's lock held)."""

    fake: FakeMailchimp
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    request_id: str

    @property
    def audience(self) -> FakeAudience:
        """The audience of ``{list_id}``, or a 404."""
        audience = self.fake._audiences.get(self.params["list_id"])  # noqa: SLF001 - the fake's own
        if audience is None:
            raise not_found()
        return audience

    @property
    def member(self) -> Member:
        """The member of ``{subscriber_hash}`` (a hash or an address), or a 404."""
        member = self.audience.find(self.params["subscriber_hash"])
        if member is None:
            raise not_found()
        return member

    def skip_merge_validation(self) -> bool:
        """The ``skip_merge_validation`` flag."""
        return flag(self.query, "skip_merge_validation")

    def include(self) -> dict[str, bool]:
        """The ``include_cleaned``/``_transactional``/``_unsubscribed`` flags, by status."""
        return {name.removeprefix("include_"): flag(self.query, name) for name in _INCLUDE}


Handler = Callable[[Call], Any]


@attrs.frozen
class Route:
    """One served operation: method, the spec's path template, handler, honoured parameters."""

    method: str
    template: str
    handler: Handler
    honoured: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        """``"METHOD /template"``, as in the spec and ``request_schemas*.json``."""
        return f"{self.method} {self.template}"


def _collection(call: Call, name: str, items: list[Any], path: str, **extra: Any) -> dict[str, Any]:
    document: dict[str, Any] = {name: list(page(items, call.query)), **extra}
    document["total_items"] = len(items)
    document["_links"] = (
        call.audience.links(path, ("self", "GET")) if "list_id" in call.params else []
    )
    return document


# --- account, ping, lists ------------------------------------------------------------------------


def _root(call: Call) -> Any:
    return {
        "account_id": "0123456789abcdef01234567",
        "login_id": "1000001",
        "account_name": "Fake Mailchimp",
        "email": "owner@example.com",
        "first_name": "Fake",
        "last_name": "Owner",
        "username": "fake-owner",
        "avatar_url": "",
        "role": "owner",
        "member_since": "2020-01-01T00:00:00+00:00",
        "pricing_plan_type": "monthly",
        "first_payment": "",
        "account_timezone": "UTC",
        "account_industry": "",
        "contact": {
            "company": "Fake",
            "addr1": "",
            "addr2": "",
            "city": "",
            "state": "",
            "zip": "",
            "country": "NL",
        },
        "pro_enabled": False,
        "last_login": "",
        "total_subscribers": sum(
            a.list_json()["stats"]["member_count"]
            for a in call.fake._audiences.values()  # noqa: SLF001
        ),
        "industry_stats": {"open_rate": 0, "bounce_rate": 0, "click_rate": 0},
        "_links": [],
    }


def _ping(_call: Call) -> Any:
    return {"health_status": "Everything's Chimpy!"}


def _lists(call: Call) -> Any:
    query = call.query
    audiences = list(call.fake._audiences.values())  # noqa: SLF001 - the fake's own
    if "email" in query:
        key = subscriber_hash(query["email"])
        audiences = [a for a in audiences if a.by_key(key) is not None]
    since, before = moment(query, "since_date_created"), moment(query, "before_date_created")
    if since is not None:
        audiences = [a for a in audiences if a.created_at > since]
    if before is not None:
        audiences = [a for a in audiences if a.created_at < before]
    if query.get("has_ecommerce_store", "false").lower() == "true":
        audiences = []  # the fake has no e-commerce stores
    if "sort_field" in query:
        audiences.sort(key=lambda a: a.created_at, reverse=query.get("sort_dir") == "DESC")
    total = flag(query, "include_total_contacts")
    documents = [a.list_json(total_contacts=total) for a in audiences]
    count = len(call.fake._audiences)  # noqa: SLF001
    return {
        "lists": list(page(documents, query)),
        "total_items": len(documents),
        "constraints": {
            "may_create": False,
            "max_instances": count,
            "current_total_instances": count,
        },
        "_links": [],
    }


def _list(call: Call) -> Any:
    return call.audience.list_json(total_contacts=flag(call.query, "include_total_contacts"))


def _batch_subscribe(call: Call) -> Any:
    return writes.batch_subscribe(
        call.audience,
        call.body,
        skip_merge_validation=call.skip_merge_validation(),
        skip_duplicate_check=flag(call.query, "skip_duplicate_check"),
    )


# --- members -------------------------------------------------------------------------------------


def _members(call: Call) -> Any:
    audience = call.audience
    chosen = filter_members(audience.listing(call.query.get("status")), call.query)
    links = "fields" not in call.query or "_links" in call.query["fields"]
    return {
        "members": [audience.member_json(m, links=links) for m in page(chosen, call.query)],
        "list_id": audience.list_id,
        "total_items": len(chosen),
        "_links": audience.links(f"/lists/{audience.list_id}/members", ("self", "GET")),
    }


def _create_member(call: Call) -> Any:
    return writes.create_member(
        call.audience, call.body, skip_merge_validation=call.skip_merge_validation()
    )


def _member(call: Call) -> Any:
    return call.audience.member_json(call.member)


def _put_member(call: Call) -> Any:
    return writes.put_member(
        call.audience,
        call.params["subscriber_hash"],
        call.body,
        skip_merge_validation=call.skip_merge_validation(),
    )


def _patch_member(call: Call) -> Any:
    return writes.patch_member(
        call.audience, call.member, call.body, skip_merge_validation=call.skip_merge_validation()
    )


def _archive(call: Call) -> Any:
    writes.archive_member(call.audience, call.member)
    return NO_BODY


def _delete_permanently(call: Call) -> Any:
    writes.delete_member_permanently(call.audience, call.member)
    return NO_BODY


def _member_tags(call: Call) -> Any:
    page((), call.query)  # bounds
    count, offset = int(call.query.get("count", 10)), int(call.query.get("offset", 0))
    return writes.tags_json(call.audience, call.member, count, offset)


def _set_tags(call: Call) -> Any:
    writes.set_member_tags(call.audience, call.member, call.body["tags"])
    return NO_BODY


# --- merge fields, tags and segments -------------------------------------------------------------


def _merge_fields(call: Call) -> Any:
    audience = call.audience
    fields = audience.merge_fields_defined()
    if "type" in call.query:
        fields = [f for f in fields if f.type == call.query["type"]]
    if "required" in call.query:
        fields = [f for f in fields if f.required is flag(call.query, "required")]
    return _collection(
        call,
        "merge_fields",
        [audience.merge_field_json(f) for f in fields],
        f"/lists/{audience.list_id}/merge-fields",
        list_id=audience.list_id,
    )


def _merge_field(call: Call) -> Any:
    for field in call.audience.merge_fields_defined():
        if str(field.merge_id) == call.params["merge_id"]:
            return call.audience.merge_field_json(field)
    raise not_found()


def _add_merge_field(call: Call) -> Any:
    body = call.body
    tag = body.get("tag") or re.sub(r"[^A-Z0-9]", "", body["name"].upper())[:10] or "MERGE"
    field = MergeField(
        tag,
        type=body["type"],
        required=bool(body.get("required", False)),
        name=body["name"],
        default_value=body.get("default_value", ""),
        public=bool(body.get("public", True)),
        options=body.get("options") or {},
        help_text=body.get("help_text", ""),
    )
    return call.audience.merge_field_json(call.audience.define_merge_field(field))


def _tag_search(call: Call) -> Any:
    return segs.tag_search(call.audience, call.query.get("name"))


def _created_filter(call: Call, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    times = call.audience.tag_times
    for name, index, later in (
        ("since_created_at", 0, True),
        ("before_created_at", 0, False),
        ("since_updated_at", 1, True),
        ("before_updated_at", 1, False),
    ):
        bound = moment(call.query, name)
        if bound is not None:
            documents = [
                d
                for d in documents
                if (times[d["id"]][index] > bound) is later and times[d["id"]][index] != bound
            ]
    return documents


def _segments(call: Call) -> Any:
    audience = call.audience
    documents = segs.segments(audience, call.query.get("type"), call.include())
    return _collection(
        call,
        "segments",
        _created_filter(call, documents),
        f"/lists/{audience.list_id}/segments",
        list_id=audience.list_id,
    )


def _segment(call: Call) -> Any:
    name = segs.segment_name(call.audience, call.params["segment_id"])
    return segs.segment_json(call.audience, name, call.include())


def _segment_members(call: Call) -> Any:
    audience = call.audience
    chosen = segs.segment_members(audience, call.params["segment_id"], call.include())
    return _collection(
        call,
        "members",
        [audience.member_json(m) for m in chosen],
        f"/lists/{audience.list_id}/segments/{call.params['segment_id']}/members",
    )


def _delete_segment(call: Call) -> Any:
    segs.delete_segment(call.audience, call.params["segment_id"])
    return NO_BODY


def _remove_segment_member(call: Call) -> Any:
    segs.remove_segment_member(
        call.audience, call.params["segment_id"], call.params["subscriber_hash"]
    )
    return NO_BODY


# --- batches -------------------------------------------------------------------------------------


def _batches(call: Call) -> Any:
    documents = call.fake.batches.documents()
    return {
        "batches": list(page(documents, call.query)),
        "total_items": len(documents),
        "_links": [],
    }


def _delete_batch(call: Call) -> Any:
    call.fake.batches.delete(call.params["batch_id"])
    return NO_BODY


def _r(method: str, template: str, handler: Handler, *honoured: frozenset[str] | str) -> Route:
    names: set[str] = set()
    for item in honoured:
        names |= {item} if isinstance(item, str) else set(item)
    return Route(method, template, handler, frozenset(names))


_L: Final = "/lists/{list_id}"
_M: Final = _L + "/members/{subscriber_hash}"
_S: Final = _L + "/segments/{segment_id}"

#: Every operation the fake serves, in the spec's path templates.
ROUTES: Final[tuple[Route, ...]] = (
    _r("GET", "/", _root, _FIELDS),
    _r("GET", "/ping", _ping),
    _r(
        "GET",
        "/lists",
        _lists,
        _PAGED,
        "email",
        "sort_field",
        "sort_dir",
        "has_ecommerce_store",
        "include_total_contacts",
        "since_date_created",
        "before_date_created",
    ),
    _r("GET", _L, _list, _FIELDS, "include_total_contacts"),
    _r("POST", _L, _batch_subscribe, "skip_merge_validation", "skip_duplicate_check"),
    _r("GET", _L + "/members", _members, _PAGED, MEMBER_FILTERS),
    _r("POST", _L + "/members", _create_member, "skip_merge_validation"),
    _r("GET", _M, _member, _FIELDS),
    _r("PUT", _M, _put_member, "skip_merge_validation"),
    _r("PATCH", _M, _patch_member, "skip_merge_validation"),
    _r("DELETE", _M, _archive),
    _r("GET", _M + "/tags", _member_tags, _PAGED),
    _r("POST", _M + "/tags", _set_tags),
    _r("POST", _M + "/actions/delete-permanent", _delete_permanently),
    _r("GET", _L + "/merge-fields", _merge_fields, _PAGED, "type", "required"),
    _r("POST", _L + "/merge-fields", _add_merge_field),
    _r("GET", _L + "/merge-fields/{merge_id}", _merge_field, _FIELDS),
    _r("GET", _L + "/tag-search", _tag_search, "name"),
    _r(
        "GET",
        _L + "/segments",
        _segments,
        _PAGED,
        "type",
        _INCLUDE,
        "since_created_at",
        "before_created_at",
        "since_updated_at",
        "before_updated_at",
    ),
    _r("POST", _L + "/segments", lambda c: segs.create_segment(c.audience, c.body)),
    _r("GET", _S, _segment, _FIELDS, _INCLUDE),
    _r("PATCH", _S, lambda c: segs.update_segment(c.audience, c.params["segment_id"], c.body)),
    _r("DELETE", _S, _delete_segment),
    _r("POST", _S, lambda c: segs.change_segment(c.audience, c.params["segment_id"], c.body)),
    _r("GET", _S + "/members", _segment_members, _PAGED, _INCLUDE),
    _r(
        "POST",
        _S + "/members",
        lambda c: segs.add_segment_member(
            c.audience, c.params["segment_id"], c.body["email_address"]
        ),
    ),
    _r("DELETE", _S + "/members/{subscriber_hash}", _remove_segment_member),
    _r("POST", "/batches", lambda c: c.fake.batches.submit(c.body)),
    _r("GET", "/batches", _batches, _PAGED),
    _r(
        "GET",
        "/batches/{batch_id}",
        lambda c: c.fake.batches.document(c.params["batch_id"]),
        _FIELDS,
    ),
    _r("DELETE", "/batches/{batch_id}", _delete_batch),
)


def _pattern(template: str) -> re.Pattern[str]:
    parts = [
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part)
        for part in template.strip("/").split("/")
    ]
    return re.compile("^/" + "/".join(parts) + "$") if parts != [""] else re.compile("^/?$")


_BY_TEMPLATE: Final[dict[str, dict[str, Route]]] = {}
for _route in ROUTES:
    _BY_TEMPLATE.setdefault(_route.template, {})[_route.method] = _route
_PATTERNS: Final = sorted(
    ((template, _pattern(template)) for template in _BY_TEMPLATE),
    key=lambda item: -sum(not p.startswith("{") for p in item[0].split("/")),
)


def match(path: str) -> tuple[str, dict[str, str], Mapping[str, Route]] | None:
    """The served template a path (after ``/3.0``) matches, its parameters and its routes."""
    for template, pattern in _PATTERNS:
        found = pattern.match(path)
        if found:
            return template, found.groupdict(), _BY_TEMPLATE[template]
    return None


@cache
def _spec_patterns(paths: tuple[str, ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((template, _pattern(template)) for template in paths)


def spec_template(path: str, paths: Iterable[str]) -> str | None:
    """The spec's template a path (after ``/3.0``) matches, served or not, or ``None``."""
    for template, pattern in _spec_patterns(tuple(paths)):
        if pattern.match(path):
            return template
    return None


def refuse_unhonoured(
    route: Route, query: Mapping[str, str], documented: Mapping[str, Any]
) -> None:
    """Refuse, with a 400, a documented parameter this route does not honour."""
    unhonoured = sorted(name for name in query if name in documented and name not in route.honoured)
    if unhonoured:
        raise bad_request(
            f"The fake Mailchimp does not implement {', '.join(unhonoured)} on {route.key}; "
            "it refuses the request rather than ignore it.",
            [(name, "Not implemented by the fake") for name in unhonoured],
        )


def shaped(route: Route, document: Any, call: Call) -> Any:
    """Apply ``fields``/``exclude_fields`` to an answer (members checked against a sample)."""
    if not (_FIELDS & call.query.keys()):
        return document
    samples: dict[str, Any] = {}
    if route.template.endswith("/members") and "list_id" in call.params:
        sample = Member("sample@example.com", "0" * 32, "subscribed", 0, 0.0)
        samples["members"] = call.audience.member_json(sample)
    return shape(document, call.query, samples)
