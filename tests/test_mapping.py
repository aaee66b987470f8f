"""The mapping of a person to a member: SPEC.md R2."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from auditcase_mailchimp import (
    MERGE_FIELD_MAX_BYTES,
    TAG_EXCLUDED_FROM_CORRESPONDENCE,
    TAG_NO_MAILINGS,
    InvalidPersonError,
    Person,
    PersonKind,
    SourceError,
    is_valid_email_address,
    to_member,
)

from .strategies import persons


def _person(**overrides: Any) -> Person:
    fields: dict[str, Any] = {
        "person_id": "42",
        "kind": PersonKind.CONTACT_PERSON,
        "contact_email": "jan@example.nl",
    }
    fields.update(overrides)
    return Person(**fields)


def test_first_name_is_the_christian_name_when_filled_in() -> None:
    """R2.1: FNAME is the christian name when it is filled in."""
    assert to_member(_person(initials="J.P.", christian_name="Jan")).first_name == "Jan"


@pytest.mark.parametrize("christian_name", ["", "   ", "\t"])
def test_first_name_falls_back_to_the_initials(christian_name: str) -> None:
    """R2.1: without a christian name (whitespace does not count) FNAME is the initials."""
    member = to_member(_person(initials=" J.P. ", christian_name=christian_name))
    assert member.first_name == "J.P."


def test_first_name_is_empty_when_both_are() -> None:
    """R2.1: both empty, FNAME is sent empty."""
    assert to_member(_person(initials=" ", christian_name="")).first_name == ""


def test_last_name_is_the_surname() -> None:
    """R2.2: LNAME is the surname, trimmed."""
    assert to_member(_person(surname=" van der Berg ")).last_name == "van der Berg"


def test_address_is_the_contact_address_first() -> None:
    """R2.3: ContactEMailRE is the key when it has a value."""
    member = to_member(_person(contact_email="jan@example.nl", company_email="info@example.com"))
    assert member.email_address == "jan@example.nl"


@pytest.mark.parametrize("contact_email", ["", "  "])
def test_address_falls_back_to_the_company_address(contact_email: str) -> None:
    """R2.3: without ContactEMailRE the member gets CompanyEmailREBT."""
    member = to_member(_person(contact_email=contact_email, company_email=" Info@Example.com "))
    assert member.email_address == "Info@Example.com"


def test_address_keeps_its_spelling_but_is_trimmed() -> None:
    """R2.3: the member keeps AuditCase's spelling, trimmed; the key is lower-cased."""
    member = to_member(_person(contact_email="  Jan.Jansen@Example.NL "))
    assert member.email_address == "Jan.Jansen@Example.NL"
    assert member.key == "jan.jansen@example.nl"


def test_every_group_becomes_a_tag() -> None:
    """R2.4: every correspondence group becomes a tag with the group's name."""
    member = to_member(_person(correspondence_groups=("Nieuwsbrief", "BTW-aangifte")))
    assert member.tags == {"Nieuwsbrief", "BTW-aangifte"}


def test_blank_groups_are_dropped_and_case_duplicates_merged() -> None:
    """R2.4: blank group names are dropped; groups equal ignoring case are one tag."""
    member = to_member(
        _person(correspondence_groups=(" Nieuwsbrief ", "", "  ", "NIEUWSBRIEF", "nieuwsbrief"))
    )
    assert member.tags == {"Nieuwsbrief"}


def test_no_mailings_adds_its_tag() -> None:
    """R2.4: receives_mailings Nee adds the tag Mailingen-ontvangen-nee, spelled exactly so."""
    assert to_member(_person(receives_mailings=False)).tags == {"Mailingen-ontvangen-nee"}
    assert TAG_NO_MAILINGS == "Mailingen-ontvangen-nee"


def test_excluded_from_correspondence_adds_its_tag() -> None:
    """R2.4: excluded_from_correspondence Ja adds Correspondentie-ontvangen-nee, spelled so."""
    member = to_member(_person(excluded_from_correspondence=True))
    assert member.tags == {"Correspondentie-ontvangen-nee"}
    assert TAG_EXCLUDED_FROM_CORRESPONDENCE == "Correspondentie-ontvangen-nee"


def test_default_flags_add_no_tag() -> None:
    """R2.4: mailings Ja and not excluded: no extra tag."""
    assert to_member(_person()).tags == frozenset()


def test_a_group_named_like_an_extra_tag_takes_its_spelling() -> None:
    """R2.4: a group equal to an extra tag ignoring case is that one tag, spelled exactly."""
    member = to_member(
        _person(receives_mailings=False, correspondence_groups=("mailingen-ONTVANGEN-nee",))
    )
    assert member.tags == {"Mailingen-ontvangen-nee"}


def test_status_is_subscribed() -> None:
    """R2.5: the status is subscribed."""
    assert to_member(_person()).status == "subscribed"


@pytest.mark.parametrize(("contact", "company"), [("", ""), (" ", "\t")])
def test_no_address_is_refused_with_its_category(contact: str, company: str) -> None:
    """R2.6: no address raises InvalidPersonError (a ValueError) naming the person and reason."""
    with pytest.raises(InvalidPersonError) as caught:
        to_member(_person(contact_email=contact, company_email=company))
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, SourceError)
    assert (error.person_id, error.kind, error.category) == (
        "42",
        PersonKind.CONTACT_PERSON,
        "no_address",
    )
    assert "42" in str(error)
    assert "no e-mail address" in str(error)


def test_invalid_address_is_refused_without_echoing_it() -> None:
    """R2.6: an invalid address raises naming person and reason, not the address."""
    with pytest.raises(InvalidPersonError) as caught:
        to_member(_person(contact_email="jan jansen@example.nl"))
    error = caught.value
    assert error.category == "invalid_address"
    assert error.email_address == "jan jansen@example.nl"
    assert "jan jansen" not in str(error)
    assert "contact person 42" in str(error)


def test_an_invalid_contact_address_does_not_fall_back() -> None:
    """R2.3: the company address is used only when the contact address has no value."""
    with pytest.raises(InvalidPersonError):
        to_member(_person(contact_email="kapot", company_email="info@example.com"))


def test_long_names_are_cut_like_mailchimp_cuts_them() -> None:
    """Mailchimp keeps 255 bytes of a text merge field; the mapping cuts whole characters."""
    member = to_member(_person(christian_name="é" * 200, surname="a" * 300))
    assert len(member.first_name.encode()) <= MERGE_FIELD_MAX_BYTES
    assert member.first_name == "é" * 127
    assert member.last_name == "a" * 255
    assert to_member(_person(surname="b" * 100)).last_name == "b" * 100  # long, yet within


@pytest.mark.parametrize(
    "address",
    [
        "jan@example.nl",
        "Jan.Jansen@Example.NL",
        "anna+nieuws@example.com",
        "o'brien@example.com",
        "x_y-z@sub.example.nl",
        "a@xn--bcher-kva.example",
        "a" * 64 + "@example.nl",
    ],
)
def test_valid_addresses(address: str) -> None:
    """The syntax check accepts ordinary addresses (see the module docs of _mapping)."""
    assert is_valid_email_address(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "jan",
        "jan@",
        "@example.nl",
        "jan jansen@example.nl",
        "jan@@example.nl",
        "jan@example",
        "jan@example.n",
        "jan@example.1",
        ".jan@example.nl",
        "jan.@example.nl",
        "jan..jansen@example.nl",
        "jan@-example.nl",
        "jan@example-.nl",
        "jan@exa_mple.nl",
        "jän@example.nl",
        "jan@exämple.nl",
        '"jan"@example.nl',
        "jan@[127.0.0.1]",
        "a" * 65 + "@example.nl",
        "a@" + "b" * 250 + ".nl",
        "jan@example.nl\n",
    ],
)
def test_invalid_addresses(address: str) -> None:
    """The syntax check refuses what Mailchimp would refuse or what is not an address."""
    assert not is_valid_email_address(address)


@given(persons())
def test_to_member_obeys_r2_for_any_person(person: Person) -> None:
    """R2.1-R2.6 hold for any person: names, address, tags, status, or the documented error."""
    address = person.contact_email.strip() or person.company_email.strip()
    if not address or not is_valid_email_address(address):
        with pytest.raises(InvalidPersonError) as caught:
            to_member(person)
        assert caught.value.category == ("invalid_address" if address else "no_address")
        return
    member = to_member(person)
    assert member.email_address == address
    assert is_valid_email_address(address)
    expected_first = person.christian_name.strip() or person.initials.strip()
    assert expected_first.encode().startswith(member.first_name.encode())
    assert len(member.first_name.encode()) <= MERGE_FIELD_MAX_BYTES
    assert person.surname.strip().encode().startswith(member.last_name.encode())
    groups = {g.strip().casefold() for g in person.correspondence_groups if g.strip()}
    extras = {
        TAG_NO_MAILINGS: not person.receives_mailings,
        TAG_EXCLUDED_FROM_CORRESPONDENCE: person.excluded_from_correspondence,
    }
    wanted = groups | {tag.casefold() for tag, on in extras.items() if on}
    assert {tag.casefold() for tag in member.tags} == wanted
    assert len(member.tags) == len(wanted)
    for tag, on in extras.items():
        assert (tag in member.tags) is on
    assert member.status == "subscribed"
