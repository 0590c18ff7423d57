"""The test double's ``toybox nc``: can the phone open a TCP connection to HOST PORT?

``hil pair --device`` asks a phone, from its shell, whether the server's host resolves and its
port answers, with toybox's netcat: ``toybox nc -w SECONDS -W 1 HOST PORT``. Checked against
landley/toybox (``toys/net/netcat.c``, ``lib/net.c``, ``lib/lib.c``, ``main.c`` at tags 0.8.0,
0.8.3, 0.8.4, 0.8.6, 0.8.9, 0.8.10: the span Android 10-14 ship): ``-w`` (connect timeout, an
``alarm``) and ``-W`` (idle timeout, ``pollinate``'s poll timeout) are in all of them with
these meanings; ``-z`` only from 0.8.11 (commit 98f982d8, 2024-01-28). This double answers as
that toybox does, from the model's network (:class:`Network`), each message on stderr as
``verror_msg`` prints it (``nc: ...``), status 1:

- a name it does not know: ``nc: HOST:PORT: No address associated with hostname``
  (``xgetaddrinfo``: ``error_exit("%s%s%s: %s", host, ":", port, gai_strerror(rc))``; bionic's
  text for ``EAI_NODATA``, what Android's resolver answers for an unknown name);
- the loopback (``127.0.0.1``, ``localhost``, ``::1``) reaches the *host's* loopback: the
  double runs on the host, so a port of the host is what ``adb reverse`` would make of the
  phone's own loopback. A real connection is tried: a listener answers (nothing is sent,
  status 0), none gives ``nc: connect: Connection refused`` (``xconnbind``:
  ``perror_exit_raw("connect")``, the last address's errno);
- a connect that outlasts ``-w``: ``nc: Timeout`` (netcat's SIGALRM handler,
  ``error_exit("Timeout")``);
- any other address: ``nc: connect: Network is unreachable``: the double has no network
  beyond the host's loopback (said here, and in ``docs/devices.md``), unless a test names
  that address's open ports in :attr:`Network.open_ports`;
- a wrong operand count: ``nc: bad argument count (see "nc --help")`` (``help_exit``).

Other toybox commands answer ``toybox: Unknown command NAME (see "toybox --help")``, status
127 (``main.c`` ``unknown()``; the ``(see ...)`` suffix since commit efb8060a, 2020-08-07,
toybox 0.8.4: Android 12 and later; Android 10-11 print the line without it).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .shell import Outcome

if TYPE_CHECKING:  # the model holds a Network: a runtime import would be circular
    from .phone import PhoneModel

__all__ = ["LOOPBACK", "Network", "nc", "toybox"]

LOOPBACK = ("127.0.0.1", "::1")
NO_ADDRESS = "No address associated with hostname"  # bionic's gai_strerror(EAI_NODATA)
UNKNOWN_COMMAND = 127  # toybox main.c unknown(): toys.exitval = 127


@dataclass
class Network:
    """What a phone's network resolves and reaches (beyond the host's loopback)."""

    hosts: dict[str, str] = field(default_factory=lambda: {"localhost": "127.0.0.1"})
    open_ports: set[tuple[str, int]] = field(default_factory=set)

    def resolve(self, host: str) -> str | None:
        """The address of ``host`` (an address stands for itself), or ``None``."""
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        except OSError:
            return self.hosts.get(host.lower())
        return host

    def connect(self, address: str, port: int, timeout: float) -> str | None:
        """``None`` when ``address:port`` accepts a connection, else the errno's text."""
        if address in LOOPBACK:
            try:
                with socket.create_connection((address, port), timeout=timeout):
                    return None
            except TimeoutError:
                return "Timeout"
            except OSError as exc:
                return exc.strerror or str(exc)
        return None if (address, port) in self.open_ports else "Network is unreachable"


def nc(model: PhoneModel, args: list[str]) -> Outcome:
    """``nc [-w SECONDS] [-W SECONDS] HOST PORT`` (toybox netcat, client side only)."""
    timeout, rest = 0.0, list(args)
    operands: list[str] = []
    while rest:
        word = rest.pop(0)
        if word in ("-w", "-W") and rest and rest[0].isdigit():
            value = int(rest.pop(0))
            timeout = value if word == "-w" else timeout
        elif word.startswith("-"):
            return Outcome(f"the HIL test double's nc knows -w and -W only, not {word}\n", 1)
        else:
            operands.append(word)
    if len(operands) != 2 or not operands[1].isdigit():
        return Outcome('nc: bad argument count (see "nc --help")\n', 1)
    host, port = operands
    network = model.network
    address = network.resolve(host)
    if address is None:
        return Outcome(f"nc: {host}:{port}: {NO_ADDRESS}\n", 1)
    reason = network.connect(address, int(port), timeout or 5.0)
    if reason == "Timeout":  # toybox's alarm handler for -w
        return Outcome("nc: Timeout\n", 1)
    if reason is not None:
        return Outcome(f"nc: connect: {reason}\n", 1)
    # Connected: -W 1 ends the idle connection after a second; nothing was sent either way.
    return Outcome()


def toybox(model: PhoneModel, args: list[str]) -> Outcome:
    """``toybox nc|netcat ...``; the double's toybox has no other command."""
    if args[:1] in (["nc"], ["netcat"]):
        return nc(model, args[1:])
    name = args[0] if args else ""
    return Outcome(f'toybox: Unknown command {name} (see "toybox --help")\n', UNKNOWN_COMMAND)
