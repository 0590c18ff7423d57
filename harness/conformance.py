"""The ``rejects_bad_input`` oracle: the server answers the malformed device requests of the
``hostile-malformed`` persona (``simulator/personas.py``) with a 4xx and its well-formed
probes with a complete 2xx, judged from the persona's ``persona`` events alone. Standard
library only, like the other oracles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .evidence import Evidence, Findings, Verdict

__all__ = ["rejects_bad_input"]

# rejects_bad_input: the batch endpoints, and the key of their items. A batch may refuse a
# malformed item on its own (2xx, the item among its ``errors``) and apply the others.
BATCH_ITEMS = {"confirm-batch": "results", "inbound-batch": "messages"}
# rejects_bad_input: the fields every 2xx answer of an endpoint carries (reference-system.md
# §1.21: the union of the documented and the real answers).
ANSWER_FIELDS = {"reconcile": ("already_confirmed_ids", "stuck_ids", "not_found_ids")}


def _item_refused(endpoint: str, sent: Mapping[str, Any], reply: Any) -> bool:
    """Whether a 2xx answer to a batch refused each of its items, by listing it in ``errors``."""
    key = BATCH_ITEMS.get(endpoint)
    if key is None or not isinstance(reply, dict) or not isinstance(reply.get("errors"), list):
        return False
    items = sent.get(key)
    return isinstance(items, list) and len(reply["errors"]) >= len(items) > 0


def _said(reply: Any) -> str:
    """What an answer said, in a few words."""
    if not isinstance(reply, dict):
        return "" if reply is None else f" ({str(reply)[:80]})"
    if isinstance(reply.get("error"), str):
        return f" ({reply['error'][:80]!r})"
    return f" (success: {json.dumps(reply['success'])})" if "success" in reply else ""


def rejects_bad_input(evidence: Evidence) -> Verdict:
    """A malformed device request is refused with a 4xx, and a well-formed one gets a whole
    2xx answer.

    Judged on the requests the ``hostile-malformed`` persona sent (``persona`` events
    ``bad_input`` and ``good_input``, each with its request and answer): a malformed one
    answered 2xx (``success: false`` included) or 5xx is a violation, save a batch whose
    answer lists its bad item among its ``errors``; a well-formed one must be answered 2xx
    with every field its endpoint's answer carries (a reconcile: ``not_found_ids``). With
    no such persona in the run, there is nothing to judge.
    """
    ix = evidence.index
    found = Findings()
    bad = good = 0
    for _, event in ix.personas:
        act = event["act"]
        if act not in ("bad_input", "good_input"):
            continue
        endpoint, sent, status = event["endpoint"], event["sent"], int(event["answer"])
        reply = event.get("reply")
        t = float(event["t"])
        asked = f"/{endpoint} with {json.dumps(sent)} from {event['phone']} at {ix.when(t)}"
        if act == "bad_input":
            bad += 1
            if 400 <= status < 500 or (
                200 <= status < 300 and _item_refused(endpoint, sent, reply)
            ):
                continue
            found.add(
                f"{asked} was answered {status}{_said(reply)}; a malformed request must be "
                "refused with a 4xx saying what is wrong",
                t,
            )
            continue
        good += 1
        if not 200 <= status < 300:
            found.add(
                f"{asked} was answered {status}{_said(reply)}; a well-formed request must get "
                "a 2xx answer",
                t,
            )
            continue
        missing = [f for f in ANSWER_FIELDS.get(endpoint, ()) if f not in (reply or {})]
        if missing:
            found.add(
                f"{asked} was answered {status} without {', '.join(missing)}, which every "
                f"/{endpoint} answer carries",
                t,
            )
    figures = {"malformed": bad, "well_formed": good}
    return found.verdict("rejects_bad_input", bad + good, "probe requests", "mishandled", figures)
