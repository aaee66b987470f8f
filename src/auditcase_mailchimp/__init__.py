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
from ._version import __version__

__all__ = [
    "MEMBER_STATUSES",
    "MERGE_FIELD_MAX_BYTES",
    "TAG_EXCLUDED_FROM_CORRESPONDENCE",
    "TAG_NO_MAILINGS",
    "Action",
    "Adopt",
    "Archive",
    "AuditCaseMailchimpError",
    "ChangeAddress",
    "ConfigurationError",
    "Coupling",
    "CurrentMember",
    "DesiredState",
    "InvalidPersonError",
    "MailchimpMember",
    "Person",
    "PersonKind",
    "Plan",
    "Problem",
    "ProblemCategory",
    "SourceError",
    "UnsubscribedNotice",
    "Upsert",
    "__version__",
    "address_key",
    "desired_state",
    "is_valid_email_address",
    "plan_sync",
    "to_member",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
