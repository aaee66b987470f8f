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
from ._plan import Action, Adopt, Archive, ChangeAddress, Release, Upsert, action_verb
from ._report import SyncReport
from ._store import Failure, FailureInput, Report
from ._store_values import format_time
from ._summary import SyncSummary, address_fault

__all__ = [
    "ErrorOutput",
    "action_json",
    "dumps",
    "json_object",
    "make_converter",
    "schema",
    "sync_output",
]

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


def action_json(action: Action) -> dict[str, Any]:
    """One planned action as JSON, for ``sync --dry-run --json`` (R7.3)."""
    data: dict[str, Any] = {
        "person_id": action.person_id,
        "kind": action.kind.value,
        "email_address": action.email_address,
    }
    data["action"] = action_verb(action)
    if isinstance(action, ChangeAddress):
        data["old_email_address"] = action.old_email_address
    if isinstance(action, Upsert | ChangeAddress):
        data["merge_fields"] = dict(sorted(action.merge_fields.items()))
        data["tags_add"] = sorted(action.tags_add)
        data["tags_remove"] = sorted(action.tags_remove)
    return data


def make_converter() -> cattrs.Converter:
    """Build the converter for the command line's JSON (never cattrs' global one).

    Returns:
        A converter that unstructures the outputs into JSON-ready values.
    """
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, format_time)
    converter.register_unstructure_hook(enum.Enum, lambda value: value.value)
    for entry in (Failure, FailureInput):  # the refused data's fingerprint stays inside
        converter.register_unstructure_hook(
            entry,
            make_dict_unstructure_fn(
                entry,
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
    # the details are told as counts and, below, as lists of persons
    report = make_dict_unstructure_fn(
        SyncReport,
        converter,
        problems=override(omit=True),
        row_errors=override(omit=True),
        failures=override(omit=True),
        unsubscribed=override(omit=True),
        unsubscribed_idle=override(omit=True),
        plan=override(omit=True),
    )

    def report_hook(value: SyncReport) -> dict[str, Any]:
        data = report(value)
        data.update(value.counts())
        data["ok"] = value.ok
        data.update(_details(converter, value))
        return data

    converter.register_unstructure_hook(SyncReport, report_hook)
    return converter


def _details(converter: cattrs.Converter, report: SyncReport) -> dict[str, Any]:
    """The persons behind a report's counts, and on a dry run the plan (R7.3)."""
    data: dict[str, Any] = {
        "problem_details": converter.unstructure(list(report.problems)),
        "row_error_details": [str(error) for error in report.row_errors],
        "failure_details": converter.unstructure(list(report.failures)),
    }
    if report.dry_run:
        data["plan"] = [converter.unstructure(a) for a in report.plan.actions]
    return data


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
    data.update(_details(_CONVERTER, report))
    return data


def json_object(value: object) -> dict[str, Any]:
    """One value as a JSON object, through the converter: what each public ``to_json`` returns.

    Args:
        value: A :class:`SyncReport`, :class:`~auditcase_mailchimp.Failure`,
            :class:`~auditcase_mailchimp.Report` or :class:`~auditcase_mailchimp.RunRecord`.

    Returns:
        A JSON-ready mapping.
    """
    data: dict[str, Any] = _CONVERTER.unstructure(value)
    return data


def failures_output(entries: Sequence[Failure]) -> list[dict[str, Any]]:
    """The ``failures --json`` array (R9.2).

    Args:
        entries: The entries.

    Returns:
        One object per entry; see ``schemas/failures.json``.
    """
    return [
        {
            **json_object(entry),
            "address_problem": (
                address_fault(entry.email_address) if entry.category == "invalid_address" else None
            ),
        }
        for entry in entries
    ]


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
