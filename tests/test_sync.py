"""The sync runner against the fake Mailchimp over real HTTP: SPEC.md R1-R7 end to end."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from auditcase_mailchimp import (
    CurrentMember,
    ExportFile,
    Person,
    PersonKind,
    SQLiteStore,
    SyncReport,
    push_persons,
    subscriber_hash,
    sync,
)
from auditcase_mailchimp._client import MailchimpClient
from auditcase_mailchimp._credentials import ApiKey
from auditcase_mailchimp._errors import AudienceNotFoundError, AuthenticationError
from auditcase_mailchimp.testing import FakeMailchimp, Fault

from .conftest import ManualClock, retry_policy

CLIENT = PersonKind.CLIENT_PERSON
CONTACT = PersonKind.CONTACT_PERSON


def person(person_id: str, email: str, **fields: Any) -> Person:
    """A linked person with a name and one group, unless told otherwise."""
    values: dict[str, Any] = {
        "person_id": person_id,
        "kind": CLIENT,
        "christian_name": "Jan",
        "surname": f"Jansen {person_id}",
        "contact_email": email,
        "correspondence_groups": ("Nieuwsbrief",),
        "linked": True,
    }
    values.update(fields)
    return Person(**values)


def write_export(path: Path, persons: Iterable[Person]) -> ExportFile:
    """Write persons as an AuditCase JSON Lines export (R8.5) and return it as a source."""
    lines = []
    for p in persons:
        record = {
            "PersonId": p.person_id,
            "PersonKind": "klant" if p.kind is CLIENT else "contactpersoon",
            "PersonInitialsRE": p.initials,
            "PersonChristianNameRE": p.christian_name,
            "PersonNameRE": p.surname,
            "ContactEMailRE": p.contact_email,
            "CompanyEmailREBT": p.company_email,
            "CorrespondenceGroupRE": list(p.correspondence_groups),
            "KoppelenMetMailChimp": p.linked,
            "MailingenOntvangen": p.receives_mailings,
            "UitsluitenVoorCorrespondentie": p.excluded_from_correspondence,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ExportFile(path)


class World:
    """The fake audience, a coupling database and a client: what one installation has."""

    def __init__(self, fake: FakeMailchimp, tmp_path: Path) -> None:
        """Set up on the fake, with a database in ``tmp_path``."""
        self.fake = fake
        self.tmp_path = tmp_path
        self.db = tmp_path / "coupling.sqlite3"
        self.clock = ManualClock()
        self.client = MailchimpClient(
            ApiKey(fake.api_key), base_url=fake.url, retry=retry_policy(self.clock)
        )

    def sync(self, persons: Iterable[Person], **options: Any) -> SyncReport:
        """Export the persons and run one sync of them."""
        source = write_export(self.tmp_path / "export.jsonl", persons)
        with SQLiteStore(self.db) as store:
            return sync(
                source, store=store, client=self.client, list_id=self.fake.list_id, **options
            )

    def members(self) -> dict[str, Any]:
        """The audience by lower-cased address."""
        return {m.email_address.lower(): m for m in self.fake.audience().members()}

    def writes(self) -> list[str]:
        """The requests that were not reads."""
        return [f"{r.method} {r.path}" for r in self.fake.requests if r.method != "GET"]


@pytest.fixture
def world(fake: FakeMailchimp, tmp_path: Path) -> Iterator[World]:
    """A fresh installation on a fresh fake."""
    here = World(fake, tmp_path)
    yield here
    here.client.close()


BASE = [
    person("1", "jan@example.nl", correspondence_groups=("Nieuwsbrief", "Fiscaal")),
    person("2", "piet@example.nl", kind=CONTACT, christian_name="", initials="P."),
    person("3", "anna@example.com", receives_mailings=False),
    person("4", "kees@example.com", excluded_from_correspondence=True),
    person("5", "niet@example.nl", linked=False),
]


def test_first_sync_pushes_every_linked_person_as_the_mapping_says(world: World) -> None:
    """R1, R2: linked persons of both kinds become subscribed members with names and tags."""
    report = world.sync(BASE)
    assert (report.created, report.updated, report.archived, report.tags_changed) == (4, 0, 0, 0)
    assert report.ok
    members = world.members()
    assert set(members) == {
        "jan@example.nl",
        "piet@example.nl",
        "anna@example.com",
        "kees@example.com",
    }
    assert all(m.status == "subscribed" for m in members.values())
    assert members["jan@example.nl"].tags == {"Nieuwsbrief", "Fiscaal"}
    assert (members["piet@example.nl"].first_name, members["piet@example.nl"].last_name) == (
        "P.",
        "Jansen 2",
    )
    assert "Mailingen-ontvangen-nee" in members["anna@example.com"].tags
    assert "Correspondentie-ontvangen-nee" in members["kees@example.com"].tags
    assert world.writes() == [f"POST /3.0/lists/{world.fake.list_id}"]  # one batch call


def test_a_repeat_run_sends_nothing(world: World) -> None:
    """R7.1: a sync with the same AuditCase data sends no request at all the second time."""
    world.sync(BASE)
    world.fake.clear_log()
    report = world.sync(BASE)
    assert world.fake.requests == []
    assert report.unchanged == 4
    assert (report.created, report.updated) == (0, 0)


def test_reconcile_sends_only_reads_when_nothing_drifted(world: World) -> None:
    """R7.1 with --reconcile: only the reads of the audience are sent."""
    world.sync(BASE)
    world.fake.clear_log()
    report = world.sync(BASE, reconcile=True)
    assert world.writes() == []
    assert report.unchanged == 4


def test_unlinking_archives_and_remembers_the_status(world: World) -> None:
    """R4.1-R4.3: an unlinked person is archived (not deleted); its status is kept."""
    world.sync(BASE)
    world.fake.audience().unsubscribe("piet@example.nl")
    world.sync(BASE, reconcile=True)
    changed = [*BASE[:1], person("2", "piet@example.nl", kind=CONTACT, linked=False), *BASE[2:]]
    report = world.sync(changed)
    assert report.archived == 1
    assert world.members()["piet@example.nl"].status == "archived"
    with SQLiteStore(world.db) as store:
        record = next(m for m in store.load_current() if m.key == "piet@example.nl")
    assert record.coupling is not None
    assert record.coupling.status_at_archive == "unsubscribed"
    relinked = world.sync(BASE)  # R5.3: never re-subscribed, listed instead
    assert world.members()["piet@example.nl"].status == "archived"
    assert [n.person_id for n in relinked.unsubscribed] == ["2"]


def test_a_person_gone_from_auditcase_is_archived(world: World) -> None:
    """R4.1: a pushed person that no longer appears at all is archived."""
    world.sync(BASE)
    report = world.sync(BASE[1:])
    assert report.archived == 1
    assert world.members()["jan@example.nl"].status == "archived"


def test_renames_and_regroups_are_pushed_and_hand_tags_kept(world: World) -> None:
    """R5.2, R4.4: names and managed tags follow AuditCase; a tag added by hand stays."""
    world.sync(BASE)
    world.fake.audience().add_tag("jan@example.nl", "VIP")
    changed = [
        person("1", "jan@example.nl", surname="de Vries", correspondence_groups=("BTW",)),
        *BASE[1:],
    ]
    report = world.sync(changed, reconcile=True)
    assert (report.updated, report.tags_changed) == (1, 1)
    jan = world.members()["jan@example.nl"]
    assert jan.last_name == "de Vries"
    assert jan.tags == {"BTW", "VIP"}


def test_changes_made_in_mailchimp_are_overwritten_on_reconcile(world: World) -> None:
    """R5.2: FNAME changed in Mailchimp and a managed tag removed there are put back."""
    world.sync(BASE)
    world.fake.audience().set_merge_field("jan@example.nl", "FNAME", "Jantje")
    world.fake.audience().remove_tag("jan@example.nl", "Fiscaal")
    world.sync(BASE, reconcile=True)
    jan = world.members()["jan@example.nl"]
    assert jan.first_name == "Jan"
    assert jan.tags == {"Nieuwsbrief", "Fiscaal"}


def test_a_new_address_moves_the_member(world: World) -> None:
    """R5.4: the member's address is changed (it keeps its history), nothing is archived."""
    world.sync(BASE)
    moved = [person("1", "jan.nieuw@example.nl", correspondence_groups=("Nieuwsbrief",)), *BASE[1:]]
    report = world.sync(moved)
    assert (report.address_changes, report.archived, report.created) == (1, 0, 0)
    members = world.members()
    assert "jan@example.nl" not in members
    assert members["jan.nieuw@example.nl"].tags == {"Nieuwsbrief"}
    assert world.sync(moved).unchanged == 4


def test_a_new_address_that_exists_updates_it_and_archives_the_old(world: World) -> None:
    """R5.4: the new address already belongs to a member: it is updated, the old archived."""
    world.sync(BASE)
    world.fake.audience().add("jan.nieuw@example.nl", first_name="J")
    moved = [person("1", "jan.nieuw@example.nl"), *BASE[1:]]
    world.sync(moved)  # the database does not know the new address: the fallback handles it
    members = world.members()
    assert members["jan.nieuw@example.nl"].first_name == "Jan"
    assert members["jan@example.nl"].status == "archived"


def test_an_unsubscribed_member_is_never_resubscribed(world: World) -> None:
    """R5.3: updated, never re-subscribed, and listed for the administrator."""
    world.sync(BASE)
    world.fake.audience().unsubscribe("anna@example.com")
    changed = [*BASE[:2], person("3", "anna@example.com", surname="Smit"), *BASE[3:]]
    report = world.sync(changed, reconcile=True)
    anna = world.members()["anna@example.com"]
    assert anna.status == "unsubscribed"
    assert anna.last_name == "Smit"
    assert [(n.person_id, n.status) for n in report.unsubscribed] == [("3", "unsubscribed")]
    with SQLiteStore(world.db) as store:
        assert [n.person_id for n in store.load_report().unsubscribed] == ["3"]


def test_an_unsubscribed_member_found_as_wanted_stays_on_the_report(world: World) -> None:
    """R5.3: a member unsubscribed before the coupling met it stays on the report next run."""
    world.fake.audience().add(
        "jan@example.nl",
        status="unsubscribed",
        first_name="Jan",
        last_name="Jansen 1",
        tags=("Nieuwsbrief", "Fiscaal"),
    )
    first = world.sync(BASE, reconcile=True)
    assert first.adopted == 1
    again = world.sync(BASE)  # from the coupling database only
    assert [(n.person_id, n.status) for n in again.unsubscribed] == [("1", "unsubscribed")]
    assert world.members()["jan@example.nl"].status == "unsubscribed"


def test_problems_are_reported_and_never_remove_anyone(world: World) -> None:
    """R2.6, R3.2, R6.2: problems go to the overview; a member of a problem person stays."""
    world.sync(BASE)
    broken = [
        person("1", "kapot@"),  # the address became invalid
        person("2", "piet@example.nl", kind=CONTACT),
        person("6", "piet@example.nl", kind=CONTACT),  # a duplicate of 2
        *BASE[2:],
    ]
    report = world.sync(broken)
    assert not report.ok
    assert world.members()["jan@example.nl"].status == "subscribed"
    assert {(p.person_id, p.category.value) for p in report.problems} == {
        ("1", "invalid_address"),
        ("2", "duplicate_address"),
        ("6", "duplicate_address"),
    }
    with SQLiteStore(world.db) as store:
        entries = store.failures()
        assert {(e.person_id, e.category) for e in entries} == {
            ("1", "invalid_address"),
            ("2", "duplicate_address"),
            ("6", "duplicate_address"),
        }
    fixed = world.sync(BASE)
    assert fixed.ok
    with SQLiteStore(world.db) as store:
        assert store.failures() == []  # resolved, not deleted
        assert len(store.failures(include_closed=True)) == 3


def test_a_refusal_is_recorded_and_not_resent_until_the_data_changes(world: World) -> None:
    """R6.1-R6.3: Mailchimp's refusal is in the overview; the same data is not sent again."""
    persons = [*BASE[:4], person("7", "test@example.nl")]  # the fake finds it fake
    report = world.sync(persons)
    assert [(f.person_id, f.category) for f in report.failures] == [
        ("7", "invalid_address_mailchimp")
    ]
    assert report.created == 4
    world.fake.clear_log()
    again = world.sync(persons)
    assert world.fake.requests == []  # R6.3: not sent again
    assert again.skipped_refused == 1
    retried = world.sync(persons, retry_failed=True)
    assert len(retried.failures) == 1
    with SQLiteStore(world.db) as store:
        (entry,) = store.failures()
        assert entry.attempts == 2  # the same entry, not a second one
        assert entry.status is None  # a per-address error in a batch answer has no status
        assert entry.title == "ERROR_GENERIC"
    renamed = [*BASE[:4], person("7", "echt@example.nl")]
    world.sync(renamed)
    with SQLiteStore(world.db) as store:
        assert store.failures() == []


@pytest.mark.parametrize("how", ["unlinked", "absent"])
def test_a_refusal_of_a_person_no_longer_linked_is_resolved(world: World, how: str) -> None:
    """R6.3: once a person is unlinked or gone, their refusals are resolved; dismissals stay."""
    persons = [*BASE[:4], person("7", "test@example.nl"), person("8", "test@example.com")]
    world.sync(persons)
    with SQLiteStore(world.db) as store:
        assert {e.person_id for e in store.failures()} == {"7", "8"}
        dismissed = [e.id for e in store.failures() if e.person_id == "8"]
        store.dismiss(dismissed)
    left = [person("7", "test@example.nl", linked=False)] if how == "unlinked" else []
    world.sync([*BASE[:4], *left])
    with SQLiteStore(world.db) as store:
        assert store.failures() == []
        entries = {e.person_id: e for e in store.failures(include_closed=True)}
        assert entries["7"].resolved
        assert (entries["8"].dismissed, entries["8"].resolved) == (True, False)
    world.sync([*BASE[:4], person("7", "test@example.nl")])  # linked again: refused again
    with SQLiteStore(world.db) as store:
        assert [e.person_id for e in store.failures()] == ["7"]


def test_a_push_leaves_the_refusals_of_others_open(world: World) -> None:
    """R6.3: a push of some persons says nothing about the refusals of the others."""
    world.sync([*BASE[:4], person("7", "test@example.nl")])
    with SQLiteStore(world.db) as store:
        push_persons([BASE[0]], store=store, client=world.client, list_id=world.fake.list_id)
        assert [e.person_id for e in store.failures()] == ["7"]


def test_faults_are_retried_and_the_final_state_is_right(world: World) -> None:
    """R6.3: rate limits, server errors and dropped connections are retried, boundedly."""
    world.fake.inject(
        Fault.rate_limited(retry_after="1"),
        Fault.server_error(503),
        Fault.dropped_connection(after_processing=True),
    )
    report = world.sync(BASE)
    assert report.ok
    assert report.created == 4
    assert len(world.members()) == 4
    assert world.fake.pending_faults == []
    assert len(world.clock.sleeps) == 3  # one wait per fault, none more


def test_a_bad_key_stops_before_anything_is_written(fake: FakeMailchimp, tmp_path: Path) -> None:
    """R6.4: a bad key stops the run with a clear error; nothing is written anywhere."""
    source = write_export(tmp_path / "export.jsonl", BASE)
    bad = MailchimpClient(ApiKey("f" * 32 + "-us6"), base_url=fake.url)
    with SQLiteStore(tmp_path / "db.sqlite3") as store:
        with pytest.raises(AuthenticationError):
            sync(source, store=store, client=bad, list_id=fake.list_id)
        assert store.runs() == []
        assert store.load_current() == []
    assert len(fake.audience()) == 0


def test_an_unknown_audience_stops_before_anything_is_written(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """R6.4: an unknown audience stops the run before anything is written."""
    source = write_export(tmp_path / "export.jsonl", BASE)
    with (
        SQLiteStore(tmp_path / "db.sqlite3") as store,
        MailchimpClient(ApiKey(fake.api_key), base_url=fake.url) as client,
    ):
        with pytest.raises(AudienceNotFoundError):
            sync(source, store=store, client=client, list_id="nosuchlist")
        assert store.runs() == []


def test_a_dry_run_writes_nothing_anywhere(world: World) -> None:
    """R7.3: the full plan, and not one write to Mailchimp or the coupling database."""
    world.sync(BASE)
    changed = [person("1", "jan@example.nl", surname="Smit"), *BASE[1:3]]
    world.fake.clear_log()
    before = world.db.read_bytes()
    source = write_export(world.tmp_path / "export.jsonl", changed)
    with SQLiteStore(world.db, read_only=True) as store:
        report = sync(
            source, store=store, client=world.client, list_id=world.fake.list_id, dry_run=True
        )
    assert (report.updated, report.archived) == (1, 1)
    assert len(report.plan.actions) == 2
    assert world.fake.requests == []
    assert world.db.read_bytes() == before


def test_progress_is_reported_per_phase(world: World) -> None:
    """A long run reports done and total per phase."""
    seen: list[tuple[str, int, int]] = []
    world.sync(BASE, progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert ("read", 5, 5) in seen
    assert ("push", 4, 4) in seen
    assert seen[0][0] == "read"


def test_push_persons_touches_only_those_persons(world: World) -> None:
    """A plugin pushes one saved person: only that person is planned and pushed."""
    world.sync(BASE)
    world.fake.clear_log()
    saved = person(
        "1", "jan@example.nl", surname="Bakker", correspondence_groups=("Nieuwsbrief", "Fiscaal")
    )
    with SQLiteStore(world.db) as store:
        report = push_persons([saved], store=store, client=world.client, list_id=world.fake.list_id)
    assert report.updated == 1
    assert world.members()["jan@example.nl"].last_name == "Bakker"
    assert len(world.writes()) == 1
    assert all(m.status == "subscribed" for m in world.members().values())


def test_push_persons_unlinked_is_archived_and_others_stay(world: World) -> None:
    """R4.1 through a push: the unlinked person is archived; nobody else is touched."""
    world.sync(BASE)
    with SQLiteStore(world.db) as store:
        report = push_persons(
            [person("2", "piet@example.nl", kind=CONTACT, linked=False)],
            store=store,
            client=world.client,
            list_id=world.fake.list_id,
        )
    assert report.archived == 1
    statuses = {k: m.status for k, m in world.members().items()}
    assert statuses.pop("piet@example.nl") == "archived"
    assert set(statuses.values()) == {"subscribed"}


def test_push_persons_keeps_an_address_another_person_holds(world: World) -> None:
    """R3.2 through a push: a person already pushed to the address keeps it."""
    world.sync(BASE)
    with SQLiteStore(world.db) as store:
        report = push_persons(
            [person("9", "jan@example.nl", kind=CONTACT, surname="Indringer")],
            store=store,
            client=world.client,
            list_id=world.fake.list_id,
        )
    assert [p.category.value for p in report.problems] == ["duplicate_address"]
    assert world.members()["jan@example.nl"].last_name == "Jansen 1"


class _NoScanStore(SQLiteStore):
    """A real store that refuses whole-table reads, to show what a push reads."""

    def load_current(self) -> list[CurrentMember]:
        """Refuse: a push of a few persons must not read every record."""
        raise AssertionError("a push read the whole coupling database")

    def owners(self) -> dict[str, str]:
        """Refuse likewise."""
        raise AssertionError("a push read every owner")


def test_push_persons_reads_only_its_persons_and_addresses(world: World) -> None:
    """Issue 12.7: a push looks up its persons and addresses; R3.2 still sees other owners."""
    world.sync(BASE)
    with _NoScanStore(world.db) as store:
        moved = push_persons(
            [person("1", "jan.nieuw@example.nl", correspondence_groups=("Nieuwsbrief", "Fiscaal"))],
            store=store,
            client=world.client,
            list_id=world.fake.list_id,
        )
        taken = push_persons(
            [person("9", "piet@example.nl", kind=CONTACT)],
            store=store,
            client=world.client,
            list_id=world.fake.list_id,
        )
    assert moved.address_changes == 1
    assert [p.category.value for p in taken.problems] == ["duplicate_address"]


def test_bad_rows_hold_their_persons(world: World) -> None:
    """R8.4 with R2.6: a skipped row's person is not archived for being absent."""
    world.sync(BASE)
    export = world.tmp_path / "export.jsonl"
    write_export(export, BASE)
    lines = export.read_text(encoding="utf-8").splitlines()
    lines[0] = lines[0].replace('"KoppelenMetMailChimp": true', '"KoppelenMetMailChimp": "Ja"')
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with SQLiteStore(world.db) as store:
        report = sync(
            ExportFile(export), store=store, client=world.client, list_id=world.fake.list_id
        )
    assert [e.person_id for e in report.row_errors] == ["1"]
    assert report.archived == 0
    assert world.members()["jan@example.nl"].status == "subscribed"
    assert not report.ok


def test_a_row_without_an_id_holds_everyone_absent(world: World) -> None:
    """R8.4: a bad row that names nobody could be anyone: nobody absent is archived."""
    world.sync(BASE)
    export = world.tmp_path / "export.jsonl"
    write_export(export, BASE[1:])
    with export.open("a", encoding="utf-8") as out:
        out.write("{not json\n")
    with SQLiteStore(world.db) as store:
        report = sync(
            ExportFile(export), store=store, client=world.client, list_id=world.fake.list_id
        )
    assert report.archived == 0
    assert report.removals_held  # and the report says so
    assert world.members()["jan@example.nl"].status == "subscribed"


def test_many_persons_go_in_batches_of_500(world: World) -> None:
    """MAILCHIMP.md §5.1: creates travel in batch-subscribe calls of at most 500 members."""
    many = [person(str(i), f"p{i}@example.nl") for i in range(1, 1202)]
    report = world.sync(many)
    assert report.created == 1201
    batches = [
        r for r in world.fake.requests if r.method == "POST" and r.path.endswith(world.fake.list_id)
    ]
    assert sorted(len(r.body["members"]) for r in batches) == [201, 500, 500]
    assert world.fake.max_in_flight <= 10


def test_an_unsubscribed_member_is_not_signed_up_under_a_new_address(world: World) -> None:
    """R5.4, R5.3: even when the database still thinks the member subscribed."""
    world.sync(BASE)
    world.fake.audience().unsubscribe("jan@example.nl")  # not seen: no reconcile
    moved = [
        person("1", "jan.nieuw@example.nl", correspondence_groups=("Nieuwsbrief", "Fiscaal")),
        *BASE[1:],
    ]
    report = world.sync(moved)
    members = world.members()
    assert "jan.nieuw@example.nl" not in members
    assert members["jan@example.nl"].status == "unsubscribed"
    assert [(n.person_id, n.status) for n in report.unsubscribed] == [("1", "unsubscribed")]
    world.fake.clear_log()
    world.sync(moved)
    assert world.writes() == []  # and the next run leaves it alone too


def test_a_member_archived_by_hand_while_unsubscribed_is_not_readded(world: World) -> None:
    """R4.3, R5.3: the status before the archiving is kept from the batch answer."""
    world.sync(BASE)
    world.fake.audience().unsubscribe("anna@example.com")
    world.sync(BASE, reconcile=True)
    world.fake.audience().archive("anna@example.com")
    renamed = [
        *BASE[:2],
        person("3", "anna@example.com", receives_mailings=False, surname="Smit"),
        *BASE[3:],
    ]
    world.sync(renamed)  # the answer says archived
    world.sync(renamed)
    assert world.members()["anna@example.com"].status == "archived"


def test_a_failed_read_in_the_fallback_fails_one_person_only(world: World) -> None:
    """R6.4: a server error while looking at the old member is that person's failure."""
    world.sync(BASE)
    world.fake.audience().add("jan.nieuw@example.nl")
    world.fake.inject(
        *[Fault.server_error(503, method="GET", path_contains=subscriber_hash("jan@example.nl"))]
        * 4
    )
    moved = [person("1", "jan.nieuw@example.nl"), *BASE[1:3]]  # 4 is unlinked: archived
    report = world.sync(moved)
    assert [(f.person_id, f.category) for f in report.failures] == [("1", "server_error")]
    assert report.archived == 1


class _StoreOfBefore(SQLiteStore):
    """A store of one's own written against the protocol before ``person_ids`` came."""

    def failures(self, *, include_closed: bool = False) -> list[Any]:  # type: ignore[override]
        """The older signature: every entry."""
        return super().failures(include_closed=include_closed)

    def refused(self) -> dict[str, str]:  # type: ignore[override]
        """The older signature: every refusal."""
        return super().refused()


def test_a_whole_sync_asks_a_store_only_what_the_older_protocol_offered(
    fake: FakeMailchimp, tmp_path: Path
) -> None:
    """Issue 8.4: person_ids is asked for by pushes only; a whole sync runs on an older store."""
    source = write_export(tmp_path / "export.jsonl", [person("1", "jan@example.nl")])
    client = MailchimpClient(ApiKey(fake.api_key), base_url=fake.url)
    with client, _StoreOfBefore(tmp_path / "c.sqlite3") as store:
        report = sync(source, store=store, client=client, list_id=fake.list_id)  # type: ignore[arg-type]
    assert report.ok
    assert report.created == 1
