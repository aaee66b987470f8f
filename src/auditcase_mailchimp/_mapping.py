"""The mapping of one AuditCase person to one Mailchimp member (SPEC.md R2). Pure core.

What "a valid address" means here, deliberately close to what Mailchimp accepts and with no
DNS look-up (:func:`is_valid_email_address`):

- ASCII only (Mailchimp refuses non-ASCII local parts, MAILCHIMP.md §2.1), at most 254
  characters, exactly one ``@``;
- a local part of at most 64 characters in RFC 5322 *dot-atom* form: letters, digits and
  ``!#$%&'*+/=?^_`{|}~-``, in runs separated by single dots (no quoted strings);
- a domain of at least two dot-separated labels of letters, digits and inner hyphens (at most
  63 characters each), the last an alphabetic top-level domain of at least two letters or a
  punycode ``xn--`` label. No IP literals.
"""

from __future__ import annotations

import functools
import re
from typing import Final

from ._errors import InvalidPersonError
from ._models import MailchimpMember, Person, trusted_member

__all__ = [
    "MERGE_FIELD_MAX_BYTES",
    "TAG_EXCLUDED_FROM_CORRESPONDENCE",
    "TAG_NO_MAILINGS",
    "is_valid_email_address",
    "to_member",
]

#: The extra tag for a person whose *Mailingen ontvangen* is Nee (R2.4).
TAG_NO_MAILINGS: Final = "Mailingen-ontvangen-nee"
#: The extra tag for a person whose *Uitsluiten voor correspondentie* is Ja (R2.4).
TAG_EXCLUDED_FROM_CORRESPONDENCE: Final = "Correspondentie-ontvangen-nee"
#: Mailchimp cuts text merge fields to this many UTF-8 bytes (MAILCHIMP.md §7); the mapping
#: cuts names the same way, so what is pushed is exactly what Mailchimp keeps.
MERGE_FIELD_MAX_BYTES: Final = 255

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})"
_ADDRESS: Final = re.compile(
    rf"(?=[^@]{{1,64}}@)(?:{_ATOM}(?:\.{_ATOM})*)@(?:{_LABEL}\.)+{_TLD}", re.ASCII
)


def is_valid_email_address(address: str) -> bool:
    """Tell whether an address passes the library's syntax check (see the module docs).

    Args:
        address: The address, already trimmed.

    Returns:
        ``True`` when Mailchimp can be expected to accept the address's syntax.
    """
    return len(address) <= _MAX_ADDRESS and address.isascii() and _match(address) is not None


_MAX_ADDRESS: Final = 254
_match = _ADDRESS.fullmatch


def _fit(text: str) -> str:
    """Cut a trimmed name to what a Mailchimp text merge field keeps (255 UTF-8 bytes)."""
    if len(text) * 4 <= MERGE_FIELD_MAX_BYTES:  # no UTF-8 text this short can be too long
        return text
    encoded = text.encode("utf-8")
    if len(encoded) <= MERGE_FIELD_MAX_BYTES:
        return text
    return encoded[:MERGE_FIELD_MAX_BYTES].decode("utf-8", errors="ignore")


@functools.lru_cache(maxsize=4096)
def _tags(
    groups: tuple[str, ...],
    receives_mailings: bool,  # noqa: FBT001
    excluded_from_correspondence: bool,  # noqa: FBT001
) -> frozenset[str]:
    """R2.4: a tag per group, trimmed, blanks dropped, one per case-folded name, plus the extras.

    When two spellings of one name meet, the extra tags' spelling wins, then the first group.
    Cached: a firm has few combinations of groups, so persons share one frozenset each.
    """
    chosen: dict[str, str] = {}
    if not receives_mailings:
        chosen[TAG_NO_MAILINGS.casefold()] = TAG_NO_MAILINGS
    if excluded_from_correspondence:
        chosen[TAG_EXCLUDED_FROM_CORRESPONDENCE.casefold()] = TAG_EXCLUDED_FROM_CORRESPONDENCE
    for group in groups:
        name = group.strip()
        if name:
            chosen.setdefault(name.casefold(), name)
    return frozenset(chosen.values())


def to_member(person: Person) -> MailchimpMember:
    """Map one AuditCase person to the Mailchimp member the coupling pushes (R2).

    - ``FNAME``: the christian name when filled in, otherwise the initials (R2.1);
    - ``LNAME``: the surname (R2.2);
    - address: ``contact_email``, else ``company_email``, trimmed, spelling kept (R2.3);
    - tags: the correspondence groups and the two extra tags (R2.4);
    - status ``subscribed`` (R2.5).

    Whitespace-only values count as empty. Names are trimmed and cut to 255 UTF-8 bytes, as
    Mailchimp does. Whether the person is linked is not looked at here (see
    :func:`~auditcase_mailchimp.desired_state`).

    Args:
        person: The AuditCase person.

    Returns:
        The member as the coupling wants it in the audience.

    Raises:
        InvalidPersonError: The person has no address (category ``"no_address"``) or an
            address that fails :func:`is_valid_email_address` (``"invalid_address"``) (R2.6).
    """
    address = person.contact_email.strip() or person.company_email.strip()
    # is_valid_email_address, inlined: this runs once per person on every sync.
    if not address:
        raise InvalidPersonError(
            person.person_id,
            person.kind,
            "no_address",
            f"{person.kind} {person.person_id} has no e-mail address "
            "(both ContactEMailRE and CompanyEmailREBT are empty)",
        )
    if len(address) > _MAX_ADDRESS or not address.isascii() or _match(address) is None:
        raise InvalidPersonError(
            person.person_id,
            person.kind,
            "invalid_address",
            f"{person.kind} {person.person_id} has an e-mail address that is not valid",
            address,
        )
    return trusted_member(
        address,
        _fit(person.christian_name.strip() or person.initials.strip()),
        _fit(person.surname.strip()),
        _tags(
            person.correspondence_groups,
            person.receives_mailings,
            person.excluded_from_correspondence,
        ),
    )
