"""``auditcase-mailchimp sync`` (R9.1): run a sync, show its progress, print its summary.

Loaded only when the command is ``sync``: it brings the runner, the store, the reader and the
client with it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gettext
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

from ._cli_context import (
    DEFAULT_DB,
    Context,
    SafeStream,
    UsageError,
    check_list_id_flag,
    make_client,
    quote,
)
from ._errors import AuditCaseMailchimpError
from ._json_out import dumps, sync_output
from ._models import PersonKind
from ._plan import Action, Archive, ChangeAddress, Plan, Release, Upsert
from ._source import SUFFIXES, ExportFile
from ._store import SQLiteStore, is_refusal
from ._summary import summarise
from ._summary_text import render_summary
from ._sync import sync

__all__ = ["Progress", "run_sync"]


def _source(ctx: Context) -> ExportFile:
    """The export, its format from ``--format`` or the file name (never a Python argument)."""
    path = Path(ctx.args.source)
    given: Literal["csv", "jsonl"] | None = ctx.args.format
    file_format = given or SUFFIXES.get(path.suffix.lower())
    if file_format is None:
        raise UsageError(
            ctx.tr.gettext(
                "--source {name}: cannot tell the file's format from its name; name it .csv or "
                ".jsonl, or add --format csv (or --format jsonl)"
            ).format(name=path.name)
        )
    return ExportFile(path, file_format=file_format)


def _command_line(args: argparse.Namespace) -> str:
    """The sync command to run again, with the flags given (never the credentials)."""
    parts = ["auditcase-mailchimp", "sync", "--source", quote(args.source)]
    if args.format:
        parts += ["--format", args.format]
    parts += ["--list-id", quote(args.list_id)]
    if args.db != DEFAULT_DB:
        parts += ["--db", quote(args.db)]
    if args.api_url:
        parts += ["--api-url", quote(args.api_url)]
    if args.reconcile:
        parts.append("--reconcile")
    return " ".join(parts)


def run_sync(ctx: Context) -> int:  # noqa: C901, PLR0912 - one run, told in order
    """Run ``sync`` and print its summary (R9.1); return the exit status (R9.6)."""
    args, tr = ctx.args, ctx.tr
    check_list_id_flag(ctx)
    source = _source(ctx)
    client = make_client(ctx, args.api_url)  # credentials first: a usage error creates no file
    db = Path(args.db)
    new_file = not db.exists()
    if not args.dry_run:
        store = SQLiteStore(db)
    elif not new_file:
        store = SQLiteStore(db, read_only=True)  # R7.3: a dry run writes nothing anywhere
    else:
        store = SQLiteStore(":memory:")  # nor creates the file
    progress = Progress(ctx.err, tr)
    started = time.monotonic()
    open_refusals = 0
    try:
        with store, client, _fewer_collections():
            report = sync(
                source,
                store=store,
                client=client,
                list_id=args.list_id,
                dry_run=args.dry_run,
                reconcile=args.reconcile,
                retry_failed=args.retry_failed,
                allow_mass_archive=args.allow_mass_archive,
                progress=progress,
            )
            if args.fail_on_open_refusals:
                open_refusals = sum(
                    1 for entry in store.failures() if is_refusal(entry.status, entry.category)
                )
    except AuditCaseMailchimpError:
        if new_file and not args.dry_run and db.exists() and not ctx.sent:
            with SQLiteStore(db, read_only=True) as check:
                untouched = not check.runs()
            if untouched:  # stopped before anything was written: leave no empty file behind
                _remove_database(db)
        raise
    finally:
        progress.close()
    summary = summarise(
        report,
        duration_seconds=time.monotonic() - started,
        command=_command_line(args),
        db=quote(args.db) if args.db != DEFAULT_DB else "",
        persons_read=progress.totals.get("read"),
        fail_on_open_refusals=args.fail_on_open_refusals,
        open_refusals=open_refusals,
    )
    if args.json:
        ctx.out.line(dumps(sync_output(summary, report), indent=None))
    else:
        if args.dry_run:
            _print_plan(report.plan, ctx)
        for line in render_summary(summary, tr):
            ctx.out.line(line)
        if args.fail_on_open_refusals and open_refusals:
            ctx.out.line(
                tr.ngettext(
                    "{n} refusal stays open in the failure overview (--fail-on-open-refusals).",
                    "{n} refusals stay open in the failure overview (--fail-on-open-refusals).",
                    open_refusals,
                ).format(n=open_refusals)
            )
    return summary.exit_status


#: The collector's thresholds while the command line runs a sync (generation 0 grows from 700).
_SYNC_GC_THRESHOLD = (100_000, 20, 10)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the collector less often during the sync, then as before (this process only).

    A large sync makes millions of objects that live to its end, and with the default
    thresholds the collector walks them again and again: a sixth to a quarter of a dry run of a
    million persons. Cyclic garbage is still collected, in larger batches. Only the command
    line does this, for its own process and the length of the run; the library's functions
    never touch the collector of the program that calls them.
    """
    before = gc.get_threshold()
    gc.set_threshold(*_SYNC_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _remove_database(db: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


#: How many plan lines are joined into one write: a million single writes cost seconds.
_BLOCK = 4096


def _print_plan(plan: Plan, ctx: Context) -> None:
    """Print the plan, one line per action, in blocks of lines (R7.3)."""
    ctx.out.line(ctx.tr.gettext("Plan (dry run: nothing is sent, nothing is written):"))
    describe = _Describer(ctx.tr)
    actions = plan.actions
    for start in range(0, len(actions), _BLOCK):
        block = actions[start : start + _BLOCK]
        ctx.out.write("".join([f"  {describe(action)}\n" for action in block]))
    if not actions:
        ctx.out.line("  " + ctx.tr.gettext("nothing to do"))


class _Describer:
    """One line per action, with the words translated once rather than once per action."""

    def __init__(self, tr: gettext.NullTranslations) -> None:
        self.client = tr.gettext("client")
        self.contact = tr.gettext("contact person")
        self.create = f"{tr.gettext('create'):<8}"
        self.readd = f"{tr.gettext('re-add'):<8}"
        self.update = f"{tr.gettext('update'):<8}"
        self.move = f"{tr.gettext('move'):<8}"
        self.archive = f"{tr.gettext('archive'):<8}"
        self.release = f"{tr.gettext('release'):<8}"
        self.not_archived = tr.gettext("not archived")
        self.record = f"{tr.gettext('record'):<8}"
        self.as_wanted = f"({tr.gettext('already as wanted')})"
        self.tag_texts: dict[tuple[frozenset[str], frozenset[str]], str] = {}

    def __call__(self, action: Action) -> str:
        """The line of one action, without its indent."""
        kind = self.client if action.kind is PersonKind.CLIENT_PERSON else self.contact
        who = f"({kind} {action.person_id})"
        if isinstance(action, Upsert):
            verb = (
                self.create
                if action.create
                else (self.readd if action.send_status else self.update)
            )
            return f"{verb} {action.email_address} {who}{self._changes(action)}"
        if isinstance(action, ChangeAddress):
            return (
                f"{self.move} {action.old_email_address} -> {action.email_address} {who}"
                f"{self._changes(action)}"
            )
        if isinstance(action, Archive):
            return f"{self.archive} {action.email_address} {who}"
        if isinstance(action, Release):  # R4.5: cleaned or pending members are released
            return (
                f"{self.release} {action.email_address} {who} "
                f"({action.status}: {self.not_archived})"
            )
        return f"{self.record} {action.email_address} {who} {self.as_wanted}"

    def _changes(self, action: Upsert | ChangeAddress) -> str:
        """``: FNAME='…', +tag '…', -tag '…'``, or nothing when nothing changes."""
        fields = action.merge_fields
        text = ", ".join([f"{name}={fields[name]!r}" for name in sorted(fields)])
        tags = self._tags(action.tags_add, action.tags_remove)
        if tags:
            text = f"{text}, {tags}" if text else tags
        return f": {text}" if text else ""

    def _tags(self, add: frozenset[str], remove: frozenset[str]) -> str:
        """The tag changes as printed; kept per pair of sets, as persons share a few pairs."""
        text = self.tag_texts.get((add, remove))
        if text is None:
            parts = [f"+tag {tag!r}" for tag in sorted(add)]
            parts += [f"-tag {tag!r}" for tag in sorted(remove)]
            text = ", ".join(parts)
            if len(self.tag_texts) < _TAG_TEXTS:
                self.tag_texts[add, remove] = text
        return text


#: At most this many texts of tag changes are kept while a plan is printed.
_TAG_TEXTS = 10_000


class Progress:
    """A progress bar with rate and time left on a terminal; silent anywhere else."""

    def __init__(
        self,
        stream: SafeStream,
        tr: gettext.NullTranslations,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.tr = tr
        self.tty = stream.isatty()
        self.clock = clock
        self.started: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.totals: dict[str, int] = {}
        self.drawn = False

    def _name(self, phase: str) -> str:
        names = {
            "read": self.tr.gettext("reading"),
            "plan": self.tr.gettext("planning"),
            "push": self.tr.gettext("sending"),
        }
        return names.get(phase, phase)

    def __call__(self, phase: str, done: int, total: int) -> None:
        """Note how far a phase is; redraw the bar at most ten times a second."""
        self.totals[phase] = total
        if not self.tty:
            return
        now = self.clock()
        start = self.started.setdefault(phase, now)
        finished = done >= total
        if not finished and now - self.last.get(phase, -10.0) < 0.1:  # noqa: PLR2004 - 10/s
            return
        self.last[phase] = now
        width = 24
        filled = width if total == 0 else int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        text = f"\r{self._name(phase):<10} [{bar}] {done}/{total}"
        elapsed = now - start
        if done and elapsed > 0:
            rate = done / elapsed
            text += "  " + self.tr.gettext("{rate:.0f}/s").format(rate=rate)
            if not finished:
                left = round((total - done) / rate)
                text += "  " + self.tr.gettext("{m}:{s:02d} left").format(m=left // 60, s=left % 60)
            else:
                text += "  " + self.tr.gettext("done in {s:.1f} s").format(s=elapsed)
        self.stream.write(f"{text}\033[K")
        self.drawn = True
        if finished:
            self.stream.write("\n")
            self.drawn = False
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line, if one is drawn."""
        if self.drawn:
            self.stream.write("\n")
            self.drawn = False
