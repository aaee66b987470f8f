"""Messages in the administrator's language: Dutch where the locale is Dutch, English otherwise.

The English texts are the message ids in the code; the Dutch catalog ships inside the package
as ``locale/nl/LC_MESSAGES/auditcase_mailchimp.po`` with its compiled ``.mo`` next to it
(``scripts/compile_catalogs.py`` compiles it with the standard library alone; a test checks
that the ``.mo`` is up to date). Nothing here reads the process locale by itself: the command
line passes its environment, so tests choose the language.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from typing import Final

__all__ = ["DOMAIN", "LANGUAGES", "LOCALE_VARIABLES", "detect_language", "translations"]

#: The gettext domain: the catalog's file name without ``.mo``.
DOMAIN: Final = "auditcase_mailchimp"
#: The languages the command line speaks; the first is the fallback.
LANGUAGES: Final = ("en", "nl")
#: The locale variables that name the language of messages, strongest first (POSIX).
LOCALE_VARIABLES: Final = ("LC_ALL", "LC_MESSAGES", "LANG")


def detect_language(environ: Mapping[str, str]) -> str:
    """Return ``"nl"`` when the locale of ``environ`` is Dutch, ``"en"`` otherwise.

    The first of ``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` that is set decides, as POSIX says:
    ``nl_NL.UTF-8``, ``nl_BE`` and ``nl`` are Dutch; ``C``, ``POSIX`` and every other
    language are English.

    Args:
        environ: The environment (``os.environ`` or a test's mapping).

    Returns:
        ``"nl"`` or ``"en"``.
    """
    for name in LOCALE_VARIABLES:
        value = environ.get(name, "").strip()
        if value:
            language = value.split(".")[0].split("@")[0].split("_")[0].lower()
            return "nl" if language == "nl" else "en"
    return "en"


def translations(language: str) -> gettext.NullTranslations:
    """Return the catalog for ``language``; English (the message ids themselves) otherwise.

    Args:
        language: ``"nl"`` or ``"en"``; any other value gives English.

    Returns:
        An object with ``gettext`` and ``ngettext``.
    """
    if language != "nl":
        return gettext.NullTranslations()
    from importlib import resources  # noqa: PLC0415 - English needs no catalog (--help)

    catalog = (
        resources.files("auditcase_mailchimp")
        / "locale"
        / language
        / "LC_MESSAGES"
        / f"{DOMAIN}.mo"
    )
    with catalog.open("rb") as file:
        return gettext.GNUTranslations(file)
