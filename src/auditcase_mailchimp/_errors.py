"""The exception hierarchy: one root, split by who is at fault.

- :class:`ConfigurationError`: the caller's configuration (a malformed key, an empty audience id).
- :class:`SourceError`: the AuditCase data handed to the library.
- Errors about the network and about Mailchimp's answers live beside the client.
"""

from __future__ import annotations

__all__ = [
    "AuditCaseMailchimpError",
    "ConfigurationError",
    "InvalidPersonError",
    "SourceError",
]


class AuditCaseMailchimpError(Exception):
    """The root of every exception this library raises on purpose."""


class ConfigurationError(AuditCaseMailchimpError, ValueError):
    """The caller's configuration is unusable; raised before anything is sent."""


class SourceError(AuditCaseMailchimpError, ValueError):
    """The AuditCase data handed to the library is unusable."""


class InvalidPersonError(SourceError):
    """A linked person cannot be mapped to a Mailchimp member (SPEC.md R2.6).

    The message names the person and the reason, never the e-mail address itself, so
    the exception is safe to log; the address is kept on :attr:`email_address`.

    Attributes:
        person_id: The AuditCase id of the person.
        kind: The person's kind (a :class:`~auditcase_mailchimp.PersonKind`).
        category: ``"no_address"`` or ``"invalid_address"``.
        email_address: The address that was found (empty when there was none).
    """

    def __init__(
        self, person_id: str, kind: object, category: str, message: str, email_address: str = ""
    ) -> None:
        super().__init__(message)
        self.person_id = person_id
        self.kind = kind
        self.category = category
        self.email_address = email_address
