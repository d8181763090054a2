"""The one loader of `config/`: every configuration file (languages, topics, places, messages,
search words, typed choices, safeguarding, the privacy policy) is read here, as plain values,
parsed once and again only when the file changes."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent  # the checkout
CONFIG_DIR = ROOT / "config"


def read(path: Path) -> Any:
    """A YAML file of the configuration as plain values ({} when it is empty)."""
    stat = path.stat()
    return _parsed(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _parsed(path: str, modified: int, size: int) -> Any:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def stamp(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    """What identifies the current content of `paths` (to re-derive what was built from them)."""
    found = []
    for path in paths:
        stat = path.stat()
        found.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(found)
