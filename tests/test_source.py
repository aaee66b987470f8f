"""The source protocol and the bundled export reader: SPEC.md R8 (CSV and JSON Lines)."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditcase_mailchimp import (
    ConfigurationError,
    ExportFile,
    ExportResult,
    Person,
    PersonKind,
    PersonSource,
    ProblemCategory,
    RowError,
    SourceError,
    UnreadableSourceError,
    desired_state,
)
from auditcase_mailchimp._export_wire import COLUMNS, FLAG_WORDS, make_converter

from .strategies import person_lists

CLIENT = PersonKind.CLIENT_PERSON
CONTACT = PersonKind.CONTACT_PERSON
HEADER = list(COLUMNS.values())
FLAGS = ["KoppelenMetMailChimp", "MailingenOntvangen", "UitsluitenVoorCorrespondentie"]
EXAMPLES = Path(__file__).parent.parent / "examples"


# --- test-side writers ------------------------------------------------------------------------


def _row(**cells: str) -> dict[str, str]:
    """A good CSV row for person 7, with some cells replaced."""
    row = {
        "PersonId": "7",
        "PersonKind": "klant",
        "PersonInitialsRE": "J.",
        "PersonChristianNameRE": "Jan",
        "PersonNameRE": "de Vries",
        "ContactEMailRE": "jan@example.nl",
        "CompanyEmailREBT": "",
        "CorrespondenceGroupRE": "Nieuwsbrief;Fiscaal",
        "KoppelenMetMailChimp": "Ja",
        "MailingenOntvangen": "Ja",
        "UitsluitenVoorCorrespondentie": "Nee",
    }
    row.update(cells)
    return row


def _record(**values: Any) -> dict[str, Any]:
    """A good JSON Lines record for person 7, with some values replaced."""
    record: dict[str, Any] = {
        "PersonId": "7",
        "PersonKind": "klant",
        "PersonInitialsRE": "J.",
        "PersonChristianNameRE": "Jan",
        "PersonNameRE": "de Vries",
        "ContactEMailRE": "jan@example.nl",
        "CompanyEmailREBT": "",
        "CorrespondenceGroupRE": ["Nieuwsbrief", "Fiscaal"],
        "KoppelenMetMailChimp": True,
        "MailingenOntvangen": True,
        "UitsluitenVoorCorrespondentie": False,
    }
    record.update(values)
    return record


JAN = Person(
    person_id="7",
    kind=CLIENT,
    initials="J.",
    christian_name="Jan",
    surname="de Vries",
    contact_email="jan@example.nl",
    correspondence_groups=("Nieuwsbrief", "Fiscaal"),
    receives_mailings=True,
    excluded_from_correspondence=False,
    linked=True,
)


def _csv_text(
    rows: Iterable[dict[str, str]], *, delimiter: str = ",", header: Sequence[str] = HEADER
) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([row.get(column, "") for column in header] for row in rows)
    return out.getvalue()


def _write_csv(
    path: Path,
    rows: Iterable[dict[str, str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    header: Sequence[str] = HEADER,
) -> ExportFile:
    path.write_bytes(_csv_text(rows, delimiter=delimiter, header=header).encode(encoding))
    return ExportFile(path)


def _write_jsonl(path: Path, records: Iterable[object], *, ensure_ascii: bool = True) -> ExportFile:
    lines = [json.dumps(record, ensure_ascii=ensure_ascii) for record in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ExportFile(path)


def _errors(result: ExportResult) -> list[tuple[int, str | None, str | None]]:
    return [(e.line, e.column, e.person_id) for e in result.row_errors]


# --- R8.1: the columns ------------------------------------------------------------------------


def test_a_good_row_reads_as_a_person(tmp_path: Path) -> None:
    """R8.1: each column goes to its field of Person."""
    result = _write_csv(tmp_path / "export.csv", [_row()]).read()
    assert result == ExportResult(persons=(JAN,), row_errors=())


def test_columns_in_any_order_and_extra_columns_ignored(tmp_path: Path) -> None:
    """R8.1: the order of the columns is free and extra columns are ignored."""
    header = ["Relatie", *reversed(HEADER), "Opmerking"]
    rows = [_row(Relatie="Bakkerij De Korenaar", Opmerking="x;y,z")]
    result = _write_csv(tmp_path / "export.csv", rows, header=header).read()
    assert result.persons == (JAN,)
    assert result.row_errors == ()


@pytest.mark.parametrize("column", HEADER)
def test_a_missing_column_makes_the_file_unreadable_and_is_named(
    tmp_path: Path, column: str
) -> None:
    """R8.1, R8.4: a missing column is an error naming it, and nothing is read."""
    header = [c for c in HEADER if c != column]
    source = _write_csv(tmp_path / "export.csv", [_row()], header=header)
    with pytest.raises(UnreadableSourceError, match=column) as caught:
        source.read()
    assert caught.value.columns == (column,)
    assert caught.value.line == 1
    assert isinstance(caught.value, SourceError)
    assert source.last_result is None


def test_a_column_in_the_wrong_case_is_missing_with_a_hint(tmp_path: Path) -> None:
    """R8.1: column names are matched exactly; the error points at the near miss."""
    header = ["personid" if c == "PersonId" else c for c in HEADER]
    source = _write_csv(tmp_path / "export.csv", [_row(personid="7")], header=header)
    with pytest.raises(UnreadableSourceError, match="found personid") as caught:
        source.read()
    assert caught.value.columns == ("PersonId",)


def test_a_repeated_column_makes_the_file_unreadable(tmp_path: Path) -> None:
    """R8.1: a required column twice in the header is ambiguous, so the file is refused."""
    source = _write_csv(tmp_path / "export.csv", [_row()], header=[*HEADER, "PersonNameRE"])
    with pytest.raises(UnreadableSourceError, match="PersonNameRE occurs more than once"):
        source.read()


@pytest.mark.parametrize(
    ("word", "kind"),
    [
        ("klant", CLIENT),
        ("Klant", CLIENT),
        ("KLANT", CLIENT),
        ("contactpersoon", CONTACT),
        ("ContactPersoon", CONTACT),
        (" contactpersoon ", CONTACT),
    ],
)
def test_person_kind_is_read_ignoring_case(tmp_path: Path, word: str, kind: PersonKind) -> None:
    """R8.1: PersonKind is klant or contactpersoon, in any case."""
    result = _write_csv(tmp_path / "export.csv", [_row(PersonKind=word)]).read()
    assert [p.kind for p in result.persons] == [kind]


@pytest.mark.parametrize("word", ["organisatie", "client_person", "", "k"])
def test_an_unknown_person_kind_is_a_row_error(tmp_path: Path, word: str) -> None:
    """R8.1, R1.1: any other kind is an error naming row and column; nothing else is pushed."""
    result = _write_csv(tmp_path / "export.csv", [_row(PersonKind=word)]).read()
    assert result.persons == ()
    assert _errors(result) == [(2, "PersonKind", "7")]
    assert "klant or contactpersoon" in result.row_errors[0].message


@pytest.mark.parametrize("column", FLAGS)
@pytest.mark.parametrize(
    ("word", "value"),
    [
        *((word, value) for word, value in FLAG_WORDS.items()),
        *((word.upper(), value) for word, value in FLAG_WORDS.items()),
        ("Ja", True),
        ("Nee", False),
        ("True", True),
        ("nEe", False),
        (" Ja ", True),
    ],
)
def test_flag_words_are_read_ignoring_case(
    tmp_path: Path,
    column: str,
    word: str,
    value: bool,  # noqa: FBT001 - pytest passes parameters by name
) -> None:
    """R8.1: Ja/Nee, Yes/No, true/false and 1/0 are accepted in any case, for every flag."""
    result = _write_csv(tmp_path / "export.csv", [_row(**{column: word})]).read()
    assert result.row_errors == ()
    attribute = {v: k for k, v in COLUMNS.items()}[column]
    assert getattr(result.persons[0], attribute) is value


@pytest.mark.parametrize("column", FLAGS)
@pytest.mark.parametrize("word", ["Misschien", "J", "N", "2", "-1", "waar", "jan@example.nl"])
def test_any_other_flag_word_is_an_error_naming_row_and_column(
    tmp_path: Path, column: str, word: str
) -> None:
    """R8.1: anything else in a flag is an error naming the row and the column."""
    rows = [_row(PersonId="1"), _row(PersonId="2", **{column: word}), _row(PersonId="3")]
    result = _write_csv(tmp_path / "export.csv", rows).read()
    assert [p.person_id for p in result.persons] == ["1", "3"]
    assert _errors(result) == [(3, column, "2")]
    assert str(result.row_errors[0]).startswith(f"line 3, column {column}, person 2: must be Ja")


@pytest.mark.parametrize("column", FLAGS)
@pytest.mark.parametrize("cell", ["", "   "])
def test_an_empty_flag_is_an_error(tmp_path: Path, column: str, cell: str) -> None:
    """R8.1, decided here: an empty flag is an error (any guess could push, remove or mail)."""
    result = _write_csv(tmp_path / "export.csv", [_row(**{column: cell})]).read()
    assert result.persons == ()
    assert _errors(result) == [(2, column, "7")]
    assert result.row_errors[0].message.startswith("is empty")


@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize(
    ("cell", "groups"),
    [
        ("", ()),
        ("Nieuwsbrief", ("Nieuwsbrief",)),
        ("Nieuwsbrief;Fiscaal;Seminar Erfrecht", ("Nieuwsbrief", "Fiscaal", "Seminar Erfrecht")),
        ("Nieuwsbrief; ;nieuwsbrief;", ("Nieuwsbrief", " ", "nieuwsbrief", "")),
    ],
)
def test_correspondence_groups_are_split_on_semicolons(
    tmp_path: Path, delimiter: str, cell: str, groups: tuple[str, ...]
) -> None:
    """R8.1: CorrespondenceGroupRE holds the groups separated by ';', quoted in a ';' file."""
    path = tmp_path / "export.csv"
    source = _write_csv(path, [_row(CorrespondenceGroupRE=cell)], delimiter=delimiter)
    if delimiter == ";" and ";" in cell:
        assert f'"{cell}"' in path.read_text(encoding="utf-8")
    assert [p.correspondence_groups for p in source.persons()] == [groups]


def test_values_are_kept_as_written(tmp_path: Path) -> None:
    """R8.1: names, addresses and groups are kept as AuditCase wrote them; the core trims (R2)."""
    row = _row(
        PersonInitialsRE=" IJ. ",
        PersonChristianNameRE="   ",
        PersonNameRE="van 't Hof ",
        ContactEMailRE=" Jan@Example.NL ",
        CompanyEmailREBT="  ",
    )
    (person,) = _write_csv(tmp_path / "export.csv", [row]).persons()
    assert (person.initials, person.christian_name, person.surname) == (
        " IJ. ",
        "   ",
        "van 't Hof ",
    )
    assert (person.contact_email, person.company_email) == (" Jan@Example.NL ", "  ")


def test_person_id_is_trimmed(tmp_path: Path) -> None:
    """R8.1, decided here: the id is trimmed, so ' 7 ' is person 7."""
    (person,) = _write_csv(tmp_path / "export.csv", [_row(PersonId=" 7 ")]).persons()
    assert person.person_id == "7"


@pytest.mark.parametrize("cell", ["", "  "])
def test_an_empty_person_id_is_a_row_error_without_an_id(tmp_path: Path, cell: str) -> None:
    """R8.1, R8.4: every person needs an id; the error has none to name, so removals wait."""
    result = _write_csv(tmp_path / "export.csv", [_row(PersonId=cell), _row(PersonId="8")]).read()
    assert _errors(result) == [(2, "PersonId", None)]
    assert result.skipped_ids == frozenset()
    assert result.removals_held


# --- R8.2: delimiter and encoding ---------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_the_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    """R8.2: the delimiter is ',' or ';', detected."""
    rows = [_row(PersonNameRE="Jansen, van", CorrespondenceGroupRE="A;B")]
    result = _write_csv(tmp_path / "export.csv", rows, delimiter=delimiter).read()
    assert result.row_errors == ()
    assert [(p.surname, p.correspondence_groups) for p in result.persons] == [
        ("Jansen, van", ("A", "B"))
    ]


def test_the_delimiter_is_detected_from_the_header_line(tmp_path: Path) -> None:
    """R8.2: a ';' header decides, however many commas the rows hold."""
    path = tmp_path / "export.csv"
    path.write_text(
        ";".join(HEADER) + "\n7;klant;J.,P.;Jan,Piet;Vries, de;a@example.nl;;;Ja;Ja;Nee\n",
        encoding="utf-8",
    )
    (person,) = ExportFile(path).persons()
    assert (person.initials, person.christian_name, person.surname) == (
        "J.,P.",
        "Jan,Piet",
        "Vries, de",
    )


NAMES = {"PersonChristianNameRE": "Noël", "PersonNameRE": "van \u2019t Hof-Brontë"}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_the_encoding_is_detected(tmp_path: Path, encoding: str, delimiter: str) -> None:
    """R8.2: UTF-8 with or without BOM, or Windows-1252 (Excel on Dutch Windows), detected."""
    source = _write_csv(
        tmp_path / "export.csv", [_row(**NAMES)], delimiter=delimiter, encoding=encoding
    )
    (person,) = source.persons()
    assert (person.christian_name, person.surname) == ("Noël", "van \u2019t Hof-Brontë")
    assert person.person_id == "7"  # the BOM is not part of the first column's name


def test_windows_line_endings_and_line_numbers(tmp_path: Path) -> None:
    """R8.2, R8.4: CRLF lines are read; a cell spanning lines does not shift later line numbers."""
    rows = [_row(PersonId="1", PersonNameRE="de\r\nVries"), _row(PersonId="2", PersonKind="x")]
    result = _write_csv(tmp_path / "export.csv", rows).read()
    assert [p.surname for p in result.persons] == ["de\r\nVries"]
    assert _errors(result) == [(4, "PersonKind", "2")]


def test_bare_carriage_returns_end_lines(tmp_path: Path) -> None:
    """R8.2: a file with old-Mac line endings (a bare carriage return) reads like any other."""
    path = tmp_path / "export.csv"
    path.write_bytes(
        _csv_text([_row(PersonId="1"), _row(PersonId="2")]).replace("\r\n", "\r").encode()
    )
    assert [p.person_id for p in ExportFile(path).persons()] == ["1", "2"]


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_unicode_line_separators_stay_inside_values(tmp_path: Path, separator: str) -> None:
    """R8.2, R8.5: only line feeds (or bare carriage returns) end lines, not U+2028 and kin."""
    surname = f"de{separator}Vries"
    rows = [_row(PersonId="1", PersonNameRE=surname), _row(PersonId="2")]
    from_csv = _write_csv(tmp_path / "export.csv", rows).read()
    records = [_record(PersonId="1", PersonNameRE=surname), _record(PersonId="2")]
    from_jsonl = _write_jsonl(tmp_path / "export.jsonl", records, ensure_ascii=False).read()
    for result in (from_csv, from_jsonl):
        assert result.row_errors == ()
        assert [p.surname for p in result.persons] == [surname, "de Vries"]


@pytest.mark.parametrize("separator", ["\x85", "\x0b", "\x1c"])
def test_control_line_separators_are_row_errors_but_end_no_line(
    tmp_path: Path, separator: str
) -> None:
    """R8.4: NEL, VT and FS are control characters (row errors); they still end no line."""
    surname = f"de{separator}Vries"
    rows = [_row(PersonId="1", PersonNameRE=surname), _row(PersonId="2", PersonKind="x")]
    from_csv = _write_csv(tmp_path / "export.csv", rows).read()
    records = [_record(PersonId="1", PersonNameRE=surname), _record(PersonId="2", PersonKind="x")]
    from_jsonl = _write_jsonl(tmp_path / "export.jsonl", records, ensure_ascii=False).read()
    assert _errors(from_csv) == [(2, "PersonNameRE", "1"), (3, "PersonKind", "2")]
    assert _errors(from_jsonl) == [(1, "PersonNameRE", "1"), (2, "PersonKind", "2")]
    assert "control character" in from_csv.row_errors[0].message


def test_a_file_in_no_known_encoding_is_unreadable(tmp_path: Path) -> None:
    """R8.2, R8.4: bytes that are neither UTF-8 nor Windows-1252 stop the run, naming the line."""
    path = tmp_path / "export.csv"
    path.write_bytes(_csv_text([_row()]).encode() + b"8,klant,\x81,,,,,,Ja,Ja,Nee\r\n")
    with pytest.raises(UnreadableSourceError, match="neither UTF-8 nor Windows-1252") as caught:
        ExportFile(path).read()
    assert caught.value.line == 3
    assert isinstance(caught.value.__cause__, UnicodeDecodeError)


def test_a_file_with_a_utf8_bom_is_utf8_and_other_bytes_are_row_errors(tmp_path: Path) -> None:
    """R8.2: a BOM says UTF-8; a row with a Windows-1252 byte after it is a row error."""
    path = tmp_path / "export.csv"
    text = _csv_text([_row(PersonId="1"), _row(PersonId="2", **NAMES)])
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("cp1252"))
    result = ExportFile(path).read()
    assert [p.person_id for p in result.persons] == ["1"]
    assert _errors(result) == [(3, "PersonChristianNameRE", "2"), (3, "PersonNameRE", "2")]
    assert "0xEB" in result.row_errors[0].message


@pytest.mark.parametrize(
    ("bom", "encoding"), [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")]
)
def test_utf16_is_refused_with_advice(tmp_path: Path, bom: bytes, encoding: str) -> None:
    """R8.2: UTF-16 (Excel's 'Unicode text') is not one of the encodings; the error says so."""
    path = tmp_path / "export.csv"
    path.write_bytes(bom + _csv_text([_row()]).encode(encoding))
    with pytest.raises(UnreadableSourceError, match="UTF-16"):
        ExportFile(path).read()


# --- R8.3: unique ids -------------------------------------------------------------------------


def test_a_repeated_id_is_an_error_naming_both_rows_and_both_are_skipped(tmp_path: Path) -> None:
    """R8.3: a repeated PersonId is an error naming both rows; decided here: both are skipped."""
    rows = [_row(PersonId="1"), _row(PersonId="7"), _row(PersonId="2"), _row(PersonId=" 7")]
    result = _write_csv(tmp_path / "export.csv", rows).read()
    assert [p.person_id for p in result.persons] == ["1", "2"]
    assert _errors(result) == [(3, "PersonId", "7"), (5, "PersonId", "7")]
    assert "also occurs on line 5" in result.row_errors[0].message
    assert "also occurs on line 3" in result.row_errors[1].message
    assert result.skipped_ids == {"7"}


def test_an_id_three_times_names_every_other_row(tmp_path: Path) -> None:
    """R8.3: each row with a repeated id names all the others."""
    rows = [_row(), _row(), _row(PersonKind="onbekend")]
    result = _write_csv(tmp_path / "export.csv", rows).read()
    assert result.persons == ()
    messages = {(e.line, e.column): e.message for e in result.row_errors}
    assert "lines 3, 4" in messages[2, "PersonId"]
    assert "lines 2, 3" in messages[4, "PersonId"]
    assert (4, "PersonKind") in messages  # the bad row's own error is reported too


def test_a_repeated_id_whose_first_row_is_bad_names_that_row(tmp_path: Path) -> None:
    """R8.3, R8.4: a bad first row of a repeated id is named by the later rows, and vice versa."""
    rows = [
        _row(PersonId="7", PersonKind="onbekend"),
        _row(PersonId="1"),
        _row(PersonId="7"),
        _row(PersonId="7"),
    ]
    result = _write_csv(tmp_path / "export.csv", rows).read()
    assert [p.person_id for p in result.persons] == ["1"]
    messages = {(e.line, e.column): e.message for e in result.row_errors}
    assert "lines 4, 5" in messages[2, "PersonId"]
    assert "lines 2, 5" in messages[4, "PersonId"]
    assert "lines 2, 4" in messages[5, "PersonId"]
    assert (2, "PersonKind") in messages


# --- R8.4: bad rows and unreadable files ------------------------------------------------------


def test_a_bad_row_is_skipped_and_the_others_are_used(tmp_path: Path) -> None:
    """R8.4: a row with an error is reported and skipped; the other rows are still used."""
    rows = [
        _row(PersonId="1"),
        _row(PersonId="2", PersonKind="bedrijf", MailingenOntvangen="soms"),
        _row(PersonId="3"),
    ]
    result = _write_csv(tmp_path / "export.csv", rows).read()
    assert [p.person_id for p in result.persons] == ["1", "3"]
    assert _errors(result) == [(3, "PersonKind", "2"), (3, "MailingenOntvangen", "2")]
    assert result.skipped_ids == {"2"}


@pytest.mark.parametrize("extra", [[], ["x"], ["", ""]])
def test_a_row_with_the_wrong_number_of_cells_is_a_row_error(
    tmp_path: Path, extra: list[str]
) -> None:
    """R8.4: a row whose cells cannot be matched to the header is skipped, naming its id."""
    path = tmp_path / "export.csv"
    cells = [_row(PersonId="2")[c] for c in HEADER]
    cells = cells[:-1] if not extra else cells + extra
    path.write_text(_csv_text([_row(PersonId="1")]) + ",".join(cells) + "\n", encoding="utf-8")
    result = ExportFile(path).read()
    assert [p.person_id for p in result.persons] == ["1"]
    assert _errors(result) == [(3, None, None)]  # decided in R8.4: the id is not certain
    assert "cells" in result.row_errors[0].message
    assert result.removals_held


def test_wholly_empty_rows_are_ignored(tmp_path: Path) -> None:
    """R8.4: blank lines and rows of empty cells (Excel leaves them) are neither used nor errors."""
    path = tmp_path / "export.csv"
    first, second = _csv_text([_row(PersonId="1"), _row(PersonId="2")]).splitlines()[1:]
    lines = [",".join(HEADER), first, "", ",,", "," * 10, " , ", second]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    result = ExportFile(path).read()
    assert [p.person_id for p in result.persons] == ["1", "2"]
    assert result.row_errors == ()


@pytest.mark.parametrize("delimiter", [",", ";"])
@pytest.mark.parametrize("blank_lines", [False, True])
def test_a_header_without_rows_is_unreadable(
    tmp_path: Path,
    delimiter: str,
    blank_lines: bool,  # noqa: FBT001 - a parameter
) -> None:
    """R8.4: a header and no person rows would archive everyone: the file is unreadable."""
    path = tmp_path / "export.csv"
    blank = f"\r\n \r\n{delimiter * 3}\r\n" if blank_lines else ""
    path.write_text(_csv_text([], delimiter=delimiter) + blank, encoding="utf-8")
    with pytest.raises(UnreadableSourceError, match="no person rows, only a header"):
        ExportFile(path).read()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b" \r\n\r\n", "empty"),
        (json.dumps(_record()).encode(), "names none of the columns"),
        (b"PK\x03\x04\x14\x00\x06\x00", "names none of the columns"),
        (b"Naam;Adres\nJan;Dorpsstraat 1\n", "names none of the columns"),
        (b'"PersonId"x,PersonKind\n', "names none of the columns"),
    ],
)
def test_a_file_that_is_no_export_is_unreadable(tmp_path: Path, content: bytes, match: str) -> None:
    """R8.4: an empty file, or one that is not a CSV export, stops the run before sending."""
    path = tmp_path / "export.csv"
    path.write_bytes(content)
    with pytest.raises(UnreadableSourceError, match=match):
        ExportFile(path).read()


def test_an_unclosed_quote_makes_the_file_unreadable(tmp_path: Path) -> None:
    """R8.4: past a quoting error rows cannot be told apart, so nothing is used."""
    path = tmp_path / "export.csv"
    path.write_text(
        _csv_text([_row(PersonId="1")]) + '2,klant,"J.,Jan\n3,klant\n', encoding="utf-8"
    )
    with pytest.raises(UnreadableSourceError, match="not valid CSV") as caught:
        ExportFile(path).read()
    assert caught.value.line == 3


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    """R8.4: a file that cannot be opened raises our error, the OS error as its cause."""
    with pytest.raises(UnreadableSourceError, match="cannot be read") as caught:
        ExportFile(tmp_path / "weg.csv").read()
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_errors_never_contain_an_email_address(tmp_path: Path) -> None:
    """R8.4: errors name line, column and person id, never a cell's value (personal data)."""
    address = "geheim@example.nl"
    rows = [
        _row(PersonId="1", PersonKind=address),
        _row(PersonId="2", MailingenOntvangen=address, UitsluitenVoorCorrespondentie=""),
        _row(PersonId="3", ContactEMailRE=address),
        _row(PersonId="3", ContactEMailRE=address),
    ]
    csv_result = _write_csv(tmp_path / "export.csv", rows).read()
    records = [
        _record(PersonId="1", PersonKind=address),
        _record(PersonId="2", ContactEMailRE=[address], CorrespondenceGroupRE=address),
        _record(PersonId="3", KoppelenMetMailChimp=address),
        [address],
    ]
    jsonl_result = _write_jsonl(tmp_path / "export.jsonl", records).read()
    errors = [*csv_result.row_errors, *jsonl_result.row_errors]
    assert len(errors) == 10
    assert not [e for e in errors if "@" in str(e) or "geheim" in str(e)]


# --- R8.5: JSON Lines ---------------------------------------------------------------------------


def test_json_lines_read_like_csv(tmp_path: Path) -> None:
    """R8.5: the same records, with the same keys, read from JSON Lines."""
    result = _write_jsonl(
        tmp_path / "export.jsonl", [_record(Relatie="extra keys are ignored")]
    ).read()
    assert result == ExportResult(persons=(JAN,))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("PersonId", 7),
        ("PersonId", ""),
        ("PersonKind", "bedrijf"),
        ("PersonKind", True),
        ("PersonNameRE", None),
        ("PersonInitialsRE", 3),
        ("ContactEMailRE", ["a@example.nl"]),
        ("CorrespondenceGroupRE", "Nieuwsbrief;Fiscaal"),
        ("CorrespondenceGroupRE", ["Nieuwsbrief", 3]),
        ("CorrespondenceGroupRE", None),
        ("KoppelenMetMailChimp", "Ja"),
        ("MailingenOntvangen", 1),
        ("UitsluitenVoorCorrespondentie", None),
    ],
)
def test_json_lines_types_are_strict(tmp_path: Path, key: str, value: object) -> None:
    """R8.5: strings are strings, groups a list of strings, flags booleans; else a row error."""
    records = [_record(PersonId="1"), _record(**{"PersonId": "2", key: value})]
    result = _write_jsonl(tmp_path / "export.jsonl", records).read()
    assert [p.person_id for p in result.persons] == ["1"]
    person_id = "2" if key != "PersonId" else None
    assert _errors(result) == [(2, key, person_id)]


def test_json_lines_blank_lines_are_ignored_and_counted(tmp_path: Path) -> None:
    """R8.5: blank lines are ignored, and line numbers are those of the file."""
    path = tmp_path / "export.jsonl"
    lines = [
        "",
        json.dumps(_record(PersonId="1")),
        "   ",
        json.dumps(_record(PersonId="2", PersonKind="x")),
    ]
    path.write_text("\r\n".join(lines) + "\r\n\r\n", encoding="utf-8-sig")
    result = ExportFile(path).read()
    assert [p.person_id for p in result.persons] == ["1"]
    assert _errors(result) == [(4, "PersonKind", "2")]


def test_json_lines_bad_lines_are_row_errors(tmp_path: Path) -> None:
    """R8.4, R8.5: a line that is not a JSON object, or repeats a key, is skipped and reported."""
    path = tmp_path / "export.jsonl"
    good = json.dumps(_record(PersonId="1"))
    lines = [
        good,
        '{"PersonId": "2",',
        "[1, 2]",
        '{"PersonId": "3", "PersonId": "4"}',
        "[" * 100_000,
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    result = ExportFile(path).read()
    assert [p.person_id for p in result.persons] == ["1"]
    assert _errors(result) == [
        (2, None, None),
        (3, None, None),
        (4, "PersonId", None),
        (5, None, None),
    ]
    assert "not valid JSON" in result.row_errors[0].message
    assert "not a list" in result.row_errors[1].message


def test_json_lines_a_key_missing_from_some_records_is_a_row_error(tmp_path: Path) -> None:
    """R8.5, R8.1: every key is required; a record without one is skipped, naming the key."""
    incomplete = _record(PersonId="2")
    del incomplete["MailingenOntvangen"], incomplete["PersonNameRE"]
    result = _write_jsonl(tmp_path / "export.jsonl", [_record(PersonId="1"), incomplete]).read()
    assert [p.person_id for p in result.persons] == ["1"]
    assert _errors(result) == [(2, "PersonNameRE", "2"), (2, "MailingenOntvangen", "2")]


def test_json_lines_a_key_missing_from_every_record_is_a_missing_column(tmp_path: Path) -> None:
    """R8.5, R8.4: a key no record has is a missing column: the file is unreadable."""
    records = [_record(PersonId=str(i)) for i in range(3)]
    for record in records:
        del record["UitsluitenVoorCorrespondentie"]
    with pytest.raises(UnreadableSourceError, match="UitsluitenVoorCorrespondentie") as caught:
        _write_jsonl(tmp_path / "export.jsonl", records).read()
    assert caught.value.columns == ("UitsluitenVoorCorrespondentie",)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"\n \n\n", "empty"),
        (_csv_text([_row()]).encode(), "not JSON Lines"),
        (b"[1]\n{}\n", "not JSON Lines"),
        ('{"PersonNameRE": "Brontë"}\n'.encode("cp1252"), "not UTF-8"),
    ],
)
def test_json_lines_that_is_no_export_is_unreadable(
    tmp_path: Path, content: bytes, match: str
) -> None:
    """R8.4, R8.5: an empty file, not JSON Lines or not UTF-8 stops the run."""
    path = tmp_path / "export.jsonl"
    path.write_bytes(content)
    with pytest.raises(UnreadableSourceError, match=match):
        ExportFile(path).read()


# --- the reader as an object ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "file_format", "expected"),
    [
        ("export.csv", None, "csv"),
        ("EXPORT.CSV", None, "csv"),
        ("export.jsonl", None, "jsonl"),
        ("export.ndjson", None, "jsonl"),
        ("export.txt", "csv", "csv"),
        ("export.csv", "jsonl", "jsonl"),
    ],
)
def test_the_format_follows_the_suffix_unless_given(
    name: str, file_format: Any, expected: str
) -> None:
    """R8: the format comes from the suffix and can be overridden."""
    assert ExportFile(name, file_format=file_format).file_format == expected


def test_an_override_reads_a_file_of_any_name(tmp_path: Path) -> None:
    """R8: a CSV export with another suffix is read with file_format='csv'."""
    path = tmp_path / "export.txt"
    path.write_text(_csv_text([_row()]), encoding="utf-8")
    assert ExportFile(path, file_format="csv").persons() == (JAN,)


@pytest.mark.parametrize(("name", "file_format"), [("export.txt", None), ("export.csv", "xlsx")])
def test_an_unknown_format_is_a_configuration_error(name: str, file_format: Any) -> None:
    """R9.6: an unknown format is the caller's mistake, raised before anything is read."""
    with pytest.raises(ConfigurationError, match="csv"):
        ExportFile(name, file_format=file_format)


def test_persons_keeps_the_row_errors(tmp_path: Path) -> None:
    """R8.4: after persons(), the row errors and the whole result are on the source."""
    source = _write_csv(
        tmp_path / "export.csv", [_row(PersonId="1"), _row(PersonId="2", PersonKind="")]
    )
    before = (source.row_errors, source.last_result)
    assert before == ((), None)
    persons = source.persons()
    assert [p.person_id for p in persons] == ["1"]
    assert _errors(source.last_result or ExportResult(persons=())) == [(3, "PersonKind", "2")]
    assert source.row_errors == (
        RowError(line=3, column="PersonKind", person_id="2", message=source.row_errors[0].message),
    )
    assert "export.csv" in repr(source)


def test_a_row_error_reads_well() -> None:
    """R8.4: str() of a row error names line, column and person id, leaving out what is unknown."""
    assert str(RowError(line=3, column=None, person_id=None, message="x")) == "line 3: x"
    assert (
        str(RowError(line=3, column="A", person_id="9", message="x"))
        == "line 3, column A, person 9: x"
    )


def test_each_converter_is_new_and_private() -> None:
    """STYLE: wire names live in a private converter from make_converter(), never the global one."""
    first, second = make_converter(text=True), make_converter(text=True)
    assert first is not second
    assert first is not cattrs.global_converter
    with pytest.raises(cattrs.ClassValidationError):
        cattrs.structure(_record(), Person)  # the global converter knows no AuditCase names


def test_the_fast_path_builds_persons_like_the_constructor(tmp_path: Path) -> None:
    """R8: persons the reader builds without re-validating equal Person(...) field by field."""
    assert {field.name for field in attrs.fields(Person)} == set(COLUMNS)
    (from_csv,) = _write_csv(tmp_path / "export.csv", [_row()]).persons()
    (from_jsonl,) = _write_jsonl(tmp_path / "export.jsonl", [_record()]).persons()
    for person in (from_csv, from_jsonl):
        assert person == JAN
        assert {name: getattr(person, name) for name in COLUMNS} == _fields(JAN)
        assert Person(**_fields(person)) == person  # every value passes Person's validators


# --- round trips ------------------------------------------------------------------------------


def _written_flag(data: st.DataObject, value: bool) -> str:  # noqa: FBT001 - a flag's value
    word = data.draw(st.sampled_from([w for w, v in FLAG_WORDS.items() if v is value]))
    return data.draw(st.sampled_from([word, word.upper(), word.capitalize()]))


def _cells(data: st.DataObject, person: Person) -> dict[str, str]:
    """Write a person the way AuditCase's export does, independently of the reader."""
    return {
        "PersonId": person.person_id,
        "PersonKind": "klant" if person.kind is CLIENT else "contactpersoon",
        "PersonInitialsRE": person.initials,
        "PersonChristianNameRE": person.christian_name,
        "PersonNameRE": person.surname,
        "ContactEMailRE": person.contact_email,
        "CompanyEmailREBT": person.company_email,
        "CorrespondenceGroupRE": ";".join(person.correspondence_groups),
        "KoppelenMetMailChimp": _written_flag(data, person.linked),
        "MailingenOntvangen": _written_flag(data, person.receives_mailings),
        "UitsluitenVoorCorrespondentie": _written_flag(data, person.excluded_from_correspondence),
    }


def _as_read_from_csv(person: Person) -> Person:
    # A single empty group and no group are both an empty cell; the core ignores blank groups.
    if person.correspondence_groups == ("",):
        return Person(**{**_fields(person), "correspondence_groups": ()})
    return person


def _fields(person: Person) -> dict[str, Any]:
    return {name: getattr(person, name) for name in COLUMNS}


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def _exportable(people: list[Person]) -> list[Person]:
    """The persons with every control character in a name replaced (those are row errors)."""
    return [
        attrs.evolve(
            p,
            initials=_CONTROL.sub("?", p.initials),
            christian_name=_CONTROL.sub("?", p.christian_name),
            surname=_CONTROL.sub("?", p.surname),
        )
        for p in people
    ]


@given(people=person_lists(max_size=5), data=st.data())
def test_csv_round_trip(
    tmp_path_factory: pytest.TempPathFactory, people: list[Person], data: st.DataObject
) -> None:
    """R8.1, R8.2: persons written as CSV, in either delimiter and UTF-8 form, read back equal."""
    path = tmp_path_factory.mktemp("csv") / "export.csv"
    people = _exportable(people)
    header = data.draw(st.permutations(HEADER))
    rows = [_cells(data, person) for person in people]
    delimiter = data.draw(st.sampled_from([",", ";"]))
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig"]))
    source = _write_csv(path, rows, delimiter=delimiter, encoding=encoding, header=header)
    if not people:  # R8.4: a header only is unreadable
        with pytest.raises(UnreadableSourceError, match="only a header"):
            source.read()
        return
    assert source.read() == ExportResult(persons=tuple(_as_read_from_csv(p) for p in people))


@given(people=person_lists(max_size=5), ensure_ascii=st.booleans())
def test_jsonl_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    people: list[Person],
    ensure_ascii: bool,  # noqa: FBT001 - hypothesis passes parameters by name
) -> None:
    """R8.5: persons written as JSON Lines read back equal."""
    path = tmp_path_factory.mktemp("jsonl") / "export.jsonl"
    people = _exportable(people)
    records = [
        {
            **{column: getattr(person, name) for name, column in COLUMNS.items()},
            "PersonKind": "klant" if person.kind is CLIENT else "contactpersoon",
            "CorrespondenceGroupRE": list(person.correspondence_groups),
        }
        for person in people
    ]
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=ensure_ascii) + "\n" for r in records) or "\n",
        encoding="utf-8",
    )
    if not people:
        with pytest.raises(UnreadableSourceError, match="empty"):
            ExportFile(path).read()
        return
    assert ExportFile(path).read() == ExportResult(persons=tuple(people))


# --- the example export -----------------------------------------------------------------------


def test_the_example_export_reads_without_row_errors() -> None:
    """R8: examples/auditcase-export.csv and .jsonl hold the same 65 persons, without errors."""
    from_csv = ExportFile(EXAMPLES / "auditcase-export.csv").read()
    from_jsonl = ExportFile(EXAMPLES / "auditcase-export.jsonl").read()
    assert len(from_csv.persons) == 65
    assert from_csv.row_errors == ()
    assert from_jsonl == from_csv
    assert {p.kind for p in from_csv.persons} == {CLIENT, CONTACT}
    assert sum(not p.linked for p in from_csv.persons) == 6


def test_the_example_export_shows_every_problem() -> None:
    """R2.6, R3: the example holds the problems examples/README.md lists."""
    state = desired_state(ExportFile(EXAMPLES / "auditcase-export.csv").persons())
    by_category: dict[ProblemCategory, set[str]] = {}
    for problem in state.problems:
        by_category.setdefault(problem.category, set()).add(problem.person_id)
    assert by_category == {
        ProblemCategory.NO_ADDRESS: {"10011", "10032", "20012"},
        ProblemCategory.INVALID_ADDRESS: {"10012", "10013", "10014", "20013", "20014", "20028"},
        ProblemCategory.DUPLICATE_ADDRESS: {
            "10017",
            "20030",  # one human: client person and contact person (R3)
            "10018",
            "20031",  # the same, the address differing in case
            "10028",
            "10029",  # two client persons sharing a family address
            "20001",
            "20002",
            "20003",  # contact persons falling back to the company address
            "20008",
            "20009",
        },
    }
    pushed = {p.person_id for p in state.problems if p.pushed}
    assert pushed == {"10017", "10018", "10028", "20001", "20008"}
    assert len(state.members) == 44


# --- the protocol -----------------------------------------------------------------------------


class SqlitePersonSource:
    """A source reading AuditCase persons with a query, as an integrator would (DB-API)."""

    QUERY = """
        SELECT p.id, p.kind, p.initials, p.christian_name, p.surname, p.email,
               c.email, p.groups, p.linked, p.mailings, p.excluded
        FROM person AS p LEFT JOIN company AS c ON c.id = p.company_id
        ORDER BY p.id
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        """Read from an open connection to the AuditCase database."""
        self.connection = connection

    def persons(self) -> Iterator[Person]:
        """Yield every person, the company address joined in."""
        cursor = self.connection.execute(self.QUERY)
        for row in cursor:
            (
                person_id,
                kind,
                initials,
                christian,
                surname,
                email,
                company,
                groups,
                linked,
                mailings,
                excluded,
            ) = row
            yield Person(
                person_id=str(person_id),
                kind=CLIENT if kind == "klant" else CONTACT,
                initials=initials or "",
                christian_name=christian or "",
                surname=surname or "",
                contact_email=email or "",
                company_email=company or "",
                correspondence_groups=tuple(g for g in (groups or "").split(";") if g),
                linked=bool(linked),
                receives_mailings=bool(mailings),
                excluded_from_correspondence=bool(excluded),
            )


def _pushed_ids(source: PersonSource) -> list[str]:
    """What the sync runner does with any source: read every person, work out the members."""
    return sorted(p.person_id for p in desired_state(source.persons()).persons.values())


def test_a_database_source_implements_the_protocol(tmp_path: Path) -> None:
    """R8: a class with persons() reading AuditCase through the DB-API is a PersonSource."""
    connection = sqlite3.connect(tmp_path / "auditcase.sqlite3")
    with connection:
        connection.executescript(
            """
            CREATE TABLE company (id INTEGER PRIMARY KEY, name TEXT, email TEXT);
            CREATE TABLE person (
                id INTEGER PRIMARY KEY, kind TEXT, company_id INTEGER, initials TEXT,
                christian_name TEXT, surname TEXT, email TEXT, groups TEXT,
                linked INTEGER, mailings INTEGER, excluded INTEGER);
            INSERT INTO company VALUES (1, 'Bakkerij De Korenaar', 'info@example.com');
            INSERT INTO person VALUES
                (10, 'klant', NULL, 'J.', 'Jan', 'de Vries', 'jan@example.nl', 'Fiscaal', 1, 1, 0),
                (20, 'contactpersoon', 1, 'E.', NULL, 'Verbeek', NULL, NULL, 1, 0, 0),
                (21, 'contactpersoon', 1, 'M.', 'Mark', 'Willemsen', NULL, NULL, 0, 1, 0);
            """
        )
    try:
        assert _pushed_ids(SqlitePersonSource(connection)) == ["10", "20"]
        members = desired_state(SqlitePersonSource(connection).persons()).members
        assert members["info@example.com"].tags == {"Mailingen-ontvangen-nee"}
    finally:
        connection.close()


def test_the_export_file_is_a_person_source(tmp_path: Path) -> None:
    """R8: the bundled reader is used through the same protocol."""
    source: PersonSource = _write_csv(tmp_path / "export.csv", [_row()])
    assert _pushed_ids(source) == ["7"]
