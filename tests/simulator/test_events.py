"""The history's typed events: every kind round-trips, decode refuses what is not an event,
and a real run's history reads back event by event, byte for byte."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from simulator import (
    EVENT_TYPES,
    AppFinal,
    AppStart,
    CampaignState,
    CapVerdict,
    DozeState,
    EnqueuedBatch,
    Event,
    FaultApplied,
    HeartbeatAnswered,
    HistoryError,
    InboundAck,
    InboundReceived,
    InboxScan,
    Issued,
    JobRan,
    LostCallback,
    PersonaAct,
    PushOutcome,
    Reassigned,
    Reconciled,
    RequestFailed,
    RunConfig,
    StatusAcked,
    StopReply,
    TelephonyRetry,
    TrackerTimeout,
    Transmission,
    decode,
    load_history,
)
from simulator.config import (
    RESULT_OK,
    AndroidSpec,
    CarrierSpec,
    Fault,
    NetworkSpec,
    PhoneSpec,
    RecipientSpec,
    SimSpec,
    WorldSpec,
)
from simulator.world import World
from tests.support.scripted_gateway import START, ScriptedGateway

ROOT = Path(__file__).resolve().parents[2]

RADIO = Transmission(
    t=12.345678912,
    phone="p1",
    sim_slot=1,
    sim_number="+420600000002",
    recipient="+420777000001",
    sms_id=7,
    uuid=None,
    parts=2,
    parts_sent=1,
    cause="telephony_retry",
    submitted=10.1234567,
)

# One event of every kind, with its optional fields set and unset where it has any.
SAMPLES: list[Event] = [
    RunConfig(
        t=0.0,
        scenario="smoke",
        seed=1,
        start="2026-03-02T07:00:00Z",
        timezone="Europe/Prague",
        phones={"p1": {"server_id": 1, "sims": ["+420600000001"], "caps": []}},
        stuck_after=1800.0,
    ),
    EnqueuedBatch(t=0, batch=0, ids=[1, 2], refused=1, states={"queued": 2}),
    EnqueuedBatch(t=0, batch=1, ids=[3], refused=0, states={"pending": 1}, campaign="spring"),
    JobRan(t=3600.0, job="stuck_reset", affected=3),
    Reassigned(t=240.0, action=0, campaign="sale", phone=None, sims="split", moved=40, in_flight=7),
    CampaignState(t=60.25, campaign="spring", paused=True, asked=59.1234567, created=True),
    CampaignState(t=7200.0, campaign="spring", paused=False, asked=7200.0, created=False),
    AppStart(t=0, phone="p1", app="1.7.1"),
    AppFinal(t=600.0, phone="p1", unsynced=[3], statuses={"1": "sent", "3": "error"}),
    RequestFailed(t=1.5, phone="p1", endpoint="pending", outcome="request_lost", status=0),
    RequestFailed(t=1.5, phone="p1", endpoint="confirm-batch", outcome="reset", status=0),
    HeartbeatAnswered(t=5.2, phone="p1"),
    StatusAcked(t=9.0, phone="p1", sent=[1, 4], error=[3]),
    Issued(t=0.15, phone="p1", sms=[{"id": 1, "number": "+420777000001"}]),
    PersonaAct(t=61.5, phone="p1", act="foreign_confirm", status="sent", ids=[2, 3, 5]),
    PersonaAct(t=60.4, phone="p1", act="double_poll", status=None, ids=[]),
    Reconciled(t=20.0, phone="p1", known=4, settled=3, stuck=1),
    TrackerTimeout(t=90.0, phone="p1", sms_id=5, sent=1, total=2),
    RADIO,
    CapVerdict(t=30.0, phone="p1", sim_slot=0, sms_id=31, verdict="hold", parts=1),
    TelephonyRetry(t=4.0, phone="p1", sms_id=2, attempt=1, reached=True, part=1),
    LostCallback(t=3.0, phone="p1", sms_id=2),
    DozeState(t=120.5, phone="p1", state="light_idle"),
    FaultApplied(t=50.0, phone="p1", fault="process_death", in_flight=3),
    FaultApplied(t=50.0, phone="p1", fault="partition", until=110.0),
    FaultApplied(t=50.0, phone="p1", fault="unplug"),
    InboundReceived(
        t=200.0,
        phone="p1",
        sender="+420777000001",
        body="STOP",
        date="2026-03-02T07:03:20Z",
        sim_number="+420600000001",
    ),
    InboundAck(t=200.3, phone="p1", sender="+420777000001", body="STOP", stop=True),
    InboxScan(t=300.0, phone="p1", messages=2, oldest_age=100.25),
    PushOutcome(t=5.0, token="fcm-p1-1", outcome="unregistered"),
    PushOutcome(t=5.0, phone="p1", outcome="delivered"),
    StopReply(
        t=150.0, recipient="+420777000001", sim_number="+420600000001", sms_id=1, body="Stop."
    ),
]


def _line(row: dict[str, Any]) -> str:
    """A history line as the harness writes it (``harness.folder.write_history``)."""
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_registered_kind_round_trips_through_json(kind: str) -> None:
    samples = [event for event in SAMPLES if event.kind == kind]
    assert samples, f"add a sample {kind} event to SAMPLES"
    for event in samples:
        row = json.loads(_line(event.to_dict()))
        back = decode(row)
        assert type(back) is EVENT_TYPES[kind]
        assert back == event
        assert _line(back.to_dict()) == _line(event.to_dict())


def test_each_class_names_the_kind_it_is_registered_under() -> None:
    assert all(cls.kind == kind for kind, cls in EVENT_TYPES.items())
    assert len({cls.__name__ for cls in EVENT_TYPES.values()}) == len(EVENT_TYPES)


def test_a_line_is_time_kind_then_the_fields_in_their_order_to_the_microsecond() -> None:
    assert list(RADIO.to_dict()) == [
        "t",
        "kind",
        "phone",
        "sim_slot",
        "sim_number",
        "recipient",
        "sms_id",
        "uuid",
        "parts",
        "parts_sent",
        "cause",
        "submitted",
    ]
    assert (RADIO.t, RADIO.submitted) == (12.345679, 10.123457)
    assert RADIO.to_dict()["uuid"] is None  # a None field is written when it is not optional


def test_optional_fields_are_left_out_when_unset() -> None:
    assert _line(FaultApplied(t=1, phone="p1", fault="plug").to_dict()) == (
        '{"t":1,"kind":"fault","phone":"p1","fault":"plug"}'
    )
    assert _line(PushOutcome(t=2.5, token="x", outcome="unregistered").to_dict()) == (
        '{"t":2.5,"kind":"fcm","token":"x","outcome":"unregistered"}'
    )


def test_decode_refuses_an_unknown_kind_and_names_the_known_ones() -> None:
    with pytest.raises(HistoryError, match=r"Unknown event kind 'teleport'.*radio.*request"):
        decode({"t": 1.0, "kind": "teleport", "phone": "p1"})
    with pytest.raises(HistoryError, match="Unknown event kind None"):
        decode({"t": 1.0, "phone": "p1"})


def test_decode_refuses_a_missing_field_and_names_it() -> None:
    row = RADIO.to_dict()
    del row["sms_id"]
    with pytest.raises(HistoryError, match=r"radio event at t=12.345679 has no field 'sms_id'"):
        decode(row)
    row = RADIO.to_dict()
    del row["t"]
    with pytest.raises(HistoryError, match="has no time 't'"):
        decode(row)


def test_decode_refuses_an_unknown_field_and_an_impossible_value() -> None:
    with pytest.raises(HistoryError, match=r"unknown field 'battery'.*DozeState"):
        decode({"t": 1.0, "kind": "doze", "phone": "p1", "state": "active", "battery": 80})
    row = {**RADIO.to_dict(), "parts_sent": 3}
    with pytest.raises(HistoryError, match="between 0 and its 2 part"):
        decode(row)


def _busy_world() -> World:
    """One phone through most of what can happen: RIL retries, lost callbacks, a lossy
    network, Doze, faults, STOP replies."""
    carrier = CarrierSpec(
        results=((RESULT_OK, 0.85), (101, 0.15)), retry_reached=0.5, lost_callback=0.1
    )
    phone = PhoneSpec(
        name="p1",
        sims=(SimSpec("+420600000001", carrier),),
        android=AndroidSpec(charging=False, battery_exempt=False, doze_after=900.0),
        faults=(
            Fault(at=30.0, kind="process_death", duration=20.0, during="sending"),
            Fault(at=400.0, kind="partition", duration=60.0),
            Fault(at=500.0, kind="campaign_screen"),
        ),
    )
    spec = WorldSpec(
        phones=(phone,),
        network=NetworkSpec(request_loss=0.05, response_loss=0.05),
        recipients=RecipientSpec(stop_probability=0.3, stop_delay=60.0),
    )
    world = World(spec, ScriptedGateway(sms=60), {"p1": "key"}, seed=3, start=START)
    world.env.run(until=3 * 3600)
    world.finish()
    return world


def test_a_real_world_history_reads_back_event_by_event_byte_for_byte(tmp_path: Path) -> None:
    world = _busy_world()
    path = tmp_path / "history.jsonl"
    lines = [_line(row) for row in world.history.events]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    rows = load_history(path)
    assert rows == world.history.events
    assert [_line(decode(row).to_dict()) for row in rows] == lines
    kinds = {row["kind"] for row in rows}
    assert {
        "app_start",
        "issued",
        "radio",
        "telephony_retry",
        "lost_callback",
        "request",
        "fault",
        "doze",
        "stop_reply",
        "inbound_received",
        "inbound_ack",
        "app_final",
    } <= kinds


def test_the_ledger_holds_the_very_radio_events_of_the_history() -> None:
    world = _busy_world()
    radio = list(world.history.of_kind("radio"))
    assert radio and [entry.to_dict() for entry in world.ledger] == radio
    assert world.ledger.to_records() == radio


def test_a_hil_run_history_decodes_with_no_unknown_kind(tmp_path: Path) -> None:
    out = tmp_path / "run"
    hil = Path(sys.executable).with_name("hil")
    result = subprocess.run(
        [str(hil), "run", "smoke", "--quiet", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    path = out / "history.jsonl.gz"
    lines = gzip.decompress(path.read_bytes()).decode("utf-8").splitlines()
    rows = load_history(path)
    assert len(rows) == len(lines) > 0
    assert [_line(decode(row).to_dict()) for row in rows] == lines
    assert rows[0]["kind"] == "config"


def test_load_history_names_the_line_that_is_not_an_event(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text(_line(SAMPLES[0].to_dict()) + '\n{"t":1,"kind":"warp"}\n', encoding="utf-8")
    with pytest.raises(HistoryError, match=r"Line 2 of .*history.jsonl: Unknown event kind"):
        load_history(path)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(HistoryError, match=r"Line 1 of .* is not JSON"):
        load_history(path)


def test_docs_describe_every_kind_with_exactly_its_fields() -> None:
    """``docs/history.md``: a section per kind whose field table lists the class's fields,
    in order."""
    text = (ROOT / "docs" / "history.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## `(\w+)`.*?\n(.*?)(?=^## |\Z)", text, re.M | re.S))
    assert sorted(sections) == sorted(EVENT_TYPES)
    for kind, body in sections.items():
        documented = re.findall(r"^\| `(\w+)` \|", body, re.M)
        own = [f.name for f in fields(EVENT_TYPES[kind]) if f.name != "t"]
        assert documented == own, kind
