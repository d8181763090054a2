"""Button payloads: an intent and its entities as a command the dialogue engine reads
(`/show_details{"opportunity_id":"12"}`). Actions and the connector build them here alike."""

from __future__ import annotations

import json
from typing import Any


def payload(intent: str, **entities: Any) -> str:
    """A button payload that triggers `intent` with `entities`, e.g. /inform{"topic":"green"}."""
    if not entities:
        return f"/{intent}"
    return f"/{intent}{json.dumps(entities, separators=(',', ':'), ensure_ascii=False)}"


def button(title: str, payload_text: str) -> dict[str, str]:
    """A reply button in Rasa's shape."""
    return {"title": title, "payload": payload_text}


def parse(message: str) -> tuple[str, dict[str, str]] | None:
    """A payload's name and fields (`/checkin{"c":"3"}` → ("checkin", {"c": "3"})); None for
    what is not one."""
    name, brace, rest = message[1:].partition("{")
    if not message.startswith("/") or not brace:
        return None
    try:
        fields = json.loads("{" + rest)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    return name, {str(key): str(value) for key, value in fields.items()}
