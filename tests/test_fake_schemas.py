"""The fake's request schemas for the operations it serves beyond the client's (issue 11).

``request_schemas_served.json`` holds, for every route of the fake that the client does not
use, the request schemas of the vendored spec (SPEC-55), reduced like ``request_schemas.json``
(see ``test_openapi_fidelity.py``), and the methods of every path of the spec. Known gaps are
patched here, explicitly:

1. ``merge_fields.additionalProperties`` says ``type: object`` (MAILCHIMP.md §9);
2. PUT member requires ``email_address`` and ``status_if_new`` in SPEC-55, but Mailchimp takes
   a PUT without them on an existing member (recordings P25, P29) and creates with ``status``
   alone (P407): the fake asks for them only when the PUT creates;
3. POST /batches: a malformed operation fails that operation in the results, not the batch
   (issue 11 "Bad input"), so the items are checked when they run.

Regenerate with ``python -m tests.test_fake_schemas --write``.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any, Final

from auditcase_mailchimp.testing._routes import ROUTES
from auditcase_mailchimp.testing._schema import served_schemas, validate

from .test_openapi_fidelity import (
    MERGE_FIELD_VALUE,
    OPERATIONS,
    SPEC_SHA256,
    _resolve,
    load_spec,
    reduce,
)

SERVED_PATH: Final = (
    Path(__file__).parents[1]
    / "src"
    / "auditcase_mailchimp"
    / "testing"
    / "request_schemas_served.json"
)
_PUT: Final = "PUT /lists/{list_id}/members/{subscriber_hash}"
_POST_MEMBER: Final = "POST /lists/{list_id}/members"
_BATCHES: Final = "POST /batches"
_METHODS: Final = ("get", "post", "put", "patch", "delete")


def extra_operations() -> list[tuple[str, str]]:
    """The fake's routes that are not among the client's operations."""
    client = set(OPERATIONS)
    return [(r.method, r.template) for r in ROUTES if (r.method, r.template) not in client]


def extract_served(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The unpatched, unreduced request schemas of :func:`extra_operations`."""
    schemas = spec["components"]["schemas"]
    operations: dict[str, dict[str, Any]] = {}
    for method, path in extra_operations():
        operation = spec["paths"][path][method.lower()]
        query = {
            p["name"]: {"schema": _resolve(p["schema"], schemas), "explode": p.get("explode", True)}
            for p in operation.get("parameters", [])
            if p["in"] == "query"
        }
        body = None
        if "requestBody" in operation:
            content = operation["requestBody"]["content"]["application/json"]
            body = _resolve(content["schema"], schemas)
        operations[f"{method} {path}"] = {"query": query, "body": body}
    return operations


def patch_served(operations: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Apply the three fixes of the module docstring."""
    patched = copy.deepcopy(operations)
    for key in (_PUT, _POST_MEMBER):
        patched[key]["body"]["properties"]["merge_fields"]["additionalProperties"] = dict(
            MERGE_FIELD_VALUE
        )
    patched[_PUT]["body"].pop("required", None)
    patched[_BATCHES]["body"]["properties"]["operations"]["items"] = {"type": "object"}
    return patched


def served_document(spec: dict[str, Any]) -> dict[str, Any]:
    """What ``request_schemas_served.json`` must hold for this spec and patch."""
    operations = patch_served(extract_served(spec))
    return {
        "source": {
            "file": "tests/data/mailchimp-openapi.yaml",
            "sha256": SPEC_SHA256,
            "version": spec["info"]["version"],
            "generator": "tests/test_fake_schemas.py",
        },
        "patches": [
            "merge_fields.additionalProperties: string, number, boolean or object (§9)",
            (
                "PUT member: nothing required by the schema; creating needs email_address and "
                "status or status_if_new (recordings P25, P407)"
            ),
            (
                "POST /batches: operations[] items checked when they run (a malformed operation "
                "fails in the results)"
            ),
        ],
        "operations": {
            key: {
                "query": {
                    name: {"schema": reduce(p["schema"]), "explode": p["explode"]}
                    for name, p in operation["query"].items()
                },
                "body": None if operation["body"] is None else reduce(operation["body"]),
            }
            for key, operation in operations.items()
        },
        "paths": {
            path: [m.upper() for m in _METHODS if m in item]
            for path, item in sorted(spec["paths"].items())
        },
    }


def test_served_schemas_equal_extract_and_patch_of_the_spec() -> None:
    """request_schemas_served.json is exactly the patched, reduced spec (issue 11, §9)."""
    shipped = json.loads(SERVED_PATH.read_text(encoding="utf-8"))
    assert shipped == served_document(load_spec())


def test_every_route_has_a_schema_and_is_an_operation_of_the_spec() -> None:
    """Each route of the fake is an operation of the spec, with its schemas (issue 11)."""
    served = served_schemas()
    for route in ROUTES:
        assert route.key in served["operations"], route.key
        assert route.method in served["paths"][route.template], route.key
        assert route.honoured <= set(served["operations"][route.key]["query"]), route.key


def test_put_member_schema_takes_recorded_bodies() -> None:
    """PUT bodies as recorded validate (P25: merge fields only; P407: status, no status_if_new)."""
    schema = served_schemas()["operations"][_PUT]["body"]
    assert validate({"merge_fields": {"FNAME": "Luigi", "USERID": 100}}, schema) == []
    assert validate({"email_address": "a@example.com", "status": "subscribed"}, schema) == []
    assert validate({"status": "gone"}, schema) != []


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.test_fake_schemas --write")
    document = served_document(load_spec())
    SERVED_PATH.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    sys.stdout.write(f"wrote {SERVED_PATH}\n")
