"""B9: the reference pauses a queue-only campaign only after its SMS were assigned,
committed and their phones woken (gateway_api.py:1089-1095), so a poll in between is
handed them. Switched off, the campaign is paused in the transaction that stores its SMS."""

from __future__ import annotations

import random

import pytest
from fastapi.testclient import TestClient

from server_under_test import RecordingWaker, SeededIds, Settings, create_app
from server_under_test.services import dispatch, launch
from server_under_test.services.context import Context
from server_under_test.services.phones import get_phone
from server_under_test.services.queue import OutgoingSms
from tests.conftest import ADMIN_TOKEN, Api

OFF = frozenset[str]()
B9 = frozenset({"B9"})
COUNT = 25  # three commits of B9_CHUNK (10) under B9


def _items(count: int) -> list[OutgoingSms]:
    return [OutgoingSms(f"+42060800{i:04d}", "Jarní akce") for i in range(count)]


@pytest.mark.parametrize(("defects", "handed"), [(OFF, [0]), (B9, [10, 10, 5])])
def test_b9_a_poll_during_a_queue_only_launch_is_handed_its_sms(
    make_app, db, clock, defects, handed
):
    """A phone polls after every commit of the launch (in a transaction of its own, on
    another connection): under B9 each poll is handed the SMS committed so far, while the
    campaign is not paused yet; switched off the one commit stores them paused."""
    with TestClient(make_app()) as client:
        phone = Api(client).phone()
    ctx = Context(clock, Settings(defects=defects), SeededIds(random.Random(3)))
    polls: list[list[int]] = []
    woken: list[set[int]] = []

    def poll(campaign_id: int) -> None:
        with db.begin() as conn:
            row = get_phone(conn, phone["id"])
            polls.append([r.id for r in dispatch.pickup(conn, ctx, row, 100).sms])

    assert launch.B9_CHUNK == 10
    made = launch.launch(
        db.begin,
        ctx,
        launch.NewCampaign("Jaro", send_now=False),
        _items(COUNT),
        wake=woken.append,
        stored=poll,
    )
    assert [len(p) for p in polls] == handed
    assert sorted(i for p in polls for i in p) == (sorted(made.result.ids) if defects else [])
    # under B9 the phones were woken before the pause, as the reference's _send does
    assert woken == ([{phone["id"]}] if defects else [])
    with db.begin() as conn:  # either way the campaign ends paused: nothing more goes out
        row = get_phone(conn, phone["id"])
        assert dispatch.pickup(conn, ctx, row, 100).sms == []


@pytest.mark.parametrize("defects", [OFF, B9])
def test_b9_leaves_the_same_end_state_and_wakes_phones_for_nothing(db, clock, defects):
    """Seen from the admin API after the call, B9's launch looks right (paused, every SMS
    queued); only its early FCM push, for SMS the phone must not send, gives it away."""
    waker = RecordingWaker()
    app = create_app(
        Settings(database_url=db.url, admin_token=ADMIN_TOKEN, defects=defects),
        clock=clock,
        ids=SeededIds(random.Random(3)),
        database=db,
        waker=waker,
    )
    with TestClient(app) as client:
        api = Api(client)
        phone = api.phone()
        api.device(phone["api_key"], "register-fcm", {"fcm_token": "token-1"})
        messages = [{"number": f"+42060800{i:04d}", "body": "Akce"} for i in range(COUNT)]
        made = api.admin(
            "POST",
            "/campaigns/launch",
            201,
            json={"name": "Jaro", "send_now": False, "messages": messages},
        ).json()
        early = [r.phone_id for r in waker.records]
        got = api.device(phone["api_key"], "pending", {"limit": 100})["sms_list"]
        now = api.admin(
            "POST", "/campaigns/launch", 201, json={"name": "Ihned", "messages": messages[:1]}
        )
    assert made["campaign"]["paused"] is True
    assert made["campaign"]["sms_states"] == {"pending": COUNT} and made["queued"] == COUNT
    assert None not in made["ids"] and made["errors"] == []
    assert got == []
    assert now.json()["campaign"]["paused"] is False  # send_now: B9 changes nothing
    assert early == ([phone["id"]] if defects else [])
