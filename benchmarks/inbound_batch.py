"""One phone's 5 000-STOP inbound-batch beside 20 polling phones, on a served SQLite server.

A script that prints figures, not a test (issue 9). ``hil serve`` on a SQLite file, over
loopback: 21 phones; 20 of them loop ``/pending`` (limit 20) then ``/confirm-batch`` (all
sent) on a queue of SMS, while the 21st posts one ``/inbound-batch`` of 5 000 STOP replies
from 5 000 different senders (a quarter of them numbers with SMS still queued, which the
STOP cancels). Printed: the batch's wall time, and the pollers' ``/pending`` latency
(p50, p99, max) while the batch was being recorded. Target (issue 9): p99 under 1 s.

    python benchmarks/inbound_batch.py
    python benchmarks/inbound_batch.py --stops 5000 --pollers 20 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from pathlib import Path

import httpx

from harness.process import served_gateway

TOKEN = "bench"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


def seed(url: str, pollers: int, queued: int) -> tuple[str, list[str]]:
    """The batch phone's key, the pollers' keys; ``queued`` SMS in the pollers' queues."""
    with httpx.Client(base_url=url, timeout=600) as client:
        keys, ids = [], []
        for n in range(pollers + 1):
            phone = client.post(
                "/admin/phones",
                headers=ADMIN,
                json={"name": f"P{n}", "phone_number": f"+4207770{n:05d}", "daily_limit": 0},
            ).json()
            client.post("/sms-gateway/heartbeat", headers={"X-API-Key": phone["api_key"]}, json={})
            keys.append(phone["api_key"])
            ids.append(phone["id"])
        batch_key, poll_keys = keys[0], keys[1:]
        # The batch phone goes offline again so that its queue stays empty.
        client.patch(f"/admin/phones/{ids[0]}", headers=ADMIN, json={"active": False})
        client.post(
            "/admin/sms",
            headers=ADMIN,
            json={
                "messages": [
                    {"number": f"+4206{i:08d}", "body": f"Akce tento tyden ({i})"}
                    for i in range(queued)
                ]
            },
        ).raise_for_status()
        client.patch(f"/admin/phones/{ids[0]}", headers=ADMIN, json={"active": True})
    return batch_key, poll_keys


async def poller(
    client: httpx.AsyncClient, key: str, stop: asyncio.Event, samples: list[tuple[float, float]]
) -> int:
    """Poll and confirm until ``stop``; (start, latency) of each ``/pending``; 5xx count."""
    headers = {"X-API-Key": key}
    failures = 0
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.post("/sms-gateway/pending", headers=headers, json={"limit": 20})
        samples.append((started, time.perf_counter() - started))
        if response.status_code >= 500:
            failures += 1
            continue
        got = response.json()["sms_list"]
        if got:
            confirm = await client.post(
                "/sms-gateway/confirm-batch",
                headers=headers,
                json={"results": [{"id": s["id"], "status": "sent"} for s in got]},
            )
            failures += confirm.status_code >= 500
        else:
            await asyncio.sleep(0.2)
    return failures


async def run(url: str, batch_key: str, poll_keys: list[str], stops: int) -> None:
    limits = httpx.Limits(max_connections=len(poll_keys) + 2)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        stop = asyncio.Event()
        samples: list[tuple[float, float]] = []
        tasks = [asyncio.create_task(poller(client, k, stop, samples)) for k in poll_keys]
        await asyncio.sleep(2)  # the pollers warm up
        body = {
            "messages": [
                {"from_number": f"+4206{i * 4:08d}", "message": "STOP", "to_number": ""}
                for i in range(stops)
            ]
        }
        began = time.perf_counter()
        response = await client.post(
            "/sms-gateway/inbound-batch", headers={"X-API-Key": batch_key}, json=body
        )
        ended = time.perf_counter()
        await asyncio.sleep(1)
        stop.set()
        failures = sum(await asyncio.gather(*tasks))
    result = response.json()
    during = [lat for start, lat in samples if began <= start <= ended]
    print(f"inbound-batch of {stops} STOPs: {ended - began:.2f} s, HTTP {response.status_code}")
    print(f"  recorded {result.get('recorded')}, newly blacklisted {result.get('blacklisted')}")
    print(
        f"/pending of {len(poll_keys)} pollers during the batch: {len(during)} polls, "
        f"p50 {percentile(during, 50):.0f} ms, p99 {percentile(during, 99):.0f} ms, "
        f"max {max(during) * 1000:.0f} ms; 5xx answers (all phases): {failures}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stops", type=int, default=5000)
    parser.add_argument("--pollers", type=int, default=20)
    parser.add_argument("--queued", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, SQLite")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        with served_gateway(
            url, Path(tmp) / "serve.log", "--workers", str(args.workers), admin_token=TOKEN
        ) as served:
            batch_key, poll_keys = seed(served.url, args.pollers, args.queued)
            asyncio.run(run(served.url, batch_key, poll_keys, args.stops))


if __name__ == "__main__":
    main()
