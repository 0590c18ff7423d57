"""The OpenAPI document: every route, its request fields and its response schemas.

The document does not depend on the database, so these tests share one server on SQLite.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from server_under_test import ManualClock, SeededIds, Settings, create_app
from server_under_test.api import admin, campaigns, device
from tests.conftest import ADMIN_TOKEN, Api

DEVICE_ROUTES = [
    "/sms-gateway/heartbeat",
    "/sms-gateway/pending",
    "/sms-gateway/confirm/{sms_id}",
    "/sms-gateway/confirm-batch",
    "/sms-gateway/reconcile",
    "/sms-gateway/inbound",
    "/sms-gateway/inbound-batch",
    "/sms-gateway/inbound-history",
    "/sms-gateway/inbound-blacklist",
    "/sms-gateway/stats",
    "/sms-gateway/register-fcm",
]
ADMIN_ROUTES = [
    ("POST", "/admin/phones"),
    ("GET", "/admin/phones"),
    ("GET", "/admin/phones/{phone_id}"),
    ("PATCH", "/admin/phones/{phone_id}"),
    ("POST", "/admin/phones/{phone_id}/api-key"),
    ("POST", "/admin/partners"),
    ("POST", "/admin/campaigns"),
    ("GET", "/admin/campaigns"),
    ("POST", "/admin/campaigns/launch"),
    ("GET", "/admin/campaigns/{campaign_id}"),
    ("PATCH", "/admin/campaigns/{campaign_id}"),
    ("POST", "/admin/campaigns/{campaign_id}/reassign"),
    ("POST", "/admin/sms"),
    ("GET", "/admin/sms"),
    ("GET", "/admin/sms/export"),
    ("GET", "/admin/sms/{sms_id}"),
    ("POST", "/admin/blacklist"),
    ("GET", "/admin/blacklist"),
    ("DELETE", "/admin/blacklist/{number}"),
    ("GET", "/admin/counters"),
    ("GET", "/admin/clock"),
    ("PUT", "/admin/clock"),
]
# The fields each device route's request body documents; the required ones first.
DEVICE_FIELDS: dict[str, tuple[list[str], list[str]]] = {
    "/sms-gateway/heartbeat": ([], ["battery_level", "signal_strength", "unsynced_count"]),
    "/sms-gateway/pending": ([], ["limit"]),
    "/sms-gateway/confirm/{sms_id}": (["status"], ["error_message"]),
    "/sms-gateway/confirm-batch": (["results"], []),
    "/sms-gateway/reconcile": ([], ["known_ids"]),
    "/sms-gateway/inbound": (["from_number", "message"], ["to_number", "received_at"]),
    "/sms-gateway/inbound-batch": (["messages"], []),
    "/sms-gateway/inbound-history": (
        [],
        ["limit", "offset", "stop_only", "stop_not_blacklisted", "search"],
    ),
    "/sms-gateway/inbound-blacklist": (["ids"], []),
    "/sms-gateway/register-fcm": (["fcm_token"], []),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """One server on a fresh SQLite file for this module (the document is read-only)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'gateway.sqlite3'}"
    return create_app(
        Settings(database_url=url, admin_token=ADMIN_TOKEN),
        clock=ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
        ids=SeededIds(random.Random(7)),
    )


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = doc["components"]["schemas"][name]
    return schema


def _body_schema(doc: dict[str, Any], path: str, method: str = "post") -> dict[str, Any]:
    body = doc["paths"][path][method]["requestBody"]
    return _resolve(doc, body["content"]["application/json"]["schema"])


def _success(doc: dict[str, Any], path: str, method: str) -> tuple[str, dict[str, Any]]:
    responses = doc["paths"][path][method]["responses"]
    code = next(c for c in ("200", "201", "204") if c in responses)
    return code, responses[code]


def _conforms(doc: dict[str, Any], value: Any, schema: dict[str, Any], at: str) -> list[str]:
    """Where ``value`` departs from ``schema`` (a small subset of JSON Schema)."""
    schema = _resolve(doc, schema)
    if "anyOf" in schema:
        if any(not _conforms(doc, value, option, at) for option in schema["anyOf"]):
            return []
        return [f"{at}: {value!r} matches none of {schema['anyOf']}"]
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    if kind in checks and not checks[kind](value):
        return [f"{at}: {value!r} is not of type {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} not in {schema['enum']}"]
    problems: list[str] = []
    if kind == "object":
        properties = schema.get("properties", {})
        missing = [k for k in schema.get("required", []) if k not in value]
        problems += [f"{at}.{k}: required, missing" for k in missing]
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                problems += _conforms(doc, item, properties[key], f"{at}.{key}")
            elif isinstance(extra, dict):
                problems += _conforms(doc, item, extra, f"{at}.{key}")
            elif properties and extra is not True:
                problems.append(f"{at}.{key}: not documented")
    if kind == "array" and "items" in schema:
        for index, item in enumerate(value):
            problems += _conforms(doc, item, schema["items"], f"{at}[{index}]")
    return problems


# -- routes ------------------------------------------------------------------------------------


def test_every_device_and_admin_route_is_documented(doc):
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    expected = {("POST", p) for p in DEVICE_ROUTES} | set(ADMIN_ROUTES)
    assert expected - documented == set()
    # Nothing the routers serve is left out of the document.
    served = {
        (method, route.path_format)  # the path as documented, without convertors
        for router in (device.router, admin.router, campaigns.router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert served - documented == set()
    assert expected <= served
    for path in DEVICE_ROUTES:
        assert set(doc["paths"][path]) == {"post"}, path
        operation = doc["paths"][path]["post"]
        assert "device" in operation["tags"]
        headers = [
            p["name"].lower() for p in operation.get("parameters", []) if p["in"] == "header"
        ]
        assert "x-api-key" in headers, path
    for method, path in ADMIN_ROUTES:
        operation = doc["paths"][path][method.lower()]
        assert "admin" in operation["tags"], (method, path)
        assert operation.get("summary") or operation.get("description"), (method, path)


def test_every_device_request_body_documents_its_fields(doc):
    problems = []
    for path, (required, optional) in DEVICE_FIELDS.items():
        schema = _body_schema(doc, path)
        properties = schema.get("properties", {})
        missing = [f for f in [*required, *optional] if f not in properties]
        if missing:
            problems.append((path, "fields not documented", missing))
        if sorted(schema.get("required", [])) != sorted(required):
            problems.append((path, "required", schema.get("required"), "expected", required))
    assert problems == [], "\n".join(map(repr, problems))
    # /stats reads no field; if it documents a body, that body is an object.
    stats = doc["paths"]["/sms-gateway/stats"]["post"]
    if "requestBody" in stats:
        assert _body_schema(doc, "/sms-gateway/stats").get("type") == "object"


def test_device_request_fields_document_types_and_bounds(doc):
    limit = _body_schema(doc, "/sms-gateway/pending")["properties"]["limit"]
    assert (limit["type"], limit["minimum"], limit["maximum"], limit["default"]) == (
        "integer",
        1,
        100,
        20,
    )
    history = _body_schema(doc, "/sms-gateway/inbound-history")["properties"]
    assert (history["limit"]["minimum"], history["limit"]["maximum"]) == (1, 200)
    assert history["offset"]["minimum"] == 0
    assert history["stop_only"]["type"] == "boolean"

    status = _body_schema(doc, "/sms-gateway/confirm/{sms_id}")["properties"]["status"]
    assert sorted(status["enum"]) == ["error", "sending", "sent"]
    confirm = doc["paths"]["/sms-gateway/confirm/{sms_id}"]["post"]
    (sms_id,) = [p for p in confirm["parameters"] if p["in"] == "path"]
    assert (sms_id["name"], sms_id["required"], sms_id["schema"]["type"]) == (
        "sms_id",
        True,
        "integer",
    )

    results = _body_schema(doc, "/sms-gateway/confirm-batch")["properties"]["results"]
    assert results["type"] == "array" and results["minItems"] == 1
    item = _resolve(doc, results["items"])
    assert {"id", "status", "error_message"} <= set(item["properties"])
    assert sorted(item["required"]) == ["id", "status"]
    assert sorted(item["properties"]["status"]["enum"]) == ["error", "sending", "sent"]

    messages = _body_schema(doc, "/sms-gateway/inbound-batch")["properties"]["messages"]
    inbound = _resolve(doc, messages["items"])
    assert {"from_number", "message", "to_number", "received_at"} <= set(inbound["properties"])
    assert sorted(inbound["required"]) == ["from_number", "message"]

    for path, field in (
        ("/sms-gateway/reconcile", "known_ids"),
        ("/sms-gateway/inbound-blacklist", "ids"),
    ):
        ids = _body_schema(doc, path)["properties"][field]
        assert ids["type"] == "array" and ids["items"]["type"] == "integer", path


# -- responses ---------------------------------------------------------------------------------


CREATED = {
    "/admin/phones",
    "/admin/partners",
    "/admin/campaigns",
    "/admin/campaigns/launch",
    "/admin/sms",
    "/admin/blacklist",
}


def test_every_route_documents_a_success_response_schema(doc):
    problems = []
    routes = [("POST", p) for p in DEVICE_ROUTES] + ADMIN_ROUTES
    for method, path in routes:
        if (method, path) == ("GET", "/admin/sms/export"):
            continue  # not JSON; see the next test
        code, response = _success(doc, path, method.lower())
        if method == "DELETE":
            if code != "204":
                problems.append((method, path, "expected 204, documented", code))
            continue
        expected_code = "201" if method == "POST" and path in CREATED else "200"
        if code != expected_code:
            problems.append((method, path, "documented", code, "expected", expected_code))
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        resolved = _resolve(doc, schema)
        if not (resolved.get("properties") or resolved.get("items")):
            problems.append((method, path, "no response schema", schema))
    assert problems == [], "\n".join(map(repr, problems))


def test_the_export_documents_csv_and_json_lines_not_json(doc):
    _, response = _success(doc, "/admin/sms/export", "get")
    media = set(response.get("content", {}))
    assert {"text/csv", "application/x-ndjson"} <= media, media
    assert "application/json" not in media


def test_documented_error_responses_have_the_shape_the_server_sends(doc, client):
    """A client generated from the document must be able to read a 422 body."""
    api = Api(client)
    phone = api.phone()
    sent = api.device(phone["api_key"], "pending", {"limit": "20"}, expect=422)
    assert set(sent) == {"success", "error", "detail"}
    undocumented = [p for p in DEVICE_ROUTES if "422" not in doc["paths"][p]["post"]["responses"]]
    assert undocumented == []
    schemas = {
        str(doc["paths"][p]["post"]["responses"]["422"]["content"]["application/json"]["schema"])
        for p in DEVICE_ROUTES
    }
    problems = []
    for path in DEVICE_ROUTES:
        schema = doc["paths"][path]["post"]["responses"]["422"]["content"]["application/json"]
        problems += _conforms(doc, sent, schema["schema"], f"422 of {path}")
        if len(schemas) == 1:
            break  # every route documents the same schema: one check says it all
    assert problems == [], "\n".join(problems)


def test_real_responses_match_their_documented_schemas(doc, client):
    api = Api(client)
    phone = api.phone(phone_number_2="+420608987654")
    key = phone["api_key"]
    campaign = api.admin("POST", "/campaigns", 201, json={"name": "C"}).json()
    ids = api.enqueue(
        {
            "number": "+420999888777",
            "body": "Ahoj",
            "campaign_id": campaign["id"],
            "phone_id": phone["id"],
        },
        {"number": "abc", "body": "bad"},
        "not an object",
    )["ids"]
    calls: list[tuple[str, str, Any]] = [
        ("POST", "/sms-gateway/heartbeat", {"battery_level": 50}),
        ("POST", "/sms-gateway/pending", {"limit": 5}),
        ("POST", f"/sms-gateway/confirm/{ids[0]}", {"status": "sending"}),
        ("POST", "/sms-gateway/confirm-batch", {"results": [{"id": ids[0], "status": "sent"}, 1]}),
        ("POST", "/sms-gateway/reconcile", {"known_ids": [ids[0], 999]}),
        ("POST", "/sms-gateway/inbound", {"from_number": "+420777111222", "message": "STOP"}),
        (
            "POST",
            "/sms-gateway/inbound-batch",
            {"messages": [{"from": "+420777111333", "body": "x"}, 2]},
        ),
        ("POST", "/sms-gateway/inbound-history", {}),
        ("POST", "/sms-gateway/inbound-blacklist", {"ids": [1, 999]}),
        ("POST", "/sms-gateway/stats", {}),
        ("POST", "/sms-gateway/register-fcm", {"fcm_token": "token"}),
        ("GET", "/admin/phones", None),
        ("GET", f"/admin/phones/{phone['id']}", None),
        ("GET", f"/admin/campaigns/{campaign['id']}", None),
        ("GET", "/admin/campaigns", None),
        ("GET", "/admin/sms", None),
        ("GET", f"/admin/sms/{ids[0]}", None),
        ("GET", "/admin/blacklist", None),
        ("GET", "/admin/counters", None),
        ("GET", "/admin/clock", None),
        ("PUT", "/admin/clock", {"advance_seconds": 1}),
        ("POST", "/admin/sms", {"messages": [{"number": "+420999888776", "body": "x"}, 1]}),
        (
            "POST",
            "/admin/campaigns/launch",
            {
                "name": "L",
                "send_now": False,
                "messages": [{"number": "+420999888774", "body": "x"}, 1],
            },
        ),
        ("PATCH", f"/admin/campaigns/{campaign['id']}", {"paused": False}),
        ("POST", "/admin/blacklist", {"numbers": ["+420999888775"]}),
        ("POST", "/admin/partners", {"partners": [{"name": "P"}]}),
        ("POST", f"/admin/phones/{phone['id']}/api-key", None),
    ]
    problems = []
    for method, url, body in calls:
        headers = {"X-API-Key": key, "Authorization": f"Bearer {ADMIN_TOKEN}"}
        response = client.request(method, url, headers=headers, json=body)
        if response.status_code not in (200, 201):
            problems.append((method, url, response.status_code, response.text))
            continue
        # a literal path (/admin/campaigns/launch) before a template it also fits
        template = url if url in doc["paths"] else next(p for p in doc["paths"] if _matches(p, url))
        _, documented = _success(doc, template, method.lower())
        schema = documented["content"]["application/json"]["schema"]
        problems += [(method, url, p) for p in _conforms(doc, response.json(), schema, "body")]
        if method == "POST" and url.endswith("/api-key"):
            key = response.json()["api_key"]
    assert problems == [], "\n".join(map(repr, problems))


def _matches(template: str, url: str) -> bool:
    """Whether ``url`` is an instance of the documented path ``template``."""
    parts, actual = template.split("/"), url.split("/")
    return len(parts) == len(actual) and all(
        p == a or (p.startswith("{") and p.endswith("}"))
        for p, a in zip(parts, actual, strict=True)
    )
