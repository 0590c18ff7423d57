"""A differential run (``hil run SCENARIO --twin SERIAL``, issue 13): one phone of a scenario
over ADB beside its virtual twin, in one run.

:func:`twin_scenario` derives the run's scenario from a loaded one: the chosen phone (the
fleet's first unless named) becomes a ``[[fleet.devices]]`` entry with the given serial,
and a virtual copy of its spec, ``<phone>-twin`` (:data:`TWIN_SUFFIX`), joins the fleet:
the same app, Android, Doze, limits, partner filter, faults and start time, as many SIMs,
numbered after the fleet's highest SIM number (:func:`twin_sims`) so that no two phones
share one. Both draw from the scenario's one workload against one target, and every
oracle judges both; ``twin.md`` (``folder.TWIN_FILE``) then puts the two side by side
(``reports.twin.twin_of_run``).

A scenario that already has devices, or whose workload or actions address the chosen phone
by name (a campaign forced onto it, a reassign onto it: its twin could never get those SMS),
is refused with :class:`RunInputError`, as is a phone the fleet does not have.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from scenarios import Device, Scenario
from simulator.config import PhoneSpec, SimSpec

from .errors import RunInputError

__all__ = ["TWIN_SUFFIX", "Twin", "twin_scenario", "twin_sims"]

TWIN_SUFFIX = "-twin"  # the virtual twin of phone P is P + TWIN_SUFFIX
_LISTED = 8  # name the fleet's phones one by one up to this many, else first to last


@dataclasses.dataclass(frozen=True)
class Twin:
    """A differential run's scenario and its two phones."""

    scenario: Scenario
    device: str  # the phone over ADB
    twin: str  # its virtual twin


def twin_scenario(scenario: Scenario, serial: str, phone: str | None = None) -> Twin:
    """``scenario`` with ``phone`` (default: its first) over ADB at ``serial`` and a virtual
    twin of it beside; :class:`RunInputError` says what cannot be twinned and why."""
    where = str(scenario.path or scenario.name)
    if not serial.strip():
        raise RunInputError("--twin needs a serial as `adb devices` lists it (or 'double').")
    if scenario.devices:
        named = ", ".join(f"{d.phone} ({d.serial})" for d in scenario.devices)
        raise RunInputError(
            f"{where} already has [[fleet.devices]] ({named}); --twin makes the one device "
            "of its run itself. Remove the scenario's [[fleet.devices]] tables, or run it "
            "without --twin and compare two of its phones with `hil report twin`."
        )
    phones = scenario.world.phones
    names = [p.name for p in phones]
    chosen = phone or names[0]
    if chosen not in names:
        raise RunInputError(
            f"--twin-phone {chosen!r}: {where} has no such phone; its phones are {_listed(names)}."
        )
    _not_addressed(scenario, chosen, where)
    spec = next(p for p in phones if p.name == chosen)
    copy = dataclasses.replace(spec, name=chosen + TWIN_SUFFIX, sims=twin_sims(spec, phones))
    derived = dataclasses.replace(
        scenario,
        name=scenario.name + TWIN_SUFFIX,
        description=(
            f"{scenario.description} (twin run: {chosen} over ADB at {serial} beside "
            f"{copy.name}, a virtual phone of the same spec)"
        ).lstrip(),
        world=dataclasses.replace(scenario.world, phones=(*phones, copy)),
        devices=(Device(chosen, serial),),
    )
    return Twin(derived, chosen, copy.name)


def twin_sims(spec: PhoneSpec, fleet: Sequence[PhoneSpec]) -> tuple[SimSpec, ...]:
    """``spec``'s SIMs (same carriers) renumbered after the fleet's highest SIM number: the
    next multiple of ten plus the slot, as the fleet numbers a further phone's SIMs
    (``scenarios.fleet``), as many digits as the source's number."""
    numbers = [int(sim.number.lstrip("+")) for p in fleet for sim in p.sims]
    base = (max(numbers) // 10 + 1) * 10
    return tuple(
        dataclasses.replace(sim, number=f"+{base + slot:0{len(sim.number) - 1}d}")
        for slot, sim in enumerate(spec.sims, start=1)
    )


def _not_addressed(scenario: Scenario, phone: str, where: str) -> None:
    """Refuse a phone the workload or the actions send SMS to by name."""
    why = None
    forced = next((b for b in scenario.workload if b.phone == phone), None)
    if forced is not None:
        why = f"campaign {forced.campaign!r} is forced onto {phone}"
    action = next((a for a in scenario.actions if a.phone == phone), None)
    if why is None and action is not None:
        why = f"the {action.kind} of campaign {action.campaign!r} puts its SMS on {phone}"
    if why is None:
        return
    others = [p.name for p in scenario.world.phones if p.name != phone]
    pick = f" Pick another phone with --twin-phone ({_listed(others)})." if others else ""
    raise RunInputError(
        f"{where}: {why}, so its twin could never be given those SMS and the two would not "
        f"share one workload.{pick}"
    )


def _listed(names: Sequence[str]) -> str:
    if len(names) <= _LISTED:
        return ", ".join(names)
    return f"{names[0]} to {names[-1]}"
