"""Sending one HTTP request and getting one answer: the only module that knows the HTTP library.

A :class:`Transport` turns a :class:`Request` into a :class:`Response`. It does not retry,
parse JSON or log bodies: the client above it does the first two and never does the third.
:class:`RequestsTransport` is the default; a test or an integrator can plug in another.

Every failure to get an answer becomes a :class:`~auditcase_mailchimp.NetworkError` at this
boundary (``raise … from exc``), so callers only ever see this library's exceptions. An answer
with an error status is not a failure here: it is a :class:`Response` like any other.
"""

from __future__ import annotations

import base64
import os
import threading
import weakref
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable
from urllib.parse import SplitResult, unquote, urlsplit

import attrs

from ._errors import ConfigurationError, NetworkError, NetworkTimeoutError

if TYPE_CHECKING:
    import http.client
    import ssl

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


def _ca_bundle() -> str | None:
    """The CA bundle to verify with: ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else certifi's."""
    told = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if told:
        return told
    try:
        import certifi  # noqa: PLC0415 - installed with requests; only needed here

        return str(certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None  # the system's store


@attrs.frozen
class _Route:
    """How requests to one origin travel: straight there, or through a proxy."""

    scheme: str
    host: str
    port: int
    #: The proxy, when one is used.
    proxy: SplitResult | None = None

    @property
    def absolute_form(self) -> bool:
        """Plain HTTP through a proxy: the request line carries the whole URL."""
        return self.proxy is not None and self.scheme == "http"


class _Pool:
    """Keep-alive connections to one origin; at most ``size`` in use at once (callers block)."""

    def __init__(self, route: _Route, size: int, connector: _Connector) -> None:
        self.route = route
        self.slots = threading.BoundedSemaphore(size)
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()
        self.connector = connector

    def take(self) -> http.client.HTTPConnection:
        """An idle connection still open, or a new one (not yet connected)."""
        with self.lock:
            while self.idle:
                conn = self.idle.pop()
                if not _dropped(conn):
                    return conn
                conn.close()
        return self.connector.new(self.route)

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        """Keep a connection for the next request."""
        with self.lock:
            self.idle.append(conn)

    def close(self) -> None:
        """Close the idle connections."""
        with self.lock:
            idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """An idle connection the server closed (readable means EOF or garbage: unusable)."""
    import select  # noqa: PLC0415 - cheap, imported once

    sock = conn.sock
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


class RequestsTransport:
    """The default transport: pooled HTTP/1.1 keep-alive connections, verified TLS, no retries.

    It sends with the standard library's ``http.client``, one pool of keep-alive
    connections per host. (Until issue 12 it sent through a ``requests`` session, whence the
    name, kept for compatibility: the session cost two thirds of the client's CPU per request,
    mostly re-reading the environment's proxy settings on every call.)

    - the pool holds at most ``pool_size`` connections per host and blocks rather than open
      more, so the transport alone never has more than ``pool_size`` requests in flight;
    - connect and read timeouts on every request (Mailchimp gives up after 120 s itself,
      MAILCHIMP.md §7);
    - TLS certificates always verified (``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` when set,
      else certifi's bundle) with the host name checked; redirects never followed (the
      ``Authorization`` header must not travel to another address); ``~/.netrc`` never read;
    - proxy settings from the environment (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``,
      ``NO_PROXY``, any case) are read **once, when the transport is built**, not on every
      request: set them before building the client. HTTPS goes through the proxy in a
      ``CONNECT`` tunnel; credentials in the proxy URL are sent to the proxy only.

    Args:
        pool_size: Connections kept per host, 1 to 10 (Mailchimp's limit is 10 at once).
        connect_timeout: Seconds to wait for a connection (and the TLS handshake).
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
        self._pool_size = pool_size
        self._connect_timeout = float(connect_timeout)
        self._read_timeout = float(read_timeout)
        self._user_agent = user_agent
        #: The environment's proxy settings, read once (``no`` holds ``NO_PROXY``).
        import urllib.request  # noqa: PLC0415 - heavy (http, email); only when a transport is built

        self._env_proxies = urllib.request.getproxies()
        self._bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # in the stdlib, not in typeshed
        self._connector = _Connector(self._connect_timeout)
        self._pools: dict[tuple[str, str], _Pool] = {}
        self._lock = threading.Lock()
        # Connections still open when the transport is dropped unclosed are closed with it.
        weakref.finalize(self, _close_pools, self._pools)

    @property
    def verifies_tls(self) -> bool:
        """Always ``True``: certificates and host names are verified, whatever the settings."""
        import ssl  # noqa: PLC0415 - only where TLS is used

        context = self._connector.tls_context()
        return context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname

    def __repr__(self) -> str:
        """Show the pool size and timeouts."""
        return (
            f"RequestsTransport(pool_size={self._pool_size}, "
            f"connect_timeout={self._connect_timeout}, read_timeout={self._read_timeout})"
        )

    def _pool(self, parts: SplitResult) -> _Pool:
        """The pool of an origin; its route (direct or by proxy) decided once."""
        key = (parts.scheme, parts.netloc)
        pool = self._pools.get(key)
        if pool is not None:
            return pool
        port = parts.port or (443 if parts.scheme == "https" else 80)
        proxy_url = self._env_proxies.get(parts.scheme) or self._env_proxies.get("all")
        proxy = None
        if proxy_url and not self._bypass(parts.netloc, self._env_proxies):
            proxy = urlsplit(proxy_url if "://" in proxy_url else f"http://{proxy_url}")
        route = _Route(scheme=parts.scheme, host=parts.hostname or "", port=port, proxy=proxy)
        with self._lock:
            return self._pools.setdefault(key, _Pool(route, self._pool_size, self._connector))

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
            parts = urlsplit(request.url)
            _ = parts.port  # a malformed port raises here
        except ValueError:
            raise ConfigurationError(f"{request.method}: the URL is malformed") from None
        where = f"{request.method} {parts.path}"
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError(f"{where}: the request cannot be sent (not an http(s) URL)")
        pool = self._pool(parts)
        route = pool.route
        target = request.url if route.absolute_form else _origin_form(parts)
        headers = {"User-Agent": self._user_agent, **dict(request.headers)}
        if route.absolute_form and route.proxy is not None:
            headers.update(_proxy_headers(route.proxy))
        with pool.slots:
            conn = pool.take()
            try:
                if conn.sock is None:
                    self._connect(conn, where)
                conn.request(request.method, target, body=request.body, headers=headers)
                answer = conn.getresponse()
                body = answer.read()
            except NetworkError:
                conn.close()
                raise
            except BaseException as exc:
                conn.close()
                mapped = _mapped(exc, where, connected=True)
                if mapped is exc:
                    raise  # not a failure to get an answer (e.g. KeyboardInterrupt)
                raise mapped from exc
            if answer.will_close:
                conn.close()
            else:
                pool.give_back(conn)
        return Response(status=answer.status, headers=tuple(answer.getheaders()), body=body)

    def _connect(self, conn: http.client.HTTPConnection, where: str) -> None:
        try:
            conn.connect()
        except BaseException as exc:
            conn.close()
            mapped = _mapped(exc, where, connected=False)
            if mapped is exc:
                raise
            raise mapped from exc
        if conn.sock is not None:
            conn.sock.settimeout(self._read_timeout)

    def close(self) -> None:
        """Close every connection; requests in flight finish on theirs."""
        with self._lock:
            _close_pools(self._pools)


def _close_pools(pools: dict[tuple[str, str], _Pool]) -> None:
    for pool in list(pools.values()):
        pool.close()


class _Connector:
    """Makes connections for the pools: direct, or through a proxy; TLS context built once."""

    def __init__(self, connect_timeout: float) -> None:
        self.connect_timeout = connect_timeout
        self._tls: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    def tls_context(self) -> ssl.SSLContext:
        """The TLS context: certificates and host names verified."""
        with self._lock:
            if self._tls is None:
                import ssl  # noqa: PLC0415 - only where TLS is used

                self._tls = ssl.create_default_context(cafile=_ca_bundle())
            return self._tls

    def new(self, route: _Route) -> http.client.HTTPConnection:
        """A connection for ``route``, not yet connected."""
        import http.client  # noqa: PLC0415 - imported when the first connection is made

        timeout = self.connect_timeout
        proxy = route.proxy
        if proxy is None:
            if route.scheme == "https":
                return http.client.HTTPSConnection(
                    route.host, route.port, timeout=timeout, context=self.tls_context()
                )
            return http.client.HTTPConnection(route.host, route.port, timeout=timeout)
        proxy_port = proxy.port or (443 if proxy.scheme == "https" else 80)
        if proxy.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                proxy.hostname or "", proxy_port, timeout=timeout, context=self.tls_context()
            )
        else:
            conn = http.client.HTTPConnection(proxy.hostname or "", proxy_port, timeout=timeout)
        if route.scheme == "https":
            conn.set_tunnel(route.host, route.port, headers=_proxy_headers(proxy))
        return conn


def _origin_form(parts: SplitResult) -> str:
    return (parts.path or "/") + ("?" + parts.query if parts.query else "")


def _proxy_headers(proxy: SplitResult) -> dict[str, str]:
    """``Proxy-Authorization`` for credentials in the proxy URL (sent to the proxy only)."""
    if proxy.username is None:
        return {}
    pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
    return {"Proxy-Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def _mapped(exc: BaseException, where: str, *, connected: bool) -> BaseException:  # noqa: PLR0911 - one return per kind of failure
    """The library's exception for a failure to get an answer (STYLE.md: map at the boundary)."""
    import http.client  # noqa: PLC0415 - already imported by the connection
    import ssl  # noqa: PLC0415 - as above

    if isinstance(exc, ssl.SSLCertVerificationError | ssl.CertificateError):
        return NetworkError(f"{where}: TLS failed (certificate not verified?)", retryable=False)
    if isinstance(exc, TimeoutError):
        if connected:
            return NetworkTimeoutError(f"{where}: no answer within the read timeout")
        return NetworkTimeoutError(f"{where}: no connection within the timeout")
    if isinstance(exc, ssl.SSLError):
        return NetworkError(f"{where}: TLS failed", retryable=False)
    if isinstance(exc, http.client.HTTPException | OSError):
        return NetworkError(f"{where}: connection failed or dropped")
    if isinstance(exc, ValueError | UnicodeError):
        return ConfigurationError(f"{where}: the request cannot be sent")
    return exc
