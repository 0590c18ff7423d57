"""Ground truth read back from a phone over ADB (``harness/phone_truth.py``): the SMS
provider and the app's log, through adbutils -> the real adb server -> the test double, into
the history's own events, so that the oracles judge a phone by its own records."""

from __future__ import annotations

from harness.adb_double import PhoneModel
from harness.evidence import Evidence
from harness.oracles import exactly_once
from harness.phone_facts import APP_TAG, LOG_LINES
from harness.phone_truth import LogEntry, SmsRow, ledger_of, parse_logcat, parse_rows, read_truth
from simulator.config import SimSpec
from tests.support.adb import attached
from tests.support.simulated import START, ScriptedGateway, advance, sms

SIMS = (SimSpec("+420600000001"),)
LONG = "Dobrý den, " + "á" * 80  # UCS-2: two parts


def _submit(phone: PhoneModel, sms_id: int, parts: int = 1) -> None:
    phone.log(APP_TAG, LOG_LINES["submitted"].format(sms_id=sms_id, parts=parts), "D")


def test_a_simulated_phones_radio_read_over_adb_is_its_ledger(attach):
    gateway = ScriptedGateway(sms=3)
    gateway.queue[1]["message"] = LONG
    it = attach(gateway)
    advance(it.world, lambda: len(it.world.ledger) == 3, "send three SMS")
    truth = read_truth(it.device, "p1", SIMS, START)
    assert truth.unlinked == 0
    read = [(e.sms_id, e.recipient, e.parts, e.parts_sent, e.sim_slot, e.t) for e in truth.radio]
    ledger = [
        (e.sms_id, e.recipient, e.parts, e.parts_sent, e.sim_slot, round(e.submitted, 3))
        for e in sorted(it.world.ledger, key=lambda e: e.submitted)
    ]
    assert read == ledger
    assert [(e.sms_id, e.parts) for e in truth.radio] == [(1, 1), (2, 2), (3, 1)]
    assert [e.t for e in truth.app if e.kind == "app_start"] == [
        round(e["t"], 3) for e in it.world.history.of_kind("app_start")
    ]


def test_a_duplicate_on_the_phone_is_caught_by_the_exactly_once_oracle(attach):
    gateway = ScriptedGateway()
    it = attach(gateway)
    gateway.queue.append(sms(7))
    advance(it.world, lambda: len(it.world.ledger) == 1, "send SMS 7")
    gateway.queue.append(sms(7))  # a server that hands the same SMS out again
    advance(it.world, lambda: len(it.world.ledger) == 2, "send SMS 7 again")
    truth = read_truth(it.device, "p1", SIMS, START, numbers={7: sms(7)["phone_number"]})
    assert [e.sms_id for e in truth.radio] == [7, 7]
    config = {"kind": "config", "t": 0.0, "start": "2026-03-02T07:00:00Z", "timezone": "UTC"}
    events = [config, *(e.to_dict() for e in truth.events)]
    server = {"sms": [{"id": 7, "delivery": "at_most_once", "issue_count": 2}]}
    verdict = exactly_once(Evidence(events=events, server=server))
    assert not verdict.passed
    assert "SMS 7 (at_most_once) left the radio 2 times" in str(verdict.to_dict())


def test_rows_with_commas_and_line_breaks_in_the_body_are_read_whole(adb_server):
    phone = PhoneModel()
    with attached(adb_server, phone) as (device, _double):
        phone.t = 30.0
        _submit(phone, 41)
        phone.send_sms("+420777000041", "Hi, date=5, body=x\nsecond line", sms_id=41)
        phone.t = 45.0
        phone.receive_sms("+420777000099", "STOP, please")
        truth = read_truth(device, phone.name, SIMS, phone.epoch)
    (sent,) = truth.radio
    assert (sent.sms_id, sent.recipient, sent.t, sent.parts) == (41, "+420777000041", 30.0, 1)
    (inbound,) = truth.inbound
    assert (inbound.sender, inbound.body, inbound.t) == ("+420777000099", "STOP, please", 45.0)


def test_a_row_no_log_line_explains_is_a_message_the_gateway_did_not_send(adb_server):
    phone = PhoneModel()
    with attached(adb_server, phone) as (device, _double):
        phone.t = 10.0
        _submit(phone, 1)
        phone.send_sms("+420777000001", "one", sms_id=1)
        phone.t = 20.0
        phone.send_sms("+420777000002", "typed by hand")  # no submit line: not the app's
        truth = read_truth(device, phone.name, SIMS, phone.epoch, numbers={1: "+420777000001"})
    assert [(e.sms_id, e.recipient) for e in truth.radio] == [
        (1, "+420777000001"),
        (None, "+420777000002"),
    ]
    assert truth.unlinked == 1


def test_linking_follows_the_recipient_when_the_harness_knows_it():
    rows = [
        SmsRow(1, "+420777000002", 1_010_000_000, 2, 1, None, "b"),
        SmsRow(2, "+420777000003", 1_020_000_000, 2, 1, None, "c"),
    ]
    log = [
        LogEntry(9_990.0, "D", APP_TAG, LOG_LINES["submitted"].format(sms_id=1, parts=1)),
        LogEntry(10_000.0, "D", APP_TAG, LOG_LINES["submitted"].format(sms_id=2, parts=1)),
        LogEntry(20_000.0, "D", APP_TAG, LOG_LINES["submitted"].format(sms_id=3, parts=1)),
    ]
    epoch = START.fromtimestamp(1_000_000, START.tzinfo)
    numbers = {1: "+420777000001", 2: "00420777000002", 3: "+420 777 000 003"}
    truth = ledger_of("p", SIMS, epoch, rows, log, numbers)
    # SMS 1 made no row (held behind the cap dialog, say): the rows are 2's and 3's
    assert [(e.sms_id, e.t) for e in truth.radio] == [(2, 10_000.0), (3, 20_000.0)]


def test_logcat_lines_are_timed_from_epoch_seconds_or_the_date():
    epoch = START
    text = (
        "--------- beginning of main\n"
        f"{START.timestamp() + 12.5:.3f}  1201  1201 I SmsGatewayService: Found 3 pending SMS\n"
        "03-02 07:00:30.250  1201  1201 D SmsGatewayService: SMS 4: submitted 2 part(s) to "
        "SmsManager\n"
    )
    entries = parse_logcat(text, epoch)
    assert [(e.t, e.level, e.tag) for e in entries] == [
        (12.5, "I", "SmsGatewayService"),
        (30.25, "D", "SmsGatewayService"),
    ]
    assert entries[1].message == "SMS 4: submitted 2 part(s) to SmsManager"
    assert parse_rows("No result found.\n") == []
