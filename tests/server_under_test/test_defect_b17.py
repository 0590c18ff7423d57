"""B17: the reference counts an SMS as sent once it is assigned ("sent" is a queued trace),
and stock Odoo marks a mailing done once none of its traces is in ``process``
(reference-system.md §2.13). Switched on, a campaign is done as soon as none of its SMS
waits to be handed out, while its SMS are still on the phones; switched off, only when
every SMS of it is final."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Api

OFF = frozenset[str]()


@pytest.mark.parametrize("defects", [OFF, frozenset({"B17"})])
def test_a_campaign_handed_out_whole_is_done_only_under_b17(make_app, defects):
    with TestClient(make_app(defects=defects)) as client:
        api = Api(client)
        key = api.phone()["api_key"]
        made = api.admin("POST", "/campaigns", 201, json={"name": "Jaro"}).json()
        numbers = ("+420601000001", "+420601000002")
        ids = api.enqueue(
            *({"number": n, "body": "Ahoj", "campaign_id": made["id"]} for n in numbers)
        )["ids"]
        handed = api.device(key, "pending", {"limit": 20})["sms_list"]
        assert [s["id"] for s in handed] == ids
        in_flight = api.admin("GET", f"/campaigns/{made['id']}", 200).json()
        api.device(key, "confirm-batch", {"results": [{"id": i, "status": "sent"} for i in ids]})
        ended = api.admin("GET", f"/campaigns/{made['id']}", 200).json()
    assert ended["state"] == "done"
    if defects:
        assert in_flight["state"] == "done" and in_flight["completed_at"] is not None
        assert ended["completed_at"] == in_flight["completed_at"]  # done before they ended
    else:
        assert in_flight["state"] == "sending" and in_flight["completed_at"] is None
