"""Where AuditCase persons come from: the source protocol and the bundled export reader (R8).

Integrators with database or API access to AuditCase implement :class:`PersonSource`; everyone
else hands the library an export file, read by :class:`ExportFile`.

The reader is strict, and what it cannot use it reports rather than guesses:

- a *row error* (:class:`RowError`) is a value: the row is skipped, the other rows are still
  used (R8.4), and the error names the line (the header is line 1), the column and the person
  id when there is one, never a cell's contents (personal data);
- a file that cannot be read at all raises :class:`UnreadableSourceError` before anything is
  sent (R8.4).

Decisions left open by SPEC.md R8, taken here:

- an empty flag cell is a row error, for all three flags (any guess would push or remove
  someone, or mail someone who may have asked not to be mailed);
- ``PersonId`` is trimmed; a repeated id is a row error on *every* row that holds it, and all
  those rows are skipped (which one is right cannot be known);
- a CSV row whose number of cells differs from the header's is a row error without a person id
  (its cells cannot be matched to columns, so its id is not certain); rows that are wholly
  empty are ignored;
- a row error's ``person_id`` is ``None`` whenever the id cannot be read with certainty (R8.4:
  the sync then archives nobody); a file in which no row has a certain id (a header only, or
  every row in another delimiter) is unreadable, since it would archive everyone;
- the encoding (R8.2) and the characters no cell may hold (R8.4) are decided in
  :mod:`._export_text`; a cell beyond :data:`FIELD_LIMIT` characters is a row error;
- a CSV quoting error (an unclosed quote) makes the file unreadable: past it, rows cannot be
  told apart;
- JSON Lines is UTF-8 (with or without BOM) only, as JSON requires; a key missing from *every*
  record is treated like a missing CSV column, a key missing from some records is a row error;
  a file with no records at all is unreadable (an empty export is almost surely a mistake, and
  would remove everyone); JSON numbers are never converted (no value of an export is one, and
  Python refuses integers of more than 4,300 digits).

Speed: the file is streamed, and a row whose cells are all well-formed becomes a
:class:`Person` directly; only a row the fast path refuses goes through the strict cattrs
converter, whose hooks give the row errors their messages.

The parts: :mod:`._export_text` reads the bytes (the first pass, the encoding),
:mod:`._export_csv` and :mod:`._export_jsonl` read the rows, :mod:`._export_rows` holds what a
reading gives (:class:`RowError`, :class:`ExportResult`, :class:`UnreadableSourceError`) and
gathers it, and :mod:`._export_wire` names the columns; this module puts them together.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final, Literal, Protocol

from ._errors import ConfigurationError
from ._export_csv import read_csv
from ._export_jsonl import read_jsonl
from ._export_rows import (
    FIELD_LIMIT,
    Collector,
    ExportResult,
    RowError,
    UnreadableSourceError,
)
from ._export_text import UnreadableBytes, scan_bytes
from ._export_wire import make_converter
from ._models import Person

__all__ = [
    "FIELD_LIMIT",
    "SUFFIXES",
    "ExportFile",
    "ExportResult",
    "PersonSource",
    "RowError",
    "UnreadableSourceError",
]

_log = logging.getLogger(__name__)


class PersonSource(Protocol):
    """Anything that yields every AuditCase person: the one thing a sync reads from AuditCase.

    Implement it with a class that has a ``persons()`` method; no base class is needed. The
    library calls ``persons()`` once per sync, before anything is sent.
    """

    def persons(self) -> Iterable[Person]:
        """Return every AuditCase person, linked or not, each person id once (R1, R8.3).

        Include unlinked persons, or leave them out: both work, since only linked persons are
        pushed. A person that was pushed and is missing here is archived (R4.1), so return
        *everything*: a partial answer archives the rest. Raise (preferably a
        :class:`~auditcase_mailchimp.SourceError`) when AuditCase cannot be read; the sync
        then stops before anything is sent.

        Returns:
            The persons, in any order.
        """
        ...


ExportFormat = Literal["csv", "jsonl"]

#: File-name suffixes (lower-cased) and the format they mean.
SUFFIXES: Final[Mapping[str, ExportFormat]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_TEXT_CONVERTER: Final = make_converter(text=True)
_JSON_CONVERTER: Final = make_converter(text=False)


class ExportFile:
    """An AuditCase export file (CSV or JSON Lines, R8): the bundled :class:`PersonSource`.

    The format follows the suffix (``.csv``; ``.jsonl`` or ``.ndjson``) unless ``file_format``
    says otherwise. Nothing is read until :meth:`read` or :meth:`persons` is called; each call
    reads the file afresh.

    Args:
        path: The file.
        file_format: ``"csv"`` or ``"jsonl"``; ``None`` to go by the suffix.

    Raises:
        ConfigurationError: ``file_format`` is not ``"csv"``, ``"jsonl"`` or ``None``, or it is
            ``None`` and the suffix is none of the above.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, file_format: Literal["csv", "jsonl"] | None = None
    ) -> None:
        #: The file.
        self.path = Path(path)
        if file_format is None:
            found = SUFFIXES.get(self.path.suffix.lower())
            if found is None:
                raise ConfigurationError(
                    f"cannot tell the format of {self.path.name}: name it .csv or .jsonl, "
                    'or pass file_format="csv" or "jsonl"'
                )
            file_format = found
        elif file_format not in ("csv", "jsonl"):
            raise ConfigurationError(f'file_format must be "csv" or "jsonl", not {file_format!r}')
        #: ``"csv"`` or ``"jsonl"``.
        self.file_format: ExportFormat = file_format
        self._last: ExportResult | None = None

    def __repr__(self) -> str:
        return f"ExportFile({str(self.path)!r}, file_format={self.file_format!r})"

    def read(self) -> ExportResult:
        """Read the whole file: the persons of the good rows and an error for each bad one.

        The file is streamed, row by row, never held whole; the result is also kept as
        :attr:`last_result`.

        Returns:
            The persons, in file order, and the row errors (R8.4).

        Raises:
            UnreadableSourceError: The file cannot be read at all, or no row of it gives a
                person (R8.4); nothing is kept.
        """
        path = str(self.path)
        json_lines = self.file_format == "jsonl"
        out = Collector(_JSON_CONVERTER if json_lines else _TEXT_CONVERTER)
        try:
            with self.path.open("rb") as raw:
                encoding = scan_bytes(raw, json_lines=json_lines)
                if encoding is None:
                    raise UnreadableSourceError(
                        f"{path}: the file is empty"
                        + (" (it holds no records)" if json_lines else ""),
                        path=path,
                    )
                raw.seek(0)
                text = io.TextIOWrapper(
                    raw, encoding=encoding.codec, errors=encoding.errors, newline=""
                )
                (read_jsonl if json_lines else read_csv)(path, text, encoding, out)
                text.detach()
        except UnreadableBytes as exc:
            where = f"line {exc.line}: " if exc.line is not None else ""
            raise UnreadableSourceError(f"{path}: {where}{exc}", path=path, line=exc.line) from (
                exc.__cause__ or exc
            )
        except UnicodeDecodeError as exc:  # only when the file changed between the two passes
            raise UnreadableSourceError(
                f"{path}: the file changed while it was being read; read it again", path=path
            ) from exc
        except OSError as exc:
            raise UnreadableSourceError(
                f"{path}: cannot be read: {exc.strerror or type(exc).__name__}", path=path
            ) from exc
        result = out.result()
        if not out.identified:
            raise _no_persons(path, out.rows, result.row_errors, json_lines=json_lines)
        _log.info(
            "export file read: %d persons, %d row errors (%s)",
            len(result.persons),
            len(result.row_errors),
            self.file_format,
        )
        self._last = result
        return result

    def persons(self) -> tuple[Person, ...]:
        """Read the file and return the persons of its good rows (:class:`PersonSource`).

        The row errors are then in :attr:`row_errors` (and the whole result in
        :attr:`last_result`).

        Returns:
            The persons, in file order.

        Raises:
            UnreadableSourceError: The file cannot be read at all (R8.4).
        """
        return self.read().persons

    @property
    def last_result(self) -> ExportResult | None:
        """The result of the latest :meth:`read` or :meth:`persons`; ``None`` before any."""
        return self._last

    @property
    def row_errors(self) -> tuple[RowError, ...]:
        """The row errors of the latest read; empty before the file has been read."""
        return () if self._last is None else self._last.row_errors


def _no_persons(
    path: str, rows: int, errors: tuple[RowError, ...], *, json_lines: bool
) -> UnreadableSourceError:
    """R8.4: a file without one row that names a person would archive everyone: unreadable."""
    if not rows:
        what = "records" if json_lines else "rows"
        message = f"{path}: holds no person {what}, only a header: it would archive everyone"
    else:
        message = (
            f"{path}: no row has a person id that can be read with certainty: "
            f"{'the' if rows == 1 else 'each of the'} {rows:,} row{'s' if rows != 1 else ''} "
            f"has an error (the first: {errors[0]})"
        )
    return UnreadableSourceError(message, path=path, row_errors=errors)
