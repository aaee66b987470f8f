"""Trial of session 14's change: paged reads before archiving under SIGKILL, schema 4, lazy import.

Adversarial checks of what a demanding user would try: kills at every point of unlinks through
the audience's pages and through ``/batches``, Mailchimp changing between a killed run and its
rerun, a database of the previous release (bcb6cc0) finished by this one, and the lazy package.
"""

from __future__ import annotations

import functools
import io
import os
import signal
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from auditcase_mailchimp import SQLiteStore
from auditcase_mailchimp.testing import FakeMailchimp, LoggedRequest

from .test_kill import _wait as wait_for
from .test_sync import person, write_export

_DEADLINE = 120.0
_N = 1300  #: members after the first run
_UNLINKED = 1200  #: persons 1.._UNLINKED are unlinked: >= 1,000 reads, the paged path
_SPECIAL = {
    "1": "unsubscribed",
    "2": "unsubscribed",
    "3": "cleaned",
    "4": "cleaned",
    "5": "pending",
}


def _p(i: int, *, linked: bool = True) -> Any:
    return person(str(i), f"p{i}@example.nl", christian_name=f"Naam{i}", linked=linked)


def _first(n: int = _N) -> list[Any]:
    return [_p(i) for i in range(1, n + 1)]


def _unlinked(n: int = _N, unlinked: int = _UNLINKED) -> list[Any]:
    return [_p(i, linked=i > unlinked) for i in range(1, n + 1)]


def _relinked(n: int = _N, unlinked: int = _UNLINKED) -> list[Any]:
    """Persons 11-40 linked again (all plain subscribed members); the rest as unlinked."""
    return [_p(i, linked=i > unlinked or 11 <= i <= 40) for i in range(1, n + 1)]


def _cli(fake: FakeMailchimp, db: Path, source: Path) -> list[str]:
    return [
        sys.executable, "-m", "auditcase_mailchimp", "sync", "--source", str(source),
        "--list-id", fake.list_id, "--db", str(db), "--api-url", fake.url,
        "--allow-mass-archive", "--lang", "en",
    ]  # fmt: skip


def _env(fake: FakeMailchimp) -> dict[str, str]:
    return {**os.environ, "MAILCHIMP_API_KEY": fake.api_key}


def _run(fake: FakeMailchimp, db: Path, source: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our interpreter, our CLI
        _cli(fake, db, source), env=_env(fake), capture_output=True, text=True,
        timeout=_DEADLINE, check=False,
    )  # fmt: skip


def _wait(predicate: Callable[[], bool], process: subprocess.Popen[bytes]) -> bool:
    """The kill tests' bounded wait, with this module's longer deadline (larger runs)."""
    return wait_for(predicate, process, within=_DEADLINE)


def _killed(fake: FakeMailchimp, db: Path, source: Path, point: tuple[str, Any]) -> bool:
    """Run the CLI and SIGKILL it at ``point``; ``True`` if it was still running then."""
    mode, at = point
    start = len(fake.requests)
    process = subprocess.Popen(  # noqa: S603 - our interpreter, our CLI
        _cli(fake, db, source), env=_env(fake),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def reached() -> bool:
        new = fake.requests[start:]
        if isinstance(at, int):
            return len(new) >= at
        return sum(1 for r in new if at(r)) >= 1

    try:
        _wait(reached, process)
        if mode == "held":
            fake.hold()
            _wait(lambda: fake.in_flight >= 1, process)
        alive = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=_DEADLINE)
    finally:
        fake.release()
        if process.poll() is None:  # pragma: no cover
            process.kill()
            process.wait()
    _wait(lambda: fake.in_flight == 0, process)
    return alive


def _audience(fake: FakeMailchimp) -> dict[str, tuple[Any, ...]]:
    return {
        m.email_address.lower(): (m.status, m.first_name, m.last_name, m.tags)
        for m in fake.audience().members()
    }


def _records(db: Path) -> dict[str, tuple[Any, ...]]:
    with SQLiteStore(db) as store:
        assert store.open_intents() == []
        return {
            m.key: (
                m.coupling.person_id if m.coupling else None,
                m.coupling.status_at_archive if m.coupling else None,
                m.status,
                m.tags,
            )
            for m in store.load_current()
        }


def _prepare(fake: FakeMailchimp, tmp: Path, n: int = _N) -> Path:
    """First run of ``n`` persons, then R4.3/R4.5 statuses set directly in Mailchimp."""
    db = tmp / "coupling.sqlite3"
    done = _run(fake, db, Path(write_export(tmp / "first.jsonl", _first(n)).path))
    assert done.returncode == 0, done.stderr
    for pid, status in _SPECIAL.items():
        fake.audience().set_status(f"p{pid}@example.nl", status)
    return db


def _after_kill(fake: FakeMailchimp) -> None:
    """What a user does between the runs: one linked member unsubscribes in Mailchimp."""
    fake.audience().unsubscribe(f"p{_N}@example.nl")


@functools.cache
def _reference(tmp: Path, n: int = _N, unlinked: int = _UNLINKED) -> tuple[Any, Any]:
    """Uninterrupted: first run, unlink run, the user's change, the relink run."""
    folder = tmp / f"ref-{n}"
    folder.mkdir()
    with FakeMailchimp() as fake:
        db = _prepare(fake, folder, n)
        src = Path(write_export(folder / "unlinked.jsonl", _unlinked(n, unlinked)).path)
        assert _run(fake, db, src).returncode == 0
        fake.audience().unsubscribe(f"p{n}@example.nl")
        final = Path(write_export(folder / "relinked.jsonl", _relinked(n, unlinked)).path)
        assert _run(fake, db, final).returncode == 0
        return _audience(fake), _records(db)


@pytest.fixture(scope="module")
def ref_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the uninterrupted runs live."""
    return tmp_path_factory.mktemp("trial-ref")


def _ends_as_uninterrupted(
    fake: FakeMailchimp, db: Path, final: Path, expected: tuple[Any, Any]
) -> None:
    """The rerun on ``final`` ends as an uninterrupted run; a repeat sends nothing (R7.1, R7.2).

    ``expected`` is the uninterrupted run's audience and records (:func:`_reference`).
    """
    done = _run(fake, db, final)
    assert done.returncode == 0, done.stdout + done.stderr
    expected_audience, expected_records = expected
    assert _audience(fake) == expected_audience
    assert _records(db) == expected_records
    fake.clear_log()
    again = _run(fake, db, final)
    assert again.returncode == 0
    assert [r for r in fake.requests if r.method != "GET"] == []


def _status(fake: FakeMailchimp, address: str) -> str | None:
    member = fake.audience().get(address)
    return None if member is None else member.status


def _is_page(r: LoggedRequest) -> bool:
    return r.method == "GET" and r.path.endswith("/members") and r.query.get("count") == "1000"


def _is_delete(r: LoggedRequest) -> bool:
    return r.method == "DELETE"


_SWEEP = bool(os.environ.get("AUDITCASE_KILL_SWEEP"))


def _some(cases: dict[str, Any], default: set[str]) -> list[str]:
    """Every case under ``AUDITCASE_KILL_SWEEP=1``; else the representative ones (suite time)."""
    return [c for c in cases if _SWEEP or c in default]


KILLS = {
    "first-page-after": ("after", 1),
    "page-held": ("held", _is_page),
    "pages-after-3": ("after", 3),
    "first-delete-held": ("held", _is_delete),
    "deletes-after-200": ("after", 200),
    "deletes-held-900": ("held", 900),
}
if _SWEEP:  # every request count of interest, both ways
    for _count in (0, 2, 4, 5, 8, 20, 100, 500, 1000, 1150, 1250, 1400):
        KILLS[f"after-{_count}"] = ("after", _count)
        KILLS[f"held-{_count}"] = ("held", _count)


@pytest.mark.parametrize("kill", _some(KILLS, {"page-held", "first-delete-held"}))
def test_killed_paged_unlink_then_relink_ends_as_uninterrupted(
    kill: str, tmp_path: Path, ref_dir: Path
) -> None:
    """R7.2, R4.3, R4.5: SIGKILL during paged reads / DELETEs of 1,200 unlinks, relink, rerun."""
    expected = _reference(ref_dir)
    with FakeMailchimp(latency=0.001) as fake:
        db = _prepare(fake, tmp_path)
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked()).path)
        fake.clear_log()
        _killed(fake, db, src, KILLS[kill])
        # the paged path really was taken by the killed run or will be by the rerun
        _after_kill(fake)
        final = Path(write_export(tmp_path / "relinked.jsonl", _relinked()).path)
        _ends_as_uninterrupted(fake, db, final, expected)


def test_paged_path_is_taken_by_the_cli_and_keeps_r43_r45(tmp_path: Path) -> None:
    """The CLI's unlink of 1,200 reads pages, records status at archive (R4.3)."""
    with FakeMailchimp() as fake:
        db = _prepare(fake, tmp_path)
        fake.clear_log()
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked()).path)
        done = _run(fake, db, src)
        assert done.returncode == 0, done.stderr
        assert any(_is_page(r) for r in fake.requests)
        member_gets = [r for r in fake.requests if r.method == "GET" and "/members/" in r.path]
        assert len(member_gets) <= _N - 1000  # the second page is cheaper read per member
        deleted = {r.path for r in fake.requests if r.method == "DELETE"}
        assert len(deleted) == _UNLINKED - 3  # cleaned and pending never DELETEd (R4.5)
        for key in ("p3@example.nl", "p4@example.nl", "p5@example.nl"):
            assert _status(fake, key) in ("cleaned", "pending")
        recs = {k: v for k, v in _records(db).items() if k.startswith(("p1@", "p2@", "p3@", "p5@"))}
        assert recs["p1@example.nl"][1] == "unsubscribed"
        assert recs["p3@example.nl"][1] == "cleaned"
        assert recs["p5@example.nl"][1] == "pending"


_BIG, _BIG_UNLINKED = 2600, 2500  #: >= 2,000 archives in a round: the DELETEs go by /batches


def _is_batch_post(r: LoggedRequest) -> bool:
    return (r.method, r.path) == ("POST", "/3.0/batches")


def _is_batch_poll(r: LoggedRequest) -> bool:
    return r.method == "GET" and r.path.startswith("/3.0/batches/")


BATCH_KILLS = {
    "page-held": ("held", _is_page),
    "batch-post-held": ("held", _is_batch_post),
    "batch-post-after": ("after", _is_batch_post),
    "batch-poll-held": ("held", _is_batch_poll),
}


@pytest.mark.parametrize("kill", _some(BATCH_KILLS, {"batch-post-held", "batch-poll-held"}))
def test_killed_batched_unlink_then_relink_ends_as_uninterrupted(
    kill: str, tmp_path: Path, ref_dir: Path
) -> None:
    """R7.2, R4.3, R4.5: SIGKILL around the /batches of 2,500 DELETEs, relink, rerun."""
    expected = _reference(ref_dir, _BIG, _BIG_UNLINKED)
    with FakeMailchimp(latency=0.001) as fake:
        db = _prepare(fake, tmp_path, _BIG)
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked(_BIG, _BIG_UNLINKED)).path)
        fake.clear_log()
        assert _killed(fake, db, src, BATCH_KILLS[kill])
        fake.audience().unsubscribe(f"p{_BIG}@example.nl")
        final = Path(write_export(tmp_path / "relinked.jsonl", _relinked(_BIG, _BIG_UNLINKED)).path)
        _ends_as_uninterrupted(fake, db, final, expected)


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``src`` folder of the previous release (bcb6cc0, schema 3), from git."""
    folder = tmp_path_factory.mktemp("bcb6cc0")
    root = Path(__file__).resolve().parents[1]
    try:
        archive = subprocess.run(  # noqa: S603 - git of this checkout
            ["git", "-C", str(root), "archive", "bcb6cc0", "src"],  # noqa: S607
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):  # pragma: no cover
        pytest.skip("the previous release is not in this checkout's git history")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def _batch_ops(fake: FakeMailchimp) -> list[tuple[str, str]]:
    return [
        (op["method"], op["path"])
        for r in fake.requests
        if _is_batch_post(r)
        for op in r.body["operations"]
    ]


@pytest.mark.parametrize("pending", ["reads", "deletes"])
def test_schema_3_database_with_a_pending_batch_killed_by_the_previous_release_finishes(
    pending: str, tmp_path: Path, previous_release: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """R7.2, R4.3: bcb6cc0 killed mid-/batches, main resumes (reads and deletes)."""
    with FakeMailchimp(latency=0.001) as fake:
        monkeypatch.setenv("PYTHONPATH", str(previous_release))
        db = _prepare(fake, tmp_path, _BIG)
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked(_BIG, _BIG_UNLINKED)).path)
        fake.clear_log()

        def polled(r: LoggedRequest) -> bool:
            return _is_batch_poll(r) and any(op[0] == "DELETE" for op in _batch_ops(fake))

        assert _killed(fake, db, src, ("held", polled if pending == "deletes" else _is_batch_poll))
        import sqlite3  # noqa: PLC0415

        raw = sqlite3.connect(db)
        assert raw.execute("PRAGMA user_version").fetchone() == (3,)
        assert raw.execute("SELECT count(*) FROM pending_batch").fetchone() == (1,)
        raw.close()
        monkeypatch.delenv("PYTHONPATH")
        sent = _batch_ops(fake)
        assert sent
        done = _run(fake, db, src)
        assert done.returncode == 0, done.stdout + done.stderr
        ops = _batch_ops(fake)
        assert len(set(ops)) == len(ops)  # the pending batch is read, its operations not sent again
        raw = sqlite3.connect(db)
        assert raw.execute("PRAGMA user_version").fetchone() == (4,)
        assert raw.execute("SELECT count(*) FROM pending_batch").fetchone() == (0,)
        raw.close()
        live = {k for k, v in _audience(fake).items() if v[0] != "archived"}
        assert live == {f"p{i}@example.nl" for i in (3, 4, 5, *range(_BIG_UNLINKED + 1, _BIG + 1))}
        records = _records(db)
        assert [records[f"p{i}@example.nl"][1] for i in (1, 2, 3, 5, 6)] == [
            "unsubscribed", "unsubscribed", "cleaned", "pending", "subscribed"
        ]  # fmt: skip
        fake.clear_log()
        assert _run(fake, db, src).returncode == 0
        assert [r for r in fake.requests if r.method != "GET"] == []


# --- the paged reads against a direct read of each member, on a messy audience ------------------

_MESSY = 40  #: persons; all but 36-40 are unlinked in the second export


def _mess(fake: FakeMailchimp) -> None:
    """What users did in Mailchimp after the first run, before the unlink."""
    audience = fake.audience()
    audience.unsubscribe("p1@example.nl")
    audience.clean("p2@example.nl")
    audience.set_status("p3@example.nl", "pending")
    audience.set_status("p4@example.nl", "transactional")
    audience.archive("p5@example.nl")
    audience.delete_permanently("p6@example.nl")
    audience.unsubscribe("p7@example.nl")
    audience.archive("p7@example.nl")  # unsubscribed, then archived by hand


def _carry_unlink(fake: FakeMailchimp, folder: Path, settings: Any) -> tuple[Any, ...]:
    from auditcase_mailchimp import desired_state, plan_sync  # noqa: PLC0415
    from auditcase_mailchimp._client import MailchimpClient  # noqa: PLC0415
    from auditcase_mailchimp._credentials import ApiKey  # noqa: PLC0415
    from auditcase_mailchimp._executor import Executor  # noqa: PLC0415

    from .conftest import ManualClock, retry_policy  # noqa: PLC0415

    folder.mkdir()
    db = folder / "coupling.sqlite3"
    assert (
        _run(fake, db, Path(write_export(folder / "f.jsonl", _first(_MESSY)).path)).returncode == 0
    )
    _mess(fake)
    fake.clear_log()
    client = MailchimpClient(
        ApiKey(fake.api_key), base_url=fake.url, retry=retry_policy(ManualClock())
    )
    with client, SQLiteStore(db) as store:
        plan = plan_sync(
            store.load_current(),
            desired_state(_unlinked(_MESSY, _MESSY - 5), owners=store.owners()),
        )
        store.begin_run(dry_run=False, reconcile=False)
        executor = Executor(
            store, client, fake.list_id, lambda *_: None, total=len(plan.actions),
            batches=settings,
        )  # fmt: skip
        executor.execute(plan.actions)
        records = sorted(
            (m.key, m.status, m.coupling.status_at_archive if m.coupling else None)
            for m in store.load_current()
        )
        failures = sorted((f.person_id, f.action, f.category, f.status) for f in executor.failures)
        notices = sorted(map(str, executor.notices))
        counts = dict(executor.counts)
    members = sorted((m.email_address, m.status) for m in fake.audience().members())
    writes = sorted((r.method, r.path) for r in fake.requests if r.method != "GET")
    return records, failures, notices, counts, members, writes


def test_paged_reads_equal_direct_reads_on_a_messy_audience(tmp_path: Path) -> None:
    """R4.3, R4.5, R6: archived/deleted/transactional members read as directly."""
    from auditcase_mailchimp._executor_bulk import BatchSettings  # noqa: PLC0415

    with FakeMailchimp() as a, FakeMailchimp() as b:
        paged = _carry_unlink(
            a, tmp_path / "paged", BatchSettings(threshold=10_000, page_threshold=1)
        )
        direct = _carry_unlink(b, tmp_path / "direct", None)
        assert any(_is_page(r) for r in a.requests)
        assert not any(_is_page(r) for r in b.requests)
    assert paged == direct


def test_unsubscribed_between_a_killed_paged_run_and_the_rerun_is_recorded_as_unsubscribed(
    tmp_path: Path,
) -> None:
    """R4.3, R5.3: a member unsubscribed after the killed run read its page keeps that status."""
    with FakeMailchimp(latency=0.001) as fake:
        db = _prepare(fake, tmp_path)
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked()).path)
        fake.clear_log()
        assert _killed(fake, db, src, ("after", _is_delete))
        assert any(_is_page(r) for r in fake.requests)
        audience = fake.audience()
        waiting = [
            f"p{i}@example.nl"
            for i in range(6, _UNLINKED + 1)
            if _status(fake, f"p{i}@example.nl") == "subscribed"
        ][:20]
        assert len(waiting) == 20
        for address in waiting:
            audience.unsubscribe(address)
        done = _run(fake, db, src)
        assert done.returncode == 0, done.stdout + done.stderr
        records = _records(db)
        assert {records[a][1] for a in waiting} == {"unsubscribed"}


def _mess_between(fake: FakeMailchimp) -> None:
    audience = fake.audience()
    audience.archive("p8@example.nl")
    audience.delete_permanently("p9@example.nl")
    audience.unsubscribe("p10@example.nl")
    audience.clean("p11@example.nl")
    audience.set_status("p12@example.nl", "pending")
    audience.set_status("p13@example.nl", "transactional")


@pytest.mark.parametrize(
    "kill", _some({"first-page-after": 0, "page-held": 0, "pages-after-3": 0}, {"page-held"})
)
def test_a_kill_in_the_page_reads_then_mailchimp_changes_ends_as_uninterrupted(
    kill: str, tmp_path: Path
) -> None:
    """R7.2, R4.3, R4.5: killed while reading pages; archived/deleted/cleaned meanwhile; rerun."""
    with FakeMailchimp() as ref:
        (tmp_path / "ref").mkdir()
        ref_db = _prepare(ref, tmp_path / "ref")
        _mess_between(ref)
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked()).path)
        assert _run(ref, ref_db, src).returncode == 0
        expected = _audience(ref), _records(ref_db)
    with FakeMailchimp(latency=0.001) as fake:
        (tmp_path / "killed").mkdir()
        db = _prepare(fake, tmp_path / "killed")
        fake.clear_log()
        _killed(fake, db, src, KILLS[kill])
        assert not any(_is_delete(r) for r in fake.requests)
        _mess_between(fake)
        done = _run(fake, db, src)
        assert done.returncode == 0, done.stdout + done.stderr
        assert (_audience(fake), _records(db)) == expected


def test_failures_and_refusals_by_person_equal_the_whole_overview_filtered(tmp_path: Path) -> None:
    """R6.2, R6.3: the indexed reads per person equal the overview, over chunks."""
    from .test_store import _failure  # noqa: PLC0415

    with SQLiteStore(tmp_path / "c.sqlite3") as store:
        for i in range(1, 1300):
            pid = f"{i % 1100}" if i % 7 else f"x'{i}\" OR 1=1 --"
            status = 429 if i % 5 == 0 else 400
            store.record_failure(_failure(pid, status=status, fingerprint=f"fp-{i}", title=f"t{i}"))
        store.dismiss([3, 4, 700])
        store.resolve_failures(["10", "20"])
        every = store.failures()
        every_closed = store.failures(include_closed=True)
        refused = store.refused()
        chosen = [f"{i}" for i in range(0, 1100, 2)] + ["x'14\" OR 1=1 --", "nobody", "10"] * 2
        wanted = set(chosen)
        assert store.failures(person_ids=chosen) == [f for f in every if f.person_id in wanted]
        assert store.failures(include_closed=True, person_ids=set(chosen)) == [
            f for f in every_closed if f.person_id in wanted
        ]
        assert store.refused(person_ids=chosen) == {k: v for k, v in refused.items() if k in wanted}
        assert store.failures(person_ids=[]) == []
        assert store.refused(person_ids=()) == {}


_LAZY = """
import pickle, pydoc, sys
import auditcase_mailchimp as am
assert "requests" not in sys.modules and "sqlite3" not in sys.modules, "heavy import"
names = dir(am)
assert set(am.__all__) <= set(names)
assert "requests" not in sys.modules, "dir() imported the modules"
ns = {}
exec("from auditcase_mailchimp import *", ns)
assert set(am.__all__) <= set(ns), sorted(set(am.__all__) - set(ns))
text = pydoc.render_doc(am, renderer=pydoc.plaintext)
assert "SQLiteStore" in text and "plan_sync" in text
kind = list(am.PersonKind)[0]
p = am.Person(person_id="1", kind=kind, christian_name="A", surname="B",
              contact_email="a@example.nl", correspondence_groups=("X",), linked=True)
sys.stdout.buffer.write(pickle.dumps(p))
"""
_UNPICKLE = """
import pickle, sys
import auditcase_mailchimp as am
p = pickle.loads(sys.stdin.buffer.read())
assert type(p) is am.Person and p.person_id == "1", p
try:
    am.NoSuchName
except AttributeError as e:
    assert "NoSuchName" in str(e)
else:
    raise AssertionError("no AttributeError")
print("ok")
"""


def test_the_lazy_package_supports_star_dir_help_and_pickle() -> None:
    """PEP 562 package: ``*``, ``dir()``, ``help()``, a Person pickled across."""
    made = subprocess.run(  # noqa: S603 - our interpreter
        [sys.executable, "-c", _LAZY], capture_output=True, check=False, timeout=60
    )
    assert made.returncode == 0, made.stderr.decode()
    read = subprocess.run(  # noqa: S603
        [sys.executable, "-c", _UNPICKLE], input=made.stdout, capture_output=True, check=False,
        timeout=60,
    )  # fmt: skip
    assert read.returncode == 0, read.stderr.decode()
    assert read.stdout.strip() == b"ok"


TWO_KILLS = {
    "page-then-deletes": (("held", _is_page), ("after", 300)),
    "deletes-then-page": (("held", 400), ("held", _is_page)),
    "deletes-then-deletes": (("after", 200), ("held", _is_delete)),
}


@pytest.mark.parametrize("kills", _some(TWO_KILLS, {"page-then-deletes"}))
def test_two_kills_with_the_export_changing_end_as_uninterrupted(
    kills: str, tmp_path: Path, ref_dir: Path
) -> None:
    """R7.2, R7.4: killed on the unlink export, killed again on the relink export, then a run."""
    expected_audience, expected_records = _reference(ref_dir)
    one, two = TWO_KILLS[kills]
    with FakeMailchimp(latency=0.001) as fake:
        db = _prepare(fake, tmp_path)
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked()).path)
        _killed(fake, db, src, one)
        _after_kill(fake)
        final = Path(write_export(tmp_path / "relinked.jsonl", _relinked()).path)
        _killed(fake, db, final, two)
        done = _run(fake, db, final)
        assert done.returncode == 0, done.stdout + done.stderr
        assert _audience(fake) == expected_audience
        assert _records(db) == expected_records
        fake.clear_log()
        assert _run(fake, db, final).returncode == 0
        assert [r for r in fake.requests if r.method != "GET"] == []


_READ_ALL = """
import json, os, sys
from auditcase_mailchimp import ExportFile
out = {}
for name in sorted(os.listdir(sys.argv[1])):
    try:
        r = ExportFile(os.path.join(sys.argv[1], name)).read()
        out[name] = ["ok", [repr(p) for p in r.persons],
                     [(e.line, e.column, e.person_id, str(e)) for e in r.row_errors]]
    except Exception as e:  # noqa: BLE001
        out[name] = ["error", type(e).__name__, str(e)]
print(json.dumps(out))
"""


def test_the_split_reader_reads_mangled_exports_as_the_previous_release(
    tmp_path: Path, previous_release: Path
) -> None:
    """R8: _export_rows/_csv/_jsonl read 400 mangled files as bcb6cc0 did."""
    import random  # noqa: PLC0415

    from .test_source import _csv_text, _record, _row  # noqa: PLC0415

    rows = [_row(PersonId=str(i), ContactEMailRE=f"p{i}@example.nl") for i in range(1, 6)]
    records = [_record(PersonId=str(i), ContactEMailRE=f"p{i}@example.nl") for i in range(1, 6)]
    bases = {
        "csv": _csv_text(rows).encode(),
        "jsonl": ("\n".join(__import__("json").dumps(r) for r in records) + "\n").encode(),
    }
    pieces = [b"\x00", b"\r", b"\n", b'"', b",", b";", b"\t", b"\xef\xbb\xbf", b"\xff",
              b"\xc3", b"\xe2\x80\xa8", b"\xc2\x85", b" ", b"\x0b", b"{", b"}", b"\\",
              b"\xc2\xa0"]  # fmt: skip
    rnd = random.Random(14)
    folder = tmp_path / "exports"
    folder.mkdir()
    for ext, base in bases.items():
        for k in range(200):
            data = bytearray(base)
            for _ in range(rnd.randint(1, 3)):
                at, op = rnd.randrange(len(data) + 1), rnd.random()
                if op < 0.5:
                    data[at:at] = rnd.choice(pieces)
                elif op < 0.8:
                    del data[at : at + rnd.randint(1, 4)]
                else:
                    del data[at:]
            (folder / f"{k:03d}.{ext}").write_bytes(bytes(data))

    def read(src: Path) -> dict[str, Any]:
        done = subprocess.run(  # noqa: S603 - our interpreter
            [sys.executable, "-c", _READ_ALL, str(folder)], capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(src)}, timeout=120, check=True,
        )  # fmt: skip
        result: dict[str, Any] = __import__("json").loads(done.stdout)
        return result

    here = Path(__file__).resolve().parents[1] / "src"
    old, new = read(previous_release), read(here)
    assert len(new) == 400
    assert {k: v for k, v in new.items() if v != old[k]} == {}


_PUSHES = """
import json, sys, tempfile
from pathlib import Path
from auditcase_mailchimp import Person, PersonKind, SQLiteStore, push_persons, sync
from auditcase_mailchimp._client import MailchimpClient
from auditcase_mailchimp._credentials import ApiKey
from auditcase_mailchimp.testing import FakeMailchimp
KIND = list(PersonKind)[0]
def p(i, address=None, linked=True):
    address = address or (f"fake@d{i}.nl" if i % 3 == 0 else f"p{i}@example.nl")
    return Person(person_id=str(i), kind=KIND, christian_name=f"N{i}", surname="S",
                  contact_email=address, correspondence_groups=("G",), linked=linked)
class Source:
    def __init__(self, persons): self._persons = persons
    def persons(self): return self._persons
out = []
with FakeMailchimp() as fake, MailchimpClient(ApiKey(fake.api_key), base_url=fake.url) as client, \\
        SQLiteStore(Path(tempfile.mkdtemp()) / "c.sqlite3") as store:
    def state(label):
        out.append([label,
            sorted((f.person_id, f.action, f.category, f.status) for f in store.failures()),
            sorted(store.refused().items()),
            sorted((m.email_address, m.status) for m in fake.audience().members()),
            len([r for r in fake.requests if r.method != "GET"])])
        fake.clear_log()
    every = [p(i) for i in range(1, 701)]
    args = dict(store=store, client=client, list_id=fake.list_id)
    sync(Source(every), **args); state("sync")
    push_persons(every[:600], retry_failed=False, **args); state("push, no retry")
    push_persons(every[:30], **args); state("push, retry")
    fixed = [p(i, f"ok{i}@example.nl") if i % 3 == 0 else p(i) for i in range(1, 61)]
    push_persons(fixed, retry_failed=False, **args); state("push, fixed")
    push_persons([p(i, linked=False) for i in range(61, 91)], **args); state("push, unlinked")
    push_persons(every[600:] * 2, retry_failed=False, **args); state("push, twice each")
print(json.dumps(out))
"""


def test_pushes_read_failures_by_person_as_the_previous_release_did(
    previous_release: Path,
) -> None:
    """R6.2, R6.3: refusals, retries and fixes over pushes as bcb6cc0 did them."""

    def run(src: Path) -> Any:
        done = subprocess.run(  # noqa: S603 - our interpreter
            [sys.executable, "-c", _PUSHES], capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(src)}, timeout=300, check=True,
        )  # fmt: skip
        return __import__("json").loads(done.stdout)

    old, new = run(previous_release), run(Path(__file__).resolve().parents[1] / "src")
    assert len(new) == 6
    assert new == old


# --- a batch polled by a killed run is awaited and forgotten, its results never reused ----------


def _kill_at_the_delete_batch_poll(fake: FakeMailchimp, db: Path, src: Path) -> None:
    def polled(r: LoggedRequest) -> bool:
        return _is_batch_poll(r) and any(op[0] == "DELETE" for op in _batch_ops(fake))

    assert _killed(fake, db, src, ("held", polled))


def _pending_batches(db: Path) -> list[str]:
    import sqlite3  # noqa: PLC0415

    raw = sqlite3.connect(db)
    try:
        return [str(row[0]) for row in raw.execute("SELECT id FROM pending_batch")]
    finally:
        raw.close()


def test_a_rerun_after_a_kill_at_the_batch_poll_leaves_no_pending_batch(tmp_path: Path) -> None:
    """R7.2: the killed run's /batches entry outlives the rerun that finished it."""
    with FakeMailchimp(latency=0.001) as fake:
        db = _prepare(fake, tmp_path, _BIG)
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked(_BIG, _BIG_UNLINKED)).path)
        fake.clear_log()
        _kill_at_the_delete_batch_poll(fake, db, src)
        assert len(_pending_batches(db)) == 1
        assert _run(fake, db, src).returncode == 0
        assert _records(db)  # no open intent left
        assert _pending_batches(db) == []


def test_unlinked_again_after_a_stale_batch_the_members_are_archived(tmp_path: Path) -> None:
    """R4.1, R7.2: a stale batch's results stand in for a later round's DELETEs."""
    with FakeMailchimp(latency=0.001) as fake:
        db = _prepare(fake, tmp_path, _BIG)
        src = Path(write_export(tmp_path / "unlinked.jsonl", _unlinked(_BIG, _BIG_UNLINKED)).path)
        first = Path(write_export(tmp_path / "first.jsonl", _first(_BIG)).path)
        _kill_at_the_delete_batch_poll(fake, db, src)
        assert _run(fake, db, src).returncode == 0  # finishes the unlink
        assert _run(fake, db, first).returncode == 0  # everyone linked again: re-added
        assert fake.audience().statuses()["subscribed"] == _BIG - 5
        fake.clear_log()
        done = _run(fake, db, src)  # unlinked again: 2,495 archives in one round
        assert done.returncode == 0, done.stdout + done.stderr
        assert "2495 archived" in done.stdout
        assert fake.audience().statuses()["subscribed"] == _BIG - _BIG_UNLINKED
