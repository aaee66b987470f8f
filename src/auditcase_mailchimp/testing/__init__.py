"""A fake Mailchimp for tests, demos and benchmarks: :class:`FakeMailchimp`.

A real HTTP server on 127.0.0.1 that behaves as MAILCHIMP.md documents, for the endpoints the
client uses. Also a pytest fixture, ``fake_mailchimp`` (module
``auditcase_mailchimp.testing.pytest_plugin``), and a command line::

    python -m auditcase_mailchimp.testing --api-key KEY --list-id ID [--port N]
        [--latency SECONDS] [--member-latency SECONDS] [--fault-rate FRACTION]
"""

from __future__ import annotations

from ._audience import (
    FAKE_LOCAL_PARTS,
    RESERVED_TOP_LEVEL_DOMAINS,
    FakeAudience,
    FakeMember,
    looks_fake,
)
from ._server import (
    DEFAULT_API_KEY,
    DEFAULT_LIST_ID,
    FakeMailchimp,
    Fault,
    FaultKind,
    LoggedRequest,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_LIST_ID",
    "FAKE_LOCAL_PARTS",
    "RESERVED_TOP_LEVEL_DOMAINS",
    "FakeAudience",
    "FakeMailchimp",
    "FakeMember",
    "Fault",
    "FaultKind",
    "LoggedRequest",
    "looks_fake",
]
