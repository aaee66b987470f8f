"""Retries under injected faults: final state right, attempts bounded (MAILCHIMP.md §7, R6.3).

Time is the manual clock's: the retry policy sleeps by advancing it, so nothing waits.
"""

from __future__ import annotations

import email.utils

import pytest

from auditcase_mailchimp._client import MailchimpClient, MemberOutcome, UpsertItem
from auditcase_mailchimp._credentials import ApiKey
from auditcase_mailchimp._errors import (
    AuthenticationError,
    ErrorCategory,
    MailchimpServerError,
    NetworkError,
    RateLimitedError,
)
from auditcase_mailchimp.testing import FakeMailchimp, Fault

from .conftest import ManualClock, make_client, retry_policy

LIST = "a1b2c3d4e5"


def _statuses(fake: FakeMailchimp) -> list[int]:
    return [r.status for r in fake.requests]


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        (Fault.rate_limited(), 429),
        (Fault.rate_limited(with_body=False), 429),
        (Fault.server_error(500), 500),
        (Fault.server_error(502), 502),
        (Fault.server_error(503), 503),
        (Fault.dropped_connection(), 0),
    ],
)
def test_worth_repeating_failures_are_retried_with_backoff(
    client: MailchimpClient, fake: FakeMailchimp, clock: ManualClock, fault: Fault, status: int
) -> None:
    """429, 5xx (HTML or not) and a dropped connection are retried after backoff (§7)."""
    fake.inject(fault, fault)
    (result,) = client.batch_upsert(LIST, [UpsertItem(email_address="jan@example.nl")])
    assert (result.outcome, result.status) == (MemberOutcome.CREATED, "subscribed")
    assert _statuses(fake) == [status, status, 200]
    assert clock.sleeps == [0.5, 1.0]
    assert "jan@example.nl" in fake.audience()


def test_retry_after_seconds_is_honoured(
    client: MailchimpClient, fake: FakeMailchimp, clock: ManualClock
) -> None:
    """A Retry-After in seconds sets the wait, capped at max_wait (§7 Retry-After)."""
    fake.inject(Fault.rate_limited(retry_after="3"), Fault.rate_limited(retry_after="3600"))
    client.ping()
    assert clock.sleeps == [3.0, 8.0]


def test_retry_after_http_date_is_honoured(
    client: MailchimpClient, fake: FakeMailchimp, clock: ManualClock
) -> None:
    """A Retry-After HTTP date waits until then, on the injected wall clock (§7)."""
    fake.inject(
        Fault.rate_limited(retry_after=email.utils.formatdate(clock.time() + 5, usegmt=True))
    )
    client.ping()
    assert clock.sleeps == [pytest.approx(5.0)]


def test_forbidden_without_body_is_load_shedding_and_retried(clock: ManualClock) -> None:
    """A 403 without a JSON body is Mailchimp under load: retried like a 429 (§6.1)."""
    from auditcase_mailchimp._transport import Request, Response  # noqa: PLC0415

    answers = [Response(status=403), Response(status=200, body=b'{"health_status": "ok"}')]
    sent: list[Request] = []

    class Scripted:
        def send(self, request: Request) -> Response:
            sent.append(request)
            return answers.pop(0)

        def close(self) -> None:
            """Nothing to close."""

    with MailchimpClient(ApiKey("abc-us6"), transport=Scripted(), retry=retry_policy(clock)) as c:
        c.ping()
    assert len(sent) == 2


def test_forbidden_with_a_problem_is_not_retried(clock: ManualClock) -> None:
    """A 403 with a problem document is the key's user lacking rights: raised at once (§6.2)."""
    from auditcase_mailchimp._transport import Request, Response  # noqa: PLC0415

    body = b'{"title": "Forbidden", "status": 403, "detail": "You do not have access."}'
    sent: list[Request] = []

    class Refusing:
        def send(self, request: Request) -> Response:
            sent.append(request)
            return Response(status=403, body=body)

        def close(self) -> None:
            """Nothing to close."""

    with (
        MailchimpClient(ApiKey("abc-us6"), transport=Refusing(), retry=retry_policy(clock)) as c,
        pytest.raises(AuthenticationError, match="403 Forbidden"),
    ):
        c.archive(LIST, "jan@example.nl")
    assert len(sent) == 1


def test_attempts_are_bounded_and_the_failure_is_a_result(
    client: MailchimpClient, fake: FakeMailchimp, clock: ManualClock
) -> None:
    """After `attempts` tries the members fail as rate_limited and retryable (R6.3)."""
    fake.inject(*[Fault.rate_limited()] * 10)
    results = client.batch_upsert(
        LIST, [UpsertItem(email_address="a@example.nl"), UpsertItem(email_address="b@example.nl")]
    )
    assert len(fake.requests) == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]
    for result in results:
        assert result.error is not None
        assert (result.error.category, result.error.status, result.error.retryable) == (
            ErrorCategory.RATE_LIMITED,
            429,
            True,
        )
        assert result.error.request_id == fake.requests[-1].request_id
    assert len(fake.audience()) == 0


def test_time_budget_bounds_the_retries(fake: FakeMailchimp, clock: ManualClock) -> None:
    """No retry starts after the time budget, even with attempts left (issue 3 item 4)."""
    fake.inject(*[Fault.server_error(503)] * 10)
    policy = retry_policy(clock, attempts=100, budget=10.0, max_wait=4.0)
    with (
        make_client(fake, clock, retry=policy) as client,
        pytest.raises(MailchimpServerError) as caught,
    ):
        client.ping()
    assert caught.value.category is ErrorCategory.SERVER_ERROR
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]
    assert sum(clock.sleeps) <= 10.0
    assert len(fake.requests) == 5


def test_reads_raise_after_the_retries(fake: FakeMailchimp, clock: ManualClock) -> None:
    """A read that keeps failing raises: a partial audience is worth nothing (§2.4)."""
    fake.inject(*[Fault.rate_limited()] * 8)  # two first pages are read at once
    with make_client(fake, clock) as client, pytest.raises(RateLimitedError):
        client.read_members(LIST)


def test_refusals_are_never_retried(client: MailchimpClient, fake: FakeMailchimp) -> None:
    """A 400-class answer goes to the failure overview at once (§ decided, R6.3)."""
    fake.audience().add("oud@example.nl")
    fake.audience().add("nieuw@example.nl")
    result = client.change_address(LIST, "oud@example.nl", "nieuw@example.nl")
    assert result.error is not None
    assert result.error.status == 400
    assert _statuses(fake) == [400]


def test_no_answer_after_retries_is_a_network_failure(
    client: MailchimpClient, fake: FakeMailchimp
) -> None:
    """Dropped every time: the member's result is a retryable network failure (R6.3)."""
    fake.inject(*[Fault.dropped_connection()] * 4)
    result = client.archive(LIST, "jan@example.nl")
    assert result.error is not None
    assert (result.error.category, result.error.status, result.error.retryable) == (
        ErrorCategory.NETWORK,
        None,
        True,
    )
    assert result.error.title == "Network error"


def test_slow_answer_beyond_the_read_timeout_is_retried(
    fake: FakeMailchimp, clock: ManualClock
) -> None:
    """A timed-out request is repeated and the state ends right (§7: 120 s timeout, retries)."""
    fake.inject(Fault.slow(30.0, method="POST"))
    with make_client(fake, clock, read_timeout=0.3) as client:
        (result,) = client.batch_upsert(LIST, [UpsertItem(email_address="jan@example.nl")])
    assert result.ok
    assert "jan@example.nl" in fake.audience()
    assert len(clock.sleeps) == 1


def test_timeout_without_retries_is_a_network_failure(
    fake: FakeMailchimp, clock: ManualClock
) -> None:
    """With one attempt a timeout is the member's network failure, or a read's error (§7, R6.2)."""
    fake.inject(Fault.slow(30.0), Fault.slow(30.0))
    with make_client(fake, clock, read_timeout=0.2, retry=retry_policy(clock, attempts=1)) as c:
        result = c.set_tags(LIST, "jan@example.nl", add={"x"})
        with pytest.raises(NetworkError, match="read timeout"):
            c.ping()
    assert result.error is not None
    assert result.error.category is ErrorCategory.NETWORK
    assert clock.sleeps == []


def test_batch_subscribe_repeated_after_a_lost_answer_is_idempotent(
    client: MailchimpClient, fake: FakeMailchimp
) -> None:
    """Batch subscribe carried out but answer lost: the repeat updates, state right (§5.1)."""
    fake.inject(Fault.server_error(500, after_processing=True))
    (result,) = client.batch_upsert(
        LIST,
        [
            UpsertItem(
                email_address="jan@example.nl", merge_fields={"FNAME": "Jan"}, tags=frozenset({"a"})
            )
        ],
    )
    assert (result.outcome, result.status) == (MemberOutcome.UPDATED, "subscribed")
    member = fake.audience().get("jan@example.nl")
    assert member is not None
    assert (member.first_name, member.tags, len(fake.audience())) == ("Jan", frozenset({"a"}), 1)


def test_archive_repeated_after_a_lost_answer_counts_as_archived(
    client: MailchimpClient, fake: FakeMailchimp
) -> None:
    """DELETE done, answer dropped: the repeat's 405 "cannot be removed" means done (R4.5)."""
    fake.audience().add("jan@example.nl")
    fake.inject(Fault.dropped_connection(after_processing=True))
    result = client.archive(LIST, "jan@example.nl")
    assert (result.outcome, result.ok) == (MemberOutcome.ABSENT, True)
    assert _statuses(fake) == [0, 405]  # as recorded: an archived member cannot be removed
    assert fake.audience().statuses() == {"archived": 1}


def test_tags_repeated_after_a_lost_answer_set_the_same_tags(
    client: MailchimpClient, fake: FakeMailchimp
) -> None:
    """Tags POST sets absolute states: a repeat changes nothing more (§3)."""
    fake.audience().add("jan@example.nl", tags=["weg"])
    fake.inject(Fault.server_error(500, after_processing=True))
    assert client.set_tags(LIST, "jan@example.nl", add={"erbij"}, remove={"weg"}).ok
    member = fake.audience().get("jan@example.nl")
    assert member is not None
    assert member.tags == {"erbij"}


def test_delete_permanent_repeated_after_a_lost_answer_is_done(
    client: MailchimpClient, fake: FakeMailchimp
) -> None:
    """delete-permanent carried out, answer lost: the repeat's 404 means done (§4)."""
    fake.audience().add("jan@example.nl")
    fake.inject(Fault.server_error(503, after_processing=True))
    assert client.delete_permanently(LIST, "jan@example.nl").outcome is MemberOutcome.ABSENT
    assert fake.audience().is_forgotten("jan@example.nl")


@pytest.mark.parametrize(
    "fault",
    [
        Fault.server_error(500, after_processing=True),
        Fault.dropped_connection(after_processing=True),
    ],
)
def test_address_change_repeated_after_a_lost_answer_is_confirmed_by_reading(
    client: MailchimpClient, fake: FakeMailchimp, fault: Fault
) -> None:
    """PATCH carried out, answer lost: the repeat's 404 is checked on the new address (§2.3)."""
    fake.audience().add("oud@example.nl")
    fake.inject(fault)
    result = client.change_address(LIST, "oud@example.nl", "nieuw@example.nl")
    assert (result.outcome, result.status, result.ok) == (
        MemberOutcome.ADDRESS_CHANGED,
        "subscribed",
        True,
    )
    assert [(r.method, r.status) for r in fake.requests] == [
        ("PATCH", fault.status or 0),
        ("PATCH", 404),
        ("GET", 200),
    ]


def test_address_change_unconfirmed_after_a_lost_answer_is_a_fallback(
    client: MailchimpClient, fake: FakeMailchimp
) -> None:
    """Old gone after a lost answer, new one unreadable: "not found" with fallback (R5.4)."""
    # The client claims no change it cannot see; the runner's fallback (update the new
    # address, archive the old) ends in the right state either way.
    fake.audience().add("oud@example.nl")
    fake.inject(
        Fault.server_error(500, after_processing=True, method="PATCH"),
        *[Fault.server_error(500, method="GET")] * 4,
    )
    result = client.change_address(LIST, "oud@example.nl", "nieuw@example.nl")
    assert result.error is not None
    assert (result.error.category, result.fallback) == (ErrorCategory.NOT_FOUND, True)
    assert "nieuw@example.nl" in fake.audience()


def test_random_faults_end_in_the_right_state() -> None:
    """With 30 % seeded random faults every member still ends right; attempts stay bounded (§7)."""
    from .test_openapi_fidelity import assert_valid_requests  # noqa: PLC0415

    clock = ManualClock()
    fake = FakeMailchimp(fault_rate=0.3, seed=7)
    with fake, make_client(fake, clock, retry=retry_policy(clock, attempts=12)) as client:
        items = [
            UpsertItem(email_address=f"p{i}@example.nl", tags=frozenset({"t"})) for i in range(2600)
        ]
        results = client.batch_upsert(LIST, items)
        assert all(r.ok for r in results)
        archived = client.archive_many(LIST, [f"p{i}@example.nl" for i in range(40)])
        assert all(r.ok for r in archived)
        members = {m.key: m for m in client.read_members(LIST)}
        requests = fake.requests
    assert len(members) == 2600
    assert sum(m.status == "archived" for m in members.values()) == 40
    assert all(m.tags == {"t"} for m in members.values())
    assert any(r.fault for r in requests)
    assert len(requests) <= 12 * (6 + 40 + 5)
    assert_valid_requests(requests)


def test_each_retry_is_reported_to_the_on_retry_hook(
    fake: FakeMailchimp, clock: ManualClock
) -> None:
    """Issue 8.5: the policy's on_retry hook hears of every retry, with its reason and wait."""
    from auditcase_mailchimp import RetryEvent  # noqa: PLC0415 - the public name, read here

    events: list[RetryEvent] = []
    policy = retry_policy(clock, on_retry=events.append)
    fake.inject(Fault.rate_limited(), Fault.server_error(502))
    with make_client(fake, clock, retry=policy) as client:
        client.ping()
    assert [(e.attempt, e.status, e.wait) for e in events] == [(1, 429, 0.5), (2, 502, 1.0)]
    assert events[0].reason == "429 Too Many Requests"
    assert events[1].request == "GET /ping"
    assert [e.elapsed for e in events] == [0.0, 0.5]


def test_no_hook_call_without_a_retry(fake: FakeMailchimp, clock: ManualClock) -> None:
    """Issue 8.5: a request answered at once reports no retry."""
    events: list[object] = []
    with make_client(fake, clock, retry=retry_policy(clock, on_retry=events.append)) as client:
        client.ping()
    assert events == []
