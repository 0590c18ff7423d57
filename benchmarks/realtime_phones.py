"""How many virtual phones one process drives in real time against ``hil serve``.

A script that prints figures, not a test (issue: "heartbeat lateness p99 < 1 s with
>= 2 000 phones on this 2-core machine; record the server's request rate at that load").

For each fleet size N of ``--phones``: a fresh PostgreSQL database, ``hil serve --workers 2``
on it (its own clock and job scheduler, no FCM credentials), N phones registered through
``POST /admin/phones``, and a ``World`` of N virtual phones (the app 1.7.1 model of
``simulator/app.py``, the same class as in virtual time) on a ``WallClockEnvironment`` at
scale 1, talking to the server through ``HttpTransport``: heartbeat alarm every 60 s, poll
alarm every 300 s, status sync every 3 s, sweep every 30 s, FCM token registration at start
and every 10th heartbeat. Phone starts are spread evenly over ``--stagger`` seconds, as a
real fleet's phones were switched on at different moments (all N heartbeat alarms on the
same second would be a thundering herd nobody has). A light workload: ``--sms-per-phone``
SMS per phone, enqueued through the admin API every 10 s from the end of the stagger on,
so that heartbeats answer ``pending_count`` and the safety-net polls return SMS, which the
phones send and confirm.

Heartbeat lateness is measured per heartbeat request: the wall time at which its answer
reached the phone minus the simulation time at which the phone sent it. At scale 1 the
simulation time of the send is the heartbeat's schedule (the alarm's due time, or the end
of the poll it queued behind on the app's serial executor: that wait is the app's own
behaviour, not the harness falling behind, and is left out). So the figure adds up the
driving process being late to run the alarm, the wait for a connection, the server's
queue and the server's answer. Also printed: ``env.lateness`` (every SimPy event of the
fleet, how late it ran behind its due time), the device requests per second the phones
made, the CPU of this process, of the server's processes, of PostgreSQL and of anything
else on the machine (a shared machine: other sessions' work shows there), and failed
requests (timeouts, connection errors, non-2xx answers). A size meets the target when its
heartbeat lateness p99 is under 1 s. Each size takes about 12 minutes with the defaults.

    python benchmarks/realtime_phones.py                          # 500,1000,2000,3000
    python benchmarks/realtime_phones.py --phones 2000,3000,3500,4000
    python benchmarks/realtime_phones.py --phones 200 --stagger 20 --warmup 30 --window 60
    python benchmarks/realtime_phones.py --phones 2000 --profile prof.out   # cProfile, window
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import simpy
from sqlalchemy import create_engine, text

from harness.control import AdminControl
from harness.process import served_gateway
from harness.wire import HttpTransport
from simulator.config import PhoneSpec, SimSpec, WorldSpec
from simulator.port import Reply
from simulator.realtime import Lateness, WallClockEnvironment
from simulator.world import World

TOKEN = "bench"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET = 1.0  # seconds: heartbeat lateness p99 must stay under this
STEP = 10.0  # seconds between progress lines (and between enqueues)
TICK = os.sysconf("SC_CLK_TCK")


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards."""
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


def postmaster() -> int:
    """The PostgreSQL server's process id (0: not found, no figure)."""
    for pidfile in Path("/var/run/postgresql").glob("*.pid"):
        return int(pidfile.read_text().split()[0])
    return 0


def machine_cpu() -> float:
    """CPU seconds the whole machine has been busy (all cores, /proc/stat)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / TICK


def process_tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its descendants, those that ended
    included (their parents' reaped-children times)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(ticks.get(p, 0) for p in tree) / TICK


class TimedTransport:
    """``HttpTransport`` with a stopwatch: how late each heartbeat's answer reached its
    phone behind the moment the phone sent it, and how each request ended."""

    def __init__(self, inner: HttpTransport, env: WallClockEnvironment) -> None:
        self.inner = inner
        self.env = env
        self.measure_from = float("inf")  # simulation time the measured window starts
        self.heartbeat = Lateness()  # answer reached the phone - schedule
        self.dispatch = Lateness()  # request handed to the transport - schedule
        self.round_trip = Lateness()  # answer reached the phone - request handed over
        self.endpoints: collections.Counter[str] = collections.Counter()
        self.failures: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.most_in_flight = 0

    def send(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        auth: str,
        timeout: float,
    ) -> simpy.Event:
        event = self.inner.send(api_key, endpoint, body, auth=auth, timeout=timeout)
        due = self.env.now  # the schedule: the due time of the event that made the request
        handed = self.env.wall_now()
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        event.callbacks.append(lambda done: self._answered(endpoint, due, handed, done.value))
        return event

    def _answered(self, endpoint: str, due: float, handed: float, reply: Reply) -> None:
        self.in_flight -= 1
        if due < self.measure_from:
            return
        self.endpoints[endpoint.split("/")[0]] += 1
        if endpoint == "heartbeat":
            # scale 1: simulation seconds are wall seconds
            answered = self.env.wall_now()
            self.heartbeat.add(answered - due)
            self.dispatch.add(handed - due)
            self.round_trip.add(answered - handed)
        if reply.status == 0:
            self.failures[reply.error or "connection"] += 1
        elif not reply.ok:
            self.failures[f"HTTP {reply.status}"] += 1


@dataclass
class Result:
    """One fleet size's figures over the measured window."""

    phones: int
    wall: float
    requests: int
    heartbeats: int
    hb_p50: float
    hb_p99: float
    hb_max: float
    dispatch_p99: float  # of heartbeats: the driver late to hand the request over
    round_trip_p99: float  # of heartbeats: handed over -> answer back at the phone
    events: int
    ev_p99: float
    ev_max: float
    harness_cpu: float  # cores
    server_cpu: float  # cores (hil serve and its workers)
    postgres_cpu: float  # cores (the whole PostgreSQL cluster, other users' queries too)
    other_cpu: float  # cores: the machine busy with anything but the three above
    failures: dict[str, int]
    enqueued: int
    enqueue_failures: int
    most_in_flight: int
    endpoints: dict[str, int]

    @property
    def rate(self) -> float:
        return self.requests / self.wall

    @property
    def met(self) -> bool:
        return self.heartbeats > 0 and self.hb_p99 < TARGET


def register(url: str, n: int) -> dict[str, str]:
    """Register ``n`` phones through the admin API; their API keys by name."""
    specs = phone_specs(n, stagger=0.0)
    keys: dict[str, str] = {}
    with httpx.Client(base_url=url, headers=ADMIN, timeout=60) as client:

        def send(method: str, path: str, *, at: float, **kw: Any) -> httpx.Response:
            del at
            return client.request(method, f"/admin{path}", **kw)

        control = AdminControl(send, lambda *a, **kw: None)
        for first in range(0, n, 250):
            made = control.register(specs[first : first + 250], at=0.0)
            keys.update({name: key.api_key for name, key in made.items()})
            print(f"    registered {len(keys):,} of {n:,}", end="\r", flush=True)
    print(" " * 40, end="\r")
    return keys


def phone_specs(n: int, stagger: float) -> list[PhoneSpec]:
    """``n`` single-SIM phones of the app 1.7.1, switched on evenly over ``stagger`` s."""
    return [
        PhoneSpec(
            name=f"P{i:05d}",
            sims=(SimSpec(number=f"+42077{i:07d}"),),
            daily_limit=0,  # no limit: the light workload never trips one
            start_at=i * stagger / n,
        )
        for i in range(n)
    ]


def enqueuer(
    env: WallClockEnvironment,
    url: str,
    total: int,
    start: float,
    end: float,
    tally: dict[str, int],
) -> simpy.events.ProcessGenerator:
    """A SimPy process: ``total`` SMS enqueued in equal chunks every ``STEP`` seconds from
    ``start`` to ``end``, each POST an asyncio task so the phones never wait for it."""
    client = httpx.AsyncClient(base_url=url, headers=ADMIN, timeout=120)
    chunks = max(1, int((end - start) // STEP))
    sizes = [total // chunks + (1 if i < total % chunks else 0) for i in range(chunks)]
    numbers = iter(range(10**8))

    async def post(messages: list[dict[str, str]]) -> None:
        try:
            response = await client.post("/admin/sms", json={"messages": messages})
            ok = response.status_code == 201
        except httpx.HTTPError:
            ok = False
        tally["enqueued" if ok else "failed"] += len(messages)

    yield env.timeout(start)
    for size in sizes:
        messages = [
            {"number": f"+4206{next(numbers):08d}", "body": "Akce tento tyden, sleva 20 %"}
            for _ in range(size)
        ]
        env.loop.create_task(post(messages))
        yield env.timeout(STEP)


def drive(url: str, keys: dict[str, str], args: argparse.Namespace) -> Result:
    """Run the fleet against ``url`` for the warm-up and the window; measure the window."""
    n = len(keys)
    env = WallClockEnvironment(1.0)
    http = HttpTransport(env, url)
    transport = TimedTransport(http, env)
    spec = WorldSpec(phones=tuple(phone_specs(n, args.stagger)))
    world = World(
        spec,
        http.blocking,
        keys,
        seed=1,
        start=datetime.now(UTC),
        env=env,
        transport=transport,
    )
    horizon = args.warmup + args.window
    tally: dict[str, int] = collections.Counter()
    env.process(enqueuer(env, url, args.sms_per_phone * n, args.stagger + 5.0, horizon, tally))
    profiler = cProfile.Profile() if args.profile else None
    try:
        t = 0.0
        marks: dict[str, float] = {}
        while t < horizon:
            if t == args.warmup:  # the measured window begins
                transport.measure_from = t
                env.lateness = Lateness()
                marks = {
                    "wall": time.monotonic(),
                    "cpu": time.process_time(),
                    "server": process_tree_cpu(args.server_pid),
                    "postgres": process_tree_cpu(postmaster()),
                    "machine": machine_cpu(),
                    "requests": http.requests,
                }
                if profiler:
                    profiler.enable()
            before = http.requests
            t = min(horizon, t + STEP, args.warmup if t < args.warmup else horizon)
            env.run(until=t)
            phase = "warm-up" if t <= args.warmup else "window "
            print(
                f"    {phase} t={t:5.0f} s  {(http.requests - before) / STEP:6.1f} req/s  "
                f"in flight max {transport.most_in_flight:4d}  heartbeat p99 "
                f"{transport.heartbeat.quantile(0.99):6.3f} s  events p99 "
                f"{env.lateness.quantile(0.99):6.3f} s",
                flush=True,
            )
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{args.profile}.{n}")
        wall = time.monotonic() - marks["wall"]
        harness_cpu = (time.process_time() - marks["cpu"]) / wall
        server_cpu = (process_tree_cpu(args.server_pid) - marks["server"]) / wall
        postgres_cpu = (process_tree_cpu(postmaster()) - marks["postgres"]) / wall
        busy = (machine_cpu() - marks["machine"]) / wall
        result = Result(
            phones=n,
            wall=wall,
            requests=http.requests - int(marks["requests"]),
            heartbeats=transport.heartbeat.count,
            hb_p50=transport.heartbeat.quantile(0.5),
            hb_p99=transport.heartbeat.quantile(0.99),
            hb_max=transport.heartbeat.worst,
            dispatch_p99=transport.dispatch.quantile(0.99),
            round_trip_p99=transport.round_trip.quantile(0.99),
            events=env.lateness.count,
            ev_p99=env.lateness.quantile(0.99),
            ev_max=env.lateness.worst,
            harness_cpu=harness_cpu,
            server_cpu=server_cpu,
            postgres_cpu=postgres_cpu,
            other_cpu=max(0.0, busy - harness_cpu - server_cpu - postgres_cpu),
            failures=dict(transport.failures),
            enqueued=tally["enqueued"],
            enqueue_failures=tally["failed"],
            most_in_flight=transport.most_in_flight,
            endpoints=dict(transport.endpoints),
        )
    finally:
        http.close()
        env.close()
    del world
    return result


def measure(n: int, args: argparse.Namespace) -> Result:
    """One fleet size on a fresh database and a fresh server."""
    with fresh_database() as db, tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        options = ("--workers", str(args.workers), "--log-level", "warning")
        with served_gateway(db, log, *options, admin_token=TOKEN) as served:
            args.server_pid = served.process.pid
            started = time.monotonic()
            keys = register(served.url, n)
            print(f"  {n:,} phones registered in {time.monotonic() - started:.0f} s")
            result = drive(served.url, keys, args)
        problems = [line for line in log.read_text().splitlines() if "Traceback" in line]
        if problems:
            print(f"  the server logged {len(problems)} tracebacks; its log's end:")
            print("\n".join(log.read_text().splitlines()[-20:]))
    return result


def report(r: Result) -> None:
    failures = ", ".join(f"{k} {v}" for k, v in sorted(r.failures.items())) or "none"
    mix = ", ".join(f"{k} {v}" for k, v in sorted(r.endpoints.items()))
    print(
        f"  {r.phones:,} phones over {r.wall:.0f} s: {r.rate:.1f} device req/s ({mix})\n"
        f"  heartbeat lateness p50 {r.hb_p50:.3f} s, p99 {r.hb_p99:.3f} s, max "
        f"{r.hb_max:.3f} s over {r.heartbeats:,} heartbeats: "
        f"{'target met' if r.met else 'TARGET MISSED'} (p99 < {TARGET:.0f} s)\n"
        f"    of which p99: the driver late to send {r.dispatch_p99:.3f} s, the round trip "
        f"{r.round_trip_p99:.3f} s\n"
        f"  every event (env.lateness): p99 {r.ev_p99:.3f} s, max {r.ev_max:.3f} s over "
        f"{r.events:,} events\n"
        f"  CPU (of one core): harness {r.harness_cpu:.0%}, server {r.server_cpu:.0%}, "
        f"PostgreSQL {r.postgres_cpu:.0%}, anything else on the machine {r.other_cpu:.0%}; "
        f"requests in flight at most {r.most_in_flight}\n"
        f"  failed requests: {failures}; SMS enqueued {r.enqueued:,} "
        f"(refused or failed {r.enqueue_failures})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.split("\n")[2:]),
    )
    parser.add_argument("--phones", default="500,1000,2000,3000", help="fleet sizes, comma list")
    parser.add_argument("--workers", type=int, default=2, help="hil serve worker processes")
    parser.add_argument(
        "--stagger",
        type=float,
        default=300.0,
        help="phone starts spread over s (300: one poll period)",
    )
    parser.add_argument(
        "--warmup", type=float, default=330.0, help="seconds before the window (>= --stagger)"
    )
    parser.add_argument(
        "--window", type=float, default=300.0, help="measured seconds (300: one poll period)"
    )
    parser.add_argument("--sms-per-phone", type=int, default=3, help="SMS enqueued per phone")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the window to FILE.<N>")
    args = parser.parse_args()
    if args.warmup < args.stagger or args.window < 60:
        parser.error(
            "--warmup must be at least --stagger, and --window at least 60 s (one heartbeat "
            "period, so that every phone heartbeats in it)."
        )
    sizes = [int(s) for s in args.phones.split(",")]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}; hil serve "
        f"--workers {args.workers} on PostgreSQL; warm-up {args.warmup:.0f} s, window "
        f"{args.window:.0f} s, starts spread over {args.stagger:.0f} s, "
        f"{args.sms_per_phone} SMS per phone"
    )
    results = []
    for n in sizes:
        print(f"\n{n:,} phones")
        results.append(measure(n, args))
        report(results[-1])
    print(
        f"\n{'phones':>7}{'req/s':>8}{'hb p50':>8}{'hb p99':>8}{'hb max':>8}{'ev p99':>8}"
        f"{'harness':>9}{'server':>8}{'pg':>6}{'others':>8}{'failed':>8}  p99 < 1 s"
    )
    for r in results:
        print(
            f"{r.phones:>7,}{r.rate:>8.1f}{r.hb_p50:>8.3f}{r.hb_p99:>8.3f}{r.hb_max:>8.3f}"
            f"{r.ev_p99:>8.3f}{r.harness_cpu:>9.0%}{r.server_cpu:>8.0%}{r.postgres_cpu:>6.0%}"
            f"{r.other_cpu:>8.0%}"
            f"{sum(r.failures.values()):>8}  {'yes' if r.met else 'no'}"
        )
    met = [r for r in results if r.met]
    if met:
        best = max(met, key=lambda r: r.phones)
        print(
            f"\nlargest fleet on schedule: {best.phones:,} phones, the server at "
            f"{best.rate:.1f} device requests/s"
        )
    else:
        print("\nno fleet size kept heartbeat lateness p99 under 1 s")


if __name__ == "__main__":
    main()
