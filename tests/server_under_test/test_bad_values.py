"""Values the database cannot hold, and fuzzed bodies: never a 500.

Split from ``test_bad_input.py``; shares its request catalogue and helpers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.conftest import Api
from tests.server_under_test.test_bad_input import (
    ENDPOINTS,
    OTHER,
    SENDER,
    VALID_BODIES,
    _fill,
    _handed_out_sms,
    _no_problems,
    _path,
    _raw,
    _sqlite_app,
)


@pytest.fixture
def lenient(app: FastAPI) -> Iterator[Api]:
    """Like ``api``, but a server crash comes back as a 500 response instead of raising."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client)


# -- values the database cannot hold must not crash the server ------------------------------


HUGE: list[tuple[str, dict[str, Any], str]] = [
    ("reconcile", {"known_ids": [2**63]}, "known_ids"),
    ("reconcile", {"known_ids": [10**20]}, "known_ids"),
    ("reconcile", {"known_ids": [2**31]}, "known_ids"),
    ("inbound-blacklist", {"ids": [10**20]}, "ids"),
    ("inbound-blacklist", {"ids": [2**31]}, "ids"),
    ("confirm-batch", {"results": [{"id": 10**20, "status": "sent"}]}, "id"),
    ("confirm-batch", {"results": [{"id": 2**31, "status": "sent"}]}, "id"),
    ("confirm/2147483648", {"status": "sent"}, "2147483648"),
    ("inbound-history", {"offset": 2**63}, "offset"),
    ("heartbeat", {"unsynced_count": 2**31}, "unsynced_count"),
    ("heartbeat", {"unsynced_count": 10**30}, "unsynced_count"),
]


def test_integers_too_large_for_the_database_are_a_4xx_not_a_500(lenient):
    """Ids and counters beyond the columns' range: 'not found' or a 422, never a crash."""
    phone = lenient.phone()
    problems = []
    for endpoint, body, name in HUGE:
        response = lenient.client.post(
            f"/sms-gateway/{endpoint}", headers={"X-API-Key": phone["api_key"]}, json=body
        )
        data = response.json()
        if response.status_code >= 500 or "success" not in data:
            problems.append((endpoint, body, response.status_code, response.text))
        elif response.status_code in (404, 422) and name not in data["error"]:
            problems.append((endpoint, body, "error does not name " + name, response.text))
    _no_problems(problems)
    assert lenient.get_phone(phone["id"])["state"] == "online"


OUT_OF_RANGE_DATES: list[dict[str, Any]] = [
    {"date": 10**30},
    {"date": 1e300},
    {"date": -(10**30)},
    {"received_at": "0001-01-01T00:00:00Z"},
    {"received_at": "0001-01-01T00:00:00+01:00"},
    {"received_at": "9999-12-31T23:59:59-05:00"},
    {"received_at": "9999-12-31T23:59:59Z"},
]


def test_received_times_out_of_range_are_refused_naming_the_field_not_a_500(lenient):
    phone = lenient.phone()
    key = phone["api_key"]
    problems = []
    for extra in OUT_OF_RANGE_DATES:
        response = lenient.client.post(
            "/sms-gateway/inbound",
            headers={"X-API-Key": key},
            json={"from_number": SENDER, "message": "Ahoj", **extra},
        )
        (field,) = extra
        refused = response.status_code == 422 and field in response.json().get("error", "")
        if response.status_code != 200 and not refused:
            problems.append((extra, response.status_code, response.text))
    infinity = _raw(
        lenient.client,
        "/sms-gateway/inbound",
        b'{"from": "+420777111222", "body": "Ahoj", "date": Infinity}',
        key,
    )
    if infinity.status_code not in (400, 422):
        problems.append(("Infinity", infinity.status_code, infinity.text))
    batch = lenient.client.post(
        "/sms-gateway/inbound-batch",
        headers={"X-API-Key": key},
        json={
            "messages": [
                {"from": SENDER, "body": "too late", "date": 10**30},
                {"from": SENDER, "body": "fine", "date": 1772438400000},
            ]
        },
    )
    if batch.status_code != 200:
        problems.append(("inbound-batch", batch.status_code, batch.text))
    else:
        out = batch.json()
        if out["recorded"] != 1 or [e["index"] for e in out["errors"]] != [0]:
            problems.append(("inbound-batch", out))
    _no_problems(problems)


def test_text_with_nul_characters_is_stored_or_refused_never_a_500(lenient):
    """PostgreSQL text cannot hold U+0000; SQLite can. Either way: no crash."""
    phone = lenient.phone()
    key = phone["api_key"]
    (sms_id,) = lenient.enqueue({"number": OTHER, "body": "x", "phone_id": phone["id"]})["ids"]
    requests: list[tuple[str, dict[str, Any]]] = [
        ("/sms-gateway/inbound", {"from_number": SENDER, "message": "a\x00b"}),
        ("/sms-gateway/inbound", {"from_number": "\x00", "message": "ab"}),
        ("/sms-gateway/inbound-history", {"search": "a\x00"}),
        ("/sms-gateway/register-fcm", {"fcm_token": "tok\x00en"}),
        (f"/sms-gateway/confirm/{sms_id}", {"status": "error", "error_message": "\x00"}),
        ("/admin/sms", {"messages": [{"number": OTHER, "body": "a\x00b"}]}),
        ("/admin/phones", {"name": "N\x00", "phone_number": "+420777000999"}),
    ]
    problems = []
    for path, body in requests:
        headers = {"X-API-Key": key, **lenient.admin_headers}
        response = lenient.client.post(path, headers=headers, json=body)
        if response.status_code >= 500:
            problems.append((path, body, response.status_code, response.text))
    _no_problems(problems)


# -- fuzz (SQLite only) -----------------------------------------


@pytest.fixture(scope="module")
def fuzz_client(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, str, int]]:
    """A server on a fresh SQLite file shared by the fuzz tests, a phone's key and an SMS that
    phone holds. A crash comes back as a 500 response."""
    app = _sqlite_app(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'gateway.sqlite3'}")
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client)
        phone = api.phone()
        sms_id = _handed_out_sms(api, phone)
        yield client, phone["api_key"], sms_id


# The top-level fields each endpoint reads, and other names it knows (aliases, and the
# fields of batch items).
FIELDS: dict[str, list[str]] = {
    "heartbeat": ["battery_level", "signal_strength", "unsynced_count"],
    "pending": ["limit"],
    "confirm/{sms}": ["status", "error_message"],
    "confirm-batch": ["results"],
    "reconcile": ["known_ids"],
    "inbound": ["from_number", "message", "to_number", "received_at", "date"],
    "inbound-batch": ["messages"],
    "inbound-history": ["limit", "offset", "stop_only", "stop_not_blacklisted", "search"],
    "inbound-blacklist": ["ids"],
    "stats": [],
    "register-fcm": ["fcm_token"],
}
OTHER_NAMES: dict[str, list[str]] = {
    "inbound": ["from", "body"],
    "confirm-batch": ["id", "sms_id", "status", "error_message"],
    "inbound-batch": ["from_number", "from", "message", "body", "to_number", "received_at", "date"],
}
BOUNDARIES = [0, -1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**11, 10**13, 10**30]
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
INTEGERS = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.sampled_from(BOUNDARIES),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    INTEGERS,
    INTEGERS,
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.sampled_from(["sent", "error", "sending", SENDER, "STOP", "2026-03-02T08:00:00Z", ""]),
)
# Every run also tries a valid body with each real field set to each of these.
EDGE_VALUES: list[Any] = [
    -1,
    2**31,
    2**63,
    -(2**63) - 1,
    10**30,
    1e300,
    -1e300,
    "",
    "x" * 5000,
    None,
    True,
    [],
    {},
    [2**63],
    [{"id": 2**63, "status": "sent"}],
    [{"from": SENDER, "body": "x", "date": 10**30}],
    [{"from": SENDER, "body": "x", "received_at": "0001-01-01T00:00:00+01:00"}],
]


def _json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    """Any JSON value; objects are keyed mostly by the given real field names."""
    names = st.sampled_from([*keys, "api_key", "params"]) | TEXT
    nested = st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(names, children, max_size=5)
        ),
        max_leaves=12,
    )
    # Flat lists of one kind (e.g. all integers) reach the item validation of id lists.
    return st.one_of(SCALARS, st.lists(INTEGERS, max_size=4), st.lists(SCALARS, max_size=4), nested)


def _bodies(endpoint: str) -> st.SearchStrategy[Any]:
    keys = FIELDS[endpoint]
    others = OTHER_NAMES.get(endpoint, [])
    values = _json_values(keys + others)
    extra = st.dictionaries(
        st.sampled_from([*others, "api_key", "params"]) | TEXT, values, max_size=2
    )
    if not keys:
        return st.one_of(extra, values)
    real = st.fixed_dictionaries({}, optional={k: values for k in keys})
    return st.one_of(st.builds(lambda a, b: {**b, **a}, real, extra), real, values)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_fuzzed_bodies_never_crash_the_server(fuzz_client, endpoint):
    """Arbitrary JSON, and a valid body with each field set to an edge value: never a 5xx."""
    client, key, sms_id = fuzz_client

    def check(body: Any) -> None:
        response = client.post(_path(endpoint, sms_id), headers={"X-API-Key": key}, json=body)
        assert response.status_code < 500, response.text
        assert "success" in response.json(), response.text

    valid = _fill(VALID_BODIES[endpoint], sms_id)
    for field in FIELDS[endpoint]:
        for value in EDGE_VALUES:
            check = example(body={**valid, field: value})(check)
    run = settings(
        max_examples=60,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )(given(body=_bodies(endpoint))(check))
    run()
