"""Benchmark reading a phone's ground truth over ADB: N sent SMS and their log lines, read
through adbutils -> a private adb server -> the ADB test double (``harness.phone_truth``).

    python benchmarks/adb_truth.py [--sms N]

Starts its own adb server (a free port, its own HOME) and kills it at the end. Prints one
line of figures for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import tempfile
import time

import adbutils

from harness.adb_double import AdbDouble, PhoneModel
from harness.phone_facts import APP_TAG, LOG_LINES
from harness.phone_truth import read_truth


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sms", type=int, default=2000)
    args = parser.parse_args()
    adb = shutil.which("adb")
    if adb is None:
        raise SystemExit("adb is not installed: apt-get install adb")
    phone = PhoneModel()
    for i in range(1, args.sms + 1):
        phone.t = i * 2.0
        line = LOG_LINES["submitted"].format(sms_id=i, parts=1)
        phone.log(APP_TAG, line, "D")
        phone.send_sms(f"+42077{i:07d}", f"Your code is {i:06d}, valid for 10 minutes.", sms_id=i)
    port = _free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home}
        subprocess.run([adb, "-P", str(port), "start-server"], env=env, check=True)
        try:
            with AdbDouble(phone) as double:
                client = adbutils.AdbClient(host="127.0.0.1", port=port)
                client.connect(double.serial, timeout=10)
                while not any(d.serial == double.serial for d in client.device_list()):
                    time.sleep(0.05)
                device = client.device(double.serial)
                start = time.perf_counter()
                truth = read_truth(device, phone.name, phone.sims, phone.epoch)
                wall = time.perf_counter() - start
        finally:
            subprocess.run([adb, "-P", str(port), "kill-server"], env=env, check=False)
    assert len(truth.radio) == args.sms and truth.unlinked == 0
    print(
        f"read_truth: {args.sms} sent SMS and {args.sms} log lines in {wall:.2f} s "
        f"({args.sms / wall:.0f} SMS/s), every row linked to its SMS id"
    )


if __name__ == "__main__":
    main()
