"""Bulk enqueue: 100 000 SMS in one admin call, through the HTTP layer in-process.

Prints one table row per database: wall time of the call and SMS per second. A script,
not a test: run it on a quiet machine.

    python benchmarks/enqueue.py [--count 100000] [--phones 20] [--pg URL]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from server_under_test import ManualClock, Settings, create_app

TOKEN = "bench"


def run(url: str, count: int, phones: int) -> float:
    app = create_app(Settings(database_url=url, admin_token=TOKEN), clock=ManualClock())
    with TestClient(app) as client:
        admin = {"Authorization": f"Bearer {TOKEN}"}
        for n in range(phones):
            phone = client.post(
                "/admin/phones",
                headers=admin,
                json={"name": f"P{n}", "phone_number": f"+4207770{n:05d}", "daily_limit": 0},
            ).json()
            client.post("/sms-gateway/heartbeat", headers={"X-API-Key": phone["api_key"]}, json={})
        body = {
            "messages": [
                {"number": f"+4206{i:08d}", "body": f"Ahoj, akce tento tyden: sleva 20 % ({i})"}
                for i in range(count)
            ]
        }
        started = time.perf_counter()
        response = client.post("/admin/sms", headers=admin, json=body)
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text
        assert response.json()["queued"] == count
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--phones", type=int, default=20)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}; {args.count} SMS over {args.phones} online phones"
    )
    print(f"{'database':<12}{'seconds':>10}{'SMS/s':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        seconds = run(str(Path(tmp) / "bench.sqlite3"), args.count, args.phones)
        print(f"{'SQLite':<12}{seconds:>10.2f}{args.count / seconds:>12,.0f}")
    name = f"hil_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        seconds = run(args.pg.rsplit("/", 1)[0] + f"/{name}", args.count, args.phones)
        print(f"{'PostgreSQL':<12}{seconds:>10.2f}{args.count / seconds:>12,.0f}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
