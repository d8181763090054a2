"""A small async client for the Rasa server: the REST channel and the HTTP API.

Rasa's HTTP API is protected by a secret (`RASA_TOKEN`). It is never sent in a URL (URLs end up
in logs and error messages): Rasa runs with it as its JWT secret, and every request carries a
token signed with it in the `Authorization` header (`auth_headers`).
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt

# Rasa's JWT check lets the "admin" role use every endpoint.
_CLAIMS = {"user": {"username": "neetbot", "role": "admin"}}


def auth_headers(secret: str | None) -> dict[str, str]:
    """The header that authenticates a request to Rasa's HTTP API."""
    if not secret:
        return {}
    return {"Authorization": "Bearer " + jwt.encode(_CLAIMS, secret, algorithm="HS256")}


class RasaUnavailable(Exception):
    """The Rasa server (or the action server behind it) did not answer properly."""


class RasaClient:
    """Talks to one Rasa server. Share one instance per process: it holds a connection pool."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=auth_headers(token),
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def send_message(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Send one user message through the REST channel; return Rasa's replies."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}}
        try:
            response = await self._http.post("/webhooks/rest/webhook", json=body)
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code != 200:
            raise RasaUnavailable(f"HTTP {response.status_code}")
        replies = response.json()
        if not isinstance(replies, list):
            raise RasaUnavailable("unexpected reply shape")
        return replies

    def _params(self) -> dict[str, str]:
        return {}  # the token travels in the Authorization header

    async def status(self) -> dict[str, Any]:
        """The server's status (loaded model and its fingerprint)."""
        response = await self._http.get("/status", params=self._params())
        response.raise_for_status()
        return response.json()

    async def parse(self, text: str) -> dict[str, Any]:
        """What the NLU makes of a text (intent, confidence, entities), without a conversation."""
        try:
            response = await self._http.post(
                "/model/parse", params=self._params(), json={"text": text}
            )
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code != 200:
            raise RasaUnavailable(f"HTTP {response.status_code}")
        return response.json()

    async def is_ready(self) -> bool:
        """True when the server answers and has a model loaded."""
        try:
            response = await self._http.get("/status", params=self._params())
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and bool(response.json().get("model_file"))

    async def tracker(self, sender: str) -> dict[str, Any]:
        """The whole tracker (events and slots) of one conversation."""
        response = await self._http.get(
            f"/conversations/{sender}/tracker", params={**self._params(), "include_events": "ALL"}
        )
        response.raise_for_status()
        return response.json()

    async def load_model(self, model_path: str) -> None:
        """Replace the running model (Rasa keeps serving while it loads)."""
        response = await self._http.put(
            "/model", params=self._params(), json={"model_file": model_path}, timeout=300
        )
        response.raise_for_status()

    async def slot(self, sender: str, name: str) -> tuple[Any, bool]:
        """One slot's value in a conversation, and whether the conversation is new (nobody said
        anything yet)."""
        state = await self._tracker(sender, "NONE")
        said_anything = bool((state.get("latest_message") or {}).get("text"))
        return (state.get("slots") or {}).get(name), not said_anything

    async def set_slot(self, sender: str, name: str, value: Any, new: bool = False) -> None:
        """Set a slot in a conversation (events appended through the HTTP API).

        For a new conversation the session is started in the same request: Rasa would start it
        itself, but with later timestamps than the slot, and the tracker store orders events by
        time, so the new session would drop the slot.
        """
        await self.append_events(sender, [{"event": "slot", "name": name, "value": value}], new)

    async def append_events(
        self, sender: str, events: list[dict[str, Any]], new: bool = False
    ) -> None:
        """Append events to a conversation through the HTTP API, stamped in order.

        With `new`, the conversation's session is started first (see `set_slot`)."""
        now = time.time()
        if new:
            events = [
                {"event": "action", "name": "action_session_start"},
                {"event": "session_started"},
                *events,
                {"event": "action", "name": "action_listen"},
            ]
        stamped = [
            {**event, "timestamp": now + index * 0.000_001} for index, event in enumerate(events)
        ]
        try:
            response = await self._http.post(
                f"/conversations/{sender}/tracker/events", params=self._params(), json=stamped
            )
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code != 200:
            raise RasaUnavailable(f"HTTP {response.status_code}")

    async def is_new(self, sender: str) -> bool:
        """Whether nobody said anything in this conversation yet."""
        return (await self.slot(sender, "language"))[1]

    async def pause(self, sender: str, language: str) -> None:
        """Pause the bot in this conversation: messages are still recorded, never answered.

        A conversation nobody wrote in yet gets its session started first, and the language is
        set again with it: a session start resets the slots."""
        events = [{"event": "slot", "name": "language", "value": language}, {"event": "pause"}]
        await self.append_events(sender, events, new=await self.is_new(sender))

    async def resume(self, sender: str) -> None:
        """Let the bot answer this conversation again. The turn is closed with a listen, as if
        the bot had just answered: the policies then read the next message as a fresh start."""
        await self.append_events(
            sender, [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
        )

    async def record_bot_message(
        self,
        sender: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        buttons: list[dict[str, str]] | None = None,
    ) -> None:
        """Record a message the person got from someone else than Rasa (a coach, the channel),
        so that the transcript shows everything they saw."""
        event: dict[str, Any] = {"event": "bot", "text": text, "metadata": metadata or {}}
        if buttons:
            event["data"] = {"buttons": buttons}
        await self.append_events(sender, [event])

    async def replies_for(self, sender: str, update_id: int) -> list[dict[str, Any]] | None:
        """The bot's replies to the message sent with metadata `update_id`, read back from the
        tracker: None when Rasa never took that message in (or took it back), else the replies
        (empty when the turn had none)."""
        state = await self._tracker(sender, "APPLIED")
        return replies_after(state.get("events") or [], update_id)

    async def _tracker(self, sender: str, include_events: str) -> dict[str, Any]:
        """A conversation's tracker as Rasa's HTTP API gives it; RasaUnavailable if it can't."""
        try:
            response = await self._http.get(
                f"/conversations/{sender}/tracker",
                params={**self._params(), "include_events": include_events},
            )
        except httpx.HTTPError as error:
            raise RasaUnavailable(type(error).__name__) from error
        if response.status_code != 200:
            raise RasaUnavailable(f"HTTP {response.status_code}")
        state: dict[str, Any] = response.json()
        return state


def replies_after(events: list[dict[str, Any]], update_id: int) -> list[dict[str, Any]] | None:
    """The replies (in the REST channel's shape) to the user message sent with `update_id` in
    its metadata: those of the first attempt that got any (a failed attempt, e.g. while the
    action server was down, has none and stays in the tracker); [] when every attempt went
    unanswered; None when Rasa never took the message in."""
    attempts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] | None = None
    for event in events:
        kind = event.get("event")
        if kind == "user":
            matches = (event.get("metadata") or {}).get("update_id") == update_id
            current = [] if matches else None
            if current is not None:
                attempts.append(current)
        elif kind == "bot" and current is not None:
            reply: dict[str, Any] = {"text": event["text"]} if event.get("text") else {}
            data = event.get("data") or {}
            for key in ("buttons", "image", "custom", "attachment"):
                if data.get(key):
                    reply[key] = data[key]
            if reply:
                current.append(reply)
    if not attempts:
        return None
    return next((replies for replies in attempts if replies), [])
