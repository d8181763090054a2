"""Stand-ins for the Rasa server's HTTP client (`connectors.rasa.client.RasaClient`), for the
connector's offline tests. The integration tests use a real Rasa server instead."""

from __future__ import annotations

import asyncio
from typing import Any

from connectors.rasa.client import RasaUnavailable


class StandInRasa:
    """Answers every message with one reply; records (sender, text, metadata)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.down = False
        self.silent = False
        self.delay = 0.0
        self.slots: dict[str, dict[str, Any]] = {}  # sender → slots set through the HTTP API

    async def slot(self, sender: str, name: str) -> Any:
        if self.down:
            raise RasaUnavailable("ConnectError")
        return self.slots.get(sender, {}).get(name), sender not in self.slots

    async def set_slot(self, sender: str, name: str, value: Any, new: bool = False) -> None:
        if self.down:
            raise RasaUnavailable("ConnectError")
        self.slots.setdefault(sender, {})[name] = value

    async def send_message(self, sender: str, text: str, metadata: dict[str, Any] | None = None):
        if self.down:
            raise RasaUnavailable("ConnectError")
        await asyncio.sleep(self.delay)
        self.received.append((sender, text, metadata or {}))
        if self.silent:  # what Rasa answers when the action server failed
            return []
        buttons = [
            {
                "title": "More",
                "payload": '/ask_trainings{"topic":"tourism_hospitality","location":"Cluj-Napoca"}',
            }
        ]
        return [{"recipient_id": sender, "text": f"echo: {text[:20]}", "buttons": buttons}]

    async def close(self) -> None:
        pass


class TrackerRasa(StandInRasa):
    """A stand-in that remembers each turn under its update id, as the tracker does, and can
    lose an answer on the way back (Rasa answered, the connection broke)."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: dict[int, list[dict[str, Any]]] = {}
        self.lose_next = False

    async def send_message(self, sender: str, text: str, metadata: dict[str, Any] | None = None):
        replies = await super().send_message(sender, text, metadata)
        update_id = (metadata or {}).get("update_id")
        if update_id is not None:
            self.turns[update_id] = replies
        if self.lose_next:
            self.lose_next = False
            raise RasaUnavailable("ReadTimeout")
        return replies

    async def replies_for(self, sender: str, update_id: int) -> list[dict[str, Any]] | None:
        if self.down:
            raise RasaUnavailable("ConnectError")
        return self.turns.get(update_id)


class CoachingRasa(StandInRasa):
    """A stand-in with what coach handoffs need: pausing, resuming, recording our messages."""

    def __init__(self) -> None:
        super().__init__()
        self.paused: list[str] = []
        self.recorded: list[tuple[str, str]] = []  # (sender, text) of messages we recorded

    async def pause(self, sender: str, language: str) -> None:
        self.paused.append(sender)

    async def resume(self, sender: str) -> None:
        pass

    async def record_bot_message(self, sender: str, text: str, *args: Any, **kwargs: Any) -> None:
        self.recorded.append((sender, text))

    async def replies_for(self, sender: str, update_id: int) -> list[dict[str, Any]] | None:
        return None

    async def parse(self, text: str) -> dict[str, Any]:
        return {"intent": {"name": "nlu_fallback", "confidence": 1.0}}


class SlotRasa:
    """Rasa's tracker API: one slot store; counts the calls; can be down."""

    def __init__(self) -> None:
        self.slots: dict[str, Any] = {}
        self.reads = 0
        self.writes: list[tuple[str, Any]] = []
        self.down = False

    async def slot(self, sender: str, name: str) -> Any:
        if self.down:
            raise RasaUnavailable("ConnectError")
        self.reads += 1
        return self.slots.get((sender, name)), (sender, name) not in self.slots

    async def set_slot(self, sender: str, name: str, value: Any, new: bool = False) -> None:
        if self.down:
            raise RasaUnavailable("ConnectError")
        self.writes.append((sender, value))
        self.slots[(sender, name)] = value
