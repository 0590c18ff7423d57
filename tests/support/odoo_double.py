"""A test double for an Odoo 18 with the reference ``sms_gateway`` module.

``OdooDouble`` is a TEST DOUBLE, not Odoo: every answer carries the header
``X-Test-Double: odoo``. It is an ASGI app that embeds this project's own gateway server
(``server_under_test.create_app``) and serves:

* the device API ``/sms-gateway/*``: forwarded to the embedded server unchanged, so phones
  (the simulator, or a test playing one over httpx) talk to it as to Odoo's controller;
* ``POST /jsonrpc``: Odoo's external API (``common.version``, ``common.authenticate``,
  ``common.login``, ``object.execute_kw``) for the models and methods ``OdooControl`` uses,
  translated in process into the embedded server's admin API. Errors have Odoo's JSON-RPC
  shape (``{"code": 200, "message": "Odoo Server Error", "data": {"name", "message",
  "debug", ...}}``) and Odoo's exception names; a wrong password makes ``authenticate``
  answer ``false`` and ``execute_kw`` raise ``odoo.exceptions.AccessDenied``, as Odoo does.

Every JSON-RPC call is recorded in ``calls`` (service, method, model, model method, args).

Where it departs from Odoo, knowingly:

* ``sms.sms.create`` assigns at once (our server has no unassigned queue), so a created SMS
  is already ``pending`` and ``send`` only checks its ids and is recorded; keeping the ids
  equal to the device API's is worth more here than the ``outgoing`` step;
* only ``sms_provider='gateway'`` SMS are modelled (others would go to Odoo's IAP);
* ``sms.gateway.phone.api_key`` reads ``false`` until ``action_generate_api_key`` is called,
  as in the module (its create makes no key), although our server makes one on create;
* domains take leaves with ``= != in not in < <= > >=`` and the ``& | !`` operators;
  ``phone.blacklist`` ids are positions in the list; reads fetch everything each call.

``serve(double)`` runs it with uvicorn on a free loopback port in a background thread.
"""

from __future__ import annotations

import contextlib
import json
import operator
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from harness.process import free_port
from server_under_test import Clock, Settings, create_app

UID = 2  # Odoo's admin user
VERSION = {
    "server_version": "18.0",
    "server_version_info": [18, 0, 0, "final", 0, ""],
    "server_serie": "18.0",
    "protocol_version": 1,
}
# The fields of each model this double serves (reference: harness/odoo.py's docstring).
PHONE_WRITABLE = {
    *("name", "phone_number", "phone_number_2", "daily_limit", "monthly_limit"),
    *("month_start_day", "rate_limit", "heartbeat_timeout", "domain_filter", "active"),
}
PHONE_FIELDS = PHONE_WRITABLE | {
    *("id", "api_key", "next_month_reset", "state", "last_heartbeat", "battery_level"),
    *("signal_strength", "fcm_token", "sent_today", "sent_month", "sent_total", "create_date"),
}
SMS_WRITABLE = {
    *("number", "body", "partner_id", "sms_provider", "gateway_phone_id", "gateway_sim_number"),
}
SMS_FIELDS = SMS_WRITABLE | {
    *("id", "uuid", "mailing_id", "state", "failure_type", "gateway_state", "create_date"),
    "write_date",
}
INBOUND_FIELDS = {
    *("id", "from_number", "to_number", "message", "received_at", "phone_id", "is_stop"),
    "blacklisted",
}
BLACKLIST_FIELDS = {"id", "number", "active", "create_date"}
# Partners are created only (with their tags as categories); categories live in the double.
PARTNER_WRITABLE = {"name", "mobile", "category_id"}
CATEGORY_FIELDS = {"id", "name"}
FIELDS = {
    "sms.gateway.phone": PHONE_FIELDS,
    "sms.sms": SMS_FIELDS,
    "sms.gateway.inbound": INBOUND_FIELDS,
    "phone.blacklist": BLACKLIST_FIELDS,
    "res.partner": PARTNER_WRITABLE | {"id"},
    "res.partner.category": CATEGORY_FIELDS,
}
POSITIONAL = {  # the positional arguments of Odoo 18's read methods
    "search": ["domain", "offset", "limit", "order"],
    "search_read": ["domain", "fields", "offset", "limit", "order"],
    "search_count": ["domain", "limit"],
    "read": ["ids", "fields"],
}
READS = set(POSITIONAL)
DOUBLE_SMS_ONLY = "(test double) only sms_provider='gateway' SMS are modelled, not Odoo's IAP"
DOUBLE_SET_ONLY = "(test double) category_id takes only the command (6, 0, ids)"
METHODS = {
    "sms.gateway.phone": READS | {"create", "action_generate_api_key"},
    "sms.sms": READS | {"create", "send"},
    "sms.gateway.inbound": READS,
    "phone.blacklist": READS,
    "res.partner": {"create"},
    "res.partner.category": READS | {"create"},
}


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda a, b: a is not False and compare(a, b)  # an empty field is never compared


OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
    **{op: _ordered(f) for op, f in [("<", operator.lt), ("<=", operator.le)]},
    **{op: _ordered(f) for op, f in [(">", operator.gt), (">=", operator.ge)]},
}


@dataclass(frozen=True)
class RpcCall:
    """One JSON-RPC call the double received (``model``/``model_method`` for execute_kw)."""

    service: str
    method: str
    model: str | None = None
    model_method: str | None = None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


class OdooError(Exception):
    """An error the double answers in Odoo's JSON-RPC shape."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _odoo_time(value: Any) -> Any:
    """An ISO date-time of our server to Odoo's ``YYYY-MM-DD HH:MM:SS`` (``False``: none)."""
    if not value:
        return False
    return str(value).replace("T", " ").removesuffix("Z").split(".")[0].split("+")[0]


def _m2o(record_id: Any, label: str) -> Any:
    """A many2one as Odoo reads it: ``[id, display name]``, or ``False``."""
    return [record_id, label] if record_id else False


def _key(value: Any) -> Any:
    """The value a domain compares: a many2one's id."""
    return value[0] if isinstance(value, list) and len(value) == 2 else value


class OdooDouble:
    """A stand-in for Odoo 18 + ``sms_gateway`` (a TEST DOUBLE; see the module docstring)."""

    def __init__(
        self,
        database_url: str,
        *,
        db: str = "hil",
        login: str = "admin",
        password: str = "admin",
        clock: Clock | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.db, self.login, self.password = db, login, password
        self._token = secrets.token_urlsafe(16)
        base = settings or Settings()
        self.server = create_app(
            replace(base, database_url=database_url, admin_token=self._token), clock=clock
        )
        self.calls: list[RpcCall] = []
        self._keyed: set[int] = set()  # phones whose key action_generate_api_key made
        self._categories: dict[int, str] = {}  # res.partner.category id -> name
        self._admin: httpx.AsyncClient | None = None  # made in the server's event loop

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.server(scope, receive, send)
            if self._admin is not None:
                await self._admin.aclose()
            return

        async def tagged(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-test-double", b"odoo")]
                message = {**message, "headers": headers}
            await send(message)

        path = scope.get("path", "")
        if path == "/jsonrpc" and scope.get("method") == "POST":
            response: Response = await self._endpoint(Request(scope, receive))
            await response(scope, receive, tagged)
        elif path.startswith("/sms-gateway/"):
            await self.server(scope, receive, tagged)
        else:
            await PlainTextResponse("Not Found (Odoo test double)", 404)(scope, receive, tagged)

    # -- JSON-RPC ----------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        request_id = None
        try:
            payload = await request.json()
            request_id = payload.get("id")
            params = payload["params"]
            service, method = str(params["service"]), str(params["method"])
            args = list(params.get("args") or [])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return self._error(request_id, "werkzeug.exceptions.BadRequest", repr(exc))
        try:
            result = await self._dispatch(service, method, args)
        except OdooError as exc:
            return self._error(request_id, exc.name, exc.message)
        return JSONResponse({"jsonrpc": "2.0", "id": request_id, "result": result})

    @staticmethod
    def _error(request_id: Any, name: str, message: str) -> JSONResponse:
        debug = f"Traceback (most recent call last):\n  (test double)\n{name}: {message}\n"
        data = {"name": name, "debug": debug, "message": message, "arguments": [message]}
        error = {"code": 200, "message": "Odoo Server Error", "data": data}
        return JSONResponse({"jsonrpc": "2.0", "id": request_id, "error": error})

    def _check_db(self, db: Any) -> None:
        if db != self.db:
            raise OdooError(
                "psycopg2.OperationalError",
                f'connection to server failed: FATAL:  database "{db}" does not exist',
            )

    async def _dispatch(self, service: str, method: str, args: list[Any]) -> Any:
        if service == "common" and method in ("authenticate", "login", "version"):
            self.calls.append(RpcCall(service, method, args=args))
            if method == "version":
                return VERSION
            self._check_db(args[0] if args else None)
            ok = args[1:3] == [self.login, self.password]
            return UID if ok else False
        if service != "object" or method != "execute_kw":
            self.calls.append(RpcCall(service, method, args=args))
            raise OdooError("builtins.KeyError", repr(f"{service}.{method}"))
        db, uid, password, model, name, *rest = [*args, *[None] * (7 - len(args))][:7]
        margs, mkw = list(rest[0] or []), dict(rest[1] or {})
        self.calls.append(RpcCall(service, method, model, name, margs, mkw))
        self._check_db(db)
        if uid != UID or password != self.password:
            raise OdooError("odoo.exceptions.AccessDenied", "Access Denied")
        if model not in METHODS:
            raise OdooError("odoo.exceptions.UserError", f"Object {model} doesn't exist")
        if str(name).startswith("_"):
            raise OdooError(
                "odoo.exceptions.AccessError",
                f"Private methods (such as '{model}.{name}') cannot be called remotely.",
            )
        if name not in METHODS[model]:
            raise OdooError(
                "builtins.AttributeError", f"type object '{model}' has no attribute '{name}'"
            )
        mkw.pop("context", None)
        if name in READS:
            return await self._read(model, name, margs, mkw)
        handler = getattr(self, f"_{model.replace('.', '_')}_{name}")
        return await handler(margs)

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request to the embedded server, in process."""
        if self._admin is None:
            self._admin = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=self.server),
                base_url="http://odoo-double.test",
            )
        return await self._admin.request(method, path, **kw)

    async def _call(self, method: str, path: str, expect: int, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"}
        response = await self._request(method, f"/admin{path}", headers=headers, **kw)
        if response.status_code != expect:
            detail = response.json().get("error", response.text) if response.content else ""
            raise OdooError("odoo.exceptions.ValidationError", str(detail))
        return response.json() if response.content else None

    # -- reads: every model through one domain filter ----------------------------------

    async def _read(self, model: str, name: str, args: list[Any], kw: dict[str, Any]) -> Any:
        given = dict(zip(POSITIONAL[name], args, strict=False)) | kw
        rows = await self._rows(model)
        known = FIELDS[model]
        fields = given.get("fields") or sorted(known)
        for f in fields:
            if f not in known:
                raise OdooError("builtins.ValueError", f"Invalid field {f!r} on model {model!r}")
        if name == "read":
            by_id = {r["id"]: r for r in rows}
            missing = [i for i in given.get("ids") or [] if i not in by_id]
            if missing:
                raise OdooError(
                    "odoo.exceptions.MissingError",
                    f"Record does not exist or has been deleted.\n(Record: {model}({missing}))",
                )
            return [{f: by_id[i][f] for f in ["id", *fields]} for i in given.get("ids") or []]
        rows = [r for r in rows if self._match(model, list(given.get("domain") or []), r)]
        for part in reversed(str(given.get("order") or "id").split(",")):
            column, _, direction = part.strip().partition(" ")
            if column not in known:
                raise OdooError("builtins.ValueError", f"Invalid field {column!r} in order")
            rows.sort(key=lambda r: (r[column] is False, r[column]), reverse=direction == "desc")
        rows = rows[int(given.get("offset") or 0) :]
        if given.get("limit"):
            rows = rows[: int(given["limit"])]
        if name == "search_count":
            return len(rows)
        if name == "search":
            return [r["id"] for r in rows]
        return [{f: r[f] for f in ["id", *fields]} for r in rows]

    def _match(self, model: str, domain: list[Any], row: dict[str, Any]) -> bool:
        at = 0

        def term() -> bool:
            nonlocal at
            if at >= len(domain):
                raise OdooError("builtins.ValueError", f"Domain {domain!r} is incomplete")
            token, at = domain[at], at + 1
            if token in ("&", "|"):
                left, right = term(), term()
                return (left and right) if token == "&" else (left or right)
            if token == "!":
                return not term()
            if not isinstance(token, list) or len(token) != 3 or token[1] not in OPERATORS:
                raise OdooError("builtins.ValueError", f"Invalid leaf {token!r}")
            name, op, value = token
            if name not in FIELDS[model]:
                raise OdooError("builtins.ValueError", f"Invalid field {model}.{name} in leaf")
            return OPERATORS[op](_key(row[name]), value)

        result = True
        while at < len(domain):
            result = term() and result
        return result

    async def _rows(self, model: str) -> list[dict[str, Any]]:
        phones = await self._call("GET", "/phones", 200)
        names = {p["id"]: p["name"] for p in phones}
        if model == "sms.gateway.phone":
            return [self._phone(p) for p in phones]
        if model == "sms.sms":
            headers = {"Authorization": f"Bearer {self._token}"}
            export = await self._request("GET", "/admin/sms/export", headers=headers)
            lines = export.text.splitlines()
            return [self._sms(json.loads(line), names) for line in lines if line.strip()]
        if model == "res.partner.category":
            return [{"id": i, "name": name} for i, name in self._categories.items()]
        if model == "phone.blacklist":
            listed = await self._call("GET", "/blacklist", 200, params={"limit": 100_000})
            when = [_odoo_time(e["created_at"]) for e in listed]
            return [
                {"id": n, "number": e["number"], "active": True, "create_date": t}
                for n, (e, t) in enumerate(zip(listed, when, strict=True), 1)
            ]
        rows = []
        for phone in phones:
            offset = 0
            while True:
                answer = await self._request(
                    "POST",
                    "/sms-gateway/inbound-history",
                    headers={"X-API-Key": phone["api_key"]},
                    json={"limit": 200, "offset": offset},
                )
                if answer.status_code != 200:  # an archived phone's key is refused
                    raise OdooError("builtins.RuntimeError", f"inbound of phone {phone['id']}")
                page = answer.json()["messages"]
                rows += [self._inbound(m, phone["id"], names) for m in page]
                offset += len(page)
                if len(page) < 200:
                    break
        return rows

    def _phone(self, p: dict[str, Any]) -> dict[str, Any]:
        row = {k: p[k] if p[k] is not None else False for k in PHONE_FIELDS if k in p}
        row["api_key"] = p["api_key"] if p["id"] in self._keyed else False
        for name in ("last_heartbeat", "created_at"):
            row[name] = _odoo_time(p[name])
        row["create_date"] = row.pop("created_at")
        for name in ("battery_level", "signal_strength"):
            row[name] = p[name] or 0  # an unset integer field reads 0 in Odoo
        return row

    @staticmethod
    def _sms(s: dict[str, Any], names: dict[int, str]) -> dict[str, Any]:
        phone, same = s["gateway_phone_id"], SMS_FIELDS & s.keys()
        return {k: s[k] or False for k in same} | {
            "partner_id": _m2o(s["partner_id"], f"Partner {s['partner_id']}"),
            "mailing_id": _m2o(s["campaign_id"], f"Mailing {s['campaign_id']}"),
            "sms_provider": "gateway",
            "gateway_phone_id": _m2o(phone, names.get(phone, "")),
            "create_date": _odoo_time(s["created_at"]),
            "write_date": _odoo_time(s["updated_at"]),
        }

    @staticmethod
    def _inbound(m: dict[str, Any], phone_id: int, names: dict[int, str]) -> dict[str, Any]:
        same = {k: m[k] or False for k in INBOUND_FIELDS & m.keys()}
        return same | {"phone_id": _m2o(phone_id, names[phone_id])}

    # -- writes ------------------------------------------------------------------------

    @staticmethod
    def _vals_list(model: str, args: list[Any], writable: set[str]) -> list[dict[str, Any]]:
        vals_list = args[0] if args and isinstance(args[0], list) else args[:1]
        for vals in vals_list:
            for name in set(vals) - writable:
                known = name in FIELDS[model]
                why = "cannot be set through this test double" if known else "is not a field"
                raise OdooError(
                    "builtins.ValueError", f"Invalid field {name!r} in {model!r}: {why}"
                )
        return list(vals_list)

    @staticmethod
    def _created(args: list[Any], ids: list[int]) -> Any:
        # Odoo's create answers one id for one dict, a list of ids for a list of dicts.
        return ids if args and isinstance(args[0], list) else ids[0]

    async def _sms_gateway_phone_create(self, args: list[Any]) -> Any:
        ids = []
        for vals in self._vals_list("sms.gateway.phone", args, PHONE_WRITABLE):
            body = {k: v for k, v in vals.items() if v is not False}
            ids.append((await self._call("POST", "/phones", 201, json=body))["id"])
        return self._created(args, ids)

    async def _sms_gateway_phone_action_generate_api_key(self, args: list[Any]) -> bool:
        for phone_id in args[0] if args else []:
            await self._call("POST", f"/phones/{int(phone_id)}/api-key", 200)
            self._keyed.add(int(phone_id))
        return True

    async def _res_partner_category_create(self, args: list[Any]) -> Any:
        ids = []
        for vals in self._vals_list("res.partner.category", args, {"name"}):
            ids.append(len(self._categories) + 1)
            self._categories[ids[-1]] = str(vals["name"])
        return self._created(args, ids)

    async def _res_partner_create(self, args: list[Any]) -> Any:
        partners = []
        for vals in self._vals_list("res.partner", args, PARTNER_WRITABLE):
            tags: list[str] = []
            for command in vals.get("category_id") or []:  # only (6, 0, ids): "set to ids"
                if list(command[:2]) != [6, 0]:
                    raise OdooError("builtins.ValueError", DOUBLE_SET_ONLY)
                tags += [self._categories[int(i)] for i in command[2]]
            mobile = vals.get("mobile")
            partners.append({"name": vals["name"], "mobile": mobile, "categories": tags})
        answer = await self._call("POST", "/partners", 201, json={"partners": partners})
        return self._created(args, answer["ids"])

    async def _sms_sms_create(self, args: list[Any]) -> Any:
        messages = []
        for vals in self._vals_list("sms.sms", args, SMS_WRITABLE):
            if vals.get("sms_provider") != "gateway":
                raise OdooError("builtins.ValueError", DOUBLE_SMS_ONLY)
            ours = {"phone_id": "gateway_phone_id", "sim_number": "gateway_sim_number"}
            ours |= {k: k for k in ("number", "body", "partner_id")}
            messages.append({k: vals[v] for k, v in ours.items() if vals.get(v)})
        # one call: our admin API takes up to MAX_ENQUEUE SMS, more than a create needs here
        answer = await self._call("POST", "/sms", 201, json={"messages": messages})
        if answer["errors"]:
            raise OdooError("builtins.ValueError", str(answer["errors"][0]["error"]))
        return self._created(args, answer["ids"])

    async def _sms_sms_send(self, args: list[Any]) -> None:
        await self._read("sms.sms", "read", [list(args[0] if args else []), ["state"]], {})


@contextlib.contextmanager
def serve(double: OdooDouble, *, deadline: float = 30) -> Iterator[str]:
    """Serve ``double`` with uvicorn on a free loopback port; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(double, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"odoo-double-{port}", daemon=True)
    thread.start()
    until = time.monotonic() + deadline
    while not server.started:
        if not thread.is_alive() or time.monotonic() > until:
            raise RuntimeError(f"The Odoo test double did not start on port {port}.")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(deadline)
