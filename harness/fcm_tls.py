"""Keys, certificates and the TLS interception of the loopback FCM endpoint (a TEST DOUBLE).

Nothing here is Google's; it is what lets the real ``firebase-admin`` SDK talk to
``harness.fcm_endpoint`` without being patched:

* ``InterceptingProxy``: a threaded HTTP proxy on 127.0.0.1 that accepts ``CONNECT
  <host>:443`` for a fixed set of hosts, terminates TLS inside the tunnel with a certificate
  issued at start by a throw-away CA of its own (``issue_certificates``), and hands every
  HTTP/1.1 request inside the tunnel to a ``Responder``. A client reaches it through the
  standard ``HTTPS_PROXY`` and trusts it through ``REQUESTS_CA_BUNDLE``. What the requests
  mean is the responder's business; the proxy reports what breaks the transport to
  ``problem``.
* Service accounts: ``new_service_account_key`` and ``service_account_info`` make a
  throw-away key in Google's JSON layout, and ``check_assertion`` checks the RS256 JWT that
  google-auth signs with it for the OAuth2 JWT-bearer grant.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import socket
import socketserver
import ssl
import tempfile
import threading
import traceback
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "DEFAULT_PROJECT",
    "FCM_HOST",
    "OAUTH2_HOST",
    "TOKEN_URI",
    "InterceptingProxy",
    "Jwt",
    "Responder",
    "check_assertion",
    "issue_certificates",
    "new_service_account_key",
    "service_account_info",
]

FCM_HOST = "fcm.googleapis.com"
OAUTH2_HOST = "oauth2.googleapis.com"
TOKEN_URI = f"https://{OAUTH2_HOST}/token"
DEFAULT_PROJECT = "hil-test"

_IDLE_TIMEOUT_S = 30.0

Jwt = tuple[dict[str, Any], dict[str, Any]]
"""A decoded JWT: (header, claims)."""


class Responder(Protocol):
    """Answers one request received inside a tunnel: returns (status, JSON body).

    ``headers`` has lower-case names; ``raw`` is the request body. Called from the
    proxy's connection threads, several at once.
    """

    def __call__(
        self, host: str, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any]: ...


class InterceptingProxy:
    """A loopback HTTPS-intercepting proxy for ``hosts`` (port 443 only).

    ``respond`` answers each tunnelled request; ``problem`` receives a sentence for every
    transport violation (a CONNECT elsewhere, a failed handshake, a chunked body, a crashed
    connection); ``error_body`` builds the JSON the proxy answers its own refusals with.
    Use ``start()``/``stop()``; ``url`` and ``ca_path`` are set while it runs.
    """

    def __init__(
        self,
        hosts: Collection[str],
        respond: Responder,
        *,
        problem: Callable[[str], None],
        error_body: Callable[[int, str], Any],
        name: str = "intercepting-proxy",
    ) -> None:
        self.hosts = frozenset(hosts)
        self.respond = respond
        self.problem = problem
        self.error_body = error_body
        self.name = name
        self.url = ""
        self.ca_path = ""
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._tunnels: list[str] = []
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self._tls: ssl.SSLContext | None = None

    def start(self) -> None:
        """Issue the certificates and start listening on a free loopback port."""
        self._dir = tempfile.TemporaryDirectory(prefix=f"{self.name}-")
        folder = Path(self._dir.name)
        ca_pem, chain_pem, key_pem = issue_certificates(sorted(self.hosts))
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
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.name,
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, cut open tunnels and delete the certificates."""
        if self._server is not None:
            self._server.shutdown()
            with self._lock:
                open_sockets = list(self._sockets)
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

    @property
    def tunnels(self) -> list[str]:
        """The ``host:port`` of every CONNECT received, accepted or not (a copy)."""
        with self._lock:
            return list(self._tunnels)

    def _tunnel_opened(self, target: str) -> None:
        with self._lock:
            self._tunnels.append(target)

    def _track(self, sock: socket.socket, keep: bool) -> None:
        with self._lock:
            if keep:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    def _tls_context(self) -> ssl.SSLContext:
        assert self._tls is not None, "the proxy is not started"
        return self._tls


class _ProxyServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        proxy: InterceptingProxy,
    ) -> None:
        self.proxy = proxy
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Route handler crashes into the problems instead of printing them to stderr.
        self.proxy.problem(f"proxy connection failed:\n{traceback.format_exc()}")


class _ProxyHandler(BaseHTTPRequestHandler):
    """The proxy side: accepts CONNECT to the intercepted hosts and opens a TLS tunnel."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer
    timeout = _IDLE_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        # Without it, Nagle's algorithm holds each response body back for the client's
        # delayed ACK: some 40 ms on every request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_CONNECT(self) -> None:
        proxy = self.server.proxy
        proxy._tunnel_opened(self.path)
        host, _, port = self.path.rpartition(":")
        self.close_connection = True
        if port != "443" or host not in proxy.hosts:
            proxy.problem(f"CONNECT to {self.path!r}, which the double does not intercept")
            self.send_error(
                403, f"This test double only intercepts {', '.join(sorted(proxy.hosts))}"
            )
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        try:
            tls = proxy._tls_context().wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            proxy.problem(f"TLS handshake for {host} failed: {exc}")
            return
        proxy._track(tls, keep=True)
        try:
            _TunnelHandler(tls, self.client_address, self.server, host)
        finally:
            proxy._track(tls, keep=False)
            with contextlib.suppress(OSError):
                tls.close()

    def _refuse(self) -> None:
        self.server.proxy.problem(f"plain {self.command} {self.path} sent to the proxy")
        self.close_connection = True
        self.send_error(405, "This test double only accepts CONNECT")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _refuse

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the responder records what happened."""


class _TunnelHandler(BaseHTTPRequestHandler):
    """The server side inside a TLS tunnel: keep-alive HTTP/1.1 for one intercepted host."""

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
        proxy = self.server.proxy
        headers = {name.lower(): value for name, value in self.headers.items()}
        if headers.get("host", self.tunnel_host).split(":")[0] != self.tunnel_host:
            proxy.problem(f"Host {headers.get('host')!r} inside a tunnel to {self.tunnel_host}")
        if "chunked" in headers.get("transfer-encoding", ""):
            proxy.problem("chunked request body; Google's clients send Content-Length")
            self._reply(411, proxy.error_body(411, "Length required."))
            return
        if hasattr(socket, "TCP_QUICKACK"):
            # urllib3 keeps Nagle's algorithm on for proxied connections and writes the
            # body after the headers, so the body waits for our ACK of the headers; a
            # delayed ACK would cost 40 ms per request. Linux-only, hence the guard.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        raw = self.rfile.read(int(headers.get("content-length", "0")))
        status, answer = proxy.respond(self.tunnel_host, self.command, self.path, headers, raw)
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
        """Stay quiet: the responder records what happened."""


_SIGNING_ONLY: Mapping[str, bool] = {
    "content_commitment": False,
    "key_encipherment": False,
    "data_encipherment": False,
    "key_agreement": False,
    "encipher_only": False,
    "decipher_only": False,
}


def issue_certificates(hosts: Collection[str]) -> tuple[bytes, bytes, bytes]:
    """A throw-away CA and a leaf for ``hosts``: (CA PEM, leaf+CA PEM, leaf key PEM).

    Both are valid from a day ago to a day ahead; the CA signs nothing else, and its key is
    dropped when this returns.
    """
    if not hosts:
        raise ValueError("issue_certificates needs at least one host name for the leaf.")
    # Certificate validity is wall-clock time by nature: the client checks it on its clock.
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
                digital_signature=True, key_cert_sign=True, crl_sign=True, **_SIGNING_ONLY
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    names = list(hosts)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName([_alt_name(name) for name in names]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=False, crl_sign=False, **_SIGNING_ONLY
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


def _alt_name(host: str) -> x509.GeneralName:
    """A host's subject alternative name: an IP address is one (RFC 6125 6.2.1), not a DNS
    name that a client matching ``https://127.0.0.1`` would refuse."""
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def new_service_account_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key, as Google issues for service accounts (takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def service_account_info(
    key: rsa.RSAPrivateKey,
    *,
    project_id: str = DEFAULT_PROJECT,
    client_email: str | None = None,
) -> dict[str, Any]:
    """A throw-away service-account key in Google's JSON layout, ``token_uri`` the real one.

    ``client_email`` defaults to ``hil@<project_id>.iam.gserviceaccount.com``.
    """
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": client_email or f"hil@{project_id}.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": TOKEN_URI,
    }


def check_assertion(
    assertion: str, token_uri: str, accounts: Mapping[str, rsa.RSAPublicKey]
) -> tuple[Jwt | None, str | None]:
    """Check a JWT-bearer grant's assertion: ((header, claims) when it decodes, the error).

    The signature is checked against ``accounts`` (client email -> public key) only when
    some are given, as Google knows every key it issued; with none, any signer passes.
    """
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
    if accounts:
        key = accounts.get(claims["iss"])
        if key is None:
            return jwt, f"unknown service account {claims['iss']!r}"
        try:
            key.verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return jwt, "Invalid JWT Signature."
    return jwt, None


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
