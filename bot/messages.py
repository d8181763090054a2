"""Texts shown to people, per language, from `config/messages.yml` (English is the fallback)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from bot.services.vocabulary import CONFIG_DIR

FALLBACK_LANGUAGE = "en"


@lru_cache
def _messages() -> dict[str, Any]:
    with (CONFIG_DIR / "messages.yml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def text(key: str, language: str = FALLBACK_LANGUAGE, /, **fields: object) -> str:
    """The message `key` (dotted for nested keys, e.g. "mode.online") in `language`, filled in."""
    texts = translations(key)
    template = texts.get(language) or texts[FALLBACK_LANGUAGE]
    return template.format(**fields) if fields else template


def translations(key: str) -> dict[str, str]:
    """Every language's text of message `key` (a leaf), by language code."""
    node: Any = _messages()
    for part in key.split("."):
        node = node[part]
    return dict(node)


def has(key: str) -> bool:
    """Whether a message `key` exists."""
    node: Any = _messages()
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True
