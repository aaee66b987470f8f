"""What one reading of an export gives, and the collector that gathers it row by row (R8.3, R8.4).

The values a user meets (:class:`RowError`, :class:`ExportResult`, and
:class:`UnreadableSourceError` for a file that cannot be read at all) live here, beside what
both readers (:mod:`._export_csv`, :mod:`._export_jsonl`) share: the :class:`Collector` that
keeps the persons and the row errors and finds repeated ids, the checks of a cell's text, and
``_models.trusted_person`` builds a person from values already checked.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, TypeVar

import attrs
import cattrs

from ._errors import SourceError
from ._export_text import ID_FAULT, TEXT_FAULT, describe_fault
from ._export_wire import COLUMNS, FLAG_WORDS, GROUP_SEPARATOR, KIND_WORDS
from ._models import Person

__all__ = [
    "FIELD_LIMIT",
    "FLAG_SPELLINGS",
    "ID_COLUMN",
    "KIND_SPELLINGS",
    "ORDER",
    "Collector",
    "ExportResult",
    "RowError",
    "UnreadableSourceError",
    "certain_id",
    "value_faults",
]

_T = TypeVar("_T")

#: The column (JSON key) of the person id.
ID_COLUMN: Final = COLUMNS["person_id"]
#: Each column (JSON key) and its place in R8.1's order.
ORDER: Final = {column: n for n, column in enumerate(COLUMNS.values())}
#: Cells (JSON strings) longer than this are row errors; 32 times what Excel writes at most.
FIELD_LIMIT: Final = 1 << 20
#: Distinct short values (initials, first names, group lists) shared between persons, at most.
_SHARED_LIMIT: Final = 100_000


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


class Collector:
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
        #: The groups of a CSV cell, by the cell's text, for the cells seen so far (at most
        #: :data:`_SHARED_LIMIT`): most persons share a few cells.
        self.known_groups: dict[str, tuple[str, ...]] = {}

    def share(self, value: _T) -> _T:
        """Return an equal value already held, so a million persons share their few groups."""
        found = self._shared.get(value)
        if found is None:
            if len(self._shared) < _SHARED_LIMIT:
                self._shared[value] = value
            return value
        return found  # type: ignore[no-any-return]

    def groups(self, cell: str) -> tuple[str, ...]:
        """Return the groups of a CSV cell (R8.1: split on ``;``, an empty cell is none), shared."""
        groups = self.share(tuple(cell.split(GROUP_SEPARATOR)) if cell else ())
        if len(self.known_groups) < _SHARED_LIMIT:
            self.known_groups[cell] = groups
        return groups

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
        errors.sort(key=lambda e: (e.line, -1 if e.column is None else ORDER.get(e.column, -1)))
        return ExportResult(persons=tuple(persons), row_errors=tuple(errors))


def _repeated_id_errors(repeated: Mapping[str, list[int]]) -> Iterator[RowError]:
    """R8.3: an error on every row of a repeated id, naming the other rows."""
    for person_id, lines in repeated.items():
        for line in sorted(lines):
            others = [str(other) for other in sorted(lines) if other != line]
            yield RowError(
                line=line,
                column=ID_COLUMN,
                person_id=person_id,
                message=(
                    f"the id also occurs on line{'s' if len(others) > 1 else ''} "
                    f"{', '.join(others)}; every row with this id is skipped"
                ),
            )


def certain_id(value: object) -> str | None:
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
    if found is None and column == ID_COLUMN:
        found = ID_FAULT.search(value.strip())
    return None if found is None else describe_fault(found.group())


def value_faults(values: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """The faults of the text values of a row: length, control characters, stray bytes."""
    faults: list[tuple[str | None, str]] = []
    for column in ORDER:
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
KIND_SPELLINGS: Final = {
    spelling: kind
    for word, kind in KIND_WORDS.items()
    for spelling in (word, word.upper(), word.capitalize())
}
FLAG_SPELLINGS: Final = {
    spelling: flag
    for word, flag in FLAG_WORDS.items()
    for spelling in (word, word.upper(), word.capitalize())
}
