"""POST /admin/campaigns/{id}/reassign: an operator puts a campaign's queued SMS on another
phone or SIM, or spreads them over the online fleet (the reference's assign-sim and campaign
wizard), and never moves an SMS a phone has in hand. SQLite, then PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.conftest import Api


def _campaign(api: Api, **fields: Any) -> dict[str, Any]:
    result: dict[str, Any] = api.admin(
        "POST", "/campaigns", 201, json={"name": "sale", **fields}
    ).json()
    return result


def _queue(api: Api, campaign: dict[str, Any], count: int, **extra: Any) -> list[int]:
    messages = [
        {"number": f"+42060100{i:04d}", "body": f"Sale {i}", "campaign_id": campaign["id"], **extra}
        for i in range(count)
    ]
    ids: list[int] = api.enqueue(*messages)["ids"]
    return ids


def _reassign(api: Api, campaign: dict[str, Any], expect: int = 200, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = api.admin(
        "POST", f"/campaigns/{campaign['id']}/reassign", expect, json=body
    ).json()
    return result


def _take(api: Api, phone: dict[str, Any], limit: int = 100) -> list[int]:
    handed = api.device(phone["api_key"], "pending", {"limit": limit})["sms_list"]
    return [int(s["id"]) for s in handed]


def test_queued_sms_move_to_the_named_phone_and_those_in_hand_stay(api):
    first, second = api.phone(), api.phone()
    sale = _campaign(api, forced_phone_id=first["id"])
    ids = _queue(api, sale, 6)
    sent, held = _take(api, first, limit=2)
    api.device(first["api_key"], "confirm-batch", {"results": [{"id": sent, "status": "sent"}]})

    answer = _reassign(api, sale, phone_id=second["id"])

    assert answer == {
        "success": True,
        "campaign_id": sale["id"],
        "reassigned": 4,
        "by_phone": {str(second["id"]): 4},
        "in_flight": 1,
        "kept": 0,
    }
    assert [api.sms(i)["gateway_phone_id"] for i in ids] == [first["id"]] * 2 + [second["id"]] * 4
    assert api.sms(held)["gateway_state"] == "processing"
    assert _take(api, second) == ids[2:]
    assert _take(api, first) == []  # nothing of the campaign is handed out twice
    # the first phone's report of the SMS it kept is still its own
    out = api.device(
        first["api_key"], "confirm-batch", {"results": [{"id": held, "status": "sent"}]}
    )
    assert out["ack_ids"] == [held] and out["errors"] == []
    assert (
        api.admin("GET", f"/campaigns/{sale['id']}", 200).json()["forced_phone_id"] == first["id"]
    )


def test_a_spread_alternates_over_the_sims_of_every_online_phone(api):
    dual = api.phone(phone_number_2="+420777999002")
    single = api.phone()
    api.phone(online=False)  # never heard from: not in the spread
    archived = api.phone()
    api.admin("PATCH", f"/phones/{archived['id']}", 200, json={"active": False})
    sale = _campaign(api, forced_phone_id=single["id"])
    ids = _queue(api, sale, 7)

    answer = _reassign(api, sale, sim="split")

    assert answer["reassigned"] == 7 and answer["kept"] == 0
    assert answer["by_phone"] == {str(dual["id"]): 5, str(single["id"]): 2}
    rows = [api.sms(i) for i in ids]
    slots = [(r["gateway_phone_id"], r["gateway_sim_number"]) for r in rows]
    turn = [
        (dual["id"], dual["phone_number"]),
        (dual["id"], "+420777999002"),
        (single["id"], single["phone_number"]),
    ]
    assert slots == [turn[i % 3] for i in range(7)]
    # auto: one slot per phone, the SIM left to it
    again = _reassign(api, sale)
    assert again["by_phone"] == {str(dual["id"]): 4, str(single["id"]): 3}
    assert {api.sms(i)["gateway_sim_number"] for i in ids} == {None}
    assert sorted(_take(api, dual) + _take(api, single)) == ids


def test_one_sim_of_the_named_phone_or_of_the_phone_that_has_it(api):
    phone = api.phone(phone_number_2="+420777999002")
    other = api.phone()
    sale = _campaign(api)
    ids = _queue(api, sale, 3)
    answer = _reassign(api, sale, phone_id=phone["id"], sim="00420 777 999 002")
    assert answer["reassigned"] == 3 and answer["by_phone"] == {str(phone["id"]): 3}
    assert {api.sms(i)["gateway_sim_number"] for i in ids} == {"+420777999002"}
    handed = api.device(phone["api_key"], "pending", {"limit": 10})["sms_list"]
    assert {s["gateway_phone_number"] for s in handed} == {"+420777999002"}
    # without phone_id, the SIM names its phone (the app's assign-sim, single)
    more = _queue(api, sale, 2)
    assert _reassign(api, sale, sim=other["phone_number"])["by_phone"] == {str(other["id"]): 2}
    assert {(api.sms(i)["gateway_phone_id"], api.sms(i)["gateway_sim_number"]) for i in more} == {
        (other["id"], other["phone_number"])
    }


def test_a_spread_honours_the_partner_filters(api):
    anyone = api.phone()
    brno = api.phone(domain_filter='[("category_id.name", "in", ["Brno"])]')
    people = [
        {
            "name": f"P{i}",
            "mobile": f"+42060200{i:04d}",
            "categories": ["Brno" if i >= 2 else "Praha"],
        }
        for i in range(4)
    ]
    partner_ids = api.admin("POST", "/partners", 201, json={"partners": people}).json()["ids"]
    sale = _campaign(api, forced_phone_id=anyone["id"])
    ids = api.enqueue(
        *(
            {"number": p["mobile"], "body": "Hi", "campaign_id": sale["id"], "partner_id": pid}
            for p, pid in zip(people, partner_ids, strict=True)
        ),
        {"number": "+420603000000", "body": "Hi", "campaign_id": sale["id"]},  # no partner
    )["ids"]

    answer = _reassign(api, sale)

    # in turn, but Praha's partners and the bare number only on the phone without a filter
    on = [api.sms(i)["gateway_phone_id"] for i in ids]
    assert on == [anyone["id"], anyone["id"], brno["id"], anyone["id"], anyone["id"]]
    assert answer["reassigned"] == 5 and answer["kept"] == 0
    # a named phone is forced: its filter does not apply
    forced = _reassign(api, sale, phone_id=brno["id"])
    assert forced["reassigned"] == 5
    assert {api.sms(i)["gateway_phone_id"] for i in ids} == {brno["id"]}


def test_an_sms_queued_again_by_the_stuck_reset_stays_with_its_phone(api, clock):
    first, second = api.phone(), api.phone()
    sale = _campaign(api, forced_phone_id=first["id"], delivery="at_least_once")
    ids = _queue(api, sale, 3)
    (taken,) = _take(api, first, limit=1)
    clock.advance(timedelta(minutes=31))
    api.device(first["api_key"], "heartbeat", {})
    api.device(second["api_key"], "heartbeat", {})
    api.admin("POST", "/jobs/stuck_reset/run", 200)
    assert api.sms(taken)["gateway_state"] == "pending"

    answer = _reassign(api, sale, phone_id=second["id"])

    assert answer["reassigned"] == 2 and answer["kept"] == 1 and answer["in_flight"] == 0
    assert api.sms(taken)["gateway_phone_id"] == first["id"]
    assert _take(api, second) == ids[1:]
    assert _take(api, first) == [taken]


def test_final_sms_never_move_and_a_paused_campaign_stays_paused(api):
    first, second = api.phone(), api.phone()
    sale = _campaign(api, forced_phone_id=first["id"])
    ids = _queue(api, sale, 3)
    api.admin("POST", "/blacklist", 201, json={"numbers": ["+420601000002"]})  # cancels ids[2]
    (sent,) = _take(api, first, limit=1)
    api.device(first["api_key"], "confirm-batch", {"results": [{"id": sent, "status": "sent"}]})
    api.admin("PATCH", f"/campaigns/{sale['id']}", 200, json={"paused": True})

    answer = _reassign(api, sale, phone_id=second["id"])

    assert answer["reassigned"] == 1 and answer["in_flight"] == 0
    assert api.sms(ids[0])["state"] == "sent" and api.sms(ids[0])["gateway_phone_id"] == first["id"]
    assert api.sms(ids[2])["state"] == "canceled"
    assert api.admin("GET", f"/campaigns/{sale['id']}", 200).json()["paused"] is True
    assert _take(api, second) == []  # paused: waits on its new phone
    api.admin("PATCH", f"/campaigns/{sale['id']}", 200, json={"paused": False})
    assert _take(api, second) == [ids[1]]
    nothing = _reassign(api, sale, phone_id=first["id"])
    assert nothing["reassigned"] == 0 and nothing["by_phone"] == {} and nothing["in_flight"] == 1


def test_bad_requests_are_refused_saying_why(api):
    phone = api.phone()
    archived = api.phone()
    api.admin("PATCH", f"/phones/{archived['id']}", 200, json={"active": False})
    sale = _campaign(api, forced_phone_id=phone["id"])
    _queue(api, sale, 2)
    cases = [
        ("/campaigns/424247/reassign", {}, 404, "Campaign 424247 does not exist"),
        (f"/campaigns/{sale['id']}/reassign", {"phone_id": 424248}, 404, "424248"),
        (f"/campaigns/{sale['id']}/reassign", {"phone_id": archived["id"]}, 409, "archived"),
        (
            f"/campaigns/{sale['id']}/reassign",
            {"phone_id": phone["id"], "sim": "+420777111999"},
            404,
            f"Gateway phone {phone['id']} has no SIM +420777111999",
        ),
        (
            f"/campaigns/{sale['id']}/reassign",
            {"sim": "+420777111999"},
            404,
            "No active gateway phone has the SIM +420777111999",
        ),
        (f"/campaigns/{sale['id']}/reassign", {"sim": "both"}, 422, "is not a phone number"),
        (f"/campaigns/{sale['id']}/reassign", {"sim": "x"}, 422, "sim"),
        (f"/campaigns/{sale['id']}/reassign", {"phone": phone["id"]}, 422, "phone"),
        (f"/campaigns/{sale['id']}/reassign", {"phone_id": 2**31}, 422, "phone_id"),
        ("/campaigns/0/reassign", {}, 422, "campaign_id"),
    ]
    for path, body, status, text in cases:
        response = api.admin("POST", path, json=body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["success"] is False
        assert text in response.text, (body, response.text)


def test_a_spread_with_no_phone_online_is_a_conflict(api, clock):
    phone = api.phone()
    sale = _campaign(api, forced_phone_id=phone["id"])
    ids = _queue(api, sale, 2)
    clock.advance(timedelta(minutes=10))  # past its heartbeat_timeout of 5 minutes
    response = api.admin("POST", f"/campaigns/{sale['id']}/reassign", 409, json={})
    assert "No gateway phone is online" in response.json()["error"]
    # a named phone is forced: online or not
    assert _reassign(api, sale, phone_id=phone["id"])["reassigned"] == 2
    assert {api.sms(i)["gateway_phone_id"] for i in ids} == {phone["id"]}
