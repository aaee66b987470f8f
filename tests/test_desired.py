"""The desired state: who is pushed (R1), problems (R2.6) and duplicate addresses (R3)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from auditcase_mailchimp import Person, PersonKind, ProblemCategory, desired_state

from .strategies import person_lists

CLIENT = PersonKind.CLIENT_PERSON
CONTACT = PersonKind.CONTACT_PERSON


def _person(person_id: str, **overrides: Any) -> Person:
    fields: dict[str, Any] = {
        "person_id": person_id,
        "kind": CONTACT,
        "contact_email": f"p{person_id}@example.nl",
        "linked": True,
    }
    fields.update(overrides)
    return Person(**fields)


def test_both_kinds_are_pushed() -> None:
    """R1.1: client persons and contact persons are both pushed."""
    state = desired_state([_person("1", kind=CLIENT), _person("2", kind=CONTACT)])
    assert {p.person_id: p.kind for p in state.persons.values()} == {"1": CLIENT, "2": CONTACT}


def test_only_linked_persons_are_pushed() -> None:
    """R1.2: a person is pushed only while linked is Ja; unlinked persons raise no problem."""
    state = desired_state([_person("1"), _person("2", linked=False, contact_email="")])
    assert [p.person_id for p in state.persons.values()] == ["1"]
    assert state.problems == ()


def test_members_are_keyed_by_lower_cased_address() -> None:
    """R2.3: the desired members are keyed by lower-cased address; the member keeps the spelling."""
    state = desired_state([_person("1", contact_email=" Jan@Example.NL ")])
    assert list(state.members) == ["jan@example.nl"]
    assert state.members["jan@example.nl"].email_address == "Jan@Example.NL"


def test_missing_and_invalid_addresses_are_problems_and_held() -> None:
    """R2.6: no address or an invalid one: not pushed, reported, and held (never removed)."""
    state = desired_state(
        [_person("1", contact_email=""), _person("2", contact_email="kapot@"), _person("3")]
    )
    assert [p.person_id for p in state.persons.values()] == ["3"]
    assert [(p.person_id, p.category) for p in state.problems] == [
        ("1", ProblemCategory.NO_ADDRESS),
        ("2", ProblemCategory.INVALID_ADDRESS),
    ]
    assert state.held == {"1", "2"}
    assert state.problems[1].email_address == "kapot@"
    assert "kapot" not in state.problems[1].message


def test_unlinked_persons_with_bad_addresses_are_no_problem() -> None:
    """R1.2 before R2.6: an unlinked person is not looked at, so its address is no problem."""
    assert desired_state([_person("1", contact_email="", linked=False)]).problems == ()


def test_duplicates_prefer_the_person_already_pushed() -> None:
    """R3.2: among persons sharing an address, the one already pushed to it is pushed."""
    persons = [
        _person("1", kind=CLIENT, contact_email="info@example.com"),
        _person("9", kind=CONTACT, contact_email="INFO@example.com"),
    ]
    state = desired_state(persons, owners={"info@example.com": "9"})
    assert state.persons["info@example.com"].person_id == "9"
    assert state.members["info@example.com"].email_address == "INFO@example.com"
    assert state.held == {"1"}


def test_duplicates_prefer_a_client_person() -> None:
    """R3.2: else a client person before a contact person."""
    persons = [
        _person("1", kind=CONTACT, contact_email="jan@example.nl"),
        _person("5", kind=CLIENT, contact_email="jan@example.nl"),
    ]
    assert desired_state(persons).persons["jan@example.nl"].person_id == "5"


def test_duplicates_prefer_the_lowest_id() -> None:
    """R3.2: else the lowest person id (numeric ids in numeric order)."""
    persons = [
        _person("10", company_email="info@example.com", contact_email=""),
        _person("9", company_email="info@example.com", contact_email=""),
        _person("100", company_email="info@example.com", contact_email=""),
    ]
    state = desired_state(persons)
    assert state.persons["info@example.com"].person_id == "9"
    assert state.held == {"10", "100"}


def test_every_person_in_a_duplicate_is_reported_naming_the_others() -> None:
    """R3.2: every person involved is reported as a conflict naming the others."""
    persons = [
        _person("3", company_email="info@example.com", contact_email=""),
        _person("2", company_email="info@example.com", contact_email=""),
        _person("1", kind=CLIENT, contact_email="info@example.com"),
    ]
    state = desired_state(persons)
    problems = {p.person_id: p for p in state.problems}
    assert set(problems) == {"1", "2", "3"}
    assert all(p.category is ProblemCategory.DUPLICATE_ADDRESS for p in problems.values())
    assert problems["1"].others == ("2", "3")
    assert problems["2"].others == ("1", "3")
    assert problems["1"].pushed
    assert not problems["2"].pushed
    assert "2, 3" in problems["1"].message
    assert "unlink one of them" in problems["3"].message


def test_a_repeated_person_id_is_a_problem_and_held() -> None:
    """One bad record never raises: a repeated id is reported for each record and not pushed."""
    state = desired_state([_person("1"), _person("1", contact_email="b@example.nl"), _person("2")])
    assert [p.person_id for p in state.persons.values()] == ["2"]
    assert [p.category for p in state.problems] == [ProblemCategory.DUPLICATE_PERSON_ID] * 2
    assert state.held == {"1"}


def test_a_repeated_id_leaves_no_phantom_duplicate() -> None:
    """R3.2 after a repeated id: the one left at a shared address is pushed without conflict."""
    shared = "info@example.com"
    state = desired_state(
        [
            _person("1", contact_email=shared),
            _person("1", contact_email="b@example.nl"),
            _person("2", contact_email=shared),
        ]
    )
    assert state.persons[shared].person_id == "2"
    assert [(p.person_id, p.category) for p in state.problems] == [
        ("1", ProblemCategory.DUPLICATE_PERSON_ID),
        ("1", ProblemCategory.DUPLICATE_PERSON_ID),
    ]
    three = desired_state(
        [
            _person("1", contact_email=shared),
            _person("2", contact_email=shared),
            _person("3", contact_email=shared),
            _person("3", contact_email=shared),
        ]
    )
    assert three.persons[shared].person_id == "1"
    assert {
        p.person_id for p in three.problems if p.category is ProblemCategory.DUPLICATE_ADDRESS
    } == {"1", "2"}
    alone = desired_state([_person("1", contact_email=shared), _person("1", contact_email=shared)])
    assert dict(alone.members) == {}
    both = desired_state(
        [_person(i, contact_email=shared) for i in ("1", "2")]
        + [_person(i, contact_email="x@example.nl") for i in ("1", "2")]
    )
    assert dict(both.members) == {}
    assert both.held == {"1", "2"}


def test_ids_that_are_not_numbers_sort_after_numbers() -> None:
    """R3.2: the lowest id is decided deterministically for any id."""
    persons = [
        _person("b", contact_email="x@example.nl"),
        _person("a", contact_email="x@example.nl"),
        _person("20", contact_email="x@example.nl"),
    ]
    assert desired_state(persons).persons["x@example.nl"].person_id == "20"


@given(person_lists(), st.randoms(use_true_random=False))
def test_the_desired_state_does_not_depend_on_input_order(
    persons: list[Person], rng: random.Random
) -> None:
    """R3.2: the same input gives the same choice, whatever the order of the persons."""
    shuffled = persons[:]
    rng.shuffle(shuffled)
    assert desired_state(persons) == desired_state(shuffled)


@given(person_lists())
def test_every_linked_person_is_pushed_or_reported(persons: list[Person]) -> None:
    """R1, R2.6, R3: every linked person is either pushed or has a problem; nothing raises."""
    state = desired_state(persons)
    pushed = {p.person_id for p in state.persons.values()}
    assert state.persons.keys() == state.members.keys()
    reported = {p.person_id for p in state.problems}
    linked = {p.person_id for p in persons if p.linked}
    assert pushed | reported == linked
    assert pushed.isdisjoint(state.held)
    assert state.held <= reported
