# ruff: noqa: INP001 - a script, not a package
"""Print which operations of Mailchimp's spec under /lists and /batches the fake serves.

The table is made from the fake's own route table (``auditcase_mailchimp.testing._routes``)
and the vendored spec (``tests/data/mailchimp-openapi.yaml``), and lives in
``docs/reference/testing.md`` between two markers; ``tests/test_fake_coverage.py`` fails when
it is stale. Usage::

    python scripts/fake_coverage.py            # print the table
    python scripts/fake_coverage.py --write    # put it into docs/reference/testing.md
    python scripts/fake_coverage.py --check    # exit 1 when the doc's table is stale
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Final

import yaml

from auditcase_mailchimp.testing._routes import ROUTES

ROOT: Final = Path(__file__).resolve().parents[1]
SPEC: Final = ROOT / "tests" / "data" / "mailchimp-openapi.yaml"
DOC: Final = ROOT / "docs" / "reference" / "testing.md"
START: Final = "<!-- fake-coverage: start (made by scripts/fake_coverage.py) -->"
END: Final = "<!-- fake-coverage: end -->"
_METHODS: Final = ("get", "post", "put", "patch", "delete")


def operations(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Every ``(method, path, summary)`` of the spec under ``/lists`` and ``/batches``."""
    found = []
    for path, item in spec["paths"].items():
        if path.split("/")[1] not in {"lists", "batches"}:
            continue
        found += [
            (method.upper(), path, str(item[method].get("summary", "")).strip())
            for method in _METHODS
            if method in item
        ]
    return sorted(found, key=lambda op: (op[1], _METHODS.index(op[0].lower())))


def _mark(served: bool) -> str:  # noqa: FBT001 - a table cell
    return "served" if served else "not served"


def table(spec: dict[str, Any]) -> str:
    """The Markdown table, with a count line, between the markers."""
    served = {(route.method, route.template) for route in ROUTES}
    ops = operations(spec)
    count = sum((method, path) in served for method, path, _ in ops)
    lines = [
        START,
        "",
        (
            f"The fake serves {count} of the spec's {len(ops)} operations under `/lists` and "
            '`/batches` (Mailchimp spec 3.0.55); any other is answered 501 "Not Implemented".'
        ),
        "",
        "| operation | summary | fake |",
        "| --- | --- | --- |",
    ]
    lines += [
        f"| `{method} {path}` | {summary} | {_mark((method, path) in served)} |"
        for method, path, summary in ops
    ]
    lines += ["", END]
    return "\n".join(lines)


def load_spec() -> dict[str, Any]:
    """The vendored spec."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open("rb") as file:
        spec: dict[str, Any] = yaml.load(file, Loader=loader)  # noqa: S506 - a safe loader
    return spec


def with_table(document: str, made: str) -> str:
    """The doc with its table replaced (or appended when the markers are missing)."""
    if START in document and END in document:
        before, _, rest = document.partition(START)
        _, _, after = rest.partition(END)
        return before + made + after
    return document.rstrip("\n") + "\n\n" + made + "\n"


def main(argv: list[str]) -> int:
    """Print, write or check the table."""
    made = table(load_spec())
    if argv == ["--write"]:
        DOC.write_text(with_table(DOC.read_text(encoding="utf-8"), made), encoding="utf-8")
        return 0
    if argv == ["--check"]:
        current = DOC.read_text(encoding="utf-8")
        if with_table(current, made) != current:
            sys.stderr.write(
                "docs/reference/testing.md: the coverage table is stale; run "
                "python scripts/fake_coverage.py --write\n"
            )
            return 1
        return 0
    sys.stdout.write(made + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
