"""Can the phone reach the URL the gateway app will call? (``hil pair PHONE --device SERIAL``)

The app does not call the URL of its pairing code: ``setApiUrl`` stores it with ``http://``
rewritten to ``https://`` (``src/storage/settings.ts:92`` of Varyshop/sms-gateway-app 1.7.1,
commit 84529ed: ``url.startsWith('http://') ? url.replace('http://', 'https://') : url``), so
``http://host:8000`` becomes ``https://host:8000`` and a plain-HTTP server never answers it.
:func:`~harness.phone_facts.app_url` is that rewrite.

From the phone's shell (adbutils through the real adb server) this module checks what a
shell can: whether the host resolves and the TCP port accepts a connection, with toybox's
netcat, ``toybox nc -w 5 -W 1 HOST PORT`` (Android's ``nc`` is toybox's; ``-w`` bounds the
connect, ``-W 1`` ends the idle connection; ``-z`` would be neater but toybox has it only
since 0.8.11, commit 98f982d8, newer than Android 10-14's). toybox prints ``nc: HOST:PORT:
<resolver error>`` for a name that does not resolve (``lib/net.c`` ``xgetaddrinfo``),
``nc: connect: <errno>`` for a refused or unreachable port (``xconnbind``,
``perror_exit_raw``), and ``nc: Timeout`` when the connect outlasts ``-w`` (the SIGALRM
handler of ``toys/net/netcat.c``), all with status 1; a toybox without nc answers ``toybox:
Unknown command nc`` (status 127). Checked in landley/toybox at tags 0.8.0-0.8.10, the span
of Android 10-14 (``harness/adb_double/network.py`` has the details and the double's side).
``ping`` is not used: ICMP says nothing of a TCP port and is often filtered.

What a shell cannot check is whether the phone trusts the server's certificate (there is no
TLS client in toybox, and the app trusts the system's CAs only: its release manifest allows
no cleartext and adds no trust anchors). :data:`TLS_ADVICE` says what the user must provide.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .devices import shell_status
from .phone_facts import app_url

__all__ = ["CONNECT_TIMEOUT", "TLS_ADVICE", "Reach", "check_reach", "reach_advice"]

CONNECT_TIMEOUT = 5  # seconds toybox nc waits for the TCP handshake
TLS_ADVICE = (
    "Not checked from the shell: whether the phone trusts the server's TLS certificate (the "
    "app calls https only and trusts the system's CAs). Provide an https URL with a "
    "certificate from a public CA, e.g. a reverse proxy with Let's Encrypt in front of hil "
    "serve; or, for a phone on USB, adb reverse tcp:PORT tcp:PORT and a TLS endpoint on this "
    "host whose CA the phone trusts (installed as a user CA does not do: apps trust only "
    "system CAs unless they opt in)."
)


@dataclass(frozen=True)
class Reach:
    """What the phone answered to a TCP connect to the app's URL."""

    url: str  # as given for the pairing code
    app_url: str  # what the app will call
    host: str
    port: int
    command: str
    status: int
    output: str
    verdict: str  # reachable, unresolved, refused, unreachable, timeout, no-nc, failed

    @property
    def reachable(self) -> bool:
        """The port accepted a TCP connection from the phone."""
        return self.verdict == "reachable"

    @property
    def loopback(self) -> bool:
        """The host is the phone's own loopback (reachable only through ``adb reverse``)."""
        if self.host.lower() == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def _verdict(status: int, output: str) -> str:
    if status == 0:
        return "reachable"
    if "inaccessible or not found" in output or "Unknown command" in output:
        return "no-nc"
    if "Timeout" in output:
        return "timeout"
    if "connect:" in output:
        return "refused" if "refused" in output else "unreachable"
    if ":" in output and "nc:" in output:
        return "unresolved"  # nc: HOST:PORT: the resolver's error
    return "failed"


def check_reach(device: Any, url: str) -> Reach:
    """Ask ``device`` (adbutils) whether the host of the app's URL resolves and its port
    answers; ``url`` has been checked (``server_under_test.pairing.check_url``)."""
    target = app_url(url)
    parts = urlsplit(target)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    command = ["toybox", "nc", "-w", str(CONNECT_TIMEOUT), "-W", "1", host, str(port)]
    status, output = shell_status(device, command)
    return Reach(
        url=url,
        app_url=target,
        host=host,
        port=port,
        command=" ".join(command),
        status=status,
        output=output.strip(),
        verdict=_verdict(status, output),
    )


def reach_advice(reach: Reach, serial: str) -> list[str]:
    """What the user should do, in full sentences, for what the phone answered."""
    advice: list[str] = []
    if reach.app_url != reach.url:
        advice.append(
            f"The app rewrites http:// to https:// and will call {reach.app_url}: a "
            "plain-HTTP server there never answers it; put a TLS endpoint on that port."
        )
    forward = f"adb -s {serial} reverse tcp:{reach.port} tcp:{reach.port}"
    if reach.loopback:
        advice.append(
            f"{reach.host} is the phone itself: it reaches this computer only through "
            f"{forward} while the phone is on USB (and the TLS endpoint on this computer)."
        )
    if reach.verdict == "unresolved":
        advice.append(
            f"The phone cannot resolve {reach.host}: use a name in public DNS (or the "
            "phone's Wi-Fi DNS), or an IP address the phone can reach."
        )
    elif reach.verdict in ("refused", "unreachable", "timeout"):
        advice.append(
            f"Nothing answers on {reach.host}:{reach.port} from the phone: is the TLS endpoint "
            "running, listening on an address the phone's network reaches (not 127.0.0.1 "
            "of this computer), and open in its firewall?"
        )
    elif reach.verdict == "no-nc":
        advice.append(
            "This phone's shell has no toybox nc, so reachability cannot be checked: open "
            f"{reach.app_url} in the phone's browser instead."
        )
    advice.append(TLS_ADVICE)
    return advice
