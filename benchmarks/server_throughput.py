"""Server throughput: pickup latency at scale, and end-to-end SMS/s over loopback HTTP.

A script that prints tables, not a test. Two parts:

1. **Pickup latency** — 10 000 / 100 000 / 1 000 000 queued SMS spread over 50 online
   phones, on SQLite and PostgreSQL; ``/pending`` at limit 20, p50 and p99 over many polls.
   Two figures: the service alone (one transaction: lock, capacity, select, update) and the
   whole HTTP request in-process (routing, JSON, auth, the transaction).
2. **End to end** — ``hil serve --workers 1|2`` over loopback; 50 concurrent virtual phones
   each loop ``/pending`` (limit 20) then ``/confirm-batch`` (all sent) until the queue is
   empty; SMS/s = SMS confirmed / wall time. The load generator shares the machine.

    python benchmarks/server_throughput.py                 # everything (several minutes)
    python benchmarks/server_throughput.py --sizes 10000 --e2e-sms 20000   # quick look
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from server_under_test import ManualClock, SeededIds, Settings, create_app
from server_under_test.services import dispatch, phones
from server_under_test.storage.database import Database

TOKEN = "bench"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh database URL of ``kind`` ('sqlite' or 'pg'), removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield str(Path(tmp) / "bench.sqlite3")
        return
    name = f"hil_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed(client: httpx.Client | TestClient, queued: int, n_phones: int) -> list[str]:
    """Register ``n_phones`` online phones without limits and queue ``queued`` SMS."""
    admin = {"Authorization": f"Bearer {TOKEN}"}
    keys = []
    for n in range(n_phones):
        phone = client.post(
            "/admin/phones",
            headers=admin,
            json={"name": f"P{n}", "phone_number": f"+4207770{n:05d}", "daily_limit": 0},
        ).json()
        client.post("/sms-gateway/heartbeat", headers={"X-API-Key": phone["api_key"]}, json={})
        keys.append(phone["api_key"])
    done = 0
    while done < queued:
        chunk = min(100_000, queued - done)
        body = {
            "messages": [
                {"number": f"+4206{i:08d}", "body": f"Akce tento tyden, sleva 20 % ({i})"}
                for i in range(done, done + chunk)
            ]
        }
        response = client.post("/admin/sms", headers=admin, json=body, timeout=600)
        response.raise_for_status()
        done += chunk
        print(f"    queued {done:,}", end="\r", flush=True)
    if queued:
        print(" " * 30, end="\r")
    return keys


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank, in milliseconds."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000


def pickup_latency(kind: str, queued: int, n_phones: int, polls: int) -> tuple[float, ...]:
    """p50/p99 of the pickup service and of the in-process HTTP request."""
    with database(kind) as url:
        db = Database(url)
        db.migrate()
        app = create_app(
            Settings(database_url=url, admin_token=TOKEN),
            clock=ManualClock(),
            ids=SeededIds(random.Random(1)),
            database=db,
        )
        gateway = app.state.gateway
        with TestClient(app) as client:
            keys = seed(client, queued, n_phones)
            # Round robin: 2 x polls / phones pickups of 20 per phone must fit its queue.
            turn = itertools.cycle(keys)
            service: list[float] = []
            for _ in range(polls):
                with db.begin() as conn:
                    phone = phones.authenticate(conn, next(turn))
                started = time.perf_counter()
                with db.begin() as conn:
                    got = dispatch.pickup(conn, gateway.ctx, phone, 20)
                service.append(time.perf_counter() - started)
                assert len(got.sms) == 20
            http: list[float] = []
            for _ in range(polls):
                key = next(turn)
                started = time.perf_counter()
                response = client.post(
                    "/sms-gateway/pending", headers={"X-API-Key": key}, json={"limit": 20}
                )
                http.append(time.perf_counter() - started)
                assert len(response.json()["sms_list"]) == 20
        db.dispose()
    return (
        percentile(service, 50),
        percentile(service, 99),
        percentile(http, 50),
        percentile(http, 99),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def drain(base: str, keys: list[str]) -> int:
    """50 phones poll and confirm until every queue is empty; returns SMS confirmed."""
    confirmed = 0
    # Expire idle connections before uvicorn's 5 s keep-alive does, so a request is never
    # sent on a connection the server is closing at that moment.
    limits = httpx.Limits(
        max_connections=len(keys), max_keepalive_connections=len(keys), keepalive_expiry=2
    )
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def post(path: str, headers: dict[str, str], body: object) -> dict:
            # Both calls are safe to repeat (a lost /pending answer strands its SMS in
            # processing, which the run then reports as unconfirmed).
            for attempt in range(3):
                try:
                    reply = await client.post(path, headers=headers, json=body)
                    return dict(reply.json())
                except httpx.TransportError:
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")

        async def phone(key: str) -> None:
            nonlocal confirmed
            headers = {"X-API-Key": key}
            while True:
                got = (await post("/sms-gateway/pending", headers, {"limit": 20}))["sms_list"]
                if not got:
                    return
                results = [{"id": s["id"], "status": "sent"} for s in got]
                reply = await post("/sms-gateway/confirm-batch", headers, {"results": results})
                confirmed += len(reply["ack_ids"])

        await asyncio.gather(*(phone(k) for k in keys))
    return confirmed


def end_to_end(kind: str, workers: int, queued: int, n_phones: int) -> float:
    """SMS/s through ``hil serve --workers N`` over loopback."""
    with database(kind) as url, tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        log = open(Path(tmp) / "serve.log", "w")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.cli",
                "serve",
                "--db",
                url,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--admin-token",
                TOKEN,
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            with httpx.Client(base_url=base) as client:
                keys = seed(client, queued, n_phones)
            started = time.perf_counter()
            confirmed = asyncio.run(drain(base, keys))
            elapsed = time.perf_counter() - started
        except BaseException:
            log.flush()
            print((Path(tmp) / "serve.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            log.close()
        if confirmed != queued:
            raise SystemExit(f"only {confirmed} of {queued} SMS were confirmed")
        return confirmed / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="queued SMS, comma list")
    parser.add_argument("--db", default="pg,sqlite", help="databases: pg, sqlite")
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--polls", type=int, default=200, help="polls per latency figure")
    parser.add_argument("--e2e-sms", type=int, default=60_000, help="SMS drained end to end")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.db.split(",")]
    names = {"pg": "PostgreSQL", "sqlite": "SQLite"}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    if not args.skip_latency:
        print(f"\n/pending latency, limit 20, {args.phones} phones, {args.polls} polls (ms)")
        print(
            f"{'database':<12}{'queued':>11}{'svc p50':>9}{'svc p99':>9}{'http p50':>10}"
            f"{'http p99':>10}"
        )
        for kind in kinds:
            for size in (int(s) for s in args.sizes.split(",")):
                figures = pickup_latency(kind, size, args.phones, args.polls)
                print(
                    f"{names[kind]:<12}{size:>11,}"
                    + "".join(
                        f"{f:>9.2f}" if i < 2 else f"{f:>10.2f}" for i, f in enumerate(figures)
                    )
                )
    if not args.skip_e2e:
        print(f"\nend to end, {args.e2e_sms:,} SMS, {args.phones} concurrent phones, loopback")
        print(f"{'database':<12}{'workers':>8}{'SMS/s':>10}")
        for kind in kinds:
            for workers in (1, 2):
                rate = end_to_end(kind, workers, args.e2e_sms, args.phones)
                print(f"{names[kind]:<12}{workers:>8}{rate:>10,.0f}")


if __name__ == "__main__":
    main()
