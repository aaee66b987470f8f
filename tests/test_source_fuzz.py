"""Fuzzing the export reader (R8.2, R8.4): whatever the bytes, only the library's own errors.

Files are built from random bytes, and from exports written with random encodings, BOMs,
delimiters, quoting, line endings and cells (control characters, stray bytes, long cells,
quotes, delimiters, huge numbers), then mutated. Whatever comes in, reading either raises
:class:`UnreadableSourceError` or returns persons and row errors such that:

- no person comes from a row that was reported (its id is never among the row errors' ids);
- persons have unique ids, and hold no control character, lone surrogate or stray byte;
- a row error never carries a control character into a message;
- when nothing was mutated, each person is exactly the person written on its row.

Set ``READER_FUZZ_EXAMPLES`` to run more cases than the default (the closing note of issue 9
reports a long run).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from auditcase_mailchimp import ExportFile, ExportResult, Person, PersonKind, UnreadableSourceError
from auditcase_mailchimp._export_wire import COLUMNS

EXAMPLES = int(os.environ.get("READER_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEADER = list(COLUMNS.values())
TEXT_FAULT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
ID_FAULT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")

#: Text as it meets a reader: plain, accented, controls, escapes, quotes, delimiters, breaks.
nasty_text = st.one_of(
    st.sampled_from(["", " ", "Jan", "Noël", "van \u2019t Hof", "Ã©", "a;b", 'x"y', "a,b"]),
    st.text(max_size=8),
    st.text(alphabet=st.sampled_from("a\x00\x1b[\x07\t\r\n\x85\x9b\u2028;,\"'é€"), max_size=8),
    st.sampled_from(["\x1b[2J", "\r\n", "\r", "\ud800"]),
)
#: Mostly what an export holds, often not (a sensible value three times in four).
names = st.one_of(
    st.sampled_from(["", "Jan", "Noël", "J.", "de Vries", "Brontë", "van \u2019t Hof"]),
    st.sampled_from(["Piet", "Anna-Lena", "IJsbrand", "Éva"]),
    st.sampled_from(["", "Nieuwsbrief;Fiscaal", "Ñ"]),
    nasty_text,
)
flag_words = st.one_of(
    st.sampled_from(["Ja", "Nee", "yes", "NO", "true", "0", "1"]),
    st.sampled_from(["Ja", "Nee", " ja ", "FALSE"]),
    st.sampled_from(["Nee", "Ja", "", "soms"]),
    nasty_text,
)
kind_words = st.one_of(
    st.sampled_from(["klant", "contactpersoon"]),
    st.sampled_from(["Klant", "Contactpersoon", " KLANT"]),
    st.sampled_from(["klant", "bedrijf"]),
    nasty_text,
)
ids = st.one_of(
    st.sampled_from([str(i) for i in range(1, 9)]),
    st.sampled_from([str(i) for i in range(10, 30)]),
    st.sampled_from(["A7", " 3 ", "", "x" * 70]),
    nasty_text,
)


@st.composite
def csv_rows(draw: st.DrawFn) -> dict[str, str]:
    """One row of cells by column: sensible, but for a few cells drawn from anything."""
    row = {
        "PersonId": draw(st.sampled_from([str(i) for i in range(1, 30)] + ["A7", " 3 "])),
        "PersonKind": draw(st.sampled_from(["klant", "contactpersoon", "Klant", " KLANT"])),
        "PersonInitialsRE": draw(st.sampled_from(["", "J.", "A.B.", "Ñ."])),
        "PersonChristianNameRE": draw(st.sampled_from(["", "Jan", "Noël", "Éva"])),
        "PersonNameRE": draw(st.sampled_from(["de Vries", "Brontë", "van \u2019t Hof", "a,b"])),
        "ContactEMailRE": draw(st.sampled_from(["", "jan@example.nl", "x;y@example.nl"])),
        "CompanyEmailREBT": draw(st.sampled_from(["", "info@example.com"])),
        "CorrespondenceGroupRE": draw(st.sampled_from(["", "Nieuwsbrief;Fiscaal", 'a"b'])),
        **{c: draw(st.sampled_from(["Ja", "Nee", "yes", "NO", "1", " ja "])) for c in HEADER[8:]},
    }
    for column in draw(st.lists(st.sampled_from(HEADER), max_size=2)):
        pool = {"PersonId": ids, "PersonKind": kind_words}.get(column, names)
        if column in HEADER[8:]:
            pool = flag_words
        row[column] = draw(st.one_of(pool, st.just("x" * 140_000)))
    return row


def _intended(cells: dict[str, str]) -> Person | None:
    """The person a row means, written independently of the reader; None if it is a bad row."""
    words = {"ja": True, "nee": False, "yes": True, "no": False, "true": True, "false": False}
    words |= {"1": True, "0": False}
    kinds = {"klant": PersonKind.CLIENT_PERSON, "contactpersoon": PersonKind.CONTACT_PERSON}
    person_id = cells["PersonId"].strip()
    flags = [words.get(cells[c].strip().lower()) for c in HEADER[8:]]
    kind = kinds.get(cells["PersonKind"].strip().lower())
    if (
        not person_id
        or ID_FAULT.search(person_id)
        or any(TEXT_FAULT.search(value) for value in cells.values())
        or any(len(value) > 1 << 20 for value in cells.values())
        or kind is None
        or None in flags
    ):
        return None
    groups = cells["CorrespondenceGroupRE"]
    return Person(
        person_id=person_id,
        kind=kind,
        initials=cells["PersonInitialsRE"],
        christian_name=cells["PersonChristianNameRE"],
        surname=cells["PersonNameRE"],
        contact_email=cells["ContactEMailRE"],
        company_email=cells["CompanyEmailREBT"],
        correspondence_groups=tuple(groups.split(";")) if groups else (),
        linked=flags[0] is True,
        receives_mailings=flags[1] is True,
        excluded_from_correspondence=flags[2] is True,
    )


def _expected_codec(raw: bytes) -> str:
    """R8.2: UTF-8 when it is, or when its UTF-8 beyond ASCII is as common as the other bytes."""
    if raw.startswith(codecs.BOM_UTF8):
        return "utf-8"
    text = raw.decode("utf-8", "surrogateescape")
    stray = len(re.findall("[\udc80-\udcff]", text))
    valid = len(re.findall("[^\x00-\x7f\udc80-\udcff]", text))
    return "utf-8" if not stray or (valid and valid >= stray) else "cp1252"


def _read(path: Path, file_format: Any = None) -> ExportResult | None:
    """Read; ``None`` for our own unreadable error. Anything else propagates and fails."""
    try:
        return ExportFile(path, file_format=file_format).read()
    except UnreadableSourceError as exc:
        message = str(exc)
    assert not CONTROL.search(message), "a control character in a message"
    event("unreadable")
    return None


def _check(result: ExportResult | None) -> None:
    """The invariants every reading keeps, whatever the file."""
    if result is None:
        return
    event("persons read" if result.persons else "no persons read")
    event("row errors" if result.row_errors else "no row errors")
    event("removals held" if result.removals_held else "removals not held")
    ids = [p.person_id for p in result.persons]
    assert len(ids) == len(set(ids)), "a person id twice"
    reported = {e.person_id for e in result.row_errors}
    assert not reported & set(ids), "a person from a reported row"
    for person in result.persons:
        assert not ID_FAULT.search(person.person_id)
        texts = [
            person.initials,
            person.christian_name,
            person.surname,
            person.contact_email,
            person.company_email,
            *person.correspondence_groups,
        ]
        assert not any(TEXT_FAULT.search(text) for text in texts)
    for error in result.row_errors:
        assert error.line >= 1
        assert not CONTROL.search(str(error)), "a control character in a message"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every fuzz case (each overwrites its file)."""
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(data=st.binary(max_size=600), file_format=st.sampled_from(["csv", "jsonl"]))
def test_random_bytes_raise_only_our_errors(folder: Path, data: bytes, file_format: str) -> None:
    """R8.4: any bytes at all give persons and row errors, or UnreadableSourceError; no other."""
    path = folder / "random"
    path.write_bytes(data)
    _check(_read(path, file_format))


@FUZZ
@given(
    data=st.binary(max_size=300),
    header=st.permutations(HEADER),
    delimiter=st.sampled_from([",", ";"]),
    file_format=st.sampled_from(["csv", "jsonl"]),
)
def test_random_bytes_after_a_good_header_raise_only_our_errors(
    folder: Path, data: bytes, header: list[str], delimiter: str, file_format: str
) -> None:
    """R8.4: random rows under a real header (or real first record) never escape as a crash."""
    path = folder / "random-rows"
    if file_format == "csv":
        good = dict(
            zip(HEADER, ["1", "klant", "", "", "", "", "", "", "Ja", "Ja", "Nee"], strict=True)
        )
        first = delimiter.join(header) + "\r\n" + delimiter.join(good[c] for c in header)
    else:
        first = json.dumps(
            {"PersonId": "1", "PersonKind": "klant", "CorrespondenceGroupRE": []}
            | dict.fromkeys(HEADER[2:7], "")
            | dict.fromkeys(HEADER[8:], True)
        )
    path.write_bytes(first.encode() + b"\r\n" + data)
    _check(_read(path, file_format))


def _write_csv(rows: list[dict[str, str]], header: list[str], style: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(
        out,
        delimiter=style["delimiter"],
        quoting=style["quoting"],
        lineterminator=style["newline"],
    )
    writer.writerow(header)
    writer.writerows([row[column] for column in header] for row in rows)
    return out.getvalue()


styles = st.fixed_dictionaries(
    {
        "delimiter": st.sampled_from([",", ";"]),
        "quoting": st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
        "newline": st.sampled_from(["\r\n", "\n", "\r"]),
        "encoding": st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    }
)


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """A few random edits of the bytes: stray bytes, cuts, swapped delimiters, BOMs."""
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        edit = draw(st.sampled_from(["insert", "delete", "swap", "bom"]))
        if edit == "insert":
            data = data[:at] + draw(st.binary(min_size=1, max_size=3)) + data[at:]
        elif edit == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 5)) :]
        elif edit == "swap":
            data = data[:at] + data[at:].replace(b",", b"\0").replace(b";", b",").replace(
                b"\0", b";"
            )
        else:
            data = draw(st.sampled_from([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, b""])) + data
    return data


@FUZZ
@given(
    rows=st.lists(csv_rows(), max_size=6),
    header=st.permutations(HEADER),
    style=styles,
    edit=st.booleans(),
    data=st.data(),
)
def test_written_exports_read_exactly_or_report(
    folder: Path,
    *,
    rows: list[dict[str, str]],
    header: list[str],
    style: dict[str, Any],
    edit: bool,
    data: st.DataObject,
) -> None:
    """R8.2, R8.4: each person read is the person written on its row; bad rows never yield one."""
    # What each cell becomes in the encoding: "?" for what cp1252 lacks; in UTF-8, a lone
    # surrogate becomes bytes that are not UTF-8 (read back as stray bytes).
    codec = style["encoding"]
    errors = "replace" if codec == "cp1252" else "surrogatepass"
    rows = [
        {c: v.encode(codec, errors).decode(codec, "surrogateescape") for c, v in row.items()}
        for row in rows
    ]
    raw = _write_csv(rows, header, style).encode(codec, "surrogateescape")
    if edit:
        raw = data.draw(mutations(raw))
    path = folder / "export.csv"
    path.write_bytes(raw)
    result = _read(path)
    _check(result)
    breaks = any("\r" in v or "\n" in v for row in rows for v in row.values())
    if edit or result is None or (breaks and style["newline"] != "\r\n"):
        return  # a line break the writer left unquoted splits a row anywhere: no exact check
    expected = _expected_codec(raw)
    if expected != codec.removesuffix("-sig"):  # what the bytes are, whatever was meant
        rows = [
            {
                c: v.encode(codec, "surrogateescape").decode(expected, "surrogateescape")
                for c, v in row.items()
            }
            for row in rows
        ]
    intended: dict[str, list[Person | None]] = {}
    for row in rows:
        intended.setdefault(row["PersonId"].strip(), []).append(_intended(row))
    for person in result.persons:
        assert intended[person.person_id] == [person], "a person not as written, or repeated"
    read = {p.person_id for p in result.persons}
    for person_id, people in intended.items():
        if len(people) == 1 and people[0] is not None:
            assert person_id in read, "a good row was lost"


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        nasty_text,
        st.sampled_from(["Ja", "klant", "contactpersoon"]),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@st.composite
def json_records(draw: st.DrawFn) -> dict[str, Any]:
    """A record with every key and the right types, but for a few values drawn from anything."""
    cells = draw(csv_rows())
    record: dict[str, Any] = {
        **cells,
        "CorrespondenceGroupRE": draw(st.lists(names, max_size=3)),
        **{c: draw(st.booleans()) for c in HEADER[8:]},
    }
    for key in draw(st.lists(st.sampled_from(HEADER), max_size=2)):
        record[key] = draw(json_values)
    return record


def _intended_json(record: dict[str, Any]) -> Person | None:
    """The person a JSON record means, or None when it must be a row error (R8.5)."""
    groups, flags = record["CorrespondenceGroupRE"], [record[c] for c in HEADER[8:]]
    texts = [record[c] for c in HEADER[:7]]
    if (
        any(not isinstance(t, str) for t in texts)
        or not isinstance(groups, list)
        or any(not isinstance(g, str) for g in groups)
        or any(not isinstance(f, bool) for f in flags)
    ):
        return None
    cells = {c: record[c] for c in HEADER[:7]} | {
        c: "Ja" if record[c] else "Nee" for c in HEADER[8:]
    }
    person = _intended({**cells, "CorrespondenceGroupRE": ""})
    if person is None or any(TEXT_FAULT.search(g) or len(g) > 1 << 20 for g in groups):
        return None
    return attrs.evolve(person, correspondence_groups=tuple(groups))


@FUZZ
@given(
    records=st.lists(json_records(), min_size=1, max_size=5),
    ensure_ascii=st.booleans(),
    huge=st.booleans(),
    edit=st.booleans(),
    data=st.data(),
)
def test_json_lines_read_exactly_or_report(
    folder: Path,
    *,
    records: list[dict[str, Any]],
    ensure_ascii: bool,
    huge: bool,
    edit: bool,
    data: st.DataObject,
) -> None:
    """R8.4, R8.5: JSON Lines with wrong types, huge numbers and edits: only our errors."""
    lines = [json.dumps(r, ensure_ascii=ensure_ascii) for r in records]
    if huge:
        lines.append(lines[0].replace('"PersonId": ', '"PersonId": ' + "9" * 5000 + ', "x": ', 1))
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if edit:
        raw = data.draw(mutations(raw))
    path = folder / "export.jsonl"
    path.write_bytes(raw)
    result = _read(path)
    _check(result)
    if edit or huge or result is None:
        return
    intended: dict[object, list[Person | None]] = {}
    for record in records:
        key = record["PersonId"].strip() if isinstance(record["PersonId"], str) else None
        intended.setdefault(key, []).append(_intended_json(record))
    for person in result.persons:
        assert intended[person.person_id] == [person], "a person not as written, or repeated"
