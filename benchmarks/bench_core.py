"""Benchmark of the pure core: map and plan 10k, 100k and 1M synthetic persons.

About 1 % of the persons differ from the current state (renamed, regrouped, unlinked, a new
address, new). Each size runs in a fresh subprocess so its peak memory (max RSS, inputs
included) is its own. Targets (issue 2): 1M persons in under 10 s, peak under 1.5 GB, time
growing at most 12x for 10x the persons.

Run with ``nox -s bench`` or ``python benchmarks/bench_core.py [SIZE ...]``.
"""

from __future__ import annotations

import itertools
import json
import platform
import resource
import subprocess
import sys
import time

from auditcase_mailchimp import (
    Coupling,
    CurrentMember,
    Person,
    PersonKind,
    desired_state,
    plan_sync,
    to_member,
)

SIZES = (10_000, 100_000, 1_000_000)
REPEATS = {10_000: 7, 100_000: 5, 1_000_000: 3}
GROUPS = (
    ("Nieuwsbrief",),
    ("Nieuwsbrief", "Fiscaal"),
    (),
    ("BTW-aangifte", "Seminar"),
    ("Fiscaal",),
)


def _person(i: int, *, changed: bool) -> Person:
    kind = PersonKind.CONTACT_PERSON if i % 3 == 0 else PersonKind.CLIENT_PERSON
    surname = f"Jansen-{i}"
    groups = GROUPS[i % len(GROUPS)]
    email = f"persoon{i}@example.nl"
    linked = True
    if changed:
        match i % 5:
            case 0:
                surname = f"de Vries-{i}"
            case 1:
                groups = (*groups, "Nieuw")
            case 2:
                linked = False
            case 3:
                email = f"nieuw{i}@example.com"
            case _:
                pass
    return Person(
        person_id=str(i),
        kind=kind,
        initials="J.",
        christian_name="" if i % 4 == 0 else "Jan",
        surname=surname,
        contact_email=email if i % 7 else "",
        company_email=email if i % 7 == 0 else "",
        correspondence_groups=groups,
        receives_mailings=i % 11 != 0,
        excluded_from_correspondence=i % 13 == 0,
        linked=linked,
    )


def _current(person: Person) -> CurrentMember:
    """The member as the coupling database holds it after an earlier sync of ``person``."""
    member = to_member(person)
    return CurrentMember(
        email_address=member.email_address,
        first_name=member.first_name,
        last_name=member.last_name,
        tags=member.tags,
        coupling=Coupling(person_id=person.person_id, kind=person.kind, tags=member.tags),
    )


def run_one(size: int) -> dict[str, float]:
    """Build the inputs for one size, then time mapping and planning."""
    every = 100  # 1 % changed
    baseline = [_person(i, changed=False) for i in range(size)]
    current = [_current(p) for p in baseline[: size - size // (every * 5)]]  # the last ones are new
    persons = [_person(i, changed=i % every == 0) for i in range(size)]
    del baseline
    best: dict[str, float] = {}
    for _ in range(REPEATS.get(size, 3)):  # best of a few: the machine is shared
        start = time.perf_counter()
        desired = desired_state(persons)
        mapped = time.perf_counter()
        plan = plan_sync(current, desired)
        done = time.perf_counter()
        if not best or done - start < best["total_s"]:
            best = {"map_s": mapped - start, "plan_s": done - mapped, "total_s": done - start}
        actions = len(plan.actions)
        del desired, plan
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"persons": size, **best, "actions": actions, "peak_mb": peak_mb}


def main(argv: list[str]) -> int:
    """Run each size in its own process and print a table; exit 1 if a target is missed."""
    if argv and argv[0] == "--one":
        print(json.dumps(run_one(int(argv[1]))))
        return 0
    sizes = [int(a) for a in argv] or list(SIZES)
    print(f"machine: {platform.machine()}, Python {platform.python_version()}, {platform.system()}")
    print(f"{'persons':>9} {'map s':>7} {'plan s':>7} {'total s':>8} {'actions':>8} {'peak MB':>8}")
    results = []
    for size in sizes:
        out = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--one", str(size)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        row = json.loads(out)
        results.append(row)
        print(
            f"{row['persons']:>9,} {row['map_s']:>7.2f} {row['plan_s']:>7.2f} "
            f"{row['total_s']:>8.2f} {row['actions']:>8,} {row['peak_mb']:>8.0f}"
        )
    ok = True
    for small, large in itertools.pairwise(results):
        factor = large["total_s"] / small["total_s"]
        growth = large["persons"] / small["persons"]
        print(f"{small['persons']:,} -> {large['persons']:,}: time x{factor:.1f} for x{growth:.0f}")
        ok &= factor <= growth * 1.2
    for row in results:
        if row["persons"] == 1_000_000:
            ok &= row["total_s"] < 10 and row["peak_mb"] < 1536
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
