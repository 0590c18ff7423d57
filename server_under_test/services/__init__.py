"""Domain services: the gateway's behaviour, independent of HTTP.

Each function takes the ``Context`` (clock, settings, id source) and an open database
connection inside a transaction; routes own the transaction boundaries.
"""

from __future__ import annotations

from .context import Context

__all__ = ["Context"]
