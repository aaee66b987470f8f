# ruff: noqa: T201, INP001 - a command-line script that prints; scripts/ is no package
"""Compile the gettext catalogs (.po -> .mo) and list the messages the code asks for.

Standard library only, so no gettext tools are needed to build or release the package:

    python scripts/compile_catalogs.py            # write every .mo next to its .po
    python scripts/compile_catalogs.py --check    # exit 1 when a .mo is out of date
    python scripts/compile_catalogs.py --missing  # messages in the code without a translation

The test suite runs the same functions (tests/test_cli_i18n.py).
"""

from __future__ import annotations

import argparse
import ast
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "auditcase_mailchimp"
LOCALE = PACKAGE / "locale"
_MAGIC = 0x950412DE
_HEADER_WORDS = 7


def _unquote(text: str, where: str) -> str:
    text = text.strip()
    if not (text.startswith('"') and text.endswith('"')):
        raise ValueError(f"{where}: expected a quoted string")
    value = ast.literal_eval(text)
    if not isinstance(value, str):  # pragma: no cover - a quoted literal is a str
        raise TypeError(where)
    return value


def parse_po(  # noqa: C901, PLR0912 - one branch per kind of .po line
    text: str, name: str = "<po>"
) -> dict[tuple[str, str | None], list[str]]:
    """Read a .po file: ``{(msgid, msgid_plural): [msgstr, ...]}``, fuzzy entries left out.

    Args:
        text: The file's text.
        name: The file's name, for error messages.

    Returns:
        The entries, the header (msgid ``""``) included.

    Raises:
        ValueError: A line the parser does not understand.
    """
    entries: dict[tuple[str, str | None], list[str]] = {}
    msgid: str | None = None
    plural: str | None = None
    strs: dict[int, str] = {}
    fuzzy = False  # the entry being read is fuzzy
    fuzzy_next = False  # a "#, fuzzy" comment was seen for the next entry
    target: tuple[str, int] | None = None

    def flush() -> None:
        nonlocal msgid, plural, strs
        if msgid is not None and not fuzzy:
            entries[msgid, plural] = [strs[i] for i in sorted(strs)]
        msgid, plural, strs = None, None, {}

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{name}:{number}"
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy_next = True
            continue
        if line.startswith("msgid_plural "):
            plural = _unquote(line[len("msgid_plural ") :], where)
            target = ("plural", 0)
        elif line.startswith("msgid "):
            flush()
            fuzzy, fuzzy_next = fuzzy_next, False
            msgid = _unquote(line[len("msgid ") :], where)
            target = ("msgid", 0)
        elif line.startswith("msgstr["):
            index = int(line[len("msgstr[") : line.index("]")])
            strs[index] = _unquote(line[line.index("]") + 1 :], where)
            target = ("msgstr", index)
        elif line.startswith("msgstr "):
            strs[0] = _unquote(line[len("msgstr ") :], where)
            target = ("msgstr", 0)
        elif line.startswith('"') and target is not None:
            part = _unquote(line, where)
            kind, index = target
            if kind == "msgid" and msgid is not None:
                msgid += part
            elif kind == "plural" and plural is not None:
                plural += part
            else:
                strs[index] += part
        else:
            raise ValueError(f"{where}: cannot read {line[:40]!r}")
    flush()
    return entries


def compile_po(text: str, name: str = "<po>") -> bytes:
    """Compile the text of a .po file into the bytes of a .mo file (GNU format, little-endian).

    Untranslated entries (an empty msgstr) are left out, so gettext falls back to English.

    Args:
        text: The .po file's text.
        name: The file's name, for error messages.

    Returns:
        The .mo file's bytes; the same input always gives the same bytes.
    """
    messages: dict[bytes, bytes] = {}
    for (msgid, plural), strs in parse_po(text, name).items():
        if not any(strs) and msgid:
            continue
        key = msgid if plural is None else f"{msgid}\0{plural}"
        messages[key.encode()] = "\0".join(strs).encode()
    keys = sorted(messages)
    ids = b""
    strs_blob = b""
    table: list[tuple[int, int, int, int]] = []
    for key in keys:
        table.append((len(ids), len(key), len(strs_blob), len(messages[key])))
        ids += key + b"\0"
        strs_blob += messages[key] + b"\0"
    key_start = _HEADER_WORDS * 4 + 16 * len(keys)
    value_start = key_start + len(ids)
    key_offsets: list[int] = []
    value_offsets: list[int] = []
    for id_offset, id_length, str_offset, str_length in table:
        key_offsets += [id_length, id_offset + key_start]
        value_offsets += [str_length, str_offset + value_start]
    header = struct.pack(
        "<7I", _MAGIC, 0, len(keys), _HEADER_WORDS * 4, _HEADER_WORDS * 4 + 8 * len(keys), 0, 0
    )
    offsets = struct.pack(f"<{len(key_offsets) * 2}I", *key_offsets, *value_offsets)
    return header + offsets + ids + strs_blob


def catalogs() -> list[Path]:
    """Return every .po file of the package."""
    return sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))


def used_messages(sources: list[Path] | None = None) -> set[tuple[str, str | None]]:
    """Return the messages the code asks for: literal arguments of ``gettext``/``ngettext`` calls.

    Args:
        sources: The files to scan; every module of the package when ``None``.

    Returns:
        ``(msgid, msgid_plural)`` pairs (``msgid_plural`` is ``None`` for ``gettext``).
    """
    found: set[tuple[str, str | None]] = set()
    for path in sources if sources is not None else sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
            if name == "gettext" and args and isinstance(args[0], str):
                found.add((args[0], None))
            elif (
                name == "ngettext"
                and len(args) >= 2  # noqa: PLR2004 - singular and plural
                and isinstance(args[0], str)
                and isinstance(args[1], str)
            ):
                found.add((args[0], args[1]))
    return found


def main(argv: list[str] | None = None) -> int:
    """Compile, check, or list missing translations; see the module docs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a .mo is out of date")
    parser.add_argument("--missing", action="store_true", help="list untranslated messages")
    args = parser.parse_args(argv)
    status = 0
    for po in catalogs():
        mo = po.with_suffix(".mo")
        compiled = compile_po(po.read_text(encoding="utf-8"), str(po))
        if args.missing:
            entries = parse_po(po.read_text(encoding="utf-8"))
            for msgid, plural in sorted(used_messages(), key=lambda m: m[0]):
                if not any(entries.get((msgid, plural), [])):
                    print(f"{po.parent.parent.name}: {msgid!r} {plural!r}")
                    status = 1
        elif args.check:
            if not mo.exists() or mo.read_bytes() != compiled:
                print(f"{mo} is out of date: run python scripts/compile_catalogs.py")
                status = 1
        else:
            mo.write_bytes(compiled)
            print(f"wrote {mo.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
