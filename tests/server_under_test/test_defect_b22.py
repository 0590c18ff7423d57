"""Defect switch B22 (the reference's input robustness), through the HTTP API.

Switched off the server refuses malformed device input with a 4xx naming the field (or, for
one bad item of a batch, lists that item among the batch's errors) and answers every
reconcile in full; switched on it answers as the reference does: 500 with the exception's
text, and no ``not_found_ids`` for a reconcile without known ids.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from server_under_test import ManualClock, SeededIds, Settings, create_app
from tests.conftest import ADMIN_TOKEN, Api

OTHER = "+420999888777"
Build = Callable[[bool], Api]

# (endpoint, body, the field a correct server names): inputs the reference answers 500.
MALFORMED = [
    ("pending", {"limit": "all"}, "limit"),
    ("pending", {"limit": None}, "limit"),
    ("pending", {"limit": True}, "limit"),
    ("pending", {"limit": -5}, "limit"),
    ("heartbeat", {"unsynced_count": "several"}, "unsynced_count"),
    ("heartbeat", {"unsynced_count": [3]}, "unsynced_count"),
    ("inbound-history", {"limit": "ten"}, "limit"),
    ("inbound-history", {"offset": None}, "offset"),
]
# (endpoint, body, the item's type): a batch whose one item is not a JSON object.
BAD_ITEMS = [
    ("confirm-batch", {"results": ["sent"]}, "str"),
    ("inbound-batch", {"messages": [42]}, "int"),
]


@pytest.fixture
def build(tmp_path: Path) -> Iterator[Build]:
    """A server on its own SQLite file, with B22 on or off, as an ``Api``."""
    clients: list[TestClient] = []

    def make(b22: bool) -> Api:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / f'gateway-{len(clients)}.sqlite3'}",
            admin_token=ADMIN_TOKEN,
            defects=frozenset({"B22"}) if b22 else frozenset(),
        )
        app = create_app(
            settings,
            clock=ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
            ids=SeededIds(random.Random(7)),
        )
        client = TestClient(app)
        clients.append(client.__enter__())
        return Api(client)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.mark.parametrize(("endpoint", "body", "field"), MALFORMED)
def test_malformed_values_are_a_422_naming_the_field_or_with_b22_a_500(
    build: Build, endpoint: str, body: dict[str, Any], field: str
) -> None:
    correct, reference = build(False), build(True)
    answer = correct.device(correct.phone()["api_key"], endpoint, body, expect=422)
    assert answer["success"] is False
    assert [d["field"] for d in answer["detail"]] == [field]
    assert field in answer["error"]
    crashed = reference.device(reference.phone()["api_key"], endpoint, body, expect=500)
    assert crashed["success"] is False and crashed["error"]  # the exception's text


@pytest.mark.parametrize(("endpoint", "body", "kind"), BAD_ITEMS)
def test_a_batch_item_that_is_not_an_object_is_listed_or_with_b22_a_500(
    build: Build, endpoint: str, body: dict[str, Any], kind: str
) -> None:
    correct, reference = build(False), build(True)
    answer = correct.device(correct.phone()["api_key"], endpoint, body)
    [problem] = answer["errors"]
    assert problem["index"] == 0 and "must be a JSON object" in problem["error"]
    crashed = reference.device(reference.phone()["api_key"], endpoint, body, expect=500)
    assert crashed == {"success": False, "error": f"'{kind}' object has no attribute 'get'"}


def test_a_null_search_is_no_search_or_with_b22_a_500(build: Build) -> None:
    correct, reference = build(False), build(True)
    key = correct.phone()["api_key"]
    correct.device(key, "inbound", {"from_number": OTHER, "message": "Ahoj"})
    answer = correct.device(key, "inbound-history", {"search": None})
    assert answer["total"] == 1  # null is an absent filter: the field is nullable
    crashed = reference.device(
        reference.phone()["api_key"], "inbound-history", {"search": None}, 500
    )
    assert crashed["error"] == "'NoneType' object has no attribute 'strip'"


@pytest.mark.parametrize("body", [{"known_ids": []}, {}])
def test_a_reconcile_without_known_ids_lacks_not_found_ids_only_with_b22(
    build: Build, body: dict[str, Any]
) -> None:
    correct, reference = build(False), build(True)
    whole = correct.device(correct.phone()["api_key"], "reconcile", body)
    assert whole["not_found_ids"] == [] and whole["already_confirmed_ids"] == []
    key = reference.phone()["api_key"]
    assert reference.device(key, "reconcile", body) == {
        "success": True,
        "already_confirmed_ids": [],
        "stuck_ids": [],
    }
    # with known ids the reference answers in full
    assert reference.device(key, "reconcile", {"known_ids": [123]})["not_found_ids"] == [123]


def test_with_b22_well_formed_requests_work_and_a_500_applies_nothing(build: Build) -> None:
    api = build(True)
    phone = api.phone()
    key = phone["api_key"]
    (sms_id,) = api.enqueue({"number": OTHER, "body": "Ahoj", "phone_id": phone["id"]})["ids"]
    api.device(key, "heartbeat", {"unsynced_count": 3, "battery_level": 80})
    assert [s["id"] for s in api.device(key, "pending", {"limit": 5})["sms_list"]] == [sms_id]
    # a good item before the bad one: the whole request is refused, as the reference rolls
    # back (gateway_api.py:423)
    body = {"results": [{"id": sms_id, "status": "sent"}, "sent"]}
    api.device(key, "confirm-batch", body, expect=500)
    assert api.sms(sms_id)["state"] != "sent"
    assert api.device(key, "confirm-batch", body | {"results": body["results"][:1]})["ack_ids"] == [
        sms_id
    ]


def test_with_b22_a_wrong_key_is_still_a_401_first(build: Build) -> None:
    api = build(True)
    answer = api.device("not-a-key", "pending", {"limit": "all"}, expect=401)
    assert answer["success"] is False
