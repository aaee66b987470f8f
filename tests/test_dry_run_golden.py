"""The dry run's printed plan stays byte for byte what it was (R7.3, R9.1, issue 12.6).

The plan printer and the planner were made faster for large exports; these tests hold their
output of a small export with every kind of action to golden files written before that work.
Run with ``UPDATE_GOLDEN=1`` to write the files again after an intended change of output.
"""

from __future__ import annotations

import gc
import json
import os
import re
from pathlib import Path

import pytest

from auditcase_mailchimp.testing import FakeMailchimp

from .test_cli import Cli
from .test_sync import CONTACT, person, write_export

GOLDEN = Path(__file__).parent / "data" / "dry_run_golden"

FIRST = [
    person("1", "jan@example.nl", correspondence_groups=("Nieuwsbrief", "Fiscaal")),
    person("2", "piet@example.nl", kind=CONTACT, christian_name="", initials="P."),
    person("3", "anna@example.com", receives_mailings=False),
    person("4", "kees@example.com", excluded_from_correspondence=True),
    person("6", "Mixed.Case@Example.NL", surname='O\'Brien "Bob"'),
    person("7", "gone@example.nl"),
    person("8", "unsub@example.nl"),
]

SECOND = [
    # renamed, a group swapped: update with merge fields and tags both ways
    person("1", "jan@example.nl", christian_name="Johan", correspondence_groups=("Nieuwsbrief",)),
    # a new address: move
    person("2", "p.new@example.nl", kind=CONTACT, christian_name="", initials="P."),
    # anna (3) is cleaned and unlinked: release; kees (4) unlinked: archive
    person("3", "anna@example.com", receives_mailings=False, linked=False),
    person("4", "kees@example.com", excluded_from_correspondence=True, linked=False),
    # archived in the first run's second sync, linked again: re-add
    person("6", "Mixed.Case@Example.NL", surname='O\'Brien "Bob"'),
    # unsubscribed in Mailchimp: on the R5.3 list
    person("8", "unsub@example.nl", surname="Other"),
    # new persons: create, some with names that need quoting
    person("10", "zoë@example.nl"),
    person("11", "new.one@example.org", christian_name="Zoë", surname="d'Ávila"),
    person("12", "", company_email="firm@example.com", correspondence_groups=()),
    person("13", "adopt@example.nl"),
    # problems: none, invalid, a shared address
    person("20", ""),
    person("21", "not an address"),
    person("22", "shared@example.nl"),
    person("23", "SHARED@example.nl", kind=CONTACT),
]


def _normalise(text: str, fake: FakeMailchimp, tmp_path: Path) -> str:
    """Take out what changes from run to run: the fake's port, the folder, the durations."""
    text = text.replace(fake.url, "<URL>").replace(str(tmp_path), "<TMP>")
    text = re.sub(r'"duration_seconds": ?[0-9.e-]+', '"duration_seconds": 0', text)
    return re.sub(r"\b[0-9]+(\.[0-9]+)? s\b", "<N> s", text)


@pytest.fixture
def cli(fake: FakeMailchimp, tmp_path: Path) -> Cli:
    """The command line against a fresh fake."""
    return Cli(fake, tmp_path)


@pytest.fixture
def scene(cli: Cli, tmp_path: Path) -> Path:
    """A coupling that synced FIRST twice (6 and 7 unlinked in between), then drifted."""
    export = tmp_path / "export.jsonl"
    write_export(export, FIRST)
    assert cli.sync(export) == 0
    write_export(export, [p for p in FIRST if p.person_id not in {"6", "7"}])
    assert cli.sync(export) == 0
    audience = cli.fake.audience()
    audience.clean("anna@example.com")
    audience.unsubscribe("unsub@example.nl")
    audience.add("adopt@example.nl", first_name="Jan", last_name="Jansen 13", tags=["Nieuwsbrief"])
    write_export(export, SECOND)
    return export


@pytest.mark.parametrize("language", ["en", "nl"])
@pytest.mark.parametrize("form", ["text", "json"])
def test_the_dry_run_prints_what_it_printed_before(
    cli: Cli, scene: Path, tmp_path: Path, language: str, form: str
) -> None:
    """R7.3, R9.1: the dry-run plan (text and JSON, both languages) matches its golden file."""
    env = {**cli.env, "LANG": "nl_NL.UTF-8" if language == "nl" else "C"}
    extra = ("--json",) if form == "json" else ()
    assert cli.sync(scene, "--dry-run", "--reconcile", *extra, env=env) == 1
    got = _normalise(cli.out, cli.fake, tmp_path)
    if form == "json":
        json.loads(got)
    golden = GOLDEN / f"{language}.{'json' if form == 'json' else 'txt'}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(got, encoding="utf-8")
    assert got == golden.read_text(encoding="utf-8")
    if form == "text":
        for verb in ("create", "update", "re-add", "move", "archive", "release", "record"):
            assert verb in got or language == "nl"


def test_a_sync_on_the_command_line_leaves_the_collector_as_it_found_it(
    cli: Cli, scene: Path
) -> None:
    """Issue 12.6: the CLI collects garbage less often during a sync, and restores it after."""
    before = gc.get_threshold()
    assert cli.sync(scene, "--dry-run") == 1
    assert gc.get_threshold() == before


def test_a_plan_with_more_tag_sets_than_are_kept_prints_each_one(cli: Cli, tmp_path: Path) -> None:
    """R7.3: past the 10,000 tag texts the printer keeps, each line still names its own tags."""
    export = tmp_path / "many.jsonl"
    count = 10_050
    write_export(
        export,
        (
            person(str(i), f"p{i:05d}@example.nl", correspondence_groups=(f"G{i}",))
            for i in range(count)
        ),
    )
    assert cli.sync(export, "--dry-run") == 0
    lines = [line for line in cli.out.splitlines() if line.startswith("  create ")]
    assert len(lines) == count
    assert lines[-1] == (
        f"  create   p{count - 1:05d}@example.nl (client {count - 1}): "
        f"FNAME='Jan', LNAME='Jansen {count - 1}', +tag 'G{count - 1}'"
    )
    assert all(line.endswith(f"+tag 'G{i}'") for i, line in enumerate(lines))
