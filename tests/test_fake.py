"""The fake Mailchimp over raw HTTP: it behaves as MAILCHIMP.md documents (issue 3 item 7)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from auditcase_mailchimp.testing import (
    DEFAULT_API_KEY,
    FakeMailchimp,
    Fault,
    FaultKind,
    looks_fake,
)
from auditcase_mailchimp.testing._audience import subscriber_hash

LIST = "a1b2c3d4e5"


@pytest.fixture
def http() -> Iterator[requests.Session]:
    """A plain requests session (no client in between)."""
    with requests.Session() as session:
        yield session


def _basic(secret: str, user: str = "anystring") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


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
    """One request to the fake, authenticated with its key unless headers say otherwise."""
    return http.request(
        method,
        fake.url + path,
        json=json,
        params=params,
        headers=_basic(fake.api_key) if headers is None else headers,
        timeout=10,
    )


def _subscribe(
    http: requests.Session, fake: FakeMailchimp, *members: dict[str, Any], **options: Any
) -> dict[str, Any]:
    response = call(
        http, fake, "POST", f"/lists/{LIST}", json={"members": list(members), **options}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _item(address: str, **fields: Any) -> dict[str, Any]:
    return {"email_address": address, "status_if_new": "subscribed", **fields}


# --- authentication and errors ------------------------------------------------------------------


def test_key_is_accepted_as_basic_password_with_any_user(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """Basic auth: any user name, the key as password (§1 Auth header)."""
    for user in ("anystring", "", "user"):
        response = call(http, fake_mailchimp, "GET", "/ping", headers=_basic(DEFAULT_API_KEY, user))
        assert response.json() == {"health_status": "Everything's Chimpy!"}


def test_key_and_tokens_are_accepted_as_bearer(http: requests.Session) -> None:
    """Bearer works for the key and for OAuth tokens (§1)."""
    with FakeMailchimp(api_key="k-us1", access_tokens=["oauth"]) as fake:
        for secret in ("k-us1", "oauth"):
            headers = {"Authorization": f"Bearer {secret}"}
            assert call(http, fake, "GET", "/ping", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("headers", "title"),
    [
        ({}, "API Key Missing"),
        ({"Authorization": "Basic"}, "API Key Missing"),
        ({"Authorization": "Basic !!!"}, "API Key Invalid"),
        ({"Authorization": "Bearer wrong"}, "API Key Invalid"),
        ({"Authorization": "Token " + DEFAULT_API_KEY}, "API Key Invalid"),
        (_basic("0123456789abcdef0123456789abcdef-us7"), "API Key Invalid"),
    ],
)
def test_wrong_or_missing_key_is_a_401_problem(
    http: requests.Session, fake_mailchimp: FakeMailchimp, headers: dict[str, str], title: str
) -> None:
    """401 with a problem document: type, title, status, detail, instance (§6.1, §6.2)."""
    response = call(http, fake_mailchimp, "GET", f"/lists/{LIST}", headers=headers)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    assert 'rel="describedBy"' in response.headers["Link"]
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "instance"}
    assert (problem["title"], problem["status"]) == (title, 401)
    assert problem["instance"] == response.headers["X-Request-Id"]


def test_unknown_audience_path_and_method(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """Unknown audience or path: 404; wrong method: 405 with Allow; unserved: 501 (§6.2)."""
    assert call(http, fake_mailchimp, "GET", "/lists/nope").json()["title"] == "Resource Not Found"
    assert call(http, fake_mailchimp, "GET", "/no-such-thing").status_code == 404
    campaigns = call(http, fake_mailchimp, "GET", "/campaigns")
    assert (campaigns.status_code, campaigns.json()["title"]) == (501, "Not Implemented")
    assert call(http, fake_mailchimp, "GET", "/").json()["role"] == "owner"
    response = call(http, fake_mailchimp, "PUT", f"/lists/{LIST}/members/x/tags", json={})
    assert (response.status_code, response.json()["title"]) == (405, "Method Not Allowed")
    assert response.headers["Allow"] == "GET, POST"
    unserved = call(http, fake_mailchimp, "PATCH", f"/lists/{LIST}", json={})
    assert (unserved.status_code, unserved.json()["title"]) == (501, "Not Implemented")
    assert unserved.headers["Content-Type"] == "application/problem+json; charset=utf-8"


def test_invalid_body_is_refused_as_invalid_resource(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """A body that fails the spec's schema: 400 Invalid Resource with errors[] (§6.1, §9)."""
    response = call(
        http,
        fake_mailchimp,
        "POST",
        f"/lists/{LIST}",
        json={"members": [{"email_address": None, "status_if_new": "subscribed"}, {}]},
    )
    assert response.status_code == 400
    problem = response.json()
    assert problem["title"] == "Invalid Resource"
    assert {
        "field": "members.0.email_address",
        "message": "Schema describes string, NULL found instead",
    } in problem["errors"]
    assert {
        "field": "members.1",
        "message": "Required fields were not provided: email_address",
    } in problem["errors"]
    assert len(fake_mailchimp.audience()) == 0


def test_malformed_json_is_a_parse_exception(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """Broken JSON: 400 JSON Parse Exception (§6.2)."""
    response = http.post(
        f"{fake_mailchimp.url}/lists/{LIST}",
        data=b"{members:",
        headers=_basic(fake_mailchimp.api_key),
        timeout=10,
    )
    assert (response.status_code, response.json()["title"]) == (400, "JSON Parse Exception")


@pytest.mark.parametrize(
    "params",
    [{"ofset": "0"}, {"count": "1001"}, {"count": "ten"}, {"status": "gone"}, {"vip_only": "yes"}],
)
def test_query_parameters_outside_the_spec_are_refused(
    http: requests.Session, fake_mailchimp: FakeMailchimp, params: dict[str, str]
) -> None:
    """Unknown parameters, count over 1000, bad enums: 400 (§2.4 count ≤ 1000, §9)."""
    response = call(http, fake_mailchimp, "GET", f"/lists/{LIST}/members", params=params)
    assert response.status_code == 400
    assert response.json()["errors"]


# --- members, statuses and transitions -----------------------------------------------------------


def test_batch_subscribe_answer_has_mailchimps_shape(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """new_members, updated_members, errors, totals and error_count (§5.1)."""
    fake_mailchimp.audience().add("oud@example.nl")
    result = _subscribe(
        http,
        fake_mailchimp,
        _item("nieuw@example.nl"),
        _item("oud@example.nl"),
        _item("fake@example.nl"),
        update_existing=True,
    )
    assert set(result) == {
        "new_members",
        "updated_members",
        "errors",
        "total_created",
        "total_updated",
        "error_count",
        "_links",
    }
    assert (result["total_created"], result["total_updated"], result["error_count"]) == (1, 1, 1)
    assert result["errors"] == [
        {
            "email_address": "fake@example.nl",
            "error": "fake@example.nl looks fake or invalid, please enter a real email address.",
            "error_code": "ERROR_GENERIC",
            "field": "",
            "field_message": "",
        }
    ]
    member = result["new_members"][0]
    assert member["id"] == subscriber_hash("nieuw@example.nl")
    assert (member["status"], member["tags_count"], member["tags"]) == ("subscribed", 0, [])


def test_existing_member_without_update_existing_is_contact_exists(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """Without update_existing an existing address is ERROR_CONTACT_EXISTS (§5.1)."""
    fake_mailchimp.audience().add("jan@example.nl")
    result = _subscribe(http, fake_mailchimp, _item("jan@example.nl"))
    assert result["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"


def test_batch_item_needs_status_or_status_if_new(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """A member item with neither status nor status_if_new is refused (§5.1, SPEC-F anyOf)."""
    response = call(
        http,
        fake_mailchimp,
        "POST",
        f"/lists/{LIST}",
        json={"members": [{"email_address": "a@example.nl"}]},
    )
    assert response.status_code == 400


def test_duplicate_addresses_in_one_batch(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """A repeated address is an error, or ignored with skip_duplicate_check (§5.1)."""
    result = _subscribe(http, fake_mailchimp, _item("a@example.nl"), _item("A@example.nl"))
    assert result["error_count"] == 1
    response = call(
        http,
        fake_mailchimp,
        "POST",
        f"/lists/{LIST}",
        params={"skip_duplicate_check": "true"},
        json={"members": [_item("b@example.nl"), _item("B@example.nl")]},
    )
    assert response.json()["error_count"] == 0


def test_statuses_and_transitions(http: requests.Session, fake_mailchimp: FakeMailchimp) -> None:
    """Archived comes back only with status; unsubscribed/cleaned refuse subscribed (§4, §8)."""
    audience = fake_mailchimp.audience()
    audience.add("archief@example.nl", status="archived")
    audience.add("weg@example.nl", status="unsubscribed")
    audience.add("bounce@example.nl", status="cleaned")
    result = _subscribe(
        http,
        fake_mailchimp,
        _item("archief@example.nl"),
        _item("weg@example.nl"),
        update_existing=True,
    )
    assert [m["status"] for m in result["updated_members"]] == ["archived", "unsubscribed"]
    result = _subscribe(
        http,
        fake_mailchimp,
        _item("archief@example.nl", status="subscribed"),
        _item("weg@example.nl", status="subscribed"),
        _item("bounce@example.nl", status="pending"),
        update_existing=True,
    )
    assert [m["email_address"] for m in result["updated_members"]] == ["archief@example.nl"]
    assert [e["email_address"] for e in result["errors"]] == ["weg@example.nl", "bounce@example.nl"]
    assert all("is in a compliance state" in e["error"] for e in result["errors"])
    assert audience.statuses() == {"subscribed": 1, "unsubscribed": 1, "cleaned": 1}
    response = call(
        http,
        fake_mailchimp,
        "PATCH",
        f"/lists/{LIST}/members/weg@example.nl",
        json={"status": "subscribed"},
    )
    assert (response.status_code, response.json()["title"]) == (400, "Member In Compliance State")
    ok = call(
        http,
        fake_mailchimp,
        "PATCH",
        f"/lists/{LIST}/members/weg@example.nl",
        json={"status": "unsubscribed"},
    )
    assert ok.status_code == 200


def test_permanently_deleted_address_cannot_come_back(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """delete-permanent: 204, then "Forgotten Email Not Subscribed" on re-adding (§4)."""
    fake_mailchimp.audience().add("jan@example.nl")
    path = f"/lists/{LIST}/members/{subscriber_hash('jan@example.nl')}/actions/delete-permanent"
    assert call(http, fake_mailchimp, "POST", path).status_code == 204
    assert call(http, fake_mailchimp, "POST", path).status_code == 404
    result = _subscribe(http, fake_mailchimp, _item("jan@example.nl"))
    assert "was permanently deleted and cannot be re-imported" in result["errors"][0]["error"]
    fake_mailchimp.audience().add("ander@example.nl")
    response = call(
        http,
        fake_mailchimp,
        "PATCH",
        f"/lists/{LIST}/members/ander@example.nl",
        json={"email_address": "jan@example.nl"},
    )
    assert response.json()["title"] == "Forgotten Email Not Subscribed"


def test_member_paths_accept_the_hash_or_the_address(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """MD5 of the lower-cased address; member paths also accept the address (§2.1)."""
    fake_mailchimp.audience().add("Jan@Example.NL")
    for key in (subscriber_hash("jan@example.nl"), "jan@example.nl", "JAN@EXAMPLE.NL"):
        response = call(http, fake_mailchimp, "GET", f"/lists/{LIST}/members/{key}")
        assert response.json()["email_address"] == "Jan@Example.NL"
    assert subscriber_hash("Jan@Example.NL") == hashlib.md5(b"jan@example.nl").hexdigest()  # noqa: S324
    assert call(http, fake_mailchimp, "GET", f"/lists/{LIST}/members/{'0' * 32}").status_code == 404


def test_archive_then_archive_again_is_405_and_absent_is_404(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """DELETE archives (204); archived, cleaned, pending: 405 with Allow; absent: 404 (§4, P1)."""
    audience = fake_mailchimp.audience()
    audience.add("jan@example.nl")
    audience.add("schoon@example.nl", status="cleaned")
    audience.add("wacht@example.nl", status="pending")
    path = f"/lists/{LIST}/members/"
    first = call(http, fake_mailchimp, "DELETE", path + "jan@example.nl")
    assert (first.status_code, first.content) == (204, b"")
    after = call(http, fake_mailchimp, "GET", path + "jan@example.nl")
    assert (after.status_code, after.json()["status"]) == (200, "archived")
    for address in ("jan@example.nl", "schoon@example.nl", "wacht@example.nl"):
        again = call(http, fake_mailchimp, "DELETE", path + address)
        assert again.status_code == 405
        assert again.headers["Allow"] == "GET, PUT"
        assert again.json()["detail"] == (
            "This list member cannot be removed. Can not archive a contact that is bounced, "
            "pending or archived"
        )
    assert audience.statuses() == {"archived": 1, "cleaned": 1, "pending": 1}
    assert call(http, fake_mailchimp, "DELETE", path + "nobody@example.nl").status_code == 404


def test_address_change_rules(http: requests.Session, fake_mailchimp: FakeMailchimp) -> None:
    """PATCH changes subscribed members' addresses, not to a member's address (§2.3)."""
    audience = fake_mailchimp.audience()
    audience.add("a@example.nl")
    audience.add("b@example.nl")
    audience.add("c@example.nl", status="cleaned")
    path = f"/lists/{LIST}/members/"
    taken = call(
        http, fake_mailchimp, "PATCH", path + "a@example.nl", json={"email_address": "b@example.nl"}
    )
    assert taken.json()["title"] == "Member Exists"
    cleaned = call(
        http, fake_mailchimp, "PATCH", path + "c@example.nl", json={"email_address": "d@example.nl"}
    )
    assert (
        'You can only update email addresses for members with a status of "subscribed."'
        in cleaned.json()["detail"]
    )
    moved = call(
        http,
        fake_mailchimp,
        "PATCH",
        path + "a@example.nl",
        json={"email_address": "A2@example.nl"},
    )
    assert moved.json()["id"] == subscriber_hash("a2@example.nl")
    assert "a@example.nl" not in audience
    assert (
        call(http, fake_mailchimp, "GET", path + subscriber_hash("a@example.nl")).status_code == 404
    )


@pytest.mark.parametrize(
    "address",
    [
        "jan@example.nl",
        "Marieke.Kok@Example.NL",
        "info.vangeest@example.com",
        "anna+nieuws@example.com",
        "testament@example.nl",
        "a.test@example.nl",
        "jan@test.example.nl",
    ],
)
def test_ordinary_addresses_under_example_domains_are_accepted(address: str) -> None:
    """The demo data's example.nl / example.com addresses pass the fake-address rule."""
    assert not looks_fake(address)


@pytest.mark.parametrize(
    "address",
    [
        "test@example.nl",
        "FAKE@example.com",
        "invalid@example.nl",
        "jan@example.invalid",
        "jan@host.test",
        "jan@example",
        "jan@example.example",
        "jan@localhost",
        "jan @example.nl",
        "jan.example.nl",
        "@example.nl",
        "jan@example..nl",
        "jé@example.nl",
    ],
)
def test_fake_or_invalid_addresses_are_refused(address: str) -> None:
    """The documented rule: test/fake/invalid local parts, reserved TLDs, bad syntax (§6.2)."""
    assert looks_fake(address)


def test_text_merge_fields_are_cut_to_255_bytes(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """Text merge fields keep 255 UTF-8 bytes, never half a character (§7)."""
    _subscribe(
        http,
        fake_mailchimp,
        _item("jan@example.nl", merge_fields={"FNAME": "é" * 200, "LNAME": 42}),
    )
    member = fake_mailchimp.audience().get("jan@example.nl")
    assert member is not None
    assert member.first_name == "é" * 127
    assert member.last_name == "42"


def test_merge_field_problems(http: requests.Session, fake_mailchimp: FakeMailchimp) -> None:
    """Object for text, empty required field: invalid; unknown tags ignored (§6.2, P12)."""
    fake_mailchimp.audience().add_merge_field("LNAME", required=True)
    result = _subscribe(
        http,
        fake_mailchimp,
        _item("a@example.nl", merge_fields={"NOPE": "x", "LNAME": "y"}),
        _item("b@example.nl", merge_fields={"FNAME": {"x": 1}, "LNAME": "y"}),
        _item("c@example.nl", merge_fields={"FNAME": "x"}),
        _item("d@example.nl", merge_fields={"LNAME": "y"}),
    )
    assert [(e["field"], e["error"]) for e in result["errors"]] == [
        ("FNAME", "Your merge fields were invalid."),
        ("LNAME", "Your merge fields were invalid."),
    ]
    assert result["errors"][1]["field_message"] == "Please enter a value"
    assert "NOPE" not in result["new_members"][0]["merge_fields"]
    response = call(
        http,
        fake_mailchimp,
        "PATCH",
        f"/lists/{LIST}/members/d@example.nl",
        json={"merge_fields": {"LNAME": ""}},
    )
    assert response.json()["errors"] == [{"field": "LNAME", "message": "Please enter a value"}]
    skip = call(
        http,
        fake_mailchimp,
        "POST",
        f"/lists/{LIST}",
        params={"skip_merge_validation": "true"},
        json={"members": [_item("e@example.nl")]},
    )
    assert skip.json()["total_created"] == 1


def test_tags_at_most_50_in_member_and_all_through_the_tags_endpoint(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """Member responses echo 50 tags with tags_count; GET …/tags pages all (§2.5, §3)."""
    names = [f"t{i:03}" for i in range(120)]
    fake_mailchimp.audience().add("jan@example.nl", tags=names)
    member = call(http, fake_mailchimp, "GET", f"/lists/{LIST}/members/jan@example.nl").json()
    assert (member["tags_count"], len(member["tags"])) == (120, 50)
    assert set(member["tags"][0]) == {"id", "name"}
    page = call(
        http,
        fake_mailchimp,
        "GET",
        f"/lists/{LIST}/members/jan@example.nl/tags",
        params={"count": 100, "offset": 100},
    ).json()
    assert page["total_items"] == 120
    assert [t["name"] for t in page["tags"]] == names[100:]
    assert set(page["tags"][0]) == {"id", "name", "date_added"}


def test_tag_post_sets_active_and_inactive(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """POST …/tags: active adds, inactive removes, 204 without body (§3)."""
    fake_mailchimp.audience().add("jan@example.nl", tags=["oud"])
    path = f"/lists/{LIST}/members/{subscriber_hash('jan@example.nl')}/tags"
    body = {"tags": [{"name": "nieuw", "status": "active"}, {"name": "oud", "status": "inactive"}]}
    response = call(http, fake_mailchimp, "POST", path, json={**body, "is_syncing": True})
    assert (response.status_code, response.content) == (204, b"")
    assert fake_mailchimp.audience().get("jan@example.nl").tags == {"nieuw"}  # type: ignore[union-attr]
    blank = call(
        http, fake_mailchimp, "POST", path, json={"tags": [{"name": " ", "status": "active"}]}
    )
    assert blank.status_code == 400


def test_paging_and_archived_members(http: requests.Session, fake_mailchimp: FakeMailchimp) -> None:
    """count/offset/total_items; the unfiltered list leaves out archived members (§2.4)."""
    audience = fake_mailchimp.audience()
    for i in range(25):
        audience.add(f"p{i:02}@example.nl")
    audience.archive("p03@example.nl")
    page = call(
        http, fake_mailchimp, "GET", f"/lists/{LIST}/members", params={"count": 10, "offset": 20}
    ).json()
    assert page["total_items"] == 24
    assert [m["email_address"] for m in page["members"]] == [
        f"p{i}@example.nl" for i in range(21, 25)
    ]
    archived = call(
        http, fake_mailchimp, "GET", f"/lists/{LIST}/members", params={"status": "archived"}
    ).json()
    assert [m["email_address"] for m in archived["members"]] == ["p03@example.nl"]
    default = call(http, fake_mailchimp, "GET", f"/lists/{LIST}/members").json()
    assert len(default["members"]) == 10


def test_fields_and_exclude_fields(http: requests.Session, fake_mailchimp: FakeMailchimp) -> None:
    """Fields keeps dotted paths, exclude_fields drops them, not both (§2.4)."""
    fake_mailchimp.audience().add("jan@example.nl", first_name="Jan", last_name="Smit")
    path = f"/lists/{LIST}/members"
    picked = call(
        http,
        fake_mailchimp,
        "GET",
        path,
        params={"fields": "members.merge_fields.FNAME,total_items"},
    ).json()
    assert picked == {"members": [{"merge_fields": {"FNAME": "Jan"}}], "total_items": 1}
    dropped = call(
        http, fake_mailchimp, "GET", path, params={"exclude_fields": "members.merge_fields,list_id"}
    ).json()
    assert "merge_fields" not in dropped["members"][0]
    assert "list_id" not in dropped
    both = call(http, fake_mailchimp, "GET", path, params={"fields": "a", "exclude_fields": "b"})
    assert both.status_code == 400


def test_list_info(http: requests.Session, fake_mailchimp: FakeMailchimp) -> None:
    """GET /lists/{id} describes the audience (§ decided: checking the audience)."""
    fake_mailchimp.audience().add("a@example.nl")
    info = call(http, fake_mailchimp, "GET", f"/lists/{LIST}").json()
    assert (info["id"], info["stats"]["member_count"]) == (LIST, 1)
    assert call(http, fake_mailchimp, "GET", f"/lists/{LIST}", params={"fields": "id"}).json() == {
        "id": LIST
    }


# --- acting as a person, and knobs -------------------------------------------------------------


def test_acting_as_a_person_in_mailchimp(fake_mailchimp: FakeMailchimp) -> None:
    """Tests can unsubscribe, tag, archive, clean, delete by hand (issue 3 item 7)."""
    audience = fake_mailchimp.audience()
    audience.add("jan@example.nl", merge_fields={"PHONE": "1"})
    audience.add_tag("jan@example.nl", "Handmatig")
    audience.remove_tag("jan@example.nl", "Handmatig")
    audience.set_merge_field("jan@example.nl", "FNAME", "J")
    audience.unsubscribe("jan@example.nl")
    assert audience.get("jan@example.nl") is not None
    audience.clean("jan@example.nl")
    assert audience.members(status="cleaned")[0].first_name == "J"
    audience.delete_permanently("jan@example.nl")
    assert audience.is_forgotten("JAN@example.nl")
    assert "jan@example.nl" not in audience
    with pytest.raises(KeyError):
        audience.unsubscribe("nobody@example.nl")
    with pytest.raises(ValueError, match="status"):
        audience.add("x@example.nl", status="gone")
    audience.add("x@example.nl")
    with pytest.raises(ValueError, match="already"):
        audience.add("X@example.nl")
    other = fake_mailchimp.add_audience("f0e1d2c3b4")
    assert len(other) == 0
    assert repr(other) == "FakeAudience(list_id='f0e1d2c3b4', members=0)"


def test_request_log_records_every_request(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """Method, path, query, body, timestamp, status and request id of each request (item 7)."""
    before = time.time()
    call(http, fake_mailchimp, "GET", f"/lists/{LIST}/members", params={"count": 5})
    _subscribe(http, fake_mailchimp, _item("a@example.nl"))
    first, second = fake_mailchimp.requests
    assert (first.method, first.path, dict(first.query), first.body, first.status) == (
        "GET",
        f"/3.0/lists/{LIST}/members",
        {"count": "5"},
        None,
        200,
    )
    assert second.body == {"members": [_item("a@example.nl")]}
    assert before <= first.timestamp <= second.timestamp
    assert first.request_id != second.request_id
    fake_mailchimp.clear_log()
    assert fake_mailchimp.requests == []


def test_scripted_faults_match_and_are_used_once(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """Faults by script: 429 with/without Retry-After or body, 500, 503 HTML (item 7)."""
    fake_mailchimp.inject(
        Fault.rate_limited(retry_after="2", method="POST"),
        Fault.rate_limited(with_body=False),
        Fault.server_error(503, path_contains="/ping"),
    )
    bare = call(http, fake_mailchimp, "GET", "/ping")  # the first fault matching a GET
    assert (bare.status_code, bare.content, "Retry-After" in bare.headers) == (429, b"", False)
    ping = call(http, fake_mailchimp, "GET", "/ping")
    assert (ping.status_code, ping.headers["Content-Type"]) == (503, "text/html")
    limited = call(http, fake_mailchimp, "POST", f"/lists/{LIST}", json={"members": []})
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    assert limited.json()["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    assert call(http, fake_mailchimp, "GET", "/ping").status_code == 200
    assert fake_mailchimp.pending_faults == []
    assert [r.fault for r in fake_mailchimp.requests] == [
        "rate_limited",
        "server_error",
        "rate_limited",
        "",
    ]


def test_fault_after_processing_loses_only_the_answer(
    http: requests.Session, fake_mailchimp: FakeMailchimp
) -> None:
    """after_processing: the change is made, then a 500 or a dropped connection (item 7)."""
    fake_mailchimp.inject(Fault.server_error(500, after_processing=True))
    assert (
        call(
            http,
            fake_mailchimp,
            "POST",
            f"/lists/{LIST}",
            json={"members": [_item("a@example.nl")]},
        ).json()["title"]
        == "Internal Server Error"
    )
    assert "a@example.nl" in fake_mailchimp.audience()
    fake_mailchimp.inject(Fault.dropped_connection(after_processing=True))
    with pytest.raises(requests.ConnectionError):
        call(http, fake_mailchimp, "DELETE", f"/lists/{LIST}/members/a@example.nl")
    assert fake_mailchimp.audience().statuses() == {"archived": 1}


def test_seeded_random_faults_repeat_exactly() -> None:
    """fault_rate draws from a seed: the same seed gives the same faults (item 7)."""

    def run(seed: int) -> list[str]:
        with FakeMailchimp(fault_rate=0.5, seed=seed) as fake, requests.Session() as session:
            for _ in range(30):
                with contextlib.suppress(requests.ConnectionError):  # a dropped connection
                    call(session, fake, "GET", "/ping")
            return [r.fault for r in fake.requests]

    first = run(3)
    assert first == run(3)
    assert {f for f in first if f} <= {k.value for k in FaultKind}
    assert 5 < sum(bool(f) for f in first) < 25
    with pytest.raises(ValueError, match="fault_rate"):
        FakeMailchimp(fault_rate=1.5)


def test_eleventh_concurrent_request_gets_429(fake_mailchimp: FakeMailchimp) -> None:
    """Ten requests in flight: the 11th gets 429 "…limit of 10 simultaneous connections." (§7)."""
    fake_mailchimp.hold()
    statuses: list[int] = []
    sessions = [requests.Session() for _ in range(10)]
    threads = [
        threading.Thread(
            target=lambda s=s: statuses.append(call(s, fake_mailchimp, "GET", "/ping").status_code)
        )
        for s in sessions
    ]
    for thread in threads:
        thread.start()
    try:
        assert fake_mailchimp.wait_for_in_flight(10)
        with requests.Session() as eleventh:
            over = call(eleventh, fake_mailchimp, "GET", "/ping")
    finally:
        fake_mailchimp.release()
        for thread in threads:
            thread.join()
        for session in sessions:
            session.close()
    assert over.status_code == 429
    assert over.json()["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    assert statuses == [200] * 10
    assert fake_mailchimp.max_in_flight == 11
    assert [r.fault for r in fake_mailchimp.requests].count("connection_limit") == 1
    fake_mailchimp.reset_max_in_flight()
    assert fake_mailchimp.max_in_flight == 0


def test_latency_delays_each_answer_at_least_as_configured(http: requests.Session) -> None:
    """Latency, plus member_latency per member, is added to each answer (lower bound; item 7)."""
    with FakeMailchimp(latency=0.05, member_latency=0.01) as fake:
        started = time.perf_counter()
        call(
            http,
            fake,
            "POST",
            f"/lists/{LIST}",
            json={"members": [_item(f"p{i}@example.nl") for i in range(5)]},
        )
        assert time.perf_counter() - started >= 0.05 + 5 * 0.01


def test_stop_closes_everything_and_start_is_once(fake_mailchimp: FakeMailchimp) -> None:
    """After stop nothing listens; a running fake cannot start twice (item 7)."""
    url = fake_mailchimp.url
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(RuntimeError, match="already"):
        fake_mailchimp.start()
    fake_mailchimp.stop()
    fake_mailchimp.stop()  # twice is harmless
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))
    with pytest.raises(RuntimeError, match="not running"):
        _ = fake_mailchimp.url
    assert "not started" in repr(fake_mailchimp)
