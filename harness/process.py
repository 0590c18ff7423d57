"""A gateway server in its own process: ``hil serve`` on a free loopback port.

Used by real-time runs, tests and benchmarks that must talk to a real uvicorn server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["ServedGateway", "free_port", "served_gateway"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServedGateway:
    """A running ``hil serve``: its process, base URL and log file."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, timeout: float = 30) -> int:
        """Stop it gracefully (SIGTERM) and return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


@contextmanager
def served_gateway(
    db_url: str,
    log: Path,
    *options: str,
    admin_token: str,
    startup_timeout: float = 30,
    env: Mapping[str, str] | None = None,
) -> Iterator[ServedGateway]:
    """Run ``hil serve --db db_url *options`` until the block ends.

    ``env`` adds to (or overrides) this process's environment for the server, e.g. the FCM
    double's ``environment()``. Waits until ``/healthz`` answers; a server that dies or does
    not answer in time fails with its log in the message.
    """
    port = free_port()
    command: Sequence[str] = (
        sys.executable,
        "-m",
        "harness.cli",
        "serve",
        "--db",
        db_url,
        "--port",
        str(port),
        # One argument: a token may start with "-" (token_urlsafe draws from A-Za-z0-9_-),
        # which argparse would take for an option.
        f"--admin-token={admin_token}",
        *options,
    )
    with log.open("w") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
        )
    served = ServedGateway(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"hil serve did not start (exit {process.poll()}); its log:\n" + log.read_text()
                )
            time.sleep(0.1)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
