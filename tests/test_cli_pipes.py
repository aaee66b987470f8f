"""A closed output never abandons a sync; Ctrl-C stops sending and says so (issue 9, R9.6)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from auditcase_mailchimp.testing import FakeMailchimp

from .test_sync import person, write_export


def _command(source: Path, db: Path, fake: FakeMailchimp, *extra: str) -> list[str]:
    return [sys.executable, "-m", "auditcase_mailchimp", "sync", "--source", str(source),
            "--list-id", fake.list_id, "--api-url", fake.url, "--db", str(db), *extra]  # fmt: skip


def _env(fake: FakeMailchimp) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    return {**env, "MAILCHIMP_API_KEY": fake.api_key, "PYTHONUNBUFFERED": "1"}


def _export(tmp_path: Path, count: int) -> Path:
    source = tmp_path / "export.jsonl"
    persons = [person(str(i), f"p{i}@example.nl") for i in range(1, count + 1)]
    write_export(source, [*persons, person("99999", "")])  # one problem: exit status 1
    return source


def _interrupt_while_sending(process: subprocess.Popen[bytes], fake: FakeMailchimp) -> None:
    """Send SIGINT once a batch was answered and more are in flight."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        answered = [r for r in fake.requests if r.method == "POST" and r.status == 200]
        if answered and fake.in_flight >= 1:
            break  # one batch answered, the next in flight
        time.sleep(0.005)  # polling the fake, not timing the code under test
    assert process.poll() is None, "the run finished before it could be interrupted"
    process.send_signal(signal.SIGINT)


def test_a_closed_stdout_does_not_stop_the_sync(tmp_path: Path) -> None:
    """Issue 9: with stdout closed before anything is written, the sync still does all its work."""
    source = _export(tmp_path, 600)
    with FakeMailchimp() as fake:
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
            _command(source, tmp_path / "c.sqlite3", fake),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(fake),
        )  # fmt: skip
        assert process.stdout is not None
        process.stdout.close()  # the reader went away: every write to stdout fails
        _, err = process.communicate(timeout=120)
        assert process.returncode == 1  # one person without an address, as without the pipe
        assert len(fake.audience()) == 600
    assert b"Traceback" not in err
    assert b"Exception ignored" not in err
    assert b"BrokenPipe" not in err


def test_piped_into_head_the_exit_status_stands(tmp_path: Path) -> None:
    """Issue 9: `sync ... | head -1` prints one line; the work and the exit status stand."""
    source = _export(tmp_path, 600)
    with FakeMailchimp() as fake:
        line = " ".join(f"'{part}'" for part in _command(source, tmp_path / "h.sqlite3", fake))
        result = subprocess.run(  # noqa: S603 - a fixed shell line of our own
            ["bash", "-c", f"set -o pipefail; {line} 2>&1 | head -1"],  # noqa: S607
            capture_output=True, env=_env(fake), timeout=120, check=False,
        )  # fmt: skip
        assert len(fake.audience()) == 600
    assert result.returncode == 1
    assert result.stdout.decode().count("\n") == 1
    assert b"Traceback" not in result.stderr


def test_ctrl_c_stops_sending_and_says_what_is_recorded(tmp_path: Path) -> None:
    """Issue 9, R9.6: Ctrl-C while sending exits 3, says what is recorded; a rerun finishes."""
    source = _export(tmp_path, 12000)
    db = tmp_path / "i.sqlite3"
    with FakeMailchimp(member_latency=0.0005, latency=0.05) as fake:
        process = subprocess.Popen(  # noqa: S603
            _command(source, db, fake),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(fake),
        )  # fmt: skip
        _interrupt_while_sending(process, fake)
        out, err = process.communicate(timeout=120)
        stopped_at = len(fake.audience())
        assert process.returncode == 3
        text = err.decode()
        assert "interrupted (Ctrl-C) after" in text
        assert "no new requests were sent" in text
        assert "recorded in the coupling database" in text
        assert "Traceback" not in text
        assert stopped_at < 12000  # it did stop
        rerun = subprocess.run(  # noqa: S603
            _command(source, db, fake), capture_output=True, env=_env(fake), timeout=120,
            check=False,
        )  # fmt: skip
        assert rerun.returncode == 1  # the one person without an address
        assert len(fake.audience()) == 12000
    assert out == b""


def test_ctrl_c_under_json_is_one_error_object(tmp_path: Path) -> None:
    """R9.6: Ctrl-C with --json prints the error object with exit_status 3 on stdout."""
    source = _export(tmp_path, 12000)
    with FakeMailchimp(member_latency=0.0005, latency=0.05) as fake:
        process = subprocess.Popen(  # noqa: S603
            _command(source, tmp_path / "j.sqlite3", fake, "--json"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(fake),
        )  # fmt: skip
        _interrupt_while_sending(process, fake)
        out, _ = process.communicate(timeout=120)

    data = json.loads(out)
    assert data["error"] == "interrupted"
    assert data["exit_status"] == process.returncode == 3


def test_a_database_error_after_sending_exits_3(tmp_path: Path) -> None:
    """R9.6: a database that cannot be written after requests went out is status 3, not 2."""
    source = _export(tmp_path, 12000)
    db = tmp_path / "locked.sqlite3"
    with FakeMailchimp(member_latency=0.0005, latency=0.05) as fake:
        process = subprocess.Popen(  # noqa: S603
            _command(source, db, fake, "--json"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(fake),
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if any(r.method == "POST" and r.status == 200 for r in fake.requests):
                break  # a batch was answered: requests have gone out
            time.sleep(0.005)  # polling the fake, not timing the code under test
        blocker = sqlite3.connect(db, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # every later write of the run fails
        try:
            out, err = process.communicate(timeout=120)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert process.returncode == 3
        data = json.loads(out)
        assert data["error"] == "stopped_after_sending"
        assert data["exit_status"] == 3
        assert "--db" in data["message"]
        assert "The next run settles what was sent" in data["message"]
        assert b"Traceback" not in err
        rerun = subprocess.run(  # noqa: S603
            _command(source, db, fake), capture_output=True, env=_env(fake), timeout=120,
            check=False,
        )  # fmt: skip
        assert rerun.returncode == 1
        assert len(fake.audience()) == 12000


def test_progress_bars_on_a_real_terminal(tmp_path: Path) -> None:
    """R9.1: with stderr on a terminal, bars with rate and time taken; stdout keeps the summary."""
    import pty  # noqa: PLC0415 - POSIX only, like the rest of this module's subprocesses

    source = _export(tmp_path, 600)
    primary, secondary = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # read the terminal while the run writes, so it never blocks
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal is closed once the process is gone
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    with FakeMailchimp() as fake:
        process = subprocess.Popen(  # noqa: S603
            _command(source, tmp_path / "t.sqlite3", fake),
            stdout=subprocess.PIPE, stderr=secondary, env=_env(fake),
        )  # fmt: skip
        os.close(secondary)
        out, _ = process.communicate(timeout=120)
    reader.join(timeout=30)
    os.close(primary)
    shown = b"".join(chunks)
    assert process.returncode == 1
    text = shown.decode()
    assert "\r" in text
    assert "sending" in text
    assert "600/600" in text
    assert "/s" in text
    assert "done in" in text
    assert b"Sync finished in" in out
