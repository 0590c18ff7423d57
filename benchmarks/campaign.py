"""Benchmark a scenario run (default: campaign-100k on SQLite): wall time, virtual time,
compression, server requests, peak memory, and the size of each file of the run folder.

    python benchmarks/campaign.py [SCENARIO] [--seed N] [--db URL] [--keep-db]

Prints one line of figures and one of sizes for BENCHMARKS.md; the run folder goes to a
temporary directory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from harness.runner import run_scenario
from scenarios import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="campaign-100k")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--db", help="an empty database URL (default: SQLite in the run folder)")
    parser.add_argument("--keep-db", action="store_true", help="keep (and count) the database")
    args = parser.parse_args()
    scenario = load(args.scenario)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = run_scenario(
            scenario, seed=args.seed, out=Path(tmp), db=args.db, keep_db=args.keep_db
        )
        wall = time.perf_counter() - start
        sizes = {p.name: p.stat().st_size for p in sorted(Path(tmp).iterdir())}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    virtual = result.virtual_duration
    print(
        f"{scenario.name} seed {result.seed}: {'PASSED' if result.passed else 'FAILED'}; "
        f"wall {wall:.1f} s; virtual {virtual / 3600:.2f} h (compression {virtual / wall:.0f}x); "
        f"{result.requests} requests ({wall / result.requests * 1000:.2f} ms of wall each, "
        f"all included); {result.events} events; peak RSS {peak_mib:.0f} MiB"
    )
    files = ", ".join(f"{name} {size / 1e6:.2f} MB" for name, size in sizes.items())
    print(f"run folder {sum(sizes.values()) / 1e6:.2f} MB: {files}")


if __name__ == "__main__":
    main()
