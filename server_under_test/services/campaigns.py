"""Campaign completion: a campaign is ``sending`` until every SMS of it is final, then
``done``, with the time it completed (``completed_at``).

One mechanism keeps the state right whatever ends an SMS:

* every statement that ends SMS (a confirm ``sent`` or ``error``, the cancel of blacklisted
  SMS at pickup and at a STOP, the stuck reset ending at-most-once SMS) runs through
  :func:`end_sms`, which notes the campaigns of the SMS it ended on the connection; an
  enqueue notes the campaigns it adds SMS to (:func:`note`): some of them end at once, and
  a ``done`` campaign given new SMS is ``sending`` again;
* whoever owns a write transaction (``Gateway.transaction``, the job scheduler) wraps it
  in :func:`completing`, which recomputes each noted campaign just before the commit:
  ``done`` once it has SMS and none is open (``outgoing`` / ``pending``), ``sending`` while
  one is. ``paused`` plays no part: a paused campaign whose SMS all ended has nothing left
  to send.

Two transactions ending the last two SMS of one campaign could each see the other's SMS
still open (PostgreSQL's READ COMMITTED) and leave the campaign ``sending`` for good, so
the recompute first locks the noted campaign rows, in id order: the later transaction
waits for the earlier one's commit and then, in a new statement, sees its SMS final. Taken
last in the transaction, that lock never closes a cycle with SMS row locks. SQLite
serialises writers anyway.

The reference marks a mailing done in ``_check_mailing_completion``
(``S/models/sms_sms.py:65-82``), which ``write`` runs only when an SMS's state becomes
``sent`` or ``error`` (``:59-63``, ``:90-100``), and after ``_send``'s assignment loop for
the mailings that were sending (``:266-277``); both skip paused mailings (``:73-75``,
``:268-269``). Its raw-SQL pre-cancel at pickup (``controllers/gateway_api.py:176-211``)
never runs it: defect B25, which :func:`end_sms` reproduces for the ``raw`` paths. Its
statistics count an SMS as sent once it is assigned, and stock Odoo marks a mailing done as
soon as none of its traces is in ``process`` (§2.13): defect B17, under which a campaign is
done once none of its SMS waits to be handed out (pickup notes its campaigns then).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Update, exists, select, update

from ..storage.tables import campaign, sms
from .context import Context
from .dbutil import chunks

__all__ = ["OPEN", "complete", "completing", "end_sms", "note"]

log = logging.getLogger(__name__)

# The SMS states that are not final: while a campaign has one, it is sending.
OPEN = ("outgoing", "pending")
# Where a transaction's noted campaign ids wait (``Connection.info`` outlives a pooled
# connection's checkout, so ``completing`` empties it before and after each transaction).
_NOTED = "hil_campaigns_to_complete"


def end_sms(conn: Connection, ctx: Context, stmt: Update, *, raw: bool = False) -> list[Row[Any]]:
    """Run an UPDATE of ``sms`` that ends SMS and note their campaigns for completion.

    Returns the statement's ``RETURNING`` rows, with ``campaign_id`` added last. ``raw``
    marks the paths the reference takes in raw SQL (the cancel at pickup, the stuck reset):
    with defect B25 their SMS are not noted, so their campaigns are not completed.
    """
    rows = list(conn.execute(stmt.returning(sms.c.campaign_id)))
    if not (raw and ctx.settings.defect("B25")):
        note(conn, (row.campaign_id for row in rows))
    return rows


def note(conn: Connection, campaign_ids: Iterable[int | None]) -> None:
    """Have the campaigns ``campaign_ids`` recomputed before this transaction commits."""
    noted: set[int] = conn.info.setdefault(_NOTED, set())
    noted.update(i for i in campaign_ids if i is not None)


def complete(conn: Connection, ctx: Context) -> list[int]:
    """Recompute the noted campaigns' state; returns the ids that became ``done``."""
    noted = sorted(conn.info.pop(_NOTED, ()))
    if not noted:
        return []
    now = ctx.now()
    has_sms = exists().where(sms.c.campaign_id == campaign.c.id)
    open_sms: ColumnElement[bool] = sms.c.state.in_(OPEN)
    if ctx.settings.defect("B17"):
        # B17: "sent" is the trace of a queued SMS (reference §2.13): handed out is done
        open_sms = open_sms & (sms.c.gateway_state == "pending")
    has_open = exists().where(sms.c.campaign_id == campaign.c.id, open_sms)
    done: list[int] = []
    for part in chunks(noted):
        mine = campaign.c.id.in_(part)
        conn.execute(
            select(campaign.c.id).where(mine).order_by(campaign.c.id).with_for_update()
        ).all()
        done += conn.execute(
            update(campaign)
            .where(mine, campaign.c.state == "sending", has_sms, ~has_open)
            .values(state="done", completed_at=now)
            .returning(campaign.c.id)
        ).scalars()
        conn.execute(
            update(campaign)
            .where(mine, campaign.c.state == "done", has_open)
            .values(state="sending", completed_at=None)
        )
    if done:
        log.info("Campaign(s) %s done: every SMS of them is final", ", ".join(map(str, done)))
    return sorted(done)


@contextmanager
def completing(conn: Connection, ctx: Context) -> Iterator[Connection]:
    """Wrap a write transaction: the campaigns it ended or added SMS of are recomputed
    before it commits (nothing is, when the block raises)."""
    conn.info.pop(_NOTED, None)
    try:
        yield conn
        complete(conn, ctx)
    finally:
        conn.info.pop(_NOTED, None)
