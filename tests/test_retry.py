"""The retry policy as a value (MAILCHIMP.md §7: backoff with jitter, capped; Retry-After)."""

from __future__ import annotations

import email.utils
from collections.abc import Callable

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditcase_mailchimp._errors import ConfigurationError, NetworkError
from auditcase_mailchimp._retry import RetryEvent, RetryPolicy, send_with_retries
from auditcase_mailchimp._transport import Response

from .conftest import ManualClock, retry_policy


def test_backoff_doubles_from_initial_wait_up_to_max_wait() -> None:
    """Backoff is min(max, initial * 2**(n-1) + jitter) (§7, issue 3 item 4)."""
    policy = RetryPolicy(initial_wait=1.0, max_wait=10.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_comes_from_the_injected_rng() -> None:
    """Jitter is jitter * rng(), so tests choose it (§7: backoff with jitter)."""
    policy = RetryPolicy(initial_wait=1.0, max_wait=30.0, jitter=2.0, rng=lambda: 0.25)
    assert policy.backoff(1) == 1.5
    assert policy.backoff(3) == 4.5


def test_backoff_of_a_huge_retry_number_stays_capped() -> None:
    """No overflow for absurd retry numbers: the cap holds (§7)."""
    assert RetryPolicy(max_wait=5.0).backoff(10_000) == 5.0


@given(
    retry=st.integers(min_value=1, max_value=200),
    initial=st.floats(min_value=0, max_value=10),
    extra=st.floats(min_value=0, max_value=100),
    jitter=st.floats(min_value=0, max_value=10),
    draw=st.floats(min_value=0, max_value=0.999),
)
def test_wait_is_never_negative_nor_beyond_max_wait(
    retry: int, initial: float, extra: float, jitter: float, draw: float
) -> None:
    """Every wait lies in [0, max_wait], whatever the inputs (§7: capped retries)."""
    policy = RetryPolicy(
        initial_wait=initial, max_wait=initial + extra, jitter=jitter, rng=lambda: draw
    )
    assert 0.0 <= policy.wait(retry) <= policy.max_wait


def test_retry_after_seconds_override_the_backoff() -> None:
    """A Retry-After in seconds replaces the backoff (§7: honoured when present)."""
    policy = RetryPolicy(initial_wait=1.0, max_wait=30.0, jitter=0.0)
    assert policy.wait(1, "7") == 7.0
    assert policy.wait(1, " 0 ") == 0.0


def test_retry_after_is_capped_at_max_wait() -> None:
    """A huge Retry-After cannot stall the sync: capped at max_wait (issue 3 item 4)."""
    assert RetryPolicy(max_wait=30.0).wait(1, "86400") == 30.0


def test_retry_after_http_date_counts_from_the_wall_clock(clock: ManualClock) -> None:
    """A Retry-After HTTP date waits until that moment, read from the injected clock (§7)."""
    policy = retry_policy(clock, max_wait=60.0)
    when = email.utils.formatdate(clock.time() + 12, usegmt=True)
    assert policy.wait(1, when) == pytest.approx(12.0)
    past = email.utils.formatdate(clock.time() - 100, usegmt=True)
    assert policy.wait(1, past) == 0.0
    later = email.utils.formatdate(clock.time() + 3600, usegmt=True)
    assert policy.wait(1, later) == 60.0


@pytest.mark.parametrize("header", ["soon", "-3", "1.5", "", "Thu, 99 Foo 2020 00:00:00"])
def test_unreadable_retry_after_falls_back_to_backoff(header: str) -> None:
    """Mailchimp documents no Retry-After: an odd one is ignored, not trusted (§7)."""
    policy = RetryPolicy(initial_wait=2.0, max_wait=30.0, jitter=0.0)
    assert policy.retry_after(header) is None
    assert policy.wait(1, header) == 2.0


def test_attempts_bound_the_retries() -> None:
    """No more than `attempts` attempts in all (issue 3 item 4: attempts bounded)."""
    policy = RetryPolicy(attempts=3, budget=1000.0)
    assert policy.allows(1, elapsed=0.0, wait=1.0)
    assert policy.allows(2, elapsed=0.0, wait=1.0)
    assert not policy.allows(3, elapsed=0.0, wait=1.0)


def test_time_budget_bounds_the_retries() -> None:
    """A retry that would start after the total budget is not made (issue 3 item 4)."""
    policy = RetryPolicy(attempts=10, budget=10.0)
    assert policy.allows(1, elapsed=6.0, wait=4.0)
    assert not policy.allows(1, elapsed=6.0, wait=4.5)


def test_single_attempt_never_retries() -> None:
    """RetryPolicy(attempts=1) turns retries off (issue 3 item 4)."""
    assert not RetryPolicy(attempts=1).allows(1, elapsed=0.0, wait=0.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"attempts": 0},
        {"attempts": 1.5},
        {"attempts": True},
        {"budget": -1},
        {"initial_wait": -0.1},
        {"max_wait": float("inf")},
        {"jitter": float("nan")},
        {"initial_wait": 5.0, "max_wait": 1.0},
        {"initial_wait": "1"},
    ],
)
def test_nonsense_policies_are_refused(changes: dict[str, object]) -> None:
    """A policy is checked when built: ConfigurationError (STYLE.md: frozen values validate)."""
    with pytest.raises(ConfigurationError):
        RetryPolicy(**changes)  # type: ignore[arg-type]


def test_policy_is_a_frozen_value() -> None:
    """The policy cannot be changed after it is built; evolve makes a new one (STYLE.md)."""
    policy = RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.attempts = 9  # type: ignore[misc]
    assert attrs.evolve(policy, attempts=2).attempts == 2
    assert RetryPolicy() == RetryPolicy()


# --- the loop itself, with values (issue 8.5) ----------------------------------------------------


def _answers(*items: Response | NetworkError) -> Callable[[], Response]:
    """A ``send`` that gives these answers (or raises these failures) in turn."""
    queue = list(items)

    def send() -> Response:
        item = queue.pop(0)
        if isinstance(item, NetworkError):
            raise item
        return item

    return send


def _loop(send: Callable[[], Response], policy: RetryPolicy) -> tuple[Response, bool]:
    return send_with_retries(
        send,
        policy,
        retry_answer=lambda r: r.status in {429, 500, 502},
        describe=lambda status: f"reason {status}",
        request="GET /ping",
    )


def test_the_loop_returns_the_first_final_answer(clock: ManualClock) -> None:
    """§7: 429 is repeated after the backoff; the final answer is not ambiguous."""
    events: list[RetryEvent] = []
    policy = retry_policy(clock, on_retry=events.append)
    response, ambiguous = _loop(_answers(Response(status=429), Response(status=200)), policy)
    assert (response.status, ambiguous) == (200, False)
    assert clock.sleeps == [0.5]
    assert events == [
        RetryEvent(
            request="GET /ping",
            attempt=1,
            wait=0.5,
            elapsed=0.0,
            reason="429 reason 429",
            status=429,
        )
    ]


def test_a_retried_5xx_or_lost_answer_makes_the_result_ambiguous(clock: ManualClock) -> None:
    """§7, R7.2: after a 5xx or no answer, the request may have been carried out already."""
    for first in (Response(status=500), NetworkError("dropped")):
        response, ambiguous = _loop(_answers(first, Response(status=404)), retry_policy(clock))
        assert (response.status, ambiguous) == (404, True)


def test_the_loop_gives_up_after_the_attempts(clock: ManualClock) -> None:
    """§7: capped retries: the last answer comes back, or the last failure is raised."""
    policy = retry_policy(clock, attempts=2)
    response, _ = _loop(_answers(Response(status=502), Response(status=502)), policy)
    assert response.status == 502
    with pytest.raises(NetworkError, match="second"):
        _loop(_answers(NetworkError("first"), NetworkError("second")), policy)


def test_a_failure_not_worth_repeating_is_raised_at_once(clock: ManualClock) -> None:
    """§7: a TLS failure (not retryable) is never repeated and no retry is reported."""
    events: list[RetryEvent] = []
    failure = NetworkError("tls", retryable=False)
    with pytest.raises(NetworkError, match="tls"):
        _loop(_answers(failure), retry_policy(clock, on_retry=events.append))
    assert events == []
    assert clock.sleeps == []
