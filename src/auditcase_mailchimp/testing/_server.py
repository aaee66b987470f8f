"""The fake Mailchimp server: a real threaded HTTP server on 127.0.0.1, audiences in memory.

See :class:`FakeMailchimp`. The rules of the audiences are in ``_audience.py``, the operations
served in ``_routes.py`` (its route table), ``/batches`` in ``_batches.py``. Requests are
validated against the request schemas of Mailchimp's spec shipped as ``request_schemas*.json``
(``_schema.py``), and refused in Mailchimp's "Invalid Resource" shape when they do not fit.
Every refusal is a problem document, never a traceback or an HTML page (MAILCHIMP.md §6.1).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Self
from urllib.parse import parse_qs, unquote, urlsplit

from ._audience import FakeAudience
from ._batches import FakeBatches
from ._problems import Problem, invalid_resource, not_found
from ._routes import NO_BODY, Call, match, refuse_unhonoured, shaped, spec_template
from ._schema import compiled_served_checks, query_problems, served_schemas
from ._wire import (
    OVERRIDABLE,
    TRIGGERED_ERRORS,
    Fault,
    FaultKind,
    Incoming,
    LoggedRequest,
    Reply,
    fault_reply,
    json_reply,
    problem_reply,
    triggered,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_LIST_ID",
    "TRIGGERED_ERRORS",
    "FakeMailchimp",
    "Fault",
    "FaultKind",
    "LoggedRequest",
]

#: The key the fake accepts unless told otherwise (shaped like a real one, data centre ``us6``).
DEFAULT_API_KEY: Final = "0123456789abcdef0123456789abcdef-us6"
#: The audience the fake holds unless told otherwise.
DEFAULT_LIST_ID: Final = "a1b2c3d4e5"


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # joined on close, after their connections are shut down
    block_on_close = True
    allow_reuse_address = True
    fake: FakeMailchimp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeMailchimp"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._opened(self.connection)  # noqa: SLF001 - the fake's own handler

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._closed(self.connection)  # noqa: SLF001

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        """Silence the standard library's request log; the fake keeps its own."""

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.server.fake._serve(self.command, self.path, headers, body)  # noqa: SLF001
        if reply is None:  # a dropped connection
            self.close_connection = True
            return
        phrase = HTTPStatus(reply.status).phrase
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            f"Content-Length: {len(reply.body)}",
            f"Date: {self.date_time_string()}",
            *(f"{name}: {value}" for name, value in reply.headers),
            "Connection: close" if self.close_connection else "Connection: keep-alive",
        ]
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body
        try:
            self.wfile.write(data)
        except OSError:  # the client gave up (a read timeout): nothing to do
            self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle  # noqa: N815 - stdlib's names


class FakeMailchimp:
    """A fake Mailchimp Marketing API on 127.0.0.1, for tests, demos and benchmarks.

    A real threaded HTTP server (``http.server.ThreadingHTTPServer``) that keeps audiences in
    memory and implements every endpoint the client uses, behaving as MAILCHIMP.md documents:
    HTTP Basic (any user name, the key as password) and Bearer authentication, problem
    documents with ``X-Request-Id``, subscriber hashes, statuses and their transitions, tags,
    merge fields, batch subscribe and paging. Requests that do not fit the spec's request
    schemas are refused as Mailchimp would ("Invalid Resource", 400, ``errors``).

    Use it as a context manager (or :meth:`start` / :meth:`stop`)::

        with FakeMailchimp() as fake:
            client = MailchimpClient(ApiKey(fake.api_key), base_url=fake.url)

    Args:
        api_key: The key accepted as Basic password and as Bearer token.
        list_ids: The audiences that exist (empty at first).
        access_tokens: More secrets accepted the same way (OAuth tokens).
        host: The address to listen on.
        port: The port; 0 picks a free one (see :attr:`url`).
        latency: Seconds added to every answer.
        member_latency: Seconds added per member named in a request (each member of a
            batch subscribe; one for a request about one member).
        connection_limit: Requests in flight at once before the next gets 429 "You have
            exceeded the limit of 10 simultaneous connections." (``None``: no limit).
        fault_rate: The fraction of requests that get a random fault (429 with and without
            ``Retry-After``, 500, 503, a dropped connection), drawn from ``seed``.
        seed: Seeds the random faults.
        log_requests: Keep :attr:`requests` (turn off for very long runs).
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        list_ids: Iterable[str] = (DEFAULT_LIST_ID,),
        access_tokens: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        member_latency: float = 0.0,
        connection_limit: int | None = 10,
        fault_rate: float = 0.0,
        seed: int = 0,
        log_requests: bool = True,
    ) -> None:
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {fault_rate!r}")
        self._api_key = api_key
        self._secrets = frozenset({api_key, *access_tokens})
        self._host = host
        self._port = port
        self.latency = latency
        self.member_latency = member_latency
        self.connection_limit = connection_limit
        self.fault_rate = fault_rate
        self.log_requests = log_requests
        self._lock = threading.RLock()
        self._audiences = {lid: FakeAudience(lid, self._lock) for lid in list_ids}
        self._rng = random.Random(seed)  # noqa: S311 - faults, not secrets
        self._faults: list[Fault] = []
        self._log: list[LoggedRequest] = []
        self._state = threading.Condition()
        self._in_flight = 0
        self._max_in_flight = 0
        self._gate = threading.Event()
        self._gate.set()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._batches = FakeBatches(
            self._run_operation, self._batch_delay, self._stopping, self._origin
        )

    def __repr__(self) -> str:
        """Show the address and the audiences, never the key."""
        where = self.url if self._server is not None else "not started"
        return f"FakeMailchimp({where}, audiences={sorted(self._audiences)})"

    # --- life cycle ------------------------------------------------------------------------

    def start(self) -> Self:
        """Start serving in a background thread.

        Returns:
            The fake itself.
        """
        if self._server is not None:
            raise RuntimeError("the fake is already running")
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        with self._lock:
            for audience in self._audiences.values():
                audience.links_base = self.url
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="fake-mailchimp",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end slow answers, close every connection and join the threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        self._gate.set()
        server.shutdown()
        with self._state:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        thread.join()
        self._batches.stop()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        """Start, for a ``with`` block."""
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        """Stop."""
        self.stop()

    def _opened(self, connection: socket.socket) -> None:
        with self._state:
            self._connections.add(connection)

    def _closed(self, connection: socket.socket) -> None:
        with self._state:
            self._connections.discard(connection)

    # --- what tests look at ----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API address, e.g. ``http://127.0.0.1:40123/3.0``."""
        if self._server is None:
            raise RuntimeError("the fake is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/3.0"

    @property
    def batches(self) -> FakeBatches:
        """The ``/batches`` of this fake: ``hold()``, ``release()`` and ``wait()`` for tests."""
        return self._batches

    @property
    def api_key(self) -> str:
        """The key the fake accepts."""
        return self._api_key

    @property
    def list_id(self) -> str:
        """The first audience's id."""
        return next(iter(self._audiences))

    def audience(self, list_id: str | None = None) -> FakeAudience:
        """An audience, for assertions and for acting as a person in Mailchimp would.

        Args:
            list_id: The audience id; the first audience when ``None``.
        """
        return self._audiences[self.list_id if list_id is None else list_id]

    def add_audience(self, list_id: str, name: str = "AuditCase") -> FakeAudience:
        """Create another (empty) audience."""
        with self._lock:
            audience = self._audiences[list_id] = FakeAudience(list_id, self._lock, name)
            if self._server is not None:
                audience.links_base = self.url
            return audience

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received so far, in order of arrival."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget the logged requests."""
        with self._lock:
            self._log.clear()

    @property
    def in_flight(self) -> int:
        """Requests being handled now."""
        with self._state:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests seen in flight at once (those refused by the limit included)."""
        with self._state:
            return self._max_in_flight

    def reset_max_in_flight(self) -> None:
        """Start counting :attr:`max_in_flight` afresh."""
        with self._state:
            self._max_in_flight = self._in_flight

    def inject(self, *faults: Fault) -> None:
        """Queue faults: each applies once, to the next request it matches, in order."""
        with self._lock:
            self._faults.extend(faults)

    @property
    def pending_faults(self) -> list[Fault]:
        """Injected faults not used yet."""
        with self._lock:
            return list(self._faults)

    def hold(self) -> None:
        """Keep admitted requests (within the connection limit) waiting until :meth:`release`."""
        self._gate.clear()

    def release(self) -> None:
        """Let held requests go on."""
        self._gate.set()

    def wait_for_in_flight(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until at least ``count`` requests are in flight.

        Returns:
            ``False`` when the timeout passed first.
        """
        with self._state:
            return self._state.wait_for(lambda: self._in_flight >= count, timeout)

    # --- serving ---------------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.matches(method, path):
                    return self._faults.pop(index)
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(
                    [
                        Fault.rate_limited(),
                        Fault.rate_limited(retry_after="1"),
                        Fault.rate_limited(with_body=False),
                        Fault.server_error(500),
                        Fault.server_error(503),
                        Fault.dropped_connection(),
                    ]
                )
        return None

    def _serve(
        self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes
    ) -> Reply | None:
        """Answer one request; ``headers`` have lower-case names. ``None``: drop the connection."""
        split = urlsplit(raw_path)
        incoming = Incoming(
            method=method,
            path=split.path,
            query={k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
            headers=headers,
            request_id=str(uuid.uuid4()),
        )
        if raw_body:
            try:
                incoming.body = json.loads(raw_body)
            except ValueError as exc:
                incoming.body = raw_body.decode("utf-8", errors="replace")
                incoming.parse_error = str(exc)
        with self._state:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            over = self.connection_limit is not None and self._in_flight > self.connection_limit
            self._state.notify_all()
        fault: Fault | None = None
        try:
            if over:
                reply: Reply | None = problem_reply(
                    Problem(
                        429,
                        "Too Many Requests",
                        "You have exceeded the limit of 10 simultaneous connections.",
                    ),
                    incoming.request_id,
                )
            else:
                reply, fault = self._admitted(incoming)
        except Exception:  # noqa: BLE001 - a bug in the fake must still answer
            reply = problem_reply(
                Problem(500, "Internal Server Error", "The fake failed."), incoming.request_id
            )
        finally:
            with self._state:
                self._in_flight -= 1
                self._state.notify_all()
        if self.log_requests:
            entry = LoggedRequest(
                method=method,
                path=incoming.path,
                query=incoming.query,
                body=incoming.body,
                timestamp=incoming.arrived,
                status=0 if reply is None else reply.status,
                request_id=incoming.request_id,
                fault="connection_limit" if over else (fault.kind.value if fault else ""),
            )
            with self._lock:
                self._log.append(entry)
        return reply

    def _admitted(self, incoming: Incoming) -> tuple[Reply | None, Fault | None]:
        self._gate.wait()
        fault = self._take_fault(incoming.method, incoming.path)
        if fault is not None and fault.kind is FaultKind.SLOW:
            self._stopping.wait(fault.seconds)
        members = 0
        body = incoming.body
        if isinstance(body, dict) and isinstance(body.get("members"), list):
            members = len(body["members"])
        elif incoming.path.count("/") >= 5:  # noqa: PLR2004 - /3.0/lists/{id}/members/{hash}…
            members = 1
        delay = self.latency + self.member_latency * members
        if fault is not None and fault.kind is not FaultKind.SLOW and not fault.after_processing:
            if delay > 0:
                self._stopping.wait(delay)
            return self._faulted(fault, incoming.request_id), fault
        # The latency is the whole answer's time, the fake's own work included: the work is
        # done first and the rest waited out, so ten answers due at once do not queue for this
        # process's interpreter on top of their latency (the benchmark's latency model).
        started = time.monotonic()
        try:
            reply = self._respond(incoming)
        except Problem as problem:
            reply = problem_reply(problem, incoming.request_id)
        remaining = delay - (time.monotonic() - started)
        if remaining > 0:
            self._stopping.wait(remaining)
        if fault is not None and fault.after_processing:
            return self._faulted(fault, incoming.request_id), fault
        return reply, fault

    @staticmethod
    def _faulted(fault: Fault, request_id: str) -> Reply | None:
        if fault.kind is FaultKind.DROPPED_CONNECTION:
            return None
        return fault_reply(fault, request_id)

    def _authorised(self, headers: Mapping[str, str]) -> None:
        header = headers.get("authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if not credentials:
            raise Problem(401, "API Key Missing", "Your request did not include an API key.")
        secret = None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            secret = decoded.partition(":")[2]
        elif scheme.lower() == "bearer":
            secret = credentials
        if secret not in self._secrets:
            raise Problem(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )

    def _respond(self, incoming: Incoming) -> Reply:
        """Authenticate, apply the test headers, then route and carry the request out."""
        if incoming.path.startswith("/batch-results/"):
            return self._batch_results(incoming)
        self._authorised(incoming.headers)
        method = incoming.method
        override = incoming.headers.get("x-http-method-override")
        if override is not None:
            if method != "POST" or override.upper() not in OVERRIDABLE:
                raise Problem(
                    422,
                    "Invalid Method Override",
                    "X-HTTP-Method-Override is allowed only on POST requests, naming GET, "
                    "POST, PUT, PATCH or DELETE.",
                )
            method = override.upper()
        trigger = incoming.headers.get("x-trigger-error")
        if trigger is not None:
            raise triggered(trigger)
        return self._dispatch(
            method,
            incoming.path,
            incoming.query,
            incoming.body,
            incoming.request_id,
            parse_error=incoming.parse_error,
        )

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        body: Any,
        request_id: str,
        *,
        parse_error: str = "",
    ) -> Reply:
        """Route, validate against the spec, then carry the request out (HTTP and batches)."""
        if not path.startswith("/3.0/") and path != "/3.0":
            raise not_found()
        relative = "/" + "/".join(unquote(s) for s in path[len("/3.0") :].strip("/").split("/"))
        found = match(relative.rstrip("/") or "/")
        if found is None:
            unserved = spec_template(relative.rstrip("/") or "/", served_schemas()["paths"])
            if unserved is None:
                raise not_found()
            raise Problem(
                501,
                "Not Implemented",
                f"The fake Mailchimp does not serve {method} {unserved}.",
            )
        template, params, routes = found
        route = routes.get(method)
        if route is None:
            allowed = served_schemas()["paths"].get(template, sorted(routes))
            if method in allowed:
                raise Problem(
                    501,
                    "Not Implemented",
                    f"The fake Mailchimp does not serve {method} {template}.",
                    headers={"Allow": ", ".join(m for m in allowed if m in routes)},
                )
            raise Problem(
                405,
                "Method Not Allowed",
                "The requested method and resource are not compatible. See the Allow header "
                "for this resource's available methods.",
                headers={"Allow": ", ".join(sorted(routes))},
            )
        operation = served_schemas()["operations"][route.key]
        errors = query_problems(query, operation["query"])
        check = compiled_served_checks()[route.key]
        if check is not None:
            if parse_error:
                raise Problem(
                    400,
                    "JSON Parse Exception",
                    f"We encountered an unspecified JSON parsing error: {parse_error}",
                )
            check(body, (), errors)
        if errors:
            raise invalid_resource(errors)
        refuse_unhonoured(route, query, operation["query"])
        call = Call(self, params, query, body, request_id)
        with self._lock:
            document = route.handler(call)
            if document is NO_BODY:
                return json_reply(204, NO_BODY, request_id)
            return json_reply(200, shaped(route, document, call), request_id)

    def _run_operation(
        self, method: str, path: str, query: dict[str, str], body_text: str | None
    ) -> tuple[int, str]:
        """Carry out one ``/batches`` operation through the routes: status and answer text."""
        body: Any = None
        parse_error = ""
        if body_text:
            try:
                body = json.loads(body_text)
            except ValueError as exc:
                body, parse_error = body_text, str(exc)
        request_id = str(uuid.uuid4())
        try:
            reply = self._dispatch(
                method, "/3.0" + path, query, body, request_id, parse_error=parse_error
            )
        except Problem as problem:
            reply = problem_reply(problem, request_id)
        return reply.status, reply.body.decode("utf-8")

    def _batch_delay(self, operations: int) -> float:
        return self.latency + self.member_latency * operations

    def _origin(self) -> str:
        return self.url.removesuffix("/3.0")

    def _batch_results(self, incoming: Incoming) -> Reply:
        """The result archive at a batch's ``response_body_url`` (no key, like a signed URL)."""
        name = incoming.path.removeprefix("/batch-results/")
        archive = self.batches.archive(name.removesuffix(".tar.gz"))
        if incoming.method != "GET" or not name.endswith(".tar.gz") or archive is None:
            raise not_found()
        return Reply(200, (("Content-Type", "application/gzip"),), archive)
