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
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import os
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Final, Literal, Protocol, TypeVar

import attrs
import cattrs

from ._errors import ConfigurationError, SourceError
from ._export_text import (
    ID_FAULT,
    TEXT_FAULT,
    Encoding,
    UnreadableBytes,
    describe_fault,
    scan_bytes,
)
from ._export_wire import (
    COLUMNS,
    FLAG_WORDS,
    GROUP_SEPARATOR,
    KIND_WORDS,
    json_type,
    make_converter,
)
from ._models import Person, PersonKind

__all__ = [
    "SUFFIXES",
    "ExportFile",
    "ExportResult",
    "PersonSource",
    "RowError",
    "UnreadableSourceError",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


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
    (or not JSON Lines), lacking a required column, or without a single row that gives a
    person (a header only, or every row bad: such a file would archive everyone). The message
    names the file, the line when there is one and the missing columns, never personal data.

    Attributes:
        path: The file.
        line: The line at fault (1 is the first line), or ``None``.
        columns: The required columns (or JSON keys) that are missing, in R8.1's order.
        row_errors: When every row is bad, their errors (as :attr:`ExportResult.row_errors`);
            else empty.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        line: int | None = None,
        columns: tuple[str, ...] = (),
        row_errors: tuple[RowError, ...] = (),
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.columns = columns
        self.row_errors = row_errors


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
    #: The row's ``PersonId`` (trimmed), or ``None`` when it cannot be read with certainty
    #: (empty, a wrong number of cells, bytes that are not UTF-8 or a control character in it,
    #: a line that is not JSON...): such a row could be anyone's, so a sync then archives
    #: nobody (R8.4).
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

    @property
    def removals_held(self) -> bool:
        """Whether a bad row's id could not be read with certainty (R8.4).

        Such a row could be anyone's: a sync of this result archives nobody for being absent;
        the removals wait for a clean export.
        """
        return any(e.person_id is None for e in self.row_errors)


ExportFormat = Literal["csv", "jsonl"]

#: File-name suffixes (lower-cased) and the format they mean.
SUFFIXES: Final[Mapping[str, ExportFormat]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_ID_COLUMN: Final = COLUMNS["person_id"]
_ORDER: Final = {column: n for n, column in enumerate(COLUMNS.values())}
_KEYS: Final = frozenset(_ORDER)
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
        out = _Collector(_JSON_CONVERTER if json_lines else _TEXT_CONVERTER)
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
                (_read_jsonl if json_lines else _read_csv)(path, text, encoding, out)
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


# --- reading rows ---------------------------------------------------------------------------

#: What Python's csv module may hold in one cell while we read (its default, 131,072
#: characters, would make a whole file unreadable for one long cell); our own limit,
#: :data:`FIELD_LIMIT`, makes a longer cell a row error. 2**31 - 1 fits a C long everywhere.
_CSV_FIELD_LIMIT: Final = 2**31 - 1
#: Cells (JSON strings) longer than this are row errors; 32 times what Excel writes at most.
FIELD_LIMIT: Final = 1 << 20
#: Distinct short values (initials, first names, group lists) shared between persons, at most.
_SHARED_LIMIT: Final = 100_000


def _allow_long_cells() -> None:
    """Let the csv module read cells of any length a spreadsheet writes (R8.4).

    The limit is process-wide; it is only ever raised, never lowered, so another reader in the
    same process is never cut short by this one.
    """
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)


class _Collector:
    """Gathers persons and row errors as the rows come, and finds repeated ids (R8.3).

    A large file is never held as rows and persons at once: each row becomes a person (or row
    errors) as it is read. The rows of a repeated id are found as they come and dropped at the
    end. The line of every person is kept compactly; a map from id to person is only built when
    a first id repeats.
    """

    def __init__(self, converter: cattrs.Converter) -> None:
        self.converter = converter
        self.persons: list[Person] = []
        self.errors: list[RowError] = []
        #: Rows that are not wholly empty; of them, rows whose person id is certain (R8.4).
        self.rows = self.identified = 0
        self._lines = array("q")
        self._seen: set[str] = set()
        self._bad_first: dict[str, int] = {}
        self._index: dict[str, int] | None = None
        self._repeated: dict[str, list[int]] = {}
        self._shared: dict[Any, Any] = {}

    def share(self, value: _T) -> _T:
        """Return an equal value already held, so a million persons share their few groups."""
        found = self._shared.get(value)
        if found is None:
            if len(self._shared) < _SHARED_LIMIT:
                self._shared[value] = value
            return value
        return found  # type: ignore[no-any-return]

    def add(self, line: int, person: Person) -> None:
        """Keep the person of a good row."""
        person_id = person.person_id
        self.identified += 1
        if person_id in self._seen:
            self._repeat(person_id, line)
        else:
            self._seen.add(person_id)
        if self._index is not None:
            self._index.setdefault(person_id, len(self.persons))
        self.persons.append(person)
        self._lines.append(line)

    def fault(
        self, line: int, person_id: str | None, faults: Iterable[tuple[str | None, str]]
    ) -> None:
        """Report a bad row: one row error per fault, all with the same id (or ``None``)."""
        if person_id is not None:
            self.identified += 1
            if person_id in self._seen:
                self._repeat(person_id, line)
            else:
                self._seen.add(person_id)
                self._bad_first[person_id] = line
        self.errors.extend(
            RowError(line=line, column=column, person_id=person_id, message=message)
            for column, message in faults
        )

    def structure(self, line: int, values: Mapping[str, Any], person_id: str | None) -> None:
        """Structure a row the fast path refused, with the strict converter: a person or errors."""
        try:
            person = self.converter.structure(values, Person)
        except cattrs.ClassValidationError as group:
            # Every hook raises with a message fit to show; the notes say which attribute failed
            # (cattrs.transform_error would give the same messages as strings with a path).
            with_notes, without = group.group_exceptions()
            if without:  # pragma: no cover - every failure inside a Person's hooks has a note
                raise
            faults = ((COLUMNS[note.name], str(exc)) for exc, note in with_notes)
            self.fault(line, person_id, faults)
        else:
            self.add(line, person)

    def _repeat(self, person_id: str, line: int) -> None:
        lines = self._repeated.get(person_id)
        if lines is None:
            first = self._bad_first.get(person_id)
            if first is None:
                if self._index is None:
                    self._index = {}
                    for n, person in enumerate(self.persons):
                        self._index.setdefault(person.person_id, n)
                first = self._lines[self._index[person_id]]
            lines = self._repeated[person_id] = [first]
        lines.append(line)

    def result(self) -> ExportResult:
        """The persons and the row errors, those of repeated ids included, errors by line."""
        persons, errors = self.persons, self.errors
        if self._repeated:
            persons = [p for p in persons if p.person_id not in self._repeated]
            errors.extend(_repeated_id_errors(self._repeated))
        errors.sort(key=lambda e: (e.line, -1 if e.column is None else _ORDER.get(e.column, -1)))
        return ExportResult(persons=tuple(persons), row_errors=tuple(errors))


def _repeated_id_errors(repeated: Mapping[str, list[int]]) -> Iterator[RowError]:
    """R8.3: an error on every row of a repeated id, naming the other rows."""
    for person_id, lines in repeated.items():
        for line in sorted(lines):
            others = [str(other) for other in sorted(lines) if other != line]
            yield RowError(
                line=line,
                column=_ID_COLUMN,
                person_id=person_id,
                message=(
                    f"the id also occurs on line{'s' if len(others) > 1 else ''} "
                    f"{', '.join(others)}; every row with this id is skipped"
                ),
            )


def _certain_id(value: object) -> str | None:
    """The id of a row, trimmed, when it can be read with certainty (R8.4); else ``None``."""
    if value.__class__ is not str:
        return None
    person_id = value.strip()
    if not person_id or len(person_id) > FIELD_LIMIT or ID_FAULT.search(person_id):
        return None
    return person_id


def _text_fault(column: str, value: str) -> str | None:
    """What is wrong with one text value of a row in itself (R8.4), or ``None``."""
    if len(value) > FIELD_LIMIT:
        return f"is {len(value):,} characters long, beyond the limit of {FIELD_LIMIT:,}"
    found = TEXT_FAULT.search(value)
    if found is None and column == _ID_COLUMN:
        found = ID_FAULT.search(value.strip())
    return None if found is None else describe_fault(found.group())


def _value_faults(values: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """The faults of the text values of a row: length, control characters, stray bytes."""
    faults: list[tuple[str | None, str]] = []
    for column in _ORDER:
        value = values.get(column)
        texts = value if value.__class__ is list else (value,)
        for text in texts:
            if text.__class__ is str:
                fault = _text_fault(column, text)
                if fault is not None:
                    faults.append((column, fault))
                    break
    return faults


# The words the fast path knows without trimming or lower-casing; anything else goes the slow
# way (and is accepted there when the hooks accept it).
_KINDS: Final = {
    spelling: kind
    for word, kind in KIND_WORDS.items()
    for spelling in (word, word.upper(), word.capitalize())
}
_FLAGS: Final = {
    spelling: flag
    for word, flag in FLAG_WORDS.items()
    for spelling in (word, word.upper(), word.capitalize())
}


_new = object.__new__
_set = object.__setattr__


def _checked_person(  # noqa: PLR0917 - one argument per field, positional for speed
    person_id: str,
    kind: PersonKind,
    initials: str,
    christian_name: str,
    surname: str,
    contact_email: str,
    company_email: str,
    correspondence_groups: tuple[str, ...],
    linked: bool,  # noqa: FBT001
    receives_mailings: bool,  # noqa: FBT001
    excluded_from_correspondence: bool,  # noqa: FBT001
) -> Person:
    """Build a person from values the reader has checked, without checking them again.

    Only for the fast paths of this module, whose every value has been checked to have the type
    :class:`Person` requires (cells are strings; the kind, the flags and the groups come from
    tables or are checked one by one; the id is non-blank): a million persons are read in a
    second less. ``test_source.py`` checks that these persons equal ones built the ordinary way.
    """
    person = _new(Person)
    _set(person, "person_id", person_id)
    _set(person, "kind", kind)
    _set(person, "initials", initials)
    _set(person, "christian_name", christian_name)
    _set(person, "surname", surname)
    _set(person, "contact_email", contact_email)
    _set(person, "company_email", company_email)
    _set(person, "correspondence_groups", correspondence_groups)
    _set(person, "linked", linked)
    _set(person, "receives_mailings", receives_mailings)
    _set(person, "excluded_from_correspondence", excluded_from_correspondence)
    return person


def _header(path: str, first: str) -> tuple[str, dict[str, int]]:
    """R8.1, R8.2: detect the delimiter from the header and find every required column."""
    candidates = []
    for delimiter in (",", ";"):
        try:
            names = [
                name.strip() for name in next(csv.reader([first], delimiter=delimiter, strict=True))
            ]
        except (csv.Error, StopIteration):
            names = []
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
    positions = {column: positions[column] for column in _ORDER}  # in R8.1's order
    return delimiter, positions


def _width_fault(cells: list[str], width: int, delimiter: str) -> str:
    """Why a row whose cells cannot be matched to the columns is skipped; no cell is quoted."""
    fault = f"the row has {len(cells)} cell{'s' if len(cells) != 1 else ''} and the header {width}"
    other = ";" if delimiter == "," else ","
    if len(cells) < width and sum(cell.count(other) for cell in cells) + len(cells) >= width:
        return (
            f"{fault}: its cells seem separated by '{other}' while the header's are by "
            f"'{delimiter}'; the person id cannot be read with certainty"
        )
    return (
        f"{fault}: is a delimiter missing its quotes? The person id cannot be read with certainty"
    )


def _read_csv(path: str, text: IO[str], encoding: Encoding, out: _Collector) -> None:
    """Read the rows of a CSV export (R8.1, R8.2, R8.4) into ``out``."""
    first = text.readline()
    delimiter, positions = _header(path, first)
    _allow_long_cells()
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter, strict=True)
    suspicious, big = encoding.suspicious, encoding.size > FIELD_LIMIT
    (i_id, i_kind, i_ini, i_chr, i_sur, i_con, i_com, i_grp, i_lnk, i_mai, i_exc) = (
        positions.values()
    )
    kinds, flags, share, person = _KINDS.get, _FLAGS.get, out.share, _checked_person
    id_fault = ID_FAULT.search
    end = 0
    try:
        width = len(next(reader))
        end = reader.line_num
        for cells in reader:
            line, end = end + 1, reader.line_num
            if len(cells) != width:
                if any(cell.strip() for cell in cells):
                    out.rows += 1
                    out.fault(line, None, ((None, _width_fault(cells, width, delimiter)),))
                continue  # else a wholly empty row: nothing to report or use
            person_id = cells[i_id].strip()
            if not person_id and not any(cell.strip() for cell in cells):
                continue
            out.rows += 1
            if suspicious or id_fault(person_id) or (big and max(map(len, cells)) > FIELD_LIMIT):
                values = {column: cells[i] for column, i in positions.items()}
                faults = _value_faults(values)
                if faults:
                    out.fault(line, _certain_id(person_id), faults)
                    continue
            kind, linked = kinds(cells[i_kind]), flags(cells[i_lnk])
            mailings, excluded = flags(cells[i_mai]), flags(cells[i_exc])
            if (
                not person_id
                or kind is None
                or linked is None
                or mailings is None
                or excluded is None
            ):
                values = {column: cells[i] for column, i in positions.items()}
                out.structure(line, values, person_id or None)
                continue
            groups = cells[i_grp]
            out.add(
                line,
                person(
                    person_id,
                    kind,
                    share(cells[i_ini]),
                    share(cells[i_chr]),
                    cells[i_sur],
                    cells[i_con],
                    cells[i_com],
                    share(tuple(groups.split(GROUP_SEPARATOR)) if groups else ()),
                    linked,
                    mailings,
                    excluded,
                ),
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
    record = dict(pairs)
    if len(record) < len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _RepeatedKeyError(key)
            seen.add(key)
    return record


class _Number:
    """A JSON number, never converted: no value of an export is a number (R8.5).

    Converting could fail (Python refuses integers of more than 4,300 digits) or take long.
    """

    __slots__ = ()


_NUMBER: Final = _Number()
_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_unique_keys,
    parse_int=lambda _text: _NUMBER,
    parse_float=lambda _text: _NUMBER,
    parse_constant=lambda _text: _NUMBER,
)


def _json_value(raw: str) -> tuple[Any, tuple[str | None, str] | None]:
    """Parse one non-blank line of a JSON Lines export: its value, or the fault."""
    try:
        return _DECODER.decode(raw), None
    except _RepeatedKeyError as exc:
        return None, (exc.key, "the key occurs more than once")
    except json.JSONDecodeError as exc:
        return None, (None, f"not valid JSON ({exc.msg} at character {exc.colno})")
    except RecursionError:
        return None, (None, "not valid JSON (nested too deeply)")
    except ValueError:  # pragma: no cover - numbers are never converted; kept as a net
        return None, (None, "not valid JSON")


def _read_jsonl(path: str, text: IO[str], encoding: Encoding, out: _Collector) -> None:
    """Read the records of a JSON Lines export (R8.5, R8.4) into ``out``."""
    present: set[str] = set()
    complete = False
    records = 0
    for line, raw in enumerate(text, start=1):
        if raw.isspace():
            continue  # blank lines are ignored (R8.5)
        records += 1
        out.rows += 1
        value = _json_record(line, raw, encoding, out)
        if value is not None and not complete:
            present.update(value)
            complete = present.issuperset(_ORDER)
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


def _json_record(
    line: int, raw: str, encoding: Encoding, out: _Collector
) -> Mapping[str, Any] | None:
    """Read one non-blank line into ``out``; return its object, or ``None`` if it is none."""
    value, fault = _json_value(raw)
    if fault is not None:
        out.fault(line, None, (fault,))
        return None
    if value.__class__ is not dict:
        out.fault(line, None, ((None, f"must be a JSON object, not {json_type(value)}"),))
        return None
    person_id = _certain_id(value.get(_ID_COLUMN))
    if not value.keys() >= _KEYS:
        missing = [(key, "the key is missing") for key in _ORDER if key not in value]
        out.fault(line, person_id, missing)
        return value
    # A control character reaches a JSON string only through an escape, or as DEL or C1 (which
    # the first pass notes); so does a line break or tab in an id.
    if encoding.suspicious or "\\" in raw or len(raw) > FIELD_LIMIT:
        faults = _value_faults(value)
        if faults:
            out.fault(line, person_id, faults)
            return value
    person = _json_person(value, person_id, out.share)
    if person is None:
        out.structure(line, value, person_id)
    else:
        out.add(line, person)
    return value


def _json_person(
    value: Mapping[str, Any], person_id: str | None, share: Callable[[Any], Any]
) -> Person | None:
    """The person of a JSON record whose every value has its type (R8.5); else ``None``."""
    kind = value["PersonKind"]
    kind = _KINDS.get(kind) if kind.__class__ is str else None
    groups = value["CorrespondenceGroupRE"]
    texts = [value[column] for column in _TEXT_COLUMNS]
    flags = [value[column] for column in _FLAG_COLUMNS]
    if (
        person_id is None
        or kind is None
        or groups.__class__ is not list
        or (groups and set(map(type, groups)) != _ONLY_STR)
        or set(map(type, texts)) != _ONLY_STR
        or set(map(type, flags)) != _ONLY_BOOL
    ):
        return None
    initials, christian_name, surname, contact_email, company_email = texts
    linked, mailings, excluded = flags
    return _checked_person(
        person_id,
        kind,
        share(initials),
        share(christian_name),
        surname,
        contact_email,
        company_email,
        share(tuple(groups)),
        linked,
        mailings,
        excluded,
    )


_ONLY_STR: Final = {str}
_ONLY_BOOL: Final = {bool}
_TEXT_COLUMNS: Final = tuple(
    COLUMNS[name]
    for name in ("initials", "christian_name", "surname", "contact_email", "company_email")
)
_FLAG_COLUMNS: Final = tuple(
    COLUMNS[name] for name in ("linked", "receives_mailings", "excluded_from_correspondence")
)


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
