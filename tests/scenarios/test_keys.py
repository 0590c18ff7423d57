"""Every key the scenario format accepts acts on the scenario built, or is refused with a reason."""

from __future__ import annotations

import pytest

from scenarios import ScenarioError, loads
from scenarios.fleet import KEYS as WORLD_KEYS
from scenarios.fleet import REFUSED
from scenarios.reader import KEYS as FILE_KEYS

# A file that uses every table once (the arrays of tables: workload twice); each case
# below changes one key of it. The changes apply to the last table of an array.
BASE: dict[str, list[dict[str, str]]] = {
    "scenario": [{"name": '"keys"', "description": '"Every key."', "max_duration": '"2h"'}],
    "fleet": [{"count": "4"}],
    "carrier": [{}],
    "network": [{}],
    "fcm": [{}],
    "recipients": [{}],
    "workload": [
        {"count": "10", "body": '"Hello"', "campaign": '"sale"'},
        {
            "at": '"5m"',
            "count": "5",
            "body": '"Again"',
            "campaign": '"spring"',
            "delivery": '"at_least_once"',
        },
    ],
    "actions": [{"at": '"8m"', "reassign": '"sale"'}],
    "faults": [{"phones": '"all"', "kind": '"process_death"', "at": '"10m"'}],
    "phones": [{"name": '"phone-01"', "daily_limit": "9"}],
    "fleet.devices": [{"phone": '"phone-01"', "serial": '"double"'}],
    "fleet.doze": [{}],
    "expect": [{}],
}
ARRAYS = ("workload", "actions", "faults", "phones", "fleet.devices")

PHONE_CHANGES = {
    "app": '"1.1"',
    "app_fixes": '["B6"]',
    "daily_limit": "7",
    "monthly_limit": "7",
    "rate_limit": "7",
    "month_start_day": "15",
    "heartbeat_timeout": "10",
    "serves": '["Praha"]',
    "sms_cap": '"legacy"',
    "granted": "true",
    "granted_before_boot": "false",
    "oem": '"restrictive"',
    "charging": "false",
    "battery_exempt": "false",
    "doze_after": '"1h"',
    "compress_time": "true",
    "doze": '{ inactive_to = "5m" }',
}
# A value other than AOSP's default for each [fleet.doze] key.
DOZE_CHANGES = {
    "light_after_inactive_to": '"3m"',
    "light_idle_to": '"10m"',
    "light_idle_factor": "1.5",
    "light_max_idle_to": '"30m"',
    "light_idle_maintenance_min_budget": '"30s"',
    "inactive_to": '"5m"',
    "idle_after_inactive_to": '"5m"',
    "sensing_to": '"1m"',
    "locating_to": '"10s"',
    "idle_to": '"2h"',
    "idle_factor": "3.0",
    "max_idle_to": '"12h"',
    "idle_pending_to": '"1m"',
    "idle_pending_factor": "1.0",
    "max_idle_pending_to": '"2m"',
    "allow_while_idle_quota": "6",
    "allow_while_idle_window": '"30m"',
}
# (table, key) -> the keys of that table to set (None: remove) for a value other than BASE's.
CHANGES: dict[tuple[str, str], dict[str, str | None]] = {
    ("scenario", "name"): {"name": '"other"'},
    ("scenario", "description"): {"description": '"Another."'},
    ("scenario", "seed"): {"seed": "7"},
    ("scenario", "start"): {"start": '"2026-04-01T08:00:00+02:00"'},
    ("scenario", "timezone"): {"timezone": '"UTC"'},
    ("scenario", "max_duration"): {"max_duration": '"3h"'},
    ("scenario", "drain"): {"drain": "false"},
    ("scenario", "defects"): {"defects": '["B1"]'},
    ("scenario", "served"): {"served": "{ workers = 2, time_scale = 30 }"},
    ("fleet", "count"): {"count": "5"},
    ("fleet", "number_prefix"): {"number_prefix": '"+4207"'},
    ("fleet", "dual_sim"): {"dual_sim": '"50%"'},
    ("fleet", "start_spread"): {"start_spread": '"10m"'},
    # fleet.devices written inline in [fleet] (render leaves BASE's [[fleet.devices]] out)
    ("fleet", "devices"): {"devices": '[{ phone = "phone-03", serial = "double" }]'},
    ("fleet.devices", "phone"): {"phone": '"phone-02"'},
    ("fleet.devices", "serial"): {"serial": '"R58M123"'},
    ("fleet.devices", "profile"): {"profile": '"lazy-doze"'},
    **{("fleet.doze", key): {key: value} for key, value in DOZE_CHANGES.items()},
    **{("fleet", key): {key: value} for key, value in PHONE_CHANGES.items()},
    ("phones", "name"): {"name": '"phone-02"'},
    ("phones", "dual_sim"): {"dual_sim": "true"},
    ("phones", "start_at"): {"start_at": '"1m"'},
    ("phones", "carrier"): {"carrier": "{ latency = 4 }"},
    **{("phones", key): {key: value} for key, value in PHONE_CHANGES.items()},
    ("carrier", "name"): {"name": '"other"'},
    ("carrier", "latency"): {"latency": "3"},
    ("carrier", "latency_jitter"): {"latency_jitter": "0.5"},
    ("carrier", "results"): {"results": "{ ok = 0.5, no_service = 0.5 }"},
    ("carrier", "retry_reached"): {"retry_reached": "0.5"},
    ("carrier", "telephony_retries"): {"telephony_retries": "1"},
    ("carrier", "telephony_retry_delay"): {"telephony_retry_delay": '"5s"'},
    ("carrier", "lost_callback"): {"lost_callback": "0.1"},
    ("network", "latency"): {"latency": "0.3"},
    ("network", "latency_jitter"): {"latency_jitter": "0.1"},
    ("network", "request_loss"): {"request_loss": "0.1"},
    ("network", "response_loss"): {"response_loss": "0.1"},
    ("network", "connection_reset"): {"connection_reset": "0.1"},
    ("fcm", "enabled"): {"enabled": "false"},
    ("fcm", "latency"): {"latency": "5"},
    ("fcm", "loss"): {"loss": "0.1"},
    ("recipients", "stop_probability"): {"stop_probability": "0.1"},
    ("recipients", "stop_delay"): {"stop_delay": '"1m"'},
    ("recipients", "stop_words"): {"stop_words": '["STOP", "STOPSMS"]'},
    ("recipients", "stop_texts"): {"stop_texts": '["Stop", "stop."]'},
    ("recipients", "other_probability"): {
        "other_probability": "0.1",
        "other_replies": '["Nonstop?"]',
    },
    ("recipients", "other_replies"): {"other_replies": '["Nonstop?"]'},
    ("recipients", "sender_format"): {"sender_format": '"00"'},
    ("recipients", "repeat_probability"): {
        "stop_probability": "0.1",
        "repeat_probability": "0.5",
    },
    ("recipients", "repeat_delay"): {"repeat_delay": '"5m"'},
    ("workload", "at"): {"at": '"6m"'},
    ("workload", "count"): {"count": "6"},
    ("workload", "campaign"): {"campaign": '"autumn"'},
    ("workload", "delivery"): {"delivery": '"at_most_once"'},
    ("workload", "body"): {"body": '"Bye"'},
    ("workload", "bodies"): {"body": None, "bodies": '["Hi", "Ho"]'},
    ("workload", "unicode_share"): {"unicode_share": "0.5"},
    ("workload", "sims"): {"sims": '"split"'},
    ("workload", "recipients"): {"recipients": '"same"'},
    ("workload", "number_format"): {"number_format": '"spaced"'},
    ("workload", "partner_tags"): {"partner_tags": '["Praha"]'},
    ("workload", "phone"): {"phone": '"phone-02"', "campaign": '"c"'},
    ("actions", "at"): {"at": '"9m"'},
    ("actions", "reassign"): {"reassign": '"spring"'},
    ("actions", "phone"): {"phone": '"phone-02"'},
    ("actions", "sims"): {"sims": '"split"'},
    ("actions", "during"): {"during": '"sending"'},
    ("workload", "queue_only"): {"queue_only": "true", "campaign": '"c"'},
    ("workload", "resume"): {"queue_only": "true", "campaign": '"c"', "resume": '"1h"'},
    ("faults", "phones"): {"phones": '["phone-02"]'},
    ("faults", "kind"): {"kind": '"reboot"'},
    ("faults", "at"): {"at": '"11m"'},
    ("faults", "duration"): {"duration": '"20s"'},
    ("faults", "every"): {"every": '"30m"'},
    ("faults", "during"): {"during": '"sending"'},
    ("expect", "oracles"): {"oracles": '["no_loss"]'},
    ("expect", "fail"): {"fail": '["no_loss"]'},
    ("expect", "hit"): {"hit": '["process_death_in_flight"]'},
    ("expect", "stuck_after"): {"stuck_after": '"10m"'},
    ("expect", "catches"): {"catches": '{ B8 = "no_loss" }'},
    ("expect", "thresholds"): {"thresholds": '{ sent = "99%" }'},
}


def render(table: str = "", change: dict[str, str | None] | None = None) -> str:
    """The BASE file, with ``change`` applied to ``table`` (its last element for arrays)."""
    out: list[str] = []
    for name, elements in BASE.items():
        if name == "fleet.devices" and "devices" in (change or {}) and table == "fleet":
            continue  # the change writes them inline in [fleet]
        if name == "fleet.doze" and "doze" in (change or {}) and table == "fleet":
            continue  # likewise
        for index, element in enumerate(elements):
            keys = dict(element)
            if name == table and index == len(elements) - 1:
                keys.update(change or {})
            out.append(f"[[{name}]]" if name in ARRAYS else f"[{name}]")
            out += [f"{key} = {value}" for key, value in keys.items() if value is not None]
            out.append("")
    return "\n".join(out)


def accepted_keys() -> set[tuple[str, str]]:
    keys = {**FILE_KEYS, **WORLD_KEYS}
    return {(table, key) for table, names in keys.items() if table for key in names}


def test_every_accepted_key_has_a_case_here_or_is_refused() -> None:
    assert accepted_keys() == set(CHANGES) | set(REFUSED)
    assert not set(CHANGES) & set(REFUSED)


@pytest.mark.parametrize("where", sorted(CHANGES), ids=lambda where: ".".join(where))
def test_each_key_changes_the_scenario_built(where: tuple[str, str]) -> None:
    table, _ = where
    assert loads(render(table, CHANGES[where])) != loads(render())


@pytest.mark.parametrize("where", sorted(REFUSED), ids=lambda where: ".".join(where))
def test_a_refused_key_is_refused_with_its_reason(where: tuple[str, str]) -> None:
    table, key = where
    with pytest.raises(ScenarioError) as info:
        loads(render(table, {key: "0.5"}), file="k.toml")
    assert info.value.field.endswith(f"{table}.{key}") or info.value.field == f"{table}.{key}"
    assert REFUSED[where] in info.value.reason


def test_a_refused_carrier_key_is_refused_in_a_phone_carrier_too() -> None:
    for (table, key), reason in REFUSED.items():
        if table == "carrier":
            change = {"carrier": f"{{ {key} = 0.5 }}"}
            with pytest.raises(ScenarioError) as info:
                loads(render("phones", change), file="k.toml")
            assert reason in info.value.reason
            assert info.value.field == f"phones[0].carrier.{key}"


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (
            {"repeat_probability": "0.3"},
            "recipients.repeat_probability",
            "needs replies to repeat: set stop_probability or other_probability above 0",
        ),
        (
            {"stop_probability": "0.1", "repeat_probability": "1.5"},
            "recipients.repeat_probability",
            "must be a probability",
        ),
        (
            {"repeat_delay": '"0s"'},
            "recipients.repeat_delay",
            "must be a duration longer than zero, not '0s'",
        ),
    ],
)
def test_a_repeat_of_replies_is_checked(change: dict[str, str], field: str, reason: str) -> None:
    with pytest.raises(ScenarioError) as info:
        loads(render("recipients", dict(change)), file="k.toml")
    assert info.value.field == field
    assert reason in info.value.reason


def test_a_network_jitter_above_the_latency_is_refused() -> None:
    with pytest.raises(ScenarioError) as info:
        loads(render("network", {"latency": "0.1", "latency_jitter": "0.2"}), file="k.toml")
    assert info.value.field == "network.latency_jitter"
    assert "a request would arrive before it was sent" in info.value.reason


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"idle_to": '"0s"'}, "fleet.doze.idle_to", "must be a duration longer than zero"),
        ({"idle_factor": "0.5"}, "fleet.doze.idle_factor", "must be a factor from 1 to 100"),
        ({"allow_while_idle_quota": "0"}, "fleet.doze.allow_while_idle_quota", "from 1 to 100,000"),
    ],
)
def test_a_doze_constant_that_would_stall_doze_is_refused(
    change: dict[str, str], field: str, reason: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        loads(render("fleet.doze", dict(change)), file="k.toml")
    assert info.value.field == field
    assert reason in info.value.reason


def test_a_doze_countdown_may_be_zero() -> None:
    built = loads(render("fleet.doze", {"sensing_to": "0", "locating_to": '"0s"'}))
    assert built.world.phones[0].android.doze.sensing_to == 0.0
