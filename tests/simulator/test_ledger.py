"""The radio ledger."""

from __future__ import annotations

import pytest

from simulator import RadioLedger, Transmission


def _tx(at, sms_id, parts=1, sent=1, cause="app"):
    return Transmission(
        t=at,
        phone="phone-1",
        sim_slot=0,
        sim_number="+420777000001",
        recipient="+420608000001",
        sms_id=sms_id,
        uuid=f"u{sms_id}",
        parts=parts,
        parts_sent=sent,
        cause=cause,
        submitted=at - 0.5,
    )


def test_groups_transmissions_by_sms_including_retries():
    ledger = RadioLedger()
    ledger.record(_tx(1.0, 7))
    ledger.record(_tx(2.0, 8, parts=2, sent=1))
    ledger.record(_tx(3.0, 7, cause="telephony_retry"))
    ledger.record(_tx(4.0, None))  # not a gateway SMS
    grouped = ledger.by_sms()
    assert [t.cause for t in grouped[7]] == ["app", "telephony_retry"]
    assert grouped[8][0].complete is False
    assert len(ledger) == 4 and set(grouped) == {7, 8}


def test_time_never_goes_backwards_and_parts_are_checked():
    ledger = RadioLedger()
    ledger.record(_tx(5.0, 1))
    with pytest.raises(ValueError, match="cannot follow"):
        ledger.record(_tx(4.0, 2))
    with pytest.raises(ValueError, match="between 0 and its 2 part"):
        _tx(6.0, 3, parts=2, sent=3)


def test_records_are_the_history_radio_lines():
    ledger = RadioLedger()
    ledger.record(_tx(1.5, 9))
    (record,) = ledger.to_records()
    assert record == {
        "t": 1.5,
        "kind": "radio",
        "phone": "phone-1",
        "sim_slot": 0,
        "sim_number": "+420777000001",
        "recipient": "+420608000001",
        "sms_id": 9,
        "uuid": "u9",
        "parts": 1,
        "parts_sent": 1,
        "cause": "app",
        "submitted": 1.0,
    }
