"""The endpoints the fake serves beyond the library's own calls, over raw HTTP (issue 11).

MAILCHIMP.md sections and recorded exchanges (P/H lines of ``mailchimp-recordings``) named in
each docstring.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditcase_mailchimp.testing import FakeMailchimp
from auditcase_mailchimp.testing._audience import subscriber_hash

LIST = "a1b2c3d4e5"
PROBLEM = "application/problem+json; charset=utf-8"
MEMBERS = f"/lists/{LIST}/members"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A plain requests session."""
    with requests.Session() as session:
        yield session


def call(
    http: requests.Session,
    fake: FakeMailchimp,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """One request to the fake, with its key."""
    return http.request(
        method,
        fake.url + path,
        json=json,
        params=params,
        headers=headers,
        auth=("user", fake.api_key),
        timeout=10,
    )


def _problem(response: requests.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == PROBLEM
    document: dict[str, Any] = response.json()
    assert document["title"] == title
    assert document["instance"] == response.headers["X-Request-Id"]
    return document


# --- members: PUT, POST, PATCH ---------------------------------------------------------------


def test_put_upserts_and_archived_comes_back_only_with_status(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """PUT creates with status_if_new; an archived member needs status to come back (§2.2, §4)."""
    path = f"{MEMBERS}/{subscriber_hash('jan@example.nl')}"
    body = {"email_address": "jan@example.nl", "status_if_new": "subscribed"}
    created = call(http, fake_mailchimp, "PUT", path, json=body)
    assert (created.status_code, created.json()["status"]) == (200, "subscribed")
    fake_mailchimp.audience().archive("jan@example.nl")
    kept = call(http, fake_mailchimp, "PUT", path, json=body)
    assert kept.json()["status"] == "archived"
    back = call(http, fake_mailchimp, "PUT", path, json={**body, "status": "subscribed"})
    assert (back.json()["status"], back.json()["web_id"]) == (
        "subscribed",
        created.json()["web_id"],
    )
    missing = call(http, fake_mailchimp, "PUT", f"{MEMBERS}/{'1' * 32}", json={"vip": True})
    assert _problem(missing, 400, "Invalid Resource")["errors"]


def test_put_follows_the_body_address_as_recorded(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """PUT follows the body address: a change, Member Exists, already in this list (P100-P152)."""
    audience = fake_mailchimp.audience()
    audience.add("oud@example.nl", tags=["Klant"])
    audience.add("ander@example.nl", status="archived")
    audience.add("bezet@example.nl")
    old = f"{MEMBERS}/{subscriber_hash('oud@example.nl')}"
    web_id = call(http, fake_mailchimp, "GET", old).json()["web_id"]
    moved = call(
        http, fake_mailchimp, "PUT", old, json={"email_address": "nieuw@example.nl"}
    ).json()
    assert (moved["id"], moved["web_id"], moved["tags"][0]["name"]) == (
        subscriber_hash("nieuw@example.nl"),
        web_id,
        "Klant",
    )
    assert call(http, fake_mailchimp, "GET", old).status_code == 404
    new = f"{MEMBERS}/{subscriber_hash('nieuw@example.nl')}"
    taken = call(http, fake_mailchimp, "PUT", new, json={"email_address": "ander@example.nl"})
    assert _problem(taken, 400, "Invalid Resource")["errors"] == [
        {
            "field": "email address",
            "message": '"ander@example.nl" is already in this list with a status of "subscribed".',
        }
    ]
    nowhere = f"{MEMBERS}/{'2' * 32}"
    exists = call(http, fake_mailchimp, "PUT", nowhere, json={"email_address": "bezet@example.nl"})
    assert "type" not in _problem(exists, 400, "Member Exists")
    revived = call(
        http,
        fake_mailchimp,
        "PUT",
        nowhere,
        json={"email_address": "ander@example.nl", "status": "subscribed"},
    )
    assert revived.json()["status"] == "subscribed"


def test_post_creates_brings_archived_back_and_refuses_members(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """POST: 200 new; an archived address back with 200 and its ids; else Member Exists (P8)."""
    fake_mailchimp.audience().add("weg@example.nl", status="archived", tags=["Oud"])
    before = call(http, fake_mailchimp, "GET", f"{MEMBERS}/weg@example.nl").json()
    body = {"email_address": "weg@example.nl", "status": "subscribed", "tags": ["Nieuw"]}
    back = call(http, fake_mailchimp, "POST", MEMBERS, json=body).json()
    assert (back["status"], back["web_id"], back["unique_email_id"]) == (
        "subscribed",
        before["web_id"],
        before["unique_email_id"],
    )
    assert {t["name"] for t in back["tags"]} == {"Oud", "Nieuw"}
    again = call(http, fake_mailchimp, "POST", MEMBERS, json=body)
    _problem(again, 400, "Member Exists")
    new = call(http, fake_mailchimp, "POST", MEMBERS, json={**body, "email_address": "a@b.nl"})
    assert new.status_code == 200


def test_patch_keeps_every_writable_field(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """PATCH keeps vip, language, email_type, location and interests (§2.3, issue 11)."""
    fake_mailchimp.audience().add("jan@example.nl")
    body = {
        "vip": True,
        "language": "nl",
        "email_type": "text",
        "location": {"latitude": 52.1, "longitude": 5.1},
        "interests": {"abc123": True},
    }
    call(http, fake_mailchimp, "PATCH", f"{MEMBERS}/jan@example.nl", json=body)
    member = call(http, fake_mailchimp, "GET", f"{MEMBERS}/jan@example.nl").json()
    assert (member["vip"], member["language"], member["email_type"]) == (True, "nl", "text")
    assert (member["location"]["latitude"], member["location"]["longitude"]) == (52.1, 5.1)
    assert member["interests"] == {"abc123": True}


def test_number_merge_fields_and_unknown_tags(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """A number field takes numbers only; "" clears; unknown tags are ignored (P73, P77, P12)."""
    fake_mailchimp.audience().add_merge_field("LTV", type="number")
    fake_mailchimp.audience().add("jan@example.nl")
    path = f"{MEMBERS}/jan@example.nl"
    bad = call(http, fake_mailchimp, "PUT", path, json={"merge_fields": {"LTV": "AAAAA"}})
    assert _problem(bad, 400, "Invalid Resource")["errors"] == [
        {"field": "LTV", "message": "Please enter a number"}
    ]
    good = call(http, fake_mailchimp, "PUT", path, json={"merge_fields": {"LTV": 15.5, "X": 1}})
    assert good.json()["merge_fields"]["LTV"] == 15.5
    assert "X" not in good.json()["merge_fields"]
    cleared = call(http, fake_mailchimp, "PUT", path, json={"merge_fields": {"LTV": ""}})
    assert cleared.json()["merge_fields"]["LTV"] == ""


# --- query parameters ------------------------------------------------------------------------


def test_member_list_filters_are_honoured(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """status, since/before_last_changed, unique_email_id, vip_only, sort, offset (§2.4, P184)."""
    audience = fake_mailchimp.audience()
    for name in ("a", "b", "c"):
        audience.add(f"{name}@example.nl")
    call(http, fake_mailchimp, "PATCH", f"{MEMBERS}/b@example.nl", json={"vip": True})
    listing = call(http, fake_mailchimp, "GET", MEMBERS).json()
    assert listing["total_items"] == 3
    vip = call(http, fake_mailchimp, "GET", MEMBERS, params={"vip_only": "True"}).json()
    assert [m["email_address"] for m in vip["members"]] == ["b@example.nl"]
    future = {"since_last_changed": "2999-01-01T00:00:00+00:00"}
    assert call(http, fake_mailchimp, "GET", MEMBERS, params=future).json()["total_items"] == 0
    past = {"before_last_changed": "2000-01-01T00:00:00Z"}
    assert call(http, fake_mailchimp, "GET", MEMBERS, params=past).json()["total_items"] == 0
    unique = listing["members"][2]["unique_email_id"]
    one = call(http, fake_mailchimp, "GET", MEMBERS, params={"unique_email_id": unique}).json()
    assert [m["email_address"] for m in one["members"]] == ["c@example.nl"]
    newest = call(
        http,
        fake_mailchimp,
        "GET",
        MEMBERS,
        params={"sort_field": "last_changed", "sort_dir": "DESC", "count": 1},
    ).json()
    assert newest["members"][0]["email_address"] == "b@example.nl"
    beyond = call(http, fake_mailchimp, "GET", MEMBERS, params={"offset": 10}).json()
    assert (beyond["members"], beyond["total_items"]) == ([], 3)


@pytest.mark.parametrize(
    "params",
    [
        {"interest_match": "any"},
        {"since_last_campaign": "true"},
        {"since_last_changed": "yesterday"},
        {"fields": "members.nope"},
        {"exclude_fields": "members.email_address.x"},
        {"offset": "-1"},
    ],
)
def test_query_parameters_not_honoured_are_refused(
    http: requests.Session, fake_mailchimp: FakeMailchimp, params: dict[str, str]
) -> None:
    """A documented parameter the fake does not honour, or an unknown field: 400 (issue 11)."""
    response = call(http, fake_mailchimp, "GET", MEMBERS, params=params)
    assert response.status_code == 400
    assert response.headers["Content-Type"] == PROBLEM


def test_exclude_fields_of_an_item_key_without_prefix_is_ignored(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """exclude_fields=email_address on the member list changes nothing, as recorded (P182)."""
    fake_mailchimp.audience().add("jan@example.nl")
    answer = call(http, fake_mailchimp, "GET", MEMBERS, params={"exclude_fields": "email_address"})
    assert answer.json()["members"][0]["email_address"] == "jan@example.nl"


# --- headers -----------------------------------------------------------------------------------


def test_method_override_and_trigger_error(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """X-HTTP-Method-Override only on POST (else 422); X-Trigger-Error forces one (§1, §6.1)."""
    fake_mailchimp.audience().add("jan@example.nl")
    path = f"{MEMBERS}/jan@example.nl"
    patched = call(
        http,
        fake_mailchimp,
        "POST",
        path,
        json={"vip": True},
        headers={"X-HTTP-Method-Override": "PATCH"},
    )
    assert (patched.status_code, patched.json()["vip"]) == (200, True)
    wrong = call(http, fake_mailchimp, "GET", path, headers={"X-HTTP-Method-Override": "DELETE"})
    _problem(wrong, 422, "Invalid Method Override")
    forced = call(
        http, fake_mailchimp, "GET", "/ping", headers={"X-Trigger-Error": "APIKeyMissing"}
    )
    _problem(forced, 401, "API Key Missing")
    unknown = call(http, fake_mailchimp, "GET", "/ping", headers={"X-Trigger-Error": "Nope"})
    _problem(unknown, 400, "Bad Request")


# --- lists and merge fields ----------------------------------------------------------------------


def test_lists_and_merge_fields(http: requests.Session, fake_mailchimp: FakeMailchimp) -> None:
    """GET /lists with counts and filters; merge fields listed, filtered, added (§3, P3, P4)."""
    fake_mailchimp.add_audience("f0e1d2c3b4", "Other")
    fake_mailchimp.audience().add("jan@example.nl")
    lists = call(http, fake_mailchimp, "GET", "/lists").json()
    assert list(lists) == ["lists", "total_items", "constraints", "_links"]
    assert lists["total_items"] == 2
    mine = call(http, fake_mailchimp, "GET", "/lists", params={"email": "jan@example.nl"}).json()
    assert [a["id"] for a in mine["lists"]] == [LIST]
    one = call(
        http, fake_mailchimp, "GET", f"/lists/{LIST}", params={"include_total_contacts": "true"}
    )
    assert one.json()["stats"]["total_contacts"] == 1
    path = f"/lists/{LIST}/merge-fields"
    added = call(
        http, fake_mailchimp, "POST", path, json={"name": "Age", "type": "number", "tag": "AGE"}
    )
    assert (added.json()["tag"], added.json()["type"]) == ("AGE", "number")
    numbers = call(http, fake_mailchimp, "GET", path, params={"type": "number"}).json()
    assert [f["tag"] for f in numbers["merge_fields"]] == ["AGE"]
    by_id = call(http, fake_mailchimp, "GET", f"{path}/{added.json()['merge_id']}")
    assert by_id.json()["tag"] == "AGE"


# --- tags and segments -------------------------------------------------------------------------


def test_tags_and_static_segments_are_one_thing(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """A tag is a static segment with the same id; segment writes are tags (§3)."""
    audience = fake_mailchimp.audience()
    audience.add("a@example.nl", tags=["Klant"])
    audience.add("b@example.nl")
    segments = call(
        http, fake_mailchimp, "GET", f"/lists/{LIST}/segments", params={"type": "static"}
    )
    (klant,) = segments.json()["segments"]
    assert (klant["name"], klant["member_count"], klant["type"]) == ("Klant", 1, "static")
    member = call(http, fake_mailchimp, "GET", f"{MEMBERS}/a@example.nl").json()
    assert member["tags"] == [{"id": klant["id"], "name": "Klant"}]
    path = f"/lists/{LIST}/segments/{klant['id']}"
    changed = call(
        http,
        fake_mailchimp,
        "POST",
        path,
        json={
            "members_to_add": ["b@example.nl", "nobody@example.nl"],
            "members_to_remove": ["a@example.nl"],
        },
    ).json()
    assert (changed["total_added"], changed["total_removed"], changed["error_count"]) == (1, 1, 1)
    assert audience.get("b@example.nl").tags == {"Klant"}  # type: ignore[union-attr]
    assert audience.get("a@example.nl").tags == frozenset()  # type: ignore[union-attr]
    listed = call(http, fake_mailchimp, "GET", f"{path}/members").json()
    assert [m["email_address"] for m in listed["members"]] == ["b@example.nl"]
    too_many = {"members_to_add": [f"p{i}@example.nl" for i in range(501)]}
    _problem(call(http, fake_mailchimp, "POST", path, json=too_many), 400, "Bad Request")
    created = call(
        http,
        fake_mailchimp,
        "POST",
        f"/lists/{LIST}/segments",
        json={"name": "VIP", "static_segment": ["a@example.nl"]},
    ).json()
    assert audience.get("a@example.nl").tags == {"VIP"}  # type: ignore[union-attr]
    search = call(http, fake_mailchimp, "GET", f"/lists/{LIST}/tag-search", params={"name": "v"})
    assert search.json()["tags"] == [{"id": created["id"], "name": "VIP"}]
    saved = call(
        http,
        fake_mailchimp,
        "POST",
        f"/lists/{LIST}/segments",
        json={"name": "Saved", "options": {"match": "any", "conditions": []}},
    )
    _problem(saved, 400, "Bad Request")
    gone = call(http, fake_mailchimp, "DELETE", f"/lists/{LIST}/segments/{created['id']}")
    assert gone.status_code == 204
    assert audience.get("a@example.nl").tags == frozenset()  # type: ignore[union-attr]


# --- batch subscribe and /batches --------------------------------------------------------------


def test_batch_subscribe_takes_at_most_500_members(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """500 members are taken; 501 are refused whole with a problem document (§5.1)."""
    members = [
        {"email_address": f"p{i}@example.nl", "status_if_new": "subscribed"} for i in range(501)
    ]
    refused = call(http, fake_mailchimp, "POST", f"/lists/{LIST}", json={"members": members})
    _problem(refused, 400, "Bad Request")
    assert len(fake_mailchimp.audience()) == 0
    taken = call(http, fake_mailchimp, "POST", f"/lists/{LIST}", json={"members": members[:500]})
    assert taken.json()["total_created"] == 500


def test_batches_run_pending_started_finished_with_results(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """POST /batches: pending, started, finished; results a gzipped tar of JSON (§5.2)."""
    fake_mailchimp.batches.hold()
    operations = [
        {
            "method": "PUT",
            "path": f"{MEMBERS}/{subscriber_hash('jan@example.nl')}",
            "body": json.dumps({"email_address": "jan@example.nl", "status_if_new": "subscribed"}),
            "operation_id": "jan",
        },
        {"method": "GET", "path": f"{MEMBERS}/nobody@example.nl", "operation_id": "absent"},
        {"method": "DELETE"},
        {"method": "GET", "path": "/batches"},
    ]
    posted = call(http, fake_mailchimp, "POST", "/batches", json={"operations": operations}).json()
    assert (posted["status"], posted["total_operations"], posted["response_body_url"]) == (
        "pending",
        4,
        "",
    )
    path = f"/batches/{posted['id']}"
    assert call(http, fake_mailchimp, "GET", path).json()["status"] == "started"
    fake_mailchimp.batches.release()
    assert fake_mailchimp.batches.wait()
    done = call(http, fake_mailchimp, "GET", path).json()
    assert (done["status"], done["finished_operations"], done["errored_operations"]) == (
        "finished",
        4,
        3,
    )
    archive = http.get(done["response_body_url"], timeout=10)
    assert archive.headers["Content-Type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        results = [
            item
            for info in tar.getmembers()
            for item in json.load(tar.extractfile(info))  # type: ignore[arg-type]
        ]
    assert [(r["operation_id"], r["status_code"]) for r in results] == [
        ("jan", 200),
        ("absent", 404),
        (None, 400),
        (None, 400),
    ]
    assert json.loads(results[1]["response"])["title"] == "Resource Not Found"
    assert "jan@example.nl" in fake_mailchimp.audience()
    listed = call(http, fake_mailchimp, "GET", "/batches").json()
    assert [b["id"] for b in listed["batches"]] == [posted["id"]]
    assert call(http, fake_mailchimp, "DELETE", path).status_code == 204
    assert call(http, fake_mailchimp, "GET", path).status_code == 404


def test_a_batch_takes_the_latency_of_its_operations() -> None:
    """A batch's time is the latency plus the member latency per operation (issue 11)."""
    fake = FakeMailchimp(latency=0.5, member_latency=0.25)
    assert fake._batch_delay(4) == 1.5


# --- bad input ---------------------------------------------------------------------------------

_BODIES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path=st.sampled_from(
        [
            "/",
            "/lists",
            f"/lists/{LIST}",
            MEMBERS,
            f"{MEMBERS}/jan@example.nl",
            f"{MEMBERS}/jan@example.nl/tags",
            f"/lists/{LIST}/segments",
            f"/lists/{LIST}/segments/1",
            f"/lists/{LIST}/merge-fields",
            "/batches",
            "/batches/nope",
            "/lists/nope/members",
            "/campaigns",
        ]
    ),
    body=_BODIES,
)
def test_every_refusal_is_a_problem_document(
    http: requests.Session, fake_mailchimp: FakeMailchimp, method: str, path: str, body: Any
) -> None:
    """Whatever is sent, a refusal is Mailchimp's problem document, never a traceback (issue 11)."""
    if "jan@example.nl" not in fake_mailchimp.audience():
        fake_mailchimp.audience().add("jan@example.nl", tags=["Klant"])
    response = call(http, fake_mailchimp, method, path, json=body)
    assert response.status_code != 500, response.text
    if response.status_code >= 400:
        document = _problem(response, response.status_code, response.json()["title"])
        assert {"title", "status", "detail", "instance"} <= set(document)


def test_time_filters_of_lists_and_segments(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """since_/before_date_created and since_/before_created_at are honoured (issue 11)."""
    fake_mailchimp.audience().add("a@example.nl", tags=["Klant"])
    later = {"since_date_created": "2999-01-01T00:00:00+00:00"}
    assert call(http, fake_mailchimp, "GET", "/lists", params=later).json()["lists"] == []
    earlier = {"since_date_created": "2000-01-01T00:00:00Z"}
    assert len(call(http, fake_mailchimp, "GET", "/lists", params=earlier).json()["lists"]) == 1
    path = f"/lists/{LIST}/segments"
    future = {"since_created_at": "2999-01-01T00:00:00+00:00"}
    assert call(http, fake_mailchimp, "GET", path, params=future).json()["segments"] == []
    before = {"before_updated_at": "2999-01-01T00:00:00+00:00"}
    assert len(call(http, fake_mailchimp, "GET", path, params=before).json()["segments"]) == 1
    wrong = call(http, fake_mailchimp, "GET", path, params={"since_created_at": "soon"})
    _problem(wrong, 400, "Bad Request")
