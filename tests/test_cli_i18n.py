"""The command line's languages (R9.1): Dutch where the locale is Dutch, English otherwise."""

from __future__ import annotations

import gettext
import importlib.util
import io
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from auditcase_mailchimp._i18n import detect_language, translations

ROOT = Path(__file__).resolve().parents[1]


def _compiler() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "compile_catalogs", ROOT / "scripts" / "compile_catalogs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["compile_catalogs"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({}, "en"),
        ({"LANG": "nl_NL.UTF-8"}, "nl"),
        ({"LANG": "nl_BE"}, "nl"),
        ({"LANG": "nl"}, "nl"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "C"}, "en"),
        ({"LANG": "nl_NL.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "nl_NL"}, "nl"),
        ({"LC_MESSAGES": "nl_NL", "LC_ALL": "C.UTF-8"}, "en"),
        ({"LC_ALL": "nl_NL.UTF-8@euro", "LANG": "en_US"}, "nl"),
        ({"LANG": "  "}, "en"),
    ],
)
def test_the_locale_chooses_the_language(environ: dict[str, str], language: str) -> None:
    """R9.1: LC_ALL, then LC_MESSAGES, then LANG decide; Dutch only for nl."""
    assert detect_language(environ) == language


def test_the_shipped_mo_is_up_to_date() -> None:
    """Packaging: the .mo next to each .po is what the stdlib compiler makes of it."""
    compiler = _compiler()
    catalogs = compiler.catalogs()
    assert catalogs
    for po in catalogs:
        assert po.with_suffix(".mo").read_bytes() == compiler.compile_po(
            po.read_text(encoding="utf-8")
        ), f"run python scripts/compile_catalogs.py ({po})"


def test_every_message_has_a_dutch_translation() -> None:
    """R9.1: each message the code asks gettext for is translated in the Dutch catalog."""
    compiler = _compiler()
    (po,) = [p for p in compiler.catalogs() if p.parent.parent.name == "nl"]
    entries = compiler.parse_po(po.read_text(encoding="utf-8"))
    used = compiler.used_messages()
    assert len(used) > 100
    missing = [m for m in used if not all(entries.get(m, [""]))]
    assert missing == []


def test_placeholders_survive_translation() -> None:
    """R9.1: a Dutch message has the same {placeholders} as the English one."""
    compiler = _compiler()
    (po,) = [p for p in compiler.catalogs() if p.parent.parent.name == "nl"]
    pattern = re.compile(r"\{[a-z_]+[^}]*\}")
    for (msgid, plural), strs in compiler.parse_po(po.read_text(encoding="utf-8")).items():
        if not msgid:
            continue
        wanted = set(pattern.findall(msgid)) | set(pattern.findall(plural or ""))
        for text in strs:
            assert set(pattern.findall(text)) <= wanted, (msgid, text)


def test_dutch_plurals() -> None:
    """R9.1: the Dutch catalog knows singular and plural."""
    tr = translations("nl")
    one = tr.ngettext("{n} problem to fix:", "{n} problems to fix:", 1)
    many = tr.ngettext("{n} problem to fix:", "{n} problems to fix:", 2)
    assert one == "{n} probleem op te lossen:"
    assert many == "{n} problemen op te lossen:"
    assert translations("en").gettext("client") == "client"
    assert translations("de").gettext("client") == "client"


def test_the_compiler_reads_what_gettext_writes() -> None:
    """Packaging: multi-line strings, escapes, plurals and fuzzy entries compile as msgfmt does."""
    compiler = _compiler()
    text = "\n".join(  # noqa: FLY002 - one .po line per list item reads best
        [
            'msgid ""',
            'msgstr ""',
            '"Content-Type: text/plain; charset=UTF-8\\n"',
            '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"',
            "",
            "# a comment",
            'msgid "a "',
            '"b"',
            'msgstr "x \\"y\\""',
            "",
            "#, fuzzy",
            'msgid "fuzzy"',
            'msgstr "skip"',
            "",
            'msgid "one"',
            'msgid_plural "many"',
            'msgstr[0] "een"',
            'msgstr[1] "veel"',
            "",
            'msgid "untranslated"',
            'msgstr ""',
        ]
    )
    catalog = gettext.GNUTranslations(io.BytesIO(compiler.compile_po(text)))
    assert catalog.gettext("a b") == 'x "y"'
    assert catalog.gettext("fuzzy") == "fuzzy"
    assert catalog.ngettext("one", "many", 1) == "een"
    assert catalog.ngettext("one", "many", 5) == "veel"
    assert catalog.gettext("untranslated") == "untranslated"
    with pytest.raises(ValueError, match="cannot read"):
        compiler.parse_po("bogus line")
