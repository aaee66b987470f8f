"""The JSON Lines reader (R8.5, R8.4): one record a line into a :class:`Collector`."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import IO, Any, Final

from ._export_rows import (
    FIELD_LIMIT,
    ID_COLUMN,
    KIND_SPELLINGS,
    ORDER,
    Collector,
    UnreadableSourceError,
    certain_id,
    value_faults,
)
from ._export_text import Encoding
from ._export_wire import COLUMNS, json_type
from ._models import Person, trusted_person

__all__ = ["read_jsonl"]

_KEYS: Final = frozenset(ORDER)


class _RepeatedKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) < len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _RepeatedKeyError(key)
            seen.add(key)
    return record


class _Number:
    """A JSON number, never converted: no value of an export is a number (R8.5).

    Converting could fail (Python refuses integers of more than 4,300 digits) or take long.
    """

    __slots__ = ()


_NUMBER: Final = _Number()
_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_unique_keys,
    parse_int=lambda _text: _NUMBER,
    parse_float=lambda _text: _NUMBER,
    parse_constant=lambda _text: _NUMBER,
)


def _json_value(raw: str) -> tuple[Any, tuple[str | None, str] | None]:
    """Parse one non-blank line of a JSON Lines export: its value, or the fault."""
    try:
        return _DECODER.decode(raw), None
    except _RepeatedKeyError as exc:
        return None, (exc.key, "the key occurs more than once")
    except json.JSONDecodeError as exc:
        return None, (None, f"not valid JSON ({exc.msg} at character {exc.colno})")
    except RecursionError:
        return None, (None, "not valid JSON (nested too deeply)")
    except ValueError:  # pragma: no cover - numbers are never converted; kept as a net
        return None, (None, "not valid JSON")


def read_jsonl(path: str, text: IO[str], encoding: Encoding, out: Collector) -> None:
    """Read the records of a JSON Lines export (R8.5, R8.4) into ``out``."""
    present: set[str] = set()
    complete = False
    for line, raw in enumerate(text, start=1):
        if raw.isspace():
            continue  # blank lines are ignored (R8.5)
        out.rows += 1
        value = _json_record(line, raw, encoding, out)
        if value is not None and not complete:
            present.update(value)
            complete = present.issuperset(ORDER)
    # Checked once every line is seen; raised before the caller uses any record.
    if not out.rows:  # every non-blank line is a record, good or bad
        raise UnreadableSourceError(f"{path}: the file is empty (it holds no records)", path=path)
    if not present:
        raise UnreadableSourceError(
            f"{path}: not JSON Lines: no line holds a JSON object with keys", path=path
        )
    absent = tuple(key for key in ORDER if key not in present)
    if absent:
        raise UnreadableSourceError(
            f"{path}: no record has the key{'s' if len(absent) > 1 else ''} {', '.join(absent)}",
            path=path,
            columns=absent,
        )


def _json_record(
    line: int, raw: str, encoding: Encoding, out: Collector
) -> Mapping[str, Any] | None:
    """Read one non-blank line into ``out``; return its object, or ``None`` if it is none."""
    value, fault = _json_value(raw)
    if fault is not None:
        out.fault(line, None, (fault,))
        return None
    if value.__class__ is not dict:
        out.fault(line, None, ((None, f"must be a JSON object, not {json_type(value)}"),))
        return None
    person_id = certain_id(value.get(ID_COLUMN))
    if not value.keys() >= _KEYS:
        missing = [(key, "the key is missing") for key in ORDER if key not in value]
        out.fault(line, person_id, missing)
        return value
    # A control character reaches a JSON string only through an escape, or as DEL or C1 (which
    # the first pass notes); so does a line break or tab in an id.
    if encoding.suspicious or "\\" in raw or len(raw) > FIELD_LIMIT:
        faults = value_faults(value)
        if faults:
            out.fault(line, person_id, faults)
            return value
    person = _json_person(value, person_id, out.share)
    if person is None:
        out.structure(line, value, person_id)
    else:
        out.add(line, person)
    return value


def _json_person(
    value: Mapping[str, Any], person_id: str | None, share: Callable[[Any], Any]
) -> Person | None:
    """The person of a JSON record whose every value has its type (R8.5); else ``None``."""
    kind = value["PersonKind"]
    kind = KIND_SPELLINGS.get(kind) if kind.__class__ is str else None
    groups = value["CorrespondenceGroupRE"]
    texts = [value[column] for column in _TEXT_COLUMNS]
    flags = [value[column] for column in _FLAG_COLUMNS]
    if (
        person_id is None
        or kind is None
        or groups.__class__ is not list
        or (groups and set(map(type, groups)) != _ONLY_STR)
        or set(map(type, texts)) != _ONLY_STR
        or set(map(type, flags)) != _ONLY_BOOL
    ):
        return None
    initials, christian_name, surname, contact_email, company_email = texts
    linked, mailings, excluded = flags
    return trusted_person(
        person_id,
        kind,
        share(initials),
        share(christian_name),
        surname,
        contact_email,
        company_email,
        share(tuple(groups)),
        linked,
        mailings,
        excluded,
    )


_ONLY_STR: Final = {str}
_ONLY_BOOL: Final = {bool}
_TEXT_COLUMNS: Final = tuple(
    COLUMNS[name]
    for name in ("initials", "christian_name", "surname", "contact_email", "company_email")
)
_FLAG_COLUMNS: Final = tuple(
    COLUMNS[name] for name in ("linked", "receives_mailings", "excluded_from_correspondence")
)
