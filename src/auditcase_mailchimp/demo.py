"""The main job, end to end: ``python -m auditcase_mailchimp.demo``.

Starts the bundled fake Mailchimp (:class:`~auditcase_mailchimp.testing.FakeMailchimp`) on
127.0.0.1, then runs the real command line against it: a sync of the bundled example
AuditCase export (65 invented persons showing every rule and problem of the coupling) into
the fake audience with the SQLite coupling database, a second sync (which sends nothing) and
the counts of the failure overview; each person is listed once, by the first sync. Nothing
leaves the machine.

Options: ``--db PATH`` keeps the coupling database (default: a temporary directory, removed
afterwards); ``--source FILE`` syncs another export; ``--html FILE`` also writes the HTML
report; ``--lang nl|en`` chooses the language (by default Dutch where the locale is Dutch,
English otherwise).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from ._cli import main as cli
from ._i18n import LANGUAGES, LOCALE_VARIABLES, detect_language, translations
from .testing import DEFAULT_API_KEY, DEFAULT_LIST_ID, FakeMailchimp

__all__ = ["example_export", "main"]


def example_export() -> Path:
    """Return the path of the bundled example export (``examples/auditcase-export.csv``).

    Returns:
        The file inside the installed package, or the repository's copy in a checkout.
    """
    packaged = resources.files("auditcase_mailchimp") / "_demo" / "auditcase-export.csv"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "examples" / "auditcase-export.csv"


def _headings(text: str) -> str:
    """The lines of an overview without the persons (indented by four): the counts per reason."""
    return "\n".join(line for line in text.rstrip("\n").split("\n") if not line.startswith("    "))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; return 0 when it ran as it should.

    Args:
        argv: ``--db PATH``, ``--source FILE``, ``--html FILE`` and ``--lang nl|en``, all
            optional.

    Returns:
        0 when both syncs ran and the second sent nothing; 1 otherwise.
    """
    parser = argparse.ArgumentParser(prog="python -m auditcase_mailchimp.demo")
    parser.add_argument("--db", help="keep the coupling database here")
    parser.add_argument("--source", default=str(example_export()), help="the export to sync")
    parser.add_argument("--html", metavar="FILE", help="also write the HTML report to FILE")
    parser.add_argument("--lang", choices=LANGUAGES, help="language of the messages")
    args = parser.parse_args(argv)
    locale = {k: v for k, v in os.environ.items() if k in LOCALE_VARIABLES}
    tr = translations(args.lang or detect_language(locale))
    lang = ["--lang", args.lang] if args.lang else []
    with tempfile.TemporaryDirectory() as scratch, FakeMailchimp() as fake:
        db = args.db or str(Path(scratch) / "auditcase-mailchimp.sqlite3")
        env = {"MAILCHIMP_API_KEY": DEFAULT_API_KEY, **locale}
        common = ["--list-id", DEFAULT_LIST_ID, "--api-url", fake.url, "--db", db, *lang]
        print(
            tr.gettext("Fake Mailchimp at {url}, audience {list_id}; database {db}").format(
                url=fake.url, list_id=DEFAULT_LIST_ID, db=db
            )
        )
        print(f"\n$ auditcase-mailchimp sync --source {args.source} ...")
        first = cli(["sync", "--source", args.source, *common], environ=env)
        print(
            tr.gettext(
                "(exit status {code}: 1 means some persons have problems to fix in AuditCase)"
            ).format(code=first)
        )
        sent = len(fake.requests)
        print("\n$ auditcase-mailchimp sync ...")
        captured = io.StringIO()
        second = cli(["sync", "--source", args.source, *common], environ=env, stdout=captured)
        again = len(fake.requests) - sent
        print(captured.getvalue().split("\n\n")[0])  # the counts; the problems are as above
        if again == 0:
            print(
                tr.gettext(
                    "(nothing changed, so nothing was sent: {n} requests; the problems are the "
                    "same as above)"
                ).format(n=again)
            )
        else:
            print(
                tr.ngettext(
                    "(the second run sent {n} request; the problems are the same as above)",
                    "(the second run sent {n} requests; the problems are the same as above)",
                    again,
                ).format(n=again)
            )
        print("\n$ auditcase-mailchimp failures")
        captured = io.StringIO()
        cli(["failures", "--db", db, *lang], environ=env, stdout=captured)
        print(_headings(captured.getvalue()))
        print(
            tr.gettext(
                "(the persons are those listed above; 'auditcase-mailchimp failures' lists them "
                "with the entry id that 'failures dismiss' takes)"
            )
        )
        if args.html:
            print(f"\n$ auditcase-mailchimp report --html {args.html}")
            cli(["report", "--db", db, "--html", args.html, *lang], environ=env)
        statuses = fake.audience().statuses()
        print(
            "\n"
            + tr.gettext("The fake audience now holds {n} members: {statuses}").format(
                n=sum(statuses.values()),
                statuses=", ".join(
                    f"{count} {status}" for status, count in sorted(statuses.items())
                ),
            )
        )
        if not args.html:
            print(
                tr.gettext(
                    "For a page to share, with the persons to look at in AuditCase and a chart "
                    "of the runs: python -m auditcase_mailchimp.demo --html report.html (on your "
                    "own database: auditcase-mailchimp report --html report.html)"
                )
            )
    return 0 if first in (0, 1) and second == first and again == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
