"""A fake Mailchimp for tests, demos and benchmarks: :class:`FakeMailchimp`.

A real HTTP server on 127.0.0.1 that stands in for the part of Mailchimp's Marketing API an
audience integration meets (lists, members, tags, segments, merge fields, batch subscribe,
``/batches``), behaving as real recorded exchanges and MAILCHIMP.md show. Also a pytest
fixture, ``fake_mailchimp`` (module
``auditcase_mailchimp.testing.pytest_plugin``), and a command line::

    python -m auditcase_mailchimp.testing --api-key KEY --list-id ID [--port N]
        [--latency SECONDS] [--member-latency SECONDS] [--fault-rate FRACTION]
"""

from __future__ import annotations

from ._audience import FakeAudience, FakeMember
from ._batches import FakeBatches
from ._problems import FAKE_LOCAL_PARTS, RESERVED_TOP_LEVEL_DOMAINS, looks_fake
from ._server import (
    DEFAULT_API_KEY,
    DEFAULT_LIST_ID,
    TRIGGERED_ERRORS,
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
    "TRIGGERED_ERRORS",
    "FakeAudience",
    "FakeBatches",
    "FakeMailchimp",
    "FakeMember",
    "Fault",
    "FaultKind",
    "LoggedRequest",
    "looks_fake",
]
