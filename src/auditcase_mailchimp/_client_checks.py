"""Checks of what is handed to the Mailchimp client, before anything is sent.

Each raises :class:`~auditcase_mailchimp.InvalidInputError` (or, for the audience id,
:class:`~auditcase_mailchimp.ConfigurationError`) naming the field, never repeating the address.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Final, TypeVar

import attrs

from ._errors import ConfigurationError, InvalidInputError
from ._mapping import MERGE_FIELD_MAX_BYTES

__all__ = [
    "all_of",
    "check_address",
    "check_address_field",
    "check_bool",
    "check_list_id",
    "check_merge_fields",
    "check_tags",
    "instance_of",
]

#: The longest address Mailchimp takes (RFC 5321's path limit).
_MAX_ADDRESS: Final = 254

T = TypeVar("T")


def check_address(value: object, what: str = "email_address") -> str:
    """The light check Mailchimp's refusal would otherwise come from deep inside a request."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidInputError(f"{what} is empty")
    if value.split() != [value]:  # a white-space character anywhere
        raise InvalidInputError(f"{what} contains whitespace")
    if not value.isprintable():
        raise InvalidInputError(f"{what} contains control characters")
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or "@" in local:
        raise InvalidInputError(
            f"{what} is not an e-mail address: it needs one '@' between a name and a domain"
        )
    if len(value) > _MAX_ADDRESS:
        raise InvalidInputError(f"{what} is longer than {_MAX_ADDRESS} characters")
    return value


def check_merge_fields(value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"merge_fields must be a mapping, got {type(value).__name__}")
    checked: dict[str, str] = {}
    for tag, text in value.items():
        if (
            not isinstance(tag, str)
            or not tag
            or not tag.isascii()
            or not tag.replace("_", "").isalnum()
        ):
            raise InvalidInputError(
                f"merge field name {tag!r} is not a merge tag (letters, digits and '_')"
            )
        if not isinstance(text, str):
            raise InvalidInputError(
                f"merge field {tag} must be a string, got {type(text).__name__}"
            )
        size = len(text.encode("utf-8"))
        if size > MERGE_FIELD_MAX_BYTES:
            raise InvalidInputError(
                f"merge field {tag} is {size} bytes long; Mailchimp keeps at most "
                f"{MERGE_FIELD_MAX_BYTES} (cut it before sending)"
            )
        checked[tag] = text
    return MappingProxyType(checked)


def check_tags(value: object, what: str = "tags") -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInputError(
            f"{what} must be a collection of tag names, not {type(value).__name__}"
        )
    tags = frozenset(value)
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidInputError(
                f"{what}: a tag name must be a string, got {type(tag).__name__}"
            )
        if not tag.strip():
            raise InvalidInputError(f"{what}: a tag name is empty")
    return tags


def check_bool(_instance: object, attribute: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{attribute.name} must be True or False, got {value!r}")


def check_address_field(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    check_address(value, attribute.name)


def check_list_id(list_id: object) -> str:
    if not isinstance(list_id, str) or not list_id.strip():
        raise ConfigurationError("the audience (list) id is empty")
    if not list_id.isascii() or not list_id.replace("-", "").replace("_", "").isalnum():
        raise ConfigurationError(
            "the audience (list) id may hold only letters, digits, '-' and '_'"
        )
    return list_id


def instance_of(kind: type[T], what: str) -> Callable[[object], T]:
    """A check that returns its argument when it is a ``kind``, and raises naming ``what``."""

    def check(item: object) -> T:
        if not isinstance(item, kind):
            raise InvalidInputError(
                f"{what} must be {kind.__name__} values, not {type(item).__name__}"
            )
        return item

    return check


def all_of(items: Iterable[object], kind: type[T], what: str) -> list[T]:
    """Return ``items`` as a list when each is a ``kind``; raise naming ``what`` otherwise."""
    check = instance_of(kind, what)
    return [check(item) for item in items]
