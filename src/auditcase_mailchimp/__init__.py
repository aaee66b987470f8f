"""auditcase-mailchimp: keep a Mailchimp audience in step with the persons of AuditCase.

Everything public is importable from here; the underscore modules are private.
"""

from __future__ import annotations

import logging

from ._desired import DesiredState, Problem, ProblemCategory, desired_state
from ._errors import AuditCaseMailchimpError, ConfigurationError, InvalidPersonError, SourceError
from ._mapping import (
    MERGE_FIELD_MAX_BYTES,
    TAG_EXCLUDED_FROM_CORRESPONDENCE,
    TAG_NO_MAILINGS,
    is_valid_email_address,
    to_member,
)
from ._models import (
    MEMBER_STATUSES,
    Coupling,
    CurrentMember,
    MailchimpMember,
    Person,
    PersonKind,
    address_key,
)
from ._plan import (
    Action,
    Adopt,
    Archive,
    ChangeAddress,
    Plan,
    UnsubscribedNotice,
    Upsert,
    plan_sync,
)
from ._source import ExportFile, ExportResult, PersonSource, RowError, UnreadableSourceError
from ._store import (
    REFUSAL_CATEGORIES,
    RETRYABLE_CATEGORIES,
    SCHEMA_VERSION,
    CouplingStore,
    Failure,
    FailureInput,
    Report,
    RunRecord,
    SQLiteStore,
    StoreBusyError,
    StoreError,
    is_refusal,
)
from ._sync import SyncReport, push_persons, sync
from ._version import __version__

__all__ = [
    "MEMBER_STATUSES",
    "MERGE_FIELD_MAX_BYTES",
    "REFUSAL_CATEGORIES",
    "RETRYABLE_CATEGORIES",
    "SCHEMA_VERSION",
    "TAG_EXCLUDED_FROM_CORRESPONDENCE",
    "TAG_NO_MAILINGS",
    "Action",
    "Adopt",
    "Archive",
    "AuditCaseMailchimpError",
    "ChangeAddress",
    "ConfigurationError",
    "Coupling",
    "CouplingStore",
    "CurrentMember",
    "DesiredState",
    "ExportFile",
    "ExportResult",
    "Failure",
    "FailureInput",
    "InvalidPersonError",
    "MailchimpMember",
    "Person",
    "PersonKind",
    "PersonSource",
    "Plan",
    "Problem",
    "ProblemCategory",
    "Report",
    "RowError",
    "RunRecord",
    "SQLiteStore",
    "SourceError",
    "StoreBusyError",
    "StoreError",
    "SyncReport",
    "UnreadableSourceError",
    "UnsubscribedNotice",
    "Upsert",
    "__version__",
    "address_key",
    "desired_state",
    "is_refusal",
    "is_valid_email_address",
    "plan_sync",
    "push_persons",
    "sync",
    "to_member",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
