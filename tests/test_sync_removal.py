"""Removal against the fake: release (R4.5), the mass-archive guard (R7.5), remove_persons."""

from __future__ import annotations

import pytest

from auditcase_mailchimp import (
    MassArchiveError,
    SQLiteStore,
    remove_persons,
    subscriber_hash,
)

from .test_sync import BASE, CONTACT, World, person, world

__all__ = ["world"]  # the fixture, shared with test_sync


def _deletes(world: World) -> list[str]:
    return [r.path for r in world.fake.requests if r.method == "DELETE"]


def _record(world: World, key: str) -> tuple[str, str | None]:
    with SQLiteStore(world.db) as store:
        record = next(m for m in store.load_current() if m.key == key)
    assert record.coupling is not None
    return record.status, record.coupling.status_at_archive


def _statuses_sent(world: World) -> list[str]:
    """The addresses a batch-subscribe call sent a ``status`` for."""
    return [
        entry["email_address"]
        for r in world.fake.requests
        if isinstance(r.body, dict)
        for entry in r.body.get("members", [])
        if "status" in entry
    ]


def test_the_report_counts_persons_read_and_linked(world: World) -> None:
    """R1, R1.2: the summary says how many persons were read and how many are linked."""
    report = world.sync(BASE)
    assert (report.persons_read, report.persons_linked) == (5, 4)
    assert report.to_json()["persons_read"] == 5
    assert not report.removals_held


@pytest.mark.parametrize("status", ["cleaned", "pending"])
def test_an_unlinked_cleaned_member_is_released_not_archived(world: World, status: str) -> None:
    """R4.5: no DELETE for a cleaned or pending member; released, its status kept (R4.3)."""
    world.sync(BASE)
    world.fake.audience().set_status("piet@example.nl", status)
    world.sync(BASE, reconcile=True)  # the coupling learns the status
    world.fake.clear_log()
    unlinked = [BASE[0], person("2", "piet@example.nl", kind=CONTACT, linked=False), *BASE[2:]]
    report = world.sync(unlinked)
    assert (report.released, report.archived, report.failures) == (1, 0, ())
    assert _deletes(world) == []
    assert world.members()["piet@example.nl"].status == status
    assert _record(world, "piet@example.nl") == ("archived", status)
    assert report.to_json()["released"] == 1
    world.fake.clear_log()
    again = world.sync(unlinked, reconcile=True)  # released stays released
    assert (again.released, again.archived) == (0, 0)
    assert [r for r in world.writes() if "piet" in r] == []


def test_a_released_cleaned_member_is_never_resubscribed(world: World) -> None:
    """R4.5 with R5.3: re-linking a released bounced member lists it instead."""
    world.sync(BASE)
    world.fake.audience().clean("piet@example.nl")
    world.sync(BASE, reconcile=True)
    world.sync([BASE[0], *BASE[2:]])
    relinked = world.sync(BASE)
    assert world.members()["piet@example.nl"].status == "cleaned"
    assert [(n.person_id, n.status) for n in relinked.unsubscribed] == [("2", "cleaned")]


def test_a_cleaned_member_moving_address_is_released_and_the_new_added(world: World) -> None:
    """R5.4, R4.5: the new address is added; the bounced member released, not archived."""
    world.sync(BASE)
    world.fake.audience().clean("jan@example.nl")
    world.sync(BASE, reconcile=True)
    world.fake.clear_log()
    moved = [person("1", "jan.nieuw@example.nl"), *BASE[1:]]
    report = world.sync(moved)
    assert (report.created, report.released, report.archived) == (1, 1, 0)
    assert _deletes(world) == []
    members = world.members()
    assert members["jan.nieuw@example.nl"].status == "subscribed"
    assert members["jan@example.nl"].status == "cleaned"


def test_a_member_cleaned_unseen_moving_address_is_released_by_the_fallback(world: World) -> None:
    """R5.4, R4.5: the database thinks it subscribed; Mailchimp refuses the move; released."""
    world.sync(BASE)
    world.fake.audience().clean("jan@example.nl")  # no reconcile: the database does not know
    world.fake.clear_log()
    moved = [person("1", "jan.nieuw@example.nl", correspondence_groups=("Nieuwsbrief",)), *BASE[1:]]
    report = world.sync(moved)
    assert report.failures == ()
    assert _deletes(world) == []
    assert report.released == 1
    members = world.members()
    assert members["jan.nieuw@example.nl"].status == "subscribed"
    assert members["jan.nieuw@example.nl"].tags == {"Nieuwsbrief"}
    assert members["jan@example.nl"].status == "cleaned"
    assert _record(world, "jan@example.nl") == ("archived", "cleaned")
    world.fake.clear_log()
    world.sync(moved)
    assert world.writes() == []  # R7.1


# --- R7.5 ----------------------------------------------------------------------------------------

MANY = [person(str(i), f"p{i}@example.nl") for i in range(1, 81)]


@pytest.mark.parametrize(("kept", "stops"), [(60, False), (59, True)])
def test_a_plan_archiving_more_than_a_quarter_stops_before_sending(
    world: World,
    kept: int,
    stops: bool,  # noqa: FBT001 - a parametrized case
) -> None:
    """R7.5: 21 of 80 managed stops, naming the count; 20 of 80 (a quarter) goes ahead."""
    world.sync(MANY)
    world.fake.clear_log()
    with SQLiteStore(world.db) as store:
        runs = len(store.runs())
    if not stops:
        assert world.sync(MANY[:kept]).archived == 80 - kept
        return
    with pytest.raises(MassArchiveError) as caught:
        world.sync(MANY[:kept])
    assert (caught.value.count, caught.value.managed) == (21, 80)
    assert "21" in str(caught.value)
    assert "--allow-mass-archive" in str(caught.value)
    assert world.writes() == []  # nothing sent but the key and audience check (R6.4)
    with SQLiteStore(world.db) as store:
        assert len(store.runs()) == runs  # nothing written
    dry = world.sync(MANY[:kept], dry_run=True)
    assert (dry.mass_archive_blocked, dry.archived) == (True, 21)
    assert dry.to_json()["mass_archive_blocked"] is True
    allowed = world.sync(MANY[:kept], allow_mass_archive=True)
    assert (allowed.archived, allowed.mass_archive_blocked) == (21, False)


def test_a_small_audience_may_lose_most_of_its_members(world: World) -> None:
    """R7.5: under 20 removals never stop a run, whatever the share."""
    world.sync(MANY[:20])
    assert world.sync(MANY[:1]).archived == 19


# --- remove_persons ----------------------------------------------------------------------------


def test_remove_persons_archives_only_those_persons(world: World) -> None:
    """R4.1, R4.4 through the API: deleted in AuditCase, archived now; nobody else touched."""
    world.sync(BASE)
    world.fake.clear_log()
    with SQLiteStore(world.db) as store:
        report = remove_persons(
            ["1", "99"], store=store, client=world.client, list_id=world.fake.list_id
        )
    assert (report.archived, report.released, report.failures) == (1, 0, ())
    statuses = {k: m.status for k, m in world.members().items()}
    assert statuses.pop("jan@example.nl") == "archived"
    assert set(statuses.values()) == {"subscribed"}
    assert _record(world, "jan@example.nl") == ("archived", "subscribed")  # R4.3
    world.fake.clear_log()
    with SQLiteStore(world.db) as store:
        again = remove_persons(["1"], store=store, client=world.client, list_id=world.fake.list_id)
    assert again.archived == 0
    assert world.fake.requests == []


def test_remove_persons_releases_a_cleaned_member(world: World) -> None:
    """R4.5 through the API: a cleaned member is released, never sent a DELETE."""
    world.sync(BASE)
    world.fake.audience().clean("anna@example.com")
    world.sync(BASE, reconcile=True)
    world.fake.clear_log()
    with SQLiteStore(world.db) as store:
        report = remove_persons(["3"], store=store, client=world.client, list_id=world.fake.list_id)
    assert (report.released, report.archived) == (1, 0)
    assert world.fake.requests == []
    assert world.members()["anna@example.com"].status == "cleaned"


def test_remove_persons_leaves_a_person_with_a_problem_resolved(world: World) -> None:
    """R6.3: a removed person's problems no longer hold; they are resolved."""
    world.sync([person("1", "kapot@"), *BASE[1:]])
    with SQLiteStore(world.db) as store:
        assert [f.person_id for f in store.failures()] == ["1"]
        remove_persons(["1"], store=store, client=world.client, list_id=world.fake.list_id)
        assert store.failures() == []


def test_a_dry_run_shows_a_release_in_its_plan(world: World) -> None:
    """R7.3, R4.5: the JSON plan names a release as such; nothing is sent."""
    world.sync(BASE)
    world.fake.audience().clean("piet@example.nl")
    world.sync(BASE, reconcile=True)
    world.fake.clear_log()
    unlinked = [BASE[0], person("2", "piet@example.nl", kind=CONTACT, linked=False), *BASE[2:]]
    report = world.sync(unlinked, dry_run=True)
    plan = [(a["email_address"], a["action"]) for a in report.to_json()["plan"]]
    assert plan == [("piet@example.nl", "release")]
    assert world.fake.requests == []


@pytest.mark.parametrize("status", ["cleaned", "pending"])
def test_an_unlinked_member_cleaned_unseen_is_released_without_reconcile(
    world: World, status: str
) -> None:
    """R4.5: a member cleaned or pending unseen is released with that status, not archived."""
    world.sync(BASE)
    world.fake.audience().set_status("piet@example.nl", status)
    unlinked = [BASE[0], person("2", "piet@example.nl", kind=CONTACT, linked=False), *BASE[2:]]
    report = world.sync(unlinked)  # without --reconcile: the coupling thinks it subscribed
    assert (report.released, report.archived, report.failures) == (1, 0, ())
    assert _record(world, "piet@example.nl") == ("archived", status)
    world.fake.clear_log()
    world.sync(BASE)
    assert world.members()["piet@example.nl"].status == status
    assert _statuses_sent(world) == []  # R5.3: never re-subscribed


@pytest.mark.parametrize("hand", ["archive", "delete_permanently"])
def test_an_unlinked_member_archived_or_deleted_by_hand_is_recorded_archived(
    world: World, hand: str
) -> None:
    """R4.5, R4.3: a member already out (archived or gone) is recorded archived, no failure."""
    world.sync(BASE)
    getattr(world.fake.audience(), hand)("piet@example.nl")
    unlinked = [BASE[0], person("2", "piet@example.nl", kind=CONTACT, linked=False), *BASE[2:]]
    report = world.sync(unlinked)
    assert (report.released, report.archived, report.failures) == (0, 1, ())
    assert _record(world, "piet@example.nl") == ("archived", "subscribed")


def test_an_unsubscribed_member_unlinked_then_relinked_is_never_resubscribed(world: World) -> None:
    """R5.3, R4.3: without --reconcile, the archive reads the status; re-linking lists it."""
    world.sync(BASE)
    world.fake.audience().unsubscribe("piet@example.nl")
    unlinked = [BASE[0], person("2", "piet@example.nl", kind=CONTACT, linked=False), *BASE[2:]]
    world.fake.clear_log()
    report = world.sync(unlinked)
    assert report.archived == 1
    piet = [
        f"{r.method}"
        for r in world.fake.requests
        if r.path.endswith(subscriber_hash("piet@example.nl"))
    ]
    assert piet == ["GET", "DELETE"]  # one read per archive: the status at archiving (R4.3)
    assert _record(world, "piet@example.nl") == ("archived", "unsubscribed")
    world.fake.clear_log()
    relinked = world.sync(BASE)
    assert _statuses_sent(world) == []
    assert world.members()["piet@example.nl"].status == "archived"
    assert [(n.person_id, n.status) for n in relinked.unsubscribed] == [("2", "unsubscribed")]
