"""AuditCase's names for a person's fields, and the converter that reads export records (R8).

:class:`~auditcase_mailchimp.Person` knows nothing of AuditCase's column names: they live here,
in the ``override(rename=...)`` hooks of the private converter that :func:`make_converter`
builds (never the global converter). One converter, two flavours of values:

- ``text=True``, for CSV (R8.1): every value is the text of a cell. The kind is ``klant`` or
  ``contactpersoon``; a flag is one of :data:`FLAG_WORDS`; the correspondence groups are one
  cell, split on ``;`` (an empty cell is no group).
- ``text=False``, for JSON Lines (R8.5): strict JSON types. Text fields are strings (never a
  number or ``null``), the kind a string as in CSV, the flags JSON booleans, the groups a list
  of strings.

In both, ``PersonId`` is trimmed and must not be empty, the kind and flag words are trimmed and
read ignoring case, and every other value is kept exactly as written (the core trims names and
addresses itself). Extra keys are ignored. The hooks' messages name what is accepted but never
quote the value, which may be personal data (an e-mail address in the wrong column).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._models import Person, PersonKind

__all__ = [
    "COLUMNS",
    "FLAG_WORDS",
    "GROUP_SEPARATOR",
    "KIND_WORDS",
    "json_type",
    "make_converter",
]

#: Each :class:`Person` attribute and the AuditCase column (CSV) or key (JSON Lines) holding it,
#: in the order of R8.1.
COLUMNS: Final[Mapping[str, str]] = {
    "person_id": "PersonId",
    "kind": "PersonKind",
    "initials": "PersonInitialsRE",
    "christian_name": "PersonChristianNameRE",
    "surname": "PersonNameRE",
    "contact_email": "ContactEMailRE",
    "company_email": "CompanyEmailREBT",
    "correspondence_groups": "CorrespondenceGroupRE",
    "linked": "KoppelenMetMailChimp",
    "receives_mailings": "MailingenOntvangen",
    "excluded_from_correspondence": "UitsluitenVoorCorrespondentie",
}

#: The words a CSV flag cell may hold, lower-cased (R8.1); read ignoring case and surrounding
#: whitespace. An empty cell is an error: every guess would either push or remove someone, or
#: mail someone who may have asked not to be mailed.
FLAG_WORDS: Final[Mapping[str, bool]] = {
    "ja": True,
    "nee": False,
    "yes": True,
    "no": False,
    "true": True,
    "false": False,
    "1": True,
    "0": False,
}

#: The words for the two kinds (R8.1), lower-cased; read ignoring case.
KIND_WORDS: Final[Mapping[str, PersonKind]] = {
    "klant": PersonKind.CLIENT_PERSON,
    "contactpersoon": PersonKind.CONTACT_PERSON,
}

#: What separates correspondence groups in a CSV cell (R8.1).
GROUP_SEPARATOR: Final = ";"

_FLAG_HINT: Final = "must be Ja or Nee (Yes/No, true/false and 1/0 are accepted too, in any case)"


def json_type(value: object) -> str:
    """Name the JSON type of a value, for messages that must not quote the value itself."""
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), "a number")


def _string(value: object, _type: object) -> str:
    if value.__class__ is not str:
        raise TypeError(f'must be a string ("" for none), not {json_type(value)}')
    return value


def _person_id(value: object, _type: object) -> str:
    person_id = _string(value, str).strip()
    if not person_id:
        raise ValueError("is empty: every person needs an id")
    return person_id


def _kind(value: object, _type: object) -> PersonKind:
    kind = KIND_WORDS.get(_string(value, str).strip().lower())
    if kind is None:
        raise ValueError("must be klant or contactpersoon (in any case)")
    return kind


def _flag_word(value: object, _type: object) -> bool:
    word = _string(value, str).strip().lower()
    if not word:
        raise ValueError(f"is empty: {_FLAG_HINT}")
    flag = FLAG_WORDS.get(word)
    if flag is None:
        raise ValueError(_FLAG_HINT)
    return flag


def _flag_boolean(value: object, _type: object) -> bool:
    if value.__class__ is not bool:
        raise TypeError(f"must be true or false (a JSON boolean), not {json_type(value)}")
    return value


def _groups_cell(value: object, _type: object) -> tuple[str, ...]:
    cell = _string(value, str)
    return tuple(cell.split(GROUP_SEPARATOR)) if cell else ()


def _groups_list(value: object, _type: object) -> tuple[str, ...]:
    if value.__class__ is not list:
        raise TypeError(f"must be a list of strings, not {json_type(value)}")
    for item in value:
        if item.__class__ is not str:
            raise TypeError(f"must be a list of strings, not a list holding {json_type(item)}")
    return tuple(value)


def make_converter(*, text: bool) -> cattrs.Converter:
    """Build the private converter from one export record (a mapping) to a :class:`Person`.

    Structuring checks every field and gathers every failure into one
    :class:`cattrs.ClassValidationError`, each exception noted with the attribute it belongs to
    (:data:`COLUMNS` names its column). Keys are not checked here: the caller makes sure every
    column of :data:`COLUMNS` is present (a missing key would silently take the default).

    Args:
        text: ``True`` for CSV cells (every value a string), ``False`` for JSON Lines values.

    Returns:
        A new converter; structure a record with ``converter.structure(record, Person)``.
    """
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(str, _string)
    converter.register_structure_hook(PersonKind, _kind)
    converter.register_structure_hook(bool, _flag_word if text else _flag_boolean)
    renames: dict[str, Any] = {
        attribute: override(rename=column) for attribute, column in COLUMNS.items()
    }
    renames["person_id"] = override(rename=COLUMNS["person_id"], struct_hook=_person_id)
    renames["correspondence_groups"] = override(
        rename=COLUMNS["correspondence_groups"],
        struct_hook=_groups_cell if text else _groups_list,
    )
    converter.register_structure_hook(Person, make_dict_structure_fn(Person, converter, **renames))
    return converter
