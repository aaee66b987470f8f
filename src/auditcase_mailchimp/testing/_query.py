"""Query parameters of the fake: paging, filters, sorting and ``fields``/``exclude_fields``.

Every documented parameter of a served operation is honoured or refused with a 400, never
accepted and ignored (issue 11). Booleans are accepted as ``true``/``false`` in any case, the
spellings both Python SDKs send (``True``/``False``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from ._audience import Member
from ._problems import Problem, bad_request

__all__ = [
    "MEMBER_FILTERS",
    "filter_members",
    "flag",
    "moment",
    "page",
    "shape",
]

#: The member-list parameters the fake honours besides paging and fields.
MEMBER_FILTERS: Final = frozenset(
    {
        "status",
        "email_type",
        "since_timestamp_opt",
        "before_timestamp_opt",
        "since_last_changed",
        "before_last_changed",
        "unique_email_id",
        "vip_only",
        "sort_field",
        "sort_dir",
    }
)


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean parameter (``true``/``True``; the schema check refused anything else)."""
    return query.get(name, "false").lower() == "true"


def page(items: Sequence[Any], query: Mapping[str, str], default: int = 10) -> Sequence[Any]:
    """The ``count``/``offset`` page of ``items`` (bounds checked by the spec's schema)."""
    count = int(query.get("count", default))
    offset = int(query.get("offset", 0))
    if count < 0 or offset < 0:
        raise bad_request(
            "count and offset must not be negative.",
            [
                (name, "Must not be negative")
                for name in ("count", "offset")
                if int(query.get(name, 0)) < 0
            ],
        )
    return items[offset : offset + count]


def moment(query: Mapping[str, str], name: str) -> float | None:
    """A time parameter (ISO 8601 with a zone) as a POSIX time; ``None`` when absent.

    Raises:
        Problem: 400 when it is not such a time.
    """
    text = query.get(name)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise bad_request(
            f"{name} must be an ISO 8601 time such as 2015-10-21T15:41:36+00:00.",
            [(name, "Not a valid ISO 8601 time")],
        ) from None
    if moment.tzinfo is None:
        raise bad_request(
            f"{name} needs a time zone, e.g. +00:00.", [(name, "Not a valid ISO 8601 time")]
        )
    return moment.timestamp()


def filter_members(  # noqa: C901 - one filter a line
    members: Sequence[Member], query: Mapping[str, str]
) -> Sequence[Member]:
    """Apply the member-list filters and sort (MAILCHIMP.md §2.4; recordings P35, P184)."""
    chosen: Sequence[Member] = members
    conditions: list[Callable[[Member], bool]] = []
    since_changed = moment(query, "since_last_changed")
    before_changed = moment(query, "before_last_changed")
    since_opt = moment(query, "since_timestamp_opt")
    before_opt = moment(query, "before_timestamp_opt")
    if since_changed is not None:
        conditions.append(lambda m: m.changed_at > since_changed)
    if before_changed is not None:
        conditions.append(lambda m: m.changed_at < before_changed)
    if since_opt is not None:
        conditions.append(lambda m: m.opted_at is not None and m.opted_at > since_opt)
    if before_opt is not None:
        conditions.append(lambda m: m.opted_at is not None and m.opted_at < before_opt)
    if "email_type" in query:
        conditions.append(lambda m: m.email_type == query["email_type"])
    if "unique_email_id" in query:
        conditions.append(lambda m: m.unique_email_id == query["unique_email_id"])
    if flag(query, "vip_only"):
        conditions.append(lambda m: m.vip)
    if conditions:
        chosen = [m for m in chosen if all(c(m) for c in conditions)]
    field = query.get("sort_field")
    descending = query.get("sort_dir") == "DESC"
    if field is not None:
        keys: dict[str, Callable[[Member], float]] = {
            "last_changed": lambda m: m.changed_at,
            "timestamp_opt": lambda m: m.opted_at or 0.0,
            "timestamp_signup": lambda _m: 0.0,  # the fake keeps no signup time: all ""
        }
        chosen = sorted(chosen, key=keys[field], reverse=descending)
    elif descending:
        chosen = list(reversed(chosen))
    return chosen


# --- fields and exclude_fields ------------------------------------------------------------------


def _field_tree(text: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in filter(None, (p.strip() for p in text.split(","))):
        node = tree
        for name in path.split("."):
            node = node.setdefault(name, {})
    return tree


def _select(document: Any, tree: Mapping[str, Any]) -> Any:
    """Keep only the dotted ``fields`` (a tree of names) of a document (MAILCHIMP.md §2.4)."""
    if isinstance(document, list):
        return [_select(item, tree) for item in document]
    if not isinstance(document, dict):
        return document
    return {
        name: _select(document[name], sub) if sub else document[name]
        for name, sub in tree.items()
        if name in document
    }


def _drop(document: Any, tree: Mapping[str, Any]) -> Any:
    """Leave out the dotted ``exclude_fields`` of a document."""
    if isinstance(document, list):
        return [_drop(item, tree) for item in document]
    if not isinstance(document, dict):
        return document
    return {
        name: _drop(value, tree[name]) if tree.get(name) else value
        for name, value in document.items()
        if name not in tree or tree[name]
    }


def _unknown(
    document: Any, tree: Mapping[str, Any], samples: Mapping[str, Any], prefix: str = ""
) -> list[str]:
    """The dotted names of ``tree`` that the document (or the sample of a list) does not have."""
    if isinstance(document, list):
        items = document or ([samples[prefix]] if prefix in samples else [])
        if not items:
            return []
        merged: dict[str, Any] = {}
        for item in items:
            if isinstance(item, dict):
                merged.update(item)
        return _unknown(merged, tree, samples, prefix)
    if not isinstance(document, dict):
        return [f"{prefix}.{name}".lstrip(".") for name in tree]
    unknown = []
    for name, sub in tree.items():
        path = f"{prefix}.{name}".lstrip(".")
        if name not in document:
            unknown.append(path)
        elif sub:
            unknown += _unknown(document[name], sub, samples, path)
    return unknown


def _item_names(document: Any) -> set[str]:
    """Keys of the items of a collection document (its one list of objects)."""
    names: set[str] = set()
    if isinstance(document, dict):
        for value in document.values():
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, dict):
                        names.update(item)
    return names


def shape(document: Any, query: Mapping[str, str], samples: Mapping[str, Any] | None = None) -> Any:
    """Apply ``fields`` or ``exclude_fields``; unknown names are refused with a 400.

    One exception, as recorded: ``exclude_fields`` naming a key of a collection's items
    without the collection's prefix (``exclude_fields=email_address`` on the member list) is
    ignored (recordings P182).

    Args:
        document: The answer.
        query: The request's parameters.
        samples: For a list that may be empty, one item to check names against, by dotted key.

    Raises:
        Problem: 400 for both parameters at once or an unknown field.
    """
    if "fields" in query and "exclude_fields" in query:
        raise Problem(400, "Bad Request", "fields and exclude_fields are mutually exclusive")
    for name in ("fields", "exclude_fields"):
        if name not in query:
            continue
        tree = _field_tree(query[name])
        if name == "exclude_fields" and isinstance(document, dict):
            items = _item_names(document) | set((samples or {}).get("members") or {})
            tree = {k: v for k, v in tree.items() if k in document or k not in items}
        unknown = _unknown(document, tree, samples or {})
        if unknown:
            raise bad_request(
                f"{name} names fields this resource does not have: {', '.join(unknown)}",
                [(name, f"Unknown field: {path}") for path in unknown],
            )
        return _select(document, tree) if name == "fields" else _drop(document, tree)
    return document
