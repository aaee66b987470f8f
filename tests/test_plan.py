"""The differ: removal (R4), AuditCase leads (R5), idempotence (R7.1), and its invariants."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditcase_mailchimp import (
    Adopt,
    Archive,
    ChangeAddress,
    Coupling,
    CurrentMember,
    DesiredState,
    MailchimpMember,
    Person,
    PersonKind,
    Plan,
    Release,
    Upsert,
    desired_state,
    plan_sync,
)
from auditcase_mailchimp._plan import Action, action_verb

from .strategies import current_states, person_lists

CLIENT = PersonKind.CLIENT_PERSON
CONTACT = PersonKind.CONTACT_PERSON


# --- a pure, test-side model of what Mailchimp does with each action ---------------------------


def apply(current: Iterable[CurrentMember], plan: Plan) -> list[CurrentMember]:
    """Apply a plan to an audience the way Mailchimp and the coupling database would."""
    state = {m.key: m for m in current}
    for action in plan.actions:
        if isinstance(action, Upsert):
            old = state.get(action.key)
            coupling = Coupling(
                person_id=action.person_id, kind=action.kind, tags=action.member.tags
            )
            if old is None:
                state[action.key] = CurrentMember(
                    email_address=action.member.email_address,
                    first_name=action.merge_fields["FNAME"],
                    last_name=action.merge_fields["LNAME"],
                    tags=action.tags_add,
                    status="subscribed",
                    coupling=coupling,
                )
            else:
                state[action.key] = attrs.evolve(
                    old,
                    first_name=action.merge_fields.get("FNAME", old.first_name),
                    last_name=action.merge_fields.get("LNAME", old.last_name),
                    tags=(old.tags | action.tags_add) - action.tags_remove,
                    status="subscribed"
                    if action.send_status
                    else (action.previous_status or old.status),
                    coupling=coupling,
                )
        elif isinstance(action, ChangeAddress):
            old = state.pop(action.old_email_address.lower())
            assert old.status == "subscribed"  # Mailchimp changes addresses of subscribed only
            state[action.key] = attrs.evolve(
                old,
                email_address=action.member.email_address,
                first_name=action.merge_fields.get("FNAME", old.first_name),
                last_name=action.merge_fields.get("LNAME", old.last_name),
                tags=(old.tags | action.tags_add) - action.tags_remove,
                coupling=Coupling(
                    person_id=action.person_id, kind=action.kind, tags=action.member.tags
                ),
            )
        elif isinstance(action, Archive | Release):  # the coupling database's view of both
            old = state[action.key]
            assert old.coupling is not None
            state[action.key] = attrs.evolve(
                old,
                status="archived",
                coupling=attrs.evolve(old.coupling, status_at_archive=old.status),
            )
        else:
            assert isinstance(action, Adopt)
            state[action.key] = attrs.evolve(
                state[action.key],
                status=action.status,
                coupling=Coupling(
                    person_id=action.person_id, kind=action.kind, tags=action.member.tags
                ),
            )
    return list(state.values())


def _addresses(plan: Plan) -> list[str]:
    keys = []
    for action in plan.actions:
        keys.append(action.key)
        if isinstance(action, ChangeAddress):
            keys.append(action.old_email_address.lower())
    return keys


def _person(person_id: str, **overrides: Any) -> Person:
    fields: dict[str, Any] = {
        "person_id": person_id,
        "kind": CLIENT,
        "christian_name": "Jan",
        "surname": "Jansen",
        "contact_email": "jan@example.nl",
        "correspondence_groups": ("Nieuwsbrief",),
        "linked": True,
    }
    fields.update(overrides)
    return Person(**fields)


def _pushed(
    email: str = "jan@example.nl",
    person_id: str = "1",
    *,
    tags: Iterable[str] = ("Nieuwsbrief",),
    managed: Iterable[str] | None = None,
    status: str = "subscribed",
    status_at_archive: str | None = None,
    first_name: str = "Jan",
    last_name: str = "Jansen",
) -> CurrentMember:
    tags = frozenset(tags)
    return CurrentMember(
        email_address=email,
        first_name=first_name,
        last_name=last_name,
        tags=tags,
        status=status,
        coupling=Coupling(
            person_id=person_id,
            kind=CLIENT,
            tags=frozenset(managed) if managed is not None else tags,
            status_at_archive=status_at_archive,
        ),
    )


def _only(plan: Plan) -> Any:
    assert len(plan.actions) == 1, plan.actions
    return plan.actions[0]


# --- creating and updating ---------------------------------------------------------------------


def test_a_new_person_is_created_with_everything() -> None:
    """R2 and R7: a linked person not in the audience is created with names, tags and no status."""
    action = _only(plan_sync([], desired_state([_person("1")])))
    assert isinstance(action, Upsert)
    assert action.create
    assert action.merge_fields == {"FNAME": "Jan", "LNAME": "Jansen"}
    assert action.tags_add == {"Nieuwsbrief"}
    assert not action.send_status
    assert action.previous_status is None
    assert action.email_address == "jan@example.nl"


def test_nothing_differs_nothing_is_planned() -> None:
    """R7.1: a sync with the same data plans nothing, and counts the member unchanged."""
    plan = plan_sync([_pushed()], desired_state([_person("1")]))
    assert plan.actions == ()
    assert not plan
    assert plan.unchanged == 1


def test_a_rename_updates_only_the_changed_field() -> None:
    """R5.2: a changed name is overwritten; only the field that changes is sent."""
    action = _only(plan_sync([_pushed()], desired_state([_person("1", surname="de Vries")])))
    assert isinstance(action, Upsert)
    assert not action.create
    assert action.merge_fields == {"LNAME": "de Vries"}
    assert action.tags_add == action.tags_remove == frozenset()


def test_changes_made_in_mailchimp_to_managed_data_are_overwritten() -> None:
    """R5.2: FNAME edited in Mailchimp and a managed tag removed there are put back."""
    current = _pushed(first_name="Jantje", tags=(), managed=("Nieuwsbrief",))
    action = _only(plan_sync([current], desired_state([_person("1")])))
    assert isinstance(action, Upsert)
    assert action.merge_fields == {"FNAME": "Jan"}
    assert action.tags_add == {"Nieuwsbrief"}


def test_regrouping_adds_and_removes_managed_tags() -> None:
    """R2.4 and R4.4: a new group is added, a dropped group's tag (set by the coupling) removed."""
    desired = desired_state([_person("1", correspondence_groups=("Fiscaal",))])
    action = _only(plan_sync([_pushed()], desired))
    assert isinstance(action, Upsert)
    assert action.tags_add == {"Fiscaal"}
    assert action.tags_remove == {"Nieuwsbrief"}


def test_a_group_renamed_in_case_only_keeps_its_tag() -> None:
    """R2.4: tags equal ignoring case are one tag; no add, no removal of the old spelling."""
    current = _pushed(tags=("Nieuwsbrief",))
    desired = desired_state([_person("1", correspondence_groups=("NIEUWSBRIEF",))])
    plan = plan_sync([current], desired)
    action = _only(plan)
    assert isinstance(action, Adopt)  # only the coupling's record changes
    after = apply([current], plan)
    assert plan_sync(after, desired).actions == ()


def test_tags_added_by_hand_are_never_removed() -> None:
    """R4.4: a tag added in Mailchimp by other means is never removed."""
    current = _pushed(tags=("Nieuwsbrief", "VIP"), managed=("Nieuwsbrief",))
    desired = desired_state([_person("1", correspondence_groups=())])
    action = _only(plan_sync([current], desired))
    assert isinstance(action, Upsert)
    assert action.tags_remove == {"Nieuwsbrief"}


def test_an_unmanaged_member_is_taken_over_without_losing_its_tags() -> None:
    """R4.4: an existing member not pushed by the coupling is updated, its own tags kept."""
    current = CurrentMember(email_address="jan@example.nl", tags=frozenset({"VIP"}))
    action = _only(plan_sync([current], desired_state([_person("1")])))
    assert isinstance(action, Upsert)
    assert not action.create
    assert action.tags_remove == frozenset()
    assert action.tags_add == {"Nieuwsbrief"}


def test_a_member_already_as_wanted_is_adopted_without_a_request() -> None:
    """R7.1: an unmanaged member already exactly as wanted needs no write, only a record."""
    current = CurrentMember(
        email_address="jan@example.nl",
        first_name="Jan",
        last_name="Jansen",
        tags=frozenset({"Nieuwsbrief"}),
    )
    action = _only(plan_sync([current], desired_state([_person("1")])))
    assert isinstance(action, Adopt)
    assert action.email_address == "jan@example.nl"
    assert (
        plan_sync(apply([current], Plan(actions=(action,))), desired_state([_person("1")])).actions
        == ()
    )


def test_an_adopted_member_keeps_its_status_in_the_record() -> None:
    """R5.3: adopting an unsubscribed member records it as unsubscribed, and reports it."""
    current = CurrentMember(
        email_address="jan@example.nl",
        first_name="Jan",
        last_name="Jansen",
        tags=frozenset({"Nieuwsbrief"}),
        status="unsubscribed",
    )
    plan = plan_sync([current], desired_state([_person("1")]))
    action = _only(plan)
    assert isinstance(action, Adopt)
    assert action.status == "unsubscribed"
    assert [n.status for n in plan.unsubscribed] == ["unsubscribed"]


# --- removal: R4 -------------------------------------------------------------------------------


def test_an_unlinked_person_is_archived() -> None:
    """R4.1, R4.2: a pushed person set to Nee is archived, with the status it had (R4.3)."""
    action = _only(
        plan_sync([_pushed(status="unsubscribed")], desired_state([_person("1", linked=False)]))
    )
    assert action == Archive(
        person_id="1", kind=CLIENT, email_address="jan@example.nl", status="unsubscribed"
    )


def test_a_person_gone_from_auditcase_is_archived() -> None:
    """R4.1: a pushed person no longer in AuditCase at all is archived."""
    assert isinstance(_only(plan_sync([_pushed()], desired_state([]))), Archive)


def test_an_unmanaged_member_is_never_archived() -> None:
    """R4.4: members added in Mailchimp by other means are never archived."""
    assert plan_sync([CurrentMember(email_address="x@example.nl")], desired_state([])).actions == ()


def test_an_archived_member_is_not_archived_again() -> None:
    """R7.1: archiving is done once."""
    current = _pushed(status="archived", status_at_archive="subscribed")
    assert plan_sync([current], desired_state([])).actions == ()


def test_a_held_persons_member_is_left_alone() -> None:
    """R2.6: a linked person whose address became invalid is reported, its member left as it is."""
    desired = desired_state([_person("1", contact_email="kapot")])
    plan = plan_sync([_pushed()], desired)
    assert plan.actions == ()
    assert desired.held == {"1"}


def test_a_duplicate_loser_keeps_its_old_member() -> None:
    """R3.2 with R2.6: a person not pushed because of a duplicate address is not removed either."""
    persons = [
        _person("1", contact_email="info@example.com"),
        _person("2", kind=CONTACT, contact_email="info@example.com"),
    ]
    plan = plan_sync([_pushed("oud@example.nl", "2")], desired_state(persons))
    assert [type(a) for a in plan.actions] == [Upsert]
    assert plan.actions[0].person_id == "1"


def test_relinking_readds_an_archived_member_with_status() -> None:
    """R4.2 and MAILCHIMP.md §4: an archived member comes back only when status is sent."""
    current = _pushed(status="archived", status_at_archive="subscribed")
    action = _only(plan_sync([current], desired_state([_person("1")])))
    assert isinstance(action, Upsert)
    assert action.send_status
    assert action.previous_status == "archived"


@pytest.mark.parametrize("before", ["unsubscribed", "cleaned"])
def test_relinking_never_resubscribes_one_who_unsubscribed_before_archiving(before: str) -> None:
    """R4.3 and R5.3: archived while unsubscribed or cleaned: not re-added, but reported."""
    current = _pushed(status="archived", status_at_archive=before)
    plan = plan_sync([current], desired_state([_person("1")]))
    assert plan.actions == ()
    assert [(n.person_id, n.status) for n in plan.unsubscribed] == [("1", before)]


# --- AuditCase leads, but never re-subscribes: R5.3 --------------------------------------------


@pytest.mark.parametrize("status", ["unsubscribed", "cleaned"])
def test_unsubscribed_members_are_updated_but_never_resubscribed(status: str) -> None:
    """R5.3: names and tags still updated, status never sent, the person listed for the report."""
    plan = plan_sync([_pushed(status=status)], desired_state([_person("1", surname="Smit")]))
    action = _only(plan)
    assert isinstance(action, Upsert)
    assert not action.send_status
    assert action.merge_fields == {"LNAME": "Smit"}
    assert [(n.person_id, n.email_address, n.status) for n in plan.unsubscribed] == [
        ("1", "jan@example.nl", status)
    ]


def test_unsubscribed_with_nothing_to_change_is_still_reported() -> None:
    """R5.3: the report lists the person even when nothing is sent."""
    plan = plan_sync([_pushed(status="unsubscribed")], desired_state([_person("1")]))
    assert plan.actions == ()
    assert len(plan.unsubscribed) == 1


def test_pending_and_transactional_members_keep_their_status() -> None:
    """R2.5 with R5.1: the coupling sets subscribed only when it creates or re-adds a member."""
    for status in ("pending", "transactional"):
        plan = plan_sync([_pushed(status=status)], desired_state([_person("1", surname="Smit")]))
        assert not _only(plan).send_status
        assert plan.unsubscribed == ()


# --- address changes: R5.4 ---------------------------------------------------------------------


def test_a_new_address_changes_the_existing_member() -> None:
    """R5.4: the member's address is changed instead of archiving it and creating a new one."""
    desired = desired_state([_person("1", contact_email="jan.nieuw@example.nl", surname="Smit")])
    action = _only(plan_sync([_pushed()], desired))
    assert isinstance(action, ChangeAddress)
    assert action.old_email_address == "jan@example.nl"
    assert action.email_address == "jan.nieuw@example.nl"
    assert action.merge_fields == {"LNAME": "Smit"}
    assert action.tags_add == action.tags_remove == frozenset()


def test_a_new_address_that_is_already_a_member_updates_it_and_archives_the_old() -> None:
    """R5.4: if the new address already belongs to a member, it is updated and the old archived."""
    existing = CurrentMember(email_address="jan.nieuw@example.nl", first_name="J")
    desired = desired_state([_person("1", contact_email="jan.nieuw@example.nl")])
    plan = plan_sync([_pushed(), existing], desired)
    kinds = {type(a): a for a in plan.actions}
    assert set(kinds) == {Upsert, Archive}
    assert kinds[Archive].email_address == "jan@example.nl"
    assert kinds[Upsert].email_address == "jan.nieuw@example.nl"


@pytest.mark.parametrize("status", ["cleaned", "pending"])
def test_a_cleaned_member_is_released_and_the_new_address_added(status: str) -> None:
    """R5.4, R4.5: a cleaned (or pending) member cannot move: release it, add the new one."""
    desired = desired_state([_person("1", contact_email="jan.nieuw@example.nl")])
    plan = plan_sync([_pushed(status=status)], desired)
    release, upsert = sorted(plan.actions, key=lambda a: type(a).__name__)
    assert release == Release(
        person_id="1", kind=CLIENT, email_address="jan@example.nl", status=status
    )
    assert isinstance(upsert, Upsert)
    assert upsert.create


@pytest.mark.parametrize("names", ["same", "changed"])
def test_a_member_released_while_pending_is_never_sent_a_status(names: str) -> None:
    """R4.5, R2.5: re-linked, it is updated without ``status``: its confirmation is awaited."""
    released = _pushed(status="archived", status_at_archive="pending")
    surname = "Jansen" if names == "same" else "Smit"
    (action,) = plan_sync([released], desired_state([_person("1", surname=surname)])).actions
    if names == "same":
        assert isinstance(action, Adopt)
        assert (action.person_id, action.status) == ("1", "pending")
    else:
        assert isinstance(action, Upsert)
        assert (action.send_status, action.previous_status) == (False, "pending")


@pytest.mark.parametrize(
    ("status", "removal"),
    [
        ("cleaned", Release),
        ("pending", Release),
        ("subscribed", Archive),
        ("unsubscribed", Archive),
        ("transactional", Archive),
    ],
)
def test_an_unlinked_member_is_archived_unless_mailchimp_refuses_that(
    status: str, removal: type[Archive | Release]
) -> None:
    """R4.5: a cleaned or pending member is released, never archived; the others archived."""
    plan = plan_sync([_pushed(status=status)], desired_state([]))
    (action,) = plan.actions
    assert type(action) is removal
    assert (action.email_address, action.status) == ("jan@example.nl", status)
    assert plan.count(removal) == 1


def test_an_unsubscribed_member_is_not_signed_up_under_a_new_address() -> None:
    """R5.4: an unsubscribed member is left, the new address not added, the person reported."""
    desired = desired_state([_person("1", contact_email="jan.nieuw@example.nl")])
    plan = plan_sync([_pushed(status="unsubscribed")], desired)
    assert plan.actions == ()
    assert [(n.email_address, n.status) for n in plan.unsubscribed] == [
        ("jan@example.nl", "unsubscribed")
    ]


def test_an_unsubscribed_old_member_still_lets_an_existing_new_one_be_updated() -> None:
    """R5.4: with the old member unsubscribed, a live member at the new address is still updated."""
    existing = _pushed("jan.nieuw@example.nl", "1", first_name="X")
    desired = desired_state([_person("1", contact_email="jan.nieuw@example.nl")])
    plan = plan_sync([_pushed(status="unsubscribed"), existing], desired)
    action = _only(plan)
    assert isinstance(action, Upsert)
    assert action.email_address == "jan.nieuw@example.nl"


def test_a_swap_of_addresses_changes_no_address() -> None:
    """R5.4 with R3: an old address another person now wants is updated for them, not moved."""
    persons = [
        _person("1", contact_email="b@example.nl"),
        _person("2", contact_email="a@example.nl"),
    ]
    current = [_pushed("a@example.nl", "1"), _pushed("b@example.nl", "2")]
    plan = plan_sync(current, desired_state(persons))
    assert {type(a) for a in plan.actions} == {Adopt}
    assert {(a.person_id, a.key) for a in plan.actions} == {
        ("1", "b@example.nl"),
        ("2", "a@example.nl"),
    }


def test_two_current_members_for_one_address_are_refused() -> None:
    """R2.3: the audience cannot hold two members whose addresses are equal ignoring case."""
    with pytest.raises(ValueError, match="two members for one address"):
        plan_sync([_pushed("a@example.nl"), _pushed("A@example.nl")], desired_state([]))


def test_plan_counts_its_actions() -> None:
    """The plan's counts, as the report shows them."""
    plan = plan_sync([_pushed("oud@example.nl", "9")], desired_state([_person("1")]))
    assert (plan.count(Upsert), plan.count(Archive), plan.count(ChangeAddress)) == (1, 1, 0)
    assert plan


# --- properties (issue 2, item 6) --------------------------------------------------------------


def _as_pushed(desired: DesiredState) -> list[CurrentMember]:
    return [
        CurrentMember(
            email_address=member.email_address,
            first_name=member.first_name,
            last_name=member.last_name,
            tags=member.tags,
            coupling=Coupling(
                person_id=desired.persons[key].person_id,
                kind=desired.persons[key].kind,
                tags=member.tags,
            ),
        )
        for key, member in desired.members.items()
    ]


@given(person_lists())
def test_planning_a_state_against_itself_gives_nothing(persons: list[Person]) -> None:
    """R7.1: when the audience holds exactly what AuditCase wants, nothing is planned."""
    desired = desired_state(persons)
    plan = plan_sync(_as_pushed(desired), desired)
    assert plan.actions == ()
    assert plan.unchanged == len(desired.members)


@given(current_states(), person_lists())
def test_applying_the_plan_reaches_desired_and_touches_nothing_unmanaged(
    current: list[CurrentMember], persons: list[Person]
) -> None:
    """R4.4, R5.2, R5.3: after the plan, managed data is as desired and unmanaged data unchanged."""
    desired = desired_state(
        persons, owners={m.key: m.coupling.person_id for m in current if m.coupling}
    )
    plan = plan_sync(current, desired)
    after = {m.key: m for m in apply(current, plan)}
    before = {m.key: m for m in current}
    noticed = {n.person_id for n in plan.unsubscribed}

    for key, wanted in desired.members.items():
        person = desired.persons[key]
        member = after.get(key)
        if member is None or member.status == "archived":
            # Only R5.3/R5.4 may keep a wanted member out of the audience.
            assert person.person_id in noticed
            continue
        assert (member.first_name, member.last_name) == (wanted.first_name, wanted.last_name)
        assert {t.casefold() for t in wanted.tags} <= {t.casefold() for t in member.tags}
        assert member.coupling is not None
        assert member.coupling.person_id == person.person_id
        assert member.coupling.tags == wanted.tags

    for key, old in before.items():
        new = after.get(key)
        if old.coupling is None and key not in desired.members:
            assert new == old  # R4.4: never archived, never changed
        if new is not None:
            managed = old.coupling.tags if old.coupling else frozenset()
            assert old.tags - managed <= new.tags  # R4.4: no unmanaged tag removed
            if old.status in {"unsubscribed", "cleaned"}:
                assert new.status in {old.status, "archived"}  # R5.3: never re-subscribed
        if (
            old.coupling is not None
            and old.coupling.person_id in desired.held
            and key not in desired.members
        ):
            assert new == old  # R2.6: problems never remove anyone
    for action in plan.actions:
        if isinstance(action, Upsert) and action.send_status:
            assert before[action.key].status == "archived"
            coupling = before[action.key].coupling
            assert coupling is None or coupling.status_at_archive not in {"unsubscribed", "cleaned"}


@given(current_states(), person_lists())
def test_planning_again_after_applying_gives_nothing(
    current: list[CurrentMember], persons: list[Person]
) -> None:
    """R7.1: a second sync with the same AuditCase data sends no writes."""
    desired = desired_state(persons)
    after = apply(current, plan_sync(current, desired))
    assert plan_sync(after, desired).actions == ()


@given(current_states(), person_lists())
def test_at_most_one_action_per_address(
    current: list[CurrentMember], persons: list[Person]
) -> None:
    """Invariant 5: no address is touched by two actions (an address change counts for both)."""
    addresses = _addresses(plan_sync(current, desired_state(persons)))
    assert len(addresses) == len(set(addresses))


@given(current_states(), person_lists(), st.randoms(use_true_random=False))
def test_the_plan_does_not_depend_on_input_order(
    current: list[CurrentMember], persons: list[Person], rng: random.Random
) -> None:
    """Invariant 7: the same plan whatever the order of current members and persons."""
    shuffled_current, shuffled_persons = current[:], persons[:]
    rng.shuffle(shuffled_current)
    rng.shuffle(shuffled_persons)
    assert plan_sync(current, desired_state(persons)) == plan_sync(
        shuffled_current, desired_state(shuffled_persons)
    )


@given(current_states(), person_lists())
def test_the_differ_never_archives_or_untags_what_it_does_not_manage(
    current: list[CurrentMember], persons: list[Person]
) -> None:
    """Invariants 1-3 (R4.4, R5.3) checked on the actions themselves."""
    before = {m.key: m for m in current}
    for action in plan_sync(current, desired_state(persons)).actions:
        if isinstance(action, Archive | Release):
            assert before[action.key].coupling is not None
            # R4.5: Mailchimp refuses to archive cleaned and pending members
            assert (before[action.key].status in {"cleaned", "pending"}) is isinstance(
                action, Release
            )
        if isinstance(action, Upsert | ChangeAddress) and action.tags_remove:
            source = (
                before[action.key]
                if isinstance(action, Upsert)
                else before[action.old_email_address.lower()]
            )
            assert source.coupling is not None
            assert action.tags_remove <= source.coupling.tags
            wanted = {t.casefold() for t in action.member.tags}
            assert not any(t.casefold() in wanted for t in action.tags_remove)


def test_each_action_has_one_verb() -> None:
    """R7.3: the one word the plan's JSON and text give each kind of action."""
    member = MailchimpMember(email_address="jan@example.nl")
    client = PersonKind.CLIENT_PERSON
    person: dict[str, Any] = {"person_id": "1", "kind": client}
    removal: dict[str, Any] = {**person, "email_address": "jan@example.nl", "status": "cleaned"}
    actions: list[Action] = [
        Upsert(**person, member=member, create=True),
        Upsert(**person, member=member, create=False, send_status=True),
        Upsert(**person, member=member, create=False),
        ChangeAddress(**person, member=member, old_email_address="oud@example.nl"),
        Archive(**removal),
        Release(**removal),
        Adopt(**person, member=member),
    ]
    assert [action_verb(a) for a in actions] == [
        "create", "re-add", "update", "change_address", "archive", "release", "record",
    ]  # fmt: skip


def test_the_plan_is_sorted_by_key_whatever_the_spelling() -> None:
    """Plan order: by lower-cased address, for addresses in any case, trimmed or not (R2.3)."""
    current = [
        _pushed("Zed@Example.NL", "1"),
        _pushed(" Ärger@example.nl ", "2"),
        _pushed("bert@example.nl", "3"),
        _pushed("b@example.nl", "7"),
    ]
    persons = [
        _person("4", contact_email="Ann@Example.nl"),
        _person("5", contact_email="carl@example.nl"),
        _person("6", contact_email="ZOE@EXAMPLE.NL"),
        _person("7", contact_email="b@example.nl"),
    ]
    plan = plan_sync(current, desired_state(persons))
    keys = [action.key for action in plan.actions]
    assert keys == [
        "ann@example.nl", "bert@example.nl", "carl@example.nl", "zed@example.nl",
        "zoe@example.nl", "ärger@example.nl",
    ]  # fmt: skip
