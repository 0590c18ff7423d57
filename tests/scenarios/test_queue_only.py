"""Queue-only campaigns in the scenario format: [[workload]] queue_only and resume."""

from __future__ import annotations

import textwrap

from scenarios import loads
from tests.support.scenario_text import BASE, problems


def test_a_queue_only_batch_creates_its_campaign_paused_and_names_its_resume():
    scenario = loads(
        BASE
        + textwrap.dedent("""
            [[workload]]
            at = "5m"
            count = 20
            body = "Hi"
            campaign = "news"
            queue_only = true
            resume = "1h"

            [[workload]]
            at = "10m"
            count = 5
            body = "More"
            campaign = "news"
            """),
        file="t.toml",
    )
    first, later = scenario.workload
    assert (first.queue_only, first.resume) == (True, 3600.0)
    assert (later.queue_only, later.resume) == (False, None)  # joins the paused campaign
    assert "paused_respected" in scenario.expect.oracles


def test_queue_only_without_a_resume_is_never_resumed():
    scenario = loads(
        BASE + '[[workload]]\ncount = 2\nbody = "Hi"\ncampaign = "c"\nqueue_only = true\n'
    )
    assert (scenario.workload[0].queue_only, scenario.workload[0].resume) == (True, None)


def test_queue_only_and_resume_are_checked_where_they_are_written():
    text = BASE + textwrap.dedent("""
        [[workload]]
        count = 2
        body = "Hi"
        queue_only = true

        [[workload]]
        count = 2
        body = "Hi"
        campaign = "news"

        [[workload]]
        at = "10m"
        count = 2
        body = "Hi"
        campaign = "news"
        queue_only = true

        [[workload]]
        at = "20m"
        count = 2
        body = "Hi"
        campaign = "other"
        resume = "1h"

        [[workload]]
        at = "30m"
        count = 2
        body = "Hi"
        campaign = "third"
        queue_only = true
        resume = "30m"

        [[workload]]
        at = "40m"
        count = 2
        body = "Hi"
        campaign = "fourth"
        queue_only = "yes"

        [[workload]]
        at = "50m"
        count = 2
        body = "Hi"
        campaign = "fifth"
        queue_only = true
        resume = "3h"
        """)
    assert problems(text) == [
        "t.toml:12: workload[0].queue_only: needs a campaign: a queue-only batch creates its "
        "campaign, paused, with its SMS",
        "t.toml:24: workload[2].queue_only: campaign 'news' already exists (workload[1] "
        "creates it); only a campaign's first batch can create it queue-only",
        "t.toml:31: workload[3].resume: needs queue_only = true: only a campaign the batch "
        "creates paused is resumed",
        "t.toml:39: workload[4].resume: (30m) must come after the batch that creates the "
        "campaign paused (at = 30m)",
        "t.toml:46: workload[5].queue_only: must be true or false, not 'yes'",
        "t.toml:54: workload[6].resume: (3h) is not before max_duration (2h): the campaign "
        "would never resume",
    ]
