"""The coverage table of docs/reference/testing.md is the fake's route table (issue 11 item 4)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from auditcase_mailchimp.testing._routes import ROUTES

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fake_coverage.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fake_coverage", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_documented_coverage_table_is_not_stale() -> None:
    """docs/reference/testing.md holds the table the script makes now (issue 11 item 4)."""
    script = _script()
    assert script.main(["--check"]) == 0, "run: python scripts/fake_coverage.py --write"


def test_the_table_lists_every_operation_and_marks_the_routes_served() -> None:
    """Each route under /lists and /batches is 'served'; the rest 'not served' (issue 11)."""
    script = _script()
    made = script.table(script.load_spec())
    ops = script.operations(script.load_spec())
    rows = [line for line in made.splitlines() if line.startswith("| `")]
    assert len(rows) == len(ops) == 73
    served = {
        f"{r.method} {r.template}" for r in ROUTES if r.template.startswith(("/lists", "/batches"))
    }
    marked = {row.split("`")[1] for row in rows if row.endswith("| served |")}
    assert marked == served
    assert f"serves {len(served)} of the spec's 73" in made


def test_a_stale_table_is_found() -> None:
    """The check is not vacuous: a changed table is stale (issue 11 item 4)."""
    script = _script()
    made = script.table(script.load_spec())
    document = f"# Doc\n\n{made}\n"
    assert script.with_table(document, made) == document
    assert script.with_table(document.replace("| served |", "| not served |", 1), made) == document
