"""R7.4: the intent of each request, and settling an unfinished run's intents (_settle)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditcase_mailchimp import Coupling, CurrentMember, PersonKind
from auditcase_mailchimp._schema import MIGRATIONS
from auditcase_mailchimp._settle import (
    STEPS,
    Intent,
    IntentStep,
    Settled,
    applied,
    intent_keys,
    intent_of,
    read_in_pages,
    settle,
)
from auditcase_mailchimp._steps import (
    Answer,
    Archived,
    Entry,
    Keep,
    Look,
    Moved,
    Note,
    Removal,
    Step,
    Tags,
    Write,
    after,
    start,
)

from .strategies import all_tags, kinds, statuses
from .test_steps import ADOPT, ARCHIVE, JAN, move, upsert

CLIENT = PersonKind.CLIENT_PERSON
NEW = "jan.nieuw@example.nl"
OLD = "jan@example.nl"


def held(address: str, status: str = "subscribed", tags: frozenset[str] = frozenset()) -> Any:
    """A member as Mailchimp holds it (read back, without coupling)."""
    return CurrentMember(
        email_address=address, first_name="Jan", last_name="Smit", tags=tags, status=status
    )


def record(address: str, tags: frozenset[str] = frozenset(), status: str = "subscribed") -> Any:
    """A coupling record of person 1."""
    return CurrentMember(
        email_address=address,
        first_name="Jan",
        last_name="Smit",
        tags=tags,
        status=status,
        coupling=Coupling(person_id="1", kind=CLIENT, tags=tags),
    )


def intent(step: str, **fields: Any) -> Intent:
    """Person 1's intent of ``step`` at the new address."""
    values: dict[str, Any] = {
        "person_id": "1", "kind": CLIENT, "step": step, "action": step, "key": NEW,
    }  # fmt: skip
    values.update(fields)
    return Intent(**values)


# --- table: the intent of each step -------------------------------------------------------------


def _look() -> Step:
    then = after(start(move()), Answer(ok=False, fallback=True))
    assert isinstance(then.step, Look)
    return then.step


def _fallback_entry() -> Step:
    then = after(_look(), Answer(status="subscribed"))
    assert isinstance(then.step, Entry)
    return then.step


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (start(ADOPT), None),
        (_look(), None),
        (
            start(upsert(create=True, tags_add=frozenset({"BTW"}))),
            intent("entry", action="create", tags_add=frozenset({"BTW"})),
        ),
        (start(upsert()), intent("entry", action="update")),
        (
            _fallback_entry(),
            intent("entry", action="change_address", old_key=OLD, tags_add=JAN.tags),
        ),
        (start(move()), intent("move", action="change_address", old_key=OLD)),
        (
            start(upsert(merge_fields={}, tags_remove=frozenset({"Oud"}))),
            intent("tags", tags_remove=frozenset({"Oud"})),
        ),
        (start(ARCHIVE), None),  # an archive first reads the member (R4.3, R4.5): no intent
        (
            Removal(action=ARCHIVE, email_address=ARCHIVE.email_address, status="subscribed"),
            intent("archive", key=OLD, status="subscribed"),
        ),
        (
            Removal(action=move(), email_address="Jan@Example.nl", status="pending"),
            intent("archive", action="change_address", key=OLD, status="pending"),
        ),
    ],
)
def test_each_request_has_its_intent(step: Step, expected: Intent | None) -> None:
    """R7.4: what each request is about to do: person, kind, addresses, tags, the attempt."""
    assert intent_of(step) == expected
    if expected is not None:
        assert intent_of(step).step in STEPS  # type: ignore[union-attr]


def test_the_steps_have_one_home() -> None:
    """R7.4: the intent table's CHECK lists the steps from the one place that defines them."""
    assert STEPS == tuple(IntentStep) == ("entry", "move", "tags", "archive")
    assert f"step IN ({', '.join(repr(step) for step in STEPS)})" in " ".join(MIGRATIONS[2])


def test_the_addresses_to_read_are_each_address_once_in_order() -> None:
    """R7.4: exactly the members of the open intents are read back, each once."""
    intents = [intent("move", old_key=OLD), intent("tags"), intent("archive", key="x@y.nl")]
    assert intent_keys(intents) == [NEW, OLD, "x@y.nl"]


@pytest.mark.parametrize(
    ("keys", "records", "pages"),
    [(1, 0, False), (20, 0, False), (21, 0, True), (2000, 100_000, False), (2100, 100_000, True)],
)
def test_pages_are_read_only_when_they_are_fewer_requests(
    keys: int,
    records: int,
    pages: bool,  # noqa: FBT001 - a parameter of the table
) -> None:
    """R7.4: as cheaply as the API allows: per address for a few, the audience's pages for many."""
    assert read_in_pages(keys, records) is pages


# --- table: what is recorded of each open intent -------------------------------------------------

BTW = frozenset({"BTW"})
BOTH = frozenset({"BTW", "Nieuwsbrief"})


@pytest.mark.parametrize(
    ("the_intent", "read", "records", "expected"),
    [
        # a member created by the killed run becomes a managed record (R4.1 can archive it)
        (intent("entry", tags_add=BTW), {NEW: held(NEW, tags=BOTH)}, {},
         [Keep(record=record(NEW, BTW))]),
        # not carried out: nothing recorded, the plan sends it again
        (intent("entry", tags_add=BTW), {NEW: None}, {}, []),
        (intent("entry"), {NEW: held(NEW, status="archived")}, {}, []),
        # tags the intent set are managed; those it removed are no longer; others stay managed
        (intent("tags", tags_add=BTW, tags_remove=frozenset({"Oud"})),
         {NEW: held(NEW, tags=frozenset({"BTW", "Hand", "Seminar"}))},
         {NEW: record(NEW, frozenset({"Oud", "Seminar"}))},
         [Keep(record=record(NEW, frozenset({"BTW", "Seminar"})))]),
        (intent("tags", tags_remove=frozenset({"Oud"})),
         {NEW: held(NEW, status="unsubscribed", tags=frozenset({"Oud"}))},
         {NEW: record(NEW, frozenset({"Oud"}))},
         [Keep(record=record(NEW, frozenset({"Oud"}), status="unsubscribed"))]),
        # a completed address move is recorded at its new address
        (intent("move", old_key=OLD), {NEW: held(NEW, tags=BOTH), OLD: None},
         {OLD: record(OLD, BTW)},
         [Moved(old_email_address=OLD, record=record(NEW, BTW))]),
        (intent("move", old_key=OLD), {NEW: held(NEW), OLD: held(OLD)}, {OLD: record(OLD)}, []),
        (intent("move", old_key=OLD), {NEW: None, OLD: held(OLD)}, {OLD: record(OLD)}, []),
        # an archive that happened is recorded archived, keeping the status at archive (R4.3)
        (intent("archive", key=OLD, status="unsubscribed"), {OLD: held(OLD, status="archived")},
         {OLD: record(OLD)}, [Archived(email_address=OLD, status="unsubscribed")]),
        (intent("archive", key=OLD, status="subscribed"), {OLD: None}, {OLD: record(OLD)},
         [Archived(email_address=OLD, status="subscribed")]),
        (intent("archive", key=OLD, status="subscribed"), {OLD: held(OLD)}, {OLD: record(OLD)}, []),
    ],
)  # fmt: skip
def test_what_mailchimp_holds_is_recorded(
    the_intent: Intent,
    read: dict[str, CurrentMember | None],
    records: dict[str, CurrentMember],
    expected: list[Write],
) -> None:
    """R7.4: each open intent is settled by what Mailchimp holds at its addresses."""
    assert settle([the_intent], read, records) == expected


def test_later_intents_build_on_what_earlier_ones_settled() -> None:
    """R7.4: a move then a tag change on the new address: the tags carried over stay managed."""
    intents = [intent("move", old_key=OLD), intent("tags", tags_add=frozenset({"Seminar"}))]
    read = {NEW: held(NEW, tags=frozenset({"BTW", "Seminar"})), OLD: None}
    writes = settle(intents, read, {OLD: record(OLD, BTW)})
    assert writes[-1] == Keep(record=record(NEW, frozenset({"BTW", "Seminar"})))


# --- properties ----------------------------------------------------------------------------------

ADDRESSES = [NEW, OLD, "piet@example.nl"]


def members(address: str) -> st.SearchStrategy[CurrentMember | None]:
    """Nothing at ``address``, or a member in any status with any tags."""
    return st.none() | st.builds(held, st.just(address), statuses, all_tags)


@st.composite
def intents(draw: st.DrawFn) -> Intent:
    """Any intent over a few addresses."""
    step = draw(st.sampled_from(["entry", "move", "tags", "archive"]))
    key = draw(st.sampled_from(ADDRESSES))
    old = draw(st.sampled_from([a for a in ADDRESSES if a != key])) if step == "move" else ""
    return Intent(
        person_id=draw(st.sampled_from(["1", "2"])), kind=draw(kinds), step=step, action=step,
        key=key, old_key=old, tags_add=draw(all_tags), tags_remove=draw(all_tags),
        status=draw(statuses.filter(lambda s: s != "archived")) if step == "archive" else "",
    )  # fmt: skip


@given(
    st.lists(intents(), max_size=5),
    st.fixed_dictionaries({a: members(a) for a in ADDRESSES}),
    st.dictionaries(st.sampled_from(ADDRESSES), all_tags),
)
def test_settling_records_only_what_mailchimp_holds(
    open_intents: list[Intent],
    read: dict[str, CurrentMember | None],
    managed: dict[str, frozenset[str]],
) -> None:
    """R7.4: every record kept is a live member as read, with managed tags it really carries."""
    records = {a: record(a, tags) for a, tags in managed.items()}
    for write in settle(open_intents, read, records):
        if isinstance(write, Archived):
            found = read[write.email_address]
            assert found is None or found.status == "archived"
            continue
        assert isinstance(write, Keep | Moved)
        member = read[write.record.key]
        assert member is not None
        assert member.status != "archived"
        assert write.record.status == member.status
        assert write.record.coupling is not None
        assert write.record.tags == write.record.coupling.tags <= member.tags
        if isinstance(write, Moved):
            assert read[write.old_email_address] is None


@given(st.lists(intents(), max_size=5))
def test_nothing_carried_out_records_nothing(open_intents: list[Intent]) -> None:
    """R7.4: when Mailchimp holds none of the addresses, only archives are settled as done."""
    writes = settle(open_intents, dict.fromkeys(ADDRESSES), {})
    assert all(isinstance(w, Archived) for w in writes)
    assert len(writes) == sum(1 for i in open_intents if i.step == "archive")


def test_a_note_sends_nothing_so_has_no_intent() -> None:
    """R7.4: adopting or releasing sends no request, so nothing is recorded before it."""
    assert isinstance(start(ADOPT), Note)
    assert intent_of(start(ADOPT)) is None
    assert isinstance(start(upsert(merge_fields={}, tags_remove=BTW)), Tags)


def test_a_dry_run_sees_the_records_as_settling_would_leave_them() -> None:
    """R7.3, R7.4: the writes applied in memory: kept, moved, archived; unknown archives ignored."""
    records = [record(OLD, BTW), record("piet@example.nl")]
    writes: list[Settled] = [
        Moved(old_email_address=OLD, record=record(NEW, BTW)),
        Keep(record=record("zeven@example.nl")),
        Archived(email_address="Piet@example.nl", status="unsubscribed"),
        Archived(email_address="nobody@example.nl", status="subscribed"),
    ]
    after_settling = applied(records, writes)
    assert [m.key for m in after_settling] == [NEW, "piet@example.nl", "zeven@example.nl"]
    piet = after_settling[1]
    assert piet.status == "archived"
    assert piet.coupling is not None
    assert piet.coupling.status_at_archive == "unsubscribed"
