"""auditcase-mailchimp: keep a Mailchimp audience in step with the persons of AuditCase.

Everything public is importable from here; the underscore modules are private.

``import auditcase_mailchimp`` loads next to nothing: each public name is imported from its
module on first use (PEP 562), so a command's ``--help`` and a program that only needs the
models do not pay for the client, the store or ``requests``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any, Final

from ._version import __version__

if TYPE_CHECKING:
    from ._client import (
        BATCH_LIMIT,
        MAX_CONCURRENCY,
        PAGE_SIZE,
        AddressChange,
        AudienceMember,
        FailureDetail,
        MailchimpClient,
        MemberOutcome,
        MemberResult,
        TagChange,
        UpsertItem,
        subscriber_hash,
    )
    from ._credentials import ApiKey, Credentials, OAuthToken, SecretHeader
    from ._desired import DesiredState, Problem, ProblemCategory, desired_state
    from ._errors import (
        AudienceMismatchError,
        AudienceNotFoundError,
        AuditCaseMailchimpError,
        AuthenticationError,
        ConfigurationError,
        ErrorCategory,
        FieldError,
        InvalidInputError,
        InvalidPersonError,
        MailchimpAPIError,
        MailchimpError,
        MailchimpServerError,
        MassArchiveError,
        NetworkError,
        NetworkTimeoutError,
        RateLimitedError,
        SourceError,
        StoreBusyError,
        StoreError,
        UnexpectedResponseError,
    )
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
        MemberStatus,
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
        Release,
        UnsubscribedNotice,
        Upsert,
        plan_sync,
    )
    from ._retry import RetryEvent, RetryPolicy
    from ._settle import Intent
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
        is_refusal,
    )
    from ._sync import Progress, SyncReport, push_persons, remove_persons, sync
    from ._transport import Request, RequestsTransport, Response, Transport

#: Where each public name lives, by private module (names apart by spaces).
_HOMES: Final = {
    "_client": "MailchimpClient",
    "_client_values": "BATCH_LIMIT MAX_CONCURRENCY PAGE_SIZE AddressChange AudienceMember "
    "FailureDetail MemberOutcome MemberResult TagChange UpsertItem "
    "subscriber_hash",
    "_credentials": "ApiKey Credentials OAuthToken SecretHeader",
    "_desired": "DesiredState Problem ProblemCategory desired_state",
    "_errors": "AudienceMismatchError AudienceNotFoundError AuditCaseMailchimpError "
    "AuthenticationError ConfigurationError ErrorCategory FieldError InvalidInputError "
    "InvalidPersonError MailchimpAPIError MailchimpError MailchimpServerError "
    "MassArchiveError NetworkError NetworkTimeoutError RateLimitedError SourceError "
    "StoreBusyError StoreError UnexpectedResponseError",
    "_mapping": "MERGE_FIELD_MAX_BYTES TAG_EXCLUDED_FROM_CORRESPONDENCE TAG_NO_MAILINGS "
    "is_valid_email_address to_member",
    "_models": "MEMBER_STATUSES Coupling CurrentMember MailchimpMember MemberStatus Person "
    "PersonKind address_key",
    "_plan": "Action Adopt Archive ChangeAddress Plan Release UnsubscribedNotice Upsert plan_sync",
    "_retry": "RetryEvent RetryPolicy",
    "_settle": "Intent",
    "_source": "ExportFile ExportResult PersonSource RowError UnreadableSourceError",
    "_store": "REFUSAL_CATEGORIES RETRYABLE_CATEGORIES SCHEMA_VERSION CouplingStore Failure "
    "FailureInput Report RunRecord SQLiteStore is_refusal",
    "_sync": "Progress SyncReport push_persons remove_persons sync",
    "_transport": "Request RequestsTransport Response Transport",
}

#: The module of each public name.
_HOME_OF: Final = {name: module for module, names in _HOMES.items() for name in names.split()}

__all__ = [
    "BATCH_LIMIT",
    "MAX_CONCURRENCY",
    "MEMBER_STATUSES",
    "MERGE_FIELD_MAX_BYTES",
    "PAGE_SIZE",
    "REFUSAL_CATEGORIES",
    "RETRYABLE_CATEGORIES",
    "SCHEMA_VERSION",
    "TAG_EXCLUDED_FROM_CORRESPONDENCE",
    "TAG_NO_MAILINGS",
    "Action",
    "AddressChange",
    "Adopt",
    "ApiKey",
    "Archive",
    "AudienceMember",
    "AudienceMismatchError",
    "AudienceNotFoundError",
    "AuditCaseMailchimpError",
    "AuthenticationError",
    "ChangeAddress",
    "ConfigurationError",
    "Coupling",
    "CouplingStore",
    "Credentials",
    "CurrentMember",
    "DesiredState",
    "ErrorCategory",
    "ExportFile",
    "ExportResult",
    "Failure",
    "FailureDetail",
    "FailureInput",
    "FieldError",
    "Intent",
    "InvalidInputError",
    "InvalidPersonError",
    "MailchimpAPIError",
    "MailchimpClient",
    "MailchimpError",
    "MailchimpMember",
    "MailchimpServerError",
    "MassArchiveError",
    "MemberOutcome",
    "MemberResult",
    "MemberStatus",
    "NetworkError",
    "NetworkTimeoutError",
    "OAuthToken",
    "Person",
    "PersonKind",
    "PersonSource",
    "Plan",
    "Problem",
    "ProblemCategory",
    "Progress",
    "RateLimitedError",
    "Release",
    "Report",
    "Request",
    "RequestsTransport",
    "Response",
    "RetryEvent",
    "RetryPolicy",
    "RowError",
    "RunRecord",
    "SQLiteStore",
    "SecretHeader",
    "SourceError",
    "StoreBusyError",
    "StoreError",
    "SyncReport",
    "TagChange",
    "Transport",
    "UnexpectedResponseError",
    "UnreadableSourceError",
    "UnsubscribedNotice",
    "Upsert",
    "UpsertItem",
    "__version__",
    "address_key",
    "desired_state",
    "is_refusal",
    "is_valid_email_address",
    "plan_sync",
    "push_persons",
    "remove_persons",
    "subscriber_hash",
    "sync",
    "to_member",
]


if not TYPE_CHECKING:  # type checkers see the imports above, and a typo stays an error

    def __getattr__(name: str) -> Any:
        """Import a public name from its module on first use, then keep it here."""
        module = _HOME_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        """The public names, loaded or not, with the module's own."""
        return sorted({*globals(), *__all__})


logging.getLogger(__name__).addHandler(logging.NullHandler())
