"""The values the core works on: AuditCase persons, Mailchimp members, the coupling's knowledge.

Every model is a frozen attrs class that checks its fields when it is built, so a wrong type
(``linked="Ja"``, a list for ``correspondence_groups``, an unknown kind) is refused at once with a
:class:`TypeError` or :class:`ValueError` naming the field. The exceptions are the builders
``trusted_person``, ``trusted_record`` and ``recoupled``, for the hot paths whose values were
checked already (an export reader's cells, the coupling database's rows, the plan's members);
they skip the checks, and their tests compare what they build with the checked way. Part of the
pure core: no I/O.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs
from attrs import validators as v

from ._validate import (
    check_bool,
    check_non_blank,
    check_str,
    check_str_collection,
    new_unchecked,
    set_unchecked,
)

__all__ = [
    "MEMBER_STATUSES",
    "Coupling",
    "CurrentMember",
    "MailchimpMember",
    "MemberStatus",
    "Person",
    "PersonKind",
    "address_key",
]


class MemberStatus(enum.StrEnum):
    """A member's status in Mailchimp (MAILCHIMP.md §8); equal to its plain string value."""

    #: Receives campaigns.
    SUBSCRIBED = "subscribed"
    #: Unsubscribed; never re-subscribed by the coupling (R5.3).
    UNSUBSCRIBED = "unsubscribed"
    #: Bounced (hard); cannot be archived, is released instead (R4.5).
    CLEANED = "cleaned"
    #: Waiting for double opt-in; cannot be archived, is released instead (R4.5).
    PENDING = "pending"
    #: A non-marketing contact.
    TRANSACTIONAL = "transactional"
    #: Archived (the result of a DELETE); read-only.
    ARCHIVED = "archived"


#: Every status Mailchimp reports for a member (MAILCHIMP.md §8). ``archived`` is read-only.
MEMBER_STATUSES: Final = frozenset(status.value for status in MemberStatus)


def address_key(email_address: str) -> str:
    """Return the key under which Mailchimp knows an address: trimmed and lower-cased (R2.3).

    Args:
        email_address: An e-mail address as AuditCase or Mailchimp spells it.

    Returns:
        The address, trimmed and lower-cased; two addresses with the same key are one member.
    """
    return email_address.strip().lower()


class PersonKind(enum.Enum):
    """The two kinds of AuditCase person the coupling pushes (R1.1)."""

    #: A client that is a natural person (*klant-persoon*).
    CLIENT_PERSON = "client_person"
    #: A contact person of a client organisation (*contactpersoon*).
    CONTACT_PERSON = "contact_person"

    def __str__(self) -> str:
        return "client person" if self is PersonKind.CLIENT_PERSON else "contact person"


_TAGS: Final = check_str_collection(frozenset)


@attrs.frozen(kw_only=True)
class Person:
    """One AuditCase person as the coupling sees it (the glossary of SPEC.md maps each field).

    The values are kept as AuditCase holds them; :func:`~auditcase_mailchimp.to_member` trims
    them. Every argument is keyword-only and type-checked when the person is built.

    Raises:
        TypeError: A field has the wrong type; the message names the field.
        ValueError: ``person_id`` is empty.
    """

    #: AuditCase's id of the person; unique across both kinds.
    person_id: str = attrs.field(validator=check_non_blank)
    #: Client person or contact person.
    kind: PersonKind = attrs.field(validator=v.instance_of(PersonKind))
    #: Initials (``PersonInitialsRE``).
    initials: str = attrs.field(default="", validator=check_str)
    #: First name (``PersonChristianNameRE``).
    christian_name: str = attrs.field(default="", validator=check_str)
    #: Surname (``PersonNameRE``).
    surname: str = attrs.field(default="", validator=check_str)
    #: The person's own e-mail address (``ContactEMailRE``).
    contact_email: str = attrs.field(default="", validator=check_str)
    #: The company e-mail address (``CompanyEmailREBT``), used when ``contact_email`` is empty.
    company_email: str = attrs.field(default="", validator=check_str)
    #: Correspondence groups (``CorrespondenceGroupRE``), each becoming a tag.
    correspondence_groups: tuple[str, ...] = attrs.field(
        default=(), validator=check_str_collection(tuple)
    )
    #: *Mailingen ontvangen*; ``False`` adds the tag ``Mailingen-ontvangen-nee``.
    receives_mailings: bool = attrs.field(default=True, validator=check_bool)
    #: *Uitsluiten voor correspondentie*; ``True`` adds the tag ``Correspondentie-ontvangen-nee``.
    excluded_from_correspondence: bool = attrs.field(default=False, validator=check_bool)
    #: *Koppelen met MailChimp*; only linked persons are pushed (R1.2).
    linked: bool = attrs.field(default=False, validator=check_bool)


def _status(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if (value.__class__ is not str and value.__class__ is not MemberStatus) or (
        value not in MEMBER_STATUSES
    ):
        raise ValueError(
            f"{attribute.name!r} must be one of {sorted(MEMBER_STATUSES)}, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class MailchimpMember:
    """A member of the audience: the address, the two merge fields, the tags and the status.

    ``email_address`` keeps its spelling; compare members by :attr:`key`.
    """

    #: The address as it is spelled (AuditCase's spelling, trimmed, for desired members).
    email_address: str = attrs.field(validator=check_non_blank)
    #: Merge field ``FNAME``.
    first_name: str = attrs.field(default="", validator=check_str)
    #: Merge field ``LNAME``.
    last_name: str = attrs.field(default="", validator=check_str)
    #: Every tag on the member.
    tags: frozenset[str] = attrs.field(default=frozenset(), validator=_TAGS)
    #: Mailchimp's status, one of :data:`MEMBER_STATUSES`.
    status: str = attrs.field(default="subscribed", validator=_status)

    @property
    def key(self) -> str:
        """The address, trimmed and lower-cased; equal keys are one Mailchimp member (R2.3)."""
        return address_key(self.email_address)


@attrs.frozen(kw_only=True)
class Coupling:
    """What the coupling knows about a member it manages: whose it is and which tags it set.

    Kept by the coupling database; attached to a :class:`CurrentMember` so the differ can tell
    managed members and tags from everything else in the audience (R4.4).
    """

    #: The AuditCase person the member was pushed for.
    person_id: str = attrs.field(validator=check_non_blank)
    #: That person's kind.
    kind: PersonKind = attrs.field(validator=v.instance_of(PersonKind))
    #: The tags the coupling set on the member (and may therefore remove).
    tags: frozenset[str] = attrs.field(default=frozenset(), validator=_TAGS)
    #: The status the member had when the coupling archived it (R4.3), else ``None``.
    status_at_archive: str | None = attrs.field(default=None, validator=v.optional(_status))


@attrs.frozen(kw_only=True)
class CurrentMember:
    """One member as the audience holds it now, with the coupling's knowledge of it, if any.

    The differ's ``current`` input is a collection of these. It can be built two ways:

    - from the coupling database alone (the incremental default): one entry per member the
      coupling manages, ``tags`` equal to ``coupling.tags`` and the status last seen;
    - from a fresh read of the audience (reconcile): every member with its status and all its
      tags, and ``coupling`` joined from the database by address; ``None`` for members the
      coupling does not manage.
    """

    #: The address as Mailchimp spells it.
    email_address: str = attrs.field(validator=check_non_blank)
    #: Merge field ``FNAME``.
    first_name: str = attrs.field(default="", validator=check_str)
    #: Merge field ``LNAME``.
    last_name: str = attrs.field(default="", validator=check_str)
    #: Every tag on the member (for a read) or the tags the coupling set (from the database).
    tags: frozenset[str] = attrs.field(default=frozenset(), validator=_TAGS)
    #: Mailchimp's status, one of :data:`MEMBER_STATUSES`.
    status: str = attrs.field(default="subscribed", validator=_status)
    #: The coupling's record of the member, ``None`` when the coupling does not manage it.
    coupling: Coupling | None = attrs.field(
        default=None, validator=v.optional(v.instance_of(Coupling))
    )

    @property
    def key(self) -> str:
        """The address trimmed and lower-cased (R2.3)."""
        return address_key(self.email_address)


#: The ``status`` field, to check a status from outside the way the models do.
_STATUS: Final = attrs.fields(CurrentMember).status


def checked_status(value: str) -> str:
    """Return a member status from outside the core (Mailchimp's answer) once it is checked.

    Args:
        value: The status as Mailchimp reported it.

    Returns:
        ``value``, which is one of :data:`MEMBER_STATUSES`.

    Raises:
        ValueError: It is not; the message names the field ``status``.
    """
    _status(None, _STATUS, value)
    return value


# Building without the checks, for values whose every field comes from values already checked:
# a million are built in one sync. ``test_models.py`` checks they equal ones built the ordinary
# way. Everyone else builds the ordinary way.


def trusted_member(
    email_address: str, first_name: str, last_name: str, tags: frozenset[str]
) -> MailchimpMember:
    """Build a subscribed member from checked values, skipping validation.

    For the mapping's hot path (:func:`~auditcase_mailchimp.to_member`), whose inputs come from
    a validated :class:`Person`.
    """
    member = new_unchecked(MailchimpMember)
    set_unchecked(member, "email_address", email_address)
    set_unchecked(member, "first_name", first_name)
    set_unchecked(member, "last_name", last_name)
    set_unchecked(member, "tags", tags)
    set_unchecked(member, "status", MemberStatus.SUBSCRIBED)
    return member


def trusted_record(  # noqa: PLR0917 - one argument per field, positional for speed
    email_address: str,
    first_name: str,
    last_name: str,
    tags: frozenset[str],
    status: str,
    person_id: str,
    kind: PersonKind,
    status_at_archive: str | None,
) -> CurrentMember:
    """Build a record of the coupling database from checked values, skipping validation.

    The member and its :class:`Coupling` share ``tags``: a record holds the tags the coupling
    set (the hot paths of the step rules and of the store's reads).
    """
    coupling = new_unchecked(Coupling)
    set_unchecked(coupling, "person_id", person_id)
    set_unchecked(coupling, "kind", kind)
    set_unchecked(coupling, "tags", tags)
    set_unchecked(coupling, "status_at_archive", status_at_archive)
    return _current(email_address, first_name, last_name, tags, status, coupling)


def recoupled(member: CurrentMember, coupling: Coupling | None) -> CurrentMember:
    """The member with another coupling record, without checking its checked fields again.

    Args:
        member: A member, e.g. as read from the audience.
        coupling: The coupling's record of it, or ``None``.

    Returns:
        ``member`` itself when it has that coupling already, else a copy with it.
    """
    if member.coupling is coupling:
        return member
    return _current(
        member.email_address, member.first_name, member.last_name, member.tags, member.status,
        coupling,
    )  # fmt: skip


def _current(  # noqa: PLR0917 - one argument per field, positional for speed
    email_address: str,
    first_name: str,
    last_name: str,
    tags: frozenset[str],
    status: str,
    coupling: Coupling | None,
) -> CurrentMember:
    member = new_unchecked(CurrentMember)
    set_unchecked(member, "email_address", email_address)
    set_unchecked(member, "first_name", first_name)
    set_unchecked(member, "last_name", last_name)
    set_unchecked(member, "tags", tags)
    set_unchecked(member, "status", status)
    set_unchecked(member, "coupling", coupling)
    return member


def trusted_person(  # noqa: PLR0917 - one argument per field, positional for speed
    person_id: str,
    kind: PersonKind,
    initials: str,
    christian_name: str,
    surname: str,
    contact_email: str,
    company_email: str,
    correspondence_groups: tuple[str, ...],
    linked: bool,  # noqa: FBT001
    receives_mailings: bool,  # noqa: FBT001
    excluded_from_correspondence: bool,  # noqa: FBT001
) -> Person:
    """Build a person from checked values (an export reader's), skipping validation."""
    person = new_unchecked(Person)
    set_unchecked(person, "person_id", person_id)
    set_unchecked(person, "kind", kind)
    set_unchecked(person, "initials", initials)
    set_unchecked(person, "christian_name", christian_name)
    set_unchecked(person, "surname", surname)
    set_unchecked(person, "contact_email", contact_email)
    set_unchecked(person, "company_email", company_email)
    set_unchecked(person, "correspondence_groups", correspondence_groups)
    set_unchecked(person, "linked", linked)
    set_unchecked(person, "receives_mailings", receives_mailings)
    set_unchecked(person, "excluded_from_correspondence", excluded_from_correspondence)
    return person
