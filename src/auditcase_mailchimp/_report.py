"""What a run did: :class:`SyncReport`, the value :func:`~auditcase_mailchimp.sync` returns."""

from __future__ import annotations

from typing import Any

import attrs

from ._desired import Problem, ProblemCategory
from ._plan import Action, Archive, ChangeAddress, Plan, Release, UnsubscribedNotice, Upsert
from ._source import RowError
from ._store import FailureInput

__all__ = ["SyncReport", "action_json"]


@attrs.frozen(kw_only=True)
class SyncReport:
    """What a sync did, or with ``dry_run`` would do (R7.3).

    Counts are of members; ``tags_changed`` counts members whose tags changed. ``failures`` are
    this run's refusals and errors from Mailchimp (also in the failure overview); ``problems``
    are found before sending (R2.6, R3); ``row_errors`` are rows of the export file that were
    skipped (R8.4).
    """

    dry_run: bool
    reconcile: bool
    created: int = 0
    updated: int = 0
    archived: int = 0
    address_changes: int = 0
    tags_changed: int = 0
    adopted: int = 0
    unchanged: int = 0
    #: Persons the source gave (R1), linked or not.
    persons_read: int = 0
    #: Of those, the persons linked to Mailchimp (R1.2).
    persons_linked: int = 0
    #: Members released instead of archived, as cleaned or pending in Mailchimp (R4.5).
    released: int = 0
    #: Removals held this run because a bad row's person could not be told (R8.4).
    removals_held: bool = False
    #: Persons not sent again because Mailchimp refused the same data before (R6.3).
    skipped_refused: int = 0
    problems: tuple[Problem, ...] = ()
    row_errors: tuple[RowError, ...] = ()
    failures: tuple[FailureInput, ...] = ()
    #: Linked persons unsubscribed or cleaned in Mailchimp (R5.3).
    unsubscribed: tuple[UnsubscribedNotice, ...] = ()
    #: Linked persons on the R5.3 list for whom nothing is sent (their member archived, or
    #: not added under a new address): neither pushed nor up to date.
    unsubscribed_idle: int = 0
    #: ``True`` on a dry run whose plan a real run would refuse for its removals (R7.5).
    mass_archive_blocked: bool = False
    #: The plan that was carried out (or, on a dry run, would be).
    plan: Plan = attrs.field(factory=Plan, repr=False)

    @property
    def conflicts(self) -> tuple[Problem, ...]:
        """The duplicate-address problems (R3.2)."""
        return tuple(p for p in self.problems if p.category is ProblemCategory.DUPLICATE_ADDRESS)

    @property
    def ok(self) -> bool:
        """Tell whether every person was synced.

        ``False`` when there are failures, problems, bad rows, or persons not sent again
        because Mailchimp refused the same data before (R6.3).
        """
        return not (self.failures or self.problems or self.row_errors or self.skipped_refused)

    def counts(self) -> dict[str, int]:
        """The counts as a mapping, in the order the summary prints them."""
        return {
            "created": self.created,
            "updated": self.updated,
            "archived": self.archived,
            "released": self.released,
            "address_changes": self.address_changes,
            "tags_changed": self.tags_changed,
            "adopted": self.adopted,
            "unchanged": self.unchanged,
            "skipped_refused": self.skipped_refused,
            "problems": len(self.problems),
            "row_errors": len(self.row_errors),
            "failures": len(self.failures),
            "unsubscribed": len(self.unsubscribed),
        }

    def to_json(self) -> dict[str, Any]:
        """The summary as one JSON object (``sync --json``, R9.1)."""
        return {
            "dry_run": self.dry_run,
            "reconcile": self.reconcile,
            "persons_read": self.persons_read,
            "persons_linked": self.persons_linked,
            **self.counts(),
            "removals_held": self.removals_held,
            "mass_archive_blocked": self.mass_archive_blocked,
            "ok": self.ok,
            "problem_details": [
                {
                    "person_id": p.person_id,
                    "kind": p.kind.value,
                    "category": p.category.value,
                    "message": p.message,
                }
                for p in self.problems
            ],
            "row_error_details": [str(e) for e in self.row_errors],
            "failure_details": [
                {
                    "person_id": f.person_id,
                    "action": f.action,
                    "category": f.category,
                    "status": f.status,
                    "title": f.title,
                    "detail": f.detail,
                }
                for f in self.failures
            ],
            **({"plan": [action_json(a) for a in self.plan.actions]} if self.dry_run else {}),
        }


def action_json(action: Action) -> dict[str, Any]:
    """One planned action as JSON, for ``sync --dry-run --json`` (R7.3)."""
    data: dict[str, Any] = {
        "person_id": action.person_id,
        "kind": action.kind.value,
        "email_address": action.email_address,
    }
    if isinstance(action, Upsert):
        data["action"] = (
            "create" if action.create else ("re-add" if action.send_status else "update")
        )
    elif isinstance(action, ChangeAddress):
        data["action"] = "change_address"
        data["old_email_address"] = action.old_email_address
    elif isinstance(action, Archive):
        data["action"] = "archive"
    elif isinstance(action, Release):
        data["action"] = "release"
    else:
        data["action"] = "record"
    if isinstance(action, Upsert | ChangeAddress):
        data["merge_fields"] = dict(sorted(action.merge_fields.items()))
        data["tags_add"] = sorted(action.tags_add)
        data["tags_remove"] = sorted(action.tags_remove)
    return data
