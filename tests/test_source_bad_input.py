"""The export reader on the files issue 9 found wanting: SPEC.md R8.2 and R8.4 (decided there).

Each case here failed on the reader before: header-only files and rows in another delimiter
archived everyone, a stray Windows-1252 byte turned every accented name into mojibake, one long
cell made the whole file unreadable, a huge JSON number was a traceback, control characters
passed into names, and messages quoted whole rows.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditcase_mailchimp import (
    ExportFile,
    ExportResult,
    SQLiteStore,
    UnreadableSourceError,
    sync,
)
from auditcase_mailchimp._source import FIELD_LIMIT
from auditcase_mailchimp.testing import FakeMailchimp

from .test_source import HEADER, _csv_text, _errors, _record, _row
from .test_sync import BASE, World, write_export

ADDRESS = "geheim@example.nl"


def _csv(path: Path, text: str, encoding: str = "utf-8") -> ExportResult:
    path.write_bytes(text.encode(encoding))
    return ExportFile(path).read()


def _jsonl(path: Path, lines: list[str]) -> ExportResult:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return ExportFile(path).read()


def _line(delimiter: str, **cells: str) -> str:
    out = io.StringIO()
    row = _row(**cells)
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerow(row[c] for c in HEADER)
    return out.getvalue()


# --- no person rows ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("after", [b"", b"\r\n", b" \n\n"])
def test_a_file_holding_only_a_byte_order_mark_is_empty(
    tmp_path: Path, suffix: str, after: bytes
) -> None:
    """R8.4: a UTF-8 BOM and blanks are an empty file, said so with the file's name."""
    path = tmp_path / f"export{suffix}"
    path.write_bytes(b"\xef\xbb\xbf" + after)
    with pytest.raises(UnreadableSourceError, match="the file is empty") as caught:
        ExportFile(path).read()
    assert str(caught.value).startswith(f"{path}: ")
    assert caught.value.path == str(path)


def test_json_lines_of_only_unicode_blanks_is_empty(tmp_path: Path) -> None:
    """R8.4, R8.5: lines of no-break and other Unicode spaces are blank: the file is empty."""
    path = tmp_path / "export.jsonl"
    path.write_text("\u00a0\n\u2003 \n\u3000\n", encoding="utf-8")
    with pytest.raises(UnreadableSourceError, match="the file is empty") as caught:
        ExportFile(path).read()
    assert str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(("header", "rows"), [(",", ";"), (";", ",")])
def test_rows_in_another_delimiter_than_the_header_make_the_file_unreadable(
    tmp_path: Path, header: str, rows: str
) -> None:
    """R8.4: rows whose cells cannot be matched to the header name nobody: unreadable."""
    text = _csv_text([], delimiter=header) + "".join(
        _line(rows, PersonId=str(i), ContactEMailRE=ADDRESS) for i in range(3)
    )
    with pytest.raises(UnreadableSourceError, match="certainty") as caught:
        _csv(tmp_path / "export.csv", text)
    assert len(caught.value.row_errors) == 3
    assert f"separated by '{rows}'" in caught.value.row_errors[0].message
    assert "geheim" not in str(caught.value)
    assert all("geheim" not in str(e) for e in caught.value.row_errors)


def test_a_row_in_another_delimiter_among_good_rows_holds_the_removals(tmp_path: Path) -> None:
    """R8.4: a row whose id is uncertain is a row error without an id; removals are held."""
    text = _csv_text([_row(PersonId="1")]) + _line(";", PersonId="2", ContactEMailRE=ADDRESS)
    result = _csv(tmp_path / "export.csv", text)
    assert [p.person_id for p in result.persons] == ["1"]
    assert _errors(result) == [(3, None, None)]
    assert result.removals_held
    assert "geheim" not in str(result.row_errors[0])


def test_a_json_lines_file_of_only_bad_lines_is_unreadable(tmp_path: Path) -> None:
    """R8.4: JSON Lines whose every line is broken names nobody: unreadable, not archive-all."""
    good = json.dumps(_record())
    lines = [good[:-1], json.dumps(_record(PersonId=7)), "[" + good]
    with pytest.raises(UnreadableSourceError, match="certainty") as caught:
        _jsonl(tmp_path / "export.jsonl", lines)
    assert [e.person_id for e in caught.value.row_errors] == [None, None, None]


def test_bad_rows_with_certain_ids_keep_the_file_readable(tmp_path: Path) -> None:
    """R8.4: a row error that names its person is used to hold that person; the file reads."""
    result = _csv(tmp_path / "export.csv", _csv_text([_row(PersonKind="bedrijf")]))
    assert (result.persons, _errors(result)) == ((), [(2, "PersonKind", "7")])
    assert not result.removals_held


# --- encodings (R8.2) -------------------------------------------------------------------------

NAMES = {"PersonChristianNameRE": "Noël", "PersonNameRE": "Brontë"}


def test_a_stray_windows_1252_byte_in_utf8_is_a_row_error_and_names_stay_right(
    tmp_path: Path,
) -> None:
    """R8.2: UTF-8 except for one row is read as UTF-8; that row is an error naming its column."""
    good = _csv_text([_row(PersonId="1", **NAMES), _row(PersonId="3", **NAMES)]).encode()
    first, second = good.split(b"\r\n", 2)[:2], good.split(b"\r\n", 2)[2]
    stray = _line(",", PersonId="2", PersonNameRE="Brontë").encode("cp1252")
    path = tmp_path / "export.csv"
    path.write_bytes(b"\r\n".join(first) + b"\r\n" + stray + second)
    result = ExportFile(path).read()
    assert [(p.person_id, p.christian_name, p.surname) for p in result.persons] == [
        ("1", "Noël", "Brontë"),
        ("3", "Noël", "Brontë"),
    ]
    assert _errors(result) == [(3, "PersonNameRE", "2")]
    assert "not UTF-8 (0xEB)" in result.row_errors[0].message
    assert not result.removals_held


def test_a_stray_byte_in_the_id_makes_the_id_uncertain(tmp_path: Path) -> None:
    """R8.4: an id with a byte that is not UTF-8 cannot be read with certainty."""
    text = _csv_text([_row(PersonId="1", **NAMES), _row(PersonId="2é")]).encode()
    path = tmp_path / "export.csv"
    path.write_bytes(text.replace("2é".encode(), "2é".encode("cp1252")))
    result = ExportFile(path).read()
    assert _errors(result) == [(3, "PersonId", None)]
    assert result.removals_held


def test_a_wholly_windows_1252_file_is_still_windows_1252(tmp_path: Path) -> None:
    """R8.2: a file every byte of which is Windows-1252 and that is not UTF-8 reads as such."""
    rows = [_row(PersonId=str(i), **NAMES) for i in range(5)]
    rows.append(_row(PersonId="9", PersonNameRE="Ã©"))  # a pair that happens to be UTF-8
    result = _csv(tmp_path / "export.csv", _csv_text(rows), encoding="cp1252")
    assert result.row_errors == ()
    assert {p.surname for p in result.persons} == {"Brontë", "Ã©"}


def test_json_lines_with_a_stray_byte_is_read_as_utf8(tmp_path: Path) -> None:
    """R8.2, R8.5: a JSON Lines file that is UTF-8 but for one line: that line is a row error."""
    lines = [json.dumps(_record(PersonId=str(i), **NAMES), ensure_ascii=False) for i in range(3)]
    data = "\n".join(lines).encode()
    path = tmp_path / "export.jsonl"
    path.write_bytes(data.replace("Brontë".encode(), "Brontë".encode("cp1252"), 1))
    result = ExportFile(path).read()
    assert [p.surname for p in result.persons] == ["Brontë", "Brontë"]
    assert _errors(result) == [(1, "PersonNameRE", "0")]


# --- long cells and huge numbers --------------------------------------------------------------


@pytest.mark.parametrize("size", [32_767, 131_073, 500_000])
def test_cells_as_long_as_spreadsheets_write_are_read(tmp_path: Path, size: int) -> None:
    """R8.4: a cell of any length a spreadsheet writes is read (Python's csv stops at 131,072)."""
    rows = [_row(PersonId="1", PersonNameRE="x" * size), _row(PersonId="2")]
    result = _csv(tmp_path / "export.csv", _csv_text(rows))
    assert result.row_errors == ()
    assert len(result.persons[0].surname) == size


@pytest.mark.parametrize(("column", "person_id"), [("PersonNameRE", "1"), ("PersonId", None)])
def test_a_cell_beyond_the_limit_is_a_row_error(
    tmp_path: Path, column: str, person_id: str | None
) -> None:
    """R8.4: a cell beyond the library's limit is a row error, not an unreadable file."""
    rows = [_row(**{"PersonId": "1", column: "x" * (FIELD_LIMIT + 1)}), _row(PersonId="2")]
    result = _csv(tmp_path / "export.csv", _csv_text(rows))
    assert [p.person_id for p in result.persons] == ["2"]
    assert _errors(result) == [(2, column, person_id)]
    assert "beyond the limit" in result.row_errors[0].message
    records = [_record(**{"PersonId": "1", column: "x" * (FIELD_LIMIT + 1)}), _record(PersonId="2")]
    from_jsonl = _jsonl(tmp_path / "export.jsonl", [json.dumps(r) for r in records])
    assert _errors(from_jsonl) == [(1, column, person_id)]


@pytest.mark.parametrize("line_length", [1, 80, 70_000])
def test_a_cell_beyond_the_limit_on_short_lines_is_a_row_error(
    tmp_path: Path, line_length: int
) -> None:
    """R8.4: a quoted cell beyond the limit is found though each of its lines is short."""
    lines = FIELD_LIMIT // line_length + 1
    long_name = "\n".join(["x" * line_length] * lines)
    rows = [_row(PersonId="1"), _row(PersonId="2", PersonNameRE=long_name), _row(PersonId="3")]
    result = _csv(tmp_path / "export.csv", _csv_text(rows))
    assert [p.person_id for p in result.persons] == ["1", "3"]
    assert _errors(result) == [(3, "PersonNameRE", "2")]
    assert "beyond the limit" in result.row_errors[0].message


def test_a_long_line_is_found_across_chunks(tmp_path: Path) -> None:
    """R8.4: a cell beyond the limit on one line that spans several chunks is a row error."""
    rows = [_row(PersonId=str(n), PersonNameRE="y" * 1000) for n in range(2000)]
    rows.append(_row(PersonId="long", PersonNameRE="x" * (3 * FIELD_LIMIT)))
    result = _csv(tmp_path / "export.csv", _csv_text(rows))
    assert len(result.persons) == 2000
    assert _errors(result) == [(2002, "PersonNameRE", "long")]


@pytest.mark.parametrize(
    ("key", "number"),
    [
        ("PersonId", "9" * 5000),
        ("PersonNameRE", "9" * 5000),
        ("KoppelenMetMailChimp", "1e999999"),
        ("MailingenOntvangen", "NaN"),
        ("CorrespondenceGroupRE", "[" + "7" * 5000 + "]"),
    ],
)
def test_huge_json_numbers_are_row_errors(tmp_path: Path, key: str, number: str) -> None:
    """R8.4, R8.5: a number of 4,300+ digits (Python's int limit) is a row error, no traceback."""
    placeholder = "__NUMBER__"
    line = json.dumps(_record(**{"PersonId": "2", key: placeholder})).replace(
        f'"{placeholder}"', number
    )
    result = _jsonl(tmp_path / "export.jsonl", [json.dumps(_record(PersonId="1")), line])
    assert [p.person_id for p in result.persons] == ["1"]
    assert _errors(result) == [(2, key, None if key == "PersonId" else "2")]
    assert "number" in result.row_errors[0].message


# --- control characters -----------------------------------------------------------------------

CONTROLS = ["\x00", "\x1b[31m", "\x07", "\x7f", "\x9b2J", "\x08"]


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize(
    "column", ["PersonNameRE", "PersonInitialsRE", "ContactEMailRE", "CorrespondenceGroupRE"]
)
def test_control_characters_in_any_field_are_row_errors(
    tmp_path: Path, control: str, column: str
) -> None:
    """R8.4: NUL, escape sequences and other controls in a field are row errors naming it."""
    rows = [_row(PersonId="1"), _row(PersonId="2", **{column: f"a{control}b"})]
    from_csv = _csv(tmp_path / "export.csv", _csv_text(rows))
    value: Any = [f"a{control}b"] if column == "CorrespondenceGroupRE" else f"a{control}b"
    records = [_record(PersonId="1"), _record(PersonId="2", **{column: value})]
    from_jsonl = _jsonl(tmp_path / "export.jsonl", [json.dumps(r) for r in records])
    assert _errors(from_csv) == [(3, column, "2")]
    assert _errors(from_jsonl) == [(2, column, "2")]
    for result in (from_csv, from_jsonl):
        assert [p.person_id for p in result.persons] == ["1"]
        assert control not in str(result.row_errors[0])
        assert "U+00" in result.row_errors[0].message


@pytest.mark.parametrize("person_id", ["2\x1b[2J", "\x002", "2\t3", "2\n3", "\x9b2"])
def test_control_characters_in_the_id_make_it_uncertain(tmp_path: Path, person_id: str) -> None:
    """R8.4: an id holding a control character (or a tab or line break) is not read as an id."""
    rows = [_row(PersonId="1"), _row(PersonId=person_id)]
    from_csv = _csv(tmp_path / "export.csv", _csv_text(rows))
    records = [_record(PersonId="1"), _record(PersonId=person_id)]
    from_jsonl = _jsonl(tmp_path / "export.jsonl", [json.dumps(r) for r in records])
    for result in (from_csv, from_jsonl):
        assert [p.person_id for p in result.persons] == ["1"]
        assert [(e.column, e.person_id) for e in result.row_errors] == [("PersonId", None)]
        assert result.removals_held


def test_tabs_and_line_breaks_in_names_are_kept(tmp_path: Path) -> None:
    """R8.4, decided here: spreadsheets write tabs and line breaks in cells; names keep them."""
    rows = [_row(PersonId="1", PersonNameRE="de\tVries\r\nJansen")]
    assert _csv(tmp_path / "export.csv", _csv_text(rows)).persons[0].surname == (
        "de\tVries\r\nJansen"
    )


def test_a_json_lone_surrogate_is_a_row_error(tmp_path: Path) -> None:
    """R8.4, R8.5: a JSON escape of half a character is no text: a row error naming the key."""
    line = json.dumps(_record(PersonId="2", PersonNameRE="x")).replace('"x"', '"\\ud800"')
    result = _jsonl(tmp_path / "export.jsonl", [json.dumps(_record(PersonId="1")), line])
    assert _errors(result) == [(2, "PersonNameRE", "2")]


# --- a sync of these files ----------------------------------------------------------------------


@pytest.fixture
def world(fake: FakeMailchimp, tmp_path: Path) -> Iterator[World]:
    """A fresh installation on a fresh fake, as in test_sync."""
    here = World(fake, tmp_path)
    yield here
    here.client.close()


def test_a_header_only_export_archives_nobody(world: World) -> None:
    """R8.4: a sync of a header-only CSV stops before anything is sent (it archived all)."""
    world.sync(BASE)
    export = world.tmp_path / "export.csv"
    export.write_text(_csv_text([]), encoding="utf-8")
    writes = len(world.writes())
    with SQLiteStore(world.db) as store, pytest.raises(UnreadableSourceError):
        sync(ExportFile(export), store=store, client=world.client, list_id=world.fake.list_id)
    assert len(world.writes()) == writes
    assert {m.status for m in world.members().values()} == {"subscribed"}


def test_a_row_in_another_delimiter_archives_nobody(world: World) -> None:
    """R8.4: one row whose id is uncertain holds every removal of the run."""
    world.sync(BASE)
    export = world.tmp_path / "export.csv"
    text = _csv_text([_row(PersonId="1", ContactEMailRE="jan@example.nl")])
    export.write_text(text + _line(";", PersonId="2"), encoding="utf-8")
    with SQLiteStore(world.db) as store:
        report = sync(
            ExportFile(export), store=store, client=world.client, list_id=world.fake.list_id
        )
    assert report.archived == 0
    assert {m.status for m in world.members().values()} == {"subscribed"}


def test_a_stray_byte_pushes_no_mojibake(world: World) -> None:
    """R8.2: a UTF-8 export with one Windows-1252 row pushes every other name as written."""
    export = world.tmp_path / "export.jsonl"
    write_export(export, BASE)
    csv_export = world.tmp_path / "export.csv"
    rows = [
        _row(PersonId="1", ContactEMailRE="jan@example.nl", PersonNameRE="Brontë"),
        _row(PersonId="2", ContactEMailRE="piet@example.nl", PersonNameRE="Brontë"),
    ]
    data = _csv_text(rows).encode()
    csv_export.write_bytes(data.replace("Brontë".encode(), "Brontë".encode("cp1252"), 1))
    with SQLiteStore(world.db) as store:
        report = sync(
            ExportFile(csv_export), store=store, client=world.client, list_id=world.fake.list_id
        )
    assert [(e.line, e.person_id) for e in report.row_errors] == [(2, "1")]
    assert world.members()["piet@example.nl"].last_name == "Brontë"
