"""What a run did: :class:`SyncReport`, the value :func:`~auditcase_mailchimp.sync` returns."""

from __future__ import annotations

from typing import Any

import attrs

from ._desired import Problem, ProblemCategory
from ._plan import Plan, UnsubscribedNotice
from ._source import RowError
from ._store import FailureInput

__all__ = ["SyncReport"]


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
        """Return the report as one JSON object: its counts, ``ok`` and the details (R9.1).

        ``problem_details``, ``row_error_details`` and ``failure_details`` hold the persons,
        and on a dry run ``plan`` the actions (R7.3), each as ``sync --json`` prints them: the
        command line's converter makes both.
        """
        from ._json_out import json_object  # noqa: PLC0415 - it imports this module

        return json_object(self)
