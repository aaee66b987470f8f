"""What the coupling database gives back besides failures: the report and the runs; times.

Pure values, no database. Times are stored and shown as ISO 8601 text in UTC
(``2026-03-01T02:00:13Z``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from ._desired import Problem
from ._plan import UnsubscribedNotice

__all__ = [
    "Report",
    "RunRecord",
    "format_time",
    "parse_optional_time",
    "parse_time",
    "utc_now",
]


def utc_now() -> datetime:
    """The system clock, in UTC."""
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """An aware time as ISO 8601 text in UTC, to the second."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Read a stored time."""
    return datetime.fromisoformat(text)


def parse_optional_time(text: str | None) -> datetime | None:
    """Read a stored time that may be absent."""
    return None if text is None else datetime.fromisoformat(text)


@attrs.frozen(kw_only=True)
class Report:
    """The persons to look at in AuditCase, as the last sync saw them (R9.4)."""

    #: Linked persons unsubscribed or cleaned in Mailchimp (R5.3).
    unsubscribed: tuple[UnsubscribedNotice, ...] = ()
    #: Duplicate addresses (R3.2), every person involved, each naming the others.
    conflicts: tuple[Problem, ...] = ()
    #: When the report was saved; ``None`` when no sync has saved one yet.
    saved_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON object with ``saved_at``, ``unsubscribed``, ``conflicts``."""
        from ._json_out import json_object  # noqa: PLC0415 - the one converter, in the shell

        return json_object(self)


@attrs.frozen(kw_only=True)
class RunRecord:
    """One sync run, as ``begin_run`` and ``finish_run`` of the SQLite store recorded it.

    A run with ``finished_at`` ``None`` is running, or was interrupted (R7.2).
    """

    id: int
    started_at: datetime
    finished_at: datetime | None
    dry_run: bool
    reconcile: bool
    #: What the runner said when it finished (e.g. ``ok``, ``failures``, ``error``).
    outcome: str | None
    #: The summary counts the runner passed (``created``, ``updated``, ...).
    counts: Mapping[str, int] = attrs.field(factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        """Return the run as a JSON object; times as ISO 8601 strings in UTC."""
        from ._json_out import json_object  # noqa: PLC0415 - the one converter, in the shell

        return json_object(self)
