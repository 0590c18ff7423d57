"""Assignment of enqueued SMS to phones (the reference's ``_send``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import Api


def _phone_of(api, sms_id):
    return api.sms(sms_id)["gateway_phone_id"]


def test_only_online_phones_get_sms(api):
    offline = api.phone(online=False)
    online = api.phone()
    ids = api.enqueue(*({"number": f"+42060800000{i}", "body": "Ahoj"} for i in range(4)))["ids"]
    assert {_phone_of(api, i) for i in ids} == {online["id"]}
    assert offline["id"] != online["id"]


def test_no_phone_online_is_an_error_said_clearly(api):
    api.phone(online=False)
    result = api.enqueue({"number": "+420608000001", "body": "Ahoj"})
    stored = api.sms(result["ids"][0])
    assert (stored["state"], stored["failure_type"]) == ("error", "sms_server")
    assert "No gateway phone is online" in stored["error_message"]
    assert result["failures"] == {"sms_server": 1}


def test_least_loaded_phone_wins(api):
    first = api.phone()
    second = api.phone()
    ids = api.enqueue(*({"number": f"+42060800000{i}", "body": "Ahoj"} for i in range(6)))["ids"]
    owners = [_phone_of(api, i) for i in ids]
    assert owners.count(first["id"]) == owners.count(second["id"]) == 3
    # A phone with a backlog gets the new SMS only once the other has caught up.
    api.enqueue(
        *({"number": f"+42060800001{i}", "body": "Ahoj", "phone_id": first["id"]} for i in range(4))
    )
    more = api.enqueue(*({"number": f"+42060800002{i}", "body": "Ahoj"} for i in range(4)))["ids"]
    assert [_phone_of(api, i) for i in more] == [second["id"]] * 4


def test_forced_phone_is_used_even_offline(api):
    api.phone()
    forced = api.phone(online=False)
    (sms_id,) = api.enqueue({"number": "+420608000001", "body": "Ahoj", "phone_id": forced["id"]})[
        "ids"
    ]
    assert _phone_of(api, sms_id) == forced["id"]
    picked = api.device(forced["api_key"], "pending", {"limit": 5})["sms_list"]
    assert [s["id"] for s in picked] == [sms_id]


def test_campaign_forces_its_phone(api):
    api.phone()
    forced = api.phone()
    campaign = api.admin(
        "POST", "/campaigns", 201, json={"name": "Akce", "forced_phone_id": forced["id"]}
    ).json()
    ids = api.enqueue(
        *(
            {"number": f"+42060800000{i}", "body": "Ahoj", "campaign_id": campaign["id"]}
            for i in range(3)
        )
    )["ids"]
    assert {_phone_of(api, i) for i in ids} == {forced["id"]}


def test_sim_number_is_kept_and_implies_its_phone(api):
    api.phone()
    dual = api.phone(phone_number_2="+420608987654")
    (sms_id,) = api.enqueue(
        {"number": "+420777999000", "body": "Ahoj", "sim_number": "608 987 654"}
    )["ids"]
    stored = api.sms(sms_id)
    assert stored["gateway_phone_id"] == dual["id"]
    assert stored["gateway_sim_number"] == "+420608987654"
    counts = api.device(dual["api_key"], "heartbeat", {})["pending_count"]
    assert counts == {dual["phone_number"]: 0, "+420608987654": 1}


def test_sim_number_of_another_phone_is_refused(api):
    first = api.phone()
    api.phone(phone_number_2="+420608987654")
    result = api.enqueue(
        {
            "number": "+420777999000",
            "body": "Ahoj",
            "phone_id": first["id"],
            "sim_number": "+420608987654",
        }
    )
    assert result["ids"] == [None]
    assert "is not a SIM of gateway phone" in result["errors"][0]["error"]


def test_limits_are_in_segments_and_overflow_goes_elsewhere(api):
    small = api.phone(daily_limit=3)
    big = api.phone(daily_limit=100)
    # Load the big phone so the small one is preferred while it has room.
    api.enqueue(
        *({"number": f"+42060800009{i}", "body": "x", "phone_id": big["id"]} for i in range(5))
    )
    two_part = "x" * 161
    ids = api.enqueue(*({"number": f"+42060800000{i}", "body": two_part} for i in range(3)))["ids"]
    owners = [_phone_of(api, i) for i in ids]
    # The small phone takes one two-segment SMS (2 of 3), then has no room for another.
    assert owners.count(small["id"]) == 1
    assert owners.count(big["id"]) == 2


def test_each_assigned_sms_is_subtracted_once(api):
    """B2: the reference subtracts SMS assigned in the same call twice."""
    api.phone(daily_limit=10)
    result = api.enqueue(*({"number": f"+42060800000{i}", "body": "Ahoj"} for i in range(10)))
    assert result["queued"] == 10 and result["failures"] == {}


def test_reference_defect_b2_assigns_only_half(make_app):
    with TestClient(make_app(defects=frozenset({"B2"}))) as client:
        api = Api(client)
        api.phone(daily_limit=10)
        result = api.enqueue(*({"number": f"+42060800000{i}", "body": "Ahoj"} for i in range(10)))
    assert result["queued"] == 5 and result["failures"] == {"sms_server": 5}


def test_monthly_limit_applies_too(api):
    api.phone(daily_limit=0, monthly_limit=2)
    result = api.enqueue(*({"number": f"+42060800000{i}", "body": "Ahoj"} for i in range(3)))
    assert result["queued"] == 2 and result["failures"] == {"sms_server": 1}
    last = api.sms(result["ids"][2])
    assert "daily or monthly limit" in last["error_message"]


def test_partner_domain_filter_routes_recipients(api):
    partners = api.admin(
        "POST",
        "/partners",
        201,
        json={
            "partners": [
                {
                    "name": "VIP Novak",
                    "mobile": "+420601000001",
                    "categories": ["VIP"],
                    "country_code": "CZ",
                    "region": "Praha",
                },
                {
                    "name": "Svoboda",
                    "mobile": "+420601000002",
                    "country_code": "CZ",
                    "region": "Brno",
                },
                {"name": "Kovac", "mobile": "+421901000003", "country_code": "SK"},
            ]
        },
    ).json()["ids"]
    vip = api.phone(domain_filter='[("category_id.name", "=", "VIP")]')
    prague = api.phone(domain_filter='[("state_id.name", "=", "Praha")]')
    czech = api.phone(
        domain_filter=f'[("country_id.code", "=", "CZ"), ("id", "!=", {partners[0]})]'
    )
    result = api.enqueue(
        {"number": "+420601000001", "body": "a"},
        {"number": "+420601000002", "body": "b"},
        {"number": "+421901000003", "body": "c"},
        {"number": "+420601999999", "body": "d"},  # no partner: filtered phones refuse it
        {"number": "+420777000000", "body": "e", "partner_id": partners[1]},
    )
    owners = [_phone_of(api, i) for i in result["ids"]]
    assert owners[0] in (vip["id"], prague["id"])
    assert owners[1] == czech["id"]
    assert owners[2] is None and owners[3] is None
    assert owners[4] == czech["id"]
    refused = api.sms(result["ids"][2])
    assert "partner filter" in refused["error_message"]


def test_blacklisted_number_is_cancelled_at_enqueue(api):
    api.phone()
    api.admin("POST", "/blacklist", 201, json={"numbers": ["+420608000001"]})
    result = api.enqueue({"number": "608 000 001", "body": "Ahoj"})
    stored = api.sms(result["ids"][0])
    assert (stored["state"], stored["failure_type"]) == ("canceled", "sms_blacklist")


def test_unknown_references_are_refused_per_item(api):
    api.phone()
    result = api.enqueue(
        {"number": "+420608000001", "body": "ok"},
        {"number": "+420608000002", "body": "x", "partner_id": 999},
        {"number": "+420608000003", "body": "x", "campaign_id": 999},
        {"number": "+420608000004", "body": "x", "phone_id": 999},
    )
    assert result["ids"][0] is not None and result["ids"][1:] == [None, None, None]
    assert [e["index"] for e in result["errors"]] == [1, 2, 3]
    assert "partner_id 999" in result["errors"][0]["error"]
    assert "campaign_id 999" in result["errors"][1]["error"]
    assert "phone 999" in result["errors"][2]["error"]
