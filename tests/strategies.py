"""Hypothesis strategies for persons, members and the coupling's state (STYLE.md: one place).

The pools are small on purpose: few addresses and ids make collisions (R3), takeovers and
address changes (R5.4) common enough for the properties to meet them.
"""

from __future__ import annotations

from hypothesis import strategies as st

from auditcase_mailchimp import (
    MEMBER_STATUSES,
    TAG_EXCLUDED_FROM_CORRESPONDENCE,
    TAG_NO_MAILINGS,
    Coupling,
    CurrentMember,
    Person,
    PersonKind,
)

PERSON_IDS = [str(i) for i in range(1, 9)] + ["A7", "b12"]
VALID_ADDRESSES = [
    "jan@example.nl",
    "Jan@Example.NL",
    "piet.de.vries@example.nl",
    "info@example.com",
    "INFO@example.com",
    "anna+nieuws@example.com",
    "k.bakker@example.nl",
]
INVALID_ADDRESSES = ["no-at-sign", "a b@example.nl", "x@y", "ë@example.nl", "@example.nl", "a@"]
GROUPS = [
    "Nieuwsbrief",
    "nieuwsbrief",
    "Fiscaal",
    "BTW-aangifte",
    " ",
    "",
    "  Seminar ",
    "mailingen-ONTVANGEN-nee",
]
#: Tags a person in Mailchimp might add by hand; the coupling never sets them.
HAND_TAGS = ["Handmatig", "VIP", "Nieuwsbrief"]

names = st.one_of(
    st.sampled_from(["", " ", "Jan", " Piet ", "J.", "van der Berg", "Éva", "IJsbrand"]),
    st.text(max_size=12),
    st.sampled_from(["é" * 130, "a" * 256, "€" * 86 + " "]),  # beyond 255 UTF-8 bytes
)
addresses = st.one_of(
    st.sampled_from(["", "   "]),
    st.sampled_from(VALID_ADDRESSES).map(lambda a: f" {a}  " if a.startswith("k") else a),
    st.sampled_from(INVALID_ADDRESSES),
)
kinds = st.sampled_from(PersonKind)
statuses = st.sampled_from(sorted(MEMBER_STATUSES))


@st.composite
def persons(draw: st.DrawFn, person_id: st.SearchStrategy[str] | None = None) -> Person:
    """Any person, linked or not, with any names, addresses, groups and flags."""
    return Person(
        person_id=draw(person_id if person_id is not None else st.sampled_from(PERSON_IDS)),
        kind=draw(kinds),
        initials=draw(names),
        christian_name=draw(names),
        surname=draw(names),
        contact_email=draw(addresses),
        company_email=draw(addresses),
        correspondence_groups=tuple(draw(st.lists(st.sampled_from(GROUPS), max_size=4))),
        receives_mailings=draw(st.booleans()),
        excluded_from_correspondence=draw(st.booleans()),
        linked=draw(st.booleans()),
    )


def person_lists(max_size: int = 8) -> st.SearchStrategy[list[Person]]:
    """Persons with distinct ids, as a source yields them (R8.3)."""
    return st.lists(persons(), max_size=max_size, unique_by=lambda p: p.person_id)


all_tags = st.frozensets(
    st.sampled_from(
        [
            *HAND_TAGS,
            "Fiscaal",
            "BTW-aangifte",
            "Seminar",
            TAG_NO_MAILINGS,
            TAG_EXCLUDED_FROM_CORRESPONDENCE,
        ]
    ),
    max_size=4,
)


@st.composite
def couplings(draw: st.DrawFn) -> Coupling:
    """A coupling record: some person, some tags it set, perhaps a status at archiving."""
    return Coupling(
        person_id=draw(st.sampled_from(PERSON_IDS)),
        kind=draw(kinds),
        tags=draw(all_tags),
        status_at_archive=draw(st.none() | statuses.filter(lambda s: s != "archived")),
    )


@st.composite
def current_members(draw: st.DrawFn, address: str) -> CurrentMember:
    """What the audience may hold at one address: managed or not, in any status."""
    coupling = draw(st.none() | couplings())
    status = draw(statuses)
    if coupling is not None and status != "archived":
        coupling = Coupling(person_id=coupling.person_id, kind=coupling.kind, tags=coupling.tags)
    return CurrentMember(
        email_address=address,
        first_name=draw(names),
        last_name=draw(names),
        tags=draw(all_tags),
        status=status,
        coupling=coupling,
    )


@st.composite
def current_states(draw: st.DrawFn) -> list[CurrentMember]:
    """An audience: at most one member per address (ignoring case), each maybe managed."""
    pool = [
        "jan@example.nl",
        "piet.de.vries@example.nl",
        "info@example.com",
        "anna+nieuws@example.com",
        "k.bakker@example.nl",
        "oud@example.nl",
        "ander@example.com",
    ]
    chosen = draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
    return [draw(current_members(address)) for address in chosen]
