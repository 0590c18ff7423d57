"""The loopback FCM endpoint the harness runs: a TEST DOUBLE of Google's FCM v1 and OAuth2.

``FcmDouble`` is not a Google service. It stands in for ``fcm.googleapis.com`` and
``oauth2.googleapis.com`` behind a loopback HTTPS-intercepting proxy (``harness.fcm_tls``),
and answers the HTTP/1.1 requests that the real ``firebase-admin`` SDK (through
``google-auth``, ``requests`` and ``urllib3``) sends:

* ``POST /token`` on oauth2.googleapis.com: the OAuth2 JWT-bearer grant. The form must carry
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an ``assertion`` JWT whose
  header and claims decode, whose ``aud`` is the token URI, and (once a service account's
  public key is known) whose RS256 signature verifies. Answers an access token.
* ``POST /v1/projects/{project}/messages:send`` on fcm.googleapis.com: needs
  ``Authorization: Bearer <a token this double issued>`` and a JSON ``{"message": {...}}``;
  answers ``{"name": "projects/{project}/messages/<n>"}``, or FCM's v1 error bodies for tokens
  marked unregistered / sender-id-mismatched or refused by ``on_send``, or an injected
  server error.

Nothing in the SDK is patched. A served gateway is routed here by its environment and given
credentials the double trusts::

    with FcmDouble(on_send=hand_to_simulation) as fcm:
        with served_gateway(db_url, log, "--fcm-credentials", fcm.service_account(),
                            admin_token=token, env=fcm.environment()) as served:
            ...

``on_send`` is how the harness hands each accepted push to the simulated FCM (``Fcm.push``)
and so to the virtual phones. Every request inside a tunnel is recorded (method, host, path,
headers, parsed body, answer) for assertions, and anything that breaks the protocol is
written to ``problems`` so a test can insist it stays empty.
"""

from __future__ import annotations

import copy
import itertools
import json
import logging
import re
import secrets
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives.asymmetric import rsa

from .fcm_tls import (
    DEFAULT_PROJECT,
    FCM_HOST,
    OAUTH2_HOST,
    TOKEN_URI,
    InterceptingProxy,
    Jwt,
    check_assertion,
    new_service_account_key,
    service_account_info,
)

__all__ = [
    "DEFAULT_PROJECT",
    "FCM_HOST",
    "OAUTH2_HOST",
    "TOKEN_URI",
    "FcmDouble",
    "RecordedRequest",
    "SendHook",
    "new_service_account_key",
    "service_account_info",
]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

SendHook = Callable[[str, Mapping[str, Any]], bool | None]
"""``on_send(token, message)``: False makes the send answer UNREGISTERED; True/None accept."""

_log = logging.getLogger(__name__)

_SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the double received inside a TLS tunnel, and what it answered.

    ``headers`` has lower-case names. ``body`` is the parsed form (single values) for the
    token endpoint, the parsed JSON for FCM, else the raw text. For token requests
    ``assertion_header``/``assertion_claims`` hold the decoded JWT.
    """

    method: str
    host: str
    path: str
    headers: Mapping[str, str]
    body: Any
    status: int
    response: Any
    assertion_header: Mapping[str, Any] | None = None
    assertion_claims: Mapping[str, Any] | None = None


@dataclass
class _Failure:
    status: int
    remaining: int | None  # None: every send until cleared


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    accounts: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    issued_tokens: set[str] = field(default_factory=set)
    unregistered: set[str] = field(default_factory=set)
    sender_mismatch: set[str] = field(default_factory=set)
    failure: _Failure | None = None


class FcmDouble:
    """Test double for FCM v1 + Google OAuth2, as a loopback HTTPS-intercepting proxy.

    ``service_accounts`` maps a service account's ``client_email`` to its RSA public key;
    once any is known (given here or made by ``service_account()``), token requests must be
    signed by one of them, as Google checks; before that, signatures are not checked.

    ``on_send`` (also a settable attribute) is called for every accepted ``messages:send``
    to a device token, with the token and the parsed ``message``; returning False answers
    FCM's 404 ``UNREGISTERED``, so the sender learns the token is dead. It runs on one of
    the double's connection threads, while the sender waits for the answer: the callee must
    marshal the call to its own thread (a thread-safe call into the simulation's loop) and
    not touch thread-bound state directly. An exception it raises is written to
    ``problems`` and answered 500 (which the SDK retries); it never stops the double.

    Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(
        self,
        service_accounts: Mapping[str, rsa.RSAPublicKey] | None = None,
        *,
        on_send: SendHook | None = None,
    ) -> None:
        self.on_send = on_send
        self._state = _State(accounts=dict(service_accounts or {}))
        self._token_serials = itertools.count(1)
        self._message_serials = itertools.count(1)
        self._proxy = InterceptingProxy(
            (FCM_HOST, OAUTH2_HOST),
            self._serve,
            problem=self._problem,
            error_body=_google_error,
            name="fcm-double",
        )

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> FcmDouble:
        """Issue the certificates and start listening on a free loopback port."""
        self._proxy.start()
        return self

    def stop(self) -> None:
        """Stop listening, cut open tunnels and delete the certificates."""
        self._proxy.stop()

    def __enter__(self) -> FcmDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def proxy_url(self) -> str:
        """``http://127.0.0.1:<port>``, the proxy to reach the double through (while running)."""
        return self._proxy.url

    @property
    def ca_path(self) -> str:
        """The PEM file of the double's throw-away CA (while running)."""
        return self._proxy.ca_path

    # -- what a client needs -----------------------------------------------------------

    def environment(self) -> dict[str, str]:
        """The environment variables that route ``requests`` here and make it trust the CA.

        Both spellings of the proxy variables: urllib lets a lower-case one inherited from
        the caller's environment win over an upper-case one.
        """
        if not self.proxy_url:
            raise RuntimeError("Start the FCM double before asking for its environment.")
        no_proxy = "127.0.0.1,localhost"
        return {
            "HTTPS_PROXY": self.proxy_url,
            "https_proxy": self.proxy_url,
            "REQUESTS_CA_BUNDLE": self.ca_path,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }

    def service_account(
        self,
        key: rsa.RSAPrivateKey | None = None,
        *,
        project_id: str = DEFAULT_PROJECT,
        client_email: str | None = None,
    ) -> str:
        """Service-account JSON text the double trusts, for ``hil serve --fcm-credentials``.

        Uses a fresh RSA key unless ``key`` is given; ``token_uri`` is Google's real one (the
        environment routes it here). The public key is registered, so from now on token
        requests are signature-checked.
        """
        key = key or new_service_account_key()
        info = service_account_info(key, project_id=project_id, client_email=client_email)
        with self._state.lock:
            self._state.accounts[info["client_email"]] = key.public_key()
        return json.dumps(info)

    # -- behaviour switches ---------------------------------------------------------------

    def mark_unregistered(self, token: str) -> None:
        """Answer sends to ``token`` with FCM's 404 ``UNREGISTERED``."""
        with self._state.lock:
            self._state.unregistered.add(token)

    def mark_sender_id_mismatch(self, token: str) -> None:
        """Answer sends to ``token`` with FCM's 403 ``SENDER_ID_MISMATCH``."""
        with self._state.lock:
            self._state.sender_mismatch.add(token)

    def fail_sends(self, status: int = 500, times: int | None = None) -> None:
        """Answer the next ``times`` sends (every send when None) with a server error."""
        with self._state.lock:
            self._state.failure = _Failure(status, times)

    def heal(self) -> None:
        """Stop injecting send failures."""
        with self._state.lock:
            self._state.failure = None

    # -- what happened --------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received inside a tunnel, in arrival order (a copy)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def token_requests(self) -> list[RecordedRequest]:
        """The OAuth2 token requests."""
        return [r for r in self.requests if r.host == OAUTH2_HOST and r.path == "/token"]

    @property
    def send_requests(self) -> list[RecordedRequest]:
        """The FCM ``messages:send`` requests (answered with success or not)."""
        return [r for r in self.requests if r.host == FCM_HOST and _SEND_PATH.fullmatch(r.path)]

    @property
    def tunnels(self) -> list[str]:
        """The ``host:port`` of every CONNECT received, accepted or not."""
        return self._proxy.tunnels

    @property
    def problems(self) -> list[str]:
        """Protocol violations and internal errors seen; a passing test expects none."""
        with self._state.lock:
            return list(self._state.problems)

    @property
    def issued_tokens(self) -> set[str]:
        """The access tokens handed out."""
        with self._state.lock:
            return set(self._state.issued_tokens)

    # -- answering (on the proxy's connection threads) ----------------------------------

    def _problem(self, text: str) -> None:
        with self._state.lock:
            self._state.problems.append(text)

    def _serve(
        self, host: str, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        """Answer one tunnelled request and record it; returns (status, JSON body)."""
        try:
            if host == OAUTH2_HOST and path == "/token" and method == "POST":
                return self._token(host, path, headers, raw)
            match = _SEND_PATH.fullmatch(path)
            if host == FCM_HOST and match and method == "POST":
                return self._send(host, path, match.group(1), headers, raw)
            self._problem(f"unexpected request {method} https://{host}{path}")
            answer = _google_error(404, f"The double does not serve {method} {path}.")
            self._record(host, method, path, headers, raw.decode(errors="replace"), 404, answer)
            return 404, answer
        except Exception:
            self._problem(f"double crashed on {method} {path}:\n{traceback.format_exc()}")
            return 500, _google_error(500, "The test double crashed.")

    def _record(
        self,
        host: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        status: int,
        response: Any,
        jwt: Jwt | None = None,
    ) -> None:
        request = RecordedRequest(
            method=method,
            host=host,
            path=path,
            headers=headers,
            body=body,
            status=status,
            response=response,
            assertion_header=jwt[0] if jwt else None,
            assertion_claims=jwt[1] if jwt else None,
        )
        with self._state.lock:
            self._state.requests.append(request)

    def _token(self, host: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        form = {k: v[0] for k, v in parse_qs(raw.decode(), keep_blank_values=True).items()}
        jwt: Jwt | None = None
        error = None
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            error = f"token request Content-Type is {headers.get('content-type')!r}"
        elif form.get("grant_type") != JWT_BEARER:
            error = f"grant_type is {form.get('grant_type')!r}, not the JWT-bearer grant"
        elif not form.get("assertion"):
            error = "the form has no assertion"
        else:
            with self._state.lock:
                accounts = dict(self._state.accounts)
            jwt, error = check_assertion(form["assertion"], f"https://{host}{path}", accounts)
        if error is not None:
            self._problem(f"token request refused: {error}")
            answer: dict[str, Any] = {"error": "invalid_grant", "error_description": error}
            self._record(host, "POST", path, headers, form, 400, answer, jwt)
            return 400, answer
        token = f"ya29.double-{next(self._token_serials)}-{secrets.token_urlsafe(16)}"
        with self._state.lock:
            self._state.issued_tokens.add(token)
        answer = {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        self._record(host, "POST", path, headers, form, 200, answer, jwt)
        return 200, answer

    def _send(
        self, host: str, path: str, project: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]:
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        status, answer = self._send_answer(project, headers, body)
        self._record(host, "POST", path, headers, body, status, answer)
        return status, answer

    def _send_answer(self, project: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        with self._state.lock:
            known = token in self._state.issued_tokens
        if scheme != "Bearer" or not known:
            self._problem(f"send with bad Authorization {auth[:24]!r}")
            return 401, _google_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential.",
            )
        if not headers.get("content-type", "").startswith("application/json"):
            self._problem(f"send Content-Type is {headers.get('content-type')!r}")
            return 400, _google_error(400, "The request body must be JSON.")
        message = body.get("message") if isinstance(body, dict) else None
        if not isinstance(message, dict):
            self._problem("send body is not {'message': {...}}")
            return 400, _google_error(400, "Request contains an invalid argument.")
        targets = [k for k in ("token", "topic", "condition") if k in message]
        if len(targets) != 1:
            self._problem(f"send message names targets {targets}, not exactly one")
            return 400, _google_error(400, "Request contains an invalid argument.")
        device = message.get("token")
        if "token" in message and not (isinstance(device, str) and device):
            self._problem(f"send message's token is {device!r}, not a non-empty string")
            return 400, _google_error(400, "Request contains an invalid argument.")
        with self._state.lock:
            failure = self._state.failure
            if failure is not None and failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._state.failure = None
            unregistered = device in self._state.unregistered
            mismatch = device in self._state.sender_mismatch
        if failure is not None:
            return failure.status, _google_error(failure.status, "Internal error encountered.")
        if unregistered:
            return 404, _unregistered()
        if mismatch:
            return 403, _google_error(403, "SenderId mismatch", "SENDER_ID_MISMATCH")
        hook = self.on_send  # read once: the harness may swap it while we answer
        if hook is not None and isinstance(device, str):
            # Called without the lock: the hook may block on the simulation's thread, and
            # that thread may be reading what the double recorded.
            try:
                verdict = hook(device, copy.deepcopy(message))
            except Exception:
                _log.exception("The FCM double's on_send hook raised for token %r.", device)
                self._problem(f"on_send raised for token {device!r}:\n{traceback.format_exc()}")
                return 500, _google_error(500, "Internal error encountered.")
            if verdict is False:
                return 404, _unregistered()
        return 200, {"name": f"projects/{project}/messages/{next(self._message_serials)}"}


def _google_error(status: int, message: str, fcm_code: str | None = None) -> dict[str, Any]:
    """A Google API error body; with ``fcm_code``, carrying FCM v1's FcmError detail."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if fcm_code is not None:
        error["details"] = [{"@type": _FCM_ERROR_TYPE, "errorCode": fcm_code}]
    return {"error": error}


def _unregistered() -> dict[str, Any]:
    """FCM v1's answer for a token that no longer reaches an app instance."""
    return _google_error(404, "Requested entity was not found.", "UNREGISTERED")
