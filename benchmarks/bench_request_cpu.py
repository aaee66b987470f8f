"""Client CPU per request and start-up time (issue 12.5).

Per request: the CPU time (``time.thread_time``) the calling thread spends in
``MailchimpClient`` and its transport for one request to the fake Mailchimp on 127.0.0.1,
sequentially, after a warm-up. The fake runs in a process of its own
(``python -m auditcase_mailchimp.testing``), so neither its work nor its threads count.
Three kinds: ``GET /ping`` (a JSON answer), ``POST …/tags`` (a JSON body, 204) and
``DELETE …/members/{hash}`` (204). Best of 5 rounds of ``N`` requests each.

Start-up: ``import auditcase_mailchimp`` in a fresh interpreter: the CPU time (user + system)
of that process minus an empty interpreter's (best of 5; the target, as it does not depend on
what else the machine runs), and, for reference, the package's cumulative time from
``python -X importtime`` and the wall time of the import process minus an empty one's.

Targets: at most a third of the CPU per request measured before issue 12 (given with
``--before`` as µs per request of the ``tags`` kind, or read from the results file's
``before``), and the import under 0.15 s. Writes ``benchmarks/results/request_cpu.json``.

Run with ``python benchmarks/bench_request_cpu.py [N] [--before US] [--transport FILE]``.
``--transport FILE`` sends with the ``RequestsTransport`` of another version of
``_transport.py`` (for example ``git show f6ea203:src/auditcase_mailchimp/_transport.py``),
loaded into this package, so transports are compared under the same client; the results file
is then left alone. Run it against another checkout's code with ``PYTHONPATH=<checkout>/src``.
"""

from __future__ import annotations

import importlib.util
import json
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import auditcase_mailchimp
from auditcase_mailchimp import ApiKey, MailchimpClient, RetryPolicy, UpsertItem

RESULTS = Path(__file__).parent / "results" / "request_cpu.json"
IMPORT_TARGET = 0.15
ROUNDS = 5


def _cpu_per_request(run: Callable[[int], None], count: int) -> float:
    """Best of ROUNDS: microseconds of this thread's CPU per request."""
    run(min(count, 50))  # warm-up: connections opened, caches filled
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.thread_time()
        run(count)
        best = min(best, (time.thread_time() - started) / count)
    return best * 1e6


API_KEY = "0123456789abcdef0123456789abcdef-us6"
LIST_ID = "a1b2c3d4e5"


@contextmanager
def _fake() -> Iterator[str]:
    """A fake Mailchimp in a process of its own; yields its URL."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and package
        [
            sys.executable,
            "-m",
            "auditcase_mailchimp.testing",
            "--api-key",
            API_KEY,
            "--list-id",
            LIST_ID,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None  # noqa: S101 - set by PIPE
        yield process.stdout.readline().split(" at ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait()


def _transport_from(path: Path) -> object:
    """A RequestsTransport built from another version of ``_transport.py``."""
    spec = importlib.util.spec_from_file_location("auditcase_mailchimp._bench_transport", path)
    assert spec is not None  # noqa: S101 - a file was given
    assert spec.loader is not None  # noqa: S101 - as above
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.RequestsTransport(pool_size=10)


def measure_requests(count: int, transport_file: Path | None = None) -> dict[str, float]:
    """µs of client CPU per request, per kind."""
    with _fake() as url:
        transport = None if transport_file is None else _transport_from(transport_file)
        client = MailchimpClient(
            ApiKey(API_KEY),
            base_url=url,
            retry=RetryPolicy(attempts=1),
            transport=transport,  # type: ignore[arg-type]  # duck-typed, from another file
        )
        list_id = LIST_ID
        total = count * (ROUNDS + 1) + 100
        addresses = [f"p{i}@example.nl" for i in range(total)]
        archived = iter(range(total))
        with client:
            client.batch_upsert(list_id, [UpsertItem(email_address=a) for a in addresses])

            def ping(n: int) -> None:
                for _ in range(n):
                    client.ping()

            def tags(n: int) -> None:
                for i in range(n):
                    client.set_tags(list_id, f"p{i}@example.nl", add={"A"}, remove={"B"})

            def archive(n: int) -> None:
                for _ in range(n):
                    client.archive(list_id, f"p{next(archived)}@example.nl")

            return {
                "ping": _cpu_per_request(ping, count),
                "tags": _cpu_per_request(tags, count),
                "archive": _cpu_per_request(archive, count),
            }


def _child_cpu(code: str) -> float:
    """CPU seconds (user + system) of a fresh interpreter running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure_import() -> dict[str, float]:
    """Seconds: the import's CPU, its cumulative import time and its extra wall time."""
    cumulative = float("inf")
    wall = float("inf")
    cpu = float("inf")
    for _ in range(ROUNDS):
        cpu = min(cpu, _child_cpu("import auditcase_mailchimp") - _child_cpu("pass"))
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import auditcase_mailchimp"],
            capture_output=True,
            text=True,
            check=True,
        )
        match = re.search(r"\|\s*(\d+)\s*\|\s*auditcase_mailchimp\s*$", done.stderr, re.MULTILINE)
        if match:
            cumulative = min(cumulative, int(match.group(1)) / 1e6)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import auditcase_mailchimp"], check=True)
        middle = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        ended = time.perf_counter()
        wall = min(wall, (middle - started) - (ended - middle))
    return {
        "import_cpu_s": max(cpu, 0.0),
        "importtime_cumulative_s": cumulative,
        "import_wall_s": max(wall, 0.0),
    }


def _options(argv: list[str]) -> tuple[int, float | None, Path | None]:
    """``N``, ``--before US`` and ``--transport FILE`` from the command line."""
    args = list(argv)
    before: float | None = None
    transport_file: Path | None = None
    if "--before" in args:
        index = args.index("--before")
        before = float(args[index + 1])
        del args[index : index + 2]
    if "--transport" in args:
        index = args.index("--transport")
        transport_file = Path(args[index + 1])
        del args[index : index + 2]
    return (int(args[0]) if args else 500), before, transport_file


def main(argv: list[str]) -> int:
    """Measure, print, write the results; exit 1 when a target is missed."""
    count, before, transport_file = _options(argv)
    if before is None and RESULTS.exists():
        before = json.loads(RESULTS.read_text()).get("before_tags_us")
    per_request = measure_requests(count, transport_file)
    if transport_file is not None:
        print(f"transport {transport_file}")
        for kind, micros in per_request.items():
            print(f"client CPU per request, {kind:8}: {micros:8.1f} µs")
        return 0
    startup = measure_import()
    print(f"auditcase_mailchimp {auditcase_mailchimp.__file__}")
    for kind, micros in per_request.items():
        print(f"client CPU per request, {kind:8}: {micros:8.1f} µs")
    print(f"import auditcase_mailchimp (process CPU)  : {startup['import_cpu_s']:.3f} s")
    print(f"import auditcase_mailchimp (-X importtime): {startup['importtime_cumulative_s']:.3f} s")
    print(f"import auditcase_mailchimp (process wall) : {startup['import_wall_s']:.3f} s")
    missed = []
    if before is not None and per_request["tags"] > before / 3:
        missed.append(f"tags {per_request['tags']:.0f} µs > a third of {before:.0f} µs")
    if startup["import_cpu_s"] > IMPORT_TARGET:
        missed.append(f"import {startup['import_cpu_s']:.3f} s > {IMPORT_TARGET} s")
    for line in missed:
        print(f"TARGET MISSED: {line}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"count": count, "before_tags_us": before, "per_request_us": per_request, **startup},
            indent=2,
        )
        + "\n"
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
