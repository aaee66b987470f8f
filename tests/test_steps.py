"""The rules of carrying a plan out (_steps): every answer to every step, table and property."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditcase_mailchimp import (
    Adopt,
    Archive,
    ChangeAddress,
    Coupling,
    MailchimpMember,
    PersonKind,
    Release,
    Upsert,
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
    Status,
    Step,
    Tags,
    Then,
    after,
    counted,
    first_step,
    planned_counts,
    record_of,
    start,
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
    assert first_step(action) is step  # what the runner sorts the plan by, before any step


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


@given(actions())
def test_the_first_step_is_of_the_kind_first_step_names(action: Action) -> None:
    """Issue 8: the runner sorts actions into phases by first_step before taking any step."""
    assert type(start(action)) is first_step(action)


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


# --- records (R4.3) ----------------------------------------------------------------------------


def test_record_of_keeps_the_status_before_archiving() -> None:
    """R4.3: only a member now archived keeps what it was; unknown status means subscribed."""
    member = record_of("1", CLIENT, JAN, managed=frozenset(), status="")
    assert member.status == "subscribed"
    gone = record_of("1", CLIENT, JAN, managed=frozenset(), status="archived", before="archived")
    assert gone.coupling is not None
    assert gone.coupling.status_at_archive is None


def test_a_record_checks_the_status_mailchimp_reported() -> None:
    """MAILCHIMP.md §8: the status in Mailchimp's answer comes from outside: it is checked."""
    with pytest.raises(ValueError, match="'status'"):
        record_of("1", CLIENT, JAN, managed=frozenset(), status="bounced")
    with pytest.raises(ValueError, match="'status'"):
        after(start(upsert()), Answer(status="bounced"))
