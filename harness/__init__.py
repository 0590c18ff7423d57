"""The harness: runs scenarios against a gateway server and judges the results.

It holds the ``hil`` command line (``cli``: ``run``, ``scenarios``, ``serve``, ``db
upgrade``, ``pair``; ``hil run``'s options and exit codes in ``run_cli``, its differential
run, a phone over ADB beside its virtual twin, in ``twin``), the scenario runner
(``runner.run_scenario``; its folder in ``folder``, its errors in ``errors``), the
targets it runs against (``targets``: in process, served, remote) with their control side
(``control``: our admin API; ``odoo``: Odoo's JSON-RPC API), the in-process gateway on a
manual clock (``inprocess``), the real-time transport (``wire``), the loopback fault proxy
(``proxy``) and FCM endpoint (``fcm_endpoint``, ``fcm_tls``), the oracles (``oracles`` over
``evidence``; the demanded paths in ``hits``), ``hil serve`` in a subprocess
(``process``), phones on ADB: ``hil devices`` and ``hil devices prepare`` through the
adb server (``devices``, ``devices_cli``; the real app's facts in ``phone_facts``) and a
virtual phone served as an ADB device, a test double (``adb_double``), and the capacity
planner ``hil plan`` (``plan_cli``: the closed-form ``estimate`` over a phone's poll
``cadence``, the ``sweep`` of scenario runs around it, the recommendation in ``plan``);
independent runs (the self-test's, the sweep's) go through ``pool``: local processes or a
Dask cluster.
"""

from __future__ import annotations

__all__: list[str] = []
