"""The demo (``python -m auditcase_mailchimp.demo``) reads as an administrator needs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditcase_mailchimp.demo import main


def test_the_demo_tells_what_to_fix_in_auditcase(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 10: the demo's summary counts, groups the problems and names the next command."""
    assert main(["--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "65 persons read from the export" in out
    assert "Plan: 44 to create, 0 to update, 0 to archive." in out
    assert "3 persons without an e-mail address" in out
    assert "w.meijer@example: has no dot after the @" in out
    assert "ijsbrand hendriks@example.nl: has a space in it" in out
    assert "Next:" in out
    assert "nothing was sent: 0 requests" in out
    assert "Traceback" not in out
    assert out.count("ijsbrand hendriks@example.nl") == 1  # each person listed once (issue 10)
    assert "20 entries in the failure overview:" in out
    assert "report --html" in out


def test_the_demo_in_dutch(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 10: a Dutch administrator reads the demo in Dutch."""
    assert main(["--lang", "nl"]) == 0
    out = capsys.readouterr().out
    assert "65 personen gelezen uit de export" in out
    assert "3 personen zonder e-mailadres" in out
    assert "Volgende stap:" in out
    assert "er is niets veranderd, dus niets verstuurd: 0 verzoeken" in out


def test_the_demo_writes_the_html_report(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Issue 10: --html FILE writes the page of the demo's database."""
    page = tmp_path / "report.html"
    assert main(["--lang", "en", "--html", str(page)]) == 0
    assert f"wrote {page}" in capsys.readouterr().out
    assert "<svg" in page.read_text(encoding="utf-8")
