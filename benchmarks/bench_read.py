"""Benchmark of the export reader: read 100k and 1M-row exports, against mapping and planning.

Writes a synthetic AuditCase export (the persons of ``bench_core.py``, one in eleven with an
accented name) as CSV (UTF-8, ``;``-delimited, CRLF, as Excel writes it) and as JSON Lines, then
reads each in a fresh subprocess with :meth:`ExportFile.read`, so its peak memory (max RSS) is
its own; wall and CPU time are each the best of a few reads (the machine may be shared). The
core's mapping and planning of as many persons (``bench_core.py --one``) is timed the same way
(wall time). Target (issue 12): reading a 1M-row export within 2x of mapping and planning it.

Run with ``nox -s bench`` or ``python benchmarks/bench_read.py [SIZE ...]``.
"""

from __future__ import annotations

import csv
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from auditcase_mailchimp import ExportFile, PersonKind

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import _person  # the same persons as the core benchmark

SIZES = (100_000, 1_000_000)
REPEATS = {100_000: 3, 1_000_000: 2}
HEADER = (
    "PersonId",
    "PersonKind",
    "PersonInitialsRE",
    "PersonChristianNameRE",
    "PersonNameRE",
    "ContactEMailRE",
    "CompanyEmailREBT",
    "CorrespondenceGroupRE",
    "KoppelenMetMailChimp",
    "MailingenOntvangen",
    "UitsluitenVoorCorrespondentie",
)


def _records(size: int) -> Iterator[list[Any]]:
    for i in range(size):
        p = _person(i, changed=False)
        yield [
            p.person_id,
            "contactpersoon" if p.kind is PersonKind.CONTACT_PERSON else "klant",
            p.initials,
            "Noël" if i % 11 == 0 else p.christian_name,
            p.surname,
            p.contact_email,
            p.company_email,
            p.correspondence_groups,
            p.linked,
            p.receives_mailings,
            p.excluded_from_correspondence,
        ]


def write_exports(size: int, folder: Path) -> tuple[Path, Path]:
    """Write ``size`` persons as a CSV and a JSON Lines export; return both paths."""
    csv_path, jsonl_path = folder / f"export-{size}.csv", folder / f"export-{size}.jsonl"
    words = {True: "Ja", False: "Nee"}
    with (
        csv_path.open("w", encoding="utf-8", newline="") as csv_out,
        jsonl_path.open("w", encoding="utf-8") as jsonl_out,
    ):
        writer = csv.writer(csv_out, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        for values in _records(size):
            *text, groups, linked, mailings, excluded = values
            writer.writerow([*text, ";".join(groups), *(words[f] for f in values[8:])])
            record = dict(
                zip(HEADER, [*text, list(groups), linked, mailings, excluded], strict=True)
            )
            jsonl_out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return csv_path, jsonl_path


def read_one(path: str, repeats: int) -> dict[str, float]:
    """Read one export a few times (best of, the machine is shared); time and peak memory."""
    best = cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = ExportFile(path).read()
        best = min(best, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
        persons, errors = len(result.persons), len(result.row_errors)
        del result
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "read_s": best,
        "cpu_s": cpu,
        "persons": persons,
        "row_errors": errors,
        "peak_mb": peak_mb,
    }


def _run(*args: str) -> dict[str, float]:
    out = subprocess.run(  # noqa: S603 - our own interpreter and scripts
        [sys.executable, *args], capture_output=True, text=True, check=True
    ).stdout
    row: dict[str, float] = json.loads(out.splitlines()[-1])
    return row


def main(argv: list[str]) -> int:
    """Write, read and compare each size; print a table; exit 1 if a target is missed."""
    if argv and argv[0] == "--one":
        print(json.dumps(read_one(argv[1], int(argv[2]))))
        return 0
    sizes = [int(a) for a in argv] or list(SIZES)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.system()}")
    print(
        f"{'rows':>9} {'format':>6} {'read s':>7} {'cpu s':>6} {'peak MB':>8} "
        f"{'map+plan s':>11} {'ratio':>6}"
    )
    ok = True
    core = Path(__file__).with_name("bench_core.py")
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            paths = write_exports(size, Path(folder))
            baseline = _run(str(core), "--one", str(size))["total_s"]
            for path in paths:
                row = _run(__file__, "--one", str(path), str(REPEATS.get(size, 2)))
                ratio = row["read_s"] / baseline
                if row["persons"] != size or row["row_errors"]:
                    print(f"{path.name}: {row['persons']} persons, {row['row_errors']} errors")
                    ok = False
                print(
                    f"{size:>9,} {path.suffix[1:]:>6} {row['read_s']:>7.2f} "
                    f"{row['cpu_s']:>6.2f} {row['peak_mb']:>8.0f} {baseline:>11.2f} {ratio:>6.2f}"
                )
                if size == 1_000_000:
                    ok &= ratio <= 2
                path.unlink()
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
