r"""The bytes of an export file as text: the encoding (R8.2) and the characters no cell may hold.

An export is read twice from disk, never held whole: a first pass over its bytes decides the
encoding (and notes whether any byte could be a control character, and how long a line can be),
the second streams it as text, row by row. The first pass is fast (a UTF-8 check in C, ASCII
chunks skipped).

R8.2, with the decisions taken here:

- a UTF-16 byte-order mark is refused with advice (Excel's "Unicode text");
- a file that is valid UTF-8 (with or without BOM) is UTF-8;
- a file with a UTF-8 BOM, or with at least as many valid UTF-8 characters beyond ASCII as
  bytes that are not UTF-8, is UTF-8 *except for a few rows*: it is read as UTF-8 and each
  byte that is not UTF-8 stays in its cell as a lone surrogate (``surrogateescape``), which
  makes that cell a row error naming the row and column. It is never re-read as
  Windows-1252: that would turn every accented name into mojibake;
- any other file is Windows-1252 if every byte is one; else it is unreadable, naming the line.
  (A file of ASCII and one stray byte is therefore Windows-1252: nothing in it says UTF-8, and
  read so the byte is the character Excel meant; a JSON Lines file is then unreadable.)

The characters a cell may not hold (R8.4): NUL and the other C0 controls, DEL and the C1
controls (the start of a terminal escape sequence among them), and lone surrogates (bytes that
were not UTF-8, or a JSON ``\ud800`` escape). Tab, carriage return and line feed are allowed
in names and groups (spreadsheets write line breaks inside cells), never inside ``PersonId``.
"""

from __future__ import annotations

import codecs
import re
from typing import IO, Final, Literal

import attrs

__all__ = [
    "CHUNK",
    "ID_FAULT",
    "TEXT_FAULT",
    "Encoding",
    "UnreadableBytes",
    "describe_fault",
    "scan_bytes",
]

#: How much of the file the first pass reads at a time.
CHUNK: Final = 1 << 20

#: Every byte but the C0 controls (tab, CR and LF aside) and DEL: deleting these from a chunk
#: leaves its control bytes (a C loop, far faster than a regular expression).
_NOT_C0: Final = bytes(
    b
    for b in range(256)
    if not ((b < 0x20 and b not in b"\t\n\r") or b == 0x7F)  # noqa: PLR2004
)
#: A C1 control as UTF-8 spells it.
_C1_UTF8: Final = re.compile(rb"\xc2[\x80-\x9f]")


def _has_controls(chunk: bytes) -> bool:
    """Whether a chunk may hold a control character: a hint that cells need checking."""
    if chunk.translate(None, _NOT_C0):
        return True
    return b"\xc2" in chunk and _C1_UTF8.search(chunk) is not None


#: A character no name, address or group may hold.
TEXT_FAULT: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: A character no person id may hold (line breaks and tabs included).
ID_FAULT: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_STRAY: Final = re.compile("[\udc80-\udcff]")
_BEYOND_ASCII: Final = re.compile("[^\x00-\x7f\udc80-\udcff]")


_STRAY_BYTES: Final = range(0xDC80, 0xDD00)
_SURROGATES: Final = range(0xD800, 0xE000)
_ESCAPES: Final = frozenset({0x1B, 0x9B})  # ESC, and CSI (C1)
_BREAKS: Final = frozenset({0x09, 0x0A, 0x0D})


def describe_fault(char: str) -> str:
    """Say what is wrong with a character :data:`TEXT_FAULT` or :data:`ID_FAULT` found."""
    code = ord(char)
    if code in _STRAY_BYTES:
        return (
            f"holds a byte that is not UTF-8 (0x{code - 0xDC00:02X}) in a file that is UTF-8 "
            "elsewhere: fix the row, or save the whole file as 'CSV UTF-8'"
        )
    if code in _SURROGATES:
        return f"holds a lone surrogate (U+{code:04X}), which is no character"
    if code == 0:
        return "holds a NUL character (U+0000)"
    if code in _ESCAPES:
        return f"holds a terminal escape character (U+{code:04X})"
    if code in _BREAKS:
        return f"holds a tab or line break (U+{code:04X}), which no id may hold"
    return f"holds a control character (U+{code:04X})"


class UnreadableBytes(Exception):  # noqa: N818 - internal, turned into UnreadableSourceError
    """The bytes cannot be read as any encoding of R8.2; the caller says which file."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@attrs.frozen
class Encoding:
    """What the first pass found: how to decode the file, and what to check row by row."""

    #: The codec for the second pass: ``utf-8-sig`` (a BOM is optional) or ``cp1252``.
    codec: Literal["utf-8-sig", "cp1252"]
    #: ``surrogateescape`` when some bytes are not UTF-8 (each a row error), else ``strict``.
    errors: Literal["strict", "surrogateescape"]
    #: Whether a cell may hold a character of :data:`TEXT_FAULT`; when not, cells need no check.
    suspicious: bool
    #: The file's size in bytes: no cell is longer.
    size: int
    #: At least the length in bytes of the longest line (line break excluded): no cell that
    #: stays on one line is longer.
    longest_line: int


@attrs.define
class _FirstPass:
    """What one pass over the bytes notes: UTF-8 or not, control bytes, anything but blanks."""

    utf8: bool = True
    controls: bool = False
    content: bool = False
    size: int = 0
    lines: int = 0
    longest_line: int = 0
    bad_line: int | None = None

    def lengths(self) -> dict[str, int]:
        return {"size": self.size, "longest_line": self.longest_line}


def _first_pass(stream: IO[bytes], chunk: bytes) -> _FirstPass:
    found = _FirstPass()
    decoder = codecs.getincrementaldecoder("utf-8")()
    body = chunk.removeprefix(codecs.BOM_UTF8)  # a BOM alone is no content: the file is empty
    since = 0  # bytes since the last line break
    while chunk:
        first = chunk.find(b"\n")
        if first < 0:
            since += len(chunk)
        else:  # the lines between the chunk's first and last break are no longer than that
            last = chunk.rfind(b"\n")
            found.longest_line = max(found.longest_line, since + first, last - first)
            since = len(chunk) - last - 1
        found.size += len(chunk)
        found.content = found.content or bool(body.strip())
        found.controls = found.controls or _has_controls(chunk)
        if found.utf8 and not (chunk.isascii() and not decoder.getstate()[0]):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                found.utf8 = False
                found.bad_line = found.lines + chunk.count(b"\n", 0, max(exc.start, 0)) + 1
        found.lines += chunk.count(b"\n")
        chunk = body = stream.read(CHUNK)
    found.longest_line = max(found.longest_line, since)
    if found.utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            found.utf8, found.bad_line = False, found.lines + 1
    return found


def scan_bytes(stream: IO[bytes], *, json_lines: bool) -> Encoding | None:
    """Decide the encoding of a file from its bytes (R8.2); ``None`` for a file of only blanks.

    Args:
        stream: The file, opened for reading bytes, at its start.
        json_lines: JSON Lines is UTF-8 only: a file that is not is unreadable.

    Returns:
        How to read the file, or ``None`` when it holds nothing but white space.

    Raises:
        UnreadableBytes: The file is UTF-16, or in no encoding of R8.2.
        OSError: The file cannot be read.
    """
    chunk = stream.read(CHUNK)
    if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableBytes(
            "is UTF-16 (Excel's 'Unicode text'), which is not supported: save it as "
            + ("UTF-8" if json_lines else "'CSV UTF-8' or 'CSV (semicolon delimited)'")
        )
    bom = chunk.startswith(codecs.BOM_UTF8)
    found = _first_pass(stream, chunk)
    if not found.content:
        return None
    if found.utf8:
        return Encoding("utf-8-sig", "strict", suspicious=found.controls, **found.lengths())
    stream.seek(0)
    if bom or _mostly_utf8(stream):
        return Encoding("utf-8-sig", "surrogateescape", suspicious=True, **found.lengths())
    if json_lines:
        raise UnreadableBytes("not UTF-8, which JSON Lines requires", found.bad_line)
    stream.seek(0)
    lines = 0
    while chunk := stream.read(CHUNK):
        try:
            chunk.decode("cp1252")
        except UnicodeDecodeError as exc:
            line = lines + chunk.count(b"\n", 0, exc.start) + 1
            raise UnreadableBytes(
                f"the file is neither UTF-8 nor Windows-1252 (byte 0x{chunk[exc.start]:02X})", line
            ) from exc
        lines += chunk.count(b"\n")
    return Encoding("cp1252", "strict", suspicious=found.controls, **found.lengths())


def _mostly_utf8(stream: IO[bytes]) -> bool:
    """Whether valid UTF-8 beyond ASCII is at least as common as bytes that are not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    valid = stray = 0
    while chunk := stream.read(CHUNK):
        text = decoder.decode(chunk)
        valid += len(_BEYOND_ASCII.findall(text))
        stray += len(_STRAY.findall(text))
    stray += len(_STRAY.findall(decoder.decode(b"", final=True)))
    return valid > 0 and valid >= stray
