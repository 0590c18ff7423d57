"""Bulk enqueue: 100 000 SMS in one admin call, through the HTTP layer in-process.

Prints one table row per database: wall time of the call and SMS per second. A script,
not a test: run it on a quiet machine.

    python benchmarks/enqueue.py [--count 100000] [--phones 20]
"""

from __future__ import annotations

import argparse
import platform
import time

from fastapi.testclient import TestClient
from server_throughput import TOKEN, database, seed

from server_under_test import ManualClock, Settings, create_app


def run(url: str, count: int, phones: int) -> float:
    """Seconds for one ``POST /admin/sms`` of ``count`` SMS over ``phones`` online phones."""
    app = create_app(Settings(database_url=url, admin_token=TOKEN), clock=ManualClock())
    with TestClient(app) as client:
        seed(client, 0, phones)  # the phones only
        body = {
            "messages": [
                {"number": f"+4206{i:08d}", "body": f"Ahoj, akce tento tyden: sleva 20 % ({i})"}
                for i in range(count)
            ]
        }
        started = time.perf_counter()
        response = client.post(
            "/admin/sms", headers={"Authorization": f"Bearer {TOKEN}"}, json=body
        )
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.text
        assert response.json()["queued"] == count
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--phones", type=int, default=20)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}; {args.count} SMS over {args.phones} online phones"
    )
    print(f"{'database':<12}{'seconds':>10}{'SMS/s':>12}")
    for kind, name in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
        with database(kind) as url:
            seconds = run(url, args.count, args.phones)
        print(f"{name:<12}{seconds:>10.2f}{args.count / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
