"""The gateway under test, as a run reaches it: one seam, three targets.

A :class:`Target` pairs three sides, as httpx pairs a client with a transport:

* the **device API** the phones call: a ``GatewayPort`` answering at once in virtual time
  (``port``), or a URL the phones reach on the wire in real time (``url``);
* the **control** side (``harness.control.Control``): register phones and get their keys,
  enqueue the workload, read the final state (and say which parts of it can be read);
* the **clock** side: the target's time at the run's start (``start``) and its pace
  (``scale``: ``None`` for virtual time, where the harness fires the server's jobs through
  ``fire_job``; else the server's own clock and scheduler run ``scale`` times the wall clock).

Targets:

* ``inprocess``: this project's server in the harness's process, on a manual clock, virtual
  time; deterministic. The default.
* ``served``: ``hil serve`` started as a process by the run (SQLite file in the run folder
  or ``--db``, ``--workers N``, ``--time-scale K``, the scenario's defects, time zone and STOP
  words), seeded through its admin API, its scheduler running the jobs.
* ``remote``: any URL speaking the gateway API. Keys from a fleet file or made through the
  control; the control is this project's admin API (``--admin-token``) or Odoo's JSON-RPC
  API (``--odoo``). Its pace is read from ``GET /admin/clock`` when it has one (a
  ``hil serve --time-scale 120`` runs the phones at 120x too); a foreign server runs at 1.

Bad input (an unreachable target, a wrong key, a route that answers 404, a scenario asking
for something the target cannot do) raises ``RunInputError`` before any SMS is queued.
"""

from __future__ import annotations

import contextlib
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from scenarios.model import Scenario
from server_under_test import Settings
from simulator.port import GatewayPort

from .control import AdminControl, Control, PhoneKey
from .errors import RunInputError, TargetError
from .fcm_endpoint import FcmDouble
from .inprocess import ADMIN_TOKEN, InProcessGateway
from .process import served_gateway
from .wire import BlockingDevice

__all__ = [
    "DEFAULT_SERVED_SCALE",
    "TARGET_KINDS",
    "Target",
    "TargetOptions",
    "load_fleet",
    "open_target",
]

TARGET_KINDS = ("inprocess", "served", "remote")
# Seconds a started `hil serve` may take to answer /healthz: uvicorn workers import the
# whole server each, which on a busy two-core machine takes well over the 30 s default.
SERVE_STARTUP = 180.0
DEFAULT_SERVED_SCALE = 60.0  # hil run --serve: an hour of campaign in a minute


@dataclass(frozen=True)
class TargetOptions:
    """What the user asked for on the command line."""

    kind: str = "inprocess"
    db: str | None = None  # inprocess, served: the database URL (None: SQLite in the run)
    workers: int = 1  # served
    time_scale: float | None = None  # served (default DEFAULT_SERVED_SCALE); remote: its pace
    url: str | None = None  # remote
    fleet: Path | None = None  # remote: a fleet file of phones and keys
    admin_token: str | None = None  # remote: this project's admin API
    odoo: tuple[str, str, str, str] | None = None  # remote: URL, database, user, password

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"Unknown target kind {self.kind!r}; choose from {TARGET_KINDS}.")


@dataclass
class Target:
    """The gateway under test; see the module docstring."""

    kind: str
    control: Control
    start: datetime
    scale: float | None
    describe: dict[str, Any]
    database: str | None = None  # fit to print
    port: GatewayPort | None = None  # virtual time
    url: str | None = None  # real time: the device API's base URL
    fire_job: Callable[[str, float], Mapping[str, Any]] | None = None  # virtual time
    keys: dict[str, PhoneKey] = field(default_factory=dict)  # from a fleet file
    counted: Callable[[], int] | None = None  # how many requests the target served, if known
    waker: Any = None  # where the server's pushes arrive: has a settable push(token) -> bool

    @property
    def virtual(self) -> bool:
        """The harness owns the clock (the run is deterministic)."""
        return self.scale is None


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sms-gateway-hil")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


# -- inprocess ------------------------------------------------------------------------------


def _settings(scenario: Scenario, url: str) -> Settings:
    return Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        timezone=scenario.timezone,
        defects=frozenset(scenario.defects),
        stop_keywords=tuple(scenario.world.recipients.stop_words),
        run_scheduler=False,
    )


def _inprocess(
    scenario: Scenario, seed: int, url: str, masked: str, stack: contextlib.ExitStack
) -> Target:
    gateway = InProcessGateway(_settings(scenario, url), start=scenario.start, seed=seed)
    stack.callback(gateway.close)
    control = AdminControl(gateway.send_admin, gateway.call)
    return Target(
        kind="inprocess",
        control=control,
        start=scenario.start,
        scale=None,
        describe={
            "server": "server_under_test",
            "version": _version(),
            "mode": "in-process",
            "defects": list(scenario.defects),
        },
        database=masked,
        port=gateway,
        fire_job=lambda name, at: control.call("POST", f"/jobs/{name}/run", at=at).json(),
        counted=lambda: gateway.requests,
        waker=gateway.waker,
    )


# -- over the wire --------------------------------------------------------------------------


class _WireAdmin:
    """``AdminSend`` over HTTP with a bearer token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=120.0
        )

    def __call__(self, method: str, path: str, *, at: float, **kw: Any) -> httpx.Response:
        del at  # the target runs on its own clock
        try:
            return self.client.request(method, f"/admin{path}", **kw)
        except httpx.HTTPError as exc:
            raise TargetError(f"{method} {self.url}/admin{path} failed: {exc}") from exc


def _clock(admin: _WireAdmin) -> tuple[datetime, float] | None:
    """The target's time and pace from ``GET /admin/clock``; None if it has no such route."""
    try:
        response = admin.client.get("/admin/clock")
    except httpx.HTTPError as exc:
        raise RunInputError(f"The target {admin.url} is unreachable: {exc}.") from exc
    if response.status_code == 404:
        return None
    if response.status_code in (401, 403):
        raise RunInputError(
            f"The target {admin.url} refused the admin token ({response.status_code} on "
            "GET /admin/clock); give its token with --admin-token."
        )
    if response.status_code != 200:
        return None
    body = response.json()
    now = datetime.fromisoformat(str(body["now"]).replace("Z", "+00:00"))
    scale = body.get("time_scale", 1.0)
    if scale is None:
        raise RunInputError(
            f"The target {admin.url} runs on a manual clock (hil serve --manual-clock); a "
            "real-time run needs a server on its own clock."
        )
    return now, float(scale)


def _check_device_api(url: str, keys: Mapping[str, PhoneKey], source: str) -> None:
    """Every key is accepted by the device API, read-only (``inbound-history``)."""
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for name, key in keys.items():
            route = "/sms-gateway/inbound-history"
            try:
                response = client.post(route, json={"limit": 1}, headers={"X-API-Key": key.api_key})
            except httpx.HTTPError as exc:
                raise RunInputError(f"The target {url} is unreachable: {exc}.") from exc
            if response.status_code == 404:
                raise RunInputError(
                    f"The target {url} answers 404 on POST {route}: it does not speak the "
                    "gateway's device API there."
                )
            if response.status_code in (401, 403):
                raise RunInputError(
                    f"The target {url} refused the API key of phone {name} ({source}): "
                    f"{response.status_code}."
                )
            if response.status_code >= 400:
                raise RunInputError(
                    f"The target {url} answered {response.status_code} on POST {route} for "
                    f"phone {name}: {response.text[:200]}"
                )


def _served(
    scenario: Scenario,
    options: TargetOptions,
    url: str,
    masked: str,
    log: Path,
    stack: contextlib.ExitStack,
) -> Target:
    scale = options.time_scale or DEFAULT_SERVED_SCALE
    token = secrets.token_urlsafe(18)
    args = [
        "--workers",
        str(options.workers),
        "--time-scale",
        repr(scale),
        "--clock-start",
        scenario.start.isoformat(),
        "--timezone",
        scenario.timezone,
    ]
    for word in scenario.world.recipients.stop_words:
        args += ["--stop-keyword", word]
    for defect in scenario.defects:
        args += ["--defect", defect]
    bridge = PushBridge()
    env: dict[str, str] = {}
    if scenario.world.fcm.enabled:
        fcm = stack.enter_context(FcmDouble(on_send=bridge.on_send))
        args += ["--fcm-credentials", fcm.service_account()]
        env = fcm.environment()
    try:
        served = stack.enter_context(
            served_gateway(
                url, log, *args, admin_token=token, env=env, startup_timeout=SERVE_STARTUP
            )
        )
    except RuntimeError as exc:
        raise TargetError(str(exc)) from exc
    admin = _WireAdmin(served.url, token)
    stack.callback(admin.client.close)
    clock = _clock(admin)
    if clock is None:
        raise TargetError(f"hil serve at {served.url} does not answer GET /admin/clock.")
    start, pace = clock
    return Target(
        kind="served",
        control=AdminControl(admin, _device_call(served.url)),
        start=start,
        scale=pace,
        describe={
            "server": "server_under_test",
            "version": _version(),
            "mode": "served",
            "url": served.url,
            "workers": options.workers,
            "time_scale": pace,
            "defects": list(scenario.defects),
        },
        database=masked,
        url=served.url,
        waker=bridge,
    )


class PushBridge:
    """Wake-ups a served server sent through the real ``firebase-admin`` SDK to the loopback
    FCM endpoint (``harness/fcm_endpoint.py``), handed to the simulated FCM service.

    ``push(token) -> bool`` (set by the run once its world exists) must be safe to call from
    the endpoint's thread; ``False`` answers FCM's UNREGISTERED, as Google does for a token
    no app holds.
    """

    def __init__(self) -> None:
        self.push: Callable[[str], bool] | None = None

    def on_send(self, token: str, message: Mapping[str, Any]) -> bool | None:
        del message  # the app reads only that a data message arrived
        return None if self.push is None else self.push(token)


def _device_call(url: str) -> Callable[..., Any]:
    return BlockingDevice(url).call


def load_fleet(path: Path) -> dict[str, PhoneKey]:
    """A fleet file: the phones a remote target knows, with their keys.

    TOML, one ``[[phones]]`` table per phone: ``name`` (the scenario's phone name),
    ``api_key`` (as the target issued it), ``sims`` (its SIM numbers, first slot first) and
    optionally ``id`` (the target's id of the phone).
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RunInputError(f"Cannot read the fleet file {path}: {exc.strerror or exc}.") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RunInputError(f"The fleet file {path} is not valid TOML: {exc}.") from exc
    phones = data.get("phones")
    if not isinstance(phones, list) or not phones:
        raise RunInputError(f"The fleet file {path} lists no [[phones]].")
    keys: dict[str, PhoneKey] = {}
    for index, entry in enumerate(phones, 1):
        where = f"{path}: phone {index}"
        if not isinstance(entry, dict):
            raise RunInputError(f"{where} is not a table.")
        unknown = set(entry) - {"name", "api_key", "sims", "id"}
        if unknown:
            raise RunInputError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}.")
        name, key, sims = entry.get("name"), entry.get("api_key"), entry.get("sims")
        if not isinstance(name, str) or not name:
            raise RunInputError(f"{where}: 'name' must be a non-empty string.")
        if not isinstance(key, str) or not key:
            raise RunInputError(f"{where} ({name}): 'api_key' must be a non-empty string.")
        if not isinstance(sims, list) or not sims or not all(isinstance(s, str) for s in sims):
            raise RunInputError(f"{where} ({name}): 'sims' must be a list of SIM numbers.")
        if len(sims) > 2:
            raise RunInputError(f"{where} ({name}): a phone has at most 2 SIMs.")
        server_id = entry.get("id")
        if server_id is not None and not isinstance(server_id, int):
            raise RunInputError(f"{where} ({name}): 'id' must be an integer.")
        if name in keys:
            raise RunInputError(f"{where}: phone {name!r} is listed twice.")
        keys[name] = PhoneKey(name, key, server_id, tuple(sims))
    return keys


def _remote(scenario: Scenario, options: TargetOptions, stack: contextlib.ExitStack) -> Target:
    url = (options.url or "").rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise RunInputError(f"The target URL {options.url!r} must start with http:// or https://.")
    if scenario.defects:
        raise RunInputError(
            f"The scenario switches on defects ({', '.join(scenario.defects)}), which only a "
            f"server this run starts can take; the target {url} is not one (use --serve, or "
            "start hil serve --defect yourself)."
        )
    if "fcm_wake" in scenario.expect.hit:
        raise RunInputError(
            f"The scenario demands the path fcm_wake, but the pushes of the target {url} go to "
            "Google's FCM, which cannot reach virtual phones; run it with --serve, or drop "
            "fcm_wake from [expect] hit."
        )
    if options.admin_token and options.odoo:
        raise RunInputError("Give --admin-token or --odoo, not both.")
    control: Control
    # a server that does not tell its pace runs at the pace the user says, else the wall's
    start, pace = datetime.now(UTC), options.time_scale or 1.0
    if options.odoo:
        from .odoo import OdooControl

        odoo_url, db, user, password = options.odoo
        odoo = OdooControl(odoo_url, db, user, password)
        with contextlib.suppress(AttributeError):
            stack.callback(odoo.close)
        control = odoo
        mode = "remote (Odoo JSON-RPC)"
    elif options.admin_token:
        admin = _WireAdmin(url, options.admin_token)
        stack.callback(admin.client.close)
        clock = _clock(admin)
        if clock is None:
            raise RunInputError(
                f"The target {url} has no admin API (GET /admin/clock answered 404); use "
                "--odoo for an Odoo, or a fleet file with --fleet and no --admin-token."
            )
        start, pace = clock
        if options.time_scale is not None and options.time_scale != pace:
            raise RunInputError(
                f"The target {url} says its clock runs at {pace:g}x (GET /admin/clock), not "
                f"--time-scale {options.time_scale:g}; leave --time-scale out."
            )
        control = AdminControl(admin, _device_call(url))
        mode = "remote (admin API)"
    else:
        raise RunInputError(
            f"To enqueue SMS on {url} the run needs its admin API (--admin-token) or Odoo's "
            "(--odoo URL,DB,USER,PASSWORD)."
        )
    keys = load_fleet(options.fleet) if options.fleet else {}
    if keys:
        missing = [p.name for p in scenario.world.phones if p.name not in keys]
        if missing:
            raise RunInputError(
                f"The fleet file {options.fleet} has no phone named {', '.join(missing[:5])} "
                f"(the scenario's phones are {', '.join(p.name for p in scenario.world.phones)})."
            )
        keys = {p.name: keys[p.name] for p in scenario.world.phones}
        _check_device_api(url, keys, f"fleet file {options.fleet}")
    return Target(
        kind="remote",
        control=control,
        start=start,
        scale=pace,
        describe={"server": "unknown", "mode": mode, "url": url, "time_scale": pace},
        url=url,
        keys=keys,
    )


def open_target(
    scenario: Scenario,
    seed: int,
    options: TargetOptions,
    *,
    database: Callable[[str | None], tuple[str, str]],
    log: Path,
    stack: contextlib.ExitStack,
) -> Target:
    """Build or reach the target; what it starts is stopped when ``stack`` closes.

    ``database(db)`` turns ``--db`` into (URL, URL fit to print), refusing a non-empty one.
    """
    if options.kind == "remote":
        return _remote(scenario, options, stack)
    url, masked = database(options.db)
    if options.kind == "served":
        return _served(scenario, options, url, masked, log, stack)
    return _inprocess(scenario, seed, url, masked, stack)
