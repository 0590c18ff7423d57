"""The control side of a ``remote`` target that is an Odoo 18 with the reference
``sms_gateway`` module, reached through Odoo's external JSON-RPC API.

Every call is ``POST {url}/jsonrpc``: ``common.authenticate`` once (lazily, or through
:meth:`OdooControl.connect`), then ``object.execute_kw`` with the uid and password. The
models and fields are the reference's (``S/`` = ``sms_modules/sms_gateway/`` of
``Varyshop/sms-gateway`` @ ``83f7569``; ``[core]`` = stock Odoo 18):

* ``sms.gateway.phone`` (``S/models/sms_gateway_phone.py:24-86``): ``name``,
  ``phone_number``, ``phone_number_2``, ``api_key`` (``:35``), limits and counters
  (``:48-60``), ``state``/``last_heartbeat`` (``:40-46``), FCM and device info (``:74-81``);
* ``sms.sms`` with the gateway's fields (``S/models/sms_sms.py:19-38``: ``sms_provider``,
  ``gateway_phone_id``, ``gateway_sim_number``, ``gateway_state``) and the core ones
  ``number``, ``body``, ``state``, ``failure_type``, ``uuid``, ``partner_id`` [core] and
  ``mailing_id`` (``mass_mailing_sms``, a dependency of the module: ``S/__manifest__.py``);
* ``sms.gateway.inbound`` (``S/models/sms_gateway_inbound.py:14-26``);
* ``phone.blacklist`` [core]: ``number``, ``active``.

Errors: everything the target refuses, and every way of not reaching it, is an
:class:`harness.control.AdminError` (the harness's one control error); a JSON-RPC error
answer is its subclass :class:`OdooRpcError`, which keeps Odoo's exception name. Messages
are one line naming the URL, the database and the user, never the password.

Odoo runs on its own clock: every ``at`` argument is ignored.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from simulator.config import PhoneSpec
from smscodec import reference_segment_count

from .control import STATE_PARTS, AdminError, Enqueued, PhoneKey, Unsupported, partner_filter

__all__ = ["OdooControl", "OdooRpcError"]

log = logging.getLogger(__name__)

PHONE = "sms.gateway.phone"
SMS = "sms.sms"
PARTNER = "res.partner"
CATEGORY = "res.partner.category"
INBOUND = "sms.gateway.inbound"
BLACKLIST = "phone.blacklist"
# The state parts this control reads, by the model that holds each. Not "campaigns": a
# campaign is a mailing.mailing, which this control does not drive (see ``campaign``).
MODEL_OF_PART = {"sms": SMS, "phones": PHONE, "inbound": INBOUND, "blacklist": BLACKLIST}
NOT_FINAL = ["outgoing", "pending"]  # core states an SMS leaves only when it ends

SMS_FIELDS = [
    *("id", "uuid", "number", "body", "partner_id", "mailing_id", "state", "gateway_state"),
    *("failure_type", "gateway_phone_id", "gateway_sim_number", "create_date", "write_date"),
]
PHONE_FIELDS = [
    *("id", "name", "phone_number", "phone_number_2", "api_key", "active", "daily_limit"),
    *("monthly_limit", "month_start_day", "next_month_reset", "rate_limit", "heartbeat_timeout"),
    *("domain_filter", "state", "last_heartbeat", "battery_level", "signal_strength"),
    *("fcm_token", "sent_today", "sent_month", "sent_total", "create_date"),
]
INBOUND_FIELDS = [
    *("id", "from_number", "to_number", "message", "received_at", "phone_id", "is_stop"),
    "blacklisted",
]
# Archived phones keep their counters: read them too.
ALL_RECORDS = {"context": {"active_test": False}}


class OdooRpcError(AdminError):
    """Odoo answered a JSON-RPC call with an error; ``name`` is Odoo's exception class
    (``odoo.exceptions.AccessDenied``, ``builtins.ValueError``, ...)."""

    def __init__(self, text: str, *, name: str, message: str) -> None:
        super().__init__(text)
        self.name = name
        self.message = message


def _line(text: object, most: int = 300) -> str:
    """The first line of ``text``, shortened: Odoo's messages and debug texts span lines."""
    lines = str(text).strip().splitlines() or [""]
    first = lines[0].strip()
    return first if len(first) <= most else first[: most - 3] + "..."


def _m2o(value: Any) -> int | None:
    """A many2one as Odoo reads it (``[id, display name]`` or ``False``) to its id."""
    return int(value[0]) if value else None


def _text(value: Any) -> str | None:
    """Odoo reads an empty char field as ``False``."""
    return None if value is False or value is None else str(value)


def _iso(value: Any, *, zone: str = "") -> str | None:
    """Odoo's ``YYYY-MM-DD HH:MM:SS`` (UTC) in the admin export's ISO shape."""
    return None if not value else str(value).replace(" ", "T") + zone


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for first in range(0, len(items), size):
        yield list(items[first : first + size])


class OdooControl:
    """Odoo's external API as the harness's :class:`harness.control.Control`.

    ``chunk`` SMS go into one ``create`` (which takes a list of values) and one ``send``;
    reads come back ``page`` records a call. ``exposes`` holds every state part but
    ``campaigns`` (mailings, which this control does not drive) until :meth:`connect`,
    which keeps only the parts whose model the user may read.

    The user needs the module's manager group for phones and inbound SMS
    (``S/security/ir.model.access.csv:3,7``: Mass Mailing user) and Settings rights for
    ``sms.sms`` [core: the ``sms`` module grants it to ``base.group_system`` only].
    """

    def __init__(
        self,
        url: str,
        db: str,
        user: str,
        password: str,
        *,
        client: httpx.Client | None = None,
        timeout: float = 30,
        chunk: int = 1000,
        page: int = 5000,
    ) -> None:
        self.url = url.rstrip("/")
        self.db = db
        self.user = user
        self._password = password
        self._client = client or httpx.Client(timeout=timeout)
        self._own_client = client is None
        self.chunk = chunk
        self.page = page
        self.exposes: frozenset[str] = frozenset(p for p in STATE_PARTS if p in MODEL_OF_PART)
        self.actions: frozenset[str] = frozenset()  # see reassign()
        # Queue-only campaigns are paused mass mailings, which this control does not drive.
        self.queue_only = False
        self._registered = False  # register() made or found the run's phones
        self._reused_phones = False  # one of them existed before the run
        self._uid: int | None = None
        self._request_ids = itertools.count(1)
        self._created: list[int] = []  # the sms.sms ids this control created, in order
        self._sim_owner: dict[str, int] = {}  # SIM number -> sms.gateway.phone id
        self._where = f"Odoo at {self.url} (database {db!r}, user {user!r})"

    def close(self) -> None:
        """Close the HTTP client if this control made it."""
        if self._own_client:
            self._client.close()

    # -- JSON-RPC ----------------------------------------------------------------------

    def _rpc(self, service: str, method: str, args: list[Any], what: str) -> Any:
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(self._request_ids),
        }
        try:
            response = self._client.post(f"{self.url}/jsonrpc", json=body)
        except httpx.HTTPError as exc:
            raise AdminError(
                f"{self._where} could not be reached for {what}: {type(exc).__name__}: "
                f"{_line(exc)}. Check the URL and that Odoo is running."
            ) from exc
        if response.status_code != 200:
            raise AdminError(
                f"{self._where} answered HTTP {response.status_code} to {what}: "
                f"{_line(response.text)}"
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise AdminError(
                f"{self._where} answered {what} with something that is not JSON: "
                f"{_line(response.text)}. Is this URL an Odoo server?"
            ) from exc
        if not isinstance(answer, dict) or not ("result" in answer or "error" in answer):
            raise AdminError(
                f"{self._where} answered {what} with no JSON-RPC result or error: {_line(answer)}"
            )
        if "error" in answer:
            error: dict[str, Any] = answer["error"] if isinstance(answer["error"], dict) else {}
            data: dict[str, Any] = error["data"] if isinstance(error.get("data"), dict) else {}
            name = str(data.get("name") or "unknown error")
            message = _line(data.get("message") or error.get("message") or "no message")
            raise OdooRpcError(
                f"{self._where} refused {what}: {name}: {message}", name=name, message=message
            )
        return answer["result"]

    def connect(self) -> int:
        """Log in (``common.authenticate``), narrow ``exposes`` to what the user may read,
        and return the uid. Later calls reuse the uid."""
        if self._uid is not None:
            return self._uid
        uid = self._rpc(
            "common",
            "authenticate",
            [self.db, self.user, self._password, {}],
            "common.authenticate",
        )
        if not isinstance(uid, int) or isinstance(uid, bool) or uid <= 0:
            raise AdminError(
                f"{self._where} refused the login (common.authenticate answered {uid!r}): "
                "check the database name, the login and the password or API key."
            )
        self._uid = uid
        try:
            self.exposes = frozenset(
                part for part in STATE_PARTS if part in MODEL_OF_PART and self._readable(part)
            )
        except AdminError:
            self._uid = None  # the next call logs in and probes again
            raise
        return uid

    def _readable(self, part: str) -> bool:
        try:
            self.execute(MODEL_OF_PART[part], "search_count", [], limit=1)
        except OdooRpcError as exc:
            if exc.name != "odoo.exceptions.AccessError":
                raise
            log.warning("%s: the state part %r is not judged: %s", self._where, part, exc)
            return False
        return True

    def execute(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """``object.execute_kw(db, uid, password, model, method, args, kwargs)``."""
        uid = self.connect()
        return self._rpc(
            "object",
            "execute_kw",
            [self.db, uid, self._password, model, method, list(args), kwargs],
            f"{model}.{method}",
        )

    def _paged(self, model: str, domain: list[Any], fields: list[str]) -> list[dict[str, Any]]:
        """Every matching record, ``page`` at a time, in id order."""
        rows: list[dict[str, Any]] = []
        while True:
            page = self.execute(
                model,
                "search_read",
                domain,
                fields,
                offset=len(rows),
                limit=self.page,
                order="id",
                **ALL_RECORDS,
            )
            rows.extend(page)
            if len(page) < self.page:
                return rows

    # -- the Control protocol ------------------------------------------------------------

    def register(self, phones: Sequence[PhoneSpec], *, at: float) -> dict[str, PhoneKey]:
        """Find each phone by name, or create it; make sure it has an API key.

        The module does not make a key on create (``sms_gateway_phone.py:109-115``): the
        key comes from the button ``action_generate_api_key`` (``:164-167``), called here
        for a phone without one. The device API takes only active phones' keys
        (``S/controllers/gateway_api.py:26-37``). A phone found by name keeps its own
        numbers and limits; a difference from the scenario is logged.
        """
        keys: dict[str, PhoneKey] = {}
        self._registered = True
        for phone in phones:
            numbers = tuple(s.number for s in phone.sims)
            limits = phone.server_settings()
            found = self.execute(
                PHONE,
                "search_read",
                [("name", "=", phone.name)],
                ["id", "api_key", "phone_number", "phone_number_2", "domain_filter", *limits],
                limit=1,
            )
            vals: dict[str, Any] = {"name": phone.name, "phone_number": numbers[0], **limits}
            if len(numbers) > 1:
                vals["phone_number_2"] = numbers[1]
            if phone.serves:
                vals["domain_filter"] = partner_filter(phone.serves)
            if found:
                # its counters hold what it sent before this run: not this run's to judge
                self._reused_phones = True
                phone_id, key = int(found[0]["id"]), found[0]["api_key"]
                theirs = {k: found[0][k] for k in vals if k != "name"}
                if theirs != {k: v for k, v in vals.items() if k != "name"}:
                    log.warning("Odoo phone %s keeps its own settings %s", phone.name, theirs)
            else:
                phone_id, key = int(self.execute(PHONE, "create", [vals])[0]), False
            if not key:
                self.execute(PHONE, "action_generate_api_key", [phone_id])
                key = self.execute(PHONE, "read", [phone_id], ["api_key"])[0]["api_key"]
            if not key:
                raise AdminError(
                    f"{self._where} gave phone {phone.name} (id {phone_id}) no API key even "
                    "after action_generate_api_key."
                )
            keys[phone.name] = PhoneKey(phone.name, str(key), phone_id, numbers)
            for number in numbers:
                self._sim_owner[number] = phone_id
        return keys

    def campaign(
        self, name: str, delivery: str, *, phone_id: int | None = None, at: float
    ) -> int | None:
        """Campaigns are Odoo mass mailings (``mailing.mailing``), which this control does
        not drive: always ``None``, so a scenario's SMS are sent without a campaign (and a
        forced phone is set on each SMS instead)."""
        return None

    def reassign(self, campaign_id: int, *, phone_id: int | None, sims: str, at: float) -> int:
        """Refused (:class:`harness.control.Unsupported`), before any call: this control
        makes no campaigns (mass mailings), and the reference re-assigns a mailing's SMS only
        through the app's ``campaign/assign-sim`` route (``S/controllers/gateway_api.py:
        1113-1212``, a device route behind the forced phone's key) and the campaign wizard's
        private ``_assign_sims_to_sms`` (``S/wizard/sms_campaign_wizard.py:253-301``), which
        the external API cannot call."""
        raise Unsupported(
            f"{self._where} cannot re-assign a campaign: this control makes no campaigns "
            "(Odoo's mass mailings), and the reference re-assigns them only through the app's "
            "campaign/assign-sim and the campaign wizard, which its external API does not "
            "reach. Run the scenario against this project's server (in process, --serve, or "
            "--target URL --admin-token)."
        )

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
        """Not supported (``queue_only`` is false): a campaign created with its SMS is a mass
        mailing queued by ``action_force_create_sms_queue``, which this control does not
        drive."""
        raise AdminError(self._no_campaigns("create a campaign with its SMS"))

    def resume(self, campaign_id: int, *, at: float) -> None:
        """Not supported (``queue_only`` is false): see :meth:`launch`."""
        raise AdminError(self._no_campaigns("resume a campaign"))

    def _no_campaigns(self, what: str) -> str:
        return (
            f"{self._where}: the harness cannot {what} there: Odoo's campaigns are mass "
            "mailings (mailing.mailing), which the Odoo control does not drive."
        )

    def partners(self, people: Sequence[tuple[str, str, str]], *, at: float) -> list[int]:
        """Create ``res.partner`` contacts, each with its tag as a partner category
        (``res.partner.category``, found by name or created), which phones' domain filters
        read as ``category_id.name``."""
        tags: dict[str, int] = {}
        for tag in dict.fromkeys(t for _, _, t in people):
            found = self.execute(CATEGORY, "search", [("name", "=", tag)], limit=1)
            made = found or self.execute(CATEGORY, "create", [{"name": tag}])
            tags[tag] = int(made[0])
        ids: list[int] = []
        for chunk in _chunks(list(people), self.chunk):
            vals = [
                {"name": name, "mobile": number, "category_id": [(6, 0, [tags[tag]])]}
                for name, number, tag in chunk
            ]
            ids.extend(int(i) for i in self.execute(PARTNER, "create", vals))
        return ids

    def _phone_with_sim(self, number: str) -> int:
        owner = self._sim_owner.get(number)
        if owner is None:
            found = self.execute(
                PHONE,
                "search",
                ["|", ("phone_number", "=", number), ("phone_number_2", "=", number)],
                limit=1,
            )
            if not found:
                raise AdminError(
                    f"{self._where} has no gateway phone with the SIM {number}; register "
                    "the phone first."
                )
            owner = self._sim_owner[number] = int(found[0])
        return owner

    def enqueue(self, messages: Sequence[Mapping[str, Any]], *, at: float) -> Enqueued:
        """Create ``sms.sms`` records tagged ``sms_provider='gateway'`` and send them.

        ``sms.sms.send()`` [core] runs the module's ``_send()`` assignment (reference §2.2
        T2), which handles only gateway-tagged SMS (``sms_sms.py:142-152``). An SMS with a
        ``sim_number`` is given the phone owning that SIM too: ``_send`` keeps the SIM only
        on a pre-assigned phone (``sms_sms.py:174-180``, ``:246-248``). ``delivery`` has no
        Odoo field and is ignored; ``campaign_id`` is refused (see :meth:`campaign`).
        """
        vals_list: list[dict[str, Any]] = []
        for index, message in enumerate(messages):
            if message.get("campaign_id") is not None:
                raise AdminError(
                    f"Message {index} names campaign {message['campaign_id']}, but the Odoo "
                    "control has no campaigns (they are Odoo mass mailings)."
                )
            vals = {"number": message["number"], "body": message["body"]}
            vals["sms_provider"] = "gateway"
            if message.get("partner_id") is not None:
                vals["partner_id"] = int(message["partner_id"])
            if message.get("phone_id") is not None:
                vals["gateway_phone_id"] = int(message["phone_id"])
            if message.get("sim_number"):
                vals["gateway_phone_id"] = self._phone_with_sim(str(message["sim_number"]))
                vals["gateway_sim_number"] = str(message["sim_number"])
            vals_list.append(vals)
        ids: list[int | None] = []
        states: dict[str, int] = {}
        for chunk in _chunks(vals_list, self.chunk):
            made = [int(i) for i in self.execute(SMS, "create", chunk)]
            self._created.extend(made)
            ids.extend(made)
            self.execute(SMS, "send", made)
            for row in self.execute(SMS, "read", made, ["state"]):
                states[row["state"]] = states.get(row["state"], 0) + 1
        return Enqueued(ids, states)

    def pending(self, *, at: float) -> int | None:
        """How many SMS this control created are still ``outgoing`` or ``pending``."""
        total = 0
        for chunk in _chunks(self._created, self.page):
            domain = [("id", "in", chunk), ("sms_provider", "=", "gateway")]
            total += int(self.execute(SMS, "search_count", [*domain, ("state", "in", NOT_FINAL)]))
        return total

    def final_state(self, keys: Mapping[str, PhoneKey], *, at: float) -> dict[str, Any]:
        """The exposed parts, in the admin export's shapes.

        ``sms``: the SMS this control created. Odoo has no ``issue_count`` (it does not
        count re-issues), no ``delivery`` policy, no ``picked_at``/``sent_at``, and keeps
        no device ``error_message`` (reference §2.3): those fields are left out, so the
        oracles see their defaults. ``segments`` is the module's own count
        (``sms_segment_count``, the one its counters add, reference §2.5). ``phones``: the
        registered phones (Odoo stores no ``unsynced_count``). ``inbound``: their received
        SMS. ``blacklist``: every active ``phone.blacklist`` number (Odoo keeps no reason).
        """
        self.connect()
        phone_ids = sorted({k.server_id for k in keys.values() if k.server_id is not None})
        if self._reused_phones or not self._registered:
            # phones this run did not create (found by name, or a fleet file's) carry
            # counters from before it: their state is not offered for judging
            self.exposes = self.exposes - {"phones"}
        state: dict[str, Any] = {}
        if "sms" in self.exposes:
            state["sms"] = [self._sms_row(r) for r in self._created_rows()]
        if "phones" in self.exposes:
            rows = self._paged(PHONE, [("id", "in", phone_ids)], PHONE_FIELDS)
            state["phones"] = [self._phone_row(r) for r in rows]
        if "inbound" in self.exposes:
            names = {k.server_id: name for name, k in keys.items()}
            rows = self._paged(INBOUND, [("phone_id", "in", phone_ids)], INBOUND_FIELDS)
            state["inbound"] = [self._inbound_row(r, names) for r in rows]
        if "blacklist" in self.exposes:
            rows = self._paged(BLACKLIST, [], ["id", "number", "create_date"])
            state["blacklist"] = [
                {"number": r["number"], "reason": None, "created_at": _iso(r["create_date"])}
                for r in rows
            ]
        return state

    def release(self, *, at: float) -> None:
        """Nothing: the phones stay in Odoo, and the next run finds them by name and drives
        them again, so no SMS waits on a phone nobody drives."""
        del at

    # -- rows ----------------------------------------------------------------------------

    def _created_rows(self) -> Iterator[dict[str, Any]]:
        for chunk in _chunks(self._created, self.page):
            yield from self.execute(
                SMS,
                "search_read",
                [("id", "in", chunk)],
                SMS_FIELDS,
                limit=len(chunk),
                order="id",
            )

    @staticmethod
    def _sms_row(r: Mapping[str, Any]) -> dict[str, Any]:
        body = _text(r["body"]) or ""
        return {
            "id": int(r["id"]),
            "uuid": _text(r["uuid"]),
            "number": _text(r["number"]) or "",
            "body": body,
            "partner_id": _m2o(r["partner_id"]),
            "campaign_id": _m2o(r["mailing_id"]),
            "state": r["state"],
            "gateway_state": _text(r["gateway_state"]),
            "failure_type": _text(r["failure_type"]),
            "gateway_phone_id": _m2o(r["gateway_phone_id"]),
            "gateway_sim_number": _text(r["gateway_sim_number"]),
            "segments": reference_segment_count(body),
            "created_at": _iso(r["create_date"]),
            "updated_at": _iso(r["write_date"]),
        }

    @staticmethod
    def _phone_row(r: Mapping[str, Any]) -> dict[str, Any]:
        row = {k: r[k] for k in PHONE_FIELDS if k != "create_date"}
        for name in ("phone_number_2", "domain_filter", "fcm_token", "next_month_reset"):
            row[name] = _text(r[name])
        for name in ("battery_level", "signal_strength"):
            row[name] = r[name] if r[name] is not False else None
        row["last_heartbeat"] = _iso(r["last_heartbeat"], zone="Z")
        row["created_at"] = _iso(r["create_date"], zone="Z")
        return row

    @staticmethod
    def _inbound_row(r: Mapping[str, Any], names: Mapping[int | None, str]) -> dict[str, Any]:
        phone_id = _m2o(r["phone_id"])
        return {
            "id": int(r["id"]),
            "from_number": r["from_number"],
            "to_number": _text(r["to_number"]) or "",
            "message": _text(r["message"]) or "",
            "received_at": _iso(r["received_at"], zone="Z"),
            "is_stop": bool(r["is_stop"]),
            "blacklisted": bool(r["blacklisted"]),
            "phone": names.get(phone_id) or (r["phone_id"][1] if r["phone_id"] else ""),
        }
