"""The app's status sync: the local store's final statuses to the server.

1.7.1 (``syncToServer``, GS:549-641, on the scheduler thread every 3 s with fixed delay,
GS:743-748): only once something set ``hasUnsyncedData``; the 50 oldest unsynced rows that
the backoff ladder lets through, in one ``confirm-batch``; acknowledged ids (``ack_ids``,
else all) are marked synced, a failure counts one more attempt. An item the server refused
stays as it was, so 50 refused rows block every newer one (B6, a profile switch:
``AppProfile.sync_refused``). The 1.1 profile keeps its statuses in memory and flushes them
whole (``flush``). ``GS`` = ``SmsGatewayService.kt``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from .store import due

if TYPE_CHECKING:
    from .app import GatewayApp

__all__ = ["StatusSync"]


class StatusSync:
    """Reports the statuses in the app's store to the server."""

    def __init__(self, app: GatewayApp) -> None:
        self.app = app

    def loop(self, gen: int, epoch: int) -> Generator[Any, Any, None]:
        """The scheduler thread's sync of service instance ``gen`` (until its scheduler
        ``epoch`` is replaced or the instance dies)."""
        app = self.app
        profile, store = app.profile, app.store
        while True:
            yield app.env.timeout(profile.sync_interval)
            if not app.alive(gen) or epoch != app.sched_epoch:
                return
            if profile.status_store == "memory":
                yield from self.flush()
                continue
            if not app.unsynced_flag:
                continue
            oldest = store.oldest(profile.sync_batch)
            if not oldest:
                app.unsynced_flag = False
                continue
            cycle = int(app.ctx.clock.epoch_ms(app.env.now) // 3000)
            ids = [i for i in oldest if due(store.rows[i].attempts, cycle)]
            if not ids:
                continue
            reply = yield from app.request("confirm-batch", {"results": store.items(ids)})
            if reply is not None and reply.body.get("success"):
                acked = reply.body.get("ack_ids")
                if acked is None or profile.sync_refused == "dropped":
                    # every item: the server acknowledged it, or (B6 fixed) refused it
                    store.mark_synced(ids)
                else:
                    # B6: a refused item stays unsynced, its attempts unchanged (GS:597-603)
                    store.mark_synced(list(acked))
            else:
                store.failed(ids)

    def flush(self) -> Generator[Any, Any, None]:
        """1.1's ``flushBatchQueue``: the whole in-memory queue to confirm-batch; if that
        fails, one ``/confirm/{id}`` per SMS, answers ignored; then the queue is empty."""
        app = self.app
        store = app.store
        ids = list(store.unsynced)
        if not ids:
            return
        store.unsynced.clear()  # taken off the queue before the request
        results = store.items(ids)
        reply = yield from app.request("confirm-batch", {"results": results})
        if reply is None or not reply.body.get("success"):
            for item in results:
                sms_id = item.pop("id")
                yield from app.request(f"confirm/{sms_id}", item)
        store.mark_synced(ids)
