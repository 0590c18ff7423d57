"""OdooControl against the Odoo test double, served over real HTTP with uvicorn."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.control import STATE_PARTS, AdminError, PhoneKey, Unsupported
from harness.odoo import OdooControl, OdooRpcError
from harness.process import free_port
from simulator.config import PhoneSpec, SimSpec
from tests.support.odoo_double import OdooDouble, serve

DB, USER, PASSWORD = "hil", "harness", "s3cret-pw"


@pytest.fixture
def odoo(tmp_path: Path) -> Iterator[tuple[OdooDouble, str]]:
    double = OdooDouble(
        f"sqlite:///{tmp_path / 'odoo.sqlite3'}", db=DB, login=USER, password=PASSWORD
    )
    with serve(double) as url:
        yield double, url


@pytest.fixture
def control(odoo: tuple[OdooDouble, str]) -> Iterator[OdooControl]:
    made = OdooControl(odoo[1], DB, USER, PASSWORD, chunk=1000, page=1000)
    yield made
    made.close()


def phone(name: str, *numbers: str, daily_limit: int = 500) -> PhoneSpec:
    # rate_limit: the phone polls as fast as it can; the server's per-minute pacing is not
    # what these tests are about.
    return PhoneSpec(
        name, tuple(SimSpec(n) for n in numbers), daily_limit=daily_limit, rate_limit=100_000
    )


def device(url: str, key: PhoneKey, endpoint: str, body: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{url}/sms-gateway/{endpoint}", headers={"X-API-Key": key.api_key}, json=body or {}
    )


def test_connect_authenticates_and_every_part_is_readable(odoo, control):
    double, url = odoo
    assert control.connect() == 2
    # every part but campaigns: a campaign is an Odoo mass mailing, which it does not drive
    assert control.exposes == frozenset(STATE_PARTS) - {"campaigns"}
    first = double.calls[0]
    assert (first.service, first.method, first.args[:2]) == ("common", "authenticate", [DB, USER])
    answer = httpx.post(
        f"{url}/jsonrpc",
        json={
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": "common", "method": "version", "args": []},
            "id": 7,
        },
    )
    assert answer.headers["X-Test-Double"] == "odoo"
    assert answer.json()["result"]["server_serie"] == "18.0"


def test_a_wrong_password_is_one_line_naming_the_user(odoo):
    wrong = OdooControl(odoo[1], DB, USER, "not-the-password")
    with pytest.raises(AdminError) as caught:
        wrong.connect()
    message = str(caught.value)
    assert USER in message and odoo[1] in message and DB in message
    assert "\n" not in message and "not-the-password" not in message


def test_a_wrong_database_is_refused_with_odoos_reason(odoo):
    with pytest.raises(AdminError, match=r'database "nope" does not exist') as caught:
        OdooControl(odoo[1], "nope", USER, PASSWORD).connect()
    assert "\n" not in str(caught.value)


def test_an_unreachable_url_names_the_url():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AdminError) as caught:
        OdooControl(url, DB, USER, PASSWORD, timeout=5).connect()
    assert url in str(caught.value) and "\n" not in str(caught.value)


def test_register_creates_phones_with_working_keys_once(odoo, control):
    double, url = odoo
    phones = [phone("p1", "+420601000001"), phone("p2", "+420601000002", "+420601000003")]
    keys = control.register(phones, at=0)
    assert [k.sims for k in keys.values()] == [
        ("+420601000001",),
        ("+420601000002", "+420601000003"),
    ]
    for key in keys.values():
        answer = device(url, key, "heartbeat")
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Test-Double"] == "odoo"
    creates = [
        c for c in double.calls if (c.model, c.model_method) == ("sms.gateway.phone", "create")
    ]
    assert len(creates) == 2
    # the module makes no key on create: the control asks for one (the double reads false)
    generated = [c.args for c in double.calls if c.model_method == "action_generate_api_key"]
    assert generated == [[[keys["p1"].server_id]], [[keys["p2"].server_id]]]
    again = OdooControl(url, DB, USER, PASSWORD).register(phones, at=0)
    assert again == keys  # found by name: the same ids and keys, nothing created
    assert len([c for c in double.calls if c.model_method == "create"]) == 2


def test_2500_sms_are_enqueued_in_chunks_sent_by_a_phone_and_read_back(odoo, control):
    double, url = odoo
    keys = control.register([phone("p1", "+420601000001", daily_limit=10_000)], at=0)
    key = keys["p1"]
    assert device(url, key, "heartbeat").status_code == 200  # online: auto-assignable
    messages = [
        {"number": f"+420777{i:06d}", "body": f"Hello {i}", "delivery": "at_most_once"}
        for i in range(2500)
    ]
    enqueued = control.enqueue(messages, at=0)
    assert len(set(enqueued.ids)) == 2500 and None not in enqueued.ids
    assert enqueued.states == {"pending": 2500}
    sms_calls = [c for c in double.calls if c.model == "sms.sms"]
    creates = [c for c in sms_calls if c.model_method == "create"]
    assert [len(c.args[0]) for c in creates] == [1000, 1000, 500]
    assert all(v["sms_provider"] == "gateway" for c in creates for v in c.args[0])
    sent_ids = [i for c in sms_calls if c.model_method == "send" for i in c.args[0]]
    assert sent_ids == enqueued.ids
    assert control.pending(at=0) == 2500

    confirmed: list[int] = []
    deadline = time.monotonic() + 120
    while len(confirmed) < 2500 and time.monotonic() < deadline:
        handed = device(url, key, "pending", {"limit": 100}).json()["sms_list"]
        results = [{"id": s["id"], "status": "sent"} for s in handed]
        if results:
            answer = device(url, key, "confirm-batch", {"results": results})
            assert answer.status_code == 200, answer.text
            confirmed += [r["id"] for r in results]
    assert sorted(confirmed) == sorted(enqueued.ids)

    assert control.pending(at=0) == 0
    state = control.final_state(keys, at=0)
    assert set(state) == set(STATE_PARTS) - {"campaigns"}
    rows = state["sms"]
    assert [r["id"] for r in rows] == sorted(enqueued.ids)
    assert {r["state"] for r in rows} == {"sent"}
    assert {r["gateway_phone_id"] for r in rows} == {key.server_id}
    assert rows[7]["number"] == "+420777000007" and rows[7]["body"] == "Hello 7"
    assert {r["segments"] for r in rows} == {1} and rows[0]["failure_type"] is None
    assert "issue_count" not in rows[0] and "delivery" not in rows[0]
    [p1] = state["phones"]
    assert (p1["id"], p1["name"], p1["sent_total"]) == (key.server_id, "p1", 2500)
    assert p1["state"] == "online" and p1["last_heartbeat"].endswith("Z")
    reads = [c for c in double.calls if (c.model, c.model_method) == ("sms.sms", "search_read")]
    assert [len(c.args[0][0][2]) for c in reads] == [1000, 1000, 500]  # read back in batches


def test_a_sim_number_pins_the_sms_to_that_sim_and_its_phone(odoo, control):
    _, url = odoo
    keys = control.register([phone("dual", "+420601000002", "+420601000003")], at=0)
    enqueued = control.enqueue(
        [{"number": "+420777000001", "body": "via SIM 2", "sim_number": "+420601000003"}], at=0
    )
    handed = device(url, keys["dual"], "pending").json()["sms_list"]
    assert [(s["id"], s["gateway_phone_number"]) for s in handed] == [
        (enqueued.ids[0], "+420601000003")
    ]
    [row] = control.final_state(keys, at=0)["sms"]
    assert (row["gateway_phone_id"], row["gateway_sim_number"]) == (
        keys["dual"].server_id,
        "+420601000003",
    )


def test_inbound_and_the_blacklist_are_read_back(odoo, control):
    _, url = odoo
    keys = control.register([phone("p1", "+420601000001")], at=0)
    answer = device(
        url, keys["p1"], "inbound", {"from_number": "+420777123456", "message": "STOP please"}
    )
    assert answer.status_code == 200, answer.text
    state = control.final_state(keys, at=0)
    [row] = state["inbound"]
    assert (row["phone"], row["from_number"], row["message"]) == (
        "p1",
        "+420777123456",
        "STOP please",
    )
    assert row["is_stop"] and row["received_at"].endswith("Z")
    assert [b["number"] for b in state["blacklist"]] == ["+420777123456"]


def test_campaigns_are_not_supported(control):
    assert control.campaign("spring", "at_most_once", at=0) is None
    with pytest.raises(AdminError, match="no campaigns"):
        control.enqueue([{"number": "+420777000001", "body": "x", "campaign_id": 3}], at=0)


def test_a_reassignment_is_refused_before_any_call(odoo, control):
    double, _ = odoo
    assert control.actions == frozenset()
    with pytest.raises(Unsupported, match="cannot re-assign a campaign") as info:
        control.reassign(3, phone_id=None, sims="split", at=0)
    assert isinstance(info.value, AdminError)
    assert "--admin-token" in str(info.value)
    assert double.calls == []


@pytest.mark.parametrize(
    ("model", "method", "name", "text"),
    [
        ("no.such.model", "search_read", "odoo.exceptions.UserError", "no.such.model"),
        ("sms.sms", "unlink_all", "builtins.AttributeError", "unlink_all"),
        ("sms.sms", "_send", "odoo.exceptions.AccessError", "Private methods"),
    ],
)
def test_jsonrpc_errors_are_one_line_admin_errors(control, model, method, name, text):
    with pytest.raises(OdooRpcError) as caught:
        control.execute(model, method, [])
    message = str(caught.value)
    assert caught.value.name == name and text in message and name in message
    assert "\n" not in message and "Traceback" not in message and PASSWORD not in message


def test_a_multi_line_odoo_message_is_cut_to_its_first_line(control):
    with pytest.raises(OdooRpcError) as caught:
        control.execute("sms.sms", "read", [999_999], ["state"])
    assert caught.value.name == "odoo.exceptions.MissingError"
    assert str(caught.value).endswith("Record does not exist or has been deleted.")


def test_an_invalid_field_is_odoos_value_error(control):
    with pytest.raises(AdminError, match=r"builtins.ValueError: Invalid field 'colour'"):
        control.execute("sms.sms", "search_read", [], ["colour"])
