"""Issue 8.4 / 12.7: a push of one person reads only its own records, by index, never a scan.

Every statement the store runs during ``push_persons`` is captured from the real SQLite
connection and explained with ``EXPLAIN QUERY PLAN``: none may scan a table whose size grows
with the audience or the failure overview.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from auditcase_mailchimp import FailureInput, SQLiteStore, push_persons, remove_persons

from .test_sync import World, person, world

__all__ = ["world"]  # the fixture, shared with test_sync

#: Tables whose size grows with the audience (member) or with its history (failure, run,
#: report): a push must search them, never scan them.
_GROWING = ("member", "failure", "run", "report_unsubscribed", "report_conflict")
#: Tables a push may read whole: the audience row, the intents an unfinished run left open and
#: the batches not yet read (both empty after every finished run).
_SMALL = ("CONSTANT", "audience", "intent", "pending_batch")


def _statements_of(store: SQLiteStore, work: object) -> list[str]:
    """The statements the store's connection runs while ``work()`` runs."""
    conn = store._conn
    assert conn is not None
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        work()  # type: ignore[operator]
    finally:
        conn.set_trace_callback(None)
    return seen


def _scans(db: Path, statements: list[str]) -> list[str]:
    """The ``SCAN`` lines of the query plans of the statements that read a table."""
    raw = sqlite3.connect(db)
    found = []
    try:
        for statement in statements:
            if not re.match(r"\s*(SELECT|UPDATE|DELETE|INSERT)", statement, re.IGNORECASE):
                continue
            for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}"):
                detail = str(row[-1])
                table = re.match(r"SCAN (\w+)", detail)
                if table and table.group(1) not in _SMALL:
                    found.append(f"{detail}  <- {statement.strip()[:120]}")
    finally:
        raw.close()
    return found


def _grown(world: World, size: int) -> None:
    """A database of ``size`` members, with open and closed failures of other persons."""
    world.sync([person(str(i), f"p{i}@example.nl") for i in range(size)])
    with SQLiteStore(world.db) as store:
        for i in range(0, size, 7):
            entry = store.record_failure(
                FailureInput(
                    person_id=str(i), kind=person("x", "x@x.nl").kind, action="update",
                    category="generic", title="Invalid Resource", detail="bad", status=400,
                    fingerprint=f"f{i}",
                )
            )  # fmt: skip
            if i % 2:
                store.dismiss([entry])
        store.save_report([], [])


def test_a_push_of_one_person_scans_no_growing_table(world: World) -> None:
    """Issue 8.4: push_persons reads its persons' and addresses' records by index only."""
    _grown(world, 300)
    saved = person("140", "nieuw.140@example.nl", correspondence_groups=("BTW",))  # a move
    with SQLiteStore(world.db) as store:
        statements = _statements_of(
            store,
            lambda: push_persons(
                [saved], store=store, client=world.client, list_id=world.fake.list_id,
                retry_failed=False,
            ),
        )  # fmt: skip
        assert [m.email_address for m in store.load_current_for(["140"], [])] == [
            "nieuw.140@example.nl"
        ]
        # its own open entry is read and resolved; the others' stay as they were
        assert sorted(f.person_id for f in store.failures())[:3] == ["0", "112", "126"]
        assert "140" not in {f.person_id for f in store.failures()}
        assert store.refused(person_ids=["140", "154"]) == {"154": "f154"}
    assert any("FROM member" in s for s in statements)  # the trace saw the reads
    assert _scans(world.db, statements) == [], "\n".join(_scans(world.db, statements))


def test_removing_one_person_scans_no_growing_table(world: World) -> None:
    """Issue 8.4, R4.1: remove_persons reads the removed person's records by index only."""
    _grown(world, 300)
    with SQLiteStore(world.db) as store:
        statements = _statements_of(
            store,
            lambda: remove_persons(
                ["14"], store=store, client=world.client, list_id=world.fake.list_id
            ),
        )
    assert world.members()["p14@example.nl"].status == "archived"
    assert _scans(world.db, statements) == [], "\n".join(_scans(world.db, statements))
