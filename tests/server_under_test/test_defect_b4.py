"""B4: the reference's assign-sim and campaign wizard select a campaign's SMS by state alone
(gateway_api.py:1150-1156, sms_campaign_wizard.py:255-258), so SMS a phone is sending go back
to the queue. Switched off, a re-assignment moves only what no phone holds; switched on, the
SMS in hand are handed out again, and their first phone's reports are refused once they
belong to another phone."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api

OFF = frozenset[str]()


def _setup(api: Api) -> tuple[dict, dict, dict, list[int], list[int]]:
    first, second = api.phone(), api.phone()
    sale = api.admin(
        "POST", "/campaigns", 201, json={"name": "sale", "forced_phone_id": first["id"]}
    ).json()
    ids = api.enqueue(
        *(
            {"number": f"+42060100{i:04d}", "body": "Sale", "campaign_id": sale["id"]}
            for i in range(5)
        )
    )["ids"]
    handed = [s["id"] for s in api.device(first["api_key"], "pending", {"limit": 4})["sms_list"]]
    assert handed == ids[:4]
    # one sent (final), one being sent, two handed out; one still queued
    api.device(
        first["api_key"],
        "confirm-batch",
        {"results": [{"id": ids[0], "status": "sent"}, {"id": ids[1], "status": "sending"}]},
    )
    return first, second, sale, ids, handed


@pytest.mark.parametrize("defects", [OFF, frozenset({"B4"})])
def test_a_reassignment_to_another_phone_takes_the_sms_in_hand_only_under_b4(make_app, defects):
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        first, second, sale, ids, _ = _setup(api)
        answer = api.admin(
            "POST", f"/campaigns/{sale['id']}/reassign", 200, json={"phone_id": second["id"]}
        ).json()
        again = [
            s["id"] for s in api.device(second["api_key"], "pending", {"limit": 10})["sms_list"]
        ]
        # the first phone's radio sent what it held; it reports them
        report = api.device(
            first["api_key"],
            "confirm-batch",
            {"results": [{"id": i, "status": "sent"} for i in ids[1:4]]},
        )
        rows = {i: api.sms(i) for i in ids}
    assert answer["in_flight"] == 3
    assert rows[ids[0]]["state"] == "sent" and rows[ids[0]]["gateway_phone_id"] == first["id"]
    if not defects:
        assert answer["reassigned"] == 1 and answer["by_phone"] == {str(second["id"]): 1}
        assert again == [ids[4]]
        assert sorted(report["ack_ids"]) == ids[1:4] and report["errors"] == []
        assert all(rows[i]["issue_count"] == 1 for i in ids)
    else:
        # the SMS being sent and those handed out go back to the queue, on the other phone
        assert answer["reassigned"] == 4
        assert again == ids[1:]
        assert all(rows[i]["issue_count"] == 2 for i in ids[1:4])
        # the first phone's reports of SMS now the other phone's: "not found"
        assert report["ack_ids"] == []
        assert {e["index"] for e in report["errors"]} == {0, 1, 2}
        assert all("not" in e["error"].lower() for e in report["errors"])


@pytest.mark.parametrize("defects", [OFF, frozenset({"B4"})])
def test_assign_sim_on_the_same_phone_hands_its_sms_out_twice_only_under_b4(make_app, defects):
    """The app's flow (reference-system.md §6 B4): the phone polls, then assign-sim puts the
    campaign on the same phone's SIM; under B4 its next poll gets the same SMS again."""
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        first, _, sale, ids, handed = _setup(api)
        answer = api.admin(
            "POST",
            f"/campaigns/{sale['id']}/reassign",
            200,
            json={"sim": first["phone_number"]},
        ).json()
        again = [
            s["id"] for s in api.device(first["api_key"], "pending", {"limit": 10})["sms_list"]
        ]
        rows = {i: api.sms(i) for i in ids}
    if not defects:
        assert answer["reassigned"] == 1 and again == [ids[4]]
        assert rows[ids[1]]["gateway_state"] == "sending"
    else:
        assert answer["reassigned"] == 4 and again == ids[1:]
        assert [rows[i]["issue_count"] for i in handed] == [1, 2, 2, 2]
