"""The checks the core's values run when they are built, and the one way around them.

Pure core: no I/O. Validators are plain functions rather than attrs' validator objects: a
million members are built in one sync, and these are twice as fast while naming the field just
as clearly. :func:`new_unchecked` and :func:`set_unchecked` build a frozen attrs value without
running its checks; they are only for values whose every field comes from values already
checked (the hot paths of the mapping, the step rules, the export reader and the store).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

import attrs

__all__ = [
    "check_bool",
    "check_non_blank",
    "check_str",
    "check_str_collection",
    "new_unchecked",
    "set_unchecked",
    "type_error",
]

#: ``new_unchecked(cls)``: an instance of ``cls`` whose ``__init__`` (and its checks) never ran.
new_unchecked: Final = object.__new__
#: ``set_unchecked(value, name, field)``: set a field of a frozen value being built.
set_unchecked: Final = object.__setattr__


def type_error(attribute: attrs.Attribute[Any], expected: str, value: object) -> TypeError:
    """The error for a field of the wrong type, naming the field, what it takes and the value."""
    return TypeError(
        f"{attribute.name!r} must be {expected}, got {value!r} ({type(value).__name__})"
    )


def check_str(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Validator: the field holds a ``str``."""
    if value.__class__ is not str:
        raise type_error(attribute, "a str", value)


def check_non_blank(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    """Validator: the field holds a ``str`` that is not empty or blank."""
    if value.__class__ is not str:
        raise type_error(attribute, "a str", value)
    if not value.strip():
        raise ValueError(f"{attribute.name!r} must not be empty")


def check_bool(_instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:  # noqa: FBT001
    """Validator: the field holds ``True`` or ``False`` (not ``1``, not ``"Ja"``)."""
    if value.__class__ is not bool:
        raise type_error(attribute, "a bool (True or False)", value)


def check_str_collection(kind: type) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    """Validator factory: the field holds exactly a ``kind`` (``tuple``, ``frozenset``) of str."""

    def check(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        items: Iterable[object] = value
        if value.__class__ is not kind:
            raise type_error(attribute, f"a {kind.__name__} of str", value)
        for item in items:
            if item.__class__ is not str:
                raise type_error(attribute, f"a {kind.__name__} of str", value)

    return check
