"""The operator's actions in the scenario format: [[actions]] reassign."""

from __future__ import annotations

import textwrap

from scenarios import Action, load, loads
from tests.support.scenario_text import problems

# Lines 1-13; tests append [[actions]] tables from line 14 on (a blank line, then line 15).
BASE = textwrap.dedent("""
    [scenario]
    name = "t"
    description = "A test."
    max_duration = "2h"

    [fleet]
    count = 3

    [[workload]]
    at = "1m"
    count = 20
    campaign = "sale"
    body = "Hi"
    """).lstrip("\n")


def test_a_reassign_names_its_campaign_and_optionally_a_phone_and_sims():
    scenario = loads(
        BASE
        + textwrap.dedent("""
            [[actions]]
            at = "1m"
            reassign = "sale"

            [[actions]]
            at = "5m"
            reassign = "sale"
            phone = "phone-02"
            sims = "split"
            during = "sending"
            """)
    )
    assert scenario.actions == (
        Action(at=60.0, kind="reassign", campaign="sale"),
        Action(
            at=300.0,
            kind="reassign",
            campaign="sale",
            phone="phone-02",
            sims="split",
            during="sending",
        ),
    )
    assert loads(BASE).actions == ()


def test_bad_actions_are_refused_with_file_and_line():
    text = BASE + textwrap.dedent("""
        [[actions]]
        at = "30s"
        reassign = "sale"

        [[actions]]
        at = "10m"
        reassign = "spring"
        phone = "phone-09"
        sims = "both"

        [[actions]]
        at = "5m"
        campaign = "sale"

        [[actions]]
        reassign = "sale"
        """)
    assert problems(text) == [
        "t.toml:16: actions[0].at: (30s) comes before campaign 'sale' exists: its first batch "
        "is at 1m",
        "t.toml:21: actions[1].reassign: no [[workload]] batch names campaign 'spring'; the "
        "campaigns are 'sale'",
        "t.toml:22: actions[1].phone: unknown phone 'phone-09'; the fleet has phone-01, "
        "phone-02, phone-03",
        "t.toml:23: actions[1].sims: must be one of 'auto', 'split', not 'both'",
        "t.toml:25: actions[2]: must name one action and its campaign, such as reassign = "
        "'spring-sale'",
        "t.toml:26: actions[2].at: (5m) comes before the previous action (10m); list the "
        "[[actions]] in time order",
        "t.toml:27: actions[2].campaign: unknown key 'campaign'; allowed: at, reassign, phone, "
        "sims, during",
        "t.toml:29: actions[3].at: missing required key 'at'",
    ]


def test_an_action_after_the_run_is_refused():
    text = BASE + '\n[[actions]]\nat = "3h"\nreassign = "sale"\n'
    (problem,) = problems(text)
    assert problem.startswith("t.toml:16: actions[0].at: ")
    assert "the action would never happen" in problem


def test_the_catalogue_scenario_spreads_a_forced_campaign_while_it_is_sent():
    scenario = load("reassign-in-flight")
    (batch,) = scenario.workload
    (action,) = scenario.actions
    assert batch.campaign == action.campaign == "flash-sale" and batch.phone == "phone-01"
    assert action.phone is None and action.sims == "split" and action.at > batch.at
    assert action.during == "sending"
    assert dict(scenario.expect.catches) == {"B4": ("exactly_once",)}
    assert "reassign_in_flight" in scenario.expect.hit
