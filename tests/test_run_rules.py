"""The rules of the run around the steps (_run_rules): R8.4, R3.2, R6.3, R6.4, R5.3, R7.5."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from auditcase_mailchimp import (
    Archive,
    Coupling,
    CurrentMember,
    Person,
    PersonKind,
    UnsubscribedNotice,
    desired_state,
)
from auditcase_mailchimp._run_rules import (
    Scope,
    fingerprint,
    hold,
    idle_unsubscribed,
    joined,
    mass_archive,
    merged,
    other_audience,
    partial,
    sends,
    settled_failures,
    stale_failures,
    stale_problems,
    too_many,
    without_refused,
)
from auditcase_mailchimp._steps import Answer, Look, after, start

from .test_steps import ADOPT, ARCHIVE, RELEASE, move, upsert

CLIENT = PersonKind.CLIENT_PERSON


def _record(
    email: str, person_id: str, status: str = "subscribed", **coupling: Any
) -> CurrentMember:
    return CurrentMember(
        email_address=email,
        status=status,
        coupling=Coupling(person_id=person_id, kind=CLIENT, **coupling),
    )


def test_joined_keeps_the_status_before_a_hand_archiving_and_released_members_unmanaged() -> None:
    """R4.3, R4.5: a read joined with the records of the coupling database."""
    read = [
        CurrentMember(email_address="a@example.nl", status="archived"),
        CurrentMember(email_address="b@example.nl", status="cleaned"),
        CurrentMember(email_address="c@example.nl", status="subscribed"),
        CurrentMember(email_address="d@example.nl"),
    ]
    recorded = [
        _record("a@example.nl", "1", "unsubscribed"),
        _record("b@example.nl", "2", "archived", status_at_archive="cleaned"),
        _record("c@example.nl", "3", "archived", status_at_archive="subscribed"),
    ]
    a, b, c, d = joined(read, recorded)
    assert a.coupling is not None
    assert a.coupling.status_at_archive == "unsubscribed"
    assert b.coupling is None  # released: not released again every run
    assert c.coupling is not None  # re-added by hand: managed, archived again
    assert d.coupling is None


def test_a_bad_row_holds_its_person_and_one_without_an_id_holds_everyone_absent() -> None:
    """R8.4 with R2.6: removals wait for a clean export."""
    current = [_record("a@example.nl", "1"), _record("b@example.nl", "2")]
    desired = desired_state([])
    same, everyone = hold(desired, [], {"1"}, current)
    assert (same, everyone) == (desired, False)
    one, everyone = hold(desired, ["7"], {"1"}, current)
    assert (one.held, everyone) == (frozenset({"7"}), False)
    every, everyone = hold(desired, [None], {"1"}, current)
    assert (every.held, everyone) == (frozenset({"2"}), True)


def _person(person_id: str, email: str, *, linked: bool = True) -> Person:
    return Person(person_id=person_id, kind=CLIENT, contact_email=email, linked=linked)


def test_a_push_keeps_an_address_another_person_holds() -> None:
    """R3.2 for a partial push: the person already pushed keeps the address."""
    records = [
        _record("a@example.nl", "1"),
        _record("b@example.nl", "2"),
        _record("gone@example.nl", "5", "archived"),
    ]
    desired, current = partial(
        [_person("9", "a@example.nl"), _person("5", "gone@example.nl")], records
    )
    assert "a@example.nl" not in desired.members
    assert "9" in desired.held
    assert [(p.person_id, p.category.value, p.pushed) for p in desired.problems] == [
        ("9", "duplicate_address", False)
    ]
    assert [m.key for m in current] == ["gone@example.nl"]
    removing, records_of = partial([], records, removed=["2"])
    assert not removing.members
    assert [m.key for m in records_of] == ["b@example.nl"]


def test_stale_problems_are_resolved_and_a_push_speaks_only_for_its_persons() -> None:
    """R6.3: a problem no longer found is resolved; a push says nothing about others."""
    desired = desired_state([_person("1", "kapot@")])
    found = [("1", "invalid_address"), ("1", "no_address"), ("2", "no_address")]
    assert stale_problems(found, desired, Scope()) == [("1", "no_address"), ("2", "no_address")]
    assert Scope().whole
    push = Scope(persons=frozenset({"3"}))
    assert not push.whole
    assert stale_problems(found, desired, push) == [("1", "no_address")]


def test_stale_failures_are_those_of_persons_nobody_sends_for_any_more() -> None:
    """R6.3: unlinked or gone with nothing left to do: resolved; a push speaks for nobody else."""
    jan = Person(
        person_id="1", kind=CLIENT, christian_name="Jan", surname="Smit",
        contact_email="jan@example.nl", correspondence_groups=("Nieuwsbrief",), linked=True,
    )  # fmt: skip
    desired = desired_state([jan])
    gone = Archive(person_id="5", kind=CLIENT, email_address="p5@example.nl", status="subscribed")
    open_ids = ["1", "4", "5", "6", "6"]
    assert stale_failures(open_ids, desired, [gone], Scope()) == ["4", "6"]
    assert stale_failures(open_ids, desired, [gone], Scope(persons=frozenset({"1"}))) == []
    assert stale_failures([], desired, [gone], Scope()) == []


def test_settled_failures_are_those_of_wanted_persons_with_nothing_to_send() -> None:
    """R6.3, R7.4: a wanted person the plan leaves alone has what they want: resolved."""
    jan = Person(
        person_id="1", kind=CLIENT, christian_name="Jan", surname="Smit",
        contact_email="jan@example.nl", correspondence_groups=("Nieuwsbrief",), linked=True,
    )  # fmt: skip
    piet = attrs.evolve(jan, person_id="2", contact_email="piet@example.nl")
    desired = desired_state([jan, piet])
    resend = Archive(person_id="2", kind=CLIENT, email_address="x@example.nl", status="subscribed")
    assert settled_failures(["1", "2", "3", "1"], desired, [resend]) == ["1"]
    assert settled_failures([], desired, [resend]) == []


def test_idle_unsubscribed_counts_the_r53_persons_nothing_is_sent_for() -> None:
    """R5.3, R9.1: archived (or absent) and not re-added: counted; live or acted on: not."""
    jan = Person(
        person_id="1", kind=CLIENT, christian_name="Jan", surname="Smit",
        contact_email="jan@example.nl", correspondence_groups=("Nieuwsbrief",), linked=True,
    )  # fmt: skip
    desired = desired_state([jan])
    notice = UnsubscribedNotice(
        person_id="1", kind=CLIENT, email_address="jan@example.nl", status="unsubscribed"
    )
    member = CurrentMember(email_address="jan@example.nl", status="archived")
    assert idle_unsubscribed([notice], [], desired, [member]) == 1
    assert idle_unsubscribed([notice], [], desired, []) == 1
    live = attrs.evolve(member, status="unsubscribed")
    assert idle_unsubscribed([notice], [], desired, [live]) == 0  # counted up to date
    assert idle_unsubscribed([notice], [upsert()], desired, [member]) == 0  # counted pushed
    assert idle_unsubscribed([], [], desired, [member]) == 0


def test_refused_data_is_not_sent_again_until_it_changes() -> None:
    """R6.3: the same fingerprint is left out; adopts and releases send nothing anyway."""
    actions_ = (upsert(), move(), ARCHIVE, ADOPT, RELEASE)
    refused = {"1": fingerprint(upsert())}
    kept, skipped = without_refused(actions_, refused)
    assert without_refused(actions_, {}) == (actions_, 0)
    assert (kept, skipped) == (actions_[1:], 1)
    assert fingerprint(upsert(merge_fields={"LNAME": "Anders"})) != refused["1"]
    assert len({fingerprint(a) for a in (upsert(), move(), ARCHIVE)}) == 3


@pytest.mark.parametrize(
    ("removals", "managed", "stops"),
    [(19, 20, False), (20, 80, False), (20, 79, True), (21, 80, True), (100, 1000, False)],
)
def test_the_mass_archive_guard_has_two_thresholds(
    removals: int,
    managed: int,
    stops: bool,  # noqa: FBT001 - a parametrized case
) -> None:
    """R7.5: more than a quarter of the managed members, and at least 20."""
    assert too_many(removals, managed) is stops


def test_mass_archive_counts_removals_and_live_managed_members() -> None:
    """R7.5: archives and releases are removals; archived records are not managed."""
    current = [
        _record("a@example.nl", "1"),
        _record("b@example.nl", "2", "archived"),
        CurrentMember(email_address="c@example.nl"),
    ]
    assert mass_archive([ARCHIVE, RELEASE, ADOPT], current) == (2, 1)


def test_the_report_lists_each_person_and_address_once() -> None:
    """R5.3: what the plan knew and what the answers told, once each, sorted."""
    planned = after(start(upsert()), Answer(status="unsubscribed")).notices
    learned = after(Look(action=move()), Answer(status="unsubscribed")).notices
    assert [n.email_address for n in merged(learned + planned, planned)] == [
        "jan.nieuw@example.nl",
        "jan@example.nl",
    ]


def test_only_actions_that_send_need_the_key_checked() -> None:
    """R6.4: adopts and releases send nothing, so they need no check of key and audience."""
    assert not sends([ADOPT, RELEASE])
    assert sends([ADOPT, ARCHIVE])


@pytest.mark.parametrize(
    ("recorded", "given", "stops"),
    [(None, "a1", None), ("a1", "a1", None), ("a1", "b2", "a1")],
)
def test_a_database_of_another_audience_stops_the_run(
    recorded: str | None, given: str, stops: str | None
) -> None:
    """R4.6: only a database that recorded another audience stops; a new one is bound."""
    assert other_audience(recorded, given) == stops
