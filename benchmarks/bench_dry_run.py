"""Benchmark of ``auditcase-mailchimp sync --dry-run`` on a large export (issue 12.6).

Writes a synthetic AuditCase CSV export (the persons of ``bench_core.py``, as
``bench_read.py`` writes them: UTF-8, ``;``-delimited, CRLF), starts the bundled fake Mailchimp
on 127.0.0.1 (as the demo does) and runs the real command line,
``auditcase-mailchimp sync --dry-run``, against it with an empty coupling database, in a
process of its own whose output (the plan, one line per person) goes to ``/dev/null``. The
export is also read alone (:meth:`ExportFile.read`, in a fresh process) to show what share of
the run the reading is.

Wall time is measured around the process, best of ``--repeats`` (the machine may be shared);
peak memory is the process's own maximum resident set size (``os.wait4``), the largest of the
runs. Targets (issue 12.6, at 1,000,000 persons): under 20 s and under 1 GB; at other sizes the
time is scaled linearly plus half a second for the interpreter's start, and the memory target
stays 1 GB (or is scaled linearly above a million).

Run with ``nox -s bench`` (200,000 persons) or
``python benchmarks/bench_dry_run.py [SIZE] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from auditcase_mailchimp.testing import DEFAULT_API_KEY, DEFAULT_LIST_ID, FakeMailchimp

sys.path.insert(0, str(Path(__file__).parent))
from bench_read import HEADER, _records

DEFAULT_SIZE = 200_000
TARGET_S_PER_MILLION = 20.0
TARGET_MB = 1024.0
START_S = 0.5


def write_csv(size: int, path: Path) -> Path:
    """Write ``size`` persons as a CSV export at ``path``; return it."""
    words = {True: "Ja", False: "Nee"}
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        for values in _records(size):
            *text, groups = values[:8]
            writer.writerow([*text, ";".join(groups), *(words[f] for f in values[8:])])
    return path


def measure(
    command: list[str], env: dict[str, str] | None = None
) -> tuple[float, float, float, int]:
    """Run one command, its output discarded: wall and CPU seconds, peak MB (its own), status."""
    start = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and command line
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = code = os.waitstatus_to_exitcode(status)
    err = process.communicate()[1].decode(errors="replace")
    if code not in {0, 1}:
        sys.stderr.write(err)
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss * scale / 2**20, code


def main(argv: list[str]) -> int:
    """Write the export, time the read and the dry run; print the figures; 1 if a target missed."""
    parser = argparse.ArgumentParser(prog="bench_dry_run.py")
    parser.add_argument("size", nargs="?", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    size, repeats = args.size, max(1, args.repeats)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.system()}")
    reader = [sys.executable, str(Path(__file__).with_name("bench_read.py")), "--one"]
    cli = [sys.executable, "-m", "auditcase_mailchimp"]
    with tempfile.TemporaryDirectory() as folder, FakeMailchimp() as fake:
        export = write_csv(size, Path(folder) / f"export-{size}.csv")
        read = json.loads(
            subprocess.run(  # noqa: S603 - our own interpreter and script
                [*reader, str(export), "1"], capture_output=True, text=True, check=True
            ).stdout.splitlines()[-1]
        )
        env = {**os.environ, "MAILCHIMP_API_KEY": DEFAULT_API_KEY}
        runs = []
        for n in range(repeats):
            db = Path(folder) / f"coupling-{n}.sqlite3"  # never created: a dry run writes nothing
            command = [
                *cli,
                "sync",
                "--dry-run",
                "--source",
                str(export),
                "--list-id",
                DEFAULT_LIST_ID,
                "--api-url",
                fake.url,
                "--db",
                str(db),
            ]
            runs.append(measure(command, env))
    wall = min(r[0] for r in runs)
    cpu = min(r[1] for r in runs)
    peak = max(r[2] for r in runs)
    statuses = sorted({r[3] for r in runs})
    target_s = TARGET_S_PER_MILLION * size / 1_000_000 + (START_S if size != 1_000_000 else 0)
    target_mb = max(TARGET_MB, TARGET_MB * size / 1_000_000)
    print(
        f"{'persons':>9} {'read s':>7} {'cpu s':>6} {'read MB':>8} "
        f"{'dry-run s':>10} {'cpu s':>6} {'peak MB':>8} {'exit':>5}"
    )
    print(
        f"{size:>9,} {read['read_s']:>7.2f} {read['cpu_s']:>6.2f} {read['peak_mb']:>8.0f} "
        f"{wall:>10.2f} {cpu:>6.2f} {peak:>8.0f} {','.join(map(str, statuses)):>5}"
    )
    print(f"targets: dry run under {target_s:.1f} s and {target_mb:.0f} MB")
    ok = wall < target_s and peak < target_mb and statuses == [0]
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
