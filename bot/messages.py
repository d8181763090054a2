"""Texts shown to people, per language, from `config/messages/<code>.yml` (English is the
fallback: a key missing in one language shows its English text, and a test lists such gaps).
The files are read again when one changes (admins edit them in the studio)."""

from __future__ import annotations

from typing import Any

from bot.config import CONFIG_DIR, read

FALLBACK_LANGUAGE = "en"
MESSAGES_DIR = CONFIG_DIR / "messages"


def catalogues() -> dict[str, dict[str, Any]]:
    """Every language's messages, by language code (the file name); read again when a file
    changed (bot.config)."""
    return {path.stem: read(path) for path in sorted(MESSAGES_DIR.glob("*.yml"))}


def _lookup(messages: dict[str, Any], key: str) -> Any:
    node: Any = messages
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def text(key: str, language: str = FALLBACK_LANGUAGE, /, **fields: object) -> str:
    """The message `key` (dotted for nested keys, e.g. "mode.online") in `language`, filled in."""
    template = _lookup(catalogues().get(language, {}), key)
    if not isinstance(template, str):
        template = _lookup(catalogues()[FALLBACK_LANGUAGE], key)
    if not isinstance(template, str):
        raise KeyError(key)
    return template.format(**fields) if fields else template


def translations(key: str) -> dict[str, str]:
    """Every language's text of message `key` (a leaf), by language code."""
    found = {code: _lookup(messages, key) for code, messages in catalogues().items()}
    return {code: value for code, value in found.items() if isinstance(value, str)}


def has(key: str) -> bool:
    """Whether a message `key` exists."""
    return _lookup(catalogues()[FALLBACK_LANGUAGE], key) is not None
