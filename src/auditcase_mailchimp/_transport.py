"""Sending one HTTP request and getting one answer: the only module that knows ``requests``.

A :class:`Transport` turns a :class:`Request` into a :class:`Response`. It does not retry,
parse JSON or log bodies: the client above it does the first two and never does the third.
:class:`RequestsTransport` is the default; a test or an integrator can plug in another.

Every failure to get an answer becomes a :class:`~auditcase_mailchimp.NetworkError` at this
boundary (``raise … from exc``), so callers only ever see this library's exceptions. An answer
with an error status is not a failure here: it is a :class:`Response` like any other.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import threading
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, runtime_checkable
from urllib.parse import urlsplit

import attrs

from ._errors import ConfigurationError, NetworkError, NetworkTimeoutError

if TYPE_CHECKING:
    from collections.abc import Mapping

    import requests
    import requests.adapters
    import urllib3

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


#: Origins whose pools are kept at once (the API, and where /batches results are read).
_ORIGINS: Final = 4

#: Headers the transport sets itself, whatever the request says.
_OURS: Final = frozenset({"content-length", "transfer-encoding", "host"})


def _positive(value: object, *, integer: bool = False) -> bool:
    """Whether a configuration value is a positive number (not a bool), and whole if asked."""
    kinds = int if integer else int | float
    return not isinstance(value, bool) and isinstance(value, kinds) and value > 0


def _is_loopback(host: str) -> bool:
    """Whether the host is this machine: never reached through a proxy."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bypasses(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` names this host, read as ``requests`` reads it.

    Entries are host names (a suffix matches, ``.example.nl`` too), ``host:port``, IPv4
    addresses, CIDR blocks (``10.0.0.0/8``) or ``*`` for every host.
    """
    from requests.utils import (  # noqa: PLC0415 - loaded with requests, when a transport is built
        address_in_network,
        is_ipv4_address,
        is_valid_cidr,
    )

    host = host.lower()
    entries = [entry for entry in no_proxy.replace(" ", "").lower().split(",") if entry]
    if "*" in entries:
        return True
    if is_ipv4_address(host):
        for entry in entries:
            if is_valid_cidr(entry):
                if address_in_network(host, entry):
                    return True
            elif host == entry:
                return True
    with_port = f"{host}:{port}"
    return any(host.endswith(entry) or with_port.endswith(entry) for entry in entries)


@functools.cache
def _adapter_class() -> type[requests.adapters.HTTPAdapter]:
    """The HTTP adapter of ``requests``, building answers without reading cookies (none kept)."""
    import requests  # noqa: PLC0415 - loaded when a transport is built
    import requests.adapters  # noqa: PLC0415

    class LeanAdapter(requests.adapters.HTTPAdapter):
        #: The pool of each origin (``scheme://host:port``), once looked up.
        pools: dict[str, urllib3.HTTPConnectionPool]

        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.pools = {}

        def build_response(
            self, req: requests.PreparedRequest, resp: urllib3.BaseHTTPResponse
        ) -> requests.Response:
            """The answer, its body still to be read; its headers stay on ``raw``."""
            response = requests.Response()
            response.status_code = resp.status
            response.raw = resp
            response.reason = resp.reason or ""
            response.url = req.url or ""
            response.request = req
            response.connection = self
            return response

        def get_connection_with_tls_context(
            self,
            request: requests.PreparedRequest,
            verify: bool | str | None,  # noqa: FBT001 - requests' signature
            proxies: Mapping[str, str] | None = None,
            cert: tuple[str, str] | str | None = None,
        ) -> urllib3.connectionpool.ConnectionPool:
            """The origin's pool, looked up once: this transport's proxies and TLS are fixed."""
            url = request.url or ""
            end = url.find("/", url.find("://") + 3)
            key = url if end < 0 else url[:end]
            pool = self.pools.get(key)
            # Not yet looked up, or closed (urllib3 1.x closes the pools it evicts).
            if pool is None or pool.pool is None:
                pool = cast(
                    "urllib3.HTTPConnectionPool",
                    super().get_connection_with_tls_context(request, verify, proxies, cert),
                )
                self.pools[key] = pool
            return pool

        def request_url(
            self, request: requests.PreparedRequest, proxies: Mapping[str, str] | None
        ) -> str:
            """The path and query, straight from the URL when no proxy is used."""
            url = request.url or ""
            if proxies or "#" in url:
                return super().request_url(request, proxies)
            start = url.find("/", url.find("://") + 3)
            return url[start:] if start > 0 else "/"

        def close(self) -> None:
            """Close the pools, those the pool manager has let go of too."""
            pools, self.pools = self.pools, {}
            for pool in pools.values():
                pool.close()
            super().close()

    return LeanAdapter


class RequestsTransport:
    """The default transport: one :class:`requests.Session`, a bounded keep-alive pool, no retries.

    - the pool holds at most ``pool_size`` connections per host and blocks rather than open
      more, so the transport alone never has more than ``pool_size`` requests in flight;
      a connection the server has closed is replaced, not failed on;
    - connect and read timeouts on every request (Mailchimp gives up after 120 s itself,
      MAILCHIMP.md §7);
    - TLS certificates and host names always verified (against ``REQUESTS_CA_BUNDLE`` or
      ``CURL_CA_BUNDLE`` when set, else certifi's bundle); redirects never followed (the
      ``Authorization`` header must not travel to another address); ``~/.netrc`` never read;
      no cookies kept;
    - the environment is read **once, when the transport is built**, not on every request:
      the proxy settings (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, any
      case) and the CA bundle. Whether a host bypasses the proxy is decided once per host.
      A change to the environment afterwards is not seen: build a new client.

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
        # requests is loaded when a transport is built, not by `import auditcase_mailchimp`.
        import urllib.request  # noqa: PLC0415 - already loaded by requests

        import requests  # noqa: PLC0415
        import requests.adapters  # noqa: PLC0415
        import requests.utils  # noqa: PLC0415
        import urllib3  # noqa: PLC0415 - requests' own HTTP library
        from requests.structures import CaseInsensitiveDict  # noqa: PLC0415

        self._pool_size = pool_size
        self._connect_timeout = float(connect_timeout)
        self._read_timeout = float(read_timeout)
        # A urllib3 Timeout, so the adapter does not build one per request.
        self._timeout = urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout)
        # The environment, read once: proxies (``no`` holds NO_PROXY) and the CA bundle.
        self._proxies = {scheme: url for scheme, url in urllib.request.getproxies().items() if url}
        told = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        #: A CA bundle's path, or True for certifi's: never False.
        self._verify: str | bool = told or True
        session = requests.Session()
        session.trust_env = False  # no scan of the environment (or ~/.netrc) per request
        session.verify = self._verify
        session.proxies = {}
        session.max_redirects = 0
        #: Sent unless the request has its own (HTTP/1.1 keeps connections alive by itself).
        self._default_headers = (
            ("User-Agent", user_agent),
            ("Accept-Encoding", requests.utils.DEFAULT_ACCEPT_ENCODING),
            ("Accept", "*/*"),
        )
        session.headers = CaseInsensitiveDict(dict(self._default_headers))
        adapter = _adapter_class()(
            pool_connections=_ORIGINS, pool_maxsize=pool_size, pool_block=True, max_retries=0
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        self._session = session
        self._adapter = adapter
        self._prepared = requests.PreparedRequest
        #: Per origin (``scheme://host:port``): the proxies to send through, ``{}`` for none.
        self._routes: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    @property
    def verifies_tls(self) -> bool:
        """Always ``True``: certificates and host names are verified, whatever the settings."""
        return self._verify is not False and self._session.verify is not False

    def __repr__(self) -> str:
        """Show the pool size and timeouts."""
        return (
            f"RequestsTransport(pool_size={self._pool_size}, "
            f"connect_timeout={self._connect_timeout}, read_timeout={self._read_timeout})"
        )

    def _route(self, request: Request) -> dict[str, str]:
        """The proxies for the request's origin, decided on its first request."""
        url = request.url
        start = url.find("://") + 3
        end = url.find("/", start)
        origin = url[:end] if start > 2 and end > 0 else None  # noqa: PLR2004 - not found is -1 + 3
        if origin is not None:
            route = self._routes.get(origin)
            if route is not None:
                return route
        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigurationError(f"{request.method}: the URL is malformed") from None
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigurationError(
                f"{request.method} {parts.path}: the request cannot be sent (not an http(s) URL)"
            )
        proxy = self._proxies.get(parts.scheme) or self._proxies.get("all")
        if proxy and (
            _is_loopback(parts.hostname)  # it would carry the key off this machine, maybe in clear
            or _bypasses(parts.hostname, port, self._proxies.get("no", ""))
        ):
            proxy = None
        route = {parts.scheme: proxy} if proxy else {}
        if origin is not None:
            with self._lock:
                self._routes[origin] = route
        return route

    def _prepare(self, request: Request) -> requests.PreparedRequest:
        """A prepared request built directly: no cookie, hook or settings merging."""
        prepared = self._prepared()
        prepared.method = request.method
        url = request.url
        if url.isascii() and url.isprintable() and " " not in url:
            prepared.url = url
        else:  # let requests quote and encode it
            prepared.prepare_url(url, None)
        headers = {name: value for name, value in request.headers if name.lower() not in _OURS}
        names = {name.lower() for name in headers}
        headers.update(
            (name, value) for name, value in self._default_headers if name.lower() not in names
        )
        body = request.body
        if body is not None:
            headers["Content-Length"] = str(len(body))
        elif request.method not in {"GET", "HEAD"}:
            headers["Content-Length"] = "0"
        prepared.headers = headers  # type: ignore[assignment]  # urllib3 takes any mapping
        prepared.body = body
        return prepared

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
            ConfigurationError: The URL, a header or the proxy setting cannot be used.
        """
        proxies = self._route(request)
        try:
            answer = self._adapter.send(
                self._prepare(request),
                stream=True,
                timeout=self._timeout,  # type: ignore[arg-type]  # a urllib3 Timeout, as documented
                verify=self._verify,
                cert=None,
                proxies=proxies,
            )
            body = _read_whole(answer)
        except Exception as exc:
            mapped = _mapped(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        return Response(
            status=answer.status_code, headers=tuple(answer.raw.headers.items()), body=body
        )

    def close(self) -> None:
        """Close the session and its connections; requests in flight finish on theirs."""
        self._session.close()


def _read_whole(answer: requests.Response) -> bytes:
    """The body of an answer sent with ``stream=True``, read in one piece.

    Not in ``requests``' pieces of 10 KB: each piece takes the global lock back and may wait up
    to 5 ms for it while another thread runs (a batch answer of 1 MB is a hundred pieces).
    Read whole, the connection goes back to the pool. A failure while the body comes is raised
    as ``requests`` raises it, with ``urllib3``'s as its cause.
    """
    import requests  # noqa: PLC0415 - loaded since the transport was built
    import urllib3  # noqa: PLC0415 - as above

    failures = urllib3.exceptions
    try:
        body: bytes = answer.raw.read(decode_content=True)
    except failures.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(exc) from exc
    except failures.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    except failures.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except failures.HTTPError as exc:  # the connection dropped, the body cut short, …
        raise requests.exceptions.ConnectionError(exc) from exc
    return body


def _mapped(exc: Exception, request: Request) -> Exception | None:  # noqa: PLR0911 - one return per kind
    """The library's exception for a failure to get an answer (STYLE.md: map at the boundary).

    ``None`` for an exception that is not ``requests``' (a bug: it goes up as it is).
    """
    import requests  # noqa: PLC0415 - loaded since the transport was built

    try:
        where = f"{request.method} {urlsplit(request.url).path}"
    except ValueError:
        where = request.method
    errors = requests.exceptions
    if isinstance(exc, errors.ConnectTimeout):
        return NetworkTimeoutError(f"{where}: no connection within the timeout")
    if isinstance(exc, errors.ReadTimeout):
        return NetworkTimeoutError(f"{where}: no answer within the read timeout")
    if isinstance(exc, errors.SSLError):
        return NetworkError(f"{where}: TLS failed (certificate not verified?)", retryable=False)
    if isinstance(exc, errors.InvalidProxyURL):
        return ConfigurationError(f"{where}: the proxy URL in the environment is malformed")
    if isinstance(
        exc, errors.ConnectionError | errors.ChunkedEncodingError | errors.ContentDecodingError
    ):
        return NetworkError(f"{where}: connection failed or dropped")
    if isinstance(
        exc,
        errors.InvalidURL
        | errors.MissingSchema
        | errors.InvalidSchema
        | errors.InvalidHeader
        | errors.URLRequired
        | ValueError,
    ):
        return ConfigurationError(f"{where}: the request cannot be sent")
    if isinstance(exc, errors.RequestException):
        return NetworkError(f"{where}: {type(exc).__name__}", retryable=False)
    return None
