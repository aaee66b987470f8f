"""Shared fixtures: the fake Mailchimp (from the package's pytest plugin) and clients on it.

Every client test uses :func:`fake`, which checks at teardown, with ``jsonschema``, that every
request the fake received validates against the request schema of Mailchimp's spec
(MAILCHIMP.md §9; see ``test_openapi_fidelity.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import entry_points

import attrs
import pytest

from auditcase_mailchimp._client import MailchimpClient, UpsertItem
from auditcase_mailchimp._credentials import ApiKey
from auditcase_mailchimp._retry import RetryPolicy
from auditcase_mailchimp.testing import FakeMailchimp

from .test_openapi_fidelity import assert_valid_requests

_PLUGIN = "auditcase_mailchimp.testing.pytest_plugin"
# Installed with its pytest11 entry point, pytest loads the plugin already; naming it here too
# would import it twice (and pytest would warn that it cannot rewrite its asserts).
pytest_plugins = (
    [] if any(entry.value == _PLUGIN for entry in entry_points(group="pytest11")) else [_PLUGIN]
)


@attrs.define
class ManualClock:
    """Time that passes only when the retry policy sleeps: retries run instantly."""

    now: float = 0.0
    #: Wall-clock time at ``now == 0`` (2023-11-14T22:13:20Z).
    epoch: float = 1_700_000_000.0
    sleeps: list[float] = attrs.field(factory=list)

    def sleep(self, seconds: float) -> None:
        """Record the wait and let the time pass."""
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        """The monotonic clock."""
        return self.now

    def time(self) -> float:
        """The wall clock."""
        return self.epoch + self.now


def retry_policy(clock: ManualClock, **changes: object) -> RetryPolicy:
    """A deterministic policy on ``clock``: 4 attempts, waits 0.5, 1, 2 s (no jitter draw)."""
    policy = RetryPolicy(
        attempts=4,
        budget=60.0,
        initial_wait=0.5,
        max_wait=8.0,
        jitter=0.0,
        sleep=clock.sleep,
        clock=clock.monotonic,
        wall_clock=clock.time,
        rng=lambda: 0.5,
    )
    return attrs.evolve(policy, **changes)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    """A fresh manual clock."""
    return ManualClock()


@pytest.fixture
def fake(fake_mailchimp: FakeMailchimp) -> Iterator[FakeMailchimp]:
    """The fake; at teardown, every request it got must validate against the spec (§9)."""
    yield fake_mailchimp
    assert_valid_requests(fake_mailchimp.requests)


def make_client(fake: FakeMailchimp, clock: ManualClock, **options: object) -> MailchimpClient:
    """A client on the fake with the manual clock's retry policy (overridable)."""
    settings: dict[str, object] = {"retry": retry_policy(clock), "read_timeout": 10.0}
    settings.update(options)
    return MailchimpClient(ApiKey(fake.api_key), base_url=fake.url, **settings)  # type: ignore[arg-type]


@pytest.fixture
def client(fake: FakeMailchimp, clock: ManualClock) -> Iterator[MailchimpClient]:
    """A client on the fake, retrying instantly on the manual clock."""
    with make_client(fake, clock) as mailchimp:
        yield mailchimp


def exercise_every_call(fake: FakeMailchimp) -> None:
    """Use every call of the client once against ``fake`` (for the fidelity check, §9)."""
    list_id = fake.list_id
    fake.audience().add("old@example.nl", first_name="Oud")
    with MailchimpClient(ApiKey(fake.api_key), base_url=fake.url) as client:
        client.ping()
        client.check_audience(list_id)
        client.batch_upsert(
            list_id,
            [
                UpsertItem(
                    email_address="jan@example.nl",
                    merge_fields={"FNAME": "Jan", "LNAME": "Jansen"},
                    tags=frozenset({"Nieuwsbrief"}),
                ),
                UpsertItem(email_address="piet@example.com", send_status=True),
            ],
        )
        client.read_members(list_id)
        client.get_member(list_id, "jan@example.nl")
        client.member_tags(list_id, "jan@example.nl")
        client.set_tags(list_id, "jan@example.nl", add={"Klant"}, remove={"Nieuwsbrief"})
        client.change_address(list_id, "old@example.nl", "new@example.nl", {"FNAME": "Nieuw"})
        client.archive(list_id, "piet@example.com")
        client.delete_permanently(list_id, "jan@example.nl")
