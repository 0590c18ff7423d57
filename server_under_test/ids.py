"""Where the server's generated identifiers come from (uuids, API keys).

Injectable so that a virtual-time run is byte-for-byte reproducible: ``SeededIds`` draws
everything from a ``random.Random`` it is given.
"""

from __future__ import annotations

import random
import secrets
import uuid
from typing import Protocol

__all__ = ["IdSource", "SecureIds", "SeededIds"]


class IdSource(Protocol):
    """Generator of the identifiers the server hands out."""

    def uuid(self) -> str:
        """A new SMS uuid."""
        ...

    def api_key(self) -> str:
        """A new phone API key (URL-safe, at least 32 bytes of entropy in production)."""
        ...


class SecureIds:
    """Production identifiers: ``uuid4`` and ``secrets.token_urlsafe(32)``."""

    def uuid(self) -> str:
        """A random uuid4."""
        return str(uuid.uuid4())

    def api_key(self) -> str:
        """A key from the operating system's CSPRNG."""
        return secrets.token_urlsafe(32)


class SeededIds:
    """Reproducible identifiers for virtual-time runs and tests (never for production)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def uuid(self) -> str:
        """A uuid4-shaped value drawn from the seeded generator."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def api_key(self) -> str:
        """A 43-character URL-safe key drawn from the seeded generator."""
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        return "".join(self._rng.choice(alphabet) for _ in range(43))
