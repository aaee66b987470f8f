"""The pytest plugin of the fake: a ``fake_mailchimp`` fixture.

Load it with ``pytest_plugins = ["auditcase_mailchimp.testing.pytest_plugin"]`` in a
``conftest.py`` (or through the package's ``pytest11`` entry point, when installed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._server import FakeMailchimp

__all__ = ["fake_mailchimp"]


@pytest.fixture
def fake_mailchimp() -> Iterator[FakeMailchimp]:
    """A running :class:`~auditcase_mailchimp.testing.FakeMailchimp` on 127.0.0.1, fresh per test.

    It accepts :data:`~auditcase_mailchimp.testing.DEFAULT_API_KEY` and holds one empty
    audience, :data:`~auditcase_mailchimp.testing.DEFAULT_LIST_ID`; point a client at
    ``fake_mailchimp.url``. Stopped after the test.
    """
    with FakeMailchimp() as fake:
        yield fake
