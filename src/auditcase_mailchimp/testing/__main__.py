"""Run the fake Mailchimp from the command line until interrupted.

``python -m auditcase_mailchimp.testing --api-key KEY --list-id ID [--port N] [--latency SECONDS]
[--member-latency SECONDS] [--fault-rate FRACTION]`` prints exactly one line,
``Serving fake Mailchimp at http://127.0.0.1:PORT/3.0``, and serves until SIGINT or SIGTERM,
then exits with status 0. The key is accepted as the Basic password and as a Bearer token.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from ._server import FakeMailchimp

__all__ = ["main"]


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM.

    Args:
        argv: The arguments; ``sys.argv[1:]`` when ``None``.

    Returns:
        0 after a clean stop.
    """
    parser = argparse.ArgumentParser(
        prog="python -m auditcase_mailchimp.testing",
        description="Serve a fake Mailchimp Marketing API on 127.0.0.1.",
    )
    parser.add_argument("--api-key", required=True, metavar="KEY", help="the key to accept")
    parser.add_argument("--list-id", required=True, metavar="ID", help="the audience to hold")
    parser.add_argument("--port", type=int, default=0, metavar="N", help="0 picks a free port")
    parser.add_argument("--latency", type=_seconds, default=0.0, metavar="SECONDS")
    parser.add_argument("--member-latency", type=_seconds, default=0.0, metavar="SECONDS")
    parser.add_argument("--fault-rate", type=_fraction, default=0.0, metavar="FRACTION")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    fake = FakeMailchimp(
        api_key=args.api_key,
        list_ids=[args.list_id],
        port=args.port,
        latency=args.latency,
        member_latency=args.member_latency,
        fault_rate=args.fault_rate,
        log_requests=False,
    )
    try:
        with fake:
            sys.stdout.write(f"Serving fake Mailchimp at {fake.url}\n")
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
