"""The sending core of the Mailchimp client: configuration, one request with retries, threads.

:class:`ClientCore` turns a method, a path, a query and a wire body into a
:class:`~auditcase_mailchimp.Request`, sends it through the transport with at most
``concurrency`` requests in flight, and repeats it as the :class:`RetryPolicy` allows
(:func:`~auditcase_mailchimp._retry.send_with_retries`). :class:`MailchimpClient` adds the
endpoints on top.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import urlencode

import attrs

from ._answers import error_from_response, reason, should_retry
from ._client_checks import check_list_id
from ._client_values import MAX_CONCURRENCY, MemberResult
from ._credentials import ApiKey, OAuthToken, check_base_url
from ._errors import ConfigurationError
from ._retry import RetryPolicy, send_with_retries
from ._transport import Request, RequestsTransport, Response, Transport

if TYPE_CHECKING:
    from concurrent.futures import Future

__all__ = ["Answer", "ClientCore"]

_log = logging.getLogger("auditcase_mailchimp._client")

#: Compact JSON, UTF-8 as it is: one encoder for every request body.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

T = TypeVar("T")
R = TypeVar("R")


@attrs.frozen
class Answer:
    """An answer, and whether an earlier attempt of the same request may have been carried out."""

    response: Response
    #: An earlier attempt may have been carried out although its answer was lost (a 5xx or
    #: no answer was retried): the final answer may describe the state after our own change.
    ambiguous: bool


class ClientCore:
    """Configuration, sending with retries and the thread pool of :class:`MailchimpClient`."""

    def __init__(
        self,
        credentials: ApiKey | OAuthToken,
        *,
        base_url: str | None = None,
        concurrency: int = MAX_CONCURRENCY,
        retry: RetryPolicy | None = None,
        transport: Transport | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
    ) -> None:
        if not isinstance(credentials, ApiKey | OAuthToken):
            raise ConfigurationError(
                f"credentials must be an ApiKey or an OAuthToken, not {type(credentials).__name__}"
            )
        given: object = concurrency  # checked at run time: callers may pass anything
        if (
            isinstance(given, bool)
            or not isinstance(given, int)
            or not 1 <= given <= MAX_CONCURRENCY
        ):
            raise ConfigurationError(
                f"concurrency must be an integer from 1 to {MAX_CONCURRENCY} "
                f"(Mailchimp allows {MAX_CONCURRENCY} connections at once), got {concurrency!r}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, not {type(retry).__name__}")
        self._credentials = credentials
        self._authorization = credentials.authorization()
        self._base_url = (
            credentials.default_base_url if base_url is None else check_base_url(base_url)
        )
        self._concurrency = concurrency
        self._retry = RetryPolicy() if retry is None else retry
        self._transport: Transport = (
            RequestsTransport(
                pool_size=concurrency, connect_timeout=connect_timeout, read_timeout=read_timeout
            )
            if transport is None
            else transport
        )
        self._slots = threading.BoundedSemaphore(concurrency)

    def __repr__(self) -> str:
        """Show the address, credentials (redacted) and concurrency."""
        return (
            f"MailchimpClient(base_url={self._base_url!r}, credentials={self._credentials!r}, "
            f"concurrency={self._concurrency})"
        )

    @property
    def concurrency(self) -> int:
        """Requests in flight at most."""
        return self._concurrency

    @property
    def base_url(self) -> str:
        """The API address requests go to, ending in ``/3.0``."""
        return self._base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy."""
        return self._retry

    def close(self) -> None:
        """Close the transport and its connections."""
        self._transport.close()

    def __enter__(self) -> Self:
        """Use the client in a ``with`` block; it is closed at the end."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close the client."""
        self.close()

    # --- sending ---------------------------------------------------------------------------

    def _request(
        self, method: str, path: str, query: Mapping[str, Any] | None, payload: Any
    ) -> Request:
        url = self._base_url + path
        if query:
            url += "?" + urlencode(query)
        headers: list[tuple[str, str]] = [
            ("Authorization", self._authorization),
            ("Accept", "application/json"),
        ]
        data = None
        if payload is not None:
            from ._mailchimp_wire import body  # noqa: PLC0415 - not at start-up

            # A body given as a function is made here and dropped once encoded, so its values
            # (500 members of a batch call) are not kept while the answer is awaited: they
            # would outlive the collector's young passes and bring on its full ones.
            document = body(payload() if callable(payload) else payload)
            data = _encode(document).encode("utf-8")
            headers.append(("Content-Type", "application/json"))
        return Request(method=method, url=url, headers=tuple(headers), body=data)

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Answer:
        """Send with retries: 429, 5xx, a 403 without a body and no answer are repeated.

        Every request kind the client sends is safe to repeat (see the comment at each call);
        this method is only ever called for those.

        Raises:
            NetworkError: No answer, after the retries the policy allows.
            ConfigurationError: The request cannot be sent at all.
        """
        request = self._request(method, path, query, body)
        transport, slots = self._transport, self._slots

        def once() -> Response:
            if not _log.isEnabledFor(logging.DEBUG):
                with slots:
                    return transport.send(request)
            began = time.perf_counter()
            with slots:
                response = transport.send(request)
            _log.debug(
                "mailchimp %s %s -> %d in %.3f s",
                method,
                path,
                response.status,
                time.perf_counter() - began,
            )
            return response

        response, ambiguous = send_with_retries(
            once,
            self._retry,
            retry_answer=should_retry,
            describe=reason,
            request=f"{method} {path}",
        )
        return Answer(response, ambiguous)

    def _document(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        audience_level: bool = False,
        what: str,
    ) -> tuple[Any, str]:
        """Send one request (retried as :meth:`_send` does); its parsed JSON and request id.

        Raises:
            MailchimpAPIError: An error answer (of the class :func:`error_from_response` picks).
            UnexpectedResponseError: The answer is not JSON.
            NetworkError: No answer, after the retries the policy allows.
        """
        response = self._send(method, path, query=query, body=body).response
        if response.status >= 300:  # noqa: PLR2004
            raise error_from_response(response, audience_level=audience_level)
        request_id = response.header("X-Request-Id") or ""
        from ._mailchimp_wire import parse_json  # noqa: PLC0415 - not at start-up

        return parse_json(response.body, what=what, request_id=request_id), request_id

    def _get(
        self,
        path: str,
        query: Mapping[str, Any] | None,
        cls: type[T],
        *,
        audience_level: bool,
        what: str,
    ) -> T:
        """GET a document; any failure raises. GET is safe to repeat: it changes nothing."""
        from ._mailchimp_wire import structure  # noqa: PLC0415 - not at start-up

        document, request_id = self._document(
            "GET", path, query=query, audience_level=audience_level, what=what
        )
        return structure(document, cls, what=what, request_id=request_id)

    def _map(self, function: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """Run ``function`` over ``items`` on up to ``concurrency`` threads, keeping order."""
        if len(items) <= 1:
            return [function(item) for item in items]
        from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - not at start-up

        with ThreadPoolExecutor(
            max_workers=min(self._concurrency, len(items)), thread_name_prefix="mailchimp"
        ) as pool:
            futures: list[Future[R]] = [pool.submit(function, item) for item in items]
            try:
                return [future.result() for future in futures]
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    def _many(
        self,
        list_id: str,
        items: Iterable[Any],
        check: Callable[[Any], T],
        call: Callable[[str, T], MemberResult],
    ) -> list[MemberResult]:
        """The ``*_many`` calls: one call per item, up to ``concurrency`` at once, in order.

        The list id and every item are checked first, so a bad one means nothing was sent.
        """
        lid = check_list_id(list_id)
        chosen = [check(item) for item in items]
        return self._map(lambda item: call(lid, item), chosen)
