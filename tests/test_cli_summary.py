"""The administrator's summary (R9.1), --json and its schemas (R9.2, R9.4), exit status (R9.6)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import attrs
import jsonschema  # type: ignore[import-untyped]
import pytest

from auditcase_mailchimp import (
    Archive,
    FailureInput,
    MassArchiveError,
    Person,
    PersonKind,
    Plan,
    Problem,
    ProblemCategory,
    RowError,
    SQLiteStore,
    SyncReport,
    UnsubscribedNotice,
    is_valid_email_address,
)
from auditcase_mailchimp._cli_context import Context, SafeStream
from auditcase_mailchimp._cli_exit import explain
from auditcase_mailchimp._cli_sync import Progress
from auditcase_mailchimp._i18n import translations
from auditcase_mailchimp._json_out import failures_output, schema, sync_output
from auditcase_mailchimp._summary import address_fault, summarise
from auditcase_mailchimp._summary_text import fault_text, render_summary

from .test_cli import R92_KEYS, Cli
from .test_sync import BASE, CONTACT, World, person, world, write_export

__all__ = ["world"]  # the fixture, shared with test_sync

EN = translations("en")
NL = translations("nl")
COMMAND = "auditcase-mailchimp sync --source export.csv --list-id abc"


def _report(**fields: Any) -> SyncReport:
    """A report as the runner gives it after merge: persons read and linked counted."""
    values: dict[str, Any] = {
        "dry_run": False,
        "reconcile": False,
        "persons_read": 65,
        "persons_linked": 56,
        "created": 44,
        "problems": (
            Problem(person_id="10011", kind=PersonKind.CLIENT_PERSON,
                    category=ProblemCategory.NO_ADDRESS, message="m"),
            Problem(person_id="10012", kind=PersonKind.CLIENT_PERSON,
                    category=ProblemCategory.INVALID_ADDRESS, message="m",
                    email_address="w.meijer@example"),
            Problem(person_id="1", kind=PersonKind.CLIENT_PERSON,
                    category=ProblemCategory.DUPLICATE_ADDRESS, message="m",
                    email_address="a@b.nl", others=("2",), pushed=True),
            Problem(person_id="2", kind=PersonKind.CONTACT_PERSON,
                    category=ProblemCategory.DUPLICATE_ADDRESS, message="m",
                    email_address="A@b.nl", others=("1",)),
        ),
        "row_errors": (RowError(line=7, column="MailingenOntvangen", person_id="77",
                                message="must be Ja or Nee"),),
        "failures": (
            FailureInput(person_id="9", kind=PersonKind.CLIENT_PERSON, action="create",
                         category="invalid_address_mailchimp", title="Invalid Resource",
                         email_address="test@example.nl", status=400, detail="looks fake"),
        ),
        "unsubscribed": (
            UnsubscribedNotice(person_id="5", kind=PersonKind.CLIENT_PERSON,
                               email_address="u@example.nl", status="unsubscribed"),
        ),
    }  # fmt: skip
    values.update(fields)
    return SyncReport(**values)


def test_summary_tells_read_linked_pushed_left_out_and_why() -> None:
    """R9.1: persons read, linked, pushed, left out, grouped by reason with counts."""
    summary = summarise(_report(), duration_seconds=1.234, command=COMMAND)
    text = "\n".join(render_summary(summary, EN))
    assert "Sync finished in 1.23 s." in text
    assert "65 persons read from the export: 56 linked to Mailchimp, 9 not linked" in text
    assert "44 pushed, 0 already up to date, 4 left out" in text
    assert "1 row of the export could not be read" in text
    assert "line 7, column MailingenOntvangen, person 77: must be Ja or Nee" in text
    assert "1 person without an e-mail address" in text
    assert "client 10012  w.meijer@example: has no dot after the @" in text
    assert "a@b.nl: client 1 (pushed), contact person 2" in text
    assert "1 address Mailchimp does not accept" in text
    assert "1 person unsubscribed or bounced in Mailchimp, still linked" in text
    assert summary.exit_status == 1


def test_each_person_is_listed_once() -> None:
    """R9.1: a person appears once, in one group, not once per problem message."""
    summary = summarise(_report(), duration_seconds=0, command=COMMAND)
    text = "\n".join(render_summary(summary, EN))
    assert text.count("client 1 ") + text.count("client 1\n") <= 1
    assert text.count("contact person 2") == 1
    assert text.count("10011") == 1


def test_summary_in_dutch() -> None:
    """R9.1: the same summary in Dutch for a Dutch administrator."""
    summary = summarise(_report(), duration_seconds=75, command=COMMAND)
    text = "\n".join(render_summary(summary, NL))
    assert "Sync klaar in 1 min 15 s." in text
    assert "65 personen gelezen uit de export: 56 gekoppeld met Mailchimp, 9 niet gekoppeld" in text
    assert "Plan: 0 aan te maken, 0 bij te werken, 0 te archiveren." in text
    assert "klant 10012  w.meijer@example: heeft geen punt na de @" in text
    assert "Volgende stap:" in text


def test_plan_line_as_terraform_prints_it() -> None:
    """R9.1: 'Plan: N to create, N to update, N to archive.'."""
    archive = Archive(person_id="3", kind=PersonKind.CLIENT_PERSON,
                      email_address="x@example.nl", status="subscribed")  # fmt: skip
    report = _report(plan=Plan(actions=(archive,)), problems=(), failures=(), row_errors=())
    text = "\n".join(render_summary(summarise(report, duration_seconds=0, command=COMMAND), EN))
    assert "Plan: 0 to create, 0 to update, 1 to archive." in text


def test_next_command_only_when_there_is_something_to_do() -> None:
    """R9.1: the next command to run is named where there is something to do."""
    clean = _report(problems=(), failures=(), row_errors=(), unsubscribed=())
    summary = summarise(clean, duration_seconds=0, command=COMMAND)
    assert summary.next_steps == ()
    assert summary.exit_status == 0
    dirty = summarise(_report(skipped_refused=2), duration_seconds=0, command=COMMAND, db="x.db")
    commands = [step.command for step in dirty.next_steps]
    assert COMMAND in commands
    assert "auditcase-mailchimp failures --db x.db" in commands
    assert f"{COMMAND} --retry-failed" in commands
    assert "auditcase-mailchimp report --db x.db" in commands


def test_removals_held_and_released_are_said() -> None:
    """R8.4, R4.5: the summary says removals wait and members were released."""
    report = _report(removals_held=True, released=2)
    text = "\n".join(render_summary(summarise(report, duration_seconds=0, command=COMMAND), EN))
    assert "Nobody was archived" in text
    assert "2 bounced or pending members released instead of archived" in text


@pytest.mark.parametrize(
    ("address", "fault"),
    [
        ("w.meijer@example", "no_dot_in_domain"),
        ("ijsbrand hendriks@example.nl", "space"),
        ("verkoop@example,nl", "comma"),
        ("a@b.nl;c@d.nl", "semicolon"),
        ("jan.example.nl", "no_at"),
        ("a@b@c.nl", "several_at"),
        ("@example.nl", "nothing_before_at"),
        ("jan@", "nothing_after_at"),
        ("andré@example.nl", "accent"),
        ("jan..jansen@example.nl", "dot_misplaced"),
        ("jan@example.nl.", "dot_misplaced"),
        ("jan@example.1", "bad_ending"),
        ("jan<x>@example.nl", "bad_character"),
        ("jan@exa_mple.nl", "bad_character"),
        ("j" * 65 + "@example.nl", "too_long"),
        ("", "empty"),
    ],
)
def test_an_invalid_address_says_what_is_wrong(address: str, fault: str) -> None:
    """R2.6, R9.1: each refused address gets a reason an administrator can act on."""
    assert not is_valid_email_address(address)
    assert address_fault(address) == fault
    assert fault_text(fault, EN) != fault_text("other", EN)
    assert fault_text(fault, NL) != fault_text(fault, EN)


def test_valid_addresses_have_no_particular_fault() -> None:
    """R2.6: a valid address gets the neutral code."""
    assert address_fault("jan@example.nl") == "other"


# --- the command line -----------------------------------------------------------------------


@pytest.fixture
def cli(fake: Any, tmp_path: Path) -> Cli:
    """The command line against a fresh fake."""
    return Cli(fake, tmp_path)


@pytest.fixture
def bad_export(tmp_path: Path) -> Path:
    """An export with a person without an address, one refused, and a shared address."""
    path = tmp_path / "bad.jsonl"
    write_export(
        path,
        [*BASE, person("8", ""), person("9", "test@example.nl"),
         person("6", "jan@example.nl", kind=CONTACT), person("7", "x@example")],
    )  # fmt: skip
    return path


def _validate(name: str, document: object) -> None:
    jsonschema.validate(document, schema(name))


def test_sync_json_matches_its_schema_and_counts_problems_like_the_text(
    cli: Cli, bad_export: Path
) -> None:
    """R9.1: --json holds the summary's facts; 'problems' counts row errors as the text does."""
    assert cli.sync(bad_export, "--json") == 1
    data = json.loads(cli.out)
    _validate("sync", data)
    assert data["exit_status"] == 1
    assert data["problems"] == 4  # no address, invalid, two sharing an address
    assert data["failures"] == 1
    assert data["persons_read"] == 9
    assert {g["category"] for g in data["groups"]} == {
        "no_address", "invalid_address", "duplicate_address", "invalid_address_mailchimp",
    }  # fmt: skip
    (invalid,) = (g for g in data["groups"] if g["category"] == "invalid_address")
    assert invalid["persons"][0]["reason"] == "no_dot_in_domain"
    assert cli.sync(bad_export) == 1  # the refused person is not sent again: still counted
    assert "5 problems to fix:" in cli.out
    assert "1 person refused by Mailchimp before with the same data" in cli.out


def test_dry_run_json_matches_its_schema(cli: Cli, bad_export: Path) -> None:
    """R7.3, R9.1: the dry run's JSON carries the plan and validates."""
    assert cli.sync(bad_export, "--dry-run", "--json") == 1
    data = json.loads(cli.out)
    _validate("sync", data)
    assert data["plan_counts"]["create"] == 5  # 4 + the one Mailchimp will refuse
    assert data["dry_run"] is True


def test_failures_json_pins_the_r92_keys_and_matches_its_schema(cli: Cli, bad_export: Path) -> None:
    """R9.2: every entry has the keys SPEC.md names; the array validates."""
    cli.sync(bad_export)
    assert cli("failures", "--db", cli.db, "--json") == 0
    data = json.loads(cli.out)
    _validate("failures", data)
    assert data
    for entry in data:
        assert set(entry) >= R92_KEYS
        assert "fingerprint" not in entry
    assert set(schema("failures")["items"]["required"]) >= R92_KEYS


def test_report_json_matches_its_schema(cli: Cli, bad_export: Path) -> None:
    """R9.4: the report's JSON validates."""
    cli.sync(bad_export)
    assert cli("report", "--db", cli.db, "--json") == 0
    data = json.loads(cli.out)
    _validate("report", data)
    assert {c["person_id"] for c in data["conflicts"]} == {"1", "6"}


@pytest.mark.parametrize(
    ("args", "error", "status"),
    [
        (["sync", "--list-id", "x", "--json"], "usage", 2),
        (["failures", "--db", "nowhere.sqlite3", "--json"], "usage", 2),
        (["report", "--db", "nowhere.sqlite3", "--json"], "usage", 2),
    ],
)
def test_errors_under_json_are_one_object(
    cli: Cli, args: list[str], error: str, status: int
) -> None:
    """R9.6: under --json an error is one object with error, message and exit_status."""
    assert cli(*args) == status
    data = json.loads(cli.out)
    _validate("error", data)
    assert data == {"error": error, "message": data["message"], "exit_status": status}
    assert "Traceback" not in cli.err


def test_credential_and_audience_errors_under_json(cli: Cli, bad_export: Path) -> None:
    """R9.6: a refused key and an unknown audience are JSON errors with exit status 2."""
    assert cli.sync(bad_export, "--json", env={"MAILCHIMP_API_KEY": "f" * 32 + "-us6"}) == 2
    assert json.loads(cli.out)["error"] == "credentials"
    code = cli("sync", "--source", str(bad_export), "--list-id", "nosuch", "--api-url",
               cli.fake.url, "--db", cli.db, "--json")  # fmt: skip
    assert code == 2
    data = json.loads(cli.out)
    _validate("error", data)
    assert data["error"] == "audience"
    assert "--list-id" in data["message"]


def test_a_source_without_a_known_suffix_names_the_flag(cli: Cli, tmp_path: Path) -> None:
    """R9.1: --source export.txt suggests --format, never a Python argument."""
    written = tmp_path / "export.jsonl"
    write_export(written, BASE)
    source = written.rename(tmp_path / "export.txt")
    assert cli.sync(source) == 2
    assert "--format csv" in cli.err
    assert "file_format" not in cli.err
    assert cli.sync(source, "--format", "jsonl") == 0


def test_erase_of_something_that_is_no_address_names_the_flag(cli: Cli) -> None:
    """R9.5: erase --email not-an-address names the flag and what is wrong."""
    code = cli("erase", "--email", "not-an-address", "--list-id", cli.fake.list_id,
               "--api-url", cli.fake.url, "--db", cli.db, "--yes")  # fmt: skip
    assert code == 2
    assert "--email 'not-an-address': not an e-mail address: has no @" in cli.err
    assert "email_address" not in cli.err


def test_a_broken_database_is_a_clean_message(cli: Cli, tmp_path: Path) -> None:
    """R9.6: a file that is no coupling database: a message naming --db, no private names."""
    db = tmp_path / "not-a-db.sqlite3"
    db.write_bytes(b"this is not sqlite" * 100)
    for args in (("failures", "--db", str(db)), ("report", "--db", str(db))):
        assert cli(*args) == 2
        assert "--db" in cli.err
        assert "auditcase_mailchimp." not in cli.err
        assert "StoreError" not in cli.err
        assert "Traceback" not in cli.err


def test_fail_on_open_refusals_turns_a_cron_job_red(cli: Cli, tmp_path: Path) -> None:
    """R9.6: --fail-on-open-refusals exits 1 while a refusal stays open, 0 once dismissed."""
    source = tmp_path / "refused.jsonl"
    write_export(source, [*BASE, person("9", "test@example.nl")])
    cli.sync(source)
    assert cli("failures", "--db", cli.db) == 0
    assert cli("failures", "--db", cli.db, "--fail-on-open-refusals") == 1
    assert cli.sync(source, "--fail-on-open-refusals") == 1
    assert "1 refusal stays open" in cli.out
    cli("failures", "dismiss", "1", "--db", cli.db)
    assert cli("failures", "--db", cli.db, "--fail-on-open-refusals") == 0
    clean = tmp_path / "clean.jsonl"
    write_export(clean, BASE)
    assert cli.sync(clean, "--fail-on-open-refusals") == 0


def test_lang_flag_and_locale_choose_the_language(cli: Cli, bad_export: Path) -> None:
    """R9.1: --lang nl, or a Dutch LANG, gives Dutch; otherwise English."""
    cli.sync(bad_export, "--lang", "nl")
    assert "personen gelezen uit de export" in cli.out
    env = {**cli.env, "LANG": "nl_NL.UTF-8"}
    cli.sync(bad_export, env=env)
    assert "personen gelezen uit de export" in cli.out
    cli.sync(bad_export, "--lang", "en", env=env)
    assert "persons read from the export" in cli.out
    assert cli("failures", "--db", cli.db, "--lang", "nl") == 0
    assert "meldingen in het foutenoverzicht" in cli.out


def test_a_usage_error_in_dutch(cli: Cli) -> None:
    """R9.6: usage errors follow the language too, and exit 2."""
    assert cli("report", "--db", "nowhere.sqlite3", env={"LC_ALL": "nl_NL.UTF-8"}) == 2
    assert "geen koppeldatabase op nowhere.sqlite3" in cli.err


# --- progress ---------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_rate_and_time_left_on_a_terminal() -> None:
    """R9.1: on a terminal the bar shows the rate and the time left."""
    stream = _Terminal()
    times = iter([0.0, 2.0, 4.0])
    progress = Progress(SafeStream(stream), EN, clock=lambda: next(times))
    progress("push", 0, 100)
    progress("push", 50, 100)
    progress("push", 100, 100)
    text = stream.getvalue()
    assert "50/100  25/s  0:02 left" in text
    assert "100/100  25/s  done in 4.0 s" in text


def test_progress_is_silent_elsewhere() -> None:
    """R9.1: nothing is written when the stream is no terminal."""
    stream = io.StringIO()
    progress = Progress(SafeStream(stream), EN)
    progress("push", 1, 2)
    progress("push", 2, 2)
    progress.close()
    assert stream.getvalue() == ""
    assert progress.totals == {"push": 2}


def test_a_closed_stream_is_dropped_not_raised() -> None:
    """Issue 9: a write to a closed stream is dropped; the caller goes on."""
    stream = io.StringIO()
    stream.close()
    safe = SafeStream(stream)
    safe.line("x")
    safe.flush()
    assert safe.broken


def test_schemas_ship_in_the_package() -> None:
    """R9: each --json output has a JSON Schema inside the package."""
    for name in ("sync", "failures", "report", "error"):
        jsonschema.Draft202012Validator.check_schema(schema(name))


def test_sync_output_of_a_built_report_validates() -> None:
    """R9.1: every field the summary can hold validates, also unreadable rows and notices."""
    summary = summarise(_report(), duration_seconds=1, command=COMMAND)
    _validate("sync", sync_output(summary, _report()))
    data = sync_output(summary, _report())
    assert data["problems"] == 5  # four persons' problems and one unreadable row
    assert "6 problems to fix:" in render_summary(summary, EN)  # and one failure


def test_report_to_json_tells_the_details_as_sync_json_does() -> None:
    """R9.1, issue 8.6: SyncReport.to_json and ``sync --json`` come from one converter."""
    report = _report(dry_run=True)
    document = json.loads(json.dumps(report.to_json()))
    printed = sync_output(summarise(report, duration_seconds=0, command=COMMAND), report)
    for key in ("problem_details", "row_error_details", "failure_details", "plan"):
        assert document[key] == printed[key]
    assert (document["problems"], document["row_errors"], document["failures"]) == (4, 1, 1)
    assert (document["created"], document["persons_read"], document["ok"]) == (44, 65, False)


def test_failure_to_json_is_what_failures_json_prints_but_the_explanation() -> None:
    """R9.2, issue 8.6: an entry's to_json and ``failures --json`` come from one converter."""
    with SQLiteStore(":memory:") as store:
        store.record_failure(_report().failures[0])
        store.record_failure(
            FailureInput(person_id="7", kind=PersonKind.CLIENT_PERSON, action="map",
                         category="invalid_address", title="invalid", email_address="a b@x.nl")
        )  # fmt: skip
        entries = store.failures()
    printed = failures_output(entries)
    assert [p.pop("address_problem") for p in printed] == [None, "space"]
    assert printed == [json.loads(json.dumps(entry.to_json())) for entry in entries]


def test_a_mass_archive_stop_names_the_flag() -> None:
    """R7.5, R9.6: MassArchiveError is an error object naming the count and --allow-mass-archive."""
    ctx = Context(argparse.Namespace(), {}, SafeStream(io.StringIO()),
                  SafeStream(io.StringIO()), EN, "en")  # fmt: skip
    code, message = explain(MassArchiveError(count=30, managed=40), ctx)
    assert code == "mass_archive"
    assert "30 of the 40" in message
    assert "--allow-mass-archive" in message
    _validate("error", {"error": code, "message": message, "exit_status": 2})


# --- the buckets add up, whatever happened (R9.1) ---------------------------------------------


def _unlinked(*ids: str) -> list[Person]:
    return [attrs.evolve(p, linked=False) if p.person_id in ids else p for p in BASE]


def _scenario_unsubscribed_relinked(world: World) -> SyncReport:
    world.sync(BASE)
    world.fake.audience().unsubscribe("piet@example.nl")
    world.sync(_unlinked("2"))
    return world.sync(BASE)


def _scenario_live_unsubscribed(world: World) -> SyncReport:
    world.sync(BASE)
    world.fake.audience().unsubscribe("piet@example.nl")
    return world.sync(BASE, reconcile=True)


def _scenario_move_from_unsubscribed(world: World) -> SyncReport:
    world.sync(BASE)
    world.fake.audience().unsubscribe("jan@example.nl")  # unseen by the coupling
    return world.sync([attrs.evolve(BASE[0], contact_email="jan.nieuw@example.nl"), *BASE[1:]])


def _scenario_problems_and_refusals(world: World) -> SyncReport:
    world.sync([*BASE, person("7", "test@example.nl")])
    broken = [attrs.evolve(BASE[0], contact_email="jan@example"), *BASE[1:]]
    return world.sync([*broken, person("7", "test@example.nl"), person("8", "")])


def _scenario_unlinked_archived(world: World) -> SyncReport:
    world.sync(BASE)
    world.fake.audience().clean("anna@example.com")
    return world.sync(_unlinked("2", "3"))


def _scenario_dry_run(world: World) -> SyncReport:
    _scenario_unsubscribed_relinked(world)
    world.sync(_unlinked("1"))
    return world.sync(BASE, dry_run=True)


@pytest.mark.parametrize(
    "scenario",
    [
        _scenario_unsubscribed_relinked,
        _scenario_live_unsubscribed,
        _scenario_move_from_unsubscribed,
        _scenario_problems_and_refusals,
        _scenario_unlinked_archived,
        _scenario_dry_run,
    ],
)
def test_read_and_linked_persons_add_up(world: World, scenario: Any) -> None:
    """R9.1: read = linked + not linked; linked = pushed + up to date + left out, always."""
    report = scenario(world)
    summary = summarise(report, duration_seconds=0, command=COMMAND)
    assert summary.persons_linked is not None
    assert summary.persons_not_linked is not None
    assert summary.persons_read == summary.persons_linked + summary.persons_not_linked
    up_to_date = summary.unchanged + summary.adopted
    assert summary.persons_linked == (
        summary.persons_pushed + up_to_date + summary.persons_left_out
    ), summary


def test_a_person_kept_unsubscribed_is_left_out_and_listed(world: World) -> None:
    """R5.3, R9.1: re-linked after unsubscribing, a person is left out, on the R5.3 list."""
    summary = summarise(_scenario_unsubscribed_relinked(world), duration_seconds=0, command=COMMAND)
    text = "\n".join(render_summary(summary, EN))
    assert "4 linked to Mailchimp, 1 not linked (left alone)" in text
    assert "0 pushed, 3 already up to date, 1 left out" in text
    assert "contact person 2  piet@example.nl (unsubscribed)" in text


def test_not_linked_says_what_happened_to_their_members(world: World) -> None:
    """R4.1, R9.1: 'left alone' only when nothing was removed; else what was done."""
    summary = summarise(_scenario_unlinked_archived(world), duration_seconds=0, command=COMMAND)
    text = "\n".join(render_summary(summary, EN))
    assert "left alone" not in text
    assert "3 not linked (not pushed; the members of persons unlinked or gone" in text
    dry = summarise(world.sync(_unlinked("1"), dry_run=True), duration_seconds=0, command=COMMAND)
    assert "would be archived" in "\n".join(render_summary(dry, EN))
    assert "niet gekoppeld (niet verstuurd;" in "\n".join(render_summary(dry, NL))


def test_a_dry_run_stopped_by_the_mass_archive_guard_names_the_flag_to_go_on() -> None:
    """R7.5, R9.1: the next step of a blocked dry run carries --allow-mass-archive."""
    archive = Archive(person_id="3", kind=PersonKind.CLIENT_PERSON,
                      email_address="x@example.nl", status="subscribed")  # fmt: skip
    report = _report(dry_run=True, mass_archive_blocked=True, plan=Plan(actions=(archive,)))
    summary = summarise(report, duration_seconds=0, command=COMMAND)
    assert summary.next_steps[0].command == f"{COMMAND} --allow-mass-archive"
    text = "\n".join(render_summary(summary, NL))
    assert f"{COMMAND} --allow-mass-archive" in text
    assert "zonder --dry-run en met --allow-mass-archive" in text


def test_dutch_seconds_have_a_decimal_comma_and_dismiss_is_negeren() -> None:
    """R9.1: Dutch numbers and words: 0,05 s; an entry is 'genegeerd', not 'afgewezen'."""
    summary = summarise(_report(), duration_seconds=0.05, command=COMMAND)
    assert "Sync klaar in 0,05 s." in render_summary(summary, NL)
    assert "Sync finished in 0.05 s." in render_summary(summary, EN)
    assert NL.gettext("Resolved or dismissed:") == "Opgelost of genegeerd:"
