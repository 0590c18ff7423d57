"""FCM wake-ups: push a data message to a phone after SMS were assigned to it.

The phone app polls ``/sms-gateway/pending`` at once when it receives a data message of type
``sms_pending`` (reference-system.md §2.12, §5.12). A ``Waker`` only pushes: the server's
wake-up service (``services.wakeups.WakeUps``) decides whom to wake — per phone debounced,
unlike the reference: several assignments to one phone within the window give one push —
and clears, in the database, the tokens the waker reports as unregistered (the waker never
touches the database). So every waker, the simulator's too, sees the same debounced pushes.

Three wakers exist: ``NullWaker`` (FCM off, the default), ``RecordingWaker`` (the simulator
and tests: records what would have been pushed) and ``FirebaseWaker`` (the real
``firebase-admin`` SDK). ``make_waker`` picks one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidInput

__all__ = [
    "WAKE_TTL",
    "FirebaseWaker",
    "NullWaker",
    "RecordingWaker",
    "WakeRecord",
    "WakeTarget",
    "Waker",
    "make_waker",
    "wake_data",
]

log = logging.getLogger(__name__)

WAKE_TTL = timedelta(seconds=60)
"""How long FCM keeps an undeliverable wake-up before dropping it (as the reference)."""

_DEFAULT_HTTP_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class WakeTarget:
    """A phone to wake and the FCM registration token it last registered."""

    phone_id: int
    token: str

    def __post_init__(self) -> None:
        if not self.token:
            raise InvalidInput(
                f"Phone {self.phone_id} has no FCM token, so it cannot be woken; "
                "leave phones without a token out of the wake-up."
            )


@dataclass(frozen=True)
class WakeRecord:
    """One wake-up a ``RecordingWaker`` would have pushed: to whom, and when (clock time)."""

    phone_id: int
    token: str
    at: datetime


@runtime_checkable
class Waker(Protocol):
    """Pushes wake-ups to phones; built once per server and closed when the server stops."""

    def wake(self, targets: Sequence[WakeTarget], at: datetime) -> list[int]:
        """Push to each of these phones now (``at``, the server's clock); return the ids of
        those whose token FCM reports unregistered.

        Never raises for a failed push: a wake-up is a hint, and the request that assigned
        the SMS must succeed without it (the phone still polls on its own schedule).
        """
        ...

    def close(self) -> None:
        """Release what the waker holds; later wake-ups do nothing."""
        ...


def wake_data(phone_id: int, at: datetime) -> dict[str, str]:
    """The data payload of a wake-up: FCM data values must all be strings."""
    return {"type": "sms_pending", "phone_id": str(phone_id), "timestamp": str(int(at.timestamp()))}


class NullWaker:
    """The waker used when FCM is off: it pushes nothing."""

    def wake(self, targets: Sequence[WakeTarget], at: datetime) -> list[int]:
        """Do nothing; no token is ever reported unregistered."""
        return []

    def close(self) -> None:
        """Nothing to release."""


class RecordingWaker:
    """A waker for the simulator and tests: records the wake-ups it would push.

    Tokens given to ``mark_unregistered`` (or ``unregistered_tokens``) behave as FCM's
    ``UNREGISTERED``: their phone ids are returned and no record is made, since FCM would
    deliver nothing.
    """

    def __init__(self, unregistered_tokens: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._records: list[WakeRecord] = []
        self._unregistered = set(unregistered_tokens)
        self._closed = False

    @property
    def records(self) -> list[WakeRecord]:
        """The wake-ups recorded so far, oldest first (a copy)."""
        with self._lock:
            return list(self._records)

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def mark_unregistered(self, token: str) -> None:
        """From now on, treat ``token`` as one FCM reports unregistered."""
        with self._lock:
            self._unregistered.add(token)

    def clear(self) -> None:
        """Forget the records."""
        with self._lock:
            self._records.clear()

    def wake(self, targets: Sequence[WakeTarget], at: datetime) -> list[int]:
        """Record a wake-up for each target; return the unregistered phone ids."""
        if self._closed:
            return []
        unregistered: list[int] = []
        with self._lock:
            for target in targets:
                if target.token in self._unregistered:
                    unregistered.append(target.phone_id)
                else:
                    self._records.append(WakeRecord(target.phone_id, target.token, at))
        return unregistered

    def close(self) -> None:
        """Stop recording; later wake-ups do nothing."""
        self._closed = True


class FirebaseWaker:
    """Pushes wake-ups through the real ``firebase-admin`` SDK (FCM HTTP v1 API).

    ``credentials`` is a service-account key: the JSON itself (a string starting with
    ``{``) or the path of a file holding it; anything unusable raises ``InvalidInput`` here
    rather than at the first push. The waker runs its own named Firebase app (never the
    default one) so that several servers in one process do not clash; ``close`` deletes it.
    Pushes are synchronous; the SDK retries 500/503 answers itself (four times, with
    back-off, about 7 s in all), and ``http_timeout`` bounds each HTTP exchange.
    """

    def __init__(
        self,
        credentials: str,
        app_name: str | None = None,
        *,
        http_timeout: timedelta = _DEFAULT_HTTP_TIMEOUT,
    ) -> None:
        # Imported here, not at module level: the SDK takes half a second to import and
        # most servers run with FCM off.
        import firebase_admin
        from firebase_admin import credentials as fb_credentials

        if http_timeout <= timedelta(0):
            raise InvalidInput(f"The FCM HTTP timeout must be positive (got {http_timeout}).")
        info = _load_service_account(credentials)
        try:
            certificate = fb_credentials.Certificate(info)
        except ValueError as exc:
            raise InvalidInput(
                f"The FCM service-account key cannot be used ({_sentence(exc)}); "
                "download a fresh key from the Firebase console."
            ) from exc
        self.app_name = app_name or f"sms-gateway-fcm-{uuid.uuid4().hex}"
        options = {"projectId": info["project_id"], "httpTimeout": http_timeout.total_seconds()}
        try:
            self._app: Any = firebase_admin.initialize_app(certificate, options, self.app_name)
        except ValueError as exc:
            raise InvalidInput(
                f"The Firebase app {self.app_name!r} cannot be started ({_sentence(exc)}); "
                "give each FirebaseWaker an app name of its own."
            ) from exc
        self._lock = threading.Lock()
        self._closed = False

    def wake(self, targets: Sequence[WakeTarget], at: datetime) -> list[int]:
        """Push to each target; return the ids of unregistered tokens."""
        if self._closed:
            log.warning("FCM wake-up asked of a closed FirebaseWaker; nothing was pushed.")
            return []
        return [t.phone_id for t in targets if not self._push(t, at)]

    def _push(self, target: WakeTarget, at: datetime) -> bool:
        """Send one wake-up; False when FCM says the token no longer reaches the app."""
        from firebase_admin import messaging

        try:
            message = messaging.Message(
                data=wake_data(target.phone_id, at),
                token=target.token,
                android=messaging.AndroidConfig(priority="high", ttl=WAKE_TTL),
            )
            messaging.send(message, app=self._app)
        except (messaging.UnregisteredError, messaging.SenderIdMismatchError) as exc:
            log.info(
                "FCM token of phone %s is no longer valid (%s); it will be cleared.",
                target.phone_id,
                type(exc).__name__,
            )
            return False
        except Exception:
            # A wake-up is only a hint: the phone still polls on its own schedule, so a
            # failed push must never fail the request that assigned the SMS.
            log.exception(
                "FCM wake-up of phone %s failed; the phone will poll on its own.", target.phone_id
            )
        return True

    def close(self) -> None:
        """Delete this waker's Firebase app; idempotent, and safe inside an event loop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self._delete_app()
            return
        # The SDK closes its async HTTP client with asyncio.run(), which refuses to run
        # inside a running loop (an ASGI lifespan, say); a thread of its own has none.
        worker = threading.Thread(target=self._delete_app, name=f"{self.app_name}-close")
        worker.start()
        worker.join()

    def _delete_app(self) -> None:
        import firebase_admin

        try:
            firebase_admin.delete_app(self._app)
        except Exception:
            log.exception("Deleting the Firebase app %r failed.", self.app_name)


def make_waker(*, enabled: bool, credentials: str | None) -> Waker:
    """Build the waker the settings ask for: ``NullWaker`` when FCM is off."""
    if not enabled:
        return NullWaker()
    if credentials is None or not credentials.strip():
        raise InvalidInput("FCM is enabled but no credentials were given (inline JSON or a path).")
    return FirebaseWaker(credentials)


def _load_service_account(credentials: str) -> dict[str, Any]:
    """Parse a service-account key given inline or as a path; InvalidInput when unusable."""
    text = credentials.strip()
    if text.startswith(("{", "[")):
        origin = "The FCM credentials given inline"
    else:
        path = Path(text).expanduser()
        origin = f"The FCM credentials in {str(path)!r}"
        if not path.is_file():
            raise InvalidInput(
                f"The FCM credentials file {str(path)!r} does not exist or is not a file; "
                "give the path of a service-account JSON key, or the JSON itself."
            )
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{origin} cannot be read ({_sentence(exc)}).") from exc
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        # Only the position is quoted: the text holds a private key.
        raise InvalidInput(
            f"{origin} are not valid JSON ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}); give a Google service-account key."
        ) from exc
    if not isinstance(info, dict):
        raise InvalidInput(
            f"{origin} are a JSON {_JSON_KINDS.get(type(info), 'value')}, not an object; "
            "give a Google service-account key."
        )
    if info.get("type") != "service_account":
        raise InvalidInput(
            f'{origin} are not a service-account key (their "type" is {info.get("type")!r}, '
            'not "service_account"); download one from the Firebase console under '
            "Project settings, Service accounts."
        )
    project_id = info.get("project_id")
    if not isinstance(project_id, str) or not project_id:
        raise InvalidInput(f'{origin} have no "project_id"; FCM needs it to address the project.')
    return info


_JSON_KINDS: dict[type[object], str] = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _sentence(exc: BaseException) -> str:
    """An exception's message without a trailing full stop, for quoting inside a sentence."""
    return (str(exc) or type(exc).__name__).rstrip(".")
