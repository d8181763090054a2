"""Reading and writing Rasa's YAML files without losing their comments (ruamel.yaml's
round trip), so that `rasa train`, git and the studio see the same files.

Every write is checked before it replaces a file: the new text goes to a temporary file beside
it, is read back the way the dashboard (PyYAML) and Rasa (ruamel's safe loader, YAML 1.2) read
it, and replaces the file only if both read what was meant. A file the studio cannot write
correctly is left as it was, and the admin gets the reason (StudioError)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError as RuamelError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, LiteralScalarString

from bot.refusal import Refusal

# Characters no file the studio writes may hold: C0 controls but tab and line breaks (YAML
# refuses them), DEL and the C1 controls (NEL is a line break to YAML 1.1, the others are
# garbage to every reader), lone surrogates (not UTF-8) and the non-characters U+FFFE, U+FFFF.
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# A word no reader takes for anything but a string, unless it is one of YAML 1.1's keywords:
# a letter first (no number, date, indicator or quote), then letters, digits, spaces, - . '.
_SIMPLE = re.compile(r"[^\W\d_][\w '’.-]*")
_KEYWORDS = {"y", "n", "yes", "no", "true", "false", "on", "off", "null"}
_UNCHECKED = object()  # `meant` of a text written as is: it only has to read back as YAML


class StudioError(Refusal):
    """An edit that cannot be saved, with a reason for the admin."""


def printable(text: str) -> str:
    """`text` with every character a file cannot hold shown as "�" (to quote it safely)."""
    return _UNWRITABLE.sub("\ufffd", text)


def check_text(
    text: str, what: Literal["example", "text", "button", "word"], number: int = 0
) -> None:
    """StudioError if `text` holds a character the YAML files cannot. `what` says where it is,
    for the admin: an example (its `number` in the box, and its start), the text, a button (its
    `number`) or a word (its start)."""
    found = _UNWRITABLE.search(text)
    if found is None:
        return
    code = ord(found.group())
    character = f"U+{code:04X}"
    start = printable(text[:40] if what == "example" else text[:20])
    invalid = code >= 0xD800
    if what == "example" and invalid:
        raise StudioError(
            'Example %(number)d ("%(start)s") contains an invalid character (%(character)s), '
            "which the assistant's YAML files cannot hold (it often comes from a copy and "
            "paste). Remove it and save again: nothing was saved.",
            number=number, start=start, character=character,
        )  # fmt: skip
    if what == "example":
        raise StudioError(
            'Example %(number)d ("%(start)s") contains a control character (%(character)s), '
            "which the assistant's YAML files cannot hold (it often comes from a copy and "
            "paste). Remove it and save again: nothing was saved.",
            number=number, start=start, character=character,
        )  # fmt: skip
    if what == "button" and invalid:
        raise StudioError(
            "Button %(number)d contains an invalid character (%(character)s), which the "
            "assistant's YAML files cannot hold (it often comes from a copy and paste). Remove "
            "it and save again: nothing was saved.",
            number=number, character=character,
        )  # fmt: skip
    if what == "button":
        raise StudioError(
            "Button %(number)d contains a control character (%(character)s), which the "
            "assistant's YAML files cannot hold (it often comes from a copy and paste). Remove "
            "it and save again: nothing was saved.",
            number=number, character=character,
        )  # fmt: skip
    if what == "word" and invalid:
        raise StudioError(
            '"%(word)s" contains an invalid character (%(character)s), which the assistant\'s '
            "YAML files cannot hold (it often comes from a copy and paste). Remove it and save "
            "again: nothing was saved.",
            word=start, character=character,
        )  # fmt: skip
    if what == "word":
        raise StudioError(
            '"%(word)s" contains a control character (%(character)s), which the assistant\'s '
            "YAML files cannot hold (it often comes from a copy and paste). Remove it and save "
            "again: nothing was saved.",
            word=start, character=character,
        )  # fmt: skip
    if invalid:
        raise StudioError(
            "The text contains an invalid character (%(character)s), which the assistant's YAML "
            "files cannot hold (it often comes from a copy and paste). Remove it and save again: "
            "nothing was saved.",
            character=character,
        )
    raise StudioError(
        "The text contains a control character (%(character)s), which the assistant's YAML "
        "files cannot hold (it often comes from a copy and paste). Remove it and save again: "
        "nothing was saved.",
        character=character,
    )


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
    with open(path, encoding="utf-8") as handle:
        return _dashboard_reads(handle.read())


def _dashboard_reads(text: str) -> Any:
    """A YAML text as the dashboard and our config loaders read it (PyYAML, YAML 1.1)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def _rasa_reads(text: str) -> Any:
    """A YAML text as Rasa 3.6's `read_yaml` reads it (rasa/shared/utils/io.py): ruamel's safe
    loader for YAML 1.2, after decoding \\u escapes when the text is all ASCII (so an example
    "c:\\users" in an all-ASCII file would break training)."""
    if text.isascii():
        text = (
            text.encode("utf-8")
            .decode("raw_unicode_escape")
            .encode("utf-16", "surrogatepass")
            .decode("utf-16")
        )
    reader = YAML(typ="safe")
    reader.version = (1, 2)
    return reader.load(text)


_READERS: list[tuple[str, Callable[[str], Any]]] = [
    ("the dashboard", _dashboard_reads),
    ("Rasa", _rasa_reads),
]


def dump(data: Any) -> str:
    """The YAML text of `data`."""
    buffer = io.StringIO()
    _yaml().dump(data, buffer)
    return buffer.getvalue()


def write(path: Path, data: Any) -> None:
    """Replace `path` with `data`, checked and atomically (a reader never sees half a file);
    StudioError, and the file as it was, if it would not read back as `data`."""
    write_all([(path, data)])


def write_text(path: Path, text: str) -> None:
    """Replace `path` with a YAML text edited as text, once it reads back as YAML."""
    _replace([(path, _stage(path, text, _UNCHECKED))])


def write_all(changes: Sequence[tuple[Path, Any]]) -> None:
    """Replace several files: each is staged and checked first, and none is replaced unless
    all of them read back as meant."""
    staged: list[tuple[Path, str]] = []
    try:
        for path, data in changes:
            staged.append((path, _stage(path, dump(data), data)))
    except BaseException:
        _discard(staged)
        raise
    _replace(staged)


def _stage(path: Path, text: str, meant: Any) -> str:
    """Write `text` to a temporary file beside `path` and check that every reader reads
    `meant` from it; returns the temporary file's name."""
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise StudioError(
            "%(file)s cannot hold the character %(character)s: nothing was saved.",
            file=path.name,
            character=f"U+{code:04X}",
        ) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise StudioError(
            "%(file)s could not be written (%(detail)s): nothing was saved.",
            file=path.name,
            detail=str(error),
        ) from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(encoded)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists():
            shutil.copymode(path, temporary)  # mkstemp's 0600 would hide the file from Rasa
        with open(temporary, encoding="utf-8") as reread:
            written = reread.read()
        for reader, read_with in _READERS:
            try:
                result = read_with(written)
            except (yaml.YAMLError, RuamelError, ValueError) as error:
                raise _unreadable(path, reader, error) from None
            where = None if meant is _UNCHECKED else _difference(meant, result, "")
            if where is not None:
                raise _read_otherwise(path, reader, where)
    except OSError as error:
        _discard([(path, temporary)])
        raise StudioError(
            "%(file)s could not be written (%(detail)s): nothing was saved.",
            file=path.name,
            detail=str(error),
        ) from None
    except BaseException:
        _discard([(path, temporary)])
        raise
    return temporary


def _unreadable(path: Path, reader: str, error: Exception) -> StudioError:
    """A file one of the readers cannot read (the parser's first line of why, in English)."""
    detail = printable((str(error).splitlines() or ["?"])[0])
    if reader == "Rasa":
        return StudioError(
            "%(file)s would not read back (Rasa cannot read it: %(detail)s): nothing was saved.",
            file=path.name,
            detail=detail,
        )
    return StudioError(
        "%(file)s would not read back (the dashboard cannot read it: %(detail)s): nothing was "
        "saved.",
        file=path.name,
        detail=detail,
    )


def _read_otherwise(path: Path, reader: str, where: str) -> StudioError:
    """A file one of the readers would read otherwise than written (`where`: the place, "" for
    the whole file)."""
    if reader == "Rasa" and where:
        return StudioError(
            "%(file)s would not read back as written (Rasa would read %(where)s differently): "
            "nothing was saved.",
            file=path.name,
            where=where,
        )
    if reader == "Rasa":
        return StudioError(
            "%(file)s would not read back as written (Rasa would read the file differently): "
            "nothing was saved.",
            file=path.name,
        )
    if where:
        return StudioError(
            "%(file)s would not read back as written (the dashboard would read %(where)s "
            "differently): nothing was saved.",
            file=path.name,
            where=where,
        )
    return StudioError(
        "%(file)s would not read back as written (the dashboard would read the file "
        "differently): nothing was saved.",
        file=path.name,
    )


def _replace(staged: Sequence[tuple[Path, str]]) -> None:
    """Move checked temporary files into place (each move is atomic)."""
    try:
        for path, temporary in staged:
            try:
                os.replace(temporary, path)
            except OSError as error:
                raise StudioError(
                    "%(file)s could not be replaced (%(detail)s): it was left as it was.",
                    file=path.name,
                    detail=str(error),
                ) from None
    finally:
        _discard(staged)  # those not moved (after a failure)


def _discard(staged: Sequence[tuple[Path, str]]) -> None:
    for _, temporary in staged:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _difference(meant: Any, read: Any, where: str) -> str | None:
    """Where `read` (a reader's result) differs from `meant` (the values written), or None.
    Strings must read back as the same strings: "yes" read as true is a difference."""
    if isinstance(meant, dict):
        if not isinstance(read, dict) or len(read) != len(meant):
            return where
        for key, value in meant.items():
            inner = f"{where}/{key}"
            if key not in read:
                return inner
            found = _difference(value, read[key], inner)
            if found is not None:
                return found
        return None
    if isinstance(meant, list):
        if not isinstance(read, list) or len(read) != len(meant):
            return where
        for index, (value, got) in enumerate(zip(meant, read, strict=True)):
            found = _difference(value, got, f"{where}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(meant, str) or isinstance(read, str):
        same = isinstance(meant, str) and isinstance(read, str) and str(meant) == str(read)
        return None if same else where
    if meant != meant and read != read:  # NaN is itself, for this purpose
        return None
    return None if meant == read else where


def plain_or_quoted(text: str) -> str:
    """`text` as an item of a flow list (`[a, b]`): plain when every reader reads it back as
    this string, double-quoted when one would not ("yes" → true, "12:30" → 750, "? q" → a
    mapping, "a, b" → two items)."""
    if _SIMPLE.fullmatch(text) and text.lower() not in _KEYWORDS:
        return text  # most words: asking both readers about thousands of them takes seconds
    flow = f"[{text}]"
    for _, read_with in _READERS:
        try:
            if read_with(flow) != [text]:
                return quoted(text)
        except (yaml.YAMLError, RuamelError, ValueError):
            return quoted(text)
    return text


def examples_block(examples: list[str]) -> LiteralScalarString:
    """Rasa's `examples: |` block."""
    return LiteralScalarString("".join(f"- {example}\n" for example in examples))


def quoted(text: str) -> DoubleQuotedScalarString:
    """A double-quoted string, as the domain files write texts."""
    return DoubleQuotedScalarString(text)
