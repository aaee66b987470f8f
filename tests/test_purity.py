"""The core stays pure: no network, no database, no clock (issue 2; STYLE.md: sans-IO core)."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import auditcase_mailchimp

PACKAGE = Path(auditcase_mailchimp.__file__).parent
CORE = {
    "_models", "_mapping", "_desired", "_plan", "_steps", "_run_rules", "_bulk_rules", "_settle",
    "_errors", "_validate", "_version",
}  # fmt: skip
FORBIDDEN = {
    "requests",
    "urllib3",
    "sqlite3",
    "socket",
    "http",
    "urllib",
    "ssl",
    "time",
    "datetime",
    "random",
    "secrets",
    "threading",
    "asyncio",
    "os",
    "subprocess",
    "logging",
}


def _imports(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            prefix = "." * node.level
            names.add(prefix + (node.module or ""))
    return names


def test_core_modules_import_nothing_that_does_io() -> None:
    """The core imports neither requests nor sqlite3, nor the clock, randomness or the network."""
    for module in CORE:
        for name in _imports(module):
            if name.startswith("."):
                assert name[1:] in CORE, f"{module} imports the non-core module {name}"
            else:
                assert name.split(".")[0] not in FORBIDDEN, f"{module} imports {name}"


def test_core_runs_with_io_modules_blocked() -> None:
    """Loading only the core modules, with requests and sqlite3 made unimportable, works."""
    script = textwrap.dedent(
        f"""
        import importlib.util, sys, types
        for name in ("requests", "sqlite3", "socket"):
            sys.modules[name] = None  # importing it now raises ImportError
        package = types.ModuleType("auditcase_mailchimp")
        package.__path__ = [{str(PACKAGE)!r}]
        sys.modules["auditcase_mailchimp"] = package
        for module in ("_errors", "_validate", "_models", "_mapping", "_desired", "_plan",
                       "_run_rules", "_steps", "_bulk_rules", "_settle"):  # fmt: skip
            importlib.import_module("auditcase_mailchimp." + module)
        from auditcase_mailchimp._models import Person, PersonKind
        from auditcase_mailchimp._desired import desired_state
        from auditcase_mailchimp._plan import plan_sync
        person = Person(person_id="1", kind=PersonKind.CLIENT_PERSON,
                        contact_email="jan@example.nl", linked=True)
        plan = plan_sync([], desired_state([person]))
        assert len(plan.actions) == 1
        from auditcase_mailchimp._steps import after, start, Answer
        assert after(start(plan.actions[0]), Answer(created=True)).counts == ("created",)
        assert "requests" not in [m for m in sys.modules if sys.modules[m] is not None]
        print("pure")
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pure"
