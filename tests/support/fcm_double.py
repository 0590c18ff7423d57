"""A test double for Google's FCM v1 and OAuth2 token endpoints, reached through a proxy.

``FcmDouble`` is a TEST DOUBLE, not a Google service. It is a loopback HTTPS-intercepting
proxy: a threaded server on 127.0.0.1 that accepts ``CONNECT fcm.googleapis.com:443`` and
``CONNECT oauth2.googleapis.com:443``, terminates TLS inside the tunnel with a certificate
issued at start by a throw-away CA of its own, and answers the HTTP/1.1 requests that the
real ``firebase-admin`` SDK (through ``google-auth``, ``requests`` and ``urllib3``) sends:

* ``POST /token`` on oauth2.googleapis.com: the OAuth2 JWT-bearer grant. The form must carry
  ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and an ``assertion`` JWT whose
  header and claims decode, whose ``aud`` is the token URI, and (when the service account's
  public key was given) whose RS256 signature verifies. Answers an access token.
* ``POST /v1/projects/{project}/messages:send`` on fcm.googleapis.com: needs
  ``Authorization: Bearer <a token this double issued>`` and a JSON ``{"message": {...}}``;
  answers ``{"name": "projects/{project}/messages/<n>"}``, or FCM's v1 error bodies for tokens
  marked unregistered / sender-id-mismatched, or an injected server error.

Nothing in the SDK is patched. A test routes the SDK here with the standard environment:
``HTTPS_PROXY=<proxy_url>``, ``REQUESTS_CA_BUNDLE=<ca_path>`` and
``NO_PROXY=127.0.0.1,localhost`` (see ``environment()``). Every request inside a tunnel is
recorded (method, host, path, headers, parsed body, answer) for assertions, and anything
that breaks the protocol is written to ``problems`` so a test can insist it stays empty.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import re
import secrets
import socket
import socketserver
import ssl
import tempfile
import threading
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["FCM_HOST", "OAUTH2_HOST", "TOKEN_URI", "FcmDouble", "RecordedRequest"]

FCM_HOST = "fcm.googleapis.com"
OAUTH2_HOST = "oauth2.googleapis.com"
TOKEN_URI = f"https://{OAUTH2_HOST}/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"

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
_IDLE_TIMEOUT_S = 30.0


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
    requests: list[RecordedRequest] = field(default_factory=list)
    tunnels: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    issued_tokens: set[str] = field(default_factory=set)
    unregistered: set[str] = field(default_factory=set)
    sender_mismatch: set[str] = field(default_factory=set)
    failure: _Failure | None = None
    sockets: set[socket.socket] = field(default_factory=set)


class FcmDouble:
    """Test double for FCM v1 + Google OAuth2, as a loopback HTTPS-intercepting proxy.

    ``service_accounts`` maps a service account's ``client_email`` to its RSA public key;
    when given, token requests must be signed by one of them (as Google checks), otherwise
    signatures are not checked. Use as a context manager, or ``start()``/``stop()``.
    """

    def __init__(self, service_accounts: Mapping[str, rsa.RSAPublicKey] | None = None) -> None:
        self._accounts = dict(service_accounts or {})
        self._state = _State()
        self._token_serials = itertools.count(1)
        self._message_serials = itertools.count(1)
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self._tls: ssl.SSLContext | None = None
        self.ca_path = ""
        self.proxy_url = ""

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> FcmDouble:
        """Issue the certificates and start listening on a free loopback port."""
        self._dir = tempfile.TemporaryDirectory(prefix="fcm-double-")
        folder = Path(self._dir.name)
        ca_pem, chain_pem, key_pem = _issue_certificates()
        (folder / "ca.pem").write_bytes(ca_pem)
        (folder / "leaf-chain.pem").write_bytes(chain_pem)
        (folder / "leaf-key.pem").write_bytes(key_pem)
        self.ca_path = str(folder / "ca.pem")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        tls.load_cert_chain(folder / "leaf-chain.pem", folder / "leaf-key.pem")
        tls.set_alpn_protocols(["http/1.1"])
        self._tls = tls
        self._server = _ProxyServer(("127.0.0.1", 0), _ProxyHandler, self)
        host, port = self._server.socket.getsockname()[:2]
        self.proxy_url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fcm-double",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, cut open tunnels and delete the certificates."""
        if self._server is not None:
            self._server.shutdown()
            with self._state.lock:
                open_sockets = list(self._state.sockets)
            for sock in open_sockets:
                # Pooled keep-alive tunnels would otherwise keep their threads reading.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> FcmDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The environment variables that route ``requests`` here and make it trust the CA."""
        return {
            "HTTPS_PROXY": self.proxy_url,
            "REQUESTS_CA_BUNDLE": self.ca_path,
            "NO_PROXY": "127.0.0.1,localhost",
        }

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
        with self._state.lock:
            return list(self._state.tunnels)

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

    # -- internals used by the handlers ---------------------------------------------------

    def _problem(self, text: str) -> None:
        with self._state.lock:
            self._state.problems.append(text)

    def _track(self, sock: socket.socket, keep: bool) -> None:
        with self._state.lock:
            if keep:
                self._state.sockets.add(sock)
            else:
                self._state.sockets.discard(sock)

    def _tunnel_opened(self, target: str) -> None:
        with self._state.lock:
            self._state.tunnels.append(target)

    def _tls_context(self) -> ssl.SSLContext:
        assert self._tls is not None, "the double is not started"
        return self._tls

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
            answer = _google_error(500, "The test double crashed.")
            return 500, answer

    def _record(
        self,
        host: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        status: int,
        response: Any,
        jwt: tuple[dict[str, Any], dict[str, Any]] | None = None,
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
        jwt: tuple[dict[str, Any], dict[str, Any]] | None = None
        error = None
        if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            error = f"token request Content-Type is {headers.get('content-type')!r}"
        elif form.get("grant_type") != JWT_BEARER:
            error = f"grant_type is {form.get('grant_type')!r}, not the JWT-bearer grant"
        elif not form.get("assertion"):
            error = "the form has no assertion"
        else:
            jwt, error = self._check_assertion(form["assertion"], f"https://{host}{path}")
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

    def _check_assertion(
        self, assertion: str, token_uri: str
    ) -> tuple[tuple[dict[str, Any], dict[str, Any]] | None, str | None]:
        parts = assertion.split(".")
        if len(parts) != 3:
            return None, f"the assertion has {len(parts)} dot-separated parts, not 3"
        try:
            header = json.loads(_b64url(parts[0]))
            claims = json.loads(_b64url(parts[1]))
            signature = _b64url(parts[2])
        except (ValueError, binascii.Error) as exc:
            return None, f"the assertion does not decode: {exc}"
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return None, "the assertion's header or claims are not JSON objects"
        jwt = (header, claims)
        if header.get("alg") != "RS256":
            return jwt, f"the assertion is signed with {header.get('alg')!r}, not RS256"
        if claims.get("aud") != token_uri:
            return jwt, f"the assertion's aud is {claims.get('aud')!r}, not {token_uri!r}"
        for claim in ("iss", "iat", "exp", "scope"):
            if claim not in claims:
                return jwt, f"the assertion has no {claim!r} claim"
        if self._accounts:
            key = self._accounts.get(claims["iss"])
            if key is None:
                return jwt, f"unknown service account {claims['iss']!r}"
            signed = f"{parts[0]}.{parts[1]}".encode()
            try:
                key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                return jwt, "Invalid JWT Signature."
        return jwt, None

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
        with self._state.lock:
            failure = self._state.failure
            if failure is not None and failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._state.failure = None
            unregistered = message.get("token") in self._state.unregistered
            mismatch = message.get("token") in self._state.sender_mismatch
        if failure is not None:
            return failure.status, _google_error(failure.status, "Internal error encountered.")
        if unregistered:
            return 404, _google_error(404, "Requested entity was not found.", "UNREGISTERED")
        if mismatch:
            return 403, _google_error(403, "SenderId mismatch", "SENDER_ID_MISMATCH")
        return 200, {"name": f"projects/{project}/messages/{next(self._message_serials)}"}


class _ProxyServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        double: FcmDouble,
    ) -> None:
        self.double = double
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Route handler crashes into ``problems`` instead of printing them to stderr.
        self.double._problem(f"proxy connection failed:\n{traceback.format_exc()}")


class _ProxyHandler(BaseHTTPRequestHandler):
    """The proxy side: accepts CONNECT to the two Google hosts and opens a TLS tunnel."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer
    timeout = _IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # Without it, Nagle's algorithm holds each response body back for the client's
        # delayed ACK: some 40 ms on every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_CONNECT(self) -> None:
        double = self.server.double
        double._tunnel_opened(self.path)
        host, _, port = self.path.rpartition(":")
        self.close_connection = True
        if port != "443" or host not in (FCM_HOST, OAUTH2_HOST):
            double._problem(f"CONNECT to {self.path!r}, which the double does not intercept")
            self.send_error(403, "The FCM test double only intercepts Google's FCM hosts")
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        try:
            tls = double._tls_context().wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            double._problem(f"TLS handshake for {host} failed: {exc}")
            return
        double._track(tls, keep=True)
        try:
            _TunnelHandler(tls, self.client_address, self.server, host)
        finally:
            double._track(tls, keep=False)
            with contextlib.suppress(OSError):
                tls.close()

    def _refuse(self) -> None:
        self.server.double._problem(f"plain {self.command} {self.path} sent to the proxy")
        self.close_connection = True
        self.send_error(405, "The FCM test double only accepts CONNECT")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the recorded requests say what happened."""


class _TunnelHandler(BaseHTTPRequestHandler):
    """The server side inside a TLS tunnel: keep-alive HTTP/1.1 for one Google host."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer
    timeout = _IDLE_TIMEOUT_S

    def __init__(
        self,
        request: ssl.SSLSocket,
        client_address: Any,
        server: _ProxyServer,
        tunnel_host: str,
    ) -> None:
        self.tunnel_host = tunnel_host
        super().__init__(request, client_address, server)

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ssl.SSLError):
            # The client (or stop()) closed the tunnel between requests.
            self.close_connection = True

    def _answer(self) -> None:
        double = self.server.double
        headers = {name.lower(): value for name, value in self.headers.items()}
        if headers.get("host", self.tunnel_host).split(":")[0] != self.tunnel_host:
            double._problem(f"Host {headers.get('host')!r} inside a tunnel to {self.tunnel_host}")
        if "chunked" in headers.get("transfer-encoding", ""):
            double._problem("chunked request body; Google's clients send Content-Length")
            self._reply(411, _google_error(411, "Length required."))
            return
        if hasattr(socket, "TCP_QUICKACK"):
            # urllib3 keeps Nagle's algorithm on for proxied connections and writes the
            # body after the headers, so the body waits for our ACK of the headers; a
            # delayed ACK would cost 40 ms per request. Linux-only, hence the guard.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        raw = self.rfile.read(int(headers.get("content-length", "0")))
        status, answer = double._serve(self.tunnel_host, self.command, self.path, headers, raw)
        self._reply(status, answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def _reply(self, status: int, answer: Any) -> None:
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the recorded requests say what happened."""


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


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _issue_certificates() -> tuple[bytes, bytes, bytes]:
    """A throw-away CA and a leaf for the Google hosts: (CA PEM, leaf+CA PEM, leaf key PEM)."""
    now = datetime.now(UTC)
    validity = (now - timedelta(days=1), now + timedelta(days=1))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "FCM test double CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FCM_HOST)]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(FCM_HOST),
                    x509.DNSName(OAUTH2_HOST),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    leaf_pem = leaf.public_bytes(serialization.Encoding.PEM)
    key_pem = leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return ca_pem, leaf_pem + ca_pem, key_pem
