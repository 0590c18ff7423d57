"""Partners and partner filters in the scenario format: [[workload]] partner_tags and a
phone's serves."""

from __future__ import annotations

import textwrap

from scenarios import load, loads
from tests.support.scenario_text import BASE, problems


def test_serves_is_a_phone_setting_and_partner_tags_a_batch_setting():
    scenario = loads(
        BASE
        + textwrap.dedent("""
            [[phones]]
            name = "phone-02"
            serves = ["Brno", "Praha"]

            [[workload]]
            count = 6
            body = "Hi"
            partner_tags = ["Praha", "Brno"]
            """),
        file="t.toml",
    )
    assert [p.serves for p in scenario.world.phones] == [(), ("Brno", "Praha"), ()]
    assert scenario.workload[0].partner_tags == ("Praha", "Brno")


def test_bad_tags_and_a_forced_sim_with_partner_tags_are_refused():
    text = BASE + textwrap.dedent("""
        serves = "Praha"

        [[workload]]
        count = 6
        body = "Hi"
        sims = "split"
        partner_tags = ["Praha", "Praha"]
        """)
    assert problems(text) == [
        "t.toml:9: fleet.serves: must be an array of strings, not 'Praha'",
        "t.toml:15: workload[0].partner_tags[1]: 'Praha' is listed twice",
        "t.toml:15: workload[0].partner_tags: cannot be used with sims = 'split': a SIM chosen "
        "for an SMS overrides the phones' partner filters, which partner_tags exist to exercise",
    ]


def test_partner_filters_needs_a_filter_that_leaves_someone_out():
    scenario = load("partner-filters")
    assert "filter_excluded" in scenario.expect.hit
    assert dict(scenario.expect.catches) == {"C8": ("filters_respected",)}
    # filter_excluded is impossible when no phone's filter leaves a tag out
    text = BASE + textwrap.dedent("""
        serves = ["Praha"]

        [[workload]]
        count = 6
        body = "Hi"
        partner_tags = ["Praha"]

        [expect]
        hit = ["filter_excluded"]
        """)
    assert problems(text) == [
        "t.toml:17: expect.hit[0]: 'filter_excluded' cannot happen here: no batch "
        "has partner_tags that a phone's serves filter leaves out"
    ]


def test_a_campaigns_forced_phone_is_named_once_and_inherited():
    scenario = loads(
        BASE
        + textwrap.dedent("""
            [[workload]]
            count = 2
            body = "Hi"
            campaign = "news"
            phone = "phone-02"

            [[workload]]
            at = "1h"
            count = 2
            body = "Again"
            campaign = "news"
            """),
        file="t.toml",
    )
    assert [b.phone for b in scenario.workload] == ["phone-02", "phone-02"]
    text = BASE + textwrap.dedent("""
        [[workload]]
        count = 2
        body = "Hi"
        phone = "phone-02"

        [[workload]]
        count = 2
        body = "Hi"
        campaign = "news"
        phone = "phone-09"

        [[workload]]
        count = 2
        body = "Hi"
        campaign = "news"

        [[workload]]
        count = 2
        body = "Hi"
        campaign = "news"
        phone = "phone-01"
        """)
    assert problems(text) == [
        "t.toml:12: workload[0].phone: needs a campaign: the phone is the campaign's forced phone",
        "t.toml:18: workload[1].phone: unknown phone 'phone-09'; the fleet has phone-01, "
        "phone-02, phone-03",
        "t.toml:29: workload[3].phone: campaign 'news' is forced on no phone (its first batch "
        "says so); all batches of one campaign share its phone",
    ]
