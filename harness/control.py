"""The control side of a gateway under test: register phones, enqueue a workload, read the
final state.

A target (``harness/targets.py``) pairs a :class:`Control` with the device API (the
simulator's port) and a clock. Two controls exist: :class:`AdminControl` speaks this
project's admin API (``/admin/...``, our server in process, ``hil serve``, or any server that
implements that API), and ``harness.odoo.OdooControl`` speaks Odoo's external JSON-RPC API to
an Odoo with the reference ``sms_gateway`` module.

A control tells which parts of the final state it can read (``exposes``); an oracle that needs
a part the target does not expose is reported as not judged, never as passed. It also tells
which of a scenario's operator actions (``scenarios.ACTIONS``) it can perform (``actions``);
one it cannot raises :class:`Unsupported`, and the run refuses such a scenario as bad input; and
whether it can create a campaign paused together with its SMS and resume it later
(``queue_only``): the run refuses a scenario with a queue-only batch on a target that cannot.

``at`` is the run's time in seconds: an in-process server's manual clock is set to it before
the call; a target on its own clock ignores it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from server_under_test import MAX_ENQUEUE
from simulator.config import PhoneSpec

__all__ = [
    "STATE_PARTS",
    "AdminControl",
    "AdminError",
    "AdminSend",
    "Control",
    "Enqueued",
    "PhoneKey",
    "Unsupported",
    "partner_filter",
]

# The parts of a target's final state, and what each holds:
# sms: every SMS row (id, state, number, phone, SIM, failure type, timestamps, ...);
# phones: every phone with its counters; blacklist: the blocked numbers;
# inbound: every received SMS the server recorded; campaigns: every campaign the run
# created, with its state (sending / done) and completion time.
STATE_PARTS = ("sms", "phones", "blacklist", "inbound", "campaigns")


class AdminError(RuntimeError):
    """A control call was refused (the message carries the target's reason)."""


class Unsupported(AdminError):
    """The target cannot do what the scenario asks of its control (an operator's action it
    has no API for); the message says why."""


@dataclass(frozen=True)
class PhoneKey:
    """A phone as the target knows it: its API key, its id there and its SIM numbers."""

    name: str
    api_key: str
    server_id: int | None
    sims: tuple[str, ...]


@dataclass(frozen=True)
class Enqueued:
    """What the target made of one enqueue call: an id per message (``None``: refused, e.g.
    a blacklisted number) and how many SMS ended in each state; for a launch, the campaign
    it created."""

    ids: list[int | None]
    states: dict[str, int] = field(default_factory=dict)
    campaign_id: int | None = None


def partner_filter(serves: Sequence[str]) -> str | None:
    """The Odoo domain a phone serving partners tagged ``serves`` carries as its
    ``domain_filter`` (``None``: no filter). Tags are Odoo partner categories, read by name."""
    if not serves:
        return None
    return repr([("category_id.name", "in", list(serves))])


class Control(Protocol):
    """Registers phones, enqueues SMS and reads the final state of one gateway under test."""

    exposes: frozenset[str]  # a subset of STATE_PARTS
    actions: frozenset[str]  # the scenario actions (scenarios.ACTIONS) it performs
    queue_only: bool  # it can launch a campaign paused with its SMS, and resume it

    def register(self, phones: Sequence[PhoneSpec], *, at: float) -> dict[str, PhoneKey]:
        """Create the phones (or look them up) and return their keys, by phone name."""
        ...

    def campaign(
        self, name: str, delivery: str, *, phone_id: int | None = None, at: float
    ) -> int | None:
        """Create a campaign, forced on phone ``phone_id`` if given, and return its id
        (``None``: the target has no campaigns; the harness then forces each SMS)."""
        ...

    def partners(self, people: Sequence[tuple[str, str, str]], *, at: float) -> list[int]:
        """Import contacts ``(name, number, tag)``; return their ids, in order."""
        ...

    def enqueue(self, messages: Sequence[Mapping[str, Any]], *, at: float) -> Enqueued:
        """Queue SMS: items ``{"number", "body", "delivery"}`` with optional ``sim_number``,
        ``campaign_id``, ``partner_id`` and ``phone_id`` (a forced phone)."""
        ...

    def reassign(self, campaign_id: int, *, phone_id: int | None, sims: str, at: float) -> int:
        """Put the campaign's queued SMS on phone ``phone_id`` (``None``: every online phone),
        each phone's SIMs sharing them as ``sims`` says (``"auto"``, ``"split"``); return how
        many moved. :class:`Unsupported` where the target has no such action."""
        ...

    def launch(
        self,
        name: str,
        delivery: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        phone_id: int | None = None,
        send_now: bool = True,
        at: float,
    ) -> Enqueued:
        """Create a campaign together with its SMS (items as :meth:`enqueue` takes, without
        ``campaign_id``), forced on ``phone_id`` if given; ``send_now`` false creates it
        paused ("Queue only"). Only where ``queue_only`` says so."""
        ...

    def resume(self, campaign_id: int, *, at: float) -> None:
        """Resume a paused campaign. Only where ``queue_only`` says so."""
        ...

    def pending(self, *, at: float) -> int | None:
        """How many SMS are not final yet (``None``: the target cannot tell)."""
        ...

    def final_state(self, keys: Mapping[str, PhoneKey], *, at: float) -> dict[str, Any]:
        """The parts of the final state named in ``exposes``, in the admin export's shapes."""
        ...

    def release(self, *, at: float) -> None:
        """After the run, on a server that outlives it: take the phones this run created out
        of service, so that a later run's SMS are not assigned to phones nobody drives."""
        ...


# (method, path under /admin, at, keyword arguments of httpx) -> the response
AdminSend = Callable[..., httpx.Response]


class AdminControl:
    """This project's admin API (``Authorization: Bearer <admin token>``), reached through
    ``send``: in process through ASGI, or over the wire."""

    def __init__(self, send: AdminSend, device: Callable[..., Any]) -> None:
        self._send = send
        self._device = device  # (api_key, endpoint, body, at=) -> Reply, for inbound-history
        # A server the run did not start may hold other SMS and phones: the final state is
        # what this run made. Phones it did not make (a fleet file's) carry counters from
        # before the run, so their state is not offered for judging.
        self._sms_ids: set[int] = set()
        self._phone_ids: set[int] = set()
        self._campaign_ids: list[int] = []
        self.exposes = frozenset(p for p in STATE_PARTS if p != "phones")
        self.actions = frozenset({"reassign"})
        self.queue_only = True

    def call(self, method: str, path: str, *, at: float, expect: int = 200, **kw: Any) -> Any:
        """An admin call; a status other than ``expect`` raises :class:`AdminError`."""
        response = self._send(method, path, at=at, **kw)
        if response.status_code != expect:
            raise AdminError(
                f"{method} /admin{path} answered {response.status_code}: {response.text[:500]}"
            )
        return response

    def register(self, phones: Sequence[PhoneSpec], *, at: float) -> dict[str, PhoneKey]:
        keys: dict[str, PhoneKey] = {}
        for phone in phones:
            body: dict[str, Any] = {
                "name": phone.name,
                "phone_number": phone.sims[0].number,
                **phone.server_settings(),
            }
            if len(phone.sims) > 1:
                body["phone_number_2"] = phone.sims[1].number
            if phone.serves:
                body["domain_filter"] = partner_filter(phone.serves)
            try:
                made = self.call("POST", "/phones", at=at, expect=201, json=body).json()
            except AdminError as exc:
                raise AdminError(f"The server refused phone {phone.name}: {exc}") from exc
            keys[phone.name] = PhoneKey(
                phone.name, made["api_key"], made["id"], tuple(s.number for s in phone.sims)
            )
            self._phone_ids.add(int(made["id"]))
        self.exposes = frozenset(STATE_PARTS)
        return keys

    def campaign(
        self, name: str, delivery: str, *, phone_id: int | None = None, at: float
    ) -> int | None:
        body: dict[str, Any] = {"name": name, "delivery": delivery}
        if phone_id is not None:
            body["forced_phone_id"] = phone_id
        made = self.call("POST", "/campaigns", at=at, expect=201, json=body).json()
        self._campaign_ids.append(int(made["id"]))
        return int(made["id"])

    def partners(self, people: Sequence[tuple[str, str, str]], *, at: float) -> list[int]:
        ids: list[int] = []
        for first in range(0, len(people), MAX_ENQUEUE):
            chunk = [
                {"name": name, "mobile": number, "categories": [tag]}
                for name, number, tag in people[first : first + MAX_ENQUEUE]
            ]
            answer = self.call("POST", "/partners", at=at, expect=201, json={"partners": chunk})
            ids.extend(int(i) for i in answer.json()["ids"])
        return ids

    def enqueue(self, messages: Sequence[Mapping[str, Any]], *, at: float) -> Enqueued:
        ids: list[int | None] = []
        states: dict[str, int] = {}
        # the admin API takes at most MAX_ENQUEUE SMS a call
        for first in range(0, len(messages), MAX_ENQUEUE):
            chunk = [dict(m) for m in messages[first : first + MAX_ENQUEUE]]
            answer = self.call("POST", "/sms", at=at, expect=201, json={"messages": chunk}).json()
            ids.extend(answer["ids"])
            self._sms_ids.update(i for i in answer["ids"] if i is not None)
            for state, count in answer["states"].items():
                states[state] = states.get(state, 0) + count
        return Enqueued(ids, states)

    def reassign(self, campaign_id: int, *, phone_id: int | None, sims: str, at: float) -> int:
        """``POST /admin/campaigns/{id}/reassign``."""
        body: dict[str, Any] = {"sim": sims}
        if phone_id is not None:
            body["phone_id"] = phone_id
        answer = self.call("POST", f"/campaigns/{campaign_id}/reassign", at=at, json=body)
        return int(answer.json()["reassigned"])

    def launch(
        self,
        name: str,
        delivery: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        phone_id: int | None = None,
        send_now: bool = True,
        at: float,
    ) -> Enqueued:
        """``POST /admin/campaigns/launch`` with the first MAX_ENQUEUE messages; the rest
        join the campaign through ``POST /admin/sms`` (paused, they wait as well)."""
        body: dict[str, Any] = {
            "name": name,
            "delivery": delivery,
            "send_now": send_now,
            "messages": [dict(m) for m in messages[:MAX_ENQUEUE]],
        }
        if phone_id is not None:
            body["forced_phone_id"] = phone_id
        answer = self.call("POST", "/campaigns/launch", at=at, expect=201, json=body).json()
        campaign_id = int(answer["campaign"]["id"])
        ids: list[int | None] = list(answer["ids"])
        self._sms_ids.update(i for i in ids if i is not None)
        states = dict(answer["states"])
        rest = [{**m, "campaign_id": campaign_id} for m in messages[MAX_ENQUEUE:]]
        if rest:
            more = self.enqueue(rest, at=at)
            ids += more.ids
            for state, count in more.states.items():
                states[state] = states.get(state, 0) + count
        return Enqueued(ids, states, campaign_id)

    def resume(self, campaign_id: int, *, at: float) -> None:
        """``PATCH /admin/campaigns/{id}`` with ``paused: false``."""
        self.call("PATCH", f"/campaigns/{campaign_id}", at=at, json={"paused": False})

    def pending(self, *, at: float) -> int | None:
        counters = self.call("GET", "/counters", at=at).json()
        # {"pending": {"<gateway state>": count, ...}, "sent": {...}, ...}
        return sum(int(n) for n in (counters["sms"].get("pending") or {}).values())

    def final_state(self, keys: Mapping[str, PhoneKey], *, at: float) -> dict[str, Any]:
        export = self.call("GET", "/sms/export", at=at, params={"format": "jsonl"}).text
        rows = (json.loads(line) for line in export.splitlines() if line.strip())
        sms = [row for row in rows if int(row["id"]) in self._sms_ids]
        blacklist = self.call("GET", "/blacklist", at=at).json()
        state = {
            "sms": sms,
            "blacklist": blacklist,
            "inbound": inbound_history(self._device, keys, at=at),
            "campaigns": [
                self.call("GET", f"/campaigns/{campaign_id}", at=at).json()
                for campaign_id in self._campaign_ids
            ],
        }
        if "phones" in self.exposes:
            phones = self.call("GET", "/phones", at=at).json()
            state["phones"] = [p for p in phones if int(p["id"]) in self._phone_ids]
        return state

    def release(self, *, at: float) -> None:
        """Archive the phones this run created (``PATCH /admin/phones/{id}``)."""
        for phone_id in sorted(self._phone_ids):
            self.call("PATCH", f"/phones/{phone_id}", at=at, json={"active": False})


def inbound_history(
    device: Callable[..., Any], keys: Mapping[str, PhoneKey], *, at: float
) -> list[dict[str, Any]]:
    """Every received SMS the server recorded, read per phone through the device API's
    ``inbound-history`` (the reference server has it too), in id order."""
    inbound: dict[int, dict[str, Any]] = {}
    for name, key in keys.items():
        offset = 0
        while True:
            page = device(key.api_key, "inbound-history", {"limit": 200, "offset": offset}, at=at)
            if not page.ok:
                raise AdminError(
                    f"POST /sms-gateway/inbound-history as phone {name} answered {page.status}"
                )
            rows = (page.body or {}).get("messages") or []
            for row in rows:
                # "YYYY-MM-DD HH:MM:SS" in UTC, as the device API writes it
                row["received_at"] = str(row["received_at"]).replace(" ", "T") + "Z"
                row["phone"] = name
                inbound[row["id"]] = row
            if len(rows) < 200:
                break
            offset += 200
    return [inbound[k] for k in sorted(inbound)]
