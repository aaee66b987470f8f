"""Sending one HTTP request and getting one answer: the only module that knows ``requests``.

A :class:`Transport` turns a :class:`Request` into a :class:`Response`. It does not retry,
parse JSON or log bodies: the client above it does the first two and never does the third.
:class:`RequestsTransport` is the default; a test or an integrator can plug in another.

Every failure to get an answer becomes a :class:`~auditcase_mailchimp.NetworkError` at this
boundary (``raise … from exc``), so callers only ever see this library's exceptions. An answer
with an error status is not a failure here: it is a :class:`Response` like any other.
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable
from urllib.parse import urlsplit

import attrs
import requests
import requests.adapters

from ._errors import ConfigurationError, NetworkError, NetworkTimeoutError

__all__ = [
    "Request",
    "RequestsTransport",
    "Response",
    "Transport",
]

#: Headers whose values are secrets, shown as ``<redacted>`` in every ``repr``.
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})


def _headers_repr(headers: tuple[tuple[str, str], ...]) -> str:
    shown = ", ".join(
        f"({name!r}, '<redacted>')" if name.lower() in _SECRET_HEADERS else repr((name, value))
        for name, value in headers
    )
    return f"({shown}{',' if len(headers) == 1 else ''})"


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


@attrs.frozen(kw_only=True, repr=False)
class Request:
    """One HTTP request, as the client builds it and a transport sends it.

    The ``repr`` shows the method, the URL, the header names (the ``Authorization`` value
    redacted) and the body's size, never its content: bodies hold e-mail addresses.
    """

    #: ``GET``, ``POST``, ``PATCH`` or ``DELETE``.
    method: str
    #: The full URL, query included. It never holds a secret.
    url: str
    #: Header names and values, in order.
    headers: tuple[tuple[str, str], ...] = ()
    #: The body (JSON, UTF-8), or ``None``.
    body: bytes | None = None

    def header(self, name: str) -> str | None:
        """The value of a header, by case-insensitive name, or ``None``."""
        return _header(self.headers, name)

    def __repr__(self) -> str:
        """Show everything but secrets and the body's content."""
        body = "None" if self.body is None else f"<{len(self.body)} bytes>"
        return (
            f"Request(method={self.method!r}, url={self.url!r}, "
            f"headers={_headers_repr(self.headers)}, body={body})"
        )


@attrs.frozen(kw_only=True, repr=False)
class Response:
    """One HTTP answer: status, headers and the whole body."""

    #: The HTTP status.
    status: int
    #: Header names and values, in order.
    headers: tuple[tuple[str, str], ...] = ()
    #: The body, possibly empty.
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of a header, by case-insensitive name, or ``None``."""
        return _header(self.headers, name)

    def __repr__(self) -> str:
        """Show the status, the content type and the body's size."""
        return (
            f"Response(status={self.status}, content_type={self.header('Content-Type')!r}, "
            f"body=<{len(self.body)} bytes>)"
        )


@runtime_checkable
class Transport(Protocol):
    """Sends requests. Implementations must be safe to call from several threads at once.

    A transport neither retries, nor parses JSON, nor logs bodies.
    """

    def send(self, request: Request) -> Response:
        """Send one request and return the answer, whatever its status.

        Args:
            request: The request.

        Returns:
            The answer.

        Raises:
            NetworkError: No answer: the connection failed, was dropped, or timed out
                (:class:`~auditcase_mailchimp.NetworkTimeoutError`).
            ConfigurationError: The request cannot be sent at all (e.g. a malformed URL).
        """
        ...

    def close(self) -> None:
        """Release the connections; the transport is not used afterwards."""
        ...


def _positive(value: object, *, integer: bool = False) -> bool:
    """Whether a configuration value is a positive number (not a bool), and whole if asked."""
    kinds = int if integer else int | float
    return not isinstance(value, bool) and isinstance(value, kinds) and value > 0


class _KeepHeaders(requests.auth.AuthBase):
    """Leave the request's headers as they are.

    Passing an ``auth`` object stops ``requests`` from reading ``~/.netrc``, which would
    replace our ``Authorization`` header with credentials meant for something else.
    """

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_KEEP_HEADERS: Final = _KeepHeaders()


class RequestsTransport:
    """The default transport: one :class:`requests.Session` with a bounded connection pool.

    - the pool holds at most ``pool_size`` connections per host and blocks rather than open
      more, so the transport alone never has more than ``pool_size`` requests in flight;
    - connect and read timeouts on every request (Mailchimp gives up after 120 s itself,
      MAILCHIMP.md §7);
    - TLS certificates always verified; redirects never followed (the ``Authorization``
      header must not travel to another address); ``~/.netrc`` never read. Proxy settings
      from the environment (``HTTPS_PROXY``) are honoured.

    Args:
        pool_size: Connections kept per host, 1 to 10 (Mailchimp's limit is 10 at once).
        connect_timeout: Seconds to wait for a connection.
        read_timeout: Seconds to wait for the answer, between bytes.
        user_agent: The ``User-Agent`` header.

    Raises:
        ConfigurationError: A size or timeout out of range.
    """

    def __init__(
        self,
        *,
        pool_size: int = 10,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        user_agent: str = "auditcase-mailchimp",
    ) -> None:
        if not _positive(pool_size, integer=True):
            raise ConfigurationError(f"pool_size must be a positive integer, got {pool_size!r}")
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not _positive(value):
                raise ConfigurationError(f"{name} must be a positive number, got {value!r}")
        self._timeout = (float(connect_timeout), float(read_timeout))
        self._session = requests.Session()
        self._session.verify = True
        self._session.headers["User-Agent"] = user_agent
        adapter = requests.adapters.HTTPAdapter(
            pool_connections=1, pool_maxsize=pool_size, pool_block=True, max_retries=0
        )
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._pool_size = pool_size

    def __repr__(self) -> str:
        """Show the pool size and timeouts."""
        connect, read = self._timeout
        return (
            f"RequestsTransport(pool_size={self._pool_size}, connect_timeout={connect}, "
            f"read_timeout={read})"
        )

    def send(self, request: Request) -> Response:
        """Send one request over the pool; see :meth:`Transport.send`.

        Args:
            request: The request.

        Returns:
            The answer, whatever its status, with the whole body read.

        Raises:
            NetworkTimeoutError: No connection, or no answer, within the timeouts.
            NetworkError: The connection failed or was dropped (retryable), or TLS
                verification failed (not retryable).
            ConfigurationError: The URL or a header cannot be sent at all.
        """
        try:
            where = f"{request.method} {urlsplit(request.url).path}"
        except ValueError:
            raise ConfigurationError(f"{request.method}: the URL is malformed") from None
        try:
            answer = self._session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=request.body,
                timeout=self._timeout,
                allow_redirects=False,
                auth=_KEEP_HEADERS,
            )
            body = answer.content
        except requests.exceptions.ConnectTimeout as exc:
            raise NetworkTimeoutError(f"{where}: no connection within the timeout") from exc
        except requests.exceptions.ReadTimeout as exc:
            raise NetworkTimeoutError(f"{where}: no answer within the read timeout") from exc
        except requests.exceptions.SSLError as exc:
            raise NetworkError(
                f"{where}: TLS failed (certificate not verified?)", retryable=False
            ) from exc
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise NetworkError(f"{where}: connection failed or dropped") from exc
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidHeader,
            requests.exceptions.URLRequired,
        ) as exc:
            raise ConfigurationError(f"{where}: the request cannot be sent") from exc
        except requests.exceptions.RequestException as exc:
            raise NetworkError(f"{where}: {type(exc).__name__}", retryable=False) from exc
        return Response(status=answer.status_code, headers=tuple(answer.headers.items()), body=body)

    def close(self) -> None:
        """Close the session and its connections."""
        self._session.close()
