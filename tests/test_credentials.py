"""Credentials and the API address (MAILCHIMP.md §1, "What the library does (decided)")."""

from __future__ import annotations

import base64

import pytest

from auditcase_mailchimp._client import MailchimpClient
from auditcase_mailchimp._credentials import ApiKey, OAuthToken, SecretHeader, check_base_url
from auditcase_mailchimp._errors import ConfigurationError
from auditcase_mailchimp.testing import FakeMailchimp

KEY = "0123456789abcdef0123456789abcdef-us6"


def test_data_centre_comes_from_the_key_suffix() -> None:
    """The dc is the key's suffix and names the host https://<dc>.api.mailchimp.com/3.0 (§1)."""
    key = ApiKey("0123456789abcdef0123456789abcdef-US12")
    assert key.data_center == "us12"
    assert key.default_base_url == "https://us12.api.mailchimp.com/3.0"


def test_key_is_sent_with_http_basic_as_password() -> None:
    """HTTP Basic with any user name and the key as password (§1 Auth header)."""
    header = ApiKey(KEY).authorization()
    scheme, _, encoded = header.partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode().partition(":")[2] == KEY


def test_surrounding_whitespace_of_a_pasted_key_is_dropped() -> None:
    """A key read from a file with its newline still works (§1 key format)."""
    assert ApiKey(f"  {KEY}\n") == ApiKey(KEY)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("0123456789abcdef", "no data centre"),
        ("abc-", "malformed"),
        ("-xx9", "malformed"),
        ("abc-evil.example/", "malformed"),
        ("abc-us6.evil.example", "malformed"),
        ("abc-us6/x", "malformed"),
        ("abc-us6-us7", "malformed"),
        ("abc def-us6", "malformed"),
        ("abc-us\uff16", "malformed"),  # a full-width digit: not ASCII
        ("abc-us6\r\nX-Evil: 1", "malformed"),
    ],
)
def test_malformed_key_is_refused_without_repeating_it(key: str, reason: str) -> None:
    """A malformed key is a ConfigurationError naming the problem, never the key (§1, issue 3)."""
    with pytest.raises(ConfigurationError, match=reason) as caught:
        ApiKey(key)
    if key.strip():
        assert key.strip() not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_key_of_the_wrong_type_is_refused() -> None:
    """Only a string is a key (issue 3, bad input)."""
    with pytest.raises(ConfigurationError, match="string"):
        ApiKey(12345)  # type: ignore[arg-type]


def test_malformed_key_fails_before_anything_is_sent(fake_mailchimp: FakeMailchimp) -> None:
    """A malformed key stops before a request is made (issue 3, bad input)."""
    with pytest.raises(ConfigurationError):
        MailchimpClient(ApiKey("no-data-centre-here!"), base_url=fake_mailchimp.url)
    assert fake_mailchimp.requests == []


def test_oauth_token_is_sent_as_bearer_to_the_accounts_endpoint() -> None:
    """An OAuth token goes as Bearer to the metadata's api_endpoint plus /3.0 (§1 OAuth 2)."""
    token = OAuthToken("tok3n-value", "https://us6.api.mailchimp.com")
    assert token.authorization() == "Bearer tok3n-value"
    assert token.default_base_url == "https://us6.api.mailchimp.com/3.0"
    assert OAuthToken("t", "https://us6.api.mailchimp.com/3.0/").api_endpoint == (
        "https://us6.api.mailchimp.com/3.0"
    )


@pytest.mark.parametrize("token", ["", "  ", "two words", "tab\there", "line\nbreak", "é"])
def test_malformed_token_is_refused(token: str) -> None:
    """A token must be visible ASCII to travel in a header (§1, issue 3)."""
    with pytest.raises(ConfigurationError, match="access token"):
        OAuthToken(token, "https://us6.api.mailchimp.com")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://us6.api.mailchimp.com", "https://us6.api.mailchimp.com/3.0"),
        ("https://us6.api.mailchimp.com/", "https://us6.api.mailchimp.com/3.0"),
        ("https://us6.api.mailchimp.com/3.0/", "https://us6.api.mailchimp.com/3.0"),
        ("https://proxy.example.nl:8443/mailchimp", "https://proxy.example.nl:8443/mailchimp/3.0"),
        ("http://127.0.0.1:8080/3.0", "http://127.0.0.1:8080/3.0"),
        ("http://localhost:8080", "http://localhost:8080/3.0"),
        ("http://[::1]:8080/3.0", "http://[::1]:8080/3.0"),
    ],
)
def test_base_url_is_normalised(url: str, expected: str) -> None:
    """The base URL is overridable for the fake and proxies, always ending in /3.0 (§1)."""
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "non-empty"),
        ("ftp://us6.api.mailchimp.com", "https://"),
        ("http://us6.api.mailchimp.com/3.0", "clear text"),
        ("http://10.0.0.5:8080/3.0", "clear text"),
        ("https://user:pw@us6.api.mailchimp.com", "user name or password"),
        ("https://us6.api.mailchimp.com/3.0?x=1", "query or fragment"),
        ("https://us6.api.mailchimp.com/3.0#x", "query or fragment"),
        ("https:///3.0", "host"),
        ("https://bad_host!/3.0", "host"),
        ("https://us6.api.mailchimp.com:99999/3.0", "not a valid URL"),
    ],
)
def test_unsafe_or_malformed_base_url_is_refused(url: str, reason: str) -> None:
    """Plain http only on loopback, no credentials or query in the URL (§ decided: TLS always)."""
    with pytest.raises(ConfigurationError, match=reason):
        check_base_url(url)


def test_oauth_endpoint_over_plain_http_is_refused() -> None:
    """The token would travel in clear text (§ decided: TLS verification always on)."""
    with pytest.raises(ConfigurationError, match="clear text"):
        OAuthToken("token", "http://us6.api.mailchimp.com")


def test_secret_header_hides_its_value_in_repr() -> None:
    """Header dictionaries print '<redacted>' for the secret (issue 3, security)."""
    header = ApiKey(KEY).authorization()
    assert isinstance(header, SecretHeader)
    assert repr(header) == "'<redacted>'"
    assert KEY not in repr({"Authorization": header})
    assert str(header).startswith("Basic ")


def test_client_refuses_credentials_that_are_not_credentials() -> None:
    """A bare string is not accepted as credentials: the type says which kind it is (issue 3)."""
    with pytest.raises(ConfigurationError, match="ApiKey or an OAuthToken"):
        MailchimpClient(KEY)  # type: ignore[arg-type]
