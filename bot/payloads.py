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
