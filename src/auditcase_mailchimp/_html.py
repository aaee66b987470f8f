"""The HTML report: one self-contained page for the administrator (``report --html FILE``).

The page holds the last runs' counts as an inline SVG chart, the open entries of the failure
overview grouped as the summary groups them, and the two lists of persons to look at in
AuditCase (R5.3, R3). It needs no network and no script: CSS and SVG are inline, nothing is
linked or loaded, and it reads on a phone (one column, wrapping tables).
"""

from __future__ import annotations

import gettext
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Final

from ._store import Failure, Report, RunRecord
from ._summary import (
    PersonLine,
    ProblemGroup,
    by_address,
    conflict_lines,
    failure_groups,
    unsubscribed_lines,
)
from ._summary_text import fault_text, group_title, status_text, who

__all__ = ["render_html"]

#: The series of the chart: (count key(s), colour).
_SERIES: Final = (
    (("created",), "#2e7d32"),
    (("updated",), "#1565c0"),
    (("archived",), "#6d4c41"),
    (("problems", "row_errors"), "#ef6c00"),
    (("failures",), "#c62828"),
)

_CSS: Final = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f6f7f9;color:#1d2330;line-height:1.45}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.5rem 0}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem;border-bottom:2px solid #d8dce3;padding-bottom:.2rem}
h3{font-size:.95rem;margin:1rem 0 .3rem}
p.meta{color:#5b6475;font-size:.85rem;margin:0}
section{background:#fff;border-radius:.5rem;padding:.5rem 1rem 1rem;margin:1rem 0;
box-shadow:0 1px 2px rgba(0,0,0,.08)}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #eceef2;vertical-align:top;
overflow-wrap:anywhere}
th{color:#5b6475;font-weight:600}
.none{color:#5b6475;font-style:italic}
.legend span{display:inline-block;margin-right:.8rem;font-size:.8rem}
.legend i{display:inline-block;width:.7rem;height:.7rem;margin-right:.25rem;border-radius:2px}
svg{width:100%;height:auto}
.count{font-weight:700}
@media (max-width:40rem){main{padding:.5rem}th.opt,td.opt{display:none}}
"""


def _count(run: RunRecord, keys: Sequence[str]) -> int:
    return sum(int(run.counts.get(key, 0)) for key in keys)


def _chart(runs: Sequence[RunRecord], tr: gettext.NullTranslations) -> str:
    """Stacked bars, one per run, oldest on the left."""
    shown = [run for run in reversed(runs) if not run.dry_run][-12:]
    if not shown:
        return f'<p class="none">{escape(tr.gettext("No runs recorded yet."))}</p>'
    width, height, left, bottom, top = 360, 180, 34, 30, 16
    totals = [sum(_count(run, keys) for keys, _ in _SERIES) for run in shown]
    peak = max([*totals, 1])
    step = (width - left - 6) / len(shown)
    bar = max(min(step * 0.6, 48), 4)
    scale = (height - bottom - top) / peak
    parts = [
        (
            f'<svg viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape(tr.gettext("Counts of the last runs"))}">'
        ),
        (
            f'<line x1="{left}" y1="{height - bottom}" x2="{width - 5}" y2="{height - bottom}" '
            'stroke="#9aa3b2"/>'
        ),
        (
            f'<text x="{left - 6}" y="{top + 10}" font-size="12" text-anchor="end" '
            f'fill="#5b6475">{peak}</text>'
        ),
        (
            f'<text x="{left - 6}" y="{height - bottom}" font-size="12" text-anchor="end" '
            'fill="#5b6475">0</text>'
        ),
    ]
    for index, run in enumerate(shown):
        x = left + index * step + (step - bar) / 2
        y = float(height - bottom)
        for keys, colour in _SERIES:
            value = _count(run, keys)
            if not value:
                continue
            h = value * scale
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(keys[0])}: {value}</title></rect>'
            )
        every = -(-len(shown) // 5)  # at most five date labels, so they never overlap
        label = run.started_at.strftime("%d-%m %H:%M") if index % every == 0 else ""
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 14}" font-size="11" '
            f'text-anchor="middle" fill="#5b6475">{escape(label)}</text>'
        )
        parts.append(
            f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" font-size="11" '
            f'text-anchor="middle" fill="#1d2330">{totals[index]}</text>'
        )
    parts.append("</svg>")
    names = {
        "created": tr.gettext("created"),
        "updated": tr.gettext("updated"),
        "archived": tr.gettext("archived"),
        "problems": tr.gettext("problems"),
        "failures": tr.gettext("failures"),
    }
    legend = "".join(
        f'<span><i style="background:{colour}"></i>{escape(names[keys[0]])}</span>'
        for keys, colour in _SERIES
    )
    return "".join(parts) + f'<p class="legend">{legend}</p>'


def _person_rows(group: ProblemGroup, tr: gettext.NullTranslations) -> str:
    rows = []
    for line in group.persons:
        what = ""
        if line.reason:
            what = fault_text(line.reason, tr)
        elif line.detail:
            what = line.detail
        entry = f"#{line.entry_id}" if line.entry_id is not None else ""
        rows.append(
            f'<tr><td class="opt">{escape(entry)}</td><td>{escape(who(line, tr))}</td>'
            f"<td>{escape(line.email_address)}</td><td>{escape(what)}</td></tr>"
        )
    return "".join(rows)


def _table(head: Sequence[str], body: str, *, optional_first: bool = False) -> str:
    cells = "".join(
        f"<th{' class=opt' if optional_first and i == 0 else ''}>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _failures(entries: Sequence[Failure], tr: gettext.NullTranslations) -> str:
    """The open entries by group; shared addresses are left to the R3 list (each person once)."""
    open_entries = [entry for entry in entries if entry.is_open]
    if not open_entries:
        nothing = tr.gettext("No open entries in the failure overview.")
        return f'<p class="none">{escape(nothing)}</p>'
    head = [tr.gettext("entry"), tr.gettext("person"), tr.gettext("e-mail address"),
            tr.gettext("what is wrong")]  # fmt: skip
    parts = []
    for group in failure_groups(open_entries):
        title = escape(group_title(group.category, group.count, tr))
        if group.category == "duplicate_address":
            note = tr.gettext("listed below, by address")
            parts.append(f"<h3>{title}</h3><p class=none>{escape(note)}</p>")
            continue
        parts.append(f"<h3>{title}</h3>")
        parts.append(_table(head, _person_rows(group, tr), optional_first=True))
    return "".join(parts)


def _unsubscribed(lines: Sequence[PersonLine], tr: gettext.NullTranslations) -> str:
    if not lines:
        return f'<p class="none">{escape(tr.gettext("none"))}</p>'
    body = "".join(
        f"<tr><td>{escape(who(line, tr))}</td><td>{escape(line.email_address)}</td>"
        f"<td>{escape(status_text(line.reason, tr))}</td></tr>"
        for line in lines
    )
    head = [tr.gettext("person"), tr.gettext("e-mail address"), tr.gettext("status")]
    return _table(head, body)


def _conflicts(report: Report, tr: gettext.NullTranslations) -> str:
    if not report.conflicts:
        return f'<p class="none">{escape(tr.gettext("none"))}</p>'
    rows = []
    for address, persons in by_address(conflict_lines(report.conflicts)):
        pushed = [who(p, tr) for p in persons if p.pushed]
        others = [who(p, tr) for p in persons if not p.pushed]
        rows.append(
            f"<tr><td>{escape(address)}</td><td>{escape(', '.join(pushed))}</td>"
            f"<td>{escape(', '.join(others))}</td></tr>"
        )
    head = [tr.gettext("e-mail address"), tr.gettext("pushed"), tr.gettext("unlink these")]
    return _table(head, "".join(rows))


def render_html(
    *,
    entries: Sequence[Failure],
    report: Report,
    runs: Sequence[RunRecord],
    generated_at: datetime,
    tr: gettext.NullTranslations,
    language: str,
) -> str:
    """Render the report page.

    Args:
        entries: The entries of the failure overview (open ones are shown).
        report: The saved R5.3/R3 report.
        runs: The last runs, newest first (as :meth:`~auditcase_mailchimp.SQLiteStore.runs`).
        generated_at: When the page is made.
        tr: The catalog.
        language: ``nl`` or ``en``, for the page's ``lang``.

    Returns:
        The whole page, one self-contained HTML document.
    """
    title = tr.gettext("AuditCase and Mailchimp: report")
    open_count = sum(1 for entry in entries if entry.is_open)
    saved = (
        report.saved_at.strftime("%Y-%m-%d %H:%M UTC")
        if report.saved_at is not None
        else tr.gettext("no sync yet")
    )
    sections = [
        (tr.gettext("The last runs"), _chart(runs, tr)),
        (
            tr.gettext("Failure overview: {n} open").format(n=open_count),
            _failures(entries, tr),
        ),
        (
            tr.gettext("Unsubscribed or bounced in Mailchimp, still linked in AuditCase (R5.3)"),
            _unsubscribed(unsubscribed_lines(report.unsubscribed), tr),
        ),
        (
            tr.gettext("Several linked persons with one e-mail address (R3)"),
            _conflicts(report, tr),
        ),
    ]
    body = "".join(f"<section><h2>{escape(h)}</h2>{content}</section>" for h, content in sections)
    meta = tr.gettext("Made {made}; the lists are as the last sync saw them ({saved}).").format(
        made=generated_at.strftime("%Y-%m-%d %H:%M UTC"), saved=saved
    )
    return (
        f'<!DOCTYPE html>\n<html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f'<body><main><h1>{escape(title)}</h1><p class="meta">{escape(meta)}</p>'
        f"{body}</main></body></html>\n"
    )
