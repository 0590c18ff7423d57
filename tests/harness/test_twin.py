"""Deriving a differential run's scenario (``harness.twin``): the chosen phone over ADB and
a virtual copy of it beside, SIMs numbered apart; what cannot be twinned is refused."""

from __future__ import annotations

import dataclasses

import pytest

from harness.errors import RunInputError
from harness.twin import twin_scenario
from scenarios import Device, loads
from tests.support.scenario_text import BASE

FLEET = (
    BASE.replace("count = 3", "count = 3\ndual_sim = 1")
    + """
[[phones]]
name = "phone-02"
daily_limit = 40
doze_after = "5m"
charging = false
app_fixes = ["B6"]
dual_sim = false

[[faults]]
phones = ["phone-02"]
kind = "reboot"
at = "10m"

[[workload]]
at = "1m"
count = 10
delivery = "at_most_once"
body = "Hi {first_name}."
"""
)


def _numbers(phones) -> list[str]:
    return [sim.number for phone in phones for sim in phone.sims]


def test_the_first_phone_goes_over_adb_beside_its_twin():
    scenario = loads(FLEET)
    twin = twin_scenario(scenario, "double")
    assert (twin.device, twin.twin) == ("phone-01", "phone-01-twin")
    derived = twin.scenario
    assert derived.devices == (Device("phone-01", "double"),)
    assert [p.name for p in derived.world.phones] == [
        "phone-01",
        "phone-02",
        "phone-03",
        "phone-01-twin",
    ]
    # one workload, one target: nothing else of the scenario changed
    assert derived.workload == scenario.workload and derived.actions == scenario.actions
    assert derived.world.phones[:3] == scenario.world.phones
    assert derived.name == "t-twin" and "phone-01 over ADB at double" in derived.description


def test_the_twin_has_the_phones_spec_and_sims_of_its_own():
    scenario = loads(FLEET)
    derived = twin_scenario(scenario, "R58M123", "phone-02").scenario
    source, copy = derived.world.phones[1], derived.world.phones[-1]
    assert copy.name == "phone-02-twin"
    assert dataclasses.replace(copy, name=source.name, sims=source.sims) == source
    assert copy.faults and copy.android.doze_after == 300 and copy.daily_limit == 40
    assert [s.carrier for s in copy.sims] == [s.carrier for s in source.sims]
    numbers = _numbers(derived.world.phones)
    assert len(numbers) == len(set(numbers)) == 6  # 2 + 1 + 2 SIMs, and the twin's 1
    assert all(len(n) == len(numbers[0]) and n.startswith("+4206") for n in numbers)
    # deterministic: the same scenario gives the same numbers
    assert twin_scenario(scenario, "R58M123", "phone-02").scenario == derived


def test_a_dual_sim_phone_has_a_dual_sim_twin():
    derived = twin_scenario(loads(FLEET), "double", "phone-03").scenario
    copy = derived.world.phones[-1]
    assert len(copy.sims) == 2
    numbers = _numbers(derived.world.phones)
    assert len(numbers) == len(set(numbers)) == 7


def test_an_unknown_phone_is_refused_naming_the_fleet():
    with pytest.raises(RunInputError, match=r"phone-09.*phone-01, phone-02, phone-03"):
        twin_scenario(loads(FLEET), "double", "phone-09")


def test_a_scenario_with_devices_of_its_own_is_refused():
    text = FLEET + '\n[[fleet.devices]]\nphone = "phone-03"\nserial = "double"\n'
    with pytest.raises(RunInputError, match=r"already has \[\[fleet.devices\]\] \(phone-03"):
        twin_scenario(loads(text), "double")


def test_a_phone_the_workload_addresses_by_name_is_refused():
    text = FLEET.replace("count = 10\n", 'count = 10\ncampaign = "promo"\nphone = "phone-01"\n')
    with pytest.raises(RunInputError, match=r"'promo' is forced onto phone-01.*--twin-phone"):
        twin_scenario(loads(text), "double")
    assert twin_scenario(loads(text), "double", "phone-02").device == "phone-02"


def test_a_serial_must_be_given():
    with pytest.raises(RunInputError, match="--twin needs a serial"):
        twin_scenario(loads(FLEET), " ")
