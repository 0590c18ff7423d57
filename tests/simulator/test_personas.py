"""Adversarial personas (test doubles of a buggy or hostile app): each does what it says, the
correct server withstands them, and the hostile-phone scenario catches the servers that
trust them (C10, B11) or mishandle their malformed requests (B22)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.folder import read_history, read_state
from harness.runner import RunResult, run_scenario
from scenarios import load, loads
from simulator.config import APP_PROFILES, CarrierSpec, SimSpec
from simulator.personas import (
    NOWHERE,
    PERSONAS,
    PROBE_DELAY,
    PROBE_GAP,
    PROBES,
    REPLAY_DELAY,
    persona_for,
)
from simulator.port import Reply
from tests.support.scripted_gateway import ScriptedGateway, events, world

# -- each persona against a scripted gateway that acknowledges everything ------------------


def _confirms(gw: ScriptedGateway) -> list[tuple[float, list[dict[str, Any]]]]:
    return [(at, body["results"]) for at, _, body, _ in gw.of("confirm-batch")]


def test_every_persona_is_an_app_profile_and_says_it_is_a_test_double() -> None:
    named = {p.persona for p in APP_PROFILES.values() if p.persona}
    assert named == set(PERSONAS)
    for cls in PERSONAS.values():
        assert "Test double" in (cls.__doc__ or "")
    honest = world(ScriptedGateway())
    assert persona_for(honest.apps["p1"]) is None


def test_foreign_confirms_sent_for_the_neighbours_of_its_ids_never_its_own() -> None:
    gw = ScriptedGateway(sms=5)
    w = world(gw, app=APP_PROFILES["hostile-foreign"])
    w.env.run(until=60)
    forged = [items for _, items in _confirms(gw) if items[0]["id"] > 5]
    assert forged == [[{"id": 6, "status": "sent"}, {"id": 7, "status": "sent"}]]
    [act] = events(w, "persona")
    assert (act["act"], act["status"], act["ids"]) == ("foreign_confirm", "sent", [6, 7])
    assert len(events(w, "radio")) == 5  # its own SMS it sends as the real app does


def test_phantom_confirms_sent_for_the_next_ids_and_one_that_does_not_exist() -> None:
    gw = ScriptedGateway(sms=5)
    w = world(gw, app=APP_PROFILES["hostile-phantom"])
    w.env.run(until=60)
    [act] = events(w, "persona")
    assert act["act"] == "phantom_confirm"
    assert act["ids"] == [6, 7, 8, 5 + NOWHERE]
    assert {r["sms_id"] for r in events(w, "radio")} == {1, 2, 3, 4, 5}


def test_double_poll_sends_two_pending_at_once_and_both_answers_sms() -> None:
    gw = ScriptedGateway(sms=30)
    w = world(gw, app=APP_PROFILES["hostile-double-poll"])
    w.env.run(until=120)
    first, second = gw.of("pending")[:2]
    assert second[0] - first[0] < 0.2  # both out before either answer came back
    issued = events(w, "issued")
    assert sorted(len(e["sms"]) for e in issued[:2]) == [10, 20]
    assert sorted(r["sms_id"] for r in events(w, "radio")) == list(range(1, 31))
    acts = [e for e in events(w, "persona") if e["ids"]]
    assert acts[0]["act"] == "double_poll" and acts[0]["status"] is None


def test_replay_sends_error_then_sent_again_for_what_was_acknowledged_sent() -> None:
    gw = ScriptedGateway(sms=1)
    w = world(gw, app=APP_PROFILES["hostile-replay"])
    w.env.run(until=60)
    confirms = _confirms(gw)
    assert [items for _, items in confirms] == [
        [{"id": 1, "status": "sent"}],  # the app's own report, acknowledged
        [{"id": 1, "status": "error", "error_message": "GENERIC_FAILURE"}],
        [{"id": 1, "status": "sent"}],
    ]  # only what the app itself reported is replayed, once
    (t0, _), (t1, _), (t2, _) = confirms
    assert t1 - t0 == pytest.approx(REPLAY_DELAY, abs=0.5)
    assert t2 - t1 == pytest.approx(REPLAY_DELAY, abs=0.5)
    acts = [(e["act"], e["status"], e["ids"]) for e in events(w, "persona")]
    assert acts == [("replay", "error", [1]), ("replay", "sent", [1])]


def test_replay_repeats_an_acknowledged_error() -> None:
    gw = ScriptedGateway(sms=1)
    carrier = CarrierSpec(results=((1, 1.0),))  # GENERIC_FAILURE
    w = world(gw, sims=(SimSpec("+420600000001", carrier),), app=APP_PROFILES["hostile-replay"])
    w.env.run(until=60)
    error = {"id": 1, "status": "error", "error_message": "GENERIC_FAILURE"}
    assert [items for _, items in _confirms(gw)] == [[error], [error]]


def test_unsent_keeps_every_fifth_sms_from_android_and_reports_it_sent() -> None:
    gw = ScriptedGateway(sms=20)
    w = world(gw, app=APP_PROFILES["hostile-unsent"])
    w.env.run(until=120)
    radio = {r["sms_id"] for r in events(w, "radio")}
    assert radio == set(range(1, 21)) - {5, 10, 15, 20}
    assert {i: s for i, s in gw.confirmed.items() if s == "sent"} == {
        i: "sent" for i in range(1, 21)
    }
    [act] = events(w, "persona")
    assert (act["act"], act["ids"]) == ("unsent", [5, 10, 15, 20])


def test_a_dead_persona_misbehaves_no_more() -> None:
    gw = ScriptedGateway(sms=5)
    w = world(gw, app=APP_PROFILES["hostile-foreign"])
    w.env.run(until=0.5)  # the poll's answer is in; the guesses are due 1 s later
    w.apps["p1"].kill("process_death", restart_after=None)
    w.env.run(until=60)
    assert events(w, "persona") == []
    assert all(items[0]["id"] <= 5 for _, items in _confirms(gw))


class ProbedGateway(ScriptedGateway):
    """The scripted gateway, answering each request of ``PROBES`` with ``answers``' reply for
    its endpoint: by default a 422 for a malformed one, a whole 200 for a well-formed one."""

    def __init__(self, sms: int = 0, answers: dict[str, Reply] | None = None) -> None:
        super().__init__(sms=sms)
        self.answers = answers or {}

    def call(
        self,
        api_key: str,
        endpoint: str,
        body: Any,
        *,
        at: float,
        auth: str = "x-api-key",
    ) -> Reply:
        for act, probed, sent in PROBES:
            if (probed, sent) == (endpoint, dict(body)):
                self.calls.append((at, endpoint, dict(body), auth))
                if act == "bad_input":
                    default = Reply(422, {"success": False, "error": "Invalid request."})
                else:
                    default = Reply(200, {"success": True, "not_found_ids": []})
                return self.answers.get(endpoint, default)
        return super().call(api_key, endpoint, body, at=at, auth=auth)

    def probes(self) -> list[tuple[float, str, dict[str, Any]]]:
        return [(at, e, b) for at, e, b, _ in self.calls if (e, b) in [p[1:] for p in PROBES]]


def test_malformed_sends_each_probe_once_after_the_first_answer_and_records_it() -> None:
    gw = ProbedGateway(sms=5)
    w = world(gw, app=APP_PROFILES["hostile-malformed"])
    w.env.run(until=60)
    probes = gw.probes()
    assert [(e, b) for _, e, b in probes] == [p[1:] for p in PROBES]  # each once, in order
    first_request = gw.calls[0][0]  # the app's start poll
    assert probes[0][0] - first_request == pytest.approx(PROBE_DELAY, abs=0.5)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(probes)]
    assert gaps == pytest.approx([PROBE_GAP] * (len(PROBES) - 1), abs=0.5)
    acts = events(w, "persona")
    assert [(a["act"], a["endpoint"], a["sent"]) for a in acts] == list(PROBES)
    assert all(a["status"] is None and a["ids"] == [] for a in acts)
    assert [a["answer"] for a in acts] == [422] * 5 + [200] * 2
    assert acts[0]["reply"] == {"success": False, "error": "Invalid request."}
    refused = [e["endpoint"] for e in events(w, "request") if e["outcome"] == "refused"]
    assert refused == [p[1] for p in PROBES if p[0] == "bad_input"]
    assert len(events(w, "radio")) == 5  # its own SMS it sends as the real app does
    # the app reads no probe's answer: its only reconcile is its own, of its unsynced ids
    assert [e["known"] > 0 for e in events(w, "reconcile")] == [True]


def test_a_probe_that_failed_on_the_way_goes_again_after_the_next_answer() -> None:
    gw = ProbedGateway()
    w = world(gw, app=APP_PROFILES["hostile-malformed"])
    w.env.run(until=3.5)  # some probes are out
    sent_before = len(gw.probes())
    assert 0 < sent_before < len(PROBES)
    w.apps["p1"].link.partition(20.0)
    w.env.run(until=120)
    probes = gw.probes()
    assert [(e, b) for _, e, b in probes] == [p[1:] for p in PROBES]  # each answered once
    assert probes[sent_before][0] > 23.5  # the rest after the partition, at a later answer
    offline = [e for e in events(w, "request") if e["outcome"] == "offline"]
    assert offline and len(events(w, "persona")) == len(PROBES)


def test_the_sms_a_pending_probe_is_handed_are_recorded_as_issued() -> None:
    handed = {"id": 99, "phone_number": "+420777000099", "message": "x", "uuid": "u99"}
    lax = Reply(200, {"success": True, "sms_list": [handed]})
    gw = ProbedGateway(answers={"pending": lax, "confirm-batch": Reply(200, {"success": True})})
    w = world(gw, app=APP_PROFILES["hostile-malformed"])
    w.env.run(until=30)
    issued = [e for e in events(w, "issued") if e["sms"][0]["id"] == 99]
    assert len(issued) == 2  # both pending probes were answered with it
    assert {a["answer"] for a in events(w, "persona") if a["endpoint"] == "pending"} == {200}
    assert not events(w, "confirmed")  # a 200 to the confirm-batch probe acknowledges nothing


# -- against the correct server, and against servers that trust phones too much ---------


class Run:
    """A finished run: its result, history and the server's final state."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        self.history = read_history(result.out)
        self.state = read_state(result.out)
        self.sms = {row["id"]: row for row in self.state["sms"]}
        self.phones = {row["name"]: row for row in self.state["phones"]}

    def of(self, kind: str, phone: str | None = None) -> list[dict[str, Any]]:
        return [
            e for e in self.history if e["kind"] == kind and (phone is None or e["phone"] == phone)
        ]

    def acts(self, act: str) -> list[dict[str, Any]]:
        return [e for e in self.of("persona") if e["act"] == act]

    def acked(self, phone: str) -> set[int]:
        return {i for e in self.of("confirmed", phone) for i in e["sent"] + e["error"]}

    def issued(self, phone: str) -> set[int]:
        return {s["id"] for e in self.of("issued", phone) for s in e["sms"]}

    def failed(self) -> dict[str, tuple[str, ...]]:
        return {v.name: v.violations for v in self.result.verdicts if not v.passed}


def _run(tmp: Path, defects: tuple[str, ...] = ()) -> Run:
    scenario = load("hostile-phone")
    return Run(run_scenario(replace(scenario, defects=defects), out=tmp))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    yield _run(tmp_path_factory.mktemp("clean"))


def test_hostile_phone_is_green_on_the_correct_server(clean: Run) -> None:
    assert clean.result.passed, clean.failed()
    assert clean.failed() == {}
    assert {e["act"] for e in clean.of("persona")} == {
        "foreign_confirm",
        "phantom_confirm",
        "replay",
        "double_poll",
        "bad_input",
        "good_input",
    }


def test_the_correct_server_refuses_every_foreign_and_phantom_confirm(clean: Run) -> None:
    for act, phone in (("foreign_confirm", "phone-04"), ("phantom_confirm", "phone-07")):
        claimed = {i for e in clean.acts(act) for i in e["ids"]}
        assert claimed, act
        assert not claimed & clean.issued(phone)  # never handed to it
        assert not claimed & clean.acked(phone)  # and never acknowledged to it
    foreign = {i for e in clean.acts("foreign_confirm") for i in e["ids"]}
    owners = {clean.sms[i]["gateway_phone_id"] for i in foreign if i in clean.sms}
    assert clean.phones["phone-04"]["id"] not in owners  # other phones' SMS indeed
    phantom = {i for e in clean.acts("phantom_confirm") for i in e["ids"]}
    assert any(i not in clean.sms for i in phantom)  # the id that does not exist


def test_replayed_statuses_change_nothing_on_the_correct_server(clean: Run) -> None:
    replayed_error = {i for e in clean.acts("replay") if e["status"] == "error" for i in e["ids"]}
    replayed_sent = {i for e in clean.acts("replay") if e["status"] == "sent" for i in e["ids"]}
    assert replayed_sent and replayed_sent <= replayed_error  # sent -> error -> sent
    assert all(clean.sms[i]["state"] == "sent" for i in replayed_sent)
    phone = clean.phones["phone-06"]
    own = [row for row in clean.sms.values() if row["gateway_phone_id"] == phone["id"]]
    assert phone["sent_total"] == sum(r["segments"] for r in own if r["state"] == "sent")


def test_double_poll_gets_no_sms_twice_from_the_correct_server(clean: Run) -> None:
    extra = [e for e in clean.acts("double_poll") if e["ids"]]
    assert extra
    handed = [s["id"] for e in clean.of("issued", "phone-05") for s in e["sms"]]
    assert len(handed) == len(set(handed))
    radio = [r["sms_id"] for r in clean.of("radio", "phone-05")]
    assert sorted(radio) == sorted(handed)  # both answers' SMS were sent


def test_the_correct_server_refuses_malformed_requests_and_answers_in_full(clean: Run) -> None:
    probes = clean.acts("bad_input") + clean.acts("good_input")
    assert sorted((e["act"], e["endpoint"], json.dumps(e["sent"])) for e in probes) == sorted(
        (act, endpoint, json.dumps(body)) for act, endpoint, body in PROBES
    )
    assert all(e["phone"] == "phone-08" for e in probes)
    for e in clean.acts("bad_input"):
        if e["endpoint"].endswith("-batch"):  # the bad item listed, nothing applied
            assert e["answer"] == 200 and e["reply"]["errors"][0]["index"] == 0
        else:  # a 422 naming the field
            assert e["answer"] == 422 and e["reply"]["detail"][0]["field"] in e["sent"]
    answers = {e["endpoint"]: e for e in clean.acts("good_input")}
    assert answers["inbound-history"]["answer"] == 200  # a null search is no search
    assert answers["reconcile"]["reply"]["not_found_ids"] == []
    verdict = next(v for v in clean.result.verdicts if v.name == "rejects_bad_input")
    assert verdict.passed and verdict.checked == len(PROBES)


def test_a_server_that_answers_malformed_input_500_is_caught(tmp_path: Path) -> None:
    run = _run(tmp_path, ("B22",))
    assert list(run.failed()) == ["rejects_bad_input"]  # and nothing else
    violations = run.failed()["rejects_bad_input"]
    assert len(violations) == len(PROBES)
    assert violations[0].startswith('/pending with {"limit": "all"} from phone-08 at ')
    assert " was answered 500 (" in violations[0]
    assert violations[-1].endswith(
        "answered 200 without not_found_ids, which every /reconcile answer carries"
    )


def test_a_server_that_applies_foreign_confirms_is_caught(tmp_path: Path) -> None:
    run = _run(tmp_path, ("C10",))
    assert not run.result.passed
    assert {"no_phantom_sent", "counters_consistent"} <= set(run.failed())
    foreign = {i for e in run.acts("foreign_confirm") for i in e["ids"]}
    assert foreign & run.acked("phone-04")  # it took other phones' SMS as phone-04's


def test_a_server_whose_error_downgrades_sent_is_caught(tmp_path: Path) -> None:
    run = _run(tmp_path, ("B11",))
    assert not run.result.passed
    assert "counters_consistent" in run.failed()
    [violation] = run.failed()["counters_consistent"]
    assert violation.startswith("phone phone-06 ")  # the replaying phone, counted twice


UNSENT = """
[scenario]
name = "unsent-lie"
description = "A phone that reports sent for SMS it never transmitted: no server can tell."
max_duration = "30m"

[fleet]
count = 2
granted = true

[[phones]]
name = "phone-02"
app = "hostile-unsent"

[[workload]]
at = "1m"
count = 40
body = "Hello {first_name}."

[expect]
fail = ["no_phantom_sent", "counters_consistent"]
"""


def test_a_lie_about_its_own_sms_is_a_phantom_sent_the_oracles_see(tmp_path: Path) -> None:
    run = Run(run_scenario(loads(UNSENT, file="unsent.toml"), out=tmp_path))
    assert run.result.passed, run.failed()  # red exactly where expected
    lies = {i for e in run.acts("unsent") for i in e["ids"]}
    assert lies and all(e["phone"] == "phone-02" for e in run.acts("unsent"))
    assert not lies & {r["sms_id"] for r in run.of("radio")}
    flagged = {
        int(text.split()[1]) for text in run.failed()["no_phantom_sent"] if text.startswith("SMS ")
    }
    assert flagged == lies
