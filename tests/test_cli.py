"""The command line (SPEC.md R9), crash safety (R7.2) and keeping the key secret."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from auditcase_mailchimp import SQLiteStore
from auditcase_mailchimp._cli import main
from auditcase_mailchimp.testing import FakeMailchimp

from .test_sync import BASE, person, write_export

R92_KEYS = {
    "id", "person_id", "email_address", "action", "category", "status", "title", "detail",
    "field_errors", "first_seen", "last_seen", "attempts", "resolved",
}  # fmt: skip


class Cli:
    """Runs the command line in-process with the fake's key in its environment."""

    def __init__(self, fake: FakeMailchimp, tmp_path: Path) -> None:
        """Set up on the fake, with a database in ``tmp_path``."""
        self.fake = fake
        self.tmp_path = tmp_path
        self.db = str(tmp_path / "coupling.sqlite3")
        self.env = {"MAILCHIMP_API_KEY": fake.api_key}
        self.out = ""
        self.err = ""

    def __call__(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> int:
        """Run the command line; keep what it printed."""
        out, err = io.StringIO(), io.StringIO()
        code = main(
            list(args),
            stdout=out,
            stderr=err,
            stdin=io.StringIO(stdin),
            environ=self.env if env is None else env,
        )
        self.out, self.err = out.getvalue(), err.getvalue()
        return code

    def sync(self, source: Path, *extra: str, env: dict[str, str] | None = None) -> int:
        """Run ``sync`` of ``source`` against the fake."""
        return self(
            "sync", "--source", str(source), "--list-id", self.fake.list_id,
            "--api-url", self.fake.url, "--db", self.db, *extra, env=env,
        )  # fmt: skip


@pytest.fixture
def cli(fake: FakeMailchimp, tmp_path: Path) -> Cli:
    """The command line against a fresh fake."""
    return Cli(fake, tmp_path)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """An export with the base persons."""
    path = tmp_path / "export.jsonl"
    write_export(path, BASE)
    return path


def test_sync_exits_0_when_every_person_was_synced(cli: Cli, export: Path) -> None:
    """R9.1, R9.6: a clean sync prints the summary and exits 0."""
    assert cli.sync(export) == 0
    assert cli.out.startswith("Sync finished in ")
    assert "Plan: 4 to create, 0 to update, 0 to archive." in cli.out
    assert "Done: 4 created, 0 updated, 0 archived" in cli.out
    assert "problem" not in cli.out
    assert "Next:" not in cli.out  # nothing left to do


def test_sync_json_prints_one_object(cli: Cli, export: Path) -> None:
    """R9.1: --json prints the summary as one JSON object."""
    assert cli.sync(export, "--json") == 0
    summary = json.loads(cli.out)
    assert {
        "created",
        "updated",
        "archived",
        "tags_changed",
        "unchanged",
        "problems",
        "failures",
    } <= set(summary)
    assert summary["created"] == 4


def test_sync_exits_1_with_problems_or_failures(cli: Cli, tmp_path: Path) -> None:
    """R9.6: problems (R2.6) or failures (R6) give exit status 1."""
    source = tmp_path / "bad.jsonl"
    write_export(source, [*BASE, person("8", ""), person("9", "test@example.nl")])
    assert cli.sync(source) == 1
    assert "2 problems to fix:" in cli.out
    assert "1 person without an e-mail address" in cli.out
    assert "1 address Mailchimp does not accept" in cli.out
    assert "test@example.nl" not in cli.err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "no credentials"),
        ({"MAILCHIMP_API_KEY": "nodatacentre"}, "data centre"),
        ({"MAILCHIMP_API_KEY": "f" * 32 + "-us6"}, "API Key Invalid"),
        ({"MAILCHIMP_ACCESS_TOKEN": "abc"}, "API Key Invalid"),  # the fake knows no token
        ({"MAILCHIMP_ACCESS_TOKEN": "abc", "MAILCHIMP_API_KEY": "k-us6"}, "not both"),
    ],
)
def test_credential_errors_exit_2(
    cli: Cli, export: Path, env: dict[str, str], message: str
) -> None:
    """R9.1, R9.6: missing, malformed or refused credentials exit 2 with a clear message."""
    assert cli.sync(export, env=env) == 2
    assert message in cli.err
    assert "Traceback" not in cli.err
    assert len(cli.fake.audience()) == 0


def test_a_token_needs_the_api_url(cli: Cli, export: Path) -> None:
    """R9.1: an OAuth token comes with --api-url naming the account's endpoint."""
    env = {"MAILCHIMP_ACCESS_TOKEN": "abc"}
    code = cli("sync", "--source", str(export), "--list-id", "x", "--db", cli.db, env=env)
    assert code == 2
    assert "needs --api-url" in cli.err


def test_unknown_audience_and_unreadable_source_exit_2(
    cli: Cli, export: Path, tmp_path: Path
) -> None:
    """R9.6: an unknown audience or an unreadable source exits 2, nothing sent."""
    code = cli("sync", "--source", str(export), "--list-id", "nosuch", "--api-url", cli.fake.url,
               "--db", cli.db)  # fmt: skip
    assert code == 2
    assert "nosuch" in cli.err or "audience" in cli.err.lower()
    missing = tmp_path / "missing.csv"
    assert cli.sync(missing) == 2
    assert "cannot be read" in cli.err


def test_usage_errors_exit_2(cli: Cli) -> None:
    """R9.6: a usage error exits 2."""
    assert cli("sync", "--source", "x.csv") == 2
    assert cli("nonsense") == 2


def test_dry_run_prints_the_plan_and_creates_no_database(cli: Cli, export: Path) -> None:
    """R7.3, R9.1: --dry-run prints the plan and writes nothing anywhere, not even the file."""
    assert cli.sync(export, "--dry-run") == 0
    assert "create   jan@example.nl (client 1)" in cli.out
    assert "Dry run (" in cli.out
    assert "Plan: 4 to create, 0 to update, 0 to archive." in cli.out
    assert "run the same command without --dry-run" in cli.out
    assert not Path(cli.db).exists()
    assert cli.fake.requests == []


def test_failures_lists_open_entries_and_json_has_r92_keys(cli: Cli, tmp_path: Path) -> None:
    """R9.2: the failure overview, open by default, --json with the keys SPEC.md names."""
    source = tmp_path / "bad.jsonl"
    write_export(source, [*BASE, person("9", "test@example.nl")])
    cli.sync(source)
    assert cli("failures", "--db", cli.db) == 0
    assert "#1 client 9  test@example.nl" in cli.out
    assert cli("failures", "--db", cli.db, "--json") == 0
    (entry,) = json.loads(cli.out)
    assert set(entry) >= R92_KEYS
    assert entry["person_id"] == "9"
    assert entry["status"] is None
    assert entry["resolved"] is False


def test_failures_lists_every_entry_it_counts(cli: Cli, tmp_path: Path) -> None:
    """R6.3, R9.2: refused again with changed data, a person has two entries; both are listed."""
    source = tmp_path / "bad.jsonl"
    write_export(source, [*BASE, person("9", "test@example.nl")])
    cli.sync(source)
    write_export(source, [*BASE, person("9", "test@example.nl", christian_name="Klaas")])
    cli.sync(source)
    for flags in ((), ("--all",)):
        assert cli("failures", "--db", cli.db, *flags) == 0
        assert "2 entries in the failure overview" in cli.out
        assert "#1 client 9" in cli.out
        assert "#2 client 9" in cli.out


def test_failures_dismiss(cli: Cli, tmp_path: Path) -> None:
    """R9.3: the administrator dismisses entries; --all still shows them."""
    source = tmp_path / "bad.jsonl"
    write_export(source, [*BASE, person("8", "")])
    cli.sync(source)
    assert cli("failures", "dismiss", "1", "--db", cli.db) == 0
    assert cli("failures", "--db", cli.db, "--json") == 0
    assert json.loads(cli.out) == []
    assert cli("failures", "--db", cli.db, "--all", "--json") == 0
    assert len(json.loads(cli.out)) == 1
    assert cli("failures", "dismiss", "99", "--db", cli.db) == 1
    assert "no such entry: 99" in cli.err


def test_report_lists_unsubscribed_and_duplicates(cli: Cli, tmp_path: Path) -> None:
    """R9.4: persons to look at in AuditCase: R5.3 and R3."""
    source = tmp_path / "export.jsonl"
    write_export(source, [*BASE, person("6", "jan@example.nl", kind=BASE[1].kind)])
    cli.sync(source)
    cli.fake.audience().unsubscribe("piet@example.nl")
    cli.sync(source, "--reconcile")
    assert cli("report", "--db", cli.db, "--json") == 0
    report = json.loads(cli.out)
    assert [n["person_id"] for n in report["unsubscribed"]] == ["2"]
    assert {c["person_id"] for c in report["conflicts"]} == {"1", "6"}
    assert cli("report", "--db", cli.db) == 0
    assert "contact person 2: piet@example.nl (unsubscribed)" in cli.out
    assert "jan@example.nl: client 1 (pushed), contact person 6" in cli.out


def test_erase_asks_first_then_deletes_permanently(cli: Cli, export: Path) -> None:
    """R4.2, R9.5: erase asks for confirmation; with yes it deletes and the database forgets."""
    cli.sync(export)
    args = ["erase", "--email", "jan@example.nl", "--list-id", cli.fake.list_id,
            "--api-url", cli.fake.url, "--db", cli.db]  # fmt: skip
    assert cli(*args, stdin="no\n") == 1
    assert cli.fake.audience().get("jan@example.nl") is not None
    assert cli(*args, stdin="yes\n") == 0
    assert cli.fake.audience().get("jan@example.nl") is None
    assert cli.fake.audience().is_forgotten("jan@example.nl")
    assert b"jan@example.nl" not in Path(cli.db).read_bytes()
    assert cli(*args[:-2], "--db", cli.db, "--yes") == 0  # already gone: still fine


def test_the_key_appears_nowhere(
    cli: Cli, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Security: the API key is in no output, no log line and not in the database file."""
    caplog.set_level(logging.DEBUG)
    source = tmp_path / "bad.jsonl"
    write_export(source, [*BASE, person("9", "test@example.nl")])
    texts = []
    for extra in ((), ("--json",), ("--reconcile",), ("--dry-run",)):
        cli.sync(source, *extra)
        texts += [cli.out, cli.err]
    cli("failures", "--db", cli.db, "--all", "--json")
    texts.append(cli.out)
    secret = cli.fake.api_key.split("-")[0]
    assert all(secret not in text for text in texts)
    assert secret not in caplog.text
    for file in tmp_path.glob("coupling.sqlite3*"):
        assert secret.encode() not in file.read_bytes()


# --- crash safety: R7.2 ------------------------------------------------------------------------

_RUNNER = textwrap.dedent(
    """
    import sys
    from auditcase_mailchimp import ExportFile, SQLiteStore, sync
    from auditcase_mailchimp._client import MailchimpClient
    from auditcase_mailchimp._credentials import ApiKey
    source, db, url, key, list_id = sys.argv[1:]
    with SQLiteStore(db) as store, MailchimpClient(ApiKey(key), base_url=url, concurrency=1) as c:
        sync(ExportFile(source), store=store, client=c, list_id=list_id)
    """
)


def _audience(fake: FakeMailchimp) -> dict[str, tuple[Any, ...]]:
    return {
        m.email_address.lower(): (m.status, m.first_name, m.last_name, m.tags)
        for m in fake.audience().members()
    }


def _entries(db: Path) -> list[tuple[Any, ...]]:
    with SQLiteStore(db) as store:
        return sorted(
            (e.person_id, e.category, e.title, e.resolved)
            for e in store.failures(include_closed=True)
        )


def test_a_run_killed_mid_push_finishes_on_the_next_run(tmp_path: Path) -> None:
    """R7.2: SIGKILL in the middle of pushing, then a rerun: the state of an uninterrupted run."""
    first = [person(str(i), f"p{i}@example.nl") for i in range(1, 1302)]
    first.append(person("9999", "test@example.nl"))  # refused by Mailchimp: one failure entry
    source = tmp_path / "export.jsonl"
    write_export(source, first)

    # The reference: an uninterrupted run.
    with FakeMailchimp() as reference:
        ref_db = tmp_path / "reference.sqlite3"
        subprocess.run(  # noqa: S603 - our interpreter, our script
            [sys.executable, "-c", _RUNNER, str(source), str(ref_db), reference.url,
             reference.api_key, reference.list_id],
            check=True, timeout=120,
        )  # fmt: skip
        expected = _audience(reference)
    expected_entries = _entries(ref_db)

    with FakeMailchimp(member_latency=0.0005, latency=0.05) as fake:
        db = tmp_path / "killed.sqlite3"
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", _RUNNER, str(source), str(db), fake.url, fake.api_key,
             fake.list_id],
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            batches = [r for r in fake.requests if r.method == "POST" and r.status == 200]
            if len(batches) >= 1 and fake.in_flight >= 1:
                break  # one answer recorded, the next request in flight
            time.sleep(0.005)  # polling the fake, not timing the code under test
        assert process.poll() is None, "the run finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        partial = _audience(fake)
        assert 0 < len(partial) < len(expected)

        subprocess.run(  # noqa: S603
            [sys.executable, "-c", _RUNNER, str(source), str(db), fake.url, fake.api_key,
             fake.list_id],
            check=True, timeout=120,
        )  # fmt: skip
        assert _audience(fake) == expected
    assert _entries(db) == expected_entries
    with SQLiteStore(db) as store, SQLiteStore(ref_db) as ref:
        assert sorted(m.key for m in store.load_current()) == sorted(
            m.key for m in ref.load_current()
        )


def test_erase_with_an_unknown_audience_erases_nothing(cli: Cli, export: Path) -> None:
    """R9.5, R9.6: an unknown audience exits 2 and the coupling database keeps the address."""
    cli.sync(export)
    code = cli("erase", "--email", "jan@example.nl", "--list-id", "nosuch", "--api-url",
               cli.fake.url, "--db", cli.db, "--yes")  # fmt: skip
    assert code == 2
    assert b"jan@example.nl" in Path(cli.db).read_bytes()


def test_dry_run_json_holds_the_plan(cli: Cli, export: Path) -> None:
    """R7.3: a dry run's JSON summary carries the full plan."""
    assert cli.sync(export, "--dry-run", "--json") == 0
    plan = json.loads(cli.out)["plan"]
    assert {(a["action"], a["email_address"]) for a in plan} >= {("create", "jan@example.nl")}
    assert plan[0]["merge_fields"].keys() == {"FNAME", "LNAME"}


def test_a_refused_key_leaves_no_database_behind(cli: Cli, export: Path) -> None:
    """R9.6: a run stopped before anything was sent leaves no empty database file."""
    assert cli.sync(export, env={"MAILCHIMP_API_KEY": "f" * 32 + "-us6"}) == 2
    assert not Path(cli.db).exists()


def test_a_person_still_refused_keeps_exit_status_1(cli: Cli, tmp_path: Path) -> None:
    """R9.6 with R6.3: a refused person not sent again is not synced, so the exit status is 1."""
    source = tmp_path / "bad.jsonl"
    write_export(source, [*BASE, person("9", "test@example.nl")])
    assert cli.sync(source) == 1
    assert cli.sync(source) == 1
    assert "1 person refused by Mailchimp before with the same data" in cli.out
    assert "--retry-failed" in cli.out  # the next command to run


def test_missing_credentials_leave_no_database(cli: Cli, export: Path) -> None:
    """R9.6: a usage error before anything is sent creates no database file."""
    assert cli.sync(export, env={}) == 2
    assert not Path(cli.db).exists()


def test_an_absurd_entry_id_is_a_usage_error(cli: Cli, export: Path) -> None:
    """R9.3: an id SQLite cannot hold is refused by the argument parser, exit 2."""
    cli.sync(export)
    assert cli("failures", "dismiss", "99999999999999999999", "--db", cli.db) == 2


def test_a_mass_archive_stops_before_sending_unless_allowed(cli: Cli, tmp_path: Path) -> None:
    """R7.5, R9.1: archiving over a quarter (and 20+) stops with exit 2; the flag lets it go."""
    many = [person(str(i), f"p{i}@example.nl") for i in range(1, 41)]
    export = tmp_path / "export.jsonl"
    write_export(export, many)
    assert cli.sync(export) == 0
    write_export(export, many[:19])  # 21 of 40 unlinked at once: a broken export?
    sent = len(cli.fake.requests)
    assert cli.sync(export, "--dry-run") == 0
    assert "--allow-mass-archive" in cli.out
    assert cli.sync(export, "--json") == 2
    error = json.loads(cli.out)
    assert error["error"] == "mass_archive"
    assert "21 of the 40" in error["message"]
    # nothing sent but the key and audience check (R6.4), said first
    assert [r.method for r in cli.fake.requests[sent:]] == ["GET"]
    assert cli.sync(export, "--json", env={"MAILCHIMP_API_KEY": "f" * 32 + "-us6"}) == 2
    assert json.loads(cli.out)["error"] != "mass_archive"  # a wrong key is said first
    assert cli.sync(export, "--allow-mass-archive") == 0
    assert len(cli.fake.audience().members(status="archived")) == 21


def test_another_audience_on_the_same_database_stops_before_sending(
    cli: Cli, export: Path, fake: FakeMailchimp
) -> None:
    """R4.6: the database records its audience; another --list-id stops, naming both ids."""
    assert cli.sync(export) == 0
    sent = len(fake.requests)
    code = cli(
        "sync", "--source", str(export), "--list-id", "ffffffffff", "--api-url", fake.url,
        "--db", cli.db,
    )  # fmt: skip
    assert code == 2
    assert fake.list_id in cli.err
    assert "ffffffffff" in cli.err
    assert len(fake.requests) == sent


def test_erase_from_another_audience_than_the_database_s_erases_nothing(
    cli: Cli, export: Path, fake: FakeMailchimp
) -> None:
    """R4.6, R9.5: erase checks the database's audience first; exit 2, nothing deleted."""
    assert cli.sync(export) == 0
    other = fake.add_audience("ffffffffff")
    other.add("jan@example.nl")
    sent = len(fake.requests)
    code = cli("erase", "--email", "jan@example.nl", "--list-id", "ffffffffff", "--api-url",
               fake.url, "--db", cli.db, "--yes")  # fmt: skip
    assert code == 2
    assert fake.list_id in cli.err
    assert len(fake.requests) == sent
    assert not other.is_forgotten("jan@example.nl")
    assert b"jan@example.nl" in Path(cli.db).read_bytes()


def test_a_run_that_only_read_the_audience_binds_the_database(
    cli: Cli, tmp_path: Path, fake: FakeMailchimp
) -> None:
    """R4.6: a --reconcile run that sent nothing (it adopted) still records the audience."""
    for i in range(3):
        fake.audience().add(f"m{i}@example.nl", first_name="Jan", last_name=f"Jansen {i}",
                            tags=["Nieuwsbrief"])  # fmt: skip
    export = tmp_path / "adopt.jsonl"
    write_export(export, [person(str(i), f"m{i}@example.nl") for i in range(3)])
    assert cli.sync(export, "--reconcile") in (0, 1)
    assert not [r for r in fake.requests if r.method != "GET"]  # nothing was sent
    fake.add_audience("ffffffffff")
    code = cli("sync", "--source", str(export), "--list-id", "ffffffffff", "--api-url",
               fake.url, "--db", cli.db)  # fmt: skip
    assert code == 2
    assert "ffffffffff" in cli.err
    assert fake.list_id in cli.err


def test_a_malformed_list_id_is_a_usage_error_not_another_audience(
    cli: Cli, export: Path, fake: FakeMailchimp
) -> None:
    """R9.6, R4.6: a list id that is no id at all is named as such, also on a bound database."""
    assert cli.sync(export) == 0
    for command in (
        ["sync", "--source", str(export)],
        ["erase", "--email", "jan@example.nl", "--yes"],
    ):
        code = cli(*command, "--list-id", "no such!", "--api-url", fake.url, "--db", cli.db)
        assert code == 2
        assert "--list-id 'no such!': not an audience id" in cli.err
        assert fake.list_id not in cli.err


def test_a_dry_run_plan_in_json_names_a_release(cli: Cli, tmp_path: Path) -> None:
    """R4.5, R7.3: a cleaned member nobody wants is a 'release' in the plan, as its schema says."""
    import jsonschema  # type: ignore[import-untyped]  # noqa: PLC0415 - a test dependency

    from auditcase_mailchimp._json_out import schema  # noqa: PLC0415

    export = tmp_path / "export.jsonl"
    write_export(export, BASE)
    assert cli.sync(export) == 0
    cli.fake.audience().clean("anna@example.com")
    write_export(export, [p for p in BASE if p.person_id != "3"])
    assert cli.sync(export, "--dry-run", "--reconcile", "--json") == 0
    document = json.loads(cli.out)
    jsonschema.validate(document, schema("sync"))
    assert [(a["email_address"], a["action"]) for a in document["plan"]] == [
        ("anna@example.com", "release")
    ]


def test_help_loads_no_command_and_no_output_machinery() -> None:
    """Issue 12.5: ``--help`` imports no command, no summary, JSON or HTML code, no requests."""
    script = textwrap.dedent(
        """
        import contextlib, io, sys
        from auditcase_mailchimp.__main__ import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--help"]) == 0
            assert main(["sync", "--help"]) == 0
        print(" ".join(sorted(sys.modules)))
        """
    )
    done = subprocess.run(  # noqa: S603 - our interpreter, our script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    package = "auditcase_mailchimp."
    later = ("_cli_sync", "_cli_overview", "_html", "_summary", "_summary_text", "_json_out",
             "testing", "demo")  # fmt: skip
    assert sorted({package + name for name in later} & loaded) == []
    assert "requests" not in loaded
    assert package + "_cli" in loaded
