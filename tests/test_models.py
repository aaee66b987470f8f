"""The models refuse wrong values when they are built, naming the field (issue 2, Bad input)."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from auditcase_mailchimp import (
    MEMBER_STATUSES,
    Coupling,
    CurrentMember,
    MailchimpMember,
    MemberStatus,
    Person,
    PersonKind,
    address_key,
)
from auditcase_mailchimp._models import (
    checked_status,
    recoupled,
    trusted_member,
    trusted_person,
    trusted_record,
)


def _person(**overrides: Any) -> Person:
    fields: dict[str, Any] = {"person_id": "1", "kind": PersonKind.CLIENT_PERSON}
    fields.update(overrides)
    return Person(**fields)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("linked", "Ja"),
        ("receives_mailings", 1),
        ("excluded_from_correspondence", None),
        ("correspondence_groups", ["Nieuwsbrief"]),
        ("correspondence_groups", ("Nieuwsbrief", 3)),
        ("kind", "klant"),
        ("surname", None),
        ("contact_email", b"jan@example.nl"),
        ("person_id", 17),
    ],
)
def test_wrong_type_is_refused_naming_the_field(field: str, value: object) -> None:
    """A Person built with a wrong type is refused at once, the error naming the field."""
    with pytest.raises(TypeError, match=repr(field)):
        _person(**{field: value})


@pytest.mark.parametrize("person_id", ["", "   "])
def test_blank_person_id_is_refused(person_id: str) -> None:
    """A person without an id cannot exist: the coupling keys everything on it."""
    with pytest.raises(ValueError, match="'person_id' must not be empty"):
        _person(person_id=person_id)


def test_arguments_are_keyword_only() -> None:
    """Every Person argument is keyword-only (issue 2, item 2)."""
    with pytest.raises(TypeError):
        Person("1", PersonKind.CLIENT_PERSON)  # type: ignore[call-arg]


def test_person_defaults() -> None:
    """The defaults are those the issue names: empty strings, no groups, mailings yes, unlinked."""
    person = _person()
    assert (person.initials, person.christian_name, person.surname) == ("", "", "")
    assert (person.contact_email, person.company_email) == ("", "")
    assert person.correspondence_groups == ()
    assert person.receives_mailings is True
    assert person.excluded_from_correspondence is False
    assert person.linked is False


def test_person_is_frozen() -> None:
    """Models are frozen values."""
    person = _person()
    with pytest.raises(AttributeError):
        person.linked = True  # type: ignore[misc]


def test_member_checks_status_and_tags() -> None:
    """A member's status must be a Mailchimp status and its tags a frozenset of str."""
    with pytest.raises(ValueError, match="'status'"):
        MailchimpMember(email_address="a@example.nl", status="active")
    with pytest.raises(TypeError, match="'tags'"):
        MailchimpMember(email_address="a@example.nl", tags={"x"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'tags'"):
        MailchimpMember(email_address="a@example.nl", tags=frozenset({1}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'email_address'"):
        MailchimpMember(email_address=" ")
    assert MailchimpMember(email_address="a@example.nl").status == "subscribed"


def test_current_member_and_coupling_check_their_fields() -> None:
    """The differ's inputs are checked too: a coupling needs a person and a valid archive status."""
    with pytest.raises(ValueError, match="'status_at_archive'"):
        Coupling(person_id="1", kind=PersonKind.CLIENT_PERSON, status_at_archive="gone")
    with pytest.raises(TypeError, match="'coupling'"):
        CurrentMember(email_address="a@example.nl", coupling="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'kind'"):
        Coupling(person_id="1", kind="client_person")  # type: ignore[arg-type]


def test_keys_ignore_case_and_surrounding_space() -> None:
    """R2.3: addresses equal ignoring case are one member; keys are trimmed, lower-cased."""
    assert address_key("  Jan@Example.NL ") == "jan@example.nl"
    member = CurrentMember(email_address="Jan@Example.NL")
    assert member.key == MailchimpMember(email_address="jan@example.nl").key


def test_person_kind_reads_as_words() -> None:
    """Messages name the kind in words."""
    assert str(PersonKind.CLIENT_PERSON) == "client person"
    assert str(PersonKind.CONTACT_PERSON) == "contact person"


def test_member_status_is_one_home_for_the_statuses() -> None:
    """MAILCHIMP.md §8: the enum's values are the statuses, equal to their strings."""
    assert {s.value for s in MemberStatus} == MEMBER_STATUSES
    assert str(MemberStatus.CLEANED) == "cleaned"
    assert "cleaned" in {MemberStatus.CLEANED, MemberStatus.PENDING}  # hashed as its string
    member = CurrentMember(email_address="jan@example.nl", status=MemberStatus.PENDING)
    assert member.status == "pending"
    with pytest.raises(ValueError, match="'status' must be one of"):
        CurrentMember(email_address="jan@example.nl", status="bounced")


def test_trusted_builders_equal_the_checked_ones() -> None:
    """The hot paths' unchecked builders give the very values the checked constructors give."""
    client = PersonKind.CLIENT_PERSON
    tags = frozenset({"Nieuwsbrief"})
    coupling = Coupling(person_id="1", kind=client, tags=tags, status_at_archive="unsubscribed")
    record = CurrentMember(
        email_address="jan@example.nl", first_name="Jan", last_name="Smit", tags=tags,
        status="archived", coupling=coupling,
    )  # fmt: skip
    built = trusted_record(
        "jan@example.nl", "Jan", "Smit", tags, "archived", "1", client, "unsubscribed"
    )
    assert built == record
    read = attrs.evolve(record, coupling=None)
    assert recoupled(read, coupling) == record
    assert recoupled(read, None) is read
    assert hash(built) == hash(record)
    assert trusted_member("jan@example.nl", "Jan", "Smit", tags) == MailchimpMember(
        email_address="jan@example.nl", first_name="Jan", last_name="Smit", tags=tags
    )
    person = Person(
        person_id="1", kind=client, initials="J.", christian_name="Jan", surname="Smit",
        contact_email="jan@example.nl", company_email="info@example.nl",
        correspondence_groups=("Nieuwsbrief",), linked=True, receives_mailings=False,
        excluded_from_correspondence=True,
    )  # fmt: skip
    assert person == trusted_person(
        "1", client, "J.", "Jan", "Smit", "jan@example.nl", "info@example.nl",
        ("Nieuwsbrief",), True, False, True,  # noqa: FBT003 - positional, as the reader calls it
    )  # fmt: skip


def test_a_status_from_outside_is_checked_on_the_trusted_path() -> None:
    """MAILCHIMP.md §8: a status Mailchimp reports is checked like the models check it."""
    assert checked_status("cleaned") == "cleaned"
    with pytest.raises(ValueError, match="'status' must be one of"):
        checked_status("bounced")
