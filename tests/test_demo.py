"""The demo (``python -m auditcase_mailchimp.demo``) reads as an administrator needs it."""

from __future__ import annotations

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
    assert "requests sent by this sync: 0" in out
    assert "Traceback" not in out
    # the problems are listed in full once by the sync and once, with entry ids, by `failures`
    assert out.count("ijsbrand hendriks@example.nl") == 2


def test_the_demo_in_dutch(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 10: a Dutch administrator reads the demo in Dutch."""
    assert main(["--lang", "nl"]) == 0
    out = capsys.readouterr().out
    assert "65 personen gelezen uit de export" in out
    assert "3 personen zonder e-mailadres" in out
    assert "Volgende stap:" in out
