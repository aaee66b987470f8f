"""When to send a request again, and how long to wait first: a frozen value.

Mailchimp asks for exponential backoff with jitter and capped retries on 429 and 5xx
(MAILCHIMP.md §7). It documents no ``Retry-After`` header, so the policy does not depend on
one, but honours it (seconds or an HTTP date, capped at ``max_wait``) when it comes.

Which answers are retried is decided here (429, 5xx, a 403 without a body, and no answer at
all); which requests may be repeated is decided by the client, per kind of request.

Time and randomness are parameters (``sleep``, ``clock``, ``wall_clock``, ``rng``), so tests
run instantly and deterministically.

:func:`send_with_retries` is the loop itself; before each retry it calls the policy's
``on_retry`` hook with a :class:`RetryEvent` (as stamina's ``on_retry`` hooks do), so an
integrator can count or report retries.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from ._errors import ConfigurationError, NetworkError

if TYPE_CHECKING:
    from ._transport import Response

__all__ = ["RetryEvent", "RetryPolicy", "send_with_retries"]

_log = logging.getLogger("auditcase_mailchimp._client")


@attrs.frozen(kw_only=True)
class RetryEvent:
    """A retry about to happen, as :attr:`RetryPolicy.on_retry` receives it."""

    #: What is repeated, e.g. ``POST /lists/{list_id}`` with the ids in it (never an address).
    request: str
    #: Which attempt failed (1 for the first).
    attempt: int
    #: Seconds the policy waits before the next attempt.
    wait: float
    #: Seconds since the first attempt started.
    elapsed: float
    #: Why, e.g. ``429 Too Many Requests`` or ``no answer (NetworkTimeoutError)``.
    reason: str
    #: The answer's HTTP status, ``None`` when there was no answer.
    status: int | None


def _non_negative(_instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigurationError(f"{attribute.name} must be a number >= 0, got {value!r}")
    if math.isinf(value) and attribute.name != "budget":
        raise ConfigurationError(f"{attribute.name} must be finite, got {value!r}")


def _attempts(_instance: object, _attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"attempts must be an integer >= 1, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How often and how patiently a request is repeated.

    The wait before retry ``n`` (``n`` = 1 for the first retry) is
    ``min(max_wait, initial_wait * 2**(n - 1) + jitter * rng())``; a ``Retry-After`` header
    replaces it, capped at ``max_wait``. A retry happens only while fewer than ``attempts``
    attempts were made and the time since the first attempt plus the wait stays within
    ``budget``.

    ``RetryPolicy(attempts=1)`` never retries.

    Raises:
        ConfigurationError: ``attempts`` below 1, a negative or infinite wait, or
            ``initial_wait`` above ``max_wait``.
    """

    #: Attempts in all, the first included.
    attempts: int = attrs.field(default=5, validator=_attempts)
    #: Seconds from the first attempt within which every retry must start.
    budget: float = attrs.field(default=120.0, validator=_non_negative)
    #: The wait before the first retry, in seconds, before jitter.
    initial_wait: float = attrs.field(default=1.0, validator=_non_negative)
    #: The longest wait, in seconds (also the cap on ``Retry-After``).
    max_wait: float = attrs.field(default=30.0, validator=_non_negative)
    #: Up to this many seconds are added at random to each backoff.
    jitter: float = attrs.field(default=1.0, validator=_non_negative)
    #: Waits; ``time.sleep`` by default.
    sleep: Callable[[float], None] = attrs.field(default=time.sleep, eq=False, repr=False)
    #: A monotonic clock in seconds, for the budget; ``time.monotonic`` by default.
    clock: Callable[[], float] = attrs.field(default=time.monotonic, eq=False, repr=False)
    #: Wall-clock time in seconds since the epoch, for ``Retry-After`` dates.
    wall_clock: Callable[[], float] = attrs.field(default=time.time, eq=False, repr=False)
    #: A number in ``[0, 1)`` for the jitter; ``random.random`` by default.
    rng: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)
    #: Called before each retry with a :class:`RetryEvent` (after the client's own log line);
    #: ``None`` by default. It runs in the thread that sends, and must not raise.
    on_retry: Callable[[RetryEvent], None] | None = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        """Check that the waits are in order."""
        if self.initial_wait > self.max_wait:
            raise ConfigurationError(
                f"initial_wait ({self.initial_wait}) must not exceed max_wait ({self.max_wait})"
            )

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 for the first), without ``Retry-After``.

        Args:
            retry: Which retry, from 1.

        Returns:
            ``min(max_wait, initial_wait * 2**(retry - 1) + jitter * rng())`` seconds.
        """
        exponent = min(max(retry, 1) - 1, 64)  # 2**64 s is far past any max_wait
        return min(self.max_wait, self.initial_wait * 2.0**exponent + self.jitter * self.rng())

    def retry_after(self, header: str | None) -> float | None:
        """Read a ``Retry-After`` header: seconds, or an HTTP date; capped at ``max_wait``.

        Args:
            header: The header's value, or ``None``.

        Returns:
            The seconds to wait (0 for a date in the past), or ``None`` when the header is
            absent or unreadable.
        """
        if header is None:
            return None
        text = header.strip()
        if text.isdigit():
            return min(float(text), self.max_wait)
        import email.utils  # noqa: PLC0415 - only for a dated Retry-After; keeps start-up short

        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        return min(max(when.timestamp() - self.wall_clock(), 0.0), self.max_wait)

    def wait(self, retry: int, retry_after: str | None = None) -> float:
        """The wait before retry number ``retry``: ``Retry-After`` when readable, else backoff.

        Args:
            retry: Which retry, from 1.
            retry_after: The answer's ``Retry-After`` header, if any.

        Returns:
            Seconds to wait.
        """
        told = self.retry_after(retry_after)
        return self.backoff(retry) if told is None else told

    def allows(self, attempts_made: int, *, elapsed: float, wait: float) -> bool:
        """Tell whether another attempt may be made.

        Args:
            attempts_made: Attempts made so far (1 after the first).
            elapsed: Seconds since the first attempt started.
            wait: The wait planned before the next attempt.

        Returns:
            ``True`` when fewer than ``attempts`` were made and the next one would start
            within ``budget``.
        """
        return attempts_made < self.attempts and elapsed + wait <= self.budget


def send_with_retries(
    send: Callable[[], Response],
    policy: RetryPolicy,
    *,
    retry_answer: Callable[[Response], bool],
    describe: Callable[[int], str],
    request: str,
) -> tuple[Response, bool]:
    """Send until an answer is final or the policy allows no more attempts.

    Only call it for requests that are safe to repeat: every answer ``retry_answer`` accepts,
    and every failure to get an answer that is :attr:`~NetworkError.retryable`, is repeated
    after :meth:`RetryPolicy.wait` while :meth:`RetryPolicy.allows` says so.

    Args:
        send: Sends the request once; raises :class:`NetworkError` when no answer came.
        policy: How often and how patiently.
        retry_answer: Whether an answer is worth repeating (429, 5xx...).
        describe: The reason phrase of a status, for the log and the event.
        request: What is sent, for the log and the event (no address, no secret).

    Returns:
        The last answer, and whether an earlier attempt may have been carried out although its
        answer was lost (a 5xx or no answer was retried): the answer may then describe the
        state after our own change.

    Raises:
        NetworkError: No answer, after the retries the policy allows.
    """
    started = policy.clock()
    attempt = 0
    ambiguous = False
    while True:
        attempt += 1
        failure: NetworkError | None = None
        response: Response | None = None
        try:
            response = send()
        except NetworkError as exc:
            failure = exc
        if response is not None:
            if not retry_answer(response):
                return response, ambiguous
            wait = policy.wait(attempt, response.header("Retry-After"))
            why = f"{response.status} {describe(response.status)}"
            repeatable = True
        else:
            assert failure is not None  # noqa: S101 - one of the two is set
            wait = policy.wait(attempt)
            why = f"no answer ({type(failure).__name__})"
            repeatable = failure.retryable
        elapsed = policy.clock() - started
        if not (repeatable and policy.allows(attempt, elapsed=elapsed, wait=wait)):
            if attempt > 1:
                _log.warning("mailchimp %s: %s; giving up after %d attempts", request, why, attempt)
            if failure is not None:
                raise failure
            assert response is not None  # noqa: S101 - one of the two is set
            return response, ambiguous
        if response is None or response.status >= 500:  # noqa: PLR2004
            ambiguous = True  # the request may have been carried out
        _log.warning(
            "mailchimp %s: %s; retry %d of %d in %.2f s",
            request,
            why,
            attempt,
            policy.attempts - 1,
            wait,
        )
        if policy.on_retry is not None:
            policy.on_retry(
                RetryEvent(
                    request=request,
                    attempt=attempt,
                    wait=wait,
                    elapsed=elapsed,
                    reason=why,
                    status=None if response is None else response.status,
                )
            )
        policy.sleep(wait)
