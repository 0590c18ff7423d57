"""Entry point for ``uvicorn`` worker processes: the app built from ``HIL_*`` variables.

``hil serve`` sets the variables and starts uvicorn with
``server_under_test.asgi:app_from_environment`` as a factory, so that every worker
builds the same app. Nothing here runs at import time.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from fastapi import FastAPI

from .app import create_app
from .clock import Clock, ManualClock, ScaledClock, SystemClock
from .settings import Settings

__all__ = ["app_from_environment", "settings_from_environment"]


def settings_from_environment(env: dict[str, str] | None = None) -> tuple[Settings, Clock]:
    """Settings and clock from ``HIL_DB``, ``HIL_ADMIN_TOKEN``, ``HIL_DEFECTS``, ..."""
    env = dict(os.environ if env is None else env)
    defects = frozenset(d for d in env.get("HIL_DEFECTS", "").split(",") if d)
    manual = env.get("HIL_MANUAL_CLOCK") == "1"
    periods = tuple(
        (name, float(seconds))
        for name, _, seconds in (
            p.partition("=") for p in env.get("HIL_JOB_PERIODS", "").split(",")
        )
        if name
    )
    settings = Settings(
        database_url=env.get("HIL_DB", Settings.database_url),
        admin_token=env.get("HIL_ADMIN_TOKEN") or None,
        default_region=env.get("HIL_REGION", Settings.default_region),
        fcm_enabled=bool(env.get("HIL_FCM_CREDENTIALS")),
        fcm_credentials=env.get("HIL_FCM_CREDENTIALS") or None,
        # One process migrates before the workers start (see ``hil serve``).
        migrate_on_start=env.get("HIL_MIGRATE", "1") == "1",
        defects=defects,
        run_scheduler=not manual,
        job_periods=periods,
        max_body_bytes=int(env.get("HIL_MAX_BODY_BYTES", Settings.max_body_bytes)),
        timezone=env.get("HIL_TIMEZONE") or Settings.timezone,
        stop_keywords=tuple(w for w in env.get("HIL_STOP_KEYWORDS", "").split(",") if w)
        or Settings.stop_keywords,
    )
    return settings, clock_from_environment(env)


def clock_from_environment(env: dict[str, str]) -> Clock:
    """``HIL_MANUAL_CLOCK=1``: manual; ``HIL_TIME_SCALE`` (with ``HIL_CLOCK_START``, an ISO
    time, and ``HIL_CLOCK_EPOCH``, the Unix time it was that): scaled; else the system
    clock. Every worker gets the same variables, so all tell the same time."""
    if env.get("HIL_MANUAL_CLOCK") == "1":
        return ManualClock()
    scale = env.get("HIL_TIME_SCALE")
    if scale:
        start = env.get("HIL_CLOCK_START")
        epoch = float(env["HIL_CLOCK_EPOCH"])
        begin = datetime.fromisoformat(start) if start else datetime.fromtimestamp(epoch, UTC)
        return ScaledClock(begin, float(scale), epoch)
    return SystemClock()


def app_from_environment() -> FastAPI:
    """The app for one uvicorn worker."""
    settings, clock = settings_from_environment()
    return create_app(settings, clock=clock)
