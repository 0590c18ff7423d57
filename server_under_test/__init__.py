"""The gateway server under test: a complete SMS gateway server (FastAPI + SQLAlchemy).

It speaks the device API of the Odoo SMS gateway module (both the real app's dialect and
the documented one), stores its state in SQLite (default) or PostgreSQL, and fixes the
reference implementation's known defects, each of which can be switched back on
(``Settings(defects=...)``) so that the harness can prove its oracles catch it.

This part imports no other part of the project.
"""

from __future__ import annotations

from .api.admin import MAX_ENQUEUE
from .app import create_app
from .clock import Clock, ManualClock, ScaledClock, SystemClock
from .errors import GatewayError
from .fcm import FirebaseWaker, NullWaker, RecordingWaker, Waker, make_waker
from .ids import IdSource, SecureIds, SeededIds
from .services.phones import RATE_WINDOW
from .settings import KNOWN_DEFECTS, Settings
from .storage.database import Database

__all__ = [
    "KNOWN_DEFECTS",
    "MAX_ENQUEUE",
    "RATE_WINDOW",
    "Clock",
    "Database",
    "FirebaseWaker",
    "GatewayError",
    "IdSource",
    "ManualClock",
    "NullWaker",
    "RecordingWaker",
    "ScaledClock",
    "SecureIds",
    "SeededIds",
    "Settings",
    "SystemClock",
    "Waker",
    "create_app",
    "make_waker",
]
