"""``hil serve --workers 2`` runs each periodic job once per period."""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from harness.process import served_gateway
from server_under_test.storage.tables import job_run, sms


@pytest.mark.pg
def test_two_workers_run_each_job_once_per_period_on_postgresql(pg_url, tmp_path):
    options = ("--workers", "2", "--job-period", "heartbeat_check=1")
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))

    def runs_so_far() -> list[Any]:
        with engine.connect() as conn:
            return list(conn.execute(select(job_run.c.job, job_run.c.slot, job_run.c.runner)))

    def enough(runs: list[Any]) -> bool:
        done = Counter(r.job for r in runs)
        return done["heartbeat_check"] >= 5 and done["stuck_reset"] >= 2

    with served_gateway(
        pg_url, tmp_path / "serve.log", *options, "--job-period", "stuck_reset=2", admin_token="t"
    ) as served:
        # Judge once the jobs have had their runs, however slow the machine: poll the table
        # until a generous deadline rather than sleeping a fixed time.
        deadline = time.monotonic() + 120
        while not enough(runs_so_far()) and time.monotonic() < deadline:
            time.sleep(0.2)
        served.stop(timeout=20)
    runs = runs_so_far()
    engine.dispose()
    per_slot = Counter((r.job, r.slot) for r in runs)
    assert max(per_slot.values()) == 1
    for job, period, at_least in (("heartbeat_check", 1, 5), ("stuck_reset", 2, 2)):
        slots = sorted(r.slot for r in runs if r.job == job)
        assert len(slots) >= at_least, (job, slots)
        gaps = {b - a for a, b in itertools.pairwise(slots)}
        assert gaps == {timedelta(seconds=period)}, (job, slots)  # none missed, none doubled
    # Daily jobs whose slot fell due before start ran once, at start, on one worker only.
    assert Counter(r.job for r in runs)["daily_reset"] == 1
    assert Counter(r.job for r in runs)["monthly_reset"] == 1
    log = (tmp_path / "serve.log").read_text()
    assert "Traceback" not in log
    workers = {r.runner for r in runs}
    assert 1 <= len(workers) <= 2


def test_served_process_logs_each_request_and_stops_cleanly(sqlite_url, tmp_path):
    with served_gateway(sqlite_url, tmp_path / "serve.log", admin_token="t") as served:
        httpx.get(f"{served.url}/healthz")
        httpx.post(f"{served.url}/sms-gateway/heartbeat", json={}, headers={"X-API-Key": "x"})
        # uvicorn shuts down gracefully, then re-raises SIGTERM: the service convention.
        assert served.stop(timeout=20) in (0, -signal.SIGTERM)
    log = (tmp_path / "serve.log").read_text()
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert '"POST /sms-gateway/heartbeat HTTP/1.1" 401' in log
    assert "Application shutdown complete" in log


def test_a_confirm_acknowledged_during_shutdown_is_committed(sqlite_url, tmp_path):
    served_context = served_gateway(sqlite_url, tmp_path / "serve.log", admin_token="t")
    with served_context as served:
        base = served.url
        admin = {"Authorization": "Bearer t"}
        key = httpx.post(
            f"{base}/admin/phones",
            headers=admin,
            json={"name": "P", "phone_number": "+420777123456", "daily_limit": 0},
        ).json()["api_key"]
        device = {"X-API-Key": key}
        httpx.post(f"{base}/sms-gateway/heartbeat", headers=device, json={})
        body = {"messages": [{"number": f"+4206{i:08d}", "body": "x"} for i in range(2000)]}
        httpx.post(f"{base}/admin/sms", headers=admin, json=body, timeout=60)
        ids: list[int] = []
        while batch := httpx.post(
            f"{base}/sms-gateway/pending", headers=device, json={"limit": 100}
        ).json()["sms_list"]:
            ids += [s["id"] for s in batch]
        acked: list[int] = []
        refused = 0
        problems: list[Exception] = []
        first_acks = threading.Event()

        def confirm(chunk: list[int]) -> None:
            nonlocal refused
            try:
                out = httpx.post(
                    f"{base}/sms-gateway/confirm-batch",
                    headers=device,
                    timeout=30,
                    json={"results": [{"id": i, "status": "sent"} for i in chunk]},
                )
                acked.extend(out.json()["ack_ids"])
                if len(acked) >= 100:
                    first_acks.set()
            except httpx.TransportError:
                refused += 1  # never acknowledged: the phone keeps the status and retries
            except Exception as exc:  # anything else is a bug: fail the test with it
                problems.append(exc)

        chunks = [ids[i : i + 20] for i in range(0, len(ids), 20)]
        threads = [threading.Thread(target=confirm, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        # Stop the server while confirms are in flight: after the first acknowledgements.
        assert first_acks.wait(timeout=60)
        served.process.send_signal(signal.SIGTERM)
        for t in threads:
            t.join()
        served.stop()
    assert not problems, problems
    assert acked, "no confirm was acknowledged before the shutdown"
    engine = create_engine(f"sqlite:///{sqlite_url.removeprefix('sqlite:///')}")
    with engine.connect() as conn:
        sent = set(conn.execute(select(sms.c.id).where(sms.c.state == "sent")).scalars())
    engine.dispose()
    assert set(acked) <= sent  # every acknowledged status survived the shutdown


def test_a_scaled_clock_and_its_scheduler_run_k_times_faster(sqlite_url, tmp_path):
    # --time-scale 120: two virtual minutes pass in one wall second, and the heartbeat check
    # (every 60 clock seconds) runs at that pace, so a silent phone goes offline after its
    # 5-minute timeout within seconds instead of minutes.
    options = ("--time-scale", "120", "--clock-start", "2026-03-02T08:00:00+01:00")
    with served_gateway(sqlite_url, tmp_path / "serve.log", *options, admin_token="t") as served:
        admin = {"Authorization": "Bearer t"}
        clock = httpx.get(f"{served.url}/admin/clock", headers=admin).json()
        assert clock["kind"] == "scaled" and clock["time_scale"] == 120.0
        first = datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))
        assert first >= datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
        phone = httpx.post(
            f"{served.url}/admin/phones",
            headers=admin,
            json={"name": "p1", "phone_number": "+420601000001"},
        ).json()
        beat = httpx.post(
            f"{served.url}/sms-gateway/heartbeat", json={}, headers={"X-API-Key": phone["api_key"]}
        )
        assert beat.status_code == 200
        wall = time.monotonic()
        deadline = wall + 120
        state = "online"
        while state == "online" and time.monotonic() < deadline:
            time.sleep(0.2)
            state = httpx.get(f"{served.url}/admin/phones/{phone['id']}", headers=admin).json()[
                "state"
            ]
        elapsed = time.monotonic() - wall
        now = httpx.get(f"{served.url}/admin/clock", headers=admin).json()["now"]
        moved = datetime.fromisoformat(now.replace("Z", "+00:00")) - first
    assert state == "offline"
    # On the wall clock the 5-minute timeout would take 300 s: well under a minute means
    # the scheduler slept in scaled seconds, and the clock moved far more than the wall.
    assert elapsed < 60, elapsed
    assert moved > timedelta(seconds=300)
