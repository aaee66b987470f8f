"""One critical section per run: read, plan, execute and record under the run lock (issue 8)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditcase_mailchimp import SQLiteStore, StoreBusyError, push_persons, sync

from .test_sync import BASE, World, person, world, write_export

__all__ = ["world"]  # the fixture, shared with test_sync


def test_a_push_during_a_sync_cannot_lose_its_tag(world: World) -> None:
    """R4.4, R7.2: a push between a sync's plan and its writes is refused, never lost.

    Before the fix the sync planned from the coupling database before it took the run lock:
    a push in between added tag ``Extra``, then the stale sync recorded the managed tags
    without it, so Mailchimp held the tag while the database said it was not the coupling's.
    """
    world.sync(BASE)
    renamed = [person("1", "jan@example.nl", surname="Bakker"), *BASE[1:]]
    with_extra = person(
        "1", "jan@example.nl", correspondence_groups=("Nieuwsbrief", "Fiscaal", "Extra")
    )
    outcome: list[str] = []

    def push_after_planning(phase: str, _done: int, _total: int) -> None:
        if phase != "plan" or outcome:
            return
        with SQLiteStore(world.db) as other:
            try:
                push_persons(
                    [with_extra], store=other, client=world.client, list_id=world.fake.list_id
                )
            except StoreBusyError:
                outcome.append("refused")
            else:
                outcome.append("pushed")

    world.sync(renamed, progress=push_after_planning)
    with SQLiteStore(world.db) as store:
        record = next(m for m in store.load_current() if m.key == "jan@example.nl")
    assert record.coupling is not None
    assert record.coupling.tags == world.members()["jan@example.nl"].tags
    assert outcome == ["refused"]


def test_a_sync_holds_the_lock_while_it_reads_the_database(world: World) -> None:
    """Issue 8.1: the run lock is taken before the coupling database is read."""
    world.sync(BASE)
    seen: list[str] = []

    def second_sync(phase: str, _done: int, _total: int) -> None:
        if phase == "plan" and not seen:
            other_source = write_export(world.tmp_path / "other.jsonl", BASE)
            with SQLiteStore(world.db) as other, pytest.raises(StoreBusyError):
                sync(other_source, store=other, client=world.client, list_id=world.fake.list_id)
            seen.append("busy")

    world.sync(BASE, progress=second_sync)
    assert seen == ["busy"]


def test_a_read_only_dry_run_takes_no_lock(world: World, tmp_path: Path) -> None:
    """R7.3: a dry run on a read-only database works while a sync holds the lock."""
    world.sync(BASE)
    source = write_export(tmp_path / "dry.jsonl", BASE[1:])
    with SQLiteStore(world.db) as holder, holder.lock():
        with SQLiteStore(world.db, read_only=True) as store:
            report = sync(
                source, store=store, client=world.client, list_id=world.fake.list_id, dry_run=True
            )
        with SQLiteStore(world.db) as writable:
            busy = sync(
                source,
                store=writable,
                client=world.client,
                list_id=world.fake.list_id,
                dry_run=True,
            )
    assert report.archived == busy.archived == 1
