"""The JSON the command line prints with ``--json``, through one cattrs converter.

Every output has a JSON Schema shipped in the package (``schemas/<name>.json``): ``sync``
(the summary, R9.1), ``failures`` (the overview, R9.2), ``report`` (R9.4) and ``error`` (any
command that stops: ``{"error", "message", "exit_status"}``). The tests validate each output
against its schema. Times are ISO 8601 in UTC (``2026-03-01T02:00:13Z``), kinds and
categories their string values.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from typing import Any, Final

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn, override

from ._failures import field_errors_json
from ._plan import Adopt, Archive, ChangeAddress, Release, Upsert
from ._report import SyncReport, action_json
from ._store import Failure, FailureInput, Report
from ._store_values import format_time
from ._summary import SyncSummary, address_fault

__all__ = ["ErrorOutput", "dumps", "make_converter", "schema", "sync_output"]

#: The outputs that have a schema.
SCHEMAS: Final = ("sync", "failures", "report", "error")


@attrs.frozen(kw_only=True)
class ErrorOutput:
    """What a command prints under ``--json`` when it stops with an error."""

    #: A stable code: ``usage``, ``credentials``, ``audience``, ``source``, ``database``,
    #: ``mailchimp``, ``system``, ``mass_archive``, ``interrupted``, ``stopped_after_sending``,
    #: ``internal``.
    error: str
    #: The message, as the text output prints it.
    message: str
    #: The exit status the command returns (R9.6).
    exit_status: int


def make_converter() -> cattrs.Converter:
    """Build the converter for the command line's JSON (never cattrs' global one).

    Returns:
        A converter that unstructures the outputs into JSON-ready values.
    """
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, format_time)
    converter.register_unstructure_hook(enum.Enum, lambda value: value.value)
    failure = make_dict_unstructure_fn(
        Failure,
        converter,
        fingerprint=override(omit=True),
        field_errors=override(
            unstruct_hook=lambda errors: [{"field": f, "message": m} for f, m in errors]
        ),
    )

    def failure_hook(entry: Failure) -> dict[str, Any]:
        data = failure(entry)
        data["address_problem"] = (
            address_fault(entry.email_address) if entry.category == "invalid_address" else None
        )
        return data

    converter.register_unstructure_hook(Failure, failure_hook)
    converter.register_unstructure_hook(
        FailureInput,
        make_dict_unstructure_fn(
            FailureInput,
            converter,
            fingerprint=override(omit=True),
            field_errors=override(unstruct_hook=field_errors_json),
        ),
    )
    for kind in (Upsert, ChangeAddress, Archive, Adopt, Release):
        converter.register_unstructure_hook(kind, action_json)
    summary = make_dict_unstructure_fn(SyncSummary, converter)

    def summary_hook(value: SyncSummary) -> dict[str, Any]:
        data = summary(value)
        data["persons_not_linked"] = value.persons_not_linked
        return data

    converter.register_unstructure_hook(SyncSummary, summary_hook)
    return converter


_CONVERTER: Final = make_converter()


def sync_output(summary: SyncSummary, report: SyncReport) -> dict[str, Any]:
    """The ``sync --json`` object: the summary's facts, the details, and on a dry run the plan.

    Args:
        summary: The summary.
        report: The report it was made from.

    Returns:
        A JSON-ready mapping; see ``schemas/sync.json``.
    """
    data: dict[str, Any] = _CONVERTER.unstructure(summary)
    data["problem_details"] = _CONVERTER.unstructure(list(report.problems))
    data["row_error_details"] = [str(error) for error in report.row_errors]
    data["failure_details"] = _CONVERTER.unstructure(list(report.failures))
    if report.dry_run:
        data["plan"] = [_CONVERTER.unstructure(a) for a in report.plan.actions]
    return data


def failures_output(entries: Sequence[Failure]) -> list[dict[str, Any]]:
    """The ``failures --json`` array (R9.2).

    Args:
        entries: The entries.

    Returns:
        One object per entry; see ``schemas/failures.json``.
    """
    return [_CONVERTER.unstructure(entry, Failure) for entry in entries]


def report_output(report: Report) -> dict[str, Any]:
    """The ``report --json`` object (R9.4).

    Args:
        report: The saved report.

    Returns:
        ``saved_at``, ``unsubscribed`` and ``conflicts``; see ``schemas/report.json``.
    """
    data: dict[str, Any] = _CONVERTER.unstructure(report)
    return data


def error_output(error: ErrorOutput) -> dict[str, Any]:
    """The object a command prints under ``--json`` when it stops with an error.

    Args:
        error: The error.

    Returns:
        ``error``, ``message`` and ``exit_status``; see ``schemas/error.json``.
    """
    data: dict[str, Any] = _CONVERTER.unstructure(error)
    return data


def dumps(value: object, *, indent: int | None = 2) -> str:
    """Serialise a JSON-ready value as the command line prints it (UTF-8)."""
    return json.dumps(value, ensure_ascii=False, indent=indent)


def schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema of one output, as shipped in the package.

    Args:
        name: ``sync``, ``failures``, ``report`` or ``error``.

    Returns:
        The schema (JSON Schema draft 2020-12).
    """
    text = (resources.files("auditcase_mailchimp") / "schemas" / f"{name}.json").read_text(
        encoding="utf-8"
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded
