"""Reading and writing Rasa's YAML files without losing their comments (ruamel.yaml's
round trip), so that `rasa train`, git and the studio see the same files."""

from __future__ import annotations

import io
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString


def _yaml() -> YAML:
    handler = YAML()  # round trip: comments and key order survive
    handler.preserve_quotes = True
    handler.width = 4096  # never fold a long response text
    handler.indent(mapping=2, sequence=2, offset=0)
    return handler


def load(path: Path) -> Any:
    """A YAML file as ruamel's commented maps and lists."""
    with path.open(encoding="utf-8") as handle:
        return _yaml().load(handle)


def read(path: Path) -> Any:
    """A YAML file as plain values, for reading only: parsed once and again only when the file
    changes (pages list every intent of every language; ruamel's round trip is for writing)."""
    stat = path.stat()
    return _read(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1024)
def _read(path: str, modified: int, size: int) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader


def dump(data: Any) -> str:
    """The YAML text of `data`."""
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    return buffer.getvalue()


def write(path: Path, data: Any) -> None:
    """Replace `path` atomically (a reader never sees half a file)."""
    text = dump(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(temporary, path)


def examples_block(examples: list[str]) -> LiteralScalarString:
    """Rasa's `examples: |` block."""
    return LiteralScalarString("".join(f"- {example}\n" for example in examples))


def quoted(text: str) -> DoubleQuotedScalarString:
    """A double-quoted string, as the domain files write texts."""
    return DoubleQuotedScalarString(text)
