"""``python -m auditcase_mailchimp.testing``: one line, serve, stop cleanly (issue 3 item 7)."""

from __future__ import annotations

import re
import selectors
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests

from auditcase_mailchimp._client import MailchimpClient, UpsertItem
from auditcase_mailchimp._credentials import ApiKey

KEY = "fedcba9876543210fedcba9876543210-us3"
LINE = re.compile(r"Serving fake Mailchimp at (http://127\.0\.0\.1:(\d+)/3\.0)\n")


def _read_line(process: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail("the fake printed nothing")
    return process.stdout.readline()


@contextmanager
def _serving(*extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "auditcase_mailchimp.testing", "--api-key", KEY, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _read_line(process)
        match = LINE.fullmatch(line)
        assert match is not None, line
        yield process, match[1]
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_basic_and_bearer_and_stops_cleanly(stop: signal.Signals) -> None:
    """Exactly one line, the key works as Basic and Bearer, SIGINT/SIGTERM exit 0 (item 7)."""
    with _serving("--list-id", "lijst123") as (process, url):
        with MailchimpClient(ApiKey(KEY), base_url=url) as client:
            client.check_audience("lijst123")
            (result,) = client.batch_upsert("lijst123", [UpsertItem(email_address="a@example.nl")])
            assert result.ok
        bearer = requests.get(f"{url}/ping", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
        assert bearer.status_code == 200
        process.send_signal(stop)
        out, err = process.communicate(timeout=20)
        assert process.returncode == 0, err
        assert out == ""


def test_cli_takes_port_latency_and_fault_rate() -> None:
    """--port, --latency, --member-latency and --fault-rate are accepted (item 7)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with _serving(
        "--list-id",
        "x1",
        "--port",
        str(port),
        "--latency",
        "0",
        "--member-latency",
        "0.001",
        "--fault-rate",
        "0",
    ) as (process, url):
        assert url == f"http://127.0.0.1:{port}/3.0"
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
        assert process.returncode == 0


@pytest.mark.parametrize(
    "arguments",
    [[], ["--api-key", KEY], ["--api-key", KEY, "--list-id", "x", "--fault-rate", "2"]],
)
def test_cli_usage_errors_exit_2(arguments: list[str]) -> None:
    """Missing or bad arguments: argparse's usage error, status 2 (item 7)."""
    finished = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "auditcase_mailchimp.testing", *arguments],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert finished.returncode == 2
    assert finished.stdout == ""
