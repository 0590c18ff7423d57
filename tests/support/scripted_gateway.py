"""A test double of the gateway API for the simulator's tests: a scripted queue that acks
everything, with switchable failures, and a one-phone world around it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from simulator.config import PhoneSpec, SimSpec, WorldSpec
from simulator.port import Reply
from simulator.world import World

__all__ = ["START", "ScriptedGateway", "events", "world"]

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


class ScriptedGateway:
    """A test double of the gateway API: a queue, acks for everything, switchable failures."""

    def __init__(self, sms: int = 0, body: str = "Hello", rate: int = 600) -> None:
        self.rate = rate
        self.queue = [
            {
                "id": i,
                "phone_number": f"+42077700{i:04d}",
                "message": body,
                "uuid": f"u{i}",
                "gateway_phone_number": "",
                "segments": 1,
            }
            for i in range(1, sms + 1)
        ]
        self.calls: list[tuple[float, str, dict[str, Any], str]] = []
        self.failing: set[str] = set()
        self.confirmed: dict[int, str] = {}

    def call(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        at: float,
        auth: str = "x-api-key",
    ) -> Reply:
        self.calls.append((at, endpoint, dict(body), auth))
        if endpoint in self.failing:
            return Reply(500, {"success": False})
        if endpoint == "inbound" and auth != "x-api-key":
            return Reply(401, {"success": False, "error": "Missing API key"})
        if endpoint == "pending":
            batch, self.queue = self.queue[: body["limit"]], self.queue[body["limit"] :]
            return Reply(200, {"success": True, "sms_list": batch})
        if endpoint == "heartbeat":
            return Reply(
                200,
                {
                    "success": True,
                    "rate_limit": self.rate,
                    "pending_count": {"+420600000001": len(self.queue)},
                },
            )
        if endpoint == "confirm-batch":
            for item in body["results"]:
                self.confirmed[item["id"]] = item["status"]
            return Reply(200, {"success": True, "ack_ids": [i["id"] for i in body["results"]]})
        if endpoint == "reconcile":
            return Reply(
                200,
                {
                    "success": True,
                    "already_confirmed_ids": [],
                    "stuck_ids": [],
                    "not_found_ids": [],
                },
            )
        if endpoint == "inbound":
            return Reply(
                200,
                {"success": True, "is_stop": body["message"] == "STOP", "blacklisted": False},
            )
        return Reply(200, {"success": True})

    def of(self, endpoint: str) -> list[tuple[float, str, dict[str, Any], str]]:
        return [c for c in self.calls if c[1] == endpoint]


def world(gateway: ScriptedGateway, *, seed: int = 1, **phone: Any) -> World:
    phone.setdefault("sims", (SimSpec("+420600000001"),))
    spec = PhoneSpec(name="p1", **phone)
    return World(WorldSpec(phones=(spec,)), gateway, {"p1": "key"}, seed=seed, start=START)


def events(w: World, kind: str) -> list[dict[str, Any]]:
    return list(w.history.of_kind(kind))
