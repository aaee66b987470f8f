"""Secrets never leak; addresses stay at DEBUG (issue 3 item 6, STYLE.md Logging)."""

from __future__ import annotations

import base64
import logging
import socket
import traceback
from collections.abc import Callable, Iterator

import pytest

from auditcase_mailchimp._client import MailchimpClient, UpsertItem
from auditcase_mailchimp._credentials import ApiKey, OAuthToken
from auditcase_mailchimp._errors import (
    ConfigurationError,
    ErrorCategory,
    MailchimpAPIError,
    MailchimpError,
)
from auditcase_mailchimp._transport import Request, RequestsTransport
from auditcase_mailchimp.testing import FakeMailchimp, Fault

from .conftest import ManualClock, retry_policy

SECRET_KEY = "5ec7e7c0ffee5ec7e7c0ffee5ec7e7c0-us6"  # noqa: S105 - a made-up key to look for
TOKEN = "oauth-5ec7e7-t0ken"  # noqa: S105 - a made-up token to look for
LIST = "a1b2c3d4e5"


def _forms(secret: str) -> list[str]:
    """The secret as it could leak: plain, and inside a Basic header."""
    basic = base64.b64encode(f"auditcase-mailchimp:{secret}".encode()).decode()
    return [secret, secret.split("-", maxsplit=1)[0], basic]


def _assert_absent(text: str, secret: str) -> None:
    for form in _forms(secret):
        assert form not in text


def _traceback_of(call: Callable[[], object]) -> str:
    try:
        call()
    except Exception as error:  # noqa: BLE001 - any exception's traceback is checked
        return "".join(traceback.format_exception(error))
    pytest.fail("no exception")


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    """A fake accepting the secret key and token."""
    with FakeMailchimp(api_key=SECRET_KEY, access_tokens=[TOKEN]) as server:
        yield server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_reprs_never_show_the_secret(fake: FakeMailchimp) -> None:
    """Repr of credentials, client, transport, request and fake hide the key (item 6)."""
    key, token = ApiKey(SECRET_KEY), OAuthToken(TOKEN, fake.url)
    transport = RequestsTransport()
    with MailchimpClient(key, base_url=fake.url) as client, MailchimpClient(token) as bearer:
        request = client._request("GET", "/ping", None, None)
        shown = [
            repr(key),
            str(key),
            repr(token),
            str(token),
            repr(client),
            repr(bearer),
            repr(transport),
            repr(request),
            repr(fake),
            repr(key.authorization()),
            repr(dict(request.headers)),
            repr(bearer._request("GET", "/ping", None, None)),
        ]
    transport.close()
    for text in shown:
        _assert_absent(text, SECRET_KEY)
        _assert_absent(text, TOKEN)
    assert "Authorization" in repr(request)
    assert "<redacted>" in repr(request)


def test_failure_tracebacks_never_show_the_secret(clock: ManualClock) -> None:
    """Formatted tracebacks of failures hold no key, plain or Base64 (item 6)."""
    policy = retry_policy(clock, attempts=2)
    nowhere = f"http://127.0.0.1:{_free_port()}/3.0"

    def ping(credentials: ApiKey | OAuthToken, base_url: str | None = None) -> None:
        with MailchimpClient(credentials, base_url=base_url, retry=policy) as client:
            client.ping()

    with FakeMailchimp() as other:  # knows another key: ours is refused
        texts = [
            _traceback_of(lambda: ping(ApiKey(SECRET_KEY), other.url)),
            _traceback_of(lambda: ping(ApiKey(SECRET_KEY), nowhere)),
            _traceback_of(lambda: ping(OAuthToken(TOKEN, other.url))),
            _traceback_of(lambda: ApiKey(SECRET_KEY.replace("-us6", "-us6.evil.example/"))),
            _traceback_of(lambda: ApiKey(SECRET_KEY.replace("-", ""))),
            _traceback_of(lambda: OAuthToken(TOKEN + " x", other.url)),
        ]
    assert "AuthenticationError" in texts[0]
    assert "NetworkError" in texts[1]
    assert "ConfigurationError" in texts[3]
    for text in texts:
        _assert_absent(text, SECRET_KEY)
        _assert_absent(text, TOKEN)


def test_logs_hold_no_secret_and_no_address_above_debug(
    fake: FakeMailchimp, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    """No secret at any level; no e-mail address above DEBUG (STYLE.md Logging, item 6)."""
    fake.audience().add("weg@example.nl", status="unsubscribed")
    fake.inject(Fault.rate_limited(), Fault.server_error(500), Fault.dropped_connection())
    caplog.set_level(logging.DEBUG)
    with MailchimpClient(ApiKey(SECRET_KEY), base_url=fake.url, retry=retry_policy(clock)) as c:
        c.batch_upsert(
            LIST,
            [
                UpsertItem(email_address="jan@example.nl", merge_fields={"FNAME": "Jan"}),
                UpsertItem(email_address="weg@example.nl", send_status=True),
                UpsertItem(email_address="test@example.nl"),
            ],
        )
        c.read_members(LIST)
        c.set_tags(LIST, "nobody@example.nl", add={"x"})
        c.change_address(LIST, "jan@example.nl", "weg@example.nl")
        c.archive(LIST, "jan@example.nl")
    with MailchimpClient(OAuthToken(TOKEN, fake.url), retry=retry_policy(clock)) as bearer:
        bearer.ping()
    records = [r for r in caplog.records if r.name.startswith("auditcase_mailchimp")]
    assert any(r.levelno >= logging.WARNING for r in records)  # the retries were logged
    for record in records:
        message = record.getMessage()
        _assert_absent(message, SECRET_KEY)
        _assert_absent(message, TOKEN)
        if record.levelno > logging.DEBUG:
            assert "@" not in message, message


def test_api_error_message_redacts_addresses_but_keeps_the_detail() -> None:
    """str() of an error is safe to log; the detail for the overview is whole (R6.2, item 6)."""
    error = MailchimpAPIError(
        status=400,
        title="Member In Compliance State",
        detail="jan@example.nl is in a compliance state",
        category=ErrorCategory.COMPLIANCE_STATE,
        request_id="r-1",
    )
    assert (
        str(error)
        == "400 Member In Compliance State: <address> is in a compliance state (request r-1)"
    )
    assert error.detail == "jan@example.nl is in a compliance state"
    assert isinstance(error, MailchimpError)
    assert not error.retryable


def test_data_centre_cannot_steer_requests_elsewhere() -> None:
    """The dc is letters and digits only before it becomes a host name (§ decided)."""
    for key in ("abc-evil.example/", "abc-us6@evil.example", "abc-us6:443", "abc-us6#"):
        with pytest.raises(ConfigurationError):
            ApiKey(key)
    assert ApiKey("abc-US6").default_base_url == "https://us6.api.mailchimp.com/3.0"


def test_fake_request_log_keeps_no_headers(fake: FakeMailchimp) -> None:
    """The fake logs method, path, query and body, never the Authorization header (item 7)."""
    with MailchimpClient(ApiKey(SECRET_KEY), base_url=fake.url) as client:
        client.ping()
    _assert_absent(repr(fake.requests), SECRET_KEY)


def test_request_body_is_not_in_the_request_repr() -> None:
    """Bodies hold addresses: a request's repr shows only the size (item 6)."""
    request = Request(method="POST", url="https://x/3.0", body=b'{"email_address":"a@b.nl"}')
    assert "a@b.nl" not in repr(request)
