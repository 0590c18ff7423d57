"""The application factory: nothing is built at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from .api import admin, campaigns, device
from .api.body import BodyLimit
from .api.deps import Gateway
from .api.errors import install_error_handlers
from .clock import Clock, SystemClock
from .fcm import Waker, make_waker
from .ids import IdSource, SecureIds
from .scheduler import JobScheduler
from .services.context import Context
from .services.wakeups import WakeUps
from .settings import Settings
from .storage.database import Database

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    database: Database | None = None,
    waker: Waker | None = None,
) -> FastAPI:
    """Build the gateway server.

    ``clock`` defaults to the system clock (give a ``ManualClock`` for virtual time),
    ``ids`` to secure random identifiers (give ``SeededIds`` for reproducible runs), and
    ``database`` to one opened from ``settings.database_url``, ``waker`` to FCM through
    firebase-admin when ``settings.fcm_enabled`` (else none; give a ``RecordingWaker`` to
    simulate pushes). The schema is migrated to the newest version unless
    ``settings.migrate_on_start`` is false.
    """
    settings = settings or Settings()
    db = database or Database(settings.database_url)
    if settings.migrate_on_start:
        db.migrate()
    if settings.defects:
        log.warning("Defect switches ON: %s", ", ".join(sorted(settings.defects)))
    clock = clock or SystemClock()
    own_waker = waker is None
    if waker is None:
        waker = make_waker(enabled=settings.fcm_enabled, credentials=settings.fcm_credentials)
    gateway = Gateway(
        db=db,
        ctx=Context(clock, settings, ids or SecureIds()),
        waker=waker,
        wakeups=WakeUps(waker, clock, settings.fcm_debounce),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        scheduler = None
        if settings.run_scheduler:
            periods = {name: timedelta(seconds=s) for name, s in settings.job_periods}
            scheduler = JobScheduler(db, gateway.ctx, periods)
            scheduler.start()
        yield
        if scheduler is not None:
            await scheduler.stop()
        if own_waker:
            gateway.waker.close()
        if database is None:
            db.dispose()

    app = FastAPI(
        title="SMS gateway server (under test)",
        version="0.1.0",
        description=(
            "A complete gateway server speaking the device API of the Odoo SMS gateway "
            "module, for hardware-in-the-loop tests. Device routes take X-API-Key; admin "
            "routes take Authorization: Bearer <admin token>."
        ),
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    app.include_router(device.router)
    app.include_router(admin.router)
    app.include_router(campaigns.router)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    return app
