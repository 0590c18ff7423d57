"""Schemathesis over the server's OpenAPI document, in-process (ASGI, no network).

Every operation of ``/openapi.json`` is fuzzed against one server on a seeded SQLite file:
the examples, coverage (boundary values, wrong types, unsupported methods) and fuzzing
phases, in positive and negative modes. Every response must pass every built-in check:

* ``not_a_server_error``: no 5xx;
* ``status_code_conformance``: the status code is documented for the operation;
* ``content_type_conformance``: the content type is documented for that status;
* ``response_schema_conformance``: the body validates against the documented schema;
* ``response_headers_conformance``: documented headers are present and valid;
* ``positive_data_acceptance`` / ``negative_data_rejection``: a schema-valid request is
  not refused as invalid, a schema-violating one is refused;
* ``unsupported_method`` / ``allow_header_conformance``: an undocumented method gets a
  405 whose ``Allow`` lists the documented methods;
* and the stateful or security-scheme checks, which have nothing to do on this document.

Admin calls carry ``Authorization: Bearer <admin token>``, device calls the seeded phone's
``X-API-Key``; ``test_unauthenticated`` checks the 401s on every route. The places where
a check is relaxed are the constants under "Explicit relaxations", each with its reason.

The run is deterministic (a fixed seed per operation, no example database) and bounded
(``MAX_EXAMPLES`` per operation and phase).

``test_hostile_values_never_give_a_5xx`` (issue 9) runs every operation again on SQLite
and on PostgreSQL with generated bodies made hostile by a ``flatmap_body`` hook: strings
gain lone UTF-16 surrogates, integers become 2**31..2**63-1 (or their negatives), domain
filters compare with such integers. The values may break the schema on purpose, so only
``not_a_server_error`` and the conformance of the answer are checked there.
"""

from __future__ import annotations

import random
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case, CheckContext, GenerationMode, Response
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from server_under_test import ManualClock, SeededIds, Settings, create_app
from server_under_test.storage.database import Database
from tests.conftest import ADMIN_TOKEN, Api, make_pg_database

SEED = 20260302
MAX_EXAMPLES = 25
HYPOTHESIS: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck)}
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
AUTH_HEADERS = ("authorization", "x-api-key")

# -- Explicit relaxations ----------------------------------------------------------------

# Batch operations validate their items one by one: a bad item is reported in ``errors``
# of a 2xx answer while the good ones are applied (``api/batch.py``; the module docstring
# of ``api/device_models.py``). A negative case whose bad part is an item is therefore
# answered 2xx on purpose, which ``negative_data_rejection`` would count as a failure. For
# these operations that check is replaced by ``bad_items_reported``: a negative case
# answered 2xx must report at least one bad item in ``errors``.
BATCH_OPERATIONS = frozenset(
    {
        "POST /sms-gateway/confirm-batch",
        "POST /sms-gateway/inbound-batch",
        "POST /admin/sms",
        "POST /admin/campaigns/launch",
    }
)

# 64-bit bounds: schemathesis compares ``maximum: 9223372036854775807`` as a double, so it
# generates e.g. 9223372036854775999 as *valid* data, which the server rightly refuses
# (422). ``positive_data_acceptance`` is not applied to a case holding such an integer.
INT64_MAX = 2**63 - 1

# Rules no JSON Schema keyword can state: the server refuses a schema-valid request with
# 422 for them, and that is correct. ``positive_data_acceptance`` is not applied when the
# 422's error is one of these; the 422 body itself is still checked against its schema.
SEMANTIC_422 = {
    # Numbers are parsed with libphonenumber: no pattern says which strings are numbers.
    r"is not a phone number; give it in international format": "phone numbers",
    # The pairing URL rules (http/https, a host, a valid port, no query or fragment, no
    # whitespace) are documented in prose in the ``url`` parameter's description.
    r"^The pairing url ": "pairing URL",
    # Odoo domain filters are parsed as Python or JSON literals, then compiled.
    r"^(The domain |Term \d+ |Operator |Unknown (field|operator) |Field '|The value |"
    r"The computed field )": "Odoo domain filter",
    # Times the server stores lie between 2000 and 2100 (said in each field's description);
    # JSON Schema's "date-time" format cannot bound a date.
    r"is not a time between 2000 and 2100": "time range",
}

# -- The OpenAPI document and the schemas --------------------------------------------------


def _document() -> dict[str, Any]:
    """The OpenAPI document, which does not depend on the database.

    ``@schema.parametrize()`` needs the schema when the module is collected, before any
    fixture runs, so the document comes from an app whose database is never opened
    (``migrate_on_start=False``); ``seeded`` checks that its own app serves the same one.
    (``schemathesis.pytest.from_fixture`` would load it from a fixture, but with pytest
    9.2 it fails: ``AttributeError: 'Function' object has no attribute '_nodeid'``.)
    """
    url = f"sqlite:///{Path(tempfile.gettempdir()) / 'hil-openapi-never-opened.sqlite3'}"
    db = Database(url)
    app = create_app(
        Settings(database_url=url, admin_token=ADMIN_TOKEN, migrate_on_start=False),
        database=db,
    )
    document: dict[str, Any] = app.openapi()
    db.dispose()
    return document


DOC = _document()

schema = schemathesis.openapi.from_dict(
    DOC,
    config=schemathesis.Config.from_dict(
        {"seed": SEED, "generation": {"max-examples": MAX_EXAMPLES, "database": "none"}}
    ),
)

# Without credentials: schema-valid requests only, so that 401 is the one right answer
# (a body that is not JSON is refused with 400 before the credentials are read).
unauthenticated_schema = schemathesis.openapi.from_dict(
    DOC,
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "positive", "max-examples": 3, "database": "none"},
            "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False}},
        }
    ),
    # The liveness probe is public by design: the one route that takes no credentials.
).exclude(path="/healthz")

# -- The seeded server ---------------------------------------------------------------------


@dataclass
class Seeded:
    """The server under test, its clock and the phone whose key device calls carry."""

    app: FastAPI
    api: Api
    clock: ManualClock
    phone_id: int


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One server on a SQLite file, with data for the fuzzer to reach (``_seeded``)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'gateway.sqlite3'}"
    yield from _seeded(url)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def seeded_both(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """The seeded server on a SQLite file, then on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'gateway.sqlite3'}"
        yield from _seeded(url)
        return
    for url in make_pg_database(request.getfixturevalue("pg_available")):
        yield from _seeded(url)


def _seeded(url: str) -> Iterator[Seeded]:
    """One server on ``url``, with data for the fuzzer to reach.

    An online phone (the one device calls authenticate as) and an archived one, partners,
    a campaign, 300 queued SMS (ten handed out: five confirmed sent, one failed), a
    blacklisted number and two inbound SMS, one of them a STOP.
    """
    db = Database(url)
    db.migrate()
    clock = ManualClock(START)
    app = create_app(
        Settings(database_url=url, admin_token=ADMIN_TOKEN),
        clock=clock,
        ids=SeededIds(random.Random(7)),
        database=db,
    )
    # Server exceptions become 500 answers, as in production, for the checks to report.
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/openapi.json").json() == DOC
        api = Api(client)
        phone = api.phone(name="Main phone")
        archived = api.phone(online=False, name="Archived phone")
        api.admin("PATCH", f"/phones/{archived['id']}", 200, json={"active": False})
        partners = [
            {"name": f"Partner {i}", "mobile": f"+42077710{i:04d}", "categories": ["vip"]}
            for i in range(5)
        ]
        partner_ids = api.admin("POST", "/partners", 201, json={"partners": partners}).json()
        campaign = api.admin("POST", "/campaigns", 201, json={"name": "Spring sale"}).json()
        api.enqueue(
            *(
                {
                    "number": f"+42077720{i:04d}",
                    "body": f"Message {i}",
                    **({"campaign_id": campaign["id"]} if i % 2 else {}),
                    **({"partner_id": partner_ids["ids"][i % 5]} if i % 3 == 0 else {}),
                }
                for i in range(300)
            )
        )
        api.admin("POST", "/blacklist", 201, json={"numbers": ["+420777299999"], "reason": "STOP"})
        key = phone["api_key"]
        picked = api.device(key, "pending", {"limit": 10})["sms_list"]
        assert len(picked) == 10
        for sms in picked[:5]:
            api.device(key, f"confirm/{sms['id']}", {"status": "sent"})
        api.device(key, f"confirm/{picked[5]['id']}", {"status": "error", "error_message": "x"})
        api.device(key, "inbound", {"from_number": "+420777100001", "message": "Hello"})
        api.device(key, "inbound", {"from_number": "+420777100002", "message": "STOP"})
        yield Seeded(app=app, api=api, clock=clock, phone_id=phone["id"])
    db.dispose()


def _without_auth(case: Case) -> dict[str, Any]:
    return {k: v for k, v in (case.headers or {}).items() if k.lower() not in AUTH_HEADERS}


def authenticate(case: Case, seeded: Seeded) -> None:
    """Give the case the credentials of its side, replacing any generated ones.

    Earlier cases may have rotated the phone's key or archived it (both valid admin
    calls), so device cases read the current key and re-activate the phone first. Each
    case also starts at the seeded time, so that a failure reproduces from its request
    alone rather than from where an earlier ``PUT /admin/clock`` left the clock.
    """
    seeded.clock.set(START)
    headers = _without_auth(case)
    if case.path.startswith("/admin/"):
        headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    elif case.path.startswith("/sms-gateway/"):
        phone = seeded.api.get_phone(seeded.phone_id)
        if not phone["active"]:
            path = f"/phones/{seeded.phone_id}"
            phone = seeded.api.admin("PATCH", path, 200, json={"active": True}).json()
        headers["X-API-Key"] = phone["api_key"]
    case.headers = headers


# -- Checks of our own ---------------------------------------------------------------------

Check = Callable[[CheckContext, Response, Case], "bool | None"]


def bad_items_reported(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A negative case that a batch operation answers 2xx must report a bad item."""
    if case.meta is None or case.meta.generation.mode != GenerationMode.NEGATIVE:
        return None
    if not 200 <= response.status_code < 300:
        return None
    assert response.json().get("errors"), (
        f"{case.operation.label} accepted a schema-violating request with "
        f"{response.status_code} and reported no bad item: {response.text[:500]}"
    )
    return None


def runs_at_the_new_time(seeded: Seeded) -> Check:
    """A check for ``PUT /admin/clock``: the server must still work at a time it accepted.

    Schemathesis tests one operation at a time; this adds back the interaction that
    matters for the clock: a time that ``PUT /admin/clock`` accepts must not make the
    routes that compute with it fail. ``GET /admin/jobs`` computes each job's next slot.
    """

    def runs_at_the_new_time(ctx: CheckContext, response: Response, case: Case) -> bool | None:
        if not 200 <= response.status_code < 300:
            return None
        probe = seeded.api.admin("GET", "/jobs")
        assert probe.status_code < 500, (
            f"PUT /admin/clock accepted {case.body!r} (now {response.json().get('now')}), "
            f"then GET /admin/jobs answered {probe.status_code}: {probe.text[:300]}"
        )
        return None

    return runs_at_the_new_time


def _ints(value: Any, *, digits: bool) -> Iterator[int]:
    """The integers in a container; with ``digits``, also strings of digits (path, query)."""
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _ints(item, digits=digits)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _ints(item, digits=digits)
    elif digits and isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        # Past 19 digits it is out of range whatever the digits (and Python refuses int()
        # of a very long string of digits).
        yield int(value) if len(value.lstrip("-")) <= 19 else INT64_MAX + 1


def _past_int64(case: Case) -> bool:
    found = [
        *_ints(case.body, digits=False),
        *_ints(case.path_parameters, digits=True),
        *_ints(case.query, digits=True),
    ]
    return any(abs(n) > INT64_MAX for n in found)


def _semantic_422(response: Response) -> str | None:
    if response.status_code != 422:
        return None
    try:
        error = str(response.json().get("error", ""))
    except ValueError:
        return None
    return next((why for rule, why in SEMANTIC_422.items() if re.search(rule, error)), None)


def call_and_validate(case: Case, seeded: Seeded) -> None:
    """Send the case to the seeded app and run every check, relaxed as listed above."""
    response = case.call(app=seeded.app)
    excluded: list[Check] = []
    additional: list[Check] = []
    if case.operation.label in BATCH_OPERATIONS:
        excluded.append(negative_data_rejection)
        additional.append(bad_items_reported)
    if case.operation.label == "PUT /admin/clock":
        additional.append(runs_at_the_new_time(seeded))
    if _past_int64(case) or _semantic_422(response):
        excluded.append(positive_data_acceptance)
    case.validate_response(
        response,
        excluded_checks=excluded,
        additional_checks=additional,
        transport_kwargs={"app": seeded.app},
    )


# -- The tests -----------------------------------------------------------------------------


@settings(max_examples=MAX_EXAMPLES, **HYPOTHESIS)
@schema.parametrize()
def test_operation_conforms(case: Case, seeded: Seeded) -> None:
    """Every answer to an authenticated request passes every check."""
    authenticate(case, seeded)
    call_and_validate(case, seeded)


@settings(max_examples=3, **HYPOTHESIS)
@unauthenticated_schema.parametrize()
def test_unauthenticated(case: Case, seeded: Seeded) -> None:
    """Without credentials, or with wrong ones, every route answers the documented 401."""
    wrong = {"Authorization": "Bearer not-the-admin-token", "X-API-Key": "not-a-phone-key"}
    for credentials in ({}, wrong):
        case.headers = {**_without_auth(case), **credentials}
        response = case.call(app=seeded.app)
        assert response.status_code == 401, (case.operation.label, credentials, response.text)
        assert response.json()["success"] is False
        case.validate_response(response, transport_kwargs={"app": seeded.app})


@pytest.mark.parametrize("now", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_clock_at_the_edges(now: str, seeded: Seeded) -> None:
    """The first and last instants a ``date-time`` can hold, which the fuzzer rarely draws.

    ``PUT /admin/clock`` documents ``now`` as any ``date-time``; whatever it accepts, the
    server must go on answering (``runs_at_the_new_time``).
    """
    case = schema["/admin/clock"]["PUT"].Case(body={"now": now}, media_type="application/json")
    authenticate(case, seeded)
    try:
        call_and_validate(case, seeded)
    finally:
        seeded.clock.set(START)


# -- Hostile values (issue 9) ----------------------------------------------------------------

SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
PAST_INT32 = st.one_of(
    st.sampled_from([2**31, 2**31 + 1, 3_000_000_000, 2**32, INT64_MAX]),
    st.integers(2**31, INT64_MAX),
)
HOSTILE_DOMAIN = st.builds(
    lambda field, op, n: repr([(field, op, n)]),
    st.sampled_from(["id", "customer_rank", "category_id"]),
    st.sampled_from(["=", "!=", ">", "<=", "in"]),
    st.one_of(PAST_INT32, PAST_INT32.map(lambda n: -n - 1)),
)


def _with_surrogate(text: str) -> st.SearchStrategy[str]:
    return st.builds(lambda at, c: text[:at] + c + text[at:], st.integers(0, len(text)), SURROGATE)


def _hostile(value: Any, key: str = "") -> st.SearchStrategy[Any]:
    """``value`` (a generated JSON body) with some strings and integers made hostile."""
    if key == "domain_filter":
        return st.one_of(st.just(value), HOSTILE_DOMAIN)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return st.just(value)
    if isinstance(value, int):
        return st.one_of(st.just(value), PAST_INT32, PAST_INT32.map(lambda n: -n - 1))
    if isinstance(value, str):
        return st.one_of(st.just(value), _with_surrogate(value))
    if isinstance(value, list):
        return st.tuples(*(_hostile(v) for v in value)).map(list)
    if isinstance(value, dict):
        return st.fixed_dictionaries({k: _hostile(v, k) for k, v in value.items()})
    return st.just(value)


def flatmap_body(ctx: Any, body: Any) -> st.SearchStrategy[Any]:
    """The schemathesis hook: every generated body, made hostile."""
    return _hostile(body)


@settings(max_examples=MAX_EXAMPLES, **HYPOTHESIS)
@schema.hooks.apply(flatmap_body)
@schema.parametrize()
def test_hostile_values_never_give_a_5xx(case: Case, seeded_both: Seeded) -> None:
    """Lone surrogates and integers past 32 bits, on SQLite and PostgreSQL: never a 5xx."""
    authenticate(case, seeded_both)
    response = case.call(app=seeded_both.app)
    case.validate_response(
        response,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
        transport_kwargs={"app": seeded_both.app},
    )
