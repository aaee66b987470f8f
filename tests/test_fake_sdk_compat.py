"""Mailchimp's own Python clients against the fake: the calls an integrator makes (issue 11).

Two SDKs nobody here wrote drive the fake through ping, lists, members (get, list, set, add,
update, archive, delete-permanent), tags, batch subscribe, segments, batches and merge
fields: ``mailchimp-marketing`` (the official one, 3.0.80) and ``mailchimp3``. Each call is
expected to succeed where Mailchimp succeeds and to fail, with Mailchimp's status, where
Mailchimp fails (a second POST of a member, a second DELETE, 501 members in a batch).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable, Iterator
from typing import Any

import mailchimp3
import mailchimp_marketing
import pytest
import requests
from mailchimp3.mailchimpclient import MailChimpError
from mailchimp_marketing.api_client import ApiClientError

from auditcase_mailchimp.testing import FakeMailchimp

#: A call: its name, the call, and the HTTP status Mailchimp answers (200 class: success).
Step = tuple[str, Callable[[], Any], int]


def _hash(address: str) -> str:
    return hashlib.md5(address.lower().encode(), usedforsecurity=False).hexdigest()


def _status_of(call: Callable[[], Any]) -> tuple[int, Any]:
    """Run one SDK call: ``(status, result)``, the status from the SDK's own error."""
    try:
        result = call()
    except ApiClientError as error:
        return error.status_code, json.loads(error.text) if isinstance(error.text, str) else None
    except MailChimpError as error:
        details = error.args[0]
        return details["response"].status_code, details
    if isinstance(result, requests.Response):
        return result.status_code, None
    return 200, result


def _run(steps: list[Step], state: dict[str, Any]) -> tuple[int, list[str]]:
    """Run the steps in order; count those accepted; list those that did not answer as expected."""
    accepted, wrong = 0, []
    for name, call, expected in steps:
        status, result = _status_of(call)
        state[name] = result
        accepted += status < 300
        if (status < 300) != (expected < 300) or (expected >= 300 and status != expected):
            wrong.append(f"{name}: {status}, expected {expected} ({result!r:.300})")
    return accepted, wrong


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    """A fresh fake with one audience, no request log needed."""
    with FakeMailchimp() as running:
        yield running


def _members(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"email_address": f"p{i}@example.com", "status_if_new": "subscribed"}
        for i in range(start, start + n)
    ]


def _batch_operations(list_id: str) -> dict[str, Any]:
    return {
        "operations": [
            {"method": "GET", "path": f"/lists/{list_id}/members", "operation_id": "read"},
            {
                "method": "PUT",
                "path": f"/lists/{list_id}/members/{_hash('cas@example.com')}",
                "body": json.dumps(
                    {"email_address": "cas@example.com", "status_if_new": "subscribed"}
                ),
                "operation_id": "upsert",
            },
            {"method": "POST", "path": f"/lists/{list_id}/members", "body": "{not json"},
        ]
    }


def _check_batch_results(fake: FakeMailchimp, batch: dict[str, Any]) -> None:
    """The batch finished with a result per operation; the malformed one failed alone (§5.2)."""
    assert fake.batches.wait()
    done = requests.get(
        f"{fake.url}/batches/{batch['id']}", auth=("user", fake.api_key), timeout=10
    ).json()
    assert (done["status"], done["total_operations"], done["errored_operations"]) == (
        "finished",
        3,
        1,
    )
    archive = requests.get(done["response_body_url"], timeout=10).content
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        results = [
            r
            for m in tar.getmembers()
            if m.isfile()
            for r in json.load(tar.extractfile(m))  # type: ignore[arg-type]
        ]
    assert [r["status_code"] for r in results] == [200, 200, 400]
    assert json.loads(results[1]["response"])["email_address"] == "cas@example.com"
    assert "cas@example.com" in fake.audience()


def test_mailchimp_marketing_typical_calls(fake: FakeMailchimp) -> None:
    """The official SDK's typical calls answer as Mailchimp would (issue 11 deliverable 3b)."""
    client = mailchimp_marketing.Client()
    client.set_config({"api_key": fake.api_key, "server": "us6"})
    client.api_client.host = fake.url  # the SDK's base URL ("server" in it is the dc)
    lid, ann, bob = fake.list_id, _hash("ann@example.com"), _hash("bob@example.com")
    lists = client.lists
    state: dict[str, Any] = {}
    steps: list[Step] = [
        ("ping", client.ping.get, 200),
        ("root", client.root.get_root, 200),
        ("lists", lambda: lists.get_all_lists(count=10), 200),
        ("list", lambda: lists.get_list(lid, include_total_contacts=True), 200),
        ("merge fields", lambda: lists.get_list_merge_fields(lid), 200),
        (
            "add merge field",
            lambda: lists.add_list_merge_field(
                lid, {"tag": "PHONE", "name": "Phone", "type": "phone"}
            ),
            200,
        ),
        (
            "add member",
            lambda: lists.add_list_member(
                lid,
                {
                    "email_address": "ann@example.com",
                    "status": "subscribed",
                    "merge_fields": {"FNAME": "Ann"},
                },
            ),
            200,
        ),
        (
            "add member again",
            lambda: lists.add_list_member(
                lid, {"email_address": "ann@example.com", "status": "subscribed"}
            ),
            400,
        ),
        (
            "set member",
            lambda: lists.set_list_member(
                lid, bob, {"email_address": "bob@example.com", "status_if_new": "subscribed"}
            ),
            200,
        ),
        ("get member", lambda: lists.get_list_member(lid, ann), 200),
        (
            "list members",
            lambda: lists.get_list_members_info(
                lid, count=10, status="subscribed", fields=["members.email_address", "total_items"]
            ),
            200,
        ),
        (
            "changed members",
            lambda: lists.get_list_members_info(
                lid,
                since_last_changed="2020-01-01T00:00:00+00:00",
                sort_field="last_changed",
                sort_dir="DESC",
            ),
            200,
        ),
        (
            "update member",
            lambda: lists.update_list_member(
                lid, ann, {"merge_fields": {"LNAME": "Smit"}, "vip": True, "language": "nl"}
            ),
            200,
        ),
        ("vip members", lambda: lists.get_list_members_info(lid, vip_only=True), 200),
        (
            "tag member",
            lambda: lists.update_list_member_tags(
                lid, ann, {"tags": [{"name": "Klant", "status": "active"}], "is_syncing": True}
            ),
            204,
        ),
        ("member tags", lambda: lists.get_list_member_tags(lid, ann), 200),
        ("tag search", lambda: lists.tag_search(lid, name="Kl"), 200),
        (
            "batch subscribe",
            lambda: lists.batch_list_members(
                lid, {"members": _members(2), "update_existing": True}
            ),
            200,
        ),
        (
            "batch subscribe 501",
            lambda: lists.batch_list_members(
                lid, {"members": _members(501, 10), "update_existing": True}
            ),
            400,
        ),
        ("static segments", lambda: lists.list_segments(lid, type="static"), 200),
        (
            "create segment",
            lambda: lists.create_segment(
                lid, {"name": "VIP", "static_segment": ["ann@example.com"]}
            ),
            200,
        ),
        (
            "segment add",
            lambda: lists.batch_segment_members(
                {"members_to_add": ["bob@example.com"]}, lid, state["create segment"]["id"]
            ),
            200,
        ),
        (
            "segment members",
            lambda: lists.get_segment_members_list(lid, state["create segment"]["id"]),
            200,
        ),
        ("archive member", lambda: lists.delete_list_member(lid, bob), 204),
        ("archive member again", lambda: lists.delete_list_member(lid, bob), 405),
        ("get archived member", lambda: lists.get_list_member(lid, bob), 200),
        ("delete permanently", lambda: lists.delete_list_member_permanent(lid, ann), 204),
        ("get deleted member", lambda: lists.get_list_member(lid, ann), 404),
        ("start batch", lambda: client.batches.start(_batch_operations(lid)), 200),
        ("batch status", lambda: client.batches.status(state["start batch"]["id"]), 200),
        ("batches", client.batches.list, 200),
    ]
    accepted, wrong = _run(steps, state)
    assert wrong == []
    assert accepted == 27  # of 31: the four refusals are Mailchimp's too
    assert state["get archived member"]["status"] == "archived"
    assert state["segment add"]["total_added"] == 1
    assert {t["name"] for t in state["tag search"]["tags"]} == {"Klant"}
    assert [m["status"] for m in state["vip members"]["members"]] == ["subscribed"]
    _check_batch_results(fake, state["start batch"])
    assert _status_of(lambda: client.batches.delete_request(state["start batch"]["id"]))[0] == 204


def test_mailchimp3_typical_calls(fake: FakeMailchimp) -> None:
    """mailchimp3's typical calls answer as Mailchimp would (issue 11 deliverable 3b)."""
    client = mailchimp3.MailChimp(mc_api=fake.api_key, timeout=10)
    client.base_url = fake.url + "/"  # the client's base URL, normally from the key's dc
    lid = fake.list_id
    state: dict[str, Any] = {}
    lists = client.lists
    steps: list[Step] = [
        ("ping", client.ping.get, 200),
        ("root", client.root.get, 200),
        ("lists", lambda: lists.all(count=10), 200),
        ("list", lambda: lists.get(lid), 200),
        ("merge fields", lambda: lists.merge_fields.all(lid), 200),
        (
            "add merge field",
            lambda: lists.merge_fields.create(
                lid, {"tag": "PHONE", "name": "Phone", "type": "phone"}
            ),
            200,
        ),
        (
            "add member",
            lambda: lists.members.create(
                lid,
                {
                    "email_address": "ann@example.com",
                    "status": "subscribed",
                    "merge_fields": {"FNAME": "Ann"},
                },
            ),
            200,
        ),
        (
            "add member again",
            lambda: lists.members.create(
                lid, {"email_address": "ann@example.com", "status": "subscribed"}
            ),
            400,
        ),
        (
            "set member",
            lambda: lists.members.create_or_update(
                lid,
                "bob@example.com",
                {"email_address": "bob@example.com", "status_if_new": "subscribed"},
            ),
            200,
        ),
        ("get member", lambda: lists.members.get(lid, "ann@example.com"), 200),
        ("list members", lambda: lists.members.all(lid, count=10, status="subscribed"), 200),
        ("all members", lambda: lists.members.all(lid, get_all=True), 200),
        (
            "changed members",
            lambda: lists.members.all(lid, since_last_changed="2020-01-01T00:00:00+00:00"),
            200,
        ),
        ("vip members", lambda: lists.members.all(lid, vip_only=True), 200),
        (
            "update member",
            lambda: lists.members.update(
                lid, "ann@example.com", {"merge_fields": {"LNAME": "Smit"}, "vip": True}
            ),
            200,
        ),
        (
            "tag member",
            lambda: lists.members.tags.update(
                lid, "ann@example.com", {"tags": [{"name": "Klant", "status": "active"}]}
            ),
            204,
        ),
        ("member tags", lambda: lists.members.tags.all(lid, "ann@example.com"), 200),
        (
            "batch subscribe",
            lambda: lists.update_members(lid, {"members": _members(2), "update_existing": True}),
            200,
        ),
        ("static segments", lambda: lists.segments.all(lid, type="static"), 200),
        (
            "create segment",
            lambda: lists.segments.create(
                lid, {"name": "VIP", "static_segment": ["ann@example.com"]}
            ),
            200,
        ),
        (
            "segment add",
            lambda: lists.segments.update_members(
                lid, state["create segment"]["id"], {"members_to_add": ["bob@example.com"]}
            ),
            200,
        ),
        (
            "segment members",
            lambda: lists.segments.members.all(lid, state["create segment"]["id"]),
            200,
        ),
        ("archive member", lambda: lists.members.delete(lid, "bob@example.com"), 204),
        ("archive member again", lambda: lists.members.delete(lid, "bob@example.com"), 405),
        ("get archived member", lambda: lists.members.get(lid, "bob@example.com"), 200),
        ("delete permanently", lambda: lists.members.delete_permanent(lid, "ann@example.com"), 204),
        ("start batch", lambda: client.batches.create(_batch_operations(lid)), 200),
        ("batch status", lambda: client.batches.get(state["start batch"]["id"]), 200),
        ("batches", client.batches.all, 200),
    ]
    accepted, wrong = _run(steps, state)
    assert wrong == []
    assert accepted == 27  # of 29: the two refusals are Mailchimp's too
    assert state["get archived member"]["status"] == "archived"
    assert state["all members"]["total_items"] == 2
    assert state["segment add"]["total_added"] == 1
    _check_batch_results(fake, state["start batch"])
    assert _status_of(lambda: client.batches.delete(state["start batch"]["id"]))[0] < 300


def test_mailchimp3_refuses_501_members_itself_and_the_fake_too(fake: FakeMailchimp) -> None:
    """mailchimp3 stops 501 members before sending; the fake refuses them too (§5.1)."""
    client = mailchimp3.MailChimp(mc_api=fake.api_key, timeout=10)
    client.base_url = fake.url + "/"
    with pytest.raises(ValueError, match="500"):
        client.lists.update_members(
            fake.list_id, {"members": _members(501), "update_existing": True}
        )
    answer = requests.post(
        f"{fake.url}/lists/{fake.list_id}",
        json={"members": _members(501)},
        auth=("user", fake.api_key),
        timeout=10,
    )
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/problem+json; charset=utf-8"
    assert len(fake.audience()) == 0
