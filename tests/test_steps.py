"""The rules of carrying a plan out (_steps): every answer to every step, table and property."""

from __future__ import annotations

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
    MailchimpMember,
    Person,
    PersonKind,
    Release,
    UnsubscribedNotice,
    Upsert,
    desired_state,
)
from auditcase_mailchimp._plan import Action
from auditcase_mailchimp._steps import (
    Answer,
    Archived,
    Entry,
    Keep,
    Look,
    Move,
    Moved,
    Note,
    Removal,
    Scope,
    Status,
    Step,
    Tags,
    Then,
    after,
    counted,
    fingerprint,
    hold,
    idle_unsubscribed,
    joined,
    mass_archive,
    merged,
    partial,
    planned_counts,
    record_of,
    sends,
    settled_failures,
    stale_failures,
    stale_problems,
    start,
    too_many,
    without_refused,
)

CLIENT = PersonKind.CLIENT_PERSON
JAN = MailchimpMember(
    email_address="jan.nieuw@example.nl",
    first_name="Jan",
    last_name="Smit",
    tags=frozenset({"Nieuwsbrief", "BTW"}),
)
STATUSES = ["", "subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"]


def upsert(**fields: Any) -> Upsert:
    """An update of Jan's member, changed by ``fields``."""
    values: dict[str, Any] = {
        "person_id": "1",
        "kind": CLIENT,
        "member": JAN,
        "create": False,
        "merge_fields": {"LNAME": "Smit"},
        "previous_status": "subscribed",
    }
    values.update(fields)
    return Upsert(**values)


def move(**fields: Any) -> ChangeAddress:
    """Jan's member moving from jan@ to jan.nieuw@, changed by ``fields``."""
    values: dict[str, Any] = {
        "person_id": "1",
        "kind": CLIENT,
        "old_email_address": "jan@example.nl",
        "member": JAN,
    }
    values.update(fields)
    return ChangeAddress(**values)


ARCHIVE = Archive(person_id="1", kind=CLIENT, email_address="jan@example.nl", status="subscribed")
RELEASE = Release(person_id="1", kind=CLIENT, email_address="jan@example.nl", status="cleaned")
ADOPT = Adopt(person_id="1", kind=CLIENT, member=JAN, status="unsubscribed")

OK = Answer(status="subscribed")
REFUSED = Answer(ok=False)


# --- table: the first step of each action ------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "step"),
    [
        (ADOPT, Note),
        (RELEASE, Note),
        (ARCHIVE, Look),
        (move(), Move),
        (upsert(), Entry),
        (upsert(create=True), Entry),
        (upsert(merge_fields={}, send_status=True), Entry),
        (upsert(merge_fields={}, tags_add=frozenset({"BTW"})), Entry),
        (upsert(merge_fields={}, tags_remove=frozenset({"Oud"})), Tags),
    ],
)
def test_each_action_starts_with_its_step(action: Action, step: type) -> None:
    """Issue 8.2: an update with only tags to remove needs no batch-subscribe entry."""
    first = start(action)
    assert type(first) is step
    assert first.action == action


# --- table: what each answer leads to ----------------------------------------------------------


def test_a_refused_entry_is_a_failure_of_what_was_attempted() -> None:
    """R6.1: a refusal of a create or update goes to the overview under that name."""
    assert after(start(upsert(create=True)), REFUSED) == Then(failed="create")
    assert after(start(upsert()), REFUSED) == Then(failed="update")


def test_an_entry_records_the_member_and_counts_as_mailchimp_says() -> None:
    """R7.2: one record per answer; a lost earlier attempt may have created it already."""
    then = after(start(upsert(create=True)), Answer(status="subscribed", created=False))
    (write,) = then.writes
    assert isinstance(write, Keep)
    assert write.record.coupling == Coupling(person_id="1", kind=CLIENT, tags=JAN.tags)
    assert (then.step, then.counts, then.resolves) == (None, ("updated",), True)


def test_tags_to_remove_stay_managed_until_their_removal_is_confirmed() -> None:
    """R4.4, R7.2: a crash between the entry and the tags call removes them next time."""
    action = upsert(tags_remove=frozenset({"Oud"}))
    then = after(start(action), OK)
    (write,) = then.writes
    assert isinstance(write, Keep)
    assert write.record.tags == JAN.tags | {"Oud"}
    assert then.step == Tags(
        action=action, add=frozenset(), remove=frozenset({"Oud"}), status="subscribed"
    )
    done = after(then.step, Answer())
    (final,) = done.writes
    assert isinstance(final, Keep)
    assert final.record.tags == JAN.tags
    assert done.counts == ("updated", "tags_changed")
    assert after(then.step, REFUSED) == Then(failed="tags")


@pytest.mark.parametrize("status", ["unsubscribed", "cleaned"])
def test_an_answer_saying_unsubscribed_puts_the_person_on_the_report(status: str) -> None:
    """R5.3: learned from the batch answer, even when the database thought otherwise."""
    then = after(start(upsert()), Answer(status=status))
    assert [(n.person_id, n.status) for n in then.notices] == [("1", status)]


def test_an_answer_saying_archived_keeps_the_status_before() -> None:
    """R4.3: a member archived by hand keeps the status it had, so it is never re-added."""
    then = after(start(upsert(previous_status="unsubscribed")), Answer(status="archived"))
    (write,) = then.writes
    assert isinstance(write, Keep)
    assert write.record.coupling is not None
    assert write.record.coupling.status_at_archive == "unsubscribed"


def test_a_move_records_the_new_address_then_sets_the_tags() -> None:
    """R5.4: the member keeps its history; tags added later count as not yet managed."""
    action = move(tags_add=frozenset({"BTW"}), tags_remove=frozenset({"Oud"}))
    then = after(Move(action=action), OK)
    (write,) = then.writes
    assert isinstance(write, Moved)
    assert write.old_email_address == "jan@example.nl"
    assert write.record.tags == {"Nieuwsbrief", "Oud"}
    assert isinstance(then.step, Tags)
    assert (then.step.add, then.step.remove) == (frozenset({"BTW"}), frozenset({"Oud"}))
    assert after(then.step, Answer()).counts == ("address_changes", "tags_changed")
    plain = after(Move(action=move()), OK)
    assert (plain.step, plain.counts) == (None, ("address_changes",))


def test_a_move_refused_for_good_is_a_failure_and_a_fallback_looks_first() -> None:
    """R5.4: Mailchimp would not move the member: read the old one before anything else."""
    action = move()
    assert after(Move(action=action), REFUSED) == Then(failed="change_address")
    assert after(Move(action=action), Answer(ok=False, fallback=True)) == Then(
        step=Look(action=action)
    )
    assert after(Look(action=action), REFUSED) == Then(failed="change_address")


def test_an_unsubscribed_old_member_is_left_and_the_new_address_not_added() -> None:
    """R5.4, R5.3: nobody who unsubscribed is signed up again under another address."""
    then = after(Look(action=move()), Answer(status="unsubscribed"))
    assert then.step is None
    assert then.writes == (Status(email_address="jan@example.nl", status="unsubscribed"),)
    assert [(n.email_address, n.status) for n in then.notices] == [
        ("jan@example.nl", "unsubscribed")
    ]
    assert (then.counts, then.resolves, then.failed) == ((), False, "")


@pytest.mark.parametrize(
    ("old", "writes", "next_step", "counts"),
    [
        ("", (Keep, Moved), None, ("address_changes",)),
        ("archived", (Moved,), None, ("address_changes",)),
        ("cleaned", (Keep, Archived), None, ("address_changes", "released")),
        ("pending", (Keep, Archived), None, ("address_changes", "released")),
        ("subscribed", (Keep,), Removal, ()),
        ("transactional", (Keep,), Removal, ()),
    ],
)
def test_the_fallback_adds_the_new_address_and_deals_with_the_old(
    old: str, writes: tuple[type, ...], next_step: type | None, counts: tuple[str, ...]
) -> None:
    """R5.4, R4.5: gone: the record moves; cleaned or pending: released; else archived."""
    action = move()
    entry = after(Look(action=action), Answer(status=old)).step
    assert isinstance(entry, Entry)
    assert entry.merge_fields == {"FNAME": "Jan", "LNAME": "Smit"}
    assert entry.tags == JAN.tags
    assert after(entry, REFUSED) == Then(failed="change_address")
    then = after(entry, OK)
    assert {type(w) for w in then.writes} <= set(writes)
    assert type(then.writes[-1]) is writes[-1]
    assert (type(then.step) if then.step else None, then.counts) == (next_step, counts)
    if isinstance(then.step, Removal):
        assert then.step.email_address == "jan@example.nl"
        assert after(then.step, REFUSED) == Then(failed="change_address")
        done = after(then.step, Answer())
        assert done.writes == (Archived(email_address="jan@example.nl", status=old),)
        assert done.counts == ("address_changes",)


def test_the_fallback_removes_managed_tags_last() -> None:
    """R5.4 with R4.4: the old member archived, then the tags AuditCase no longer wants."""
    action = move(tags_remove=frozenset({"Oud"}))
    entry = after(Look(action=action), Answer(status="subscribed")).step
    assert isinstance(entry, Entry)
    removal = after(entry, OK).step
    assert isinstance(removal, Removal)
    tags = after(removal, Answer()).step
    assert tags == Tags(
        action=action, add=frozenset(), remove=frozenset({"Oud"}), status="subscribed"
    )


def test_archive_release_and_adopt_record_and_count() -> None:
    """R4.2, R4.3, R4.5: archived or released with the status it had; adopt only records."""
    removal = after(start(ARCHIVE), Answer(status="subscribed")).step
    assert removal == Removal(action=ARCHIVE, email_address="jan@example.nl", status="subscribed")
    archived = after(removal, Answer(status="archived"))
    assert archived.writes == (Archived(email_address="jan@example.nl", status="subscribed"),)
    assert (archived.counts, archived.resolves) == (("archived",), True)
    assert after(start(ARCHIVE), REFUSED) == Then(failed="archive")
    assert after(removal, REFUSED) == Then(failed="archive")
    released = after(start(RELEASE), Answer())
    assert released.writes == (Archived(email_address="jan@example.nl", status="cleaned"),)
    assert released.counts == ("released",)
    adopted = after(start(ADOPT), Answer())
    (write,) = adopted.writes
    assert isinstance(write, Keep)
    assert write.record.status == "unsubscribed"
    assert (adopted.counts, adopted.resolves) == (("adopted",), False)


@pytest.mark.parametrize(
    ("status", "writes", "counts"),
    [
        ("cleaned", (Archived(email_address="jan@example.nl", status="cleaned"),), ("released",)),
        ("pending", (Archived(email_address="jan@example.nl", status="pending"),), ("released",)),
        (
            "archived",
            (Archived(email_address="jan@example.nl", status="subscribed"),),
            ("archived",),
        ),
        ("", (Archived(email_address="jan@example.nl", status="subscribed"),), ("archived",)),
    ],
)
def test_an_archive_answered_cannot_be_removed_reads_the_member(
    status: str, writes: tuple[Archived, ...], counts: tuple[str, ...]
) -> None:
    """R4.5: "cannot be removed" leads to a read; cleaned/pending released, else archived."""
    removal = Removal(action=ARCHIVE, email_address="jan@example.nl", status="subscribed")
    look = after(removal, Answer(absent=True)).step
    assert look == Look(action=ARCHIVE, removed="subscribed")
    assert look.email_address == "jan@example.nl"
    then = after(look, Answer(status=status))
    assert (then.writes, then.counts, then.resolves) == (writes, counts, True)


def _removal(status: str) -> Then:
    return Then(step=Removal(action=ARCHIVE, email_address="jan@example.nl", status=status))


def _out(status: str, count: str) -> Then:
    written = (Archived(email_address="jan@example.nl", status=status),)
    return Then(writes=written, counts=(count,), resolves=True)


@pytest.mark.parametrize(
    ("status", "then"),
    [
        ("subscribed", _removal("subscribed")),
        ("unsubscribed", _removal("unsubscribed")),
        ("transactional", _removal("transactional")),
        ("cleaned", _out("cleaned", "released")),
        ("pending", _out("pending", "released")),
        ("archived", _out("subscribed", "archived")),
        ("", _out("subscribed", "archived")),
    ],
)
def test_an_archive_reads_the_member_first(status: str, then: Then) -> None:
    """R4.3, R4.5, R5.3: the status read is the status at archiving; no DELETE when cleaned."""
    assert after(start(ARCHIVE), Answer(status=status)) == then


def test_an_archive_whose_member_is_still_live_after_cannot_be_removed_fails() -> None:
    """R6.1: a member Mailchimp would not archive and that is still live is a failure."""
    look = Look(action=ARCHIVE, removed="subscribed")
    assert after(look, Answer(status="subscribed")) == Then(failed="archive")
    assert after(look, REFUSED) == Then(failed="archive")
    assert Look(action=move()).email_address == "jan@example.nl"


# --- property: every answer to every step ends recorded, no step twice -------------------------

tag_sets = st.frozensets(st.sampled_from(["Nieuwsbrief", "BTW", "Oud", "Seminar"]), max_size=3)
statuses = st.sampled_from(STATUSES)


@st.composite
def actions(draw: st.DrawFn) -> Action:
    """Any action the planner may emit, with any tags to add and remove."""
    add, remove = draw(tag_sets), draw(tag_sets)
    choices: list[Action] = [
        upsert(tags_add=add, tags_remove=remove),
        upsert(create=True, tags_add=add),
        upsert(merge_fields={}, tags_remove=remove | {"Oud"}),
        upsert(send_status=True, previous_status="archived"),
        move(tags_add=add, tags_remove=remove),
        ARCHIVE,
        RELEASE,
        ADOPT,
    ]
    return draw(st.sampled_from(choices))


answers = st.builds(
    Answer,
    ok=st.booleans(),
    status=statuses,
    created=st.booleans(),
    fallback=st.booleans(),
    absent=st.booleans(),
)


@given(actions(), st.lists(answers, min_size=6, max_size=6))
def test_every_answer_to_every_step_ends_recorded(action: Action, replies: list[Answer]) -> None:
    """Issue 8.2: each action ends within five steps, no step twice, the end recorded (R6, R7.2)."""
    step: Step | None = start(action)
    seen: list[Step] = []
    then = Then()
    for answer in replies:
        assert step is not None
        assert step not in seen  # no step is finished twice
        assert step.action == action
        seen.append(step)
        then = after(step, answer)
        if isinstance(action, Upsert | ChangeAddress):
            for write in then.writes:
                if isinstance(write, Keep | Moved) and then.step is not None:
                    assert action.tags_remove <= write.record.tags  # invariant 3
        step = then.step
        if step is None:
            break
    assert step is None, "an action must end within five steps"
    assert then.failed or then.writes or then.notices or then.counts
    if then.failed:
        assert (then.writes, then.counts, then.resolves) == ((), (), False)


@given(actions())
def test_what_is_done_counts_as_planned(action: Action) -> None:
    """The counting rule, written once: confirmed without fallback, the plan's counts."""
    step: Step | None = start(action)
    counts: list[str] = []
    while step is not None:
        created = isinstance(action, Upsert) and action.create
        then = after(step, Answer(status="subscribed", created=created))
        counts.extend(then.counts)
        step = then.step
    assert tuple(counts) == counted(action)
    planned = planned_counts([action])
    assert sorted(name for name, n in planned.items() for _ in range(n)) == sorted(counts)


def test_counting_rule() -> None:
    """R9.1: tags_changed counts members that were there already and whose tags change."""
    assert counted(upsert(create=True, tags_add=frozenset({"BTW"}))) == ("created",)
    assert counted(upsert(tags_add=frozenset({"BTW"}))) == ("updated", "tags_changed")
    assert counted(upsert(), created=True) == ("created",)
    assert counted(move(tags_remove=frozenset({"Oud"}))) == ("address_changes", "tags_changed")


# --- the rules around a run --------------------------------------------------------------------


def _record(
    email: str, person_id: str, status: str = "subscribed", **coupling: Any
) -> CurrentMember:
    return CurrentMember(
        email_address=email,
        status=status,
        coupling=Coupling(person_id=person_id, kind=CLIENT, **coupling),
    )


def test_record_of_keeps_the_status_before_archiving() -> None:
    """R4.3: only a member now archived keeps what it was; unknown status means subscribed."""
    member = record_of("1", CLIENT, JAN, managed=frozenset(), status="")
    assert member.status == "subscribed"
    gone = record_of("1", CLIENT, JAN, managed=frozenset(), status="archived", before="archived")
    assert gone.coupling is not None
    assert gone.coupling.status_at_archive is None


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


def test_refused_data_is_not_sent_again_until_it_changes() -> None:
    """R6.3: the same fingerprint is left out; adopts and releases send nothing anyway."""
    actions_ = (upsert(), move(), ARCHIVE, ADOPT, RELEASE)
    refused = {"1": fingerprint(upsert())}
    kept, skipped = without_refused(actions_, refused)
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
