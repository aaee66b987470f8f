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
- a CSV row whose number of cells differs from the header's is a row error (its cells cannot be
  matched to columns); rows that are wholly empty are ignored;
- a CSV quoting error (an unclosed quote) makes the file unreadable: past it, rows cannot be
  told apart;
- JSON Lines is UTF-8 (with or without BOM) only, as JSON requires; a key missing from *every*
  record is treated like a missing CSV column, a key missing from some records is a row error;
  a file with no records at all is unreadable (an empty export is almost surely a mistake, and
  would remove everyone).
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import attrs
import cattrs

from ._errors import ConfigurationError, SourceError
from ._export_wire import COLUMNS, json_type, make_converter
from ._models import Person

__all__ = [
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


class UnreadableSourceError(SourceError):
    """The export file cannot be read at all; nothing has been sent (R8.4).

    Raised for a file that is missing or unreadable, empty, in an unknown encoding, not CSV
    (or not JSON Lines), or lacking a required column. The message names the file, the line
    when there is one and the missing columns, never personal data.

    Attributes:
        path: The file.
        line: The line at fault (1 is the first line), or ``None``.
        columns: The required columns (or JSON keys) that are missing, in R8.1's order.
    """

    def __init__(
        self, message: str, *, path: str, line: int | None = None, columns: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.columns = columns


@attrs.frozen(kw_only=True)
class RowError:
    """One thing wrong with one row of an export file; the row is skipped (R8.4).

    A row with several faults has several row errors. ``str()`` gives the whole message, for
    instance ``line 7, column MailingenOntvangen, person 1042: must be Ja or Nee (...)``.
    """

    #: The line the row starts on; the header (or the first line of a JSON Lines file) is 1.
    line: int
    #: The column (JSON key) at fault, or ``None`` when the fault is the row as a whole.
    column: str | None
    #: The row's ``PersonId`` (trimmed), or ``None`` when the row has no usable id.
    person_id: str | None
    #: What is wrong, without the location; never contains the cell's value.
    message: str

    def __str__(self) -> str:
        """Return the message with its location: line, column and person id."""
        where = [f"line {self.line}"]
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.person_id is not None:
            where.append(f"person {self.person_id}")
        return f"{', '.join(where)}: {self.message}"


@attrs.frozen(kw_only=True)
class ExportResult:
    """What one reading of an export file gave: the usable persons and the row errors."""

    #: The persons of every row without an error, in file order.
    persons: tuple[Person, ...]
    #: Every row error, by line.
    row_errors: tuple[RowError, ...] = ()

    @property
    def skipped_ids(self) -> frozenset[str]:
        """The ids of the persons whose rows were skipped.

        A sync must not archive the members of these persons (data-quality problems never
        remove anyone, R2.6): they are in AuditCase, only their rows are wrong.
        """
        return frozenset(e.person_id for e in self.row_errors if e.person_id is not None)


ExportFormat = Literal["csv", "jsonl"]

#: File-name suffixes (lower-cased) and the format they mean.
_SUFFIXES: Final[Mapping[str, ExportFormat]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_ID_COLUMN: Final = COLUMNS["person_id"]
_ORDER: Final = {column: n for n, column in enumerate(COLUMNS.values())}
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
            found = _SUFFIXES.get(self.path.suffix.lower())
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

        The result is also kept as :attr:`last_result`.

        Returns:
            The persons, in file order, and the row errors (R8.4).

        Raises:
            UnreadableSourceError: The file cannot be read at all (R8.4); nothing is kept.
        """
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise UnreadableSourceError(
                f"{self.path}: cannot be read: {exc.strerror or type(exc).__name__}",
                path=str(self.path),
            ) from exc
        if self.file_format == "csv":
            records, converter = _csv_records(str(self.path), data), _TEXT_CONVERTER
        else:
            records, converter = _jsonl_records(str(self.path), data), _JSON_CONVERTER
        result = _to_persons(records, converter)
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


# --- reading records -----------------------------------------------------------------------


@attrs.frozen
class _Record:
    """One row before it is structured: its line, its values by column, or what broke it."""

    line: int
    values: Mapping[str, Any]
    #: Faults found before structuring (column, message); the row is not structured.
    faults: tuple[tuple[str | None, str], ...] = ()


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode_csv(path: str, data: bytes) -> str:
    """R8.2: UTF-8 (with or without BOM), read strictly; else Windows-1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise UnreadableSourceError(
            f"{path}: is UTF-16 (Excel's 'Unicode text'), which is not supported: "
            "save it as 'CSV UTF-8' or 'CSV (semicolon delimited)'",
            path=path,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if data.startswith(codecs.BOM_UTF8):
            line = _line_of(data, exc.start)
            raise UnreadableSourceError(
                f"{path}: line {line}: starts with a UTF-8 byte-order mark but is not valid "
                "UTF-8 there",
                path=path,
                line=line,
            ) from exc
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        raise UnreadableSourceError(
            f"{path}: line {line}: the file is neither UTF-8 nor Windows-1252 "
            f"(byte 0x{data[exc.start]:02X})",
            path=path,
            line=line,
        ) from exc


def _lines(text: str) -> Iterator[str]:
    r"""Yield the lines of a text, each with its ending, split on ``\n`` only.

    Not :meth:`str.splitlines`, which also splits inside cells (on U+2028, U+0085, ...); and
    lazily, so a large file is not held twice. A file of bare ``\r`` endings (old Mac) is split
    on ``\r``.
    """
    newline = "\n" if "\n" in text or "\r" not in text else "\r"
    start, size = 0, len(text)
    while start < size:
        end = text.find(newline, start) + 1 or size
        yield text[start:end]
        start = end


def _first_record(text: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader(_lines(text), delimiter=delimiter, strict=True))
    except (csv.Error, StopIteration):
        return []


def _header(path: str, text: str) -> tuple[str, dict[str, int]]:
    """R8.1, R8.2: detect the delimiter from the header and find every required column."""
    candidates = []
    for delimiter in (",", ";"):
        names = [name.strip() for name in _first_record(text, delimiter)]
        candidates.append((sum(name in _ORDER for name in names), delimiter, names))
    known, delimiter, names = max(candidates, key=lambda c: c[0])  # a tie keeps ","
    if not known:
        raise UnreadableSourceError(
            f"{path}: line 1: not an AuditCase export in CSV: the header names none of the "
            f"columns {', '.join(_ORDER)} (separated by ',' or ';')",
            path=path,
            line=1,
            columns=tuple(_ORDER),
        )
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in _ORDER:
            if name in positions:
                raise UnreadableSourceError(
                    f"{path}: line 1: the column {name} occurs more than once in the header",
                    path=path,
                    line=1,
                    columns=(name,),
                )
            positions[name] = position
    missing = tuple(column for column in _ORDER if column not in positions)
    if missing:
        present = {name.lower(): name for name in names}
        hints = [
            f"{column} (found {present[column.lower()]}: names are case-sensitive)"
            if column.lower() in present
            else column
            for column in missing
        ]
        raise UnreadableSourceError(
            f"{path}: line 1: the header lacks the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(hints)}",
            path=path,
            line=1,
            columns=missing,
        )
    return delimiter, positions


def _csv_records(path: str, data: bytes) -> Iterator[_Record]:
    """Read the rows of a CSV export (R8.1, R8.2); the header is checked at the call."""
    text = _decode_csv(path, data)
    if not text.strip():
        raise UnreadableSourceError(f"{path}: the file is empty", path=path)
    delimiter, positions = _header(path, text)
    return _csv_rows(path, text, delimiter, positions)


def _csv_rows(
    path: str, text: str, delimiter: str, positions: Mapping[str, int]
) -> Iterator[_Record]:
    reader = csv.reader(_lines(text), delimiter=delimiter, strict=True)
    end = 0
    try:
        width = len(next(reader))
        end = reader.line_num
        for cells in reader:
            line, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # a wholly empty row: nothing to report or use
            if len(cells) == width:
                yield _Record(line, {column: cells[i] for column, i in positions.items()})
                continue
            fault = f"the row has {len(cells)} cells and the header {width}"
            yield _Record(
                line,
                {column: cells[i] for column, i in positions.items() if i < len(cells)},
                ((None, f"{fault}: is a delimiter missing its quotes?"),),
            )
    except csv.Error as exc:
        line = end + 1
        raise UnreadableSourceError(
            f"{path}: line {line}: not valid CSV ({exc}); rows cannot be told apart after this",
            path=path,
            line=line,
        ) from exc


class _RepeatedKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise _RepeatedKeyError(key)
        record[key] = value
    return record


def _json_line(line: int, raw: str) -> _Record:
    """Parse one non-blank line of a JSON Lines export into a record, or a record of its fault."""
    try:
        value = json.loads(raw, object_pairs_hook=_unique_keys)
    except _RepeatedKeyError as exc:
        return _Record(line, {}, ((exc.key, "the key occurs more than once"),))
    except json.JSONDecodeError as exc:
        return _Record(line, {}, ((None, f"not valid JSON ({exc.msg} at character {exc.colno})"),))
    except RecursionError:
        return _Record(line, {}, ((None, "not valid JSON (nested too deeply)"),))
    if not isinstance(value, dict):
        return _Record(line, {}, ((None, f"must be a JSON object, not {json_type(value)}"),))
    missing = tuple((key, "the key is missing") for key in _ORDER if key not in value)
    return _Record(line, value, missing)


def _jsonl_records(path: str, data: bytes) -> Iterator[_Record]:
    """Read the records of a JSON Lines export (R8.5); the encoding is checked at the call."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = _line_of(data, exc.start)
        raise UnreadableSourceError(
            f"{path}: line {line}: not UTF-8, which JSON Lines requires", path=path, line=line
        ) from exc
    return _jsonl_lines(path, text)


def _jsonl_lines(path: str, text: str) -> Iterator[_Record]:
    present: set[str] = set()
    records = 0
    for line, raw in enumerate(_lines(text), start=1):
        if raw.strip():  # blank lines are ignored (R8.5)
            record = _json_line(line, raw)
            records += 1
            present.update(record.values)
            yield record
    # Checked once every line is seen; raised before the caller uses any record.
    if not records:
        raise UnreadableSourceError(f"{path}: the file is empty (it holds no records)", path=path)
    if not present:
        raise UnreadableSourceError(
            f"{path}: not JSON Lines: no line holds a JSON object with keys", path=path
        )
    absent = tuple(key for key in _ORDER if key not in present)
    if absent:
        raise UnreadableSourceError(
            f"{path}: no record has the key{'s' if len(absent) > 1 else ''} {', '.join(absent)}",
            path=path,
            columns=absent,
        )


# --- from records to persons ----------------------------------------------------------------


def _raw_id(values: Mapping[str, Any]) -> str | None:
    value = values.get(_ID_COLUMN)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _structure(
    record: _Record, person_id: str | None, converter: cattrs.Converter
) -> tuple[Person | None, list[RowError]]:
    try:
        return converter.structure(record.values, Person), []
    except cattrs.ClassValidationError as group:
        # Every hook raises with a message fit to show; the notes say which attribute failed.
        # (cattrs.transform_error would give the same messages as strings with an attribute
        # path; the notes give the attribute itself, which maps to AuditCase's column.)
        with_notes, without = group.group_exceptions()
        if without:  # pragma: no cover - every failure inside a Person's hooks has a note
            raise
        errors = [
            RowError(
                line=record.line,
                column=COLUMNS[note.name],
                person_id=person_id,
                message=str(exc),
            )
            for exc, note in with_notes
        ]
        return None, errors


def _to_persons(records: Iterable[_Record], converter: cattrs.Converter) -> ExportResult:
    """Structure every record; skip and report the bad ones and repeated ids (R8.3, R8.4).

    Records are used as they come, so a large file is never held as records and persons at
    once; the rows of a repeated id are found and dropped at the end.
    """
    persons: list[Person] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    repeated: dict[str, list[int]] = {}
    for record in records:
        person_id = _raw_id(record.values)
        if person_id is not None:
            seen = first_line.setdefault(person_id, record.line)
            if seen != record.line:
                repeated.setdefault(person_id, [seen]).append(record.line)
        if record.faults:
            errors.extend(
                RowError(line=record.line, column=column, person_id=person_id, message=message)
                for column, message in record.faults
            )
            continue
        person, row_errors = _structure(record, person_id, converter)
        if person is None:
            errors.extend(row_errors)
        else:
            persons.append(person)
    if repeated:
        persons = [p for p in persons if p.person_id not in repeated]
        errors.extend(_repeated_id_errors(repeated))
    errors.sort(key=lambda e: (e.line, -1 if e.column is None else _ORDER.get(e.column, -1)))
    return ExportResult(persons=tuple(persons), row_errors=tuple(errors))


def _repeated_id_errors(repeated: Mapping[str, list[int]]) -> Iterator[RowError]:
    """R8.3: an error on every row of a repeated id, naming the other rows."""
    for person_id, lines in repeated.items():
        for line in lines:
            others = [str(other) for other in lines if other != line]
            yield RowError(
                line=line,
                column=_ID_COLUMN,
                person_id=person_id,
                message=(
                    f"the id also occurs on line{'s' if len(others) > 1 else ''} "
                    f"{', '.join(others)}; every row with this id is skipped"
                ),
            )
