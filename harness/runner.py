"""A run: scenario + seed -> server + world -> history -> verdicts -> run folder.

The server is built in this process on a fresh database (a SQLite file in the run folder by
default), seeded through its admin API; the world's phones talk to it through
:class:`~harness.inprocess.InProcessGateway`; the harness enqueues the scenario's batches
and fires the server's periodic jobs at their virtual times. The run ends when every SMS
is final and every phone has nothing left to report (``drain``), or at ``max_duration``,
or when the caller's ``interrupt`` says so (Ctrl-C): then the history so far and a
``verdicts.json`` that says when are written, and nothing is judged.

Errors: ``RunError`` is the root; ``RunInputError`` (bad input: the run folder, the
database URL, a database that is not empty) and ``TargetError`` (the database or the
server under test failed) say whose fault it was.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from scenarios.model import Scenario
from server_under_test import MAX_ENQUEUE, Settings
from server_under_test.storage.database import Database, normalise_url
from simulator.android import cap_in_force
from simulator.config import PhoneSpec
from simulator.world import World

from .inprocess import AdminError, InProcessGateway
from .oracles import Evidence, Verdict, judge
from .workload import Recipient, recipients_for, texts_for

__all__ = [
    "OWNED_FILES",
    "Progress",
    "RunError",
    "RunInputError",
    "RunResult",
    "TargetError",
    "masked_url",
    "prepare_out",
    "run_scenario",
]

JOB_PERIODS = {"heartbeat_check": 60.0, "stuck_reset": 300.0}
DRAIN_CHECK = 300.0  # virtual seconds between checks of the server's queue
STEP = 60.0  # virtual seconds per progress step
DATABASE_FILE = "gateway.sqlite3"
# What a run writes to its folder: a reused folder loses exactly these.
OWNED_FILES = (
    "history.jsonl",
    "server_state.json",
    "verdicts.json",
    "summary.md",
    DATABASE_FILE,
    f"{DATABASE_FILE}-wal",
    f"{DATABASE_FILE}-shm",
    f"{DATABASE_FILE}-journal",
)


class RunError(RuntimeError):
    """A run could not be made or finished; the message says why and what to do."""


class RunInputError(RunError):
    """Bad input: the run folder, the database URL, a database that is not empty."""


class TargetError(RunError):
    """The database or the server under test failed."""


def masked_url(url: str) -> str:
    """A database URL fit to print: its password, if any, replaced by ``***``."""
    try:
        parsed = make_url(normalise_url(url))
    except (ArgumentError, ValueError):
        # Unparsable: mask whatever sits between "user:" and "@" all the same.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def prepare_out(out: Path) -> list[str]:
    """Make ``out`` a writable run folder; return the earlier run's files it removed.

    A folder holding anything but a run's files (``OWNED_FILES``) is refused, never cleared.
    """
    if out.exists() and not out.is_dir():
        raise RunInputError(
            f"The run folder {out} is not a folder (it is a file or a device); give a folder "
            "with --out."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OWNED_FILES)
        if not foreign:
            probe = out / ".hil-write-check"
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as exc:
        raise RunInputError(
            f"Cannot write to the run folder {out}: {exc.strerror or exc}. Give a writable "
            "folder with --out."
        ) from exc
    if foreign:
        raise RunInputError(
            f"The run folder {out} holds files that are not a run's ({', '.join(foreign[:5])}); "
            "give an empty folder, or one an earlier run wrote, with --out."
        )
    removed = [name for name in OWNED_FILES if (out / name).exists()]
    for name in removed:
        (out / name).unlink()
    return removed


def _one_line(exc: BaseException) -> str:
    """The driver's own first line for a database error, else the exception's."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class Progress:
    """Where a run is: virtual and wall time, SMS sent so far."""

    virtual: float
    horizon: float
    wall: float
    transmitted: int
    enqueued: int


@dataclass
class RunResult:
    """What a run produced."""

    scenario: Scenario
    seed: int
    out: Path
    verdicts: list[Verdict]
    expected_failures: tuple[str, ...]
    hits: dict[str, int]
    missing_hits: list[str]
    virtual_duration: float
    wall_seconds: float
    digest: str
    requests: int
    events: int
    summary: dict[str, Any] = field(default_factory=dict)
    interrupted: str | None = None  # what stopped the run early (a signal's name)

    @property
    def passed(self) -> bool:
        """Every oracle as expected (green, or red where the scenario expects red) and every
        demanded dangerous path hit; an interrupted run never passed."""
        if self.interrupted is not None:
            return False
        for verdict in self.verdicts:
            expected_red = verdict.name in self.expected_failures
            if verdict.passed == expected_red:
                return False
        return not self.missing_hits


def _database_url(db: str | None, out: Path) -> str:
    if db is None:
        return f"sqlite:///{out / DATABASE_FILE}"
    url = normalise_url(db)
    shown = masked_url(db)
    try:
        database = Database(url)
    except Exception as exc:  # a URL SQLAlchemy cannot parse, an unsupported database
        raise RunInputError(
            f"Cannot use the database URL {shown!r}: {_one_line(exc)}. Give a SQLite path "
            "or a postgresql://user@host:port/dbname URL with --db."
        ) from exc
    try:
        with database.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
    except Exception as exc:  # the driver's own first line says what is wrong
        raise TargetError(f"Cannot open the database {shown}: {_one_line(exc)}") from exc
    finally:
        database.dispose()
    if tables - {"alembic_version"}:
        raise RunInputError(
            f"The database {shown!r} is not empty (it has tables: "
            f"{', '.join(sorted(tables)[:5])}...). A run needs an empty database: it must "
            "own every row it judges."
        )
    return url


class _Run:
    def __init__(self, scenario: Scenario, seed: int, out: Path, db: str | None) -> None:
        self.scenario = scenario
        self.seed = seed
        self.out = out
        prepare_out(out)
        url = _database_url(db, out)
        self.database = masked_url(url)  # the URL the server used, fit to print
        settings = Settings(
            database_url=url,
            admin_token="hil-run-admin",  # noqa: S106 - see inprocess.ADMIN_TOKEN
            timezone=scenario.timezone,
            defects=frozenset(scenario.defects),
            stop_keywords=tuple(scenario.world.recipients.stop_words),
            run_scheduler=False,
        )
        self.gateway = InProcessGateway(settings, start=scenario.start, seed=seed)
        self.tz = ZoneInfo(scenario.timezone)
        self.phone_ids: dict[str, int] = {}
        keys = self._seed_phones()
        self.world = World(scenario.world, self.gateway, keys, seed=seed, start=scenario.start)
        self.gateway.waker.push = self.world.fcm.push
        self.history = self.world.history
        self.enqueued = 0
        self.batches_done = 0
        self.campaigns: dict[str, int] = {}
        self.last_people: list[Recipient] = []
        self.taken: set[str] = set()
        self.interrupted: str | None = None
        self._emit_config()

    # -- setup ----------------------------------------------------------------------------

    def _seed_phones(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        for phone in self.scenario.world.phones:
            body: dict[str, Any] = {
                "name": phone.name,
                "phone_number": phone.sims[0].number,
                "daily_limit": phone.daily_limit,
                "monthly_limit": phone.monthly_limit,
                "rate_limit": phone.rate_limit,
            }
            if len(phone.sims) > 1:
                body["phone_number_2"] = phone.sims[1].number
            try:
                made = self.gateway.admin("POST", "/phones", at=0.0, expect=201, json=body).json()
            except AdminError as exc:
                raise RunInputError(f"The server refused phone {phone.name}: {exc}") from exc
            keys[phone.name] = made["api_key"]
            self.phone_ids[phone.name] = made["id"]
        return keys

    def _caps(self, phone: PhoneSpec, booted_since_grant: bool) -> list[dict[str, Any]]:
        cap = cap_in_force(phone.android, booted_since_grant)
        return [
            {"slot": slot, "max_count": cap.max_count, "period": cap.period, "exempt": False}
            for slot in range(len(phone.sims))
        ]

    def _emit_config(self) -> None:
        s = self.scenario
        self.history.emit(
            0.0,
            "config",
            scenario=s.name,
            seed=self.seed,
            start=s.start.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ"),
            timezone=s.timezone,
            phones={
                p.name: {
                    "server_id": self.phone_ids[p.name],
                    "sims": [sim.number for sim in p.sims],
                    "daily_limit": p.daily_limit,
                    "monthly_limit": p.monthly_limit,
                    "rate_limit": p.rate_limit,
                    "app": p.app.name,
                    "caps": self._caps(p, booted_since_grant=False),
                    "caps_after_reboot": self._caps(p, booted_since_grant=True),
                }
                for p in s.world.phones
            },
        )

    # -- processes ------------------------------------------------------------------------

    def _workload(self) -> Generator[Any, Any, None]:
        env = self.world.env
        for index, batch in enumerate(self.scenario.workload):
            if batch.at > env.now:
                yield env.timeout(batch.at - env.now)
            campaign_id = None
            if batch.campaign is not None:
                campaign_id = self.campaigns.get(batch.campaign)
                if campaign_id is None:
                    made = self.gateway.admin(
                        "POST",
                        "/campaigns",
                        at=env.now,
                        expect=201,
                        json={"name": batch.campaign, "delivery": batch.delivery},
                    ).json()
                    campaign_id = self.campaigns[batch.campaign] = made["id"]
            if batch.same_recipients:
                people = self.last_people[: batch.count]
            else:
                people = recipients_for(
                    batch.count, seed=self.seed, salt=f"batch{index}", taken=self.taken
                )
            self.last_people = people
            texts = texts_for(batch, people)
            messages = []
            sims = [sim.number for phone in self.scenario.world.phones for sim in phone.sims]
            for i, (person, text) in enumerate(zip(people, texts, strict=True)):
                item: dict[str, Any] = {
                    "number": person.number,
                    "body": text,
                    "delivery": batch.delivery,
                }
                if batch.sims == "split":
                    item["sim_number"] = sims[i % len(sims)]
                if campaign_id is not None:
                    item["campaign_id"] = campaign_id
                messages.append(item)
            answered: list[int | None] = []
            states: dict[str, int] = {}
            # the admin API takes at most MAX_ENQUEUE SMS a call
            for first in range(0, len(messages), MAX_ENQUEUE):
                chunk = messages[first : first + MAX_ENQUEUE]
                answer = self.gateway.admin(
                    "POST", "/sms", at=env.now, expect=201, json={"messages": chunk}
                ).json()
                answered.extend(answer["ids"])
                for state, count in answer["states"].items():
                    states[state] = states.get(state, 0) + count
            ids = [i for i in answered if i is not None]
            self.enqueued += len(ids)
            self.history.emit(
                env.now,
                "enqueued",
                batch=index,
                ids=ids,
                refused=len(answered) - len(ids),
                states=states,
            )
            self.batches_done += 1

    def _job(self, name: str, due: Callable[[float], float]) -> Generator[Any, Any, None]:
        env = self.world.env
        while True:
            yield env.timeout(max(0.0, due(env.now) - env.now))
            run = self.gateway.admin("POST", f"/jobs/{name}/run", at=env.now).json()
            if run.get("affected"):
                self.history.emit(env.now, "job", job=name, affected=run["affected"])
            yield env.timeout(1.0)

    def _every(self, period: float) -> Callable[[float], float]:
        return lambda now: (now // period + 1) * period

    def _local(self, hour: int, minute: int) -> Callable[[float], float]:
        start = self.scenario.start

        def due(now: float) -> float:
            local = (start + timedelta(seconds=now)).astimezone(self.tz)
            at = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if at <= local:
                at = (at + timedelta(days=1)).replace(hour=hour, minute=minute)
            return (at - start).total_seconds()

        return due

    # -- the run --------------------------------------------------------------------------

    def drained(self) -> bool:
        if self.batches_done < len(self.scenario.workload) or not self.world.quiet:
            return False
        counters = self.gateway.admin("GET", "/counters", at=self.world.env.now).json()
        return not counters["sms"].get("pending")

    def run(
        self,
        progress: Callable[[Progress], None] | None,
        interrupt: Callable[[], str | None] | None = None,
    ) -> float:
        env = self.world.env
        env.process(self._workload())
        for name, period in JOB_PERIODS.items():
            env.process(self._job(name, self._every(period)))
        env.process(self._job("daily_reset", self._local(0, 0)))
        env.process(self._job("monthly_reset", self._local(0, 5)))
        horizon = self.scenario.max_duration
        wall = time.perf_counter()
        next_check = DRAIN_CHECK
        t = 0.0
        while t < horizon:
            t = min(horizon, t + STEP)
            env.run(until=t)
            if progress is not None:
                progress(
                    Progress(
                        t,
                        horizon,
                        time.perf_counter() - wall,
                        len(self.world.ledger),
                        self.enqueued,
                    )
                )
            if interrupt is not None and (reason := interrupt()) is not None:
                self.interrupted = reason
                break
            if self.scenario.drain and t >= next_check:
                next_check = t + DRAIN_CHECK
                if self.drained():
                    break
        self.world.finish()
        return t

    # -- the end --------------------------------------------------------------------------

    def server_state(self) -> dict[str, Any]:
        at = self.world.env.now
        g = self.gateway
        export = g.admin("GET", "/sms/export", at=at, params={"format": "jsonl"}).text
        sms = [json.loads(line) for line in export.splitlines() if line.strip()]
        phones = g.admin("GET", "/phones", at=at).json()
        blacklist = g.admin("GET", "/blacklist", at=at).json()
        inbound: dict[int, dict[str, Any]] = {}
        for name, app in self.world.apps.items():
            offset = 0
            while True:
                page = g.call(
                    app.api_key, "inbound-history", {"limit": 200, "offset": offset}, at=at
                )
                rows = (page.body or {}).get("messages") or []
                for row in rows:
                    # "YYYY-MM-DD HH:MM:SS" in UTC, as the device API writes it
                    row["received_at"] = row["received_at"].replace(" ", "T") + "Z"
                    row["phone"] = name
                    inbound[row["id"]] = row
                if len(rows) < 200:
                    break
                offset += 200
        return {
            "sms": sms,
            "phones": phones,
            "blacklist": blacklist,
            "inbound": [inbound[k] for k in sorted(inbound)],
        }


HIT_PATHS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "process_death_in_flight": lambda e: e["kind"] == "fault" and e.get("in_flight", 0) > 0,
    "lost_callback": lambda e: e["kind"] == "lost_callback",
    "cap_hold": lambda e: e["kind"] == "cap" and e["verdict"] == "hold",
    "stop_race": lambda e: e["kind"] == "stop_reply",
    "doze_idle": lambda e: e["kind"] == "doze" and e["state"] in ("deep_idle", "light_idle"),
    "request_lost": lambda e: e["kind"] == "request" and e["outcome"] == "request_lost",
    "response_lost": lambda e: e["kind"] == "request" and e["outcome"] == "response_lost",
    "telephony_retry": lambda e: e["kind"] == "telephony_retry",
    "dual_sim": lambda e: e["kind"] == "radio" and e["sim_slot"] > 0,
    "fcm_wake": lambda e: e["kind"] == "fcm" and e.get("outcome") == "delivered",
    # an inbox scan re-reported an SMS older than the server's 10-minute dedupe window
    "stale_rescan": lambda e: e["kind"] == "inbox_scan" and e["oldest_age"] > 600,
}


def count_hits(events: list[dict[str, Any]]) -> dict[str, int]:
    """How often each dangerous path happened in a history."""
    hits = dict.fromkeys(HIT_PATHS, 0)
    for event in events:
        for name, test in HIT_PATHS.items():
            if test(event):
                hits[name] += 1
    return hits


def write_jsonl(path: Path, events: list[dict[str, Any]]) -> str:
    """Write the history, one event per line; return its SHA-256 digest."""
    digest = hashlib.sha256()
    with path.open("w", encoding="utf-8") as fh:
        for event in events:
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
            digest.update(line.encode())
            fh.write(line)
    return digest.hexdigest()


def _target(scenario: Scenario) -> dict[str, Any]:
    """Which server the run judged: this project's server, in this process."""
    return {
        "server": "server_under_test",
        "version": _version(),
        "mode": "in-process",
        "defects": list(scenario.defects),
    }


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sms-gateway-hil")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def run_scenario(
    scenario: Scenario,
    *,
    seed: int | None = None,
    out: Path,
    db: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    interrupt: Callable[[], str | None] | None = None,
) -> RunResult:
    """Run a scenario and write its run folder; see the module docstring.

    ``interrupt`` is asked after every step; when it names a reason (``"SIGINT"``) the run
    stops there and writes only its history and an unjudged ``verdicts.json``.
    """
    from reports.summary import render_summary

    seed = scenario.seed if seed is None else seed
    wall = time.perf_counter()
    run = _Run(scenario, seed, out, db)
    meta: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": seed,
        "database": run.database,
        "target": _target(scenario),
    }
    try:
        duration = run.run(progress, interrupt)
        state = run.server_state() if run.interrupted is None else {}
    except (AdminError, SQLAlchemyError) as exc:
        raise TargetError(
            f"The server under test failed at virtual {run.world.env.now:.0f} s: {_one_line(exc)}"
        ) from exc
    finally:
        run.gateway.close()
    events = run.history.events
    judged = run.interrupted is None
    evidence = Evidence(events=events, server=state)
    verdicts = judge(evidence, scenario.expect.oracles) if judged else []
    hits = count_hits(events)
    missing = [name for name in scenario.expect.hit if not hits.get(name)] if judged else []
    digest = write_jsonl(out / "history.jsonl", events)
    wall_seconds = time.perf_counter() - wall
    result = RunResult(
        scenario=scenario,
        seed=seed,
        out=out,
        verdicts=verdicts,
        expected_failures=scenario.expect.fail,
        hits=hits,
        missing_hits=missing,
        virtual_duration=duration,
        wall_seconds=wall_seconds,
        digest=digest,
        requests=run.gateway.requests,
        events=len(events),
        interrupted=run.interrupted,
    )
    meta |= {"passed": result.passed}
    if not judged:
        meta["interrupted"] = {
            "signal": run.interrupted,
            "virtual_seconds": duration,
            "wall_seconds": round(wall_seconds, 3),
        }
    meta |= {
        "virtual_seconds": duration,
        "wall_seconds": round(wall_seconds, 3),
        "requests": result.requests,
        "events": result.events,
        "history_sha256": digest,
        "hits": hits,
        "missing_hits": missing,
        "expected_failures": list(scenario.expect.fail),
        "verdicts": [v.to_dict() for v in verdicts],
    }
    (out / "verdicts.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    result.summary = meta
    if judged:  # an interrupted run has no server state to summarise
        (out / "server_state.json").write_text(json.dumps(state, ensure_ascii=False))
        (out / "summary.md").write_text(render_summary(events, state, meta))
    return result
