"""The transport: one request, one answer, socket and TLS errors mapped (STYLE.md Transport)."""

from __future__ import annotations

import gzip
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from auditcase_mailchimp._credentials import ApiKey
from auditcase_mailchimp._errors import ConfigurationError, NetworkError, NetworkTimeoutError
from auditcase_mailchimp._transport import (
    Request,
    RequestsTransport,
    Response,
    Transport,
    _bypasses,
)
from auditcase_mailchimp.testing import FakeMailchimp, Fault


def _ping(fake: FakeMailchimp, key: str | None = None) -> Request:
    header = ApiKey(key or fake.api_key).authorization()
    return Request(
        method="GET", url=f"{fake.url}/ping", headers=(("Authorization", header),), body=None
    )


@pytest.fixture
def transport() -> Iterator[RequestsTransport]:
    """A transport with a short read timeout."""
    sending = RequestsTransport(pool_size=4, connect_timeout=2.0, read_timeout=2.0)
    yield sending
    sending.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_requests_transport_is_a_transport() -> None:
    """RequestsTransport satisfies the Transport protocol (STYLE.md: transport as a Protocol)."""
    sending = RequestsTransport()
    try:
        assert isinstance(sending, Transport)
    finally:
        sending.close()


def test_send_returns_status_headers_and_raw_body(
    fake_mailchimp: FakeMailchimp, transport: RequestsTransport
) -> None:
    """The answer comes back whole and unparsed (STYLE.md: the transport parses no JSON)."""
    response = transport.send(_ping(fake_mailchimp))
    assert response.status == 200
    assert json.loads(response.body) == {"health_status": "Everything's Chimpy!"}
    assert response.header("content-type") == "application/json; charset=utf-8"
    assert response.header("X-REQUEST-ID")


def test_error_status_is_an_answer_not_an_exception(
    fake_mailchimp: FakeMailchimp, transport: RequestsTransport
) -> None:
    """A 401 is a Response; the client, not the transport, reads it (STYLE.md Transport)."""
    response = transport.send(_ping(fake_mailchimp, key="ffff-us6"))
    assert response.status == 401
    assert response.header("Content-Type") == "application/problem+json; charset=utf-8"


def test_transport_does_not_retry(
    fake_mailchimp: FakeMailchimp, transport: RequestsTransport
) -> None:
    """One send is one request, even for a 500 (STYLE.md: the transport does not retry)."""
    fake_mailchimp.inject(Fault.server_error(500))
    assert transport.send(_ping(fake_mailchimp)).status == 500
    assert len(fake_mailchimp.requests) == 1


def test_refused_connection_is_a_retryable_network_error(transport: RequestsTransport) -> None:
    """Connection refused is our NetworkError, requests' error kept (STYLE.md: map at boundary)."""
    request = Request(method="GET", url=f"http://127.0.0.1:{_free_port()}/3.0/ping")
    with pytest.raises(NetworkError) as caught:
        transport.send(request)
    assert caught.value.retryable
    assert caught.value.category == "network"
    assert "GET /3.0/ping" in str(caught.value)
    assert isinstance(caught.value.__cause__, requests.exceptions.ConnectionError)
    assert "Connection refused" in str(caught.value.__cause__)


def test_dropped_connection_is_a_network_error(
    fake_mailchimp: FakeMailchimp, transport: RequestsTransport
) -> None:
    """A connection closed without an answer is a NetworkError (§7: connection errors)."""
    fake_mailchimp.inject(Fault.dropped_connection())
    with pytest.raises(NetworkError):
        transport.send(_ping(fake_mailchimp))


def test_slow_answer_beyond_the_read_timeout_is_a_timeout(fake_mailchimp: FakeMailchimp) -> None:
    """An answer later than the read timeout raises NetworkTimeoutError (§7 timeouts)."""
    fake_mailchimp.inject(Fault.slow(30.0))
    sending = RequestsTransport(read_timeout=0.2)
    try:
        with pytest.raises(NetworkTimeoutError, match="read timeout") as caught:
            sending.send(_ping(fake_mailchimp))
    finally:
        sending.close()
    assert caught.value.retryable


def test_pool_never_holds_more_connections_than_its_size(fake_mailchimp: FakeMailchimp) -> None:
    """pool_block: eight threads on a pool of 2 never have 3 requests in flight (§7 limit)."""
    sending = RequestsTransport(pool_size=2)
    fake_mailchimp.hold()
    answers: list[Response] = []
    threads = [
        threading.Thread(target=lambda: answers.append(sending.send(_ping(fake_mailchimp))))
        for _ in range(8)
    ]
    try:
        for thread in threads:
            thread.start()
        assert fake_mailchimp.wait_for_in_flight(2)
        assert fake_mailchimp.in_flight == 2
    finally:
        fake_mailchimp.release()
        for thread in threads:
            thread.join()
        sending.close()
    assert [a.status for a in answers] == [200] * 8
    assert fake_mailchimp.max_in_flight == 2


class _Redirecting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://127.0.0.2:9/steal")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """Quiet."""


def test_redirects_are_not_followed(transport: RequestsTransport) -> None:
    """A redirect comes back as an answer: the key never travels elsewhere (§ decided: TLS)."""
    server = HTTPServer(("127.0.0.1", 0), _Redirecting)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        port = server.server_address[1]
        response = transport.send(Request(method="GET", url=f"http://127.0.0.1:{port}/3.0/ping"))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert response.status == 302
    assert response.header("Location") == "http://127.0.0.2:9/steal"


def test_netrc_cannot_replace_the_authorization_header(
    fake_mailchimp: FakeMailchimp,
    transport: RequestsTransport,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """~/.netrc is never read: our Authorization header is what is sent (issue 3 security)."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-key\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert transport.send(_ping(fake_mailchimp)).status == 200


def test_tls_verification_is_on() -> None:
    """TLS certificates are always verified (§ decided: TLS verification always on)."""
    sending = RequestsTransport()
    try:
        assert sending.verifies_tls
    finally:
        sending.close()


def test_malformed_url_is_a_configuration_error(transport: RequestsTransport) -> None:
    """A URL that cannot be sent is our ConfigurationError, not the standard library's error."""
    with pytest.raises(ConfigurationError):
        transport.send(Request(method="GET", url="http://[::1/3.0/ping"))


@pytest.mark.parametrize(
    "options",
    [
        {"pool_size": 0},
        {"pool_size": True},
        {"pool_size": 2.5},
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"read_timeout": "5"},
    ],
)
def test_bad_transport_settings_are_refused(options: dict[str, object]) -> None:
    """Pool size and timeouts are checked when the transport is built (issue 3 item 1)."""
    with pytest.raises(ConfigurationError):
        RequestsTransport(**options)  # type: ignore[arg-type]


def test_request_repr_redacts_authorization_and_hides_the_body() -> None:
    """The Authorization header and the body never show in a repr (issue 3 item 6)."""
    key = "0123456789abcdef0123456789abcdef-us6"
    request = Request(
        method="POST",
        url="https://us6.api.mailchimp.com/3.0/lists/x",
        headers=(("Authorization", str(ApiKey(key).authorization())), ("Accept", "x")),
        body=b'{"email_address": "jan@example.nl"}',
    )
    shown = repr(request)
    assert "<redacted>" in shown
    assert "Basic" not in shown
    assert "jan@example.nl" not in shown
    assert "<35 bytes>" in shown
    assert request.header("authorization") == request.headers[0][1]


def test_response_repr_shows_status_and_size_only() -> None:
    """A response's repr holds no body content (bodies hold addresses; issue 3 item 6)."""
    response = Response(
        status=200, headers=(("Content-Type", "application/json"),), body=b'{"a@b.nl": 1}'
    )
    assert repr(response) == (
        "Response(status=200, content_type='application/json', body=<13 bytes>)"
    )
    assert response.header("missing") is None


# --- proxies: read once, when the transport is built (issue 12.5) --------------------------------


class _Proxy(BaseHTTPRequestHandler):
    """A plain HTTP proxy that answers itself, recording the request line and headers."""

    seen: list[tuple[str, str | None]] = []  # noqa: RUF012 - shared with the test on purpose

    def do_GET(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Proxy-Authorization")))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_CONNECT(self) -> None:
        type(self).seen.append((f"CONNECT {self.path}", self.headers.get("Proxy-Authorization")))
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """Quiet."""


@pytest.fixture
def proxy() -> Iterator[str]:
    """A proxy on 127.0.0.1; yields its URL with credentials."""
    _Proxy.seen = []
    server = HTTPServer(("127.0.0.1", 0), _Proxy)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://user:secret@127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_the_proxy_is_read_when_the_transport_is_built(
    proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12.5: HTTP_PROXY at construction is used, with the absolute URL and credentials."""
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    sending = RequestsTransport(pool_size=1)
    monkeypatch.delenv("HTTP_PROXY")  # later changes are not read
    try:
        answer = sending.send(Request(method="GET", url="http://example.invalid/3.0/ping"))
    finally:
        sending.close()
    assert answer.status == 204
    assert _Proxy.seen == [("http://example.invalid/3.0/ping", "Basic dXNlcjpzZWNyZXQ=")]


def test_https_goes_through_a_connect_tunnel(proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12.5: HTTPS through a proxy asks for a CONNECT tunnel; a refusal is a NetworkError."""
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    sending = RequestsTransport(pool_size=1)
    try:
        with pytest.raises(NetworkError):
            sending.send(Request(method="GET", url="https://us6.api.example.invalid/3.0/ping"))
    finally:
        sending.close()
    assert _Proxy.seen == [("CONNECT us6.api.example.invalid:443", "Basic dXNlcjpzZWNyZXQ=")]


class _KeepAlive(BaseHTTPRequestHandler):
    """Answers 204 over HTTP/1.1 keep-alive, recording the client's port per request."""

    protocol_version = "HTTP/1.1"
    ports: list[int] = []  # noqa: RUF012 - shared with the test on purpose

    def do_GET(self) -> None:
        type(self).ports.append(self.client_address[1])
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """Quiet."""


def test_connections_are_kept_alive() -> None:
    """Issue 12.5: one connection serves request after request (no new connection each time)."""
    _KeepAlive.ports = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    sending = RequestsTransport(pool_size=1)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/3.0/ping"
        for _ in range(5):
            assert sending.send(Request(method="GET", url=url)).status == 204
    finally:
        sending.close()
        server.shutdown()
        server.server_close()
        thread.join()
    assert len(_KeepAlive.ports) == 5
    assert len(set(_KeepAlive.ports)) == 1


def test_more_hosts_than_pools_kept_are_all_served() -> None:
    """More hosts than pools kept at once: each is served (urllib3 1.x closes the evicted)."""
    _KeepAlive.ports = []
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _KeepAlive) for _ in range(6)]
    threads = [
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        for server in servers
    ]
    for thread in threads:
        thread.start()
    sending = RequestsTransport(pool_size=1)
    try:
        urls = [f"http://127.0.0.1:{server.server_address[1]}/3.0/ping" for server in servers]
        statuses = [sending.send(Request(method="GET", url=url)).status for url in urls * 3]
    finally:
        sending.close()
        for server in servers:
            server.shutdown()
            server.server_close()
        for thread in threads:
            thread.join()
    assert statuses == [204] * 18


class _CloseAfterAnswer(BaseHTTPRequestHandler):
    """Answers over HTTP/1.1 without announcing a close, then closes: a stale keep-alive."""

    protocol_version = "HTTP/1.1"
    ports: list[int] = []  # noqa: RUF012 - shared with the test on purpose

    def do_GET(self) -> None:
        type(self).ports.append(self.client_address[1])
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """Quiet."""


class _SignallingServer(ThreadingHTTPServer):
    """Sets ``closed`` each time it has closed a connection."""

    closed = threading.Event()

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        type(self).closed.set()


def test_a_connection_the_server_closed_is_not_reused() -> None:
    """Issue 12.5: an idle connection the server closed is replaced, not failed on."""
    _CloseAfterAnswer.ports = []
    _SignallingServer.closed = threading.Event()
    server = _SignallingServer(("127.0.0.1", 0), _CloseAfterAnswer)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    sending = RequestsTransport(pool_size=1)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/3.0/ping"
        first = sending.send(Request(method="GET", url=url))
        assert _SignallingServer.closed.wait(10)  # the server has closed that connection
        second = sending.send(Request(method="GET", url=url))
    finally:
        sending.close()
        server.shutdown()
        server.server_close()
        thread.join()
    assert (first.status, second.status) == (204, 204)
    assert len(set(_CloseAfterAnswer.ports)) == 2


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (made with the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments
        [  # noqa: S607 - openssl from PATH, a test tool
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class _CountingTLSServer(HTTPServer):
    """Counts the connections it is asked for (the TLS handshake happens on accept)."""

    attempts = 0

    def get_request(self) -> tuple[Any, Any]:
        type(self).attempts += 1
        return super().get_request()


@pytest.fixture
def tls_server(self_signed: tuple[Path, Path]) -> Iterator[str]:
    """An HTTPS server on localhost with the self-signed certificate; yields its URL."""
    cert, key = self_signed
    _CountingTLSServer.attempts = 0
    server = _CountingTLSServer(("127.0.0.1", 0), _KeepAlive)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/3.0/ping"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _clear_ca_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def test_a_certificate_that_does_not_verify_is_refused_and_not_retried(
    tls_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS is always verified: a self-signed certificate fails once, not worth repeating."""
    _clear_ca_env(monkeypatch)
    _clear_proxy_env(monkeypatch)
    sending = RequestsTransport(pool_size=1, connect_timeout=5.0)
    try:
        with pytest.raises(NetworkError, match="TLS failed") as caught:
            sending.send(Request(method="GET", url=tls_server))
    finally:
        sending.close()
    assert not caught.value.retryable
    assert isinstance(caught.value.__cause__, requests.exceptions.SSLError)
    assert _CountingTLSServer.attempts == 1


def test_the_ca_bundle_is_read_when_the_transport_is_built(
    tls_server: str, self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12.5: REQUESTS_CA_BUNDLE at construction is trusted; set later, it is not read."""
    _clear_ca_env(monkeypatch)
    _clear_proxy_env(monkeypatch)
    cert, _ = self_signed
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    trusting = RequestsTransport(pool_size=1, connect_timeout=5.0)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    try:
        assert trusting.send(Request(method="GET", url=tls_server)).status == 204
    finally:
        trusting.close()
    untrusting = RequestsTransport(pool_size=1, connect_timeout=5.0)
    monkeypatch.setenv("CURL_CA_BUNDLE", str(cert))
    try:
        with pytest.raises(NetworkError, match="TLS failed"):
            untrusting.send(Request(method="GET", url=tls_server))
    finally:
        untrusting.close()


@pytest.mark.parametrize(
    ("host", "no_proxy", "bypassed"),
    [
        ("10.1.2.3", "10.1.2.3", True),
        ("10.1.2.3", "10.0.0.0/8", True),
        ("api.example.nl", "*", True),
        ("us6.api.mailchimp.com", "example.nl, .mailchimp.com", True),
        ("us6.api.mailchimp.com", "us6.api.mailchimp.com:443", True),
        ("10.1.2.3", "10.1.2.4, 192.168.0.0/16", False),
        ("us6.api.mailchimp.com", "example.nl", False),
        ("us6.api.mailchimp.com", "us6.api.mailchimp.com:8443", False),
    ],
)
def test_no_proxy_is_read_as_requests_reads_it(host: str, no_proxy: str, bypassed: bool) -> None:  # noqa: FBT001 - a parameter
    """Issue 12.5: NO_PROXY forms (addresses, CIDR blocks, *, suffixes, host:port)."""
    assert _bypasses(host, 443, no_proxy) is bypassed


def test_this_machine_is_never_reached_through_a_proxy(
    fake_mailchimp: FakeMailchimp, proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Security: with HTTP_PROXY set and no NO_PROXY, the key for 127.0.0.1 stays local."""
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    sending = RequestsTransport(pool_size=1)
    try:
        assert sending.send(_ping(fake_mailchimp)).status == 200  # the fake's answer
    finally:
        sending.close()
    assert _Proxy.seen == []


@pytest.mark.parametrize("no_proxy", ["10.0.0.0/8", "127.0.0.2", "example.nl"])
def test_a_host_not_in_no_proxy_goes_through_the_proxy(
    proxy: str, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    """Issue 12.5: NO_PROXY entries that do not name the host leave the proxy in use."""
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", no_proxy)
    sending = RequestsTransport(pool_size=1)
    try:
        answer = sending.send(Request(method="GET", url="http://api.example.invalid/3.0/ping"))
    finally:
        sending.close()
    assert answer.status == 204  # the proxy's own answer
    assert [path for path, _ in _Proxy.seen] == ["http://api.example.invalid/3.0/ping"]


def test_a_malformed_proxy_url_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy setting that cannot be used is our ConfigurationError, naming the setting."""
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", "http://")
    sending = RequestsTransport(pool_size=1)
    try:
        with pytest.raises(ConfigurationError, match="proxy URL"):
            sending.send(Request(method="GET", url="http://example.invalid/3.0/ping"))
    finally:
        sending.close()


class _Echo(BaseHTTPRequestHandler):
    """Records each request's path, headers and body; answers 204."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, list[tuple[str, str]], bytes]] = []  # noqa: RUF012 - shared on purpose

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        type(self).seen.append((self.path, list(self.headers.items()), self.rfile.read(length)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_DELETE = do_PATCH = _record  # noqa: N815 - the stdlib's names

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """Quiet."""


@pytest.fixture
def echo() -> Iterator[str]:
    """A recording server on 127.0.0.1; yields its URL."""
    _Echo.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_headers_are_merged_by_name_and_the_body_sent_whole(
    echo: str, transport: RequestsTransport
) -> None:
    """The request's headers win over the defaults (one Accept), Content-Length is ours."""
    body = b'{"email_address": "jan@example.nl"}'
    request = Request(
        method="POST",
        url=f"{echo}/3.0/lists/x/members",
        headers=(("accept", "application/json"), ("Content-Length", "999")),
        body=body,
    )
    assert transport.send(request).status == 204
    assert transport.send(Request(method="DELETE", url=f"{echo}/3.0/x")).status == 204
    (path, headers, received), (_, deleted, _) = _Echo.seen
    sent = {name.lower(): value for name, value in headers}
    assert (path, received) == ("/3.0/lists/x/members", body)
    assert [name.lower() for name, _ in headers].count("accept") == 1
    assert sent["accept"] == "application/json"
    assert sent["content-length"] == str(len(body))
    assert sent["user-agent"] == "auditcase-mailchimp"
    assert {name.lower(): value for name, value in deleted}["content-length"] == "0"


def test_a_url_with_unsafe_characters_is_quoted(echo: str, transport: RequestsTransport) -> None:
    """A URL with a space or a non-ASCII letter is quoted as requests quotes it, not refused."""
    assert transport.send(Request(method="GET", url=f"{echo}/3.0/a b/é")).status == 204
    assert _Echo.seen[0][0] == "/3.0/a%20b/%C3%A9"


def test_close_closes_the_kept_connections() -> None:
    """close() releases the keep-alive connections (Transport.close), those of every host."""
    _SignallingServer.closed = threading.Event()
    server = _SignallingServer(("127.0.0.1", 0), _KeepAlive)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    sending = RequestsTransport(pool_size=1)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/3.0/ping"
        assert sending.send(Request(method="GET", url=url)).status == 204
        assert not _SignallingServer.closed.is_set()  # kept alive
        sending.close()
        assert _SignallingServer.closed.wait(10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- the body, read whole (issue 8) -------------------------------------------------------------


class _Bodies(BaseHTTPRequestHandler):
    """Bodies whole, chunked, gzipped, cut short or stalled halfway, over HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    ports: list[int] = []  # noqa: RUF012 - shared with the test on purpose
    release = threading.Event()
    BODY = json.dumps([{"email_address": f"lid{i}@example.nl"} for i in range(9000)]).encode()

    def do_GET(self) -> None:
        type(self).ports.append(self.client_address[1])
        body = self.BODY
        self.send_response(200)
        if self.path == "/chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 70_000):
                part = body[start : start + 70_000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        if self.path == "/gzip":
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in {"/short", "/stall"}:
            self.wfile.write(body[:1000])
            self.wfile.flush()
            if self.path == "/stall":
                type(self).release.wait(30)
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib's name
        """Quiet."""


@pytest.fixture
def bodies() -> Iterator[str]:
    """The base URL of a :class:`_Bodies` server, stopped afterwards."""
    _Bodies.ports = []
    _Bodies.release.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Bodies)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _Bodies.release.set()
    server.shutdown()
    server.server_close()
    thread.join()


def test_bodies_are_read_whole_and_the_connection_kept(bodies: str) -> None:
    """Issue 8: read in one piece, a body arrives whole (chunked, gzipped too), keep-alive kept."""
    sending = RequestsTransport(pool_size=1)
    try:
        got = [
            sending.send(Request(method="GET", url=f"{bodies}{path}")).body
            for path in ("/whole", "/chunked", "/gzip", "/whole")
        ]
    finally:
        sending.close()
    assert got == [_Bodies.BODY] * 4
    assert len(_Bodies.ports) == 4
    assert len(set(_Bodies.ports)) == 1  # one connection served all four


def test_a_body_cut_short_is_a_retryable_network_error(bodies: str) -> None:
    """§7: a connection dropped halfway through the body is a NetworkError, retried."""
    sending = RequestsTransport(pool_size=1)
    try:
        with pytest.raises(NetworkError, match="connection failed or dropped") as caught:
            sending.send(Request(method="GET", url=f"{bodies}/short"))
        assert caught.value.retryable
        assert sending.send(Request(method="GET", url=f"{bodies}/whole")).body == _Bodies.BODY
    finally:
        sending.close()


def test_a_body_stalled_beyond_the_read_timeout_is_a_timeout(bodies: str) -> None:
    """§7: a body that stops coming for longer than the read timeout is a NetworkTimeoutError."""
    sending = RequestsTransport(pool_size=1, read_timeout=0.2)
    try:
        with pytest.raises(NetworkTimeoutError, match="read timeout") as caught:
            sending.send(Request(method="GET", url=f"{bodies}/stall"))
        assert caught.value.retryable
    finally:
        _Bodies.release.set()
        sending.close()
