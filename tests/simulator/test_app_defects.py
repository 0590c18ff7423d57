"""The app's defects B6, B14, B19 and B20 as switches of the app profiles: each one's effect
on a virtual fleet talking to our server in this process, with the defect (1.7.1, as the real
app) and without it (``AppProfile.without`` / a scenario's ``app_fixes``).

Source lines (``GS`` = ``SmsGatewayService.kt``, ``DB`` = ``SmsStatusDb.kt`` at v1.7.1) are in
``docs/app-model.md`` §6.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from harness.control import AdminControl
from harness.inprocess import ADMIN_TOKEN, InProcessGateway
from harness.runner import run_scenario
from scenarios import ScenarioError, loads
from server_under_test import Settings
from simulator.config import (
    APP_DEFECT_FIELDS,
    APP_DEFECTS,
    APP_PROFILES,
    AndroidSpec,
    AppProfile,
    PhoneSpec,
    SimSpec,
    WorldSpec,
)
from simulator.world import World
from tests.support.scripted_gateway import START

from .test_personas import Run

# -- the registry and the switch ---------------------------------------------------------------


def test_every_app_defect_is_a_switch_that_1_7_1_has_on() -> None:
    assert list(APP_DEFECT_FIELDS) == list(APP_DEFECTS) == ["B6", "B14", "B19", "B20"]
    names = {f.name for f in fields(AppProfile)}
    for switches in APP_DEFECT_FIELDS.values():
        for key, (bad, good) in switches.items():
            assert key in names and bad != good
            assert getattr(AppProfile(), key) == bad  # 1.7.1 as the real app
    assert APP_PROFILES["1.7.1"].defects == tuple(APP_DEFECTS)
    assert "B19" not in APP_PROFILES["sim-aware"].defects
    assert "B6" not in APP_PROFILES["1.1"].defects  # its in-memory queue drops every status


def test_without_switches_off_only_what_a_profile_has_and_names_it() -> None:
    fixed = APP_PROFILES["1.7.1"].without("B20", "B6")
    assert fixed.name == "1.7.1 without B6, B20"
    assert fixed.defects == ("B14", "B19")
    assert (fixed.sync_refused, fixed.late_callbacks, fixed.request_codes) == (
        "dropped",
        "amend",
        "unique",
    )
    assert APP_PROFILES["sim-aware"].without("B19") is APP_PROFILES["sim-aware"]
    old = APP_PROFILES["1.1"].without("B20")  # its ghost callbacks are its own behaviour
    assert (old.late_callbacks, old.request_codes) == ("ghost", "unique")
    with pytest.raises(ValueError, match=r"'B7', 'C3'; the app profiles can switch off B6, B14"):
        AppProfile().without("B6", "B7", "C3")


SCENARIO = """
[scenario]
name = "app-fixes"
description = "A fleet whose app has some of its defects fixed."
max_duration = "10m"

[fleet]
count = 2
{fleet}

[[phones]]
name = "phone-02"
{phone}

[[workload]]
count = 1
body = "Hello."
"""


def test_a_scenario_fixes_app_defects_per_fleet_and_per_phone() -> None:
    scenario = loads(
        SCENARIO.format(fleet='app_fixes = ["B14"]', phone='app_fixes = ["B6", "B19"]'),
        file="fixes.toml",
    )
    one, two = scenario.world.phones
    assert one.app == APP_PROFILES["1.7.1"].without("B14")
    assert two.app.name == "1.7.1 without B6, B19"  # the phone's list replaces the fleet's


def test_a_scenario_refuses_an_unknown_fix_and_one_the_app_does_not_have() -> None:
    text = SCENARIO.format(
        fleet='app_fixes = ["B7"]', phone='app = "sim-aware"\napp_fixes = ["B19"]'
    )
    with pytest.raises(ScenarioError) as caught:
        loads(text, file="fixes.toml")
    message = str(caught.value)
    assert "fleet.app_fixes[0]: must be one of 'B6', 'B14', 'B19', 'B20', not 'B7'" in message
    assert "phones[0].app_fixes[0]: app 'sim-aware' does not have B19" in message


# -- runs: scenarios against our server in this process -----------------------------------------


def _run(tmp: Path, text: str, fixes: tuple[str, ...]) -> Run:
    fix = f"app_fixes = {list(fixes)!r}".replace("'", '"') if fixes else ""
    scenario = loads(text.replace("#APP_FIXES", fix), file="app-defect.toml")
    return Run(run_scenario(scenario, out=tmp))


B14 = """
[scenario]
name = "b14-slow-batch"
description = "One phone at 1 SMS a minute gets a batch of 20 at once."
max_duration = "30m"
# The reference server hands a poll its whole batch (reference-system.md 2.7), as C3 does;
# ours throttles the pickup to the rate limit, so that a batch never outlasts a minute.
defects = ["C3"]

[fleet]
count = 1
rate_limit = 1
granted = true
#APP_FIXES

[[workload]]
at = "1m"
count = 20
body = "Hello {first_name}."
"""


@pytest.mark.parametrize("fixed", [False, True], ids=["1.7.1", "without B14"])
def test_b14_a_slow_batch_starves_the_heartbeats_and_the_phone_goes_offline(
    tmp_path: Path, fixed: bool
) -> None:
    run = _run(tmp_path, B14, ("B14",) if fixed else ())
    radio = [e["t"] for e in run.of("radio")]
    assert len(radio) == 20 and radio[-1] - radio[0] == pytest.approx(19 * 60, abs=1)
    beats = [e["t"] for e in run.of("heartbeat")]
    during = [b - a for a, b in itertools.pairwise(beats) if b > radio[0] and a < radio[-1]]
    offline = [e["t"] for e in run.of("job") if e["job"] == "heartbeat_check"]
    if fixed:
        assert max(during) < 65  # one a minute, the batch notwithstanding
        assert offline == []
    else:
        # The alarm heartbeats wait behind the 19-minute poll (GS:296, 877-891) ...
        assert max(during) > 18 * 60
        # ... so the server counts the phone offline 5 minutes into the batch.
        assert len(offline) == 1 and radio[0] + 300 <= offline[0] < radio[0] + 420


B19 = """
[scenario]
name = "b19-split"
description = "A dual-SIM phone gets an SMS campaign split over its two SIMs."
max_duration = "10m"

[fleet]
count = 1
dual_sim = "100%"
granted = true
#APP_FIXES

[[workload]]
at = "1m"
count = 10
sims = "split"
body = "Hello {first_name}."
"""


@pytest.mark.parametrize("fixed", [False, True], ids=["1.7.1", "without B19"])
def test_b19_split_sms_leave_from_the_default_sim_not_the_chosen_one(
    tmp_path: Path, fixed: bool
) -> None:
    run = _run(tmp_path, B19, ("B19",) if fixed else ())
    chosen = {i: row["gateway_sim_number"] for i, row in run.sms.items()}
    assert set(chosen.values()) == {"+420600000011", "+420600000012"}  # half on each
    used = {e["sms_id"]: e["sim_number"] for e in run.of("radio")}
    assert used.keys() == chosen.keys()
    if fixed:
        assert used == chosen
    else:
        assert set(used.values()) == {"+420600000011"}  # the default SIM (GS:908-913)
    assert all(row["state"] == "sent" for row in run.sms.values())


B20_LATE = """
[scenario]
name = "b20-late-callback"
description = "A radio that answers 100 s after the app handed it an SMS."
max_duration = "10m"

[fleet]
count = 1
granted = true
#APP_FIXES

[carrier]
latency = 100
latency_jitter = 0

[[workload]]
at = "1m"
count = 1
body = "Hello {first_name}."
"""


@pytest.mark.parametrize("fixed", [False, True], ids=["1.7.1", "without B20"])
def test_b20_a_late_callback_after_the_sweep_leaves_the_server_with_an_error(
    tmp_path: Path, fixed: bool
) -> None:
    run = _run(tmp_path, B20_LATE, ("B20",) if fixed else ())
    (swept,) = run.of("tracker_timeout")
    (radio,) = run.of("radio")
    assert swept["t"] < radio["t"]  # the sweep (GS:648-678) gave up before the radio answered
    (sms,) = run.sms.values()
    if fixed:
        assert sms["state"] == "sent"  # the late callback replaced the sweep's verdict
    else:
        # The late callback is dropped (GS:407-414): the server was told error, though the
        # SMS reached the recipient.
        assert (sms["state"], sms["error_message"]) == (
            "error",
            "TIMEOUT_0of1_parts_sent_0_failed",
        )


THREE_PARTS = "Spring sale: everything is twenty percent off this week. " * 6
B20_CODES = f"""
[scenario]
name = "b20-request-codes"
description = "The app dies with 3-part SMS in flight; its restart sends new ones."
max_duration = "20m"

[fleet]
count = 1
sms_cap = "modern"  # 30 parts a minute: the 11th SMS waits behind the dialog
#APP_FIXES

[carrier]
latency = 20  # per part: a 3-part SMS is in flight for a minute
latency_jitter = 0

[[workload]]
at = "1m"
count = 8
body = "{THREE_PARTS}"

[[workload]]
at = "70s"
count = 3
body = "{THREE_PARTS}"

[[faults]]
phones = "all"
kind = "process_death"
at = "66s"
duration = "1s"
"""


@pytest.mark.parametrize("fixed", [False, True], ids=["1.7.1", "without B20"])
def test_b20_a_restarted_service_reports_an_sms_it_never_sent_on_an_old_ones_callback(
    tmp_path: Path, fixed: bool
) -> None:
    run = _run(tmp_path, B20_CODES, ("B20",) if fixed else ())
    (held,) = [e["sms_id"] for e in run.of("cap") if e["verdict"] == "hold"]
    assert held == 11  # 8 x 3 parts, then 9 and 10: the 33rd part waits
    assert held not in {e["sms_id"] for e in run.of("radio")}  # it never left the phone
    phantom = run.failed().get("no_phantom_sent", ())
    if fixed:
        assert run.sms[held]["state"] == "error"  # swept: TIMEOUT_0of3_parts_sent_0_failed
        assert phantom == ()
    else:
        # Request codes restart at 0 in the new instance (GS:230, 955): SMS 11's intents
        # took the codes of SMS 3's, whose radio callbacks then counted as SMS 11's parts.
        assert run.sms[held]["state"] == "sent"
        assert any(v.startswith(f"SMS {held} ") for v in phantom)


# -- B6: the app's store holds statuses the server refuses ---------------------------------------


class Bench:
    """Our server in this process and one virtual phone on it, wired as ``hil run`` does,
    for a test that reaches into the phone's store mid-run."""

    def __init__(self, tmp: Path, app: AppProfile) -> None:
        settings = Settings(
            database_url=f"sqlite:///{tmp / 'gateway.sqlite3'}",
            admin_token=ADMIN_TOKEN,
            run_scheduler=False,
        )
        self.gateway = InProcessGateway(settings, start=START, seed=1)
        self.control = AdminControl(self.gateway.send_admin, self.gateway.call)
        spec = PhoneSpec(
            name="p1", sims=(SimSpec("+420600000011"),), app=app, android=AndroidSpec(granted=True)
        )
        keys = self.control.register([spec], at=0.0)
        self.world = World(
            WorldSpec(phones=(spec,)), self.gateway, {"p1": keys["p1"].api_key}, seed=1, start=START
        )
        self.gateway.waker.push = self.world.fcm.push
        self.app = self.world.apps["p1"]

    def run(self, until: float) -> None:
        self.world.env.run(until=until)

    def enqueue(self, at: float) -> int:
        self.run(at)
        made = self.control.enqueue([{"number": "+420777000001", "body": "Hello."}], at=at)
        (sms_id,) = made.ids
        assert sms_id is not None
        return sms_id

    def sms(self, sms_id: int) -> dict[str, Any]:
        row: dict[str, Any] = self.control.call(
            "GET", f"/sms/{sms_id}", at=self.world.env.now
        ).json()
        return row


@pytest.fixture
def bench(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Bench]:
    app = APP_PROFILES["1.7.1"]
    bench = Bench(tmp_path, app.without("B6") if request.param else app)
    yield bench
    bench.gateway.close()


REFUSED = range(900_001, 900_051)  # SMS the server does not know (or not as this phone's)


@pytest.mark.parametrize("bench", [False, True], ids=["1.7.1", "without B6"], indirect=True)
def test_b6_fifty_refused_statuses_block_a_newer_one_until_a_restart(bench: Bench) -> None:
    fixed = bench.app.profile.name == "1.7.1 without B6"
    bench.run(30)  # started and reconciled; then 50 statuses the server will refuse (say,
    # kept from a pairing with another server: a new key restarts only the schedulers,
    # GS:821-828, so no reconcile clears them)
    for sms_id in REFUSED:
        bench.app.store.put(sms_id, "sent", None, bench.world.env.now)
    bench.app.unsynced_flag = True
    newer = bench.enqueue(at=60)
    bench.run(660)
    (radio,) = bench.world.history.of_kind("radio")
    assert radio["sms_id"] == newer and radio["t"] < 70
    if fixed:
        assert bench.sms(newer)["state"] == "sent"
        assert not bench.app.store.unsynced
        return
    # Ten minutes on, the server still has the SMS as handed out and not reported: the sync
    # sends the 50 oldest unsynced rows (DB:97-103), the refused ones, every 3 s; the server
    # leaves them out of ack_ids, and nothing counts an attempt (GS:592-603).
    assert (bench.sms(newer)["state"], bench.sms(newer)["gateway_state"]) == (
        "pending",
        "processing",
    )
    assert list(bench.app.store.unsynced) == [*REFUSED, newer]
    assert {bench.app.store.rows[i].attempts for i in REFUSED} == {0}
    # A restart's reconcile marks the not_found ids synced (GS:715-721): the status goes.
    bench.app.kill("process_death", restart_after=10)
    bench.run(720)
    assert bench.sms(newer)["state"] == "sent"
