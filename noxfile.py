"""Project automation: lint, typing, tests, docs by default; bench, demo, browser on request."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typing", "tests", "docs"]
nox.options.error_on_missing_interpreters = False

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _group(name: str) -> list[str]:
    return list(nox.project.dependency_groups(PYPROJECT, name))


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting."""
    session.install(*_group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """Mypy, strict, over the package, the tests and the typed API example."""
    session.install("-e", ".", *_group("typing"))
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite under coverage; the pure core must stay at 100 % lines and branches."""
    session.install("-e", ".", *_group("tests"))
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")
    session.run(
        "coverage",
        "report",
        "--fail-under=100",
        "--include=*/_validate.py,*/_models.py,*/_mapping.py,*/_desired.py,*/_plan.py,*/_steps.py,"
        "*/_run_rules.py,*/_bulk_rules.py,*/_settle.py",
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the Sphinx docs with warnings as errors."""
    session.install("-e", ".", *_group("docs"))
    session.run(
        "sphinx-build", "-W", "--keep-going", "-n", "-b", "html", "docs", "docs/_build/html"
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: the core, reading exports, a dry run, request CPU, then full syncs (the fake).

    Each prints its figures and ``TARGET MISSED`` where one is; all always run (exit 1 means
    a missed target, not a broken benchmark).
    """
    session.install("-e", ".", *_group("bench"))
    session.run("python", "benchmarks/bench_core.py", success_codes=[0, 1])
    session.run("python", "benchmarks/bench_read.py", success_codes=[0, 1])
    session.run("python", "benchmarks/bench_dry_run.py", success_codes=[0, 1])
    session.run("python", "benchmarks/bench_request_cpu.py", success_codes=[0, 1])
    session.run("python", "benchmarks/bench_sync.py", *session.posargs, success_codes=[0, 1])


@nox.session
def demo(session: nox.Session) -> None:
    """The README's main job: sync the bundled example export into the bundled fake Mailchimp."""
    session.install("-e", ".")
    session.run("python", "-m", "auditcase_mailchimp.demo", *session.posargs)


@nox.session
def browser(session: nox.Session) -> None:
    """Render the HTML report of the demo in headless Chromium to docs/_static/report.png.

    Needs Debian's ``chromium`` package (``apt-get install chromium``). The page is rendered at
    a phone's width, from a file, with the network of the page's own making: none.
    """
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        session.error("headless Chromium is needed: apt-get update && apt-get install chromium")
    session.install("-e", ".")
    scratch = Path(session.create_tmp()).resolve()
    page = scratch / "report.html"
    session.run("python", "-m", "auditcase_mailchimp.demo", "--html", str(page), "--lang", "en")
    target = Path("docs/_static/report.png").resolve()
    target.parent.mkdir(exist_ok=True)
    session.run(
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=412,2200",
        f"--screenshot={target}",
        page.as_uri(),
        external=True,
    )
    pngquant = shutil.which("pngquant")  # Debian's pngquant, if present, makes it ~4x smaller
    if pngquant is not None:
        session.run(
            pngquant, "--force", "--quality", "60-85", "--output", str(target), str(target),
            external=True,
        )  # fmt: skip
    session.log(f"wrote {target} ({target.stat().st_size} bytes)")
