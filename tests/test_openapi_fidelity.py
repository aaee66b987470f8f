"""Fidelity to Mailchimp's OpenAPI spec (MAILCHIMP.md §9): requests the client sends validate.

The spec is vendored as ``tests/data/mailchimp-openapi.yaml`` (SPEC-55, see
``tests/data/README.md``). Its two known gaps are patched here, explicitly, never by switching
validation off:

1. the batch-subscribe member item (``Add_List_Members``) lacks ``status_if_new`` and ``tags``,
   which Mailchimp accepts since 2022 (MAILCHIMP.md §5.1); the current official spec also
   requires ``email_address`` and one of ``status`` / ``status_if_new``;
2. ``merge_fields.additionalProperties`` says ``type: object``, but merge field values are
   strings, numbers, booleans or (address) objects.

The fake server ships the patched request schemas, reduced to the keywords its tiny validator
knows, as ``auditcase_mailchimp/testing/request_schemas.json``. Regenerate it with
``python tests/test_openapi_fidelity.py --write`` after changing the spec or the patch.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from auditcase_mailchimp.testing import FakeMailchimp, LoggedRequest
from auditcase_mailchimp.testing._schema import load_request_schemas, validate

SPEC_PATH: Final = Path(__file__).parent / "data" / "mailchimp-openapi.yaml"
SPEC_SHA256: Final = "9d7f250f42b156e8db434bde57589e0bc8711dc65639f9c7df6bbfafa7da2d87"
SHIPPED_PATH: Final = (
    Path(__file__).parents[1] / "src" / "auditcase_mailchimp" / "testing" / "request_schemas.json"
)

#: Every operation the client sends and the fake implements.
OPERATIONS: Final = (
    ("GET", "/ping"),
    ("GET", "/lists/{list_id}"),
    ("POST", "/lists/{list_id}"),
    ("GET", "/lists/{list_id}/members"),
    ("GET", "/lists/{list_id}/members/{subscriber_hash}"),
    ("PATCH", "/lists/{list_id}/members/{subscriber_hash}"),
    ("DELETE", "/lists/{list_id}/members/{subscriber_hash}"),
    ("GET", "/lists/{list_id}/members/{subscriber_hash}/tags"),
    ("POST", "/lists/{list_id}/members/{subscriber_hash}/tags"),
    ("POST", "/lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent"),
)
#: The bulk endpoints the runner sends through (issue 12), checked like the client's calls.
BULK_OPERATIONS: Final = (
    ("GET", "/lists/{list_id}/segments"),
    ("POST", "/lists/{list_id}/segments"),
    ("POST", "/lists/{list_id}/segments/{segment_id}"),
    ("POST", "/batches"),
    ("GET", "/batches/{batch_id}"),
)
#: The keywords the fake's validator knows; the reduced schemas keep only these.
KEYWORDS: Final = frozenset(
    {
        "type",
        "required",
        "properties",
        "additionalProperties",
        "enum",
        "items",
        "nullable",
        "maximum",
        "minimum",
        "anyOf",
    }
)
MERGE_FIELD_VALUE: Final = {"type": ["string", "number", "boolean", "object"]}


@cache
def load_spec() -> dict[str, Any]:
    """The vendored spec, parsed once (about a second with libyaml)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as file:
        spec: dict[str, Any] = yaml.load(file, Loader=loader)  # noqa: S506 - a safe loader
    return spec


def _resolve(node: Any, schemas: Mapping[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """Inline every ``$ref`` to ``#/components/schemas/…`` (the request schemas have no cycles)."""
    if isinstance(node, list):
        return [_resolve(item, schemas, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            raise ValueError(f"cyclic schema {name}")
        return _resolve(schemas[name], schemas, (*seen, name))
    return {key: _resolve(value, schemas, seen) for key, value in node.items()}


def extract(
    spec: Mapping[str, Any], chosen: Iterable[tuple[str, str]] = OPERATIONS
) -> dict[str, dict[str, Any]]:
    """The request schemas of :data:`OPERATIONS`, ``$ref`` resolved, unpatched.

    Returns:
        ``{"METHOD /path": {"query": {name: {"schema", "explode"}}, "body": schema|None}}``.
    """
    schemas = spec["components"]["schemas"]
    operations: dict[str, dict[str, Any]] = {}
    for method, path in chosen:
        operation = spec["paths"][path][method.lower()]
        query = {
            p["name"]: {
                "schema": _resolve(p["schema"], schemas),
                "explode": p.get("explode", True),
            }
            for p in operation.get("parameters", [])
            if p["in"] == "query"
        }
        body = None
        if "requestBody" in operation:
            body = _resolve(
                operation["requestBody"]["content"]["application/json"]["schema"], schemas
            )
        operations[f"{method} {path}"] = {"query": query, "body": body}
    return operations


def patch(operations: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Apply the two known fixes of MAILCHIMP.md §9 (see the module docstring)."""
    patched = copy.deepcopy(dict(operations))
    item = patched["POST /lists/{list_id}"]["body"]["properties"]["members"]["items"]
    status = item["properties"]["status"]
    item["properties"]["status_if_new"] = {
        "type": "string",
        "enum": list(status["enum"]),
        "description": "Subscriber's status, only used when the member is created.",
    }
    item["properties"]["tags"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "Tags to add to the member.",
    }
    item["required"] = ["email_address"]
    item["anyOf"] = [{"required": ["status"]}, {"required": ["status_if_new"]}]
    for body in (item, patched["PATCH /lists/{list_id}/members/{subscriber_hash}"]["body"]):
        body["properties"]["merge_fields"]["additionalProperties"] = dict(MERGE_FIELD_VALUE)
    return patched


def reduce(node: Any) -> Any:
    """Keep only the keywords the fake's validator knows (documentation dropped)."""
    if isinstance(node, list):
        return [reduce(item) for item in node]
    if not isinstance(node, dict):
        return node
    reduced: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            reduced[key] = {name: reduce(schema) for name, schema in value.items()}
        elif key in KEYWORDS:
            reduced[key] = reduce(value)
    return reduced


def shipped_document(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What ``request_schemas.json`` must hold for this spec and patch."""
    operations = patch(extract(spec))
    return {
        "source": {
            "file": "tests/data/mailchimp-openapi.yaml",
            "sha256": SPEC_SHA256,
            "title": spec["info"]["title"],
            "version": spec["info"]["version"],
            "generator": "tests/test_openapi_fidelity.py",
        },
        "patches": [
            (
                "POST /lists/{list_id}: members[] gain status_if_new and tags, require "
                "email_address and one of status/status_if_new (MAILCHIMP.md §5.1)"
            ),
            (
                "merge_fields.additionalProperties: string, number, boolean or object "
                "(MAILCHIMP.md §9)"
            ),
        ],
        "operations": {
            key: {
                "query": {
                    name: {"schema": reduce(param["schema"]), "explode": param["explode"]}
                    for name, param in operation["query"].items()
                },
                "body": None if operation["body"] is None else reduce(operation["body"]),
            }
            for key, operation in operations.items()
        },
    }


# --- validating a logged request with jsonschema -------------------------------------------------


def _template(path: str) -> str:
    """``/3.0/lists/abc/members/123/tags`` → ``/lists/{list_id}/members/{subscriber_hash}/tags``."""
    parts = path.removeprefix("/3.0").strip("/").split("/")
    names = ["lists", "{list_id}", "members", "{subscriber_hash}"]
    if parts[:1] == ["batches"]:
        names = ["batches", "{batch_id}"]
    elif parts[2:3] == ["segments"]:
        names = ["lists", "{list_id}", "segments", "{segment_id}"]
    templated = [names[i] if i < len(names) and i % 2 else part for i, part in enumerate(parts)]
    return "/" + "/".join(templated)


def _typed(value: str, schema: Mapping[str, Any], *, explode: bool) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return int(value) if value.lstrip("-").isdigit() else value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    if kind == "array" and not explode:
        return value.split(",")
    return value


def request_problems(operations: Mapping[str, dict[str, Any]], request: LoggedRequest) -> list[str]:
    """Check one logged request with ``jsonschema`` against the patched spec schemas.

    Returns:
        What is wrong, empty when the request is valid.
    """
    key = f"{request.method} {_template(request.path)}"
    if key not in operations:
        return [f"{key}: not an operation of the spec the client may send"]
    operation = operations[key]
    problems: list[str] = []
    for name, value in request.query.items():
        param = operation["query"].get(name)
        if param is None:
            problems.append(f"{key}: unknown query parameter {name!r}")
            continue
        typed = _typed(value, param["schema"], explode=param["explode"])
        problems += [
            f"{key} ?{name}: {e.message}"
            for e in jsonschema.Draft4Validator(param["schema"]).iter_errors(typed)
        ]
    if operation["body"] is None:
        if request.body is not None:
            problems.append(f"{key}: a body where the spec has none")
    else:
        problems += [
            f"{key} body {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in jsonschema.Draft4Validator(operation["body"]).iter_errors(request.body)
        ]
    return problems


@cache
def patched_operations() -> dict[str, dict[str, Any]]:
    """The patched, unreduced request schemas of the vendored spec."""
    return patch(extract(load_spec()))


def assert_valid_requests(requests: Iterable[LoggedRequest]) -> None:
    """Fail unless every request validates against the patched spec (used by conftest)."""
    operations = {**patched_operations(), **extract(load_spec(), BULK_OPERATIONS)}
    # a batch's response_body_url is a signed download, not an API operation (§5.2)
    api = [r for r in requests if not r.path.startswith("/batch-results/")]
    problems = [p for request in api for p in request_problems(operations, request)]
    assert not problems, "\n".join(problems)


# --- tests -----------------------------------------------------------------------------------


def test_vendored_spec_is_the_documented_file() -> None:
    """The vendored spec is SPEC-55 byte for byte (MAILCHIMP.md §9: its sha256)."""
    assert hashlib.sha256(SPEC_PATH.read_bytes()).hexdigest() == SPEC_SHA256


def test_shipped_schemas_equal_extract_and_patch_of_the_spec() -> None:
    """The fake's request_schemas.json is exactly the patched, reduced spec (MAILCHIMP.md §9)."""
    shipped = json.loads(SHIPPED_PATH.read_text(encoding="utf-8"))
    assert shipped == shipped_document(load_spec())
    assert load_request_schemas() == shipped["operations"]


def test_patch_adds_only_the_two_known_gaps() -> None:
    """The patch touches the batch item and merge_fields only (MAILCHIMP.md §9 known defects)."""
    raw, patched = extract(load_spec()), patched_operations()
    changed = {key for key in raw if raw[key] != patched[key]}
    assert changed == {"POST /lists/{list_id}", "PATCH /lists/{list_id}/members/{subscriber_hash}"}
    item = patched["POST /lists/{list_id}"]["body"]["properties"]["members"]["items"]
    raw_item = raw["POST /lists/{list_id}"]["body"]["properties"]["members"]["items"]
    assert set(item["properties"]) - set(raw_item["properties"]) == {"status_if_new", "tags"}


def test_unpatched_spec_types_merge_fields_as_objects() -> None:
    """The defect is real: unpatched, a string merge field fails validation (MAILCHIMP.md §9)."""
    raw = extract(load_spec())["PATCH /lists/{list_id}/members/{subscriber_hash}"]["body"]
    body = {"merge_fields": {"FNAME": "Jan"}}
    assert list(jsonschema.Draft4Validator(raw).iter_errors(body))
    patched = patched_operations()["PATCH /lists/{list_id}/members/{subscriber_hash}"]["body"]
    assert not list(jsonschema.Draft4Validator(patched).iter_errors(body))


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"members": [{"email_address": "a@example.nl", "status_if_new": "subscribed"}]}, True),
        ({"members": [{"email_address": "a@example.nl", "status": "subscribed"}]}, True),
        ({"members": [{"email_address": "a@example.nl"}]}, False),
        ({"members": [{"status_if_new": "subscribed"}]}, False),
        ({"members": [{"email_address": "a@example.nl", "status_if_new": "gone"}]}, False),
        (
            {"members": [{"email_address": "a@b.nl", "status_if_new": "subscribed", "tags": [1]}]},
            False,
        ),
        ({"members": [{"email_address": 5, "status_if_new": "subscribed"}]}, False),
        ({"update_existing": True}, False),
        ({"members": "x"}, False),
        (
            {
                "members": [
                    {
                        "email_address": "a@example.nl",
                        "status_if_new": "subscribed",
                        "merge_fields": {"FNAME": "Jan", "AGE": 4, "OK": True, "ADDR": {}},
                        "tags": ["x"],
                    }
                ],
                "update_existing": True,
                "sync_tags": False,
            },
            True,
        ),
    ],
)
def test_tiny_validator_agrees_with_jsonschema(body: Any, valid: bool) -> None:  # noqa: FBT001 - a parameter
    """The fake's validator and jsonschema agree on batch-subscribe bodies (MAILCHIMP.md §9)."""
    operation = "POST /lists/{list_id}"
    full = patched_operations()[operation]["body"]
    shipped = load_request_schemas()[operation]["body"]
    assert (not list(jsonschema.Draft4Validator(full).iter_errors(body))) is valid
    assert (not validate(body, shipped)) is valid


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=4)
    | st.sampled_from(["subscribed", "pending", "gone", "a@example.nl"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_MEMBER = st.dictionaries(
    st.sampled_from(
        ["email_address", "status", "status_if_new", "merge_fields", "tags", "vip", "location", "x"]
    ),
    _JSON | st.dictionaries(st.sampled_from(["FNAME", "latitude"]), _JSON, max_size=2),
    max_size=5,
)
_BODY = st.fixed_dictionaries(
    {},
    optional={
        "members": st.lists(_MEMBER, max_size=3) | _JSON,
        "update_existing": _JSON,
        "sync_tags": _JSON,
    },
)


@given(body=_BODY)
def test_tiny_validator_agrees_with_jsonschema_on_any_body(body: dict[str, Any]) -> None:
    """For any batch-subscribe body both validators agree on validity (MAILCHIMP.md §9)."""
    operation = "POST /lists/{list_id}"
    full = patched_operations()[operation]["body"]
    shipped = load_request_schemas()[operation]["body"]
    assert (not list(jsonschema.Draft4Validator(full).iter_errors(body))) is (
        not validate(body, shipped)
    )


def test_tiny_validator_reports_fields_like_mailchimp() -> None:
    """Errors name the field and what is wrong, like Mailchimp's errors[] (MAILCHIMP.md §6.1)."""
    shipped = load_request_schemas()["POST /lists/{list_id}/members/{subscriber_hash}/tags"]["body"]
    errors = validate({"tags": [{"name": None, "status": "on"}]}, shipped)
    assert ("tags.0.name", "Schema describes string, NULL found instead") in errors
    assert any(field == "tags.0.status" for field, _ in errors)
    assert validate({}, shipped) == [("", "Required fields were not provided: tags")]


def test_request_checker_catches_unknown_parameters_and_bodies() -> None:
    """The jsonschema check of the request log is not vacuous (MAILCHIMP.md §9)."""
    operations = patched_operations()
    bad = [
        LoggedRequest(method="GET", path="/3.0/lists/x/members", query={"ofset": "1"}),
        LoggedRequest(method="GET", path="/3.0/lists/x/members", query={"count": "5000"}),
        LoggedRequest(method="DELETE", path="/3.0/lists/x/members/y", body={"a": 1}),
        LoggedRequest(method="PUT", path="/3.0/lists/x/members/y", body={}),
        LoggedRequest(method="POST", path="/3.0/lists/x", body={"members": [{}]}),
    ]
    assert all(request_problems(operations, r) for r in bad)
    good = LoggedRequest(
        method="GET",
        path="/3.0/lists/x/members",
        query={"count": "1000", "offset": "0", "fields": "members.status,total_items"},
    )
    assert request_problems(operations, good) == []


def test_every_client_request_in_a_session_validates(fake_mailchimp: FakeMailchimp) -> None:
    """A session using every client call sends only spec-valid requests (MAILCHIMP.md §9)."""
    from .conftest import exercise_every_call  # noqa: PLC0415 - shared with the client tests

    exercise_every_call(fake_mailchimp)
    methods = {(r.method, _template(r.path)) for r in fake_mailchimp.requests}
    assert methods == {(m, p) for m, p in OPERATIONS}
    assert_valid_requests(fake_mailchimp.requests)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_openapi_fidelity.py --write")
    document = shipped_document(load_spec())
    SHIPPED_PATH.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {SHIPPED_PATH}\n")
