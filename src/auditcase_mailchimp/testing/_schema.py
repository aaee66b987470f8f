"""A tiny validator for the request schemas the fake ships (no jsonschema at run time).

``request_schemas.json`` holds the request schemas of the endpoints the library's client uses,
extracted from Mailchimp's OpenAPI spec, patched for its two known gaps and reduced to the
keywords below (``tests/test_openapi_fidelity.py`` makes it and checks it);
``request_schemas_served.json`` holds those of the other operations the fake serves, and the
methods of every path of the spec (``tests/test_fake_schemas.py`` makes it and checks it):

``type`` (one or a list), ``nullable``, ``required``, ``properties``, ``additionalProperties``
(a schema or a boolean), ``enum``, ``items``, ``minimum``, ``maximum`` and ``anyOf`` (of
``required`` alternatives).

Errors come as Mailchimp's ``errors`` entries: ``(field, message)`` with a dotted field path
(``members.3.email_address``; ``""`` for the body itself) and Mailchimp's phrasing where it is
known (MAILCHIMP.md §6.1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

__all__ = [
    "Check",
    "compile_schema",
    "compiled_body_checks",
    "compiled_served_checks",
    "load_request_schemas",
    "query_problems",
    "served_schemas",
    "validate",
]

_TYPE_NAMES: Final = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    list: "array",
    dict: "object",
    type(None): "NULL",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


#: JSON type name → the Python types ``json.loads`` makes for it (``bool`` is not ``int`` here).
_PYTHON_TYPES: Final = {
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


def _path(path: tuple[str | int, ...]) -> str:
    return ".".join(map(str, path))


#: A compiled schema, which checks a value at a path and appends ``(field, message)`` errors.
Check = Callable[[Any, tuple[str | int, ...], list[tuple[str, str]]], None]


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """Compile a reduced schema into a checking function (the fake checks every request).

    Args:
        schema: A schema using only the keywords in the module docstring.

    Returns:
        ``check(value, path, errors)``, which appends ``(field, message)`` pairs to ``errors``.
    """
    nullable = bool(schema.get("nullable"))
    kinds = schema.get("type")
    names = [] if kinds is None else [kinds] if isinstance(kinds, str) else list(kinds)
    described = " or ".join(names)
    allowed = (
        None
        if kinds is None
        else frozenset(t for name in names for t in _PYTHON_TYPES.get(name, ()))
    )
    steps = [
        step
        for step in (
            _enum_step(schema),
            _range_step(schema),
            _object_step(schema),
            _items_step(schema),
        )
        if step is not None
    ]

    def check(value: Any, path: tuple[str | int, ...], errors: list[tuple[str, str]]) -> None:
        if value is None and nullable:
            return
        if allowed is not None and type(value) not in allowed:
            found = _type_name(value)
            errors.append((_path(path), f"Schema describes {described}, {found} found instead"))
            return
        for step in steps:
            step(value, path, errors)

    return check


def _enum_step(schema: Mapping[str, Any]) -> Check | None:
    if "enum" not in schema:
        return None
    enum = list(schema["enum"])
    options = ", ".join(map(str, enum))

    def step(value: Any, path: tuple[str | int, ...], errors: list[tuple[str, str]]) -> None:
        if value not in enum:
            errors.append((_path(path), f"Value {value!r} is not one of: {options}"))

    return step


def _range_step(schema: Mapping[str, Any]) -> Check | None:
    maximum, minimum = schema.get("maximum"), schema.get("minimum")
    if maximum is None and minimum is None:
        return None

    def step(value: Any, path: tuple[str | int, ...], errors: list[tuple[str, str]]) -> None:
        if type(value) not in {int, float}:
            return
        if maximum is not None and value > maximum:
            errors.append((_path(path), f"Value must be at most {maximum}"))
        if minimum is not None and value < minimum:
            errors.append((_path(path), f"Value must be at least {minimum}"))

    return step


def _object_step(schema: Mapping[str, Any]) -> Check | None:
    keywords = ("required", "anyOf", "properties", "additionalProperties")
    if not any(keyword in schema for keyword in keywords):
        return None
    required = tuple(schema.get("required", ()))
    alternatives = tuple(tuple(option.get("required", ())) for option in schema.get("anyOf", ()))
    properties = {name: compile_schema(sub) for name, sub in schema.get("properties", {}).items()}
    extra_schema = schema.get("additionalProperties", True)
    extra = compile_schema(extra_schema) if isinstance(extra_schema, dict) else None
    closed = extra_schema is False

    def step(value: Any, path: tuple[str | int, ...], errors: list[tuple[str, str]]) -> None:
        if type(value) is not dict:
            return
        missing = [name for name in required if name not in value]
        if missing:
            errors.append((_path(path), f"Required fields were not provided: {', '.join(missing)}"))
        if alternatives and not any(all(name in value for name in alt) for alt in alternatives):
            errors.append(
                (_path(path), "Data did not match any of the schemas described in anyOf.")
            )
        for name, item in value.items():
            sub = properties.get(name, extra)
            if sub is not None:
                sub(item, (*path, name), errors)
            elif closed:
                errors.append((_path((*path, name)), "Unknown field"))

    return step


def _items_step(schema: Mapping[str, Any]) -> Check | None:
    if "items" not in schema:
        return None
    items = compile_schema(schema["items"])

    def step(value: Any, path: tuple[str | int, ...], errors: list[tuple[str, str]]) -> None:
        if type(value) is list:
            for index, item in enumerate(value):
                items(item, (*path, index), errors)

    return step


def validate(value: Any, schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Validate a JSON value against a reduced schema.

    Args:
        value: The parsed JSON.
        schema: A schema using only the keywords in the module docstring.

    Returns:
        ``(field, message)`` pairs (dotted field paths), empty when the value is valid.
    """
    errors: list[tuple[str, str]] = []
    compile_schema(schema)(value, (), errors)
    return errors


def query_problems(
    query: Mapping[str, str], parameters: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Validate query parameters (strings) against the operation's parameter schemas.

    Args:
        query: Each parameter's (first) value.
        parameters: ``{name: {"schema": …, "explode": bool}}`` from the shipped file.

    Returns:
        ``(parameter, message)`` pairs; an undeclared parameter is an error.
    """
    errors: list[tuple[str, str]] = []
    for name, text in query.items():
        parameter = parameters.get(name)
        if parameter is None:
            errors.append((name, "Unknown query parameter"))
            continue
        schema = parameter["schema"]
        kind = schema.get("type")
        value: Any = text
        if kind == "integer":
            try:
                value = int(text)
            except ValueError:
                errors.append((name, f"Schema describes integer, {text!r} found instead"))
                continue
        elif kind == "boolean":  # true/false in any case: both Python SDKs send True/False
            if text.lower() not in {"true", "false"}:
                errors.append((name, f"Schema describes boolean, {text!r} found instead"))
                continue
            value = text.lower() == "true"
        elif kind == "array" and not parameter.get("explode", True):
            value = text.split(",")
        errors += [
            (name if not field else f"{name}.{field}", m) for field, m in validate(value, schema)
        ]
    return errors


@cache
def load_request_schemas() -> dict[str, Any]:
    """The shipped schemas: ``{"METHOD /path": {"query": {…}, "body": schema | None}}``."""
    text = resources.files(__package__).joinpath("request_schemas.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)["operations"]
    return document


@cache
def compiled_body_checks() -> dict[str, Check | None]:
    """The shipped body schemas, compiled once: ``{"METHOD /path": check or None}``."""
    return {
        key: None if operation["body"] is None else compile_schema(operation["body"])
        for key, operation in load_request_schemas().items()
    }


@cache
def served_schemas() -> dict[str, Any]:
    """Every served operation's schemas, and the spec's methods per path.

    Returns:
        ``{"operations": {"METHOD /path": {"query", "body"}}, "paths": {"/path": [methods]}}``.
    """
    text = resources.files(__package__).joinpath("request_schemas_served.json").read_text("utf-8")
    served = json.loads(text)
    return {
        "operations": {**load_request_schemas(), **served["operations"]},
        "paths": served["paths"],
    }


@cache
def compiled_served_checks() -> dict[str, Check | None]:
    """The body schemas of every served operation, compiled once."""
    return {
        key: None if operation["body"] is None else compile_schema(operation["body"])
        for key, operation in served_schemas()["operations"].items()
    }
