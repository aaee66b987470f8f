"""How the client proves who it is to Mailchimp, and where it sends its requests.

Two kinds of credentials (MAILCHIMP.md §1):

- an :class:`ApiKey` (``<secret>-<dc>``): HTTP Basic with the key as password; the data centre
  ``<dc>`` names the host ``https://<dc>.api.mailchimp.com/3.0``;
- an :class:`OAuthToken` with the account's API endpoint, as Mailchimp's OAuth metadata
  (``https://login.mailchimp.com/oauth2/metadata``, field ``api_endpoint``) gives it:
  ``Authorization: Bearer <token>``.

Rules kept here:

- The secret never appears in a ``repr``, a ``str``, an exception message or a log line. Header
  values holding it are :class:`SecretHeader` strings, whose ``repr`` is redacted too.
- The data centre is checked (ASCII letters and digits only) before it becomes part of a host
  name, so a key like ``x-evil.example/`` cannot steer requests elsewhere.
- A malformed key or URL is a :class:`~auditcase_mailchimp.ConfigurationError`, raised when
  the credentials are built, before anything is sent; its message never repeats the secret.
- Plain ``http://`` is accepted only for a loopback host (the fake server on 127.0.0.1):
  anywhere else the key would cross the network in clear text.
"""

from __future__ import annotations

import base64
import re
from typing import Final
from urllib.parse import urlsplit

import attrs

from ._errors import ConfigurationError

__all__ = [
    "ApiKey",
    "Credentials",
    "OAuthToken",
    "SecretHeader",
    "check_base_url",
]

#: The path prefix of version 3 of the Marketing API.
API_PATH: Final = "/3.0"

_KEY = re.compile(r"(?P<secret>[0-9A-Za-z]+)-(?P<dc>[0-9A-Za-z]+)", re.ASCII)
#: Visible ASCII without spaces, what may travel in an ``Authorization`` header.
_TOKEN = re.compile(r"[\x21-\x7e]+", re.ASCII)
_HOST = re.compile(r"[0-9A-Za-z]([0-9A-Za-z.-]*[0-9A-Za-z])?", re.ASCII)
_REDACTED: Final = "'<redacted>'"


class SecretHeader(str):
    """A header value that holds a secret: an ordinary string whose ``repr`` hides it.

    Dictionaries of headers (``requests``' included) show their values with ``repr``, so a
    header dictionary printed in a debugger or a log shows ``'<redacted>'`` instead.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        """Return ``'<redacted>'``."""
        return _REDACTED

    def __str__(self) -> str:
        """Return the value itself (needed to send it); never log it."""
        return str.__str__(self)


def _redacted(_value: object) -> str:
    return _REDACTED


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        import ipaddress  # noqa: PLC0415 - only when a base URL is checked

        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(url: str, *, what: str = "base URL") -> str:
    """Check an API address and return it without a trailing slash, ending in ``/3.0``.

    Accepted: ``https://host[:port][/prefix][/3.0]`` and, for a loopback host only,
    ``http://``. No user name or password, query or fragment. ``/3.0`` is added when missing.

    Args:
        url: The address, e.g. ``https://us6.api.mailchimp.com`` or ``http://127.0.0.1:8080/3.0``.
        what: How the message names the value.

    Returns:
        The normalised address, e.g. ``https://us6.api.mailchimp.com/3.0``.

    Raises:
        ConfigurationError: The address is not of that form.
    """
    given: object = url  # checked at run time: callers may pass anything
    if not isinstance(given, str) or not given.strip():
        raise ConfigurationError(f"the {what} must be a non-empty string")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"the {what} is not a valid URL: {exc}") from None
    host = parts.hostname or ""
    if parts.scheme not in {"http", "https"}:
        raise ConfigurationError(f"the {what} must start with https:// (got {parts.scheme!r})")
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(f"the {what} must not contain a user name or password")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"the {what} must not have a query or fragment")
    if not host or not (_HOST.fullmatch(host) or _is_loopback(host)):
        raise ConfigurationError(f"the {what} has no valid host name")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            f"the {what} must use https:// (plain http:// is allowed only for 127.0.0.1, ::1 "
            "or localhost): the API key would otherwise travel in clear text"
        )
    path = parts.path.rstrip("/")
    if not path.endswith(API_PATH):
        path += API_PATH
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parts.scheme}://{netloc}{path}"


@attrs.frozen(repr=False)
class ApiKey:
    """A Mailchimp API key, ``<secret>-<dc>`` (e.g. ``0123…cdef-us6``), sent with HTTP Basic.

    Surrounding whitespace is dropped (a key pasted from a file keeps its newline). The
    ``repr`` shows the data centre only.

    Args:
        key: The key as Mailchimp shows it.

    Raises:
        ConfigurationError: The key is not letters and digits, a dash, and a data centre of
            letters and digits; the message never repeats the key.
    """

    _key: str = attrs.field(alias="key", repr=_redacted)
    #: The data centre, lower-cased, e.g. ``us6``.
    data_center: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        """Check the key's shape and take the data centre from its suffix."""
        if not isinstance(self._key, str):
            raise ConfigurationError("the API key must be a string")
        key = self._key.strip()
        if not key:
            raise ConfigurationError("the API key is empty")
        match = _KEY.fullmatch(key)
        if match is None:
            if "-" not in key:
                raise ConfigurationError(
                    "the API key has no data centre: a Mailchimp key ends in '-' and the data "
                    "centre, e.g. '-us6'"
                )
            raise ConfigurationError(
                "the API key is malformed: expected letters and digits, one '-', then the data "
                "centre in letters and digits (e.g. '-us6')"
            )
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "data_center", match["dc"].lower())

    def __repr__(self) -> str:
        """Show the data centre, never the key."""
        return f"ApiKey(key=<redacted>, data_center={self.data_center!r})"

    __str__ = __repr__

    @property
    def default_base_url(self) -> str:
        """The API address for the key's data centre, ``https://<dc>.api.mailchimp.com/3.0``."""
        return f"https://{self.data_center}.api.mailchimp.com{API_PATH}"

    def authorization(self) -> SecretHeader:
        """The ``Authorization`` header value: HTTP Basic, any user name, the key as password.

        Returns:
            ``Basic <base64>``, as a :class:`SecretHeader`.
        """
        token = base64.b64encode(f"auditcase-mailchimp:{self._key}".encode("ascii")).decode("ascii")
        return SecretHeader(f"Basic {token}")


@attrs.frozen(repr=False)
class OAuthToken:
    """An OAuth 2 access token with the account's API endpoint, sent as a Bearer token.

    Mailchimp's tokens do not expire (MAILCHIMP.md §1). The endpoint is what the OAuth
    metadata call returns as ``api_endpoint``, e.g. ``https://us6.api.mailchimp.com``;
    ``/3.0`` is added.

    Args:
        token: The access token.
        api_endpoint: The account's API endpoint.

    Raises:
        ConfigurationError: The token is empty or holds spaces or control characters, or the
            endpoint is not an ``https://`` URL (``http://`` only for a loopback address).
    """

    _token: str = attrs.field(alias="token", repr=_redacted)
    #: The API address, e.g. ``https://us6.api.mailchimp.com/3.0``.
    api_endpoint: str = attrs.field()

    def __attrs_post_init__(self) -> None:
        """Check the token and the endpoint."""
        if not isinstance(self._token, str):
            raise ConfigurationError("the access token must be a string")
        token = self._token.strip()
        if not token:
            raise ConfigurationError("the access token is empty")
        if _TOKEN.fullmatch(token) is None:
            raise ConfigurationError(
                "the access token is malformed: it may hold only visible ASCII characters"
            )
        object.__setattr__(self, "_token", token)
        object.__setattr__(
            self, "api_endpoint", check_base_url(self.api_endpoint, what="API endpoint")
        )

    def __repr__(self) -> str:
        """Show the endpoint, never the token."""
        return f"OAuthToken(token=<redacted>, api_endpoint={self.api_endpoint!r})"

    __str__ = __repr__

    @property
    def default_base_url(self) -> str:
        """The API address, the endpoint with ``/3.0``."""
        return self.api_endpoint

    def authorization(self) -> SecretHeader:
        """The ``Authorization`` header value.

        Returns:
            ``Bearer <token>``, as a :class:`SecretHeader`.
        """
        return SecretHeader(f"Bearer {self._token}")


#: Either kind of credentials.
Credentials = ApiKey | OAuthToken
