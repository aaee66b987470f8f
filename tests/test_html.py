"""The HTML report (``report --html``, ``failures --html``): one self-contained page."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from .test_cli import Cli
from .test_sync import BASE, CONTACT, person, write_export


class _Page(HTMLParser):
    """Collects tags, attributes and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


@pytest.fixture
def cli(fake: Any, tmp_path: Path) -> Cli:
    """The command line against a fresh fake."""
    return Cli(fake, tmp_path)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _synced(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "export.jsonl"
    write_export(
        source,
        [*BASE, person("8", ""), person("9", "test@example.nl"), person("7", "x@example"),
         person("6", "jan@example.nl", kind=CONTACT)],
    )  # fmt: skip
    cli.sync(source)
    cli.fake.audience().unsubscribe("piet@example.nl")
    cli.sync(source, "--reconcile")


def test_report_html_holds_the_runs_failures_and_both_lists(cli: Cli, tmp_path: Path) -> None:
    """R9.4, R6: the page has the chart of the runs, the open failures, R5.3 and R3."""
    _synced(cli, tmp_path)
    page_path = tmp_path / "report.html"
    assert cli("report", "--db", cli.db, "--html", str(page_path)) == 0
    assert str(page_path) in cli.out
    page = _parse(page_path)
    text = " ".join(page.text)
    assert "svg" in page.tags
    assert page.tags.count("rect") >= 2  # a bar per run at least
    assert "1 person without an e-mail address" in text
    assert "has no dot after the @ (.nl, .com... is missing)" in text
    assert "1 address Mailchimp does not accept (looks fake or invalid)" in text
    assert "piet@example.nl" in text  # R5.3
    assert "jan@example.nl" in text  # R3
    assert "Unsubscribed or bounced in Mailchimp, still linked in AuditCase (R5.3)" in text


def test_the_page_references_nothing_outside_itself(cli: Cli, tmp_path: Path) -> None:
    """Issue 10: no network, no script: nothing linked, loaded or run."""
    _synced(cli, tmp_path)
    page_path = tmp_path / "failures.html"
    assert cli("failures", "--db", cli.db, "--html", str(page_path)) == 0
    page = _parse(page_path)
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(page.tags)
    for tag, name, value in page.attributes:
        assert name not in {"src", "href", "srcset", "action"}, (tag, name)
        assert not name.startswith("on"), (tag, name)
        assert "url(" not in (value or ""), (tag, name)
    raw = page_path.read_text(encoding="utf-8")
    assert "http://" not in raw
    assert "https://" not in raw
    assert "@import" not in raw


def test_the_page_reads_on_a_phone(cli: Cli, tmp_path: Path) -> None:
    """Issue 10: a viewport meta tag and a narrow-screen rule."""
    _synced(cli, tmp_path)
    page_path = tmp_path / "report.html"
    cli("report", "--db", cli.db, "--html", str(page_path))
    page = _parse(page_path)
    assert ("meta", "name", "viewport") in page.attributes
    assert "@media (max-width" in page_path.read_text(encoding="utf-8")


def test_the_page_in_dutch(cli: Cli, tmp_path: Path) -> None:
    """R9.1: the page follows --lang."""
    _synced(cli, tmp_path)
    page_path = tmp_path / "rapport.html"
    assert cli("report", "--db", cli.db, "--html", str(page_path), "--lang", "nl") == 0
    page = _parse(page_path)
    assert ("html", "lang", "nl") in page.attributes
    assert "1 persoon zonder e-mailadres (vul ContactEMailRE of CompanyEmailREBT in)" in page.text


def test_an_empty_database_gives_a_page_that_says_so(cli: Cli, tmp_path: Path) -> None:
    """R9.4: before the first sync the page says there is nothing yet."""
    source = tmp_path / "export.jsonl"
    write_export(source, BASE)
    cli.sync(source)
    page_path = tmp_path / "report.html"
    assert cli("report", "--db", cli.db, "--html", str(page_path)) == 0
    text = " ".join(_parse(page_path).text)
    assert "No open entries in the failure overview." in text
    assert "none" in text


def test_html_escapes_what_it_shows(cli: Cli, tmp_path: Path) -> None:
    """Security: names and addresses are escaped, so a value cannot add markup."""
    source = tmp_path / "export.jsonl"
    write_export(source, [*BASE, person("<b>x</b>", "<script>@example")])
    cli.sync(source)
    page_path = tmp_path / "report.html"
    cli("report", "--db", cli.db, "--html", str(page_path))
    page = _parse(page_path)
    assert "script" not in page.tags
    assert "b" not in page.tags
