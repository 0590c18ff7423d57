"""The one table of dangerous paths: every name has a possibility check, and each check acts."""

from __future__ import annotations

import pytest

from scenarios import HITS, ScenarioError, loads
from scenarios.hits import POSSIBLE

BASE = """\
[scenario]
name = "t"
description = "A test."
max_duration = "2h"

[fleet]
count = 2

[[workload]]
count = 10
body = "Hi"
"""

_PARTITION = '[[faults]]\nphones = "all"\nkind = "partition"\nat = "5m"\nduration = "5m"\n'
_DEATH = '[[faults]]\nphones = "all"\nkind = "process_death"\nat = "5m"\n'
_STOPS = "[recipients]\nstop_probability = 0.2\n"

# hit -> (a world where it can happen, a world where it cannot), as tables added to BASE.
CASES: dict[str, tuple[str, str]] = {
    "process_death_in_flight": (_DEATH, _PARTITION),
    "lost_callback": ("[carrier]\nlost_callback = 0.1\n", ""),
    # 10 one-part SMS never exceed the modern cap of 30 parts; 31 may.
    "cap_hold": ("[[workload]]\nat = '1m'\ncount = 21\nbody = 'Hi'\n", ""),
    "stop_race": (_STOPS, ""),
    "doze_idle": ("[[phones]]\nname = 'phone-02'\ncharging = false\n", ""),
    "request_lost": ("[network]\nrequest_loss = 0.1\n", _PARTITION),
    "response_lost": ("[network]\nresponse_loss = 0.1\n", _PARTITION),
    "telephony_retry": ("[carrier]\nresults = { ok = 0.9, ril_retry = 0.1 }\n", ""),
    "dual_sim": ("[[phones]]\nname = 'phone-02'\ndual_sim = true\n", ""),
    "fcm_wake": ("", "[fcm]\nenabled = false\n"),
    "stale_rescan": (_STOPS + _DEATH, _STOPS),
    "repeated_reply": (_STOPS + "repeat_probability = 0.5\n", _STOPS),
    # 10 one-part SMS cannot reach the default daily limit of 500, nor a rate limit of 100.
    "limit_reached": ("[[phones]]\nname = 'phone-02'\ndaily_limit = 5\n", ""),
    "rate_bound": ("[[phones]]\nname = 'phone-02'\nrate_limit = 5\n", ""),
    "stuck_in_flight": (_PARTITION, ""),
    "filter_excluded": (
        "[[phones]]\nname = 'phone-02'\nserves = ['Praha']\n"
        "[[workload]]\nat = '1m'\ncount = 2\nbody = 'Hi'\npartner_tags = ['Brno']\n",
        "[[phones]]\nname = 'phone-02'\nserves = ['Praha']\n",
    ),
    "reassign_in_flight": (
        "[[workload]]\nat = '1m'\ncount = 5\nbody = 'Hi'\ncampaign = 'sale'\n"
        "[[actions]]\nat = '2m'\nreassign = 'sale'\n",
        "[[workload]]\nat = '1m'\ncount = 5\nbody = 'Hi'\ncampaign = 'sale'\n",
    ),
}


def _demanding(hit: str, tables: str) -> str:
    return f"{BASE}\n{tables}\n[expect]\nhit = [{hit!r}]\n"


def test_every_hit_name_has_its_possibility_check_and_a_case_here() -> None:
    assert tuple(POSSIBLE) == HITS
    assert set(CASES) == set(HITS)


def test_the_harness_counts_the_same_hits_in_the_same_order() -> None:
    from harness.hits import HIT_PATHS

    assert tuple(HIT_PATHS) == HITS


@pytest.mark.parametrize("hit", HITS)
def test_a_hit_is_accepted_where_it_can_happen_and_refused_where_it_cannot(hit: str) -> None:
    possible, impossible = CASES[hit]
    assert loads(_demanding(hit, possible)).expect.hit == (hit,)
    with pytest.raises(ScenarioError) as info:
        loads(_demanding(hit, impossible), file="t.toml")
    assert info.value.field == "expect.hit[0]"
    assert info.value.reason == f"{hit!r} cannot happen here: {POSSIBLE[hit].why_not}"


def test_a_partition_alone_is_no_way_to_lose_a_request() -> None:
    with pytest.raises(ScenarioError) as info:
        loads(_demanding("request_lost", _PARTITION), file="t.toml")
    assert "a partition makes requests fail as offline" in info.value.reason


def test_a_granted_cap_with_a_small_workload_can_never_hold() -> None:
    granted = "[[phones]]\nname = 'phone-01'\ngranted = true\n"
    text = _demanding("cap_hold", granted).replace("count = 2\n", "count = 2\ngranted = true\n")
    with pytest.raises(ScenarioError) as info:
        loads(text.replace("count = 10", "count = 900"), file="t.toml")
    assert "cap_hold" in info.value.reason
    # The catalogue's android-cap (600 two-part SMS, modern cap) is still accepted.
    assert loads(_demanding("cap_hold", "").replace("count = 10", "count = 31")).expect.hit
