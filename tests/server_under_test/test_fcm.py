"""FCM wake-ups: the real firebase-admin SDK against a loopback FCM/OAuth2 test double.

Nothing in the SDK is patched: the standard ``HTTPS_PROXY`` and ``REQUESTS_CA_BUNDLE``
environment variables route it through ``FcmDouble`` (``harness.fcm_endpoint``, an
HTTPS-intercepting proxy with a throw-away CA), and the assertions read the HTTP requests the
SDK really made.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import certifi
import firebase_admin
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.fcm_endpoint import (
    FCM_HOST,
    OAUTH2_HOST,
    TOKEN_URI,
    FcmDouble,
    new_service_account_key,
    service_account_info,
)
from server_under_test.clock import ManualClock
from server_under_test.errors import InvalidInput
from server_under_test.fcm import (
    FirebaseWaker,
    NullWaker,
    RecordingWaker,
    Waker,
    WakeRecord,
    WakeTarget,
    make_waker,
)
from server_under_test.services.wakeups import WakeUps
from server_under_test.settings import Settings

PROJECT = "hil-test"
EMAIL = "hil@hil-test.iam.gserviceaccount.com"
SEND_PATH = f"/v1/projects/{PROJECT}/messages:send"

WINDOW = Settings().fcm_debounce  # the server's default per-phone window (5 s)
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

# firebase-admin 7.x deprecates Message.token in favour of Message.fid (Firebase installation
# ids); the app registers an FCM registration token, so the server rightly sends ``token``.
pytestmark = pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning")


def service_account(key: rsa.RSAPrivateKey, **overrides: Any) -> dict[str, Any]:
    """A throw-away service-account key of this test's project; ``overrides`` replace fields."""
    return {**service_account_info(key, project_id=PROJECT, client_email=EMAIL), **overrides}


@pytest.fixture(scope="module")
def account_key() -> rsa.RSAPrivateKey:
    """The service account's RSA key (generated once: it takes a moment)."""
    return new_service_account_key()


@pytest.fixture
def double(monkeypatch: pytest.MonkeyPatch) -> Iterator[FcmDouble]:
    """The FCM/OAuth2 double, with the environment routing ``requests`` through it."""
    with FcmDouble() as fcm:
        for name, value in fcm.environment().items():
            monkeypatch.setenv(name, value)
        for name in ("ALL_PROXY", "all_proxy", "CURL_CA_BUNDLE"):
            monkeypatch.delenv(name, raising=False)
        yield fcm


@pytest.fixture
def credentials(double: FcmDouble, account_key: rsa.RSAPrivateKey) -> str:
    """The service-account key as inline JSON, its public key known to the double."""
    return double.service_account(account_key, project_id=PROJECT, client_email=EMAIL)


@pytest.fixture
def make_firebase_waker(
    double: FcmDouble, clock: ManualClock, credentials: str
) -> Iterator[Callable[..., FirebaseWaker]]:
    """Build FirebaseWakers on the test clock; all are closed before the double stops."""
    made: list[FirebaseWaker] = []

    def make(creds: str | None = None, **options: Any) -> FirebaseWaker:
        waker = FirebaseWaker(creds or credentials, **options)
        made.append(waker)
        return waker

    yield make
    for waker in made:
        waker.close()


def expected_data(phone_id: int, clock: ManualClock) -> dict[str, str]:
    return {
        "type": "sms_pending",
        "phone_id": str(phone_id),
        "timestamp": str(int(clock.now().timestamp())),
    }


# -- the real SDK against the double ------------------------------------------------------


def test_a_wake_up_is_one_token_grant_then_one_fcm_v1_send(
    double: FcmDouble, make_firebase_waker: Callable[..., FirebaseWaker], clock: ManualClock
) -> None:
    waker = make_firebase_waker()

    assert waker.wake([WakeTarget(7, "token-of-7")], clock.now()) == []

    assert double.problems == []
    assert double.tunnels == [f"{OAUTH2_HOST}:443", f"{FCM_HOST}:443"]
    grant, send = double.requests
    assert (grant.method, grant.host, grant.path, grant.status) == (
        "POST",
        OAUTH2_HOST,
        "/token",
        200,
    )
    assert grant.body["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert grant.assertion_header is not None and grant.assertion_header["alg"] == "RS256"
    assert grant.assertion_claims is not None
    assert grant.assertion_claims["aud"] == TOKEN_URI
    assert grant.assertion_claims["iss"] == EMAIL
    assert "https://www.googleapis.com/auth/firebase" in grant.assertion_claims["scope"].split()

    assert (send.method, send.host, send.path, send.status) == ("POST", FCM_HOST, SEND_PATH, 200)
    assert send.headers["authorization"] == f"Bearer {grant.response['access_token']}"
    message = send.body["message"]
    assert message["token"] == "token-of-7"
    assert message["data"] == expected_data(7, clock)
    assert message["android"]["priority"] == "high"
    assert message["android"]["ttl"] == "60s"
    assert set(message) == {"token", "data", "android"}, "a data-only message"
    assert send.response["name"].startswith(f"projects/{PROJECT}/messages/")


def test_wakes_within_the_window_give_one_push_and_the_next_window_another(
    double: FcmDouble, make_firebase_waker: Callable[..., FirebaseWaker], clock: ManualClock
) -> None:
    # The debounce is the server's wake-up service's, in front of whichever waker.
    wakeups = WakeUps(make_firebase_waker(), clock, WINDOW)
    first_at = clock.now()

    wakeups.push([WakeTarget(7, "token-of-7")])
    clock.advance(timedelta(seconds=2))
    wakeups.push([WakeTarget(7, "token-of-7")])
    clock.advance(timedelta(seconds=2.9))
    wakeups.push([WakeTarget(7, "token-of-7"), WakeTarget(8, "token-of-8")])
    assert [s.body["message"]["token"] for s in double.send_requests] == [
        "token-of-7",
        "token-of-8",
    ]

    clock.set(first_at + WINDOW)  # the window is half-open: exactly 5 s later pushes
    wakeups.push([WakeTarget(7, "token-of-7")])

    sends = double.send_requests
    assert [s.body["message"]["token"] for s in sends] == ["token-of-7", "token-of-8", "token-of-7"]
    assert sends[-1].body["message"]["data"] == expected_data(7, clock)
    assert len(double.token_requests) == 1, "the access token is cached between pushes"
    assert double.problems == []


def test_a_zero_window_pushes_on_every_assignment_like_the_reference(
    double: FcmDouble, make_firebase_waker: Callable[..., FirebaseWaker], clock: ManualClock
) -> None:
    wakeups = WakeUps(make_firebase_waker(), clock, timedelta(0))
    for _ in range(3):
        wakeups.push([WakeTarget(7, "token-of-7")])
    assert len(double.send_requests) == 3


def test_unregistered_and_mismatched_tokens_are_reported_for_clearing(
    double: FcmDouble, make_firebase_waker: Callable[..., FirebaseWaker], clock: ManualClock
) -> None:
    double.mark_unregistered("stale")
    double.mark_sender_id_mismatch("other-project")
    wakeups = WakeUps(make_firebase_waker(), clock, WINDOW)

    gone = wakeups.push(
        [WakeTarget(7, "stale"), WakeTarget(8, "fine"), WakeTarget(9, "other-project")]
    )

    assert gone == [7, 9]
    assert [s.status for s in double.send_requests] == [404, 200, 403]
    assert double.send_requests[0].response["error"]["details"][0]["errorCode"] == "UNREGISTERED"
    # The push reached no phone, so the token the phone registers next is woken at once.
    assert wakeups.push([WakeTarget(7, "fresh")]) == []
    assert double.send_requests[-1].body["message"]["token"] == "fresh"
    assert double.problems == []


def test_a_failing_fcm_never_fails_the_caller_and_is_logged(
    double: FcmDouble,
    make_firebase_waker: Callable[..., FirebaseWaker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    double.fail_sends(500)
    waker = make_firebase_waker()

    with caplog.at_level(logging.WARNING, logger="server_under_test.fcm"):
        assert waker.wake([WakeTarget(7, "token-of-7")], NOW) == []  # takes ~7 s of SDK back-off

    # The SDK itself retries a 500 four times (urllib3 Retry, back-off 0.5 s).
    assert [s.status for s in double.send_requests] == [500] * 5
    failures = [r for r in caplog.records if r.name == "server_under_test.fcm"]
    assert len(failures) == 1 and failures[0].levelno == logging.ERROR
    assert "phone 7" in failures[0].getMessage() and failures[0].exc_info is not None


def test_a_transient_server_error_is_retried_by_the_sdk(
    double: FcmDouble, make_firebase_waker: Callable[..., FirebaseWaker]
) -> None:
    double.fail_sends(503, times=1)
    waker = make_firebase_waker()
    assert waker.wake([WakeTarget(7, "token-of-7")], NOW) == []
    assert [s.status for s in double.send_requests] == [503, 200]


def test_a_refused_token_grant_is_logged_not_raised(
    double: FcmDouble,
    make_firebase_waker: Callable[..., FirebaseWaker],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A key the double does not know: the grant is refused as Google refuses a revoked key.
    stranger = json.dumps(
        service_account(new_service_account_key(), client_email="who@else.example")
    )
    waker = make_firebase_waker(stranger)
    with caplog.at_level(logging.WARNING, logger="server_under_test.fcm"):
        assert waker.wake([WakeTarget(7, "token-of-7")], NOW) == []
    assert [r.status for r in double.token_requests] == [400]
    assert double.send_requests == []
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert double.problems == ["token request refused: unknown service account 'who@else.example'"]


def test_credentials_inline_and_from_a_file_both_work(
    double: FcmDouble,
    make_firebase_waker: Callable[..., FirebaseWaker],
    credentials: str,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "service-account.json"
    key_file.write_text(credentials, encoding="utf-8")

    make_firebase_waker(f"  {credentials}\n").wake([WakeTarget(1, "inline")], NOW)
    make_firebase_waker(str(key_file)).wake([WakeTarget(2, "from-file")], NOW)

    assert [s.body["message"]["token"] for s in double.send_requests] == ["inline", "from-file"]
    assert all(s.status == 200 for s in double.send_requests)
    assert len(double.token_requests) == 2, "each waker's own app fetches its own token"


def test_each_waker_owns_a_named_app_and_close_deletes_it(
    make_firebase_waker: Callable[..., FirebaseWaker],
) -> None:
    one, two = make_firebase_waker(), make_firebase_waker()
    assert one.app_name != two.app_name
    assert firebase_admin.get_app(one.app_name) is not None
    with pytest.raises(ValueError):
        firebase_admin.get_app()  # the default app is never touched

    one.close()
    one.close()  # idempotent

    with pytest.raises(ValueError):
        firebase_admin.get_app(one.app_name)
    assert firebase_admin.get_app(two.app_name) is not None


def test_a_taken_app_name_is_refused(make_firebase_waker: Callable[..., FirebaseWaker]) -> None:
    make_firebase_waker(app_name="gateway-fcm")
    with pytest.raises(InvalidInput, match=r"give each FirebaseWaker an app name of its own\.$"):
        make_firebase_waker(app_name="gateway-fcm")


def test_close_works_inside_a_running_event_loop(
    double: FcmDouble, make_firebase_waker: Callable[..., FirebaseWaker]
) -> None:
    waker = make_firebase_waker()
    waker.wake([WakeTarget(7, "token-of-7")], NOW)  # builds the SDK's messaging service

    async def shut_down_in_lifespan() -> None:
        waker.close()

    asyncio.run(shut_down_in_lifespan())
    with pytest.raises(ValueError):
        firebase_admin.get_app(waker.app_name)


def test_a_closed_waker_pushes_nothing(
    double: FcmDouble, make_firebase_waker: Callable[..., FirebaseWaker]
) -> None:
    waker = make_firebase_waker()
    waker.close()
    assert waker.wake([WakeTarget(7, "token-of-7")], NOW) == []
    assert double.requests == []


def test_the_double_really_intercepts_tls(double: FcmDouble) -> None:
    """Only the double's CA vouches for its certificate: nothing bypasses verification."""
    # An explicit bundle: REQUESTS_CA_BUNDLE would replace verify=True by the double's CA.
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(f"https://{FCM_HOST}{SEND_PATH}", json={}, verify=certifi.where(), timeout=10)
    double_trusted = requests.post(
        f"https://{FCM_HOST}{SEND_PATH}", json={}, verify=double.ca_path, timeout=10
    )
    assert double_trusted.status_code == 401
    assert double_trusted.json()["error"]["status"] == "UNAUTHENTICATED"


# -- credentials that cannot work ----------------------------------------------------------


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ("{not json", r"^The FCM credentials given inline are not valid JSON \(.*line 1"),
        ("[1, 2]", r"^The FCM credentials given inline are a JSON array, not an object"),
        ("/no/such/service-account.json", r"^The FCM credentials file '/no/such/"),
        (
            json.dumps({"type": "authorized_user", "project_id": PROJECT}),
            r"are not a service-account key \(their \"type\" is 'authorized_user'",
        ),
    ],
)
def test_bad_credentials_are_refused_at_construction(
    credentials: str, message: str, clock: ManualClock
) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        FirebaseWaker(credentials, clock)
    assert caught.value.message.endswith(".")


def test_a_directory_is_not_a_credentials_file(tmp_path: Path, clock: ManualClock) -> None:
    with pytest.raises(InvalidInput, match="does not exist or is not a file"):
        FirebaseWaker(str(tmp_path), clock)


def test_a_file_that_is_not_json_names_the_file(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "key.json"
    path.write_text("project_id = hil-test\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"^The FCM credentials in '.*key\.json' are not valid"):
        FirebaseWaker(str(path), clock)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"project_id": ""}, r'have no "project_id"'),
        ({"client_email": None}, r"missing fields client_email"),
        (
            {"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
            "cannot be used",
        ),
    ],
)
def test_an_unusable_service_account_key_is_refused(
    account_key: rsa.RSAPrivateKey, change: dict[str, Any], message: str, clock: ManualClock
) -> None:
    info = {k: v for k, v in service_account(account_key, **change).items() if v is not None}
    with pytest.raises(InvalidInput, match=message) as caught:
        FirebaseWaker(json.dumps(info))
    assert caught.value.message.startswith("The FCM ")
    assert "BEGIN PRIVATE KEY" not in caught.value.message, "never quote the key"


def test_a_negative_debounce_is_refused(clock: ManualClock) -> None:
    with pytest.raises(InvalidInput, match="must not be negative"):
        WakeUps(NullWaker(), clock, timedelta(seconds=-1))


# -- the other wakers and the factory ----------------------------------------------------


def test_a_wake_target_needs_a_token() -> None:
    with pytest.raises(InvalidInput, match="Phone 3 has no FCM token"):
        WakeTarget(3, "")


def test_the_null_waker_does_nothing() -> None:
    waker = NullWaker()
    assert isinstance(waker, Waker)
    assert waker.wake([WakeTarget(1, "t")], NOW) == []
    waker.close()


def test_the_recording_waker_records_and_reports_unregistered(clock: ManualClock) -> None:
    waker = RecordingWaker(unregistered_tokens={"stale"})
    assert isinstance(waker, Waker)
    start = clock.now()

    assert waker.wake([WakeTarget(1, "a"), WakeTarget(2, "stale")], start) == [2]
    later = start + timedelta(seconds=1)
    assert waker.wake([WakeTarget(1, "a"), WakeTarget(2, "new")], later) == []
    waker.mark_unregistered("a")
    assert waker.wake([WakeTarget(1, "a")], later) == [1]

    assert waker.records == [
        WakeRecord(1, "a", start),
        WakeRecord(1, "a", later),
        WakeRecord(2, "new", later),
    ]
    waker.clear()
    assert waker.records == []
    waker.close()
    assert waker.closed and waker.wake([WakeTarget(9, "z")], later) == []


def test_the_wake_up_service_debounces_and_forgets_unregistered_pushes(
    clock: ManualClock,
) -> None:
    waker = RecordingWaker(unregistered_tokens={"stale"})
    wakeups = WakeUps(waker, clock, WINDOW)
    start = clock.now()

    assert wakeups.push([WakeTarget(1, "a"), WakeTarget(2, "stale")]) == [2]
    clock.advance(1)
    # phone 1 is within its window; phone 2's push reached nothing, so its new token goes
    assert wakeups.push([WakeTarget(1, "a"), WakeTarget(2, "new")]) == []
    clock.advance(4)
    waker.mark_unregistered("a")
    assert wakeups.push([WakeTarget(1, "a"), WakeTarget(2, "new")]) == [1]

    assert waker.records == [
        WakeRecord(1, "a", start),
        WakeRecord(2, "new", start + timedelta(seconds=1)),
    ]


def test_the_wake_up_service_takes_its_window_and_a_clock_moved_back(clock: ManualClock) -> None:
    waker = RecordingWaker()
    wakeups = WakeUps(waker, clock, timedelta(minutes=1))
    wakeups.push([WakeTarget(1, "a")])
    clock.advance(30)
    wakeups.push([WakeTarget(1, "a")])
    clock.set(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))  # a harness replaying earlier time
    wakeups.push([WakeTarget(1, "a")])
    assert [r.at.hour for r in waker.records] == [8, 7]


def test_make_waker_off_gives_the_null_waker(clock: ManualClock) -> None:
    assert isinstance(make_waker(enabled=False, credentials=None), NullWaker)
    assert isinstance(make_waker(enabled=False, credentials="{junk"), NullWaker)


@pytest.mark.parametrize("missing", [None, "", "   "])
def test_make_waker_on_without_credentials_is_refused(
    missing: str | None, clock: ManualClock
) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_waker(enabled=True, credentials=missing)
    assert caught.value.message == (
        "FCM is enabled but no credentials were given (inline JSON or a path)."
    )


def test_make_waker_on_gives_a_firebase_waker(
    double: FcmDouble, credentials: str, clock: ManualClock
) -> None:
    waker = make_waker(enabled=True, credentials=credentials)
    try:
        assert isinstance(waker, FirebaseWaker)
        waker.wake([WakeTarget(7, "t")], clock.now())
        assert len(double.send_requests) == 1
    finally:
        waker.close()
