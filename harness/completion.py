"""The campaign oracles. ``campaigns_complete``: at the end of a run, a campaign is ``done``
exactly when every SMS of it is final. ``paused_respected``: no SMS of a campaign is handed
out while the operator holds it paused (a queue-only campaign, B9).

It reads the server's campaigns (the ``campaigns`` part of the final state: the campaigns
the run created) against their SMS (the ``sms`` part). A campaign whose SMS are all final
but which is still ``sending`` is what the reference leaves behind when its last SMS ends
through raw SQL (B25: the campaign shows as running for ever, and the app keeps polling
its status); a campaign ``done`` while an SMS of it is still queued or in flight, or that
was done before one of its SMS ended, is the opposite mistake (the premature ``done`` of
reference §2.13, B17). A campaign without SMS is not judged. Standard library (and
``reports``' measures) only, like the other oracles.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from reports import TERMINAL

from .evidence import CLOCK_SLACK, Event, Evidence, Findings, Index, Verdict, listed

__all__ = ["campaigns_complete", "paused_respected"]


def _ended_at(ix: Index, row: Event) -> tuple[str, float | None]:
    """When an SMS last changed, for people, and as run time when the server's clock can
    be read that way."""
    stamp = row.get("updated_at")
    t = ix.run_time(stamp)
    if t is not None:
        return f"at {ix.when(t)}", t
    return (f"at {stamp} (server time)" if stamp else "at an unknown time"), None


def _premature(ix: Index, campaign: Event, rows: list[Event]) -> tuple[str, float] | None:
    """Why a ``done`` campaign completed too early: before one of its SMS ended, beyond the
    clock slack. An SMS ended when the server first acknowledged its final status to a
    phone (the history's ``confirmed`` events) or, if that came later, when the stuck reset
    could have ended it (its last hand-out plus the stuck timeout: a late report may turn
    that guess into ``sent``); one the server ended itself (a cancel, the stuck reset) when
    it last changed."""
    since = ix.run_time(campaign.get("completed_at"))
    if since is None:
        return None
    stuck_after = float(ix.config.get("stuck_after", 1800.0))
    ends: list[tuple[float, int]] = []
    for row in rows:
        if row["state"] not in TERMINAL:
            continue
        sms_id = int(row["id"])
        t = ix.ended_at(sms_id)
        issues = ix.issues_by_sms.get(sms_id)
        if t is not None and sms_id in ix.first_ack and issues:
            # the stuck reset may have ended it (a guess) before the phone's late report
            t = min(t, float(issues[-1][1]["t"]) + stuck_after)
        if t is not None:
            ends.append((t, sms_id))
    if not ends:
        return None
    last_t, last_id = max(ends)
    if last_t <= since + CLOCK_SLACK:
        return None
    return (
        f"was done at {ix.when(since)}, before its SMS {last_id} ended at {ix.when(last_t)}",
        since,
    )


def campaigns_complete(evidence: Evidence) -> Verdict:
    """A campaign all of whose SMS are final is ``done``; a ``done`` campaign has no SMS
    that is not final."""
    ix = evidence.index
    found = Findings()
    by_campaign: dict[int, list[Event]] = defaultdict(list)
    for row in ix.sms.values():
        if row.get("campaign_id") is not None:
            by_campaign[int(row["campaign_id"])].append(row)
    done = sending = without_sms = 0
    for campaign in sorted(ix.server_campaigns, key=lambda c: int(c["id"])):
        campaign_id = int(campaign["id"])
        rows = by_campaign.get(campaign_id, [])
        if not rows:
            without_sms += 1
            continue
        state = str(campaign.get("state"))
        done += state == "done"
        sending += state != "done"
        label = f"campaign {campaign_id} ({campaign.get('name')!r})"
        still_open = sorted(int(r["id"]) for r in rows if r["state"] not in TERMINAL)
        if not still_open and state != "done":
            last = max(rows, key=lambda r: (str(r.get("updated_at") or ""), int(r["id"])))
            how = last["state"] + (f" ({last['failure_type']})" if last.get("failure_type") else "")
            when, t = _ended_at(ix, last)
            found.add(
                f"{label} is still {state} though all its {len(rows)} SMS are final; its "
                f"last SMS, {last['id']}, ended {how} {when}",
                t,
            )
        elif still_open and state == "done":
            since = ix.run_time(campaign.get("completed_at"))
            at = f" since {ix.when(since)}" if since is not None else ""
            found.add(
                f"{label} is done{at} but {len(still_open)} of its {len(rows)} SMS are not "
                f"final: {listed(still_open)}",
                since,
            )
        elif state == "done" and (early := _premature(ix, campaign, rows)):
            found.add(f"{label} {early[0]}", early[1])
    figures = {"done": done, "sending": sending, "without_sms": without_sms}
    checked = done + sending
    return found.verdict(
        "campaigns_complete", checked, "campaigns with SMS", "in the wrong state", figures
    )


def _paused_windows(ix: Index) -> dict[str, list[tuple[float, float, str]]]:
    """Per campaign, the times it was paused for certain: (from, until, how it came to be).

    A campaign created paused with its SMS (queue only) is paused from the moment the
    harness asked: none of them existed before. One paused later is paused from the
    server's answer plus CLOCK_SLACK (a hand-out answered just before it can reach the
    history just after). Either is paused until the harness asked to resume it: a hand-out
    after that may have come after the resume.
    """
    windows: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
    open_since: dict[str, tuple[float, str]] = {}
    for _, event in ix.campaign_states:
        name = str(event["campaign"])
        if event["paused"]:
            if name in open_since:
                continue
            if event["created"]:
                since = float(event["asked"])
                how = f"created paused (queue only) at {ix.when(since)}"
            else:
                since = float(event["t"]) + CLOCK_SLACK
                how = f"paused at {ix.when(float(event['t']))}"
            open_since[name] = (since, how)
        elif name in open_since:
            since, how = open_since.pop(name)
            until = float(event["asked"])
            windows[name].append((since, until, f"{how}, resumed at {ix.when(until)}"))
    for name, (since, how) in open_since.items():
        windows[name].append((since, float("inf"), f"{how}, never resumed"))
    return windows


def paused_respected(evidence: Evidence) -> Verdict:
    """No SMS of a campaign is handed out while the harness holds that campaign paused.

    Judged from the history alone: the ``campaign`` events (the operator's pauses and
    resumes, a queue-only campaign's creation) and each SMS's campaign in its ``enqueued``
    event, against the ``issued`` events. Only the time a campaign was paused for certain
    counts (``_paused_windows``); campaigns the server paused on its own are not judged.
    """
    ix = evidence.index
    found = Findings()
    windows = _paused_windows(ix)
    campaign_of = ix.campaign_of
    checked = 0
    handed: Counter[str] = Counter()
    for _, event in ix.issued:
        t = float(event["t"])
        for item in event["sms"]:
            sms_id = int(item["id"])
            name = campaign_of.get(sms_id)
            if name not in windows:
                continue
            checked += 1
            for since, until, how in windows[name]:
                if since <= t < until:
                    handed[name] += 1
                    found.add(
                        f"SMS {sms_id} of campaign {name!r} was handed to {event['phone']} at "
                        f"{ix.when(t)} while the campaign was paused ({how})",
                        t,
                    )
                    break
    figures: dict[str, int] = {
        "paused_campaigns": len(windows),
        "handed_while_paused": sum(handed.values()),
    }
    figures.update({f"while_paused:{name}": n for name, n in sorted(handed.items())})
    return found.verdict(
        "paused_respected", checked, "hand-outs of paused campaigns' SMS", "while paused", figures
    )
