"""Texts shown to people, per language, from `config/messages/<code>.yml` (English is the
fallback: a key missing in one language shows its English text, and a test lists such gaps).
The files are read again when one changes (admins edit them in the studio)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from bot.services.vocabulary import CONFIG_DIR

FALLBACK_LANGUAGE = "en"
MESSAGES_DIR = CONFIG_DIR / "messages"


def catalogues() -> dict[str, dict[str, Any]]:
    """Every language's messages, by language code (the file name); read again when a file
    changed (its modification time or size), at most once per change."""
    files = []
    for path in sorted(MESSAGES_DIR.glob("*.yml")):
        stat = path.stat()
        files.append((str(path), stat.st_mtime_ns, stat.st_size))
    return _load(tuple(files))


@lru_cache(maxsize=2)
def _load(files: tuple[tuple[str, int, int], ...]) -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = {}
    for name, _, _ in files:
        path = Path(name)
        with path.open(encoding="utf-8") as handle:
            loaded[path.stem] = yaml.safe_load(handle) or {}
    return loaded


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
