"""Pseudonyms: Rasa and the logs see a keyed hash of the Telegram user id, never the id."""

from __future__ import annotations

import hashlib
import hmac


def pseudonym(secret_key: str, channel: str, user_id: int | str) -> str:
    """A stable pseudonym for one person on one channel ("tg-" + 24 hex characters for "tg").

    Keyed with SECRET_KEY, so nobody without the key can go from a Telegram id to the pseudonym.
    """
    digest = hmac.new(secret_key.encode(), f"{channel}:{user_id}".encode(), hashlib.sha256)
    return f"{channel}-{digest.hexdigest()[:24]}"
