"""Adversarial phone personas: test doubles of a buggy or hostile gateway app.

**None of this models the real app.** Each persona is the 1.7.1 model (``app.GatewayApp``)
plus one thing the real app never does, so that a server which trusts phones too much is
caught by the oracles. A persona is an app profile like any other (``config.APP_PROFILES``,
``AppProfile.persona``), chosen per phone with ``app = "hostile-..."`` in a scenario.

A persona sits between the app and its network link: it *is* the app's
:class:`~simulator.network.Network`. It passes the app's own requests through, looks at
what comes back, and sends requests of its own on the same link, so the same network faults
and offline rules apply to them; it acts only while the app's service runs. Each misdeed is
written to the history as a ``persona`` event (:class:`~simulator.events.PersonaAct`) when
the server answered it, before the ``issued`` or ``confirmed`` event of what the server
handed out or acknowledged, so a history shows what the phone tried and what the server took.

========================  ==================================================================
profile                   what it does
========================  ==================================================================
``hostile-foreign``       1 s after each poll answer, confirms ``sent`` for the ids next to
                          those it got (id ± 1, ± 2) that the server never handed to it:
                          other phones' SMS, learnt by guessing (``foreign_confirm``)
``hostile-double-poll``   each poll is two ``/pending`` requests at once; it sends the SMS of
                          both answers one after the other, never looking for a repeat
                          (``double_poll``: the extra request)
``hostile-replay``        replays what the server acknowledged: an ``error`` again 3 s later;
                          for a ``sent``, ``error`` 3 s later and ``sent`` 3 s after that
                          (``replay``)
``hostile-phantom``       1 s after each poll answer, confirms ``sent`` for ids it never got:
                          the next ids past the highest it got (the queue's next SMS, in
                          general handed to nobody yet) and one that does not exist
                          (``phantom_confirm``)
``hostile-unsent``        keeps every 5th SMS it gets from Android and writes ``sent`` for it
                          (``unsent``): a lie about its own SMS, which no server can tell from
                          the truth, so the oracles see a phantom ``sent``
``hostile-malformed``     from 1 s after the first answer the app gets, sends each request of
                          ``PROBES`` once, 1 s apart (again after one failed on the way):
                          malformed ones (``bad_input``: a limit that is not a number or is
                          negative, a string unsynced_count, a batch item that is not an
                          object) and well-formed ones the reference mishandles
                          (``good_input``: a null search, a reconcile of no ids); each event
                          carries what it sent and what came back
========================  ==================================================================

A persona reaches into the app where the app's own code would (``_offline``, ``_failed``,
``_result``), and never changes what the app does otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from .events import PersonaAct
from .network import Failed, Network, Observed
from .port import Reply
from .store import error_reason

if TYPE_CHECKING:
    from .app import GatewayApp

__all__ = ["PERSONAS", "PROBES", "Persona", "persona_for"]

GUESS_DELAY = 1.0  # foreign, phantom: seconds after a poll answer
REACH = 2  # foreign: ids within ± REACH of one it got
AHEAD = 3  # phantom: ids past the highest it got
NOWHERE = 1_000_000  # phantom: this far past the highest id, no SMS exists
REPLAY_DELAY = 3.0  # replay: one sync period between replays
UNSENT_EVERY = 5  # unsent: every 5th SMS it gets is kept from Android
UNSENT_DELAY = 2.0  # unsent: about when a sent callback would have come
PROBE_DELAY = 1.0  # malformed: seconds after an answer the app got, before its probes
PROBE_GAP = 1.0  # malformed: seconds between two probes

# malformed: (act, endpoint, body) of the requests it sends besides the app's, after the
# reference's defect B22 (reference-system.md §6). ``bad_input`` is malformed under any
# reading (no lax parser takes "all" for a number): a server must refuse it with a 4xx, or
# list a batch's bad item among the batch's errors. ``good_input`` is well-formed (null is
# an absent optional field) and must get a whole 2xx answer.
PROBES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("bad_input", "pending", {"limit": "all"}),  # not a number
    ("bad_input", "pending", {"limit": -5}),  # negative
    ("bad_input", "heartbeat", {"unsynced_count": "several"}),  # not a number
    ("bad_input", "confirm-batch", {"results": ["sent"]}),  # an item that is not an object
    ("bad_input", "inbound-batch", {"messages": ["Ahoj"]}),  # an item that is not an object
    ("good_input", "inbound-history", {"search": None}),  # no search
    ("good_input", "reconcile", {"known_ids": []}),  # nothing to reconcile
)

Work = Callable[[], Generator[Any, Any, None]]


def _handed(reply: Reply | None) -> list[int]:
    """The ids of the SMS a ``/pending`` answer hands out."""
    if reply is None or not reply.ok or not isinstance(reply.body, dict):
        return []
    return [int(item["id"]) for item in reply.body.get("sms_list") or []]


class Persona:
    """A test double's network: the phone's real link with one persona's misdeeds on it.

    This base passes every request through; each persona overrides :meth:`exchange`.
    """

    name: ClassVar[str] = ""

    def __init__(self, app: GatewayApp, inner: Network) -> None:
        self.app = app
        self.inner = inner
        self.env = app.env
        self.busy = 0  # misdeeds scheduled or under way

    # -- the Network protocol, delegated to the real link -----------------------------------

    @property
    def api_key(self) -> str:
        """The key the phone was paired with."""
        return self.inner.api_key

    @api_key.setter
    def api_key(self, value: str) -> None:
        self.inner.api_key = value

    @property
    def partitioned_until(self) -> float:
        """When the running partition ends."""
        return self.inner.partitioned_until

    @partitioned_until.setter
    def partitioned_until(self, value: float) -> None:
        self.inner.partitioned_until = value

    @property
    def partitioned(self) -> bool:
        """Cut off from the server right now."""
        return self.inner.partitioned

    def partition(self, duration: float) -> float:
        """Cut the phone off for ``duration`` seconds; returns when it ends."""
        return self.inner.partition(duration)

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        """One of the app's own requests, passed through."""
        return self.inner.exchange(endpoint, body, auth, timeout, failed, observed)

    # -- the persona's own work -------------------------------------------------------------

    @property
    def quiet(self) -> bool:
        """No misdeed scheduled or under way (the run does not drain before they are done)."""
        return self.busy == 0

    def later(self, delay: float, work: Work) -> None:
        """Run ``work`` ``delay`` seconds from now."""
        self.busy += 1
        self.env.process(self._later(delay, work))

    def _later(self, delay: float, work: Work) -> Generator[Any, Any, None]:
        try:
            yield self.env.timeout(delay)
            yield from work()
        finally:
            self.busy -= 1

    @property
    def running(self) -> bool:
        """The app's service runs (a dead or never-started app misbehaves no more)."""
        return self.app.process_alive and self.app.running

    def send(
        self, endpoint: str, body: Mapping[str, Any], seen: Observed
    ) -> Generator[Any, Any, Reply | None]:
        """A request of the persona's own, on the app's link as the app's would go: refused
        at once when the app is offline, failures recorded as the app's; ``seen`` when the
        server answered."""
        app = self.app
        if not self.running:
            return None
        if app._offline():
            app._failed(endpoint, "offline", 0)
            yield self.env.timeout(0.05)
            return None
        timeout = app.profile.http_timeout
        return (
            yield from self.inner.exchange(endpoint, body, "x-api-key", timeout, app._failed, seen)
        )

    def forge(
        self,
        act: str,
        status: str | None,
        endpoint: str,
        body: Mapping[str, Any],
        ids: Callable[[Reply], list[int]],
    ) -> Generator[Any, Any, Reply | None]:
        """:meth:`send`, its answer recorded as the app's, after the ``persona`` event (with
        ``ids(reply)``)."""
        app = self.app

        def seen(endpoint: str, sent: Mapping[str, Any], reply: Reply) -> None:
            act_event = PersonaAct(
                t=self.env.now, phone=app.name, act=act, status=status, ids=ids(reply)
            )
            app.history.emit(act_event)
            app.observe(endpoint, sent, reply)

        return (yield from self.send(endpoint, body, seen))

    def confirm(self, act: str, status: str, items: list[dict[str, Any]]) -> Work:
        """Work that reports ``items`` (``{id, status, error_message?}``) in one
        ``confirm-batch``."""
        ids = [int(item["id"]) for item in items]

        def work() -> Generator[Any, Any, None]:
            body = {"results": items}
            yield from self.forge(act, status, "confirm-batch", body, lambda _: ids)

        return work


class _Guesser(Persona):
    """Confirms ``sent`` for ids it guesses from those a poll got, never one the server
    handed to it (what it was handed is read from the server's answer, even one lost on the
    way: a guess is never its own SMS)."""

    act: ClassVar[str] = ""

    def __init__(self, app: GatewayApp, inner: Network) -> None:
        super().__init__(app, inner)
        self.given: set[int] = set()
        self.tried: set[int] = set()

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        if endpoint != "pending":
            return (yield from self.inner.exchange(endpoint, body, auth, timeout, failed, observed))

        def seen(endpoint: str, sent: Mapping[str, Any], reply: Reply) -> None:
            self.given.update(_handed(reply))
            observed(endpoint, sent, reply)

        reply = yield from self.inner.exchange(endpoint, body, auth, timeout, failed, seen)
        got = _handed(reply)
        if got:
            self.later(GUESS_DELAY, partial(self._claim, got))
        return reply

    def guesses(self, got: list[int]) -> list[int]:
        """The ids to claim, from the ids a poll got."""
        raise NotImplementedError

    def _claim(self, got: list[int]) -> Generator[Any, Any, None]:
        claim = [i for i in self.guesses(got) if i > 0 and i not in self.given | self.tried]
        if claim:
            self.tried.update(claim)
            items = [{"id": i, "status": "sent"} for i in claim]
            yield from self.confirm(self.act, "sent", items)()


class ForeignConfirms(_Guesser):
    """Test double: confirms ``sent`` for other phones' SMS, guessed as the ids next to its
    own (id ± 1 .. ± ``REACH``)."""

    name = "foreign"
    act = "foreign_confirm"

    def guesses(self, got: list[int]) -> list[int]:
        near = {i + d for i in got for d in range(-REACH, REACH + 1) if d}
        return sorted(near)


class PhantomConfirms(_Guesser):
    """Test double: confirms ``sent`` for SMS it never got: the ``AHEAD`` ids past the
    highest it got, and one ``NOWHERE`` past it that does not exist."""

    name = "phantom"
    act = "phantom_confirm"

    def guesses(self, got: list[int]) -> list[int]:
        top = max(got)
        return [top + k for k in range(1, AHEAD + 1)] + [top + NOWHERE]


class DoublePoll(Persona):
    """Test double: every poll is two ``/pending`` requests at once, and the SMS of both
    answers are sent one after the other, a repeat included."""

    name = "double-poll"

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        if endpoint != "pending":
            return (yield from self.inner.exchange(endpoint, body, auth, timeout, failed, observed))
        second = self.env.process(self.forge("double_poll", None, "pending", body, _handed))
        first = yield from self.inner.exchange(endpoint, body, auth, timeout, failed, observed)
        extra: Reply | None = yield second
        if extra is None or not _handed(extra):
            return first
        if first is None:
            return extra
        items = list(first.body.get("sms_list") or []) + list(extra.body["sms_list"])
        return Reply(first.status, {**first.body, "sms_list": items})


class Replay(Persona):
    """Test double: replays the statuses the server acknowledged: ``error`` again; for
    ``sent``, a contradicting ``error`` and then ``sent`` again."""

    name = "replay"

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        reply = yield from self.inner.exchange(endpoint, body, auth, timeout, failed, observed)
        if endpoint == "confirm-batch" and reply is not None and reply.body.get("success"):
            items = {int(item["id"]): dict(item) for item in body["results"]}
            acked = reply.body.get("ack_ids")
            ids = list(items) if acked is None else [int(i) for i in acked if int(i) in items]
            sent = [i for i in ids if items[i]["status"] == "sent"]
            errors = [items[i] for i in ids if items[i]["status"] == "error"]
            if sent:
                self.later(REPLAY_DELAY, partial(self._contradict, sent))
            if errors:
                self.later(REPLAY_DELAY, self.confirm("replay", "error", errors))
        return reply

    def _contradict(self, ids: list[int]) -> Generator[Any, Any, None]:
        failure = error_reason(1)
        yield from self.confirm(
            "replay", "error", [{"id": i, "status": "error", "error_message": failure} for i in ids]
        )()
        yield self.env.timeout(REPLAY_DELAY)
        yield from self.confirm("replay", "sent", [{"id": i, "status": "sent"} for i in ids])()


class Unsent(Persona):
    """Test double: keeps every ``UNSENT_EVERY``-th SMS it gets from Android and writes
    ``sent`` for it about when its sent callback would have come."""

    name = "unsent"

    def __init__(self, app: GatewayApp, inner: Network) -> None:
        super().__init__(app, inner)
        self.got = 0

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        reply = yield from self.inner.exchange(endpoint, body, auth, timeout, failed, observed)
        if endpoint != "pending" or not _handed(reply) or not self.running:
            return reply
        assert reply is not None
        kept: list[Any] = []
        withheld: list[int] = []
        for item in reply.body["sms_list"]:
            self.got += 1
            if self.got % UNSENT_EVERY == 0:
                withheld.append(int(item["id"]))
            else:
                kept.append(item)
        if not withheld:
            return reply
        self.later(UNSENT_DELAY, partial(self._lie, withheld))
        return Reply(reply.status, {**reply.body, "sms_list": kept})

    def _lie(self, ids: list[int]) -> Generator[Any, Any, None]:
        if not self.running:
            return
        for sms_id in ids:
            self.app._result(sms_id, "sent", None)
        self.app.history.emit(
            PersonaAct(t=self.env.now, phone=self.app.name, act="unsent", status="sent", ids=ids)
        )
        yield from ()


class Malformed(Persona):
    """Test double: besides the app's own requests, sends each request of ``PROBES`` once,
    ``PROBE_GAP`` apart, from ``PROBE_DELAY`` after the first answer the app gets; one that
    failed on the way goes again after the app's next answer. Each answered one is a
    ``persona`` event with what it sent and what came back. Its answer is not the app's
    (it asked for nothing the app wants), save the SMS a ``/pending`` answer hands out,
    which are recorded as issued: the server holds them as this phone's."""

    name = "malformed"

    def __init__(self, app: GatewayApp, inner: Network) -> None:
        super().__init__(app, inner)
        self.left = list(PROBES)  # not answered yet, in order
        self.probing = False

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        reply = yield from self.inner.exchange(endpoint, body, auth, timeout, failed, observed)
        if reply is not None and self.left and not self.probing and self.running:
            self.probing = True
            self.later(PROBE_DELAY, self._probe)
        return reply

    def _probe(self) -> Generator[Any, Any, None]:
        try:
            for n, probe in enumerate(list(self.left)):
                if n:
                    yield self.env.timeout(PROBE_GAP)
                yield from self.send(probe[1], probe[2], partial(self._answered, probe))
        finally:
            self.probing = False

    def _answered(
        self,
        probe: tuple[str, str, dict[str, Any]],
        endpoint: str,
        sent: Mapping[str, Any],
        reply: Reply,
    ) -> None:
        self.left.remove(probe)
        app = self.app
        app.history.emit(
            PersonaAct(
                t=self.env.now,
                phone=app.name,
                act=probe[0],
                status=None,
                ids=[],
                endpoint=endpoint,
                sent=dict(sent),
                answer=reply.status,
                reply=reply.body,
            )
        )
        if endpoint == "pending":
            app.observe(endpoint, sent, reply)


PERSONAS: dict[str, type[Persona]] = {
    cls.name: cls
    for cls in (ForeignConfirms, DoublePoll, Replay, PhantomConfirms, Unsent, Malformed)
}


def persona_for(app: GatewayApp) -> Persona | None:
    """The persona of the app's profile around its link, or ``None`` for a real app."""
    name = app.profile.persona
    if not name:
        return None
    cls = PERSONAS.get(name)
    if cls is None:
        raise ValueError(
            f"App profile {app.profile.name!r} names the persona {name!r}, which does not "
            f"exist; choose one of {', '.join(PERSONAS)} or '' for the real app."
        )
    return cls(app, app.link)
