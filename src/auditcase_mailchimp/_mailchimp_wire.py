"""Mailchimp's JSON answers as typed values: one private, lenient cattrs converter.

Mailchimp adds fields over time, so unknown keys are ignored; absent keys and ``null``
take defaults. A value of the wrong type is an error: :func:`structure` gathers every such
error with :func:`cattrs.transform_error` into an
:class:`~auditcase_mailchimp.UnexpectedResponseError` naming the places.

Only what the client reads is modelled: members (address, status, merge fields, tags), pages of
members and of tags, the batch-subscribe answer, and the problem document.

Request bodies go the other way through the same converter (:func:`body`): the batch-subscribe
body, a tag change and an address change, each an attrs class whose attribute names are
Mailchimp's keys; optional keys with nothing in them are left out.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

if TYPE_CHECKING:
    import cattrs

from ._errors import UnexpectedResponseError

__all__ = [
    "WireAddressChange",
    "WireBatchError",
    "WireBatchMember",
    "WireBatchResult",
    "WireFieldError",
    "WireMember",
    "WireMemberPage",
    "WireProblem",
    "WireSubscribe",
    "WireSubscribeMember",
    "WireTag",
    "WireTagPage",
    "WireTagStatus",
    "WireTags",
    "body",
    "make_converter",
    "parse_json",
    "prepare",
    "ready",
    "structure",
]

T = TypeVar("T")


@attrs.frozen
class WireTag:
    """A tag as a member or tag page shows it."""

    name: str = ""


@attrs.frozen
class WireMember:
    """A member as Mailchimp shows it, limited to what the coupling compares."""

    email_address: str = ""
    status: str = ""
    merge_fields: dict[str, Any] = attrs.field(factory=dict)
    tags: list[WireTag] = attrs.field(factory=list)
    tags_count: int = 0


@attrs.frozen
class WireMemberPage:
    """One page of ``GET /lists/{list_id}/members``."""

    members: list[WireMember] = attrs.field(factory=list)
    total_items: int = 0


@attrs.frozen
class WireTagPage:
    """One page of ``GET /lists/{list_id}/members/{hash}/tags``."""

    tags: list[WireTag] = attrs.field(factory=list)
    total_items: int = 0


@attrs.frozen
class WireBatchError:
    """One entry of a batch-subscribe answer's ``errors``."""

    email_address: str = ""
    error: str = ""
    error_code: str = ""
    field: str = ""
    field_message: str = ""


@attrs.frozen
class WireBatchMember:
    """A member in a batch-subscribe answer: only what the client reads of it.

    Mailchimp sends the whole member object; structuring its merge fields and tags as well
    would cost more than the rest of the answer's handling.
    """

    email_address: str = ""
    status: str = ""


@attrs.frozen
class WireBatchResult:
    """The answer of ``POST /lists/{list_id}`` (batch subscribe)."""

    new_members: list[WireBatchMember] = attrs.field(factory=list)
    updated_members: list[WireBatchMember] = attrs.field(factory=list)
    errors: list[WireBatchError] = attrs.field(factory=list)
    total_created: int = 0
    total_updated: int = 0
    error_count: int = 0


@attrs.frozen
class WireFieldError:
    """One entry of a problem document's ``errors``."""

    field: str = ""
    message: str = ""


@attrs.frozen
class WireProblem:
    """A problem document (``application/problem+json``), MAILCHIMP.md §6.1."""

    type: str = ""
    title: str = ""
    status: int = 0
    detail: str = ""
    instance: str = ""
    errors: list[WireFieldError] = attrs.field(factory=list)


# --- request bodies (MAILCHIMP.md §3, §2.3, §5.1) ------------------------------------------------


@attrs.frozen
class WireSubscribeMember:
    """One member of a batch-subscribe body; ``status`` only to re-add an archived member."""

    email_address: str
    status_if_new: str
    status: str | None = None
    merge_fields: dict[str, str] = attrs.field(factory=dict)
    tags: list[str] = attrs.field(factory=list)


@attrs.frozen
class WireSubscribe:
    """The body of ``POST /lists/{list_id}`` (batch subscribe)."""

    members: list[WireSubscribeMember]
    update_existing: bool
    sync_tags: bool


@attrs.frozen
class WireTagStatus:
    """One tag of a tag change: ``active`` or ``inactive``."""

    name: str
    status: str


@attrs.frozen
class WireTags:
    """The body of ``POST …/members/{hash}/tags``."""

    tags: list[WireTagStatus]
    is_syncing: bool


@attrs.frozen
class WireAddressChange:
    """The body of ``PATCH …/members/{hash}`` that changes the address (R5.4)."""

    email_address: str
    merge_fields: dict[str, str] = attrs.field(factory=dict)


_REQUEST_BODIES: Final = (
    WireSubscribeMember,
    WireSubscribe,
    WireTagStatus,
    WireTags,
    WireAddressChange,
)


def _drop_nulls(value: Any) -> Any:
    """``null`` means "use the default": drop such keys before structuring."""
    if isinstance(value, dict) and None in value.values():
        return {k: v for k, v in value.items() if v is not None}
    return value


def _text(value: Any, _type: type) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return str(value)


def _integer(value: Any, _type: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return int(value)


def make_converter() -> cattrs.Converter:
    """Build the converter for Mailchimp's answers: lenient about keys, strict about types.

    Returns:
        A new :class:`cattrs.Converter` (never the global one) that ignores unknown keys,
        treats ``null`` as absent, and accepts numbers where text is expected; request bodies
        unstructure to Mailchimp's keys, leaving out empty optional ones.
    """
    import cattrs  # noqa: PLC0415 - imported on first use, not at start-up
    import cattrs.gen  # noqa: PLC0415 - as above

    converter = cattrs.Converter(forbid_extra_keys=False, detailed_validation=True)
    converter.register_structure_hook(str, _text)
    converter.register_structure_hook(int, _integer)
    for cls in (
        WireTag,
        WireMember,
        WireMemberPage,
        WireTagPage,
        WireBatchError,
        WireBatchMember,
        WireBatchResult,
        WireFieldError,
        WireProblem,
    ):
        base = converter.gen_structure_attrs_fromdict(cls)

        def hook(value: Any, cls_: type, base: Any = base) -> Any:
            if not isinstance(value, dict):
                raise TypeError(f"expected an object, got {type(value).__name__}")
            return base(_drop_nulls(value), cls_)

        converter.register_structure_hook(cls, hook)
    for body_cls in _REQUEST_BODIES:
        converter.register_unstructure_hook(
            body_cls,
            cattrs.gen.make_dict_unstructure_fn(body_cls, converter, _cattrs_omit_if_default=True),
        )
    return converter


@functools.cache
def _converter() -> cattrs.Converter:
    """The module's converter, built on first use (not at import: start-up stays short)."""
    return make_converter()


def prepare() -> None:
    """Build the module's converter now, e.g. while a request is in flight (once per process)."""
    _converter()


def ready() -> bool:
    """Whether the module's converter is built."""
    return _converter.cache_info().currsize > 0


def parse_json(body: bytes, *, what: str, request_id: str = "") -> Any:
    """Parse a JSON body.

    Args:
        body: The bytes.
        what: What the answer was to, for the message.
        request_id: The answer's ``X-Request-Id``.

    Returns:
        The parsed document.

    Raises:
        UnexpectedResponseError: The body is not JSON.
    """
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnexpectedResponseError(
            f"{what}: the answer is not JSON", problems=[str(exc)], request_id=request_id
        ) from exc


def structure(document: Any, cls: type[T], *, what: str, request_id: str = "") -> T:
    """Turn a parsed JSON document into a wire value, leniently.

    Args:
        document: The parsed JSON.
        cls: The wire class.
        what: What the answer was to, for the message.
        request_id: The answer's ``X-Request-Id``.

    Returns:
        The value.

    Raises:
        UnexpectedResponseError: A value has the wrong type; ``problems`` names each place.
    """
    converter = _converter()
    import cattrs  # noqa: PLC0415 - loaded by _converter(); a dictionary look-up here

    try:
        return converter.structure(document, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError) as exc:
        problems = (
            cattrs.transform_error(exc)
            if isinstance(exc, cattrs.BaseValidationError)
            else [str(exc)]
        )
        raise UnexpectedResponseError(
            f"{what}: the answer does not have the expected form ({'; '.join(problems)})",
            problems=problems,
            request_id=request_id,
        ) from exc


def body(value: Any) -> Any:
    """Turn a request body (:class:`WireSubscribe`, :class:`WireTags`, …) into JSON values.

    Args:
        value: The body.

    Returns:
        Dicts and lists, ready for :func:`json.dumps`.
    """
    return _converter().unstructure(value)
