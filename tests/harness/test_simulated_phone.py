"""A running virtual phone behind the ADB test double, through adbutils -> the real adb server:
ADB reads the simulated phone's Doze, radio ledger and log, and ADB's faults happen to it.

The world runs on a wall-clock environment scaled up; the test advances it between ADB
commands and polls the simulation until a generous deadline, never sleeping to judge.
"""

from __future__ import annotations

import pytest

from harness.adb_double import SimulatedPhone
from harness.device_faults import apply_fault, undo_fault
from harness.phone_facts import APP_ACTIVITY, APP_PACKAGE, SMS_CAP_COUNT
from simulator.config import PhoneSpec, SimSpec, WorldSpec
from simulator.world import World
from tests.support.simulated import START, ScriptedGateway, advance, kinds, sms

SEND_SMS = "android.permission.SEND_SMS"


def test_dumpsys_deviceidle_shows_the_simulated_doze_and_force_idle_forces_it(attach):
    it = attach(charging=False, battery_exempt=False)
    assert it.sh("dumpsys deviceidle get deep") == "ACTIVE"
    advance(it.world, lambda: it.app.doze.state == "light_idle", "enter light doze")
    assert (it.sh("dumpsys deviceidle get deep"), it.sh("dumpsys deviceidle get light")) == (
        "INACTIVE",
        "IDLE",
    )
    assert it.sh("dumpsys deviceidle force-idle") == "Now forced in to deep idle mode"
    assert it.sh("dumpsys deviceidle get deep") == "IDLE"
    advance(it.world, lambda: it.app.doze.state == "deep_idle", "go deep idle")
    # forced: no maintenance window comes, however long it waits
    it.world.env.run(until=it.world.env.now + 600.0)
    assert it.app.doze.state == "deep_idle"
    assert it.sh("dumpsys deviceidle get deep") == "IDLE"
    it.sh("dumpsys deviceidle unforce")
    advance(it.world, lambda: it.app.doze.state != "deep_idle", "leave the forced idle")


def test_a_force_idle_the_phone_ignores_leaves_the_simulated_doze_alone(attach):
    it = attach(profile="lazy-doze")
    assert it.sh("dumpsys deviceidle force-idle") == ""
    it.world.env.run(until=it.world.env.now + 300.0)
    assert it.app.doze.state == "active"
    assert it.sh("dumpsys deviceidle get deep") == "ACTIVE"


def test_dumpsys_battery_unplug_starts_the_simulated_doze_countdown(attach):
    it = attach()  # charging: Doze never starts
    it.world.env.run(until=200.0)
    assert it.app.doze.state == "active"
    it.sh("dumpsys battery unplug")
    advance(it.world, lambda: bool(kinds(it.world, "fault", fault="unplug")), "unplug")
    advance(it.world, lambda: it.app.doze.state == "light_idle", "doze once unplugged")


def test_content_query_and_logcat_show_what_the_simulated_radio_sent(attach):
    it = attach(ScriptedGateway(sms=2, body="Your code is 1234"))
    advance(it.world, lambda: len(it.world.ledger) == 2, "send both SMS")
    rows = it.sh("content query --uri content://sms/sent --projection address:body:type")
    assert sorted(rows.splitlines()) == [
        "Row: 0 address=+420777000002, body=Your code is 1234, type=2",
        "Row: 1 address=+420777000001, body=Your code is 1234, type=2",
    ]
    log = it.sh("logcat -d -s SmsGatewayService")
    assert "SmsGatewayService: Starting SMS Gateway Service" in log
    assert "SmsGatewayService: Found 2 pending SMS" in log
    assert "SmsGatewayService: SMS 1: submitted 1 part(s) to SmsManager" in log
    assert "SmsGatewayService: SMS 2 part 1/1: SENT OK" in log
    assert it.sh(f"pidof {APP_PACKAGE}").isdigit()


def test_svc_data_disable_partitions_the_simulated_phone_until_enabled(attach):
    gateway = ScriptedGateway()
    it = attach(gateway)
    advance(it.world, lambda: bool(gateway.of("heartbeat")), "heartbeat")
    it.sh("svc data disable")
    it.sh("svc wifi disable")
    advance(it.world, lambda: it.app.link.partitioned, "lose its network")
    advance(
        it.world,
        lambda: bool(kinds(it.world, "request", phone="p1", outcome="offline")),
        "fail a request offline",
    )
    assert it.sh("dumpsys deviceidle get network") == "false"
    calls = len(gateway.calls)
    it.sh("svc data enable")
    advance(it.world, lambda: not it.app.link.partitioned, "get its network back")
    advance(it.world, lambda: len(gateway.calls) > calls, "reach the server again")


def test_airplane_mode_cuts_the_network_and_gives_it_back(attach):
    it = attach()
    it.sh("cmd connectivity airplane-mode enable")
    advance(it.world, lambda: it.app.link.partitioned, "lose its network")
    it.sh("cmd connectivity airplane-mode disable")
    advance(it.world, lambda: not it.app.link.partitioned, "get its network back")
    assert [e["fault"] for e in kinds(it.world, "fault")] == ["network_off", "network_on"]


def test_am_force_stop_kills_the_app_for_good_and_am_start_brings_it_back(attach):
    gateway = ScriptedGateway()
    it = attach(gateway)
    advance(it.world, lambda: it.app.running, "start")
    it.sh(f"am force-stop {APP_PACKAGE}")
    advance(it.world, lambda: not it.app.process_alive, "die")
    assert it.device.shell2(["pidof", APP_PACKAGE]).returncode == 1
    polls = len(gateway.of("pending"))
    it.world.env.run(until=it.world.env.now + 900.0)  # three poll alarms' worth
    assert (len(gateway.of("pending")), it.app.process_alive) == (polls, False)
    it.sh(f"am start -n {APP_PACKAGE}/{APP_ACTIVITY}")
    advance(it.world, lambda: it.app.running, "start again")
    advance(it.world, lambda: len(gateway.of("pending")) > polls, "poll again")
    assert it.sh(f"pidof {APP_PACKAGE}").isdigit()


def test_reboot_reboots_the_simulated_phone_with_the_cap_its_settings_say(attach, adb_server):
    it = attach()
    advance(it.world, lambda: it.app.running, "start")
    it.sh(f"settings put global {SMS_CAP_COUNT} 7")
    it.device.shell("reboot")
    adb_server.wait_for(it.device.serial)
    advance(it.world, lambda: bool(kinds(it.world, "fault", fault="reboot")), "power off")
    advance(it.world, lambda: len(kinds(it.world, "app_start")) == 2, "boot and start the app")
    assert it.app.radio.cap_of(0).cap.max_count == 7
    log = it.sh("logcat -d")
    assert "BootReceiver: Boot completed, starting SMS Gateway Service" in log.split("\n", 2)[-1]
    assert it.sh(f"pidof {APP_PACKAGE}").isdigit()


def test_pm_revoke_send_sms_kills_the_app_and_its_sends_fail_until_granted(attach):
    gateway = ScriptedGateway()
    it = attach(gateway)
    advance(it.world, lambda: it.app.running, "start")
    assert it.device.shell2(["pm", "revoke", APP_PACKAGE, SEND_SMS]).returncode == 0
    advance(it.world, lambda: bool(kinds(it.world, "fault", fault="process_death")), "be killed")
    advance(it.world, lambda: len(kinds(it.world, "app_start")) == 2, "restart")
    gateway.queue.append(sms(1))
    advance(it.world, lambda: 1 in it.app.store.rows, "store a result")
    assert it.app.store.rows[1].status == "error"
    assert "SEND_SMS" in (it.app.store.rows[1].error or "")
    assert "SmsGatewayService: Failed to submit SMS 1 to SmsManager" in it.sh("logcat -d")
    assert len(it.world.ledger) == 0
    assert it.device.shell2(["pm", "grant", APP_PACKAGE, SEND_SMS]).returncode == 0
    gateway.queue.append(sms(2))
    advance(it.world, lambda: len(it.world.ledger) == 1, "send once granted")


def test_a_simulated_phone_needs_a_real_timemake_world():
    gateway = ScriptedGateway()
    spec = PhoneSpec(name="p1", sims=(SimSpec("+420600000001"),))
    world = World(WorldSpec(phones=(spec,)), gateway, {"p1": "key"}, seed=1, start=START)
    with pytest.raises(TypeError, match="WallClockEnvironment"):
        SimulatedPhone(world, "p1")


def test_scenario_faults_over_adb_happen_to_the_simulated_phone(attach, adb_server):
    gateway = ScriptedGateway()
    it = attach(gateway)
    advance(it.world, lambda: it.app.running, "start")
    client, serial = adb_server.client, it.device.serial
    assert apply_fault(client, serial, "doze").taken
    advance(it.world, lambda: it.app.doze.state == "deep_idle", "go deep idle")
    assert undo_fault(client, serial, "doze").taken
    advance(it.world, lambda: it.app.doze.state == "active", "wake up")
    assert apply_fault(client, serial, "partition").taken
    advance(it.world, lambda: it.app.link.partitioned, "lose its network")
    assert undo_fault(client, serial, "partition").taken
    advance(it.world, lambda: not it.app.link.partitioned, "get its network back")
    assert apply_fault(client, serial, "process_death").taken
    advance(it.world, lambda: not it.app.process_alive, "die")
    assert undo_fault(client, serial, "process_death").taken
    advance(it.world, lambda: it.app.running, "run again")
    assert [e["fault"] for e in kinds(it.world, "fault")] == [
        "network_off",
        "network_on",
        "force_stop",
    ]
