"""The CSV reader (R8.1, R8.2, R8.4): the header, then the rows into a :class:`Collector`."""

from __future__ import annotations

import csv
import itertools
from typing import IO, Final

from ._export_rows import (
    FIELD_LIMIT,
    FLAG_SPELLINGS,
    KIND_SPELLINGS,
    ORDER,
    Collector,
    UnreadableSourceError,
    certain_id,
    value_faults,
)
from ._export_text import ID_FAULT, Encoding
from ._models import trusted_person

__all__ = ["read_csv"]


#: What Python's csv module may hold in one cell while we read (its default, 131,072
#: characters, would make a whole file unreadable for one long cell); our own limit,
#: :data:`FIELD_LIMIT`, makes a longer cell a row error. 2**31 - 1 fits a C long everywhere.
_CSV_FIELD_LIMIT: Final = 2**31 - 1


def _allow_long_cells() -> None:
    """Let the csv module read cells of any length a spreadsheet writes (R8.4).

    The limit is process-wide; it is only ever raised, never lowered, so another reader in the
    same process is never cut short by this one.
    """
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)


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
        candidates.append((sum(name in ORDER for name in names), delimiter, names))
    known, delimiter, names = max(candidates, key=lambda c: c[0])  # a tie keeps ","
    if not known:
        raise UnreadableSourceError(
            f"{path}: line 1: not an AuditCase export in CSV: the header names none of the "
            f"columns {', '.join(ORDER)} (separated by ',' or ';')",
            path=path,
            line=1,
            columns=tuple(ORDER),
        )
    positions: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in ORDER:
            if name in positions:
                raise UnreadableSourceError(
                    f"{path}: line 1: the column {name} occurs more than once in the header",
                    path=path,
                    line=1,
                    columns=(name,),
                )
            positions[name] = position
    missing = tuple(column for column in ORDER if column not in positions)
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
    positions = {column: positions[column] for column in ORDER}  # in R8.1's order
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


def read_csv(path: str, text: IO[str], encoding: Encoding, out: Collector) -> None:
    """Read the rows of a CSV export (R8.1, R8.2, R8.4) into ``out``."""
    first = text.readline()
    delimiter, positions = _header(path, first)
    _allow_long_cells()
    reader = csv.reader(itertools.chain([first], text), delimiter=delimiter, strict=True)
    suspicious = encoding.suspicious
    # A cell beyond the limit is on a line beyond it, or on a row of several lines (R8.4).
    long_lines, big = encoding.longest_line > FIELD_LIMIT, encoding.size > FIELD_LIMIT
    (i_id, i_kind, i_ini, i_chr, i_sur, i_con, i_com, i_grp, i_lnk, i_mai, i_exc) = (
        positions.values()
    )
    kinds, flags, share, person = KIND_SPELLINGS.get, FLAG_SPELLINGS.get, out.share, trusted_person
    id_fault, known_groups = ID_FAULT.search, out.known_groups.get
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
            # An id of letters and digits only (the usual one) holds no faulty character.
            if (
                suspicious
                or (not person_id.isalnum() and id_fault(person_id))
                or ((long_lines or (big and end != line)) and max(map(len, cells)) > FIELD_LIMIT)
            ):
                values = {column: cells[i] for column, i in positions.items()}
                faults = value_faults(values)
                if faults:
                    out.fault(line, certain_id(person_id), faults)
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
            groups = known_groups(cells[i_grp])
            if groups is None:
                groups = out.groups(cells[i_grp])
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
                    groups,
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
