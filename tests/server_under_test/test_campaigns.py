"""Campaign completion: a campaign is ``sending`` until every SMS of it is final, then
``done`` at the time its last SMS ended, whichever path ended that SMS."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from server_under_test.services import campaigns, dispatch
from server_under_test.storage.database import Database
from server_under_test.storage.tables import campaign as campaign_table
from server_under_test.storage.tables import gateway_phone
from tests.conftest import Api
from tests.support.locks import wait_for_a_lock_wait

A, B, C = "+420601000001", "+420601000002", "+420601000003"


def _iso(clock) -> str:
    return clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")


def _campaign(api: Api, **fields) -> int:
    made = api.admin("POST", "/campaigns", 201, json={"name": "Jaro", **fields}).json()
    assert (made["state"], made["completed_at"]) == ("sending", None)
    return int(made["id"])


def _state(api: Api, campaign_id: int) -> tuple[str, str | None]:
    shown = api.admin("GET", f"/campaigns/{campaign_id}", 200).json()
    return shown["state"], shown["completed_at"]


def _queue(api: Api, campaign_id: int, *numbers: str) -> list[int]:
    messages = [{"number": n, "body": "Ahoj", "campaign_id": campaign_id} for n in numbers]
    ids: list[int] = api.enqueue(*messages)["ids"]
    return ids


def _pickup(api: Api, key: str, limit: int = 20) -> list[int]:
    return [s["id"] for s in api.device(key, "pending", {"limit": limit})["sms_list"]]


def _confirm(api: Api, key: str, statuses: dict[int, str]) -> None:
    results = [{"id": i, "status": s} for i, s in statuses.items()]
    api.device(key, "confirm-batch", {"results": results})


def test_the_confirm_of_the_last_sms_completes_the_campaign(api, clock):
    phone = api.phone()
    key = phone["api_key"]
    campaign = _campaign(api)
    first, second = _queue(api, campaign, A, B)
    assert _pickup(api, key) == [first, second]
    _confirm(api, key, {first: "sent"})
    assert _state(api, campaign) == ("sending", None)
    clock.advance(timedelta(minutes=3))
    _confirm(api, key, {second: "error"})
    assert _state(api, campaign) == ("done", _iso(clock))
    # a repeated report changes nothing, not even the completion time
    clock.advance(timedelta(minutes=1))
    _confirm(api, key, {second: "error"})
    assert _state(api, campaign) == ("done", "2026-03-02T08:03:00Z")
    shown = api.admin("GET", f"/campaigns/{campaign}", 200).json()
    assert shown["sms_states"] == {"sent": 1, "error": 1}


def test_a_campaign_whose_sms_all_fail_at_enqueue_is_done_at_once(api, clock):
    campaign = _campaign(api)  # no phone is online: nothing can take its SMS
    ids = _queue(api, campaign, A, "not a number")
    assert [api.sms(i)["state"] for i in ids] == ["error", "error"]
    assert _state(api, campaign) == ("done", _iso(clock))


def test_a_stop_that_cancels_the_last_queued_sms_completes_the_campaign(api, clock):
    phone = api.phone()
    key = phone["api_key"]
    campaign = _campaign(api)
    first, second = _queue(api, campaign, A, B)
    assert _pickup(api, key, limit=1) == [first]
    _confirm(api, key, {first: "sent"})
    assert _state(api, campaign) == ("sending", None)
    clock.advance(timedelta(minutes=2))
    api.device(key, "inbound", {"from_number": B, "message": "STOP"})
    assert api.sms(second)["state"] == "canceled"
    assert _state(api, campaign) == ("done", _iso(clock))


def test_the_cancel_at_pickup_of_the_last_sms_completes_the_campaign(api, clock):
    phone = api.phone()
    key = phone["api_key"]
    campaign = _campaign(api, delivery="at_least_once")
    first, second = _queue(api, campaign, A, B)
    assert _pickup(api, key) == [first, second]
    _confirm(api, key, {first: "sent"})
    # B's STOP arrives while its SMS is in the phone's hands: the STOP cannot cancel it,
    # the stuck reset queues it again, and the next pickup cancels it.
    api.device(key, "inbound", {"from_number": B, "message": "STOP"})
    assert api.sms(second)["gateway_state"] == "processing"
    clock.advance(timedelta(minutes=31))
    api.admin("POST", "/jobs/stuck_reset/run", 200)
    assert (api.sms(second)["state"], _state(api, campaign)) == ("pending", ("sending", None))
    assert _pickup(api, key) == []
    assert api.sms(second)["failure_type"] == "sms_blacklist"
    assert _state(api, campaign) == ("done", _iso(clock))


def test_the_stuck_reset_ending_the_last_sms_completes_the_campaign(api, clock):
    phone = api.phone()
    key = phone["api_key"]
    campaign = _campaign(api)  # at_most_once: an unconfirmed SMS ends as an error
    first, second = _queue(api, campaign, A, B)
    assert _pickup(api, key) == [first, second]
    _confirm(api, key, {first: "sent"})
    clock.advance(timedelta(minutes=31))
    api.admin("POST", "/jobs/stuck_reset/run", 200)
    assert api.sms(second)["failure_type"] == "sms_unconfirmed"
    assert _state(api, campaign) == ("done", _iso(clock))


def test_a_done_campaign_given_new_sms_is_sending_again_until_they_end(api, clock):
    phone = api.phone()
    key = phone["api_key"]
    campaign = _campaign(api)
    (first,) = _queue(api, campaign, A)
    _pickup(api, key)
    _confirm(api, key, {first: "sent"})
    assert _state(api, campaign)[0] == "done"
    (later,) = _queue(api, campaign, C)
    assert _state(api, campaign) == ("sending", None)
    clock.advance(timedelta(minutes=5))
    assert _pickup(api, key) == [later]
    _confirm(api, key, {later: "sent"})
    assert _state(api, campaign) == ("done", _iso(clock))


def test_a_paused_campaign_whose_sms_all_ended_is_done(api, clock):
    phone = api.phone()
    key = phone["api_key"]
    campaign = _campaign(api)
    (first,) = _queue(api, campaign, A)
    _pickup(api, key)
    api.admin("PATCH", f"/campaigns/{campaign}", 200, json={"paused": True})
    _confirm(api, key, {first: "sent"})
    shown = api.admin("GET", f"/campaigns/{campaign}", 200).json()
    assert (shown["state"], shown["paused"]) == ("done", True)


def test_campaigns_are_listed_by_id_and_filtered_by_state(api):
    api.phone()
    empty = _campaign(api)  # no SMS yet: still sending
    failed = _campaign(api)
    _queue(api, failed, "not a number")
    queued = _campaign(api)
    _queue(api, queued, A, B)
    page = api.admin("GET", "/campaigns", 200).json()
    assert [c["id"] for c in page["campaigns"]] == [empty, failed, queued]
    assert [c["state"] for c in page["campaigns"]] == ["sending", "done", "sending"]
    assert page["campaigns"][2]["sms_states"] == {"pending": 2}
    assert (page["total"], page["limit"], page["offset"]) == (3, 100, 0)
    done = api.admin("GET", "/campaigns", 200, params={"state": "done"}).json()
    assert [c["id"] for c in done["campaigns"]] == [failed] and done["total"] == 1
    second = api.admin("GET", "/campaigns", 200, params={"limit": 1, "offset": 1}).json()
    assert [c["id"] for c in second["campaigns"]] == [failed] and second["total"] == 3
    api.admin("GET", "/campaigns", 422, params={"state": "paused"})


@pytest.mark.pg
def test_two_transactions_ending_the_last_two_sms_at_once_complete_the_campaign(pg_stack):
    """Two phones confirm a campaign's last two SMS at once: each transaction sees the
    other's SMS still open; the campaign lock makes the later one wait for the earlier
    one's commit and then see its SMS final."""
    api, db = pg_stack.api, pg_stack.db
    ctx = pg_stack.app.state.gateway.ctx
    phones = [api.phone(), api.phone()]
    campaign = _campaign(api)
    ids = _queue(api, campaign, A, B)  # the least loaded phone takes each: one SMS apiece
    for phone, sms_id in zip(phones, ids, strict=True):
        assert _pickup(api, phone["api_key"]) == [sms_id]
    with db.engine.connect() as conn:
        rows = [
            conn.execute(select(gateway_phone).where(gateway_phone.c.id == p["id"])).one()
            for p in phones
        ]

    def confirm(conn, n: int) -> list[int]:
        dispatch.apply_reports(conn, ctx, rows[n], [dispatch.Report(ids[n], "sent")])
        return campaigns.complete(conn, ctx)

    done_later: list[list[int]] = []

    def later() -> None:
        with db.begin() as two:
            done_later.append(confirm(two, 1))

    with db.engine.connect() as one:
        first = one.begin()
        assert confirm(one, 0) == []  # holds the campaign's row lock; the other SMS is open
        worker = threading.Thread(target=later)
        worker.start()
        wait_for_a_lock_wait(
            db.engine, "the second transaction never waited for the campaign's lock"
        )
        first.commit()
        worker.join(timeout=30)
    assert done_later == [[campaign]]
    assert _state(api, campaign)[0] == "done"


def test_the_migration_completes_campaigns_whose_sms_had_all_ended(db_url):
    from alembic import command
    from alembic.config import Config

    from server_under_test.storage.database import MIGRATIONS

    database = Database(db_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    at = "'2026-03-01 08:00:00'"
    with database.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        for campaign_id in (1, 2, 3):
            conn.execute(
                text(
                    f"INSERT INTO campaign (id, name, created_at) VALUES ({campaign_id}, 'c', {at})"
                )
            )
        for sms_id, campaign_id, state, updated in (
            (1, 1, "sent", "2026-03-01 09:00:00"),
            (2, 1, "canceled", "2026-03-01 09:30:00"),
            (3, 2, "sent", "2026-03-01 09:00:00"),
            (4, 2, "pending", "2026-03-01 09:10:00"),
        ):
            conn.execute(
                text(
                    "INSERT INTO sms (id, uuid, number, body, campaign_id, state, segments, "
                    f"created_at, updated_at) VALUES ({sms_id}, 'u{sms_id}', '+420601000001', "
                    f"'x', {campaign_id}, '{state}', 1, {at}, '{updated}')"
                )
            )
    database.migrate()
    with database.engine.connect() as conn:
        rows = conn.execute(
            select(
                campaign_table.c.id, campaign_table.c.state, campaign_table.c.completed_at
            ).order_by(campaign_table.c.id)
        ).all()
    database.dispose()
    assert [(r.id, r.state, r.completed_at) for r in rows] == [
        (1, "done", datetime(2026, 3, 1, 9, 30)),
        (2, "sending", None),
        (3, "sending", None),  # no SMS yet
    ]
