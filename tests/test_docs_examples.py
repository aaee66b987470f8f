"""Every ```python block of the docs (docs/**/*.md) runs, or says why it cannot.

The convention, for whoever writes a page:

- **What runs**: every fenced block whose info string is exactly ``python``. Blocks marked
  ``console``, ``text``, ``pycon``, ``{eval-rst}`` and the like are not run, nor are files shown
  with ``literalinclude`` (those have tests of their own, e.g. ``examples/push_worker.py``).
- **Order and namespace**: the blocks of one page run in order, in one namespace, as a reader
  goes through the page: a later block may use what an earlier block defined. Each page starts
  from a fresh namespace. Each block is its own test (``docs/how-to/x.md:42``); running one
  block alone runs the blocks before it on its page first.
- **Skipping**: a block that needs what the test suite does not have (a real AuditCase
  database, a real Mailchimp account, a driver that is not installed) is preceded, on the
  nearest non-blank line above its fence, by ``<!-- docs-test: skip REASON -->``; the reason is
  required and shows in the test report. The comment does not show in the rendered page.
- **Surroundings of a page**: the blocks run in a fresh temporary directory holding copies of
  ``auditcase-export.csv`` and ``auditcase-export.jsonl`` (the bundled examples), with a fake
  Mailchimp (``auditcase_mailchimp.testing.FakeMailchimp``) running on 127.0.0.1 for the page,
  and ``auditcase-mailchimp.sqlite3``, the coupling database after a first sync of that export
  into that fake (44 members, 15 open problems).
  While a block runs, the environment holds ``MAILCHIMP_API_KEY`` (the key the fake accepts),
  ``MAILCHIMP_ACCESS_TOKEN`` (the same, which the fake takes as an OAuth token too),
  ``MAILCHIMP_API_URL`` (the fake's address, e.g. ``http://127.0.0.1:40123/3.0``) and
  ``MAILCHIMP_LIST_ID`` (its audience, ``a1b2c3d4e5``); ``examples/`` is on ``sys.path`` (so
  ``import push_worker`` works, as for a plugin that copied the file next to its code); and the
  namespace holds ``fake_mailchimp``, that fake, as a test using the pytest fixture of the same
  name has it.
  Proxies point at a closed port for everything but 127.0.0.1, so a block that would reach the
  real Mailchimp fails instead of sending anything.
- **Output**: a ```text block that follows a python block, with only blank lines between, is
  what the block prints: the test compares them line by line (trailing spaces aside). Put
  output that varies (timings, ids) in a ``console`` block, or write a sentence between.
- **Test functions**: a block that defines ``test_*`` functions has them called, as pytest
  would, with the arguments ``fake_mailchimp`` (a fresh fake) and ``tmp_path`` by name.

Blocks of pages that other branches own and that do not run yet are listed in
:data:`PENDING` with the reason (see issue 10); an entry there is a to-do, not a convention.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
import io
import os
import re
import shutil
import socket
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from auditcase_mailchimp import ApiKey, ExportFile, MailchimpClient, SQLiteStore, sync
from auditcase_mailchimp.testing import FakeMailchimp

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
LIST_ID = "a1b2c3d4e5"

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\b(?P<reason>.*?)-->\s*$")

#: Blocks that do not run yet, by page and the first line of the block (line numbers move when
#: a page is edited) -> how (``"skip"`` or ``"xfail"``), and why. Empty: every block runs or
#: carries a skip mark. An entry is a to-do, for a page changed in another branch: ``skip``
#: for a block that would reach the real Mailchimp, ``xfail`` for one that fails (strictly: a
#: fixed block makes its entry fail, so the entry is removed with the fix).
PENDING: dict[tuple[str, str], tuple[str, str]] = {}


@dataclass(frozen=True)
class Block:
    """One ```python block of a page."""

    page: str  # relative to docs/
    line: int  # of the opening fence, from 1
    source: str
    skip: str | None  # the reason, when marked to be skipped
    expected: str | None = None  # the ```text block right after it: its standard output


def blocks_of(path: Path) -> list[Block]:
    """The python blocks of one Markdown page, in order, with their skip marks."""
    page = path.relative_to(DOCS).as_posix()
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        fence, info = opening["fence"], opening["info"].strip()
        end = index + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence[0] * len(fence))
            and lines[end].strip().strip(fence[0]) == ""
        ):
            end += 1
        if info == "python":
            source = textwrap.dedent("\n".join(lines[index + 1 : end]))
            expected = _output_after(lines, end + 1)
            found.append(Block(page, index + 1, source, _skip_reason(lines, index), expected))
        index = end + 1
    return found


def _output_after(lines: list[str], start: int) -> str | None:
    """The content of a ```text block that follows at ``start``, after blank lines only."""
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start >= len(lines):
        return None
    opening = _FENCE.match(lines[start])
    if opening is None or opening["info"].strip() != "text":
        return None
    fence = opening["fence"]
    end = start + 1
    while end < len(lines) and lines[end].strip() != fence:
        end += 1
    return textwrap.dedent("\n".join(lines[start + 1 : end]))


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip("\n").splitlines()]


def _skip_reason(lines: list[str], fence_index: int) -> str | None:
    above = fence_index - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    if above < 0:
        return None
    mark = _SKIP.match(lines[above])
    if mark is None:
        return None
    return mark["reason"].strip()


def all_blocks() -> list[Block]:
    """Every python block of every page, page by page."""
    pages = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
    return [block for page in pages for block in blocks_of(page)]


BLOCKS = all_blocks()


def _pending_key(block: Block) -> tuple[str, str]:
    first = next((line.strip() for line in block.source.splitlines() if line.strip()), "")
    return block.page, first


def _not_run(block: Block) -> bool:
    """Marked to be skipped, here or in :data:`PENDING`."""
    pending = PENDING.get(_pending_key(block))
    return block.skip is not None or (pending is not None and pending[0] == "skip")


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@dataclass
class PageRun:
    """The blocks of one page run so far, in their shared namespace and surroundings."""

    page: str
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    namespace: dict[str, Any] = field(default_factory=dict)
    done: dict[int, BaseException | None] = field(default_factory=dict)
    fake: FakeMailchimp | None = None
    directory: Path | None = None

    def _setup(self) -> None:
        scratch = Path(self.stack.enter_context(tempfile.TemporaryDirectory()))
        for name in ("auditcase-export.csv", "auditcase-export.jsonl"):
            shutil.copy(EXAMPLES / name, scratch / name)
        self.directory = scratch
        self.fake = self.stack.enter_context(FakeMailchimp(list_ids=[LIST_ID]))
        # The coupling database of a first sync of the example export, where the pages expect
        # it (``auditcase-mailchimp.sqlite3``, the command line's default).
        with (
            SQLiteStore(scratch / "auditcase-mailchimp.sqlite3") as store,
            MailchimpClient(ApiKey(self.fake.api_key), base_url=self.fake.url) as client,
        ):
            sync(
                ExportFile(scratch / "auditcase-export.csv"),
                store=store,
                client=client,
                list_id=LIST_ID,
            )
        self.namespace.update(
            {"__name__": "__docs_example__", "fake_mailchimp": self.fake, "__file__": self.page}
        )

    @contextlib.contextmanager
    def _surroundings(self) -> Iterator[None]:
        assert self.fake is not None
        assert self.directory is not None
        proxy = f"http://127.0.0.1:{_closed_port()}"
        settings = {
            "MAILCHIMP_API_KEY": self.fake.api_key,
            "MAILCHIMP_API_URL": self.fake.url,
            "MAILCHIMP_LIST_ID": LIST_ID,
            # The fake takes its key as a Bearer token too: it stands for an OAuth token.
            "MAILCHIMP_ACCESS_TOKEN": self.fake.api_key,
            "HTTP_PROXY": proxy,
            "HTTPS_PROXY": proxy,
            "NO_PROXY": "127.0.0.1,localhost",
        }
        saved = {name: os.environ.get(name) for name in settings}
        cwd = Path.cwd()
        os.environ.update(settings)
        os.chdir(self.directory)
        sys.path.insert(0, str(EXAMPLES))
        try:
            yield
        finally:
            sys.path.remove(str(EXAMPLES))
            os.chdir(cwd)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def run(self, block: Block) -> None:
        """Run the blocks of the page up to ``block``, in order; raise what ``block`` raised.

        An earlier block that failed does not stop the later ones: a block that needs its
        names fails on its own, one that does not still runs.
        """
        if self.fake is None:
            self._setup()
        for earlier in (b for b in BLOCKS if b.page == self.page and b.line <= block.line):
            if earlier.line in self.done or _not_run(earlier):
                continue
            try:
                with self._surroundings():
                    self._execute(earlier)
            except BaseException as exc:  # noqa: BLE001 - recorded, re-raised for its own test
                self.done[earlier.line] = exc
            else:
                self.done[earlier.line] = None
        failed = self.done.get(block.line)
        if failed is not None:
            raise failed

    def _execute(self, block: Block) -> None:
        defined = set(self.namespace)
        # Line numbers in a traceback are those of the page: the block starts after its fence.
        code = compile("\n" * block.line + block.source, str(DOCS / block.page), "exec")
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(code, self.namespace)  # noqa: S102 - running the documentation is the point
            for name, value in list(self.namespace.items()):
                if name.startswith("test_") and name not in defined and callable(value):
                    self._call_test(value)
        if block.expected is not None and _lines(printed.getvalue()) != _lines(block.expected):
            shown = "\n".join(
                difflib.unified_diff(
                    _lines(block.expected),
                    _lines(printed.getvalue()),
                    "page",
                    "printed",
                    lineterm="",
                )
            )
            raise AssertionError(
                f"the output shown on the page is not what the block prints:\n{shown}"
            )

    def _call_test(self, function: Any) -> None:
        wanted = inspect.signature(function).parameters
        with contextlib.ExitStack() as stack:
            arguments: dict[str, Any] = {}
            if "fake_mailchimp" in wanted:
                arguments["fake_mailchimp"] = stack.enter_context(FakeMailchimp())
            if "tmp_path" in wanted:
                arguments["tmp_path"] = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            function(**arguments)

    def close(self) -> None:
        """Stop the fake, remove the directory."""
        self.stack.close()


@pytest.fixture(scope="module")
def pages() -> Iterator[dict[str, PageRun]]:
    """The page runs of this module, closed at its end."""
    runs: dict[str, PageRun] = {}
    yield runs
    for run in runs.values():
        run.close()


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.page}:{b.line}" for b in BLOCKS])
def test_docs_example_runs(block: Block, pages: dict[str, PageRun]) -> None:
    """The example runs as printed, against the fake Mailchimp (issue 10: docs that run)."""
    if block.skip is not None:
        if not block.skip:
            pytest.fail(f"{block.page}:{block.line}: a docs-test skip mark needs a reason")
        pytest.skip(block.skip)
    pending = PENDING.get(_pending_key(block))
    if pending is not None and pending[0] == "skip":
        pytest.skip(f"pending fix on its page: {pending[1]}")
    run = pages.setdefault(block.page, PageRun(block.page))
    if pending is None:
        run.run(block)
        return
    try:
        run.run(block)
    except Exception:  # noqa: BLE001 - any failure is the expected one
        pytest.xfail(f"pending fix on its page: {pending[1]}")
    pytest.fail(f"{block.page}:{block.line} runs now: remove its entry from PENDING")


def test_the_collector_finds_blocks_marks_and_output() -> None:
    """The collector reads fences of any length, dedents, takes skip reasons and output blocks."""
    page = DOCS / "_collector_check.md"
    text = (
        "# t\n\n```python\nx = 1\n```\n\n<!-- docs-test: skip needs AuditCase -->\n\n"
        "````python\ny = 2\n````\n\n```console\n$ z\n```\n\n  ```python\n  print(3)\n  ```\n"
        "\n  ```text\n  3\n  ```\n"
    )
    page.write_text(text, encoding="utf-8")
    try:
        found = blocks_of(page)
    finally:
        page.unlink()
    assert [(b.line, b.source, b.skip, b.expected) for b in found] == [
        (3, "x = 1", None, None),
        (9, "y = 2", "needs AuditCase", None),
        (17, "print(3)", None, "3"),
    ]


def test_there_are_blocks_to_run() -> None:
    """The docs hold python examples, and every one is collected (a parser slip shows here)."""
    fences = sum(
        1
        for p in DOCS.rglob("*.md")
        if "_build" not in p.parts
        for line in p.read_text(encoding="utf-8").splitlines()
        if re.match(r"^\s*(`{3,}|~{3,})python\s*$", line)
    )
    assert fences == len(BLOCKS) > 0


def test_every_pending_entry_names_a_block() -> None:
    """A PENDING entry whose block was changed or removed is stale: remove it."""
    keys = {_pending_key(block) for block in BLOCKS}
    assert set(PENDING) <= keys, sorted(set(PENDING) - keys)
