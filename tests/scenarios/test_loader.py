"""The scenario format: the catalogue, the units, the world built, and precise errors."""

from __future__ import annotations

import pickle
import re
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import scenarios
from scenarios import (
    ORACLES,
    ScenarioError,
    catalogue,
    evenly_spread,
    load,
    loads,
    parse_duration,
    parse_share,
)
from tests.support.scenario_text import BASE, problems

README = Path(scenarios.__file__).with_name("README.md")


def toml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# -- the catalogue ---------------------------------------------------------------------------


def test_the_catalogue_holds_exactly_these_scenarios():
    assert sorted(catalogue()) == [
        "android-cap",
        "campaign-100k",
        "campaign-complete",
        "doze-night",
        "doze-stops",
        "dual-sim",
        "hostile-phone",
        "inbound-repeats",
        "limit-pause",
        "limits-day",
        "lost-callbacks",
        "month-boundary",
        "partner-filters",
        "poll-storm",
        "queue-only",
        "rate-limit",
        "reassign-in-flight",
        "restart-in-flight",
        "segments-at-limit",
        "slow-drain",
        "smoke",
        "stop-race",
        "stop-restart",
        "stop-variants",
    ]


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_every_catalogue_scenario_loads_and_says_what_it_proves(name):
    scenario = load(name)
    assert scenario.name == name
    assert scenario.path == catalogue()[name]
    assert "prove" in scenario.description.lower()
    assert scenario.workload and scenario.world.phones


def test_smoke_is_three_phones_and_300_transactional_sms():
    smoke = load("smoke")
    assert len(smoke.world.phones) == 3
    assert smoke.max_duration == 3600
    assert [(b.count, b.campaign, b.delivery) for b in smoke.workload] == [
        (300, None, "at_least_once")
    ]
    assert {p.daily_limit for p in smoke.world.phones} == {500}
    assert all(not p.faults for p in smoke.world.phones)


def test_dual_sim_gives_every_phone_two_sims_and_the_sim_aware_app():
    world = load("dual-sim").world
    assert [len(p.sims) for p in world.phones] == [2] * 6
    assert {p.app.name for p in world.phones} == {"sim-aware"}
    assert {p.daily_limit for p in world.phones} == {0}


def test_doze_night_starts_at_ten_in_the_evening_local_time():
    night = load("doze-night")
    assert night.start == datetime(2026, 3, 2, 22, 0, tzinfo=timezone(timedelta(hours=1)))
    assert night.world.fcm.enabled is False
    assert night.workload[0].at == 1800 and night.max_duration == 36_000


def test_stop_race_sends_a_second_batch_to_the_same_recipients():
    first, second = load("stop-race").workload
    assert (second.at, second.same_recipients) == (1200, True)
    assert second.campaign != first.campaign  # a follow-up: not a duplicate in one campaign
    assert second.delivery == first.delivery == "at_most_once"


def test_campaign_100k_kills_two_evenly_spread_phones_every_two_hours():
    big = load("campaign-100k")
    world = big.world
    assert big.workload[0].count == 100_000 and big.max_duration == 86_400
    assert sum(len(p.sims) == 2 for p in world.phones) == 10
    killed = {p.name: [f.at for f in p.faults] for p in world.phones if p.faults}
    assert list(killed) == ["phone-01", "phone-11"]
    assert killed["phone-01"] == [3600 + 7200 * n for n in range(12)]
    carrier = world.phones[0].sims[0].carrier
    assert carrier.results == ((-1, 0.995), (4, 0.003), (1, 0.002))


def test_campaign_100k_demands_its_day_of_every_threshold():
    thresholds = load("campaign-100k").expect.thresholds
    assert thresholds.demanded() == ("sent", "done_by", "latency_p95", "refused")
    # 15:00 in Prague, seven hours after the 08:00 start; 95 % on the radio within 6 h
    assert (thresholds.sent, thresholds.done_by, thresholds.latency_p95) == (0.985, 25200, 21600)
    assert thresholds.refused == 0


def test_a_path_loads_the_same_scenario_as_the_name():
    assert load(catalogue()["smoke"]) == load("smoke")


def test_an_unknown_name_lists_the_catalogue():
    with pytest.raises(ScenarioError) as info:
        load("smok")
    assert str(info.value) == (
        "smok: no catalogue scenario of that name and no such file; did you mean 'smoke'? "
        f"The catalogue has {', '.join(sorted(catalogue()))}."
    )


def test_a_missing_file_is_a_scenario_error(tmp_path):
    missing = tmp_path / "gone.toml"
    with pytest.raises(ScenarioError) as info:
        load(missing)
    assert info.value.file == str(missing) and "cannot be read" in info.value.reason


def test_a_catalogue_file_must_carry_its_own_name(tmp_path, monkeypatch):
    (tmp_path / "night.toml").write_text(BASE.replace('"t"', '"day"'))
    monkeypatch.setattr("scenarios.loader.CATALOGUE", tmp_path)
    with pytest.raises(ScenarioError) as info:
        load("night")
    assert str(info.value) == (
        "scenarios/catalogue/night.toml:2: scenario.name: must equal the file name 'night' "
        "in the catalogue, not 'day'"
    )


def test_the_readme_examples_together_make_a_valid_scenario():
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), flags=re.DOTALL)
    scenario = loads("\n".join(blocks), file="README.md")
    assert scenario.name == "night-shift" and len(scenario.workload) == 4
    assert (scenario.workload[-1].queue_only, scenario.workload[-1].resume) == (True, 5400.0)


# -- defaults and the world built -------------------------------------------------------------


def test_a_minimal_scenario_takes_the_documented_defaults():
    scenario = loads(BASE)
    assert scenario.seed == 1 and scenario.drain is True and scenario.defects == ()
    assert scenario.start == datetime(2026, 3, 2, 8, 0, tzinfo=timezone(timedelta(hours=1)))
    assert scenario.timezone == "Europe/Prague"
    assert scenario.expect.oracles == ORACLES and scenario.expect.hit == ()
    assert scenario.path is None and scenario.workload == ()
    phone = scenario.world.phones[0]
    assert (phone.daily_limit, phone.monthly_limit, phone.rate_limit) == (500, 0, 100)
    assert phone.app.name == "1.7.1" and phone.android.sms_cap == "modern"


def test_phones_are_named_and_numbered_deterministically():
    world = loads(BASE.replace("count = 3", 'count = 100\ndual_sim = "1%"')).world
    assert [p.name for p in world.phones[:2]] == ["phone-001", "phone-002"]
    assert world.phones[-1].name == "phone-100"
    assert [s.number for s in world.phones[0].sims] == ["+420600000011", "+420600000012"]
    assert [s.number for s in world.phones[99].sims] == ["+420600001001"]
    numbers = [s.number for p in world.phones for s in p.sims]
    assert len(set(numbers)) == len(numbers)
    assert all(len(n) == 13 for n in numbers)


def test_start_spread_staggers_the_phones():
    world = loads(BASE + 'start_spread = "3m"\n').world
    assert [p.start_at for p in world.phones] == [0.0, 60.0, 120.0]


def test_carrier_results_become_android_codes_with_weights():
    text = BASE + "\n[carrier]\nresults = { ok = 0.9, ril_retry = 0.05, network_reject = 0.05 }\n"
    carrier = loads(text).world.phones[0].sims[0].carrier
    assert carrier.results == ((-1, 0.9), (101, 0.05), (10, 0.05))


def test_a_phone_override_changes_only_that_phone():
    text = BASE + toml("""
        granted = true

        [carrier]
        latency = 2

        [[phones]]
        name = "phone-02"
        app = "1.1"
        dual_sim = true
        carrier = { lost_callback = 0.1 }
        """)
    one, two, three = loads(text).world.phones
    assert (one.app.name, two.app.name, three.app.name) == ("1.7.1", "1.1", "1.7.1")
    assert two.android.granted is True  # still the fleet's value
    assert [len(p.sims) for p in (one, two, three)] == [1, 2, 1]
    assert two.sims[1].carrier.lost_callback == 0.1 and one.sims[0].carrier.lost_callback == 0
    assert two.sims[0].carrier.latency == 2  # over [carrier], not over the defaults


def test_with_seed_changes_the_seed_and_nothing_else():
    smoke = load("smoke")
    other = smoke.with_seed(99)
    assert other.seed == 99 and smoke.seed == 1
    assert other.world == smoke.world and other.workload == smoke.workload


# -- units -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [(90, 90), (1.5, 1.5), ("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400),
     ("1h30m", 5400), ("0.5h", 1800), ("1d2h3m4s", 93784)],
)  # fmt: skip
def test_durations(written, seconds):
    assert parse_duration(written) == seconds


@pytest.mark.parametrize("written", ["2hours", "1h 30m", "h", "", -5, True, "-5m"])
def test_bad_durations_are_refused(written):
    with pytest.raises(ValueError, match="must be a duration"):
        parse_duration(written)


@pytest.mark.parametrize(
    ("written", "fraction"), [(0, 0.0), (0.25, 0.25), ("25%", 0.25), ("12.5%", 0.125), (1, 1.0)]
)
def test_shares(written, fraction):
    assert parse_share(written) == fraction


@pytest.mark.parametrize("written", ["150%", 1.5, -0.1, "half", True])
def test_bad_shares_are_refused(written):
    with pytest.raises(ValueError, match="must be a share"):
        parse_share(written)


def test_a_share_picks_evenly_spread_phones():
    assert evenly_spread(20, 0.5) == tuple(range(0, 20, 2))
    assert evenly_spread(20, 0.1) == (0, 10)
    assert evenly_spread(8, 0.25) == (0, 4)
    assert evenly_spread(4, 1.0) == (0, 1, 2, 3)
    assert evenly_spread(3, 0.01) == (0,)  # above zero picks at least one
    assert evenly_spread(3, 0.0) == ()


def test_a_share_never_picks_a_phone_twice_and_leaves_even_gaps():
    for count in range(1, 60):
        for k in range(1, count + 1):
            picked = evenly_spread(count, k / count)
            gaps = {b - a for a, b in zip(picked, (*picked[1:], picked[0] + count), strict=True)}
            assert len(picked) == k and max(gaps) - min(gaps) <= 1


def test_fault_shares_pick_the_same_phones_every_time():
    text = BASE.replace("count = 3", "count = 8") + toml("""
        [[faults]]
        phones = "25%"
        kind = "reboot"
        at = "10m"
        """)
    picks = [[p.name for p in loads(text).world.phones if p.faults] for _ in range(3)]
    assert picks == [["phone-01", "phone-05"]] * 3


# -- faults and the workload -------------------------------------------------------------------


def test_faults_repeat_until_max_duration_with_default_durations():
    text = BASE + toml("""
        [[faults]]
        phones = ["phone-03"]
        kind = "process_death"
        at = "30m"
        every = "40m"
        """)
    faults = loads(text).world.phones[2].faults
    assert [(f.at, f.kind, f.duration) for f in faults] == [
        (1800, "process_death", 10.0),
        (4200, "process_death", 10.0),
        (6600, "process_death", 10.0),
    ]


def test_deliveries_default_by_campaign_and_are_inherited():
    text = BASE + toml("""
        [[workload]]
        count = 1
        body = "a"

        [[workload]]
        count = 1
        campaign = "c"
        body = "b"

        [[workload]]
        count = 1
        campaign = "d"
        delivery = "at_least_once"
        body = "c"

        [[workload]]
        count = 1
        campaign = "d"
        body = "d"
        """)
    assert [b.delivery for b in loads(text).workload] == [
        "at_least_once",
        "at_most_once",
        "at_least_once",
        "at_least_once",
    ]


# -- errors: file, line, field, reason ---------------------------------------------------------


def test_a_wrong_value_names_file_line_field_and_reason():
    with pytest.raises(ScenarioError) as info:
        loads(BASE.replace("count = 3", 'count = "three"'), file="scenarios/smoke.toml")
    error = info.value
    assert str(error) == (
        "scenarios/smoke.toml:7: fleet.count: must be an integer from 1 to 500, not 'three'"
    )
    assert (error.file, error.line, error.field) == ("scenarios/smoke.toml", 7, "fleet.count")
    assert error.reason == "must be an integer from 1 to 500, not 'three'"


def test_an_unknown_key_suggests_the_known_one():
    assert only_problem(BASE + "cuont = 4\n") == (
        "t.toml:8: fleet.cuont: unknown key 'cuont'; did you mean 'count'?"
    )


def test_an_unknown_key_with_no_near_match_lists_the_allowed_keys():
    found = only_problem(BASE + "\n[fcm]\nzzz = 1\n")
    assert found == "t.toml:10: fcm.zzz: unknown key 'zzz'; allowed: enabled, latency, loss"


def test_an_unknown_table_is_an_unknown_key_of_the_file():
    assert only_problem(BASE + "\n[netwrok]\nlatency = 1\n") == (
        "t.toml:9: netwrok: unknown key 'netwrok'; did you mean 'network'?"
    )


def test_lines_inside_a_multiline_string_are_not_keys():
    text = toml('''
        [scenario]
        name = "t"
        description = """
        [fleet]
        count = "this is text"
        """
        max_duration = "2h"

        [fleet]
        count = 0
        ''')
    assert only_problem(text) == "t.toml:10: fleet.count: must be an integer from 1 to 500, not 0"


def test_an_unknown_name_lists_the_allowed_ones():
    assert only_problem(BASE + 'sms_cap = "new"\n') == (
        "t.toml:8: fleet.sms_cap: must be one of 'modern', 'legacy', 'granted', not 'new'"
    )


def test_a_missing_key_points_at_its_table():
    text = BASE.replace('max_duration = "2h"\n', "")
    assert (
        only_problem(text) == "t.toml:1: scenario.max_duration: missing required key 'max_duration'"
    )


def test_a_missing_table_has_no_line():
    assert only_problem(BASE.split("[fleet]")[0]) == (
        "t.toml: fleet: missing required table [fleet]; it needs at least count = <phones>"
    )


def test_a_field_of_the_nth_array_table_points_at_its_own_key():
    text = BASE + toml("""
        [[faults]]
        phones = "all"
        kind = "reboot"
        at = 60

        [[faults]]
        phones = "all"
        at = 120
        kind = "crash"
        """)
    assert only_problem(text) == (
        "t.toml:16: faults[1].kind: must be one of 'process_death', 'reboot', 'partition', "
        "'unplug', 'plug', 'campaign_screen', 'settings_change', not 'crash'"
    )


def test_an_inline_table_entry_points_at_its_line():
    text = BASE + "\n[carrier]\nlatency = 1\nresults = { ok = 0.9, no_servce = 0.1 }\n"
    assert only_problem(text) == (
        "t.toml:11: carrier.results.no_servce: unknown result 'no_servce'; "
        "did you mean 'no_service'?"
    )


def test_a_fault_naming_an_unknown_phone():
    text = BASE + '\n[[faults]]\nphones = ["phone-01", "phone-9"]\nkind = "plug"\nat = 0\n'
    assert only_problem(text) == (
        "t.toml:10: faults[0].phones[1]: unknown phone 'phone-9'; the fleet has phone-01 to "
        "phone-03"
    )


def test_expect_fail_must_be_among_the_oracles():
    text = BASE + '\n[expect]\noracles = ["no_loss"]\nfail = ["exactly_once"]\n'
    assert only_problem(text) == (
        "t.toml:11: expect.fail[0]: 'exactly_once' is not in expect.oracles; an oracle "
        "expected to fail must be judged"
    )


def test_a_toml_syntax_error_keeps_tomllib_message():
    assert only_problem(BASE + "rate_limit = = 3\n") == (
        "t.toml:8: invalid TOML: Invalid value (at line 8, column 14)"
    )


def test_the_wrong_kind_of_table_is_named():
    text = BASE.replace("[fleet]\ncount = 3\n", "[[fleet]]\ncount = 3\n") + (
        '\n[workload]\ncount = 1\nbody = "x"\n'
    )
    assert problems(text) == [
        "t.toml:6: fleet: must be a single table [fleet], not an array",
        "t.toml:9: workload: must be an array of tables [[workload]], not a table",
    ]


def test_start_needs_an_offset_and_the_zone_must_exist():
    text = BASE.replace(
        'max_duration = "2h"',
        'max_duration = "2h"\nstart = 2026-03-02T08:00:00\ntimezone = "Europe/Prage"',
    )
    assert problems(text) == [
        "t.toml:5: scenario.start: must carry a UTC offset, such as "
        "'2026-03-02T08:00:00+01:00', not 2026-03-02T08:00:00",
        "t.toml:6: scenario.timezone: unknown time zone 'Europe/Prage'; "
        "did you mean 'Europe/Prague'?",
    ]


def test_workload_rules_across_batches():
    text = BASE + toml("""
        [[workload]]
        at = "1h"
        count = 10
        campaign = "c"
        body = "Hi {surname}"

        [[workload]]
        at = "30m"
        count = 20
        campaign = "c"
        delivery = "at_least_once"
        body = "again"
        recipients = "same"

        [[workload]]
        at = "3h"
        count = 1
        body = "late"
        """)
    assert problems(text) == [
        "t.toml:12: workload[0].body: has an unknown placeholder {surname}; the harness fills "
        "{name} and {first_name} (write '{{' and '}}' for braces)",
        "t.toml:15: workload[1].at: (30m) comes before the previous batch (1h); list the "
        "[[workload]] batches in time order",
        "t.toml:16: workload[1].count: (20) is more than the 10 recipients of the previous "
        "batch, which recipients = 'same' reuses",
        "t.toml:18: workload[1].delivery: campaign 'c' is at_most_once (its first batch says "
        "so); all batches of one campaign share its delivery",
        "t.toml:23: workload[2].at: (3h) is not before max_duration (2h): the batch would "
        "never be sent",
    ]


def test_fault_durations_fit_their_kind():
    text = BASE + toml("""
        [[faults]]
        phones = "all"
        kind = "partition"
        at = "10m"

        [[faults]]
        phones = "phone-02"
        kind = "unplug"
        at = "10m"
        duration = "5m"

        [[faults]]
        phones = 0
        kind = "reboot"
        at = "10m"
        duration = "5m"
        every = "1m"
        """)
    assert problems(text) == [
        "t.toml:8: faults[0].duration: missing required key 'duration'",
        "t.toml:17: faults[1].duration: means nothing for 'unplug'; remove it",
        "t.toml:20: faults[2].phones: a share of 0 selects no phone",
        "t.toml:24: faults[2].every: (1m) is shorter than the duration (5m): each reboot "
        "would begin before the previous one ended",
    ]


def test_phone_overrides_name_known_phones_once():
    text = BASE + toml("""
        [[phones]]
        name = "phone-07"

        [[phones]]
        name = "phone-01"

        [[phones]]
        name = "phone-01"
        rate_limit = 0
        """)
    assert problems(text) == [
        "t.toml:9: phones[0].name: unknown phone 'phone-07'; the fleet has phone-01 to phone-03",
        "t.toml:15: phones[2].name: phone-01 is overridden twice; merge its [[phones]] tables",
        "t.toml:16: phones[2].rate_limit: must be an integer from 1 to 100,000, not 0",
    ]


def test_an_expected_hit_must_be_possible_in_the_world():
    text = BASE + '\n[expect]\nhit = ["cap_hold", "dual_sim", "fcm_wake"]\n'
    assert problems(text) == [
        # no workload: nothing is ever sent, so Android's cap never holds a message
        "t.toml:10: expect.hit[0]: 'cap_hold' cannot happen here: the whole workload cannot "
        "send more parts than the lowest Android SMS cap of the fleet lets through (sms_cap, "
        "granted), so no message is ever held",
        "t.toml:10: expect.hit[1]: 'dual_sim' cannot happen here: no phone has a second SIM "
        "(fleet.dual_sim)",
    ]


def test_every_problem_is_collected_in_file_order():
    text = toml("""
        [scenario]
        name = "t"
        max_duration = "soon"
        defects = ["B1", "B5", "B1"]

        [fleet]
        dual_sim = "150%"
        count = 0
        """)
    with pytest.raises(ScenarioError) as info:
        loads(text, file="t.toml")
    error = info.value
    assert [(p.line, p.field) for p in error.problems] == [
        (1, "scenario.description"),
        (3, "scenario.max_duration"),
        (4, "scenario.defects[1]"),
        (4, "scenario.defects[2]"),
        (7, "fleet.dual_sim"),
        (8, "fleet.count"),
    ]
    lines = str(error).splitlines()
    assert lines[0] == "t.toml:1: scenario.description: missing required key 'description'"
    assert lines[1] == "5 more problems in this scenario:"
    assert lines[2:] == [f"  {p}" for p in error.problems[1:]]
    assert error.field == "scenario.description"


def test_a_scenario_error_survives_pickling():
    with pytest.raises(ScenarioError) as info:
        loads(BASE + "cuont = 4\n", file="t.toml")
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.problems == info.value.problems and str(copy) == str(info.value)


def test_a_fault_can_wait_for_sms_in_flight() -> None:
    scenario = loads(
        '[scenario]\nname = "f"\ndescription = "d"\nmax_duration = "1h"\n'
        '[fleet]\ncount = 1\n[[workload]]\ncount = 1\nbody = "x"\n'
        '[[faults]]\nphones = "all"\nkind = "process_death"\nat = "1m"\nduration = "10s"\n'
        'during = "sending"\n'
    )
    (fault,) = scenario.world.phones[0].faults
    assert (fault.kind, fault.at, fault.during) == ("process_death", 60.0, "sending")
    with pytest.raises(ScenarioError) as caught:
        loads(
            '[scenario]\nname = "f"\ndescription = "d"\nmax_duration = "1h"\n'
            '[fleet]\ncount = 1\n[[workload]]\ncount = 1\nbody = "x"\n'
            '[[faults]]\nphones = "all"\nkind = "partition"\nat = "1m"\nduration = "10s"\n'
            'during = "sedning"\n'
        )
    assert "faults[0].during" in str(caught.value) and "sending" in str(caught.value)


def test_an_unknown_name_with_nothing_close_is_a_full_sentence():
    with pytest.raises(ScenarioError) as info:
        load("nosuch")
    assert str(info.value).startswith(
        "nosuch: no catalogue scenario of that name and no such file. The catalogue has "
    )
