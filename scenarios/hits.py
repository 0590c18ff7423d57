"""The dangerous paths a scenario can demand (``[expect] hit``), each with its possibility check.

A chaos scenario names the paths that must really happen, so that a green run is never
vacuous. ``POSSIBLE`` is the one table of those names: each comes with a check of whether it
can happen at all in the world, workload and actions a file describes, and the reason when
it cannot.
``HITS`` (the names, in the order the harness reports them) is derived from it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulator import PRESETS
from simulator.config import CarrierSpec, PhoneSpec, WorldSpec
from smscodec import count_parts

from .fleet import RESULT_CODES

if TYPE_CHECKING:
    from .model import Action, Batch

__all__ = ["HITS", "POSSIBLE", "Possibility", "why_impossible"]

RIL_RETRY = RESULT_CODES["ril_retry"]
# What the harness may put in for a placeholder: longer than any name it draws, and not GSM
# (UCS-2 needs the most parts), so that the parts counted below are an upper bound.
_LONGEST_NAME = "Ž" * 64
_UNICODE_MARK = "\U0001f600"


@dataclass(frozen=True)
class Possibility:
    """Whether a path can happen in a world under a workload and the operator's actions, and
    why not when it cannot."""

    check: Callable[[WorldSpec, Sequence[Batch], Sequence[Action]], bool]
    why_not: str


def _carriers(world: WorldSpec) -> list[CarrierSpec]:
    return [sim.carrier for phone in world.phones for sim in phone.sims]


def _kinds(world: WorldSpec) -> set[str]:
    return {fault.kind for phone in world.phones for fault in phone.faults}


def _lowest_cap(phone: PhoneSpec) -> int:
    """The fewest parts per period the phone's Android lets through without a dialog.

    A cap the app wrote before this boot is in force from the start; otherwise the preset
    is, until a reboot (and stays, without the grant).
    """
    android = phone.android
    if android.granted and android.granted_before_boot:
        return PRESETS["granted"].max_count
    return PRESETS[android.sms_cap].max_count


def _most_parts(workload: Sequence[Batch]) -> int:
    """An upper bound on the parts the whole workload can send."""
    total = 0
    for batch in workload:
        longest = max(
            count_parts(
                body.replace("{first_name}", _LONGEST_NAME).replace("{name}", _LONGEST_NAME)
                + _UNICODE_MARK
            )
            for body in batch.bodies
        )
        total += batch.count * longest
    return total


def _cap_can_hold(world: WorldSpec, workload: Sequence[Batch], _: Sequence[Action]) -> bool:
    lowest = min((_lowest_cap(phone) for phone in world.phones), default=0)
    return bool(world.phones) and _most_parts(workload) > lowest


# The order is the harness's (harness.runner.HIT_PATHS has the same names, in this order).
POSSIBLE: dict[str, Possibility] = {
    "process_death_in_flight": Possibility(
        lambda w, *_: bool(_kinds(w) & {"process_death", "reboot"}),
        "no process_death or reboot is scheduled in [[faults]]",
    ),
    "lost_callback": Possibility(
        lambda w, *_: any(c.lost_callback > 0 for c in _carriers(w)),
        "every carrier has lost_callback = 0",
    ),
    "cap_hold": Possibility(
        _cap_can_hold,
        "the whole workload cannot send more parts than the lowest Android SMS cap of the "
        "fleet lets through (sms_cap, granted), so no message is ever held",
    ),
    "stop_race": Possibility(
        lambda w, *_: w.recipients.stop_probability > 0,
        "recipients.stop_probability is 0, so nobody replies STOP",
    ),
    "doze_idle": Possibility(
        lambda w, *_: any(not p.android.charging for p in w.phones) or "unplug" in _kinds(w),
        "every phone is charging and none is unplugged, so Doze never starts",
    ),
    # A partition makes requests fail as "offline", before they leave the phone: only the
    # network's loss loses a request or a response.
    "request_lost": Possibility(
        lambda w, *_: w.network.request_loss > 0,
        "network.request_loss is 0 (a partition makes requests fail as offline, not lost)",
    ),
    "response_lost": Possibility(
        lambda w, *_: w.network.response_loss > 0,
        "network.response_loss is 0 (a partition makes requests fail as offline, not lost)",
    ),
    "telephony_retry": Possibility(
        lambda w, *_: any(code == RIL_RETRY for c in _carriers(w) for code, _ in c.results),
        "no carrier has ril_retry among its results",
    ),
    "dual_sim": Possibility(
        lambda w, *_: any(len(p.sims) > 1 for p in w.phones),
        "no phone has a second SIM (fleet.dual_sim)",
    ),
    "fcm_wake": Possibility(lambda w, *_: w.fcm.enabled, "fcm.enabled is false"),
    "stale_rescan": Possibility(
        lambda w, *_: (
            w.recipients.stop_probability > 0 and bool(_kinds(w) & {"process_death", "reboot"})
        ),
        "it needs STOP replies and a process_death or reboot after them",
    ),
    "repeated_reply": Possibility(
        lambda w, *_: w.recipients.repeat_probability > 0,
        "recipients.repeat_probability is 0, so nobody sends the same reply twice",
    ),
    "limit_reached": Possibility(
        lambda w, load, _: any(
            0 < limit <= _most_parts(load)
            for p in w.phones
            for limit in (p.daily_limit, p.monthly_limit)
        ),
        "no phone has a daily_limit or monthly_limit the whole workload could reach",
    ),
    "rate_bound": Possibility(
        lambda w, load, _: any(p.rate_limit <= sum(b.count for b in load) for p in w.phones),
        "the whole workload has fewer SMS than the lowest rate_limit of the fleet",
    ),
    # Handed out and unconfirmed for the stuck timeout: the phone must lose the SMS's
    # status (its process or its network) or the server must lose the confirm.
    "stuck_in_flight": Possibility(
        lambda w, *_: (
            bool(_kinds(w) & {"process_death", "reboot", "partition"})
            or w.network.request_loss > 0
            or w.network.response_loss > 0
            or any(c.lost_callback > 0 for c in _carriers(w))
        ),
        "no process_death, reboot or partition, no network loss and no lost callbacks: "
        "every status reaches the server",
    ),
    "filter_excluded": Possibility(
        lambda w, load, _: any(
            tag not in p.serves
            for p in w.phones
            if p.serves
            for b in load
            for tag in b.partner_tags
        ),
        "no batch has partner_tags that a phone's serves filter leaves out",
    ),
    # The action names a campaign that exists by then (the reader checks it).
    "reassign_in_flight": Possibility(
        lambda _, __, actions: any(action.kind == "reassign" for action in actions),
        "no [[actions]] re-assigns a campaign",
    ),
}

HITS = tuple(POSSIBLE)


def why_impossible(
    hit: str, world: WorldSpec, workload: Sequence[Batch], actions: Sequence[Action] = ()
) -> str | None:
    """Why the dangerous path ``hit`` cannot happen here; None when it can."""
    possibility = POSSIBLE[hit]
    return None if possibility.check(world, workload, actions) else possibility.why_not
